//! The protocol's constants and the small types every part of the crate
//! shares. Values are those of memif version 2.0 as VPP, libmemif and
//! DPDK's `net_memif` implement it (see `reference/memif.md`).

/// Every control message is exactly this many bytes.
pub const MSG_SIZE: usize = 128;
/// Protocol version 2.0.
pub const VERSION: u16 = 0x0200;
/// Written by the client at the start of every ring header.
pub const RING_COOKIE: u32 = 0x03E3_1F20;
/// Bytes of a ring header (cookie, flags, head; tail on its own cache line).
pub const RING_HEADER_SIZE: usize = 128;
/// Bytes of one descriptor.
pub const DESC_SIZE: usize = 16;
/// The largest ring is 2^14 slots.
pub const MAX_LOG2_RING_SIZE: u8 = 14;
/// Default ring size, 2^10 slots.
pub const DEFAULT_LOG2_RING_SIZE: u8 = 10;
/// Default size of one packet buffer.
pub const DEFAULT_BUFFER_SIZE: u32 = 2048;
/// Highest region index (256 regions).
pub const MAX_REGION_INDEX: u16 = 255;
/// Highest ring index per direction (256 rings).
pub const MAX_RING_INDEX: u16 = 255;
/// Bytes of a name field (HELLO, INIT, CONNECT, CONNECTED).
pub const NAME_SIZE: usize = 32;
/// Bytes of the secret field.
pub const SECRET_SIZE: usize = 24;
/// Bytes of the DISCONNECT reason.
pub const REASON_SIZE: usize = 96;

/// Ring header `flags` bit: the consumer polls, do not signal the eventfd.
pub const RING_FLAG_MASK_INT: u16 = 1;
/// Descriptor `flags` bit: the packet continues in the next slot.
pub const DESC_FLAG_NEXT: u16 = 1;

/// Which end of a memif connection this is.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Listens, never allocates shared memory (VPP "master").
    Server,
    /// Connects, creates the regions and rings (VPP "slave").
    Client,
}

/// The direction of a ring, named for who produces into it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    /// Client to server (VPP "S2M"), wire value 0.
    C2S,
    /// Server to client (VPP "M2S"), wire value 1.
    S2C,
}

impl Direction {
    /// Whether `role` produces (transmits) into a ring of this direction.
    pub fn produced_by(self, role: Role) -> bool {
        matches!(
            (self, role),
            (Direction::C2S, Role::Client) | (Direction::S2C, Role::Server)
        )
    }
}

/// What the frames on an interface are.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Ethernet frames (value 0); the only mode DPDK speaks.
    Ethernet,
    /// IP packets without an Ethernet header (value 1).
    Ip,
    /// VPP's punt/inject (value 2).
    PuntInject,
}

impl Mode {
    /// The wire value.
    pub fn to_wire(self) -> u8 {
        match self {
            Mode::Ethernet => 0,
            Mode::Ip => 1,
            Mode::PuntInject => 2,
        }
    }

    /// The mode of a wire value.
    pub fn from_wire(v: u8) -> Option<Mode> {
        match v {
            0 => Some(Mode::Ethernet),
            1 => Some(Mode::Ip),
            2 => Some(Mode::PuntInject),
            _ => None,
        }
    }
}

/// A region of shared memory as the client announces it (ADD_REGION).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct RegionSpec {
    /// Its index, 0, 1, 2, ... in order.
    pub index: u16,
    /// Bytes to map.
    pub size: u64,
}

/// A ring as the client announces it (ADD_RING).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct RingSpec {
    /// Which way packets go on it.
    pub direction: Direction,
    /// Queue index within its direction.
    pub index: u16,
    /// Region holding the ring header and its descriptors.
    pub region: u16,
    /// Byte offset of the ring header in that region.
    pub offset: u32,
    /// The ring has 2^log2_size slots.
    pub log2_size: u8,
}

impl RingSpec {
    /// Bytes the ring occupies: header and descriptors.
    pub fn bytes(&self) -> u64 {
        RING_HEADER_SIZE as u64
            + DESC_SIZE as u64 * (1u64 << self.log2_size.min(MAX_LOG2_RING_SIZE))
    }
}
