//! The memif control socket: a listening server socket and a connection of
//! either role. `AF_UNIX` + `SOCK_SEQPACKET`, non-blocking, close-on-exec.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, CWD, Mode};
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

use super::addr::{AddrError, SocketAddr};
use super::fdpass::{self, Received, TransferError};
use crate::types::MSG_SIZE;

/// Pending connections the kernel queues before we accept them.
const BACKLOG: i32 = 128;

/// Who may use a socket file: its permission bits and, optionally, its
/// owner and group (e.g. `0o600` owned by the pod's uid, or `0o660` with the
/// pod's group). Changing the owner needs root (`CAP_CHOWN`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct FileAccess {
    /// Permission bits, e.g. `0o600`.
    pub mode: u32,
    /// New owning user, or `None` to keep ours.
    pub uid: Option<u32>,
    /// New owning group, or `None` to keep ours.
    pub gid: Option<u32>,
}

/// Who is at the other end of a connection, as the kernel recorded it when
/// the connection was made (`SO_PEERCRED`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct PeerCredentials {
    /// The peer's process id in our pid namespace; `None` when that process
    /// is not visible from it (the kernel reports 0).
    pub pid: Option<u32>,
    /// The peer's user id (in our user namespace).
    pub uid: u32,
    /// The peer's group id (in our user namespace).
    pub gid: u32,
}

/// Why a memif socket could not be set up or used.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    /// The address itself is unusable.
    #[error(transparent)]
    Address(#[from] AddrError),
    /// `socket()` failed.
    #[error("cannot create a unix socket: {0}: check the open-file limit of the process")]
    Create(Errno),
    /// The directory of the socket file could not be created.
    #[error("cannot create the directory {path} for the memif socket: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// Something is at the socket path and we cannot tell what.
    #[error("cannot inspect the existing memif socket path {path}: {source}")]
    Inspect {
        /// The socket path.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// Another server is bound to the address.
    #[error(
        "the memif socket {addr} is in use: another server listens on it ({reason}); stop it or \
         choose another address"
    )]
    InUse {
        /// The address.
        addr: SocketAddr,
        /// How we found out.
        reason: &'static str,
    },
    /// The path holds something other than a socket.
    #[error(
        "{path} exists and is not a socket, so it is not replaced: remove it or choose another \
         path for the memif socket"
    )]
    NotASocket {
        /// The path.
        path: PathBuf,
    },
    /// Finding out whether an existing socket file is still served failed.
    #[error("cannot check whether the memif socket {path} is still served: {source}")]
    Probe {
        /// The socket path.
        path: PathBuf,
        /// What the probing connect returned.
        source: Errno,
    },
    /// A stale socket file could not be removed.
    #[error("cannot remove the stale memif socket {path}: {source}")]
    RemoveStale {
        /// The socket path.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// `SO_PASSCRED` could not be turned on.
    #[error("cannot turn on SO_PASSCRED for the memif socket {addr}: {source}")]
    PassCred {
        /// The address.
        addr: SocketAddr,
        /// What failed.
        source: Errno,
    },
    /// `bind()` failed.
    #[error("cannot bind the memif socket {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What failed.
        source: Errno,
    },
    /// File permissions were asked for an abstract socket, which has none.
    #[error(
        "the abstract memif socket {addr} has no file permissions, so access to it cannot be \
         restricted: use a filesystem path, or check peer_credentials() of each connection"
    )]
    AccessOnAbstract {
        /// The address.
        addr: SocketAddr,
    },
    /// `chmod` of the socket file failed.
    #[error("cannot set the permissions of the memif socket {path} to {mode:o}: {source}")]
    Chmod {
        /// The socket path.
        path: PathBuf,
        /// The permission bits asked for.
        mode: u32,
        /// What failed.
        source: Errno,
    },
    /// `chown` of the socket file failed.
    #[error(
        "cannot give the memif socket {path} to uid {uid:?} gid {gid:?}: {source} (changing the \
         owner needs root or CAP_CHOWN)"
    )]
    Chown {
        /// The socket path.
        path: PathBuf,
        /// The owner asked for.
        uid: Option<u32>,
        /// The group asked for.
        gid: Option<u32>,
        /// What failed.
        source: Errno,
    },
    /// `listen()` failed.
    #[error("cannot listen on the memif socket {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// What failed.
        source: Errno,
    },
    /// `accept()` failed.
    #[error("cannot accept a connection on the memif socket {addr}: {source}")]
    Accept {
        /// The address.
        addr: SocketAddr,
        /// What failed.
        source: Errno,
    },
    /// `connect()` failed.
    #[error(
        "cannot connect to the memif socket {addr}: {source}: is the server listening there? \
         (try again later)"
    )]
    Connect {
        /// The address.
        addr: SocketAddr,
        /// What failed.
        source: Errno,
    },
    /// `SO_PEERCRED` failed.
    #[error("cannot read the credentials of the memif peer: {0}")]
    PeerCredentials(std::io::Error),
}

/// A memif server socket, listening. Dropping it closes the socket and
/// removes its socket file, if the file at the path is still this one.
#[derive(Debug)]
pub struct Listener {
    socket: OwnedFd,
    addr: SocketAddr,
    /// The socket file, for a path address.
    _file: Option<SocketFile>,
}

impl Listener {
    /// Listens on `addr` with `SO_PASSCRED` on (as VPP and DPDK servers do).
    ///
    /// For a path: creates missing parent directories; replaces a stale
    /// socket file that nobody listens on, but refuses a path where a server
    /// listens or that is not a socket; applies `access` (when given) before
    /// listening, so nobody connects while the file has default permissions.
    /// An abstract socket has no permissions: `access` must be `None`.
    pub fn bind(addr: &SocketAddr, access: Option<FileAccess>) -> Result<Listener, SocketError> {
        let unix = addr.to_unix()?;
        let path = match addr {
            SocketAddr::Path(path) => Some(path.as_path()),
            SocketAddr::Abstract(_) if access.is_some() => {
                return Err(SocketError::AccessOnAbstract { addr: addr.clone() });
            }
            SocketAddr::Abstract(_) => None,
        };
        if let Some(path) = path {
            create_parent(path)?;
            remove_if_stale(path, addr, &unix)?;
        }
        let socket = new_socket()?;
        rustix::net::sockopt::set_socket_passcred(&socket, true).map_err(|source| {
            SocketError::PassCred {
                addr: addr.clone(),
                source,
            }
        })?;
        rustix::net::bind(&socket, &unix).map_err(|source| match source {
            Errno::ADDRINUSE => SocketError::InUse {
                addr: addr.clone(),
                reason: "bind found the address taken",
            },
            _ => SocketError::Bind {
                addr: addr.clone(),
                source,
            },
        })?;
        let file = path
            .map(|path| SocketFile::created(path, access))
            .transpose()?;
        rustix::net::listen(&socket, BACKLOG).map_err(|source| SocketError::Listen {
            addr: addr.clone(),
            source,
        })?;
        Ok(Listener {
            socket,
            addr: addr.clone(),
            _file: file,
        })
    }

    /// Accepts one pending connection without blocking: `Ok(None)` when
    /// there is none. The connection is non-blocking and close-on-exec.
    pub fn accept(&self) -> Result<Option<Conn>, SocketError> {
        loop {
            match rustix::net::accept_with(
                &self.socket,
                SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
            ) {
                Ok(socket) => return Ok(Some(Conn { socket })),
                Err(Errno::AGAIN) => return Ok(None),
                // The client gave up before we accepted: look at the next.
                Err(Errno::INTR | Errno::CONNABORTED) => continue,
                Err(source) => {
                    return Err(SocketError::Accept {
                        addr: self.addr.clone(),
                        source,
                    });
                }
            }
        }
    }

    /// The address this listener is bound to.
    pub fn addr(&self) -> &SocketAddr {
        &self.addr
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

/// One memif control connection, of either role.
#[derive(Debug)]
pub struct Conn {
    socket: OwnedFd,
}

impl Conn {
    /// Connects to a memif server. Never blocks: a unix connect either
    /// completes at once or fails (`EAGAIN` when the server's backlog is
    /// full, `ECONNREFUSED` or `ENOENT` when nobody serves the address).
    pub fn connect(addr: &SocketAddr) -> Result<Conn, SocketError> {
        let unix = addr.to_unix()?;
        let socket = new_socket()?;
        rustix::net::connect(&socket, &unix).map_err(|source| SocketError::Connect {
            addr: addr.clone(),
            source,
        })?;
        Ok(Conn { socket })
    }

    /// Sends one control message, with `fd` attached when given.
    pub fn send(
        &self,
        msg: &[u8; MSG_SIZE],
        fd: Option<BorrowedFd<'_>>,
    ) -> Result<(), TransferError> {
        fdpass::send_message(self.socket.as_fd(), msg, fd)
    }

    /// Receives one control message without blocking: `Ok(None)` when none
    /// is waiting. See [`Received`] for what a datagram of another size or
    /// the end of the connection look like.
    pub fn recv(&self, buf: &mut [u8; MSG_SIZE]) -> Result<Option<Received>, TransferError> {
        fdpass::recv_message(self.socket.as_fd(), buf)
    }

    /// Who is at the other end, so a server can check who connected.
    pub fn peer_credentials(&self) -> Result<PeerCredentials, SocketError> {
        // Not rustix's `socket_peercred`: its `UCred` cannot hold pid 0,
        // which the kernel reports for a peer outside our pid namespace.
        let mut cred = libc::ucred {
            pid: 0,
            uid: 0,
            gid: 0,
        };
        let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
        // SAFETY: `cred` and `len` are live, writable and exclusively
        // borrowed for the call; `len` tells the kernel the size of `cred`,
        // and any bit pattern is a valid `ucred`.
        let rc = unsafe {
            libc::getsockopt(
                self.socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_PEERCRED,
                (&mut cred as *mut libc::ucred).cast(),
                &mut len,
            )
        };
        if rc != 0 {
            return Err(SocketError::PeerCredentials(std::io::Error::last_os_error()));
        }
        Ok(PeerCredentials {
            pid: u32::try_from(cred.pid).ok().filter(|&pid| pid != 0),
            uid: cred.uid,
            gid: cred.gid,
        })
    }
}

impl AsFd for Conn {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

/// A fresh non-blocking, close-on-exec `SOCK_SEQPACKET` unix socket.
fn new_socket() -> Result<OwnedFd, SocketError> {
    rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )
    .map_err(SocketError::Create)
}

fn create_parent(path: &Path) -> Result<(), SocketError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).map_err(|source| SocketError::CreateDir {
                path: dir.to_owned(),
                source,
            })
        }
        _ => Ok(()),
    }
}

/// Removes the socket file at `path` if nobody listens on it (a server that
/// died without cleaning up, as DPDK leaves them). Refuses anything else.
fn remove_if_stale(
    path: &Path,
    addr: &SocketAddr,
    unix: &SocketAddrUnix,
) -> Result<(), SocketError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(SocketError::Inspect {
                path: path.to_owned(),
                source,
            });
        }
    };
    if !meta.file_type().is_socket() {
        return Err(SocketError::NotASocket {
            path: path.to_owned(),
        });
    }
    let in_use = |reason| SocketError::InUse {
        addr: addr.clone(),
        reason,
    };
    let probe = new_socket()?;
    match rustix::net::connect(&probe, unix) {
        Ok(()) => return Err(in_use("a connection to it succeeded")),
        Err(Errno::AGAIN) => return Err(in_use("its backlog is full")),
        Err(Errno::PROTOTYPE) => return Err(in_use("a socket of another type is bound to it")),
        // Only the file is left: nobody is bound to it.
        Err(Errno::CONNREFUSED) => {}
        Err(source) => {
            return Err(SocketError::Probe {
                path: path.to_owned(),
                source,
            });
        }
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(SocketError::RemoveStale {
            path: path.to_owned(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// The socket file a [`Listener`] created. Removed on drop if the file at
/// the path is still the one we created (same device and inode): another
/// server may have replaced it since.
#[derive(Debug)]
struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl SocketFile {
    /// Records the file `bind` just created and applies `access` to it. On
    /// error the file is removed again.
    fn created(path: &Path, access: Option<FileAccess>) -> Result<SocketFile, SocketError> {
        let meta = std::fs::symlink_metadata(path).map_err(|source| SocketError::Inspect {
            path: path.to_owned(),
            source,
        })?;
        let file = SocketFile {
            path: path.to_owned(),
            dev: meta.dev(),
            ino: meta.ino(),
        };
        if let Some(access) = access {
            file.apply(access)?;
        }
        Ok(file)
    }

    fn apply(&self, access: FileAccess) -> Result<(), SocketError> {
        let FileAccess { mode, uid, gid } = access;
        if uid.is_some() || gid.is_some() {
            rustix::fs::chownat(
                CWD,
                &self.path,
                uid.map(rustix::fs::Uid::from_raw),
                gid.map(rustix::fs::Gid::from_raw),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(|source| SocketError::Chown {
                path: self.path.clone(),
                uid,
                gid,
                source,
            })?;
        }
        // After chown, which may clear mode bits.
        rustix::fs::chmod(&self.path, Mode::from_raw_mode(mode)).map_err(|source| {
            SocketError::Chmod {
                path: self.path.clone(),
                mode,
                source,
            }
        })
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let ours = std::fs::symlink_metadata(&self.path)
            .is_ok_and(|meta| meta.dev() == self.dev && meta.ino() == self.ino);
        if !ours {
            return;
        }
        if let Err(e) = std::fs::remove_file(&self.path) {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot remove the memif socket file");
        }
    }
}
