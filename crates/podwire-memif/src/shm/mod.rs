//! Shared memory: regions (memfd mappings), the rings and descriptors in
//! them, and the client's layout of both.
//!
//! Memory the peer can write is never reached through `&`/`&mut` to its
//! bytes: fields are read and written with volatile accesses, `head`,
//! `tail` and `flags` are atomics, and packet data is copied with volatile
//! word copies (the rust-vmm `vm-memory` discipline). Every offset is
//! checked against the mapping, so no value a peer writes can make us touch
//! memory outside it.

#![deny(clippy::undocumented_unsafe_blocks)]

pub mod layout;
pub mod region;
pub mod regions;
pub mod ring;
mod volatile;

pub use layout::{BufferPlacement, Layout, LayoutError, SlotBuffers};
pub use region::{Region, RegionError, SealPolicy};
pub use regions::Regions;
pub use ring::{Desc, Ring, RingError};
