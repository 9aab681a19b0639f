//! `[cluster]`: the sources, their defaults, what they do to `[[network]]` and `[services]`,
//! and each rule's problem with its field path.

use super::*;

/// A node of an etcd cluster with every key at its default; tests change and add keys.
const ETCD: &str = r#"
[node]
name = "node1"

[[interface]]
name = "uplink0"
kind = "af-packet"
host_interface = "veth-up"
addresses = ["fd00:60::1/64", "192.168.60.1/24", "192.168.61.1/24"]

[[network]]
name = "default"

[cluster]
source = "etcd"
cidrs = ["10.244.0.0/16", "fd44::/56"]
uplink = "uplink0"
etcd_endpoints = ["http://192.168.60.254:2379"]
"#;

/// `ETCD` with `source` set to `kubernetes` and without its etcd keys.
fn kubernetes(extra: &str) -> String {
    let text = ETCD
        .replace("source = \"etcd\"", "source = \"kubernetes\"")
        .replace("etcd_endpoints = [\"http://192.168.60.254:2379\"]\n", "");
    format!("{text}{extra}")
}

/// `text`, parsed; panics with the problems if it is refused.
fn parse(text: &str) -> Config {
    Config::parse(text).unwrap_or_else(|error| panic!("expected a valid config, got: {error}"))
}

/// `ETCD` with `extra` keys added to `[cluster]`.
fn etcd(extra: &str) -> String {
    format!("{ETCD}{extra}")
}

/// `ETCD` with the line `from` (which it must have) replaced by `to`.
fn etcd_with(from: &str, to: &str) -> String {
    assert!(ETCD.contains(from), "ETCD has no {from:?}");
    ETCD.replace(from, to)
}

fn join(config: &Config) -> &ClusterJoin {
    config
        .cluster
        .join
        .as_ref()
        .expect("a cluster source joins")
}

#[test]
fn a_full_etcd_config_parses_into_typed_values() {
    let config = parse(
        &etcd(
            r#"network = "default"
tunnel_address = "192.168.61.1"
vni = 7
vxlan_port = 8472
etcd_endpoints = ["http://192.168.60.254:2379", "https://[fd00:60::fe]:2379/"]
etcd_prefix = "/lab/podwire/"
node_cidr_len4 = 20
node_cidr_len6 = 80
lease_ttl_s = 30
"#,
        )
        .replace("etcd_endpoints = [\"http://192.168.60.254:2379\"]\n", ""),
    );
    assert_eq!(
        config.cluster,
        ClusterConfig {
            source: ClusterSource::Etcd(EtcdSource {
                endpoints: vec![
                    "http://192.168.60.254:2379".into(),
                    "https://[fd00:60::fe]:2379/".into()
                ],
                prefix: "/lab/podwire/".into(),
                node_cidr_len4: 20,
                node_cidr_len6: 80,
                lease_ttl: Duration::from_secs(30),
            }),
            join: Some(ClusterJoin {
                cidrs: vec![cidr("10.244.0.0/16"), cidr("fd44::/56")],
                network: "default".into(),
                uplink: "uplink0".into(),
                tunnel_address: ip("192.168.61.1"),
                vni: 7,
                vxlan_port: 8472,
            }),
        }
    );
}

#[test]
fn an_etcd_config_gets_the_defaults() {
    let config = parse(ETCD);
    assert_eq!(
        config.cluster.source,
        ClusterSource::Etcd(EtcdSource {
            endpoints: vec!["http://192.168.60.254:2379".into()],
            prefix: DEFAULT_ETCD_PREFIX.into(),
            node_cidr_len4: 24,
            node_cidr_len6: 64,
            lease_ttl: Duration::from_secs(10),
        })
    );
    // The uplink's first IPv4 address, though an IPv6 one comes before it.
    assert_eq!(
        join(&config),
        &ClusterJoin {
            cidrs: vec![cidr("10.244.0.0/16"), cidr("fd44::/56")],
            network: "default".into(),
            uplink: "uplink0".into(),
            tunnel_address: ip("192.168.60.1"),
            vni: DEFAULT_VNI,
            vxlan_port: DEFAULT_VXLAN_PORT,
        }
    );
    let only_v6 = parse(&etcd_with(
        "\"fd00:60::1/64\", \"192.168.60.1/24\", \"192.168.61.1/24\"",
        "\"fd00:60::1/64\", \"fd00:61::1/64\"",
    ));
    assert_eq!(join(&only_v6).tunnel_address, ip("fd00:60::1"));
}

#[test]
fn the_cluster_network_gets_its_families_from_the_cluster_cidrs() {
    let config = parse(ETCD);
    let network = &config.networks[0];
    assert!(network.pod_cidrs.is_empty(), "{network:?}");
    assert_eq!(network.pod_routes, [cidr("0.0.0.0/0"), cidr("::/0")]);
    let v4 = parse(&etcd_with(
        "cidrs = [\"10.244.0.0/16\", \"fd44::/56\"]",
        "cidrs = [\"10.244.0.0/16\"]",
    ));
    assert_eq!(v4.networks[0].pod_routes, [cidr("0.0.0.0/0")]);
}

#[test]
fn services_default_to_the_cluster_cidrs() {
    let text = format!(
        r#"{ETCD}
[[pod]]
name = "a"
netns = "podwire-a"
addresses = ["10.9.0.2"]

[[network]]
name = "cnf"
pod_cidrs = ["10.8.0.0/24"]
interface = "memif"
"#
    )
    .replace(
        "uplink = \"uplink0\"",
        "network = \"default\"\nuplink = \"uplink0\"",
    );
    let services = parse(&text).services;
    assert_eq!(
        services.cluster_cidrs,
        [
            cidr("10.244.0.0/16"),
            cidr("fd44::/56"),
            cidr("10.8.0.0/24"),
            cidr("10.9.0.2/32"),
        ]
    );
    // Unchanged by the cluster: the routed interfaces' addresses.
    assert_eq!(
        services.node_addresses,
        [ip("fd00:60::1"), ip("192.168.60.1"), ip("192.168.61.1")]
    );
}

#[test]
fn a_kubernetes_config_parses() {
    let config = parse(&kubernetes("kubeconfig = \"/etc/kubernetes/admin.conf\"\n"));
    assert_eq!(
        config.cluster.source,
        ClusterSource::Kubernetes(KubernetesSource {
            kubeconfig: Some(PathBuf::from("/etc/kubernetes/admin.conf")),
        })
    );
    assert_eq!(join(&config).network, "default");
    assert_eq!(
        join(&config).cidrs,
        [cidr("10.244.0.0/16"), cidr("fd44::/56")]
    );
    let inferred = parse(&kubernetes(""));
    assert_eq!(
        inferred.cluster.source,
        ClusterSource::Kubernetes(KubernetesSource { kubeconfig: None })
    );
}

#[test]
fn without_a_cluster_source_the_node_is_alone() {
    let alone = ClusterConfig {
        source: ClusterSource::Local,
        join: None,
    };
    assert_eq!(parse(MINIMAL).cluster, alone);
    assert_eq!(parse(&format!("{MINIMAL}[cluster]\n")).cluster, alone);
    assert_eq!(
        parse(&format!("{MINIMAL}[cluster]\nsource = \"local\"\n")).cluster,
        alone
    );
}

#[test]
fn keys_are_refused_with_the_sources_they_are_not_for() {
    let local = format!(
        r#"{BASE}
[cluster]
cidrs = ["10.244.0.0/16"]
uplink = "uplink0"
vni = 1
etcd_prefix = "/p/"
kubeconfig = "/k"
"#
    );
    assert_eq!(
        problems(&local),
        [
            r#"cluster.cidrs: only with source = "etcd" or "kubernetes"; the source is "local" (the default): remove cidrs, or set source = "etcd" or "kubernetes""#,
            r#"cluster.uplink: only with source = "etcd" or "kubernetes"; the source is "local" (the default): remove uplink, or set source = "etcd" or "kubernetes""#,
            r#"cluster.vni: only with source = "etcd" or "kubernetes"; the source is "local" (the default): remove vni, or set source = "etcd" or "kubernetes""#,
            r#"cluster.etcd_prefix: only with source = "etcd"; the source is "local" (the default): remove etcd_prefix, or set source = "etcd""#,
            r#"cluster.kubeconfig: only with source = "kubernetes"; the source is "local" (the default): remove kubeconfig, or set source = "kubernetes""#,
        ]
    );
    assert_eq!(
        problems(&etcd("kubeconfig = \"/k\"\n")),
        [
            r#"cluster.kubeconfig: only with source = "kubernetes"; the source is "etcd": remove kubeconfig, or set source = "kubernetes""#
        ]
    );
    let found = problems(&kubernetes(
        "etcd_endpoints = [\"http://a:1\"]\netcd_prefix = \"/p/\"\nnode_cidr_len4 = 24\nnode_cidr_len6 = 64\nlease_ttl_s = 10\n",
    ));
    let keys: Vec<_> = found.iter().map(|p| p.split(':').next().unwrap()).collect();
    assert_eq!(
        keys,
        [
            "cluster.etcd_endpoints",
            "cluster.etcd_prefix",
            "cluster.node_cidr_len4",
            "cluster.node_cidr_len6",
            "cluster.lease_ttl_s",
        ]
    );
    assert!(
        found
            .iter()
            .all(|p| p.contains("only with source = \"etcd\"; the source is \"kubernetes\"")),
        "{found:?}"
    );
}

#[test]
fn unknown_keys_and_sources_are_refused() {
    let typo = syntax_error(&etcd("etcd_endpoint = [\"http://a:1\"]\n"));
    assert!(typo.contains("etcd_endpoint"), "{typo}");
    let source = syntax_error(&etcd_with("source = \"etcd\"", "source = \"consul\""));
    assert!(source.contains("kubernetes"), "{source}");
}

#[test]
fn the_cluster_cidrs_are_required_one_per_family_and_checked_like_pod_cidrs() {
    let without = etcd_with("cidrs = [\"10.244.0.0/16\", \"fd44::/56\"]\n", "");
    assert_eq!(
        problems(&without),
        [
            r#"cluster.cidrs: missing: a cluster needs its pod CIDRs, one or two (one IPv4, one IPv6), from which each node gets its share, e.g. cidrs = ["10.244.0.0/16", "fd00:244::/56"]"#
        ]
    );
    let empty = etcd_with("[\"10.244.0.0/16\", \"fd44::/56\"]", "[]");
    assert!(problems(&empty)[0].starts_with("cluster.cidrs: empty: a cluster needs"));
    let three = etcd_with(
        "[\"10.244.0.0/16\", \"fd44::/56\"]",
        "[\"10.244.0.0/16\", \"10.245.0.0/16\", \"10.244.1.0/16\"]",
    );
    assert_eq!(
        problems(&three),
        [
            "cluster.cidrs: 3 CIDRs given; the cluster has at most two, one IPv4 and one IPv6",
            "cluster.cidrs[1]: 10.245.0.0/16 is a second IPv4 pod CIDR besides 10.244.0.0/16; the cluster has at most one per family",
            r#"cluster.cidrs[2]: "10.244.1.0/16" has host bits set; write the prefix as 10.244.0.0/16"#,
        ]
    );
    // Nothing else may own their addresses: here the uplink's subnet.
    let over_uplink = etcd_with("\"fd44::/56\"", "\"fd00:60::/56\"");
    let found = problems(&over_uplink);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with(
            "cluster.cidrs[1]: fd00:60::/56 overlaps fd00:60::/64, the subnet of interface[0].addresses[0]"
        ),
        "{found:?}"
    );
}

#[test]
fn other_networks_and_services_stay_out_of_the_cluster_cidrs() {
    let text = format!(
        r#"{ETCD}
[[network]]
name = "cnf"
pod_cidrs = ["10.244.7.0/24"]

[services]
cidrs = ["fd44::/112"]
"#
    )
    .replace(
        "uplink = \"uplink0\"",
        "network = \"default\"\nuplink = \"uplink0\"",
    );
    assert_eq!(
        problems(&text),
        [
            "network[1].pod_cidrs[0]: 10.244.7.0/24 overlaps 10.244.0.0/16, the pod CIDR of cluster.cidrs[0]; each network hands out addresses of its own: choose a CIDR that overlaps no other network's",
            "services.cidrs[0]: fd44::/112 overlaps fd44::/56, the pod CIDR of cluster.cidrs[1]; a pod's address cannot also be a ClusterIP: choose a service CIDR outside every pod CIDR",
        ]
    );
}

#[test]
fn the_cluster_network_is_named_or_the_only_one() {
    let several = format!("{ETCD}\n[[network]]\nname = \"cnf\"\npod_cidrs = [\"10.8.0.0/24\"]\n");
    let found = problems(&several);
    assert_eq!(
        found,
        [
            "cluster.network: missing: there are several networks (default, cnf); name the one whose pods get their addresses from cluster.cidrs",
            r#"network[0].pod_cidrs: missing: give the network's pod CIDRs, one or two (one IPv4, one IPv6), e.g. pod_cidrs = ["10.244.0.0/24", "fd00:244::/112"]"#,
        ]
    );
    let unknown = etcd("network = \"pods\"\n");
    assert_eq!(
        problems(&unknown)[0],
        r#"cluster.network: there is no [[network]] named "pods"; name one of default"#
    );
    let none = etcd_with("[[network]]\nname = \"default\"\n", "");
    assert_eq!(
        problems(&none),
        [
            "cluster.network: there is no [[network]]; add one for the cluster's pods, without pod_cidrs (each node gets its share of cluster.cidrs)"
        ]
    );
}

#[test]
fn the_cluster_network_is_routed_without_pod_cidrs() {
    let text = etcd_with(
        "name = \"default\"\n",
        "name = \"default\"\npod_cidrs = [\"10.244.1.0/24\"]\nforwarding = \"bridged\"\n",
    );
    assert_eq!(
        problems(&text),
        [
            r#"network[0].pod_cidrs: network "default" is the cluster's network (cluster.network): its pod CIDRs are this node's share of cluster.cidrs, claimed from etcd or read from the Node's spec.podCIDRs at start; remove pod_cidrs, or name another network in cluster.network"#,
            r#"network[0].forwarding: network "default" is the cluster's network (cluster.network), whose pods are reached from other nodes by routing; set forwarding = "routed", or name another network in cluster.network"#,
        ]
    );
    // Its MTU is checked against the cluster's families.
    let small = etcd_with("name = \"default\"\n", "name = \"default\"\nmtu = 1000\n");
    assert_eq!(
        problems(&small),
        [
            "network[0].mtu: 1000 is below 1280, the smallest MTU IPv6 allows, and this network has the IPv6 pod CIDR fd44::/56; give at least 1280"
        ]
    );
}

#[test]
fn the_uplink_is_a_routed_kernel_interface_with_an_address() {
    let missing = etcd_with("uplink = \"uplink0\"\n", "");
    assert_eq!(
        problems(&missing),
        [
            "cluster.uplink: missing: name the [[interface]] the VXLAN tunnels to other nodes run over (an af-packet or af-xdp interface with an address)"
        ]
    );
    let unknown = etcd_with("uplink = \"uplink0\"", "uplink = \"eth0\"");
    assert_eq!(
        problems(&unknown),
        [r#"cluster.uplink: there is no interface named "eth0"; name one of uplink0"#]
    );
    let others = r#"
[[interface]]
name = "cnf0"
kind = "memif"
addresses = ["10.1.0.1/24"]

[[interface]]
name = "l2"
kind = "tap"
bridge_domain = "bd"

[[interface]]
name = "bare"
kind = "tap"

[[bridge_domain]]
name = "bd"
"#;
    for (name, problem) in [
        (
            "cnf0",
            r#"cluster.uplink: interface "cnf0" is a memif interface; the tunnels run over the node's network: name an af-packet or af-xdp (or tap) interface"#,
        ),
        (
            "l2",
            r#"cluster.uplink: interface "l2" forwards by MAC (bridge_domain "bd"); the tunnels run over a routed interface, one with addresses"#,
        ),
        (
            "bare",
            r#"cluster.uplink: interface "bare" has no address; the tunnels to other nodes end on one of its addresses: give it addresses"#,
        ),
    ] {
        let text = format!("{ETCD}{others}")
            .replace("uplink = \"uplink0\"", &format!("uplink = \"{name}\""));
        assert_eq!(problems(&text), [problem]);
    }
    // A tap uplink with an address is fine.
    let tap = format!("{ETCD}{others}")
        .replace("uplink = \"uplink0\"", "uplink = \"cnf0\"")
        .replace(
            "name = \"cnf0\"\nkind = \"memif\"",
            "name = \"cnf0\"\nkind = \"tap\"",
        );
    assert_eq!(join(&parse(&tap)).tunnel_address, ip("10.1.0.1"));
}

#[test]
fn the_tunnel_address_is_one_of_the_uplinks() {
    assert_eq!(
        problems(&etcd("tunnel_address = \"192.168.60.2\"\n")),
        [
            r#"cluster.tunnel_address: 192.168.60.2 is not an address of the uplink "uplink0" (it has fd00:60::1, 192.168.60.1, 192.168.61.1); give one of them, or leave tunnel_address out for the first"#
        ]
    );
    assert_eq!(
        problems(&etcd("tunnel_address = \"192.168.60.1/24\"\n")),
        [
            r#"cluster.tunnel_address: "192.168.60.1/24" has a prefix length; write the address alone, "192.168.60.1""#
        ]
    );
    let v6 = parse(&etcd("tunnel_address = \"fd00:60::1\"\n"));
    assert_eq!(join(&v6).tunnel_address, ip("fd00:60::1"));
}

#[test]
fn vni_and_vxlan_port_are_in_range() {
    for vni in [0, 16_777_216] {
        assert_eq!(
            problems(&etcd(&format!("vni = {vni}\n"))),
            [format!(
                "cluster.vni: {vni} is out of range; a VXLAN network identifier is from 1 to 16777215, the same on every node"
            )]
        );
    }
    assert_eq!(join(&parse(&etcd("vni = 16777215\n"))).vni, 16_777_215);
    for port in [0, 65_536] {
        assert_eq!(
            problems(&etcd(&format!("vxlan_port = {port}\n"))),
            [format!(
                "cluster.vxlan_port: {port} is not a UDP port; give 1 to 65535, the same on every node (4789 by default)"
            )]
        );
    }
    assert_eq!(
        join(&parse(&etcd("vxlan_port = 65535\n"))).vxlan_port,
        65_535
    );
}

#[test]
fn etcd_endpoints_are_required_urls_each_once() {
    let without = etcd_with("etcd_endpoints = [\"http://192.168.60.254:2379\"]\n", "");
    assert_eq!(
        problems(&without),
        [
            r#"cluster.etcd_endpoints: missing: give the client URLs of the etcd cluster, e.g. "http://192.168.60.254:2379""#
        ]
    );
    let empty = etcd_with("[\"http://192.168.60.254:2379\"]", "[]");
    assert!(problems(&empty)[0].starts_with("cluster.etcd_endpoints: empty: give the client URLs"));
    let bad = etcd_with(
        "[\"http://192.168.60.254:2379\"]",
        "[\"http://a:1\", \"192.168.60.254:2379\", \"http://a:1\"]",
    );
    assert_eq!(
        problems(&bad),
        [
            r#"cluster.etcd_endpoints[1]: "192.168.60.254:2379" is not an http:// or https:// URL; give etcd's client URL, e.g. "http://192.168.60.254:2379""#,
            r#"cluster.etcd_endpoints[2]: "http://a:1" is already cluster.etcd_endpoints[0]; give each endpoint once"#,
        ]
    );
}

#[test]
fn the_etcd_prefix_is_a_directory() {
    assert_eq!(
        problems(&etcd("etcd_prefix = \"podwire\"\n")),
        [
            r#"cluster.etcd_prefix: "podwire" must start and end with '/', like "/podwire/", so that podwire's keys are apart from others"#
        ]
    );
}

#[test]
fn node_cidr_lengths_fit_the_cluster_cidrs() {
    assert_eq!(
        problems(&etcd("node_cidr_len4 = 15\nnode_cidr_len6 = 127\n")),
        [
            "cluster.node_cidr_len4: /15 does not fit the cluster CIDR 10.244.0.0/16; each node's pod CIDR is a part of it: give 16 to 30 (16 makes a cluster of one node)",
            "cluster.node_cidr_len6: /127 does not fit the cluster CIDR fd44::/56; each node's pod CIDR is a part of it: give 56 to 126 (56 makes a cluster of one node)",
        ]
    );
    assert_eq!(
        problems(&etcd("node_cidr_len4 = 31\n"))[0],
        "cluster.node_cidr_len4: /31 does not fit the cluster CIDR 10.244.0.0/16; each node's pod CIDR is a part of it: give 16 to 30 (16 makes a cluster of one node)"
    );
    // The default /64 is too short for a /112: say that it is the default.
    let small = etcd_with("\"fd44::/56\"", "\"fd44::/112\"");
    assert_eq!(
        problems(&small),
        [
            "cluster.node_cidr_len6: the default /64 does not fit the cluster CIDR fd44::/112; each node's pod CIDR is a part of it: give 112 to 126 (112 makes a cluster of one node)"
        ]
    );
    // A family the cluster does not have is not checked.
    let v4 = etcd_with("[\"10.244.0.0/16\", \"fd44::/56\"]", "[\"10.244.0.0/16\"]");
    let config = parse(&format!("{v4}node_cidr_len6 = 8\nnode_cidr_len4 = 16\n"));
    let ClusterSource::Etcd(etcd) = &config.cluster.source else {
        panic!("{:?}", config.cluster.source);
    };
    assert_eq!((etcd.node_cidr_len4, etcd.node_cidr_len6), (16, 8));
}

#[test]
fn the_lease_lasts_2_to_3600_seconds() {
    for ttl in [1, 3601] {
        assert_eq!(
            problems(&etcd(&format!("lease_ttl_s = {ttl}\n"))),
            [format!(
                "cluster.lease_ttl_s: {ttl} is out of range; give 2 to 3600 seconds: how long a node that stopped is still taken for alive"
            )]
        );
    }
    let ClusterSource::Etcd(etcd) = parse(&etcd("lease_ttl_s = 2\n")).cluster.source else {
        panic!("an etcd source");
    };
    assert_eq!(etcd.lease_ttl, Duration::from_secs(2));
}

#[test]
fn the_kubeconfig_is_an_absolute_path() {
    assert_eq!(
        problems(&kubernetes("kubeconfig = \"admin.conf\"\n")),
        [
            r#"cluster.kubeconfig: "admin.conf" is not an absolute path; the daemon's working directory is not fixed, so give the full path"#
        ]
    );
}
