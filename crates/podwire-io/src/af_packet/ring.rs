//! The memory-mapped `TPACKET_V3` receive ring: blocks that the kernel fills and hands to user
//! space by setting their status word, and that user space hands back the same way.

use std::io;
use std::os::fd::BorrowedFd;
use std::ptr::{self, NonNull};
use std::slice;
use std::sync::atomic::{AtomicU32, Ordering};

use rustix::mm::{MapFlags, ProtFlags};

use super::block::BLOCK_STATUS;

/// The mapping of an `AF_PACKET` socket's receive ring, and the block to look at next (the
/// kernel fills blocks in order, round-robin).
#[derive(Debug)]
pub(super) struct Ring {
    base: NonNull<u8>,
    block_size: usize,
    block_count: usize,
    current: usize,
}

// SAFETY: the mapping is owned by this `Ring` alone (nothing else holds pointers into it), and
// its only other user, the kernel, synchronizes through the block status words, whichever
// thread the `Ring` is on. Moving it between threads is like moving a `Box<[u8]>`.
unsafe impl Send for Ring {}

impl Ring {
    /// Maps the ring configured on `socket` (`PACKET_RX_RING` must have been set with these
    /// sizes). `block_size` is a non-zero multiple of the page size.
    pub(super) fn map(
        socket: BorrowedFd<'_>,
        block_size: usize,
        block_count: usize,
    ) -> io::Result<Self> {
        let len = block_size
            .checked_mul(block_count)
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: a fresh shared mapping chosen by the kernel (no address hint), so it cannot
        // overlap memory Rust knows about; `len` is what the ring was configured with.
        let base = unsafe {
            rustix::mm::mmap(
                ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED | MapFlags::POPULATE,
                socket,
                0,
            )
        }?;
        let base =
            NonNull::new(base.cast()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Self {
            base,
            block_size,
            block_count,
            current: 0,
        })
    }

    /// The current block, if the kernel has handed it to user space. It stays ours (the kernel
    /// does not write to it) until [`Ring::release_current`].
    pub(super) fn current_block(&mut self) -> Option<&mut [u8]> {
        let status = self.status(self.current).load(Ordering::Acquire);
        if status & libc::TP_STATUS_USER == 0 {
            return None;
        }
        // SAFETY: `current < block_count`, so the block lies inside the mapping. The acquire
        // load above saw TP_STATUS_USER, so the kernel has finished writing the block and will
        // not touch it until we store TP_STATUS_KERNEL; the `&mut self` borrow keeps
        // `release_current` (the only other access) from running while the slice lives.
        Some(unsafe { slice::from_raw_parts_mut(self.block_ptr(self.current), self.block_size) })
    }

    /// Hands the current block back to the kernel and moves on to the next one.
    pub(super) fn release_current(&mut self) {
        // Release: our reads and writes of the block happen before the kernel may refill it.
        self.status(self.current)
            .store(libc::TP_STATUS_KERNEL, Ordering::Release);
        self.current = (self.current + 1) % self.block_count;
    }

    /// Start of block `index` (< `block_count`).
    fn block_ptr(&self, index: usize) -> *mut u8 {
        // SAFETY: `index < block_count`, so the offset stays within the mapping of
        // `block_size * block_count` bytes, whose size was checked not to overflow.
        unsafe { self.base.as_ptr().add(index * self.block_size) }
    }

    /// The status word of block `index`, which the kernel writes concurrently.
    fn status(&self, index: usize) -> &AtomicU32 {
        // SAFETY: the word lies inside the block (blocks are at least a page), is 4-byte
        // aligned (blocks are page-aligned, the offset is a multiple of 4) and lives as long as
        // the mapping, which outlives `&self`. Both sides access it atomically: the kernel with
        // WRITE_ONCE/READ_ONCE and barriers, we through this atomic.
        unsafe { AtomicU32::from_ptr(self.block_ptr(index).add(BLOCK_STATUS).cast()) }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        let len = self.block_size * self.block_count;
        // SAFETY: unmaps exactly the mapping made in `map`; no slice into it can outlive the
        // `&mut self` borrows that produced them.
        if let Err(e) = unsafe { rustix::mm::munmap(self.base.as_ptr().cast(), len) } {
            tracing::warn!(error = %e, "munmap of an AF_PACKET ring failed");
        }
    }
}
