//! Slots kept from render to render: a rule's, its parts', a returning rule's, and the
//! renumbering once the slots of rules that went away pile up.

use podwire_dataplane::policy::classifier::RuleSlot;
use podwire_dataplane::policy::table::{Action, RuleInfo};
use podwire_dataplane::policy::tier::{Tier, TierAction};

use super::RuleSlots;

fn info(pod: &str, rule: &str, action: Action) -> RuleInfo {
    RuleInfo {
        pod: pod.into(),
        rule: rule.into(),
        action,
    }
}

/// A NetworkPolicy rule `x/p ingress[index]` of pod `x/pod`.
fn allow(pod: &str, index: usize) -> RuleInfo {
    info(
        &format!("x/{pod}"),
        &format!("x/p ingress[{index}]"),
        Action::Allow,
    )
}

/// One render giving `rules` their slots, in order: the slots, as numbers.
fn render(slots: &mut RuleSlots, rules: &[RuleInfo]) -> Vec<u32> {
    slots.start();
    let given: Vec<u32> = rules.iter().map(|r| slots.give(r.clone()).0).collect();
    let live: Vec<u32> = slots.live().iter().map(|s| s.0).collect();
    assert_eq!(live, given, "the live slots are the render's, in order");
    given
}

#[test]
fn a_rule_keeps_its_slot_and_new_rules_get_new_ones() {
    let mut slots = RuleSlots::default();
    assert_eq!(render(&mut slots, &[allow("a", 0), allow("a", 1)]), [0, 1]);
    // x/b comes first now (an earlier pod attached): x/a's rules keep their slots.
    let second = [allow("b", 0), allow("a", 0), allow("a", 1)];
    assert_eq!(render(&mut slots, &second), [2, 0, 1]);
    assert_eq!(slots.rules()[2], allow("b", 0));
    assert_eq!(slots.epoch(), 0);
}

#[test]
fn what_a_rule_does_and_its_pod_are_part_of_what_it_is() {
    let mut slots = RuleSlots::default();
    let rule = "ClusterNetworkPolicy/c ingress[0]";
    let admin = |action| Action::Tier(Tier::Admin, action);
    let first = [
        info("x/a", rule, admin(TierAction::Deny)),
        info("x/b", rule, admin(TierAction::Deny)),
    ];
    assert_eq!(render(&mut slots, &first), [0, 1]);
    // The rule's action changed: another rule, whose counts start from zero.
    let changed = [
        info("x/a", rule, admin(TierAction::Accept)),
        info("x/b", rule, admin(TierAction::Deny)),
    ];
    assert_eq!(render(&mut slots, &changed), [2, 1]);
}

#[test]
fn the_parts_of_a_rule_keep_their_slots_in_order() {
    let mut slots = RuleSlots::default();
    // A rule with a named port, compiled into two classifier rules, and another rule.
    let rules = [allow("a", 0), allow("a", 0), allow("a", 1)];
    assert_eq!(render(&mut slots, &rules), [0, 1, 2]);
    assert_eq!(render(&mut slots, &rules), [0, 1, 2]);
    // A third part: a new slot; the first two keep theirs.
    let more = [allow("a", 0), allow("a", 0), allow("a", 0), allow("a", 1)];
    assert_eq!(render(&mut slots, &more), [0, 1, 3, 2]);
    // Back to one part: the first.
    assert_eq!(render(&mut slots, &[allow("a", 0)]), [0]);
}

#[test]
fn a_rule_that_comes_back_gets_its_slot_back_and_no_other_rule_takes_it() {
    let mut slots = RuleSlots::default();
    assert_eq!(render(&mut slots, &[allow("a", 0), allow("b", 0)]), [0, 1]);
    // x/a detached: its rule's slot is kept, not given to x/c's.
    assert_eq!(render(&mut slots, &[allow("b", 0), allow("c", 0)]), [1, 2]);
    assert_eq!(slots.rules().len(), 3, "x/a's rule keeps its slot");
    let back = [allow("a", 0), allow("b", 0), allow("c", 0)];
    assert_eq!(render(&mut slots, &back), [0, 1, 2]);
    assert_eq!(slots.epoch(), 0);
}

#[test]
fn the_rules_are_numbered_afresh_once_retired_slots_are_too_many_and_outnumber_the_live() {
    let mut slots = RuleSlots::with_min_retired(2);
    let pods = ["a", "b", "c", "d", "e"];
    let all: Vec<RuleInfo> = pods.iter().map(|p| allow(p, 0)).collect();
    assert_eq!(render(&mut slots, &all), [0, 1, 2, 3, 4]);
    // Two slots of rules that went away: not more than 2, kept.
    assert_eq!(render(&mut slots, &all[2..]), [2, 3, 4]);
    assert_eq!(render(&mut slots, &all[2..]), [2, 3, 4]);
    assert_eq!(slots.epoch(), 0);
    // Four retired, one live: this render leaves them so, the next renumbers.
    assert_eq!(render(&mut slots, &all[4..]), [4]);
    assert_eq!(slots.epoch(), 0);
    assert_eq!(render(&mut slots, &[allow("e", 0), allow("f", 0)]), [0, 1]);
    assert_eq!(slots.epoch(), 1);
    assert_eq!(slots.rules(), [allow("e", 0), allow("f", 0)]);
    // In the new epoch, a rule of the old one is a new rule.
    assert_eq!(render(&mut slots, &[allow("a", 0), allow("e", 0)]), [2, 0]);
}

#[test]
fn retired_slots_that_do_not_outnumber_the_live_ones_are_kept() {
    let mut slots = RuleSlots::with_min_retired(1);
    let rules: Vec<RuleInfo> = (0..6).map(|i| allow("a", i)).collect();
    assert_eq!(render(&mut slots, &rules), [0, 1, 2, 3, 4, 5]);
    // Three retired, three live, twice: kept.
    assert_eq!(render(&mut slots, &rules[3..]), [3, 4, 5]);
    assert_eq!(render(&mut slots, &rules[3..]), [3, 4, 5]);
    assert_eq!(slots.epoch(), 0);
    assert_eq!(slots.live(), [3, 4, 5].map(RuleSlot));
}
