//! End-to-end: a TCP stream between two tap pods through a running `podwire daemon` crosses
//! the switch as large segments (the taps' offloads), both ways, over IPv4 and IPv6, and
//! arrives intact (root).

mod support;

use serde_json::Value;
use support::tcp::iperf3;
use support::*;

/// The interface named `name` in `show interfaces --json`.
fn interface(d: &Daemon, name: &str) -> Value {
    let all: Value = serde_json::from_str(&d.ctl_ok(&["--json", "show", "interfaces"])).unwrap();
    all.as_array()
        .and_then(|list| list.iter().find(|i| i["name"] == name))
        .cloned()
        .unwrap_or_else(|| panic!("no interface {name} in {all}"))
}

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

    let offloads = interface(&d, &name_a)["offloads"].clone();
    for offload in ["csum", "tso4", "tso6"] {
        assert!(
            offloads
                .as_array()
                .is_some_and(|l| l.iter().any(|o| o == offload)),
            "{offload} offered to the pods' taps: {offloads}"
        );
    }
    let shown = d.ctl_ok(&["show", "interfaces"]);
    assert!(shown.contains("csum,tso4,tso6"), "{shown}");

    for addr in ["10.0.0.3", "fd10::3"] {
        iperf3(&a, &b, addr, false);
        iperf3(&a, &b, addr, true);
    }
    // The streams crossed as segments larger than the MTU: more bytes than 1514 a packet.
    for name in [&name_a, &name_b] {
        let i = interface(&d, name);
        let (packets, bytes) = (
            i["rx_packets"].as_u64().unwrap(),
            i["rx_bytes"].as_u64().unwrap(),
        );
        assert!(
            packets > 0 && bytes / packets > 1514,
            "{name} received {bytes} bytes in {packets} packets: no large segments"
        );
    }
}
