use core::net::{IpAddr, Ipv6Addr};

use etherparse::icmpv6::NeighborAdvertisementHeader;
use etherparse::{Icmpv6Type, NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
use podwire_wire::ethernet::EthernetAddress;

use crate::clock::Instant;
use crate::interface::{IfIndex, InterfaceConfig};
use crate::nodes::ethernet_input::bench::Bench;
use crate::nodes::glean::release_due;
use crate::nodes::glean::testing::{drops, hand_to_glean, ip_frames};
use crate::tables::{Adjacency, Tables, TablesBuilder};

const POD_SIDE_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const UPLINK_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
const PEER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x22];

const POD_SIDE: IfIndex = IfIndex(0);
const UPLINK: IfIndex = IfIndex(1);
const BARE: IfIndex = IfIndex(2);

const GATEWAY: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
const POD: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x22);
const UPLINK_LL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);
const UPLINK_GLOBAL: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
const ROUTER: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0xfe);
const SOLICITED_GATEWAY: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff00, 1);
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

const NS: u8 = 135;
const NA: u8 = 136;

fn tables() -> Tables {
    let mut b = TablesBuilder::new();
    let mut pod_side = InterfaceConfig::l3("pod0", EthernetAddress(POD_SIDE_MAC));
    pod_side.ip6.push((GATEWAY, 64));
    assert_eq!(b.add_interface(pod_side).unwrap(), POD_SIDE);
    let mut uplink = InterfaceConfig::l3("up0", EthernetAddress(UPLINK_MAC));
    // The global address first: the link-local one must still be chosen to ask from.
    uplink.ip6.push((UPLINK_GLOBAL, 64));
    uplink.ip6.push((UPLINK_LL, 64));
    assert_eq!(b.add_interface(uplink).unwrap(), UPLINK);
    let bare = InterfaceConfig::l3("bare", EthernetAddress([2, 0, 0, 0, 0, 3]));
    assert_eq!(b.add_interface(bare).unwrap(), BARE);
    let via = Adjacency::Via {
        interface: UPLINK,
        gateway: IpAddr::V6(ROUTER),
    };
    b.add_route6("fd10::".parse().unwrap(), 64, via).unwrap();
    b.add_route6(
        "fd30::".parse().unwrap(),
        64,
        Adjacency::Attached { interface: BARE },
    )
    .unwrap();
    b.build(1)
}

fn at(millis: u64) -> Instant {
    Instant::from_nanos(millis * 1_000_000)
}

fn multicast_mac(group: Ipv6Addr) -> [u8; 6] {
    let o = group.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

/// An ICMPv6 message of any type and code in an Ethernet frame, its checksum filled by etherparse.
fn icmp_frame(
    eth: ([u8; 6], [u8; 6]),
    ip: (Ipv6Addr, Ipv6Addr),
    hop_limit: u8,
    (msg_type, code, bytes5to8): (u8, u8, [u8; 4]),
    body: &[u8],
) -> Vec<u8> {
    let mut bytes = Vec::new();
    PacketBuilder::ethernet2(eth.0, eth.1)
        .ipv6(ip.0.octets(), ip.1.octets(), hop_limit)
        .icmpv6(Icmpv6Type::Unknown {
            type_u8: msg_type,
            code_u8: code,
            bytes5to8,
        })
        .write(&mut bytes, body)
        .unwrap();
    bytes
}

/// A target address followed by options.
fn body(target: Ipv6Addr, options: &[&[u8]]) -> Vec<u8> {
    let mut b = target.octets().to_vec();
    for option in options {
        b.extend_from_slice(option);
    }
    b
}

fn lladdr_option(kind: u8, mac: [u8; 6]) -> [u8; 8] {
    let [a, b, c, d, e, f] = mac;
    [kind, 1, a, b, c, d, e, f]
}

/// The pod's solicitation for the gateway, as Linux sends it.
fn solicit_gateway() -> Vec<u8> {
    icmp_frame(
        (PEER_MAC, multicast_mac(SOLICITED_GATEWAY)),
        (POD, SOLICITED_GATEWAY),
        255,
        (NS, 0, [0; 4]),
        &body(GATEWAY, &[&lladdr_option(1, PEER_MAC)]),
    )
}

fn advert(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    flags: NeighborAdvertisementHeader,
    target: Ipv6Addr,
    mac: [u8; 6],
) -> Vec<u8> {
    icmp_frame(
        (PEER_MAC, UPLINK_MAC),
        (src, dst),
        255,
        (NA, 0, flags.to_bytes()),
        &body(target, &[&lladdr_option(2, mac)]),
    )
}

/// What an emitted neighbor discovery frame says, read by etherparse.
#[derive(Debug, PartialEq)]
struct Seen {
    eth: ([u8; 6], [u8; 6]),
    ip: (Ipv6Addr, Ipv6Addr),
    hop_limit: u8,
    icmp: Icmpv6Type,
    body: Vec<u8>,
}

fn read(frame: &[u8]) -> Seen {
    let packet = SlicedPacket::from_ethernet(frame).unwrap();
    let Some(etherparse::LinkSlice::Ethernet2(eth)) = packet.link else {
        panic!("not Ethernet II")
    };
    let Some(NetSlice::Ipv6(ip)) = packet.net else {
        panic!("not IPv6")
    };
    let Some(TransportSlice::Icmpv6(icmp)) = packet.transport else {
        panic!("not ICMPv6")
    };
    let header = ip.header();
    assert_eq!(header.next_header(), etherparse::IpNumber::IPV6_ICMP);
    assert_eq!(
        usize::from(header.payload_length()),
        frame.len() - 54,
        "payload length covers the message"
    );
    assert!(
        icmp.is_checksum_valid(header.source(), header.destination()),
        "ICMPv6 checksum"
    );
    Seen {
        eth: (eth.source(), eth.destination()),
        ip: (header.source_addr(), header.destination_addr()),
        hop_limit: header.hop_limit(),
        icmp: icmp.icmp_type(),
        body: icmp.payload().to_vec(),
    }
}

fn flags(router: bool, solicited: bool, override_flag: bool) -> Icmpv6Type {
    Icmpv6Type::NeighborAdvertisement(NeighborAdvertisementHeader {
        router,
        solicited,
        r#override: override_flag,
    })
}

fn learned(bench: &Bench, tables: &Tables, interface: IfIndex, ip: Ipv6Addr) -> Option<[u8; 6]> {
    bench
        .state
        .neighbors
        .resolve(tables, interface, IpAddr::V6(ip), at(0))
        .map(|mac| mac.0)
}

/// Runs frames through ip6-ndp on `rx_if`; returns what it sent back out of `rx_if`.
fn run_ndp(bench: &mut Bench, tables: &Tables, rx_if: IfIndex, frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
    for frame in frames {
        bench.receive_at("ip6-ndp", rx_if, frame);
    }
    bench.run(tables, at(0));
    let sent = bench.sent(rx_if);
    bench.assert_no_leak();
    sent
}

#[test]
fn a_solicitation_for_the_gateway_gets_an_advertisement_and_its_sender_is_learned() {
    let tables = tables();
    let mut bench = Bench::new();
    let sent = run_ndp(&mut bench, &tables, POD_SIDE, &[solicit_gateway()]);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].len(), 14 + 40 + 32);
    assert_eq!(
        read(&sent[0]),
        Seen {
            eth: (POD_SIDE_MAC, PEER_MAC),
            ip: (GATEWAY, POD),
            hop_limit: 255,
            icmp: flags(true, true, true),
            body: body(GATEWAY, &[&lladdr_option(2, POD_SIDE_MAC)]),
        }
    );
    assert_eq!(learned(&bench, &tables, POD_SIDE, POD), Some(PEER_MAC));
}

#[test]
fn a_solicitation_received_from_the_link_is_answered() {
    // The whole way: ethernet-input, ip6-input, ip6-ndp, interface-output.
    let tables = tables();
    let mut bench = Bench::new();
    let id = bench.receive(POD_SIDE, &solicit_gateway());
    bench.run(&tables, at(0));
    assert_eq!(bench.next_of(id, "ip6-input"), Some("ip6-ndp"));
    assert_eq!(bench.next_of(id, "ip6-ndp"), Some("interface-output"));
    let sent = bench.sent(POD_SIDE);
    assert_eq!(sent.len(), 1);
    let seen = read(&sent[0]);
    assert_eq!(
        (seen.eth, seen.ip),
        ((POD_SIDE_MAC, PEER_MAC), (GATEWAY, POD))
    );
    bench.assert_no_leak();
}

#[test]
fn duplicate_address_detection_is_answered_to_all_nodes_and_not_learned() {
    let tables = tables();
    let mut bench = Bench::new();
    let dad = icmp_frame(
        (PEER_MAC, multicast_mac(SOLICITED_GATEWAY)),
        (Ipv6Addr::UNSPECIFIED, SOLICITED_GATEWAY),
        255,
        (NS, 0, [0; 4]),
        &body(GATEWAY, &[]),
    );
    let sent = run_ndp(&mut bench, &tables, POD_SIDE, &[dad]);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        read(&sent[0]),
        Seen {
            eth: (POD_SIDE_MAC, [0x33, 0x33, 0, 0, 0, 1]),
            ip: (GATEWAY, ALL_NODES),
            hop_limit: 255,
            icmp: flags(true, false, true),
            body: body(GATEWAY, &[&lladdr_option(2, POD_SIDE_MAC)]),
        }
    );
    assert_eq!(bench.state.neighbors.iter().count(), 0);
}

#[test]
fn a_unicast_solicitation_without_lladdr_is_answered_to_the_mac_it_came_from() {
    let tables = tables();
    let mut bench = Bench::new();
    let probe = icmp_frame(
        (PEER_MAC, POD_SIDE_MAC),
        (POD, GATEWAY),
        255,
        (NS, 0, [0; 4]),
        &body(GATEWAY, &[]),
    );
    let sent = run_ndp(&mut bench, &tables, POD_SIDE, &[probe]);
    assert_eq!(sent.len(), 1);
    let seen = read(&sent[0]);
    assert_eq!(
        (seen.eth, seen.ip),
        ((POD_SIDE_MAC, PEER_MAC), (GATEWAY, POD))
    );
    assert_eq!(seen.icmp, flags(true, true, true));
    assert_eq!(
        bench.state.neighbors.iter().count(),
        0,
        "no lladdr, nothing learned"
    );
}

#[test]
fn a_solicitation_for_another_address_is_not_answered() {
    let tables = tables();
    let mut bench = Bench::new();
    let other = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x99);
    let group = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff00, 0x99);
    let ns = icmp_frame(
        (PEER_MAC, multicast_mac(group)),
        (POD, group),
        255,
        (NS, 0, [0; 4]),
        &body(other, &[&lladdr_option(1, PEER_MAC)]),
    );
    assert!(run_ndp(&mut bench, &tables, POD_SIDE, &[ns]).is_empty());
    assert_eq!(bench.graph.drop_count("ip6-ndp", "not-for-us"), 1);
    assert_eq!(bench.state.neighbors.iter().count(), 0);
}

#[test]
fn malformed_neighbor_discovery_is_dropped_with_its_reason() {
    let tables = tables();
    let mut bench = Bench::new();
    let eth = (PEER_MAC, multicast_mac(SOLICITED_GATEWAY));
    let ip = (POD, SOLICITED_GATEWAY);
    let slla = lladdr_option(1, PEER_MAC);
    let announce = NeighborAdvertisementHeader {
        router: false,
        solicited: false,
        r#override: true,
    };
    let ns = |hop: u8, code: u8, body: &[u8]| icmp_frame(eth, ip, hop, (NS, code, [0; 4]), body);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("bad-hop-limit", ns(64, 0, &body(GATEWAY, &[&slla]))),
        ("bad-code", ns(255, 1, &body(GATEWAY, &[&slla]))),
        ("truncated", ns(255, 0, &GATEWAY.octets()[..12])),
        ("bad-target", ns(255, 0, &body(SOLICITED_GATEWAY, &[&slla]))),
        (
            "bad-option",
            ns(255, 0, &body(GATEWAY, &[&[1, 0, 0, 0, 0, 0, 0, 0]])),
        ),
        (
            "bad-option",
            ns(255, 0, &body(GATEWAY, &[&[1, 2, 0, 0, 0, 0, 0, 0]])),
        ),
        ("bad-option", ns(255, 0, &body(GATEWAY, &[&[1, 1, 0, 0]]))),
        (
            "bad-lladdr",
            ns(
                255,
                0,
                &body(GATEWAY, &[&lladdr_option(1, [0x33, 0x33, 0, 0, 0, 1])]),
            ),
        ),
        (
            "bad-dad",
            icmp_frame(
                eth,
                (Ipv6Addr::UNSPECIFIED, SOLICITED_GATEWAY),
                255,
                (NS, 0, [0; 4]),
                &body(GATEWAY, &[&slla]),
            ),
        ),
        (
            "bad-dad",
            icmp_frame(
                eth,
                (Ipv6Addr::UNSPECIFIED, ALL_NODES),
                255,
                (NS, 0, [0; 4]),
                &body(GATEWAY, &[]),
            ),
        ),
        (
            "bad-advert",
            icmp_frame(
                eth,
                (POD, ALL_NODES),
                255,
                (NA, 0, [0x60, 0, 0, 0]),
                &body(POD, &[&lladdr_option(2, PEER_MAC)]),
            ),
        ),
        (
            "address-conflict",
            advert(GATEWAY, ALL_NODES, announce, GATEWAY, PEER_MAC),
        ),
        (
            "ignored",
            icmp_frame(eth, (POD, ALL_NODES), 255, (133, 0, [0; 4]), &[]),
        ),
        (
            "ignored",
            icmp_frame(eth, (POD, ALL_NODES), 255, (134, 0, [64, 0, 0, 0]), &[0; 8]),
        ),
        (
            "ignored",
            icmp_frame(eth, (POD, GATEWAY), 255, (137, 0, [0; 4]), &[0; 32]),
        ),
    ];
    let mut bad_checksum = ns(255, 0, &body(GATEWAY, &[&slla]));
    let last = bad_checksum.len() - 1;
    bad_checksum[last] ^= 0xff;
    let mut frames: Vec<Vec<u8>> = cases.iter().map(|(_, f)| f.clone()).collect();
    frames.push(bad_checksum);
    assert!(run_ndp(&mut bench, &tables, POD_SIDE, &frames).is_empty());
    let mut expected: Vec<&str> = cases.iter().map(|(reason, _)| *reason).collect();
    expected.push("bad-checksum");
    for reason in &expected {
        let count = expected.iter().filter(|r| *r == reason).count() as u64;
        assert_eq!(bench.graph.drop_count("ip6-ndp", reason), count, "{reason}");
    }
    assert_eq!(bench.state.neighbors.iter().count(), 0);
}

#[test]
fn advertisements_are_learned_when_solicited_and_refresh_otherwise() {
    let tables = tables();
    let mut bench = Bench::new();
    let known = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 7);
    let stranger = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 8);
    let new_mac = [2, 0, 0, 0, 0, 0x44];
    bench
        .state
        .neighbors
        .learn(UPLINK, IpAddr::V6(known), EthernetAddress(PEER_MAC), at(0));
    let solicited = NeighborAdvertisementHeader {
        router: false,
        solicited: true,
        r#override: true,
    };
    let unsolicited = NeighborAdvertisementHeader {
        router: false,
        solicited: false,
        r#override: true,
    };
    let frames = [
        advert(ROUTER, UPLINK_LL, solicited, ROUTER, [2, 0, 0, 0, 0, 0xfe]),
        advert(known, ALL_NODES, unsolicited, known, new_mac),
        advert(stranger, ALL_NODES, unsolicited, stranger, new_mac),
    ];
    assert!(run_ndp(&mut bench, &tables, UPLINK, &frames).is_empty());
    assert_eq!(
        learned(&bench, &tables, UPLINK, ROUTER),
        Some([2, 0, 0, 0, 0, 0xfe])
    );
    assert_eq!(learned(&bench, &tables, UPLINK, known), Some(new_mac));
    assert_eq!(learned(&bench, &tables, UPLINK, stranger), None);
    assert_eq!(bench.graph.drop_count("ip6-ndp", "consumed"), 3);
}

/// Hands an IPv6 packet from the pod to ip6-glean as ip6-rewrite would.
fn glean(bench: &mut Bench, tx_if: IfIndex, adjacency: u32, dst: Ipv6Addr) {
    hand_to_glean(
        bench,
        (POD_SIDE, tx_if),
        adjacency,
        (POD.into(), dst.into()),
    );
}

#[test]
fn glean_solicits_a_gateway_once_a_second_from_the_link_local_address() {
    let tables = tables();
    let (via, _) = tables.route6("fd10::1".parse().unwrap()).unwrap();
    let mut bench = Bench::new();
    let group = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff00, 0xfe);
    let expected = Seen {
        eth: (UPLINK_MAC, [0x33, 0x33, 0xff, 0, 0, 0xfe]),
        ip: (UPLINK_LL, group),
        hop_limit: 255,
        icmp: Icmpv6Type::NeighborSolicitation,
        body: body(ROUTER, &[&lladdr_option(1, UPLINK_MAC)]),
    };

    glean(&mut bench, UPLINK, via, "fd10::1".parse().unwrap());
    glean(&mut bench, UPLINK, via, "fd10::2".parse().unwrap());
    bench.run(&tables, at(0));
    let sent = bench.sent(UPLINK);
    assert_eq!(
        sent.len(),
        1,
        "two packets for one next hop, one solicitation"
    );
    assert_eq!(read(&sent[0]), expected);

    glean(&mut bench, UPLINK, via, "fd10::1".parse().unwrap());
    bench.run(&tables, at(999));
    assert!(
        bench.sent(UPLINK).is_empty(),
        "asked less than a second ago"
    );

    glean(&mut bench, UPLINK, via, "fd10::1".parse().unwrap());
    bench.run(&tables, at(1000));
    let sent = bench.sent(UPLINK);
    assert_eq!(sent.len(), 1, "a second later, asked again");
    assert_eq!(read(&sent[0]), expected);
    assert_eq!(
        bench.graph.drop_count("ip6-glean", "neighbor-unresolved"),
        3,
        "the packets that waited a second are dropped"
    );
    assert_eq!(bench.state.pending.len(), 1, "the new one waits");

    // The router's answer is learned, and the packet that waits leaves.
    let answer = advert(
        ROUTER,
        UPLINK_LL,
        NeighborAdvertisementHeader {
            router: true,
            solicited: true,
            r#override: true,
        },
        ROUTER,
        [2, 0, 0, 0, 0, 0xfe],
    );
    bench.receive_at("ip6-ndp", UPLINK, &answer);
    bench.run(&tables, at(1010));
    assert_eq!(
        learned(&bench, &tables, UPLINK, ROUTER),
        Some([2, 0, 0, 0, 0, 0xfe])
    );
    assert_eq!(
        ip_frames(&bench.sent(UPLINK)),
        [(
            [2, 0, 0, 0, 0, 0xfe],
            UPLINK_MAC,
            "fd10::1".parse().unwrap()
        )]
    );
    bench.assert_no_leak();
}

/// The advertisement of `target` at `mac`, answering the uplink's solicitation.
fn answer(target: Ipv6Addr, mac: [u8; 6]) -> Vec<u8> {
    let solicited = NeighborAdvertisementHeader {
        router: false,
        solicited: true,
        r#override: true,
    };
    advert(target, UPLINK_LL, solicited, target, mac)
}

#[test]
fn the_first_packets_wait_for_the_advertisement_and_leave_in_order_to_the_mac_learned() {
    let tables = tables();
    let (via, _) = tables.route6("fd10::1".parse().unwrap()).unwrap();
    let router_mac = [2, 0, 0, 0, 0, 0xfe];
    let destinations: [Ipv6Addr; 3] = ["fd10::1", "fd10::2", "fd10::3"].map(|a| a.parse().unwrap());
    let mut bench = Bench::new();
    for dst in destinations {
        glean(&mut bench, UPLINK, via, dst);
    }
    bench.run(&tables, at(0));
    let sent = bench.sent(UPLINK);
    assert_eq!(sent.len(), 1, "only the solicitation leaves");
    assert_eq!(read(&sent[0]).icmp, Icmpv6Type::NeighborSolicitation);

    let id = bench.receive_at("ip6-ndp", UPLINK, &answer(ROUTER, router_mac));
    bench.run(&tables, at(10));
    assert_eq!(
        ip_frames(&bench.sent(UPLINK)),
        destinations.map(|dst| (router_mac, UPLINK_MAC, dst.into())),
        "the held packets, in order, to the router's MAC"
    );
    assert_eq!(bench.next_of(id, "ip6-ndp"), Some("drop: consumed"));
    assert_eq!(
        drops(&bench),
        [("ip6-ndp", "consumed", 1)],
        "nothing else dropped"
    );
    bench.assert_no_leak();
}

#[test]
fn a_solicitation_from_the_next_hop_releases_what_waits_for_it() {
    let tables = tables();
    let attached = tables.attached_adjacency(UPLINK).unwrap();
    let neighbor: Ipv6Addr = "fd00::20".parse().unwrap();
    let mut bench = Bench::new();
    glean(&mut bench, UPLINK, attached, neighbor);
    bench.run(&tables, at(0));
    assert_eq!(bench.sent(UPLINK).len(), 1);
    // The neighbor asks for the uplink's address before it answers: its
    // solicitation tells its MAC.
    let solicitation = icmp_frame(
        (PEER_MAC, UPLINK_MAC),
        (neighbor, UPLINK_GLOBAL),
        255,
        (NS, 0, [0; 4]),
        &body(UPLINK_GLOBAL, &[&lladdr_option(1, PEER_MAC)]),
    );
    bench.receive_at("ip6-ndp", UPLINK, &solicitation);
    bench.run(&tables, at(10));
    let sent = bench.sent(UPLINK);
    assert_eq!(sent.len(), 2, "the advertisement and the held packet");
    assert_eq!(read(&sent[0]).icmp, flags(true, true, true));
    assert_eq!(
        ip_frames(&sent[1..]),
        [(PEER_MAC, UPLINK_MAC, neighbor.into())]
    );
    bench.assert_no_leak();
}

#[test]
fn held_packets_nobody_advertises_for_are_dropped_after_a_second() {
    let tables = tables();
    let (via, _) = tables.route6("fd10::1".parse().unwrap()).unwrap();
    let mut bench = Bench::new();
    for i in 1..=5 {
        glean(
            &mut bench,
            UPLINK,
            via,
            Ipv6Addr::new(0xfd10, 0, 0, 0, 0, 0, 0, i),
        );
    }
    bench.run(&tables, at(0));
    assert_eq!(bench.sent(UPLINK).len(), 1, "the solicitation");
    assert_eq!(
        bench.graph.drop_count("ip6-glean", "neighbor-queue-full"),
        2
    );
    assert_eq!(release_due(&mut bench, &tables, at(999)), 0);
    assert_eq!(release_due(&mut bench, &tables, at(1000)), 3);
    bench.run(&tables, at(1000));
    assert_eq!(
        bench.graph.drop_count("ip6-glean", "neighbor-unresolved"),
        3
    );
    assert!(bench.sent(UPLINK).is_empty());
    bench.assert_no_leak();
}

#[test]
fn glean_solicits_an_attached_destination_itself_and_needs_an_address() {
    let tables = tables();
    let mut bench = Bench::new();
    let attached = tables.attached_adjacency(UPLINK).unwrap();
    let dst: Ipv6Addr = "fd00::20".parse().unwrap();
    glean(&mut bench, UPLINK, attached, dst);
    bench.run(&tables, at(0));
    let sent = bench.sent(UPLINK);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        read(&sent[0]).body,
        body(dst, &[&lladdr_option(1, UPLINK_MAC)])
    );

    let (bare, _) = tables.route6("fd30::1".parse().unwrap()).unwrap();
    glean(&mut bench, BARE, bare, "fd30::1".parse().unwrap());
    bench.run(&tables, at(0));
    assert!(bench.sent(BARE).is_empty());
    assert_eq!(bench.graph.drop_count("ip6-glean", "no-source-address"), 1);

    bench.receive_at("ip6-ndp", UPLINK, &answer(dst, PEER_MAC));
    bench.run(&tables, at(10));
    assert_eq!(
        ip_frames(&bench.sent(UPLINK)),
        [(PEER_MAC, UPLINK_MAC, dst.into())]
    );
    bench.assert_no_leak();
}
