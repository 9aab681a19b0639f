//! Large segments through AF_PACKET on a veth pair between two namespaces (root): a USO train
//! or a TSO segment sent with its virtio-net header crosses the kernel as one frame, arrives
//! whole at the peer's packet socket, and is cut there into pool packets that are byte for byte
//! the datagrams or segments it stands for (checksums left partial).

mod common;

use std::net::Ipv4Addr;

use common::{Pair, open_packet, poller_for, root_or_skip, veth_pair, wait_for};
use podwire_dataplane::buffer::{BufferIndex, BufferPool, GsoKind, OffloadInfo};
use podwire_io::af_packet::{AfPacket, AfPacketSender};
use podwire_io::worker::{AfPacketRx, PortCounters, RxPort, TxBatch, TxPort, TxScratch};

const A: Ipv4Addr = Ipv4Addr::new(10, 89, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 89, 0, 2);
const UDP: u8 = 17;
const TCP: u8 = 6;
/// Where the L4 header starts: Ethernet, then IPv4 without options.
const L4: usize = 14 + 20;

/// The ones' complement sum of `bytes` as 16-bit big-endian words, folded.
fn sum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// An Ethernet frame from A (on `va`) to B (on `vb`) carrying IPv4 with identification
/// `ident`, then `l4` (a UDP or TCP header, whose length field a UDP header gets here) and
/// `payload`. The IPv4 header checksum is valid; the transport checksum field holds the
/// pseudo-header sum, as a packet whose checksum is left to an offload (`CHECKSUM_PARTIAL`).
fn frame(pair: &Pair, ident: u16, protocol: u8, l4: &[u8], payload: &[u8]) -> Vec<u8> {
    let l4_len = l4.len() + payload.len();
    let mut f = Vec::with_capacity(L4 + l4_len);
    f.extend(pair.mac_b);
    f.extend(pair.mac_a);
    f.extend([0x08, 0x00]);
    let mut ip = vec![0x45, 0];
    ip.extend(((20 + l4_len) as u16).to_be_bytes());
    ip.extend(ident.to_be_bytes());
    ip.extend([0x40, 0, 64, protocol, 0, 0]);
    ip.extend(A.octets());
    ip.extend(B.octets());
    let checksum = !sum(&ip);
    ip[10..12].copy_from_slice(&checksum.to_be_bytes());
    f.extend(ip);
    let mut header = l4.to_vec();
    let mut pseudo = Vec::new();
    pseudo.extend(A.octets());
    pseudo.extend(B.octets());
    pseudo.extend([0, protocol]);
    pseudo.extend((l4_len as u16).to_be_bytes());
    let at = if protocol == UDP {
        header[4..6].copy_from_slice(&(l4_len as u16).to_be_bytes());
        6
    } else {
        16
    };
    header[at..at + 2].copy_from_slice(&sum(&pseudo).to_be_bytes());
    f.extend(header);
    f.extend(payload);
    f
}

fn udp_header(port: u16) -> Vec<u8> {
    let mut h = 40_000u16.to_be_bytes().to_vec();
    h.extend(port.to_be_bytes());
    h.extend([0; 4]);
    h
}

/// A TCP header (no options) with sequence number `seq` and flags ACK, and PSH if `push`.
fn tcp_header(port: u16, seq: u32, push: bool) -> Vec<u8> {
    let mut h = 40_000u16.to_be_bytes().to_vec();
    h.extend(port.to_be_bytes());
    h.extend(seq.to_be_bytes());
    h.extend(77u32.to_be_bytes());
    h.extend([5 << 4, if push { 0x18 } else { 0x10 }]);
    h.extend([0x10, 0, 0, 0, 0, 0]); // window, checksum, urgent pointer
    h
}

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// Sends `frame` through the worker's side of `sender`, asking for `offload`, as one packet
/// (a chain) of a pool of its own.
fn send(sender: &AfPacketSender, frame: &[u8], offload: OffloadInfo) {
    let mut pool = BufferPool::new(64);
    let bi = pool.alloc_from(frame).unwrap();
    pool.meta_mut(bi).offload = offload;
    let mut counters = PortCounters::default();
    TxPort::send(
        sender,
        TxBatch::new(&pool, &[bi]),
        &mut TxScratch::default(),
        &mut counters,
    );
    assert_eq!(
        (counters.tx_packets, counters.tx_drops),
        (1, 0),
        "the kernel took the frame: {counters:?}"
    );
}

/// The destination port of a TCP or UDP frame from A.
fn port_of(data: &[u8]) -> Option<u16> {
    let from_a = data.get(26..30)? == A.octets();
    from_a.then(|| u16::from_be_bytes([data[L4 + 2], data[L4 + 3]]))
}

/// The first frame to `port` the packet socket receives, with what it asks for; fails if a
/// second one comes in the same batch.
fn receive_one(socket: &mut AfPacket, port: u16) -> (Vec<u8>, OffloadInfo) {
    let mut found = Vec::new();
    wait_for(poller_for(&*socket), "the large frame", || {
        socket.rx_batch(64, |f| {
            if port_of(f.data) == Some(port) {
                found.push((f.data.to_vec(), f.offload.unwrap()));
            }
        });
        (!found.is_empty()).then_some(())
    });
    assert_eq!(found.len(), 1, "one frame, not segments");
    found.pop().unwrap()
}

/// The packets to `port` that `rx` puts in `pool` until `count` have come, as bytes, with the
/// offload each asks for; the others are freed.
fn receive_packets(
    rx: &mut AfPacketRx,
    pool: &mut BufferPool,
    port: u16,
    count: usize,
) -> Vec<(Vec<u8>, OffloadInfo)> {
    let mut got = Vec::new();
    let mut counters = PortCounters::default();
    let poller = poller_for(rx.fd());
    wait_for(poller, "the segments", || {
        let mut out = Vec::new();
        rx.receive(pool, 256, &mut out, &mut counters);
        for bi in out {
            collect(pool, bi, port, &mut got);
        }
        (got.len() >= count).then_some(())
    });
    assert_eq!(counters.rx_drops, 0, "{counters:?}");
    assert_eq!(pool.available(), pool.capacity(), "no buffer kept");
    got
}

fn collect(
    pool: &mut BufferPool,
    bi: BufferIndex,
    port: u16,
    got: &mut Vec<(Vec<u8>, OffloadInfo)>,
) {
    let mut bytes = Vec::new();
    pool.copy_to_vec(bi, &mut bytes);
    if port_of(&bytes) == Some(port) {
        got.push((bytes, pool.meta(bi).offload));
    }
    pool.free(bi);
}

fn partial(csum_offset: u16) -> OffloadInfo {
    OffloadInfo {
        needs_csum: true,
        csum_start: L4 as u16,
        csum_offset,
        ..OffloadInfo::default()
    }
}

#[tokio::test]
async fn a_udp_train_crosses_as_one_frame_and_is_cut_into_its_datagrams() {
    if !root_or_skip() {
        return;
    }
    let pair = veth_pair(None).await;
    let sender = open_packet(&pair.a, "va").sender().unwrap();
    let mut socket = open_packet(&pair.b, "vb");
    const PORT: u16 = 4789;
    const SIZE: usize = 1400;
    // 20 datagrams of 1400 bytes and a short one.
    let data = payload(20 * SIZE + 333);
    let train = frame(&pair, 0, UDP, &udp_header(PORT), &data);
    let asked = OffloadInfo {
        gso: GsoKind::Udp,
        gso_size: SIZE as u16,
        hdr_len: (L4 + 8) as u16,
        ..partial(6)
    };

    send(&sender, &train, asked);
    let (got, offload) = receive_one(&mut socket, PORT);
    assert!(got == train, "the train arrived changed");
    assert_eq!(
        offload, asked,
        "the kernel carried it whole, as a USO train"
    );

    send(&sender, &train, asked);
    let mut rx = AfPacketRx(socket);
    let mut pool = BufferPool::new(256);
    let datagrams = receive_packets(&mut rx, &mut pool, PORT, 21);
    assert_eq!(datagrams.len(), 21);
    for (i, ((bytes, offload), chunk)) in datagrams.iter().zip(data.chunks(SIZE)).enumerate() {
        let expected = frame(&pair, i as u16, UDP, &udp_header(PORT), chunk);
        assert!(*bytes == expected, "datagram {i} is not what it stands for");
        assert_eq!(*offload, partial(6), "datagram {i}");
    }
}

#[tokio::test]
async fn a_tcp_segment_crosses_as_one_frame_and_is_cut_into_segments() {
    if !root_or_skip() {
        return;
    }
    let pair = veth_pair(None).await;
    let sender = open_packet(&pair.a, "va").sender().unwrap();
    let mut socket = open_packet(&pair.b, "vb");
    const PORT: u16 = 5201;
    const MSS: usize = 1448;
    const SEQ: u32 = u32::MAX - 5000;
    let data = payload(30_000);
    let big = frame(&pair, 100, TCP, &tcp_header(PORT, SEQ, true), &data);
    let asked = OffloadInfo {
        gso: GsoKind::Tcp4,
        gso_size: MSS as u16,
        hdr_len: (L4 + 20) as u16,
        ..partial(16)
    };

    send(&sender, &big, asked);
    let (got, offload) = receive_one(&mut socket, PORT);
    assert!(got == big, "the segment arrived changed");
    assert_eq!(
        offload, asked,
        "the kernel carried it whole, as a TSO segment"
    );

    send(&sender, &big, asked);
    let mut rx = AfPacketRx(socket);
    let mut pool = BufferPool::new(256);
    let count = data.len().div_ceil(MSS);
    let segments = receive_packets(&mut rx, &mut pool, PORT, count);
    assert_eq!(segments.len(), count);
    for (i, ((bytes, offload), chunk)) in segments.iter().zip(data.chunks(MSS)).enumerate() {
        let seq = SEQ.wrapping_add((i * MSS) as u32);
        let header = tcp_header(PORT, seq, i + 1 == count);
        let expected = frame(&pair, 100 + i as u16, TCP, &header, chunk);
        assert!(*bytes == expected, "segment {i} is not what it stands for");
        assert_eq!(*offload, partial(16), "segment {i}");
    }
}

#[tokio::test]
async fn an_ordinary_frame_arrives_intact_and_asks_for_nothing() {
    if !root_or_skip() {
        return;
    }
    let pair = veth_pair(None).await;
    let sender = open_packet(&pair.a, "va").sender().unwrap();
    let mut socket = open_packet(&pair.b, "vb");
    const PORT: u16 = 4790;
    let mut plain = frame(&pair, 7, UDP, &udp_header(PORT), b"ordinary");
    // A UDP checksum of 0: none, as IPv4 allows; nothing left to an offload.
    plain[L4 + 6..L4 + 8].fill(0);
    send(&sender, &plain, OffloadInfo::default());
    let (got, offload) = receive_one(&mut socket, PORT);
    assert_eq!(got, plain);
    assert_eq!(offload, OffloadInfo::default());

    // The same through the worker's receive side: one packet, as it came.
    send(&sender, &plain, OffloadInfo::default());
    let mut rx = AfPacketRx(socket);
    let mut pool = BufferPool::new(64);
    let packets = receive_packets(&mut rx, &mut pool, PORT, 1);
    assert_eq!(packets, vec![(plain, OffloadInfo::default())]);
}

#[tokio::test]
async fn a_frame_the_kernel_refuses_is_dropped_alone() {
    if !root_or_skip() {
        return;
    }
    let pair = veth_pair(None).await;
    let sender = open_packet(&pair.a, "va").sender().unwrap();
    let mut socket = open_packet(&pair.b, "vb");
    const PORT: u16 = 4791;
    let plain = |n: u8| {
        let mut f = frame(&pair, 0, UDP, &udp_header(PORT), &[n; 16]);
        f[L4 + 6..L4 + 8].fill(0);
        f
    };
    // 800 datagrams: more than any kernel's UDP_MAX_SEGMENTS.
    let train = frame(&pair, 0, UDP, &udp_header(PORT), &payload(8000));
    let mut pool = BufferPool::new(64);
    let packets = [
        pool.alloc_from(&plain(1)).unwrap(),
        pool.alloc_from(&train).unwrap(),
        pool.alloc_from(&plain(2)).unwrap(),
    ];
    pool.meta_mut(packets[1]).offload = OffloadInfo {
        gso: GsoKind::Udp,
        gso_size: 10,
        hdr_len: (L4 + 8) as u16,
        ..partial(6)
    };
    let mut counters = PortCounters::default();
    TxPort::send(
        &sender,
        TxBatch::new(&pool, &packets),
        &mut TxScratch::default(),
        &mut counters,
    );
    assert_eq!(
        (counters.tx_packets, counters.tx_drops),
        (2, 1),
        "{counters:?}"
    );
    let mut got = Vec::new();
    wait_for(poller_for(&socket), "the two plain frames", || {
        socket.rx_batch(64, |f| {
            if port_of(f.data) == Some(PORT) {
                got.push(f.data.to_vec());
            }
        });
        (got.len() >= 2).then_some(())
    });
    assert_eq!(got, [plain(1), plain(2)]);
}
