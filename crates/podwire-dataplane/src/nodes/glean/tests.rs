//! Held packets through the whole graph: the VXLAN outer packet to a remote end not yet
//! resolved, and what [`release_due`] finds between vectors (another worker learned the
//! neighbor, the control plane published new tables).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use etherparse::icmpv6::NeighborAdvertisementHeader;
use etherparse::{
    ArpHardwareId, ArpOperation, ArpPacket, Icmpv6Type, LinkSlice, NetSlice, PacketBuilder,
    SlicedPacket, TransportSlice,
};
use podwire_wire::ethernet::EthernetAddress;

use super::*;
use crate::interface::{IfIndex, InterfaceConfig, VxlanTunnel};
use crate::neighbor::{NeighborBus, NeighborTable};
use crate::nodes::ethernet_input::bench::Bench;
use crate::tables::TablesBuilder;

const POD_IF: IfIndex = IfIndex(0);
const UPLINK: IfIndex = IfIndex(1);
const TUNNEL: IfIndex = IfIndex(2);

const POD_IF_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const UPLINK_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
const POD_MAC: [u8; 6] = [0x0a, 0, 0, 0, 0, 5];
const REMOTE_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x99];

const GATEWAY4: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);
const POD4: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 5);
const UPLINK4: Ipv4Addr = Ipv4Addr::new(192, 168, 60, 1);
const REMOTE4: Ipv4Addr = Ipv4Addr::new(192, 168, 60, 2);
const UPLINK6: Ipv6Addr = Ipv6Addr::new(0xfd60, 0, 0, 0, 0, 0, 0, 1);
const REMOTE6: Ipv6Addr = Ipv6Addr::new(0xfd60, 0, 0, 0, 0, 0, 0, 2);
/// The other node's pods, behind the tunnel.
const REMOTE_POD4: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 7);
/// A host on the uplink's link.
const HOST4: Ipv4Addr = Ipv4Addr::new(192, 168, 60, 50);
const VNI: u32 = 4096;

fn at(millis: u64) -> Instant {
    Instant::from_nanos(millis * 1_000_000)
}

/// A node with a pod, an uplink and a tunnel to the other node over `remote`'s family.
fn tables(remote: IpAddr) -> Tables {
    let mut b = TablesBuilder::new();
    let mut pod = InterfaceConfig::l3("pod", EthernetAddress(POD_IF_MAC));
    pod.ip4.push((GATEWAY4, 32));
    assert_eq!(b.add_interface(pod).unwrap(), POD_IF);
    let mut uplink = InterfaceConfig::l3("uplink", EthernetAddress(UPLINK_MAC));
    uplink.ip4.push((UPLINK4, 24));
    uplink.ip6.push((UPLINK6, 64));
    uplink.mtu = 9000;
    assert_eq!(b.add_interface(uplink).unwrap(), UPLINK);
    let local = match remote {
        IpAddr::V4(_) => IpAddr::V4(UPLINK4),
        IpAddr::V6(_) => IpAddr::V6(UPLINK6),
    };
    let vxlan = VxlanTunnel {
        vni: VNI,
        local,
        port: podwire_wire::vxlan::UDP_PORT,
        peers: vec![remote],
    };
    let tunnel = InterfaceConfig::vxlan("vxlan", vxlan, 1400);
    assert_eq!(b.add_interface(tunnel).unwrap(), TUNNEL);
    let to_pod = Adjacency::Attached { interface: POD_IF };
    b.add_route4(POD4, 32, to_pod).unwrap();
    b.add_neighbor(POD_IF, POD4.into(), EthernetAddress(POD_MAC));
    let through_tunnel = Adjacency::Tunnel {
        interface: TUNNEL,
        remote,
    };
    b.add_route4(Ipv4Addr::new(10, 0, 2, 0), 24, through_tunnel)
        .unwrap();
    b.build(1)
}

/// A UDP packet from the pod to `dst`, as the pod sends it to its gateway.
fn from_pod(dst: Ipv4Addr, sport: u16) -> Vec<u8> {
    from_pod_carrying(dst, sport, b"hello")
}

/// A UDP packet from the pod to `dst` carrying `payload`.
fn from_pod_carrying(dst: Ipv4Addr, sport: u16, payload: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    PacketBuilder::ethernet2(POD_MAC, POD_IF_MAC)
        .ipv4(POD4.octets(), dst.octets(), 64)
        .udp(sport, 7000)
        .write(&mut bytes, payload)
        .unwrap();
    bytes
}

/// The other node's answer to the uplink's request for `remote`'s MAC.
fn answer(remote: IpAddr) -> Vec<u8> {
    let mut bytes = Vec::new();
    match remote {
        IpAddr::V4(remote) => {
            let arp = ArpPacket::new(
                ArpHardwareId::ETHERNET,
                etherparse::EtherType::IPV4,
                ArpOperation::REPLY,
                &REMOTE_MAC,
                &remote.octets(),
                &UPLINK_MAC,
                &UPLINK4.octets(),
            )
            .unwrap();
            PacketBuilder::ethernet2(REMOTE_MAC, UPLINK_MAC)
                .arp(arp)
                .write(&mut bytes)
                .unwrap();
        }
        IpAddr::V6(remote) => {
            let flags = NeighborAdvertisementHeader {
                router: false,
                solicited: true,
                r#override: true,
            };
            let mut body = remote.octets().to_vec();
            body.extend_from_slice(&[2, 1]);
            body.extend_from_slice(&REMOTE_MAC);
            PacketBuilder::ethernet2(REMOTE_MAC, UPLINK_MAC)
                .ipv6(remote.octets(), UPLINK6.octets(), 255)
                .icmpv6(Icmpv6Type::NeighborAdvertisement(flags))
                .write(&mut bytes, &body)
                .unwrap();
        }
    }
    bytes
}

/// A frame's Ethernet destination and EtherType, its IP destination and, for UDP, its
/// destination port.
fn read(frame: &[u8]) -> ([u8; 6], u16, Option<IpAddr>, Option<u16>) {
    let packet = SlicedPacket::from_ethernet(frame).unwrap();
    let Some(LinkSlice::Ethernet2(eth)) = packet.link else {
        panic!("not Ethernet II")
    };
    let dst = match packet.net {
        Some(NetSlice::Ipv4(ip)) => Some(IpAddr::V4(ip.header().destination_addr())),
        Some(NetSlice::Ipv6(ip)) => Some(IpAddr::V6(ip.header().destination_addr())),
        _ => None,
    };
    let port = match packet.transport {
        Some(TransportSlice::Udp(udp)) => Some(udp.destination_port()),
        _ => None,
    };
    (eth.destination(), eth.ether_type().0, dst, port)
}

#[test]
fn the_outer_packet_to_an_unresolved_remote_end_waits_for_it() {
    for remote in [IpAddr::V4(REMOTE4), IpAddr::V6(REMOTE6)] {
        let tables = tables(remote);
        let mut bench = Bench::new();
        bench.receive(POD_IF, &from_pod(REMOTE_POD4, 40000));
        bench.receive(POD_IF, &from_pod(REMOTE_POD4, 40001));
        bench.run(&tables, at(0));
        let asked = bench.sent(UPLINK);
        assert_eq!(asked.len(), 1, "{remote}: the request only");
        assert_ne!(read(&asked[0]).0, REMOTE_MAC, "{remote}: asked, not sent");
        assert_eq!(bench.state.pending.len(), 2, "{remote}: both wait");

        bench.receive(UPLINK, &answer(remote));
        bench.run(&tables, at(10));
        let sent: Vec<_> = bench.sent(UPLINK).iter().map(|f| read(f)).collect();
        let ethertype = match remote {
            IpAddr::V4(_) => 0x0800,
            IpAddr::V6(_) => 0x86dd,
        };
        let outer = (REMOTE_MAC, ethertype, Some(remote), Some(4789));
        assert_eq!(sent, [outer, outer], "{remote}: both datagrams, to its MAC");
        let unresolved = bench.graph.drop_count(Arp4::NODE, "neighbor-unresolved")
            + bench.graph.drop_count(Nd6::NODE, "neighbor-unresolved");
        assert_eq!(unresolved, 0, "{remote}");
        bench.assert_no_leak();
    }
}

#[test]
fn a_jumbo_packet_to_an_unresolved_neighbor_asks_for_it_and_waits() {
    // Longer than a buffer: the packet is a chain, its IP header in the first.
    let jumbo = from_pod_carrying(HOST4, 40000, &[7; 8000]);
    let tables = tables(IpAddr::V4(REMOTE4));
    let mut bench = Bench::new();
    bench.receive(POD_IF, &jumbo);
    bench.run(&tables, at(0));
    let asked = bench.sent(UPLINK);
    assert_eq!(asked.len(), 1, "the request only");
    assert_eq!(read(&asked[0]).1, 0x0806, "an ARP request");
    assert_eq!(bench.state.pending.len(), 1, "the packet waits");

    bench.receive(UPLINK, &answer(HOST4.into()));
    bench.run(&tables, at(10));
    let mut sent = bench.sent(UPLINK);
    assert_eq!(sent.len(), 1);
    assert_eq!(read(&sent[0]).0, REMOTE_MAC);
    let sent = sent.pop().unwrap();
    assert_eq!(sent[14..].len(), jumbo[14..].len(), "whole");
    assert_eq!(sent[sent.len() - 8000..], jumbo[jumbo.len() - 8000..]);
    bench.assert_no_leak();
}

#[test]
fn a_neighbor_another_worker_learned_releases_what_waits_here() {
    let tables = tables(IpAddr::V4(REMOTE4));
    let bus = Arc::new(NeighborBus::default());
    let mut bench = Bench::new();
    bench.state.neighbors = NeighborTable::shared(bus.clone());
    let mut other_worker = NeighborTable::shared(bus);
    bench.receive(POD_IF, &from_pod(HOST4, 40000));
    bench.run(&tables, at(0));
    assert_eq!(bench.sent(UPLINK).len(), 1, "the request");
    assert_eq!(release_due(&mut bench, &tables, at(5)), 0);

    other_worker.learn(UPLINK, HOST4.into(), EthernetAddress(REMOTE_MAC), at(8));
    bench.state.neighbors.sync();
    assert_eq!(release_due(&mut bench, &tables, at(10)), 1);
    bench.run(&tables, at(10));
    let sent: Vec<_> = bench.sent(UPLINK).iter().map(|f| read(f)).collect();
    assert_eq!(sent, [(REMOTE_MAC, 0x0800, Some(HOST4.into()), Some(7000))]);
    bench.assert_no_leak();
}

#[test]
fn new_tables_release_to_a_published_neighbor_and_drop_for_a_removed_interface() {
    let tables1 = tables(IpAddr::V4(REMOTE4));
    let mut bench = Bench::new();
    bench.receive(POD_IF, &from_pod(HOST4, 40000));
    bench.receive(POD_IF, &from_pod(Ipv4Addr::new(192, 168, 60, 51), 40000));
    bench.run(&tables1, at(0));
    assert_eq!(bench.sent(UPLINK).len(), 2, "a request for each");
    assert_eq!(bench.state.pending.len(), 2);

    // The control plane publishes HOST4's MAC: its packet leaves.
    let mut tables2 = tables1.clone();
    tables2.generation = 2;
    tables2
        .neighbors
        .insert((UPLINK, HOST4.into()), EthernetAddress(REMOTE_MAC));
    assert_eq!(release_due(&mut bench, &tables2, at(10)), 1);
    bench.run(&tables2, at(10));
    let sent: Vec<_> = bench.sent(UPLINK).iter().map(|f| read(f)).collect();
    assert_eq!(sent, [(REMOTE_MAC, 0x0800, Some(HOST4.into()), Some(7000))]);

    // Then the uplink goes: what waited for it is dropped, not sent.
    let mut tables3 = tables2.clone();
    tables3.generation = 3;
    tables3.interfaces.truncate(1);
    assert_eq!(release_due(&mut bench, &tables3, at(20)), 1);
    bench.run(&tables3, at(20));
    assert_eq!(bench.graph.drop_count(Arp4::NODE, "no-interface"), 1);
    assert!(bench.tx.pending().next().is_none(), "nothing sent");
    bench.assert_no_leak();
}
