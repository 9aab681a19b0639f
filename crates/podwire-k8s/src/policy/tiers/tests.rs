//! The tiers on the upstream e2e model of `policy/tests.rs` (namespaces x, y, z × pods a,
//! b, c at 10.0.<ns>.<pod>; x and y have Namespace objects labelled `ns=<name>`, z is known
//! by its pods only): each case compiles NetworkPolicies and ClusterNetworkPolicies, then
//! checks every ordered pair of pods with `evaluate` and `explain`.

use std::net::IpAddr;

use podwire_model::cidr::Cidr;
use podwire_model::policy::{CompiledRule, PeerBlock, PolicyDirection, PolicyId, RuleId};
use podwire_model::service::Protocol;
use serde_json::{Value, json};

use crate::policy::tests::{Model, TCP, UDP, check_matrix, find, host, ip, ns, policy, reaches};
use crate::policy::{Party, evaluate, explain};
use crate::test_support::{merge, typed};

use PolicyDirection::{Egress, Ingress};

/// A ClusterNetworkPolicy `name` of `tier` with `priority` and the rest of its `spec`.
fn cnp(name: &str, tier: &str, priority: i32, spec: Value) -> Value {
    let mut full = json!({"tier": tier, "priority": priority});
    merge(&mut full, spec);
    json!({"metadata": {"name": name}, "spec": full})
}

/// A subject or peer: every pod of namespace `name` (by its name label).
fn namespace(name: &str) -> Value {
    json!({"namespaces": {"matchLabels": {"kubernetes.io/metadata.name": name}}})
}

/// A subject or peer: pod `pod` of namespace `namespace`.
fn pod(namespace: &str, pod: &str) -> Value {
    json!({"pods": {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
        "podSelector": {"matchLabels": {"pod": pod}}}})
}

fn rule(name: &str, direction: PolicyDirection, index: usize) -> RuleId {
    RuleId {
        policy: PolicyId::cluster(name),
        direction,
        index,
    }
}

fn addr(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn ids(rules: &[podwire_model::policy::TierRule]) -> Vec<RuleId> {
    rules.iter().map(|r| r.rule.id.clone()).collect()
}

#[test]
fn a_subject_selects_by_namespaces_or_by_namespace_and_pod_labels() {
    let deny_all = json!([{"action": "Deny", "from": [{"namespaces": {}}]}]);
    let compiled = Model::new().compile_with(
        &[],
        &[
            cnp(
                "by-namespace",
                "Admin",
                10,
                json!({"subject": {"namespaces": {"matchLabels": {"ns": "x"}}},
                       "ingress": deny_all}),
            ),
            // z has no Namespace object: its name label still selects it.
            cnp(
                "by-pod",
                "Admin",
                20,
                json!({"subject": pod("z", "c"), "ingress": deny_all}),
            ),
        ],
    );
    let subjects: Vec<String> = compiled
        .iter()
        .filter(|p| !p.ingress.admin.is_empty())
        .map(|p| format!("{}/{}", p.namespace, p.name))
        .collect();
    assert_eq!(subjects, ["x/a", "x/b", "x/c", "z/c"]);
    for pod in &compiled {
        assert!(pod.egress.admin.is_empty() && pod.ingress.baseline.is_empty());
        assert!(!pod.ingress.isolated(), "a tier rule is no NetworkPolicy");
    }
    let zc = &find(&compiled, "z/c").ingress.admin;
    assert_eq!(ids(zc), [rule("by-pod", Ingress, 0)]);
    assert_eq!(zc[0].rule.peers.as_ref().unwrap().len(), 9, "every pod");
    check_matrix("subjects", &compiled, TCP, 80, &|_, to| {
        ns(to) != "x" && to != "z/c"
    });
}

#[test]
fn an_admin_deny_beats_a_network_policy_allow() {
    let compiled = Model::new().compile_with(
        &[policy(
            "x",
            "allow-all",
            json!({"podSelector": {}, "ingress": [{}]}),
        )],
        &[cnp(
            "deny-from-y",
            "Admin",
            10,
            json!({"subject": namespace("x"),
                   "ingress": [{"action": "Deny", "from": [namespace("y")]}]}),
        )],
    );
    check_matrix("admin deny", &compiled, TCP, 80, &|from, to| {
        !(ns(to) == "x" && ns(from) == "y")
    });
    let verdict = evaluate(&find(&compiled, "x/a").ingress, ip("y", "a"), TCP, 80);
    assert!(!verdict.allowed);
    assert_eq!(verdict.rule, Some(rule("deny-from-y", Ingress, 0)));
    assert_eq!(verdict.tier, Some(podwire_model::policy::Tier::Admin));
    assert_eq!(verdict.isolating[0].name, "allow-all");
}

#[test]
fn an_admin_accept_beats_a_network_policy_isolation() {
    let compiled = Model::new().compile_with(
        &[policy("x", "deny-all", json!({"podSelector": {}}))],
        &[cnp(
            "accept-from-y",
            "Admin",
            10,
            json!({"subject": namespace("x"),
                   "ingress": [{"action": "Accept", "from": [namespace("y")]}]}),
        )],
    );
    check_matrix("admin accept", &compiled, TCP, 80, &|from, to| {
        ns(to) != "x" || ns(from) == "y"
    });
}

#[test]
fn an_admin_pass_lets_network_policies_decide() {
    let compiled = Model::new().compile_with(
        &[policy(
            "x",
            "from-a",
            json!({"podSelector": {},
                   "ingress": [{"from": [{"podSelector": {"matchLabels": {"pod": "a"}}}]}]}),
        )],
        &[
            cnp(
                "deny-all",
                "Admin",
                2,
                json!({"subject": namespace("x"),
                       "ingress": [{"action": "Deny", "from": [{"namespaces": {}}]}]}),
            ),
            cnp(
                "pass-all",
                "Admin",
                1,
                json!({"subject": namespace("x"),
                       "ingress": [{"action": "Pass", "from": [{"namespaces": {}}]}]}),
            ),
        ],
    );
    check_matrix("admin pass", &compiled, TCP, 80, &|from, to| {
        ns(to) != "x" || from == "x/a"
    });
    let verdict = evaluate(&find(&compiled, "x/b").ingress, ip("x", "a"), TCP, 80);
    assert!(verdict.allowed);
    assert_eq!(verdict.rule.unwrap().policy.name, "from-a");
    assert_eq!(verdict.tier, None, "the NetworkPolicy tier decided");
    assert_eq!(verdict.passed, [rule("pass-all", Ingress, 0)]);
}

#[test]
fn an_admin_pass_skips_only_the_rest_of_the_admin_tier() {
    let compiled = Model::new().compile_with(
        &[],
        &[
            cnp(
                "pass-y",
                "Admin",
                1,
                json!({"subject": namespace("x"),
                       "ingress": [{"action": "Pass", "from": [namespace("y")]}]}),
            ),
            cnp(
                "deny-all",
                "Admin",
                2,
                json!({"subject": namespace("x"),
                       "ingress": [{"action": "Deny", "from": [{"namespaces": {}}]}]}),
            ),
            cnp(
                "deny-y-80",
                "Baseline",
                1,
                json!({"subject": namespace("x"),
                       "ingress": [{"action": "Deny", "from": [namespace("y")],
                                    "protocols": [{"tcp": {"destinationPort": {"number": 80}}}]}]}),
            ),
        ],
    );
    check_matrix("pass, then baseline", &compiled, TCP, 80, &|_, to| {
        ns(to) != "x"
    });
    check_matrix("pass, then nothing", &compiled, TCP, 81, &|from, to| {
        ns(to) != "x" || ns(from) == "y"
    });
    let xa = &find(&compiled, "x/a").ingress;
    let at_80 = evaluate(xa, ip("y", "a"), TCP, 80);
    assert_eq!(at_80.rule, Some(rule("deny-y-80", Ingress, 0)));
    assert_eq!(at_80.tier, Some(podwire_model::policy::Tier::Baseline));
    assert_eq!(at_80.passed, [rule("pass-y", Ingress, 0)]);
    let at_81 = evaluate(xa, ip("y", "a"), TCP, 81);
    assert!(at_81.allowed && at_81.rule.is_none() && at_81.tier.is_none());
    assert_eq!(at_81.passed, [rule("pass-y", Ingress, 0)]);
}

#[test]
fn the_baseline_applies_only_where_no_network_policy_isolates() {
    let compiled = Model::new().compile_with(
        &[policy(
            "x",
            "a-from-y",
            json!({"podSelector": {"matchLabels": {"pod": "a"}},
                   "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}]}]}),
        )],
        &[cnp(
            "deny-all",
            "Baseline",
            1,
            json!({"subject": {"namespaces": {}},
                   "ingress": [{"action": "Deny", "from": [{"namespaces": {}}]}]}),
        )],
    );
    check_matrix(
        "baseline under isolation",
        &compiled,
        TCP,
        80,
        &|from, to| to == "x/a" && ns(from) == "y",
    );
}

#[test]
fn baseline_accept_and_deny_decide_in_precedence_order() {
    let compiled = Model::new().compile_with(
        &[],
        &[
            cnp(
                "deny-rest",
                "Baseline",
                2,
                json!({"subject": namespace("x"),
                       "ingress": [{"action": "Deny", "from": [{"namespaces": {}}]}]}),
            ),
            cnp(
                "accept-y",
                "Baseline",
                1,
                json!({"subject": namespace("x"),
                       "ingress": [{"action": "Accept", "from": [namespace("y")]}]}),
            ),
        ],
    );
    check_matrix("baseline", &compiled, TCP, 80, &|from, to| {
        ns(to) != "x" || ns(from) == "y"
    });
    let verdict = evaluate(&find(&compiled, "x/a").ingress, ip("y", "b"), TCP, 80);
    assert_eq!(verdict.rule, Some(rule("accept-y", Ingress, 0)));
    assert_eq!(verdict.tier, Some(podwire_model::policy::Tier::Baseline));
}

#[test]
fn priority_orders_policies_and_the_name_breaks_ties() {
    let deny_all = json!([{"action": "Deny", "from": [{"namespaces": {}}]}]);
    let compiled = Model::new().compile_with(
        &[],
        &[
            cnp(
                "b-deny",
                "Admin",
                5,
                json!({"subject": namespace("x"), "ingress": deny_all}),
            ),
            cnp(
                "z-deny-yb",
                "Admin",
                3,
                json!({"subject": namespace("x"),
                       "ingress": [{"action": "Deny", "from": [pod("y", "b")]}]}),
            ),
            cnp(
                "a-accept",
                "Admin",
                5,
                json!({"subject": namespace("x"),
                       "ingress": [{"action": "Accept", "from": [namespace("y")]}]}),
            ),
        ],
    );
    assert_eq!(
        ids(&find(&compiled, "x/a").ingress.admin),
        [
            rule("z-deny-yb", Ingress, 0),
            rule("a-accept", Ingress, 0),
            rule("b-deny", Ingress, 0),
        ]
    );
    check_matrix("priorities", &compiled, TCP, 80, &|from, to| {
        ns(to) != "x" || (ns(from) == "y" && from != "y/b")
    });
}

#[test]
fn rules_of_a_policy_apply_in_their_order() {
    let accept_y = json!({"action": "Accept", "from": [namespace("y")]});
    let deny_all = json!({"action": "Deny", "from": [{"namespaces": {}}]});
    let compile = |rules: Value| {
        Model::new().compile_with(
            &[],
            &[cnp(
                "ordered",
                "Admin",
                1,
                json!({"subject": namespace("x"), "ingress": rules}),
            )],
        )
    };
    let compiled = compile(json!([accept_y, deny_all]));
    check_matrix("accept first", &compiled, TCP, 80, &|from, to| {
        ns(to) != "x" || ns(from) == "y"
    });
    let compiled = compile(json!([deny_all, accept_y]));
    check_matrix("deny first", &compiled, TCP, 80, &|_, to| ns(to) != "x");
    let verdict = evaluate(&find(&compiled, "x/c").ingress, ip("y", "a"), TCP, 80);
    assert_eq!(verdict.rule, Some(rule("ordered", Ingress, 0)));
}

#[test]
fn a_networks_peer_matches_pod_addresses_too() {
    let compiled = Model::new().compile_with(
        &[],
        &[cnp(
            "deny-y-net",
            "Admin",
            1,
            json!({"subject": namespace("x"),
                   "egress": [{"action": "Deny", "to": [{"networks": ["10.0.2.9/24"]}]}]}),
        )],
    );
    let egress = &find(&compiled, "x/a").egress.admin;
    assert_eq!(
        egress[0].rule.peers.as_deref().unwrap(),
        [PeerBlock {
            cidr: "10.0.2.0/24".parse().unwrap(),
            except: Vec::new(),
        }]
    );
    assert_eq!(egress[0].rule.ports, None, "no protocols: all traffic");
    check_matrix("networks", &compiled, UDP, 53, &|from, to| {
        !(ns(from) == "x" && ns(to) == "y")
    });
    let xa = &find(&compiled, "x/a").egress;
    assert!(!evaluate(xa, addr("10.0.2.200"), TCP, 443).allowed);
    assert!(evaluate(xa, addr("10.0.3.200"), TCP, 443).allowed);
}

/// The model with y/a serving `web` on TCP 80, y/b on TCP 8080, y/c on UDP 5353.
fn web_model() -> Model {
    let mut model = Model::new();
    for pod in &mut model.pods {
        let web = match (
            pod.metadata.namespace.as_deref(),
            pod.metadata.name.as_deref(),
        ) {
            (Some("y"), Some("a")) => json!({"name": "web", "containerPort": 80}),
            (Some("y"), Some("b")) => json!({"name": "web", "containerPort": 8080}),
            (Some("y"), Some("c")) => {
                json!({"name": "web", "containerPort": 5353, "protocol": "UDP"})
            }
            _ => continue,
        };
        let mut value = serde_json::to_value(&*pod).unwrap();
        merge(
            &mut value,
            json!({"spec": {"containers": [{"name": "serve", "ports": [web]}]}}),
        );
        *pod = typed(value);
    }
    model
}

#[test]
fn named_ports_resolve_on_the_destination_pod_in_any_protocol() {
    let web = json!([{"destinationNamedPort": "web"}]);
    let compiled = web_model().compile_with(
        &[],
        &[
            cnp(
                "egress-web",
                "Admin",
                1,
                json!({"subject": namespace("x"),
                       "egress": [{"action": "Accept", "to": [namespace("y")], "protocols": web},
                                  {"action": "Deny", "to": [{"namespaces": {}}]}]}),
            ),
            cnp(
                "ingress-web",
                "Admin",
                2,
                json!({"subject": namespace("y"),
                       "ingress": [{"action": "Deny", "from": [pod("z", "a")], "protocols": web}]}),
            ),
        ],
    );
    // Egress: one compiled rule per number, with the peers that give it, same rule id.
    let egress = &find(&compiled, "x/a").egress.admin;
    let parts: Vec<(RuleId, Vec<PeerBlock>, Protocol, u16)> = egress
        .iter()
        .filter(|r| r.rule.id == rule("egress-web", Egress, 0))
        .map(|r| {
            let ports = r.rule.ports.as_deref().unwrap();
            assert_eq!(ports.len(), 1);
            let (first, last) = ports[0].ports.unwrap();
            assert_eq!(first, last);
            (
                r.rule.id.clone(),
                r.rule.peers.clone().unwrap(),
                ports[0].protocol,
                first,
            )
        })
        .collect();
    let id = rule("egress-web", Egress, 0);
    assert_eq!(
        parts,
        [
            (id.clone(), vec![host("10.0.2.1")], TCP, 80),
            (id.clone(), vec![host("10.0.2.2")], TCP, 8080),
            (id, vec![host("10.0.2.3")], UDP, 5353),
        ]
    );
    let xa = &find(&compiled, "x/a").egress;
    let to = |addr, protocol, port| evaluate(xa, addr, protocol, port).allowed;
    assert!(to(ip("y", "a"), TCP, 80) && !to(ip("y", "a"), TCP, 8080));
    assert!(to(ip("y", "b"), TCP, 8080) && !to(ip("y", "b"), TCP, 80));
    assert!(to(ip("y", "c"), UDP, 5353) && !to(ip("y", "c"), TCP, 5353));
    assert!(!to(ip("z", "a"), TCP, 80), "z/a has no port named web");

    // Ingress: the subject pod's own port.
    let ingress_ports = |pod: &str| {
        let rules = &find(&compiled, pod).ingress.admin;
        assert_eq!(ids(rules), [rule("ingress-web", Ingress, 0)]);
        rules[0].rule.ports.clone().unwrap()
    };
    assert_eq!(ingress_ports("y/b")[0].ports, Some((8080, 8080)));
    assert_eq!(ingress_ports("y/c")[0].protocol, UDP);
    assert!(!reaches(&compiled, "z/a", "y/c", UDP, 5353));
    assert!(reaches(&compiled, "z/a", "y/c", TCP, 5353));
    assert!(!reaches(&compiled, "z/a", "y/b", TCP, 8080));
    assert!(reaches(&compiled, "z/b", "y/b", TCP, 8080));
}

#[test]
fn an_egress_accept_does_not_bypass_the_destinations_ingress() {
    let compiled = Model::new().compile_with(
        &[],
        &[
            cnp(
                "egress-accept",
                "Admin",
                1,
                json!({"subject": pod("x", "a"),
                       "egress": [{"action": "Accept", "to": [{"namespaces": {}}]}]}),
            ),
            cnp(
                "ingress-deny",
                "Admin",
                1,
                json!({"subject": pod("y", "b"),
                       "ingress": [{"action": "Deny", "from": [namespace("x")]}]}),
            ),
        ],
    );
    let (xa, yb) = (find(&compiled, "x/a"), find(&compiled, "y/b"));
    assert!(evaluate(&xa.egress, ip("y", "b"), TCP, 80).allowed);
    assert!(!evaluate(&yb.ingress, ip("x", "a"), TCP, 80).allowed);
    let explained = explain(Party::Pod(xa), Party::Pod(yb), TCP, 80);
    assert_eq!(explained.verdict, "deny");
    assert_eq!(
        explained.policy.as_deref(),
        Some("ClusterNetworkPolicy/ingress-deny")
    );
    assert_eq!(explained.rule.as_deref(), Some("ingress[0]"));
    assert_eq!(
        explained.reason,
        "denied by the Admin tier: ClusterNetworkPolicy/ingress-deny ingress[0] (Deny) \
         matches TCP 80 from 10.0.1.1 to y/b"
    );
    assert!(explained.egress.unwrap().allowed);

    let ya = find(&compiled, "y/a");
    let explained = explain(Party::Pod(xa), Party::Pod(ya), TCP, 80);
    assert_eq!(explained.verdict, "allow");
    assert_eq!(
        explained.policy.as_deref(),
        Some("ClusterNetworkPolicy/egress-accept")
    );
    assert_eq!(explained.rule.as_deref(), Some("egress[0]"));
    assert_eq!(
        explained.reason,
        "allowed: x/a's egress is accepted by ClusterNetworkPolicy/egress-accept egress[0] \
         (Admin tier, Accept) and no policy selects y/a for ingress"
    );
}

mod explain_tests {
    use super::*;

    /// Admin: `pass-all` passes all egress, and ingress from z. NetworkPolicy `y/deny-c`
    /// isolates y/c. Baseline: `deny-z` denies y/b's ingress from z.
    fn compiled() -> Vec<podwire_model::policy::PodPolicy> {
        Model::new().compile_with(
            &[policy(
                "y",
                "deny-c",
                json!({"podSelector": {"matchLabels": {"pod": "c"}}}),
            )],
            &[
                cnp(
                    "pass-all",
                    "Admin",
                    1,
                    json!({"subject": {"namespaces": {}},
                           "egress": [{"action": "Pass", "to": [{"namespaces": {}}]}],
                           "ingress": [{"action": "Pass", "from": [namespace("z")]}]}),
                ),
                cnp(
                    "deny-z",
                    "Baseline",
                    1,
                    json!({"subject": pod("y", "b"),
                           "ingress": [{"action": "Deny", "from": [namespace("z")]}]}),
                ),
            ],
        )
    }

    fn explained(from: &str, to: &str) -> podwire_model::policy::Explanation {
        let compiled = compiled();
        let (from, to) = (find(&compiled, from), find(&compiled, to));
        explain(Party::Pod(from), Party::Pod(to), TCP, 80)
    }

    #[test]
    fn a_pass_then_no_isolation_allows_without_a_deciding_rule() {
        let explained = explained("x/a", "x/b");
        assert_eq!(explained.verdict, "allow");
        assert_eq!((explained.policy, explained.rule), (None, None));
        assert_eq!(
            explained.reason,
            "allowed: ClusterNetworkPolicy/pass-all egress[0] passed x/a's egress to \
             NetworkPolicies, no NetworkPolicy isolates it and no Admin rule matches x/b's \
             ingress, no NetworkPolicy isolates it"
        );
        assert_eq!(
            explained.egress.unwrap().passed,
            [rule("pass-all", Egress, 0)]
        );
    }

    #[test]
    fn a_pass_then_an_isolating_network_policy_denies() {
        let explained = explained("z/a", "y/c");
        assert_eq!(explained.verdict, "deny");
        assert_eq!(explained.policy.as_deref(), Some("y/deny-c"));
        assert_eq!(explained.rule.as_deref(), Some("ingress"));
        assert_eq!(
            explained.reason,
            "denied: y/c's ingress is isolated by y/deny-c and no rule allows TCP 80 from \
             10.0.3.1, after ClusterNetworkPolicy/pass-all ingress[0] passed it to \
             NetworkPolicies"
        );
        let without_pass = self::explained("x/a", "y/c");
        assert_eq!(
            without_pass.reason,
            "denied: y/c's ingress is isolated by y/deny-c and no rule allows TCP 80 from \
             10.0.1.1"
        );
    }

    #[test]
    fn a_baseline_deny_names_its_tier_rule_and_action() {
        let explained = explained("z/a", "y/b");
        assert_eq!(explained.verdict, "deny");
        assert_eq!(
            explained.policy.as_deref(),
            Some("ClusterNetworkPolicy/deny-z")
        );
        assert_eq!(explained.rule.as_deref(), Some("ingress[0]"));
        assert_eq!(
            explained.reason,
            "denied by the Baseline tier: ClusterNetworkPolicy/deny-z ingress[0] (Deny) \
             matches TCP 80 from 10.0.3.1 to y/b, after ClusterNetworkPolicy/pass-all \
             ingress[0] passed it to NetworkPolicies"
        );
    }

    #[test]
    fn the_json_carries_the_tier_and_the_passes() {
        let value = serde_json::to_value(explained("z/a", "y/b")).unwrap();
        assert_eq!(value["verdict"], "deny");
        assert_eq!(value["policy"], "ClusterNetworkPolicy/deny-z");
        assert_eq!(value["rule"], "ingress[0]");
        assert_eq!(value["ingress"]["allowed"], false);
        assert_eq!(value["ingress"]["tier"], "Baseline");
        assert_eq!(value["ingress"]["rule"]["policy"]["name"], "deny-z");
        assert_eq!(value["ingress"]["rule"]["policy"]["namespace"], "");
        assert_eq!(value["ingress"]["passed"][0]["policy"]["name"], "pass-all");
        assert_eq!(value["ingress"]["passed"][0]["direction"], "ingress");
        assert_eq!(value["ingress"]["isolating"], json!([]));
        assert_eq!(value["egress"]["allowed"], true);
        assert_eq!(value["egress"]["tier"], Value::Null);
        assert_eq!(value["egress"]["passed"][0]["direction"], "egress");
    }
}

#[test]
fn what_cannot_be_resolved_fails_closed() {
    let compiled = Model::new().compile_with(
        &[],
        &[
            cnp(
                "deny-nodes",
                "Admin",
                1,
                json!({"subject": pod("x", "a"),
                       "egress": [{"action": "Deny", "to": [{"nodes": {}}],
                                   "protocols": [{"tcp": {"destinationPort": {"number": 443}}}]}]}),
            ),
            cnp(
                "accept-domains",
                "Admin",
                1,
                json!({"subject": pod("x", "b"),
                       "egress": [{"action": "Accept", "to": [{"domainNames": ["example.com"]}]},
                                  {"action": "Deny", "to": [{"networks": ["0.0.0.0/0"]}]}]}),
            ),
            cnp(
                "empty-peer",
                "Admin",
                1,
                json!({"subject": pod("x", "c"),
                       "ingress": [{"action": "Accept", "from": [namespace("nowhere")]},
                                   {"action": "Deny", "from": [{}],
                                    "protocols": [{"udp": {}}]}]}),
            ),
        ],
    );
    let every_address = [
        PeerBlock {
            cidr: Cidr::new(addr("0.0.0.0"), 0).unwrap(),
            except: Vec::new(),
        },
        PeerBlock {
            cidr: Cidr::new(addr("::"), 0).unwrap(),
            except: Vec::new(),
        },
    ];
    let xa = &find(&compiled, "x/a").egress;
    assert_eq!(xa.admin[0].rule.peers.as_deref(), Some(&every_address[..]));
    assert!(!evaluate(xa, addr("192.0.2.1"), TCP, 443).allowed);
    assert!(!evaluate(xa, addr("2001:db8::1"), TCP, 443).allowed);
    assert!(evaluate(xa, addr("192.0.2.1"), TCP, 80).allowed);

    let xb = &find(&compiled, "x/b").egress;
    assert_eq!(xb.admin[0].rule.peers, Some(Vec::new()), "Accept: nothing");
    assert!(!evaluate(xb, addr("192.0.2.1"), TCP, 80).allowed);

    let xc = &find(&compiled, "x/c").ingress;
    assert_eq!(
        xc.admin[0].rule,
        CompiledRule {
            id: rule("empty-peer", Ingress, 0),
            peers: Some(Vec::new()),
            ports: None,
        },
        "a rule whose peers select nothing keeps its place"
    );
    assert_eq!(xc.admin[1].rule.peers.as_deref(), Some(&every_address[..]));
    let udp = evaluate(xc, addr("198.51.100.7"), UDP, 9);
    assert_eq!(
        (udp.allowed, udp.rule),
        (false, Some(rule("empty-peer", Ingress, 1))),
        "a udp entry without a port denies every UDP port"
    );
    assert!(evaluate(xc, addr("198.51.100.7"), TCP, 9).allowed);
}
