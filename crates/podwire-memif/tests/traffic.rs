//! Our client and our server moving packets over real sockets and shared
//! memory: both socket styles, several queues, chained jumbo frames, ip
//! mode, buffers in a region of their own.

mod common;

use std::time::Instant;

use common::{abstract_addr, connect, exchange_checked, path_addr};
use podwire_memif::shm::BufferPlacement;
use podwire_memif::types::{Mode, Role};
use podwire_memif::{Client, InterfaceConfig, Server};

/// A server with `server_config` and a client with `client_config`,
/// connected over `addr`.
fn pair(
    addr: podwire_memif::sys::SocketAddr,
    server_config: InterfaceConfig,
    client_config: InterfaceConfig,
) -> (Server, Client) {
    let mut server = Server::bind(&addr, None).unwrap();
    server.add_interface(server_config).unwrap();
    let mut client = Client::new(addr, client_config).unwrap();
    connect(&mut server, &mut client, Instant::now());
    (server, client)
}

/// Small frames of 60 to 123 bytes: many packets, little copying.
fn small(seq: usize) -> usize {
    60 + seq % 64
}

#[test]
fn one_queue_pair_over_a_path_moves_100k_frames_each_way() {
    let dir = tempfile::tempdir().unwrap();
    let config = InterfaceConfig::new(0);
    let (mut server, mut client) = pair(path_addr(&dir, "one"), config.clone(), config);
    let s = server.interface_mut(0).unwrap();
    let c = client.interface_mut().unwrap();
    assert_eq!((s.role(), c.role()), (Role::Server, Role::Client));
    assert_eq!((s.rx_queues(), s.tx_queues()), (1, 1));
    assert_eq!(s.peer().if_name, "memif0");
    assert_eq!(c.peer().name, podwire_memif::connection::APP_NAME);
    exchange_checked(c, s, 100_000, small);
    exchange_checked(s, c, 100_000, small);
}

#[test]
fn four_queue_pairs_over_an_abstract_socket_move_100k_frames_each_way() {
    let config = InterfaceConfig {
        rx_queues: 4,
        tx_queues: 4,
        ..InterfaceConfig::new(5)
    };
    let (mut server, mut client) = pair(abstract_addr("four"), config.clone(), config);
    let s = server.interface_mut(5).unwrap();
    let c = client.interface_mut().unwrap();
    assert_eq!((c.rx_queues(), c.tx_queues()), (4, 4));
    // 25 000 per queue: 100 000 each way.
    exchange_checked(c, s, 25_000, small);
    exchange_checked(s, c, 25_000, small);
}

#[test]
fn queue_counts_are_the_clients_within_the_servers_limits() {
    let server_config = InterfaceConfig {
        rx_queues: 4,
        tx_queues: 4,
        ..InterfaceConfig::new(1)
    };
    let client_config = InterfaceConfig {
        rx_queues: 3,
        tx_queues: 2,
        ..InterfaceConfig::new(1)
    };
    let (mut server, mut client) = pair(abstract_addr("counts"), server_config, client_config);
    let s = server.interface_mut(1).unwrap();
    let c = client.interface_mut().unwrap();
    assert_eq!((s.rx_queues(), s.tx_queues()), (2, 3));
    exchange_checked(c, s, 100, small);
    exchange_checked(s, c, 100, small);
    let error = c.tx_burst(2, &[b"x"]).unwrap_err().to_string();
    assert!(error.contains("no transmit queue 2: it has 2"), "{error}");
    assert!(s.rx_burst(2, 1, |_| {}).is_err());
    assert!(s.rx_interrupt_fd(7).is_err());
}

#[test]
fn jumbo_frames_are_chained_over_buffers_both_ways() {
    let config = InterfaceConfig::new(9);
    let (mut server, mut client) = pair(abstract_addr("jumbo"), config.clone(), config);
    let s = server.interface_mut(9).unwrap();
    let c = client.interface_mut().unwrap();
    // 9000 bytes take five 2048-byte buffers; vary the tail.
    let jumbo = |seq: usize| 8_990 + seq % 11;
    exchange_checked(c, s, 1_000, jumbo);
    exchange_checked(s, c, 1_000, jumbo);

    // Longer than max_frame (9216): taken, dropped and counted, not sent.
    let too_big = vec![0u8; 9_217];
    assert_eq!(c.tx_burst(0, &[&too_big]).unwrap(), 1);
    assert_eq!(c.tx_stats(0).unwrap().drops_too_big, 1);
    assert_eq!(s.rx_burst(0, 8, |_| {}).unwrap(), 0);
}

#[test]
fn ip_mode_connects_and_carries_packets() {
    let config = InterfaceConfig {
        mode: Mode::Ip,
        ..InterfaceConfig::new(2)
    };
    let (mut server, mut client) = pair(abstract_addr("ip"), config.clone(), config);
    let s = server.interface_mut(2).unwrap();
    let c = client.interface_mut().unwrap();
    assert_eq!((s.mode(), c.mode()), (Mode::Ip, Mode::Ip));
    exchange_checked(c, s, 1_000, small);
    exchange_checked(s, c, 1_000, small);
}

#[test]
fn buffers_in_a_region_of_their_own_are_mapped_by_the_server() {
    let client_config = InterfaceConfig {
        buffer_placement: BufferPlacement::OwnRegion,
        log2_ring_size: 8,
        buffer_size: 1024,
        ..InterfaceConfig::new(3)
    };
    let (mut server, mut client) = pair(
        abstract_addr("own-region"),
        InterfaceConfig::new(3),
        client_config,
    );
    let s = server.interface_mut(3).unwrap();
    let c = client.interface_mut().unwrap();
    assert_eq!((s.region_count(), c.region_count()), (2, 2));
    // Longer than a 1024-byte buffer: chains cross into region 1 too.
    let len = |seq: usize| 60 + seq % 1500;
    exchange_checked(c, s, 10_000, len);
    exchange_checked(s, c, 10_000, len);
}
