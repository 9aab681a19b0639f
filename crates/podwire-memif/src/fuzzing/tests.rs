mod seeds;

use proptest::prelude::*;

use super::*;
use crate::shm::BufferPlacement;
use crate::types::{RING_COOKIE, RegionSpec};
use seeds::*;

fn run(data: &[u8]) -> Outcome {
    check_script(data).unwrap_or_else(|violation| panic!("{violation}"))
}

fn the_reason(outcome: &Outcome) -> &str {
    outcome.ended.as_deref().expect("the connection ended")
}

#[test]
fn each_seed_does_what_its_name_says() {
    for (name, data) in seeds() {
        let outcome = run(&data);
        let stats = |list: &[QueueStats]| -> QueueStats {
            assert_eq!(list.len(), 1, "seed {name}: one queue each way");
            list[0]
        };
        match name {
            "server-handshake" | "client-handshake" => {
                assert!(outcome.connected && outcome.ended.is_none(), "{name}");
                let (rx, tx) = (stats(&outcome.rx), stats(&outcome.tx));
                let expected = if name == "server-handshake" {
                    // Three 2048-byte buffers in; 100 + 101 bytes out.
                    ((3, 3 * 2048), (2, 201))
                } else {
                    // Two posted 2048-byte buffers filled; 60 + 61 + 62 out.
                    ((2, 2 * 2048), (3, 183))
                };
                assert_eq!(((rx.packets, rx.bytes), (tx.packets, tx.bytes)), expected);
            }
            "server-bad-descriptor" => {
                let rx = stats(&outcome.rx);
                assert_eq!((rx.packets, rx.bytes), (1, 2048));
                assert_eq!((rx.drops_bad_region, rx.drops_zero_length), (1, 1));
            }
            "client-bad-descriptor" => {
                let rx = stats(&outcome.rx);
                assert_eq!(rx.packets, 0);
                assert_eq!((rx.drops_overrun, rx.bad_peer_index), (1, 1));
            }
            "server-wrong-secret" => {
                assert!(!outcome.connected);
                assert_eq!(the_reason(&outcome), "incorrect secret");
            }
            "client-old-server" => {
                assert!(!outcome.connected);
                assert!(the_reason(&outcome).starts_with("incompatible memif version"));
            }
            other => panic!("no expectation for seed {other}"),
        }
        assert_eq!(outcome.role, Setup::decode(&data).0.role);
    }
}

#[test]
fn the_committed_seeds_are_the_generated_ones() {
    let dir = seed_dir();
    let rewrite = std::env::var_os("PODWIRE_WRITE_SEEDS").is_some_and(|v| v == "1");
    if rewrite {
        std::fs::create_dir_all(&dir).expect("the seed directory can be made");
    }
    for (name, data) in seeds() {
        let path = dir.join(name);
        if rewrite {
            std::fs::write(&path, &data).expect("the seed can be written");
            continue;
        }
        let committed = std::fs::read(&path).unwrap_or_default();
        assert!(
            committed == data,
            "{} differs from what its generator makes: rewrite the seeds with \
             PODWIRE_WRITE_SEEDS=1 cargo test -p podwire-memif the_committed_seeds",
            path.display()
        );
    }
}

#[test]
fn every_file_of_the_seed_corpus_keeps_the_invariants() {
    let entries = std::fs::read_dir(seed_dir()).expect("the seed corpus is there");
    let mut count = 0;
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        let data = std::fs::read(&path).expect("a seed is readable");
        if let Err(violation) = check_script(&data) {
            panic!("{}: {violation}", path.display());
        }
        count += 1;
    }
    assert!(count >= seeds().len(), "only {count} seeds in the corpus");
}

#[test]
fn setups_and_records_round_trip() {
    let setup = Setup {
        role: Role::Client,
        polling: true,
        placement: BufferPlacement::OwnRegion,
        allow_unsealed: true,
        log2_ring_size: 6,
        c2s: 2,
        s2c: 1,
        buffer_size: 60,
        max_frame: 4000,
        id: 1,
    };
    assert_eq!(Setup::decode(&setup.encode()), (setup, &[][..]));
    assert_eq!(
        Setup::decode(&[]).0.role,
        Role::Server,
        "missing bytes are 0"
    );
    let ops = [
        Op::Step,
        Op::Complete,
        Op::Tweak { at: 200, value: 9 },
        Op::Message {
            kind: 5,
            fd: FdChoice::UnsealedMemfd,
            fields: &[1, 2, 3],
        },
        Op::Raw(&[7; 129]),
        Op::Poke {
            ring: 3,
            field: Field::DescOffset,
            slot: 250,
            value: 0xdead_beef,
        },
        Op::Advance { ring: 15, by: 255 },
        Op::Write {
            region: 1,
            offset: 1 << 31,
            bytes: &[4, 5],
        },
        Op::Rx { queue: 1, max: 0 },
        Op::Tx {
            queue: 2,
            count: 40,
            len: 65_535,
        },
        Op::Polling { queue: 0, on: true },
    ];
    let mut data = Vec::new();
    for op in &ops {
        op.encode(&mut data);
    }
    let mut rest = &data[..];
    for op in &ops {
        let (decoded, after) = Op::decode(rest).expect("a whole record");
        assert_eq!(&decoded, op);
        rest = after;
    }
    assert!(rest.is_empty());
    // A record cut inside its fixed part is ignored; a byte string is cut
    // to what is there; kinds wrap modulo 11.
    assert_eq!(Op::decode(&[0x09, 1, 2]), None);
    assert_eq!(Op::decode(&[0x04, 9, 1]), Some((Op::Raw(&[1]), &[][..])));
    assert_eq!(Op::decode(&[0x0b]), Some((Op::Step, &[][..])));
}

/// The peer announces a region of its own, that cannot be sealed, puts the
/// valid client's rings in it, writes their cookies itself, and connects.
fn unsealed_region_script(setup: Setup) -> Vec<u8> {
    let region = Message::AddRegion(RegionSpec {
        index: 0,
        size: 4096,
    })
    .emit();
    let cookie = |ring| Op::Poke {
        ring,
        field: Field::Cookie,
        slot: 0,
        value: RING_COOKIE,
    };
    script(
        setup,
        &[
            Op::Step,
            Op::Message {
                kind: 4,
                fd: FdChoice::UnsealedMemfd,
                fields: &region[2..12],
            },
            Op::Step,
            Op::Step,
            cookie(C2S_RING),
            cookie(S2C_RING),
            Op::Step,
        ],
    )
}

#[test]
fn a_region_that_cannot_be_sealed_is_mapped_only_when_allowed() {
    let refused = run(&unsealed_region_script(server()));
    assert!(!refused.connected);
    assert!(
        the_reason(&refused).contains("cannot be sealed"),
        "{refused:?}"
    );
    let allowed = run(&unsealed_region_script(Setup {
        allow_unsealed: true,
        ..server()
    }));
    assert!(allowed.connected && allowed.ended.is_none(), "{allowed:?}");
}

#[test]
fn rings_without_a_cookie_are_refused_at_connect() {
    let mut data = unsealed_region_script(Setup {
        allow_unsealed: true,
        ..server()
    });
    // Drop the two cookie pokes (7 bytes each) before the final step.
    let end = data.len() - 1;
    data.drain(end - 14..end);
    let outcome = run(&data);
    assert!(!outcome.connected);
    assert!(the_reason(&outcome).contains("cookie"), "{outcome:?}");
}

#[test]
fn any_message_after_connected_ends_the_link_with_its_name() {
    for (setup, role) in [(server(), Role::Server), (client(), Role::Client)] {
        let mut ops = handshake(role);
        ops.push(Op::Step);
        let outcome = run(&script(setup, &ops));
        assert!(outcome.connected);
        let expected = match role {
            Role::Server => "unexpected CONNECT after CONNECTED",
            Role::Client => "unexpected CONNECTED after CONNECTED",
        };
        assert_eq!(the_reason(&outcome), expected);
    }
}

#[test]
fn malformed_datagrams_end_the_handshake_with_the_codec_s_reason() {
    for (datagram, expected) in [
        (&[0u8; 127][..], "invalid message size 127"),
        (&[9u8; 128][..], "unknown message type 2313"),
    ] {
        for setup in [server(), client()] {
            let outcome = run(&script(setup, &[Op::Raw(datagram)]));
            assert!(the_reason(&outcome).starts_with(expected), "{outcome:?}");
        }
    }
}

/// A script's records, each encoded: plausible values mostly, so that
/// random scripts get through the handshake and move packets, with
/// anything at all now and then.
fn record() -> impl Strategy<Value = Vec<u8>> {
    let encoded = |op: Op<'_>| {
        let mut out = Vec::new();
        op.encode(&mut out);
        out
    };
    let message = (
        0u8..9,
        0u8..5,
        prop_oneof![
            proptest::collection::vec(0u8..4, 0..16),
            proptest::collection::vec(any::<u8>(), 0..126),
        ],
    )
        .prop_map(move |(kind, fd, fields)| {
            encoded(Op::Message {
                kind,
                fd: FdChoice::from_byte(fd),
                fields: &fields,
            })
        });
    let raw = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        proptest::collection::vec(any::<u8>(), MSG_SIZE),
    ]
    .prop_map(move |bytes| encoded(Op::Raw(&bytes)));
    let value = prop_oneof![0u32..70, 1000u32..70_000, any::<u32>()];
    let poke = (0u8..4, 0u8..8, any::<u8>(), value).prop_map(move |(ring, field, slot, value)| {
        encoded(Op::Poke {
            ring,
            field: Field::from_byte(field),
            slot,
            value,
        })
    });
    let advance = (0u8..4, prop_oneof![0u8..10, any::<u8>()])
        .prop_map(move |(ring, by)| encoded(Op::Advance { ring, by }));
    let write = (
        0u8..2,
        prop_oneof![0u32..1024, any::<u32>()],
        proptest::collection::vec(any::<u8>(), 0..32),
    )
        .prop_map(move |(region, offset, bytes)| {
            encoded(Op::Write {
                region,
                offset,
                bytes: &bytes,
            })
        });
    let rx = (0u8..2, any::<u8>()).prop_map(move |(queue, max)| encoded(Op::Rx { queue, max }));
    let tx = (0u8..2, 0u8..40, prop_oneof![0u16..3000, any::<u16>()])
        .prop_map(move |(queue, count, len)| encoded(Op::Tx { queue, count, len }));
    let polling =
        (0u8..2, any::<bool>()).prop_map(move |(queue, on)| encoded(Op::Polling { queue, on }));
    let tweak =
        (any::<u8>(), any::<u8>()).prop_map(move |(at, value)| encoded(Op::Tweak { at, value }));
    prop_oneof![
        3 => Just(encoded(Op::Step)),
        1 => Just(encoded(Op::Complete)),
        1 => tweak,
        2 => message,
        1 => raw,
        4 => poke,
        4 => advance,
        1 => write,
        4 => rx,
        4 => tx,
        1 => polling,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever the peer sends and writes, in either role, the invariants
    /// hold (and nothing panics).
    #[test]
    fn any_hostile_peer_keeps_the_invariants(
        setup in any::<[u8; 2]>(),
        complete in any::<bool>(),
        records in proptest::collection::vec(record(), 0..48),
    ) {
        let mut data = setup.to_vec();
        if complete {
            Op::Complete.encode(&mut data);
        }
        data.extend(records.concat());
        // Panics (and proptest shrinks the script) on a broken invariant.
        hostile_peer(&data);
    }
}
