//! Tests of `l2-input` and `l2-xconnect`: real frames through the standard
//! graph, in memory, with an explicit clock.

use std::time::Duration;

use etherparse::PacketBuilder;
use podwire_wire::ethernet::EthernetAddress;

use crate::bridge::{MacTables, is_bridge_port};
use crate::buffer::{BufferIndex, BufferPool};
use crate::clock::Instant;
use crate::counters::DropReason;
use crate::graph::{Context, Dispatch, Graph, Node};
use crate::interface::{BridgeDomainId, IfIndex, InterfaceConfig, InterfaceMode};
use crate::nodes::standard_nodes;
use crate::state::WorkerState;
use crate::tables::{BridgeDomainConfig, Tables, TablesBuilder};
use crate::trace::Trace;
use crate::tx::TxQueues;

const BD: BridgeDomainId = BridgeDomainId(0);
/// A domain that neither learns nor floods unknown unicast.
const QUIET_BD: BridgeDomainId = BridgeDomainId(1);
const MAC_AGE: Duration = Duration::from_secs(300);

// Interfaces, in the order `tables` adds them.
const P0: IfIndex = IfIndex(0);
const P1: IfIndex = IfIndex(1);
const P2: IfIndex = IfIndex(2);
const P3: IfIndex = IfIndex(3);
/// Listed as a port of `BD` but routed now: it left the domain.
const LEFT: IfIndex = IfIndex(4);
/// In `Bridged(BD)` mode but not in the domain's port list.
const STRAY: IfIndex = IfIndex(5);
const X0: IfIndex = IfIndex(6);
const X1: IfIndex = IfIndex(7);
const Q0: IfIndex = IfIndex(8);
const Q1: IfIndex = IfIndex(9);
/// A port of a domain that does not exist.
const ORPHAN: IfIndex = IfIndex(10);
const ROUTED: IfIndex = IfIndex(11);
const BD_PORTS: [IfIndex; 4] = [P0, P1, P2, P3];

fn station(n: u8) -> EthernetAddress {
    EthernetAddress([0x02, 0xaa, 0, 0, 0, n])
}

fn at(secs: u64) -> Instant {
    Instant::from_nanos(secs * 1_000_000_000)
}

fn tables() -> Tables {
    let mut b = TablesBuilder::new();
    b.add_bridge_domain(BridgeDomainConfig {
        name: "bd0".into(),
        ports: vec![P0, P1, LEFT, P2, P3],
        learn: true,
        flood: true,
        mac_age: MAC_AGE,
    });
    b.add_bridge_domain(BridgeDomainConfig {
        name: "quiet".into(),
        ports: vec![Q0, Q1],
        learn: false,
        flood: false,
        mac_age: MAC_AGE,
    });
    let modes = [
        ("p0", InterfaceMode::Bridged(BD)),
        ("p1", InterfaceMode::Bridged(BD)),
        ("p2", InterfaceMode::Bridged(BD)),
        ("p3", InterfaceMode::Bridged(BD)),
        ("left", InterfaceMode::L3),
        ("stray", InterfaceMode::Bridged(BD)),
        ("x0", InterfaceMode::CrossConnect(X1)),
        ("x1", InterfaceMode::CrossConnect(X0)),
        ("q0", InterfaceMode::Bridged(QUIET_BD)),
        ("q1", InterfaceMode::Bridged(QUIET_BD)),
        ("orphan", InterfaceMode::Bridged(BridgeDomainId(7))),
        ("routed", InterfaceMode::L3),
    ];
    for (n, (name, mode)) in modes.into_iter().enumerate() {
        let mut cfg = InterfaceConfig::l3(name, EthernetAddress([0x02, 0xee, 0, 0, 0, n as u8]));
        cfg.mode = mode;
        assert_eq!(b.add_interface(cfg).unwrap(), IfIndex(n as u16));
    }
    b.build(1)
}

/// A UDP/IPv4 frame from `src` to `dst` with `payload_len` bytes of payload
/// that say which frame it is.
fn frame(src: EthernetAddress, dst: EthernetAddress, payload_len: usize) -> Vec<u8> {
    let payload: Vec<u8> = (0..payload_len)
        .map(|i| (i % 251) as u8 ^ src.0[5])
        .collect();
    let mut bytes = Vec::new();
    PacketBuilder::ethernet2(src.0, dst.0)
        .ipv4([10, 0, 0, src.0[5]], [10, 0, 0, dst.0[5]], 64)
        .udp(1000, 2000)
        .write(&mut bytes, &payload)
        .unwrap();
    bytes
}

const STUB: DropReason = DropReason {
    name: "stub",
    description: "reached a node that is not written yet (tests only)",
};

/// Stands in for a node the standard graph names but nobody registered yet.
struct Stub(&'static str);

impl Node for Stub {
    fn name(&self) -> &'static str {
        self.0
    }

    fn next_nodes(&self) -> &'static [&'static str] {
        &[]
    }

    fn drop_reasons(&self) -> &'static [DropReason] {
        &[STUB]
    }

    fn process(&mut self, _cx: &mut Context<'_>, packets: &[BufferIndex], out: &mut Dispatch) {
        for &bi in packets {
            out.drop(bi, 0u16);
        }
    }
}

/// A worker in memory: the standard graph (with stubs for nodes not
/// written yet), its pool and its state.
struct Bench {
    graph: Graph,
    pool: BufferPool,
    state: WorkerState,
    trace: Trace,
    tx: TxQueues,
    tables: Tables,
}

impl Bench {
    fn new(buffers: u32) -> Self {
        let mut nodes = standard_nodes();
        let mut missing: Vec<&'static str> = Vec::new();
        for node in &nodes {
            for &next in node.next_nodes() {
                if !nodes.iter().any(|n| n.name() == next) && !missing.contains(&next) {
                    missing.push(next);
                }
            }
        }
        nodes.extend(
            missing
                .into_iter()
                .map(|name| Box::new(Stub(name)) as Box<dyn Node>),
        );
        Bench {
            graph: Graph::new(nodes, None).unwrap(),
            pool: BufferPool::new(buffers),
            state: WorkerState::default(),
            trace: Trace::default(),
            tx: TxQueues::default(),
            tables: tables(),
        }
    }

    /// Hands `bytes`, received on `rx`, to node `node`, and runs the graph.
    fn send_to(&mut self, node: &str, rx: IfIndex, bytes: &[u8], now: Instant) {
        let bi = self.pool.alloc_from(bytes).unwrap();
        let meta = self.pool.meta_mut(bi);
        meta.rx_if = rx;
        self.trace.on_receive(meta, now);
        let node = self.graph.node(node).unwrap();
        self.graph.enqueue(node, &[bi]);
        let mut cx = Context {
            pool: &mut self.pool,
            tables: &self.tables,
            state: &mut self.state,
            now,
            trace: &mut self.trace,
            tx: &mut self.tx,
        };
        self.graph.run(&mut cx);
    }

    /// A frame received on `rx`, as `l2-input` gets it.
    fn bridge(&mut self, rx: IfIndex, bytes: &[u8], now: Instant) {
        self.send_to("l2-input", rx, bytes, now);
    }

    /// The frames queued on `port`, taken out and freed.
    fn sent(&mut self, port: IfIndex) -> Vec<Vec<u8>> {
        let queued = self
            .tx
            .queue_mut(port)
            .map(std::mem::take)
            .unwrap_or_default();
        queued
            .into_iter()
            .map(|bi| {
                let mut bytes = Vec::new();
                self.pool.copy_to_vec(bi, &mut bytes);
                self.pool.free(bi);
                bytes
            })
            .collect()
    }

    /// Which ports of `BD` (and the ports that must never get anything)
    /// have frames queued, taking them out; every frame must be `bytes`.
    fn ports_that_sent(&mut self, bytes: &[u8]) -> Vec<IfIndex> {
        let mut ports = Vec::new();
        for port in BD_PORTS.into_iter().chain([LEFT, STRAY, ROUTED]) {
            for out in self.sent(port) {
                assert_eq!(out, bytes, "the frame leaves {port:?} unchanged");
                ports.push(port);
            }
        }
        ports
    }

    fn drops(&self, node: &str, reason: &str) -> u64 {
        self.graph.drop_count(node, reason)
    }

    /// Every drop counted, as (node, reason, count).
    fn all_drops(&self) -> Vec<(&'static str, &'static str, u64)> {
        let counts = self.graph.drop_counts();
        counts
            .iter()
            .map(|d| (d.node, d.reason.name, d.count))
            .collect()
    }

    /// Asserts that every buffer is back in the pool (after `sent`).
    fn assert_no_leak(&self) {
        assert_eq!(
            self.pool.available(),
            self.pool.capacity(),
            "every buffer is returned"
        );
    }
}

#[test]
fn a_learned_station_gets_unicast_on_its_port_only() {
    let mut b = Bench::new(32);
    let (a, c) = (station(1), station(2));

    let hello = frame(a, EthernetAddress::BROADCAST, 20);
    b.bridge(P0, &hello, at(0));
    assert_eq!(
        b.ports_that_sent(&hello),
        vec![P1, P2, P3],
        "broadcast floods"
    );

    let reply = frame(c, a, 30);
    b.bridge(P2, &reply, at(1));
    assert_eq!(b.ports_that_sent(&reply), vec![P0], "a was learned on p0");

    let back = frame(a, c, 40);
    b.bridge(P0, &back, at(2));
    assert_eq!(b.ports_that_sent(&back), vec![P2], "c was learned on p2");

    let learned: Vec<_> = {
        let mut v: Vec<_> = b.state.bridges.iter(BD).map(|(m, e)| (m, e.port)).collect();
        v.sort();
        v
    };
    assert_eq!(learned, vec![(a, P0), (c, P2)]);
    assert!(b.all_drops().is_empty(), "{:?}", b.all_drops());
    b.assert_no_leak();
}

#[test]
fn broadcast_multicast_and_unknown_unicast_flood_exact_copies() {
    let mut b = Bench::new(64);
    let multicast = EthernetAddress([0x01, 0x00, 0x5e, 0, 0, 1]);
    let frames = [
        frame(station(1), EthernetAddress::BROADCAST, 20),
        frame(station(1), multicast, 20),
        frame(station(1), station(9), 20),
        // A jumbo frame: a chain of buffers, copied whole.
        frame(station(1), station(9), 5000),
    ];
    for bytes in &frames {
        b.bridge(P1, bytes, at(0));
        assert_eq!(
            b.ports_that_sent(bytes),
            vec![P0, P2, P3],
            "every other port that is still in the domain, once"
        );
        b.assert_no_leak();
    }
    assert!(b.all_drops().is_empty(), "{:?}", b.all_drops());
}

#[test]
fn after_mac_age_a_station_floods_again_until_seen() {
    let mut b = Bench::new(32);
    let (a, c) = (station(1), station(2));
    b.bridge(P0, &frame(a, EthernetAddress::BROADCAST, 10), at(100));
    b.ports_that_sent(&frame(a, EthernetAddress::BROADCAST, 10));

    let to_a = frame(c, a, 10);
    let just_before = at(100).after(MAC_AGE - Duration::from_nanos(1));
    b.bridge(P3, &to_a, just_before);
    assert_eq!(b.ports_that_sent(&to_a), vec![P0]);

    let aged = at(100).after(MAC_AGE);
    b.bridge(P3, &to_a, aged);
    assert_eq!(
        b.ports_that_sent(&to_a),
        vec![P0, P1, P2],
        "a is stale: flood"
    );

    b.state.bridges.age(aged, &b.tables);
    let left: Vec<_> = b.state.bridges.iter(BD).map(|(m, _)| m).collect();
    assert_eq!(left, vec![c], "the sweep removed a, not c (seen just now)");

    b.bridge(P1, &frame(a, c, 10), aged);
    b.ports_that_sent(&frame(a, c, 10));
    b.bridge(P3, &to_a, aged);
    assert_eq!(
        b.ports_that_sent(&to_a),
        vec![P1],
        "a learned again, on its new port"
    );
    b.assert_no_leak();
}

#[test]
fn a_station_that_moves_is_followed() {
    let mut b = Bench::new(32);
    let (a, c) = (station(1), station(2));
    let from_a = frame(a, c, 10);
    b.bridge(P0, &from_a, at(0));
    b.ports_that_sent(&from_a);
    b.bridge(P2, &from_a, at(1));
    b.ports_that_sent(&from_a);

    let to_a = frame(c, a, 10);
    b.bridge(P3, &to_a, at(2));
    assert_eq!(b.ports_that_sent(&to_a), vec![P2]);
    b.assert_no_leak();
}

#[test]
fn a_full_mac_table_refuses_new_stations_counted_and_floods_to_them() {
    let mut b = Bench::new(32);
    b.state.bridges = MacTables::with_capacity(2);
    for n in 1..=3 {
        let hello = frame(station(n), EthernetAddress::BROADCAST, 10);
        b.bridge(IfIndex(u16::from(n) - 1), &hello, at(0));
        b.ports_that_sent(&hello);
    }
    assert_eq!(b.state.bridges.refused(BD), 1);
    assert_eq!(b.state.bridges.iter(BD).count(), 2);

    let to_first = frame(station(9), station(1), 10);
    b.bridge(P3, &to_first, at(1));
    assert_eq!(
        b.ports_that_sent(&to_first),
        vec![P0],
        "known stations still unicast"
    );

    let to_third = frame(station(1), station(3), 10);
    b.bridge(P0, &to_third, at(1));
    assert_eq!(
        b.ports_that_sent(&to_third),
        vec![P1, P2, P3],
        "the refused one floods"
    );
    assert_eq!(b.state.bridges.refused(BD), 2, "station 9 was refused too");
    b.assert_no_leak();
}

#[test]
fn a_frame_for_a_station_on_its_own_port_is_not_reflected() {
    let mut b = Bench::new(32);
    let (a, c) = (station(1), station(2));
    b.bridge(P0, &frame(a, c, 10), at(0));
    b.ports_that_sent(&frame(a, c, 10));
    b.bridge(P0, &frame(c, a, 10), at(1));
    assert!(b.ports_that_sent(&frame(c, a, 10)).is_empty());
    assert_eq!(b.drops("l2-input", "same-port"), 1);
    b.assert_no_leak();
}

#[test]
fn a_domain_that_neither_learns_nor_floods() {
    let mut b = Bench::new(32);
    let (a, c) = (station(1), station(2));
    b.bridge(Q0, &frame(a, c, 10), at(0));
    assert_eq!(b.drops("l2-input", "unknown-destination"), 1);
    b.bridge(Q1, &frame(c, a, 10), at(0));
    assert_eq!(
        b.drops("l2-input", "unknown-destination"),
        2,
        "a was not learned"
    );
    assert_eq!(b.state.bridges.iter(QUIET_BD).count(), 0);

    let hello = frame(a, EthernetAddress::BROADCAST, 10);
    b.bridge(Q0, &hello, at(0));
    assert_eq!(b.sent(Q1), vec![hello], "broadcast floods always");
    assert!(b.sent(Q0).is_empty());
    b.assert_no_leak();
}

#[test]
fn a_port_alone_in_its_domain_drops_what_floods() {
    let mut b = Bench::new(8);
    let mut tables = tables();
    tables.bridge_domains[QUIET_BD.0 as usize].ports = vec![Q0];
    tables.interfaces[Q1.as_usize()].mode = InterfaceMode::L3;
    b.tables = tables;
    b.bridge(
        Q0,
        &frame(station(1), EthernetAddress::BROADCAST, 10),
        at(0),
    );
    assert_eq!(b.drops("l2-input", "no-other-port"), 1);
    b.assert_no_leak();
}

#[test]
fn malformed_and_misdelivered_frames_are_dropped_with_their_reason() {
    let mut b = Bench::new(8);
    let good = frame(station(1), station(2), 10);
    b.bridge(P0, &good[..13], at(0));
    assert_eq!(b.drops("l2-input", "truncated"), 1);

    let multicast_source = frame(EthernetAddress([0x01, 0, 0x5e, 0, 0, 1]), station(2), 10);
    b.bridge(P0, &multicast_source, at(0));
    assert_eq!(b.drops("l2-input", "bad-source-mac"), 1);
    assert_eq!(
        b.state.bridges.iter(BD).count(),
        0,
        "a multicast source is never learned"
    );

    for rx in [STRAY, LEFT, ROUTED, X0, IfIndex(99)] {
        b.bridge(rx, &good, at(0));
    }
    assert_eq!(b.drops("l2-input", "not-a-port"), 5);
    b.bridge(ORPHAN, &good, at(0));
    assert_eq!(b.drops("l2-input", "no-bridge-domain"), 1);

    assert!(b.ports_that_sent(&good).is_empty());
    assert_eq!(b.state.bridges.iter(BD).count(), 0);
    b.assert_no_leak();
}

#[test]
fn an_exhausted_pool_loses_only_the_copies_it_cannot_make() {
    // One buffer for the frame, one for a single copy: of the three
    // ports, p0 gets the copy, p2's copy is lost, p3 gets the original.
    let mut b = Bench::new(2);
    let hello = frame(station(1), EthernetAddress::BROADCAST, 20);
    b.bridge(P1, &hello, at(0));
    assert_eq!(b.drops("l2-input", "flood-copy-failed"), 1);
    assert_eq!(b.ports_that_sent(&hello), vec![P0, P3]);
    b.assert_no_leak();
}

#[test]
fn a_flood_is_traced_with_what_was_learned_and_how_many_ports() {
    let mut b = Bench::new(32);
    b.trace.arm(2);
    let hello = frame(station(1), EthernetAddress::BROADCAST, 10);
    b.bridge(P0, &hello, at(0));
    b.bridge(P2, &hello, at(1));
    b.ports_that_sent(&hello);
    let details: Vec<Vec<String>> = b
        .trace
        .packets()
        .iter()
        .map(|p| {
            let steps = p.steps.iter().filter(|s| s.node == "l2-input");
            steps
                .map(|s| s.detail.clone())
                .filter(|d| !d.is_empty())
                .collect()
        })
        .collect();
    assert_eq!(
        details,
        vec![
            vec![format!("learned {} on p0; flooded to 3 ports", station(1))],
            vec![format!(
                "{} moved from p0 to p2; flooded to 3 ports",
                station(1)
            )],
        ]
    );
}

#[test]
fn a_cross_connect_forwards_unchanged_both_ways() {
    let mut b = Bench::new(8);
    // Not even an Ethernet header: a wire does not look.
    let frames = [frame(station(1), station(2), 30), vec![0xab; 5]];
    for bytes in &frames {
        b.send_to("l2-xconnect", X0, bytes, at(0));
        assert_eq!(b.sent(X1), vec![bytes.clone()]);
        b.send_to("l2-xconnect", X1, bytes, at(0));
        assert_eq!(b.sent(X0), vec![bytes.clone()]);
    }
    b.send_to("l2-xconnect", P0, &frames[0], at(0));
    assert_eq!(b.drops("l2-xconnect", "not-cross-connected"), 1);
    assert!(b.sent(X0).is_empty() && b.sent(X1).is_empty() && b.sent(P0).is_empty());
    b.assert_no_leak();
}

#[test]
fn ethernet_input_hands_bridged_and_cross_connected_frames_to_the_l2_nodes() {
    let mut b = Bench::new(16);
    let hello = frame(station(1), EthernetAddress::BROADCAST, 10);
    b.send_to("ethernet-input", P0, &hello, at(0));
    assert_eq!(b.ports_that_sent(&hello), vec![P1, P2, P3]);
    let unicast = frame(station(1), station(2), 10);
    b.send_to("ethernet-input", X1, &unicast, at(0));
    assert_eq!(b.sent(X0), vec![unicast]);
    assert!(b.all_drops().is_empty(), "{:?}", b.all_drops());
    b.assert_no_leak();
}

#[test]
fn test_tables_are_what_the_tests_say() {
    let t = tables();
    for port in BD_PORTS {
        assert!(is_bridge_port(&t, port, BD));
    }
    assert!(!is_bridge_port(&t, LEFT, BD));
    assert!(is_bridge_port(&t, STRAY, BD));
    assert!(!t.bridge_domains[0].ports.contains(&STRAY));
}

#[test]
fn a_station_learned_on_a_port_that_left_the_domain_floods() {
    let mut b = Bench::new(32);
    let (a, c) = (station(1), station(2));
    b.bridge(P2, &frame(a, c, 10), at(0));
    b.ports_that_sent(&frame(a, c, 10));
    // The control plane takes p2 out of the domain; the worker has not
    // swept its MAC table yet.
    b.tables.interfaces[P2.as_usize()].mode = InterfaceMode::L3;
    let to_a = frame(c, a, 10);
    b.bridge(P0, &to_a, at(1));
    assert_eq!(b.ports_that_sent(&to_a), vec![P1, P3]);
    assert!(
        b.sent(P2).is_empty(),
        "a routed interface gets no bridged frame"
    );
    b.assert_no_leak();
}
