//! The policy table the control plane publishes: per local pod address, its classifiers;
//! and the check of a new connection: the client's egress AND the server's ingress.
//!
//! Each direction is decided tier by tier: the first Admin rule that matches decides
//! (Accept, Deny; Pass skips the rest of the Admin tier); then, when NetworkPolicies
//! isolate the pod, one of their rules allows the traffic or it is refused; then the first
//! Baseline rule that matches decides (Pass skips the rest of the tier); else it is
//! allowed.

use core::fmt;
use core::net::IpAddr;
use core::ops::ControlFlow;
use std::sync::Arc;

use hashbrown::HashMap;

use crate::policy::classifier::{Classifier, RuleSlot};
use crate::policy::tier::{Tier, TierAction, TierClassifier};

/// One pod's policies: the rules of each direction something restricts.
#[derive(Clone, Debug, Default)]
pub struct PodRules {
    /// `namespace/name`, for traces.
    pub name: Arc<str>,
    /// Traffic to the pod; `None`: nothing restricts it, everything allowed.
    pub ingress: Option<DirectionRules>,
    /// Traffic from the pod; `None`: nothing restricts it, everything allowed.
    pub egress: Option<DirectionRules>,
}

/// The rules of one pod in one direction, tier by tier.
#[derive(Clone, Debug, Default)]
pub struct DirectionRules {
    /// The Admin tier's rules; `None`: none.
    pub admin: Option<TierClassifier>,
    /// The rules of the NetworkPolicies that isolate the pod; `None`: no NetworkPolicy
    /// isolates it.
    pub policies: Option<Classifier>,
    /// The Baseline tier's rules; `None`: none.
    pub baseline: Option<TierClassifier>,
}

/// What one direction's rules said about a connection.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Default)]
pub struct Decision {
    /// The rule that decided: a NetworkPolicy rule that allowed it, or a tier's Accept or
    /// Deny rule; `None` when no rule did (no tier matched and no NetworkPolicy isolates
    /// the pod, or one does and none of its rules allows it).
    pub rule: Option<RuleSlot>,
    /// The Pass rules that matched on the way, by tier: the Admin tier's, the Baseline
    /// tier's.
    pub passed: [Option<RuleSlot>; 2],
}

impl Decision {
    /// Every rule that matched, in the order they were asked.
    pub fn slots(self) -> impl Iterator<Item = RuleSlot> {
        let [admin, baseline] = self.passed;
        [admin, self.rule, baseline].into_iter().flatten()
    }
}

impl DirectionRules {
    /// This direction's decision on traffic with the remote address `remote` (the source
    /// for ingress, the destination for egress), IP protocol `protocol` and destination
    /// port `port` (0 for protocols without ports), and what refused it, if refused.
    #[inline]
    pub fn judge(&self, remote: IpAddr, protocol: u8, port: u16) -> (Decision, Option<DeniedBy>) {
        let mut decision = Decision::default();
        let denied = match self.decide(&mut decision, remote, protocol, port) {
            ControlFlow::Break(denied) => denied,
            ControlFlow::Continue(()) => None,
        };
        (decision, denied)
    }

    /// The tiers in turn; `Break` when one decides, with what refused the traffic.
    #[inline]
    fn decide(
        &self,
        decision: &mut Decision,
        remote: IpAddr,
        protocol: u8,
        port: u16,
    ) -> ControlFlow<Option<DeniedBy>> {
        if let Some(admin) = &self.admin {
            ask(Tier::Admin, admin, decision, remote, protocol, port)?;
        }
        // The NetworkPolicy tier is final for the pods it isolates.
        if let Some(policies) = &self.policies {
            decision.rule = policies.lookup(remote, protocol, port);
            return ControlFlow::Break(decision.rule.is_none().then_some(DeniedBy::Isolation));
        }
        match &self.baseline {
            Some(baseline) => ask(Tier::Baseline, baseline, decision, remote, protocol, port),
            None => ControlFlow::Continue(()),
        }
    }

    /// Bytes its classifiers take besides itself.
    pub fn heap_bytes(&self) -> usize {
        let tiers = [&self.admin, &self.baseline];
        tiers
            .into_iter()
            .flatten()
            .map(TierClassifier::heap_bytes)
            .sum::<usize>()
            + self.policies.as_ref().map_or(0, Classifier::heap_bytes)
    }
}

/// Asks the rules of `tier`: the first that matches decides when it is an Accept or a Deny
/// (`Break`, with what refused the traffic); a Pass is noted in `decision` and the next
/// tier is asked.
#[inline]
fn ask(
    tier: Tier,
    rules: &TierClassifier,
    decision: &mut Decision,
    remote: IpAddr,
    protocol: u8,
    port: u16,
) -> ControlFlow<Option<DeniedBy>> {
    match rules.lookup(remote, protocol, port) {
        None => ControlFlow::Continue(()),
        Some((slot, TierAction::Pass)) => {
            decision.passed[tier as usize] = Some(slot);
            ControlFlow::Continue(())
        }
        Some((slot, action)) => {
            decision.rule = Some(slot);
            let deny = action == TierAction::Deny;
            ControlFlow::Break(deny.then_some(DeniedBy::Rule(tier, slot)))
        }
    }
}

/// What a rule does with the traffic it matches, for counters and views.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum Action {
    /// A NetworkPolicy rule: allows.
    Allow,
    /// A ClusterNetworkPolicy rule of a tier.
    Tier(Tier, TierAction),
}

impl fmt::Display for Action {
    /// `Allow`, or the tier and the action (`Admin Deny`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Allow => f.write_str("Allow"),
            Action::Tier(tier, action) => write!(f, "{tier} {action}"),
        }
    }
}

/// What a compiled rule is, for counters and traces.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RuleInfo {
    /// The pod it applies to (`namespace/name`).
    pub pod: Arc<str>,
    /// The rule (`namespace/policy ingress[0]`, `ClusterNetworkPolicy/name egress[1]`).
    pub rule: Arc<str>,
    /// What it does.
    pub action: Action,
}

/// The policies of the local pods, by address.
#[derive(Clone, Debug, Default)]
pub struct PolicyTable {
    /// The pods, by each of their addresses.
    pub pods: HashMap<IpAddr, Arc<PodRules>>,
    /// Every rule given a slot in the numbering [`epoch`](Self::epoch), by [`RuleSlot`]:
    /// the rules of this table's classifiers, and those of earlier tables of the epoch that
    /// this one no longer has (their slots stay theirs should they come back, and no
    /// classifier refers to them).
    pub rules: Vec<RuleInfo>,
    /// Increases with each change; sessions made under an older one are not re-checked
    /// (a policy change applies to new connections).
    pub generation: u64,
    /// The numbering of the rule slots: tables of one epoch give a rule the same slot, so
    /// that counters go on across them; a new epoch numbers the rules afresh.
    pub epoch: u64,
}

/// Which side refused a connection.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Denied {
    /// The client's egress.
    Egress,
    /// The server's ingress.
    Ingress,
}

/// What refused a connection on the side that refused it.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum DeniedBy {
    /// NetworkPolicies isolate the pod and none of their rules allows the connection.
    Isolation,
    /// A ClusterNetworkPolicy's Deny rule of the tier, in the slot.
    Rule(Tier, RuleSlot),
}

/// The verdict on a new connection.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum PolicyVerdict {
    /// Neither end is a pod with policies: nothing to remember.
    Unrestricted,
    /// Allowed; what each direction's rules said (nothing when only the reply's direction
    /// is restricted: the connection still needs a session for its reply).
    Allowed {
        /// The client's egress.
        egress: Decision,
        /// The server's ingress.
        ingress: Decision,
    },
    /// Refused.
    Denied {
        /// The side that refused it.
        side: Denied,
        /// What refused it.
        by: DeniedBy,
        /// What the client's egress rules said.
        egress: Decision,
        /// What the server's ingress rules said; nothing when the egress refused (the
        /// ingress is not asked).
        ingress: Decision,
    },
}

impl PolicyVerdict {
    /// Every rule that matched, the client's egress first: what the counters count.
    pub fn slots(self) -> impl Iterator<Item = RuleSlot> {
        let (egress, ingress) = match self {
            PolicyVerdict::Unrestricted => (Decision::default(), Decision::default()),
            PolicyVerdict::Allowed { egress, ingress }
            | PolicyVerdict::Denied {
                egress, ingress, ..
            } => (egress, ingress),
        };
        egress.slots().chain(ingress.slots())
    }
}

impl PolicyTable {
    /// Whether no pod has a policy: the check has nothing to do.
    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
    }

    /// The check of a new connection from `src` to `dst` (after Service translation: the
    /// backend pod and its port), IP protocol `protocol`, destination port `port`.
    /// `from_node`: the client is the node itself (its host interface or a node address),
    /// which always reaches its pods; `to_node`: the server is the node.
    pub fn check(
        &self,
        src: IpAddr,
        dst: IpAddr,
        protocol: u8,
        port: u16,
        from_node: bool,
        to_node: bool,
    ) -> PolicyVerdict {
        // Each address is looked up once: this runs for the first packet of every flow.
        let client = self.pods.get(&src);
        let server = self.pods.get(&dst);
        if client.is_none() && server.is_none() {
            return PolicyVerdict::Unrestricted;
        }
        // Either end is a pod with policies: even when neither direction restricts this
        // packet, its reply may be restricted the other way (the client's ingress, the
        // server's egress), and a session must let it through as part of this connection.
        // The node reaches its pods and they reach it, whatever their policies say.
        let egress = client.filter(|_| !to_node).and_then(|p| p.egress.as_ref());
        let ingress = server
            .filter(|_| !from_node)
            .and_then(|p| p.ingress.as_ref());
        let (egress, denied) = match egress {
            Some(rules) => rules.judge(dst, protocol, port),
            None => (Decision::default(), None),
        };
        if let Some(by) = denied {
            return PolicyVerdict::Denied {
                side: Denied::Egress,
                by,
                egress,
                ingress: Decision::default(),
            };
        }
        let (ingress, denied) = match ingress {
            Some(rules) => rules.judge(src, protocol, port),
            None => (Decision::default(), None),
        };
        match denied {
            Some(by) => PolicyVerdict::Denied {
                side: Denied::Ingress,
                by,
                egress,
                ingress,
            },
            None => PolicyVerdict::Allowed { egress, ingress },
        }
    }
}

/// A worker's per-rule counters: new connections each rule decided (allowed, accepted or
/// denied) or, for a Pass rule, passed on. Tables of one numbering epoch give a rule the
/// same slot, so the counts go on from table to table; they start again from zero with the
/// first connection counted under a table of another epoch, and say which epoch they count.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyHits {
    /// The numbering epoch of the tables whose rule slots [`hits`](Self::hits) is indexed
    /// by.
    pub epoch: u64,
    /// Per [`RuleSlot`]: the connections it decided or passed on.
    pub hits: Vec<u64>,
}

impl PolicyHits {
    /// Counts a connection `table`'s rule `slot` decided or passed on.
    pub fn count(&mut self, table: &PolicyTable, slot: RuleSlot) {
        if self.epoch != table.epoch {
            self.epoch = table.epoch;
            self.hits.clear();
        }
        if self.hits.len() < table.rules.len() {
            self.hits.resize(table.rules.len(), 0);
        }
        if let Some(hits) = self.hits.get_mut(slot.0 as usize) {
            *hits += 1;
        }
    }
}

#[cfg(test)]
mod tests;
