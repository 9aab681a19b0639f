//! The seed corpus of the `memif_peer` fuzz target: valid handshakes in
//! both roles, connected sessions with traffic, bad descriptors, and
//! refusals the fuzzer can start mutating from.

use std::path::PathBuf;

use crate::fuzzing::{Field, Op, Setup};
use crate::types::Role;

/// Where the seed corpus of the `memif_peer` fuzz target lives.
pub(super) fn seed_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/memif_peer")
}

/// Rings in announcement order with the default setup's one ring each way.
pub(super) const C2S_RING: u8 = 0;
pub(super) const S2C_RING: u8 = 1;

/// The default setup: we are the server; the valid client has one ring
/// each way of 8 slots of 2048 bytes.
pub(super) fn server() -> Setup {
    Setup::default()
}

/// The same shape, with us as the client.
pub(super) fn client() -> Setup {
    Setup {
        role: Role::Client,
        ..Setup::default()
    }
}

/// A script: the setup, then the records.
pub(super) fn script(setup: Setup, ops: &[Op<'_>]) -> Vec<u8> {
    let mut data = setup.encode().to_vec();
    for op in ops {
        op.encode(&mut data);
    }
    data
}

/// The valid handshake, one message per record: INIT, ADD_REGION, ADD_RING
/// C2S, ADD_RING S2C, CONNECT as the peer (we are the server); HELLO, four
/// ACKs, CONNECTED as the peer (we are the client).
pub(super) fn handshake(role: Role) -> Vec<Op<'static>> {
    let steps = match role {
        Role::Server => 5,
        Role::Client => 6,
    };
    vec![Op::Step; steps]
}

/// The committed seeds, by file name.
pub(super) fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let poke = |ring, field, slot, value| Op::Poke {
        ring,
        field,
        slot,
        value,
    };
    let rx = Op::Rx { queue: 0, max: 32 };
    let server_handshake = {
        let mut ops = handshake(Role::Server);
        ops.extend([
            // The client publishes three packets, posts four buffers.
            Op::Advance {
                ring: C2S_RING,
                by: 3,
            },
            rx,
            Op::Advance {
                ring: S2C_RING,
                by: 4,
            },
            Op::Tx {
                queue: 0,
                count: 2,
                len: 100,
            },
        ]);
        script(server(), &ops)
    };
    let client_handshake = {
        let mut ops = handshake(Role::Client);
        ops.extend([
            Op::Tx {
                queue: 0,
                count: 3,
                len: 60,
            },
            // The server fills two of the buffers we posted.
            Op::Advance {
                ring: S2C_RING,
                by: 2,
            },
            rx,
        ]);
        script(client(), &ops)
    };
    let server_bad_descriptor = script(
        server(),
        &[
            Op::Complete,
            poke(C2S_RING, Field::DescRegion, 0, 7),
            poke(C2S_RING, Field::DescLength, 1, 0),
            Op::Advance {
                ring: C2S_RING,
                by: 3,
            },
            rx,
        ],
    );
    let client_bad_descriptor = script(
        client(),
        &[
            Op::Complete,
            poke(S2C_RING, Field::DescOffset, 0, 0xffff_ff00),
            Op::Advance {
                ring: S2C_RING,
                by: 1,
            },
            rx,
            // A tail a whole ring and more ahead of what we read.
            poke(S2C_RING, Field::Tail, 0, 1000),
            rx,
        ],
    );
    let server_wrong_secret = script(
        Setup { id: 1, ..server() },
        // The first byte of INIT's secret: "fuzz" becomes "xuzz".
        &[Op::Tweak { at: 9, value: b'x' }],
    );
    let client_old_server = script(
        client(),
        // HELLO's min_version becomes 0x0300.
        &[Op::Tweak { at: 35, value: 3 }],
    );
    vec![
        ("server-handshake", server_handshake),
        ("client-handshake", client_handshake),
        ("server-bad-descriptor", server_bad_descriptor),
        ("client-bad-descriptor", client_bad_descriptor),
        ("server-wrong-secret", server_wrong_secret),
        ("client-old-server", client_old_server),
    ]
}
