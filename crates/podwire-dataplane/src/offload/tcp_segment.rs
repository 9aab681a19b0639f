//! Software TCP segmentation (what a NIC's TSO does) of a contiguous frame, as a
//! receive ring holds it: one large TCP segment in an Ethernet frame becomes several,
//! each carrying at most `mss` bytes of payload, with headers a receiver accepts (see
//! `Segmentation::write` for what each segment's headers say) and its TCP checksum
//! computed in full.

use podwire_wire::checksum;

use super::OffloadError;
use super::headers::{Layout, Segmentation, Transport, checksum_field};

/// Cuts the TCP segment in `frame` into segments of at most `mss` payload
/// bytes and hands each, a whole Ethernet frame, to `emit`. Returns how many
/// it made. A frame whose payload already fits is handed on as one segment
/// (its checksum completed).
pub fn segment_tcp(
    frame: &[u8],
    mss: usize,
    mut emit: impl FnMut(&[u8]),
) -> Result<usize, OffloadError> {
    let layout = Layout::parse(frame, frame.len())?;
    if layout.transport != Transport::Tcp {
        return Err(OffloadError::NotTcpOrUdp);
    }
    let plan = Segmentation::new(layout, frame, mss)?;
    let headers = &frame[..layout.payload];
    let payload = &frame[layout.payload..layout.end];
    let mut seg = Vec::with_capacity(layout.payload + mss.min(payload.len()));
    for i in 0..plan.count() {
        let start = plan.segment_start(i);
        seg.clear();
        seg.extend_from_slice(headers);
        seg.extend_from_slice(&payload[start..start + plan.segment_len(i)]);
        plan.write(&mut seg, i);
        let sum = checksum::data(&seg[layout.l4..]);
        let at = layout.checksum_at();
        seg[at..at + 2].copy_from_slice(&checksum_field(sum, false).to_be_bytes());
        emit(&seg);
    }
    Ok(plan.count())
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
    use podwire_wire::ipv4;

    const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 2];

    fn payload(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 + 7) as u8).collect()
    }

    /// A large segment as a TSO sender hands it over: headers for the
    /// whole payload (etherparse fills valid checksums; segmenting must
    /// make new ones anyway).
    fn big_v4(len: usize, fin_psh: bool) -> Vec<u8> {
        let mut b = PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 80, 1_000_000, 512)
            .ack(77)
            .cwr();
        if fin_psh {
            b = b.fin().psh();
        }
        let mut out = Vec::new();
        b.write(&mut out, &payload(len)).unwrap();
        out
    }

    fn big_v6(len: usize) -> Vec<u8> {
        let mut out = Vec::new();
        PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ipv6([0xfd; 16], [0xfe; 16], 64)
            .tcp(40000, 80, u32::MAX - 100, 512)
            .ack(77)
            .psh()
            .write(&mut out, &payload(len))
            .unwrap();
        out
    }

    /// Segments `frame` and checks every segment independently with
    /// etherparse: checksums valid, sequence numbers contiguous, payload
    /// the original's in order, flags where they belong.
    fn check(frame: &[u8], mss: usize, v6: bool) -> Vec<Vec<u8>> {
        let mut segs = Vec::new();
        let n = segment_tcp(frame, mss, |s| segs.push(s.to_vec())).unwrap();
        assert_eq!(n, segs.len());
        let original = SlicedPacket::from_ethernet(frame).unwrap();
        let Some(TransportSlice::Tcp(orig_tcp)) = original.transport else {
            panic!("test frame is TCP")
        };
        let mut joined = Vec::new();
        for (i, s) in segs.iter().enumerate() {
            let p = SlicedPacket::from_ethernet(s).unwrap();
            let Some(TransportSlice::Tcp(t)) = p.transport else {
                panic!("segment {i} is not TCP")
            };
            assert!(t.payload().len() <= mss, "segment {i} over the MSS");
            assert_eq!(
                t.sequence_number(),
                orig_tcp.sequence_number().wrapping_add(joined.len() as u32),
                "segment {i} sequence number"
            );
            let last = i + 1 == segs.len();
            assert_eq!(t.fin(), orig_tcp.fin() && last, "FIN only on the last");
            assert_eq!(t.psh(), orig_tcp.psh() && last, "PSH only on the last");
            assert_eq!(t.cwr(), orig_tcp.cwr() && i == 0, "CWR only on the first");
            assert_eq!(t.ack(), orig_tcp.ack());
            assert_eq!(t.acknowledgment_number(), orig_tcp.acknowledgment_number());
            match p.net {
                Some(NetSlice::Ipv4(ip)) => {
                    assert!(!v6);
                    let h = ip.header();
                    assert_eq!(
                        h.to_header().calc_header_checksum(),
                        h.header_checksum(),
                        "segment {i} IPv4 header checksum"
                    );
                    assert_eq!(usize::from(h.total_len()), s.len() - 14);
                    let expected = t.calc_checksum_ipv4(h.source(), h.destination()).unwrap();
                    assert_eq!(t.checksum(), expected, "segment {i} TCP checksum");
                }
                Some(NetSlice::Ipv6(ip)) => {
                    assert!(v6);
                    assert_eq!(usize::from(ip.header().payload_length()), s.len() - 54);
                    let h = ip.header();
                    let expected = t.calc_checksum_ipv6(h.source(), h.destination()).unwrap();
                    assert_eq!(t.checksum(), expected, "segment {i} TCP checksum");
                }
                _ => panic!("segment {i} has no IP header"),
            }
            joined.extend_from_slice(t.payload());
        }
        assert_eq!(joined, orig_tcp.payload(), "payload in order, nothing lost");
        segs
    }

    #[test]
    fn a_64k_ipv4_segment_becomes_mss_sized_ones() {
        let segs = check(&big_v4(65_000, true), 1448, false);
        assert_eq!(segs.len(), 65_000usize.div_ceil(1448));
    }

    #[test]
    fn odd_sizes_and_a_short_final_segment() {
        for (len, mss) in [
            (1, 1448),
            (1448, 1448),
            (1449, 1448),
            (5000, 1000),
            (4097, 7),
        ] {
            check(&big_v4(len, true), mss, false);
        }
    }

    #[test]
    fn ipv4_identification_increments_per_segment() {
        let frame = big_v4(3000, false);
        let mut ids = Vec::new();
        segment_tcp(&frame, 1000, |s| {
            ids.push(ipv4::Packet::new_checked(&s[14..]).unwrap().ident());
        })
        .unwrap();
        let first = ids[0];
        assert_eq!(ids, [first, first.wrapping_add(1), first.wrapping_add(2)]);
    }

    #[test]
    fn ipv6_segments_with_a_wrapping_sequence_number() {
        check(&big_v6(10_000), 1440, true);
    }

    #[test]
    fn ipv4_options_are_kept_on_every_segment() {
        let mut out = Vec::new();
        let mut ip = etherparse::Ipv4Header::new(
            0,
            64,
            etherparse::IpNumber::TCP,
            [10, 0, 0, 1],
            [10, 0, 0, 2],
        )
        .unwrap();
        ip.options = [1u8, 1, 1, 0].as_slice().try_into().unwrap();
        PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ip(etherparse::IpHeaders::Ipv4(ip, Default::default()))
            .tcp(1, 2, 3, 4)
            .write(&mut out, &payload(3000))
            .unwrap();
        let segs = check(&out, 1000, false);
        assert!(
            segs.iter().all(|s| s[14] & 0x0f == 6),
            "IHL 6 on every segment"
        );
    }

    #[test]
    fn what_is_not_tcp_is_refused() {
        let mut udp = Vec::new();
        PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(1, 2)
            .write(&mut udp, &[0; 100])
            .unwrap();
        assert_eq!(
            segment_tcp(&udp, 10, |_| {}),
            Err(OffloadError::NotTcpOrUdp)
        );
        assert_eq!(
            segment_tcp(&[0u8; 20], 10, |_| {}),
            Err(OffloadError::NotTcpOrUdp)
        );
        assert_eq!(
            segment_tcp(&big_v4(100, false), 0, |_| {}),
            Err(OffloadError::ZeroSize)
        );
        let mut cut = big_v4(100, false);
        cut.truncate(14 + 20 + 10);
        assert_eq!(segment_tcp(&cut, 10, |_| {}), Err(OffloadError::Truncated));
    }
}
