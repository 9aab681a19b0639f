//! The socket layer: the only part of the control path that does I/O.
//!
//! memif peers talk over an `AF_UNIX` `SOCK_SEQPACKET` socket, one 128-byte
//! message per datagram, passing region memfds and ring eventfds as
//! `SCM_RIGHTS`. This module binds and connects those sockets (filesystem
//! paths and abstract names), moves one message and at most one descriptor
//! at a time, and wraps the rings' eventfds. It knows nothing of what the
//! messages mean: that is [`crate::handshake`]'s job.

mod addr;
mod eventfd;
mod fdpass;
mod socket;

pub use addr::{AddrError, MAX_ADDR_LEN, SocketAddr};
pub use eventfd::{EventFd, EventFdError};
pub use fdpass::{Received, TransferError};
pub use socket::{Conn, FileAccess, Listener, PeerCredentials, SocketError};

#[cfg(test)]
mod tests;
