//! The sending half of an AF_XDP port: frames are copied into free UMEM frames and queued on
//! the transmit ring; the completion ring gives the frames back once sent.

use std::fmt;
use std::io;
use std::sync::Arc;

use rustix::io::Errno;
use rustix::net::SendFlags;
use xdpilone::xdp::XdpDesc;
use xdpilone::{CompletionQueue, RingTx};

use super::Shared;
use crate::tx::FrameBatch;

/// Frames the kernel sends per `sendto` in copy mode before it returns `EAGAIN` (its default
/// per-call budget); a batch needs one kick per this many frames.
const COPY_MODE_TX_BUDGET: usize = 32;

/// The sending half of an [`AfXdp`](super::AfXdp) port: the transmit and completion rings
/// and their frames.
pub struct AfXdpSender {
    // Field order: the rings are unmapped before the shared state (and the UMEM) goes.
    pub(super) ring: RingTx,
    pub(super) completion: CompletionQueue,
    /// Transmit frames not in the kernel's hands.
    pub(super) free: Vec<u64>,
    pub(super) shared: Arc<Shared>,
}

impl AfXdpSender {
    /// Copies `frames` (Ethernet header onwards; the pieces of each gathered into one UMEM
    /// frame) into free UMEM frames, queues them on the transmit ring in order and kicks the
    /// kernel: one `sendto` per batch in zero-copy mode, one per 32 frames in copy mode (the
    /// kernel's budget per call). Returns how many were queued; fewer than all when the
    /// transmit frames ran out (they come back as the kernel completes them) or a frame is
    /// longer than a UMEM frame. An error when the first frame is that long (`EMSGSIZE`) or
    /// the kernel refuses the kick (device down or gone); frames already queued then wait in
    /// the ring for the next kick.
    pub fn send_batch<B: FrameBatch + ?Sized>(&mut self, frames: &B) -> io::Result<usize> {
        self.reap_completions();
        let area = &self.shared.area;
        let room = frames.frames().min(self.free.len());
        let mut ring = self.ring.transmit(u32::try_from(room).unwrap_or(u32::MAX));
        let room = room.min(ring.capacity() as usize);
        let mut queued = 0;
        let mut too_long = false;
        while queued < room {
            let Some(&addr) = self.free.last() else {
                break;
            };
            let len: usize = frames.pieces(queued).map(<[u8]>::len).sum();
            // SAFETY: frames on the free list are ours: never queued yet, or queued and read
            // back from the completion ring; this slice is the only one and ends before the
            // frame is queued.
            let Some(slot) = (unsafe { area.frame_mut(addr, len) }) else {
                too_long = true;
                break;
            };
            let mut at = 0;
            for piece in frames.pieces(queued) {
                slot[at..at + piece.len()].copy_from_slice(piece);
                at += piece.len();
            }
            ring.insert_once(XdpDesc {
                addr,
                len: len as u32,
                options: 0,
            });
            self.free.pop();
            queued += 1;
        }
        ring.commit();
        drop(ring);
        if queued == 0 && too_long {
            return Err(io::Error::from_raw_os_error(libc::EMSGSIZE));
        }
        self.kick()?;
        Ok(queued)
    }

    /// Makes the kernel send what is queued. In copy mode it sends only from within
    /// `sendto`, at most [`COPY_MODE_TX_BUDGET`] frames a call, and answers `EAGAIN` while
    /// more wait; a zero-copy driver sends by itself unless it asks to be woken.
    fn kick(&mut self) -> io::Result<()> {
        let limit = self.free.capacity() / COPY_MODE_TX_BUDGET + 1;
        for _ in 0..limit {
            if self.ring.pending() == 0 || !self.ring.needs_wakeup() {
                break;
            }
            match rustix::net::send(&self.shared.socket, &[], SendFlags::DONTWAIT) {
                // EAGAIN: the budget is spent (or the completion ring is full: reaped below).
                Ok(_) | Err(Errno::AGAIN | Errno::INTR) => {}
                // The device is busy: the frames wait in the ring for the next kick.
                Err(Errno::BUSY | Errno::NOBUFS) => break,
                Err(e) => return Err(e.into()),
            }
            self.reap_completions();
        }
        Ok(())
    }

    /// Takes the frames the kernel has finished sending back onto the free list.
    fn reap_completions(&mut self) {
        let mut done = self.completion.complete(self.free.capacity() as u32);
        while let Some(addr) = done.read() {
            self.free.push(addr);
        }
        done.release();
    }
}

impl fmt::Debug for AfXdpSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AfXdpSender")
            .field("shared", &self.shared)
            .field("free_frames", &self.free.len())
            .finish_non_exhaustive()
    }
}
