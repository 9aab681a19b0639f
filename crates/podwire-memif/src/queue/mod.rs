//! The ring protocol (memif.md §4–§5): the four roles a ring can have for
//! us, with burst APIs that move many packets per `head`/`tail` store.
//!
//! | ring | we are | queue |
//! |---|---|---|
//! | C2S | client | [`TxQueue::client`]: fills its own fixed slot buffers, writes `head` |
//! | C2S | server | [`RxQueue::server`]: reads, writes `tail` |
//! | S2C | server | [`TxQueue::server`]: fills the buffers the client posted (only `length`/`flags`), writes `tail` |
//! | S2C | client | [`RxQueue::client`]: reads, then posts its buffers again, writes `head` |
//!
//! Besides copying bursts, both ends offer zero-copy ones
//! ([`TxQueue::tx_reserve`], [`RxQueue::rx_peek`]): packet bytes written
//! and read in place in shared memory.
//!
//! A queue does not own the memory: each burst is given the connection's
//! [`crate::shm::Regions`], re-places its ring in them (a few
//! comparisons) and reads every descriptor once into a plain value before
//! validating it. Whatever the peer writes, a bad descriptor costs one
//! packet and one counter, never a panic or an access outside the regions.
//!
//! Ordering: a producer writes descriptors and data, stores its index with
//! Release, then (after a SeqCst fence pairing with the consumer's) reads
//! the ring's flags to decide whether to signal the eventfd; a consumer
//! loads the peer's index with Acquire before reading descriptors.

mod interrupt;
mod rx;
mod tx;
mod zero_copy;

#[cfg(test)]
mod tests;

use interrupt::Interrupt;
pub use rx::{Packet, RxQueue};
pub use tx::TxQueue;
pub use zero_copy::{BufferError, SharedBuf, SharedBufMut, TxReservation};

use crate::shm::{Regions, Ring, RingError};
use crate::sys::EventFdError;
use crate::types::Direction;
use crate::types::{RING_COOKIE, RingSpec};

/// The largest packet a queue accepts by default: VPP's
/// `ETHERNET_MAX_PACKET_BYTES`, room for 9000-byte jumbo frames.
pub const DEFAULT_MAX_FRAME: usize = 9216;

/// Why a queue cannot be set up on a ring.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// A receive queue given a ring we produce into, or the reverse.
    #[error("this queue needs a {expected:?} ring but was given a {got:?} ring")]
    WrongDirection {
        /// The direction the role needs.
        expected: Direction,
        /// The ring's direction.
        got: Direction,
    },
    /// The ring is not inside the regions.
    #[error(transparent)]
    Ring(#[from] RingError),
    /// The client never initialised the ring.
    #[error(
        "the ring's cookie is {found:#010x}, not memif's 0x03e31f20: the peer did not initialise it; drop the connection"
    )]
    WrongCookie {
        /// The value found.
        found: u32,
    },
    /// The layout has fewer rings.
    #[error("the layout has no {direction:?} ring {index}")]
    NoSuchRing {
        /// Direction asked for.
        direction: Direction,
        /// Index asked for.
        index: u16,
    },
    /// The layout's buffers are not inside the regions given.
    #[error(
        "the ring's slot buffers lie outside the regions: create the regions from the same layout"
    )]
    BuffersOutsideRegions,
    /// The interrupt fd is something else than an eventfd.
    #[error(
        "the ring's interrupt fd is {found:?}, not an eventfd: the peer's ADD_RING is invalid; drop the connection"
    )]
    NotAnEventfd {
        /// What `/proc/self/fd` says it is.
        found: String,
    },
    /// The interrupt fd cannot be inspected or made non-blocking.
    #[error("cannot check or configure the ring's interrupt fd: {0}")]
    InterruptFd(#[source] EventFdError),
}

impl From<EventFdError> for QueueError {
    fn from(e: EventFdError) -> Self {
        match e {
            EventFdError::NotAnEventFd { kind } => QueueError::NotAnEventfd { found: kind },
            other => QueueError::InterruptFd(other),
        }
    }
}

/// The ring behind a server's queue: announced for `expected`, and
/// initialised by the client (its cookie written).
fn server_ring<'a>(
    regions: &'a Regions,
    ring: &RingSpec,
    expected: Direction,
) -> Result<Ring<'a>, QueueError> {
    if ring.direction != expected {
        return Err(QueueError::WrongDirection {
            expected,
            got: ring.direction,
        });
    }
    let view = Ring::from_spec(regions, ring)?;
    if view.cookie() != RING_COOKIE {
        return Err(QueueError::WrongCookie {
            found: view.cookie(),
        });
    }
    Ok(view)
}

/// Counters of one queue. Receive queues count what they delivered and the
/// packets they dropped; transmit queues what they sent and the frames they
/// dropped: invalid frames, and (on a server's S2C ring) each attempt stopped
/// by a bad posted buffer, which stays in place until the client reposts it.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Packets delivered (RX) or sent (TX).
    pub packets: u64,
    /// Bytes of those packets.
    pub bytes: u64,
    /// A descriptor named a region the connection does not have.
    pub drops_bad_region: u64,
    /// A descriptor's offset + length reached past the end of its region.
    pub drops_overrun: u64,
    /// A segment of zero bytes (RX), an empty frame or a buffer posted with
    /// no capacity (TX).
    pub drops_zero_length: u64,
    /// A packet longer than the queue's max frame (or than a whole ring).
    pub drops_too_big: u64,
    /// A chain whose last published slot still says NEXT.
    pub drops_truncated_chain: u64,
    /// Bursts refused because the peer's index claimed more slots than the
    /// ring has (nothing was read or released).
    pub bad_peer_index: u64,
    /// Bursts skipped because the ring does not fit the regions passed in
    /// (the caller passed another connection's regions).
    pub ring_unusable: u64,
}

/// Why a packet was dropped.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum DropReason {
    BadRegion,
    Overrun,
    ZeroLength,
    TooBig,
    TruncatedChain,
}

impl QueueStats {
    fn count_drop(&mut self, reason: DropReason) {
        let counter = match reason {
            DropReason::BadRegion => &mut self.drops_bad_region,
            DropReason::Overrun => &mut self.drops_overrun,
            DropReason::ZeroLength => &mut self.drops_zero_length,
            DropReason::TooBig => &mut self.drops_too_big,
            DropReason::TruncatedChain => &mut self.drops_truncated_chain,
        };
        *counter += 1;
    }

    fn count_packet(&mut self, len: usize) {
        self.packets += 1;
        self.bytes += len as u64;
    }
}

/// A buffer a descriptor names, checked to lie inside its region.
#[derive(Copy, Clone, Debug)]
struct Segment {
    region: u16,
    offset: usize,
    len: usize,
}

/// Checks the buffer a descriptor names (region, offset, length) against
/// the connection's regions.
#[inline]
fn check_buffer(
    regions: &Regions,
    region: u16,
    offset: u32,
    len: u32,
) -> Result<Segment, DropReason> {
    let mapped = regions.get(region).ok_or(DropReason::BadRegion)?;
    if len == 0 {
        return Err(DropReason::ZeroLength);
    }
    let (offset, len) = (offset as usize, len as usize);
    if offset.checked_add(len).is_none_or(|end| end > mapped.len()) {
        return Err(DropReason::Overrun);
    }
    Ok(Segment {
        region,
        offset,
        len,
    })
}
