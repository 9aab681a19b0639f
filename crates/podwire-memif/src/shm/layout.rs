//! Where things are in shared memory: the ring header and descriptor field
//! offsets (memif.md §3.2–3.3), and the client's placement of rings and
//! packet buffers in its regions (§3.4).
//!
//! Rings always go into region 0: every C2S ring, then every S2C ring, each
//! `128 + 16 · 2^log2` bytes. Slot `j` of a ring owns one fixed buffer of
//! `buffer_size` bytes, numbered `(ring ordinal) · ring_size + j`, where the
//! ordinal counts C2S rings first. Where those buffers lie is the only
//! difference between the two placements a client may choose.

use std::os::fd::OwnedFd;

use super::region::{Region, RegionError};
use super::regions::Regions;
use super::ring::{Desc, Ring, RingError};
use crate::types::{
    DESC_SIZE, Direction, MAX_LOG2_RING_SIZE, MAX_RING_INDEX, RING_HEADER_SIZE, RegionSpec,
    RingSpec,
};

/// Ring header: the cookie word.
pub const RING_COOKIE_OFFSET: usize = 0;
/// Ring header: flags (`RING_FLAG_MASK_INT`).
pub const RING_FLAGS_OFFSET: usize = 4;
/// Ring header: `head`, written by the client.
pub const RING_HEAD_OFFSET: usize = 6;
/// Ring header: `tail`, written by the server, on its own cache line.
pub const RING_TAIL_OFFSET: usize = 64;
/// Descriptor: flags (`DESC_FLAG_NEXT`).
pub const DESC_FLAGS: usize = 0;
/// Descriptor: region index of the buffer.
pub const DESC_REGION: usize = 2;
/// Descriptor: bytes of data, or capacity as posted on S2C.
pub const DESC_LENGTH: usize = 4;
/// Descriptor: offset of the buffer in its region.
pub const DESC_OFFSET: usize = 8;
/// Descriptor: metadata, unused (written 0, ignored on read).
pub const DESC_METADATA: usize = 12;

/// Why a layout cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// Neither direction has a ring.
    #[error("a memif interface needs at least one ring")]
    NoRings,
    /// More than 256 rings in one direction.
    #[error("{count} {direction:?} rings asked for; the protocol allows at most 256 per direction")]
    TooManyRings {
        /// The direction.
        direction: Direction,
        /// How many were asked for.
        count: u16,
    },
    /// Rings larger than 2^14 slots.
    #[error("rings of 2^{log2_size} slots asked for; the protocol allows at most 2^14")]
    RingTooLarge {
        /// log2 of the slot count.
        log2_size: u8,
    },
    /// Buffers of zero bytes.
    #[error("the packet buffer size must be at least one byte")]
    ZeroBufferSize,
    /// A region would exceed what a `u32` descriptor offset can address.
    #[error(
        "the layout needs a region of {bytes} bytes, more than the 4 GiB a descriptor offset reaches: use fewer or smaller rings or buffers"
    )]
    TooLarge {
        /// Bytes the region would need.
        bytes: u64,
    },
    /// The regions are smaller than the layout needs.
    #[error(
        "the slot buffers lie outside the regions: create the regions with Layout::create_regions"
    )]
    BuffersOutsideRegions,
    /// Creating a region failed.
    #[error(transparent)]
    Region(#[from] RegionError),
    /// Placing a ring failed (regions that do not match this layout).
    #[error("the regions do not match the layout: {0}")]
    Ring(#[from] RingError),
}

/// Where a client puts the packet buffers.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum BufferPlacement {
    /// In region 0 after the rings (DPDK and VPP copy mode). DPDK and VPP
    /// servers accept this; use it to talk to them.
    AfterRings,
    /// In region 1 of their own, region 0 holding only the rings (libmemif;
    /// the shape of a zero-copy client that hands over extra regions).
    OwnRegion,
}

/// The fixed buffers of one ring's slots (client side).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct SlotBuffers {
    region: u16,
    first: u32,
    size: u32,
    mask: u16,
}

impl SlotBuffers {
    /// The region the buffers are in.
    pub fn region(&self) -> u16 {
        self.region
    }

    /// Bytes in each buffer.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Offset of the buffer of the slot `counter` designates.
    #[inline]
    pub fn offset(&self, counter: u16) -> u32 {
        // Fits: the layout checked that the last buffer ends below 4 GiB.
        self.first + u32::from(counter & self.mask) * self.size
    }

    /// Whether every buffer lies inside `regions`.
    pub fn fit(&self, regions: &Regions) -> bool {
        let end = u64::from(self.first) + u64::from(self.size) * (u64::from(self.mask) + 1);
        regions
            .get(self.region)
            .is_some_and(|r| end <= r.len() as u64)
    }
}

/// A client's arrangement of rings and buffers in its regions.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    placement: BufferPlacement,
    n_c2s: u16,
    n_s2c: u16,
    log2_ring_size: u8,
    buffer_size: u32,
}

impl Layout {
    /// A layout of `n_c2s` + `n_s2c` rings of 2^`log2_ring_size` slots with
    /// `buffer_size`-byte buffers (the counts come from the HELLO
    /// negotiation, memif.md §2.4).
    pub fn new(
        placement: BufferPlacement,
        n_c2s: u16,
        n_s2c: u16,
        log2_ring_size: u8,
        buffer_size: u32,
    ) -> Result<Layout, LayoutError> {
        for (direction, count) in [(Direction::C2S, n_c2s), (Direction::S2C, n_s2c)] {
            if count > MAX_RING_INDEX + 1 {
                return Err(LayoutError::TooManyRings { direction, count });
            }
        }
        if n_c2s == 0 && n_s2c == 0 {
            return Err(LayoutError::NoRings);
        }
        if log2_ring_size > MAX_LOG2_RING_SIZE {
            return Err(LayoutError::RingTooLarge {
                log2_size: log2_ring_size,
            });
        }
        if buffer_size == 0 {
            return Err(LayoutError::ZeroBufferSize);
        }
        let layout = Layout {
            placement,
            n_c2s,
            n_s2c,
            log2_ring_size,
            buffer_size,
        };
        for spec in layout.regions() {
            if spec.size > u64::from(u32::MAX) {
                return Err(LayoutError::TooLarge { bytes: spec.size });
            }
        }
        Ok(layout)
    }

    /// Rings from client to server.
    pub fn n_c2s(&self) -> u16 {
        self.n_c2s
    }

    /// Rings from server to client.
    pub fn n_s2c(&self) -> u16 {
        self.n_s2c
    }

    /// log2 of the slots per ring.
    pub fn log2_ring_size(&self) -> u8 {
        self.log2_ring_size
    }

    /// Bytes per packet buffer.
    pub fn buffer_size(&self) -> u32 {
        self.buffer_size
    }

    fn ring_size(&self) -> u64 {
        1 << self.log2_ring_size
    }

    fn ring_bytes(&self) -> u64 {
        RING_HEADER_SIZE as u64 + DESC_SIZE as u64 * self.ring_size()
    }

    fn rings_bytes(&self) -> u64 {
        self.ring_bytes() * (u64::from(self.n_c2s) + u64::from(self.n_s2c))
    }

    /// Position of a ring in region 0 (C2S rings first), if it exists.
    fn ordinal(&self, direction: Direction, index: u16) -> Option<u64> {
        match direction {
            Direction::C2S => (index < self.n_c2s).then_some(u64::from(index)),
            Direction::S2C => (index < self.n_s2c).then(|| u64::from(self.n_c2s + index)),
        }
    }

    /// The regions to create and announce, in index order.
    pub fn regions(&self) -> Vec<RegionSpec> {
        let buffers = u64::from(self.buffer_size)
            * self.ring_size()
            * (u64::from(self.n_c2s) + u64::from(self.n_s2c));
        match self.placement {
            BufferPlacement::AfterRings => vec![RegionSpec {
                index: 0,
                size: self.rings_bytes() + buffers,
            }],
            BufferPlacement::OwnRegion => vec![
                RegionSpec {
                    index: 0,
                    size: self.rings_bytes(),
                },
                RegionSpec {
                    index: 1,
                    size: buffers,
                },
            ],
        }
    }

    /// Where ring `index` of `direction` is, as ADD_RING announces it.
    pub fn ring(&self, direction: Direction, index: u16) -> Option<RingSpec> {
        let ordinal = self.ordinal(direction, index)?;
        Some(RingSpec {
            direction,
            index,
            region: 0,
            // Fits: the whole of region 0 is below 4 GiB (checked in `new`).
            offset: (ordinal * self.ring_bytes()) as u32,
            log2_size: self.log2_ring_size,
        })
    }

    /// Every ring in announcement order: C2S ascending, then S2C ascending.
    pub fn rings(&self) -> impl Iterator<Item = RingSpec> + '_ {
        let c2s = (0..self.n_c2s).filter_map(|i| self.ring(Direction::C2S, i));
        let s2c = (0..self.n_s2c).filter_map(|i| self.ring(Direction::S2C, i));
        c2s.chain(s2c)
    }

    /// The buffers of ring `index` of `direction`'s slots.
    pub fn buffers(&self, direction: Direction, index: u16) -> Option<SlotBuffers> {
        let first_slot = self.ordinal(direction, index)? * self.ring_size();
        let (region, start) = match self.placement {
            BufferPlacement::AfterRings => (0, self.rings_bytes()),
            BufferPlacement::OwnRegion => (1, 0),
        };
        Some(SlotBuffers {
            region,
            // Fits: the region holding the buffers is below 4 GiB.
            first: (start + first_slot * u64::from(self.buffer_size)) as u32,
            size: self.buffer_size,
            mask: (self.ring_size() - 1) as u16,
        })
    }

    /// Creates the regions as memfds, initialises every ring, and returns
    /// the mapped regions with the fds to announce (ADD_REGION, in order).
    pub fn create_regions(&self) -> Result<(Regions, Vec<OwnedFd>), LayoutError> {
        let mut regions = Regions::new();
        let mut fds = Vec::new();
        for spec in self.regions() {
            let (region, fd) = Region::create(&format!("memif_region_{}", spec.index), spec.size)?;
            regions.push(region)?;
            fds.push(fd);
        }
        self.initialize(&regions)?;
        Ok((regions, fds))
    }

    /// Client initialisation of every ring: cookie, flags 0, head and tail 0,
    /// and each descriptor pointing at its slot's buffer with its capacity.
    pub fn initialize(&self, regions: &Regions) -> Result<(), LayoutError> {
        for spec in self.rings() {
            let ring = Ring::from_spec(regions, &spec)?;
            ring.initialize_header();
            let Some(buffers) = self.buffers(spec.direction, spec.index) else {
                continue;
            };
            if !buffers.fit(regions) {
                return Err(LayoutError::BuffersOutsideRegions);
            }
            for slot in 0..ring.size() {
                ring.set_desc(
                    slot,
                    &Desc {
                        flags: 0,
                        region: buffers.region,
                        length: buffers.size,
                        offset: buffers.offset(slot),
                    },
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DPDK 22.11 client, copy mode, 1 + 1 rings of 1024 slots, 2048-byte
    /// buffers: region 0 of 4 227 328 bytes (memif.md §3.1, verified).
    #[test]
    fn copy_mode_matches_dpdk_sizes_and_offsets() {
        let l = Layout::new(BufferPlacement::AfterRings, 1, 1, 10, 2048).unwrap();
        assert_eq!(
            l.regions(),
            vec![RegionSpec {
                index: 0,
                size: 4_227_328
            }]
        );
        let c2s = l.ring(Direction::C2S, 0).unwrap();
        let s2c = l.ring(Direction::S2C, 0).unwrap();
        assert_eq!((c2s.region, c2s.offset), (0, 0));
        assert_eq!((s2c.region, s2c.offset), (0, 16_512));
        let start = 2 * 16_512;
        let b = l.buffers(Direction::C2S, 0).unwrap();
        assert_eq!(
            (b.region(), b.offset(0), b.offset(1)),
            (0, start, start + 2048)
        );
        // Counters wrap onto slots: 1024 is slot 0 again.
        assert_eq!(b.offset(1024), start);
        let b = l.buffers(Direction::S2C, 0).unwrap();
        assert_eq!(b.offset(0), start + 1024 * 2048);
        assert!(l.ring(Direction::C2S, 1).is_none());
        assert!(l.buffers(Direction::S2C, 1).is_none());
    }

    /// DPDK zero-copy client: a 33 024-byte ring region for 1 + 1 rings.
    #[test]
    fn own_region_placement_keeps_region_zero_for_rings() {
        let l = Layout::new(BufferPlacement::OwnRegion, 2, 3, 10, 2048).unwrap();
        let regions = l.regions();
        assert_eq!(regions[0].size, 5 * 16_512);
        assert_eq!(regions[1].size, 5 * 1024 * 2048);
        let one = Layout::new(BufferPlacement::OwnRegion, 1, 1, 10, 2048).unwrap();
        assert_eq!(one.regions()[0].size, 33_024);
        let b = l.buffers(Direction::S2C, 1).unwrap();
        assert_eq!((b.region(), b.offset(0)), (1, 3 * 1024 * 2048));
        let order: Vec<_> = l
            .rings()
            .map(|r| (r.direction, r.index, r.offset))
            .collect();
        assert_eq!(
            order,
            vec![
                (Direction::C2S, 0, 0),
                (Direction::C2S, 1, 16_512),
                (Direction::S2C, 0, 2 * 16_512),
                (Direction::S2C, 1, 3 * 16_512),
                (Direction::S2C, 2, 4 * 16_512),
            ]
        );
    }

    #[test]
    fn impossible_layouts_are_refused() {
        use BufferPlacement::AfterRings;
        assert!(matches!(
            Layout::new(AfterRings, 0, 0, 10, 2048),
            Err(LayoutError::NoRings)
        ));
        assert!(matches!(
            Layout::new(AfterRings, 257, 1, 10, 2048),
            Err(LayoutError::TooManyRings {
                direction: Direction::C2S,
                count: 257
            })
        ));
        assert!(matches!(
            Layout::new(AfterRings, 1, 1, 15, 2048),
            Err(LayoutError::RingTooLarge { log2_size: 15 })
        ));
        assert!(matches!(
            Layout::new(AfterRings, 1, 1, 10, 0),
            Err(LayoutError::ZeroBufferSize)
        ));
        assert!(matches!(
            Layout::new(AfterRings, 256, 256, 14, 65_535),
            Err(LayoutError::TooLarge { .. })
        ));
    }

    #[test]
    fn initialising_regions_of_another_layout_fails_cleanly() {
        let small = Layout::new(BufferPlacement::AfterRings, 1, 1, 3, 256).unwrap();
        let (regions, _fds) = small.create_regions().unwrap();
        let more_buffers = Layout::new(BufferPlacement::AfterRings, 1, 1, 3, 512).unwrap();
        assert!(matches!(
            more_buffers.initialize(&regions),
            Err(LayoutError::BuffersOutsideRegions)
        ));
        let bigger_rings = Layout::new(BufferPlacement::AfterRings, 1, 1, 9, 256).unwrap();
        assert!(matches!(
            bigger_rings.initialize(&regions),
            Err(LayoutError::Ring(RingError::OutsideRegion { .. }))
        ));
        let split = Layout::new(BufferPlacement::OwnRegion, 1, 1, 3, 256).unwrap();
        assert!(matches!(
            split.initialize(&regions),
            Err(LayoutError::BuffersOutsideRegions)
        ));
    }

    #[test]
    fn created_regions_hold_initialised_rings() {
        let l = Layout::new(BufferPlacement::OwnRegion, 1, 2, 3, 256).unwrap();
        let (regions, fds) = l.create_regions().unwrap();
        assert_eq!((regions.len(), fds.len()), (2, 2));
        for spec in l.rings() {
            let ring = Ring::from_spec(&regions, &spec).unwrap();
            assert_eq!(ring.cookie(), crate::types::RING_COOKIE);
            let buffers = l.buffers(spec.direction, spec.index).unwrap();
            for slot in 0..8 {
                let d = ring.desc(slot);
                assert_eq!(
                    d,
                    Desc {
                        flags: 0,
                        region: 1,
                        length: 256,
                        offset: buffers.offset(slot)
                    }
                );
            }
        }
    }
}
