//! Zero-copy bursts, as libmemif has them (`memif_buffer_alloc` → write in
//! place → `memif_tx_burst`; `memif_rx_burst` → read in place →
//! `memif_refill_queue`): the application writes and reads packet bytes
//! where they lie in shared memory, through handles whose every access is
//! volatile and bounds-checked, instead of handing over or receiving slices
//! the queue copies.
//!
//! Transmitting: [`TxQueue::tx_reserve`] takes the free slots after our
//! index (the client's own buffers, or the buffers the client posted when
//! we are the server) without publishing anything; the application fills
//! [`TxReservation::buffer`]s, then [`TxReservation::commit`] writes each
//! descriptor and publishes them with one index store, as `tx_burst` does.
//! Each frame takes one buffer (no chains). Dropping a reservation
//! publishes nothing.
//!
//! Receiving: [`RxQueue::rx_peek`] is `rx_burst` with a handle that also
//! reads at any offset; every descriptor is validated by the same code, and
//! the slots are released (and, for the client, posted again) once the
//! callback has returned. Chained packets are handed whole, as one handle
//! over all their segments.

use super::{DropReason, Packet, RxQueue, Segment, TxQueue, check_buffer};
use crate::shm::{Desc, Region, RegionError, Regions, Ring};

/// Bytes moved per volatile copy when a frame is moved between buffers or
/// a buffer is filled: small enough for the stack.
const CHUNK: usize = 256;

/// A mistake in an access through a shared-buffer handle.
#[derive(Debug, thiserror::Error)]
pub enum BufferError {
    /// The range asked for reaches past the end of the buffer.
    #[error(
        "bytes {offset}..{offset}+{len} are outside this {size}-byte buffer: keep offset + length \
         within its capacity() (or len() for a received packet)"
    )]
    OutOfBounds {
        /// Offset asked for.
        offset: usize,
        /// Bytes asked for.
        len: usize,
        /// The buffer's size.
        size: usize,
    },
    /// The buffer's region refused the access (cannot happen: the buffer was
    /// checked against the same regions; reported rather than assumed).
    #[error(transparent)]
    Region(#[from] RegionError),
}

/// Checks `offset..offset + len` against a buffer of `size` bytes.
fn check_range(offset: usize, len: usize, size: usize) -> Result<(), BufferError> {
    match offset.checked_add(len) {
        Some(end) if end <= size => Ok(()),
        _ => Err(BufferError::OutOfBounds { offset, len, size }),
    }
}

/// One reserved transmit buffer in shared memory, writable only through
/// volatile, bounds-checked copies (the peer may read it at any time).
#[derive(Debug)]
pub struct SharedBufMut<'a> {
    region: &'a Region,
    offset: usize,
    capacity: usize,
}

impl SharedBufMut<'_> {
    /// Bytes the buffer holds: the client's buffer size, or the length the
    /// client posted when we are the server.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Copies `data` into the buffer at `offset`.
    pub fn write(&self, offset: usize, data: &[u8]) -> Result<(), BufferError> {
        check_range(offset, data.len(), self.capacity)?;
        Ok(self.region.write(self.offset + offset, data)?)
    }

    /// Sets `len` bytes from `offset` to `byte`.
    pub fn fill(&self, offset: usize, len: usize, byte: u8) -> Result<(), BufferError> {
        check_range(offset, len, self.capacity)?;
        let pattern = [byte; CHUNK];
        let mut done = 0;
        while done < len {
            let n = CHUNK.min(len - done);
            self.region
                .write(self.offset + offset + done, &pattern[..n])?;
            done += n;
        }
        Ok(())
    }
}

/// Free slots of a transmit queue, taken for the application to write
/// frames into in place. Holds the queue: nothing else is sent on it until
/// the reservation is committed or dropped.
#[derive(Debug)]
pub struct TxReservation<'a> {
    queue: &'a mut TxQueue,
    regions: &'a Regions,
    /// `None` when the ring was unusable: the reservation is empty.
    ring: Option<Ring<'a>>,
}

impl TxReservation<'_> {
    /// Buffers reserved (fewer than asked when the ring had less room).
    pub fn len(&self) -> usize {
        self.queue.posted.len()
    }

    /// Whether no buffer could be reserved (the ring is full).
    pub fn is_empty(&self) -> bool {
        self.queue.posted.is_empty()
    }

    /// Reserved buffer `i`, or `None` when `i >= len()`.
    pub fn buffer(&self, i: usize) -> Option<SharedBufMut<'_>> {
        let segment = self.queue.posted.get(i)?;
        Some(SharedBufMut {
            region: self.regions.get(segment.region)?,
            offset: segment.offset,
            capacity: segment.len,
        })
    }

    /// Sends frame `i` of `lengths[i]` bytes from the front of buffer `i`,
    /// for the first `min(lengths.len(), len())` buffers, in order, and
    /// publishes them with one index store, signalling the peer unless it
    /// polls. Returns the frames sent.
    ///
    /// A length of zero, or above the buffer's capacity or the queue's max
    /// frame, drops that frame (counted in the queue's stats); the frames
    /// after it are moved down one buffer (a copy, on this error path only)
    /// so the ring has no hole, and one whose new buffer is too small for
    /// it is dropped too. Buffers past `lengths` are not sent.
    pub fn commit(self, lengths: &[usize]) -> usize {
        let TxReservation {
            queue,
            regions,
            ring,
        } = self;
        let Some(ring) = ring else {
            return 0;
        };
        let start = queue.next;
        let mut sent: usize = 0;
        for (i, &len) in lengths.iter().enumerate().take(queue.posted.len()) {
            let (source, target) = (queue.posted[i], queue.posted[sent]);
            let placed = if len == 0 {
                Err(DropReason::ZeroLength)
            } else if len > source.len || len > queue.max_frame || len > target.len {
                Err(DropReason::TooBig)
            } else if sent == i {
                Ok(())
            } else {
                move_frame(regions, source, target, len)
            };
            match placed {
                Ok(()) => {
                    // sent < len() <= ring size (2^15).
                    let counter = start.wrapping_add(sent as u16);
                    set_sent_desc(&ring, queue.buffers.is_some(), counter, target, len);
                    queue.stats.count_packet(len);
                    sent += 1;
                }
                Err(reason) => queue.stats.count_drop(reason),
            }
        }
        if sent > 0 {
            queue.publish(&ring, start.wrapping_add(sent as u16));
        }
        sent
    }
}

/// Writes the descriptor of a frame of `len` bytes in `buffer` at slot
/// `counter`: every field for the client's own buffers, only `length` and
/// `flags` in a buffer the client posted (it keeps its region and offset).
fn set_sent_desc(ring: &Ring<'_>, own_buffers: bool, counter: u16, buffer: Segment, len: usize) {
    // `len` fits the buffer, whose size came from a u32; so does its offset.
    if own_buffers {
        let desc = Desc {
            flags: 0,
            region: buffer.region,
            length: len as u32,
            offset: buffer.offset as u32,
        };
        ring.set_desc(counter, &desc);
    } else {
        ring.set_desc_data(counter, len as u32, 0);
    }
}

/// Copies the first `len` bytes of `from` to `to` (both checked buffers).
fn move_frame(regions: &Regions, from: Segment, to: Segment, len: usize) -> Result<(), DropReason> {
    let source = regions.get(from.region).ok_or(DropReason::BadRegion)?;
    let target = regions.get(to.region).ok_or(DropReason::BadRegion)?;
    let mut chunk = [0u8; CHUNK];
    let mut done = 0;
    while done < len {
        let n = CHUNK.min(len - done);
        let piece = &mut chunk[..n];
        source
            .read(from.offset + done, piece)
            .and_then(|()| target.write(to.offset + done, piece))
            .map_err(|_| DropReason::Overrun)?;
        done += n;
    }
    Ok(())
}

impl TxQueue {
    /// Reserves up to `n` free slots after our index and their buffers,
    /// publishing nothing (see [`TxReservation`]). On the server, a bad
    /// posted buffer ends the reservation before it and is counted, as in
    /// `tx_burst`; an impossible peer index or an unusable ring gives an
    /// empty reservation and a count.
    pub fn tx_reserve<'a>(&'a mut self, regions: &'a Regions, n: usize) -> TxReservation<'a> {
        self.posted.clear();
        let ring = Ring::from_spec(regions, &self.ring).ok();
        match ring.as_ref().map(|ring| (ring, self.room(ring))) {
            None => self.stats.ring_unusable += 1,
            Some((_, None)) => self.stats.bad_peer_index += 1,
            Some((ring, Some(room))) => self.reserve_slots(ring, regions, n.min(room.into())),
        }
        TxReservation {
            queue: self,
            regions,
            ring,
        }
    }

    /// Collects the buffers of the next `n` slots (all free) into `posted`.
    fn reserve_slots(&mut self, ring: &Ring<'_>, regions: &Regions, n: usize) {
        for i in 0..n {
            // i < room <= ring size: the cast is exact.
            let counter = self.next.wrapping_add(i as u16);
            let buffer = match self.buffers {
                Some(own) => Ok(Segment {
                    region: own.region(),
                    offset: own.offset(counter) as usize,
                    len: own.size() as usize,
                }),
                None => {
                    let posted = ring.desc(counter);
                    check_buffer(regions, posted.region, posted.offset, posted.length)
                }
            };
            match buffer {
                Ok(buffer) => self.posted.push(buffer),
                Err(reason) => {
                    self.stats.count_drop(reason);
                    break;
                }
            }
        }
    }
}

/// One received packet, read in place in shared memory through volatile,
/// bounds-checked copies; valid during the `rx_peek` callback only (its
/// slots are released when the callback returns). A chained packet is one
/// handle over all its segments.
#[derive(Debug)]
pub struct SharedBuf<'a> {
    packet: Packet<'a>,
}

impl SharedBuf<'_> {
    /// Total bytes, over all chained segments.
    pub fn len(&self) -> usize {
        self.packet.len
    }

    /// Always false: empty packets are dropped before delivery.
    pub fn is_empty(&self) -> bool {
        self.packet.len == 0
    }

    /// Buffers the packet was chained over (1 unless longer than a buffer).
    pub fn segments(&self) -> usize {
        self.packet.segments.len()
    }

    /// Copies `buf.len()` bytes of the packet from `offset` into `buf`.
    pub fn read(&self, offset: usize, buf: &mut [u8]) -> Result<(), BufferError> {
        check_range(offset, buf.len(), self.packet.len)?;
        let mut skip = offset;
        let mut rest = buf;
        for segment in self.packet.segments {
            if rest.is_empty() {
                break;
            }
            if skip >= segment.len {
                skip -= segment.len;
                continue;
            }
            let n = (segment.len - skip).min(rest.len());
            let (chunk, tail) = std::mem::take(&mut rest).split_at_mut(n);
            let region = self.packet.regions.get(segment.region);
            // The segment was checked against these very regions.
            region
                .ok_or(BufferError::OutOfBounds {
                    offset,
                    len: chunk.len(),
                    size: self.packet.len,
                })?
                .read(segment.offset + skip, chunk)?;
            skip = 0;
            rest = tail;
        }
        Ok(())
    }

    /// Copies the packet into `buf` (as much as fits); returns the bytes
    /// copied.
    pub fn copy_to(&self, buf: &mut [u8]) -> usize {
        self.packet.copy_to(buf)
    }
}

impl RxQueue {
    /// Hands up to `max` received packets to `f` as in-place handles, then
    /// releases their slots with one index store (the client also posts its
    /// buffers again). Validation and counted drops are `rx_burst`'s.
    /// Returns the packets delivered.
    pub fn rx_peek(
        &mut self,
        regions: &Regions,
        max: usize,
        mut f: impl FnMut(SharedBuf<'_>),
    ) -> usize {
        self.rx_burst(regions, max, |packet| f(SharedBuf { packet }))
    }
}
