//! A peer writing whatever it likes into the rings: each bad descriptor
//! costs its packet and one counter; the ring keeps going.

use std::sync::atomic::Ordering::{Relaxed, Release};

use super::*;
use crate::shm::Desc;

/// Plays a hostile client: writes `descs` from the C2S head on and
/// publishes them.
fn forge_c2s(link: &Link, descs: &[Desc]) {
    let ring = link.c2s();
    let head = ring.head().load(Relaxed);
    for (i, desc) in (0u16..).zip(descs) {
        ring.set_desc(head.wrapping_add(i), desc);
    }
    ring.head()
        .store(head.wrapping_add(descs.len() as u16), Release);
}

/// A well-formed C2S descriptor for the slot `counter`, carrying `data`.
fn valid_c2s(link: &Link, counter: u16, data: &[u8], flags: u16) -> Desc {
    let buffers = link.layout.buffers(Direction::C2S, 0).unwrap();
    let region = link.client.get(buffers.region()).unwrap();
    region
        .write(buffers.offset(counter) as usize, data)
        .unwrap();
    Desc {
        flags,
        region: buffers.region(),
        length: data.len() as u32,
        offset: buffers.offset(counter),
    }
}

/// Forges `bad` then one good packet; the server must drop exactly the bad
/// one (all its slots), deliver the good one, and release everything.
fn server_drops(bad: &[Desc]) -> QueueStats {
    let mut link = Link::dpdk();
    let good = frame(42, 100);
    let mut descs = bad.to_vec();
    descs.push(valid_c2s(&link, bad.len() as u16, &good, 0));
    forge_c2s(&link, &descs);
    assert_eq!(link.recv_c2s(64), [good]);
    assert_eq!(link.c2s().tail().load(Relaxed), descs.len() as u16);
    let stats = *link.server_rx.stats();
    assert_eq!((stats.packets, stats.bytes), (1, 100));
    stats
}

fn desc(region: u16, offset: u32, length: u32, flags: u16) -> Desc {
    Desc {
        flags,
        region,
        length,
        offset,
    }
}

const REGION_LEN: u32 = 4_227_328;

#[test]
fn a_region_the_connection_lacks() {
    assert_eq!(server_drops(&[desc(9, 0, 60, 0)]).drops_bad_region, 1);
}

#[test]
fn an_offset_past_the_end_of_the_region() {
    assert_eq!(
        server_drops(&[desc(0, REGION_LEN - 10, 60, 0)]).drops_overrun,
        1
    );
    assert_eq!(server_drops(&[desc(0, REGION_LEN, 1, 0)]).drops_overrun, 1);
    assert_eq!(
        server_drops(&[desc(0, u32::MAX, u32::MAX, 0)]).drops_overrun,
        1
    );
}

#[test]
fn a_zero_length() {
    assert_eq!(server_drops(&[desc(0, 40_000, 0, 0)]).drops_zero_length, 1);
}

#[test]
fn a_length_beyond_the_max_frame() {
    assert_eq!(server_drops(&[desc(0, 0, 100_000, 0)]).drops_too_big, 1);
    let next = DESC_FLAG_NEXT;
    let mut chain = [desc(0, 40_000, 2048, next); 5];
    chain[4].flags = 0;
    // 5 x 2048 = 10 240 > 9216: one drop for the whole chain.
    assert_eq!(server_drops(&chain).drops_too_big, 1);
}

#[test]
fn a_bad_segment_inside_a_chain_drops_the_whole_chain() {
    let next = DESC_FLAG_NEXT;
    let stats = server_drops(&[
        desc(0, 40_000, 500, next),
        desc(7, 0, 500, next),
        desc(0, 50_000, 500, 0),
    ]);
    assert_eq!(stats.drops_bad_region, 1);
}

#[test]
fn next_on_the_last_published_slot() {
    let mut link = Link::dpdk();
    let open = valid_c2s(&link, 0, &frame(1, 100), DESC_FLAG_NEXT);
    forge_c2s(&link, &[open]);
    assert!(link.recv_c2s(64).is_empty());
    assert_eq!(link.server_rx.stats().drops_truncated_chain, 1);
    assert_eq!(
        link.c2s().tail().load(Relaxed),
        1,
        "the open chain is released, not kept"
    );
    let good = frame(2, 80);
    let next = valid_c2s(&link, 1, &good, 0);
    forge_c2s(&link, &[next]);
    assert_eq!(link.recv_c2s(64), [good]);
}

#[test]
fn a_head_beyond_the_ring_size() {
    let mut link = Link::dpdk();
    link.c2s().head().store(1025, Release);
    assert!(link.recv_c2s(64).is_empty());
    assert_eq!(link.server_rx.stats().bad_peer_index, 1);
    assert_eq!(link.c2s().tail().load(Relaxed), 0, "nothing is released");
    link.c2s().head().store(u16::MAX, Release);
    assert!(link.recv_c2s(64).is_empty());
    assert_eq!(link.server_rx.stats().bad_peer_index, 2);

    // Once the peer behaves, the ring works again.
    link.c2s().head().store(0, Release);
    let good = frame(3, 64);
    let d = valid_c2s(&link, 0, &good, 0);
    forge_c2s(&link, &[d]);
    assert_eq!(link.recv_c2s(64), [good]);
}

/// A hostile server rewrites S2C descriptors, region and offset included.
#[test]
fn the_client_checks_what_the_server_wrote_and_reposts_its_own_buffers() {
    let mut link = Link::dpdk();
    link.recv_s2c(1);
    let ring = link.s2c();
    let bad = [
        desc(3, 0, 60, 0),
        desc(0, REGION_LEN - 1, 2, 0),
        desc(0, 40_000, 0, 0),
        desc(0, 40_000, 10_000, 0),
    ];
    for (i, d) in (0u16..).zip(&bad) {
        ring.set_desc(i, d);
    }
    ring.tail().store(4, Release);
    assert!(link.recv_s2c(64).is_empty());
    let stats = *link.client_rx.stats();
    assert_eq!(
        (
            stats.drops_bad_region,
            stats.drops_overrun,
            stats.drops_zero_length,
            stats.drops_too_big
        ),
        (1, 1, 1, 1)
    );
    let buffers = link.layout.buffers(Direction::S2C, 0).unwrap();
    for slot in 0..4 {
        let d = link.s2c().desc(slot);
        assert_eq!(
            (d.region, d.offset, d.length),
            (0, buffers.offset(slot), 2048)
        );
    }
    assert_eq!(link.s2c().head().load(Relaxed), 1024 + 4);

    link.s2c().tail().store(4 + 1025, Release);
    assert!(link.recv_s2c(64).is_empty());
    assert_eq!(link.client_rx.stats().bad_peer_index, 1);
}

/// A hostile client posts S2C buffers outside its regions: the server
/// sends nothing into them and leaves the slot where it is.
#[test]
fn the_server_checks_every_posted_buffer_before_writing() {
    let cases = [
        (desc(5, 0, 2048, 0), "bad region"),
        (desc(0, REGION_LEN - 100, 2048, 0), "overrun"),
        (desc(0, 40_000, 0, 0), "zero capacity"),
    ];
    for (posted, what) in cases {
        let mut link = Link::dpdk();
        link.recv_s2c(1);
        Ring::from_spec(&link.client, &link.layout.ring(Direction::S2C, 0).unwrap())
            .unwrap()
            .set_desc(0, &posted);
        assert_eq!(link.send_s2c(&[frame(1, 60)]), 0, "{what}");
        assert_eq!(link.s2c().tail().load(Relaxed), 0, "{what}");
        let stats = *link.server_tx.stats();
        let drops = stats.drops_bad_region + stats.drops_overrun + stats.drops_zero_length;
        assert_eq!((drops, stats.packets), (1, 0), "{what}");
    }
}

#[test]
fn impossible_peer_indices_stop_transmission() {
    let mut link = Link::dpdk();
    link.recv_s2c(1);
    link.s2c().head().store(2000, Release);
    assert_eq!(link.send_s2c(&[frame(1, 60)]), 0);
    assert_eq!(link.server_tx.stats().bad_peer_index, 1);

    link.c2s().tail().store(3, Release);
    assert_eq!(link.send_c2s(&[frame(1, 60)]), 0);
    assert_eq!(link.client_tx.stats().bad_peer_index, 1);
}
