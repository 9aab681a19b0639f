//! Software segmentation of a packet in the graph, a buffer chain: TCP over IPv4 and IPv6
//! (what a NIC's TSO does) and UDP (USO: each datagram with its own UDP header, length and
//! checksum), into new packets from the worker's pool.
//!
//! Each segment is the packet's headers, rewritten for it (see `Segmentation::write`),
//! then its share of the payload: one buffer when it fits, else a chain. Its checksum is
//! computed in full, or left to the device as the pseudo-header sum when the device takes
//! checksums (the segment then asks for one, as the packet did).

use super::checksum::complete_checksum;
use super::headers::{Layout, Segmentation};
use super::{OffloadError, Prepared};
use crate::buffer::{BUFFER_DATA_SIZE, BufferIndex, BufferPool, OffloadInfo};

/// Makes the segments of one packet, one at a time, so that the caller can send each on
/// before the next is made.
#[derive(Debug)]
pub struct Segmenter {
    plan: Segmentation,
    /// The packet being cut.
    original: BufferIndex,
    /// The next payload byte to copy: a buffer of the original's chain and an offset in
    /// its data.
    cursor: (BufferIndex, usize),
    /// The segment made next.
    next: usize,
    /// Checksums left to the device.
    partial: bool,
}

/// Cuts packet `bi` as its [`OffloadInfo`] asks; checksums are left to the device when
/// `partial`. A packet that makes one segment is rewritten in place.
pub(super) fn segment(
    pool: &mut BufferPool,
    bi: BufferIndex,
    partial: bool,
) -> Result<Prepared, OffloadError> {
    let info = pool.meta(bi).offload;
    let len = pool.total_length(bi);
    let layout = Layout::parse(pool.data(bi), len)?;
    layout.check_kind(info.gso)?;
    let plan = Segmentation::new(layout, pool.data(bi), usize::from(info.gso_size))?;
    if plan.count() == 1 && layout.end == len {
        plan.write(&mut pool.data_mut(bi)[..layout.payload], 0);
        finish(pool, bi, &layout, partial)?;
        return Ok(Prepared::Finished(bi));
    }
    let needed = buffers_needed(&plan);
    if needed > pool.available() {
        return Err(OffloadError::NoBuffers { needed });
    }
    Ok(Prepared::Segments(Segmenter {
        plan,
        original: bi,
        cursor: (bi, layout.payload),
        next: 0,
        partial,
    }))
}

/// The buffers the segments of `plan` take, together.
fn buffers_needed(plan: &Segmentation) -> usize {
    let buffers = |len: usize| (plan.header_len() + len).div_ceil(BUFFER_DATA_SIZE);
    let last = plan.count() - 1;
    last * buffers(plan.segment_len(0)) + buffers(plan.segment_len(last))
}

/// Says what segment (or packet) `bi` of layout `layout` asks of its device now, and
/// completes its checksum unless the device takes it (`partial`).
fn finish(
    pool: &mut BufferPool,
    bi: BufferIndex,
    layout: &Layout,
    partial: bool,
) -> Result<(), OffloadError> {
    // Header offsets: well under 64 KiB.
    pool.meta_mut(bi).offload = OffloadInfo {
        needs_csum: true,
        csum_start: layout.l4 as u16,
        csum_offset: layout.transport.checksum_at() as u16,
        ..OffloadInfo::default()
    };
    match partial {
        true => Ok(()),
        false => complete_checksum(pool, bi),
    }
}

impl Segmenter {
    /// How many segments the packet makes.
    pub fn segments(&self) -> usize {
        self.plan.count()
    }

    /// Makes the next segment: a new packet with the metadata of the one cut (its trace
    /// only on the first). `None` when all are made. The packet cut is freed with the
    /// last segment, or at the first error (the pool ran out, which [`super::prepare`]
    /// checked it would not): call this until it says `None`.
    pub fn next_segment(
        &mut self,
        pool: &mut BufferPool,
    ) -> Option<Result<BufferIndex, OffloadError>> {
        let count = self.plan.count();
        if self.next >= count {
            return None;
        }
        let made = self.make(pool);
        self.next = match made {
            Ok(_) => self.next + 1,
            Err(_) => count,
        };
        if self.next == count {
            pool.free(self.original);
        }
        Some(made)
    }

    fn make(&mut self, pool: &mut BufferPool) -> Result<BufferIndex, OffloadError> {
        let i = self.next;
        let header_len = self.plan.header_len();
        let seg = pool.alloc().map_err(|_| self.no_buffers())?;
        pool.copy_meta(self.original, seg);
        pool.append_from(seg, self.original, 0, header_len);
        let made = self
            .copy_payload(pool, seg, self.plan.segment_len(i))
            .and_then(|()| {
                self.plan.write(&mut pool.data_mut(seg)[..header_len], i);
                finish(pool, seg, self.plan.layout(), self.partial)
            });
        if let Err(e) = made {
            pool.free(seg);
            return Err(e);
        }
        if i > 0 {
            pool.meta_mut(seg).trace = None;
        }
        Ok(seg)
    }

    /// Appends `len` payload bytes from the cursor to packet `seg`, chaining buffers to it
    /// as they fill.
    fn copy_payload(
        &mut self,
        pool: &mut BufferPool,
        seg: BufferIndex,
        mut len: usize,
    ) -> Result<(), OffloadError> {
        let mut tail = seg;
        while len > 0 {
            let (src, offset) = self.cursor;
            if offset >= pool.data(src).len() {
                let next = pool.meta(src).next().ok_or(OffloadError::Truncated)?;
                self.cursor = (next, 0);
                continue;
            }
            if pool.tailroom(tail) == 0 {
                let more = pool.alloc().map_err(|_| self.no_buffers())?;
                pool.append(tail, more);
                tail = more;
            }
            let copied = pool.append_from(tail, src, offset, len);
            self.cursor.1 += copied;
            len -= copied;
        }
        Ok(())
    }

    fn no_buffers(&self) -> OffloadError {
        OffloadError::NoBuffers {
            needed: buffers_needed(&self.plan),
        }
    }
}
