//! End-to-end: a TCP stream between two tap pods through a running `podwire daemon` crosses
//! the switch as large segments (the taps' offloads), both ways, over IPv4 and IPv6, and
//! arrives intact (root).

mod support;

use support::tcp::iperf3;
use support::*;

#[test]
fn an_iperf3_stream_between_tap_pods_crosses_as_large_segments() {
    if !root_or_skip() {
        return;
    }
    let (a, b) = (Netns::new("oa"), Netns::new("ob"));
    let (name_a, name_b) = (unique("a"), unique("b"));
    let mut cfg = String::new();
    cfg += &pod(&name_a, &a, &["10.0.0.2", "fd10::2"]);
    cfg += &pod(&name_b, &b, &["10.0.0.3", "fd10::3"]);
    let d = Daemon::start(&cfg);

    d.assert_tcp_offloads(&name_a);
    let shown = d.ctl_ok(&["show", "interfaces"]);
    assert!(shown.contains("csum,tso4,tso6"), "{shown}");

    for addr in ["10.0.0.3", "fd10::3"] {
        iperf3(&a, &b, addr, false);
        iperf3(&a, &b, addr, true);
    }
    // The streams crossed as segments larger than the MTU, both ways.
    for name in [&name_a, &name_b] {
        d.assert_large_segments(name);
    }
}
