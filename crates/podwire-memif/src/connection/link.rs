//! A connected interface with its control connection, for both roles:
//! watches the connection for the end, and says goodbye when we end it.

use std::os::fd::{AsFd, BorrowedFd};

use super::control::{self, Incoming};
use super::{DisconnectReason, Interface};
use crate::msg::Message;
use crate::sys::Conn;

/// A connected interface and the control connection it came from. After
/// CONNECTED the only message either side may send is DISCONNECT.
#[derive(Debug)]
pub(crate) struct Link {
    /// First field: dropped (unmapping the memory) before the connection
    /// closes.
    interface: Interface,
    conn: Conn,
    /// Whether the connection has ended, so no DISCONNECT is due on drop.
    ended: bool,
}

impl Link {
    pub(crate) fn new(conn: Conn, interface: Interface) -> Link {
        Link {
            interface,
            conn,
            ended: false,
        }
    }

    pub(crate) fn interface(&self) -> &Interface {
        &self.interface
    }

    pub(crate) fn interface_mut(&mut self) -> &mut Interface {
        &mut self.interface
    }

    /// The control connection, to wait on.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.conn.as_fd()
    }

    /// Looks at the control connection without blocking: `None` while the
    /// link holds, the reason once it has ended (drop the link then).
    pub(crate) fn check(&mut self) -> Option<DisconnectReason> {
        let reason = match control::receive(&self.conn) {
            Ok(None) => return None,
            Ok(Some(Incoming::Closed)) => DisconnectReason::Closed,
            Ok(Some(Incoming::Message(Message::Disconnect { reason, .. }, _))) => {
                DisconnectReason::Peer(reason.to_string())
            }
            Ok(Some(Incoming::Message(other, _))) => {
                self.end(&format!("unexpected {} after CONNECTED", other.name()))
            }
            Err(error) => self.end(&error.to_string()),
        };
        self.ended = true;
        Some(reason)
    }

    /// Ends the link, telling the peer why.
    pub(crate) fn close(mut self, reason: &str) {
        self.end(reason);
    }

    fn end(&mut self, reason: &str) -> DisconnectReason {
        control::disconnect(&self.conn, reason);
        self.ended = true;
        DisconnectReason::Local(reason.to_owned())
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        if !self.ended {
            control::disconnect(&self.conn, "the memif interface was closed");
        }
    }
}
