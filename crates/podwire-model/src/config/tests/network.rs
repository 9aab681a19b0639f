//! `[[network]]` and `node.state_dir`: what a valid file turns into, and each rule's problem.

use crate::attach::AttachmentKind;

use super::*;

/// `text` after [`MINIMAL`], parsed; panics with the problems if it is refused.
fn networks(text: &str) -> Vec<NetworkConfig> {
    match Config::parse(&format!("{MINIMAL}{text}")) {
        Ok(config) => config.networks,
        Err(error) => panic!("expected a valid config, got: {error}"),
    }
}

/// The problems of `text` after [`MINIMAL`].
fn network_problems(text: &str) -> Vec<String> {
    problems(&format!("{MINIMAL}{text}"))
}

#[test]
fn networks_and_state_dir_parse_with_defaults_filled_in() {
    let text = r#"
[node]
name = "n1"
api_socket = "/run/podwire-x/api.sock"
metrics_listen = "127.0.0.1:0"
state_dir = "/tmp/x/state"

[host]
interface = "pwh-x"
address4 = "10.251.255.254"
address6 = "fd00:251::1:fffe"
routes = ["10.251.0.0/24", "fd00:251::/112"]

[[network]]
name = "default"
pod_cidrs = ["10.251.0.0/24", "fd00:251::/112"]

[[network]]
name = "cnf"
pod_cidrs = ["fd00:252::/64", "10.252.0.0/16"]
interface = "memif"
forwarding = "routed"
mtu = 9000
pod_routes = ["10.0.0.0/8", "fd00::/8"]

[[network]]
name = "l2"
pod_cidrs = ["192.168.77.0/24"]
interface = "veth"
forwarding = "bridged"
mtu = 576

[[network]]
name = "v6only"
pod_cidrs = ["fd00:253::/120"]

[[network]]
name = "isolated"
pod_cidrs = ["10.254.0.0/30"]
pod_routes = []
"#;
    let config = Config::parse(text).unwrap();
    assert_eq!(config.node.state_dir, PathBuf::from("/tmp/x/state"));
    assert_eq!(
        config.networks,
        vec![
            NetworkConfig {
                name: "default".into(),
                pod_cidrs: vec![cidr("10.251.0.0/24"), cidr("fd00:251::/112")],
                interface: AttachmentKind::Tap,
                forwarding: NetworkForwarding::Routed,
                mtu: None,
                pod_routes: vec![cidr("0.0.0.0/0"), cidr("::/0")],
            },
            NetworkConfig {
                name: "cnf".into(),
                pod_cidrs: vec![cidr("fd00:252::/64"), cidr("10.252.0.0/16")],
                interface: AttachmentKind::Memif,
                forwarding: NetworkForwarding::Routed,
                mtu: Some(9000),
                pod_routes: vec![cidr("10.0.0.0/8"), cidr("fd00::/8")],
            },
            NetworkConfig {
                name: "l2".into(),
                pod_cidrs: vec![cidr("192.168.77.0/24")],
                interface: AttachmentKind::Veth,
                forwarding: NetworkForwarding::Bridged,
                mtu: Some(576),
                pod_routes: vec![],
            },
            NetworkConfig {
                name: "v6only".into(),
                pod_cidrs: vec![cidr("fd00:253::/120")],
                interface: AttachmentKind::Tap,
                forwarding: NetworkForwarding::Routed,
                mtu: None,
                pod_routes: vec![cidr("::/0")],
            },
            NetworkConfig {
                name: "isolated".into(),
                pod_cidrs: vec![cidr("10.254.0.0/30")],
                interface: AttachmentKind::Tap,
                forwarding: NetworkForwarding::Routed,
                mtu: None,
                pod_routes: vec![],
            },
        ]
    );
}

#[test]
fn without_networks_there_are_none_and_state_dir_is_the_default() {
    let config = Config::parse(MINIMAL).unwrap();
    assert!(config.networks.is_empty());
    assert_eq!(config.node.state_dir, PathBuf::from(DEFAULT_STATE_DIR));
}

#[test]
fn state_dir_must_be_absolute() {
    assert_eq!(
        problems("[node]\nname = \"n\"\nstate_dir = \"var/lib/podwire\"\n"),
        vec![
            r#"node.state_dir: "var/lib/podwire" is not an absolute path; the daemon's working directory is not fixed, so give the full path"#
        ]
    );
}

#[test]
fn network_names_are_dns_labels() {
    let found = network_problems(
        r#"
[[network]]
name = "Default"
pod_cidrs = ["10.1.0.0/24"]

[[network]]
name = "-net"
pod_cidrs = ["10.2.0.0/24"]

[[network]]
name = "a_b"
pod_cidrs = ["10.3.0.0/24"]

[[network]]
name = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
pod_cidrs = ["10.4.0.0/24"]

[[network]]
name = ""
pod_cidrs = ["10.5.0.0/24"]
"#,
    );
    assert_eq!(
        found,
        vec![
            r#"network[0].name: "Default" contains 'D'; a network name is a DNS label (it appears in interface and file names): only lowercase letters, digits and '-'"#,
            r#"network[1].name: "-net" must start and end with a lowercase letter or a digit (a DNS label)"#,
            r#"network[2].name: "a_b" contains '_'; a network name is a DNS label (it appears in interface and file names): only lowercase letters, digits and '-'"#,
            r#"network[3].name: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" is 64 bytes long; a network name has 1 to 63"#,
            r#"network[4].name: "" is 0 bytes long; a network name has 1 to 63"#,
        ]
    );
}

#[test]
fn network_names_are_unique() {
    let found = network_problems(
        r#"
[[network]]
name = "default"
pod_cidrs = ["10.1.0.0/24"]

[[network]]
name = "default"
pod_cidrs = ["10.2.0.0/24"]
"#,
    );
    assert_eq!(
        found,
        vec![
            r#"network[1].name: "default" is already the name of network[0].name; network names must be unique"#
        ]
    );
}

#[test]
fn a_bridged_network_cannot_share_a_bridge_domains_name() {
    let found = network_problems(
        r#"
[[bridge_domain]]
name = "l2net"

[[network]]
name = "l2net"
pod_cidrs = ["10.1.0.0/24"]
forwarding = "bridged"
"#,
    );
    assert_eq!(
        found,
        vec![
            r#"network[0].name: "l2net" is also the name of bridge_domain[0]; a bridged network makes a bridge domain named after itself, so rename the network or the [[bridge_domain]]"#
        ]
    );
}

#[test]
fn a_routed_network_may_share_a_name_with_an_interface_a_pod_or_a_bridge_domain() {
    let found = networks(
        r#"
[[bridge_domain]]
name = "same"

[[interface]]
name = "same"
kind = "tap"

[[pod]]
name = "same"
netns = "same"
addresses = ["10.9.0.2"]

[[network]]
name = "same"
pod_cidrs = ["10.1.0.0/24"]
"#,
    );
    assert_eq!(found[0].name, "same");
}

#[test]
fn pod_cidrs_are_required_and_at_most_two() {
    let found = network_problems(
        r#"
[[network]]
name = "a"

[[network]]
name = "b"
pod_cidrs = []

[[network]]
name = "c"
pod_cidrs = ["10.1.0.0/24", "fd00:1::/112", "10.2.0.0/24"]
"#,
    );
    assert_eq!(
        found,
        vec![
            r#"network[0].pod_cidrs: missing: give the network's pod CIDRs, one or two (one IPv4, one IPv6), e.g. pod_cidrs = ["10.244.0.0/24", "fd00:244::/112"]"#,
            "network[1].pod_cidrs: empty: the network has no addresses to give pods; give one or two pod CIDRs (one IPv4, one IPv6)",
            "network[2].pod_cidrs: 3 CIDRs given; a network has at most two, one IPv4 and one IPv6",
            "network[2].pod_cidrs[2]: 10.2.0.0/24 is a second IPv4 pod CIDR besides 10.1.0.0/24; a network has at most one per family",
        ]
    );
}

#[test]
fn pod_cidrs_are_one_per_family() {
    let found = network_problems(
        r#"
[[network]]
name = "a"
pod_cidrs = ["fd00:1::/112", "fd00:2::/112"]
"#,
    );
    assert_eq!(
        found,
        vec![
            "network[0].pod_cidrs[1]: fd00:2::/112 is a second IPv6 pod CIDR besides fd00:1::/112; a network has at most one per family"
        ]
    );
}

#[test]
fn pod_cidrs_are_canonical_prefixes() {
    let found = network_problems(
        r#"
[[network]]
name = "a"
pod_cidrs = ["10.1.0.1/24", "fd00:1::/129"]
"#,
    );
    assert_eq!(
        found,
        vec![
            r#"network[0].pod_cidrs[0]: "10.1.0.1/24" has host bits set; write the prefix as 10.1.0.0/24"#,
            r#"network[0].pod_cidrs[1]: "fd00:1::/129" is not a valid CIDR: prefix length 129 is over 128"#,
        ]
    );
}

#[test]
fn pod_cidrs_leave_room_for_pods() {
    let found = network_problems(
        r#"
[[network]]
name = "a"
pod_cidrs = ["10.1.0.0/31", "fd00:1::/127"]

[[network]]
name = "b"
pod_cidrs = ["10.2.0.0/30", "fd00:2::/126"]
"#,
    );
    assert_eq!(
        found,
        vec![
            "network[0].pod_cidrs[0]: 10.1.0.0/31 is too small to hand out addresses; give an IPv4 prefix of /30 or shorter (/24 gives 254 pods)",
            "network[0].pod_cidrs[1]: fd00:1::/127 is too small to hand out addresses; give an IPv6 prefix of /126 or shorter (/112 gives 65534 pods)",
        ]
    );
}

#[test]
fn pod_cidrs_are_routable_unicast() {
    let found = network_problems(
        r#"
[[network]]
name = "a"
pod_cidrs = ["169.254.0.0/24", "fe80::/64"]

[[network]]
name = "b"
pod_cidrs = ["0.0.0.0/0", "ff02::/16"]

[[network]]
name = "c"
pod_cidrs = ["127.0.0.0/24", "::/64"]
"#,
    );
    assert_eq!(
        found,
        vec![
            "network[0].pod_cidrs[0]: 169.254.0.0/24 overlaps 169.254.0.0/16, the link-local range, which other pods and nodes cannot route to; choose a pod CIDR of unicast addresses that can be routed (e.g. private 10.0.0.0/8 or fd00::/8)",
            "network[0].pod_cidrs[1]: fe80::/64 overlaps fe80::/10, the link-local range, which other pods and nodes cannot route to; choose a pod CIDR of unicast addresses that can be routed (e.g. private 10.0.0.0/8 or fd00::/8)",
            r#"network[1].pod_cidrs[0]: 0.0.0.0/0 overlaps 0.0.0.0/8, the "this network" range, which is not a source address; choose a pod CIDR of unicast addresses that can be routed (e.g. private 10.0.0.0/8 or fd00::/8)"#,
            "network[1].pod_cidrs[1]: ff02::/16 overlaps ff00::/8, the multicast range; choose a pod CIDR of unicast addresses that can be routed (e.g. private 10.0.0.0/8 or fd00::/8)",
            "network[2].pod_cidrs[0]: 127.0.0.0/24 overlaps 127.0.0.0/8, the loopback range; choose a pod CIDR of unicast addresses that can be routed (e.g. private 10.0.0.0/8 or fd00::/8)",
            "network[2].pod_cidrs[1]: ::/64 overlaps ::/127, the unspecified and loopback addresses; choose a pod CIDR of unicast addresses that can be routed (e.g. private 10.0.0.0/8 or fd00::/8)",
        ]
    );
}

#[test]
fn pod_cidrs_of_two_networks_do_not_overlap() {
    let found = network_problems(
        r#"
[[network]]
name = "a"
pod_cidrs = ["10.1.0.0/16", "fd00:1::/112"]

[[network]]
name = "b"
pod_cidrs = ["10.1.2.0/24", "fd00:2::/112"]

[[network]]
name = "c"
pod_cidrs = ["fd00::/16"]
"#,
    );
    assert_eq!(
        found,
        vec![
            "network[1].pod_cidrs[0]: 10.1.2.0/24 overlaps 10.1.0.0/16, the pod CIDR of network[0].pod_cidrs[0]; each network hands out addresses of its own: choose a CIDR that overlaps no other network's",
            "network[2].pod_cidrs[0]: fd00::/16 overlaps fd00:1::/112, the pod CIDR of network[0].pod_cidrs[1]; each network hands out addresses of its own: choose a CIDR that overlaps no other network's",
            "network[2].pod_cidrs[0]: fd00::/16 overlaps fd00:2::/112, the pod CIDR of network[1].pod_cidrs[1]; each network hands out addresses of its own: choose a CIDR that overlaps no other network's",
        ]
    );
}

#[test]
fn pod_cidrs_do_not_overlap_an_interface_subnet() {
    let found = problems(&format!(
        r#"{BASE}
[[network]]
name = "a"
pod_cidrs = ["192.168.50.128/25", "fd00:50::/112"]

[[network]]
name = "b"
pod_cidrs = ["192.168.50.0/26"]
"#
    ));
    assert_eq!(
        found,
        vec![
            r#"network[0].pod_cidrs[0]: 192.168.50.128/25 overlaps 192.168.50.0/24, the subnet of interface[0].addresses[0] ("uplink0"); the switch could not tell a pod from a neighbor on that link: choose a pod CIDR outside the interfaces' subnets"#,
            r#"network[0].pod_cidrs[1]: fd00:50::/112 overlaps fd00:50::/64, the subnet of interface[0].addresses[1] ("uplink0"); the switch could not tell a pod from a neighbor on that link: choose a pod CIDR outside the interfaces' subnets"#,
            r#"network[1].pod_cidrs[0]: 192.168.50.0/26 overlaps 192.168.50.0/24, the subnet of interface[0].addresses[0] ("uplink0"); the switch could not tell a pod from a neighbor on that link: choose a pod CIDR outside the interfaces' subnets"#,
        ]
    );
}

#[test]
fn the_hosts_addresses_are_outside_pod_cidrs_but_its_routes_may_cover_them() {
    let found = network_problems(
        r#"
[host]
address4 = "10.251.0.254"
address6 = "fd00:251::fffe"
routes = ["10.251.0.0/24", "fd00:251::/112"]

[[network]]
name = "default"
pod_cidrs = ["10.251.0.0/24", "fd00:251::/112"]
"#,
    );
    assert_eq!(
        found,
        vec![
            "network[0].pod_cidrs[0]: 10.251.0.0/24 contains host.address4 (10.251.0.254), the host tap's own address, which the IPAM could hand to a pod; give the host an address outside the pod CIDRs",
            "network[0].pod_cidrs[1]: fd00:251::/112 contains host.address6 (fd00:251::fffe), the host tap's own address, which the IPAM could hand to a pod; give the host an address outside the pod CIDRs",
        ]
    );
}

#[test]
fn pod_addresses_are_outside_pod_cidrs() {
    let found = network_problems(
        r#"
[[pod]]
name = "a"
netns = "a"
addresses = ["10.9.0.2", "fd00:251::2"]

[[network]]
name = "default"
pod_cidrs = ["10.251.0.0/24", "fd00:251::/112"]
"#,
    );
    assert_eq!(
        found,
        vec![
            r#"network[0].pod_cidrs[1]: fd00:251::/112 contains pod[0].addresses[1] (fd00:251::2), an address of [[pod]] "a"; the IPAM would hand it out a second time: give that pod an address outside the pod CIDRs, or choose another pod CIDR"#
        ]
    );
}

#[test]
fn static_routes_may_cover_pod_cidrs_but_not_fall_inside_them() {
    let found = problems(&format!(
        r#"{BASE}
[[route]]
prefix = "10.0.0.0/8"
via = "192.168.50.2"
interface = "uplink0"

[[route]]
prefix = "10.251.0.128/25"
via = "192.168.50.2"
interface = "uplink0"

[[network]]
name = "default"
pod_cidrs = ["10.251.0.0/24"]
"#
    ));
    assert_eq!(
        found,
        vec![
            r#"network[0].pod_cidrs[0]: 10.251.0.0/24 contains route[1].prefix (10.251.0.128/25), which would send this network's pods' traffic out of interface "uplink0"; route only prefixes outside the pod CIDRs"#
        ]
    );
}

#[test]
fn interface_and_forwarding_name_their_choices() {
    let interface = syntax_error(&format!(
        "{MINIMAL}[[network]]\nname = \"a\"\npod_cidrs = [\"10.1.0.0/24\"]\ninterface = \"vhost\"\n"
    ));
    assert!(interface.contains("vhost"), "{interface}");
    assert!(
        interface.contains("tap") && interface.contains("veth") && interface.contains("memif"),
        "{interface}"
    );
    let forwarding = syntax_error(&format!(
        "{MINIMAL}[[network]]\nname = \"a\"\npod_cidrs = [\"10.1.0.0/24\"]\nforwarding = \"switched\"\n"
    ));
    assert!(forwarding.contains("switched"), "{forwarding}");
    assert!(
        forwarding.contains("routed") && forwarding.contains("bridged"),
        "{forwarding}"
    );
}

#[test]
fn unknown_network_keys_are_refused() {
    let typo = syntax_error(&format!(
        "{MINIMAL}[[network]]\nname = \"a\"\npod_cidr = [\"10.1.0.0/24\"]\n"
    ));
    assert!(typo.contains("pod_cidr"), "{typo}");
    let missing_name = syntax_error(&format!(
        "{MINIMAL}[[network]]\npod_cidrs = [\"10.1.0.0/24\"]\n"
    ));
    assert!(missing_name.contains("name"), "{missing_name}");
}

#[test]
fn mtu_is_in_range_and_fits_ipv6() {
    let found = network_problems(
        r#"
[[network]]
name = "a"
pod_cidrs = ["10.1.0.0/24"]
mtu = 575

[[network]]
name = "b"
pod_cidrs = ["10.2.0.0/24"]
mtu = 65536

[[network]]
name = "c"
pod_cidrs = ["10.3.0.0/24", "fd00:3::/112"]
mtu = 1279
"#,
    );
    assert_eq!(
        found,
        vec![
            "network[0].mtu: 575 is out of range; a network's MTU is from 576 to 65535",
            "network[1].mtu: 65536 is out of range; a network's MTU is from 576 to 65535",
            "network[2].mtu: 1279 is below 1280, the smallest MTU IPv6 allows, and this network has the IPv6 pod CIDR fd00:3::/112; give at least 1280",
        ]
    );
    let edges = networks(
        r#"
[[network]]
name = "a"
pod_cidrs = ["10.1.0.0/24"]
mtu = 576

[[network]]
name = "b"
pod_cidrs = ["fd00:2::/112"]
mtu = 1280

[[network]]
name = "c"
pod_cidrs = ["10.3.0.0/24"]
mtu = 65535
"#,
    );
    let mtus: Vec<_> = edges.iter().map(|n| n.mtu).collect();
    assert_eq!(mtus, vec![Some(576), Some(1280), Some(65535)]);
}

#[test]
fn pod_routes_are_for_routed_networks_only() {
    let found = network_problems(
        r#"
[[network]]
name = "l2"
pod_cidrs = ["10.1.0.0/24"]
forwarding = "bridged"
pod_routes = ["0.0.0.0/0"]
"#,
    );
    assert_eq!(
        found,
        vec![
            r#"network[0].pod_routes: pod_routes is for routed networks; a bridged network gives no gateway: remove pod_routes, or set forwarding = "routed""#
        ]
    );
}

#[test]
fn pod_routes_are_canonical_unique_and_of_the_networks_families() {
    let found = network_problems(
        r#"
[[network]]
name = "v4"
pod_cidrs = ["10.1.0.0/24"]
pod_routes = ["10.0.0.1/8", "::/0", "10.2.0.0/16", "10.2.0.0/16", "fd00::/129"]

[[network]]
name = "v6"
pod_cidrs = ["fd00:2::/112"]
pod_routes = ["0.0.0.0/0"]
"#,
    );
    assert_eq!(
        found,
        vec![
            r#"network[0].pod_routes[0]: "10.0.0.1/8" has host bits set; write the prefix as 10.0.0.0/8"#,
            "network[0].pod_routes[1]: ::/0 is an IPv6 route, but the network has no IPv6 pod CIDR, so its pods have no IPv6 address to route from; remove the route or add an IPv6 pod CIDR",
            "network[0].pod_routes[3]: 10.2.0.0/16 is already network[0].pod_routes[2]; give each route once",
            r#"network[0].pod_routes[4]: "fd00::/129" is not a valid CIDR: prefix length 129 is over 128"#,
            "network[1].pod_routes[0]: 0.0.0.0/0 is an IPv4 route, but the network has no IPv4 pod CIDR, so its pods have no IPv4 address to route from; remove the route or add an IPv4 pod CIDR",
        ]
    );
}

#[test]
fn a_bad_pod_cidr_does_not_make_its_family_look_missing_to_pod_routes() {
    // The IPv6 CIDR is mistyped: the problem is the CIDR, not the IPv6 route.
    let found = network_problems(
        r#"
[[network]]
name = "a"
pod_cidrs = ["10.1.0.0/24", "fd00:1::/12x"]
pod_routes = ["0.0.0.0/0", "::/0"]
"#,
    );
    assert_eq!(
        found,
        vec![
            r#"network[0].pod_cidrs[1]: "fd00:1::/12x" is not a valid CIDR: prefix length "12x" is not a number"#
        ]
    );
}

#[test]
fn every_network_problem_is_reported_at_once() {
    let text = r#"
[node]
name = "n1"
state_dir = "state"

[host]
address4 = "10.1.0.1"

[[bridge_domain]]
name = "l2"

[[network]]
name = "Default"
pod_cidrs = ["10.1.0.0/24", "10.2.0.0/24"]
mtu = 100

[[network]]
name = "l2"
pod_cidrs = ["10.1.0.0/25", "fd00:1::1/112"]
forwarding = "bridged"
pod_routes = ["::/0"]
"#;
    assert_eq!(
        problems(text),
        vec![
            r#"node.state_dir: "state" is not an absolute path; the daemon's working directory is not fixed, so give the full path"#,
            r#"network[0].name: "Default" contains 'D'; a network name is a DNS label (it appears in interface and file names): only lowercase letters, digits and '-'"#,
            "network[0].pod_cidrs[0]: 10.1.0.0/24 contains host.address4 (10.1.0.1), the host tap's own address, which the IPAM could hand to a pod; give the host an address outside the pod CIDRs",
            "network[0].pod_cidrs[1]: 10.2.0.0/24 is a second IPv4 pod CIDR besides 10.1.0.0/24; a network has at most one per family",
            "network[0].mtu: 100 is out of range; a network's MTU is from 576 to 65535",
            r#"network[1].name: "l2" is also the name of bridge_domain[0]; a bridged network makes a bridge domain named after itself, so rename the network or the [[bridge_domain]]"#,
            "network[1].pod_cidrs[0]: 10.1.0.0/25 overlaps 10.1.0.0/24, the pod CIDR of network[0].pod_cidrs[0]; each network hands out addresses of its own: choose a CIDR that overlaps no other network's",
            "network[1].pod_cidrs[0]: 10.1.0.0/25 contains host.address4 (10.1.0.1), the host tap's own address, which the IPAM could hand to a pod; give the host an address outside the pod CIDRs",
            r#"network[1].pod_cidrs[1]: "fd00:1::1/112" has host bits set; write the prefix as fd00:1::/112"#,
            r#"network[1].pod_routes: pod_routes is for routed networks; a bridged network gives no gateway: remove pod_routes, or set forwarding = "routed""#,
        ]
    );
}
