//! The check of a new connection: the client's egress and the server's ingress.

use core::net::{IpAddr, Ipv4Addr};

use super::*;
use crate::policy::classifier::{ClassifierBuilder, PeerMatch, PortMatch};

const TCP: u8 = 6;
const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3));
const OUTSIDE: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

/// A classifier allowing `from` on TCP `port` as rule `slot`.
fn allowing(slot: u32, from: IpAddr, port: u16) -> Classifier {
    let mut b = ClassifierBuilder::new();
    let peer = PeerMatch {
        prefix: (from, 32),
        except: Vec::new(),
    };
    let ports = PortMatch {
        protocol: TCP,
        ports: Some((port, port)),
    };
    b.add(RuleSlot(slot), Some(&[peer]), Some(&[ports]));
    b.build()
}

fn table(pods: Vec<(IpAddr, PodRules)>) -> PolicyTable {
    PolicyTable {
        pods: pods.into_iter().map(|(a, p)| (a, Arc::new(p))).collect(),
        rules: Vec::new(),
        generation: 1,
    }
}

fn pod(ingress: Option<Classifier>, egress: Option<Classifier>) -> PodRules {
    PodRules {
        name: "ns/pod".into(),
        ingress,
        egress,
    }
}

#[test]
fn without_isolation_nothing_is_restricted() {
    let t = table(vec![(A, pod(None, None))]);
    assert_eq!(
        t.check(A, B, TCP, 80, false, false),
        PolicyVerdict::Allowed {
            egress: None,
            ingress: None
        },
        "A is a pod with policies: its connection needs a session for the reply"
    );
    assert_eq!(
        t.check(OUTSIDE, B, TCP, 80, false, false),
        PolicyVerdict::Unrestricted,
        "neither end has policies"
    );
}

#[test]
fn ingress_looks_at_the_source_and_egress_at_the_destination() {
    let t = table(vec![
        (B, pod(Some(allowing(1, A, 80)), None)),
        (A, pod(None, Some(allowing(2, B, 80)))),
    ]);
    assert_eq!(
        t.check(A, B, TCP, 80, false, false),
        PolicyVerdict::Allowed {
            egress: Some(RuleSlot(2)),
            ingress: Some(RuleSlot(1))
        }
    );
    assert_eq!(
        t.check(A, B, TCP, 81, false, false),
        PolicyVerdict::Denied(Denied::Egress),
        "egress is asked first"
    );
    assert_eq!(
        t.check(OUTSIDE, B, TCP, 80, false, false),
        PolicyVerdict::Denied(Denied::Ingress)
    );
    assert_eq!(
        t.check(A, OUTSIDE, TCP, 80, false, false),
        PolicyVerdict::Denied(Denied::Egress)
    );
    assert_eq!(
        t.check(B, A, TCP, 80, false, false),
        PolicyVerdict::Allowed {
            egress: None,
            ingress: None
        },
        "B's egress and A's ingress are open; the reply needs the session (A's egress)"
    );
}

#[test]
fn the_node_reaches_its_pods_and_they_reach_it() {
    let t = table(vec![
        (B, pod(Some(allowing(1, A, 80)), None)),
        (A, pod(None, Some(allowing(2, B, 80)))),
    ]);
    // Allowed whatever the rules say; the session carries the reply through.
    assert_eq!(
        t.check(OUTSIDE, B, TCP, 22, true, false),
        PolicyVerdict::Allowed {
            egress: None,
            ingress: None
        }
    );
    assert_eq!(
        t.check(A, OUTSIDE, TCP, 22, false, true),
        PolicyVerdict::Allowed {
            egress: None,
            ingress: None
        }
    );
    assert_eq!(
        t.check(OUTSIDE, A, TCP, 22, true, false),
        PolicyVerdict::Allowed {
            egress: None,
            ingress: None
        },
        "A's egress is about what A sends"
    );
}

#[test]
fn hits_count_per_slot_and_start_again_under_another_generation() {
    let mut t = table(Vec::new());
    t.rules = vec![
        RuleInfo {
            pod: "ns/a".into(),
            rule: "ns/p ingress[0]".into(),
        };
        3
    ];
    let mut hits = PolicyHits::default();
    hits.count(&t, RuleSlot(2));
    hits.count(&t, RuleSlot(2));
    hits.count(&t, RuleSlot(0));
    assert_eq!(hits.generation, 1);
    assert_eq!(hits.hits, vec![1, 0, 2]);
    t.generation = 2;
    t.rules.push(t.rules[0].clone());
    hits.count(&t, RuleSlot(3));
    assert_eq!((hits.generation, hits.hits.clone()), (2, vec![0, 0, 0, 1]));
    hits.count(&t, RuleSlot(9));
    assert_eq!(
        hits.hits,
        vec![0, 0, 0, 1],
        "a slot past the rules is not counted"
    );
}
