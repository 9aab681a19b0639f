//! The ends of VXLAN tunnels against what the underlay brings: datagrams to the tunnels'
//! port with any VXLAN header and inner frame, from a peer or a stranger, then routed on
//! (to a pod, or encapsulated again). Fails on a panic, a leaked or doubly freed buffer, a
//! packet sent to an undeclared next node, or a frame a routed interface may not send (see
//! `podwire_dataplane::fuzzing::tunnel`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    podwire_dataplane::fuzzing::tunnel::run_datagrams(data);
});
