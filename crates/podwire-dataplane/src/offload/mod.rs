//! Work a device left to be done, done in software.
//!
//! A frame a kernel interface hands over may carry work its sender left to
//! an offload that never happened on the way: a TCP or UDP checksum not
//! filled in (a veth performs no checksum offload; AF_PACKET reports this as
//! `TP_STATUS_CSUMNOTREADY`, the virtio-net header as `NEEDS_CSUM`), or a
//! TCP segment of up to 64 KiB that a NIC was to cut into MTU-sized ones
//! (TSO/GSO; GRO makes the same on receive). Before such a frame reaches a
//! device that cannot finish the work, it is finished here.

mod checksum;
mod tcp_segment;

pub use checksum::complete_l4_checksum;
pub use tcp_segment::{SegmentError, segment_tcp};
