//! Completing a TCP or UDP checksum that a sender left to an offload.

use super::OffloadError;
use super::headers::{UDP_CHECKSUM_AT, checksum_field};
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offload::headers::Layout;
    use crate::offload::partial_checksum;
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

    /// `good` with its transport checksum left to an offload as a sender on this host
    /// leaves it (the field holding the pseudo-header sum), completed by `complete_checksum`
    /// at the offsets `partial_checksum` finds.
    fn completed(good: &[u8], field_at: usize) -> Vec<u8> {
        let mut partial = good.to_vec();
        let asks = partial_checksum(&partial).expect("TCP or UDP over IP");
        assert_eq!(
            usize::from(asks.csum_start + asks.csum_offset),
            field_at,
            "the field"
        );
        let layout = Layout::parse(&partial, partial.len()).unwrap();
        let pseudo = layout.pseudo_header(&partial, layout.end - layout.l4);
        partial[field_at..field_at + 2].copy_from_slice(&pseudo.to_be_bytes());
        let mut pool = BufferPool::new(4);
        let bi = pool.alloc_from(&partial).unwrap();
        pool.meta_mut(bi).offload = asks;
        complete_checksum(&mut pool, bi).unwrap();
        assert!(!pool.meta(bi).offload.asks_for_work());
        let mut out = Vec::new();
        pool.copy_to_vec(bi, &mut out);
        out
    }

    #[test]
    fn a_missing_tcp_checksum_over_ipv4_is_filled_in() {
        let good = frame_v4_tcp();
        assert_eq!(completed(&good, 14 + 20 + 16), good);
    }

    #[test]
    fn a_missing_udp_checksum_over_ipv6_is_filled_in() {
        let good = frame_v6_udp();
        assert_eq!(completed(&good, 14 + 40 + 6), good);
    }

    #[test]
    fn other_frames_ask_for_no_checksum() {
        let mut arp = vec![0xffu8; 14 + 28];
        arp[12] = 0x08;
        arp[13] = 0x06;
        assert_eq!(partial_checksum(&arp), None);
        assert_eq!(partial_checksum(&[0u8; 10]), None);
        let mut cut = frame_v4_tcp();
        cut.truncate(14 + 20 + 10);
        assert_eq!(partial_checksum(&cut), None);
    }
}
