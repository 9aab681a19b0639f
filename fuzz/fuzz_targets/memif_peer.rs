//! Both memif roles against a hostile peer: control messages of any kind
//! with any fd, and writes anywhere in the shared memory, interleaved with
//! our bursts. Fails on a panic, a refusal without a reason, a packet
//! outside the frame limits, counters that disagree with a burst, or an
//! index we publish jumping (see `podwire_memif::fuzzing`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    podwire_memif::fuzzing::hostile_peer(data);
});
