//! A memif port against an in-process memif peer over an abstract socket: the handshake
//! driven through `service`, frames in and out through the worker's interfaces, the port's
//! descriptor readable exactly when the worker must act, and peers that leave and return.

use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use podwire_memif::connection::RECONNECT_PERIOD;
use rustix::event::{PollFd, PollFlags, Timespec, poll};

use super::*;

/// Rounds of servicing after which a handshake between two ends in one process must be done
/// (each round moves it at least one message on); only a broken implementation gets there.
const ROUNDS: usize = 1000;

fn unique_addr() -> SocketAddr {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("@podwire-io-memif-{}-{n}", std::process::id())
        .parse()
        .unwrap()
}

fn server_port(addr: &SocketAddr, interface: InterfaceConfig) -> MemifPort {
    open(MemifPortConfig {
        name: "m0".into(),
        socket: addr.clone(),
        role: MemifRole::Server { access: None },
        interface,
    })
    .unwrap()
}

/// Whether `fd` is readable now.
fn readable(fd: impl AsFd) -> bool {
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    poll(&mut fds, Some(&Timespec::default())).unwrap() == 1
}

/// Services the port and polls the client until the client is connected.
fn connect(port: &mut MemifPort, client: &mut Client, now: Instant) {
    for _ in 0..ROUNDS {
        client.poll(now);
        port.rx.service(now);
        if client.is_connected() && port.status.get().peer.is_some() {
            return;
        }
    }
    panic!(
        "not connected: client {:?}, port {:?}",
        client.last_error(),
        port.status.get()
    );
}

fn receive(port: &mut MemifPort, pool: &mut BufferPool) -> (Vec<Vec<u8>>, PortCounters) {
    let mut out = Vec::new();
    let mut counters = PortCounters::default();
    port.rx.receive(pool, 256, &mut out, &mut counters);
    let frames = out
        .iter()
        .map(|&bi| {
            let mut frame = Vec::new();
            pool.copy_to_vec(bi, &mut frame);
            pool.free(bi);
            frame
        })
        .collect();
    (frames, counters)
}

fn client_receive(client: &mut Client) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    client
        .interface_mut()
        .expect("connected")
        .rx_burst(0, 64, |packet| {
            let mut frame = vec![0; packet.len()];
            packet.copy_to(&mut frame);
            frames.push(frame);
        })
        .unwrap();
    frames
}

fn frame(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(7) ^ seed).collect()
}

#[test]
fn frames_flow_both_ways_and_jumbo_frames_become_chains() {
    let addr = unique_addr();
    let mut port = server_port(&addr, InterfaceConfig::new(3));
    let mut client = Client::new(addr, InterfaceConfig::new(3)).unwrap();
    connect(&mut port, &mut client, Instant::now());
    let peer = port.status.get().peer.expect("connected");
    assert!(peer.name.starts_with("podwire-memif"), "{peer:?}");
    assert_eq!(peer.if_name, "memif3");

    let (small, jumbo) = (frame(60, 1), frame(5000, 2));
    let sent = client
        .interface_mut()
        .unwrap()
        .tx_burst(0, &[&small, &jumbo])
        .unwrap();
    assert_eq!(sent, 2);
    let mut pool = BufferPool::new(64);
    let (got, counters) = receive(&mut port, &mut pool);
    assert_eq!(got, vec![small.clone(), jumbo.clone()]);
    assert_eq!((counters.rx_packets, counters.rx_bytes), (2, 5060));
    assert_eq!(counters.rx_drops, 0);
    assert_eq!(pool.available(), 64, "every buffer of the chain came back");

    let mut counters = PortCounters::default();
    crate::worker::port::send_frames(&*port.tx, &[&jumbo, &small], &mut counters);
    assert_eq!((counters.tx_packets, counters.tx_bytes), (2, 5060));
    assert_eq!(counters.tx_drops, 0);
    assert_eq!(client_receive(&mut client), vec![jumbo, small]);
}

#[test]
fn the_port_fd_is_readable_for_control_work_and_for_packets_only_while_the_worker_sleeps() {
    let addr = unique_addr();
    let mut port = server_port(&addr, InterfaceConfig::new(0));
    let mut client = Client::new(addr, InterfaceConfig::new(0)).unwrap();
    let now = Instant::now();
    port.rx.service(now);
    assert!(!readable(port.rx.fd()), "nothing to do yet");
    client.poll(now);
    assert!(readable(port.rx.fd()), "a client knocks: service is due");
    connect(&mut port, &mut client, now);
    assert!(!readable(port.rx.fd()), "serviced");

    // The worker polls: the client is asked not to signal.
    port.rx.set_sleeping(false);
    let data = frame(64, 3);
    client
        .interface_mut()
        .unwrap()
        .tx_burst(0, &[&data])
        .unwrap();
    assert!(!readable(port.rx.fd()), "no signal while the worker polls");
    let mut pool = BufferPool::new(16);
    assert_eq!(receive(&mut port, &mut pool).0, vec![data.clone()]);

    // The worker sleeps: the next packet wakes it.
    port.rx.set_sleeping(true);
    client
        .interface_mut()
        .unwrap()
        .tx_burst(0, &[&data])
        .unwrap();
    assert!(readable(port.rx.fd()), "a packet wakes a sleeping worker");
    port.rx.service(now);
    assert!(!readable(port.rx.fd()), "service drains the interrupt");
    assert_eq!(receive(&mut port, &mut pool).0, vec![data]);
}

#[test]
fn a_client_that_leaves_is_noticed_and_the_next_one_is_served() {
    let addr = unique_addr();
    let mut port = server_port(&addr, InterfaceConfig::new(0));
    let now = Instant::now();
    assert!(!port.rx.take_link_up(), "no peer yet");
    let mut first = Client::new(addr.clone(), InterfaceConfig::new(0)).unwrap();
    connect(&mut port, &mut first, now);
    assert!(port.rx.take_link_up(), "a peer came up");
    assert!(!port.rx.take_link_up(), "told once");
    drop(first);
    assert!(
        readable(port.rx.fd()),
        "the closed connection is due service"
    );
    port.rx.service(now);
    let state = port.status.get();
    assert_eq!(state.peer, None);
    assert!(state.last_error.is_some(), "{state:?}");

    let mut counters = PortCounters::default();
    crate::worker::port::send_frames(&*port.tx, &[&frame(60, 4)], &mut counters);
    assert_eq!(
        (counters.tx_packets, counters.tx_drops),
        (0, 1),
        "no peer, no send"
    );

    let mut second = Client::new(addr, InterfaceConfig::new(0)).unwrap();
    connect(&mut port, &mut second, now);
    assert!(port.rx.take_link_up(), "the next peer came up");
    let data = frame(100, 5);
    crate::worker::port::send_frames(&*port.tx, &[&data], &mut counters);
    assert_eq!(counters.tx_packets, 1);
    assert_eq!(client_receive(&mut second), vec![data]);
}

#[test]
fn frames_the_queue_drops_count_as_interface_drops() {
    let addr = unique_addr();
    let small = InterfaceConfig {
        max_frame: 100,
        ..InterfaceConfig::new(0)
    };
    let mut port = server_port(&addr, small);
    let mut client = Client::new(addr, InterfaceConfig::new(0)).unwrap();
    connect(&mut port, &mut client, Instant::now());
    let (long, short) = (frame(200, 6), frame(80, 7));
    client
        .interface_mut()
        .unwrap()
        .tx_burst(0, &[&long, &short, &long])
        .unwrap();
    let mut pool = BufferPool::new(16);
    let (got, counters) = receive(&mut port, &mut pool);
    assert_eq!(got, vec![short]);
    assert_eq!((counters.rx_packets, counters.rx_drops), (1, 2));
    // Counted once: the next receive adds nothing.
    assert_eq!(receive(&mut port, &mut pool).1.rx_drops, 0);
}

#[test]
fn a_client_port_reconnects_when_its_server_comes_back() {
    let addr = unique_addr();
    let mut server = Server::bind(&addr, None).unwrap();
    server.add_interface(InterfaceConfig::new(9)).unwrap();
    let mut port = open(MemifPortConfig {
        name: "c0".into(),
        socket: addr.clone(),
        role: MemifRole::Client,
        interface: InterfaceConfig::new(9),
    })
    .unwrap();
    let serve = |server: &mut Server, port: &mut MemifPort, now: Instant| {
        for _ in 0..ROUNDS {
            port.rx.service(now);
            server.poll(now);
            if server.interface(9).is_some() && port.status.get().peer.is_some() {
                return;
            }
        }
        panic!("not connected: {:?}", port.status.get());
    };
    let start = Instant::now();
    serve(&mut server, &mut port, start);
    let data = frame(70, 8);
    let mut counters = PortCounters::default();
    crate::worker::port::send_frames(&*port.tx, &[&data], &mut counters);
    let mut got = Vec::new();
    server
        .interface_mut(9)
        .unwrap()
        .rx_burst(0, 8, |p| got.push(p.len()))
        .unwrap();
    assert_eq!(got, vec![70]);

    drop(server);
    port.rx.service(start);
    assert_eq!(port.status.get().peer, None);
    // The first attempt after the loss finds nobody; the next is a period later.
    port.rx.service(start);
    let state = port.status.get();
    assert!(
        state
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("cannot connect")),
        "says why it is down: {state:?}"
    );
    let retry = port
        .rx
        .next_deadline()
        .expect("a reconnection is scheduled");
    assert!(
        retry > start && retry <= start + RECONNECT_PERIOD,
        "{retry:?}"
    );

    let mut server = Server::bind(&addr, None).unwrap();
    server.add_interface(InterfaceConfig::new(9)).unwrap();
    serve(
        &mut server,
        &mut port,
        start + RECONNECT_PERIOD + Duration::from_millis(1),
    );
}
