//! Receiving: the server on a C2S ring, the client on an S2C ring.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use std::sync::atomic::fence;

use super::{DropReason, Interrupt, QueueError, QueueStats, Segment, check_buffer, server_ring};
use crate::shm::{Desc, Layout, Regions, Ring, SlotBuffers};
use crate::types::{Direction, RING_FLAG_MASK_INT, RingSpec};

/// One received packet, valid during the sink call: its segments were
/// validated, its bytes are still in shared memory until copied out.
#[derive(Debug)]
pub struct Packet<'a> {
    pub(super) regions: &'a Regions,
    pub(super) segments: &'a [Segment],
    pub(super) len: usize,
}

impl Packet<'_> {
    /// Total bytes, over all chained slots.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: empty packets are dropped before delivery.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies the packet into `buf` (as much as fits); returns the bytes
    /// copied.
    pub fn copy_to(&self, buf: &mut [u8]) -> usize {
        let mut rest = buf;
        let mut copied = 0;
        for seg in self.segments {
            if rest.is_empty() {
                break;
            }
            let n = seg.len.min(rest.len());
            let (chunk, tail) = std::mem::take(&mut rest).split_at_mut(n);
            // The segment was checked against these very regions.
            let Some(Ok(())) = self
                .regions
                .get(seg.region)
                .map(|r| r.read(seg.offset, chunk))
            else {
                break;
            };
            copied += chunk.len();
            rest = tail;
        }
        copied
    }
}

/// The receiving end of a ring.
#[derive(Debug)]
pub struct RxQueue {
    ring: RingSpec,
    /// The client's slot buffers, posted again after receiving; `None` for
    /// the server, which only releases slots.
    refill: Option<SlotBuffers>,
    /// Counter of the next slot to read.
    last: u16,
    /// Client: the `head` published (slots posted up to here).
    posted: u16,
    max_frame: usize,
    interrupt: Interrupt,
    /// Segments of the packet being parsed; never reallocated (a chain has
    /// at most as many segments as the ring has slots).
    segments: Vec<Segment>,
    stats: QueueStats,
}

impl RxQueue {
    /// The server's end of a C2S ring the client announced, once the
    /// connection's regions are mapped. Packets longer than `max_frame` are
    /// dropped.
    pub fn server(
        regions: &Regions,
        ring: RingSpec,
        interrupt: OwnedFd,
        max_frame: usize,
    ) -> Result<RxQueue, QueueError> {
        let view = server_ring(regions, &ring, Direction::C2S)?;
        let last = view.tail().load(Relaxed);
        RxQueue::new(ring, None, last, last, interrupt, max_frame)
    }

    /// The client's end of S2C ring `index` of `layout`, on the regions
    /// created from it. Post buffers (by polling) only after CONNECTED: a
    /// DPDK server zeroes `head` when it connects.
    pub fn client(
        regions: &Regions,
        layout: &Layout,
        index: u16,
        interrupt: OwnedFd,
        max_frame: usize,
    ) -> Result<RxQueue, QueueError> {
        let no_ring = QueueError::NoSuchRing {
            direction: Direction::S2C,
            index,
        };
        let ring = layout.ring(Direction::S2C, index).ok_or(no_ring)?;
        let buffers = layout
            .buffers(Direction::S2C, index)
            .filter(|b| b.fit(regions))
            .ok_or(QueueError::BuffersOutsideRegions)?;
        let view = Ring::from_spec(regions, &ring)?;
        let last = view.tail().load(Acquire);
        let posted = view.head().load(Relaxed);
        RxQueue::new(ring, Some(buffers), last, posted, interrupt, max_frame)
    }

    fn new(
        ring: RingSpec,
        refill: Option<SlotBuffers>,
        last: u16,
        posted: u16,
        interrupt: OwnedFd,
        max_frame: usize,
    ) -> Result<RxQueue, QueueError> {
        Ok(RxQueue {
            ring,
            refill,
            last,
            posted,
            max_frame,
            interrupt: Interrupt::new(interrupt)?,
            segments: Vec::with_capacity(1 << ring.log2_size),
            stats: QueueStats::default(),
        })
    }

    /// Hands up to `max` received packets to `sink`, then releases their
    /// slots with one index store (the client also posts them again).
    /// Returns the number of packets delivered.
    pub fn rx_burst(
        &mut self,
        regions: &Regions,
        max: usize,
        mut sink: impl FnMut(Packet<'_>),
    ) -> usize {
        let Ok(ring) = Ring::from_spec(regions, &self.ring) else {
            self.stats.ring_unusable += 1;
            return 0;
        };
        let produced = match self.refill {
            Some(_) => ring.tail(),
            None => ring.head(),
        };
        let end = produced.load(Acquire);
        if end.wrapping_sub(self.last) > ring.size() {
            self.stats.bad_peer_index += 1;
            return 0;
        }
        let mut pos = self.last;
        let mut delivered = 0;
        while delivered < max && pos != end {
            let (next, verdict) = self.parse(&ring, regions, pos, end);
            pos = next;
            match verdict {
                Ok(len) => {
                    sink(Packet {
                        regions,
                        segments: &self.segments,
                        len,
                    });
                    self.stats.count_packet(len);
                    delivered += 1;
                }
                Err(reason) => self.stats.count_drop(reason),
            }
        }
        self.release(&ring, pos);
        delivered
    }

    /// Reads the packet starting at `start` (before `end`), following its
    /// chain. Returns the counter after it, and its length or why it is
    /// dropped. A chain still open at `end` is dropped whole: its slots are
    /// released, never delivered in part.
    fn parse(
        &mut self,
        ring: &Ring<'_>,
        regions: &Regions,
        start: u16,
        end: u16,
    ) -> (u16, Result<usize, DropReason>) {
        self.segments.clear();
        let mut pos = start;
        let mut len = 0;
        let mut verdict = Ok(());
        loop {
            if pos == end {
                return (end, Err(DropReason::TruncatedChain));
            }
            let desc = ring.desc(pos);
            pos = pos.wrapping_add(1);
            if verdict.is_ok() {
                verdict =
                    check_buffer(regions, desc.region, desc.offset, desc.length).and_then(|seg| {
                        if len + seg.len > self.max_frame {
                            return Err(DropReason::TooBig);
                        }
                        len += seg.len;
                        self.segments.push(seg);
                        Ok(())
                    });
            }
            if !desc.has_next() {
                return (pos, verdict.map(|()| len));
            }
        }
    }

    /// Gives the slots before `pos` back to the producer.
    fn release(&mut self, ring: &Ring<'_>, pos: u16) {
        let consumed = pos != self.last;
        self.last = pos;
        match self.refill {
            None if consumed => ring.tail().store(pos, Release),
            None => {}
            Some(buffers) => {
                // Post every slot up to a full ring ahead of what we read;
                // on the first poll that is the whole ring.
                let target = pos.wrapping_add(ring.size());
                if self.posted == target {
                    return;
                }
                while self.posted != target {
                    ring.set_desc(
                        self.posted,
                        &Desc {
                            flags: 0,
                            region: buffers.region(),
                            length: buffers.size(),
                            offset: buffers.offset(self.posted),
                        },
                    );
                    self.posted = self.posted.wrapping_add(1);
                }
                ring.head().store(self.posted, Release);
            }
        }
    }

    /// Polling mode masks the producer's interrupts (ring flag MASK_INT);
    /// interrupt mode unmasks them. After unmasking, poll once more before
    /// sleeping on the eventfd: packets published just before are not
    /// signalled.
    pub fn set_polling(&mut self, regions: &Regions, polling: bool) -> Result<(), QueueError> {
        let ring = Ring::from_spec(regions, &self.ring)?;
        let flags = if polling { RING_FLAG_MASK_INT } else { 0 };
        ring.flags().store(flags, Relaxed);
        // Pairs with the producer's fence between publishing and reading the
        // flags: either it sees interrupts wanted, or our next poll sees its
        // packets.
        fence(SeqCst);
        Ok(())
    }

    /// Clears the ring's eventfd; returns the number of signals coalesced.
    pub fn drain_interrupt(&self) -> u64 {
        self.interrupt.drain()
    }

    /// The ring's eventfd, to wait on (epoll) in interrupt mode.
    pub fn interrupt_fd(&self) -> BorrowedFd<'_> {
        self.interrupt.as_fd()
    }

    /// The queue's counters.
    pub fn stats(&self) -> &QueueStats {
        &self.stats
    }
}
