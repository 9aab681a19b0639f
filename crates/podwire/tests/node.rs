//! End-to-end: pods in network namespaces wired through a running
//! `podwire daemon`, real kernel traffic (ping, traceroute, TCP).

mod support;

use support::cni::assert_ping;
use support::tcp::{iperf3, tcp_transfer};
use support::*;

/// A plain HTTP/1.1 GET; the whole answer, status line first.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the metrics listener");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn three_pods_exchange_ping_and_tcp_over_ipv4_and_ipv6() {
    if !root_or_skip() {
        return;
    }
    let (a, b, c) = (Netns::new("pa"), Netns::new("pb"), Netns::new("pc"));
    let mut cfg = String::new();
    cfg += &pod(&unique("a"), &a, &["10.0.0.2", "fd10::2"]);
    cfg += &pod(&unique("b"), &b, &["10.0.0.3", "fd10::3"]);
    cfg += &pod(&unique("c"), &c, &["10.0.0.4", "fd10::4"]);
    let d = Daemon::start(&cfg);

    for (from, to4, to6) in [
        (&a, "10.0.0.3", "fd10::3"),
        (&a, "10.0.0.4", "fd10::4"),
        (&b, "10.0.0.4", "fd10::4"),
        (&c, "10.0.0.2", "fd10::2"),
    ] {
        assert_ping(from, to4);
        assert_ping(from, to6);
    }
    // The switch's own gateway address answers too.
    assert_ping(&a, "169.254.1.1");
    tcp_transfer(&a, &b, "10.0.0.3", 2_000_000);
    tcp_transfer(&c, &a, "fd10::2", 2_000_000);

    let interfaces = d.ctl_ok(&["show", "interfaces"]);
    assert_eq!(
        interfaces.matches("tap").count(),
        3,
        "three tap interfaces:\n{interfaces}"
    );
    let runtime = d.ctl_ok(&["show", "runtime"]);
    for node in [
        "ethernet-input",
        "ip4-input",
        "ip4-lookup",
        "ip4-rewrite",
        "ip6-input",
        "interface-output",
    ] {
        assert!(runtime.contains(node), "{node} in show runtime:\n{runtime}");
    }
    let routes = d.ctl_ok(&["show", "routes"]);
    assert!(
        routes.contains("10.0.0.3/32"),
        "pod route in show routes:\n{routes}"
    );
    let metrics = http_get(&d.metrics, "/metrics");
    assert!(
        metrics.contains("podwire_interface_rx_packets_total{")
            && metrics.contains("podwire_node_packets_total{")
            && metrics.contains("node=\"ip4-lookup\""),
        "Prometheus metrics:\n{metrics}"
    );
    assert!(http_get(&d.metrics, "/healthz").starts_with("HTTP/1.1 200"));
    let neighbors = d.ctl_ok(&["show", "neighbors"]);
    assert!(
        neighbors.contains("10.0.0.2"),
        "pod neighbor in show neighbors:\n{neighbors}"
    );
}

#[test]
fn ttl_expiry_gets_time_exceeded_from_the_switch() {
    if !root_or_skip() {
        return;
    }
    let (a, b) = (Netns::new("pa"), Netns::new("pb"));
    let cfg = pod(&unique("a"), &a, &["10.0.0.2"]) + &pod(&unique("b"), &b, &["10.0.0.3"]);
    let d = Daemon::start(&cfg);

    let out = a.run(&["ping", "-c", "1", "-t", "1", "-W", "2", "10.0.0.3"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Time to live exceeded") && text.contains("169.254.1.1"),
        "expected time exceeded from the switch:\n{text}"
    );
    // traceroute: the switch is hop 1, the pod hop 2.
    let tr = a.ok(&[
        "traceroute",
        "-n",
        "-q",
        "1",
        "-w",
        "2",
        "-m",
        "3",
        "10.0.0.3",
    ]);
    let hops: Vec<&str> = tr.lines().skip(1).collect();
    assert!(
        hops.first().is_some_and(|h| h.contains("169.254.1.1")),
        "hop 1:\n{tr}"
    );
    assert!(
        hops.get(1).is_some_and(|h| h.contains("10.0.0.3")),
        "hop 2:\n{tr}"
    );
    let errors = d.ctl_ok(&["show", "errors"]);
    assert!(
        errors.contains("ttl-expired"),
        "ttl-expired counted:\n{errors}"
    );
}

#[test]
fn a_pod_on_an_af_packet_veth_reaches_a_tap_pod() {
    if !root_or_skip() {
        return;
    }
    let (x, a) = (Netns::new("px"), Netns::new("pa"));
    let veth = Veth::new("pv");
    // One end stays in the host, attached to podwire with AF_PACKET; the
    // other is the "pod" x's eth0.
    ok("ip", &["link", "set", &veth.b, "netns", &x.name]);
    x.ok(&["ip", "addr", "add", "192.168.77.2/24", "dev", &veth.b]);
    x.ok(&["ip", "link", "set", &veth.b, "up"]);
    x.ok(&["ip", "route", "add", "default", "via", "192.168.77.1"]);
    // No masquerading: a routed path, each end seeing the other's own address (masquerading
    // with two workers, steered to the worker holding each session, is tests/workers.rs's).
    let uplink = unique("up");
    let cfg = format!(
        "[services]\nmasquerade_interfaces = []\n\n[[interface]]\nname = \"{uplink}\"\nkind = \"af-packet\"\nhost_interface = \"{}\"\naddresses = [\"192.168.77.1/24\"]\n\n{}",
        veth.a,
        pod(&unique("a"), &a, &["10.0.0.2"])
    );
    // Two workers: the uplink and the pod are polled by different ones, so
    // the neighbor one learns from ARP must reach the other.
    let d = Daemon::start_with_workers(2, &cfg);
    // The AF_PACKET sender's virtio-net header hands checksums and segments to the kernel.
    d.assert_tcp_offloads(&uplink);
    assert_ping(&x, "192.168.77.1");
    assert_ping(&x, "10.0.0.2");
    assert_ping(&a, "192.168.77.2");
    // TCP from a veth peer: its frames arrive with checksums left to
    // offload, which podwire must complete.
    tcp_transfer(&x, &a, "10.0.0.2", 1_000_000);
    tcp_transfer(&a, &x, "192.168.77.2", 1_000_000);
}

#[test]
fn the_host_and_a_pod_exchange_tcp_as_large_segments() {
    if !root_or_skip() {
        return;
    }
    // The node is a namespace of its own: its host tap and the routes into it stay there.
    let (node, a) = (Netns::new("pn"), Netns::new("pa"));
    let host_if = unique("pwh");
    let cfg = format!(
        "[host]\ninterface = \"{host_if}\"\naddress4 = \"10.0.255.254\"\naddress6 = \"fd10::fffe\"\nroutes = [\"10.0.0.0/24\", \"fd10::/64\"]\n\n{}",
        pod(&unique("a"), &a, &["10.0.0.2", "fd10::2"])
    );
    let d = Daemon::start_in(&node, &cfg);
    // The kernel took the offloads for the host tap as for a pod's.
    d.assert_tcp_offloads(&host_if);

    assert_ping(&node, "10.0.0.2");
    assert_ping(&node, "fd10::2");
    for (to_pod, to_host) in [("10.0.0.2", "10.0.255.254"), ("fd10::2", "fd10::fffe")] {
        tcp_transfer(&node, &a, to_pod, 2_000_000);
        tcp_transfer(&a, &node, to_host, 2_000_000);
        iperf3(&node, &a, to_pod, false);
        iperf3(&node, &a, to_pod, true);
    }
    // The host's streams crossed the host tap as segments larger than the MTU, both ways.
    d.assert_large_segments(&host_if);
}

#[test]
fn a_bad_config_is_refused_with_the_field_named_and_nothing_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    let tap_prefix = unique("bad");
    std::fs::write(
        &path,
        format!(
            "[node]\nname = \"n\"\napi_socket = \"{}\"\n\n[[pod]]\nname = \"{tap_prefix}\"\nnetns = \"nonexistent\"\naddresses = [\"10.0.0.300\"]\n",
            dir.path().join("s.sock").display()
        ),
    )
    .unwrap();
    let out = run(podwire(), &["daemon", "--config", path.to_str().unwrap()]);
    assert!(!out.status.success(), "a bad config must be refused");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pod[0].addresses[0]"),
        "the error names the field:\n{err}"
    );
    assert!(
        err.contains("10.0.0.300"),
        "the error quotes the value:\n{err}"
    );
    assert!(
        !dir.path().join("s.sock").exists(),
        "no API socket for a refused config"
    );
    let links = run("ip", &["-o", "link"]);
    assert!(
        !String::from_utf8_lossy(&links.stdout).contains(&tap_prefix),
        "no interface created"
    );
}

#[test]
fn an_interface_of_kind_tap_is_made_in_its_namespace_and_routes() {
    if !root_or_skip() {
        return;
    }
    let (x, a) = (Netns::new("px"), Netns::new("pa"));
    let tap = unique("pwt");
    let cfg = format!(
        "[[interface]]\nname = \"{tap}\"\nkind = \"tap\"\nnetns = \"{}\"\naddresses = [\"192.168.88.1/24\"]\n\n{}",
        x.name,
        pod(&unique("a"), &a, &["10.0.0.2"])
    );
    let d = Daemon::start(&cfg);
    // podwire made the tap inside x; x's side gets an address there.
    x.ok(&["ip", "addr", "add", "192.168.88.2/24", "dev", &tap]);
    x.ok(&["ip", "route", "add", "default", "via", "192.168.88.1"]);
    assert_ping(&x, "192.168.88.1");
    assert_ping(&x, "10.0.0.2");
    // Opened with the offloads a pod's tap gets, and carrying TCP whole both ways.
    d.assert_tcp_offloads(&tap);
    tcp_transfer(&x, &a, "10.0.0.2", 2_000_000);
    tcp_transfer(&a, &x, "192.168.88.2", 2_000_000);
    iperf3(&x, &a, "10.0.0.2", false);
    iperf3(&x, &a, "10.0.0.2", true);
    d.assert_large_segments(&tap);
}
