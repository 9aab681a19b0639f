//! A tier answers with the table's slot and the action of its first matching rule.

use core::net::{IpAddr, Ipv4Addr};

use super::*;

const TCP: u8 = 6;
const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3));

fn host(addr: IpAddr) -> PeerMatch {
    PeerMatch {
        prefix: (addr, 32),
        except: Vec::new(),
    }
}

#[test]
fn the_first_matching_rule_answers_with_its_slot_and_action() {
    let mut b = TierBuilder::new();
    let port80 = [PortMatch {
        protocol: TCP,
        ports: Some((80, 80)),
    }];
    b.add(
        RuleSlot(7),
        TierAction::Pass,
        Some(&[host(A)]),
        Some(&port80),
    );
    b.add(RuleSlot(8), TierAction::Deny, Some(&[host(A)]), None);
    b.add(RuleSlot(9), TierAction::Accept, None, None);
    let tier = b.build();
    assert_eq!(
        tier.lookup(A, TCP, 80),
        Some((RuleSlot(7), TierAction::Pass))
    );
    assert_eq!(
        tier.lookup(A, TCP, 81),
        Some((RuleSlot(8), TierAction::Deny))
    );
    assert_eq!(
        tier.lookup(B, TCP, 80),
        Some((RuleSlot(9), TierAction::Accept))
    );
    assert!(tier.heap_bytes() > 0);
}

#[test]
fn an_empty_tier_matches_nothing() {
    assert_eq!(TierBuilder::new().build().lookup(A, TCP, 80), None);
    assert_eq!(TierClassifier::default().lookup(B, 17, 53), None);
}
