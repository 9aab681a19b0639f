//! Software segmentation and checksum offload, checked against packets built
//! independently with etherparse: every segment's headers and payload.
//!
//! - `segment`: `offload::prepare` on buffer chains, directly;
//! - `graph`: large segments routed through a whole engine to interfaces that
//!   take them, or not.

mod graph;
mod packets;
mod segment;
