//! Transmitting: the client on a C2S ring, the server on an S2C ring.

use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use std::sync::atomic::fence;

use super::{DropReason, Interrupt, QueueError, QueueStats, Segment, check_buffer, server_ring};
use crate::shm::{Desc, Layout, Regions, Ring, SlotBuffers};
use crate::types::{DESC_FLAG_NEXT, Direction, RING_FLAG_MASK_INT, RingSpec};

/// Why a frame was not written.
enum Refusal {
    /// Not enough free slots now: stop, try again later.
    NoRoom,
    /// The frame can never be sent: drop it, go on with the next.
    Drop(DropReason),
    /// The next posted buffer is bad: stop, leave the slot where it is.
    Stall(DropReason),
}

/// The transmitting end of a ring.
#[derive(Debug)]
pub struct TxQueue {
    pub(super) ring: RingSpec,
    /// The client's fixed slot buffers; `None` for the server, which writes
    /// into the buffers the client posted.
    pub(super) buffers: Option<SlotBuffers>,
    /// Our index: `head` for the client, `tail` for the server.
    pub(super) next: u16,
    pub(super) max_frame: usize,
    interrupt: Interrupt,
    /// Server: the posted buffers a frame will take, read and checked
    /// before anything is written (so a frame that does not fit leaves the
    /// posted capacities untouched). Both roles: the buffers of a
    /// zero-copy reservation, one per slot. Never reallocated.
    pub(super) posted: Vec<Segment>,
    pub(super) stats: QueueStats,
}

impl TxQueue {
    /// The server's end of an S2C ring the client announced, once the
    /// connection's regions are mapped. Frames longer than `max_frame` are
    /// dropped.
    pub fn server(
        regions: &Regions,
        ring: RingSpec,
        interrupt: OwnedFd,
        max_frame: usize,
    ) -> Result<TxQueue, QueueError> {
        let view = server_ring(regions, &ring, Direction::S2C)?;
        let next = view.tail().load(Relaxed);
        TxQueue::new(ring, None, next, interrupt, max_frame)
    }

    /// The client's end of C2S ring `index` of `layout`, on the regions
    /// created from it.
    pub fn client(
        regions: &Regions,
        layout: &Layout,
        index: u16,
        interrupt: OwnedFd,
        max_frame: usize,
    ) -> Result<TxQueue, QueueError> {
        let no_ring = QueueError::NoSuchRing {
            direction: Direction::C2S,
            index,
        };
        let ring = layout.ring(Direction::C2S, index).ok_or(no_ring)?;
        let buffers = layout
            .buffers(Direction::C2S, index)
            .filter(|b| b.fit(regions))
            .ok_or(QueueError::BuffersOutsideRegions)?;
        let next = Ring::from_spec(regions, &ring)?.head().load(Relaxed);
        TxQueue::new(ring, Some(buffers), next, interrupt, max_frame)
    }

    fn new(
        ring: RingSpec,
        buffers: Option<SlotBuffers>,
        next: u16,
        interrupt: OwnedFd,
        max_frame: usize,
    ) -> Result<TxQueue, QueueError> {
        Ok(TxQueue {
            ring,
            buffers,
            next,
            max_frame,
            interrupt: Interrupt::new(interrupt)?,
            posted: Vec::with_capacity(1 << ring.log2_size),
            stats: QueueStats::default(),
        })
    }

    /// Copies frames into the ring, in order, each whole or not at all
    /// (chained over several slots when longer than a buffer), publishes
    /// them with one index store and signals the peer unless it polls.
    ///
    /// Returns how many frames from the front of `frames` were taken: sent,
    /// or dropped as unsendable (empty, or longer than the max frame or a
    /// whole ring; counted). The rest did not fit now and may be retried.
    pub fn tx_burst(&mut self, regions: &Regions, frames: &[&[u8]]) -> usize {
        let Ok(ring) = Ring::from_spec(regions, &self.ring) else {
            self.stats.ring_unusable += 1;
            return 0;
        };
        let Some(mut room) = self.room(&ring) else {
            self.stats.bad_peer_index += 1;
            return 0;
        };
        let mut pos = self.next;
        let mut taken = 0;
        for frame in frames {
            let written = if frame.is_empty() {
                Err(Refusal::Drop(DropReason::ZeroLength))
            } else if frame.len() > self.max_frame {
                Err(Refusal::Drop(DropReason::TooBig))
            } else {
                match self.buffers {
                    Some(buffers) => put_own(&ring, regions, buffers, pos, room, frame),
                    None => self.put_posted(&ring, regions, pos, room, frame),
                }
            };
            match written {
                Ok(slots) => {
                    pos = pos.wrapping_add(slots);
                    room -= slots;
                    self.stats.count_packet(frame.len());
                }
                Err(Refusal::Drop(reason)) => self.stats.count_drop(reason),
                Err(Refusal::NoRoom) => break,
                Err(Refusal::Stall(reason)) => {
                    self.stats.count_drop(reason);
                    break;
                }
            }
            taken += 1;
        }
        if pos != self.next {
            self.publish(&ring, pos);
        }
        taken
    }

    /// The queue's counters.
    pub fn stats(&self) -> &QueueStats {
        &self.stats
    }

    /// Free slots now, or `None` if the peer's index is impossible.
    pub(super) fn room(&self, ring: &Ring<'_>) -> Option<u16> {
        match self.buffers {
            // Client: slots not yet released by the server are in use.
            Some(_) => {
                let in_use = self.next.wrapping_sub(ring.tail().load(Acquire));
                ring.size().checked_sub(in_use)
            }
            // Server: the slots the client posted beyond what we filled.
            None => {
                let posted = ring.head().load(Acquire).wrapping_sub(self.next);
                (posted <= ring.size()).then_some(posted)
            }
        }
    }

    pub(super) fn publish(&mut self, ring: &Ring<'_>, pos: u16) {
        let index = match self.buffers {
            Some(_) => ring.head(),
            None => ring.tail(),
        };
        index.store(pos, Release);
        self.next = pos;
        // Pairs with the consumer's fence in `set_polling`.
        fence(SeqCst);
        if ring.flags().load(Relaxed) & RING_FLAG_MASK_INT == 0 {
            self.interrupt.notify();
        }
    }

    /// Server: writes `frame` into the buffers posted at `pos..`, using
    /// each descriptor's length as its capacity and writing back only
    /// `length` and `flags`. Returns the slots used.
    fn put_posted(
        &mut self,
        ring: &Ring<'_>,
        regions: &Regions,
        pos: u16,
        room: u16,
        frame: &[u8],
    ) -> Result<u16, Refusal> {
        self.posted.clear();
        let mut capacity = 0;
        let mut slots = 0;
        while capacity < frame.len() {
            if slots == room {
                // A full ring of posted buffers still too small: never fits.
                let never = room == ring.size();
                return Err(if never {
                    Refusal::Drop(DropReason::TooBig)
                } else {
                    Refusal::NoRoom
                });
            }
            let desc = ring.desc(pos.wrapping_add(slots));
            let buffer = check_buffer(regions, desc.region, desc.offset, desc.length)
                .map_err(Refusal::Stall)?;
            capacity += buffer.len;
            self.posted.push(buffer);
            slots += 1;
        }
        let mut rest = frame;
        for (i, buffer) in (0..slots).zip(&self.posted) {
            let counter = pos.wrapping_add(i);
            let (chunk, tail) = rest.split_at(buffer.len.min(rest.len()));
            rest = tail;
            let written = regions
                .get(buffer.region)
                .map(|r| r.write(buffer.offset, chunk));
            if !matches!(written, Some(Ok(()))) {
                return Err(Refusal::Stall(DropReason::Overrun));
            }
            let flags = if rest.is_empty() { 0 } else { DESC_FLAG_NEXT };
            // The chunk fits the posted u32 length, so it fits a u32.
            ring.set_desc_data(counter, chunk.len() as u32, flags);
        }
        Ok(slots)
    }
}

/// Client: writes `frame` into our own slot buffers at `pos..`, one buffer
/// per slot, every descriptor field assigned. Returns the slots used.
fn put_own(
    ring: &Ring<'_>,
    regions: &Regions,
    buffers: SlotBuffers,
    pos: u16,
    room: u16,
    frame: &[u8],
) -> Result<u16, Refusal> {
    let size = buffers.size() as usize;
    let slots = frame.len().div_ceil(size);
    if slots > usize::from(ring.size()) {
        return Err(Refusal::Drop(DropReason::TooBig));
    }
    if slots > usize::from(room) {
        return Err(Refusal::NoRoom);
    }
    let region = regions
        .get(buffers.region())
        .ok_or(Refusal::Stall(DropReason::BadRegion))?;
    for (i, chunk) in frame.chunks(size).enumerate() {
        // i < slots <= ring size: the cast is exact.
        let counter = pos.wrapping_add(i as u16);
        let offset = buffers.offset(counter);
        region
            .write(offset as usize, chunk)
            .map_err(|_| Refusal::Stall(DropReason::Overrun))?;
        let flags = if i + 1 == slots { 0 } else { DESC_FLAG_NEXT };
        ring.set_desc(
            counter,
            &Desc {
                flags,
                region: buffers.region(),
                length: chunk.len() as u32,
                offset,
            },
        );
    }
    // At most the ring size, 2^14.
    Ok(slots as u16)
}
