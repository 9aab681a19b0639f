//! One memif region: a shared mapping of a memory file, touched only through
//! volatile and atomic accesses that are checked against its bounds.
//!
//! # Sealing policy (regions a peer hands us)
//!
//! Mapping a file and then letting its owner shrink it turns every later
//! access past the new end into SIGBUS, which kills the whole switch. A
//! `F_SEAL_SHRINK` seal on the file makes the kernel refuse any shrink, so
//! [`Region::map`] first makes sure the seal is there, adding it itself when
//! the file allows sealing, and only then checks the file's size (a size
//! checked before the seal could still shrink afterwards).
//!
//! Regions from VPP, libmemif and DPDK in copy mode are memfds created with
//! `MFD_ALLOW_SEALING` and already sealed with `F_SEAL_SHRINK`. DPDK 22.11's
//! zero-copy client (`zero-copy=yes`) instead hands over its memseg lists
//! (`rte_memseg_get_fd`): with `--no-huge` that is `memfd_create("nohuge", 0)`
//! and with hugepages a `memfd_create("seg_N", MFD_HUGETLB)` or a hugetlbfs
//! file. None of these can ever be sealed (a memfd made without
//! `MFD_ALLOW_SEALING` carries `F_SEAL_SEAL` from birth; `F_GET_SEALS` on a
//! hugetlbfs file fails with `EINVAL`). Requiring the seal would therefore
//! refuse every DPDK zero-copy client, while accepting unsealed files lets a
//! hostile peer crash us. So the choice is the caller's, per interface:
//!
//! - [`SealPolicy::RequireShrinkSeal`] (what [`Region::map`] applies): an
//!   unsealable file is refused with [`RegionError::Unsealable`]. This is the
//!   default for every interface whose peer is not trusted, e.g. a pod.
//! - [`SealPolicy::AllowUnsealed`]: an unsealable file is mapped anyway and
//!   [`Region::is_sealed`] reports it. Only for a peer trusted not to shrink
//!   its own memory (a DPDK zero-copy application configured as such).

use std::os::fd::{AsFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::AtomicU16;

use rustix::fs::{MemfdFlags, SealFlags};
use rustix::io::Errno;
use rustix::mm::{MapFlags, ProtFlags};

use super::volatile::{copy_from_shared, copy_to_shared};

/// What went wrong creating, mapping or accessing a region.
#[derive(Debug, thiserror::Error)]
pub enum RegionError {
    /// Zero-sized regions cannot be mapped.
    #[error("a memif region cannot be empty: announce a size of at least one byte")]
    Empty,
    /// More bytes than this machine can map.
    #[error(
        "a memif region of {size} bytes does not fit this machine's address space: use smaller regions"
    )]
    TooLarge {
        /// The size asked for.
        size: u64,
    },
    /// `memfd_create` or `ftruncate` failed.
    #[error(
        "cannot create the {size}-byte memory file for region {name:?}: {source} (check memory limits and the kernel's memfd support)"
    )]
    Create {
        /// The memfd name.
        name: String,
        /// Its size.
        size: u64,
        /// The system error.
        source: Errno,
    },
    /// `F_GET_SEALS`/`F_ADD_SEALS` failed in an unexpected way.
    #[error("cannot seal the region's memory file against shrinking: {0}")]
    Seal(Errno),
    /// The peer's file can never carry `F_SEAL_SHRINK` (see the module doc).
    #[error(
        "the peer's region file cannot be sealed against shrinking, so the peer could crash this process with SIGBUS by shrinking it; refuse the peer, or map with SealPolicy::AllowUnsealed if it is trusted (DPDK zero-copy clients hand over such files)"
    )]
    Unsealable,
    /// `fstat` on the peer's file failed.
    #[error("cannot read the size of the peer's region file: {0}")]
    Stat(Errno),
    /// The peer announced more bytes than its file holds.
    #[error(
        "the peer announced a region of {announced} bytes but its file holds only {actual}; the peer is broken or hostile, drop the connection"
    )]
    FileTooSmall {
        /// Size from ADD_REGION.
        announced: u64,
        /// Size of the file.
        actual: u64,
    },
    /// `mmap` failed.
    #[error(
        "cannot map a region of {size} bytes: {source} (check RLIMIT_AS and the memory cgroup)"
    )]
    Map {
        /// Bytes to map.
        size: usize,
        /// The system error.
        source: Errno,
    },
    /// An access reaches outside the region.
    #[error(
        "an access of {len} bytes at offset {offset} falls outside the {region_len}-byte region"
    )]
    OutOfBounds {
        /// Start of the access.
        offset: usize,
        /// Its length.
        len: usize,
        /// Bytes in the region.
        region_len: usize,
    },
    /// A 2- or 4-byte field access at an offset not a multiple of its size.
    #[error(
        "a {size}-byte field at offset {offset} is misaligned: memif fields are naturally aligned"
    )]
    Misaligned {
        /// Offset asked for.
        offset: usize,
        /// Size of the field.
        size: usize,
    },
    /// More regions than the protocol's 256.
    #[error("a memif connection has at most 256 regions")]
    TooMany,
}

/// Whether a peer's region file must be sealed against shrinking (see the
/// module doc).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SealPolicy {
    /// Refuse a file that cannot carry `F_SEAL_SHRINK`.
    RequireShrinkSeal,
    /// Map a file that cannot be sealed too (trusted peers only).
    AllowUnsealed,
}

/// A shared, read-write mapping of a memory file.
#[derive(Debug)]
pub struct Region {
    base: NonNull<u8>,
    len: usize,
    sealed: bool,
}

// SAFETY: a Region owns its mapping (unmapped only in Drop) and hands out no
// references to the bytes except `&AtomicU16`, which is Sync; every other
// access is a bounds-checked volatile access through a raw pointer, which is
// as sound from any thread as it is against the peer process writing the
// same memory concurrently.
unsafe impl Send for Region {}
// SAFETY: see `Send` above: `&Region` only permits volatile and atomic
// accesses, both of which tolerate concurrent writers.
unsafe impl Sync for Region {}

impl Region {
    /// Creates a sealed memfd of `size` bytes, maps it, and returns the
    /// mapping with the fd to hand to the peer (ADD_REGION). The memory
    /// starts zeroed.
    pub fn create(name: &str, size: u64) -> Result<(Region, OwnedFd), RegionError> {
        let len = map_len(size)?;
        let create_err = |source| RegionError::Create {
            name: name.to_owned(),
            size,
            source,
        };
        let fd = rustix::fs::memfd_create(name, MemfdFlags::ALLOW_SEALING | MemfdFlags::CLOEXEC)
            .map_err(create_err)?;
        rustix::fs::ftruncate(&fd, size).map_err(create_err)?;
        rustix::fs::fcntl_add_seals(&fd, SealFlags::SHRINK).map_err(RegionError::Seal)?;
        let region = Region::map_fd(&fd, len, true)?;
        Ok((region, fd))
    }

    /// Maps `size` bytes of a region file a peer sent, requiring it to be
    /// sealed against shrinking (see the module doc). The fd may be closed
    /// afterwards; the mapping stays.
    pub fn map(fd: impl AsFd, size: u64) -> Result<Region, RegionError> {
        Region::map_with_policy(fd, size, SealPolicy::RequireShrinkSeal)
    }

    /// Maps `size` bytes of a region file a peer sent, under `policy`.
    pub fn map_with_policy(
        fd: impl AsFd,
        size: u64,
        policy: SealPolicy,
    ) -> Result<Region, RegionError> {
        let len = map_len(size)?;
        let fd = fd.as_fd();
        // Seal first, then measure: once sealed, the size we check can only grow.
        let sealed = ensure_shrink_seal(fd)?;
        if !sealed && policy == SealPolicy::RequireShrinkSeal {
            return Err(RegionError::Unsealable);
        }
        let stat = rustix::fs::fstat(fd).map_err(RegionError::Stat)?;
        let actual = u64::try_from(stat.st_size).unwrap_or(0);
        if actual < size {
            return Err(RegionError::FileTooSmall {
                announced: size,
                actual,
            });
        }
        Region::map_fd(fd, len, sealed)
    }

    fn map_fd(fd: impl AsFd, len: usize, sealed: bool) -> Result<Region, RegionError> {
        // SAFETY: a fresh shared mapping at an address the kernel picks; it
        // aliases no Rust object. The file is at least `len` bytes (created
        // so, or checked by the caller).
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                fd,
                0,
            )
        }
        .map_err(|source| RegionError::Map { size: len, source })?;
        let base = NonNull::new(ptr.cast::<u8>()).ok_or(RegionError::Map {
            size: len,
            source: Errno::FAULT,
        })?;
        Ok(Region { base, len, sealed })
    }

    /// Bytes in the region.
    #[allow(clippy::len_without_is_empty)] // a region is never empty
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the file carries `F_SEAL_SHRINK` (always, unless mapped with
    /// [`SealPolicy::AllowUnsealed`]).
    pub fn is_sealed(&self) -> bool {
        self.sealed
    }

    /// Copies `buf.len()` bytes at `offset` out of the region.
    pub fn read(&self, offset: usize, buf: &mut [u8]) -> Result<(), RegionError> {
        self.check(offset, buf.len(), 1)?;
        // SAFETY: offset..offset+len is inside the live mapping (checked).
        unsafe { copy_from_shared(self.base.as_ptr().add(offset), buf) };
        Ok(())
    }

    /// Copies `data` into the region at `offset`.
    pub fn write(&self, offset: usize, data: &[u8]) -> Result<(), RegionError> {
        self.check(offset, data.len(), 1)?;
        // SAFETY: offset..offset+len is inside the live, writable mapping.
        unsafe { copy_to_shared(data, self.base.as_ptr().add(offset)) };
        Ok(())
    }

    /// Reads the naturally aligned `u16` at `offset`.
    pub fn read_u16(&self, offset: usize) -> Result<u16, RegionError> {
        self.check(offset, 2, 2)?;
        // SAFETY: in bounds and 2-byte aligned (checked).
        Ok(unsafe { self.load_u16(offset) })
    }

    /// Reads the naturally aligned `u32` at `offset`.
    pub fn read_u32(&self, offset: usize) -> Result<u32, RegionError> {
        self.check(offset, 4, 4)?;
        // SAFETY: in bounds and 4-byte aligned (checked).
        Ok(unsafe { self.load_u32(offset) })
    }

    /// Writes the naturally aligned `u16` at `offset`.
    pub fn write_u16(&self, offset: usize, value: u16) -> Result<(), RegionError> {
        self.check(offset, 2, 2)?;
        // SAFETY: in bounds and 2-byte aligned (checked).
        unsafe { self.store_u16(offset, value) };
        Ok(())
    }

    /// Writes the naturally aligned `u32` at `offset`.
    pub fn write_u32(&self, offset: usize, value: u32) -> Result<(), RegionError> {
        self.check(offset, 4, 4)?;
        // SAFETY: in bounds and 4-byte aligned (checked).
        unsafe { self.store_u32(offset, value) };
        Ok(())
    }

    /// The `u16` at `offset` as an atomic (ring `head`, `tail`, `flags`), or
    /// `None` when it is out of bounds or misaligned.
    pub fn atomic_u16(&self, offset: usize) -> Option<&AtomicU16> {
        self.check(offset, 2, 2).ok()?;
        // SAFETY: in bounds and aligned for AtomicU16 (checked); the mapping
        // lives as long as `&self`. AtomicU16 has interior mutability, so the
        // reference allows the peer's concurrent writes; everyone accesses
        // these fields atomically.
        Some(unsafe { &*self.base.as_ptr().add(offset).cast::<AtomicU16>() })
    }

    fn check(&self, offset: usize, len: usize, align: usize) -> Result<(), RegionError> {
        let end = offset.checked_add(len);
        if end.is_none_or(|end| end > self.len) {
            return Err(RegionError::OutOfBounds {
                offset,
                len,
                region_len: self.len,
            });
        }
        // The mapping is page-aligned, so offset alignment is address alignment.
        if offset % align != 0 {
            return Err(RegionError::Misaligned { offset, size: len });
        }
        Ok(())
    }

    /// Volatile load of the `u16` at `offset`.
    ///
    /// # Safety
    /// `offset + 2 <= self.len()` and `offset` is even.
    pub(super) unsafe fn load_u16(&self, offset: usize) -> u16 {
        debug_assert!(self.check(offset, 2, 2).is_ok());
        // SAFETY: the caller guarantees bounds and alignment.
        unsafe { self.base.as_ptr().add(offset).cast::<u16>().read_volatile() }
    }

    /// Volatile load of the `u32` at `offset`.
    ///
    /// # Safety
    /// `offset + 4 <= self.len()` and `offset` is a multiple of 4.
    pub(super) unsafe fn load_u32(&self, offset: usize) -> u32 {
        debug_assert!(self.check(offset, 4, 4).is_ok());
        // SAFETY: the caller guarantees bounds and alignment.
        unsafe { self.base.as_ptr().add(offset).cast::<u32>().read_volatile() }
    }

    /// Volatile store of a `u16` at `offset`.
    ///
    /// # Safety
    /// `offset + 2 <= self.len()` and `offset` is even.
    pub(super) unsafe fn store_u16(&self, offset: usize, value: u16) {
        debug_assert!(self.check(offset, 2, 2).is_ok());
        // SAFETY: the caller guarantees bounds and alignment.
        unsafe {
            self.base
                .as_ptr()
                .add(offset)
                .cast::<u16>()
                .write_volatile(value)
        }
    }

    /// Volatile store of a `u32` at `offset`.
    ///
    /// # Safety
    /// `offset + 4 <= self.len()` and `offset` is a multiple of 4.
    pub(super) unsafe fn store_u32(&self, offset: usize, value: u32) {
        debug_assert!(self.check(offset, 4, 4).is_ok());
        // SAFETY: the caller guarantees bounds and alignment.
        unsafe {
            self.base
                .as_ptr()
                .add(offset)
                .cast::<u32>()
                .write_volatile(value)
        }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: base/len are exactly the mapping made in `map_fd`, and no
        // reference into it outlives `self` (atomics borrow `&self`).
        if let Err(err) = unsafe { rustix::mm::munmap(self.base.as_ptr().cast(), self.len) } {
            tracing::warn!(%err, len = self.len, "munmap of a memif region failed");
        }
    }
}

/// The mapping length for a region of `size` bytes.
fn map_len(size: u64) -> Result<usize, RegionError> {
    match usize::try_from(size) {
        Ok(0) => Err(RegionError::Empty),
        // mmap refuses lengths beyond isize::MAX, and so does pointer arithmetic.
        Ok(len) if isize::try_from(len).is_ok() => Ok(len),
        _ => Err(RegionError::TooLarge { size }),
    }
}

/// Makes sure `fd` carries `F_SEAL_SHRINK`, adding it if the file allows.
/// Returns whether the file is now sealed against shrinking.
fn ensure_shrink_seal(fd: impl AsFd) -> Result<bool, RegionError> {
    let seals = match rustix::fs::fcntl_get_seals(&fd) {
        Ok(seals) => seals,
        // Not a memfd/shmem file (e.g. hugetlbfs): it has no seals at all.
        Err(Errno::INVAL) => return Ok(false),
        Err(err) => return Err(RegionError::Seal(err)),
    };
    if seals.contains(SealFlags::SHRINK) {
        return Ok(true);
    }
    if seals.contains(SealFlags::SEAL) {
        return Ok(false);
    }
    match rustix::fs::fcntl_add_seals(&fd, SealFlags::SHRINK) {
        Ok(()) => Ok(true),
        // F_SEAL_SEAL was added meanwhile: the file can no longer be sealed.
        Err(Errno::PERM) => Ok(false),
        Err(err) => Err(RegionError::Seal(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_mapping_sees_the_first_ones_writes() {
        let (a, fd) = Region::create("t", 4096).unwrap();
        let b = Region::map(&fd, 4096).unwrap();
        assert!(a.is_sealed() && b.is_sealed());
        a.write(3, b"hello memif").unwrap();
        let mut out = [0u8; 11];
        b.read(3, &mut out).unwrap();
        assert_eq!(&out, b"hello memif");
        a.write_u32(100, 0x03E3_1F20).unwrap();
        assert_eq!(b.read_u32(100).unwrap(), 0x03E3_1F20);
        b.write_u16(200, 0xBEEF).unwrap();
        assert_eq!(a.read_u16(200).unwrap(), 0xBEEF);
        b.atomic_u16(6)
            .unwrap()
            .store(7, std::sync::atomic::Ordering::Release);
        assert_eq!(a.read_u16(6).unwrap(), 7);
    }

    #[test]
    fn accesses_outside_or_misaligned_are_errors_not_panics() {
        let (r, _fd) = Region::create("t", 100).unwrap();
        assert_eq!(r.len(), 100);
        assert!(matches!(
            r.read(99, &mut [0; 2]),
            Err(RegionError::OutOfBounds {
                offset: 99,
                len: 2,
                region_len: 100
            })
        ));
        assert!(r.read(98, &mut [0; 2]).is_ok());
        assert!(r.write(usize::MAX, &[1]).is_err());
        assert!(r.read_u32(97).is_err());
        assert!(matches!(r.read_u32(2), Err(RegionError::Misaligned { .. })));
        assert!(r.write_u16(99, 1).is_err());
        assert!(r.atomic_u16(98).is_some());
        assert!(r.atomic_u16(99).is_none());
        assert!(r.atomic_u16(100).is_none());
        assert!(r.atomic_u16(usize::MAX - 1).is_none());
        assert!(r.read(100, &mut []).is_ok());
    }

    #[test]
    fn empty_and_absurd_sizes_are_refused() {
        assert!(matches!(Region::create("t", 0), Err(RegionError::Empty)));
        assert!(matches!(
            Region::create("t", u64::MAX),
            Err(RegionError::TooLarge { .. })
        ));
    }

    #[test]
    fn a_file_smaller_than_announced_is_refused() {
        let (_r, fd) = Region::create("t", 4096).unwrap();
        assert!(matches!(
            Region::map(&fd, 8192),
            Err(RegionError::FileTooSmall {
                announced: 8192,
                actual: 4096
            })
        ));
        assert_eq!(Region::map(&fd, 100).unwrap().len(), 100);
    }

    #[test]
    fn our_regions_cannot_be_shrunk_by_the_peer() {
        let (_r, fd) = Region::create("t", 4096).unwrap();
        assert_eq!(rustix::fs::ftruncate(&fd, 0), Err(Errno::PERM));
    }

    #[test]
    fn an_unsealed_but_sealable_file_gets_sealed_by_map() {
        let fd = rustix::fs::memfd_create("t", MemfdFlags::ALLOW_SEALING).unwrap();
        rustix::fs::ftruncate(&fd, 4096).unwrap();
        let r = Region::map(&fd, 4096).unwrap();
        assert!(r.is_sealed());
        assert_eq!(rustix::fs::ftruncate(&fd, 0), Err(Errno::PERM));
    }

    /// What DPDK's zero-copy client sends with --no-huge: a memfd created
    /// without MFD_ALLOW_SEALING.
    #[test]
    fn an_unsealable_file_needs_the_explicit_policy() {
        let fd = rustix::fs::memfd_create("nohuge", MemfdFlags::empty()).unwrap();
        rustix::fs::ftruncate(&fd, 4096).unwrap();
        assert!(matches!(
            Region::map(&fd, 4096),
            Err(RegionError::Unsealable)
        ));
        let r = Region::map_with_policy(&fd, 4096, SealPolicy::AllowUnsealed).unwrap();
        assert!(!r.is_sealed());
        r.write(0, b"ok").unwrap();
    }

    #[test]
    fn a_regular_file_is_unsealable() {
        let file = tempfile::tempfile().unwrap();
        file.set_len(4096).unwrap();
        assert!(matches!(
            Region::map(&file, 4096),
            Err(RegionError::Unsealable)
        ));
        assert!(Region::map_with_policy(&file, 4096, SealPolicy::AllowUnsealed).is_ok());
    }
}
