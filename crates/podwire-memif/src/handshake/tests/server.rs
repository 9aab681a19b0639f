//! The server against a scripted client: every refusal.

use super::*;
use crate::handshake::Refusal;
use crate::handshake::server::{ServerHandshake, ServerStep};
use crate::msg::Reason;

fn region(index: u16, size: u64) -> (Message, Option<OwnedFd>) {
    (
        Message::AddRegion(RegionSpec { index, size }),
        Some(eventfd_()),
    )
}

fn ring(spec: RingSpec) -> (Message, Option<OwnedFd>) {
    let msg = Message::AddRing {
        ring: spec,
        private_hdr_size: 0,
    };
    (msg, Some(eventfd_()))
}

fn no_fd(msg: Message) -> (Message, Option<OwnedFd>) {
    (msg, None)
}

fn connect() -> (Message, Option<OwnedFd>) {
    no_fd(Message::Connect {
        if_name: Name::from("c"),
    })
}

/// INIT, region 0, one ring each way: ready for CONNECT.
fn ready() -> Vec<(Message, Option<OwnedFd>)> {
    vec![
        no_fd(Message::Init(init())),
        region(0, REGION_SIZE),
        ring(ring_spec(Direction::C2S, 0)),
        ring(ring_spec(Direction::S2C, 0)),
    ]
}

/// The lookup of a server with one interface, id [`ID`].
fn lookup_of(iface: ServerInterface) -> impl Fn(u32) -> Result<ServerInterface, Refusal> {
    move |id| {
        if id == ID {
            Ok(iface)
        } else {
            Err(Refusal::UnmatchedId { id })
        }
    }
}

/// Feeds `script` to a fresh server: every message but the last must be
/// acknowledged; the last one's refusal is returned.
fn refusal_with(
    hello: Hello,
    lookup: &dyn Fn(u32) -> Result<ServerInterface, Refusal>,
    script: Vec<(Message, Option<OwnedFd>)>,
) -> Refusal {
    let (mut server, _) = ServerHandshake::new(hello);
    let last = script.len() - 1;
    for (i, (msg, fd)) in script.into_iter().enumerate() {
        match server.on_message(msg, fd, lookup) {
            Ok(ServerStep::Reply(Message::Ack)) if i < last => {}
            Err(refusal) if i == last => return refusal,
            other => panic!("message {i} ({}): {other:?}", msg.name()),
        }
    }
    unreachable!("the loop returns at the last message")
}

fn refusal_of(script: Vec<(Message, Option<OwnedFd>)>) -> Refusal {
    refusal_with(hello(), &lookup_of(iface()), script)
}

fn refusal_for_iface(iface: ServerInterface, script: Vec<(Message, Option<OwnedFd>)>) -> Refusal {
    refusal_with(hello(), &lookup_of(iface), script)
}

fn with(
    mut script: Vec<(Message, Option<OwnedFd>)>,
    last: (Message, Option<OwnedFd>),
) -> Vec<(Message, Option<OwnedFd>)> {
    script.push(last);
    script
}

#[test]
fn server_greets_with_its_hello() {
    let (_, greeting) = ServerHandshake::new(hello());
    assert_eq!(greeting, Message::Hello(hello()));
}

#[test]
fn server_refuses_another_version() {
    let init = Init {
        version: 0x0100,
        ..init()
    };
    assert_eq!(
        refusal_of(vec![no_fd(Message::Init(init))]),
        Refusal::IncompatibleVersion {
            min: 0x0100,
            max: 0x0100
        }
    );
}

#[test]
fn server_lookup_decides_unknown_ids_and_busy_interfaces() {
    let init = Init { id: 8, ..init() };
    assert_eq!(
        refusal_of(vec![no_fd(Message::Init(init))]),
        Refusal::UnmatchedId { id: 8 }
    );
    let busy = |id| Err(Refusal::AlreadyConnected { id });
    assert_eq!(
        refusal_with(hello(), &busy, vec![no_fd(Message::Init(init))]),
        Refusal::AlreadyConnected { id: 8 }
    );
}

#[test]
fn server_refuses_another_mode() {
    let init = Init {
        mode: Mode::Ip,
        ..init()
    };
    assert_eq!(
        refusal_of(vec![no_fd(Message::Init(init))]),
        Refusal::ModeMismatch {
            ours: Mode::Ethernet,
            theirs: Mode::Ip
        }
    );
}

#[test]
fn server_checks_the_secret_when_it_has_one() {
    let guarded = ServerInterface {
        secret: Secret::from("s3cret"),
        ..iface()
    };
    let with_secret = |s: &str| {
        vec![no_fd(Message::Init(Init {
            secret: Secret::from(s),
            ..init()
        }))]
    };
    assert_eq!(
        refusal_for_iface(guarded, with_secret("")),
        Refusal::SecretRequired
    );
    assert_eq!(
        refusal_for_iface(guarded, with_secret("s3cre")),
        Refusal::IncorrectSecret
    );
    assert_eq!(
        refusal_for_iface(guarded, with_secret("s3cret!")),
        Refusal::IncorrectSecret
    );
    // The right secret gets as far as CONNECT's check for regions.
    let right = with(with_secret("s3cret"), connect());
    assert_eq!(refusal_for_iface(guarded, right), Refusal::NoRegions);
    // Without a secret of its own, the server takes any client secret.
    let any = with(with_secret("whatever"), connect());
    assert_eq!(refusal_of(any), Refusal::NoRegions);
}

#[test]
fn server_wants_init_first() {
    for msg in [
        Message::Ack,
        Message::Hello(hello()),
        Message::AddRegion(RegionSpec { index: 0, size: 1 }),
        Message::Connect {
            if_name: Name::EMPTY,
        },
        Message::Connected {
            if_name: Name::EMPTY,
        },
    ] {
        assert_eq!(
            refusal_of(vec![no_fd(msg)]),
            Refusal::UnexpectedMessage {
                message: msg.name(),
                state: "awaiting INIT"
            }
        );
    }
}

#[test]
fn server_refuses_out_of_order_messages() {
    let init_twice = vec![no_fd(Message::Init(init())), no_fd(Message::Init(init()))];
    assert_eq!(
        refusal_of(init_twice),
        Refusal::UnexpectedMessage {
            message: "INIT",
            state: "adding regions"
        }
    );
    let region_after_ring = vec![
        no_fd(Message::Init(init())),
        region(0, REGION_SIZE),
        ring(ring_spec(Direction::C2S, 0)),
        region(1, REGION_SIZE),
    ];
    assert_eq!(
        refusal_of(region_after_ring),
        Refusal::UnexpectedMessage {
            message: "ADD_REGION",
            state: "adding rings"
        }
    );
    let ack = with(ready(), no_fd(Message::Ack));
    assert_eq!(
        refusal_of(ack),
        Refusal::UnexpectedMessage {
            message: "ACK",
            state: "adding rings"
        }
    );
}

#[test]
fn server_checks_regions() {
    let after_init = |msgs: Vec<(Message, Option<OwnedFd>)>| {
        let mut script = vec![no_fd(Message::Init(init()))];
        script.extend(msgs);
        refusal_of(script)
    };
    let fdless = no_fd(Message::AddRegion(RegionSpec { index: 0, size: 1 }));
    assert_eq!(after_init(vec![fdless]), Refusal::MissingRegionFd);
    assert_eq!(
        after_init(vec![region(1, 1)]),
        Refusal::UnexpectedRegionIndex {
            got: 1,
            expected: 0
        }
    );
    assert_eq!(
        after_init(vec![region(0, 1), region(0, 1)]),
        Refusal::UnexpectedRegionIndex {
            got: 0,
            expected: 1
        }
    );
    assert_eq!(
        after_init(vec![region(0, 0)]),
        Refusal::EmptyRegion { index: 0 }
    );

    let small = Hello {
        max_region: 1,
        ..hello()
    };
    let script = vec![
        no_fd(Message::Init(init())),
        region(0, 1),
        region(1, 1),
        region(2, 1),
    ];
    assert_eq!(
        refusal_with(small, &lookup_of(iface()), script),
        Refusal::TooManyRegions { index: 2, max: 1 }
    );
}

#[test]
fn server_takes_at_most_256_regions() {
    let mut script = vec![no_fd(Message::Init(init()))];
    script.extend((0..=256).map(|i| region(i, 1)));
    assert_eq!(
        refusal_of(script),
        Refusal::TooManyRegions {
            index: 256,
            max: 255
        }
    );
}

/// INIT and region 0, then `msgs`.
fn after_region(msgs: Vec<(Message, Option<OwnedFd>)>) -> Vec<(Message, Option<OwnedFd>)> {
    let mut script = vec![no_fd(Message::Init(init())), region(0, REGION_SIZE)];
    script.extend(msgs);
    script
}

#[test]
fn server_checks_ring_fds_and_private_headers() {
    let spec = ring_spec(Direction::C2S, 0);
    let fdless = no_fd(Message::AddRing {
        ring: spec,
        private_hdr_size: 0,
    });
    assert_eq!(
        refusal_of(after_region(vec![fdless])),
        Refusal::MissingRingFd
    );
    let private = (
        Message::AddRing {
            ring: spec,
            private_hdr_size: 64,
        },
        Some(eventfd_()),
    );
    assert_eq!(
        refusal_of(after_region(vec![private])),
        Refusal::PrivateHeaders
    );
}

#[test]
fn server_wants_ring_indices_in_sequence_per_direction() {
    let c2s = |i| ring(ring_spec(Direction::C2S, i));
    let s2c = |i| ring(ring_spec(Direction::S2C, i));
    assert_eq!(
        refusal_of(after_region(vec![c2s(1)])),
        Refusal::UnexpectedRingIndex {
            direction: Direction::C2S,
            got: 1,
            expected: 0
        }
    );
    assert_eq!(
        refusal_of(after_region(vec![c2s(0), s2c(0), s2c(0)])),
        Refusal::UnexpectedRingIndex {
            direction: Direction::S2C,
            got: 0,
            expected: 1
        }
    );
}

#[test]
fn server_takes_no_more_rings_than_queues() {
    let one_rx = ServerInterface {
        rx_queues: 1,
        ..iface()
    };
    let c2s = |i| ring(ring_spec(Direction::C2S, i));
    assert_eq!(
        refusal_for_iface(one_rx, after_region(vec![c2s(0), c2s(1)])),
        Refusal::RingIndexOutOfRange {
            direction: Direction::C2S,
            index: 1,
            limit: 1
        }
    );
    // The HELLO's advertised maximum binds too, even with more queues.
    let narrow = Hello {
        max_s2c_ring: 0,
        ..hello()
    };
    let s2c = |i| ring(ring_spec(Direction::S2C, i));
    assert_eq!(
        refusal_with(
            narrow,
            &lookup_of(iface()),
            after_region(vec![s2c(0), s2c(1)])
        ),
        Refusal::RingIndexOutOfRange {
            direction: Direction::S2C,
            index: 1,
            limit: 1
        }
    );
}

#[test]
fn server_bounds_ring_sizes() {
    let sized = |log2_size| {
        ring(RingSpec {
            log2_size,
            ..ring_spec(Direction::C2S, 0)
        })
    };
    let big_region = |log2| {
        vec![
            no_fd(Message::Init(init())),
            region(0, 1 << 30),
            sized(log2),
        ]
    };
    assert_eq!(
        refusal_of(big_region(15)),
        Refusal::RingSizeTooLarge { log2: 15, max: 14 }
    );
    let small_iface = ServerInterface {
        max_log2_ring_size: 10,
        ..iface()
    };
    assert_eq!(
        refusal_for_iface(small_iface, big_region(11)),
        Refusal::RingSizeTooLarge { log2: 11, max: 10 }
    );
    let small_hello = Hello {
        max_log2_ring_size: 12,
        ..hello()
    };
    assert_eq!(
        refusal_with(small_hello, &lookup_of(iface()), big_region(13)),
        Refusal::RingSizeTooLarge { log2: 13, max: 12 }
    );
}

#[test]
fn server_wants_rings_inside_announced_regions() {
    let in_region_1 = ring(RingSpec {
        region: 1,
        ..ring_spec(Direction::C2S, 0)
    });
    assert_eq!(
        refusal_of(after_region(vec![in_region_1])),
        Refusal::UnknownRegion {
            direction: Direction::C2S,
            index: 0,
            region: 1
        }
    );
    // 128 + 16 * 1024 = 16 512 bytes from the offset on must fit.
    let at = |offset| {
        ring(RingSpec {
            offset,
            ..ring_spec(Direction::S2C, 0)
        })
    };
    let fits = u32::try_from(REGION_SIZE - 16_512).unwrap();
    assert_eq!(
        refusal_of(after_region(vec![at(fits), connect()])),
        Refusal::NoRings(Direction::C2S)
    );
    assert_eq!(
        refusal_of(after_region(vec![at(fits + 1)])),
        Refusal::RingOutsideRegion {
            direction: Direction::S2C,
            index: 0,
            region: 0,
            offset: fits + 1,
            size: REGION_SIZE
        }
    );
    assert!(matches!(
        refusal_of(after_region(vec![at(u32::MAX)])),
        Refusal::RingOutsideRegion { .. }
    ));
}

#[test]
fn server_wants_a_region_and_rings_both_ways_before_connect() {
    assert_eq!(
        refusal_of(vec![no_fd(Message::Init(init())), connect()]),
        Refusal::NoRegions
    );
    assert_eq!(
        refusal_of(after_region(vec![connect()])),
        Refusal::NoRings(Direction::C2S)
    );
    let c2s_only = vec![ring(ring_spec(Direction::C2S, 0)), connect()];
    assert_eq!(
        refusal_of(after_region(c2s_only)),
        Refusal::NoRings(Direction::S2C)
    );
}

#[test]
fn server_hands_over_rings_sorted_by_direction_and_index() {
    let (mut server, _) = ServerHandshake::new(hello());
    let lookup = lookup_of(iface());
    let interleaved = vec![
        ring(ring_spec(Direction::S2C, 0)),
        ring(ring_spec(Direction::C2S, 0)),
        ring(ring_spec(Direction::S2C, 1)),
        ring(ring_spec(Direction::C2S, 1)),
    ];
    for (msg, fd) in after_region(interleaved) {
        assert!(matches!(
            server.on_message(msg, fd, &lookup),
            Ok(ServerStep::Reply(Message::Ack))
        ));
    }
    let (msg, fd) = connect();
    let Ok(ServerStep::Connect(est)) = server.on_message(msg, fd, &lookup) else {
        panic!("not connected");
    };
    let order: Vec<_> = est
        .rings
        .iter()
        .map(|(r, _)| (r.direction, r.index))
        .collect();
    use Direction::{C2S, S2C};
    assert_eq!(order, [(C2S, 0), (C2S, 1), (S2C, 0), (S2C, 1)]);

    // Connected: only DISCONNECT is expected now, and it needs no answer.
    let (msg, fd) = connect();
    assert_eq!(
        server.on_message(msg, fd, &lookup).unwrap_err(),
        Refusal::UnexpectedMessage {
            message: "CONNECT",
            state: "connected"
        }
    );
}

#[test]
fn server_accepts_nothing_after_a_refusal() {
    let (mut server, _) = ServerHandshake::new(hello());
    let lookup = lookup_of(iface());
    assert!(server.on_message(Message::Ack, None, &lookup).is_err());
    assert_eq!(
        server
            .on_message(Message::Init(init()), None, &lookup)
            .unwrap_err(),
        Refusal::UnexpectedMessage {
            message: "INIT",
            state: "closed"
        }
    );
}

#[test]
fn peer_disconnect_is_not_answered() {
    let bye = Message::Disconnect {
        code: 3,
        reason: Reason::from("shutting down"),
    };
    let refusal = refusal_of(after_region(vec![no_fd(bye)]));
    assert_eq!(
        refusal,
        Refusal::PeerDisconnected {
            code: 3,
            reason: Reason::from("shutting down")
        }
    );
    assert_eq!(refusal.disconnect_message(), None);
}

#[test]
fn refusals_become_disconnect_messages_with_their_text() {
    let refusal = Refusal::UnexpectedRegionIndex {
        got: 4,
        expected: 2,
    };
    let Some(Message::Disconnect { code, reason }) = refusal.disconnect_message() else {
        panic!("no DISCONNECT");
    };
    assert_eq!(code, 0);
    assert_eq!(reason.to_string(), "unexpected region index 4 (expected 2)");
    assert_eq!(
        Refusal::IncorrectSecret.disconnect_message(),
        Some(Message::Disconnect {
            code: 0,
            reason: Reason::from("incorrect secret")
        })
    );
}

#[test]
fn the_widest_refusals_fit_a_disconnect_reason() {
    use crate::types::REASON_SIZE;
    let widest = [
        Refusal::IncompatibleVersion {
            min: u16::MAX,
            max: u16::MAX,
        },
        Refusal::UnmatchedId { id: u32::MAX },
        Refusal::ModeMismatch {
            ours: Mode::PuntInject,
            theirs: Mode::PuntInject,
        },
        Refusal::UnexpectedRegionIndex {
            got: u16::MAX,
            expected: usize::MAX,
        },
        Refusal::RingIndexOutOfRange {
            direction: Direction::S2C,
            index: u16::MAX,
            limit: u32::MAX,
        },
        Refusal::RingOutsideRegion {
            direction: Direction::S2C,
            index: u16::MAX,
            region: u16::MAX,
            offset: u32::MAX,
            size: u64::MAX,
        },
        Refusal::UnexpectedMessage {
            message: "ADD_REGION",
            state: "creating regions and rings",
        },
    ];
    for refusal in widest {
        let text = refusal.to_string();
        assert!(text.len() <= REASON_SIZE, "{} bytes: {text}", text.len());
    }
}
