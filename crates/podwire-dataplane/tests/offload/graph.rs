//! Large segments through a whole engine: from one pod's interface to another's, which
//! takes segmentation offload or not.

use core::net::{Ipv4Addr, Ipv6Addr};

use podwire_dataplane::buffer::OffloadInfo;
use podwire_dataplane::clock::Instant;
use podwire_dataplane::counters::OffloadCounters;
use podwire_dataplane::engine::Engine;
use podwire_dataplane::interface::{IfIndex, InterfaceConfig, TxOffloads};
use podwire_dataplane::tables::{Adjacency, Tables, TablesBuilder};
use podwire_wire::ethernet::EthernetAddress;

use super::packets::{Out, Spec, large, payload, take};

const POD_A: IfIndex = IfIndex(0);
const POD_B: IfIndex = IfIndex(1);
const POD_A_IF_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xa0];
const POD_B_IF_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xb0];
const POD_B_MAC: [u8; 6] = [0x0a, 0, 0, 0, 0, 3];
const BUFFERS: u32 = 1024;

/// Two pods on one node; pod B's interface takes `offloads`.
fn tables(offloads: TxOffloads) -> Tables {
    let spec = Spec::tcp4();
    let mut b = TablesBuilder::new();
    for (interface, mac, pod_mac, ip4, ip6, offloads) in [
        (
            POD_A,
            POD_A_IF_MAC,
            spec.src_mac,
            spec.src4,
            spec.src6,
            TxOffloads::default(),
        ),
        (
            POD_B,
            POD_B_IF_MAC,
            POD_B_MAC,
            spec.dst4,
            spec.dst6,
            offloads,
        ),
    ] {
        let mut config = InterfaceConfig::l3(format!("pod-{}", interface.0), EthernetAddress(mac));
        config.ip4.push((Ipv4Addr::new(169, 254, 1, 1), 32));
        config
            .ip6
            .push((Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1), 64));
        config.source_check = true;
        config.offloads = offloads;
        assert_eq!(b.add_interface(config).unwrap(), interface);
        let attached = Adjacency::Attached { interface };
        let (ip4, ip6) = (Ipv4Addr::from(ip4), Ipv6Addr::from(ip6));
        b.add_route4(ip4, 32, attached).unwrap();
        b.add_route6(ip6, 128, attached).unwrap();
        b.add_neighbor(interface, ip4.into(), EthernetAddress(pod_mac));
        b.add_neighbor(interface, ip6.into(), EthernetAddress(pod_mac));
    }
    b.build(1)
}

/// Pod A sends the large packet of `spec` with `len` payload bytes, to be cut into
/// `size`; returns what leaves by pod B's interface, which takes `offloads`, and the
/// engine.
fn send(spec: &Spec, len: usize, size: u16, offloads: TxOffloads) -> (Vec<Out>, Engine) {
    let tables = tables(offloads);
    let mut engine = Engine::new(BUFFERS, None).unwrap();
    let now = Instant::from_nanos(1_000_000_000);
    let bi = large(&mut engine.pool, spec, &payload(len), size, &[]);
    engine.receive(POD_A, &[bi], now);
    engine.run(&tables, now);
    let queue = engine
        .tx
        .queue_mut(POD_B)
        .map(std::mem::take)
        .unwrap_or_default();
    let out = queue
        .into_iter()
        .map(|bi| take(&mut engine.pool, bi))
        .collect();
    assert_eq!(engine.tx.pending().count(), 0, "nothing left elsewhere");
    assert_eq!(
        engine.pool.available(),
        BUFFERS as usize,
        "every buffer is back"
    );
    (out, engine)
}

/// The packet of `spec` as it leaves by pod B's interface: framed for pod B, its TTL
/// counted down.
fn forwarded(spec: &Spec) -> Spec {
    Spec {
        src_mac: POD_B_IF_MAC,
        dst_mac: POD_B_MAC,
        ttl: spec.ttl - 1,
        ..spec.clone()
    }
}

#[test]
fn a_large_segment_to_an_interface_without_offloads_leaves_as_segments() {
    for spec in [Spec::tcp4(), Spec::tcp6(), Spec::udp4(), Spec::udp6()] {
        let (out, engine) = send(&spec, 30_000, 1400, TxOffloads::default());
        let expected = forwarded(&spec).segments(&payload(30_000), 1400);
        let drops = engine.graph.drop_counts();
        assert_eq!(out.len(), expected.len(), "{spec:?}: drops {drops:?}");
        for (i, (got, want)) in out.iter().zip(&expected).enumerate() {
            assert_eq!(got.bytes, *want, "{spec:?} segment {i}");
            assert_eq!(got.offload, OffloadInfo::default());
        }
        let counted = OffloadCounters {
            segmented: 1,
            segments: expected.len() as u64,
            ..OffloadCounters::default()
        };
        assert_eq!(
            engine.state.offload, counted,
            "{spec:?}: the work is counted"
        );
    }
}

#[test]
fn a_large_segment_to_an_interface_with_tso_leaves_whole() {
    for (spec, offloads) in [
        (
            Spec::tcp4(),
            TxOffloads {
                csum: true,
                tso4: true,
                ..TxOffloads::default()
            },
        ),
        (
            Spec::tcp6(),
            TxOffloads {
                csum: true,
                tso6: true,
                ..TxOffloads::default()
            },
        ),
        (
            Spec::udp4(),
            TxOffloads {
                csum: true,
                uso: true,
                ..TxOffloads::default()
            },
        ),
    ] {
        let (out, _) = send(&spec, 30_000, 1400, offloads);
        assert_eq!(out.len(), 1, "{spec:?}");
        assert_eq!(
            out[0].offload,
            spec.large_offload(1400),
            "{spec:?}: the offload state is intact"
        );
        assert_eq!(out[0].bytes, forwarded(&spec).partial(&payload(30_000)));
        assert!(out[0].buffers > 1, "still a chain");
    }
}

#[test]
fn an_interface_that_takes_checksums_gets_partial_segments() {
    let spec = Spec::tcp4();
    let csum = TxOffloads {
        csum: true,
        ..TxOffloads::default()
    };
    let (out, _) = send(&spec, 5000, 1400, csum);
    let expected = forwarded(&spec).segments(&payload(5000), 1400);
    assert_eq!(out.len(), expected.len());
    for (got, want) in out.iter().zip(&expected) {
        assert!(got.offload.needs_csum);
        assert_eq!(got.offload.csum_start, 34);
        // The same packet but for the checksum field.
        assert_eq!(got.bytes[..50], want[..50]);
        assert_eq!(got.bytes[52..], want[52..]);
    }
}

#[test]
fn a_large_segment_that_cannot_be_cut_is_dropped_and_counted() {
    let spec = Spec::tcp4();
    let tables = tables(TxOffloads::default());
    let mut engine = Engine::new(BUFFERS, None).unwrap();
    let now = Instant::from_nanos(1_000_000_000);
    let bi = large(&mut engine.pool, &spec, &payload(5000), 0, &[]);
    engine.receive(POD_A, &[bi], now);
    engine.run(&tables, now);
    assert_eq!(
        engine.graph.drop_count("interface-output", "gso-size-zero"),
        1
    );
    assert_eq!(engine.tx.pending().count(), 0);
    assert_eq!(engine.pool.available(), BUFFERS as usize);
    // A pool too small for the segments.
    let mut engine = Engine::new(12, None).unwrap();
    let bi = large(&mut engine.pool, &spec, &payload(10_000), 1000, &[]);
    engine.receive(POD_A, &[bi], now);
    engine.run(&tables, now);
    assert_eq!(
        engine
            .graph
            .drop_count("interface-output", "offload-no-buffers"),
        1
    );
    assert_eq!(engine.pool.available(), 12);
}
