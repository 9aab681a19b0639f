//! A client and a server driven against each other to CONNECTED.

use super::*;
use crate::handshake::Refusal;
use crate::handshake::client::{ClientHandshake, ClientStep};
use crate::handshake::server::{Established, ServerHandshake, ServerStep, connected};

/// What a client/server pair ends with.
struct Pair {
    established: Established,
    client: ClientHandshake,
    peer_if_name: Name,
    /// Every message the client sent, in order.
    sent: Vec<Message>,
}

/// Runs a client and a server against each other to CONNECTED; the
/// driver hands the client its resources in reverse order.
fn drive(params: ClientParams, hello: Hello, iface: ServerInterface) -> Pair {
    let lookup = move |id: u32| {
        if id == ID {
            Ok(iface)
        } else {
            Err(Refusal::UnmatchedId { id })
        }
    };
    let (mut server, greeting) = ServerHandshake::new(hello);
    let mut client = ClientHandshake::new(params).expect("valid params");
    let negotiated = match client.on_message(through_codec(greeting)) {
        Ok(ClientStep::Negotiated(n)) => n,
        other => panic!("HELLO not negotiated: {other:?}"),
    };
    let (mut regions, mut rings) = resources(&negotiated);
    regions.reverse();
    rings.reverse();
    let mut next = transmit(&client.provide(regions, rings).expect("resources fit"));
    let mut sent = Vec::new();
    let established = loop {
        sent.push(next.0);
        match server.on_message(next.0, next.1, &lookup) {
            Ok(ServerStep::Reply(reply)) => match client.on_message(through_codec(reply)) {
                Ok(ClientStep::Send(out)) => next = transmit(&out),
                other => panic!("client did not go on: {other:?}"),
            },
            Ok(ServerStep::Connect(established)) => break established,
            Err(refusal) => panic!("server refused {:?}: {refusal}", next.0),
        }
    };
    let reply = through_codec(connected(Name::from("memif-s0")));
    let peer_if_name = match client.on_message(reply) {
        Ok(ClientStep::Connected { peer_if_name }) => peer_if_name,
        other => panic!("client not connected: {other:?}"),
    };
    Pair {
        established,
        client,
        peer_if_name,
        sent,
    }
}

fn same_file(a: &OwnedFd, b: &OwnedFd) -> bool {
    let (a, b) = (rustix::fs::fstat(a).unwrap(), rustix::fs::fstat(b).unwrap());
    (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
}

/// Whether a signal written to `a` can be read from `b`.
fn same_eventfd(a: &OwnedFd, b: &OwnedFd) -> bool {
    rustix::io::write(a, &1u64.to_ne_bytes()).unwrap();
    let mut value = [0; 8];
    matches!(rustix::io::read(b, &mut value), Ok(8)) && u64::from_ne_bytes(value) == 1
}

#[test]
fn client_and_server_connect_with_real_fds() {
    let pair = drive(
        params(),
        hello(),
        ServerInterface {
            rx_queues: 2,
            tx_queues: 3,
            ..iface()
        },
    );
    let est = &pair.established;
    assert_eq!((est.id, est.mode), (ID, Mode::Ethernet));
    assert_eq!(est.peer_name, Name::from("client-app"));
    assert_eq!(est.peer_if_name, Name::from("memif-c0"));
    assert_eq!(pair.peer_if_name, Name::from("memif-s0"));

    // Lock-step order: INIT, regions ascending, C2S ascending, S2C
    // ascending, CONNECT — whatever order the driver provided them in.
    let names: Vec<_> = pair.sent.iter().map(Message::name).collect();
    assert_eq!(names[0], "INIT");
    assert_eq!(names[1..3], ["ADD_REGION"; 2]);
    assert_eq!(names[3..8], ["ADD_RING"; 5]);
    assert_eq!(names[8..], ["CONNECT"]);
    let announced: Vec<_> = pair.sent[3..8]
        .iter()
        .map(|m| match m {
            Message::AddRing { ring, .. } => (ring.direction, ring.index),
            other => panic!("not a ring: {other:?}"),
        })
        .collect();
    use Direction::{C2S, S2C};
    assert_eq!(
        announced,
        [(C2S, 0), (C2S, 1), (S2C, 0), (S2C, 1), (S2C, 2)]
    );

    // The server holds the very files and eventfds the client created.
    let (regions, rings) = pair.client.into_resources();
    assert_eq!(est.regions.len(), 2);
    for ((ours, our_fd), (theirs, their_fd)) in regions.iter().zip(&est.regions) {
        assert_eq!(ours, theirs);
        assert!(
            same_file(our_fd, their_fd),
            "region {} fd differs",
            ours.index
        );
    }
    assert_eq!(est.rings.len(), 5);
    for ((ours, our_fd), (theirs, their_fd)) in rings.iter().zip(&est.rings) {
        assert_eq!(ours, theirs);
        assert!(
            same_eventfd(our_fd, their_fd),
            "{:?} ring {} eventfd differs",
            ours.direction,
            ours.index
        );
    }
}

#[test]
fn client_creates_no_more_rings_than_the_server_takes() {
    let hello = Hello {
        max_c2s_ring: 0,
        max_s2c_ring: 1,
        max_log2_ring_size: 8,
        ..hello()
    };
    let pair = drive(params(), hello, iface());
    let shape: Vec<_> = pair
        .established
        .rings
        .iter()
        .map(|(r, _)| (r.direction, r.index, r.log2_size))
        .collect();
    assert_eq!(
        shape,
        [
            (Direction::C2S, 0, 8),
            (Direction::S2C, 0, 8),
            (Direction::S2C, 1, 8)
        ]
    );
}

#[test]
fn secret_and_mode_that_match_connect() {
    let params = ClientParams {
        mode: Mode::Ip,
        secret: Secret::from("open sesame"),
        ..params()
    };
    let iface = ServerInterface {
        mode: Mode::Ip,
        secret: Secret::from("open sesame"),
        tx_queues: 3,
        ..iface()
    };
    let pair = drive(params, hello(), iface);
    assert_eq!(pair.established.mode, Mode::Ip);
}
