//! The hostile peer's side of the shared memory: its own mappings of the
//! regions it handed over (or was handed), the rings announced, and the
//! writes it makes into them, in any field, at any time.

use std::os::fd::{AsFd, OwnedFd};

use rustix::event::{EventfdFlags, eventfd};
use rustix::fs::MemfdFlags;

use super::script::{FdChoice, Field};
use crate::shm::{Region, Regions, SealPolicy};
use crate::types::{DESC_SIZE, MAX_LOG2_RING_SIZE, RING_HEADER_SIZE, RingSpec, Role};

/// The largest memory file the peer makes for an ADD_REGION of its own
/// (larger announcements get a file too small for them).
const MAX_FILE: u64 = 1 << 20;
/// The size of a memory file attached to a message that is no ADD_REGION.
const OTHER_FILE: u64 = 4096;

/// Byte offsets in a ring header and in a descriptor (memif.md §3.2–3.3),
/// as the peer reads and writes them: written out again rather than taken
/// from `shm`, so that a mistake there shows here.
const COOKIE: usize = 0;
const FLAGS: usize = 4;
const HEAD: usize = 6;
const TAIL: usize = 64;
const DESC_FLAGS: usize = 0;
const DESC_REGION: usize = 2;
const DESC_LENGTH: usize = 4;
const DESC_OFFSET: usize = 8;

/// The memory the peer shares with us, as the peer sees it.
#[derive(Debug)]
pub(super) struct PeerMemory {
    /// The peer's role.
    role: Role,
    /// Region `i` is the one the handshake accepted as index `i`.
    regions: Regions,
    /// Rings in announcement order.
    rings: Vec<RingSpec>,
}

/// An fd the peer attaches to a message, and the peer's own mapping of it
/// when it is memory.
#[derive(Debug, Default)]
pub(super) struct Attachment {
    /// The fd, handed to our handshake.
    pub fd: Option<OwnedFd>,
    /// The peer's view of that memory.
    pub view: Option<Region>,
}

impl Attachment {
    /// A fresh eventfd, as a client attaches to ADD_RING.
    pub fn eventfd() -> Attachment {
        Attachment {
            fd: eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK).ok(),
            view: None,
        }
    }

    /// A region file the peer made, shared with its own mapping of it.
    pub fn memory(fd: &OwnedFd, size: u64) -> Attachment {
        Attachment {
            fd: fd.try_clone().ok(),
            view: Region::map(fd, size).ok(),
        }
    }

    /// What [`FdChoice`] names, for a message announcing a region of
    /// `announced` bytes (`None` for other messages). A file the harness
    /// cannot make is left out, like [`FdChoice::None`].
    pub fn choose(choice: FdChoice, announced: Option<u64>) -> Attachment {
        let size = announced.map_or(OTHER_FILE, |size| size.clamp(1, MAX_FILE));
        match choice {
            FdChoice::None => Attachment::default(),
            FdChoice::EventFd => Attachment::eventfd(),
            FdChoice::Memfd => sealed_file(size),
            FdChoice::TinyMemfd => sealed_file(1),
            FdChoice::UnsealedMemfd => unsealed_file(size).unwrap_or_default(),
        }
    }
}

fn sealed_file(size: u64) -> Attachment {
    match Region::create("hostile-peer", size) {
        Ok((view, fd)) => Attachment {
            fd: Some(fd),
            view: Some(view),
        },
        Err(_) => Attachment::default(),
    }
}

/// A memfd made without `MFD_ALLOW_SEALING`, as DPDK's zero-copy client
/// hands over: it can never be sealed.
fn unsealed_file(size: u64) -> Option<Attachment> {
    let fd = rustix::fs::memfd_create("hostile-peer-unsealed", MemfdFlags::CLOEXEC).ok()?;
    rustix::fs::ftruncate(&fd, size).ok()?;
    let view = Region::map_with_policy(&fd, size, SealPolicy::AllowUnsealed).ok()?;
    Some(Attachment {
        fd: Some(fd),
        view: Some(view),
    })
}

impl PeerMemory {
    /// No memory yet, for a peer playing `role`.
    pub fn new(role: Role) -> PeerMemory {
        PeerMemory {
            role,
            regions: Regions::new(),
            rings: Vec::new(),
        }
    }

    /// The handshake accepted the next region: `view` is the peer's
    /// mapping of it, `None` when its fd was no memory (a one-byte stand-in
    /// keeps the indices in step).
    pub fn add_region(&mut self, view: Option<Region>) {
        let view = view.or_else(|| Region::create("stand-in", 1).ok().map(|(r, _)| r));
        if let Some(view) = view {
            // At most 256: the handshake refuses more.
            let _ = self.regions.push(view);
        }
    }

    /// Maps a region we handed over (the peer is the server).
    pub fn map_region(&mut self, fd: impl AsFd, size: u64) {
        self.add_region(Region::map(fd, size).ok());
    }

    /// The handshake accepted (or we announced) the next ring.
    pub fn add_ring(&mut self, spec: RingSpec) {
        self.rings.push(spec);
    }

    /// The index `role` writes on a ring (`tail` for the server, `head`
    /// for the client), as it is in memory now; `None` when it is not
    /// inside the peer's mappings.
    pub fn index(&self, spec: &RingSpec, role: Role) -> Option<u16> {
        let region = self.regions.get(spec.region)?;
        region.read_u16(index_offset(spec, role)).ok()
    }

    /// [`Op::Poke`](super::Op::Poke).
    pub fn poke(&self, ring: u8, field: Field, slot: u8, value: u32) {
        let Some((spec, region)) = self.ring(ring) else {
            return;
        };
        let header = spec.offset as usize;
        let mask = (1usize << spec.log2_size.min(MAX_LOG2_RING_SIZE)) - 1;
        let desc = header + RING_HEADER_SIZE + (usize::from(slot) & mask) * DESC_SIZE;
        // Writes outside the region fail and are skipped: the peer's
        // business, never ours.
        let _ = match field {
            Field::Head => region.write_u16(header + HEAD, value as u16),
            Field::Tail => region.write_u16(header + TAIL, value as u16),
            Field::Flags => region.write_u16(header + FLAGS, value as u16),
            Field::Cookie => region.write_u32(header + COOKIE, value),
            Field::DescFlags => region.write_u16(desc + DESC_FLAGS, value as u16),
            Field::DescRegion => region.write_u16(desc + DESC_REGION, value as u16),
            Field::DescLength => region.write_u32(desc + DESC_LENGTH, value),
            Field::DescOffset => region.write_u32(desc + DESC_OFFSET, value),
        };
    }

    /// [`Op::Advance`](super::Op::Advance).
    pub fn advance(&self, ring: u8, by: u8) {
        let Some((spec, region)) = self.ring(ring) else {
            return;
        };
        let at = index_offset(&spec, self.role);
        if let Ok(index) = region.read_u16(at) {
            let _ = region.write_u16(at, index.wrapping_add(u16::from(by)));
        }
    }

    /// [`Op::Write`](super::Op::Write).
    pub fn write(&self, region: u8, offset: u32, bytes: &[u8]) {
        let count = self.regions.len();
        if count == 0 {
            return;
        }
        // Fewer than 256 regions: the index fits.
        let Some(region) = self.regions.get((usize::from(region) % count) as u16) else {
            return;
        };
        let at = offset as usize % region.len();
        let n = bytes.len().min(region.len() - at);
        let _ = region.write(at, &bytes[..n]);
    }

    /// Ring `ring` (modulo the rings announced) and the peer's mapping of
    /// its region.
    fn ring(&self, ring: u8) -> Option<(RingSpec, &Region)> {
        let count = self.rings.len();
        let spec = *self.rings.get(usize::from(ring) % count.max(1))?;
        Some((spec, self.regions.get(spec.region)?))
    }
}

/// Where the index `role` writes on a ring is.
fn index_offset(spec: &RingSpec, role: Role) -> usize {
    let field = match role {
        Role::Server => TAIL,
        Role::Client => HEAD,
    };
    spec.offset as usize + field
}
