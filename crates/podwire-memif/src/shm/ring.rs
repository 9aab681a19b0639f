//! A view of one ring (header and descriptors) inside a region.
//!
//! The view is validated once when it is made (the whole ring lies inside
//! the region, suitably aligned); after that every accessor is infallible.
//! Descriptor slots are addressed by the free-running `u16` counters of the
//! protocol and masked here, so a counter can never reach past the ring.

use std::sync::atomic::AtomicU16;

use super::layout::{
    DESC_FLAGS, DESC_LENGTH, DESC_METADATA, DESC_OFFSET, DESC_REGION, RING_COOKIE_OFFSET,
    RING_FLAGS_OFFSET, RING_HEAD_OFFSET, RING_TAIL_OFFSET,
};
use super::region::Region;
use super::regions::Regions;
use crate::types::{
    DESC_FLAG_NEXT, DESC_SIZE, MAX_LOG2_RING_SIZE, RING_COOKIE, RING_HEADER_SIZE, RingSpec,
};

/// Why a ring cannot be placed where it was announced.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum RingError {
    /// The ring names a region the connection does not have.
    #[error(
        "the ring lies in region {index}, which was never added; the peer's ADD_RING is invalid"
    )]
    NoSuchRegion {
        /// The region index given.
        index: u16,
    },
    /// More than 2^14 slots.
    #[error("a ring of 2^{log2_size} slots is larger than the protocol's 2^14")]
    TooLarge {
        /// log2 of the slot count given.
        log2_size: u8,
    },
    /// Header and descriptors do not fit inside the region.
    #[error(
        "a ring of {bytes} bytes at offset {offset} does not fit in its {region_len}-byte region"
    )]
    OutsideRegion {
        /// Offset of the ring header.
        offset: usize,
        /// Bytes the ring needs.
        bytes: usize,
        /// Bytes in the region.
        region_len: usize,
    },
    /// The header is not 4-byte aligned (cookie and descriptors need it).
    #[error("a ring at offset {offset} is not 4-byte aligned")]
    Misaligned {
        /// Offset of the ring header.
        offset: usize,
    },
}

/// One descriptor, read out of shared memory in one go and then validated
/// by whoever uses it.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Desc {
    /// `DESC_FLAG_NEXT` or 0.
    pub flags: u16,
    /// Region of the buffer.
    pub region: u16,
    /// Bytes of data (or, on S2C rings as posted by the client, capacity).
    pub length: u32,
    /// Byte offset of the buffer in its region.
    pub offset: u32,
}

impl Desc {
    /// Whether the packet continues in the next slot.
    #[inline]
    pub fn has_next(&self) -> bool {
        self.flags & DESC_FLAG_NEXT != 0
    }
}

/// A validated view of a ring in a region.
#[derive(Copy, Clone, Debug)]
pub struct Ring<'a> {
    region: &'a Region,
    /// Offset of the first descriptor.
    descs: usize,
    mask: u16,
    head: &'a AtomicU16,
    tail: &'a AtomicU16,
    flags: &'a AtomicU16,
}

impl<'a> Ring<'a> {
    /// The ring whose header is at `offset` in `region`, with 2^`log2_size`
    /// slots.
    pub fn new(region: &'a Region, offset: usize, log2_size: u8) -> Result<Ring<'a>, RingError> {
        if log2_size > MAX_LOG2_RING_SIZE {
            return Err(RingError::TooLarge { log2_size });
        }
        if offset % 4 != 0 {
            return Err(RingError::Misaligned { offset });
        }
        let bytes = RING_HEADER_SIZE + (DESC_SIZE << log2_size);
        let outside = RingError::OutsideRegion {
            offset,
            bytes,
            region_len: region.len(),
        };
        if offset
            .checked_add(bytes)
            .is_none_or(|end| end > region.len())
        {
            return Err(outside);
        }
        let atomic = |field: usize| region.atomic_u16(offset + field).ok_or(outside.clone());
        Ok(Ring {
            region,
            descs: offset + RING_HEADER_SIZE,
            mask: (1u16 << log2_size) - 1,
            head: atomic(RING_HEAD_OFFSET)?,
            tail: atomic(RING_TAIL_OFFSET)?,
            flags: atomic(RING_FLAGS_OFFSET)?,
        })
    }

    /// The ring an ADD_RING announced, in the connection's regions.
    pub fn from_spec(regions: &'a Regions, spec: &RingSpec) -> Result<Ring<'a>, RingError> {
        let region = regions
            .get(spec.region)
            .ok_or(RingError::NoSuchRegion { index: spec.region })?;
        Ring::new(region, spec.offset as usize, spec.log2_size)
    }

    /// Slots in the ring (at most 2^14, so it fits the `u16` counters).
    #[inline]
    pub fn size(&self) -> u16 {
        self.mask + 1
    }

    /// The cookie word (the client writes [`RING_COOKIE`]).
    pub fn cookie(&self) -> u32 {
        // SAFETY: the header is inside the region and 4-byte aligned
        // (checked in `new`), so the cookie at offset 0 is too.
        unsafe { self.region.load_u32(self.header() + RING_COOKIE_OFFSET) }
    }

    /// Client initialisation of the header: cookie, flags, head and tail.
    pub fn initialize_header(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        // SAFETY: as in `cookie`.
        unsafe {
            self.region
                .store_u32(self.header() + RING_COOKIE_OFFSET, RING_COOKIE)
        };
        self.flags.store(0, Relaxed);
        self.head.store(0, Relaxed);
        self.tail.store(0, Relaxed);
    }

    /// `head`: written by the client only.
    #[inline]
    pub fn head(&self) -> &'a AtomicU16 {
        self.head
    }

    /// `tail`: written by the server only.
    #[inline]
    pub fn tail(&self) -> &'a AtomicU16 {
        self.tail
    }

    /// The header flags (`RING_FLAG_MASK_INT`): written by the consumer.
    #[inline]
    pub fn flags(&self) -> &'a AtomicU16 {
        self.flags
    }

    /// The descriptor of the slot `counter` designates.
    #[inline]
    pub fn desc(&self, counter: u16) -> Desc {
        let at = self.desc_at(counter);
        // SAFETY: `desc_at` stays inside the validated descriptor array and
        // keeps the 4-byte alignment of the header; each field is naturally
        // aligned within the 16-byte descriptor.
        unsafe {
            Desc {
                flags: self.region.load_u16(at + DESC_FLAGS),
                region: self.region.load_u16(at + DESC_REGION),
                length: self.region.load_u32(at + DESC_LENGTH),
                offset: self.region.load_u32(at + DESC_OFFSET),
            }
        }
    }

    /// Writes every field of a descriptor (metadata as 0).
    #[inline]
    pub fn set_desc(&self, counter: u16, desc: &Desc) {
        let at = self.desc_at(counter);
        // SAFETY: as in `desc`.
        unsafe {
            self.region.store_u16(at + DESC_FLAGS, desc.flags);
            self.region.store_u16(at + DESC_REGION, desc.region);
            self.region.store_u32(at + DESC_LENGTH, desc.length);
            self.region.store_u32(at + DESC_OFFSET, desc.offset);
            self.region.store_u32(at + DESC_METADATA, 0);
        }
    }

    /// Writes only `length` and `flags`: what a server may write on S2C.
    #[inline]
    pub fn set_desc_data(&self, counter: u16, length: u32, flags: u16) {
        let at = self.desc_at(counter);
        // SAFETY: as in `desc`.
        unsafe {
            self.region.store_u32(at + DESC_LENGTH, length);
            self.region.store_u16(at + DESC_FLAGS, flags);
        }
    }

    fn header(&self) -> usize {
        self.descs - RING_HEADER_SIZE
    }

    #[inline]
    fn desc_at(&self, counter: u16) -> usize {
        self.descs + usize::from(counter & self.mask) * DESC_SIZE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering::Relaxed;

    fn region(len: u64) -> Region {
        Region::create("ring-test", len).unwrap().0
    }

    #[test]
    fn a_ring_must_fit_its_region_exactly_or_better() {
        let r = region(128 + 16 * 8 + 4);
        assert!(Ring::new(&r, 0, 3).is_ok());
        assert!(Ring::new(&r, 4, 3).is_ok());
        assert_eq!(
            Ring::new(&r, 8, 3).unwrap_err(),
            RingError::OutsideRegion {
                offset: 8,
                bytes: 256,
                region_len: 260
            }
        );
        assert_eq!(
            Ring::new(&r, 2, 3).unwrap_err(),
            RingError::Misaligned { offset: 2 }
        );
        assert_eq!(
            Ring::new(&r, 0, 15).unwrap_err(),
            RingError::TooLarge { log2_size: 15 }
        );
        assert!(Ring::new(&r, usize::MAX - 3, 0).is_err());
    }

    #[test]
    fn fields_sit_at_the_offsets_of_the_spec() {
        let r = region(4096);
        let ring = Ring::new(&r, 64, 2).unwrap();
        ring.initialize_header();
        ring.head().store(0x1234, Relaxed);
        ring.tail().store(0x5678, Relaxed);
        ring.flags().store(1, Relaxed);
        ring.set_desc(
            5, // counter 5 is slot 1 of a 4-slot ring
            &Desc {
                flags: 1,
                region: 2,
                length: 0x0102_0304,
                offset: 0x0A0B_0C0D,
            },
        );
        assert_eq!(r.read_u32(64).unwrap(), RING_COOKIE);
        assert_eq!(r.read_u16(64 + 4).unwrap(), 1);
        assert_eq!(r.read_u16(64 + 6).unwrap(), 0x1234);
        assert_eq!(r.read_u16(64 + 64).unwrap(), 0x5678);
        let d = 64 + 128 + 16;
        assert_eq!(r.read_u16(d).unwrap(), 1);
        assert_eq!(r.read_u16(d + 2).unwrap(), 2);
        assert_eq!(r.read_u32(d + 4).unwrap(), 0x0102_0304);
        assert_eq!(r.read_u32(d + 8).unwrap(), 0x0A0B_0C0D);
        assert_eq!(r.read_u32(d + 12).unwrap(), 0);
        ring.set_desc_data(1, 60, 0);
        let desc = ring.desc(1);
        assert_eq!(
            (desc.length, desc.flags, desc.region, desc.offset),
            (60, 0, 2, 0x0A0B_0C0D)
        );
        assert_eq!(ring.cookie(), RING_COOKIE);
        assert_eq!(ring.size(), 4);
    }
}
