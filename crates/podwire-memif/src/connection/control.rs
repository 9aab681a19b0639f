//! Messages over a control connection, for both roles: the datagram and
//! its fd in, a parsed [`Message`] out, and the DISCONNECT that ends a
//! connection on our side.

use std::os::fd::{BorrowedFd, OwnedFd};

use crate::msg::{Message, MsgError, Reason};
use crate::sys::{Conn, Received, TransferError};
use crate::types::MSG_SIZE;

/// Messages taken from one connection per poll at most. An honest peer
/// has one message in flight (lock-step); this bounds what a peer that
/// floods us can cost one poll.
pub(crate) const MESSAGE_BUDGET: usize = 16;

/// Why a control connection cannot go on.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ControlError {
    /// The socket failed, or the peer sent control data memif never does.
    #[error(transparent)]
    Transfer(#[from] TransferError),
    /// The peer sent something that is not a memif message.
    #[error(transparent)]
    Malformed(#[from] MsgError),
}

/// What arrived on a control connection.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// A message, with the fd that came with it.
    Message(Message, Option<OwnedFd>),
    /// The peer closed the connection.
    Closed,
}

/// Receives and parses the next message without blocking: `Ok(None)` when
/// none is waiting.
pub(crate) fn receive(conn: &Conn) -> Result<Option<Incoming>, ControlError> {
    let mut buf = [0u8; MSG_SIZE];
    match conn.recv(&mut buf)? {
        None => Ok(None),
        Some(Received::Closed) => Ok(Some(Incoming::Closed)),
        Some(Received::Message { len, fd }) => {
            // `buf` holds only the first MSG_SIZE bytes of a longer datagram.
            if len != MSG_SIZE {
                return Err(MsgError::WrongSize { len }.into());
            }
            Ok(Some(Incoming::Message(Message::parse(&buf)?, fd)))
        }
    }
}

/// Sends one message, with its fd when it carries one.
pub(crate) fn send(
    conn: &Conn,
    msg: &Message,
    fd: Option<BorrowedFd<'_>>,
) -> Result<(), TransferError> {
    conn.send(&msg.emit(), fd)
}

/// Tells the peer why we close (best effort: it may be gone already).
pub(crate) fn disconnect(conn: &Conn, reason: &str) {
    let msg = Message::Disconnect {
        code: 0,
        reason: Reason::from(reason),
    };
    if let Err(error) = send(conn, &msg, None) {
        tracing::debug!(%error, reason, "cannot send DISCONNECT to the memif peer");
    }
}
