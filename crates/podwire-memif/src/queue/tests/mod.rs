//! Both ends of both rings in one process: the client's regions are
//! created from a layout, the server maps them a second time from the fds,
//! exactly as across a real connection.

mod hostile;
mod props;
mod zero_copy;

use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering::Relaxed;

use rustix::event::{EventfdFlags, eventfd};

use super::*;
use crate::shm::{BufferPlacement, Layout, Region, Ring};
use crate::types::DESC_FLAG_NEXT;

/// One connection: client and server views of the same memory, and the
/// four queues.
struct Link {
    layout: Layout,
    client: Regions,
    server: Regions,
    client_tx: TxQueue,
    server_rx: RxQueue,
    server_tx: TxQueue,
    client_rx: RxQueue,
}

impl Link {
    fn new(placement: BufferPlacement, log2_ring_size: u8, buffer_size: u32) -> Link {
        let layout = Layout::new(placement, 1, 1, log2_ring_size, buffer_size).unwrap();
        let (client, fds) = layout.create_regions().unwrap();
        let mut server = Regions::new();
        for (spec, fd) in layout.regions().iter().zip(&fds) {
            server.push(Region::map(fd, spec.size).unwrap()).unwrap();
        }
        let (c2s_client, c2s_server) = eventfd_pair();
        let (s2c_client, s2c_server) = eventfd_pair();
        let c2s = layout.ring(Direction::C2S, 0).unwrap();
        let s2c = layout.ring(Direction::S2C, 0).unwrap();
        Link {
            client_tx: TxQueue::client(&client, &layout, 0, c2s_client, DEFAULT_MAX_FRAME).unwrap(),
            server_rx: RxQueue::server(&server, c2s, c2s_server, DEFAULT_MAX_FRAME).unwrap(),
            server_tx: TxQueue::server(&server, s2c, s2c_server, DEFAULT_MAX_FRAME).unwrap(),
            client_rx: RxQueue::client(&client, &layout, 0, s2c_client, DEFAULT_MAX_FRAME).unwrap(),
            layout,
            client,
            server,
        }
    }

    /// The default shape: DPDK-style copy mode, 1024 slots of 2048 bytes.
    fn dpdk() -> Link {
        Link::new(BufferPlacement::AfterRings, 10, 2048)
    }

    /// The C2S ring as the client sees it (to play a hostile client).
    fn c2s(&self) -> Ring<'_> {
        Ring::from_spec(&self.client, &self.layout.ring(Direction::C2S, 0).unwrap()).unwrap()
    }

    /// The S2C ring as the server sees it (to play a hostile server).
    fn s2c(&self) -> Ring<'_> {
        Ring::from_spec(&self.server, &self.layout.ring(Direction::S2C, 0).unwrap()).unwrap()
    }

    fn send_c2s(&mut self, frames: &[Vec<u8>]) -> usize {
        let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
        self.client_tx.tx_burst(&self.client, &refs)
    }

    fn send_s2c(&mut self, frames: &[Vec<u8>]) -> usize {
        let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
        self.server_tx.tx_burst(&self.server, &refs)
    }

    fn recv_c2s(&mut self, max: usize) -> Vec<Vec<u8>> {
        receive(&mut self.server_rx, &self.server, max)
    }

    fn recv_s2c(&mut self, max: usize) -> Vec<Vec<u8>> {
        receive(&mut self.client_rx, &self.client, max)
    }
}

fn eventfd_pair() -> (OwnedFd, OwnedFd) {
    let fd = eventfd(0, EventfdFlags::NONBLOCK | EventfdFlags::CLOEXEC).unwrap();
    let twin = fd.try_clone().unwrap();
    (fd, twin)
}

fn receive(rx: &mut RxQueue, regions: &Regions, max: usize) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    let n = rx.rx_burst(regions, max, |p| {
        let mut buf = vec![0u8; p.len()];
        assert_eq!(p.copy_to(&mut buf), p.len());
        got.push(buf);
    });
    assert_eq!(n, got.len());
    got
}

/// A frame that names its sequence number and whose every byte depends on
/// it and on its position, so a misplaced or stale byte shows.
fn frame(seq: u32, len: usize) -> Vec<u8> {
    let mut f: Vec<u8> = (0..len)
        .map(|i| (i as u32).wrapping_mul(31).wrapping_add(seq) as u8)
        .collect();
    let tag = seq.to_le_bytes();
    let n = tag.len().min(len);
    f[..n].copy_from_slice(&tag[..n]);
    f
}

#[test]
fn client_to_server_frames_arrive_byte_exact() {
    let mut link = Link::dpdk();
    let frames: Vec<_> = [60, 1, 2048, 1514, 77]
        .iter()
        .enumerate()
        .map(|(i, &len)| frame(i as u32, len))
        .collect();
    assert_eq!(link.send_c2s(&frames), 5);
    assert_eq!(link.recv_c2s(64), frames);
    assert_eq!(link.c2s().head().load(Relaxed), 5);
    assert_eq!(link.c2s().tail().load(Relaxed), 5);
    let stats = link.server_rx.stats();
    assert_eq!((stats.packets, stats.bytes), (5, 60 + 1 + 2048 + 1514 + 77));
    assert_eq!(link.client_tx.stats().packets, 5);
    assert!(link.recv_c2s(64).is_empty());
}

#[test]
fn the_server_sends_only_into_buffers_the_client_posted() {
    let mut link = Link::dpdk();
    let frames: Vec<_> = (0..3).map(|i| frame(i, 100 + i as usize)).collect();
    assert_eq!(
        link.send_s2c(&frames),
        0,
        "nothing is posted before the client's first poll"
    );
    assert!(link.recv_s2c(64).is_empty());
    assert_eq!(
        link.s2c().head().load(Relaxed),
        1024,
        "the first poll posts the whole ring"
    );
    assert_eq!(link.send_s2c(&frames), 3);
    assert_eq!(link.recv_s2c(64), frames);
    assert_eq!(
        link.s2c().head().load(Relaxed),
        1024 + 3,
        "received slots are posted again"
    );
}

#[test]
fn u16_counters_wrap_around_over_many_bursts() {
    // 16 slots of 256 bytes: frames of up to 3 slots, 72 000 frames, so
    // both counters wrap more than once.
    let mut link = Link::new(BufferPlacement::AfterRings, 4, 256);
    link.recv_s2c(1);
    let (mut sent_c2s, mut got_c2s, mut sent_s2c, mut got_s2c) = (0u32, 0u32, 0u32, 0u32);
    let len = |seq: u32| (seq as usize * 7) % 700 + 1;
    while got_c2s < 72_000 || got_s2c < 72_000 {
        let batch: Vec<_> = (sent_c2s..sent_c2s + 12)
            .map(|s| frame(s, len(s)))
            .collect();
        sent_c2s += link.send_c2s(&batch) as u32;
        for f in link.recv_c2s(7) {
            assert_eq!(f, frame(got_c2s, len(got_c2s)));
            got_c2s += 1;
        }
        let batch: Vec<_> = (sent_s2c..sent_s2c + 12)
            .map(|s| frame(s, len(s)))
            .collect();
        sent_s2c += link.send_s2c(&batch) as u32;
        for f in link.recv_s2c(7) {
            assert_eq!(f, frame(got_s2c, len(got_s2c)));
            got_s2c += 1;
        }
    }
    assert_eq!(link.server_rx.stats().packets, u64::from(got_c2s));
    assert_eq!(link.client_rx.stats().packets, u64::from(got_s2c));
    for stats in [link.server_rx.stats(), link.client_rx.stats()] {
        assert_eq!(
            *stats,
            QueueStats {
                packets: stats.packets,
                bytes: stats.bytes,
                ..Default::default()
            }
        );
    }
}

#[test]
fn a_full_ring_pushes_back_until_the_consumer_releases() {
    let mut link = Link::new(BufferPlacement::AfterRings, 3, 2048);
    let frames: Vec<_> = (0..10).map(|i| frame(i, 64)).collect();
    assert_eq!(link.send_c2s(&frames), 8);
    assert_eq!(link.send_c2s(&frames[8..]), 0);
    assert_eq!(link.recv_c2s(3), frames[..3]);
    assert_eq!(link.send_c2s(&frames[8..]), 2);
    assert_eq!(link.recv_c2s(64), frames[3..]);

    link.recv_s2c(1);
    assert_eq!(link.send_s2c(&frames), 8);
    assert_eq!(link.send_s2c(&frames[8..]), 0);
    assert_eq!(link.recv_s2c(3), frames[..3]);
    assert_eq!(link.send_s2c(&frames[8..]), 2);
    assert_eq!(link.recv_s2c(64), frames[3..]);
}

#[test]
fn jumbo_frames_chain_across_slots_both_ways() {
    let mut link = Link::new(BufferPlacement::AfterRings, 5, 2048);
    let frames: Vec<_> = (0..3).map(|i| frame(i, 9000)).collect();
    assert_eq!(link.send_c2s(&frames), 3);
    let ring = link.c2s();
    assert_eq!(
        ring.head().load(Relaxed),
        15,
        "9000 bytes take 5 slots of 2048"
    );
    let flags: Vec<u16> = (0..5).map(|s| ring.desc(s).flags).collect();
    assert_eq!(
        flags,
        [
            DESC_FLAG_NEXT,
            DESC_FLAG_NEXT,
            DESC_FLAG_NEXT,
            DESC_FLAG_NEXT,
            0
        ]
    );
    assert_eq!(ring.desc(4).length, 9000 - 4 * 2048);
    assert_eq!(link.recv_c2s(64), frames);

    link.recv_s2c(1);
    assert_eq!(link.send_s2c(&frames), 3);
    assert_eq!(link.recv_s2c(64), frames);
}

#[test]
fn a_chain_that_does_not_fit_is_not_published() {
    let mut link = Link::new(BufferPlacement::AfterRings, 3, 2048);
    let frames = [frame(1, 9000), frame(2, 9000)];
    assert_eq!(link.send_c2s(&frames), 1);
    assert_eq!(link.c2s().head().load(Relaxed), 5);
    assert_eq!(link.recv_c2s(64), frames[..1]);
    assert_eq!(link.send_c2s(&frames[1..]), 1);
    assert_eq!(link.recv_c2s(64), frames[1..]);

    link.recv_s2c(1);
    assert_eq!(link.send_s2c(&frames), 1);
    let ring = link.s2c();
    assert_eq!(ring.tail().load(Relaxed), 5);
    for slot in 5..8 {
        assert_eq!(
            ring.desc(slot).length,
            2048,
            "posted capacity of slot {slot} clobbered"
        );
    }
    assert_eq!(link.recv_s2c(64), frames[..1]);
    assert_eq!(link.send_s2c(&frames[1..]), 1);
    assert_eq!(link.recv_s2c(64), frames[1..]);
}

#[test]
fn frames_that_can_never_be_sent_are_dropped_and_counted() {
    let mut link = Link::new(BufferPlacement::AfterRings, 1, 64);
    let frames = [
        vec![],
        frame(1, 200),
        frame(2, DEFAULT_MAX_FRAME + 1),
        frame(3, 64),
    ];
    assert_eq!(link.send_c2s(&frames), 4);
    let stats = link.client_tx.stats();
    assert_eq!(
        (stats.drops_zero_length, stats.drops_too_big, stats.packets),
        (1, 2, 1)
    );
    assert_eq!(link.recv_c2s(64), [frame(3, 64)]);

    link.recv_s2c(1);
    assert_eq!(
        link.send_s2c(&frames),
        4,
        "200 bytes exceed a whole ring of 2 x 64"
    );
    let stats = link.server_tx.stats();
    assert_eq!(
        (stats.drops_zero_length, stats.drops_too_big, stats.packets),
        (1, 2, 1)
    );
    assert_eq!(link.recv_s2c(64), [frame(3, 64)]);
}

#[test]
fn the_own_region_placement_works_both_ways() {
    let mut link = Link::new(BufferPlacement::OwnRegion, 6, 1024);
    let frames: Vec<_> = (0..20).map(|i| frame(i, 100 * i as usize + 1)).collect();
    assert_eq!(link.c2s().desc(0).region, 1);
    assert_eq!(link.send_c2s(&frames), 20);
    assert_eq!(link.recv_c2s(64), frames);
    link.recv_s2c(1);
    assert_eq!(link.send_s2c(&frames), 20);
    assert_eq!(link.recv_s2c(64), frames);
}

#[test]
fn mask_int_decides_whether_the_eventfd_is_signalled() {
    let mut link = Link::dpdk();
    let one = [frame(0, 60)];

    link.server_rx.set_polling(&link.server, true).unwrap();
    assert_eq!(link.send_c2s(&one), 1);
    assert_eq!(
        link.server_rx.drain_interrupt(),
        0,
        "a polling consumer is not signalled"
    );
    link.server_rx.set_polling(&link.server, false).unwrap();
    assert_eq!(link.send_c2s(&one), 1);
    assert_eq!(link.send_c2s(&one), 1);
    assert_eq!(link.server_rx.drain_interrupt(), 2);
    assert_eq!(link.server_rx.drain_interrupt(), 0);
    assert_eq!(link.send_c2s(&[]), 0);
    assert_eq!(
        link.server_rx.drain_interrupt(),
        0,
        "nothing published, nothing signalled"
    );
    assert_eq!(link.recv_c2s(64).len(), 3);

    link.client_rx.set_polling(&link.client, true).unwrap();
    link.recv_s2c(1);
    assert_eq!(link.send_s2c(&one), 1);
    assert_eq!(link.client_rx.drain_interrupt(), 0);
    link.client_rx.set_polling(&link.client, false).unwrap();
    assert_eq!(link.send_s2c(&one), 1);
    assert_eq!(link.client_rx.drain_interrupt(), 1);
}

#[test]
fn queues_refuse_rings_they_cannot_serve() {
    let link = Link::dpdk();
    let c2s = link.layout.ring(Direction::C2S, 0).unwrap();
    let s2c = link.layout.ring(Direction::S2C, 0).unwrap();
    let efd = || eventfd_pair().0;
    assert!(matches!(
        RxQueue::server(&link.server, s2c, efd(), DEFAULT_MAX_FRAME),
        Err(QueueError::WrongDirection {
            expected: Direction::C2S,
            got: Direction::S2C
        })
    ));
    assert!(matches!(
        TxQueue::server(&link.server, c2s, efd(), DEFAULT_MAX_FRAME),
        Err(QueueError::WrongDirection { .. })
    ));
    assert!(matches!(
        TxQueue::client(&link.client, &link.layout, 1, efd(), DEFAULT_MAX_FRAME),
        Err(QueueError::NoSuchRing {
            direction: Direction::C2S,
            index: 1
        })
    ));
    assert!(matches!(
        RxQueue::client(&Regions::new(), &link.layout, 0, efd(), DEFAULT_MAX_FRAME),
        Err(QueueError::BuffersOutsideRegions)
    ));

    let region0 = link.client.get(0).unwrap();
    region0.write_u32(c2s.offset as usize, 0xDEAD_BEEF).unwrap();
    assert!(matches!(
        RxQueue::server(&link.server, c2s, efd(), DEFAULT_MAX_FRAME),
        Err(QueueError::WrongCookie { found: 0xDEAD_BEEF })
    ));

    let not_an_eventfd = rustix::fs::memfd_create("x", rustix::fs::MemfdFlags::empty()).unwrap();
    assert!(matches!(
        TxQueue::server(&link.server, s2c, not_an_eventfd, DEFAULT_MAX_FRAME),
        Err(QueueError::NotAnEventfd { .. })
    ));
}

#[test]
fn a_blocking_eventfd_from_the_peer_is_made_non_blocking() {
    let link = Link::dpdk();
    let blocking = eventfd(0, EventfdFlags::empty()).unwrap();
    let rx = RxQueue::server(
        &link.server,
        link.layout.ring(Direction::C2S, 0).unwrap(),
        blocking,
        DEFAULT_MAX_FRAME,
    )
    .unwrap();
    // Would block forever if the flag had not been set.
    assert_eq!(rx.drain_interrupt(), 0);
}

#[test]
fn a_burst_given_the_wrong_regions_does_nothing() {
    let mut link = Link::dpdk();
    let empty = Regions::new();
    assert_eq!(
        link.server_rx.rx_burst(&empty, 64, |_| panic!("no packet")),
        0
    );
    assert_eq!(link.client_tx.tx_burst(&empty, &[&[1, 2, 3]]), 0);
    assert_eq!(link.server_rx.stats().ring_unusable, 1);
    assert_eq!(link.client_tx.stats().ring_unusable, 1);
}
