//! The API's unix socket: created in a fresh or existing directory, replacing the file a
//! crashed agent left behind but never one a live agent serves on, readable and writable by
//! the owner and group only, and removed when the server stops.

use std::fs::{self, DirBuilder, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tokio::net::{UnixListener, UnixStream};

/// The socket's mode: the agent's user and group may connect (root and, say, a `podwire`
/// group for operators), nobody else.
const SOCKET_MODE: u32 = 0o660;
/// The mode of a socket directory the agent creates.
const DIR_MODE: u32 = 0o755;

/// Why the API socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    /// The parent directory is missing and could not be made.
    #[error("cannot create the directory {} for the API socket: {source}", dir.display())]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// A live process answers on the socket.
    #[error(
        "another process is already serving on {}: stop it (is another `podwire daemon` running?) or set another node.api_socket",
        path.display()
    )]
    InUse {
        /// The socket.
        path: PathBuf,
    },
    /// Something other than a socket is at the path; the agent will not delete it.
    #[error("{} exists and is not a socket; move it away or set another node.api_socket", path.display())]
    NotASocket {
        /// The path.
        path: PathBuf,
    },
    /// The socket file left by an agent that is gone could not be removed.
    #[error("cannot remove the stale API socket {}: {source}", path.display())]
    RemoveStale {
        /// The socket.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// Binding or setting the mode failed.
    #[error("cannot listen on the API socket {}: {source}", path.display())]
    Listen {
        /// The socket.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
}

/// Binds `path` with mode 0660, creating its directory and replacing a stale socket.
pub(super) async fn bind(path: &Path) -> Result<(UnixListener, SocketFile), SocketError> {
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(dir)
            .map_err(|source| SocketError::CreateDir {
                dir: dir.to_owned(),
                source,
            })?;
    }
    remove_stale(path).await?;
    let listen_error = |source| SocketError::Listen {
        path: path.to_owned(),
        source,
    };
    let listener = UnixListener::bind(path).map_err(listen_error)?;
    // From here on the file is ours: dropping `file` removes it, also on the error below.
    let file = SocketFile(path.to_owned());
    fs::set_permissions(path, Permissions::from_mode(SOCKET_MODE)).map_err(listen_error)?;
    Ok((listener, file))
}

/// The socket file of a bound listener; dropping it removes the file.
#[derive(Debug)]
pub(super) struct SocketFile(PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        if let Err(error) = fs::remove_file(&self.0) {
            tracing::warn!(path = %self.0.display(), %error, "cannot remove the API socket");
        }
    }
}

/// Removes a socket file nobody answers on; refuses when someone does, or when the path is
/// not a socket.
async fn remove_stale(path: &Path) -> Result<(), SocketError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(SocketError::Listen {
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
    if UnixStream::connect(path).await.is_ok() {
        return Err(SocketError::InUse {
            path: path.to_owned(),
        });
    }
    tracing::info!(path = %path.display(), "removing the API socket a previous agent left behind");
    fs::remove_file(path).map_err(|source| SocketError::RemoveStale {
        path: path.to_owned(),
        source,
    })
}
