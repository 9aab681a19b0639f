//! The client against a scripted server: negotiation, order, refusals.

use std::os::fd::AsRawFd;

use super::*;
use crate::handshake::Refusal;
use crate::handshake::client::{ClientError, ClientHandshake, ClientStep};
use crate::msg::Reason;

fn dpdk_hello() -> Hello {
    Hello::new(Name::from("DPDK 22.11.11"))
}

fn negotiated(client: &mut ClientHandshake, hello: Hello) -> Negotiated {
    match client.on_message(Message::Hello(hello)) {
        Ok(ClientStep::Negotiated(n)) => n,
        other => panic!("not negotiated: {other:?}"),
    }
}

#[test]
fn client_negotiates_from_the_hello() {
    let mut client = ClientHandshake::new(params()).unwrap();
    assert_eq!(
        negotiated(&mut client, dpdk_hello()),
        Negotiated {
            c2s: 2,
            s2c: 3,
            log2_ring_size: 10,
            max_regions: 256,
            peer_name: Name::from("DPDK 22.11.11"),
        }
    );

    // VPP advertises index 256 everywhere; we still stay within memif's 256.
    let many = ClientParams {
        c2s_rings: 256,
        s2c_rings: 256,
        ..params()
    };
    let vpp = Hello {
        max_region: 256,
        max_c2s_ring: 256,
        max_s2c_ring: 256,
        ..dpdk_hello()
    };
    let n = negotiated(&mut ClientHandshake::new(many).unwrap(), vpp);
    assert_eq!((n.c2s, n.s2c, n.max_regions), (256, 256, 256));

    let stingy = Hello {
        max_region: 0,
        max_c2s_ring: 0,
        max_s2c_ring: 1,
        max_log2_ring_size: 6,
        ..dpdk_hello()
    };
    let n = negotiated(&mut ClientHandshake::new(params()).unwrap(), stingy);
    assert_eq!(
        (n.c2s, n.s2c, n.log2_ring_size, n.max_regions),
        (1, 2, 6, 1)
    );
}

#[test]
fn client_refuses_servers_without_version_2() {
    for (min, max) in [(0x0300, 0x0300), (0x0100, 0x01ff), (0x0201, 0x0300)] {
        let mut client = ClientHandshake::new(params()).unwrap();
        let hello = Hello {
            min_version: min,
            max_version: max,
            ..dpdk_hello()
        };
        assert_eq!(
            client.on_message(Message::Hello(hello)).unwrap_err(),
            Refusal::IncompatibleVersion { min, max }
        );
    }
    let mut client = ClientHandshake::new(params()).unwrap();
    let range = Hello {
        min_version: 0x0100,
        max_version: 0x0300,
        ..dpdk_hello()
    };
    assert!(client.on_message(Message::Hello(range)).is_ok());
}

#[test]
fn client_waits_for_hello_first() {
    let mut client = ClientHandshake::new(params()).unwrap();
    assert_eq!(
        client.on_message(Message::Ack).unwrap_err(),
        Refusal::UnexpectedMessage {
            message: "ACK",
            state: "awaiting HELLO"
        }
    );
    assert_eq!(
        client.on_message(Message::Hello(dpdk_hello())).unwrap_err(),
        Refusal::UnexpectedMessage {
            message: "HELLO",
            state: "closed"
        }
    );
}

/// A client that sent INIT and waits for its ACK.
fn client_after_init() -> ClientHandshake {
    let mut client = ClientHandshake::new(params()).unwrap();
    let n = negotiated(&mut client, dpdk_hello());
    let (regions, rings) = resources(&n);
    let init = client.provide(regions, rings).unwrap();
    assert!(init.fd.is_none());
    assert_eq!(
        init.msg,
        Message::Init(Init {
            version: VERSION,
            id: ID,
            mode: Mode::Ethernet,
            secret: Secret::EMPTY,
            name: Name::from("client-app"),
        })
    );
    client
}

#[test]
fn client_sends_one_message_per_ack_with_its_fd() {
    let mut client = client_after_init();
    let mut sent = Vec::new();
    loop {
        let Ok(ClientStep::Send(out)) = client.on_message(Message::Ack) else {
            panic!("no next message");
        };
        assert_eq!(out.msg.carries_fd(), out.fd.is_some());
        let msg = out.msg;
        sent.push(msg);
        if matches!(msg, Message::Connect { .. }) {
            assert_eq!(
                msg,
                Message::Connect {
                    if_name: Name::from("memif-c0")
                }
            );
            break;
        }
    }
    assert_eq!(sent.len(), 2 + 5 + 1);
    // CONNECT was the last: another ACK is out of place.
    assert_eq!(
        client.on_message(Message::Ack).unwrap_err(),
        Refusal::UnexpectedMessage {
            message: "ACK",
            state: "awaiting CONNECTED"
        }
    );
}

#[test]
fn client_lends_each_message_the_fd_it_owns() {
    let mut client = ClientHandshake::new(params()).unwrap();
    let n = negotiated(&mut client, dpdk_hello());
    let (regions, rings) = resources(&n);
    let raw: Vec<i32> = regions
        .iter()
        .map(|(_, fd)| fd.as_raw_fd())
        .chain(rings.iter().map(|(_, fd)| fd.as_raw_fd()))
        .collect();
    client.provide(regions, rings).unwrap();
    let mut lent = Vec::new();
    while let Ok(ClientStep::Send(out)) = client.on_message(Message::Ack) {
        lent.extend(out.fd.map(|fd| fd.as_raw_fd()));
    }
    assert_eq!(lent, raw);
}

#[test]
fn client_refuses_connected_before_connect() {
    let mut client = client_after_init();
    let early = Message::Connected {
        if_name: Name::from("s"),
    };
    assert_eq!(
        client.on_message(early).unwrap_err(),
        Refusal::UnexpectedMessage {
            message: "CONNECTED",
            state: "awaiting ACK"
        }
    );
}

#[test]
fn server_disconnect_reaches_the_client_with_its_reason() {
    let mut client = client_after_init();
    let bye = Message::Disconnect {
        code: 0,
        reason: Reason::from("incorrect secret"),
    };
    let refusal = client.on_message(bye).unwrap_err();
    assert_eq!(
        refusal,
        Refusal::PeerDisconnected {
            code: 0,
            reason: Reason::from("incorrect secret")
        }
    );
    assert!(refusal.to_string().contains("incorrect secret"));
    assert_eq!(refusal.disconnect_message(), None);
}

#[test]
fn client_params_must_make_an_interface() {
    let bad = |p: ClientParams| ClientHandshake::new(p).unwrap_err();
    assert_eq!(
        bad(ClientParams {
            c2s_rings: 0,
            ..params()
        }),
        ClientError::NoRings(Direction::C2S)
    );
    assert_eq!(
        bad(ClientParams {
            s2c_rings: 257,
            ..params()
        }),
        ClientError::TooManyRings {
            direction: Direction::S2C,
            count: 257
        }
    );
    assert_eq!(
        bad(ClientParams {
            log2_ring_size: 15,
            ..params()
        }),
        ClientError::RingSizeTooLarge(15)
    );
}

#[test]
fn provide_comes_once_and_after_hello() {
    let mut client = ClientHandshake::new(params()).unwrap();
    assert_eq!(
        client.provide(Vec::new(), Vec::new()).unwrap_err(),
        ClientError::NotNegotiated
    );
    let n = negotiated(&mut client, dpdk_hello());
    let (regions, rings) = resources(&n);
    client.provide(regions, rings).unwrap();
    let (regions, rings) = resources(&n);
    assert_eq!(
        client.provide(regions, rings).unwrap_err(),
        ClientError::NotNegotiated
    );
}

/// The error of providing resources of the default shape after `edit`.
fn provide_error(hello: Hello, edit: impl FnOnce(&mut RegionFds, &mut RingFds)) -> ClientError {
    let mut client = ClientHandshake::new(params()).unwrap();
    let n = negotiated(&mut client, hello);
    let (mut regions, mut rings) = resources(&n);
    edit(&mut regions, &mut rings);
    client.provide(regions, rings).unwrap_err()
}

#[test]
fn a_failed_provide_can_be_retried() {
    let mut client = ClientHandshake::new(params()).unwrap();
    let n = negotiated(&mut client, dpdk_hello());
    assert!(client.provide(Vec::new(), Vec::new()).is_err());
    let (regions, rings) = resources(&n);
    assert!(matches!(
        client.provide(regions, rings),
        Ok(Outgoing {
            msg: Message::Init(_),
            fd: None
        })
    ));
}

#[test]
fn provide_checks_regions() {
    assert_eq!(
        provide_error(dpdk_hello(), |regions, _| regions.clear()),
        ClientError::RegionCount { count: 0, max: 256 }
    );
    let one_region = Hello {
        max_region: 0,
        ..dpdk_hello()
    };
    assert_eq!(
        provide_error(one_region, |_, _| {}),
        ClientError::RegionCount { count: 2, max: 1 }
    );
    assert_eq!(
        provide_error(dpdk_hello(), |regions, _| regions[1].0.index = 2),
        ClientError::RegionIndex {
            index: 2,
            expected: 1
        }
    );
}

#[test]
fn provide_checks_rings_against_the_negotiated_shape() {
    assert_eq!(
        provide_error(dpdk_hello(), |_, rings| {
            rings.pop();
        }),
        ClientError::RingCount {
            direction: Direction::S2C,
            count: 2,
            negotiated: 3
        }
    );
    assert_eq!(
        provide_error(dpdk_hello(), |_, rings| rings[1].0.index = 0),
        ClientError::RingIndex {
            direction: Direction::C2S,
            index: 0,
            expected: 1
        }
    );
    assert_eq!(
        provide_error(dpdk_hello(), |_, rings| rings[0].0.log2_size = 9),
        ClientError::RingSize {
            direction: Direction::C2S,
            index: 0,
            log2: 9,
            negotiated: 10
        }
    );
    assert_eq!(
        provide_error(dpdk_hello(), |_, rings| rings[2].0.region = 2),
        ClientError::RingOutsideRegion {
            direction: Direction::S2C,
            index: 0,
            region: 2
        }
    );
    assert_eq!(
        provide_error(dpdk_hello(), |regions, _| regions[0].0.size -= 1),
        ClientError::RingOutsideRegion {
            direction: Direction::S2C,
            index: 2,
            region: 0
        }
    );
}
