//! The UMEM: the memory an AF_XDP socket shares with the kernel, cut into equal frames. The
//! first `rx_frames` frames take turns in the fill and receive rings, the rest in the
//! transmit and completion rings; the rings carry frame addresses (offsets into this area).
//!
//! Who may touch a frame is decided by the rings, never by this type: a frame is user space's
//! from the moment its address is read from the receive or completion ring (an acquire load
//! of the ring's producer index, in xdpilone) until it is written to the fill or transmit
//! ring (a release store). In between the kernel neither reads nor writes it, so user space
//! reads or fills it with ordinary copies.

use std::io;
use std::ptr::{self, NonNull};
use std::slice;

use rustix::mm::{MapFlags, ProtFlags};

/// An anonymous, page-aligned mapping of `frame_count` frames of `frame_size` bytes.
#[derive(Debug)]
pub(super) struct UmemArea {
    base: NonNull<u8>,
    len: usize,
    frame_size: usize,
}

// SAFETY: the mapping is owned by this value alone and freed only on drop. Access to a frame
// goes through `frame`/`frame_mut`, whose callers own that frame per the ring protocol above;
// the receive and transmit halves of a port use disjoint frames, so sharing the area between
// the threads that hold them is like sharing a `Box<[u8]>` split with `split_at_mut`.
unsafe impl Send for UmemArea {}
// SAFETY: as above; `&UmemArea` gives no access to frame contents by itself.
unsafe impl Sync for UmemArea {}

impl UmemArea {
    /// Maps the area (populated and zeroed). `frame_size` is a power of two and
    /// `frame_size * frame_count` does not overflow (the configuration is checked).
    pub(super) fn map(frame_size: u32, frame_count: u32) -> io::Result<Self> {
        let frame_size = frame_size as usize;
        let len = frame_size
            .checked_mul(frame_count as usize)
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: a fresh anonymous mapping chosen by the kernel (no address hint), so it cannot
        // overlap memory Rust knows about.
        let base = unsafe {
            rustix::mm::mmap_anonymous(
                ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::PRIVATE | MapFlags::POPULATE,
            )
        }?;
        let base =
            NonNull::new(base.cast()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Self {
            base,
            len,
            frame_size,
        })
    }

    /// The whole area, for registering it with the socket. The pointer is only handed to the
    /// kernel (and to xdpilone, which does not access it).
    pub(super) fn as_raw(&self) -> NonNull<[u8]> {
        NonNull::slice_from_raw_parts(self.base, self.len)
    }

    /// The address (offset in the area) of the frame holding byte `addr`.
    pub(super) fn frame_start(&self, addr: u64) -> u64 {
        addr - addr % self.frame_size as u64
    }

    /// Whether `len` bytes at `addr` lie inside one frame.
    fn in_one_frame(&self, addr: u64, len: usize) -> bool {
        let Ok(addr) = usize::try_from(addr) else {
            return false;
        };
        addr < self.len && addr % self.frame_size + len <= self.frame_size
    }

    /// The `len` bytes at `addr` of a frame the kernel has handed to us (read from the receive
    /// ring and not yet given back), or `None` if the descriptor points outside one frame.
    ///
    /// # Safety
    ///
    /// The frame holding `addr` must be user space's (see the module documentation) for as
    /// long as the returned slice lives, and no `frame_mut` of it may be alive.
    pub(super) unsafe fn frame(&self, addr: u64, len: usize) -> Option<&[u8]> {
        if !self.in_one_frame(addr, len) {
            return None;
        }
        // SAFETY: the range lies inside the mapping (checked above); the caller guarantees
        // that the kernel does not write it while the slice lives and that no mutable slice
        // of it exists.
        Some(unsafe { slice::from_raw_parts(self.base.as_ptr().add(addr as usize), len) })
    }

    /// The first `len` bytes of the frame at `addr` (a frame start), to be filled before the
    /// frame goes to the transmit ring; `None` if they do not fit in one frame.
    ///
    /// # Safety
    ///
    /// The frame must be user space's (taken from the free list of transmit frames, not in the
    /// transmit ring) and no other slice of it may be alive while the returned one lives.
    #[allow(clippy::mut_from_ref)] // frames are handed out one at a time by the ring protocol
    pub(super) unsafe fn frame_mut(&self, addr: u64, len: usize) -> Option<&mut [u8]> {
        if !self.in_one_frame(addr, len) {
            return None;
        }
        // SAFETY: inside the mapping (checked above); the caller guarantees exclusive access
        // to the frame: the kernel is not using it and no other slice of it exists.
        Some(unsafe { slice::from_raw_parts_mut(self.base.as_ptr().add(addr as usize), len) })
    }
}

impl Drop for UmemArea {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `map`; the rings and sockets that name its
        // frames are gone by now (the port drops them first), and no slice into it outlives
        // the borrow of `self` that produced it.
        if let Err(e) = unsafe { rustix::mm::munmap(self.base.as_ptr().cast(), self.len) } {
            tracing::warn!(error = %e, "munmap of an AF_XDP UMEM failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_outside_one_frame_are_refused() {
        let area = UmemArea::map(2048, 4).unwrap();
        assert_eq!(area.frame_start(2048 + 256), 2048);
        assert_eq!(area.frame_start(3 * 2048), 3 * 2048);
        // SAFETY: nothing else uses this area: no kernel, no other slice.
        unsafe {
            assert_eq!(area.frame(256, 64).map(<[u8]>::len), Some(64));
            assert!(area.frame(256, 2048 - 256).is_some());
            assert!(
                area.frame(256, 2048 - 255).is_none(),
                "runs into the next frame"
            );
            assert!(area.frame(4 * 2048, 1).is_none(), "past the end");
            assert!(area.frame(u64::MAX, 1).is_none());
            assert!(area.frame_mut(3 * 2048, 2048).is_some());
        }
    }
}
