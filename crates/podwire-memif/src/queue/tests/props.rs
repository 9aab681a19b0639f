//! Random descriptors and indices from the peer: never a panic, never a
//! packet outside the limits, every published slot accounted for.

use std::sync::atomic::Ordering::{Relaxed, Release};

use proptest::prelude::*;

use super::*;
use crate::types::{DESC_SIZE, RING_HEADER_SIZE, RingSpec};

/// 16 slots of 256 bytes: region 0 is 8 960 bytes, so random offsets land
/// inside and outside it.
const LOG2: u8 = 4;
const SLOTS: u16 = 16;

fn small_link() -> Link {
    Link::new(BufferPlacement::AfterRings, LOG2, 256)
}

/// One descriptor's 16 bytes: fully random, or random fields biased toward
/// values that pass some of the checks (region 0, modest lengths).
fn raw_desc() -> impl Strategy<Value = [u8; 16]> {
    let fields = (
        prop_oneof![Just(0u16), Just(DESC_FLAG_NEXT), any::<u16>()],
        prop_oneof![Just(0u16), Just(1), any::<u16>()],
        prop_oneof![0u32..600, 9000u32..10_000, any::<u32>()],
        prop_oneof![0u32..10_000, any::<u32>()],
    )
        .prop_map(|(flags, region, length, offset)| {
            let mut raw = [0u8; 16];
            raw[0..2].copy_from_slice(&flags.to_le_bytes());
            raw[2..4].copy_from_slice(&region.to_le_bytes());
            raw[4..8].copy_from_slice(&length.to_le_bytes());
            raw[8..12].copy_from_slice(&offset.to_le_bytes());
            raw
        });
    prop_oneof![any::<[u8; 16]>(), fields]
}

fn descs() -> impl Strategy<Value = Vec<[u8; 16]>> {
    proptest::collection::vec(raw_desc(), usize::from(SLOTS))
}

/// A peer index: usually plausible, sometimes anything.
fn index() -> impl Strategy<Value = u16> {
    prop_oneof![0u16..=SLOTS, any::<u16>()]
}

/// Writes raw descriptor bytes over every slot of a ring of `regions`.
fn scribble(regions: &Regions, spec: RingSpec, raw: &[[u8; 16]]) {
    let region = regions.get(spec.region).unwrap();
    for (i, bytes) in raw.iter().enumerate() {
        let at = spec.offset as usize + RING_HEADER_SIZE + i * DESC_SIZE;
        region.write(at, bytes).unwrap();
    }
}

/// Runs a receive burst and checks every delivered packet.
fn receive_checked(rx: &mut RxQueue, regions: &Regions) -> usize {
    rx.rx_burst(regions, usize::MAX, |p| {
        assert!((1..=DEFAULT_MAX_FRAME).contains(&p.len()));
        let mut buf = vec![0u8; p.len() + 1];
        assert_eq!(p.copy_to(&mut buf), p.len());
        let mut short = [0u8; 3];
        assert_eq!(p.copy_to(&mut short), p.len().min(3));
    })
}

fn drops(s: &QueueStats) -> u64 {
    s.drops_bad_region
        + s.drops_overrun
        + s.drops_zero_length
        + s.drops_too_big
        + s.drops_truncated_chain
}

proptest! {
    #[test]
    fn the_server_receives_anything_safely(raw in descs(), head in index()) {
        let mut link = small_link();
        let spec = link.layout.ring(Direction::C2S, 0).unwrap();
        scribble(&link.client, spec, &raw);
        link.c2s().head().store(head, Release);
        let n = receive_checked(&mut link.server_rx, &link.server);
        let stats = *link.server_rx.stats();
        prop_assert_eq!(stats.packets, n as u64);
        if head > SLOTS {
            prop_assert_eq!((n, stats.bad_peer_index), (0, 1));
            prop_assert_eq!(link.c2s().tail().load(Relaxed), 0);
        } else {
            prop_assert_eq!(link.c2s().tail().load(Relaxed), head);
            // Every packet or drop takes at least one slot, and every
            // published slot belongs to exactly one of them.
            let outcomes = stats.packets + drops(&stats);
            prop_assert!(outcomes <= u64::from(head));
            prop_assert_eq!(outcomes == 0, head == 0);
        }
        prop_assert_eq!(receive_checked(&mut link.server_rx, &link.server), 0);
    }

    #[test]
    fn the_client_receives_anything_safely(raw in descs(), tail in index()) {
        let mut link = small_link();
        link.recv_s2c(1);
        let spec = link.layout.ring(Direction::S2C, 0).unwrap();
        scribble(&link.server, spec, &raw);
        link.s2c().tail().store(tail, Release);
        let n = receive_checked(&mut link.client_rx, &link.client);
        let stats = *link.client_rx.stats();
        prop_assert_eq!(stats.packets, n as u64);
        let ring = link.s2c();
        if tail > SLOTS {
            prop_assert_eq!((n, stats.bad_peer_index), (0, 1));
            prop_assert_eq!(ring.head().load(Relaxed), SLOTS);
        } else {
            let outcomes = stats.packets + drops(&stats);
            prop_assert!(outcomes <= u64::from(tail));
            prop_assert_eq!(outcomes == 0, tail == 0);
            prop_assert_eq!(ring.head().load(Relaxed), tail + SLOTS);
            // Consumed slots are posted again with our own buffers.
            let buffers = link.layout.buffers(Direction::S2C, 0).unwrap();
            for slot in 0..tail {
                let d = ring.desc(slot);
                prop_assert_eq!((d.region, d.offset, d.length), (0, buffers.offset(slot), 256));
            }
        }
    }

    #[test]
    fn the_server_sends_into_anything_safely(
        raw in descs(),
        head in index(),
        lens in proptest::collection::vec(0usize..3000, 0..20),
    ) {
        let mut link = small_link();
        link.recv_s2c(1);
        let spec = link.layout.ring(Direction::S2C, 0).unwrap();
        scribble(&link.client, spec, &raw);
        link.s2c().head().store(head, Release);
        let placement = |ring: &Ring<'_>| -> Vec<(u16, u32)> {
            (0..SLOTS).map(|s| { let d = ring.desc(s); (d.region, d.offset) }).collect()
        };
        let before = placement(&link.s2c());
        // A hostile client may post a buffer that lies over the ring's own
        // descriptors: then the packet data the server writes there lands
        // on them, which is the peer's doing and harmless to the server.
        let ring_area = u64::from(spec.offset)..u64::from(spec.offset) + spec.bytes();
        let posted_over_ring = (0..head.min(SLOTS)).any(|s| {
            let d = link.s2c().desc(s);
            let buffer = u64::from(d.offset)..u64::from(d.offset) + u64::from(d.length);
            d.region == spec.region && buffer.start < ring_area.end && ring_area.start < buffer.end
        });
        let frames: Vec<_> = (0u32..).zip(&lens).map(|(i, &len)| frame(i, len)).collect();
        let taken = link.send_s2c(&frames);
        prop_assert!(taken <= frames.len());
        let ring = link.s2c();
        if !posted_over_ring {
            prop_assert_eq!(placement(&ring), before, "the server wrote region/offset");
        }
        let sent = ring.tail().load(Relaxed);
        if head > SLOTS {
            prop_assert_eq!(sent, 0);
            prop_assert_eq!(link.server_tx.stats().bad_peer_index, 1);
        } else {
            prop_assert!(sent <= head);
            prop_assert!(link.server_tx.stats().packets <= taken as u64);
        }
    }
}
