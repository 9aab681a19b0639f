//! The control-channel state machines of both roles, with no I/O: the
//! socket layer feeds them parsed messages (and the fd that came with
//! one) and sends what they return (memif.md §2.5).
//!
//! The exchange is strict lock-step: the client sends one message and
//! waits for the server's answer before the next, in the order INIT,
//! ADD_REGION 0.., ADD_RING C2S 0.., ADD_RING S2C 0.., CONNECT. Either
//! side refuses anything else with a [`Refusal`], whose text is the
//! reason of the DISCONNECT it then sends before closing.

use std::os::fd::OwnedFd;

use thiserror::Error;

use crate::msg::{Message, Name, Reason};
use crate::types::{Direction, MSG_SIZE, Mode, RegionSpec, RingSpec, VERSION};

pub mod client;
pub mod server;

#[cfg(test)]
mod tests;

/// Regions as announced, each with its memfd.
pub type RegionFds = Vec<(RegionSpec, OwnedFd)>;
/// Rings as announced, each with its eventfd.
pub type RingFds = Vec<(RingSpec, OwnedFd)>;

/// Why a handshake cannot go on. Its text is short enough for, and meant
/// for, the reason of a DISCONNECT: the peer's operator reads it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Refusal {
    /// The peer speaks no protocol version we speak.
    #[error(
        "incompatible memif version (peer speaks {min:#06x} to {max:#06x}, we speak {VERSION:#06x})"
    )]
    IncompatibleVersion {
        /// Oldest version the peer speaks.
        min: u16,
        /// Newest version the peer speaks.
        max: u16,
    },
    /// No interface with this id on this socket (decided by the server's
    /// interface lookup).
    #[error("unmatched interface id {id}: configure it on the server or fix the client's id")]
    UnmatchedId {
        /// The id the client asked for.
        id: u32,
    },
    /// The interface already has a peer (decided by the server's
    /// interface lookup).
    #[error("already connected: interface id {id} has a peer")]
    AlreadyConnected {
        /// The id the client asked for.
        id: u32,
    },
    /// The client wants another mode than the interface is configured for.
    #[error("mode mismatch: the interface is {ours:?}, the client asked for {theirs:?}")]
    ModeMismatch {
        /// The interface's mode.
        ours: Mode,
        /// The client's mode.
        theirs: Mode,
    },
    /// The interface has a secret and the client sent none.
    #[error("secret required")]
    SecretRequired,
    /// The client's secret is not the interface's.
    #[error("incorrect secret")]
    IncorrectSecret,
    /// ADD_REGION came without its memfd.
    #[error("missing region fd")]
    MissingRegionFd,
    /// Regions must come as 0, 1, 2, ...
    #[error("unexpected region index {got} (expected {expected})")]
    UnexpectedRegionIndex {
        /// The index sent.
        got: u16,
        /// The next index in sequence.
        expected: usize,
    },
    /// More regions than the server accepts.
    #[error("too many regions: index {index} is beyond the maximum {max}")]
    TooManyRegions {
        /// The index sent.
        index: u16,
        /// The highest index accepted.
        max: u16,
    },
    /// A region of no bytes cannot hold anything, nor be mapped.
    #[error("region {index} is empty")]
    EmptyRegion {
        /// The region's index.
        index: u16,
    },
    /// ADD_RING came without its eventfd.
    #[error("missing interrupt fd")]
    MissingRingFd,
    /// Rings of one direction must come as 0, 1, 2, ...
    #[error("invalid ring index: {direction:?} ring {got} (expected {expected})")]
    UnexpectedRingIndex {
        /// The ring's direction.
        direction: Direction,
        /// The index sent.
        got: u16,
        /// The next index in sequence for that direction.
        expected: usize,
    },
    /// More rings of a direction than the interface has queues for.
    #[error("invalid ring index: {direction:?} ring {index}, the interface accepts {limit}")]
    RingIndexOutOfRange {
        /// The ring's direction.
        direction: Direction,
        /// The index sent.
        index: u16,
        /// How many rings of that direction are accepted.
        limit: u32,
    },
    /// A ring has more slots than accepted.
    #[error("ring size too large: 2^{log2} slots, at most 2^{max}")]
    RingSizeTooLarge {
        /// The ring's log2 size.
        log2: u8,
        /// The largest log2 size accepted.
        max: u8,
    },
    /// ADD_RING with a per-ring private header, which nobody implements.
    #[error("private headers not supported")]
    PrivateHeaders,
    /// A ring lives in a region that was not announced.
    #[error("{direction:?} ring {index} names region {region}, which was not announced")]
    UnknownRegion {
        /// The ring's direction.
        direction: Direction,
        /// The ring's index.
        index: u16,
        /// The region it names.
        region: u16,
    },
    /// A ring does not fit inside its region as announced.
    #[error(
        "{direction:?} ring {index} at offset {offset} overruns region {region} ({size} bytes)"
    )]
    RingOutsideRegion {
        /// The ring's direction.
        direction: Direction,
        /// The ring's index.
        index: u16,
        /// The region it names.
        region: u16,
        /// The ring header's offset.
        offset: u32,
        /// The region's announced size.
        size: u64,
    },
    /// CONNECT before any region was announced.
    #[error("connect without regions")]
    NoRegions,
    /// CONNECT before a ring of some direction was announced.
    #[error("connect without {0:?} rings")]
    NoRings(Direction),
    /// A message that is not the next step of the handshake.
    #[error("unexpected message {message} in state {state}")]
    UnexpectedMessage {
        /// The message's name.
        message: &'static str,
        /// What the handshake was waiting for.
        state: &'static str,
    },
    /// The peer sent DISCONNECT: nothing is to be answered.
    #[error("peer disconnected: {reason} (code {code})")]
    PeerDisconnected {
        /// The peer's code.
        code: u32,
        /// The peer's reason.
        reason: Reason,
    },
}

impl Refusal {
    /// The DISCONNECT to send before closing, `None` when the peer has
    /// already disconnected.
    pub fn disconnect_message(&self) -> Option<Message> {
        match self {
            Refusal::PeerDisconnected { .. } => None,
            other => Some(Message::Disconnect {
                code: 0,
                reason: Reason::from(other.to_string().as_str()),
            }),
        }
    }

    fn unexpected(message: &Message, state: &'static str) -> Refusal {
        match *message {
            Message::Disconnect { code, reason } => Refusal::PeerDisconnected { code, reason },
            _ => Refusal::UnexpectedMessage {
                message: message.name(),
                state,
            },
        }
    }
}

/// Entry point for fuzzing the server side: parses each frame in turn and
/// feeds it to a fresh server handshake (with a new eventfd attached to
/// the messages that carry one), until a frame does not parse or the
/// handshake refuses. The fixed interface lookup knows id 0 (ethernet,
/// no secret, 2 queues each way, 2^14 slots), id 1 (ip, secret
/// `"fuzz"`, 1 queue each way, 2^10 slots) and refuses id 2 as already
/// connected.
///
/// Returns how many frames the handshake accepted.
pub fn fuzz_server_handshake(messages: &[[u8; MSG_SIZE]]) -> usize {
    use rustix::event::{EventfdFlags, eventfd};
    use server::{ServerHandshake, ServerInterface};

    let lookup = |id: u32| match id {
        0 => Ok(ServerInterface {
            mode: Mode::Ethernet,
            secret: Default::default(),
            rx_queues: 2,
            tx_queues: 2,
            max_log2_ring_size: 14,
        }),
        1 => Ok(ServerInterface {
            mode: Mode::Ip,
            secret: "fuzz".into(),
            rx_queues: 1,
            tx_queues: 1,
            max_log2_ring_size: 10,
        }),
        2 => Err(Refusal::AlreadyConnected { id }),
        _ => Err(Refusal::UnmatchedId { id }),
    };
    let (mut server, _hello) =
        ServerHandshake::new(crate::msg::Hello::new(Name::from("podwire-fuzz")));
    let mut accepted = 0;
    for frame in messages {
        let Ok(msg) = Message::parse(frame) else {
            break;
        };
        let fd = if msg.carries_fd() {
            match eventfd(0, EventfdFlags::CLOEXEC) {
                Ok(fd) => Some(fd),
                Err(_) => break,
            }
        } else {
            None
        };
        if server.on_message(msg, fd, &lookup).is_err() {
            break;
        }
        accepted += 1;
    }
    accepted
}
