//! Two nodes joined by a VXLAN tunnel over their uplinks, each a whole engine driven in
//! memory: what one sends out of its uplink, the other receives on its own.

mod gso;

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use etherparse::{
    Icmpv4Type, Icmpv6Type, NetSlice, PacketBuilder, SlicedPacket, TransportSlice, icmpv4,
};
use podwire_wire::ethernet::EthernetAddress;
use proptest::prelude::*;

use super::*;
use crate::buffer::OffloadInfo;
use crate::clock::Instant;
use crate::engine::Engine;
use crate::interface::{IfIndex, InterfaceConfig, TxOffloads, VxlanTunnel};
use crate::nat::service::ServiceTable;
use crate::nodes::ip_common::harness::frames;
use crate::nodes::nat::tests::{L4, POD_B_IP4, POD_B_IP6, VIP4, VIP6, frame, sa, seen, services};
use crate::tables::{Adjacency, Tables, TablesBuilder};

const POD: IfIndex = IfIndex(0);
const UPLINK: IfIndex = IfIndex(1);
const TUNNEL: IfIndex = IfIndex(2);

const VNI: u32 = 4096;
const UPLINK_MTU: u16 = 1500;
const POD_GATEWAY4: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);
const POD_GATEWAY6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);

/// One node of the test cluster.
struct Side {
    pod4: Ipv4Addr,
    pod6: Ipv6Addr,
    /// The node's pods: what the other node routes through the tunnel.
    cidr4: (Ipv4Addr, u8),
    cidr6: (Ipv6Addr, u8),
    pod_mac: EthernetAddress,
    pod_if_mac: EthernetAddress,
    uplink4: Ipv4Addr,
    uplink6: Ipv6Addr,
    uplink_mac: EthernetAddress,
}

/// Node A: its pod is the Services' client.
const A: Side = Side {
    pod4: Ipv4Addr::new(10, 0, 1, 2),
    pod6: Ipv6Addr::new(0xfd10, 0, 0, 0, 0, 0, 1, 2),
    cidr4: (Ipv4Addr::new(10, 0, 1, 0), 24),
    cidr6: (Ipv6Addr::new(0xfd10, 0, 0, 0, 0, 0, 1, 0), 112),
    pod_mac: EthernetAddress([0x0a, 0, 0, 0, 1, 2]),
    pod_if_mac: EthernetAddress([2, 0, 0, 0, 1, 0xa0]),
    uplink4: Ipv4Addr::new(192, 168, 60, 1),
    uplink6: Ipv6Addr::new(0xfd60, 0, 0, 0, 0, 0, 0, 1),
    uplink_mac: EthernetAddress([2, 0, 0, 0, 1, 0xb0]),
};

/// Node B: its pod is the Services' endpoint (the NAT tests' pod B).
const B: Side = Side {
    pod4: POD_B_IP4,
    pod6: POD_B_IP6,
    cidr4: (Ipv4Addr::new(10, 0, 0, 0), 24),
    cidr6: (Ipv6Addr::new(0xfd10, 0, 0, 0, 0, 0, 0, 0), 112),
    pod_mac: EthernetAddress([0x0a, 0, 0, 0, 2, 2]),
    pod_if_mac: EthernetAddress([2, 0, 0, 0, 2, 0xa0]),
    uplink4: Ipv4Addr::new(192, 168, 60, 2),
    uplink6: Ipv6Addr::new(0xfd60, 0, 0, 0, 0, 0, 0, 2),
    uplink_mac: EthernetAddress([2, 0, 0, 0, 2, 0xb0]),
};

/// The address family of the uplinks the tunnel runs over.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Underlay {
    V4,
    V6,
}

impl Underlay {
    fn endpoint(self, side: &Side) -> IpAddr {
        match self {
            Underlay::V4 => side.uplink4.into(),
            Underlay::V6 => side.uplink6.into(),
        }
    }

    /// The bytes a tunnel adds to an IP packet.
    fn overhead(self) -> u16 {
        match self {
            Underlay::V4 => OVERHEAD4 as u16,
            Underlay::V6 => OVERHEAD6 as u16,
        }
    }
}

/// How a test builds a node.
struct Setup {
    underlay: Underlay,
    /// Whether the node knows the MAC of the other node's uplink.
    peer_mac_known: bool,
    /// The uplinks' MTU.
    uplink_mtu: u16,
    /// The tunnel's MTU; by default the uplink's less the encapsulation.
    tunnel_mtu: Option<u16>,
    /// The Services, if any.
    services: Option<ServiceTable>,
    /// What the uplinks finish for the packets sent on them; none by default.
    uplink_offloads: TxOffloads,
}

impl Setup {
    fn new(underlay: Underlay) -> Self {
        Setup {
            underlay,
            peer_mac_known: true,
            uplink_mtu: UPLINK_MTU,
            tunnel_mtu: None,
            services: None,
            uplink_offloads: TxOffloads::default(),
        }
    }

    /// The tables of node `me`, whose tunnel goes to node `peer`.
    fn tables(&self, me: &Side, peer: &Side) -> Tables {
        let mut b = TablesBuilder::new();
        let mut pod = InterfaceConfig::l3("pod", me.pod_if_mac);
        pod.ip4.push((POD_GATEWAY4, 32));
        pod.ip6.push((POD_GATEWAY6, 64));
        pod.source_check = true;
        pod.mtu = 9000;
        assert_eq!(b.add_interface(pod).unwrap(), POD);
        let mut uplink = InterfaceConfig::l3("uplink", me.uplink_mac);
        uplink.ip4.push((me.uplink4, 24));
        uplink.ip6.push((me.uplink6, 64));
        uplink.mtu = self.uplink_mtu;
        uplink.offloads = self.uplink_offloads;
        assert_eq!(b.add_interface(uplink).unwrap(), UPLINK);
        let (local, remote) = (self.underlay.endpoint(me), self.underlay.endpoint(peer));
        let mtu = self
            .tunnel_mtu
            .unwrap_or(self.uplink_mtu - self.underlay.overhead());
        let vxlan = VxlanTunnel {
            vni: VNI,
            local,
            port: podwire_wire::vxlan::UDP_PORT,
            peers: vec![remote],
        };
        let tunnel = InterfaceConfig::vxlan("vxlan", vxlan, mtu);
        assert_eq!(b.add_interface(tunnel).unwrap(), TUNNEL);

        let to_pod = Adjacency::Attached { interface: POD };
        b.add_route4(me.pod4, 32, to_pod).unwrap();
        b.add_route6(me.pod6, 128, to_pod).unwrap();
        b.add_neighbor(POD, me.pod4.into(), me.pod_mac);
        b.add_neighbor(POD, me.pod6.into(), me.pod_mac);
        let through_tunnel = Adjacency::Tunnel {
            interface: TUNNEL,
            remote,
        };
        b.add_route4(peer.cidr4.0, peer.cidr4.1, through_tunnel)
            .unwrap();
        b.add_route6(peer.cidr6.0, peer.cidr6.1, through_tunnel)
            .unwrap();
        if self.peer_mac_known {
            b.add_neighbor(UPLINK, remote, peer.uplink_mac);
        }
        if let Some(services) = &self.services {
            b.set_services(Arc::new(services.clone()));
        }
        b.build(1)
    }
}

/// A node: its engine and its tables.
struct Node {
    engine: Engine,
    tables: Tables,
    now: Instant,
}

const BUFFERS: u32 = 64;

impl Node {
    fn new(tables: Tables) -> Self {
        Node {
            engine: Engine::new(BUFFERS, None).unwrap(),
            tables,
            now: Instant::from_nanos(1_000_000_000),
        }
    }

    /// The two nodes of `setup`.
    fn pair(setup: &Setup) -> (Node, Node) {
        (
            Node::new(setup.tables(&A, &B)),
            Node::new(setup.tables(&B, &A)),
        )
    }

    /// Receives `frame` on `rx_if` and runs the graph.
    fn receive(&mut self, rx_if: IfIndex, frame: &[u8]) {
        let bi = self.engine.pool.alloc_from(frame).unwrap();
        self.engine.receive(rx_if, &[bi], self.now);
        self.engine.run(&self.tables, self.now);
    }

    /// The frames queued on `interface`, taken off the queue.
    fn sent(&mut self, interface: IfIndex) -> Vec<Vec<u8>> {
        self.sent_asking(interface)
            .into_iter()
            .map(|(frame, _)| frame)
            .collect()
    }

    /// The frames queued on `interface`, taken off the queue, each with what it asks of
    /// the device.
    fn sent_asking(&mut self, interface: IfIndex) -> Vec<(Vec<u8>, OffloadInfo)> {
        let Engine { pool, tx, .. } = &mut self.engine;
        let queue = tx.queue_mut(interface).map(std::mem::take);
        queue
            .unwrap_or_default()
            .into_iter()
            .map(|bi| {
                let mut frame = Vec::new();
                pool.copy_to_vec(bi, &mut frame);
                let offload = pool.meta(bi).offload;
                pool.free(bi);
                (frame, offload)
            })
            .collect()
    }

    /// The one frame sent, out of `interface`, and nothing anywhere else.
    fn one_out(&mut self, interface: IfIndex) -> Vec<u8> {
        let mut frames = self.sent(interface);
        let drops = self.engine.graph.drop_counts();
        assert_eq!(
            frames.len(),
            1,
            "one frame out of {interface:?}; drops {drops:?}"
        );
        let others: Vec<IfIndex> = self.engine.tx.pending().collect();
        assert!(others.is_empty(), "frames left on {others:?}");
        assert_eq!(
            self.engine.pool.available(),
            BUFFERS as usize,
            "every buffer is back"
        );
        frames.pop().unwrap()
    }

    fn drops(&self, node: &str, reason: &str) -> u64 {
        self.engine.graph.drop_count(node, reason)
    }
}

/// What a VXLAN datagram carries, read with etherparse.
#[derive(Debug)]
struct Outer {
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    dont_fragment: bool,
    src_port: u16,
    dst_port: u16,
    udp_checksum: u16,
    udp_checksum_valid: bool,
    vxlan: [u8; 8],
    inner: Vec<u8>,
}

fn outer(frame: &[u8]) -> Outer {
    let p = SlicedPacket::from_ethernet(frame).expect("a frame etherparse reads");
    let Some(etherparse::LinkSlice::Ethernet2(eth)) = p.link else {
        panic!("an Ethernet frame")
    };
    let (src, dst, ttl, dont_fragment) = match p.net.expect("an IP packet") {
        NetSlice::Ipv4(ip) => {
            let h = ip.header();
            assert_eq!(
                h.header_checksum(),
                h.to_header().calc_header_checksum(),
                "the outer IPv4 header checksum"
            );
            (
                h.source_addr().into(),
                h.destination_addr().into(),
                h.ttl(),
                h.dont_fragment(),
            )
        }
        NetSlice::Ipv6(ip) => {
            let h = ip.header();
            (
                h.source_addr().into(),
                h.destination_addr().into(),
                h.hop_limit(),
                // Routers never fragment IPv6.
                false,
            )
        }
        NetSlice::Arp(_) => panic!("not IP"),
    };
    let Some(TransportSlice::Udp(udp)) = p.transport else {
        panic!("UDP")
    };
    let header = udp.to_header();
    let expected = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            header.calc_checksum_ipv4_raw(s.octets(), d.octets(), udp.payload())
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            header.calc_checksum_ipv6_raw(s.octets(), d.octets(), udp.payload())
        }
        _ => panic!("one family"),
    };
    let payload = udp.payload();
    Outer {
        src_mac: eth.source(),
        dst_mac: eth.destination(),
        src,
        dst,
        ttl,
        dont_fragment,
        src_port: udp.source_port(),
        dst_port: udp.destination_port(),
        udp_checksum: udp.checksum(),
        udp_checksum_valid: expected.is_ok_and(|c| c == udp.checksum()),
        vxlan: payload[..8].try_into().unwrap(),
        inner: payload[8..].to_vec(),
    }
}

/// The TTL or hop limit of an Ethernet frame's IP packet.
fn ttl(frame: &[u8]) -> u8 {
    match frame[12..14] {
        [0x86, 0xdd] => frame[14 + 7],
        _ => frame[14 + 8],
    }
}

fn from(side: &Side) -> (EthernetAddress, EthernetAddress) {
    (side.pod_mac, side.pod_if_mac)
}

fn pod(side: &Side, v6: bool) -> IpAddr {
    match v6 {
        true => side.pod6.into(),
        false => side.pod4.into(),
    }
}

/// Sends `l4.0` from A's pod to B's pod and `l4.1` back, carrying each datagram across;
/// checks both tunnelled packets and what each pod receives.
fn round_trip(underlay: Underlay, v6: bool, l4: (L4, L4)) {
    let (mut a, mut b) = Node::pair(&Setup::new(underlay));
    // One port on both ends: an echo's identifier stands for both.
    let (client, server) = (sa(pod(&A, v6), 40000), sa(pod(&B, v6), 40000));
    let (a_end, b_end) = (underlay.endpoint(&A), underlay.endpoint(&B));

    let request = frame(from(&A), client, server, l4.0);
    a.receive(POD, &request);
    let datagram = a.one_out(UPLINK);
    let o = outer(&datagram);
    assert_eq!((o.src_mac, o.dst_mac), (A.uplink_mac.0, B.uplink_mac.0));
    assert_eq!((o.src, o.dst), (a_end, b_end), "from A's end to B's");
    assert_eq!(o.ttl, 64);
    assert!(!o.dont_fragment, "don't-fragment clear");
    assert_eq!(o.dst_port, 4789);
    assert!((49152..=65535).contains(&o.src_port), "{}", o.src_port);
    match underlay {
        Underlay::V4 => assert_eq!(o.udp_checksum, 0, "no UDP checksum over IPv4"),
        Underlay::V6 => assert!(o.udp_checksum_valid, "a UDP checksum over IPv6"),
    }
    assert_eq!(
        o.vxlan,
        [0x08, 0, 0, 0, 0x00, 0x10, 0x00, 0],
        "I flag, VNI 4096"
    );
    assert_eq!(&o.inner[..6], &inner_mac(b_end).0, "to B's tunnel MAC");
    assert_eq!(&o.inner[6..12], &inner_mac(a_end).0, "from A's tunnel MAC");
    assert_eq!(ttl(&o.inner), 63, "A counted the TTL down once");
    let inner = seen(&o.inner);
    assert_eq!((inner.src, inner.dst), (client, server));
    assert_eq!(inner.payload, seen(&request).payload);
    let inner_len = o.inner.len() as u64;
    let counted = a.engine.state.tunnels.get(TUNNEL);
    assert_eq!((counted.tx_packets, counted.tx_bytes), (1, inner_len));

    b.receive(UPLINK, &datagram);
    let delivered = b.one_out(POD);
    assert_eq!(&delivered[..6], &B.pod_mac.0);
    assert_eq!(ttl(&delivered), 62, "B counted it down once more");
    let got = seen(&delivered);
    assert_eq!((got.src, got.dst), (client, server));
    let counted = b.engine.state.tunnels.get(TUNNEL);
    assert_eq!((counted.rx_packets, counted.rx_bytes), (1, inner_len));

    b.receive(POD, &frame(from(&B), server, client, l4.1));
    let datagram = b.one_out(UPLINK);
    let back = outer(&datagram);
    assert_eq!((back.src, back.dst), (b_end, a_end));
    a.receive(UPLINK, &datagram);
    let answered = a.one_out(POD);
    assert_eq!(&answered[..6], &A.pod_mac.0);
    let got = seen(&answered);
    assert_eq!(
        (got.src, got.dst),
        (server, client),
        "the answer reaches A's pod"
    );
    assert_eq!(ttl(&answered), 62);
}

const UNDERLAYS: [Underlay; 2] = [Underlay::V4, Underlay::V6];

#[test]
fn pods_on_two_nodes_exchange_udp_through_the_tunnel() {
    for underlay in UNDERLAYS {
        for v6 in [false, true] {
            round_trip(underlay, v6, (L4::Udp, L4::Udp));
        }
    }
}

#[test]
fn pods_on_two_nodes_ping_through_the_tunnel() {
    for underlay in UNDERLAYS {
        for v6 in [false, true] {
            round_trip(underlay, v6, (L4::Echo, L4::EchoReply));
        }
    }
}

/// The outer source port of a datagram A sends for a UDP packet from `client` to B's pod.
fn source_port_of(a: &mut Node, client: SocketAddr) -> u16 {
    let server = sa(B.pod4, 7000);
    a.receive(POD, &frame(from(&A), client, server, L4::Udp));
    outer(&a.one_out(UPLINK)).src_port
}

#[test]
fn the_source_port_is_stable_per_flow_and_differs_across_flows() {
    let (mut a, _) = Node::pair(&Setup::new(Underlay::V4));
    let first = source_port_of(&mut a, sa(A.pod4, 40000));
    assert_eq!(source_port_of(&mut a, sa(A.pod4, 40000)), first);
    let others: Vec<u16> = (40001..40005)
        .map(|port| source_port_of(&mut a, sa(A.pod4, port)))
        .collect();
    assert!(
        others.iter().all(|&p| p != first),
        "{first} and {others:?}: other flows hash to other ports"
    );
}

#[test]
fn the_first_packet_to_an_unknown_remote_end_waits_for_its_mac() {
    for underlay in UNDERLAYS {
        let mut setup = Setup::new(underlay);
        setup.peer_mac_known = false;
        let (mut a, mut b) = Node::pair(&setup);
        let (client, server) = (sa(A.pod4, 40000), sa(B.pod4, 7000));
        let request = frame(from(&A), client, server, L4::Udp);
        a.receive(POD, &request);
        let mut asked = a.sent(UPLINK);
        assert_eq!(asked.len(), 1, "{underlay:?}: the question only");
        assert_eq!(
            a.engine.state.pending.len(),
            1,
            "{underlay:?}: the packet waits"
        );
        b.receive(UPLINK, &asked.pop().unwrap());
        let answer = b.one_out(UPLINK);
        a.receive(UPLINK, &answer);
        let o = outer(&a.one_out(UPLINK));
        assert_eq!(
            o.dst_mac, B.uplink_mac.0,
            "{underlay:?}: the packet that waited, to the MAC learned"
        );
        assert_eq!(o.dst, underlay.endpoint(&B));
        let glean = match underlay {
            Underlay::V4 => "ip4-glean",
            Underlay::V6 => "ip6-glean",
        };
        assert_eq!(a.drops(glean, "neighbor-unresolved"), 0, "{underlay:?}");

        a.receive(POD, &request);
        let o = outer(&a.one_out(UPLINK));
        assert_eq!(
            o.dst_mac, B.uplink_mac.0,
            "{underlay:?}: the next goes straight"
        );
    }
}

/// A UDP packet from A's pod to B's pod whose IP packet is `ip_len` bytes, don't-fragment
/// set.
fn big_packet(v6: bool, ip_len: usize) -> Vec<u8> {
    let (macs, client, server) = (from(&A), pod(&A, v6), pod(&B, v6));
    let mut out = match (client, server) {
        (IpAddr::V4(s), IpAddr::V4(d)) => frames::udp4(macs, s, d, 64, ip_len - 28),
        (IpAddr::V6(s), IpAddr::V6(d)) => frames::udp6(macs, s, d, 64, ip_len - 48),
        _ => unreachable!("one family"),
    };
    if !v6 {
        out[20] |= 0x40;
        frames::refill_ip4_checksum(&mut out);
    }
    out
}

#[test]
fn a_packet_over_the_tunnel_mtu_gets_told_the_tunnel_mtu() {
    for underlay in UNDERLAYS {
        let tunnel_mtu = UPLINK_MTU - underlay.overhead();
        for v6 in [false, true] {
            let (mut a, _) = Node::pair(&Setup::new(underlay));
            a.receive(POD, &big_packet(v6, usize::from(tunnel_mtu)));
            assert_eq!(
                outer(&a.one_out(UPLINK)).inner.len(),
                usize::from(tunnel_mtu) + 14
            );

            a.receive(POD, &big_packet(v6, usize::from(tunnel_mtu) + 1));
            let error = a.one_out(POD);
            let p = SlicedPacket::from_ethernet(&error).unwrap();
            let told = match p.transport {
                Some(TransportSlice::Icmpv4(icmp)) => match icmp.icmp_type() {
                    Icmpv4Type::DestinationUnreachable(
                        icmpv4::DestUnreachableHeader::FragmentationNeeded { next_hop_mtu },
                    ) => next_hop_mtu,
                    other => panic!("{other:?}"),
                },
                Some(TransportSlice::Icmpv6(icmp)) => match icmp.icmp_type() {
                    Icmpv6Type::PacketTooBig { mtu } => mtu as u16,
                    other => panic!("{other:?}"),
                },
                other => panic!("{other:?}"),
            };
            assert_eq!(told, tunnel_mtu, "{underlay:?} v6 {v6}");
        }
    }
}

#[test]
fn jumbo_packets_cross_in_chained_buffers() {
    for underlay in UNDERLAYS {
        for v6 in [false, true] {
            let mut setup = Setup::new(underlay);
            setup.uplink_mtu = 9000;
            let (mut a, mut b) = Node::pair(&setup);
            let packet = big_packet(v6, 5000);
            a.receive(POD, &packet);
            let datagram = a.one_out(UPLINK);
            let o = outer(&datagram);
            let checksum_right = match underlay {
                Underlay::V4 => o.udp_checksum == 0,
                Underlay::V6 => o.udp_checksum_valid,
            };
            assert!(checksum_right, "{underlay:?}: over the whole chain");
            b.receive(UPLINK, &datagram);
            let delivered = b.one_out(POD);
            assert_eq!(delivered.len(), packet.len(), "{underlay:?} v6 {v6}");
            assert_eq!(seen(&delivered).payload, seen(&packet).payload);
        }
    }
}

#[test]
fn an_outer_packet_over_the_uplink_mtu_is_dropped() {
    let mut setup = Setup::new(Underlay::V4);
    setup.tunnel_mtu = Some(UPLINK_MTU);
    let (mut a, _) = Node::pair(&setup);
    a.receive(POD, &big_packet(false, usize::from(UPLINK_MTU)));
    assert_eq!(a.drops("vxlan-encap", "vxlan-too-big"), 1);
    assert!(a.sent(UPLINK).is_empty());
    assert_eq!(a.engine.state.tunnels.get(TUNNEL).tx_packets, 0);
    assert_eq!(a.engine.pool.available(), BUFFERS as usize);
}

#[test]
fn a_remote_end_without_a_route_is_dropped() {
    let mut tables = Setup::new(Underlay::V4).tables(&A, &B);
    let unrouted = IpAddr::V4(Ipv4Addr::new(192, 168, 99, 2));
    tables.adjacencies = tables
        .adjacencies
        .iter()
        .map(|&adj| match adj {
            Adjacency::Tunnel { interface, .. } => Adjacency::Tunnel {
                interface,
                remote: unrouted,
            },
            other => other,
        })
        .collect();
    let mut a = Node::new(tables);
    a.receive(POD, &frame(from(&A), sa(A.pod4, 1), sa(B.pod4, 2), L4::Udp));
    assert_eq!(a.drops("vxlan-encap", "vxlan-no-route"), 1);
    assert_eq!(a.engine.pool.available(), BUFFERS as usize);
}

/// A datagram node A sends to node B for a UDP packet between their pods.
fn datagram(underlay: Underlay) -> Vec<u8> {
    let (mut a, _) = Node::pair(&Setup::new(underlay));
    a.receive(POD, &frame(from(&A), sa(A.pod4, 1), sa(B.pod4, 2), L4::Udp));
    a.one_out(UPLINK)
}

/// Where the UDP header of a datagram over IPv4 starts.
const UDP4: usize = 14 + 20;
/// Where its VXLAN header starts.
const VXLAN4: usize = UDP4 + 8;

/// Node B of a pair over an IPv4 underlay receives `frame` on its uplink; says what it
/// delivered to its pod.
fn b_receives(frame: &[u8]) -> (Node, usize) {
    let (_, mut b) = Node::pair(&Setup::new(Underlay::V4));
    b.receive(UPLINK, frame);
    let delivered = b.sent(POD).len();
    assert_eq!(
        b.engine.pool.available(),
        BUFFERS as usize,
        "no buffer kept"
    );
    (b, delivered)
}

#[test]
fn decapsulation_drops_what_its_tunnel_does_not_accept() {
    let good = datagram(Underlay::V4);
    let (b, delivered) = b_receives(&good);
    assert_eq!(delivered, 1, "the unchanged datagram passes");
    assert_eq!(b.engine.graph.drop_counts(), vec![]);

    let stranger = {
        let mut f = good.clone();
        f[14 + 12..14 + 16].copy_from_slice(&[192, 168, 60, 9]);
        frames::refill_ip4_checksum(&mut f);
        f
    };
    let wrong_vni = {
        let mut f = good.clone();
        f[VXLAN4 + 6] ^= 1;
        f
    };
    let no_i_flag = {
        let mut f = good.clone();
        f[VXLAN4] = 0;
        f
    };
    let short_udp_length = {
        let mut f = good.clone();
        let len = u16::from_be_bytes([f[UDP4 + 4], f[UDP4 + 5]]) - 1;
        f[UDP4 + 4..UDP4 + 6].copy_from_slice(&len.to_be_bytes());
        f
    };
    let bad_checksum = {
        let mut f = good.clone();
        f[UDP4 + 6..UDP4 + 8].copy_from_slice(&[0x12, 0x34]);
        f
    };
    let no_inner_frame = {
        let mut out = Vec::new();
        PacketBuilder::ethernet2(A.uplink_mac.0, B.uplink_mac.0)
            .ipv4(A.uplink4.octets(), B.uplink4.octets(), 64)
            .udp(50000, 4789)
            .write(&mut out, &[0x08, 0, 0, 0, 0, 0x10, 0, 0, 1, 2, 3])
            .unwrap();
        out
    };
    let to_another_mac = {
        let mut f = good.clone();
        f[VXLAN4 + 8 + 5] ^= 1;
        f
    };
    let cases = [
        (stranger, "vxlan-input", "vxlan-unknown-peer"),
        (wrong_vni, "vxlan-input", "vxlan-wrong-vni"),
        (no_i_flag, "vxlan-input", "vxlan-bad-header"),
        (short_udp_length, "vxlan-input", "vxlan-truncated"),
        (bad_checksum, "vxlan-input", "vxlan-bad-checksum"),
        (no_inner_frame, "vxlan-input", "vxlan-truncated"),
        (to_another_mac, "ethernet-input", "not-for-us"),
    ];
    for (frame, node, reason) in cases {
        let (b, delivered) = b_receives(&frame);
        assert_eq!(delivered, 0, "{reason}: {:?}", b.engine.graph.drop_counts());
        assert_eq!(
            b.drops(node, reason),
            1,
            "{:?}",
            b.engine.graph.drop_counts()
        );
        // A frame the tunnel took counts as received on it, as on any device.
        let received = u64::from(node == "ethernet-input");
        assert_eq!(b.engine.state.tunnels.get(TUNNEL).rx_packets, received);
    }
}

#[test]
fn over_ipv6_a_zero_udp_checksum_is_refused() {
    let mut f = datagram(Underlay::V6);
    f[14 + 40 + 6..14 + 40 + 8].fill(0);
    let (_, mut b) = Node::pair(&Setup::new(Underlay::V6));
    b.receive(UPLINK, &f);
    assert_eq!(b.drops("vxlan-input", "vxlan-bad-checksum"), 1);
    assert!(b.sent(POD).is_empty());
}

#[test]
fn a_datagram_no_tunnel_ends_on_is_dropped() {
    // A tunnel listens on the port over IPv4 only.
    let (b, delivered) = b_receives(&datagram(Underlay::V6));
    assert_eq!(delivered, 0);
    assert_eq!(b.drops("vxlan-input", "vxlan-no-tunnel"), 1);
}

#[test]
fn without_a_tunnel_the_vxlan_port_is_unreachable_as_any() {
    use crate::nodes::ip_common::harness::{Harness, REMOTE_NET_A4, UPLINK_IF, UPLINK_IP4};
    let mut h = Harness::new();
    let outside = Ipv4Addr::new(REMOTE_NET_A4.octets()[0], REMOTE_NET_A4.octets()[1], 0, 5);
    h.receive(
        UPLINK_IF,
        &frame(
            frames::from_router(),
            sa(outside, 50000),
            sa(UPLINK_IP4, 4789),
            L4::Udp,
        ),
    );
    h.run();
    let answer = h.sent(UPLINK_IF);
    assert_eq!(answer.len(), 1);
    assert!(seen(&answer[0]).port_unreachable);
    assert_eq!(h.drops_named("vxlan-no-tunnel"), 0);
}

/// Services on node A whose endpoints are on node B: the NAT tests' Services.
#[test]
fn a_service_flow_crosses_the_tunnel_and_its_reply_is_undone() {
    let cases = [
        (sa(A.pod4, 40001), sa(VIP4, 53), sa(B.pod4, 5353)),
        (sa(A.pod6, 40001), sa(VIP6, 53), sa(B.pod6, 5353)),
    ];
    for underlay in UNDERLAYS {
        for (client, vip, endpoint) in cases {
            let mut setup = Setup::new(underlay);
            setup.services = Some(services());
            let (mut a, mut b) = (
                Node::new(setup.tables(&A, &B)),
                Node::new(Setup::new(underlay).tables(&B, &A)),
            );
            a.receive(POD, &frame(from(&A), client, vip, L4::Udp));
            b.receive(UPLINK, &a.one_out(UPLINK));
            let at_endpoint = seen(&b.one_out(POD));
            assert_eq!(
                (at_endpoint.src, at_endpoint.dst),
                (client, endpoint),
                "DNAT on A"
            );

            b.receive(POD, &frame(from(&B), endpoint, client, L4::Udp));
            a.receive(UPLINK, &b.one_out(UPLINK));
            let back = seen(&a.one_out(POD));
            assert_eq!((back.src, back.dst), (vip, client), "un-DNAT on A");
            assert_eq!(a.engine.state.sessions.counters().active, 1);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever follows the outer UDP header, decapsulation neither panics nor loses a
    /// buffer, and delivers only what it checked.
    #[test]
    fn arbitrary_vxlan_payloads_are_handled(
        payload in proptest::collection::vec(any::<u8>(), 0..120),
        flags in any::<u8>(),
        vni in prop_oneof![Just(VNI), any::<u32>()],
        frame_for_tunnel in any::<bool>(),
    ) {
        let mut body = vec![flags, 0, 0, 0];
        body.extend_from_slice(&(vni << 8).to_be_bytes());
        if frame_for_tunnel {
            body.extend_from_slice(&inner_mac(B.uplink4.into()).0);
        }
        body.extend_from_slice(&payload);
        let mut frame = Vec::new();
        PacketBuilder::ethernet2(A.uplink_mac.0, B.uplink_mac.0)
            .ipv4(A.uplink4.octets(), B.uplink4.octets(), 64)
            .udp(50000, 4789)
            .write(&mut frame, &body)
            .unwrap();
        let (b, _) = b_receives(&frame);
        let drops = b.engine.graph.drop_counts();
        prop_assert!(drops.iter().all(|d| d.reason.name != "misrouted"), "{:?}", drops);
        let accepted = b.engine.state.tunnels.get(TUNNEL).rx_packets == 1;
        let acceptable = flags & 0x08 != 0 && vni >> 8 == VNI >> 8 && body.len() >= 8 + 14;
        prop_assert!(!accepted || acceptable, "accepted {:02x?}", body);
    }
}
