//! A cyclonus-style generator (mattfenwick/cyclonus `pkg/generator`, reference §3.3):
//! scenarios of random NetworkPolicies over the x/y/z × a/b/c model (pods serving 80 and 81
//! over TCP, UDP and SCTP), in most of them together with random ClusterNetworkPolicies of
//! the Admin and Baseline tiers, some followed by a perturbation (another policy, an update,
//! a deletion, a label change) and a second probe.
//!
//! NetworkPolicies: cyclonus's pieces and then some: targets and peers by podSelector,
//! namespaceSelector or both (nil, empty, matchLabels, every matchExpressions operator,
//! labels no pod has), ipBlocks around pod addresses with excepts (sometimes with host bits
//! set, sometimes of the other family), ports numbered, named (served, not served, served
//! over another protocol), ranges with endPort, protocols given or defaulted, policyTypes
//! absent, empty, one or both, rule lists absent, empty or not.
//!
//! ClusterNetworkPolicies: either tier, distinct priorities (equal ones are left to
//! implementations upstream) drawn so that name order and priority order disagree as often
//! as not, subjects and peers by `namespaces` or `pods` (with or without a
//! namespaceSelector) with the same selectors, `networks` peers around pod addresses (and
//! `/0`s of either family), every action, protocols absent or TCP, UDP and SCTP with port
//! numbers and ranges, or named ports (not beside a `networks` peer, which the API
//! refuses). Updates keep a policy's name and may move its priority.
//!
//! Deterministic: scenario `n` of seed `s` is always the same.

use podwire_model::service::Protocol;
use serde_json::{Map, Value, json};

use crate::case::{Change, cluster_policy};
use crate::model::{Cluster, Family, NAME_LABEL, NAMESPACES, PodId};

/// The model's pods as `namespace/name`, for label changes.
const POD_PATHS: [&str; 9] = [
    "x/a", "x/b", "x/c", "y/a", "y/b", "y/c", "z/a", "z/b", "z/c",
];
/// Ports every pod serves.
pub const PORTS: [u16; 2] = [80, 81];
/// Protocols every pod serves them over.
pub const PROTOCOLS: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp];

/// A small deterministic generator (splitmix64).
pub struct Rng(u64);

impl Rng {
    /// The generator of `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True `percent` times in a hundred.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    /// One of `items`.
    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }

    /// `items` in a random order (Fisher-Yates).
    fn shuffled<T: Clone>(&mut self, items: &[T]) -> Vec<T> {
        let mut items = items.to_vec();
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
        items
    }
}

/// One generated scenario.
pub struct Scenario {
    /// The pods' family.
    pub family: Family,
    /// What is done before the first probe.
    pub setup: Vec<Change>,
    /// What is done before the second probe; empty: there is none.
    pub then: Vec<Change>,
}

impl Scenario {
    /// The model it starts from.
    pub fn cluster(&self) -> Cluster {
        Cluster::new(self.family, &PORTS, &PROTOCOLS)
    }
}

/// Scenario `number` of `seed`.
pub fn scenario(seed: u64, number: u64) -> Scenario {
    let mut rng = Rng::new(seed ^ number.wrapping_mul(0x2545_f491_4f6c_dd1d));
    let family = if number.is_multiple_of(2) {
        Family::V4
    } else {
        Family::V6
    };
    let cluster = Cluster::new(family, &PORTS, &PROTOCOLS);
    let mut setup = Vec::new();
    // Extra labels, so that selectors by them take in some pods and namespaces.
    for pod in POD_PATHS {
        if rng.chance(40) {
            setup.push(Change::PodLabels {
                pod,
                labels: rng.pick(&[&[("team", "red")][..], &[("team", "blue")][..]]),
            });
        }
    }
    for namespace in NAMESPACES {
        if rng.chance(40) {
            setup.push(Change::NamespaceLabel {
                namespace,
                key: "env",
                value: rng.pick(&["prod", "dev"]),
            });
        }
    }
    // Two scenarios in three have ClusterNetworkPolicies; then fewer NetworkPolicies (none
    // at times), so that the Baseline tier meets pods no NetworkPolicy isolates.
    let tiers = rng.chance(67);
    let made = Made {
        policies: if tiers {
            rng.below(3)
        } else {
            1 + rng.below(3)
        },
        cluster_policies: if tiers { 1 + rng.below(3) } else { 0 },
        priorities: rng.shuffled(&PRIORITIES),
    };
    for n in 0..made.policies {
        let namespace = rng.pick(&NAMESPACES);
        setup.push(apply(&mut rng, &cluster, n, namespace));
    }
    for n in 0..made.cluster_policies {
        setup.push(apply_cluster(&mut rng, &cluster, n, made.priorities[n]));
    }
    let then = if rng.chance(30) {
        vec![perturbation(&mut rng, &cluster, &setup, &made)]
    } else {
        Vec::new()
    };
    Scenario {
        family,
        setup,
        then,
    }
}

/// Priorities of ClusterNetworkPolicies, shuffled for each scenario: policy `n` of the setup
/// (or the one a perturbation adds) takes the `n`-th, and an update that moves policy `n`
/// the `n + 4`-th, so that no two policies share one.
const PRIORITIES: [i32; 8] = [0, 1, 2, 10, 50, 100, 999, 1000];
/// How far an update moves a ClusterNetworkPolicy in [`PRIORITIES`]: past every index a
/// scenario gives a new policy (at most three in the setup, one more after).
const MOVED: usize = 4;

/// What a scenario's setup made.
struct Made {
    /// NetworkPolicies, `gen-0` on.
    policies: usize,
    /// ClusterNetworkPolicies, `gen-cluster-0` on.
    cluster_policies: usize,
    /// The priorities of its ClusterNetworkPolicies, by index (see [`PRIORITIES`]).
    priorities: Vec<i32>,
}

/// A change between two probes, after `setup` made `made`.
fn perturbation(rng: &mut Rng, cluster: &Cluster, setup: &[Change], made: &Made) -> Change {
    let choices = match made.cluster_policies {
        0 => 5,
        _ => 8,
    };
    match rng.below(choices) {
        // A new version of a policy: same name, same namespace.
        1 if made.policies > 0 => {
            let n = rng.below(made.policies);
            let namespace = setup
                .iter()
                .find_map(|c| match c {
                    Change::Apply { namespace, policy }
                        if policy["metadata"]["name"] == policy_name(n) =>
                    {
                        Some(*namespace)
                    }
                    _ => None,
                })
                .unwrap_or("x");
            apply(rng, cluster, n, namespace)
        }
        0 | 1 => {
            let namespace = rng.pick(&NAMESPACES);
            apply(rng, cluster, made.policies, namespace)
        }
        2 => Change::DeletePolicies,
        3 => Change::PodLabels {
            pod: rng.pick(&POD_PATHS),
            labels: rng.pick(&[
                &[("team", "red")][..],
                &[("team", "blue")][..],
                &[("pod", "c")][..],
            ]),
        },
        4 => Change::NamespaceLabel {
            namespace: rng.pick(&NAMESPACES),
            key: "env",
            value: rng.pick(&["prod", "dev", "test"]),
        },
        5 => {
            let n = made.cluster_policies;
            apply_cluster(rng, cluster, n, made.priorities[n])
        }
        // A new version of a ClusterNetworkPolicy, at its priority or moved.
        6 => {
            let n = rng.below(made.cluster_policies);
            let priority = match rng.chance(50) {
                true => made.priorities[n],
                false => made.priorities[n + MOVED],
            };
            apply_cluster(rng, cluster, n, priority)
        }
        _ => Change::DeleteCluster {
            name: cluster_policy_name(rng.below(made.cluster_policies)),
        },
    }
}

/// The name of the `n`-th generated policy of a scenario.
fn policy_name(n: usize) -> String {
    format!("gen-{n}")
}

/// The name of the `n`-th generated ClusterNetworkPolicy of a scenario.
fn cluster_policy_name(n: usize) -> String {
    format!("gen-cluster-{n}")
}

/// Creates (or replaces) policy `n` in `namespace`, with random content.
fn apply(rng: &mut Rng, cluster: &Cluster, n: usize, namespace: &'static str) -> Change {
    let mut spec = Map::new();
    spec.insert("podSelector".into(), pod_selector(rng));
    match rng.below(8) {
        0 => {}
        1 => {
            spec.insert("policyTypes".into(), json!([]));
        }
        2 | 3 => {
            spec.insert("policyTypes".into(), json!(["Ingress"]));
        }
        4 | 5 => {
            spec.insert("policyTypes".into(), json!(["Egress"]));
        }
        6 => {
            spec.insert("policyTypes".into(), json!(["Ingress", "Egress"]));
        }
        _ => {
            spec.insert("policyTypes".into(), json!(["Egress", "Ingress"]));
        }
    }
    for (field, peers) in [("ingress", "from"), ("egress", "to")] {
        match rng.below(10) {
            0..=2 => {}
            3 | 4 => {
                spec.insert(field.into(), json!([]));
            }
            _ => {
                let rules: Vec<Value> = (0..1 + rng.below(3))
                    .map(|_| rule(rng, cluster, peers))
                    .collect();
                spec.insert(field.into(), Value::Array(rules));
            }
        }
    }
    Change::Apply {
        namespace,
        policy: json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": { "name": policy_name(n) },
            "spec": spec,
        }),
    }
}

/// A rule: ports and peers (in field `peers_field`), each absent, empty or some.
fn rule(rng: &mut Rng, cluster: &Cluster, peers_field: &str) -> Value {
    let mut rule = Map::new();
    match rng.below(10) {
        0..=3 => {}
        4 => {
            rule.insert("ports".into(), json!([]));
        }
        _ => {
            let ports: Vec<Value> = (0..1 + rng.below(2)).map(|_| port(rng)).collect();
            rule.insert("ports".into(), Value::Array(ports));
        }
    }
    match rng.below(10) {
        0..=2 => {}
        3 => {
            rule.insert(peers_field.into(), json!([]));
        }
        _ => {
            let peers: Vec<Value> = (0..1 + rng.below(3)).map(|_| peer(rng, cluster)).collect();
            rule.insert(peers_field.into(), Value::Array(peers));
        }
    }
    Value::Object(rule)
}

/// A port entry.
fn port(rng: &mut Rng) -> Value {
    let mut port = Map::new();
    if let Some(protocol) = rng.pick(&[None, None, Some("TCP"), Some("UDP"), Some("SCTP")]) {
        port.insert("protocol".into(), json!(protocol));
    }
    match rng.below(12) {
        0 | 1 => {}
        2 | 3 => {
            port.insert("port".into(), json!(80));
        }
        4 | 5 => {
            port.insert("port".into(), json!(81));
        }
        6 => {
            port.insert("port".into(), json!(82));
        }
        7..=9 => {
            let names = [
                "serve-80-tcp",
                "serve-81-tcp",
                "serve-80-udp",
                "serve-81-udp",
                "serve-80-sctp",
                "serve-81-sctp",
                "serve-99-tcp",
                "dns",
            ];
            port.insert("port".into(), json!(rng.pick(&names)));
        }
        _ => {
            let (first, last) =
                rng.pick(&[(79, 80), (80, 81), (53, 84), (81, 81), (82, 90), (1, 79)]);
            port.insert("port".into(), json!(first));
            port.insert("endPort".into(), json!(last));
        }
    }
    Value::Object(port)
}

/// A peer: by pod, by namespace, by both, or an ipBlock.
fn peer(rng: &mut Rng, cluster: &Cluster) -> Value {
    match rng.below(8) {
        0 | 1 => json!({ "podSelector": pod_selector(rng) }),
        2 | 3 => json!({ "namespaceSelector": namespace_selector(rng) }),
        4 | 5 => json!({
            "podSelector": pod_selector(rng),
            "namespaceSelector": namespace_selector(rng),
        }),
        _ => json!({ "ipBlock": ip_block(rng, cluster) }),
    }
}

/// A pod selector.
fn pod_selector(rng: &mut Rng) -> Value {
    rng.pick(&[
        json!({}),
        json!({ "matchLabels": {} }),
        json!({ "matchLabels": { "pod": "a" } }),
        json!({ "matchLabels": { "pod": "b" } }),
        json!({ "matchLabels": { "pod": "c", "team": "blue" } }),
        json!({ "matchLabels": { "team": "red" } }),
        json!({ "matchLabels": { "pod": "d" } }),
        json!({ "matchExpressions": [{ "key": "pod", "operator": "In", "values": ["a", "b"] }] }),
        json!({ "matchExpressions": [{ "key": "pod", "operator": "NotIn", "values": ["c"] }] }),
        json!({ "matchExpressions": [{ "key": "team", "operator": "Exists" }] }),
        json!({ "matchExpressions": [{ "key": "team", "operator": "DoesNotExist" }] }),
        json!({ "matchExpressions": [{ "key": "pod", "operator": "DoesNotExist" }] }),
        json!({
            "matchLabels": { "pod": "b" },
            "matchExpressions": [{ "key": "team", "operator": "NotIn", "values": ["red"] }],
        }),
    ])
}

/// A namespace selector.
fn namespace_selector(rng: &mut Rng) -> Value {
    rng.pick(&[
        json!({}),
        json!({ "matchLabels": { "ns": "x" } }),
        json!({ "matchLabels": { NAME_LABEL: "y" } }),
        json!({ "matchLabels": { "env": "prod" } }),
        json!({ "matchExpressions": [{ "key": "ns", "operator": "In", "values": ["x", "y"] }] }),
        json!({ "matchExpressions": [{ "key": NAME_LABEL, "operator": "NotIn", "values": ["z"] }] }),
        json!({ "matchExpressions": [{ "key": "env", "operator": "Exists" }] }),
        json!({ "matchExpressions": [{ "key": "env", "operator": "DoesNotExist" }] }),
    ])
}

/// An ipBlock around a pod's address, with excepts around pods inside it.
fn ip_block(rng: &mut Rng, cluster: &Cluster) -> Value {
    let (lens, other_family) = match cluster.family {
        Family::V4 => (&[0, 8, 24, 27, 28, 29, 30, 31, 32][..], "::/0"),
        Family::V6 => (&[0, 64, 120, 123, 124, 125, 126, 127, 128][..], "0.0.0.0/0"),
    };
    if rng.chance(4) {
        return json!({ "cidr": other_family });
    }
    let around = PodId(rng.below(9));
    let len = rng.pick(lens);
    // Now and then with the pod's own address and host bits set, as cyclonus writes them.
    let cidr = if rng.chance(10) {
        format!("{}/{len}", cluster.address(around))
    } else {
        cluster.cidr_around(around, len)
    };
    let inside: Vec<PodId> = PodId::all()
        .filter(|p| cluster.cidr_around(*p, len) == cluster.cidr_around(around, len))
        .collect();
    let longer: Vec<u8> = lens.iter().copied().filter(|l| *l > len).collect();
    let mut except = Vec::new();
    if !longer.is_empty() {
        for _ in 0..rng.pick(&[0, 0, 1, 1, 2]) {
            let pod = rng.pick(&inside);
            except.push(cluster.cidr_around(pod, rng.pick(&longer)));
        }
    }
    if except.is_empty() && rng.chance(50) {
        json!({ "cidr": cidr })
    } else {
        json!({ "cidr": cidr, "except": except })
    }
}

/// Creates (or replaces) ClusterNetworkPolicy `n` with `priority`, with random content.
fn apply_cluster(rng: &mut Rng, cluster: &Cluster, n: usize, priority: i32) -> Change {
    let tier = match rng.chance(60) {
        true => "Admin",
        false => "Baseline",
    };
    let mut spec = json!({ "tier": tier, "priority": priority, "subject": pods(rng) });
    for (field, peers) in [("ingress", "from"), ("egress", "to")] {
        // Absent or empty (the same: no say in that direction), or some rules.
        match rng.below(8) {
            0 => {}
            1 => spec[field] = json!([]),
            _ => {
                let rules: Vec<Value> = (0..1 + rng.below(3))
                    .map(|_| tier_rule(rng, cluster, peers))
                    .collect();
                spec[field] = Value::Array(rules);
            }
        }
    }
    Change::ApplyCluster {
        policy: cluster_policy(&cluster_policy_name(n), spec),
    }
}

/// A subject, or a `namespaces` or `pods` peer.
fn pods(rng: &mut Rng) -> Value {
    if rng.chance(35) {
        return json!({ "namespaces": namespace_selector(rng) });
    }
    let mut pods = Map::new();
    // Absent, it selects every namespace, as `{}` does.
    if rng.chance(80) {
        pods.insert("namespaceSelector".into(), namespace_selector(rng));
    }
    pods.insert("podSelector".into(), pod_selector(rng));
    json!({ "pods": pods })
}

/// A ClusterNetworkPolicy rule, its peers in field `peers_field` (`from` or `to`).
fn tier_rule(rng: &mut Rng, cluster: &Cluster, peers_field: &str) -> Value {
    let mut rule = Map::new();
    if rng.chance(30) {
        rule.insert(
            "name".into(),
            json!(rng.pick(&["first", "then", "the-rest"])),
        );
    }
    rule.insert(
        "action".into(),
        json!(rng.pick(&["Accept", "Deny", "Pass"])),
    );
    let peers: Vec<Value> = (0..1 + rng.below(2))
        .map(|_| match peers_field == "to" && rng.chance(30) {
            true => networks(rng, cluster),
            false => pods(rng),
        })
        .collect();
    // The API refuses named ports in a rule with a networks peer: addresses have none.
    let named = !peers.iter().any(|p| p.get("networks").is_some());
    rule.insert(peers_field.into(), Value::Array(peers));
    if rng.chance(55) {
        let protocols: Vec<Value> = (0..1 + rng.below(2))
            .map(|_| tier_protocol(rng, named))
            .collect();
        rule.insert("protocols".into(), Value::Array(protocols));
    }
    Value::Object(rule)
}

/// A `networks` peer: one or two distinct prefixes around pod addresses, now and then a
/// `/0` of either family.
fn networks(rng: &mut Rng, cluster: &Cluster) -> Value {
    let (lens, every, other_family) = match cluster.family {
        Family::V4 => (&[0, 24, 28, 29, 30, 31, 32][..], "0.0.0.0/0", "::/0"),
        Family::V6 => (&[0, 120, 124, 125, 126, 127, 128][..], "::/0", "0.0.0.0/0"),
    };
    let mut cidrs: Vec<String> = Vec::new();
    for _ in 0..1 + rng.below(2) {
        let cidr = match rng.below(10) {
            0 => every.to_string(),
            1 => other_family.to_string(),
            _ => cluster.cidr_around(PodId(rng.below(9)), rng.pick(lens)),
        };
        if !cidrs.contains(&cidr) {
            cidrs.push(cidr);
        }
    }
    json!({ "networks": cidrs })
}

/// A `protocols` entry: a protocol with a port number or range, or (when `named`) a named
/// port.
fn tier_protocol(rng: &mut Rng, named: bool) -> Value {
    if named && rng.chance(25) {
        let names = [
            "serve-80-tcp",
            "serve-81-udp",
            "serve-80-sctp",
            "serve-81-tcp",
            "serve-99-tcp",
            "dns",
        ];
        return json!({ "destinationNamedPort": rng.pick(&names) });
    }
    let port = match rng.chance(65) {
        true => json!({ "number": rng.pick(&[80, 81, 82]) }),
        false => {
            let (start, end) = rng.pick(&[(79, 80), (80, 81), (53, 84), (81, 90), (1, 79)]);
            json!({ "range": { "start": start, "end": end } })
        }
    };
    json!({ rng.pick(&["tcp", "udp", "sctp"]): { "destinationPort": port } })
}
