use core::net::{IpAddr, Ipv4Addr};

use etherparse::{
    ArpHardwareId, ArpOperation, ArpPacket, ArpPacketSlice, Ethernet2Slice, PacketBuilder,
};
use podwire_wire::ethernet::EthernetAddress;

use crate::clock::Instant;
use crate::interface::{IfIndex, InterfaceConfig};
use crate::neighbor::NEIGHBOR_CAPACITY;
use crate::neighbor::pending::HOLD_PACKETS;
use crate::nodes::ethernet_input::bench::Bench;
use crate::nodes::glean::release_due;
use crate::nodes::glean::testing::{drops, hand_to_glean, ip_frames};
use crate::tables::{Adjacency, Tables, TablesBuilder};

const POD_SIDE_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const UPLINK_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
const BARE_MAC: [u8; 6] = [2, 0, 0, 0, 0, 3];
const PEER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x22];

const POD_SIDE: IfIndex = IfIndex(0);
const UPLINK: IfIndex = IfIndex(1);
const BARE: IfIndex = IfIndex(2);

const GATEWAY: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);
const POD: Ipv4Addr = Ipv4Addr::new(10, 1, 1, 5);
const UPLINK_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);
const ROUTER: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 254);

fn tables() -> Tables {
    let mut b = TablesBuilder::new();
    let mut pod_side = InterfaceConfig::l3("pod0", EthernetAddress(POD_SIDE_MAC));
    pod_side.ip4.push((GATEWAY, 32));
    assert_eq!(b.add_interface(pod_side).unwrap(), POD_SIDE);
    let mut uplink = InterfaceConfig::l3("up0", EthernetAddress(UPLINK_MAC));
    uplink.ip4.push((UPLINK_IP, 24));
    assert_eq!(b.add_interface(uplink).unwrap(), UPLINK);
    let bare = InterfaceConfig::l3("bare", EthernetAddress(BARE_MAC));
    assert_eq!(b.add_interface(bare).unwrap(), BARE);
    let via = Adjacency::Via {
        interface: UPLINK,
        gateway: IpAddr::V4(ROUTER),
    };
    b.add_route4(Ipv4Addr::new(10, 2, 0, 0), 16, via).unwrap();
    b.add_route4(
        Ipv4Addr::new(10, 3, 0, 0),
        16,
        Adjacency::Attached { interface: BARE },
    )
    .unwrap();
    b.build(1)
}

fn at(millis: u64) -> Instant {
    Instant::from_nanos(millis * 1_000_000)
}

/// An ARP frame, padded to the 60-byte Ethernet minimum as a NIC would.
fn arp_frame(
    dst: [u8; 6],
    op: ArpOperation,
    sender: ([u8; 6], Ipv4Addr),
    target: ([u8; 6], Ipv4Addr),
) -> Vec<u8> {
    let arp = ArpPacket::new(
        ArpHardwareId::ETHERNET,
        etherparse::EtherType::IPV4,
        op,
        &sender.0,
        &sender.1.octets(),
        &target.0,
        &target.1.octets(),
    )
    .unwrap();
    let mut bytes = Vec::new();
    PacketBuilder::ethernet2(sender.0, dst)
        .arp(arp)
        .write(&mut bytes)
        .unwrap();
    bytes.resize(60, 0);
    bytes
}

fn request(sender: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    arp_frame(
        [0xff; 6],
        ArpOperation::REQUEST,
        (PEER_MAC, sender),
        ([0; 6], target),
    )
}

fn reply(sender: ([u8; 6], Ipv4Addr), target: Ipv4Addr) -> Vec<u8> {
    arp_frame(
        POD_SIDE_MAC,
        ArpOperation::REPLY,
        sender,
        (POD_SIDE_MAC, target),
    )
}

/// The MAC the worker would use for `ip` on `interface`.
fn resolved(bench: &Bench, tables: &Tables, interface: IfIndex, ip: Ipv4Addr) -> Option<[u8; 6]> {
    bench
        .state
        .neighbors
        .resolve(tables, interface, IpAddr::V4(ip), at(0))
        .map(|mac| mac.0)
}

/// Checks a sent frame with etherparse: Ethernet (dst, src) and ARP (operation, sender, target).
fn assert_arp(
    frame: &[u8],
    eth: ([u8; 6], [u8; 6]),
    op: ArpOperation,
    sender: ([u8; 6], Ipv4Addr),
    target: ([u8; 6], Ipv4Addr),
) {
    assert_eq!(
        frame.len(),
        42,
        "Ethernet header and a 28-byte ARP packet, no padding"
    );
    let ethernet = Ethernet2Slice::from_slice_without_fcs(frame).unwrap();
    assert_eq!((ethernet.destination(), ethernet.source()), eth);
    assert_eq!(ethernet.ether_type(), etherparse::EtherType::ARP);
    let arp = ArpPacketSlice::from_slice(ethernet.payload_slice()).unwrap();
    assert_eq!(arp.hw_addr_type(), ArpHardwareId::ETHERNET);
    assert_eq!(arp.proto_addr_type(), etherparse::EtherType::IPV4);
    assert_eq!(arp.operation(), op);
    assert_eq!(
        (arp.sender_hw_addr(), arp.sender_protocol_addr()),
        (&sender.0[..], &sender.1.octets()[..])
    );
    assert_eq!(
        (arp.target_hw_addr(), arp.target_protocol_addr()),
        (&target.0[..], &target.1.octets()[..])
    );
}

#[test]
fn a_request_for_the_interface_address_is_answered_and_its_sender_learned() {
    let tables = tables();
    let mut bench = Bench::new();
    let id = bench.receive(POD_SIDE, &request(POD, GATEWAY));
    bench.run(&tables, at(0));
    let sent = bench.sent(POD_SIDE);
    assert_eq!(sent.len(), 1);
    assert_arp(
        &sent[0],
        (PEER_MAC, POD_SIDE_MAC),
        ArpOperation::REPLY,
        (POD_SIDE_MAC, GATEWAY),
        (PEER_MAC, POD),
    );
    assert_eq!(resolved(&bench, &tables, POD_SIDE, POD), Some(PEER_MAC));
    assert_eq!(bench.next_of(id, "arp-input"), Some("interface-output"));
    assert!(
        bench
            .notes_of(id, "arp-input")
            .contains("answered: 169.254.1.1 is-at 02:00:00:00:00:01")
    );
    bench.assert_no_leak();
}

/// Found by the `input_nodes` fuzz target: the reply was written over the
/// first buffer of a chained request, and the chained buffers left with it
/// (here past the interface's MTU).
#[test]
fn a_request_longer_than_one_buffer_is_dropped_unanswered() {
    let tables = tables();
    let mut bench = Bench::new();
    let mut jumbo = request(POD, GATEWAY);
    jumbo.resize(4000, 0xee);
    let id = bench.receive(POD_SIDE, &jumbo);
    bench.run(&tables, at(0));
    assert_eq!(bench.next_of(id, "arp-input"), Some("drop: too-long"));
    assert!(bench.sent(POD_SIDE).is_empty());
    assert_eq!(
        resolved(&bench, &tables, POD_SIDE, POD),
        None,
        "nothing learned"
    );
    bench.assert_no_leak();
}

#[test]
fn a_request_for_another_address_is_not_answered_nor_learned() {
    let tables = tables();
    let mut bench = Bench::new();
    bench.receive(POD_SIDE, &request(POD, Ipv4Addr::new(10, 1, 1, 99)));
    // The uplink's address asked on the pod side: not this interface's.
    bench.receive(POD_SIDE, &request(POD, UPLINK_IP));
    bench.run(&tables, at(0));
    assert!(bench.sent(POD_SIDE).is_empty());
    assert_eq!(bench.graph.drop_count("arp-input", "not-for-us"), 2);
    assert_eq!(resolved(&bench, &tables, POD_SIDE, POD), None);
    bench.assert_no_leak();
}

#[test]
fn replies_are_learned_only_when_for_us_or_asked_for() {
    let tables = tables();
    let mut bench = Bench::new();
    let stranger = Ipv4Addr::new(10, 1, 1, 7);
    let asked = Ipv4Addr::new(10, 1, 1, 8);
    let answering = Ipv4Addr::new(10, 1, 1, 9);
    let elsewhere = Ipv4Addr::new(10, 1, 1, 200);
    assert!(
        bench
            .state
            .neighbors
            .should_solicit(POD_SIDE, IpAddr::V4(asked), at(0))
    );
    bench.receive(POD_SIDE, &reply((PEER_MAC, stranger), elsewhere));
    bench.receive(POD_SIDE, &reply((PEER_MAC, asked), elsewhere));
    bench.receive(POD_SIDE, &reply((PEER_MAC, answering), GATEWAY));
    bench.run(&tables, at(0));
    assert_eq!(resolved(&bench, &tables, POD_SIDE, stranger), None);
    assert_eq!(resolved(&bench, &tables, POD_SIDE, asked), Some(PEER_MAC));
    assert_eq!(
        resolved(&bench, &tables, POD_SIDE, answering),
        Some(PEER_MAC)
    );
    assert_eq!(bench.graph.drop_count("arp-input", "consumed"), 3);
    assert!(bench.sent(POD_SIDE).is_empty(), "replies are not answered");
    bench.assert_no_leak();
}

#[test]
fn a_gratuitous_arp_updates_a_known_neighbor_only() {
    let tables = tables();
    let mut bench = Bench::new();
    let known = Ipv4Addr::new(10, 1, 1, 7);
    let unknown = Ipv4Addr::new(10, 1, 1, 8);
    let new_mac = [2, 0, 0, 0, 0, 0x44];
    bench.state.neighbors.learn(
        POD_SIDE,
        IpAddr::V4(known),
        EthernetAddress(PEER_MAC),
        at(0),
    );
    for ip in [known, unknown] {
        let announce = arp_frame(
            [0xff; 6],
            ArpOperation::REQUEST,
            (new_mac, ip),
            ([0; 6], ip),
        );
        bench.receive(POD_SIDE, &announce);
    }
    bench.run(&tables, at(0));
    assert_eq!(resolved(&bench, &tables, POD_SIDE, known), Some(new_mac));
    assert_eq!(resolved(&bench, &tables, POD_SIDE, unknown), None);
    assert_eq!(bench.graph.drop_count("arp-input", "consumed"), 2);
    bench.assert_no_leak();
}

#[test]
fn a_probe_is_answered_but_not_learned() {
    let tables = tables();
    let mut bench = Bench::new();
    bench.receive(POD_SIDE, &request(Ipv4Addr::UNSPECIFIED, GATEWAY));
    bench.run(&tables, at(0));
    let sent = bench.sent(POD_SIDE);
    assert_eq!(sent.len(), 1);
    assert_arp(
        &sent[0],
        (PEER_MAC, POD_SIDE_MAC),
        ArpOperation::REPLY,
        (POD_SIDE_MAC, GATEWAY),
        (PEER_MAC, Ipv4Addr::UNSPECIFIED),
    );
    assert_eq!(bench.state.neighbors.iter().count(), 0);
    bench.assert_no_leak();
}

#[test]
fn malformed_arp_is_dropped_with_its_reason() {
    let tables = tables();
    let mut bench = Bench::new();
    let good = request(POD, GATEWAY);
    // 20 bytes of ARP: shorter than its addresses.
    bench.receive(POD_SIDE, &good[..14 + 20]);
    // Shorter than the fixed part.
    bench.receive(POD_SIDE, &good[..14 + 6]);
    let mut hlen = good.clone();
    hlen[14 + 4] = 8; // 8-byte hardware addresses: the padding holds them, still not Ethernet.
    bench.receive(POD_SIDE, &hlen);
    let mut plen = good.clone();
    plen[14 + 5] = 6;
    bench.receive(POD_SIDE, &plen);
    let mut ptype = good.clone();
    ptype[14 + 2..14 + 4].copy_from_slice(&[0x86, 0xdd]);
    bench.receive(POD_SIDE, &ptype);
    let mut op = good.clone();
    op[14 + 7] = 3; // RARP request
    bench.receive(POD_SIDE, &op);
    bench.run(&tables, at(0));
    assert_eq!(bench.graph.drop_count("arp-input", "truncated"), 2);
    assert_eq!(bench.graph.drop_count("arp-input", "unsupported"), 4);
    assert!(bench.sent(POD_SIDE).is_empty());
    assert_eq!(bench.state.neighbors.iter().count(), 0);
    bench.assert_no_leak();
}

#[test]
fn senders_claiming_impossible_or_our_addresses_are_refused() {
    let tables = tables();
    let mut bench = Bench::new();
    let group_mac = [0x01, 0, 0x5e, 0, 0, 1];
    let mut group_sender = arp_frame(
        [0xff; 6],
        ArpOperation::REQUEST,
        (group_mac, POD),
        ([0; 6], GATEWAY),
    );
    // A unicast Ethernet source, so that only the ARP sender is wrong.
    group_sender[6..12].copy_from_slice(&PEER_MAC);
    bench.receive(POD_SIDE, &group_sender);
    bench.receive(POD_SIDE, &request(Ipv4Addr::new(224, 0, 0, 1), GATEWAY));
    bench.receive(POD_SIDE, &request(Ipv4Addr::BROADCAST, GATEWAY));
    bench.receive(POD_SIDE, &reply((PEER_MAC, GATEWAY), POD));
    bench.run(&tables, at(0));
    assert_eq!(bench.graph.drop_count("arp-input", "bad-sender"), 3);
    assert_eq!(bench.graph.drop_count("arp-input", "address-conflict"), 1);
    assert!(bench.sent(POD_SIDE).is_empty());
    assert_eq!(bench.state.neighbors.iter().count(), 0);
    bench.assert_no_leak();
}

#[test]
fn a_full_table_is_counted_and_requests_are_still_answered() {
    let tables = tables();
    let mut bench = Bench::new();
    for i in 0..NEIGHBOR_CAPACITY as u32 {
        let ip = IpAddr::V4(Ipv4Addr::from(0x0a80_0000 + i));
        assert!(
            bench
                .state
                .neighbors
                .learn(UPLINK, ip, EthernetAddress(PEER_MAC), at(0))
        );
    }
    bench.receive(POD_SIDE, &reply((PEER_MAC, POD), GATEWAY));
    bench.receive(POD_SIDE, &request(POD, GATEWAY));
    bench.run(&tables, at(0));
    assert_eq!(bench.graph.drop_count("arp-input", "table-full"), 1);
    assert_eq!(bench.sent(POD_SIDE).len(), 1);
    assert_eq!(resolved(&bench, &tables, POD_SIDE, POD), None);
    bench.assert_no_leak();
}

/// Hands an IPv4 packet from the pod to ip4-glean as ip4-rewrite would:
/// leaving by `tx_if` by adjacency `adjacency`.
fn glean(bench: &mut Bench, tx_if: IfIndex, adjacency: u32, dst: Ipv4Addr) {
    hand_to_glean(
        bench,
        (POD_SIDE, tx_if),
        adjacency,
        (POD.into(), dst.into()),
    );
}

/// The request `ip4-glean` sends for `target` out of the uplink.
fn assert_request_for(frame: &[u8], target: Ipv4Addr) {
    assert_arp(
        frame,
        ([0xff; 6], UPLINK_MAC),
        ArpOperation::REQUEST,
        (UPLINK_MAC, UPLINK_IP),
        ([0; 6], target),
    );
}

/// The router's answer to a request from the uplink.
fn router_answer(router_mac: [u8; 6]) -> Vec<u8> {
    arp_frame(
        UPLINK_MAC,
        ArpOperation::REPLY,
        (router_mac, ROUTER),
        (UPLINK_MAC, UPLINK_IP),
    )
}

#[test]
fn glean_asks_for_a_gateway_once_a_second_and_holds_what_waits() {
    let tables = tables();
    let (via, _) = tables.route4(Ipv4Addr::new(10, 2, 0, 1)).unwrap();
    let mut bench = Bench::new();

    glean(&mut bench, UPLINK, via, Ipv4Addr::new(10, 2, 0, 1));
    glean(&mut bench, UPLINK, via, Ipv4Addr::new(10, 2, 0, 2));
    bench.run(&tables, at(0));
    let sent = bench.sent(UPLINK);
    assert_eq!(sent.len(), 1, "two packets for one next hop, one request");
    assert_request_for(&sent[0], ROUTER);
    assert_eq!(bench.state.pending.len(), 2, "both packets wait");

    glean(&mut bench, UPLINK, via, Ipv4Addr::new(10, 2, 0, 1));
    bench.run(&tables, at(999));
    assert!(
        bench.sent(UPLINK).is_empty(),
        "asked less than a second ago"
    );
    assert_eq!(bench.state.pending.len(), 3);

    glean(&mut bench, UPLINK, via, Ipv4Addr::new(10, 2, 0, 1));
    bench.run(&tables, at(1000));
    let sent = bench.sent(UPLINK);
    assert_eq!(sent.len(), 1, "a second later, asked again");
    assert_request_for(&sent[0], ROUTER);
    assert_eq!(
        bench.graph.drop_count("ip4-glean", "neighbor-unresolved"),
        3,
        "the packets that waited a second are dropped"
    );
    assert_eq!(bench.state.pending.len(), 1, "the new one waits");

    assert_eq!(release_due(&mut bench, &tables, at(1999)), 0);
    assert_eq!(release_due(&mut bench, &tables, at(2000)), 1);
    bench.run(&tables, at(2000));
    assert_eq!(
        bench.graph.drop_count("ip4-glean", "neighbor-unresolved"),
        4
    );
    assert!(bench.sent(UPLINK).is_empty());
    bench.assert_no_leak();
}

#[test]
fn glean_asks_for_an_attached_destination_itself() {
    let tables = tables();
    let attached = tables.attached_adjacency(UPLINK).unwrap();
    let dst = Ipv4Addr::new(192, 168, 1, 20);
    let mut bench = Bench::new();
    glean(&mut bench, UPLINK, attached, dst);
    bench.run(&tables, at(0));
    let sent = bench.sent(UPLINK);
    assert_eq!(sent.len(), 1);
    assert_request_for(&sent[0], dst);
    let answer = arp_frame(
        UPLINK_MAC,
        ArpOperation::REPLY,
        (PEER_MAC, dst),
        (UPLINK_MAC, UPLINK_IP),
    );
    bench.receive(UPLINK, &answer);
    bench.run(&tables, at(10));
    assert_eq!(
        ip_frames(&bench.sent(UPLINK)),
        [(PEER_MAC, UPLINK_MAC, dst.into())]
    );
    bench.assert_no_leak();
}

#[test]
fn glean_needs_an_address_to_ask_from() {
    let tables = tables();
    let (attached, _) = tables.route4(Ipv4Addr::new(10, 3, 0, 1)).unwrap();
    let mut bench = Bench::new();
    glean(&mut bench, BARE, attached, Ipv4Addr::new(10, 3, 0, 1));
    bench.run(&tables, at(0));
    assert!(bench.sent(BARE).is_empty());
    assert_eq!(bench.graph.drop_count("ip4-glean", "no-source-address"), 1);
    bench.assert_no_leak();
}

#[test]
fn the_first_packets_wait_for_the_answer_and_leave_in_order_to_the_mac_learned() {
    let tables = tables();
    let (via, _) = tables.route4(Ipv4Addr::new(10, 2, 0, 1)).unwrap();
    let router_mac = [2, 0, 0, 0, 0, 0xfe];
    let destinations = [1, 2, 3].map(|i| Ipv4Addr::new(10, 2, 0, i));
    let mut bench = Bench::new();
    for dst in destinations {
        glean(&mut bench, UPLINK, via, dst);
    }
    bench.run(&tables, at(0));
    let sent = bench.sent(UPLINK);
    assert_eq!(sent.len(), 1, "only the request leaves");
    assert_request_for(&sent[0], ROUTER);

    let id = bench.receive(UPLINK, &router_answer(router_mac));
    bench.run(&tables, at(10));
    assert_eq!(resolved(&bench, &tables, UPLINK, ROUTER), Some(router_mac));
    assert_eq!(
        ip_frames(&bench.sent(UPLINK)),
        destinations.map(|dst| (router_mac, UPLINK_MAC, dst.into())),
        "the held packets, in order, to the router's MAC"
    );
    assert_eq!(bench.next_of(id, "arp-input"), Some("drop: consumed"));
    assert_eq!(
        drops(&bench),
        [("arp-input", "consumed", 1)],
        "nothing else dropped"
    );
    assert!(bench.state.pending.is_empty());
    bench.assert_no_leak();
}

#[test]
fn past_three_packets_for_one_next_hop_the_rest_are_dropped() {
    let tables = tables();
    let (via, _) = tables.route4(Ipv4Addr::new(10, 2, 0, 1)).unwrap();
    let mut bench = Bench::new();
    for i in 1..=5 {
        glean(&mut bench, UPLINK, via, Ipv4Addr::new(10, 2, 0, i));
    }
    bench.run(&tables, at(0));
    assert_eq!(bench.sent(UPLINK).len(), 1, "the request");
    assert_eq!(
        bench.graph.drop_count("ip4-glean", "neighbor-queue-full"),
        2
    );
    assert_eq!(bench.state.pending.len(), HOLD_PACKETS);

    bench.receive(UPLINK, &router_answer(PEER_MAC));
    bench.run(&tables, at(10));
    let sent: Vec<IpAddr> = ip_frames(&bench.sent(UPLINK))
        .into_iter()
        .map(|(_, _, dst)| dst)
        .collect();
    assert_eq!(
        sent,
        [1, 2, 3].map(|i| IpAddr::V4(Ipv4Addr::new(10, 2, 0, i)))
    );
    bench.assert_no_leak();
}

#[test]
fn held_packets_nobody_answers_for_are_dropped_after_a_second() {
    let tables = tables();
    let (via, _) = tables.route4(Ipv4Addr::new(10, 2, 0, 1)).unwrap();
    let attached = tables.attached_adjacency(UPLINK).unwrap();
    let mut bench = Bench::new();
    glean(&mut bench, UPLINK, via, Ipv4Addr::new(10, 2, 0, 1));
    glean(&mut bench, UPLINK, via, Ipv4Addr::new(10, 2, 0, 2));
    bench.run(&tables, at(0));
    glean(&mut bench, UPLINK, attached, Ipv4Addr::new(192, 168, 1, 30));
    bench.run(&tables, at(500));
    assert_eq!(bench.sent(UPLINK).len(), 2, "a request for each next hop");
    let free = bench.pool.available();

    assert_eq!(release_due(&mut bench, &tables, at(999)), 0, "not yet");
    assert_eq!(
        release_due(&mut bench, &tables, at(1000)),
        2,
        "the router's time is up"
    );
    bench.run(&tables, at(1000));
    assert_eq!(bench.pool.available(), free + 2);
    assert_eq!(release_due(&mut bench, &tables, at(1500)), 1);
    bench.run(&tables, at(1500));
    assert_eq!(
        bench.graph.drop_count("ip4-glean", "neighbor-unresolved"),
        3
    );
    assert!(bench.sent(UPLINK).is_empty(), "nothing leaves");
    assert!(bench.state.pending.is_empty());
    bench.assert_no_leak();

    // An answer after the time is up finds nothing to send.
    bench.receive(UPLINK, &router_answer(PEER_MAC));
    bench.run(&tables, at(1600));
    assert!(bench.sent(UPLINK).is_empty());
    bench.assert_no_leak();
}

#[test]
fn the_answer_to_a_glean_request_is_learned() {
    let tables = tables();
    let (via, _) = tables.route4(Ipv4Addr::new(10, 2, 0, 1)).unwrap();
    let router_mac = [2, 0, 0, 0, 0, 0xfe];
    let mut bench = Bench::new();
    glean(&mut bench, UPLINK, via, Ipv4Addr::new(10, 2, 0, 1));
    bench.run(&tables, at(0));
    assert_eq!(bench.sent(UPLINK).len(), 1);
    let answer = arp_frame(
        UPLINK_MAC,
        ArpOperation::REPLY,
        (router_mac, ROUTER),
        (UPLINK_MAC, UPLINK_IP),
    );
    bench.receive(UPLINK, &answer);
    bench.run(&tables, at(10));
    assert_eq!(resolved(&bench, &tables, UPLINK, ROUTER), Some(router_mac));
    assert_eq!(
        ip_frames(&bench.sent(UPLINK)),
        [(router_mac, UPLINK_MAC, Ipv4Addr::new(10, 2, 0, 1).into())]
    );
    bench.assert_no_leak();
}
