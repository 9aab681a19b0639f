//! End-to-end: an uplink of `kind = "af-xdp"` (a veth whose other end is a "peer" namespace)
//! routes traffic to and from a tap pod through a running `podwire daemon`; and when the
//! kernel refuses AF_XDP, the daemon says so once and attaches the uplink with AF_PACKET.

mod support;

use support::cni::assert_ping;
use support::tcp::tcp_transfer;
use support::*;

/// The peer's namespace and the veth whose host end is the uplink.
struct Peer {
    ns: Netns,
    veth: Veth,
}

/// A namespace holding one end of a fresh veth as `192.168.78.2/24`, with a default route
/// via the switch's `192.168.78.1` on the other end, which stays in the daemon's namespace.
fn peer() -> Peer {
    let ns = Netns::new("px");
    let veth = Veth::new("xv");
    ok("ip", &["link", "set", &veth.b, "netns", &ns.name]);
    ns.ok(&["ip", "addr", "add", "192.168.78.2/24", "dev", &veth.b]);
    ns.ok(&["ip", "link", "set", &veth.b, "up"]);
    ns.ok(&["ip", "route", "add", "default", "via", "192.168.78.1"]);
    Peer { ns, veth }
}

/// A config with the uplink `name` on `host_if` (the lines in `uplink_extra` added to its
/// section), and the pod `pod` (`10.0.0.2`) in `pod_ns`.
fn config(name: &str, host_if: &str, uplink_extra: &str, pod_name: &str, pod_ns: &Netns) -> String {
    format!(
        "[services]\nmasquerade_interfaces = []\n\n[[interface]]\nname = \"{name}\"\n\
         kind = \"af-xdp\"\nhost_interface = \"{host_if}\"\naddresses = [\"192.168.78.1/24\"]\n\
         {uplink_extra}\n{}",
        pod(pod_name, pod_ns, &["10.0.0.2"])
    )
}

/// 4 MiB of TCP from `from` to `to_addr` (in `to`), then from `to` to `from_addr`: each
/// arrives intact only if every segment crossed the switch with correct checksums.
fn tcp_both_ways(from: &Netns, from_addr: &str, to: &Netns, to_addr: &str) {
    tcp_transfer(from, to, to_addr, 4 << 20);
    tcp_transfer(to, from, from_addr, 4 << 20);
}

/// The `show interfaces` row of `name`.
fn interface_row(daemon: &Daemon, name: &str) -> String {
    let table = daemon.ctl_ok(&["show", "interfaces"]);
    table
        .lines()
        .find(|line| line.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no interface {name} in:\n{table}"))
        .to_owned()
}

#[test]
fn an_af_xdp_uplink_routes_between_its_peer_and_a_pod() {
    if !root_or_skip() {
        return;
    }
    let (peer, pod_ns) = (peer(), Netns::new("pa"));
    // A veth peer's own stack leaves TCP and UDP checksums to an offload, and AF_XDP does not
    // say so (unlike AF_PACKET): the peer must finish them itself.
    peer.ns.ok(&["ethtool", "-K", &peer.veth.b, "tx", "off"]);
    let uplink = unique("up");
    let cfg = config(&uplink, &peer.veth.a, "", &unique("a"), &pod_ns);
    // Two workers: the AF_XDP queue is polled by one, the pod's tap maybe by the other, and
    // the flows are handed over between them.
    let daemon = Daemon::start_with_workers(2, &cfg);
    let row = interface_row(&daemon, &uplink);
    assert!(
        row.contains("af-xdp native"),
        "a veth has native XDP: {row}"
    );
    assert!(
        !daemon.log().contains("falling back"),
        "no fallback:\n{}",
        daemon.log()
    );
    assert_ping(&peer.ns, "192.168.78.1");
    assert_ping(&peer.ns, "10.0.0.2");
    assert_ping(&pod_ns, "192.168.78.2");
    tcp_both_ways(&peer.ns, "192.168.78.2", &pod_ns, "10.0.0.2");
    let row = interface_row(&daemon, &uplink);
    assert!(row.contains("af-xdp native"), "{row}");
}

#[test]
fn an_af_xdp_uplink_the_kernel_refuses_falls_back_to_af_packet() {
    if !root_or_skip() {
        return;
    }
    let (peer, pod_ns) = (peer(), Netns::new("pa"));
    let uplink = unique("up");
    // A veth has one queue: binding to the eighth fails.
    let cfg = config(
        &uplink,
        &peer.veth.a,
        "xdp_queue = 7",
        &unique("a"),
        &pod_ns,
    );
    let daemon = Daemon::start(&cfg);
    let log = daemon.log();
    let warnings: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("falling back to AF_PACKET"))
        .collect();
    assert_eq!(warnings.len(), 1, "one warning:\n{log}");
    let warning = warnings[0];
    for part in ["WARN", &uplink, &peer.veth.a, "bind", "queue 7"] {
        assert!(warning.contains(part), "{part:?} in the warning: {warning}");
    }
    let row = interface_row(&daemon, &uplink);
    assert!(row.contains("af-packet (af-xdp refused)"), "{row}");
    let shown = ok("ip", &["link", "show", &peer.veth.a]);
    assert!(!shown.contains("xdp"), "no program left attached: {shown}");
    assert_ping(&peer.ns, "10.0.0.2");
    assert_ping(&pod_ns, "192.168.78.2");
    tcp_both_ways(&peer.ns, "192.168.78.2", &pod_ns, "10.0.0.2");
}
