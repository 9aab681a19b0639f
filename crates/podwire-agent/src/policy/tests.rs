//! The renderer: slots and names in order, pods by each address, and classifiers that allow
//! exactly what the compiled rules (and `podwire_k8s::policy::evaluate`) allow.

use std::net::IpAddr;

use podwire_dataplane::policy::classifier::RuleSlot;
use podwire_dataplane::policy::table::{Action, PolicyHits, PolicyTable, PolicyVerdict};
use podwire_model::Cidr;
use podwire_model::policy::{
    CompiledRule, DirectionPolicy, PeerBlock, PodPolicy, PolicyDirection, PolicyId, PortRange,
    RuleAction, RuleId, Tier, TierRule,
};
use podwire_model::service::Protocol;

use super::render::render;
use super::slots::RuleSlots;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn cidr(text: &str) -> Cidr {
    text.parse().unwrap()
}

fn rule_id(policy: &str, direction: PolicyDirection, index: usize) -> RuleId {
    RuleId {
        policy: PolicyId {
            namespace: "x".into(),
            name: policy.into(),
        },
        direction,
        index,
    }
}

fn peer(prefix: &str, except: &[&str]) -> PeerBlock {
    PeerBlock {
        cidr: cidr(prefix),
        except: except.iter().map(|c| cidr(c)).collect(),
    }
}

fn ports(protocol: Protocol, ports: Option<(u16, u16)>) -> PortRange {
    PortRange { protocol, ports }
}

fn isolated(policy: &str, rules: Vec<CompiledRule>) -> DirectionPolicy {
    DirectionPolicy {
        policies: vec![PolicyId {
            namespace: "x".into(),
            name: policy.into(),
        }],
        rules,
        ..DirectionPolicy::default()
    }
}

fn pod(
    name: &str,
    addresses: &[&str],
    ingress: DirectionPolicy,
    egress: DirectionPolicy,
) -> PodPolicy {
    PodPolicy {
        namespace: "x".into(),
        name: name.into(),
        addresses: addresses.iter().map(|a| ip(a)).collect(),
        ingress,
        egress,
    }
}

/// x/a: ingress from 10.0.0.0/24 except its upper half on TCP 80, and from anywhere on UDP
/// 53-54; x/b: egress to 10.1.0.5 on anything, and (a second compiled rule of the same
/// policy rule) to 10.1.0.6 on TCP 8080; x/c: no policy; x/d: ingress isolated, no rule.
fn pods() -> Vec<PodPolicy> {
    let ingress = PolicyDirection::Ingress;
    let egress = PolicyDirection::Egress;
    vec![
        pod(
            "a",
            &["10.244.0.2", "fd00::2"],
            isolated(
                "web",
                vec![
                    CompiledRule {
                        id: rule_id("web", ingress, 0),
                        peers: Some(vec![peer("10.0.0.0/24", &["10.0.0.128/25"])]),
                        ports: Some(vec![ports(Protocol::Tcp, Some((80, 80)))]),
                    },
                    CompiledRule {
                        id: rule_id("web", ingress, 1),
                        peers: None,
                        ports: Some(vec![ports(Protocol::Udp, Some((53, 54)))]),
                    },
                ],
            ),
            DirectionPolicy::default(),
        ),
        pod(
            "b",
            &["10.244.0.3"],
            DirectionPolicy::default(),
            isolated(
                "out",
                vec![
                    CompiledRule {
                        id: rule_id("out", egress, 0),
                        peers: Some(vec![peer("10.1.0.5/32", &[])]),
                        ports: None,
                    },
                    CompiledRule {
                        id: rule_id("out", egress, 0),
                        peers: Some(vec![peer("10.1.0.6/32", &[])]),
                        ports: Some(vec![ports(Protocol::Tcp, Some((8080, 8080)))]),
                    },
                ],
            ),
        ),
        pod(
            "c",
            &["10.244.0.4"],
            DirectionPolicy::default(),
            DirectionPolicy::default(),
        ),
        pod(
            "d",
            &["10.244.0.5"],
            isolated("deny-all", Vec::new()),
            DirectionPolicy::default(),
        ),
    ]
}

#[test]
fn gives_one_slot_per_compiled_rule_in_order_with_its_pod_and_rule_names() {
    let table = render(&pods(), &mut RuleSlots::default(), 7);
    assert_eq!((table.generation, table.epoch), (7, 0));
    let names: Vec<(&str, &str)> = table
        .rules
        .iter()
        .map(|info| (&*info.pod, &*info.rule))
        .collect();
    assert_eq!(
        names,
        [
            ("x/a", "x/web ingress[0]"),
            ("x/a", "x/web ingress[1]"),
            ("x/b", "x/out egress[0]"),
            ("x/b", "x/out egress[0]"),
        ]
    );
}

#[test]
fn finds_each_isolated_pod_by_each_of_its_addresses_and_leaves_out_the_others() {
    let table = render(&pods(), &mut RuleSlots::default(), 1);
    let mut addresses: Vec<IpAddr> = table.pods.keys().copied().collect();
    addresses.sort();
    let expected: Vec<IpAddr> = ["10.244.0.2", "10.244.0.3", "10.244.0.5", "fd00::2"]
        .iter()
        .map(|a| ip(a))
        .collect();
    assert_eq!(addresses, expected);
    let a4 = &table.pods[&ip("10.244.0.2")];
    assert!(std::sync::Arc::ptr_eq(a4, &table.pods[&ip("fd00::2")]));
    assert_eq!(&*a4.name, "x/a");
    assert!(a4.egress.is_none());
    let a_ingress = a4.ingress.as_ref().unwrap();
    assert!(a_ingress.policies.is_some(), "isolated");
    assert!(
        a_ingress.admin.is_none() && a_ingress.baseline.is_none(),
        "no tier has rules"
    );
    let b = &table.pods[&ip("10.244.0.3")];
    assert!(b.ingress.is_none() && b.egress.is_some());
    assert!(
        render(&pods()[2..3], &mut RuleSlots::default(), 1).is_empty(),
        "x/c has no policy"
    );
}

#[test]
fn classifiers_allow_what_the_rules_allow_and_deny_the_rest() {
    let table = render(&pods(), &mut RuleSlots::default(), 1);
    let (tcp, udp, icmp) = (6, 17, 1);
    let network_policies = |address: &str, ingress: bool| {
        let rules = &table.pods[&ip(address)];
        let direction = if ingress {
            &rules.ingress
        } else {
            &rules.egress
        };
        direction.as_ref().unwrap().policies.as_ref().unwrap()
    };
    let a = network_policies("10.244.0.2", true);
    assert_eq!(a.lookup(ip("10.0.0.5"), tcp, 80), Some(RuleSlot(0)));
    assert_eq!(
        a.lookup(ip("10.0.0.5"), tcp, 81),
        None,
        "port 81 is not allowed"
    );
    assert_eq!(a.lookup(ip("10.0.0.200"), tcp, 80), None, "in the except");
    assert_eq!(a.lookup(ip("10.0.1.5"), tcp, 80), None, "outside the block");
    assert_eq!(a.lookup(ip("10.0.0.200"), udp, 53), Some(RuleSlot(1)));
    assert_eq!(
        a.lookup(ip("fd00::9"), udp, 54),
        Some(RuleSlot(1)),
        "any peer"
    );
    assert_eq!(a.lookup(ip("10.0.0.5"), udp, 55), None);
    assert_eq!(a.lookup(ip("10.0.0.5"), icmp, 0), None);

    let b = network_policies("10.244.0.3", false);
    assert_eq!(
        b.lookup(ip("10.1.0.5"), icmp, 0),
        Some(RuleSlot(2)),
        "any port"
    );
    assert_eq!(b.lookup(ip("10.1.0.5"), udp, 9), Some(RuleSlot(2)));
    assert_eq!(b.lookup(ip("10.1.0.6"), tcp, 8080), Some(RuleSlot(3)));
    assert_eq!(b.lookup(ip("10.1.0.6"), tcp, 80), None);
    assert_eq!(b.lookup(ip("10.1.0.7"), tcp, 8080), None);

    let d = network_policies("10.244.0.5", true);
    for (remote, protocol, port) in [("10.0.0.5", tcp, 80), ("fd00::1", udp, 53)] {
        assert_eq!(d.lookup(ip(remote), protocol, port), None, "deny-all");
    }
}

/// The data plane must decide as `podwire_k8s::policy::evaluate` does on the compiled form:
/// every remote, protocol and port of a grid, against every isolated direction.
#[test]
fn classifiers_agree_with_evaluate() {
    let pods = pods();
    let table = render(&pods, &mut RuleSlots::default(), 1);
    let remotes = [
        "10.0.0.0",
        "10.0.0.5",
        "10.0.0.127",
        "10.0.0.128",
        "10.0.0.255",
        "10.0.1.0",
        "10.1.0.5",
        "10.1.0.6",
        "10.1.0.7",
        "0.0.0.0",
        "255.255.255.255",
        "fd00::9",
        "::",
    ];
    let protocols = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp];
    let ports = [0, 1, 52, 53, 54, 55, 79, 80, 81, 8080, 65535];
    for pod in &pods {
        let rules = &table.pods.get(&pod.addresses[0]);
        for (direction, classifier) in [
            (&pod.ingress, rules.and_then(|r| r.ingress.as_ref())),
            (&pod.egress, rules.and_then(|r| r.egress.as_ref())),
        ] {
            let Some(classifier) = classifier.and_then(|d| d.policies.as_ref()) else {
                assert!(
                    !direction.isolated(),
                    "{}: isolated, no classifier",
                    pod.name
                );
                continue;
            };
            for remote in remotes.map(ip) {
                for protocol in protocols {
                    for port in ports {
                        let verdict =
                            podwire_k8s::policy::evaluate(direction, remote, protocol, port);
                        let slot = classifier.lookup(remote, protocol.number(), port);
                        let rule = slot.map(|s| table.rules[s.0 as usize].rule.to_string());
                        let expected = verdict.rule.as_ref().map(ToString::to_string);
                        assert_eq!(
                            (slot.is_some(), rule),
                            (verdict.allowed, expected),
                            "x/{} {remote} {protocol} {port}",
                            pod.name
                        );
                    }
                }
            }
        }
    }
}

/// A ClusterNetworkPolicy rule: `spec.<direction>[index]` of `policy`, doing `action` with
/// traffic from or to `peers` (`None`: any) on TCP `port` (`None`: any traffic).
fn cnp_rule(
    policy: &str,
    direction: PolicyDirection,
    index: usize,
    action: RuleAction,
    peers: Option<&[&str]>,
    port: Option<u16>,
) -> TierRule {
    TierRule {
        rule: CompiledRule {
            id: RuleId {
                policy: PolicyId::cluster(policy),
                direction,
                index,
            },
            peers: peers.map(|peers| peers.iter().map(|p| peer(p, &[])).collect()),
            ports: port.map(|p| vec![ports(Protocol::Tcp, Some((p, p)))]),
        },
        action,
    }
}

/// Pods whose ingress shows each rule of the tiers, all in namespace x:
/// - t/admin-over-np: an Admin Deny of 10.0.0.0/24 on TCP 80 over a NetworkPolicy that
///   allows 10.0.0.0/16;
/// - t/pass: an Admin Pass of 10.0.1.0/24 before an Admin Deny of everything, and a
///   NetworkPolicy allowing 10.0.1.5 on TCP 80;
/// - t/baseline-isolated: a Baseline Deny of 10.0.2.0/24, and a NetworkPolicy allowing
///   10.0.2.5 (the Baseline is not asked);
/// - t/baseline-only: the same Baseline rule, no NetworkPolicy;
/// - t/priorities: an Admin Accept of 10.0.3.5 (the lower priority value) before an Admin
///   Deny of 10.0.3.0/24 on TCP 80; in the Baseline, a Pass of 10.0.4.0/24 on TCP 80
///   before an Accept of 10.0.4.5 and a Deny of everything; egress: an Admin Deny of
///   10.0.5.0/24 and, a named port compiled twice, Admin Accepts of 10.0.6.5 on TCP 8080
///   and 10.0.6.6 on TCP 9090.
fn tier_pods() -> Vec<PodPolicy> {
    use PolicyDirection::{Egress, Ingress};
    use RuleAction::{Accept, Deny, Pass};
    let with = |admin: Vec<TierRule>, np: Option<DirectionPolicy>, baseline: Vec<TierRule>| {
        DirectionPolicy {
            admin,
            baseline,
            ..np.unwrap_or_default()
        }
    };
    let np = |name: &str, peer_prefix: &str, port: Option<u16>| {
        isolated(
            name,
            vec![CompiledRule {
                id: rule_id(name, Ingress, 0),
                peers: Some(vec![peer(peer_prefix, &[])]),
                ports: port.map(|p| vec![ports(Protocol::Tcp, Some((p, p)))]),
            }],
        )
    };
    let baseline_deny = || {
        vec![cnp_rule(
            "no-2",
            Ingress,
            0,
            Deny,
            Some(&["10.0.2.0/24"]),
            None,
        )]
    };
    vec![
        pod(
            "admin-over-np",
            &["10.244.1.1"],
            with(
                vec![cnp_rule(
                    "lockdown",
                    Ingress,
                    0,
                    Deny,
                    Some(&["10.0.0.0/24"]),
                    Some(80),
                )],
                Some(np("wide", "10.0.0.0/16", None)),
                Vec::new(),
            ),
            DirectionPolicy::default(),
        ),
        pod(
            "pass",
            &["10.244.1.2"],
            with(
                vec![
                    cnp_rule("delegate", Ingress, 0, Pass, Some(&["10.0.1.0/24"]), None),
                    cnp_rule("delegate", Ingress, 1, Deny, None, None),
                ],
                Some(np("web", "10.0.1.5/32", Some(80))),
                Vec::new(),
            ),
            DirectionPolicy::default(),
        ),
        pod(
            "baseline-isolated",
            &["10.244.1.3"],
            with(
                Vec::new(),
                Some(np("one", "10.0.2.5/32", None)),
                baseline_deny(),
            ),
            DirectionPolicy::default(),
        ),
        pod(
            "baseline-only",
            &["10.244.1.4"],
            with(Vec::new(), None, baseline_deny()),
            DirectionPolicy::default(),
        ),
        pod(
            "priorities",
            &["10.244.1.5"],
            with(
                vec![
                    cnp_rule("first", Ingress, 0, Accept, Some(&["10.0.3.5/32"]), None),
                    cnp_rule("second", Ingress, 0, Deny, Some(&["10.0.3.0/24"]), Some(80)),
                ],
                None,
                vec![
                    cnp_rule(
                        "defaults",
                        Ingress,
                        0,
                        Pass,
                        Some(&["10.0.4.0/24"]),
                        Some(80),
                    ),
                    cnp_rule("defaults", Ingress, 1, Accept, Some(&["10.0.4.5/32"]), None),
                    cnp_rule("defaults", Ingress, 2, Deny, None, None),
                ],
            ),
            with(
                vec![
                    cnp_rule("out", Egress, 0, Deny, Some(&["10.0.5.0/24"]), None),
                    cnp_rule("out", Egress, 1, Accept, Some(&["10.0.6.5/32"]), Some(8080)),
                    cnp_rule("out", Egress, 1, Accept, Some(&["10.0.6.6/32"]), Some(9090)),
                ],
                None,
                Vec::new(),
            ),
        ),
    ]
}

/// Remotes, protocols and ports that cross every boundary of [`tier_pods`]' rules.
const TIER_REMOTES: [&str; 14] = [
    "10.0.0.5", "10.0.1.5", "10.0.1.6", "10.0.2.5", "10.0.2.6", "10.0.3.5", "10.0.3.6", "10.0.4.5",
    "10.0.4.6", "10.0.5.1", "10.0.6.5", "10.0.6.6", "10.1.0.1", "fd00::1",
];
const TIER_PORTS: [u16; 5] = [0, 80, 81, 8080, 9090];

/// The rule in `slot`, as `evaluate` names it.
fn rule_name(table: &PolicyTable, slot: Option<RuleSlot>) -> Option<String> {
    slot.map(|s| table.rules[s.0 as usize].rule.to_string())
}

/// The tier of the rule in `slot`, as `evaluate` says it; `None` for a NetworkPolicy rule.
fn tier_of(table: &PolicyTable, slot: RuleSlot) -> Option<Tier> {
    use podwire_dataplane::policy::tier::Tier as DataplaneTier;
    match table.rules[slot.0 as usize].action {
        Action::Allow => None,
        Action::Tier(DataplaneTier::Admin, _) => Some(Tier::Admin),
        Action::Tier(DataplaneTier::Baseline, _) => Some(Tier::Baseline),
    }
}

#[test]
fn tiers_render_in_precedence_order_with_their_actions() {
    let table = render(&tier_pods(), &mut RuleSlots::default(), 1);
    let priorities: Vec<(String, String)> = table
        .rules
        .iter()
        .filter(|info| &*info.pod == "x/priorities")
        .map(|info| (info.rule.to_string(), info.action.to_string()))
        .collect();
    let expected = [
        ("ClusterNetworkPolicy/first ingress[0]", "Admin Accept"),
        ("ClusterNetworkPolicy/second ingress[0]", "Admin Deny"),
        ("ClusterNetworkPolicy/defaults ingress[0]", "Baseline Pass"),
        (
            "ClusterNetworkPolicy/defaults ingress[1]",
            "Baseline Accept",
        ),
        ("ClusterNetworkPolicy/defaults ingress[2]", "Baseline Deny"),
        ("ClusterNetworkPolicy/out egress[0]", "Admin Deny"),
        ("ClusterNetworkPolicy/out egress[1]", "Admin Accept"),
        ("ClusterNetworkPolicy/out egress[1]", "Admin Accept"),
    ]
    .map(|(r, a)| (r.to_owned(), a.to_owned()));
    assert_eq!(priorities, expected);
    let np: Vec<String> = table
        .rules
        .iter()
        .filter(|info| &*info.pod == "x/pass")
        .map(|info| format!("{} {}", info.rule, info.action))
        .collect();
    assert_eq!(
        np,
        [
            "ClusterNetworkPolicy/delegate ingress[0] Admin Pass",
            "ClusterNetworkPolicy/delegate ingress[1] Admin Deny",
            "x/web ingress[0] Allow",
        ],
        "a direction's Admin rules, then its NetworkPolicies', then its Baseline's"
    );
    let only = &table.pods[&ip("10.244.1.4")];
    let ingress = only.ingress.as_ref().unwrap();
    assert!(ingress.admin.is_none() && ingress.policies.is_none() && ingress.baseline.is_some());
    assert!(only.egress.is_none(), "nothing restricts its egress");
}

/// Every direction of [`tier_pods`], on every remote, protocol and port of a grid, decides as
/// `evaluate` does: the verdict, the deciding rule, its tier, and the Pass rules.
#[test]
fn tiers_agree_with_evaluate() {
    let pods = tier_pods();
    let table = render(&pods, &mut RuleSlots::default(), 1);
    for pod in &pods {
        let rules = &table.pods[&pod.addresses[0]];
        for (name, direction, rendered) in [
            ("ingress", &pod.ingress, rules.ingress.as_ref()),
            ("egress", &pod.egress, rules.egress.as_ref()),
        ] {
            for remote in TIER_REMOTES.map(ip) {
                for protocol in [Protocol::Tcp, Protocol::Udp] {
                    for port in TIER_PORTS {
                        let expected =
                            podwire_k8s::policy::evaluate(direction, remote, protocol, port);
                        let (decision, denied) = match rendered {
                            Some(rules) => rules.judge(remote, protocol.number(), port),
                            None => Default::default(),
                        };
                        let tier = decision.rule.and_then(|s| tier_of(&table, s));
                        let passed: Vec<String> = decision
                            .passed
                            .into_iter()
                            .filter_map(|s| rule_name(&table, s))
                            .collect();
                        let want_passed: Vec<String> =
                            expected.passed.iter().map(ToString::to_string).collect();
                        assert_eq!(
                            (
                                denied.is_none(),
                                rule_name(&table, decision.rule),
                                tier,
                                passed
                            ),
                            (
                                expected.allowed,
                                expected.rule.as_ref().map(ToString::to_string),
                                expected.tier,
                                want_passed
                            ),
                            "x/{} {name} {remote} {protocol} {port}",
                            pod.name
                        );
                    }
                }
            }
        }
    }
}

/// The whole check: a connection from x/priorities (its egress) to each other pod (its
/// ingress) is allowed exactly when `evaluate` allows both directions.
#[test]
fn connections_need_the_clients_egress_and_the_servers_ingress() {
    let pods = tier_pods();
    let table = render(&pods, &mut RuleSlots::default(), 1);
    let client = pods.iter().find(|p| p.name == "priorities").unwrap();
    for server in &pods {
        for port in TIER_PORTS {
            let (src, dst) = (client.addresses[0], server.addresses[0]);
            let egress = podwire_k8s::policy::evaluate(&client.egress, dst, Protocol::Tcp, port);
            let ingress = podwire_k8s::policy::evaluate(&server.ingress, src, Protocol::Tcp, port);
            let verdict = table.check(src, dst, 6, port, false, false);
            assert_eq!(
                !matches!(verdict, PolicyVerdict::Denied { .. }),
                egress.allowed && ingress.allowed,
                "x/priorities -> x/{} port {port}: {verdict:?}",
                server.name
            );
        }
    }
}

#[test]
fn counters_count_the_deciding_rule_and_the_pass_rules_of_a_connection() {
    let pods = tier_pods();
    let table = render(&pods, &mut RuleSlots::default(), 3);
    let mut hits = PolicyHits::default();
    let connect = |hits: &mut PolicyHits, from: &str, to: &str, port: u16| {
        let verdict = table.check(ip(from), ip(to), 6, port, false, false);
        for slot in verdict.slots() {
            hits.count(&table, slot);
        }
    };
    // Passed on by the Admin tier, allowed by the NetworkPolicy.
    connect(&mut hits, "10.0.1.5", "10.244.1.2", 80);
    // Refused by the Admin Deny, twice.
    connect(&mut hits, "10.0.0.5", "10.244.1.1", 80);
    connect(&mut hits, "10.0.0.6", "10.244.1.1", 80);
    // Refused by isolation: no rule decided.
    connect(&mut hits, "10.1.0.1", "10.244.1.3", 80);
    // From x/priorities: its egress Admin Accept (the second compiled rule of the rule).
    connect(&mut hits, "10.244.1.5", "10.0.6.6", 9090);
    let counted: Vec<(String, String, u64)> = table
        .rules
        .iter()
        .zip(&hits.hits)
        .filter(|(_, n)| **n > 0)
        .map(|(info, n)| (info.pod.to_string(), info.rule.to_string(), *n))
        .collect();
    let expected = [
        (
            "x/admin-over-np",
            "ClusterNetworkPolicy/lockdown ingress[0]",
            2,
        ),
        ("x/pass", "ClusterNetworkPolicy/delegate ingress[0]", 1),
        ("x/pass", "x/web ingress[0]", 1),
        ("x/priorities", "ClusterNetworkPolicy/out egress[1]", 1),
    ]
    .map(|(p, r, n)| (p.to_owned(), r.to_owned(), n));
    assert_eq!(counted, expected);
    assert_eq!((table.generation, hits.epoch), (3, table.epoch));
}
