//! The data plane's input nodes against whatever the network sends: frames
//! on any interface, at any pace, through the whole graph. Fails on a
//! panic, a leaked or doubly freed buffer, a packet sent to an undeclared
//! next node, or a frame a routed interface may not send (see
//! `podwire_dataplane::fuzzing`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    podwire_dataplane::fuzzing::run_frames(data);
});
