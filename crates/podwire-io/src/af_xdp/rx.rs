//! The receiving half of an AF_XDP port: frames come from the receive ring, are copied into
//! the data plane's buffers, and their UMEM frames go straight back to the fill ring.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;

use podwire_dataplane::buffer::{BufferIndex, BufferPool};
use xdpilone::xdp::XdpDesc;
use xdpilone::{FillQueue, RingRx};

use super::{AfXdpMode, AfXdpStats, Shared, errno};

/// What one [`AfXdpReceiver::receive`] call did.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct RxBatch {
    /// Frames received into the pool.
    pub packets: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Frames taken from the ring but lost: the pool was exhausted.
    pub drops: usize,
}

/// The receiving half of an [`AfXdp`](super::AfXdp) port: the fill and receive rings and
/// their frames. Its descriptor is non-blocking and becomes readable when frames wait (see
/// [`crate::poll::Poller`]).
pub struct AfXdpReceiver {
    // Field order: the rings are unmapped before the shared state (and the UMEM) goes.
    pub(super) ring: RingRx,
    pub(super) fill: FillQueue,
    /// Frames read from the receive ring, on their way back to the fill ring.
    pub(super) recycle: Vec<u64>,
    pub(super) shared: Arc<Shared>,
}

impl AfXdpReceiver {
    /// Copies up to `max` received frames into buffers of `pool` (chained when longer than
    /// one), appends them to `out` in arrival order, and gives their UMEM frames back to the
    /// kernel. A frame that finds the pool exhausted is dropped (and counted), so that the
    /// UMEM never runs dry. Returns at once when nothing waits.
    pub fn receive(
        &mut self,
        pool: &mut BufferPool,
        max: usize,
        out: &mut Vec<BufferIndex>,
    ) -> RxBatch {
        let mut batch = RxBatch::default();
        let area = &self.shared.area;
        let mut ring = self.ring.receive(u32::try_from(max).unwrap_or(u32::MAX));
        while let Some(XdpDesc { addr, len, .. }) = ring.read() {
            // SAFETY: the descriptor was just read from the receive ring, so its frame is ours
            // until it goes back to the fill ring below, after this slice is gone; we never
            // make a mutable slice of a receive frame.
            match unsafe { area.frame(addr, len as usize) } {
                Some(frame) => match pool.alloc_from(frame) {
                    Ok(head) => {
                        out.push(head);
                        batch.packets += 1;
                        batch.bytes += u64::from(len);
                    }
                    Err(_) => batch.drops += 1,
                },
                // A descriptor past its frame: the kernel never writes one; drop it rather
                // than read outside the frame.
                None => batch.drops += 1,
            }
            self.recycle.push(area.frame_start(addr));
        }
        ring.release();
        drop(ring);
        refill(&mut self.fill, &mut self.recycle);
        batch
    }

    /// The kernel's counters of the socket.
    pub fn stats(&self) -> io::Result<AfXdpStats> {
        let stats = self.shared.user.statistics_v2().map_err(errno)?;
        Ok(AfXdpStats {
            rx_dropped: stats.rx_dropped,
            rx_ring_full: stats.rx_ring_full,
            rx_fill_ring_empty: stats.rx_fill_ring_empty_descs,
            rx_invalid_descs: stats.rx_invalid_descs,
            tx_invalid_descs: stats.tx_invalid_descs,
            tx_ring_empty: stats.tx_ring_empty_descs,
        })
    }

    /// How the port is attached.
    pub fn mode(&self) -> AfXdpMode {
        AfXdpMode {
            xdp: self.shared.attachment.mode(),
            zero_copy: self.shared.zero_copy,
        }
    }
}

impl AsFd for AfXdpReceiver {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.shared.socket.as_fd()
    }
}

impl fmt::Debug for AfXdpReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AfXdpReceiver")
            .field("shared", &self.shared)
            .finish_non_exhaustive()
    }
}

/// Puts the frames waiting in `recycle` on the fill ring, and wakes the driver if it asked to
/// be (zero-copy drivers with `XDP_USE_NEED_WAKEUP`; copy mode never asks).
pub(super) fn refill(fill: &mut FillQueue, recycle: &mut Vec<u64>) {
    if recycle.is_empty() {
        return;
    }
    let mut writer = fill.fill(recycle.len() as u32);
    let filled = writer.insert(recycle.iter().copied()) as usize;
    writer.commit();
    drop(writer);
    // The fill ring has a slot for every receive frame, so all fit; any that did not wait for
    // the next call.
    recycle.drain(..filled);
    if fill.needs_wakeup() {
        fill.wake();
    }
}
