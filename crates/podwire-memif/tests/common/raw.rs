//! A client driven by hand over a raw control connection, to play peers
//! our own [`Client`](podwire_memif::Client) never is: one that stalls, dies
//! without a word, or hands over memory it built itself.

use std::os::fd::OwnedFd;
use std::time::Instant;

use podwire_memif::handshake::client::{ClientHandshake, ClientParams, ClientStep};
use podwire_memif::handshake::{RegionFds, RingFds};
use podwire_memif::msg::{Message, Name, Secret};
use podwire_memif::shm::{BufferPlacement, Layout, Region, Regions, SealPolicy};
use podwire_memif::sys::{Conn, EventFd, Received, SocketAddr};
use podwire_memif::types::{MSG_SIZE, Mode};
use podwire_memif::{Event, Server};

/// What a raw connection saw next.
#[derive(Debug, PartialEq, Eq)]
pub enum Seen {
    Message(Message),
    Closed,
    Nothing,
}

/// Receives the next thing on `conn` without blocking.
pub fn recv(conn: &Conn) -> Seen {
    let mut buf = [0u8; MSG_SIZE];
    match conn.recv(&mut buf).expect("recv") {
        None => Seen::Nothing,
        Some(Received::Closed) => Seen::Closed,
        Some(Received::Message { len, .. }) => {
            assert_eq!(len, MSG_SIZE);
            Seen::Message(Message::parse(&buf).expect("a memif message"))
        }
    }
}

/// The parameters of a one-queue-pair ethernet client for `id`.
pub fn params(id: u32) -> ClientParams {
    ClientParams {
        id,
        mode: Mode::Ethernet,
        secret: Secret::EMPTY,
        name: Name::from("raw-client"),
        if_name: Name::from("raw0"),
        c2s_rings: 1,
        s2c_rings: 1,
        log2_ring_size: 6,
    }
}

/// Memory for a 1 + 1 ring copy layout whose regions are memfds made
/// without `MFD_ALLOW_SEALING`, as DPDK's zero-copy client hands over:
/// they can never be sealed against shrinking. `tamper` may change the
/// rings after they are initialised.
pub fn unsealable_memory(tamper: impl FnOnce(&Regions)) -> (RegionFds, RingFds) {
    let layout = Layout::new(BufferPlacement::AfterRings, 1, 1, 6, 256).unwrap();
    let mut regions = Regions::new();
    let mut region_fds = Vec::new();
    for spec in layout.regions() {
        let fd = rustix::fs::memfd_create("unsealable", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
        rustix::fs::ftruncate(&fd, spec.size).unwrap();
        let region = Region::map_with_policy(&fd, spec.size, SealPolicy::AllowUnsealed).unwrap();
        assert!(!region.is_sealed());
        regions.push(region).unwrap();
        region_fds.push((spec, fd));
    }
    layout.initialize(&regions).unwrap();
    tamper(&regions);
    let ring_fds = layout
        .rings()
        .map(|spec| (spec, OwnedFd::from(EventFd::new().unwrap())))
        .collect();
    (region_fds, ring_fds)
}

/// How a raw handshake ended.
#[derive(Debug)]
pub enum Outcome {
    /// CONNECTED; the connection stays open.
    Connected(Conn),
    /// DISCONNECT with this reason.
    Refused(String),
}

/// Runs a whole handshake by hand against `server` (polled at `now`),
/// announcing the memory `memory` makes. Returns how it ended and the
/// server's events.
pub fn handshake(
    server: &mut Server,
    addr: &SocketAddr,
    now: Instant,
    params: ClientParams,
    memory: impl FnOnce() -> (RegionFds, RingFds),
) -> (Outcome, Vec<Event>) {
    let conn = Conn::connect(addr).unwrap();
    let mut events = server.poll(now);
    let mut handshake = ClientHandshake::new(params).unwrap();
    let mut memory = Some(memory);
    for _ in 0..1000 {
        let msg = match recv(&conn) {
            Seen::Message(msg) => msg,
            Seen::Closed => panic!("closed without DISCONNECT; server events {events:?}"),
            Seen::Nothing => {
                events.extend(server.poll(now));
                continue;
            }
        };
        if let Message::Disconnect { reason, .. } = msg {
            return (Outcome::Refused(reason.to_string()), events);
        }
        let outgoing = match handshake.on_message(msg).expect("server message") {
            ClientStep::Connected { .. } => {
                events.extend(server.poll(now));
                return (Outcome::Connected(conn), events);
            }
            ClientStep::Send(outgoing) => outgoing,
            ClientStep::Negotiated(_) => {
                let (regions, rings) = memory.take().expect("one HELLO")();
                handshake.provide(regions, rings).unwrap()
            }
        };
        conn.send(&outgoing.msg.emit(), outgoing.fd).unwrap();
        events.extend(server.poll(now));
    }
    panic!("the raw handshake never ended; server events {events:?}");
}
