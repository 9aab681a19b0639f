//! The check of a new connection: each direction tier by tier, the client's egress and the
//! server's ingress.

use core::net::{IpAddr, Ipv4Addr};

use super::*;
use crate::policy::classifier::{ClassifierBuilder, PeerMatch, PortMatch};
use crate::policy::tier::TierBuilder;

const TCP: u8 = 6;
const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3));
const OUTSIDE: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

use TierAction::{Accept, Deny, Pass};

fn host(addr: IpAddr) -> PeerMatch {
    PeerMatch {
        prefix: (addr, 32),
        except: Vec::new(),
    }
}

/// TCP `port`; `None`: any traffic.
fn tcp(port: Option<u16>) -> Option<Vec<PortMatch>> {
    port.map(|port| {
        vec![PortMatch {
            protocol: TCP,
            ports: Some((port, port)),
        }]
    })
}

/// A NetworkPolicy classifier allowing `from` on TCP `port` as rule `slot`.
fn allowing(slot: u32, from: IpAddr, port: u16) -> Classifier {
    let mut b = ClassifierBuilder::new();
    b.add(
        RuleSlot(slot),
        Some(&[host(from)]),
        tcp(Some(port)).as_deref(),
    );
    b.build()
}

/// A tier of rules (slot, action, remote, TCP port or any traffic), in precedence order.
fn tier(rules: &[(u32, TierAction, IpAddr, Option<u16>)]) -> TierClassifier {
    let mut b = TierBuilder::new();
    for &(slot, action, remote, port) in rules {
        b.add(
            RuleSlot(slot),
            action,
            Some(&[host(remote)]),
            tcp(port).as_deref(),
        );
    }
    b.build()
}

/// Rules of one direction: the Admin tier, NetworkPolicies' (`Some`: isolated), Baseline.
fn rules(
    admin: Option<TierClassifier>,
    policies: Option<Classifier>,
    baseline: Option<TierClassifier>,
) -> Option<DirectionRules> {
    Some(DirectionRules {
        admin,
        policies,
        baseline,
    })
}

/// Only NetworkPolicies.
fn isolated(policies: Classifier) -> Option<DirectionRules> {
    rules(None, Some(policies), None)
}

fn table(pods: Vec<(IpAddr, PodRules)>) -> PolicyTable {
    PolicyTable {
        pods: pods.into_iter().map(|(a, p)| (a, Arc::new(p))).collect(),
        rules: Vec::new(),
        generation: 1,
        epoch: 0,
    }
}

fn pod(ingress: Option<DirectionRules>, egress: Option<DirectionRules>) -> PodRules {
    PodRules {
        name: "ns/pod".into(),
        ingress,
        egress,
    }
}

fn decided(rule: Option<u32>, admin_pass: Option<u32>, baseline_pass: Option<u32>) -> Decision {
    Decision {
        rule: rule.map(RuleSlot),
        passed: [admin_pass.map(RuleSlot), baseline_pass.map(RuleSlot)],
    }
}

const NOTHING: Decision = Decision {
    rule: None,
    passed: [None, None],
};

fn allowed(egress: Decision, ingress: Decision) -> PolicyVerdict {
    PolicyVerdict::Allowed { egress, ingress }
}

/// The verdict of B's ingress `rules` on A → B TCP `port`.
fn ingress_of_b(rules: Option<DirectionRules>, port: u16) -> PolicyVerdict {
    table(vec![(B, pod(rules, None))]).check(A, B, TCP, port, false, false)
}

fn denied_ingress(by: DeniedBy, ingress: Decision) -> PolicyVerdict {
    PolicyVerdict::Denied {
        side: Denied::Ingress,
        by,
        egress: NOTHING,
        ingress,
    }
}

#[test]
fn without_isolation_nothing_is_restricted() {
    let t = table(vec![(A, pod(None, None))]);
    assert_eq!(
        t.check(A, B, TCP, 80, false, false),
        allowed(NOTHING, NOTHING),
        "A is a pod with policies: its connection needs a session for the reply"
    );
    assert_eq!(
        t.check(OUTSIDE, B, TCP, 80, false, false),
        PolicyVerdict::Unrestricted,
        "neither end has policies"
    );
    assert_eq!(
        ingress_of_b(rules(None, None, None), 80),
        allowed(NOTHING, NOTHING),
        "a direction with no tier and no isolation allows everything"
    );
}

#[test]
fn ingress_looks_at_the_source_and_egress_at_the_destination() {
    let t = table(vec![
        (B, pod(isolated(allowing(1, A, 80)), None)),
        (A, pod(None, isolated(allowing(2, B, 80)))),
    ]);
    assert_eq!(
        t.check(A, B, TCP, 80, false, false),
        allowed(decided(Some(2), None, None), decided(Some(1), None, None))
    );
    assert_eq!(
        t.check(A, B, TCP, 81, false, false),
        PolicyVerdict::Denied {
            side: Denied::Egress,
            by: DeniedBy::Isolation,
            egress: NOTHING,
            ingress: NOTHING
        },
        "egress is asked first"
    );
    assert_eq!(
        t.check(OUTSIDE, B, TCP, 80, false, false),
        denied_ingress(DeniedBy::Isolation, NOTHING)
    );
    assert!(matches!(
        t.check(A, OUTSIDE, TCP, 80, false, false),
        PolicyVerdict::Denied {
            side: Denied::Egress,
            by: DeniedBy::Isolation,
            ..
        }
    ));
    assert_eq!(
        t.check(B, A, TCP, 80, false, false),
        allowed(NOTHING, NOTHING),
        "B's egress and A's ingress are open; the reply needs the session (A's egress)"
    );
}

#[test]
fn an_admin_accept_or_deny_decides_before_network_policies() {
    // The NetworkPolicies allow A on 80 only.
    let admin = || tier(&[(1, Accept, A, Some(81)), (2, Deny, A, Some(80))]);
    assert_eq!(
        ingress_of_b(rules(Some(admin()), Some(allowing(3, A, 80)), None), 81),
        allowed(NOTHING, decided(Some(1), None, None)),
        "an Admin Accept allows what the NetworkPolicies do not"
    );
    assert_eq!(
        ingress_of_b(rules(Some(admin()), Some(allowing(3, A, 80)), None), 80),
        denied_ingress(
            DeniedBy::Rule(Tier::Admin, RuleSlot(2)),
            decided(Some(2), None, None)
        ),
        "an Admin Deny refuses what the NetworkPolicies allow"
    );
    assert_eq!(
        ingress_of_b(rules(Some(admin()), Some(allowing(3, A, 80)), None), 82),
        denied_ingress(DeniedBy::Isolation, NOTHING),
        "no Admin rule matches: the NetworkPolicies decide"
    );
}

#[test]
fn the_first_matching_admin_rule_decides() {
    let admin = tier(&[(1, Deny, A, Some(80)), (2, Accept, A, None)]);
    assert_eq!(
        ingress_of_b(rules(Some(admin.clone()), None, None), 80),
        denied_ingress(
            DeniedBy::Rule(Tier::Admin, RuleSlot(1)),
            decided(Some(1), None, None)
        )
    );
    assert_eq!(
        ingress_of_b(rules(Some(admin), None, None), 443),
        allowed(NOTHING, decided(Some(2), None, None))
    );
}

#[test]
fn an_admin_pass_skips_the_rest_of_the_admin_tier() {
    let admin = || tier(&[(1, Pass, A, Some(80)), (2, Deny, A, None)]);
    assert_eq!(
        ingress_of_b(rules(Some(admin()), Some(allowing(3, A, 80)), None), 80),
        allowed(NOTHING, decided(Some(3), Some(1), None)),
        "passed on to the NetworkPolicies, which allow it"
    );
    assert_eq!(
        ingress_of_b(rules(Some(admin()), Some(allowing(3, A, 443)), None), 80),
        denied_ingress(DeniedBy::Isolation, decided(None, Some(1), None)),
        "passed on to the NetworkPolicies, which do not allow it"
    );
    let baseline = tier(&[(4, Deny, A, None)]);
    assert_eq!(
        ingress_of_b(rules(Some(admin()), None, Some(baseline)), 80),
        denied_ingress(
            DeniedBy::Rule(Tier::Baseline, RuleSlot(4)),
            decided(Some(4), Some(1), None)
        ),
        "not isolated: passed on to the Baseline tier"
    );
    assert_eq!(
        ingress_of_b(rules(Some(admin()), None, None), 80),
        allowed(NOTHING, decided(None, Some(1), None)),
        "passed on, and nothing else restricts it"
    );
    assert!(matches!(
        ingress_of_b(rules(Some(admin()), None, None), 81),
        PolicyVerdict::Denied {
            by: DeniedBy::Rule(Tier::Admin, RuleSlot(2)),
            ..
        }
    ));
}

#[test]
fn network_policies_are_final_for_the_pods_they_isolate() {
    let np = || Some(allowing(1, A, 80));
    let baseline = || Some(tier(&[(2, Deny, A, Some(80)), (3, Accept, A, None)]));
    assert_eq!(
        ingress_of_b(rules(None, np(), baseline()), 80),
        allowed(NOTHING, decided(Some(1), None, None)),
        "the Baseline Deny is not asked"
    );
    assert_eq!(
        ingress_of_b(rules(None, np(), baseline()), 81),
        denied_ingress(DeniedBy::Isolation, NOTHING),
        "the Baseline Accept is not asked"
    );
}

#[test]
fn the_baseline_decides_for_pods_no_network_policy_isolates() {
    let baseline = || {
        Some(tier(&[
            (1, Pass, A, Some(22)),
            (2, Deny, A, Some(80)),
            (3, Accept, A, None),
        ]))
    };
    assert_eq!(
        ingress_of_b(rules(None, None, baseline()), 80),
        denied_ingress(
            DeniedBy::Rule(Tier::Baseline, RuleSlot(2)),
            decided(Some(2), None, None)
        )
    );
    assert_eq!(
        ingress_of_b(rules(None, None, baseline()), 443),
        allowed(NOTHING, decided(Some(3), None, None))
    );
    assert_eq!(
        ingress_of_b(rules(None, None, baseline()), 22),
        allowed(NOTHING, decided(None, None, Some(1))),
        "a Baseline Pass skips the tier's Accept and leaves it allowed"
    );
    let deny_all = tier(&[(1, Pass, A, Some(22)), (2, Deny, A, None)]);
    assert_eq!(
        ingress_of_b(rules(None, None, Some(deny_all)), 22),
        allowed(NOTHING, decided(None, None, Some(1))),
        "a Baseline Pass skips the tier's Deny"
    );
    assert_eq!(
        table(vec![(B, pod(rules(None, None, baseline()), None))])
            .check(OUTSIDE, B, TCP, 80, false, false),
        allowed(NOTHING, NOTHING),
        "no Baseline rule matches: allowed"
    );
}

#[test]
fn both_tiers_can_pass_on_one_direction() {
    let admin = tier(&[(1, Pass, A, None)]);
    let baseline = tier(&[(2, Pass, A, None), (3, Deny, A, None)]);
    assert_eq!(
        ingress_of_b(rules(Some(admin), None, Some(baseline)), 80),
        allowed(NOTHING, decided(None, Some(1), Some(2)))
    );
}

#[test]
fn an_egress_accept_does_not_overrule_the_servers_ingress() {
    let t = table(vec![
        (
            A,
            pod(None, rules(Some(tier(&[(1, Accept, B, None)])), None, None)),
        ),
        (B, pod(isolated(allowing(2, OUTSIDE, 80)), None)),
    ]);
    assert_eq!(
        t.check(A, B, TCP, 80, false, false),
        PolicyVerdict::Denied {
            side: Denied::Ingress,
            by: DeniedBy::Isolation,
            egress: decided(Some(1), None, None),
            ingress: NOTHING,
        }
    );
    // An egress Deny: the ingress is not asked.
    let t = table(vec![
        (
            A,
            pod(None, rules(Some(tier(&[(1, Deny, B, None)])), None, None)),
        ),
        (
            B,
            pod(rules(Some(tier(&[(2, Pass, A, None)])), None, None), None),
        ),
    ]);
    assert_eq!(
        t.check(A, B, TCP, 80, false, false),
        PolicyVerdict::Denied {
            side: Denied::Egress,
            by: DeniedBy::Rule(Tier::Admin, RuleSlot(1)),
            egress: decided(Some(1), None, None),
            ingress: NOTHING,
        }
    );
}

#[test]
fn the_node_reaches_its_pods_and_they_reach_it() {
    let deny_all = |slot| rules(Some(tier(&[(slot, Deny, OUTSIDE, None)])), None, None);
    let t = table(vec![
        (B, pod(isolated(allowing(1, A, 80)), deny_all(3))),
        (A, pod(deny_all(4), isolated(allowing(2, B, 80)))),
    ]);
    // Allowed whatever the rules say; the session carries the reply through.
    assert_eq!(
        t.check(OUTSIDE, B, TCP, 22, true, false),
        allowed(NOTHING, NOTHING)
    );
    assert_eq!(
        t.check(A, OUTSIDE, TCP, 22, false, true),
        allowed(NOTHING, NOTHING)
    );
    assert_eq!(
        t.check(OUTSIDE, A, TCP, 22, true, false),
        allowed(NOTHING, NOTHING),
        "A's ingress has an Admin Deny of that address, and the node is exempt"
    );
    assert_eq!(
        t.check(OUTSIDE, A, TCP, 22, false, false),
        denied_ingress(
            DeniedBy::Rule(Tier::Admin, RuleSlot(4)),
            decided(Some(4), None, None)
        ),
        "the same address, not the node"
    );
}

#[test]
fn a_verdicts_slots_are_every_rule_that_matched_egress_first() {
    let verdict = PolicyVerdict::Denied {
        side: Denied::Ingress,
        by: DeniedBy::Rule(Tier::Baseline, RuleSlot(5)),
        egress: decided(Some(2), Some(1), None),
        ingress: decided(Some(5), Some(4), None),
    };
    let slots: Vec<u32> = verdict.slots().map(|s| s.0).collect();
    assert_eq!(slots, [1, 2, 4, 5]);
    let verdict = allowed(
        decided(None, Some(1), Some(2)),
        decided(Some(3), None, None),
    );
    let slots: Vec<u32> = verdict.slots().map(|s| s.0).collect();
    assert_eq!(slots, [1, 2, 3]);
    assert_eq!(PolicyVerdict::Unrestricted.slots().count(), 0);
}

#[test]
fn actions_read_as_the_views_show_them() {
    assert_eq!(Action::Allow.to_string(), "Allow");
    assert_eq!(Action::Tier(Tier::Admin, Deny).to_string(), "Admin Deny");
    assert_eq!(
        Action::Tier(Tier::Baseline, Accept).to_string(),
        "Baseline Accept"
    );
    assert_eq!(Action::Tier(Tier::Admin, Pass).to_string(), "Admin Pass");
}

#[test]
fn heap_bytes_add_up_every_tier() {
    let np = allowing(1, A, 80);
    let admin = tier(&[(2, Deny, A, None)]);
    let baseline = tier(&[(3, Accept, A, Some(80)), (4, Deny, B, None)]);
    let expected = np.heap_bytes() + admin.heap_bytes() + baseline.heap_bytes();
    let all = DirectionRules {
        admin: Some(admin),
        policies: Some(np),
        baseline: Some(baseline),
    };
    assert_eq!(all.heap_bytes(), expected);
    assert_eq!(DirectionRules::default().heap_bytes(), 0);
}

/// A table of `rules` rules (of one pod), of `generation` and `epoch`.
fn numbered(rules: usize, generation: u64, epoch: u64) -> PolicyTable {
    let info = |i| RuleInfo {
        pod: "ns/a".into(),
        rule: format!("ns/p ingress[{i}]").into(),
        action: Action::Allow,
    };
    PolicyTable {
        rules: (0..rules).map(info).collect(),
        generation,
        epoch,
        ..table(Vec::new())
    }
}

#[test]
fn hits_count_per_slot_and_go_on_under_another_table_of_the_epoch() {
    let mut hits = PolicyHits::default();
    let first = numbered(3, 1, 0);
    hits.count(&first, RuleSlot(2));
    hits.count(&first, RuleSlot(2));
    hits.count(&first, RuleSlot(0));
    assert_eq!(hits.hits, vec![1, 0, 2]);
    // A new table (one more rule) numbers its rules as the first did: the counts go on.
    let second = numbered(4, 2, 0);
    hits.count(&second, RuleSlot(3));
    hits.count(&second, RuleSlot(2));
    assert_eq!((hits.epoch, hits.hits.clone()), (0, vec![1, 0, 3, 1]));
    hits.count(&second, RuleSlot(9));
    assert_eq!(
        hits.hits,
        vec![1, 0, 3, 1],
        "a slot past the rules is not counted"
    );
    // An older table of the epoch, fewer rules: its slots are the same.
    hits.count(&first, RuleSlot(0));
    assert_eq!(hits.hits, vec![2, 0, 3, 1]);
}

#[test]
fn hits_start_again_under_a_table_of_another_epoch() {
    let mut hits = PolicyHits::default();
    hits.count(&numbered(3, 1, 0), RuleSlot(1));
    hits.count(&numbered(3, 2, 0), RuleSlot(2));
    assert_eq!(hits.hits, vec![0, 1, 1]);
    // Renumbered: what was counted by the old numbering is dropped.
    let renumbered = numbered(2, 3, 1);
    hits.count(&renumbered, RuleSlot(0));
    assert_eq!((hits.epoch, hits.hits.clone()), (1, vec![1, 0]));
    hits.count(&numbered(2, 4, 1), RuleSlot(0));
    assert_eq!(hits.hits, vec![2, 0], "the new numbering goes on");
}
