//! `[services]`: its defaults, alone and derived from the rest of the file, every key parsed,
//! and each rule's problem with its field path.

use super::*;

/// `text` after [`MINIMAL`], parsed; panics with the problems if it is refused.
fn services(text: &str) -> ServicesConfig {
    match Config::parse(&format!("{MINIMAL}{text}")) {
        Ok(config) => config.services,
        Err(error) => panic!("expected a valid config, got: {error}"),
    }
}

/// The problems of `text` after [`MINIMAL`].
fn services_problems(text: &str) -> Vec<String> {
    problems(&format!("{MINIMAL}{text}"))
}

fn secs(seconds: u64) -> Duration {
    Duration::from_secs(seconds)
}

#[test]
fn a_file_without_services_gets_every_default() {
    assert_eq!(
        services(""),
        ServicesConfig {
            cidrs: vec![cidr(DEFAULT_SERVICE_CIDR)],
            cluster_cidrs: vec![],
            node_addresses: vec![],
            masquerade_interfaces: vec![],
            sessions_per_worker: 131_072,
            tcp_established_timeout: secs(86_400),
            tcp_close_wait_timeout: secs(3_600),
            udp_timeout: secs(30),
            udp_stream_timeout: secs(120),
        }
    );
    assert_eq!(services("[services]\n"), services(""));
}

#[test]
fn the_lists_default_to_what_the_rest_of_the_file_says() {
    let found = services(
        r#"
[[interface]]
name = "uplink0"
kind = "af-packet"
host_interface = "veth-up"
addresses = ["192.168.50.1/24", "fd00:50::1/64"]

[[interface]]
name = "tap1"
kind = "tap"
addresses = ["10.1.0.1/24"]

[[interface]]
name = "cnf0"
kind = "memif"
addresses = ["10.2.0.1/24"]

[[interface]]
name = "bare"
kind = "af-packet"
host_interface = "veth-bare"

[[interface]]
name = "port"
kind = "af-packet"
host_interface = "veth-port"
bridge_domain = "l2"

[[interface]]
name = "uplink1"
kind = "af-packet"
host_interface = "veth-up1"
addresses = ["172.16.0.1/16"]

[[bridge_domain]]
name = "l2"

[[pod]]
name = "a"
netns = "a"
addresses = ["10.3.0.2", "fd10::2"]

[[pod]]
name = "b"
netns = "b"
addresses = ["fd10::3"]

[[network]]
name = "default"
pod_cidrs = ["10.251.0.0/24", "fd00:251::/112"]

[[network]]
name = "v6"
pod_cidrs = ["fd00:252::/112"]
"#,
    );
    assert_eq!(
        found.cluster_cidrs,
        [
            "10.251.0.0/24",
            "fd00:251::/112",
            "fd00:252::/112",
            "10.3.0.2/32",
            "fd10::2/128",
            "fd10::3/128",
        ]
        .map(cidr)
    );
    assert_eq!(
        found.node_addresses,
        [
            "192.168.50.1",
            "fd00:50::1",
            "10.1.0.1",
            "10.2.0.1",
            "172.16.0.1"
        ]
        .map(ip)
    );
    // Neither the tap, nor the memif, nor the uplink without an address, nor the L2 port.
    assert_eq!(found.masquerade_interfaces, ["uplink0", "uplink1"]);
}

#[test]
fn a_node_without_an_uplink_uses_the_host_addresses() {
    let found = services("[host]\naddress4 = \"10.9.255.254\"\naddress6 = \"fd09::fffe\"\n");
    assert_eq!(
        found.node_addresses,
        vec![
            "10.9.255.254".parse::<IpAddr>().unwrap(),
            "fd09::fffe".parse().unwrap()
        ]
    );
}

#[test]
fn every_key_is_parsed() {
    let found = services(
        r#"
[[interface]]
name = "uplink0"
kind = "af-packet"
host_interface = "veth-up"
addresses = ["192.168.50.1/24"]

[[interface]]
name = "tap1"
kind = "tap"
addresses = ["fd00:60::1/64"]

[services]
cidrs = ["fd00:96::/108", "10.200.0.0/16"]
cluster_cidrs = ["10.244.0.0/16", "fd00:244::/56"]
node_addresses = ["198.51.100.7", "2001:db8::7"]
masquerade_interfaces = ["tap1"]
sessions_per_worker = 1024
tcp_established_timeout_s = 7200
tcp_close_wait_timeout_s = 60
udp_timeout_s = 1
udp_stream_timeout_s = 180
"#,
    );
    assert_eq!(
        found,
        ServicesConfig {
            cidrs: vec![cidr("fd00:96::/108"), cidr("10.200.0.0/16")],
            cluster_cidrs: vec![cidr("10.244.0.0/16"), cidr("fd00:244::/56")],
            node_addresses: vec![ip("198.51.100.7"), ip("2001:db8::7")],
            masquerade_interfaces: vec!["tap1".into()],
            sessions_per_worker: 1024,
            tcp_established_timeout: secs(7200),
            tcp_close_wait_timeout: secs(60),
            udp_timeout: secs(1),
            udp_stream_timeout: secs(180),
        }
    );
}

#[test]
fn empty_lists_stay_empty_instead_of_taking_the_defaults() {
    // BASE has a routed af-packet interface with addresses, and so defaults that are not empty.
    let text = format!(
        "{BASE}[services]\ncluster_cidrs = []\nnode_addresses = []\nmasquerade_interfaces = []\n"
    );
    let found = Config::parse(&text).unwrap().services;
    assert!(found.cluster_cidrs.is_empty());
    assert!(found.node_addresses.is_empty());
    assert!(found.masquerade_interfaces.is_empty());
}

#[test]
fn unknown_and_mistyped_keys_are_refused() {
    let typo = syntax_error(&format!("{MINIMAL}[services]\ncidr = [\"10.96.0.0/12\"]\n"));
    assert!(typo.contains("cidr"), "{typo}");
    let unit = syntax_error(&format!("{MINIMAL}[services]\nudp_timeout = 30\n"));
    assert!(unit.contains("udp_timeout"), "{unit}");
    let negative = syntax_error(&format!("{MINIMAL}[services]\nudp_timeout_s = -1\n"));
    assert!(negative.contains("udp_timeout_s"), "{negative}");
    let text = syntax_error(&format!("{MINIMAL}[services]\ncidrs = \"10.96.0.0/12\"\n"));
    assert!(text.contains("cidrs"), "{text}");
}

#[test]
fn service_cidrs_are_prefixes_at_most_one_per_family() {
    assert_eq!(
        services_problems("[services]\ncidrs = []\n"),
        [
            "services.cidrs: empty: ClusterIPs need a range; give one or two service CIDRs (one IPv4, one IPv6), or remove the key for 10.96.0.0/12"
        ]
    );
    assert_eq!(
        services_problems(
            r#"
[services]
cidrs = ["10.96.0.0/33", "10.96.0.1/12", "10.200.0.0/16", "10.201.0.0/16", "fd00:96::/108", "fd00:97::/108"]
"#
        ),
        [
            r#"services.cidrs[0]: "10.96.0.0/33" is not a valid CIDR: prefix length 33 is over 32"#,
            r#"services.cidrs[1]: "10.96.0.1/12" has host bits set; write the prefix as 10.96.0.0/12"#,
            "services.cidrs[3]: 10.201.0.0/16 is a second IPv4 service CIDR besides 10.200.0.0/16; give at most one per family",
            "services.cidrs[5]: fd00:97::/108 is a second IPv6 service CIDR besides fd00:96::/108; give at most one per family",
        ]
    );
}

#[test]
fn service_cidrs_overlap_no_pod_cidr_pod_or_interface_subnet() {
    let found = services_problems(
        r#"
[[interface]]
name = "uplink0"
kind = "af-packet"
host_interface = "veth-up"
addresses = ["10.200.7.1/24", "fd00:96::1/64"]

[[pod]]
name = "a"
netns = "a"
addresses = ["10.200.9.2"]

[[network]]
name = "default"
pod_cidrs = ["10.200.8.0/24"]

[services]
cidrs = ["10.200.0.0/16", "fd00:96::/108"]
"#,
    );
    assert_eq!(
        found,
        [
            "services.cidrs[0]: 10.200.0.0/16 overlaps 10.200.8.0/24, the pod CIDR of network[0].pod_cidrs[0]; a pod's address cannot also be a ClusterIP: choose a service CIDR outside every pod CIDR",
            r#"services.cidrs[0]: 10.200.0.0/16 contains pod[0].addresses[0] (10.200.9.2), an address of [[pod]] "a"; traffic to it would be taken for a Service's: give that pod an address outside the service CIDRs, or choose another service CIDR"#,
            r#"services.cidrs[0]: 10.200.0.0/16 overlaps 10.200.7.0/24, the subnet of interface[0].addresses[0] ("uplink0"); the switch could not tell a Service from a neighbor on that link: choose a service CIDR outside the interfaces' subnets"#,
            r#"services.cidrs[1]: fd00:96::/108 overlaps fd00:96::/64, the subnet of interface[0].addresses[1] ("uplink0"); the switch could not tell a Service from a neighbor on that link: choose a service CIDR outside the interfaces' subnets"#,
        ]
    );
}

#[test]
fn a_host_route_may_equal_a_service_cidr_but_not_overlap_it_otherwise() {
    let host = |routes: &str| {
        format!(
            "[host]\naddress4 = \"10.0.255.254\"\nroutes = [{routes}]\n[services]\ncidrs = [\"10.96.0.0/12\", \"fd00:96::/108\"]\n"
        )
    };
    assert_eq!(
        services(&host(r#""10.96.0.0/12", "fd00:96::/108", "10.0.0.0/16""#)).cidrs,
        [cidr("10.96.0.0/12"), cidr("fd00:96::/108")]
    );
    assert_eq!(
        services_problems(&host(r#""10.0.0.0/8", "10.100.0.0/16""#)),
        [
            "services.cidrs[0]: 10.96.0.0/12 overlaps host.routes[0] (10.0.0.0/8); the agent routes the service CIDRs from the host itself: make that route exactly 10.96.0.0/12, remove it, or choose a service CIDR outside it",
            "services.cidrs[0]: 10.96.0.0/12 overlaps host.routes[1] (10.100.0.0/16); the agent routes the service CIDRs from the host itself: make that route exactly 10.96.0.0/12, remove it, or choose a service CIDR outside it",
        ]
    );
    assert_eq!(
        services_problems(
            "[host]\naddress4 = \"10.96.0.1\"\naddress6 = \"fd00:96::1\"\n[services]\ncidrs = [\"10.96.0.0/12\", \"fd00:96::/108\"]\n"
        ),
        [
            "services.cidrs[0]: 10.96.0.0/12 contains host.address4 (10.96.0.1), the host tap's own address; give the host an address outside the service CIDRs",
            "services.cidrs[1]: fd00:96::/108 contains host.address6 (fd00:96::1), the host tap's own address; give the host an address outside the service CIDRs",
        ]
    );
}

#[test]
fn static_routes_may_cover_a_service_cidr_but_not_fall_inside_it() {
    let found = problems(&format!(
        r#"{BASE}
[[route]]
prefix = "0.0.0.0/0"
via = "192.168.50.2"
interface = "uplink0"

[[route]]
prefix = "10.100.0.0/16"
via = "192.168.50.2"
interface = "uplink0"
"#
    ));
    assert_eq!(
        found,
        [
            "services.cidrs: 10.96.0.0/12 (the default services.cidrs) contains route[1].prefix (10.100.0.0/16), which would never be used: traffic to a service CIDR goes to a Service or is dropped; route only prefixes outside the service CIDRs"
        ]
    );
}

#[test]
fn a_collision_of_the_default_service_cidr_is_reported_on_the_key_to_set() {
    let found =
        services_problems("[[network]]\nname = \"default\"\npod_cidrs = [\"10.96.0.0/16\"]\n");
    assert_eq!(
        found,
        [
            "services.cidrs: 10.96.0.0/12 (the default services.cidrs) overlaps 10.96.0.0/16, the pod CIDR of network[0].pod_cidrs[0]; a pod's address cannot also be a ClusterIP: choose a service CIDR outside every pod CIDR"
        ]
    );
    // The way out the problem names.
    let moved = "[[network]]\nname = \"default\"\npod_cidrs = [\"10.96.0.0/16\"]\n[services]\ncidrs = [\"10.200.0.0/16\"]\n";
    assert_eq!(services(moved).cidrs, [cidr("10.200.0.0/16")]);
}

#[test]
fn cluster_cidrs_are_prefixes_given_once_outside_the_service_cidrs() {
    let found = services_problems(
        r#"
[services]
cluster_cidrs = ["10.244.0.0/16", "10.244.0.1/16", "pods", "10.244.0.0/16", "10.64.0.0/10", "fd00::/8"]
"#,
    );
    assert_eq!(
        found,
        [
            r#"services.cluster_cidrs[1]: "10.244.0.1/16" has host bits set; write the prefix as 10.244.0.0/16"#,
            r#"services.cluster_cidrs[2]: "pods" is not a valid CIDR: it has no prefix length: write it as address/length, e.g. 10.0.0.0/16"#,
            "services.cluster_cidrs[3]: 10.244.0.0/16 is already services.cluster_cidrs[0]; give each CIDR once",
            "services.cluster_cidrs[4]: 10.64.0.0/10 overlaps the service CIDR 10.96.0.0/12; pods' addresses are never ClusterIPs: give the CIDRs pods' addresses come from",
        ]
    );
}

#[test]
fn node_addresses_are_unicast_given_once_outside_the_service_cidrs() {
    let found = services_problems(
        r#"
[services]
node_addresses = ["198.51.100.7", "198.51.100.7/32", "node", "127.0.0.1", "198.51.100.7", "10.96.0.1", "169.254.1.1", "2001:db8::7"]
"#,
    );
    assert_eq!(
        found,
        [
            r#"services.node_addresses[1]: "198.51.100.7/32" has a prefix length; write the address alone, "198.51.100.7""#,
            r#"services.node_addresses[2]: "node" is not an IPv4 or IPv6 address"#,
            "services.node_addresses[3]: 127.0.0.1 is a loopback address; give a unicast address that can be routed",
            "services.node_addresses[4]: 198.51.100.7 is already services.node_addresses[0]; give each address once",
            "services.node_addresses[5]: 10.96.0.1 is in the service CIDR 10.96.0.0/12, whose addresses are ClusterIPs; give an address of this node outside the service CIDRs",
            "services.node_addresses[6]: 169.254.1.1 is reserved as the pods' gateway address; choose another address",
        ]
    );
}

#[test]
fn masquerade_interfaces_name_routed_interfaces_with_addresses_once() {
    let found = problems(&format!(
        r#"{BASE}
[[interface]]
name = "bare"
kind = "tap"

[[interface]]
name = "port"
kind = "tap"
bridge_domain = "l2"

[[bridge_domain]]
name = "l2"

[services]
masquerade_interfaces = ["uplink0", "uplink1", "uplink0", "bare", "port"]
"#
    ));
    assert_eq!(
        found,
        [
            r#"services.masquerade_interfaces[1]: there is no interface named "uplink1"; name one of uplink0, bare, port"#,
            r#"services.masquerade_interfaces[2]: "uplink0" is already services.masquerade_interfaces[0]; name each interface once"#,
            r#"services.masquerade_interfaces[3]: interface "bare" has no address to masquerade to; give it addresses, or leave it out"#,
            r#"services.masquerade_interfaces[4]: interface "port" forwards by MAC (bridge_domain "l2"); masquerading rewrites IP addresses, so name a routed interface, one with addresses"#,
        ]
    );
    assert_eq!(
        services_problems("[services]\nmasquerade_interfaces = [\"eth0\"]\n"),
        [
            r#"services.masquerade_interfaces[0]: there is no interface named "eth0"; there are no [[interface]] sections; add one"#
        ]
    );
}

#[test]
fn sessions_per_worker_and_timeouts_are_in_range() {
    let limits = services("[services]\nsessions_per_worker = 16777216\n");
    assert_eq!(limits.sessions_per_worker, 16_777_216);
    let found = services_problems(
        r#"
[services]
sessions_per_worker = 1023
tcp_established_timeout_s = 0
tcp_close_wait_timeout_s = 0
udp_timeout_s = 0
udp_stream_timeout_s = 0
"#,
    );
    assert_eq!(
        found,
        [
            "services.sessions_per_worker: 1023 is out of range; a worker tracks from 1024 to 16777216 sessions",
            "services.tcp_established_timeout_s: 0 seconds would end every session at once; give at least 1",
            "services.tcp_close_wait_timeout_s: 0 seconds would end every session at once; give at least 1",
            "services.udp_timeout_s: 0 seconds would end every session at once; give at least 1",
            "services.udp_stream_timeout_s: 0 seconds would end every session at once; give at least 1",
        ]
    );
    assert_eq!(
        services_problems("[services]\nsessions_per_worker = 16777217\n"),
        [
            "services.sessions_per_worker: 16777217 is out of range; a worker tracks from 1024 to 16777216 sessions"
        ]
    );
}
