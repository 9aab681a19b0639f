use core::net::Ipv4Addr;
use std::time::Duration;

use etherparse::{Ethernet2Header, PacketBuilder};
use podwire_wire::ethernet::EthernetAddress;

use super::bench::Bench;
use crate::clock::Instant;
use crate::interface::{IfIndex, InterfaceConfig, InterfaceMode};
use crate::tables::{BridgeDomainConfig, Tables, TablesBuilder};

const OUR_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const PEER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x22];
const OTHER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x33];

const ROUTED: IfIndex = IfIndex(0);
const BRIDGED: IfIndex = IfIndex(1);
const CROSS: IfIndex = IfIndex(2);
const UNKNOWN: IfIndex = IfIndex(9);

fn tables() -> Tables {
    let mut b = TablesBuilder::new();
    let mut routed = InterfaceConfig::l3("pod0", EthernetAddress(OUR_MAC));
    routed.ip4.push((Ipv4Addr::new(169, 254, 1, 1), 32));
    assert_eq!(b.add_interface(routed).unwrap(), ROUTED);
    let bd = b.add_bridge_domain(BridgeDomainConfig {
        name: "bd".into(),
        ports: vec![BRIDGED],
        learn: true,
        flood: true,
        mac_age: Duration::from_secs(300),
    });
    let mut bridged = InterfaceConfig::l3("br-port", EthernetAddress([2, 0, 0, 0, 0, 2]));
    bridged.mode = InterfaceMode::Bridged(bd);
    assert_eq!(b.add_interface(bridged).unwrap(), BRIDGED);
    let mut cross = InterfaceConfig::l3("xc", EthernetAddress([2, 0, 0, 0, 0, 3]));
    cross.mode = InterfaceMode::CrossConnect(BRIDGED);
    assert_eq!(b.add_interface(cross).unwrap(), CROSS);
    b.build(1)
}

/// A frame with any EtherType and a payload of `len` bytes.
fn frame(src: [u8; 6], dst: [u8; 6], ethertype: u16, len: usize) -> Vec<u8> {
    let header = Ethernet2Header {
        source: src,
        destination: dst,
        ether_type: etherparse::EtherType(ethertype),
    };
    let mut bytes = header.to_bytes().to_vec();
    bytes.resize(14 + len, 0xab);
    bytes
}

fn udp4(dst: [u8; 6]) -> Vec<u8> {
    let mut bytes = Vec::new();
    PacketBuilder::ethernet2(PEER_MAC, dst)
        .ipv4([10, 0, 0, 2], [10, 0, 0, 1], 64)
        .udp(1000, 2000)
        .write(&mut bytes, b"payload")
        .unwrap();
    bytes
}

/// Runs one frame through the bench; where ethernet-input sent it.
fn next_for(rx_if: IfIndex, bytes: &[u8]) -> String {
    let mut bench = Bench::new();
    let id = bench.receive(rx_if, bytes);
    bench.run(&tables(), Instant::default());
    let next = bench
        .next_of(id, "ethernet-input")
        .unwrap_or("not reached")
        .to_string();
    for interface in [ROUTED, BRIDGED, CROSS] {
        bench.sent(interface);
    }
    bench.assert_no_leak();
    next
}

#[test]
fn routed_frames_go_to_the_node_of_their_ethertype() {
    assert_eq!(next_for(ROUTED, &udp4(OUR_MAC)), "ip4-input");
    let mut v6 = Vec::new();
    PacketBuilder::ethernet2(PEER_MAC, [0x33, 0x33, 0, 0, 0, 1])
        .ipv6(
            [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
            [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            255,
        )
        .udp(1, 2)
        .write(&mut v6, b"x")
        .unwrap();
    assert_eq!(next_for(ROUTED, &v6), "ip6-input");
    assert_eq!(
        next_for(ROUTED, &frame(PEER_MAC, [0xff; 6], 0x0806, 28)),
        "arp-input"
    );
    assert_eq!(
        next_for(ROUTED, &udp4([0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb])),
        "ip4-input"
    );
}

#[test]
fn frames_for_other_stations_are_not_for_us() {
    assert_eq!(next_for(ROUTED, &udp4(OTHER_MAC)), "drop: not-for-us");
    // The upper half of 01:00:5e is not IPv4 multicast; 01:80:c2 is LLDP/STP.
    assert_eq!(
        next_for(ROUTED, &udp4([0x01, 0x00, 0x5e, 0x80, 0, 1])),
        "drop: not-for-us"
    );
    assert_eq!(
        next_for(ROUTED, &udp4([0x01, 0x80, 0xc2, 0, 0, 0x0e])),
        "drop: not-for-us"
    );
}

#[test]
fn malformed_frames_are_dropped_with_their_reason() {
    assert_eq!(next_for(ROUTED, &udp4(OUR_MAC)[..13]), "drop: truncated");
    assert_eq!(
        next_for(ROUTED, &frame(PEER_MAC, OUR_MAC, 0x8100, 46)),
        "drop: vlan-unsupported"
    );
    assert_eq!(
        next_for(ROUTED, &frame(PEER_MAC, OUR_MAC, 0x88a8, 46)),
        "drop: vlan-unsupported"
    );
    assert_eq!(
        next_for(ROUTED, &frame(PEER_MAC, OUR_MAC, 0x88cc, 46)),
        "drop: unknown-ethertype"
    );
    // An 802.3 length field, not an EtherType.
    assert_eq!(
        next_for(ROUTED, &frame(PEER_MAC, OUR_MAC, 46, 46)),
        "drop: unknown-ethertype"
    );
    assert_eq!(next_for(UNKNOWN, &udp4(OUR_MAC)), "drop: no-interface");
}

#[test]
fn a_multicast_source_is_refused_on_every_kind_of_interface() {
    let mut bytes = udp4(OUR_MAC);
    bytes[6] |= 1;
    assert_eq!(next_for(ROUTED, &bytes), "drop: bad-source-mac");
    assert_eq!(next_for(BRIDGED, &bytes), "drop: bad-source-mac");
    bytes[6..12].copy_from_slice(&[0xff; 6]);
    assert_eq!(next_for(ROUTED, &bytes), "drop: bad-source-mac");
}

#[test]
fn l2_interfaces_take_every_frame_whole() {
    // Another station's MAC and an unknown EtherType: an L2 port switches them anyway.
    let other = frame(PEER_MAC, OTHER_MAC, 0x88cc, 46);
    assert_eq!(next_for(BRIDGED, &other), "l2-input");
    assert_eq!(next_for(CROSS, &other), "l2-xconnect");
}

#[test]
fn drop_counters_count_each_reason() {
    let mut bench = Bench::new();
    bench.receive(ROUTED, &udp4(OTHER_MAC));
    bench.receive(ROUTED, &udp4(OTHER_MAC));
    bench.receive(ROUTED, &udp4(OUR_MAC)[..3]);
    bench.run(&tables(), Instant::default());
    assert_eq!(bench.graph.drop_count("ethernet-input", "not-for-us"), 2);
    assert_eq!(bench.graph.drop_count("ethernet-input", "truncated"), 1);
}

#[test]
fn a_traced_frame_says_what_it_carried() {
    let mut bench = Bench::new();
    let id = bench.receive(ROUTED, &udp4(OUR_MAC));
    bench.run(&tables(), Instant::default());
    assert_eq!(
        bench.notes_of(id, "ethernet-input"),
        "02:00:00:00:00:22 > 02:00:00:00:00:01 ipv4"
    );
}
