//! The fuzz entry point.

use proptest::prelude::*;

use super::*;
use crate::handshake::fuzz_server_handshake;
use crate::msg::Reason;
use crate::types::MSG_SIZE;

fn frames(msgs: &[Message]) -> Vec<[u8; MSG_SIZE]> {
    msgs.iter().map(Message::emit).collect()
}

fn fuzz_script(init: Init) -> Vec<Message> {
    vec![
        Message::Init(init),
        Message::AddRegion(RegionSpec {
            index: 0,
            size: REGION_SIZE,
        }),
        Message::AddRing {
            ring: ring_spec(Direction::C2S, 0),
            private_hdr_size: 0,
        },
        Message::AddRing {
            ring: ring_spec(Direction::S2C, 0),
            private_hdr_size: 0,
        },
        Message::Connect {
            if_name: Name::from("fuzz"),
        },
    ]
}

#[test]
fn fuzz_entry_accepts_a_whole_handshake() {
    let plain = Init { id: 0, ..init() };
    assert_eq!(fuzz_server_handshake(&frames(&fuzz_script(plain))), 5);
    let guarded = Init {
        id: 1,
        mode: Mode::Ip,
        secret: Secret::from("fuzz"),
        ..init()
    };
    assert_eq!(fuzz_server_handshake(&frames(&fuzz_script(guarded))), 5);
}

#[test]
fn fuzz_entry_stops_at_the_first_refusal_or_bad_frame() {
    let wrong_secret = Init {
        id: 1,
        mode: Mode::Ip,
        ..init()
    };
    assert_eq!(
        fuzz_server_handshake(&frames(&fuzz_script(wrong_secret))),
        0
    );
    assert_eq!(
        fuzz_server_handshake(&frames(&fuzz_script(Init { id: 2, ..init() }))),
        0
    );
    let mut broken = frames(&fuzz_script(Init { id: 0, ..init() }));
    broken[2][0] = 0; // type NONE
    assert_eq!(fuzz_server_handshake(&broken), 2);
}

/// Messages with values near the limits, so that random sequences reach
/// every state.
fn handshake_message() -> impl Strategy<Value = Message> {
    let direction = prop_oneof![Just(Direction::C2S), Just(Direction::S2C)];
    prop_oneof![
        Just(Message::Ack),
        (0u32..4, 0u8..3, prop_oneof![Just(""), Just("fuzz")]).prop_map(|(id, mode, secret)| {
            Message::Init(Init {
                id,
                mode: Mode::from_wire(mode).unwrap_or(Mode::Ethernet),
                secret: Secret::from(secret),
                ..init()
            })
        }),
        (0u16..4, 0u64..(1 << 20))
            .prop_map(|(index, size)| Message::AddRegion(RegionSpec { index, size })),
        (direction, 0u16..4, 0u16..3, any::<u32>(), 0u8..16, 0u16..2).prop_map(
            |(direction, index, region, offset, log2_size, private_hdr_size)| Message::AddRing {
                ring: RingSpec {
                    direction,
                    index,
                    region,
                    offset: offset % (1 << 21),
                    log2_size,
                },
                private_hdr_size,
            }
        ),
        Just(Message::Connect {
            if_name: Name::from("x")
        }),
        Just(Message::Disconnect {
            code: 0,
            reason: Reason::from("bye")
        }),
    ]
}

proptest! {
    #[test]
    fn fuzz_entry_never_panics_on_any_sequence(
        msgs in proptest::collection::vec(handshake_message(), 0..12),
        noise in proptest::collection::vec(any::<[u8; MSG_SIZE]>(), 0..2),
    ) {
        let mut input = frames(&msgs);
        input.extend(noise);
        let accepted = fuzz_server_handshake(&input);
        prop_assert!(accepted <= input.len());
    }
}
