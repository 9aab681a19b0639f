//! Network namespaces: handles to them, named namespaces compatible with `ip netns`, and running
//! code inside one.
//!
//! A thread's network namespace decides where the sockets it opens live; a socket keeps its
//! namespace after the thread leaves. So work inside a namespace is done on a fresh thread that
//! enters it, opens what it needs and hands the file descriptors back
//! ([`NetNs::run_in`]). The caller's thread (often a tokio worker shared by unrelated tasks)
//! never changes namespace.

use std::fs;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::panic;
use std::path::{Path, PathBuf};
use std::thread;

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::mount::{self, MountPropagationFlags, UnmountFlags};
use rustix::thread::{LinkNameSpaceType, UnshareFlags};

/// The directory where `ip netns` (and so podwire) keeps named network namespaces.
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// The calling thread's own network namespace, as procfs exposes it.
const THREAD_NETNS: &str = "/proc/thread-self/ns/net";

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The name cannot name a file in [`NETNS_RUN_DIR`].
    #[error(
        "{name:?} is not a valid network namespace name: use a non-empty file name without '/' \
         (and not \".\" or \"..\")"
    )]
    InvalidName {
        /// The rejected name.
        name: String,
    },
    /// The namespace file could not be opened.
    #[error(
        "cannot open network namespace {}: {source}; check that it exists (`ip netns list`, or \
         /proc/PID/ns/net for a process)",
        path.display()
    )]
    Open {
        /// The path that was opened.
        path: PathBuf,
        /// Why `open` failed.
        source: io::Error,
    },
    /// The file exists but is not a network namespace.
    #[error(
        "{} is not a network namespace but {kind}; pass a file under {NETNS_RUN_DIR} or \
         /proc/PID/ns/net",
        path.display()
    )]
    NotNetNs {
        /// The path that was opened.
        path: PathBuf,
        /// What the file turned out to be.
        kind: &'static str,
    },
    /// A named namespace with this name already exists.
    #[error(
        "network namespace {name} already exists; delete it first (`ip netns delete {name}`) or \
         choose another name"
    )]
    AlreadyExists {
        /// The name asked for.
        name: String,
    },
    /// A step of creating a named namespace failed.
    #[error(
        "cannot create network namespace {name}: {step} failed: {source}; this needs root \
         (CAP_SYS_ADMIN) and a writable {NETNS_RUN_DIR}"
    )]
    Create {
        /// The name asked for.
        name: String,
        /// The step that failed.
        step: &'static str,
        /// Why it failed.
        source: io::Error,
    },
    /// A step of deleting a named namespace failed.
    #[error("cannot delete network namespace {name}: {step} failed: {source}")]
    Delete {
        /// The namespace's name.
        name: String,
        /// The step that failed.
        step: &'static str,
        /// Why it failed.
        source: io::Error,
    },
    /// `setns` into the namespace failed.
    #[error("cannot enter the network namespace: setns failed: {0}; this needs CAP_SYS_ADMIN")]
    Enter(#[source] io::Error),
    /// No thread could be started to work inside the namespace.
    #[error("cannot start a thread to work inside a network namespace: {0}")]
    Spawn(#[source] io::Error),
}

/// Result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A handle to a network namespace: an open file descriptor, which keeps the namespace alive
/// for as long as the handle lives.
#[derive(Debug)]
pub struct NetNs {
    fd: OwnedFd,
}

impl NetNs {
    /// The calling thread's network namespace.
    pub fn current() -> Result<Self> {
        Self::open(THREAD_NETNS)
    }

    /// Opens the network namespace at `path`: a bind mount such as `/run/netns/NAME`, or a
    /// process's `/proc/PID/ns/net`. Fails if `path` is some other kind of file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).map_err(
            |e| Error::Open {
                path: path.to_owned(),
                source: e.into(),
            },
        )?;
        // Anything else (a plain file left under /run/netns, a namespace of another type)
        // would only fail later, at setns, with a bare EINVAL.
        let not_netns = |kind| Error::NotNetNs {
            path: path.to_owned(),
            kind,
        };
        let statfs = rustix::fs::fstatfs(&fd).map_err(|e| Error::Open {
            path: path.to_owned(),
            source: e.into(),
        })?;
        if statfs.f_type != libc::NSFS_MAGIC {
            return Err(not_netns("not a namespace file"));
        }
        if namespace_type(fd.as_fd()).ok() != Some(libc::CLONE_NEWNET) {
            return Err(not_netns("a namespace of another type"));
        }
        Ok(Self { fd })
    }

    /// Opens the named namespace `/run/netns/NAME`, as made by `ip netns add NAME` or
    /// [`NetNs::create_named`].
    pub fn open_named(name: &str) -> Result<Self> {
        Self::open(named_path(name)?)
    }

    /// Creates a new, empty network namespace and names it, like `ip netns add NAME`: the
    /// namespace is bind-mounted on `/run/netns/NAME`, so it outlives this process until
    /// [`NetNs::delete_named`]. `/run/netns` is made a shared mount point first (as iproute2
    /// does), so the name is visible in other mount namespaces too.
    pub fn create_named(name: &str) -> Result<Self> {
        let path = named_path(name)?;
        let fail = |step| {
            move |source| Error::Create {
                name: name.to_owned(),
                step,
                source,
            }
        };
        fs::create_dir_all(NETNS_RUN_DIR).map_err(fail("creating the directory"))?;
        make_run_dir_shared().map_err(fail("making the directory a shared mount point"))?;
        // The mount point doubles as the reservation of the name: creating it exclusively
        // means two creators of one name cannot both succeed.
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o000)
            .open(&path)
            .map_err(|source| match source.kind() {
                io::ErrorKind::AlreadyExists => Error::AlreadyExists {
                    name: name.to_owned(),
                },
                _ => fail("creating the mount point")(source),
            })?;
        let created = on_fresh_thread(|| {
            // SAFETY: unsharing only NEWNET replaces this thread's network namespace; the file
            // descriptor table stays shared, so no thread can see descriptors from a different
            // table (the hazard `unshare_unsafe` asks callers to rule out). The thread ends
            // right after, so nothing else runs in the new namespace.
            unsafe { rustix::thread::unshare_unsafe(UnshareFlags::NEWNET) }
                .map_err(|e| fail("unshare(CLONE_NEWNET)")(e.into()))?;
            mount::mount_bind(THREAD_NETNS, &path)
                .map_err(|e| fail("bind-mounting the namespace")(e.into()))
        })
        .and_then(|result| result);
        match created.and_then(|()| Self::open(&path)) {
            Ok(ns) => Ok(ns),
            Err(err) => {
                // Best effort: leave no half-made name behind; the error above is the news.
                let _ = Self::delete_named(name);
                Err(err)
            }
        }
    }

    /// Deletes the named namespace `/run/netns/NAME`, like `ip netns delete NAME`: unmounts
    /// and removes the name. The namespace itself goes away once no process, thread or handle
    /// uses it any more. Deleting a name that does not exist is not an error.
    pub fn delete_named(name: &str) -> Result<()> {
        let path = named_path(name)?;
        let fail = |step, source| Error::Delete {
            name: name.to_owned(),
            step,
            source,
        };
        match mount::unmount(&path, UnmountFlags::DETACH) {
            // EINVAL: not a mount point (a leftover file); ENOENT: no such name.
            Ok(()) | Err(Errno::INVAL) | Err(Errno::NOENT) => {}
            Err(e) => return Err(fail("unmounting", e.into())),
        }
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(fail("removing the name", e)),
            _ => Ok(()),
        }
    }

    /// Runs `f` on a freshly spawned thread that has entered this namespace, waits for it and
    /// returns its result; the thread ends afterwards. Sockets and devices opened by `f` live
    /// in this namespace and keep working when handed back. A panic in `f` is resumed on the
    /// caller's thread.
    pub fn run_in<R: Send>(&self, f: impl FnOnce() -> R + Send) -> Result<R> {
        on_fresh_thread(|| {
            rustix::thread::move_into_link_name_space(
                self.fd.as_fd(),
                Some(LinkNameSpaceType::Network),
            )
            .map_err(|e| Error::Enter(e.into()))?;
            Ok(f())
        })?
    }

    /// The namespace's inode number: two handles refer to the same namespace exactly when
    /// their inodes are equal (`ip netns identify`, `lsns` use the same number).
    pub fn inode(&self) -> io::Result<u64> {
        Ok(rustix::fs::fstat(&self.fd)?.st_ino)
    }

    /// A second handle to the same namespace.
    pub fn try_clone(&self) -> io::Result<Self> {
        Ok(Self {
            fd: self.fd.try_clone()?,
        })
    }
}

impl AsFd for NetNs {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// `/run/netns/NAME`, after checking that `name` is one plain file name.
fn named_path(name: &str) -> Result<PathBuf> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(Error::InvalidName {
            name: name.to_owned(),
        });
    }
    Ok(Path::new(NETNS_RUN_DIR).join(name))
}

/// The `CLONE_NEW*` type of the namespace behind `fd`, which must be an nsfs file (anything
/// else could give the ioctl number another meaning).
fn namespace_type(fd: BorrowedFd<'_>) -> io::Result<libc::c_int> {
    // SAFETY: NS_GET_NSTYPE takes no argument and only returns an integer; on an nsfs file
    // (checked by the caller) it has no other effect.
    let kind = unsafe { libc::ioctl(fd.as_raw_fd(), libc::NS_GET_NSTYPE) };
    if kind < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(kind)
}

/// Makes [`NETNS_RUN_DIR`] a shared mount point, bind-mounting it on itself first if it is not
/// a mount point yet (the same dance as iproute2's `netns_add`). Shared propagation lets the
/// namespace mounts made here appear in mount namespaces that were copied from this one.
fn make_run_dir_shared() -> io::Result<()> {
    let shared = MountPropagationFlags::SHARED | MountPropagationFlags::REC;
    match mount::mount_change(NETNS_RUN_DIR, shared) {
        Err(Errno::INVAL) => {
            mount::mount_bind_recursive(NETNS_RUN_DIR, NETNS_RUN_DIR)?;
            Ok(mount::mount_change(NETNS_RUN_DIR, shared)?)
        }
        other => Ok(other?),
    }
}

/// Runs `f` on a new thread and joins it. Namespace changes made by `f` die with the thread,
/// so they can never leak into a caller's (possibly pooled) thread. A panic in `f` is resumed
/// here.
fn on_fresh_thread<R: Send>(f: impl FnOnce() -> R + Send) -> Result<R> {
    thread::scope(|scope| {
        let worker = thread::Builder::new()
            .name("podwire-netns".into())
            .spawn_scoped(scope, f)
            .map_err(Error::Spawn)?;
        match worker.join() {
            Ok(result) => Ok(result),
            Err(payload) => panic::resume_unwind(payload),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_single_file_names() {
        assert_eq!(named_path("pod-1").unwrap(), Path::new("/run/netns/pod-1"));
        for bad in ["", ".", "..", "a/b", "../etc", "nul\0"] {
            assert!(
                matches!(named_path(bad), Err(Error::InvalidName { .. })),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn current_namespace_is_a_netns() {
        let ns = NetNs::current().unwrap();
        let again = NetNs::current().unwrap();
        assert_eq!(ns.inode().unwrap(), again.inode().unwrap());
    }

    #[test]
    fn other_files_are_rejected() {
        let err = NetNs::open("/proc/self/ns/uts").unwrap_err();
        assert!(matches!(err, Error::NotNetNs { kind, .. } if kind.contains("another type")));
        let err = NetNs::open("/proc/self/status").unwrap_err();
        assert!(matches!(err, Error::NotNetNs { kind, .. } if kind.contains("not a namespace")));
        let err = NetNs::open("/nonexistent/netns").unwrap_err();
        assert!(matches!(err, Error::Open { .. }));
    }

    #[test]
    fn run_in_runs_on_another_thread_and_returns_the_result() {
        let ns = NetNs::current().unwrap();
        let caller = thread::current().id();
        let (id, name) = ns
            .run_in(|| {
                let me = thread::current();
                (me.id(), me.name().map(str::to_owned))
            })
            .unwrap();
        assert_ne!(id, caller);
        assert_eq!(name.as_deref(), Some("podwire-netns"));
    }

    #[test]
    #[should_panic(expected = "boom in namespace")]
    fn run_in_resumes_panics() {
        let ns = NetNs::current().unwrap();
        ns.run_in(|| panic!("boom in namespace")).unwrap();
    }
}
