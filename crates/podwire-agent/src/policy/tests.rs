//! The renderer: slots and names in order, pods by each address, and classifiers that allow
//! exactly what the compiled rules (and `podwire_k8s::policy::evaluate`) allow.

use std::net::IpAddr;

use podwire_dataplane::policy::classifier::RuleSlot;
use podwire_model::Cidr;
use podwire_model::policy::{
    CompiledRule, DirectionPolicy, PeerBlock, PodPolicy, PolicyDirection, PolicyId, PortRange,
    RuleId,
};
use podwire_model::service::Protocol;

use super::render::render;

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
    let table = render(&pods(), 7);
    assert_eq!(table.generation, 7);
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
    let table = render(&pods(), 1);
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
    assert!(a4.ingress.is_some() && a4.egress.is_none());
    let b = &table.pods[&ip("10.244.0.3")];
    assert!(b.ingress.is_none() && b.egress.is_some());
    assert!(render(&pods()[2..3], 1).is_empty(), "x/c has no policy");
}

#[test]
fn classifiers_allow_what_the_rules_allow_and_deny_the_rest() {
    let table = render(&pods(), 1);
    let (tcp, udp, icmp) = (6, 17, 1);
    let a = table.pods[&ip("10.244.0.2")].ingress.as_ref().unwrap();
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

    let b = table.pods[&ip("10.244.0.3")].egress.as_ref().unwrap();
    assert_eq!(
        b.lookup(ip("10.1.0.5"), icmp, 0),
        Some(RuleSlot(2)),
        "any port"
    );
    assert_eq!(b.lookup(ip("10.1.0.5"), udp, 9), Some(RuleSlot(2)));
    assert_eq!(b.lookup(ip("10.1.0.6"), tcp, 8080), Some(RuleSlot(3)));
    assert_eq!(b.lookup(ip("10.1.0.6"), tcp, 80), None);
    assert_eq!(b.lookup(ip("10.1.0.7"), tcp, 8080), None);

    let d = table.pods[&ip("10.244.0.5")].ingress.as_ref().unwrap();
    for (remote, protocol, port) in [("10.0.0.5", tcp, 80), ("fd00::1", udp, 53)] {
        assert_eq!(d.lookup(ip(remote), protocol, port), None, "deny-all");
    }
}

/// The data plane must decide as `podwire_k8s::policy::evaluate` does on the compiled form:
/// every remote, protocol and port of a grid, against every isolated direction.
#[test]
fn classifiers_agree_with_evaluate() {
    let pods = pods();
    let table = render(&pods, 1);
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
            let Some(classifier) = classifier else {
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
