//! Zero-copy bursts on both rings: frames written in place, reservations
//! that publish nothing, bad lengths, order with copying bursts, and
//! in-place reads of whatever the peer wrote.

use std::sync::atomic::Ordering::{Relaxed, Release};

use super::*;
use crate::shm::Desc;

/// A link whose client has posted its whole S2C ring (its first poll).
fn posted(mut link: Link) -> Link {
    assert!(link.recv_s2c(0).is_empty());
    link
}

/// Reserves `frames.len()` buffers of `tx`, writes each frame in place and
/// commits `lengths` (the frames' lengths unless given). Returns the
/// frames sent.
fn send_in_place(
    tx: &mut TxQueue,
    regions: &Regions,
    frames: &[Vec<u8>],
    lengths: &[usize],
) -> usize {
    let reservation = tx.tx_reserve(regions, frames.len());
    for (i, f) in frames.iter().enumerate().take(reservation.len()) {
        let buffer = reservation.buffer(i).unwrap();
        let n = f.len().min(buffer.capacity());
        buffer.write(0, &f[..n]).unwrap();
    }
    reservation.commit(lengths)
}

fn lengths(frames: &[Vec<u8>]) -> Vec<usize> {
    frames.iter().map(Vec::len).collect()
}

/// Everything `rx_peek` delivers, read with offset reads.
fn peek(rx: &mut RxQueue, regions: &Regions) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    rx.rx_peek(regions, usize::MAX, |p| {
        let mut buf = vec![0; p.len()];
        p.read(0, &mut buf).unwrap();
        got.push(buf);
    });
    got
}

#[test]
fn frames_written_in_place_arrive_byte_exact_both_ways() {
    let mut link = posted(Link::new(BufferPlacement::OwnRegion, 4, 512));
    for round in 0..10u32 {
        // 16 slots: fill the ring each round, so counters and buffers wrap.
        let frames: Vec<_> = (0..16)
            .map(|i| frame(round * 16 + i, 60 + i as usize * 29))
            .collect();
        assert_eq!(
            send_in_place(
                &mut link.client_tx,
                &link.client,
                &frames,
                &lengths(&frames)
            ),
            16
        );
        assert_eq!(peek(&mut link.server_rx, &link.server), frames);
        assert_eq!(
            send_in_place(
                &mut link.server_tx,
                &link.server,
                &frames,
                &lengths(&frames)
            ),
            16
        );
        assert_eq!(peek(&mut link.client_rx, &link.client), frames);
    }
    assert_eq!(link.client_tx.stats().packets, 160);
    assert_eq!(link.server_rx.stats().packets, 160);
}

#[test]
fn a_reservation_dropped_uncommitted_publishes_nothing() {
    let mut link = posted(Link::dpdk());
    let frames: Vec<_> = (0..4).map(|i| frame(i, 100)).collect();
    {
        let reservation = link.client_tx.tx_reserve(&link.client, 4);
        assert_eq!(reservation.len(), 4);
        reservation.buffer(0).unwrap().write(0, &frames[0]).unwrap();
    }
    {
        let reservation = link.server_tx.tx_reserve(&link.server, 4);
        reservation.buffer(0).unwrap().fill(0, 100, 0xee).unwrap();
    }
    assert_eq!(link.c2s().head().load(Relaxed), 0);
    assert_eq!(link.s2c().tail().load(Relaxed), 0);
    assert!(link.recv_c2s(64).is_empty());
    assert!(link.recv_s2c(64).is_empty());
    // Committing nothing publishes nothing either.
    assert_eq!(link.client_tx.tx_reserve(&link.client, 4).commit(&[]), 0);
    assert_eq!(link.c2s().head().load(Relaxed), 0);
    // The slots are still free and are used next.
    assert_eq!(link.send_c2s(&frames), 4);
    assert_eq!(link.recv_c2s(64), frames);
    assert_eq!(link.client_tx.stats().packets, 4);
}

#[test]
fn a_bad_length_drops_that_frame_only_and_closes_the_gap() {
    let mut link = Link::dpdk();
    let frames: Vec<_> = (0..4).map(|i| frame(i, 100 + i as usize)).collect();
    // Frame 1 claims more than its 2048-byte buffer, frame 2 nothing.
    let claimed = [100, 2049, 0, 103];
    assert_eq!(
        send_in_place(&mut link.client_tx, &link.client, &frames, &claimed),
        2
    );
    let stats = *link.client_tx.stats();
    assert_eq!(
        (stats.packets, stats.drops_too_big, stats.drops_zero_length),
        (2, 1, 1)
    );
    assert_eq!(link.c2s().head().load(Relaxed), 2, "no hole in the ring");
    assert_eq!(link.recv_c2s(64), [frames[0].clone(), frames[3].clone()]);
    // The ring goes on in order.
    let more: Vec<_> = (4..6).map(|i| frame(i, 70)).collect();
    assert_eq!(
        send_in_place(&mut link.client_tx, &link.client, &more, &lengths(&more)),
        2
    );
    assert_eq!(link.recv_c2s(64), more);
}

#[test]
fn the_server_is_limited_by_what_the_client_posted() {
    let mut link = posted(Link::dpdk());
    let reservation = link.server_tx.tx_reserve(&link.server, 2000);
    // The client posted the whole ring of 2048-byte buffers, no more.
    assert_eq!(reservation.len(), 1024);
    assert_eq!(reservation.buffer(0).unwrap().capacity(), 2048);
    assert!(reservation.buffer(1024).is_none());
    assert_eq!(reservation.commit(&[2049]), 0);
    assert_eq!(link.server_tx.stats().drops_too_big, 1);
    assert_eq!(link.s2c().tail().load(Relaxed), 0);
}

#[test]
fn the_server_reserves_up_to_a_bad_posted_buffer() {
    let mut link = posted(Link::dpdk());
    let ring = link.s2c();
    let bad = Desc {
        flags: 0,
        region: 7,
        length: 2048,
        offset: 0,
    };
    ring.set_desc(2, &bad);
    assert_eq!(link.server_tx.tx_reserve(&link.server, 8).len(), 2);
    assert_eq!(link.server_tx.stats().drops_bad_region, 1);
}

#[test]
fn a_full_ring_gives_an_empty_reservation() {
    let mut link = Link::new(BufferPlacement::AfterRings, 4, 256);
    let frames: Vec<_> = (0..16).map(|i| frame(i, 60)).collect();
    assert_eq!(link.send_c2s(&frames), 16);
    let reservation = link.client_tx.tx_reserve(&link.client, 1);
    assert!(reservation.is_empty());
    assert_eq!(reservation.commit(&[60]), 0);
    link.recv_c2s(4);
    assert_eq!(link.client_tx.tx_reserve(&link.client, 8).len(), 4);
}

#[test]
fn copying_and_zero_copy_bursts_keep_their_order() {
    let mut link = posted(Link::dpdk());
    let frames: Vec<_> = (0..6).map(|i| frame(i, 200 + i as usize)).collect();
    assert_eq!(link.send_c2s(&frames[0..1]), 1);
    assert_eq!(
        send_in_place(
            &mut link.client_tx,
            &link.client,
            &frames[1..3],
            &lengths(&frames[1..3])
        ),
        2
    );
    assert_eq!(link.send_c2s(&frames[3..4]), 1);
    assert_eq!(
        send_in_place(
            &mut link.client_tx,
            &link.client,
            &frames[4..6],
            &lengths(&frames[4..6])
        ),
        2
    );
    assert_eq!(link.recv_c2s(64), frames);
    // And the other way, into posted buffers.
    assert_eq!(link.send_s2c(&frames[0..2]), 2);
    assert_eq!(
        send_in_place(
            &mut link.server_tx,
            &link.server,
            &frames[2..4],
            &lengths(&frames[2..4])
        ),
        2
    );
    assert_eq!(link.send_s2c(&frames[4..6]), 2);
    assert_eq!(peek(&mut link.client_rx, &link.client), frames);
}

#[test]
fn shared_buffers_refuse_accesses_outside_them() {
    let mut link = Link::dpdk();
    let reservation = link.client_tx.tx_reserve(&link.client, 1);
    let buffer = reservation.buffer(0).unwrap();
    assert!(buffer.write(2040, &[0; 8]).is_ok());
    assert!(buffer.write(2041, &[0; 8]).is_err());
    assert!(buffer.write(usize::MAX, &[0; 2]).is_err());
    assert!(buffer.fill(1, 2048, 0).is_err());
    buffer.fill(0, 2048, 0x5a).unwrap();
    assert_eq!(reservation.commit(&[2048]), 1);
    assert_eq!(link.recv_c2s(1), [vec![0x5a; 2048]]);
}

#[test]
fn a_chained_packet_is_read_in_place_across_its_segments() {
    let mut link = Link::dpdk();
    let jumbo = frame(9, 5000);
    assert_eq!(link.send_c2s(std::slice::from_ref(&jumbo)), 1);
    let mut seen = 0;
    link.server_rx.rx_peek(&link.server, 8, |p| {
        assert_eq!((p.len(), p.segments()), (5000, 3));
        // Across the first buffer boundary, and the tail.
        let mut middle = [0; 20];
        p.read(2040, &mut middle).unwrap();
        assert_eq!(middle[..], jumbo[2040..2060]);
        let mut tail = [0; 8];
        p.read(4992, &mut tail).unwrap();
        assert_eq!(tail[..], jumbo[4992..]);
        assert!(p.read(4993, &mut tail).is_err());
        assert!(p.read(usize::MAX, &mut tail).is_err());
        seen += 1;
    });
    assert_eq!(seen, 1);
}

#[test]
fn rx_peek_validates_hostile_descriptors_like_rx_burst() {
    let mut link = Link::dpdk();
    let buffers = link.layout.buffers(Direction::C2S, 0).unwrap();
    let good = frame(42, 100);
    let region = link.client.get(buffers.region()).unwrap();
    region.write(buffers.offset(5) as usize, &good).unwrap();
    let len = region.len() as u32;
    let desc = |region, offset, length, flags| Desc {
        flags,
        region,
        length,
        offset,
    };
    let forged = [
        desc(9, 0, 60, 0),                   // no such region
        desc(0, len - 10, 60, 0),            // past the end
        desc(0, u32::MAX, u32::MAX, 0),      // wraps
        desc(0, 40_000, 0, 0),               // empty
        desc(0, 40_000, 10_000, 0),          // beyond the max frame
        desc(0, buffers.offset(5), 100, 0),  // the good one
        desc(0, 40_000, 60, DESC_FLAG_NEXT), // chain left open
    ];
    let ring = link.c2s();
    for (i, d) in (0u16..).zip(&forged) {
        ring.set_desc(i, d);
    }
    ring.head().store(forged.len() as u16, Release);
    assert_eq!(peek(&mut link.server_rx, &link.server), [good]);
    let s = *link.server_rx.stats();
    assert_eq!(
        (
            s.packets,
            s.drops_bad_region,
            s.drops_overrun,
            s.drops_zero_length,
            s.drops_too_big,
            s.drops_truncated_chain
        ),
        (1, 1, 2, 1, 1, 1)
    );
    assert_eq!(link.c2s().tail().load(Relaxed), 7, "every slot released");
}
