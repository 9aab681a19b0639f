//! Software TCP segmentation (what a NIC's TSO does): one large TCP segment
//! in an Ethernet frame becomes several, each carrying at most `mss` bytes
//! of payload, with headers a receiver accepts.
//!
//! Per segment: the IPv4 total length, identification (incremented, as
//! Linux's GSO does) and header checksum, or the IPv6 payload length; the TCP
//! sequence number advanced by the payload before it; FIN and PSH only on the
//! last segment, CWR only on the first; the TCP checksum computed in full.

use podwire_wire::ethernet::{self, EtherType};
use podwire_wire::ip::IpProtocol;
use podwire_wire::{ipv4, ipv6, tcp};

/// Why a frame could not be segmented.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SegmentError {
    /// The headers do not parse: not Ethernet + IPv4/IPv6 + TCP.
    #[error("not a TCP segment over IPv4 or IPv6 in an Ethernet frame: cannot segment it")]
    NotTcp,
    /// IPv6 extension headers are in the way (the TCP header does not
    /// follow the fixed header).
    #[error("IPv6 extension headers before TCP: segmentation of such frames is not supported")]
    ExtensionHeaders,
    /// A segment size of zero cannot carry anything.
    #[error("segment size 0: the sender's offload metadata is broken")]
    ZeroSize,
}

/// Where the headers of a frame end, and what they are.
struct Headers {
    l3: usize,
    l4: usize,
    payload: usize,
    end: usize,
    v6: bool,
}

fn headers(frame: &[u8]) -> Result<Headers, SegmentError> {
    let eth = ethernet::Frame::new_checked(frame).map_err(|_| SegmentError::NotTcp)?;
    let l3 = ethernet::HEADER_LEN;
    let (l4, end, v6) = match eth.ethertype() {
        EtherType::IPV4 => {
            let ip = ipv4::Packet::new_checked(&frame[l3..]).map_err(|_| SegmentError::NotTcp)?;
            if ip.protocol() != IpProtocol::TCP || ip.is_fragment() {
                return Err(SegmentError::NotTcp);
            }
            (
                l3 + usize::from(ip.header_len()),
                l3 + usize::from(ip.total_len()),
                false,
            )
        }
        EtherType::IPV6 => {
            let ip = ipv6::Packet::new_checked(&frame[l3..]).map_err(|_| SegmentError::NotTcp)?;
            if ip.next_header() != IpProtocol::TCP {
                return Err(SegmentError::ExtensionHeaders);
            }
            (l3 + 40, l3 + 40 + usize::from(ip.payload_len()), true)
        }
        _ => return Err(SegmentError::NotTcp),
    };
    let t = tcp::Packet::new_checked(&frame[l4..end]).map_err(|_| SegmentError::NotTcp)?;
    Ok(Headers {
        l3,
        l4,
        payload: l4 + usize::from(t.header_len()),
        end,
        v6,
    })
}

/// Cuts the TCP segment in `frame` into segments of at most `mss` payload
/// bytes and hands each, a whole Ethernet frame, to `emit`. Returns how many
/// it made. A frame whose payload already fits is handed on unchanged
/// (its checksum completed).
pub fn segment_tcp(
    frame: &[u8],
    mss: usize,
    mut emit: impl FnMut(&[u8]),
) -> Result<usize, SegmentError> {
    if mss == 0 {
        return Err(SegmentError::ZeroSize);
    }
    let h = headers(frame)?;
    let payload = &frame[h.payload..h.end];
    let chunks = payload.len().div_ceil(mss).max(1);
    let mut seg = Vec::with_capacity(h.payload + mss.min(payload.len()));
    let (seq, ident, flags) = {
        let t = tcp::Packet::new_unchecked(&frame[h.l4..h.end]);
        let ident = (!h.v6).then(|| ipv4::Packet::new_unchecked(&frame[h.l3..h.end]).ident());
        (t.seq_number(), ident.unwrap_or(0), t.flags())
    };
    for i in 0..chunks {
        let data = payload.chunks(mss).nth(i).unwrap_or(&[]);
        seg.clear();
        seg.extend_from_slice(&frame[..h.payload]);
        seg.extend_from_slice(data);
        let (first, last) = (i == 0, i + 1 == chunks);
        let l4_len = h.payload - h.l4 + data.len();
        let (ip, l4) = seg.split_at_mut(h.l4);
        let mut t = tcp::Packet::new_unchecked(l4);
        t.set_seq_number(seq.wrapping_add((i * mss) as u32));
        t.set_flags(flags);
        if !last {
            t.set_fin(false);
            t.set_psh(false);
        }
        if !first {
            t.set_cwr(false);
        }
        if h.v6 {
            let mut ip6 = ipv6::Packet::new_unchecked(&mut ip[h.l3..]);
            ip6.set_payload_len(l4_len as u16);
            let (src, dst) = (ip6.src_addr(), ip6.dst_addr());
            t.fill_checksum_v6(src, dst);
        } else {
            let mut ip4 = ipv4::Packet::new_unchecked(&mut ip[h.l3..]);
            ip4.set_total_len((h.l4 - h.l3 + l4_len) as u16);
            ip4.set_ident(ident.wrapping_add(i as u16));
            ip4.fill_checksum();
            let (src, dst) = (ip4.src_addr(), ip4.dst_addr());
            t.fill_checksum_v4(src, dst);
        }
        emit(&seg);
    }
    Ok(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};

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
        assert_eq!(segment_tcp(&udp, 10, |_| {}), Err(SegmentError::NotTcp));
        assert_eq!(
            segment_tcp(&[0u8; 20], 10, |_| {}),
            Err(SegmentError::NotTcp)
        );
        assert_eq!(
            segment_tcp(&big_v4(100, false), 0, |_| {}),
            Err(SegmentError::ZeroSize)
        );
        let mut cut = big_v4(100, false);
        cut.truncate(14 + 20 + 10);
        assert_eq!(segment_tcp(&cut, 10, |_| {}), Err(SegmentError::NotTcp));
    }
}
