//! The memif interfaces of the config: a shared-memory packet interface whose other end is a
//! network-function application (a CNF pod) speaking memif (VPP's libmemif, DPDK's
//! `net_memif`, podwire-memif).
//!
//! By default the switch is the memif server, on a socket of its own in a directory of its own
//! (`/run/podwire/memif/<name>/memif.sock`) that can be mounted into the one pod that should
//! use it, with mode 0600 so that only that pod's user (root by default) can connect.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

/// The directory under which each memif server gets `<name>/memif.sock` unless `socket` says
/// otherwise.
pub const DEFAULT_MEMIF_SOCKET_DIR: &str = "/run/podwire/memif";
/// The file name of a default memif socket, in its interface's directory.
pub const DEFAULT_MEMIF_SOCKET_FILE: &str = "memif.sock";
/// The permissions of a memif server's socket file unless `socket_mode` says otherwise: only
/// its owner (root, or `socket_owner.uid`) may connect.
pub const DEFAULT_MEMIF_SOCKET_MODE: u32 = 0o600;
/// Queues each way unless `queues` says otherwise.
pub const DEFAULT_MEMIF_QUEUES: u16 = 1;
/// Slots per ring, as log2, unless `ring_size` says otherwise (1024 slots, as VPP and DPDK).
pub const DEFAULT_MEMIF_RING_SIZE: u8 = 10;
/// Bytes per packet buffer unless `buffer_size` says otherwise (as VPP and DPDK).
pub const DEFAULT_MEMIF_BUFFER_SIZE: u32 = 2048;

/// A memif interface: where its socket is, which end the switch is, and what the two ends
/// must agree on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemifConfig {
    /// The control socket.
    pub socket: MemifSocket,
    /// The interface id on the socket (memif's `id`, DPDK's `id=`).
    pub id: u32,
    /// The shared secret, 1 to 24 bytes, if any. A server with a secret refuses clients that
    /// do not send it.
    pub secret: Option<String>,
    /// Queues (ring pairs) each way, 1 to 256.
    pub queues: u16,
    /// Which end the switch is, with what only that end decides.
    pub role: MemifRole,
}

/// Where a memif control socket is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MemifSocket {
    /// A socket file; its directory can be mounted into a pod.
    Path(PathBuf),
    /// A name in the abstract socket namespace of the daemon's network namespace (written
    /// `@NAME`): there is no file, and so no permission check: any process in that network
    /// namespace can connect.
    Abstract(String),
}

impl fmt::Display for MemifSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemifSocket::Path(path) => write!(f, "{}", path.display()),
            MemifSocket::Abstract(name) => write!(f, "@{name}"),
        }
    }
}

/// Which end of the memif connection the switch is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemifRole {
    /// The switch listens and the application connects (the default). The client creates the
    /// shared memory, so it chooses the ring and buffer sizes.
    Server {
        /// The socket file's permissions; `None` for an abstract socket, which has none.
        access: Option<SocketAccess>,
        /// Whether the client's memory is mapped even when it cannot be sealed against
        /// shrinking. DPDK's zero-copy clients need it; but a client that shrinks such memory
        /// while the switch reads it crashes the switch (SIGBUS), so only a trusted
        /// application should get it.
        allow_unsealed_regions: bool,
    },
    /// The switch connects to the application's server, and connects again whenever the
    /// server goes away and comes back.
    Client {
        /// Slots per ring, as log2 (1 to 14).
        ring_size: u8,
        /// Bytes per packet buffer; longer frames are chained over several buffers.
        buffer_size: u32,
    },
}

/// Who may use a memif server's socket file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketAccess {
    /// Permission bits, 0o000 to 0o777.
    pub mode: u32,
    /// The file's owner, when not the daemon's user.
    pub uid: Option<u32>,
    /// The file's group, when not the daemon's group.
    pub gid: Option<u32>,
}

/// `role` as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(super) enum MemifRoleName {
    Server,
    Client,
}

/// `mode` as written: memif's three modes, of which the switch speaks ethernet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(super) enum MemifMode {
    Ethernet,
    Ip,
    PuntInject,
}
