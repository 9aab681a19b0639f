//! Zero-copy bursts between our client and our server over a real socket:
//! frames written in place into shared memory with `tx_reserve`/`commit`,
//! read in place with `rx_peek`.

mod common;

use std::time::Instant;

use common::{abstract_addr, checksum, connect, frame};
use podwire_memif::shm::BufferPlacement;
use podwire_memif::{Client, Interface, InterfaceConfig, Server};

/// A server and a client whose buffers lie in a region of their own.
fn own_region_pair(what: &str) -> (Server, Client) {
    let addr = abstract_addr(what);
    let mut server = Server::bind(&addr, None).unwrap();
    server.add_interface(InterfaceConfig::new(0)).unwrap();
    let client_config = InterfaceConfig {
        buffer_placement: BufferPlacement::OwnRegion,
        log2_ring_size: 8,
        buffer_size: 2048,
        ..InterfaceConfig::new(0)
    };
    let mut client = Client::new(addr, client_config).unwrap();
    connect(&mut server, &mut client, Instant::now());
    (server, client)
}

/// Frame `seq` is 60 to 1559 bytes long.
fn len(seq: usize) -> usize {
    60 + seq * 13 % 1500
}

/// Moves `count` frames from `tx` to `rx` on queue 0, written in place and
/// read in place; checks each and returns the checksums (sent, received).
fn zero_copy_exchange(tx: &mut Interface, rx: &mut Interface, count: usize) -> (u64, u64) {
    let (mut sent, mut received) = (0, 0);
    let (mut sent_sum, mut received_sum) = (0, 0);
    let mut idle_rounds = 0;
    while received < count {
        let reservation = tx.tx_reserve(0, 64.min(count - sent)).unwrap();
        let mut lengths = Vec::new();
        for i in 0..reservation.len() {
            let f = frame(0, sent + i, len(sent + i));
            let buffer = reservation.buffer(i).unwrap();
            assert!(buffer.capacity() >= f.len());
            // In two writes, to use offsets.
            buffer.write(0, &f[..10]).unwrap();
            buffer.write(10, &f[10..]).unwrap();
            sent_sum = checksum(sent_sum, &f);
            lengths.push(f.len());
        }
        let committed = reservation.commit(&lengths);
        assert_eq!(committed, lengths.len());
        sent += committed;
        let got = rx
            .rx_peek(0, 256, |packet| {
                let mut buf = vec![0; packet.len()];
                packet.read(0, &mut buf).unwrap();
                assert!(buf == frame(0, received, len(received)), "frame {received}");
                received_sum = checksum(received_sum, &buf);
                received += 1;
            })
            .unwrap();
        idle_rounds = if committed + got > 0 {
            0
        } else {
            idle_rounds + 1
        };
        assert!(
            idle_rounds < 100,
            "stalled: sent {sent}, received {received}"
        );
    }
    (sent_sum, received_sum)
}

#[test]
fn an_own_region_client_sends_10k_frames_written_in_place() {
    let (mut server, mut client) = own_region_pair("zc-c2s");
    let c = client.interface_mut().unwrap();
    let s = server.interface_mut(0).unwrap();
    assert_eq!(c.region_count(), 2);
    let (sent, received) = zero_copy_exchange(c, s, 10_000);
    assert_eq!(sent, received);
    let (out, got) = (c.tx_stats(0).unwrap(), s.rx_stats(0).unwrap());
    assert_eq!((out.packets, got.packets), (10_000, 10_000));
    assert_eq!(out.bytes, got.bytes);
    assert_eq!(got.drops_overrun + got.drops_bad_region, 0);
}

#[test]
fn the_server_writes_in_place_into_the_buffers_the_client_posted() {
    let (mut server, mut client) = own_region_pair("zc-s2c");
    let c = client.interface_mut().unwrap();
    let s = server.interface_mut(0).unwrap();
    {
        let reservation = s.tx_reserve(0, 1).unwrap();
        // The client posted its 2048-byte buffers.
        assert_eq!(reservation.buffer(0).unwrap().capacity(), 2048);
    }
    let (sent, received) = zero_copy_exchange(s, c, 10_000);
    assert_eq!(sent, received);
    assert_eq!(c.rx_stats(0).unwrap().packets, 10_000);
}

#[test]
fn a_bad_queue_is_refused() {
    let (mut server, mut client) = own_region_pair("zc-queue");
    let c = client.interface_mut().unwrap();
    let error = c.tx_reserve(1, 1).unwrap_err().to_string();
    assert!(error.contains("no transmit queue 1"), "{error}");
    let s = server.interface_mut(0).unwrap();
    assert!(s.rx_peek(3, 1, |_| {}).is_err());
}
