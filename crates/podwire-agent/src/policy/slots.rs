//! Rule slots that outlive a policy table.
//!
//! Every change of the compiled policies (a policy, a label, a pod attached or detached)
//! renders a new [`PolicyTable`](podwire_dataplane::policy::table::PolicyTable); the
//! workers' per-rule counters are indexed by [`RuleSlot`]. For a rule's count to go on from
//! one table to the next, the rule must keep its slot: [`RuleSlots`] remembers the slot of
//! every rule it has given one, by what the rule is (its pod, its rule, what it does, and
//! which part of it, when one rule compiles into several classifier rules). A new rule gets
//! a new slot, and a rule that goes away keeps its slot for when it comes back, so a slot
//! never changes hands and counts never move from one rule to another.
//!
//! The slots of rules that went away pile up; when they outnumber the rules of the table and
//! exceed [`MIN_RETIRED`], the next render numbers the rules afresh under a new numbering
//! epoch (the workers' counters then start again from zero).

use std::collections::HashMap;

use podwire_dataplane::policy::classifier::RuleSlot;
use podwire_dataplane::policy::table::RuleInfo;

/// How many slots of rules that went away may be kept at least before the rules are
/// numbered afresh: renumbering resets every counter, so it must be rare; below this the
/// slots cost little.
pub const MIN_RETIRED: usize = 4096;

/// What a rule is, for its slot: the same rule in the next table gets the same slot.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct RuleKey {
    /// Its pod, its rule and what it does.
    info: RuleInfo,
    /// Which of the classifier rules the rule compiled into, in order (a rule with a named
    /// port compiles into one per port number); 0 for most rules.
    part: u32,
}

/// The slots given to rules in the current numbering epoch; see the [module](self).
#[derive(Debug)]
pub struct RuleSlots {
    /// The slot of each rule given one.
    slots: HashMap<RuleKey, RuleSlot>,
    /// Per slot: its rule.
    rules: Vec<RuleInfo>,
    /// Per slot: whether the render under way (or, between renders, the last one) gave it.
    claimed: Vec<bool>,
    /// The slots the last render gave, in the order it gave them.
    live: Vec<RuleSlot>,
    /// The numbering epoch.
    epoch: u64,
    /// How many slots of rules that went away are kept at least.
    min_retired: usize,
}

impl Default for RuleSlots {
    fn default() -> RuleSlots {
        RuleSlots::with_min_retired(MIN_RETIRED)
    }
}

impl RuleSlots {
    /// Slots that are numbered afresh once more than `min_retired` of them belong to rules
    /// that went away (and these outnumber the live ones).
    pub fn with_min_retired(min_retired: usize) -> RuleSlots {
        RuleSlots {
            slots: HashMap::new(),
            rules: Vec::new(),
            claimed: Vec::new(),
            live: Vec::new(),
            epoch: 0,
            min_retired,
        }
    }

    /// The numbering epoch of the slots given so far.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The slots of the rules of the last render, in the order it gave them.
    pub fn live(&self) -> &[RuleSlot] {
        &self.live
    }

    /// Every rule given a slot in this epoch, by slot.
    pub fn rules(&self) -> &[RuleInfo] {
        &self.rules
    }

    /// Starts giving the slots of a new render: none is given yet. Numbers the rules afresh
    /// under the next epoch first when the slots of rules that went away are too many.
    pub(crate) fn start(&mut self) {
        let retired = self.rules.len() - self.live.len();
        if retired > self.min_retired && retired > self.live.len() {
            self.slots.clear();
            self.rules.clear();
            self.claimed.clear();
            self.epoch += 1;
        }
        self.claimed.fill(false);
        self.live.clear();
    }

    /// The slot of `info`'s next part in the render under way: the slot it had, or a new
    /// one.
    pub(crate) fn give(&mut self, info: RuleInfo) -> RuleSlot {
        let mut key = RuleKey { info, part: 0 };
        let slot = loop {
            match self.slots.get(&key) {
                // An earlier part of the rule, given in this render: this is the next one.
                Some(&slot) if self.claimed[slot.0 as usize] => key.part += 1,
                Some(&slot) => break slot,
                None => {
                    // More than 4 billion rules on one node cannot be built in memory anyway.
                    let slot = RuleSlot(u32::try_from(self.rules.len()).unwrap_or(u32::MAX));
                    self.rules.push(key.info.clone());
                    self.claimed.push(false);
                    self.slots.insert(key, slot);
                    break slot;
                }
            }
        };
        self.claimed[slot.0 as usize] = true;
        self.live.push(slot);
        slot
    }
}

#[cfg(test)]
mod tests;
