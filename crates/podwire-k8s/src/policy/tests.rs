//! The semantics on the upstream e2e model: namespaces x, y, z (labelled `ns=<name>`) ×
//! pods a, b, c (labelled `pod=<name>`, address 10.0.<ns>.<pod>), each serving ports 80
//! and 81 over TCP, UDP and SCTP under the names `serve-<port>-<proto>`. Every case
//! compiles its policies, then checks each ordered pair of pods (but a pod with itself)
//! against the expected reachability, with [`evaluate`] and with [`explain`].

use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use podwire_model::cidr::Cidr;
use podwire_model::policy::{PeerBlock, PolicyDirection, PolicyId, PortRange, RuleId};
use serde_json::{Value, json};

use super::*;
use crate::test_support::{merge, typed};

pub(super) const NODE: &str = "node-a";
const NAMESPACES: [&str; 3] = ["x", "y", "z"];
const PODS: [&str; 3] = ["a", "b", "c"];
pub(super) const TCP: Protocol = Protocol::Tcp;
pub(super) const UDP: Protocol = Protocol::Udp;
const SCTP: Protocol = Protocol::Sctp;

pub(super) fn node() -> NodeContext {
    NodeContext {
        node_name: NODE.into(),
    }
}

pub(super) fn ip(namespace: &str, pod: &str) -> IpAddr {
    let n = |list: &[&str], name: &str| list.iter().position(|x| *x == name).unwrap() + 1;
    format!("10.0.{}.{}", n(&NAMESPACES, namespace), n(&PODS, pod))
        .parse()
        .unwrap()
}

fn container_ports() -> Value {
    let mut ports = Vec::new();
    for port in [80, 81] {
        for protocol in ["TCP", "UDP", "SCTP"] {
            let name = format!("serve-{port}-{}", protocol.to_lowercase());
            ports.push(json!({"name": name, "containerPort": port, "protocol": protocol}));
        }
    }
    Value::Array(ports)
}

fn model_pod(namespace: &str, name: &str) -> Pod {
    typed(json!({
        "metadata": {"name": name, "namespace": namespace, "labels": {"pod": name}},
        "spec": {"containers": [{"name": "serve", "ports": container_ports()}]}
    }))
}

/// The nine pods. Namespace z has no object: it is known by its pods only.
pub(super) struct Model {
    pub(super) pods: Vec<Pod>,
    pub(super) namespaces: Vec<Namespace>,
}

impl Model {
    pub(super) fn new() -> Model {
        let pods = NAMESPACES
            .iter()
            .flat_map(|ns| PODS.iter().map(move |p| model_pod(ns, p)))
            .collect();
        let namespaces = ["x", "y"]
            .iter()
            .map(|ns| typed(json!({"metadata": {"name": ns, "labels": {"ns": ns}}})))
            .collect();
        Model { pods, namespaces }
    }

    pub(super) fn infos(&self) -> Vec<PodInfo<'_>> {
        self.pods
            .iter()
            .map(|pod| PodInfo {
                pod,
                ips: vec![ip(
                    pod.metadata.namespace.as_deref().unwrap(),
                    pod.metadata.name.as_deref().unwrap(),
                )],
                node: Some(NODE.into()),
            })
            .collect()
    }

    fn compile(&self, policies: &[Value]) -> Vec<PodPolicy> {
        self.compile_with(policies, &[])
    }

    /// Compiles NetworkPolicies and ClusterNetworkPolicies, both as JSON.
    pub(super) fn compile_with(
        &self,
        policies: &[Value],
        cluster_policies: &[Value],
    ) -> Vec<PodPolicy> {
        let policies: Vec<NetworkPolicy> = policies.iter().cloned().map(typed).collect();
        let policies: Vec<&NetworkPolicy> = policies.iter().collect();
        let cluster: Vec<ClusterNetworkPolicy> =
            cluster_policies.iter().cloned().map(typed).collect();
        let cluster: Vec<&ClusterNetworkPolicy> = cluster.iter().collect();
        let namespaces: Vec<&Namespace> = self.namespaces.iter().collect();
        compile(&policies, &cluster, &self.infos(), &namespaces, &node())
    }
}

/// A NetworkPolicy named `name` in `namespace` with `spec`.
pub(super) fn policy(namespace: &str, name: &str, spec: Value) -> Value {
    json!({"metadata": {"name": name, "namespace": namespace}, "spec": spec})
}

pub(super) fn find<'a>(compiled: &'a [PodPolicy], pod: &str) -> &'a PodPolicy {
    compiled
        .iter()
        .find(|p| format!("{}/{}", p.namespace, p.name) == pod)
        .unwrap_or_else(|| panic!("{pod} is compiled"))
}

/// Whether `from` may open a connection to `to`: its egress and the server's ingress.
pub(super) fn reaches(
    compiled: &[PodPolicy],
    from: &str,
    to: &str,
    protocol: Protocol,
    port: u16,
) -> bool {
    let (client, server) = (find(compiled, from), find(compiled, to));
    let egress = evaluate(&client.egress, server.addresses[0], protocol, port);
    let ingress = evaluate(&server.ingress, client.addresses[0], protocol, port);
    let allowed = egress.allowed && ingress.allowed;
    let explained = explain(Party::Pod(client), Party::Pod(server), protocol, port);
    assert_eq!(
        explained.verdict,
        if allowed { "allow" } else { "deny" },
        "explain agrees with evaluate for {from} → {to}: {}",
        explained.reason
    );
    allowed
}

fn all_pods() -> Vec<String> {
    NAMESPACES
        .iter()
        .flat_map(|ns| PODS.iter().map(move |p| format!("{ns}/{p}")))
        .collect()
}

/// Checks every ordered pair of distinct pods; lists every cell that differs.
pub(super) fn check_matrix(
    what: &str,
    compiled: &[PodPolicy],
    protocol: Protocol,
    port: u16,
    expect: &dyn Fn(&str, &str) -> bool,
) {
    let mut wrong = Vec::new();
    for from in all_pods() {
        for to in all_pods() {
            if from == to {
                continue;
            }
            let got = reaches(compiled, &from, &to, protocol, port);
            if got != expect(&from, &to) {
                wrong.push(format!("{from} → {to}: got {got}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{what} ({protocol} {port}):\n{}",
        wrong.join("\n")
    );
}

pub(super) fn ns(pod: &str) -> &str {
    pod.split('/').next().unwrap()
}

/// One case: its policies, then (protocol, port, expected reachability) probes.
type Probe = (Protocol, u16, &'static dyn Fn(&str, &str) -> bool);

#[test]
fn upstream_cases_give_the_expected_reachability() {
    let cases: Vec<(&str, Vec<Value>, Vec<Probe>)> = vec![
        (
            "default-deny-ingress in x: nothing reaches x",
            vec![policy("x", "deny", json!({"podSelector": {}}))],
            vec![(TCP, 80, &|_, to| ns(to) != "x")],
        ),
        (
            "default-deny-all in x: x neither reaches nor is reached",
            vec![policy(
                "x",
                "deny",
                json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
            )],
            vec![(TCP, 80, &|from, to| ns(to) != "x" && ns(from) != "x")],
        ),
        (
            "allow ingress to x/a from pods of x by podSelector {}",
            vec![policy(
                "x",
                "allow-x",
                json!({"podSelector": {"matchLabels": {"pod": "a"}},
                       "ingress": [{"from": [{"podSelector": {}}]}]}),
            )],
            vec![(TCP, 80, &|from, to| to != "x/a" || ns(from) == "x")],
        ),
        (
            "allow ingress to x/a only from namespace y",
            vec![policy(
                "x",
                "from-y",
                json!({"podSelector": {"matchLabels": {"pod": "a"}},
                       "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}]}]}),
            )],
            vec![(TCP, 80, &|from, to| to != "x/a" || ns(from) == "y")],
        ),
        (
            "podSelector AND namespaceSelector in one peer: only y/b",
            vec![policy(
                "x",
                "and",
                json!({"podSelector": {"matchLabels": {"pod": "a"}},
                       "ingress": [{"from": [{
                           "namespaceSelector": {"matchLabels": {"ns": "y"}},
                           "podSelector": {"matchLabels": {"pod": "b"}}}]}]}),
            )],
            vec![(TCP, 80, &|from, to| to != "x/a" || from == "y/b")],
        ),
        (
            "podSelector OR namespaceSelector in two peers: x/b and all of y",
            vec![policy(
                "x",
                "or",
                json!({"podSelector": {"matchLabels": {"pod": "a"}},
                       "ingress": [{"from": [
                           {"namespaceSelector": {"matchLabels": {"ns": "y"}}},
                           {"podSelector": {"matchLabels": {"pod": "b"}}}]}]}),
            )],
            vec![(TCP, 80, &|from, to| {
                to != "x/a" || from == "x/b" || ns(from) == "y"
            })],
        ),
        (
            "namespaceSelector {} selects every namespace, podSelector narrows",
            vec![policy(
                "x",
                "any-ns-c",
                json!({"podSelector": {"matchLabels": {"pod": "a"}},
                       "ingress": [{"from": [{"namespaceSelector": {},
                                              "podSelector": {"matchLabels": {"pod": "c"}}}]}]}),
            )],
            vec![(TCP, 80, &|from, to| to != "x/a" || from.ends_with("/c"))],
        ),
        (
            "the default name label selects z, which has no Namespace object",
            vec![policy(
                "x",
                "from-z",
                json!({"podSelector": {"matchLabels": {"pod": "a"}},
                       "ingress": [{"from": [{"namespaceSelector": {"matchLabels":
                           {"kubernetes.io/metadata.name": "z"}}}]}]}),
            )],
            vec![(TCP, 80, &|from, to| to != "x/a" || ns(from) == "z")],
        ),
        (
            "matchExpressions NotIn on the name label: egress of x/a to all but y",
            vec![policy(
                "x",
                "not-y",
                json!({"podSelector": {"matchLabels": {"pod": "a"}},
                       "policyTypes": ["Egress"],
                       "egress": [{"to": [{"namespaceSelector": {"matchExpressions": [
                           {"key": "kubernetes.io/metadata.name", "operator": "NotIn",
                            "values": ["y"]}]}}]}]}),
            )],
            vec![(TCP, 80, &|from, to| from != "x/a" || ns(to) != "y")],
        ),
        (
            "matchExpressions In on pods: x/a from x/b and x/c",
            vec![policy(
                "x",
                "in",
                json!({"podSelector": {"matchLabels": {"pod": "a"}},
                       "ingress": [{"from": [{"podSelector": {"matchExpressions": [
                           {"key": "pod", "operator": "In", "values": ["b", "c"]}]}}]}]}),
            )],
            vec![(TCP, 80, &|from, to| {
                to != "x/a" || from == "x/b" || from == "x/c"
            })],
        ),
        (
            "ipBlock with except: x/a reaches 10.0.0.0/16 but 10.0.2.0/24 (y)",
            vec![policy(
                "x",
                "cidr",
                json!({"podSelector": {"matchLabels": {"pod": "a"}},
                       "policyTypes": ["Egress"],
                       "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/16",
                                                       "except": ["10.0.2.0/24"]}}]}]}),
            )],
            vec![(TCP, 80, &|from, to| from != "x/a" || ns(to) != "y")],
        ),
        (
            "an address in an except is allowed when another rule allows it",
            vec![policy(
                "x",
                "cidr-and-pod",
                json!({"podSelector": {"matchLabels": {"pod": "a"}},
                       "policyTypes": ["Egress"],
                       "egress": [
                           {"to": [{"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.0.2.0/24"]}}]},
                           {"to": [{"ipBlock": {"cidr": "10.0.2.2/32"}}]}]}),
            )],
            vec![(TCP, 80, &|from, to| {
                from != "x/a" || ns(to) != "y" || to == "y/b"
            })],
        ),
        (
            "ports: ingress to x/a on TCP 81 only",
            vec![policy(
                "x",
                "port-81",
                json!({"podSelector": {"matchLabels": {"pod": "a"}},
                       "ingress": [{"ports": [{"port": 81}]}]}),
            )],
            vec![
                (TCP, 80, &|_, to| to != "x/a"),
                (TCP, 81, &|_, _| true),
                (UDP, 81, &|_, to| to != "x/a"),
            ],
        ),
        (
            "a protocol without a port: every UDP port, no TCP",
            vec![policy(
                "x",
                "udp",
                json!({"podSelector": {"matchLabels": {"pod": "a"}},
                       "ingress": [{"ports": [{"protocol": "UDP"}]}]}),
            )],
            vec![
                (UDP, 80, &|_, _| true),
                (UDP, 81, &|_, _| true),
                (TCP, 80, &|_, to| to != "x/a"),
            ],
        ),
        (
            "an SCTP-only allow isolates and never allows TCP",
            vec![policy(
                "x",
                "sctp",
                json!({"podSelector": {"matchLabels": {"pod": "a"}},
                       "ingress": [{"ports": [{"protocol": "SCTP", "port": 80}]}]}),
            )],
            vec![
                (SCTP, 80, &|_, _| true),
                (TCP, 80, &|_, to| to != "x/a"),
                (SCTP, 81, &|_, to| to != "x/a"),
            ],
        ),
        (
            "endPort: TCP 80-81",
            vec![policy(
                "x",
                "range",
                json!({"podSelector": {"matchLabels": {"pod": "a"}},
                       "ingress": [{"ports": [{"port": 80, "endPort": 81}]}]}),
            )],
            vec![
                (TCP, 80, &|_, _| true),
                (TCP, 81, &|_, _| true),
                (TCP, 82, &|_, to| to != "x/a"),
                (TCP, 79, &|_, to| to != "x/a"),
            ],
        ),
        (
            "named port on ingress: the target's serve-81-tcp",
            vec![policy(
                "x",
                "named",
                json!({"podSelector": {"matchLabels": {"pod": "a"}},
                       "ingress": [{"ports": [{"port": "serve-81-tcp"}]}]}),
            )],
            vec![(TCP, 81, &|_, _| true), (TCP, 80, &|_, to| to != "x/a")],
        ),
        (
            "named port whose protocol differs from the rule's matches nothing",
            vec![policy(
                "x",
                "named-udp",
                json!({"podSelector": {"matchLabels": {"pod": "a"}},
                       "ingress": [{"ports": [{"port": "serve-81-tcp", "protocol": "UDP"}]}]}),
            )],
            vec![
                (TCP, 81, &|_, to| to != "x/a"),
                (UDP, 81, &|_, to| to != "x/a"),
            ],
        ),
        (
            "named port on egress: each peer's serve-80-udp",
            vec![policy(
                "x",
                "named-egress",
                json!({"podSelector": {"matchLabels": {"pod": "a"}},
                       "policyTypes": ["Egress"],
                       "egress": [{"ports": [{"port": "serve-80-udp", "protocol": "UDP"}]}]}),
            )],
            vec![(UDP, 80, &|_, _| true), (UDP, 81, &|from, _| from != "x/a")],
        ),
        (
            "stacked policies add up: deny-all and allow from y",
            vec![
                policy("x", "deny", json!({"podSelector": {}})),
                policy(
                    "x",
                    "from-y",
                    json!({"podSelector": {},
                           "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}]}]}),
                ),
            ],
            vec![(TCP, 80, &|from, to| ns(to) != "x" || ns(from) == "y")],
        ),
        (
            "allow-all: ingress [{}] beside a deny-all",
            vec![
                policy("x", "deny", json!({"podSelector": {}})),
                policy("x", "allow", json!({"podSelector": {}, "ingress": [{}]})),
            ],
            vec![(TCP, 80, &|_, _| true)],
        ),
        (
            "the client's egress denies even when the server allows",
            vec![
                policy(
                    "x",
                    "no-egress",
                    json!({"podSelector": {"matchLabels": {"pod": "a"}},
                           "policyTypes": ["Egress"]}),
                ),
                policy("y", "allow", json!({"podSelector": {}, "ingress": [{}]})),
            ],
            vec![(TCP, 80, &|from, _| from != "x/a")],
        ),
        (
            "an egress section without policyTypes isolates egress too",
            vec![policy(
                "x",
                "defaulted",
                json!({"podSelector": {"matchLabels": {"pod": "a"}},
                       "egress": [{"to": [{"podSelector": {"matchLabels": {"pod": "b"}}}]}]}),
            )],
            vec![(TCP, 80, &|from, to| {
                to != "x/a" && (from != "x/a" || to == "x/b")
            })],
        ),
        (
            "an empty egress list without policyTypes isolates ingress only",
            vec![policy(
                "x",
                "defaulted",
                json!({"podSelector": {"matchLabels": {"pod": "a"}}, "egress": []}),
            )],
            vec![(TCP, 80, &|_, to| to != "x/a")],
        ),
        (
            "policyTypes [Egress] ignores ingress rules: ingress not isolated",
            vec![policy(
                "x",
                "egress-only",
                json!({"podSelector": {"matchLabels": {"pod": "a"}},
                       "policyTypes": ["Egress"],
                       "ingress": [{"from": [{"podSelector": {}}]}],
                       "egress": [{}]}),
            )],
            vec![(TCP, 80, &|_, _| true)],
        ),
        (
            "a policy selects pods of its own namespace only",
            vec![policy(
                "y",
                "deny",
                json!({"podSelector": {"matchLabels": {"pod": "a"}}}),
            )],
            vec![(TCP, 80, &|_, to| to != "y/a")],
        ),
    ];
    let model = Model::new();
    for (what, policies, probes) in cases {
        let compiled = model.compile(&policies);
        for (protocol, port, expect) in probes {
            check_matrix(what, &compiled, protocol, port, expect);
        }
    }
}

fn rule_id(namespace: &str, name: &str, direction: PolicyDirection, index: usize) -> RuleId {
    RuleId {
        policy: PolicyId {
            namespace: namespace.into(),
            name: name.into(),
        },
        direction,
        index,
    }
}

pub(super) fn host(text: &str) -> PeerBlock {
    PeerBlock {
        cidr: Cidr::host(text.parse().unwrap()),
        except: Vec::new(),
    }
}

#[test]
fn compile_gives_pod_peers_as_hosts_and_ip_blocks_as_prefixes() {
    let compiled = Model::new().compile(&[policy(
        "x",
        "mixed",
        json!({"podSelector": {"matchLabels": {"pod": "a"}},
               "ingress": [{"from": [
                   {"ipBlock": {"cidr": "192.168.7.9/16", "except": ["192.168.1.0/24"]}},
                   {"podSelector": {"matchLabels": {"pod": "b"}}},
                   {"podSelector": {"matchExpressions": [{"key": "pod", "operator": "In",
                                                          "values": ["b", "c"]}]}}]}]}),
    )]);
    let a = find(&compiled, "x/a");
    assert_eq!(
        a.ingress.policies,
        [PolicyId {
            namespace: "x".into(),
            name: "mixed".into()
        }]
    );
    assert_eq!(a.ingress.rules.len(), 1);
    let rule = &a.ingress.rules[0];
    assert_eq!(rule.id, rule_id("x", "mixed", PolicyDirection::Ingress, 0));
    assert_eq!(rule.ports, None);
    assert_eq!(
        rule.peers.as_deref().unwrap(),
        [
            PeerBlock {
                cidr: "192.168.0.0/16".parse().unwrap(),
                except: vec!["192.168.1.0/24".parse().unwrap()],
            },
            host("10.0.1.2"),
            host("10.0.1.3"),
        ],
        "the block's host bits are cleared, x/b appears once"
    );
    assert!(!a.egress.isolated());
    assert!(!find(&compiled, "x/b").ingress.isolated());
}

#[test]
fn egress_named_ports_compile_one_rule_per_number_with_the_pods_that_give_it() {
    let mut model = Model::new();
    // y/c serves "web" on 8080, the others of y on 80; x/b serves it over UDP only.
    for pod in &mut model.pods {
        let (namespace, name) = (
            pod.metadata.namespace.clone().unwrap(),
            pod.metadata.name.clone().unwrap(),
        );
        let web = match (namespace.as_str(), name.as_str()) {
            ("y", "c") => json!({"name": "web", "containerPort": 8080}),
            ("y", _) => json!({"name": "web", "containerPort": 80}),
            ("x", "b") => json!({"name": "web", "containerPort": 80, "protocol": "UDP"}),
            _ => continue,
        };
        let mut value = serde_json::to_value(&*pod).unwrap();
        merge(
            &mut value,
            json!({"spec": {"containers": [{"name": "serve", "ports": [web]}]}}),
        );
        *pod = typed(value);
    }
    let compiled = model.compile(&[policy(
        "x",
        "web",
        json!({"podSelector": {"matchLabels": {"pod": "a"}},
               "policyTypes": ["Egress"],
               "egress": [{"to": [{"namespaceSelector": {}},
                                  {"ipBlock": {"cidr": "192.168.0.0/16"}}],
                           "ports": [{"port": "web"}, {"port": 443}]}]}),
    )]);
    let a = find(&compiled, "x/a");
    let id = rule_id("x", "web", PolicyDirection::Egress, 0);
    let tcp = |first, last| PortRange {
        protocol: TCP,
        ports: Some((first, last)),
    };
    let rules: Vec<_> = a
        .egress
        .rules
        .iter()
        .map(|r| {
            (
                r.id.clone(),
                r.peers.clone().unwrap(),
                r.ports.clone().unwrap(),
            )
        })
        .collect();
    assert_eq!(rules.len(), 3, "{rules:#?}");
    assert!(rules.iter().all(|(rule, _, _)| *rule == id));
    assert_eq!(
        rules[0].2,
        [tcp(443, 443)],
        "numbered ports with every peer"
    );
    assert_eq!(rules[0].1.len(), 10, "the block and the nine pods");
    assert_eq!(rules[1].2, [tcp(80, 80)]);
    assert_eq!(rules[1].1, [host("10.0.2.1"), host("10.0.2.2")]);
    assert_eq!(rules[2].2, [tcp(8080, 8080)]);
    assert_eq!(rules[2].1, [host("10.0.2.3")]);

    let to = |addr: &str, port| evaluate(&a.egress, addr.parse().unwrap(), TCP, port).allowed;
    assert!(to("10.0.2.3", 8080) && !to("10.0.2.3", 80));
    assert!(to("10.0.2.1", 80) && !to("10.0.2.1", 8080));
    assert!(!to("10.0.1.2", 80), "x/b serves web over UDP only");
    assert!(
        !to("192.168.0.1", 80),
        "a named port never matches an ipBlock"
    );
    assert!(to("192.168.0.1", 443));
}

#[test]
fn only_pods_of_this_node_with_addresses_are_compiled_and_peers_need_an_address() {
    let model = Model::new();
    let mut infos = model.infos();
    infos[1].node = Some("node-b".into()); // x/b runs elsewhere: a peer, not a target.
    infos[2].ips.clear(); // x/c has no address yet: neither.
    let policies: Vec<NetworkPolicy> = vec![typed(policy(
        "x",
        "from-x",
        json!({"podSelector": {}, "ingress": [{"from": [{"podSelector": {}}]}]}),
    ))];
    let policies: Vec<&NetworkPolicy> = policies.iter().collect();
    let compiled = compile(&policies, &[], &infos, &[], &node());
    let names: Vec<_> = compiled
        .iter()
        .map(|p| format!("{}/{}", p.namespace, p.name))
        .collect();
    assert_eq!(names.len(), 7);
    assert!(!names.contains(&"x/b".to_owned()) && !names.contains(&"x/c".to_owned()));
    let peers = compiled[0].ingress.rules[0].peers.clone().unwrap();
    assert_eq!(peers, [host("10.0.1.1"), host("10.0.1.2")]);
}

#[test]
fn finished_pods_are_no_peers_but_stay_isolated() {
    let mut model = Model::new();
    let mut value = serde_json::to_value(&model.pods[1]).unwrap();
    merge(&mut value, json!({"status": {"phase": "Failed"}}));
    model.pods[1] = typed(value);
    let compiled = model.compile(&[policy(
        "x",
        "from-x",
        json!({"podSelector": {}, "ingress": [{"from": [{"podSelector": {}}]}]}),
    )]);
    assert!(find(&compiled, "x/b").ingress.isolated());
    let peers = find(&compiled, "x/a").ingress.rules[0]
        .peers
        .clone()
        .unwrap();
    assert_eq!(peers, [host("10.0.1.1"), host("10.0.1.3")]);
}

#[test]
fn isolating_policies_are_listed_in_name_order() {
    let compiled = Model::new().compile(&[
        policy("x", "zeta", json!({"podSelector": {}})),
        policy("x", "alpha", json!({"podSelector": {}, "ingress": [{}]})),
    ]);
    let a = find(&compiled, "x/a");
    let names: Vec<_> = a.ingress.policies.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["alpha", "zeta"]);
    assert_eq!(a.ingress.rules[0].id.policy.name, "alpha");
}

fn isolated(rules: Vec<CompiledRuleSpec>) -> DirectionPolicy {
    DirectionPolicy {
        policies: vec![PolicyId {
            namespace: "x".into(),
            name: "p".into(),
        }],
        rules: rules
            .into_iter()
            .enumerate()
            .map(
                |(index, (peers, ports))| podwire_model::policy::CompiledRule {
                    id: rule_id("x", "p", PolicyDirection::Ingress, index),
                    peers,
                    ports,
                },
            )
            .collect(),
        ..DirectionPolicy::default()
    }
}

type CompiledRuleSpec = (Option<Vec<PeerBlock>>, Option<Vec<PortRange>>);

#[test]
fn evaluate_takes_the_first_matching_rule_and_respects_except() {
    let block = |cidr: &str, except: &[&str]| PeerBlock {
        cidr: cidr.parse().unwrap(),
        except: except.iter().map(|e| e.parse().unwrap()).collect(),
    };
    let udp_53 = PortRange {
        protocol: UDP,
        ports: Some((53, 53)),
    };
    let direction = isolated(vec![
        (Some(vec![block("10.0.0.0/8", &["10.1.0.0/16"])]), None),
        (None, Some(vec![udp_53])),
        (Some(vec![block("fd00::/64", &[])]), None),
    ]);
    // (remote, protocol, port, allowed by rule index)
    let cases: Vec<(&str, Protocol, u16, Option<usize>)> = vec![
        ("10.2.3.4", TCP, 80, Some(0)),
        ("10.1.3.4", TCP, 80, None),
        ("10.1.3.4", UDP, 53, Some(1)),
        ("10.2.3.4", UDP, 53, Some(0)),
        ("192.168.1.1", UDP, 54, None),
        ("fd00::5", SCTP, 9, Some(2)),
        ("fd01::5", TCP, 9, None),
    ];
    for (remote, protocol, port, rule) in cases {
        let verdict = evaluate(&direction, remote.parse().unwrap(), protocol, port);
        assert_eq!(
            verdict.allowed,
            rule.is_some(),
            "{remote} {protocol} {port}"
        );
        assert_eq!(
            verdict.rule.map(|r| r.index),
            rule,
            "{remote} {protocol} {port}"
        );
        assert_eq!(verdict.isolating, direction.policies);
    }
    let open = evaluate(
        &DirectionPolicy::default(),
        "10.0.0.1".parse().unwrap(),
        TCP,
        1,
    );
    assert!(open.allowed && open.rule.is_none() && open.isolating.is_empty());
    let deny_all = isolated(Vec::new());
    assert!(!evaluate(&deny_all, "10.0.0.1".parse().unwrap(), TCP, 1).allowed);
}

#[test]
fn selectors_follow_label_selector_semantics() {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
    let labels: selector::Labels = [("app", "web"), ("tier", "front")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let cases: Vec<(Value, bool)> = vec![
        (json!({}), true),
        (json!({"matchLabels": {"app": "web"}}), true),
        (
            json!({"matchLabels": {"app": "web", "tier": "back"}}),
            false,
        ),
        (
            json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["db", "web"]}]}),
            true,
        ),
        (
            json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["db"]}]}),
            false,
        ),
        (
            json!({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["db"]}]}),
            true,
        ),
        (
            json!({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}),
            false,
        ),
        (
            json!({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]}),
            true,
        ),
        (
            json!({"matchExpressions": [{"key": "app", "operator": "Exists"}]}),
            true,
        ),
        (
            json!({"matchExpressions": [{"key": "env", "operator": "Exists"}]}),
            false,
        ),
        (
            json!({"matchExpressions": [{"key": "env", "operator": "DoesNotExist"}]}),
            true,
        ),
        (
            json!({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}),
            false,
        ),
        (
            json!({"matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["back"]}]}),
            false,
        ),
        (
            json!({"matchExpressions": [{"key": "app", "operator": "Equals", "values": ["web"]}]}),
            false,
        ),
        (
            json!({"matchExpressions": [{"key": "app", "operator": "In", "values": []}]}),
            false,
        ),
    ];
    for (selector, expected) in cases {
        let parsed: LabelSelector = typed(selector.clone());
        assert_eq!(
            selector::matches(&parsed, Some(&labels)),
            expected,
            "{selector}"
        );
    }
    let none: LabelSelector = typed(json!({"matchExpressions": [
        {"key": "app", "operator": "NotIn", "values": ["web"]}]}));
    assert!(selector::matches(&none, None), "NotIn holds without labels");
}

mod explain_tests {
    use super::*;

    fn compiled() -> Vec<PodPolicy> {
        Model::new().compile(&[
            policy(
                "x",
                "deny-all",
                json!({"podSelector": {"matchLabels": {"pod": "b"}}}),
            ),
            policy(
                "x",
                "allow-a",
                json!({"podSelector": {"matchLabels": {"pod": "c"}},
                       "ingress": [{"from": [{"podSelector": {"matchLabels": {"pod": "a"}}}],
                                    "ports": [{"port": 80}]}]}),
            ),
            policy(
                "y",
                "no-egress",
                json!({"podSelector": {"matchLabels": {"pod": "a"}}, "policyTypes": ["Egress"]}),
            ),
        ])
    }

    #[test]
    fn a_denial_names_the_isolating_policy_and_the_direction() {
        let compiled = compiled();
        let (a, b) = (find(&compiled, "x/a"), find(&compiled, "x/b"));
        let explained = explain(Party::Pod(a), Party::Pod(b), TCP, 80);
        assert_eq!(explained.verdict, "deny");
        assert_eq!(explained.policy.as_deref(), Some("x/deny-all"));
        assert_eq!(explained.rule.as_deref(), Some("ingress"));
        assert_eq!(
            explained.reason,
            "denied: x/b's ingress is isolated by x/deny-all and no rule allows TCP 80 from \
             10.0.1.1"
        );
        assert!(explained.egress.unwrap().allowed);

        let ya = find(&compiled, "y/a");
        let explained = explain(Party::Pod(ya), Party::Pod(b), UDP, 53);
        assert_eq!(explained.policy.as_deref(), Some("y/no-egress"));
        assert_eq!(explained.rule.as_deref(), Some("egress"));
        assert_eq!(
            explained.reason,
            "denied: y/a's egress is isolated by y/no-egress and no rule allows UDP 53 to \
             10.0.1.2; x/b's ingress is isolated by x/deny-all and no rule allows UDP 53 from \
             10.0.2.1"
        );
    }

    #[test]
    fn an_allowed_connection_names_the_rule() {
        let compiled = compiled();
        let (a, c) = (find(&compiled, "x/a"), find(&compiled, "x/c"));
        let explained = explain(Party::Pod(a), Party::Pod(c), TCP, 80);
        assert_eq!(explained.verdict, "allow");
        assert_eq!(explained.policy.as_deref(), Some("x/allow-a"));
        assert_eq!(explained.rule.as_deref(), Some("ingress[0]"));
        assert_eq!(
            explained.reason,
            "allowed: no policy selects x/a for egress and x/c's ingress allows it by \
             x/allow-a ingress[0]"
        );
        let other_port = explain(Party::Pod(a), Party::Pod(c), TCP, 81);
        assert_eq!(other_port.verdict, "deny");
        assert_eq!(other_port.rule.as_deref(), Some("ingress"));
    }

    #[test]
    fn no_policy_and_addresses_outside() {
        let compiled = compiled();
        let (xa, za) = (find(&compiled, "x/a"), find(&compiled, "z/a"));
        let explained = explain(Party::Pod(xa), Party::Pod(za), TCP, 80);
        assert_eq!((explained.policy, explained.rule), (None, None));
        assert_eq!(
            explained.reason,
            "allowed: no policy selects x/a for egress and no policy selects z/a for ingress"
        );
        let outside: IpAddr = "192.0.2.1".parse().unwrap();
        let explained = explain(
            Party::Address(outside),
            Party::Pod(find(&compiled, "x/b")),
            TCP,
            80,
        );
        assert_eq!(explained.verdict, "deny");
        assert!(explained.egress.is_none());
        assert!(
            explained.reason.ends_with("from 192.0.2.1"),
            "{}",
            explained.reason
        );
        let explained = explain(Party::Address(outside), Party::Address(outside), TCP, 80);
        assert_eq!(explained.verdict, "allow");
        assert!(
            explained.reason.contains("no policy applies"),
            "{}",
            explained.reason
        );
    }

    #[test]
    fn the_node_and_the_pod_itself_are_always_allowed() {
        let compiled = compiled();
        let (b, ya) = (find(&compiled, "x/b"), find(&compiled, "y/a"));
        let node_ip: IpAddr = "192.168.50.1".parse().unwrap();
        let explained = explain(Party::Node(node_ip), Party::Pod(b), TCP, 8080);
        assert_eq!(explained.verdict, "allow");
        assert_eq!(
            explained.reason,
            "allowed: x/b is always reachable from its node (192.168.50.1)"
        );
        let ingress = explained.ingress.unwrap();
        assert!(ingress.allowed && ingress.rule.is_none());
        assert_eq!(ingress.isolating[0].name, "deny-all");
        let explained = explain(Party::Pod(ya), Party::Node(node_ip), TCP, 10250);
        assert_eq!(explained.verdict, "allow");
        assert_eq!(
            explained.reason,
            "allowed: y/a always reaches its node (192.168.50.1)"
        );
        let explained = explain(Party::Pod(b), Party::Pod(b), TCP, 80);
        assert_eq!(explained.verdict, "allow");
        assert_eq!(explained.reason, "allowed: x/b always reaches itself");
    }

    #[test]
    fn the_json_has_the_documented_shape() {
        let compiled = compiled();
        let (a, b) = (find(&compiled, "x/a"), find(&compiled, "x/b"));
        let value = serde_json::to_value(explain(Party::Pod(a), Party::Pod(b), TCP, 80)).unwrap();
        assert_eq!(value["verdict"], "deny");
        assert_eq!(value["policy"], "x/deny-all");
        assert_eq!(value["rule"], "ingress");
        assert_eq!(value["ingress"]["allowed"], false);
        assert_eq!(value["ingress"]["rule"], Value::Null);
        assert_eq!(value["ingress"]["isolating"][0]["name"], "deny-all");
        assert_eq!(value["egress"]["allowed"], true);
        assert!(value["reason"].as_str().unwrap().starts_with("denied: "));
    }
}
