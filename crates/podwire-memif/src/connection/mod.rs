//! The public API: memif interfaces over real sockets, in both roles.
//!
//! - [`Server`]: one listening socket serving many interfaces by id.
//! - [`Client`]: one interface, connecting (and reconnecting) to a server.
//! - [`Interface`]: a connected interface: bursts of packets in and out,
//!   interrupts, counters.
//! - [`InterfaceConfig`]: what an interface is, for either role.
//!
//! Both roles are driven the same way: call `poll(now)` whenever one of
//! `fds()` is readable, or at the latest at `next_deadline()` (timers:
//! handshake timeouts, the client's reconnection), and act on the
//! [`Event`]s it returns. Nothing blocks; `now` is a parameter so that
//! tests control time. `wait` blocks on the fds for simple applications.
//! The data path ([`Interface`]) needs no polling of the control side: a
//! worker can own the interface's queues while another thread, or the
//! same one between bursts, polls the control connection.

mod client;
mod config;
mod control;
mod interface;
mod link;
mod server;
mod setup;
mod wait;

use std::fmt;
use std::time::Duration;

pub use client::{Client, ConnectError};
pub use config::{ConfigError, InterfaceConfig};
pub use interface::{Interface, InterfaceError};
pub use server::{Server, ServerError};
pub use setup::SetupError;
// For `crate::fuzzing`, which plays a peer against the very setup code.
pub(crate) use setup::{ClientMemory, server_interface};
pub use wait::wait_readable;

use crate::sys::PeerCredentials;

/// A handshake not finished within this time is abandoned (and the
/// connection closed), so a stuck or hostile peer holds nothing for long.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);

/// A client whose server is away tries again after [`RECONNECT_FIRST`], then twice as long
/// each time, up to this period: a server that restarts (a switch's agent, in about 100 ms)
/// is found again at once, one that is gone is not hammered.
pub const RECONNECT_PERIOD: Duration = Duration::from_secs(1);

/// The first wait before a client tries its server again.
pub const RECONNECT_FIRST: Duration = Duration::from_millis(10);

/// The application name we send in HELLO (server) and INIT (client).
pub const APP_NAME: &str = concat!("podwire-memif ", env!("CARGO_PKG_VERSION"));

/// What happened to an interface during a `poll`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The handshake completed: the interface is up and its queues usable.
    Connected {
        /// The interface id.
        id: u32,
        /// Who connected.
        peer: PeerInfo,
    },
    /// A connected interface lost its peer; its memory is unmapped. A
    /// server frees the id for the next client, a client reconnects.
    Disconnected {
        /// The interface id.
        id: u32,
        /// Why.
        reason: DisconnectReason,
    },
    /// A handshake did not complete; the connection was closed. For a
    /// client, the reason is the server's refusal ("incorrect secret") or
    /// ours; a client tries again after [`RECONNECT_PERIOD`].
    Refused {
        /// The interface id, when the handshake got far enough to name it.
        id: Option<u32>,
        /// Why, as sent in (or received with) the DISCONNECT.
        reason: String,
    },
}

/// The other end of an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer application's name (a client's INIT, a server's HELLO),
    /// e.g. `DPDK 22.11.11`.
    pub name: String,
    /// The peer's interface name (CONNECT, CONNECTED), e.g. `net_memif0`.
    pub if_name: String,
    /// The peer process, as the kernel saw it connect; `None` if it could
    /// not be read.
    pub credentials: Option<PeerCredentials>,
}

/// Why a connected interface went down.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The peer sent DISCONNECT with this reason.
    Peer(String),
    /// The peer closed the connection without a word: it exited or died.
    Closed,
    /// We ended the connection for this reason, and told the peer.
    Local(String),
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisconnectReason::Peer(reason) => write!(f, "the peer disconnected: {reason}"),
            DisconnectReason::Closed => write!(f, "the peer closed the connection"),
            DisconnectReason::Local(reason) => write!(f, "{reason}"),
        }
    }
}
