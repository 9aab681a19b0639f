//! The policy table the control plane publishes: per local pod address, its classifiers;
//! and the check of a new connection: the client's egress AND the server's ingress.

use core::net::IpAddr;
use std::sync::Arc;

use hashbrown::HashMap;

use crate::policy::classifier::{Classifier, RuleSlot};

/// One pod's policies: a classifier per isolated direction.
#[derive(Clone, Debug, Default)]
pub struct PodRules {
    /// `namespace/name`, for traces.
    pub name: Arc<str>,
    /// Traffic to the pod; `None`: not isolated, everything allowed.
    pub ingress: Option<Classifier>,
    /// Traffic from the pod; `None`: not isolated, everything allowed.
    pub egress: Option<Classifier>,
}

/// What a compiled rule is, for counters and traces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleInfo {
    /// The pod it applies to (`namespace/name`).
    pub pod: Arc<str>,
    /// The rule (`namespace/policy ingress[0]`).
    pub rule: Arc<str>,
}

/// The policies of the local pods, by address.
#[derive(Clone, Debug, Default)]
pub struct PolicyTable {
    /// The pods, by each of their addresses.
    pub pods: HashMap<IpAddr, Arc<PodRules>>,
    /// Every compiled rule, by [`RuleSlot`].
    pub rules: Vec<RuleInfo>,
    /// Increases with each change; sessions made under an older one are not re-checked
    /// (a policy change applies to new connections).
    pub generation: u64,
}

/// Which side refused a connection.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Denied {
    /// The client's egress policies allow no such connection.
    Egress,
    /// The server's ingress policies allow no such connection.
    Ingress,
}

/// The verdict on a new connection.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum PolicyVerdict {
    /// Neither end is a pod with policies: nothing to remember.
    Unrestricted,
    /// Allowed; the rules that allowed it in each isolated direction (none when only the
    /// reply's direction is isolated: the connection still needs a session for its reply).
    Allowed {
        /// The client's egress rule, when its egress is isolated.
        egress: Option<RuleSlot>,
        /// The server's ingress rule, when its ingress is isolated.
        ingress: Option<RuleSlot>,
    },
    /// Refused.
    Denied(Denied),
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
        // The node reaches its pods and they reach it, whatever their policies say.
        let egress = (!to_node)
            .then(|| self.pods.get(&src)?.egress.as_ref())
            .flatten();
        let ingress = (!from_node)
            .then(|| self.pods.get(&dst)?.ingress.as_ref())
            .flatten();
        if egress.is_none() && ingress.is_none() {
            // Neither direction restricts this packet, but if either end is a pod with
            // policies its reply may be restricted the other way (the client's ingress, the
            // server's egress): a session must let the reply through as part of this
            // connection.
            if self.pods.contains_key(&src) || self.pods.contains_key(&dst) {
                return PolicyVerdict::Allowed {
                    egress: None,
                    ingress: None,
                };
            }
            return PolicyVerdict::Unrestricted;
        }
        let egress = match egress.map(|c| c.lookup(dst, protocol, port)) {
            Some(None) => return PolicyVerdict::Denied(Denied::Egress),
            Some(rule) => rule,
            None => None,
        };
        let ingress = match ingress.map(|c| c.lookup(src, protocol, port)) {
            Some(None) => return PolicyVerdict::Denied(Denied::Ingress),
            Some(rule) => rule,
            None => None,
        };
        PolicyVerdict::Allowed { egress, ingress }
    }
}

/// A worker's per-rule counters: new connections each rule allowed, under one policy table.
/// Rule slots are positions in one table's list of rules; another table numbers its rules
/// afresh, so the counts start again from zero with the first connection a table of
/// another generation allows, and say which generation they count.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyHits {
    /// The generation of the table whose rule slots [`hits`](Self::hits) is indexed by.
    pub generation: u64,
    /// Per [`RuleSlot`]: the connections it allowed.
    pub hits: Vec<u64>,
}

impl PolicyHits {
    /// Counts a connection `table`'s rule `slot` allowed.
    pub fn count(&mut self, table: &PolicyTable, slot: RuleSlot) {
        if self.generation != table.generation {
            self.generation = table.generation;
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
