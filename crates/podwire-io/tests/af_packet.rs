//! AF_PACKET on one end of a veth pair between two namespaces (root).

mod common;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, UdpSocket};

use common::{
    PATIENCE, TestNs, failure_in_fresh_ns, open_packet, poller_for, root_or_skip, udp_frame,
    udp_in, veth_pair, wait_for,
};
use podwire_io::af_packet::{AfPacket, AfPacketConfig};
use podwire_io::tx::TxStatus;

const A: Ipv4Addr = Ipv4Addr::new(10, 88, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 88, 0, 2);

/// Sends `count` datagrams from `from` to `to:port`, each carrying its sequence number, from a
/// socket opened inside `ns`.
fn send_datagrams(ns: &TestNs, from: Ipv4Addr, to: Ipv4Addr, port: u16, count: u32) {
    ns.ns
        .run_in(move || {
            let socket = UdpSocket::bind((from, 0)).unwrap();
            for seq in 0..count {
                socket.send_to(&seq.to_be_bytes(), (to, port)).unwrap();
            }
        })
        .unwrap();
}

fn sequence_number(payload: &[u8]) -> u32 {
    u32::from_be_bytes(payload.try_into().expect("4-byte payload"))
}

#[tokio::test]
async fn every_frame_arrives_once_and_our_own_are_not_seen() {
    if !root_or_skip() {
        return;
    }
    let pair = veth_pair(Some((A, B))).await;
    let mut socket = open_packet(&pair.b, "vb");
    const COUNT: u32 = 1000;
    const PORT: u16 = 40_000;
    send_datagrams(&pair.a, A, B, PORT, COUNT);
    // B's own stack sends too (out of vb): PACKET_IGNORE_OUTGOING keeps that from us.
    send_datagrams(&pair.b, B, A, PORT, 10);

    let mut seen = Vec::new();
    let (mut outgoing, mut needs_csum) = (0, 0);
    wait_for(poller_for(&socket), "1000 datagrams", || {
        socket.rx_batch(64, |frame| {
            assert!(!frame.truncated);
            if frame.data.get(6..12) == Some(&pair.mac_b[..]) {
                outgoing += 1;
            }
            if let Some((A, B, PORT, payload)) = udp_in(frame.data) {
                seen.push(sequence_number(payload));
                needs_csum += usize::from(frame.offload.is_ok_and(|o| o.needs_csum));
            }
        });
        (seen.len() >= COUNT as usize).then_some(())
    });
    // Whatever else is queued: nothing from the test may be in it.
    socket.rx_batch(usize::MAX, |frame| {
        assert!(udp_in(frame.data).is_none_or(|(src, ..)| src != A && src != B));
    });
    assert_eq!(seen, (0..COUNT).collect::<Vec<_>>(), "all, once, in order");
    assert_eq!(outgoing, 0, "frames sent from vb were delivered to us");
    // A veth keeps the sender's checksum offload: the UDP checksum was never filled in.
    assert_eq!(needs_csum, COUNT as usize);

    let stats = socket.stats().unwrap();
    assert!(stats.packets >= COUNT, "{stats:?}");
    assert_eq!(stats.drops, 0, "{stats:?}");
}

#[tokio::test]
async fn small_batches_resume_where_they_stopped() {
    if !root_or_skip() {
        return;
    }
    let pair = veth_pair(Some((A, B))).await;
    let mut socket = open_packet(&pair.b, "vb");
    const COUNT: u32 = 100;
    send_datagrams(&pair.a, A, B, 40_001, COUNT);
    let mut seen = Vec::new();
    wait_for(poller_for(&socket), "100 datagrams", || {
        // One frame at a time: every batch ends inside a block.
        let got = socket.rx_batch(1, |frame| {
            if let Some((A, B, 40_001, payload)) = udp_in(frame.data) {
                seen.push(sequence_number(payload));
            }
        });
        assert!(got <= 1);
        (seen.len() >= COUNT as usize).then_some(())
    });
    assert_eq!(seen, (0..COUNT).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_vlan_tag_taken_out_by_the_kernel_is_put_back() {
    if !root_or_skip() {
        return;
    }
    let pair = veth_pair(Some((A, B))).await;
    let sender = open_packet(&pair.a, "va").sender().unwrap();
    let mut socket = open_packet(&pair.b, "vb");
    // Tagged frames (VLAN 10, priority 5). The receiving kernel moves an in-band tag into the
    // packet's metadata before packet sockets see it (skb_vlan_untag), so it reaches the ring
    // as TP_STATUS_VLAN_VALID and must be reinserted.
    let frames: Vec<Vec<u8>> = (0u32..5)
        .map(|seq| {
            let mut frame = udp_frame(pair.mac_b, pair.mac_a, A, B, 40_002, &seq.to_be_bytes());
            frame.splice(12..12, [0x81, 0x00, 0xa0, 0x0a]);
            frame
        })
        .collect();
    for frame in &frames {
        assert_eq!(sender.send(frame).unwrap(), TxStatus::Sent);
    }

    let mut tagged = Vec::new();
    wait_for(poller_for(&socket), "5 tagged frames", || {
        socket.rx_batch(64, |frame| {
            if frame.data.get(12..14) == Some(&[0x81, 0x00]) {
                tagged.push(frame.data.to_vec());
            }
        });
        (tagged.len() >= frames.len()).then_some(())
    });
    assert_eq!(tagged, frames, "byte for byte as on the wire");
}

#[tokio::test]
async fn frames_sent_arrive_at_the_peer() {
    if !root_or_skip() {
        return;
    }
    let pair = veth_pair(Some((A, B))).await;
    let socket = open_packet(&pair.b, "vb");
    const PORT: u16 = 40_003;
    let receiver = pair
        .a
        .ns
        .run_in(|| {
            let receiver = UdpSocket::bind((A, PORT)).unwrap();
            receiver.set_read_timeout(Some(PATIENCE)).unwrap();
            receiver
        })
        .unwrap();
    let frames: Vec<Vec<u8>> = (0u32..100)
        .map(|seq| udp_frame(pair.mac_a, pair.mac_b, B, A, PORT, &seq.to_be_bytes()))
        .collect();
    let sender = socket.sender().unwrap();
    for frame in &frames[..50] {
        assert_eq!(sender.send(frame).unwrap(), TxStatus::Sent);
    }
    let batch: Vec<&[u8]> = frames[50..].iter().map(Vec::as_slice).collect();
    assert_eq!(sender.send_batch(&batch[..]).unwrap(), 50);

    let mut received = BTreeSet::new();
    let mut buf = [0u8; 64];
    while received.len() < frames.len() {
        // A socket with a timeout is not restarted after the process is stopped and
        // continued (signal(7)): receive again then.
        let (len, from) = loop {
            match receiver.recv_from(&mut buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                received => break received.expect("a datagram within the patience period"),
            }
        };
        assert_eq!(from.ip(), IpAddr::V4(B));
        assert!(received.insert(sequence_number(&buf[..len])), "duplicate");
    }
    assert_eq!(received, (0..100).collect());
}

#[test]
fn a_missing_interface_is_named() {
    if !root_or_skip() {
        return;
    }
    let err = failure_in_fresh_ns(|| AfPacket::open("nothere0", &AfPacketConfig::default()));
    assert!(err.to_string().contains("nothere0"), "{err}");
}
