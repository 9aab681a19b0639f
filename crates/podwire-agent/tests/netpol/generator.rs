//! A cyclonus-style generator (mattfenwick/cyclonus `pkg/generator`, reference §3.3):
//! scenarios of one to three random NetworkPolicies over the x/y/z × a/b/c model (pods
//! serving 80 and 81 over TCP, UDP and SCTP), some followed by a perturbation (another
//! policy, an update, a deletion, a label change) and a second probe. The pieces are
//! cyclonus's and then some: targets and peers by podSelector, namespaceSelector or both
//! (nil, empty, matchLabels, every matchExpressions operator, labels no pod has), ipBlocks
//! around pod addresses with excepts (sometimes with host bits set, sometimes of the other
//! family), ports numbered, named (served, not served, served over another protocol),
//! ranges with endPort, protocols given or defaulted, policyTypes absent, empty, one or
//! both, rule lists absent, empty or not.
//!
//! Deterministic: scenario `n` of seed `s` is always the same.

use podwire_model::service::Protocol;
use serde_json::{Map, Value, json};

use crate::case::Change;
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
    let policies = 1 + rng.below(3);
    for n in 0..policies {
        let namespace = rng.pick(&NAMESPACES);
        setup.push(apply(&mut rng, &cluster, n, namespace));
    }
    let then = if rng.chance(30) {
        vec![perturbation(&mut rng, &cluster, &setup, policies)]
    } else {
        Vec::new()
    };
    Scenario {
        family,
        setup,
        then,
    }
}

/// A change between two probes, after `setup` made `policies` policies.
fn perturbation(rng: &mut Rng, cluster: &Cluster, setup: &[Change], policies: usize) -> Change {
    match rng.below(5) {
        0 => {
            let namespace = rng.pick(&NAMESPACES);
            apply(rng, cluster, policies, namespace)
        }
        // A new version of a policy: same name, same namespace.
        1 => {
            let n = rng.below(policies);
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
        2 => Change::DeletePolicies,
        3 => Change::PodLabels {
            pod: rng.pick(&POD_PATHS),
            labels: rng.pick(&[
                &[("team", "red")][..],
                &[("team", "blue")][..],
                &[("pod", "c")][..],
            ]),
        },
        _ => Change::NamespaceLabel {
            namespace: rng.pick(&NAMESPACES),
            key: "env",
            value: rng.pick(&["prod", "dev", "test"]),
        },
    }
}

/// The name of the `n`-th generated policy of a scenario.
fn policy_name(n: usize) -> String {
    format!("gen-{n}")
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
