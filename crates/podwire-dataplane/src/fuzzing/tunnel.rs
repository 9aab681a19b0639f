//! Fuzzing the ends of VXLAN tunnels with what the underlay brings: datagrams to the
//! tunnels' port whose VXLAN header and inner frame are the fuzzer's, wrapped in outer
//! headers that get them to `vxlan-input` (or, as the input chooses, not quite: from a
//! stranger, with no UDP checksum). What a datagram decapsulates to is routed on, to the
//! pod, back into a tunnel (encapsulated again), or dropped; the invariants of
//! [`super::check_frames`] are checked after every run.
//!
//! # The switch
//!
//! | index | interface | what it is |
//! |---|---|---|
//! | 0 | `uplink` | routed, 192.168.10.1/24 and fd00:10::1/64, MTU 1400 |
//! | 1 | `pod` | a pod, 10.1.0.10 and fd00:1::a, its MAC static |
//! | 2 | `vxlan4` | a tunnel from 192.168.10.1 to its peer 192.168.10.2 (MAC static), VNI 4096 |
//! | 3 | `vxlan6` | a tunnel from fd00:10::1 to its peer fd00:10::2 (MAC to be learned), VNI 4096 |
//!
//! 10.2.0.0/16 is routed through `vxlan4`, 10.3.0.0/16 and fd00:3::/64 through `vxlan6`.
//!
//! # Input format
//!
//! Datagrams one after the other: a selector byte, two bytes of length (big-endian), then
//! the UDP payload: the VXLAN header and the inner frame. The last may be shorter than its
//! length says.
//!
//! | selector bit | meaning |
//! |---|---|
//! | 0 | over IPv6 (to `vxlan6`), else over IPv4 (to `vxlan4`) |
//! | 1 | from a stranger, not the tunnel's peer |
//! | 2 | the UDP checksum left zero, else computed |
//! | 3 | the inner frame's destination MAC set to the tunnel's (else as given) |
//! | 4 | the inner frame's IPv4 header and ICMP checksums filled in |
//! | 5 | the graph runs and sends after this datagram, else it waits for the next |

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

use podwire_wire::ethernet::{EtherType, EthernetAddress};
use podwire_wire::ip::IpProtocol;
use podwire_wire::{checksum, ipv4, ipv6, udp, vxlan};

use super::{Fill, Outcome, Violation, Worker, checksums};
use crate::interface::{IfIndex, InterfaceConfig, VxlanTunnel};
use crate::nodes::vxlan::{OVERHEAD4, OVERHEAD6, inner_mac};
use crate::tables::{Adjacency, Tables, TablesBuilder};

/// The uplink.
pub const UPLINK: IfIndex = IfIndex(0);
/// The pod's interface.
pub const POD: IfIndex = IfIndex(1);
/// The tunnel over IPv4.
pub const TUNNEL4: IfIndex = IfIndex(2);
/// The tunnel over IPv6.
pub const TUNNEL6: IfIndex = IfIndex(3);

/// The uplink's MTU.
pub const UPLINK_MTU: u16 = 1400;
/// The uplink's MAC.
pub const UPLINK_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
/// The switch's end of the tunnel over IPv4.
pub const LOCAL4: Ipv4Addr = Ipv4Addr::new(192, 168, 10, 1);
/// The switch's end of the tunnel over IPv6.
pub const LOCAL6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x10, 0, 0, 0, 0, 0, 1);
/// The other end of the tunnel over IPv4.
pub const PEER4: Ipv4Addr = Ipv4Addr::new(192, 168, 10, 2);
/// The other end of the tunnel over IPv6.
pub const PEER6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x10, 0, 0, 0, 0, 0, 2);
/// The IPv4 peer's MAC.
pub const PEER_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 1, 2]);
/// A host on the uplink that no tunnel knows.
pub const STRANGER4: Ipv4Addr = Ipv4Addr::new(192, 168, 10, 9);
/// Its IPv6 address.
pub const STRANGER6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x10, 0, 0, 0, 0, 0, 9);
/// The tunnels' VNI.
pub const VNI: u32 = 4096;

/// The pod's addresses and MAC.
pub const POD_IP4: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 10);
/// The pod's IPv6 address.
pub const POD_IP6: Ipv6Addr = Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 0xa);
/// The pod's MAC.
pub const POD_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0xa, 1]);

/// The tables of the switch described in the module documentation, built once.
pub fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let mut b = TablesBuilder::new();
        // The prefixes are constants, all valid: only a bug here fails.
        build(&mut b).expect("the tunnel fuzzing network's prefixes are valid");
        b.build(1)
    })
}

fn build(b: &mut TablesBuilder) -> Result<(), crate::fib::FibError> {
    let mut uplink = InterfaceConfig::l3("uplink", UPLINK_MAC);
    uplink.mtu = UPLINK_MTU;
    uplink.ip4.push((LOCAL4, 24));
    uplink.ip6.push((LOCAL6, 64));
    b.add_interface(uplink)?;
    let mut pod = InterfaceConfig::l3("pod", EthernetAddress([2, 0, 0, 0, 0, 2]));
    pod.ip4.push((Ipv4Addr::new(169, 254, 1, 1), 32));
    pod.ip6
        .push((Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1), 64));
    pod.source_check = true;
    b.add_interface(pod)?;
    let tunnels = [
        ("vxlan4", IpAddr::V4(LOCAL4), IpAddr::V4(PEER4), OVERHEAD4),
        ("vxlan6", IpAddr::V6(LOCAL6), IpAddr::V6(PEER6), OVERHEAD6),
    ];
    for (name, local, peer, overhead) in tunnels {
        let vxlan = VxlanTunnel {
            vni: VNI,
            local,
            port: vxlan::UDP_PORT,
            peers: vec![peer],
        };
        b.add_interface(InterfaceConfig::vxlan(
            name,
            vxlan,
            UPLINK_MTU - overhead as u16,
        ))?;
    }

    let to_pod = Adjacency::Attached { interface: POD };
    b.add_route4(POD_IP4, 32, to_pod)?;
    b.add_route6(POD_IP6, 128, to_pod)?;
    b.add_neighbor(POD, POD_IP4.into(), POD_MAC);
    b.add_neighbor(POD, POD_IP6.into(), POD_MAC);
    let through = |interface, remote| Adjacency::Tunnel { interface, remote };
    b.add_route4(
        Ipv4Addr::new(10, 2, 0, 0),
        16,
        through(TUNNEL4, PEER4.into()),
    )?;
    b.add_route4(
        Ipv4Addr::new(10, 3, 0, 0),
        16,
        through(TUNNEL6, PEER6.into()),
    )?;
    b.add_route6(
        Ipv6Addr::new(0xfd00, 3, 0, 0, 0, 0, 0, 0),
        64,
        through(TUNNEL6, PEER6.into()),
    )?;
    b.add_neighbor(UPLINK, PEER4.into(), PEER_MAC);
    Ok(())
}

/// One datagram of the input.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Datagram<'a> {
    /// The selector byte (see the module documentation).
    pub selector: u8,
    /// The UDP payload: the VXLAN header and the inner frame.
    pub payload: &'a [u8],
}

/// Selector bits.
const OVER_IPV6: u8 = 0x01;
const FROM_STRANGER: u8 = 0x02;
const NO_CHECKSUM: u8 = 0x04;
const TO_TUNNEL_MAC: u8 = 0x08;
const FILL_INNER: u8 = 0x10;
const RUN: u8 = 0x20;

impl<'a> Datagram<'a> {
    /// The datagram at the start of `data` and the bytes after it; `None` when `data`
    /// does not hold a whole head.
    pub fn decode(data: &'a [u8]) -> Option<(Datagram<'a>, &'a [u8])> {
        let (&[selector, len_hi, len_lo], rest) = data.split_first_chunk::<3>()?;
        let len = usize::from(u16::from_be_bytes([len_hi, len_lo])).min(rest.len());
        let (payload, rest) = rest.split_at(len);
        Some((Datagram { selector, payload }, rest))
    }

    /// Appends the datagram to `out`, as [`Datagram::decode`] reads it (a payload longer
    /// than 65535 bytes is cut to that).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let len = u16::try_from(self.payload.len()).unwrap_or(u16::MAX);
        out.push(self.selector);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&self.payload[..usize::from(len)]);
    }

    /// Writes the whole frame, Ethernet header first, to `out` (cleared first).
    fn write_frame(&self, out: &mut Vec<u8>) {
        let v6 = self.selector & OVER_IPV6 != 0;
        let stranger = self.selector & FROM_STRANGER != 0;
        let (src, dst, tunnel_mac): (IpAddr, IpAddr, _) = match (v6, stranger) {
            (false, false) => (PEER4.into(), LOCAL4.into(), inner_mac(LOCAL4.into())),
            (false, true) => (STRANGER4.into(), LOCAL4.into(), inner_mac(LOCAL4.into())),
            (true, false) => (PEER6.into(), LOCAL6.into(), inner_mac(LOCAL6.into())),
            (true, true) => (STRANGER6.into(), LOCAL6.into(), inner_mac(LOCAL6.into())),
        };
        let ip_len = if v6 {
            ipv6::HEADER_LEN
        } else {
            ipv4::HEADER_LEN
        };
        // A datagram that does not fit an IP packet is cut to one that does.
        let max_payload = usize::from(u16::MAX) - ip_len - udp::HEADER_LEN;
        let payload = &self.payload[..self.payload.len().min(max_payload)];
        let udp_len = udp::HEADER_LEN + payload.len();
        out.clear();
        out.extend_from_slice(&UPLINK_MAC.0);
        out.extend_from_slice(&PEER_MAC.0);
        let ethertype = if v6 { EtherType::IPV6 } else { EtherType::IPV4 };
        out.extend_from_slice(&ethertype.0.to_be_bytes());
        let ip_at = out.len();
        out.resize(ip_at + ip_len + udp::HEADER_LEN, 0);
        out.extend_from_slice(payload);
        let inner_at = ip_at + ip_len + udp::HEADER_LEN + vxlan::HEADER_LEN;
        if let Some(inner) = out.get_mut(inner_at..) {
            if self.selector & TO_TUNNEL_MAC != 0
                && let Some(dst_mac) = inner.get_mut(..6)
            {
                dst_mac.copy_from_slice(&tunnel_mac.0);
            }
            if self.selector & FILL_INNER != 0 {
                let fill = Fill {
                    ip4_header: true,
                    icmp: true,
                };
                checksums::fill_checksums(inner, fill);
            }
        }
        let (ip, rest) = out[ip_at..].split_at_mut(ip_len);
        let mut datagram = udp::Packet::new_unchecked(rest);
        datagram.set_src_port(50000);
        datagram.set_dst_port(vxlan::UDP_PORT);
        datagram.set_len(udp_len as u16);
        let pseudo = match (src, dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                let repr = ipv4::Ipv4Repr {
                    src_addr: src,
                    dst_addr: dst,
                    protocol: IpProtocol::UDP,
                    payload_len: udp_len,
                    ttl: 64,
                    dscp_ecn: 0,
                };
                // The lengths were bounded above: emit cannot fail.
                let _ = repr.emit(&mut ipv4::Packet::new_unchecked(ip));
                checksum::pseudo_header_v4(src, dst, IpProtocol::UDP, udp_len as u32)
            }
            (IpAddr::V6(src), IpAddr::V6(dst)) => {
                let repr = ipv6::Ipv6Repr {
                    src_addr: src,
                    dst_addr: dst,
                    next_header: IpProtocol::UDP,
                    payload_len: udp_len,
                    hop_limit: 64,
                    traffic_class: 0,
                };
                let _ = repr.emit(&mut ipv6::Packet::new_unchecked(ip));
                checksum::pseudo_header_v6(src, dst, IpProtocol::UDP, udp_len as u32)
            }
            _ => return,
        };
        if self.selector & NO_CHECKSUM == 0 {
            let sum = checksum::combine(&[pseudo, checksum::data(datagram.into_inner())]);
            let field = match checksum::finish(sum) {
                0 => 0xffff,
                c => c,
            };
            udp::Packet::new_unchecked(&mut out[ip_at + ip_len..]).set_checksum(field);
        }
    }
}

/// Runs `data` (see the [module](self) documentation) through the graph.
///
/// # Panics
/// When an invariant breaks, or the graph panics: what a fuzzer looks for.
pub fn run_datagrams(data: &[u8]) {
    if let Err(violation) = check_datagrams(data) {
        panic!("{violation}");
    }
}

/// Runs `data` through the graph and says what came out, or which invariant broke first.
pub fn check_datagrams(data: &[u8]) -> Result<Outcome, Violation> {
    let mut worker = Worker::new(tables())?;
    let mut rest = data;
    while let Some((datagram, after)) = Datagram::decode(rest) {
        rest = after;
        datagram.write_frame(&mut worker.frame);
        worker.receive_frame(UPLINK, false);
        if datagram.selector & RUN != 0 {
            worker.run()?;
            worker.send()?;
        }
    }
    worker.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use podwire_wire::ethernet::HEADER_LEN as ETHERNET;
    use proptest::prelude::*;

    /// A VXLAN header of VNI `vni` with the I flag, and an inner frame.
    fn payload(vni: u32, inner: &[u8]) -> Vec<u8> {
        let mut out = vec![0x08, 0, 0, 0];
        out.extend_from_slice(&(vni << 8).to_be_bytes());
        out.extend_from_slice(inner);
        out
    }

    /// An inner IPv4 UDP frame to `dst`, from a pod behind the peer.
    fn inner_udp4(dst: Ipv4Addr) -> Vec<u8> {
        let mut frame = vec![0; ETHERNET + 28];
        frame[12..14].copy_from_slice(&EtherType::IPV4.0.to_be_bytes());
        let repr = ipv4::Ipv4Repr {
            src_addr: Ipv4Addr::new(10, 2, 0, 5),
            dst_addr: dst,
            protocol: IpProtocol::UDP,
            payload_len: 8,
            ttl: 64,
            dscp_ecn: 0,
        };
        repr.emit(&mut ipv4::Packet::new_unchecked(&mut frame[ETHERNET..]))
            .unwrap();
        frame[ETHERNET + 20..].copy_from_slice(&[0x13, 0x88, 0x00, 0x35, 0, 8, 0, 0]);
        frame
    }

    fn input(datagrams: &[Datagram<'_>]) -> Vec<u8> {
        let mut out = Vec::new();
        for d in datagrams {
            d.encode(&mut out);
        }
        out
    }

    #[test]
    fn a_well_formed_datagram_reaches_the_pod_and_one_from_a_stranger_does_not() {
        let body = payload(VNI, &inner_udp4(POD_IP4));
        let to_pod = Datagram {
            selector: TO_TUNNEL_MAC | RUN,
            payload: &body,
        };
        let outcome = check_datagrams(&input(&[to_pod])).unwrap();
        assert_eq!(outcome.sent.len(), 1, "{:?}", outcome.drops);
        assert_eq!(outcome.sent[0].interface, POD);

        let stranger = Datagram {
            selector: to_pod.selector | FROM_STRANGER,
            ..to_pod
        };
        let outcome = check_datagrams(&input(&[stranger])).unwrap();
        assert!(outcome.sent.is_empty());
        assert_eq!(outcome.drops[0].reason.name, "vxlan-unknown-peer");
    }

    #[test]
    fn a_datagram_for_a_remote_pod_is_encapsulated_again() {
        let body = payload(VNI, &inner_udp4(Ipv4Addr::new(10, 2, 0, 7)));
        let hairpin = Datagram {
            selector: TO_TUNNEL_MAC | RUN,
            payload: &body,
        };
        let outcome = check_datagrams(&input(&[hairpin])).unwrap();
        assert_eq!(outcome.sent.len(), 1, "{:?}", outcome.drops);
        let sent = &outcome.sent[0];
        assert_eq!(sent.interface, UPLINK);
        assert_eq!(sent.frame.len(), ETHERNET + OVERHEAD4 + 28);
    }

    #[test]
    fn records_round_trip() {
        let datagrams = [
            Datagram {
                selector: 0x3f,
                payload: &[1, 2, 3],
            },
            Datagram {
                selector: 0,
                payload: &[],
            },
        ];
        let data = input(&datagrams);
        let (first, rest) = Datagram::decode(&data).unwrap();
        let (second, rest) = Datagram::decode(rest).unwrap();
        assert_eq!([first, second], datagrams);
        assert!(rest.is_empty());
    }

    proptest! {
        #[test]
        fn any_datagrams_keep_the_invariants(
            datagrams in proptest::collection::vec(
                (any::<u8>(), prop_oneof![
                    Just(VNI),
                    any::<u32>(),
                ], proptest::collection::vec(any::<u8>(), 0..200)),
                1..6,
            ),
        ) {
            let bodies: Vec<(u8, Vec<u8>)> = datagrams
                .into_iter()
                .map(|(selector, vni, inner)| (selector, payload(vni, &inner)))
                .collect();
            let data = input(&bodies
                .iter()
                .map(|(selector, body)| Datagram { selector: *selector, payload: body })
                .collect::<Vec<_>>());
            check_datagrams(&data).map_err(|v| TestCaseError::fail(v.to_string()))?;
        }
    }
}
