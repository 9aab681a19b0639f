//! Completing a TCP or UDP checksum that a sender left to an offload.

use podwire_wire::checksum;

use super::OffloadError;
use super::headers::{Layout, Transport, UDP_CHECKSUM_AT, checksum_field};
use crate::buffer::{BufferIndex, BufferPool, OffloadInfo};
use crate::nodes::ip_common::sum_from;

/// Fills in the checksum that packet `head` left to an offload (`offload.needs_csum`) as
/// a device does, over its whole chain: the sum of the bytes from `csum_start` to the end
/// of the packet, the checksum field included, which holds the pseudo-header sum
/// (CHECKSUM_PARTIAL), stored at `csum_start + csum_offset`. The packet then asks for
/// nothing (not for segmentation either: call this on a packet that does not).
///
/// The field must lie in the first buffer; the packet must end where its IP packet does
/// (`ip4-input` and `ip6-input` cut the padding).
pub fn complete_checksum(pool: &mut BufferPool, head: BufferIndex) -> Result<(), OffloadError> {
    let info = pool.meta(head).offload;
    let start = usize::from(info.csum_start);
    let at = start + usize::from(info.csum_offset);
    if at + 2 > pool.data(head).len() {
        return Err(OffloadError::ChecksumOutside {
            start: info.csum_start,
            offset: info.csum_offset,
        });
    }
    let sum = sum_from(pool, head, start);
    // The device cannot know the transport either: an offset of 6 is UDP's.
    let field = checksum_field(sum, usize::from(info.csum_offset) == UDP_CHECKSUM_AT);
    pool.data_mut(head)[at..at + 2].copy_from_slice(&field.to_be_bytes());
    pool.meta_mut(head).offload = OffloadInfo::default();
    Ok(())
}

/// Fills in the TCP or UDP checksum of an Ethernet frame carrying IPv4 or
/// IPv6, whatever its checksum field holds. Returns false, leaving the frame
/// as it was, when the frame is not TCP or UDP over IP or its headers do not
/// parse: such a frame is passed on and the data plane's own checks judge it.
pub fn complete_l4_checksum(frame: &mut [u8]) -> bool {
    let Ok(layout) = Layout::parse(frame, frame.len()) else {
        return false;
    };
    let pseudo = layout.pseudo_header(frame, layout.end - layout.l4);
    let at = layout.checksum_at();
    frame[at..at + 2].copy_from_slice(&pseudo.to_be_bytes());
    let sum = checksum::data(&frame[layout.l4..layout.end]);
    let field = checksum_field(sum, layout.transport == Transport::Udp);
    frame[at..at + 2].copy_from_slice(&field.to_be_bytes());
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn frame_v4_tcp() -> Vec<u8> {
        let mut out = Vec::new();
        PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(1000, 80, 7, 1024)
            .write(&mut out, b"hello, checksum")
            .unwrap();
        out
    }

    fn frame_v6_udp() -> Vec<u8> {
        let mut out = Vec::new();
        PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv6([0xfd; 16], [0xfe; 16], 64)
            .udp(53, 5353)
            .write(&mut out, b"payload")
            .unwrap();
        out
    }

    #[test]
    fn a_missing_tcp_checksum_over_ipv4_is_filled_in() {
        let good = frame_v4_tcp();
        let mut partial = good.clone();
        // What a sender leaves for the offload: any value, here zero.
        let at = 14 + 20 + 16;
        partial[at] = 0;
        partial[at + 1] = 0;
        assert!(complete_l4_checksum(&mut partial));
        assert_eq!(partial, good);
    }

    #[test]
    fn a_missing_udp_checksum_over_ipv6_is_filled_in() {
        let good = frame_v6_udp();
        let mut partial = good.clone();
        let at = 14 + 40 + 6;
        partial[at] = 0x12;
        partial[at + 1] = 0x34;
        assert!(complete_l4_checksum(&mut partial));
        assert_eq!(partial, good);
    }

    #[test]
    fn other_frames_are_left_alone() {
        let mut arp = vec![0xffu8; 14 + 28];
        arp[12] = 0x08;
        arp[13] = 0x06;
        let before = arp.clone();
        assert!(!complete_l4_checksum(&mut arp));
        assert_eq!(arp, before);
        assert!(!complete_l4_checksum(&mut [0u8; 10]));
        let mut cut = frame_v4_tcp();
        cut.truncate(14 + 20 + 10);
        assert!(!complete_l4_checksum(&mut cut));
    }
}
