//! AF_XDP on one end of a veth pair between two namespaces (root, real kernel). If AF_XDP
//! cannot work on this kernel, these tests fail with the reason.

mod common;

use std::net::Ipv4Addr;
use std::time::Instant;

use common::{
    PATIENCE, Pair, TestNs, failure_in_fresh_ns, ip, open_packet, poller_for, root_or_skip,
    udp_frame, udp_in, veth_pair, wait_for,
};
use podwire_dataplane::buffer::BufferPool;
use podwire_io::af_xdp::{AfXdp, AfXdpConfig, AfXdpRx, AfXdpTx, Error, XdpMode};
use podwire_io::worker::{PortCounters, RxPort, TxBatch, TxPort, TxScratch};

const A: Ipv4Addr = Ipv4Addr::new(10, 89, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 89, 0, 2);

fn open_xdp(ns: &TestNs, dev: &'static str, config: AfXdpConfig) -> AfXdp {
    ns.ns
        .run_in(move || AfXdp::open(dev, 0, &config))
        .unwrap()
        .unwrap_or_else(|e| panic!("AF_XDP cannot work on this kernel: {e}"))
}

fn link_show(ns: &TestNs, dev: &str) -> String {
    ip(&["-n", &ns.name, "link", "show", dev])
}

/// Test frames of assorted lengths (60 to 1442 bytes), each carrying its sequence number.
fn frames(pair: &Pair, to_b: bool, port: u16, count: u32) -> Vec<Vec<u8>> {
    (0..count)
        .map(|seq| {
            let mut payload = seq.to_be_bytes().to_vec();
            payload.resize(4 + (seq as usize * 37) % 1400, seq as u8);
            if to_b {
                udp_frame(pair.mac_b, pair.mac_a, A, B, port, &payload)
            } else {
                udp_frame(pair.mac_a, pair.mac_b, B, A, port, &payload)
            }
        })
        .collect()
}

fn is_test_frame(frame: &[u8], port: u16) -> bool {
    udp_in(frame).is_some_and(|(_, _, p, _)| p == port)
}

/// Frames sent on the peer by an AF_PACKET socket arrive on the AF_XDP port byte for byte,
/// in order; returns the port's mode as `ip link` shows it while attached.
async fn frames_from_the_peer_arrive(mode: Option<XdpMode>, port: u16) -> String {
    let pair = veth_pair(None).await;
    let config = AfXdpConfig {
        mode,
        ..AfXdpConfig::default()
    };
    let mut xdp = open_xdp(&pair.b, "vb", config);
    let shown = link_show(&pair.b, "vb");
    let sender = open_packet(&pair.a, "va").sender().unwrap();
    let sent = frames(&pair, true, port, 300);
    let mut pool = BufferPool::new(1024);
    let mut received = Vec::new();
    let mut buffers = Vec::new();
    let mut bytes = Vec::new();
    // In rounds of 50, each awaited: a veth queues at most 256 frames for its peer.
    for round in sent.chunks(50) {
        let batch: Vec<&[u8]> = round.iter().map(Vec::as_slice).collect();
        assert_eq!(sender.send_batch(batch.as_slice()).unwrap(), batch.len());
        let want = received.len() + round.len();
        wait_for(poller_for(&xdp), "frames from the peer", || {
            let got = xdp.receive(&mut pool, 64, &mut buffers);
            assert_eq!(got.drops, 0, "{got:?}");
            for head in buffers.drain(..) {
                pool.copy_to_vec(head, &mut bytes);
                pool.free(head);
                if is_test_frame(&bytes, port) {
                    received.push(bytes.clone());
                }
            }
            (received.len() >= want).then_some(())
        });
    }
    assert!(received == sent, "all 300 frames, byte for byte, in order");
    assert_eq!(pool.available(), 1024, "every buffer came back");
    let stats = xdp.stats().unwrap();
    assert_eq!(
        stats.rx_ring_full + stats.rx_fill_ring_empty,
        0,
        "{stats:?}"
    );
    shown
}

#[tokio::test]
async fn frames_from_the_peer_arrive_in_native_mode() {
    if !root_or_skip() {
        return;
    }
    let shown = frames_from_the_peer_arrive(Some(XdpMode::Native), 41_000).await;
    assert!(shown.contains(" xdp "), "{shown}");
}

#[tokio::test]
async fn frames_from_the_peer_arrive_in_generic_mode() {
    if !root_or_skip() {
        return;
    }
    let shown = frames_from_the_peer_arrive(Some(XdpMode::Generic), 41_001).await;
    assert!(shown.contains("xdpgeneric"), "{shown}");
}

#[tokio::test]
async fn frames_sent_arrive_at_the_peer() {
    if !root_or_skip() {
        return;
    }
    let pair = veth_pair(None).await;
    // Fewer transmit frames than frames to send: they must come back from the kernel.
    let config = AfXdpConfig {
        tx_frames: 64,
        ..AfXdpConfig::default()
    };
    let mut xdp = open_xdp(&pair.b, "vb", config);
    let mut peer = open_packet(&pair.a, "va");
    const PORT: u16 = 41_002;
    let sent = frames(&pair, false, PORT, 300);

    let mut received = Vec::new();
    let mut queued = 0;
    let deadline = Instant::now() + PATIENCE;
    // Batches larger than the kernel's 32 frames per kick in copy mode.
    while queued < sent.len() {
        assert!(
            Instant::now() < deadline,
            "gave up sending: {queued} queued"
        );
        let batch: Vec<&[u8]> = sent[queued..].iter().take(100).map(Vec::as_slice).collect();
        queued += xdp.send_batch(batch.as_slice()).unwrap();
        // Take what arrived, so the peer's ring never fills.
        peer.rx_batch(usize::MAX, |frame| {
            if is_test_frame(frame.data, PORT) {
                received.push(frame.data.to_vec());
            }
        });
    }
    wait_for(poller_for(&peer), "frames at the peer", || {
        peer.rx_batch(usize::MAX, |frame| {
            if is_test_frame(frame.data, PORT) {
                received.push(frame.data.to_vec());
            }
        });
        (received.len() >= sent.len()).then_some(())
    });
    assert!(received == sent, "all 300 frames, byte for byte, in order");
    assert_eq!(xdp.stats().unwrap().tx_invalid_descs, 0);
}

/// As a worker's ports: a batch sent through the shared side goes out in order, a chain
/// gathered into one frame, and a packet longer than a UMEM frame is dropped and counted
/// without holding back those after it; frames from the peer are counted as received.
#[tokio::test]
async fn the_worker_ports_gather_chains_and_count() {
    if !root_or_skip() {
        return;
    }
    let pair = veth_pair(None).await;
    let (receiver, sender) = open_xdp(&pair.b, "vb", AfXdpConfig::default()).split();
    let (mut rx, tx) = (AfXdpRx::new(receiver), AfXdpTx::new(sender));
    let mut peer = open_packet(&pair.a, "va");
    const PORT: u16 = 41_004;

    let sent = frames(&pair, false, PORT, 3);
    let too_long = udp_frame(pair.mac_a, pair.mac_b, B, A, PORT, &[7; 2100]);
    let mut pool = BufferPool::new(64);
    let head = pool.alloc_from(&sent[1][..50]).unwrap();
    let tail = pool.alloc_from(&sent[1][50..]).unwrap();
    pool.link(&[head, tail]);
    let packets = [
        pool.alloc_from(&sent[0]).unwrap(),
        head,
        pool.alloc_from(&too_long).unwrap(),
        pool.alloc_from(&sent[2]).unwrap(),
    ];
    let mut counters = PortCounters::default();
    tx.send(
        TxBatch::new(&pool, &packets),
        &mut TxScratch::default(),
        &mut counters,
    );
    assert_eq!((counters.tx_packets, counters.tx_drops), (3, 1));
    let bytes: usize = sent.iter().map(Vec::len).sum();
    assert_eq!(counters.tx_bytes, bytes as u64);
    let mut received = Vec::new();
    wait_for(poller_for(&peer), "frames at the peer", || {
        peer.rx_batch(usize::MAX, |frame| {
            if is_test_frame(frame.data, PORT) {
                received.push(frame.data.to_vec());
            }
        });
        (received.len() >= sent.len()).then_some(())
    });
    assert!(
        received == sent,
        "the three frames, byte for byte, in order"
    );

    let incoming = frames(&pair, true, PORT, 5);
    let batch: Vec<&[u8]> = incoming.iter().map(Vec::as_slice).collect();
    let peer_sender = peer.sender().unwrap();
    assert_eq!(peer_sender.send_batch(batch.as_slice()).unwrap(), 5);
    // The kernels of both ends may send frames of their own (IPv6 neighbor discovery):
    // every frame received is counted, the test frames are checked.
    let mut counters = PortCounters::default();
    let (mut heads, mut received) = (Vec::new(), Vec::new());
    wait_for(poller_for(rx.fd()), "frames from the peer", || {
        let first = heads.len();
        rx.receive(&mut pool, 64, &mut heads, &mut counters);
        let new = heads[first..].iter().map(|&head| pool.data(head));
        received.extend(new.filter(|f| is_test_frame(f, PORT)).map(<[u8]>::to_vec));
        (received.len() >= incoming.len()).then_some(())
    });
    assert!(
        received == incoming,
        "the five frames, byte for byte, in order"
    );
    let bytes: usize = heads.iter().map(|&head| pool.data(head).len()).sum();
    assert_eq!(counters.rx_packets, heads.len() as u64);
    assert_eq!((counters.rx_bytes, counters.rx_drops), (bytes as u64, 0));
}

#[tokio::test]
async fn the_program_comes_off_the_interface_when_the_port_is_dropped() {
    if !root_or_skip() {
        return;
    }
    let pair = veth_pair(None).await;
    let (rx, tx) = open_xdp(&pair.b, "vb", AfXdpConfig::default()).split();
    assert_eq!(rx.mode().xdp, XdpMode::Native, "a veth has native XDP");
    assert!(!rx.mode().zero_copy, "a veth has no zero-copy");
    assert!(link_show(&pair.b, "vb").contains("prog/xdp"));
    // Dropped from this thread, outside the port's namespace.
    drop(rx);
    assert!(
        link_show(&pair.b, "vb").contains("prog/xdp"),
        "the sender still needs the program"
    );
    drop(tx);
    let shown = link_show(&pair.b, "vb");
    assert!(!shown.contains("xdp"), "{shown}");
    // And the interface takes a new port.
    drop(open_xdp(&pair.b, "vb", AfXdpConfig::default()));
    assert!(!link_show(&pair.b, "vb").contains("xdp"));
}

#[tokio::test]
async fn a_queue_the_interface_lacks_is_named() {
    if !root_or_skip() {
        return;
    }
    let pair = veth_pair(None).await;
    let err = pair
        .b
        .ns
        .run_in(|| AfXdp::open("vb", 7, &AfXdpConfig::default()))
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, Error::Bind { queue: 7, .. }), "{err}");
    assert!(err.to_string().contains("vb queue 7"), "{err}");
    assert!(
        !link_show(&pair.b, "vb").contains("xdp"),
        "nothing is left attached"
    );
}

#[test]
fn a_missing_interface_is_named() {
    if !root_or_skip() {
        return;
    }
    let err = failure_in_fresh_ns(|| AfXdp::open("nothere0", 0, &AfXdpConfig::default()));
    assert!(matches!(err, Error::NoSuchInterface { .. }), "{err}");
    assert!(err.to_string().contains("nothere0"), "{err}");
}
