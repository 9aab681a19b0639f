//! A large segment from a pod to a pod of the other node: the tunnel takes no offloads, so
//! it is cut before it is encapsulated, and each segment arrives whole at the other pod;
//! over an uplink that cuts UDP trains, the encapsulated segments leave in trains.

use core::net::IpAddr;

use etherparse::{EtherType, Ethernet2Header, IpNumber, Ipv4Header, Ipv6Header, TcpHeader};

use super::*;
use crate::buffer::GsoKind;
use crate::interface::TxOffloads;
use crate::offload::segment_frame;

const SEGMENT: usize = 1300;
const BUFFERS: u32 = 512;

/// A TCP segment from pod A to pod B carrying `payload`, framed `macs`, by etherparse:
/// sequence number `seq`, IPv4 identification `ident`, FIN and PSH when `last`, CWR when
/// `first`. With `partial`, the checksum field holds the pseudo-header sum (as a sender
/// leaves it to an offload), else the checksum.
#[allow(clippy::too_many_arguments)]
fn tcp(
    v6: bool,
    macs: (EthernetAddress, EthernetAddress),
    ttl: u8,
    ident: u16,
    seq: u32,
    (first, last): (bool, bool),
    payload: &[u8],
    partial: bool,
) -> Vec<u8> {
    let mut out = Vec::new();
    let ether_type = if v6 { EtherType::IPV6 } else { EtherType::IPV4 };
    Ethernet2Header {
        source: macs.0.0,
        destination: macs.1.0,
        ether_type,
    }
    .write(&mut out)
    .unwrap();
    let mut t = TcpHeader::new(41000, 8080, seq, 1000);
    t.ack = true;
    t.acknowledgment_number = 5;
    t.cwr = first;
    t.fin = last;
    t.psh = last;
    let l4_len = t.header_len() + payload.len();
    let l4_at = out.len()
        + if v6 {
            let ip = Ipv6Header {
                traffic_class: 0,
                flow_label: Default::default(),
                payload_length: l4_len as u16,
                next_header: IpNumber::TCP,
                hop_limit: ttl,
                source: A.pod6.octets(),
                destination: B.pod6.octets(),
            };
            ip.write(&mut out).unwrap();
            t.checksum = t.calc_checksum_ipv6(&ip, payload).unwrap();
            40
        } else {
            let mut ip = Ipv4Header::new(
                l4_len as u16,
                ttl,
                IpNumber::TCP,
                A.pod4.octets(),
                B.pod4.octets(),
            )
            .unwrap();
            ip.identification = ident;
            ip.write(&mut out).unwrap();
            t.checksum = t.calc_checksum_ipv4(&ip, payload).unwrap();
            20
        };
    t.write(&mut out).unwrap();
    out.extend_from_slice(payload);
    if partial {
        let (src, dst): (IpAddr, IpAddr) = match v6 {
            true => (A.pod6.into(), B.pod6.into()),
            false => (A.pod4.into(), B.pod4.into()),
        };
        let pseudo = match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                podwire_wire::checksum::pseudo_header_v4(s, d, IpProtocol::TCP, l4_len as u32)
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                podwire_wire::checksum::pseudo_header_v6(s, d, IpProtocol::TCP, l4_len as u32)
            }
            _ => unreachable!("one family"),
        };
        out[l4_at + 16..l4_at + 18].copy_from_slice(&pseudo.to_be_bytes());
    }
    out
}

/// The segments of `SEGMENT` bytes a correct segmentation makes of `payload`.
fn segments(
    v6: bool,
    macs: (EthernetAddress, EthernetAddress),
    ttl: u8,
    payload: &[u8],
) -> Vec<Vec<u8>> {
    let n = payload.len().div_ceil(SEGMENT);
    payload
        .chunks(SEGMENT)
        .enumerate()
        .map(|(i, chunk)| {
            let seq = 7_000 + (i * SEGMENT) as u32;
            tcp(
                v6,
                macs,
                ttl,
                300 + i as u16,
                seq,
                (i == 0, i + 1 == n),
                chunk,
                false,
            )
        })
        .collect()
}

fn large_node(tables: Tables) -> Node {
    Node {
        engine: Engine::new(BUFFERS, None).unwrap(),
        tables,
        now: Instant::from_nanos(1_000_000_000),
    }
}

#[test]
fn a_large_segment_crosses_the_tunnel_as_encapsulated_segments() {
    for underlay in [Underlay::V4, Underlay::V6] {
        for v6 in [false, true] {
            let setup = Setup::new(underlay);
            let (mut a, mut b) = (
                large_node(setup.tables(&A, &B)),
                large_node(setup.tables(&B, &A)),
            );
            let payload: Vec<u8> = (0..20_000u32).map(|i| (i * 7 + i / 256) as u8).collect();
            send_large(&mut a, v6, &payload);
            let outer_frames = a.sent(UPLINK);
            let drops = a.engine.graph.drop_counts();
            let tunnel_macs = (
                inner_mac(underlay.endpoint(&A)),
                inner_mac(underlay.endpoint(&B)),
            );
            let expected = segments(v6, tunnel_macs, 63, &payload);
            let case = format!("{underlay:?} underlay, inner IPv{}", if v6 { 6 } else { 4 });
            assert_eq!(
                outer_frames.len(),
                expected.len(),
                "{case}: drops {drops:?}"
            );
            for (i, (frame, want)) in outer_frames.iter().zip(&expected).enumerate() {
                let o = outer(frame);
                assert_eq!(
                    (o.src, o.dst),
                    (underlay.endpoint(&A), underlay.endpoint(&B))
                );
                assert_eq!(o.dst_port, podwire_wire::vxlan::UDP_PORT);
                assert!(
                    underlay == Underlay::V4 || o.udp_checksum_valid,
                    "{case} {i}"
                );
                assert_eq!(o.inner, *want, "{case}: segment {i} in the tunnel");
            }
            assert_eq!(a.engine.pool.available(), BUFFERS as usize, "{case}");

            for frame in &outer_frames {
                b.receive(UPLINK, frame);
            }
            let delivered = b.sent(POD);
            let at_pod = segments(v6, (B.pod_if_mac, B.pod_mac), 62, &payload);
            assert_eq!(delivered, at_pod, "{case}: what pod B receives");
            assert_eq!(b.engine.pool.available(), BUFFERS as usize, "{case}");
        }
    }
}

#[test]
fn a_large_segment_the_tunnel_cannot_cut_is_dropped_and_counted() {
    let setup = Setup::new(Underlay::V4);
    let mut a = large_node(setup.tables(&A, &B));
    let frame = tcp(false, from(&A), 64, 1, 1, (true, true), &[9; 5000], true);
    let bi = a.engine.pool.alloc_from(&frame).unwrap();
    a.engine.pool.meta_mut(bi).offload = OffloadInfo {
        needs_csum: true,
        csum_start: 34,
        csum_offset: 16,
        gso: GsoKind::Tcp6,
        gso_size: 1000,
        hdr_len: 54,
    };
    a.engine.receive(POD, &[bi], a.now);
    a.engine.run(&a.tables, a.now);
    assert!(a.sent(UPLINK).is_empty());
    assert_eq!(a.drops("vxlan-encap", "gso-kind-mismatch"), 1);
    assert_eq!(a.engine.pool.available(), BUFFERS as usize);
}

/// What a pod's large segment asks for: TCP segmentation into `SEGMENT`-byte segments, the
/// checksum left partial.
fn large(v6: bool) -> OffloadInfo {
    OffloadInfo {
        needs_csum: true,
        csum_start: if v6 { 54 } else { 34 },
        csum_offset: 16,
        gso: if v6 { GsoKind::Tcp6 } else { GsoKind::Tcp4 },
        gso_size: SEGMENT as u16,
        hdr_len: if v6 { 74 } else { 54 },
    }
}

/// Has pod A send `payload` to pod B as one large segment and runs node `a`'s graph.
fn send_large(a: &mut Node, v6: bool, payload: &[u8]) {
    let frame = tcp(v6, from(&A), 64, 300, 7_000, (true, true), payload, true);
    let bi = a.engine.pool.alloc_from(&frame).unwrap();
    a.engine.pool.meta_mut(bi).offload = large(v6);
    a.engine.receive(POD, &[bi], a.now);
    a.engine.run(&a.tables, a.now);
}

#[test]
fn over_an_uplink_that_cuts_udp_a_large_segment_leaves_in_trains() {
    // 50 segments of 1300 bytes: their datagrams (1362 or 1382 bytes) exceed one IP
    // packet's 65 535 bytes, so they make two trains.
    let payload: Vec<u8> = (0..65_000u32).map(|i| (i * 13 + i / 512) as u8).collect();
    for underlay in [Underlay::V4, Underlay::V6] {
        for v6 in [false, true] {
            let case = format!("{underlay:?} underlay, inner IPv{}", if v6 { 6 } else { 4 });
            let mut setup = Setup::new(underlay);
            setup.uplink_offloads = TxOffloads {
                csum: true,
                tso4: true,
                tso6: true,
                uso: true,
            };
            let (mut a, mut b) = (
                large_node(setup.tables(&A, &B)),
                large_node(setup.tables(&B, &A)),
            );
            send_large(&mut a, v6, &payload);
            let trains = a.sent_asking(UPLINK);
            let drops = a.engine.graph.drop_counts();
            assert_eq!(trains.len(), 2, "{case}: drops {drops:?}");
            assert_eq!(a.engine.pool.available(), BUFFERS as usize, "{case}");

            let tunnel_macs = (
                inner_mac(underlay.endpoint(&A)),
                inner_mac(underlay.endpoint(&B)),
            );
            let expected = segments(v6, tunnel_macs, 63, &payload);
            let datagram = 8 + expected[0].len();
            let outer_ip = match underlay {
                Underlay::V4 => 20,
                Underlay::V6 => 40,
            };
            // The uplink's packet socket on node B receives each train whole and cuts it.
            let mut received = Vec::new();
            for (train, asks) in &trains {
                assert_eq!(
                    *asks,
                    OffloadInfo {
                        needs_csum: true,
                        csum_start: 14 + outer_ip,
                        csum_offset: 6,
                        gso: GsoKind::Udp,
                        gso_size: datagram as u16,
                        hdr_len: 14 + outer_ip + 8,
                    },
                    "{case}"
                );
                assert!(train.len() - 14 <= usize::from(u16::MAX), "{case}");
                segment_frame(&mut b.engine.pool, train, GsoKind::Udp, datagram, |bi| {
                    received.push(bi)
                })
                .unwrap();
            }
            assert_eq!(received.len(), expected.len(), "{case}");
            let mut ident = None;
            for (i, (&bi, want)) in received.iter().zip(&expected).enumerate() {
                let mut bytes = Vec::new();
                b.engine.pool.copy_to_vec(bi, &mut bytes);
                let o = outer(&bytes);
                assert_eq!(
                    (o.src, o.dst, o.dst_port),
                    (
                        underlay.endpoint(&A),
                        underlay.endpoint(&B),
                        podwire_wire::vxlan::UDP_PORT
                    ),
                    "{case} {i}"
                );
                assert_eq!(o.inner, *want, "{case}: segment {i} in the tunnel");
                if underlay == Underlay::V4 {
                    // Numbered on from one train to the next.
                    let id = u16::from_be_bytes([bytes[18], bytes[19]]);
                    if let Some(previous) = ident {
                        assert_eq!(id, u16::wrapping_add(previous, 1), "{case} {i}");
                    }
                    ident = Some(id);
                }
            }
            // Their checksums partial, as the packet socket hands them over: accepted.
            b.engine.receive(UPLINK, &received, b.now);
            b.engine.run(&b.tables, b.now);
            let at_pod = segments(v6, (B.pod_if_mac, B.pod_mac), 62, &payload);
            assert_eq!(b.sent(POD), at_pod, "{case}: what pod B receives");
            assert_eq!(b.engine.pool.available(), BUFFERS as usize, "{case}");
        }
    }
}
