//! A ClusterNetworkPolicy tier of one pod in one direction: a [`Classifier`] of its rules,
//! in precedence order, and what each rule does with the traffic it matches. The first
//! matching rule is the tier's answer, as for NetworkPolicy rules; only the action differs.

use core::fmt;
use core::net::IpAddr;

use crate::policy::classifier::{Classifier, ClassifierBuilder, PeerMatch, PortMatch, RuleSlot};

/// A ClusterNetworkPolicy tier: asked before NetworkPolicies (Admin) or after them, for the
/// pods they do not isolate (Baseline).
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum Tier {
    /// Before NetworkPolicies.
    Admin = 0,
    /// After NetworkPolicies, for the pods they do not isolate.
    Baseline = 1,
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Tier::Admin => "Admin",
            Tier::Baseline => "Baseline",
        })
    }
}

/// What a tier's rule does with the traffic it matches.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum TierAction {
    /// Allowed in this direction; no later rule of the direction is asked.
    Accept,
    /// Refused; no later rule is asked.
    Deny,
    /// The rest of the tier is skipped: the next tier decides.
    Pass,
}

impl fmt::Display for TierAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TierAction::Accept => "Accept",
            TierAction::Deny => "Deny",
            TierAction::Pass => "Pass",
        })
    }
}

/// Collects a tier's rules in precedence order, then builds a [`TierClassifier`].
#[derive(Clone, Debug, Default)]
pub struct TierBuilder {
    classifier: ClassifierBuilder,
    /// Per position in the tier: the rule's slot in the table, and its action.
    rules: Vec<(RuleSlot, TierAction)>,
}

impl TierBuilder {
    /// An empty builder: its tier matches nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds rule `slot`, doing `action` with traffic whose remote address is in one of
    /// `peers` (`None`: any) on a protocol and port in one of `ports` (`None`: any), as
    /// [`ClassifierBuilder::add`] takes them. Rules added first take precedence.
    pub fn add(
        &mut self,
        slot: RuleSlot,
        action: TierAction,
        peers: Option<&[PeerMatch]>,
        ports: Option<&[PortMatch]>,
    ) {
        // The classifier answers with the rule's position in the tier, which says both its
        // slot and its action.
        let position = RuleSlot(u32::try_from(self.rules.len()).unwrap_or(u32::MAX));
        self.classifier.add(position, peers, ports);
        self.rules.push((slot, action));
    }

    /// The tier.
    pub fn build(self) -> TierClassifier {
        TierClassifier {
            classifier: self.classifier.build(),
            rules: self.rules,
        }
    }
}

/// One tier's rules of one pod in one direction.
#[derive(Clone, Debug, Default)]
pub struct TierClassifier {
    /// Answers with positions in `rules`.
    classifier: Classifier,
    /// Per position: the rule's slot in the table, and its action.
    rules: Vec<(RuleSlot, TierAction)>,
}

impl TierClassifier {
    /// The first rule matching traffic with the remote address `remote` (the source for
    /// ingress, the destination for egress), IP protocol `protocol` and destination port
    /// `port` (0 for protocols without ports), and its action; `None`: no rule matches.
    #[inline]
    pub fn lookup(
        &self,
        remote: IpAddr,
        protocol: u8,
        port: u16,
    ) -> Option<(RuleSlot, TierAction)> {
        let position = self.classifier.lookup(remote, protocol, port)?;
        self.rules.get(position.0 as usize).copied()
    }

    /// Bytes it takes besides itself.
    pub fn heap_bytes(&self) -> usize {
        self.classifier.heap_bytes() + self.rules.capacity() * size_of::<(RuleSlot, TierAction)>()
    }
}

#[cfg(test)]
mod tests;
