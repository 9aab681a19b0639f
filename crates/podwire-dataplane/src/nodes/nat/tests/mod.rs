//! NAT through the nodes, checked with etherparse: Services (DNAT, masquerade, REJECT, DROP),
//! egress masquerade, ICMP errors, sessions over time, what passes untouched. This module
//! is the test network and what reads the packets it sends (the policy nodes' tests use it
//! too).

mod icmp_errors;
mod masquerade;
mod robustness;
mod services;
mod sessions;
mod untouched;

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use etherparse::{
    Icmpv4Header, Icmpv4Type, Icmpv6Type, IpNumber, Ipv4HeaderSlice, Ipv6HeaderSlice, NetSlice,
    PacketBuilder, SlicedPacket, TransportSlice, icmpv4, icmpv6,
};
use podwire_wire::ethernet::EthernetAddress;
use podwire_wire::{checksum, ip::IpProtocol, sctp};
use proptest::prelude::*;

use super::packet::{Parsed, parse};
use super::rewrite::{translate, translate_error};
use super::snat::PORTS;
use crate::interface::{IfIndex, InterfaceConfig};
use crate::nat::flow::{SCTP, TCP, UDP};
use crate::nat::housekeeping::NatHousekeeping;
use crate::nat::service::{
    EndpointSet, Frontend, FrontendKey, NodeNat, Scope, ServicePortId, ServiceTable,
};
use crate::nat::session::{SessionConfig, SessionTable};
use crate::nodes::ip_common::harness::frames::{from_pod, from_router, raw, refill_ip4_checksum};
use crate::nodes::ip_common::harness::*;
use crate::tables::{Adjacency, Tables, TablesBuilder};

/// The second pod: the Services' endpoint.
pub(crate) const POD_B_IF: IfIndex = IfIndex(2);
const POD_B_IF_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 0xc0]);
pub(crate) const POD_B_MAC: EthernetAddress = EthernetAddress([0x0a, 0, 0, 0, 0, 3]);
pub(crate) const POD_B_IP4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);
pub(crate) const POD_B_IP6: Ipv6Addr = Ipv6Addr::new(0xfd10, 0, 0, 0, 0, 0, 0, 3);
/// A ClusterIP with TCP 80, UDP 53 and SCTP 9000, all to pod B.
pub(crate) const VIP4: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);
pub(crate) const VIP6: Ipv6Addr = Ipv6Addr::new(0xfd96, 0, 0, 0, 0, 0, 0, 0x10);
/// A ClusterIP of a Service without endpoints.
const EMPTY4: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 20);
const EMPTY6: Ipv6Addr = Ipv6Addr::new(0xfd96, 0, 0, 0, 0, 0, 0, 0x20);
/// A ClusterIP with `internalTrafficPolicy: Local` and no endpoint on this node.
const LOCAL_ONLY4: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 30);
/// An address of the Service CIDR that no Service has.
const UNALLOCATED4: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 99);
/// Hosts outside the cluster, behind router A.
pub(crate) const OUTSIDE4: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 5);
pub(crate) const OTHER_OUTSIDE4: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 6);
pub(crate) const OUTSIDE6: Ipv6Addr = Ipv6Addr::new(0xfd20, 0, 0, 0, 0, 0, 0, 5);

/// The Service ports.
const WEB: ServicePortId = ServicePortId(1);
const DNS: ServicePortId = ServicePortId(2);

pub(crate) const PAYLOAD: &[u8] = b"through the Service and back";

pub(crate) fn sa(ip: impl Into<IpAddr>, port: u16) -> SocketAddr {
    SocketAddr::new(ip.into(), port)
}

fn key(address: impl Into<IpAddr>, protocol: u8, port: u16) -> FrontendKey {
    FrontendKey {
        address: Some(address.into()),
        protocol,
        port,
    }
}

/// A ClusterIP frontend whose endpoints are all on this node.
fn frontend(name: &str, id: u64, endpoints: Vec<SocketAddr>) -> Frontend {
    Frontend {
        name: name.into(),
        service_port: ServicePortId(id),
        scope: Scope::Internal,
        local_policy: false,
        cluster: EndpointSet::new(endpoints.clone()),
        local: EndpointSet::new(endpoints),
        affinity: None,
        source_ranges: Vec::new(),
    }
}

/// The node's NAT facts: pods in 10.0/16 and fd10::/64, Services in 10.96/12 and
/// fd96::/112, masquerading to the uplink's addresses.
fn node() -> NodeNat {
    NodeNat {
        service_cidrs: vec![
            (Ipv4Addr::new(10, 96, 0, 0).into(), 12),
            (Ipv6Addr::new(0xfd96, 0, 0, 0, 0, 0, 0, 0).into(), 112),
        ],
        cluster_cidrs: vec![
            (Ipv4Addr::new(10, 0, 0, 0).into(), 16),
            (Ipv6Addr::new(0xfd10, 0, 0, 0, 0, 0, 0, 0).into(), 64),
        ],
        node_addresses: vec![UPLINK_IP4.into(), UPLINK_IP6.into()],
        masquerade4: Some(UPLINK_IP4),
        masquerade6: Some(UPLINK_IP6),
        host_interface: None,
    }
}

pub(crate) fn services() -> ServiceTable {
    let mut t = ServiceTable::new(node());
    let fronts = [
        (
            key(VIP4, TCP, 80),
            "default/web:http",
            WEB.0,
            sa(POD_B_IP4, 8080),
        ),
        (
            key(VIP4, UDP, 53),
            "default/dns:dns",
            DNS.0,
            sa(POD_B_IP4, 5353),
        ),
        (
            key(VIP4, SCTP, 9000),
            "default/sig:sctp",
            3,
            sa(POD_B_IP4, 9001),
        ),
        (
            key(VIP6, TCP, 80),
            "default/web6:http",
            4,
            sa(POD_B_IP6, 8080),
        ),
        (
            key(VIP6, UDP, 53),
            "default/dns6:dns",
            5,
            sa(POD_B_IP6, 5353),
        ),
    ];
    for (k, name, id, endpoint) in fronts {
        t.insert(k, frontend(name, id, vec![endpoint]));
        t.set_serving(ServicePortId(id), vec![endpoint.ip()]);
    }
    t.insert(
        key(EMPTY4, TCP, 80),
        frontend("default/none:http", 6, vec![]),
    );
    t.insert(
        key(EMPTY6, TCP, 80),
        frontend("default/none6:http", 7, vec![]),
    );
    let mut local = frontend(
        "default/local:http",
        8,
        vec![sa(Ipv4Addr::new(10, 0, 7, 7), 80)],
    );
    local.local_policy = true;
    local.local = EndpointSet::new(Vec::new());
    t.insert(key(LOCAL_ONLY4, TCP, 80), local);
    t
}

/// Pod A (the client) on [`POD_IF`], the uplink with router A on [`UPLINK_IF`]
/// (masquerading or not), pod B (the endpoint) on [`POD_B_IF`]; pods take jumbo frames.
pub(crate) fn network(services: ServiceTable, masquerade: bool) -> Tables {
    let mut b = TablesBuilder::new();
    let pod = |name: &str, mac| {
        let mut c = InterfaceConfig::l3(name, mac);
        c.ip4.push((GATEWAY4, 32));
        c.ip6.push((GATEWAY6, 64));
        c.source_check = true;
        c.mtu = 9000;
        c
    };
    assert_eq!(b.add_interface(pod("pod-a", POD_IF_MAC)).unwrap(), POD_IF);
    let mut uplink = InterfaceConfig::l3("uplink", UPLINK_IF_MAC);
    uplink.ip4.push((UPLINK_IP4, 24));
    uplink.ip6.push((UPLINK_IP6, 64));
    uplink.masquerade = masquerade;
    assert_eq!(b.add_interface(uplink).unwrap(), UPLINK_IF);
    assert_eq!(
        b.add_interface(pod("pod-b", POD_B_IF_MAC)).unwrap(),
        POD_B_IF
    );
    let pods = [
        (POD_IF, POD_IP4, POD_IP6, POD_MAC),
        (POD_B_IF, POD_B_IP4, POD_B_IP6, POD_B_MAC),
    ];
    for (interface, ip4, ip6, mac) in pods {
        let to = Adjacency::Attached { interface };
        b.add_route4(ip4, 32, to).unwrap();
        b.add_route6(ip6, 128, to).unwrap();
        b.add_neighbor(interface, ip4.into(), mac);
        b.add_neighbor(interface, ip6.into(), mac);
    }
    let via = |gateway: IpAddr| Adjacency::Via {
        interface: UPLINK_IF,
        gateway,
    };
    b.add_route4(REMOTE_NET_A4, 16, via(ROUTER_A4.into()))
        .unwrap();
    b.add_route6(REMOTE_NET6, 64, via(ROUTER_A6.into()))
        .unwrap();
    b.add_neighbor(UPLINK_IF, ROUTER_A4.into(), ROUTER_A_MAC);
    b.add_neighbor(UPLINK_IF, ROUTER_A6.into(), ROUTER_A_MAC);
    b.set_services(Arc::new(services));
    b.build(1)
}

fn harness(masquerade: bool) -> Harness {
    Harness::with_tables(network(services(), masquerade))
}

pub(crate) fn from_pod_b() -> (EthernetAddress, EthernetAddress) {
    (POD_B_MAC, POD_B_IF_MAC)
}

/// The transport of a test packet.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum L4 {
    Syn,
    SynAck,
    Udp,
    /// An echo request whose identifier is the source "port".
    Echo,
    /// An echo reply whose identifier is the source "port".
    EchoReply,
}

/// A frame from `macs.0` to `macs.1` carrying a packet from `src` to `dst`.
pub(crate) fn frame(
    macs: (EthernetAddress, EthernetAddress),
    src: SocketAddr,
    dst: SocketAddr,
    l4: L4,
) -> Vec<u8> {
    let eth = PacketBuilder::ethernet2(macs.0.0, macs.1.0);
    let ip = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => eth.ipv4(s.octets(), d.octets(), 64),
        (IpAddr::V6(s), IpAddr::V6(d)) => eth.ipv6(s.octets(), d.octets(), 64),
        _ => panic!("{src} and {dst} are of one IP version"),
    };
    let (sp, dp, v6) = (src.port(), dst.port(), src.is_ipv6());
    let mut out = Vec::new();
    match l4 {
        L4::Syn => ip.tcp(sp, dp, 1000, 64240).syn().write(&mut out, PAYLOAD),
        L4::SynAck => ip
            .tcp(sp, dp, 5000, 64240)
            .syn()
            .ack(1001)
            .write(&mut out, PAYLOAD),
        L4::Udp => ip.udp(sp, dp).write(&mut out, PAYLOAD),
        L4::Echo if v6 => ip.icmpv6_echo_request(sp, 1).write(&mut out, PAYLOAD),
        L4::Echo => ip.icmpv4_echo_request(sp, 1).write(&mut out, PAYLOAD),
        L4::EchoReply if v6 => ip.icmpv6_echo_reply(sp, 1).write(&mut out, PAYLOAD),
        L4::EchoReply => ip.icmpv4_echo_reply(sp, 1).write(&mut out, PAYLOAD),
    }
    .unwrap();
    out
}

/// An ICMP port unreachable from `src` to `dst`, quoting `quote` (an IP packet).
pub(crate) fn port_unreachable(
    macs: (EthernetAddress, EthernetAddress),
    src: IpAddr,
    dst: IpAddr,
    quote: &[u8],
) -> Vec<u8> {
    let eth = PacketBuilder::ethernet2(macs.0.0, macs.1.0);
    let mut out = Vec::new();
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => eth
            .ipv4(s.octets(), d.octets(), 64)
            .icmpv4(Icmpv4Type::DestinationUnreachable(
                icmpv4::DestUnreachableHeader::Port,
            ))
            .write(&mut out, quote),
        (IpAddr::V6(s), IpAddr::V6(d)) => eth
            .ipv6(s.octets(), d.octets(), 64)
            .icmpv6(Icmpv6Type::DestinationUnreachable(
                icmpv6::DestUnreachableCode::Port,
            ))
            .write(&mut out, quote),
        _ => panic!("one IP version"),
    }
    .unwrap();
    out
}

/// A packet the switch sent, as its receiver sees it: every checksum checked.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Seen {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    /// The transport payload; for an ICMP error, the quoted packet.
    pub payload: Vec<u8>,
    /// An ICMP error saying port unreachable.
    pub port_unreachable: bool,
}

/// The packet of a frame the switch sent.
pub(crate) fn seen(frame: &[u8]) -> Seen {
    seen_ip(&frame[14..])
}

/// The IP packet `ip`, its checksums checked. ICMP echo: the identifier as both ports.
fn seen_ip(ip: &[u8]) -> Seen {
    let p = SlicedPacket::from_ip(ip).expect("a packet etherparse reads");
    let (src, dst): (IpAddr, IpAddr) = match p.net.as_ref().expect("an IP packet") {
        NetSlice::Ipv4(ip) => {
            let h = ip.header();
            let expected = h.to_header().calc_header_checksum();
            assert_eq!(h.header_checksum(), expected, "the IPv4 header checksum");
            (h.source_addr().into(), h.destination_addr().into())
        }
        NetSlice::Ipv6(ip) => (
            ip.header().source_addr().into(),
            ip.header().destination_addr().into(),
        ),
        NetSlice::Arp(_) => panic!("not IP"),
    };
    let (s4, d4, s6, d6) = octets(src, dst);
    let mut port_unreachable = false;
    let (sp, dp, payload) = match p.transport.expect("a transport header") {
        TransportSlice::Tcp(tcp) => {
            let expected = if src.is_ipv4() {
                tcp.calc_checksum_ipv4(s4, d4)
            } else {
                tcp.calc_checksum_ipv6(s6, d6)
            };
            assert_eq!(tcp.checksum(), expected.unwrap(), "the TCP checksum");
            (tcp.source_port(), tcp.destination_port(), tcp.payload())
        }
        TransportSlice::Udp(udp) => {
            let header = udp.to_header();
            let expected = if src.is_ipv4() {
                header.calc_checksum_ipv4_raw(s4, d4, udp.payload())
            } else {
                header.calc_checksum_ipv6_raw(s6, d6, udp.payload())
            };
            assert_eq!(udp.checksum(), expected.unwrap(), "the UDP checksum");
            (udp.source_port(), udp.destination_port(), udp.payload())
        }
        TransportSlice::Icmpv4(icmp) => {
            let expected = Icmpv4Header::with_checksum(icmp.icmp_type(), icmp.payload()).checksum;
            assert_eq!(icmp.checksum(), expected, "the ICMP checksum");
            let id = match icmp.icmp_type() {
                Icmpv4Type::EchoRequest(echo) | Icmpv4Type::EchoReply(echo) => echo.id,
                Icmpv4Type::DestinationUnreachable(icmpv4::DestUnreachableHeader::Port) => {
                    port_unreachable = true;
                    0
                }
                other => panic!("unexpected {other:?}"),
            };
            (id, id, icmp.payload())
        }
        TransportSlice::Icmpv6(icmp) => {
            assert!(icmp.is_checksum_valid(s6, d6), "the ICMPv6 checksum");
            let id = match icmp.icmp_type() {
                Icmpv6Type::EchoRequest(echo) | Icmpv6Type::EchoReply(echo) => echo.id,
                Icmpv6Type::DestinationUnreachable(icmpv6::DestUnreachableCode::Port) => {
                    port_unreachable = true;
                    0
                }
                other => panic!("unexpected {other:?}"),
            };
            (id, id, icmp.payload())
        }
        other => panic!("unexpected {other:?}"),
    };
    Seen {
        src: SocketAddr::new(src, sp),
        dst: SocketAddr::new(dst, dp),
        payload: payload.to_vec(),
        port_unreachable,
    }
}

fn octets(src: IpAddr, dst: IpAddr) -> ([u8; 4], [u8; 4], [u8; 16], [u8; 16]) {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => (s.octets(), d.octets(), [0; 16], [0; 16]),
        (IpAddr::V6(s), IpAddr::V6(d)) => ([0; 4], [0; 4], s.octets(), d.octets()),
        _ => panic!("one IP version"),
    }
}

/// The source and destination of a quoted packet (whole IP header, then ports), its IPv4
/// header checksum checked.
fn quoted(quote: &[u8]) -> (SocketAddr, SocketAddr) {
    let (src, dst, len): (IpAddr, IpAddr, usize) = if quote[0] >> 4 == 4 {
        let h = Ipv4HeaderSlice::from_slice(quote).expect("a quoted IPv4 header");
        let expected = h.to_header().calc_header_checksum();
        assert_eq!(
            h.header_checksum(),
            expected,
            "the quoted IPv4 header checksum"
        );
        (
            h.source_addr().into(),
            h.destination_addr().into(),
            h.slice().len(),
        )
    } else {
        let h = Ipv6HeaderSlice::from_slice(quote).expect("a quoted IPv6 header");
        (h.source_addr().into(), h.destination_addr().into(), 40)
    };
    let port = |at: usize| u16::from_be_bytes([quote[len + at], quote[len + at + 1]]);
    (SocketAddr::new(src, port(0)), SocketAddr::new(dst, port(2)))
}

/// The only frame sent, on `interface`; nothing anywhere else.
pub(crate) fn one_out(h: &mut Harness, interface: IfIndex) -> Vec<u8> {
    let mut frames = h.sent(interface);
    assert_eq!(
        frames.len(),
        1,
        "one frame out of {interface:?}; drops {:?}",
        h.graph.drop_counts()
    );
    assert_eq!(h.queued(), 0, "and nothing else");
    frames.pop().unwrap()
}

/// What `node` noted of traced packet `id`.
pub(crate) fn noted(h: &Harness, id: u32, node: &str) -> String {
    h.steps(id)
        .iter()
        .filter(|s| s.node == node)
        .map(|s| s.detail.clone())
        .collect::<Vec<_>>()
        .join("; ")
}

pub(crate) fn active(h: &Harness) -> u64 {
    h.state.sessions.counters().active
}
