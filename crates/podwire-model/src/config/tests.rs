//! Whole-file tests: what a valid file turns into, and the problems a broken one reports.

use super::*;

const MINIMAL: &str = "[node]\nname = \"node1\"\n";

/// A valid file with one uplink; tests append sections to it.
const BASE: &str = r#"
[node]
name = "node1"

[[interface]]
name = "uplink0"
kind = "af-packet"
host_interface = "veth-up"
addresses = ["192.168.50.1/24", "fd00:50::1/64"]
"#;

fn problems(text: &str) -> Vec<String> {
    match Config::parse(text) {
        Err(ConfigError::Invalid {
            problems: FieldErrors(errors),
        }) => errors.iter().map(ToString::to_string).collect(),
        other => panic!("expected field problems, got {other:?}"),
    }
}

fn syntax_error(text: &str) -> String {
    match Config::parse(text) {
        Err(error @ ConfigError::Syntax(_)) => error.to_string(),
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn cidr(text: &str) -> Cidr {
    text.parse().unwrap()
}

#[test]
fn minimal_file_gets_the_defaults() {
    let config = Config::parse(MINIMAL).unwrap();
    assert_eq!(
        config.node,
        NodeConfig {
            name: "node1".into(),
            api_socket: PathBuf::from("/run/podwire/podwire.sock"),
            metrics_listen: "127.0.0.1:9464".parse().unwrap(),
            workers: 1,
            buffers_per_worker: 16384,
            state_dir: PathBuf::from("/run/podwire/state"),
        }
    );
    assert!(config.interfaces.is_empty() && config.routes.is_empty() && config.pods.is_empty());
    assert!(config.bridge_domains.is_empty());
    assert_eq!(config.host, None);
}

#[test]
fn full_file_parses_into_typed_values() {
    let text = format!(
        r#"{BASE}
[[interface]]
name = "tap1"
kind = "tap"
netns = "/proc/1/ns/net"
mtu = 9000

[host]
address4 = "10.0.255.254"
routes = ["10.0.0.0/16", "fd10::/64"]

[[route]]
prefix = "10.9.0.0/16"
via = "192.168.50.2"
interface = "uplink0"

[[route]]
prefix = "fd20::/64"
interface = "uplink0"

[[pod]]
name = "a"
netns = "podwire-a"
addresses = ["10.0.0.2", "fd10::2"]
mtu = 1400
"#
    );
    let config = Config::parse(&text).unwrap();
    assert_eq!(
        config.interfaces,
        vec![
            InterfaceConfig {
                name: "uplink0".into(),
                device: Device::AfPacket(KernelInterface {
                    name: "veth-up".into(),
                    netns: None,
                }),
                addresses: vec![cidr("192.168.50.1/24"), cidr("fd00:50::1/64")],
                mtu: None,
                forwarding: Forwarding::Routed,
            },
            InterfaceConfig {
                name: "tap1".into(),
                device: Device::Tap(KernelInterface {
                    name: "tap1".into(),
                    netns: Some(Netns::Path("/proc/1/ns/net".into())),
                }),
                addresses: vec![],
                mtu: Some(9000),
                forwarding: Forwarding::Routed,
            },
        ]
    );
    assert_eq!(
        config.host,
        Some(HostConfig {
            interface: "podwire0".into(),
            address4: Some(Ipv4Addr::new(10, 0, 255, 254)),
            address6: None,
            routes: vec![cidr("10.0.0.0/16"), cidr("fd10::/64")],
        })
    );
    assert_eq!(
        config.routes,
        vec![
            RouteConfig {
                prefix: cidr("10.9.0.0/16"),
                via: Some(ip("192.168.50.2")),
                interface: "uplink0".into(),
            },
            RouteConfig {
                prefix: cidr("fd20::/64"),
                via: None,
                interface: "uplink0".into(),
            },
        ]
    );
    assert_eq!(
        config.pods,
        vec![PodConfig {
            name: "a".into(),
            netns: Netns::Named("podwire-a".into()),
            interface: "eth0".into(),
            addresses: vec![ip("10.0.0.2"), ip("fd10::2")],
            mtu: Some(1400),
        }]
    );
}

#[test]
fn unknown_fields_and_sections_are_rejected() {
    let typo = syntax_error("[node]\nname = \"n\"\nworkrs = 2\n");
    assert!(typo.contains("workrs"), "{typo}");
    let section = syntax_error("[node]\nname = \"n\"\n[[pods]]\nname = \"a\"\n");
    assert!(section.contains("pods"), "{section}");
    let kind = syntax_error(&format!(
        "{MINIMAL}[[interface]]\nname = \"x\"\nkind = \"tun\"\n"
    ));
    assert!(kind.contains("af-packet"), "{kind}");
    let missing = syntax_error("[node]\nworkers = 1\n");
    assert!(missing.contains("name"), "{missing}");
}

#[test]
fn every_problem_is_reported_with_its_field_path() {
    let text = r#"
[node]
name = "Node1"
metrics_listen = "localhost:9464"
workers = 0

[[interface]]
name = "a"
kind = "tap"

[[interface]]
name = "b"
kind = "tap"

[[interface]]
name = "uplink-with-a-long-name"
kind = "af-packet"
addresses = ["10.0.0.1/33"]
"#;
    assert_eq!(
        problems(text),
        vec![
            r#"node.name: "Node1" contains 'N'; a name uses only lowercase letters, digits, '-' and '.'"#,
            r#"node.metrics_listen: "localhost:9464" is not an IP address and port like 127.0.0.1:9464 or [::1]:9464"#,
            "node.workers: 0 workers cannot forward anything; give at least 1",
            r#"interface[2].name: "uplink-with-a-long-name" is 23 bytes long; an interface name has 1 to 15"#,
            r#"interface[2].host_interface: missing: kind "af-packet" attaches an existing kernel interface; name it here"#,
            r#"interface[2].addresses[0]: "10.0.0.1/33" is not a valid CIDR: prefix length 33 is over 32"#,
        ]
    );
    let message = Config::parse(text).unwrap_err().to_string();
    assert!(
        message.starts_with("the config has 6 problem(s); nothing was applied:\nnode.name: "),
        "{message}"
    );
}

#[test]
fn names_kernel_interfaces_and_addresses_are_unique() {
    let text = format!(
        r#"{BASE}
[[interface]]
name = "uplink0"
kind = "af-packet"
host_interface = "veth-up"
addresses = ["192.168.50.1/24"]

[[pod]]
name = "a"
netns = "podwire-a"
addresses = ["10.0.0.2"]

[[pod]]
name = "a"
netns = "/run/netns/podwire-a"
addresses = ["10.0.0.2"]
"#
    );
    assert_eq!(
        problems(&text),
        vec![
            r#"interface[1].name: "uplink0" is already the name of interface[0].name; names must be unique"#,
            r#"interface[1].host_interface: "veth-up" in the daemon's namespace is already used by interface[0].host_interface; each kernel interface can be attached once"#,
            "interface[1].addresses[0]: 192.168.50.1 is already used by interface[0].addresses[0]; an address belongs to one place",
            r#"pod[1].name: "a" is already the name of pod[0].name; pod names must be unique"#,
            r#"pod[1].interface: "eth0" in namespace /run/netns/podwire-a is already used by pod[0].interface; each kernel interface can be attached once"#,
            "pod[1].addresses[0]: 10.0.0.2 is already used by pod[0].addresses[0]; an address belongs to one place",
        ]
    );
}

#[test]
fn the_pods_gateway_addresses_are_reserved() {
    let text = format!(
        r#"{MINIMAL}
[[interface]]
name = "t"
kind = "tap"
addresses = ["169.254.1.1/16"]

[host]
address6 = "fe80::1"

[[pod]]
name = "a"
netns = "a"
addresses = ["fe80::1"]
"#
    );
    let found = problems(&text);
    assert_eq!(found.len(), 3, "{found:#?}");
    for (problem, field) in found.iter().zip([
        "interface[0].addresses[0]",
        "host.address6",
        "pod[0].addresses[0]",
    ]) {
        assert!(problem.starts_with(field), "{problem}");
        assert!(
            problem.contains("reserved as the pods' gateway"),
            "{problem}"
        );
    }
}

#[test]
fn pod_addresses_are_single_hosts_one_per_family() {
    let text = format!(
        r#"{MINIMAL}
[[pod]]
name = "a"
netns = "a"
addresses = ["10.0.0.2/32", "10.0.0.3", "10.0.0.4"]

[[pod]]
name = "b"
netns = "b"
addresses = []
"#
    );
    assert_eq!(
        problems(&text),
        vec![
            r#"pod[0].addresses[0]: "10.0.0.2/32" has a prefix length; write the address alone, "10.0.0.2""#,
            "pod[0].addresses[2]: 10.0.0.4 is a second address of the family of 10.0.0.3; a pod has at most one IPv4 and one IPv6 address",
            "pod[1].addresses: empty: a pod needs at least one address",
        ]
    );
}

#[test]
fn routes_name_an_interface_and_a_reachable_gateway() {
    let text = format!(
        r#"{BASE}
[[route]]
prefix = "10.9.0.1/16"
interface = "uplink0"

[[route]]
prefix = "10.8.0.0/16"
via = "192.168.60.2"
interface = "uplink0"

[[route]]
prefix = "fd20::/64"
via = "192.168.50.2"
interface = "uplink0"

[[route]]
prefix = "10.8.0.0/16"
interface = "uplink9"
"#
    );
    assert_eq!(
        problems(&text),
        vec![
            r#"route[0].prefix: "10.9.0.1/16" has host bits set; write the prefix as 10.9.0.0/16"#,
            r#"route[1].via: 192.168.60.2 is not in a subnet of interface "uplink0" (its addresses: 192.168.50.1/24, fd00:50::1/64); give a gateway on that link, or give the interface an address whose subnet covers it"#,
            "route[2].via: 192.168.50.2 and the prefix fd20::/64 are of different IP families; give a gateway of the prefix's family",
            "route[3].prefix: 10.8.0.0/16 is already routed by route[1].prefix; give each prefix one route",
            r#"route[3].interface: there is no interface named "uplink9"; name one of uplink0"#,
        ]
    );
}

#[test]
fn mtu_and_buffers_are_checked() {
    let text = r#"
[node]
name = "n"
buffers_per_worker = 10

[[interface]]
name = "t"
kind = "tap"
addresses = ["fd00::1/64"]
mtu = 1000
"#;
    assert_eq!(
        problems(text),
        vec![
            "node.buffers_per_worker: 10 is less than one full vector; give at least 256",
            "interface[0].mtu: 1000 is below 1280, the smallest MTU IPv6 allows, and this interface has an IPv6 address",
        ]
    );
}

#[test]
fn load_names_the_file_it_cannot_read() {
    let error = Config::load(Path::new("/nonexistent/podwire.toml")).unwrap_err();
    assert!(matches!(error, ConfigError::Read { .. }));
    assert!(
        error
            .to_string()
            .starts_with("cannot read the config file /nonexistent/podwire.toml: "),
        "{error}"
    );
}

#[test]
fn an_af_xdp_interface_names_its_kernel_interface_and_queue() {
    let text = format!(
        r#"{MINIMAL}
[[interface]]
name = "uplink0"
kind = "af-xdp"
host_interface = "eth0"
addresses = ["192.168.50.1/24"]

[[interface]]
name = "uplink1"
kind = "af-xdp"
host_interface = "eth1"
netns = "up1"
xdp_queue = 3
addresses = ["192.168.51.1/24"]
"#
    );
    let config = Config::parse(&text).unwrap();
    let devices: Vec<&Device> = config.interfaces.iter().map(|i| &i.device).collect();
    assert_eq!(
        devices,
        [
            &Device::AfXdp(XdpInterface {
                kernel: KernelInterface {
                    name: "eth0".into(),
                    netns: None,
                },
                queue: 0,
            }),
            &Device::AfXdp(XdpInterface {
                kernel: KernelInterface {
                    name: "eth1".into(),
                    netns: Some(Netns::Named("up1".into())),
                },
                queue: 3,
            }),
        ]
    );
    assert_eq!(config.interfaces[0].kind().to_string(), "af-xdp");
    // Uplinks like af-packet ones: pod traffic leaving through them is masqueraded.
    assert_eq!(
        config.services.masquerade_interfaces,
        ["uplink0", "uplink1"]
    );
}

#[test]
fn an_af_xdp_interface_needs_its_kernel_interface_and_only_it_has_a_queue() {
    let text = format!(
        r#"{MINIMAL}
[[interface]]
name = "uplink0"
kind = "af-xdp"

[[interface]]
name = "uplink1"
kind = "af-packet"
host_interface = "eth1"
xdp_queue = 1
"#
    );
    assert_eq!(
        problems(&text),
        vec![
            r#"interface[0].host_interface: missing: kind "af-xdp" attaches an existing kernel interface; name it here"#,
            r#"interface[1].xdp_queue: only an af-xdp interface has xdp_queue, and this one is kind = "af-packet"; remove it or set kind = "af-xdp""#,
        ]
    );
}

mod cluster;
mod l2;
mod memif;
mod network;
mod pod_mtu;
mod services;
