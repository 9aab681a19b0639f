//! Compiled pod policies into the data plane's [`PolicyTable`]: per pod and restricted
//! direction a classifier for each ClusterNetworkPolicy tier with rules and one for the
//! NetworkPolicies that isolate it, and one [`RuleSlot`] per compiled rule, named (with what
//! it does) for counters and traces, and kept from table to table ([`RuleSlots`]).

use std::sync::Arc;

use podwire_dataplane::policy::classifier::{
    Classifier, ClassifierBuilder, PeerMatch, PortMatch, RuleSlot,
};
use podwire_dataplane::policy::table::{Action, DirectionRules, PodRules, PolicyTable, RuleInfo};
use podwire_dataplane::policy::tier::{Tier, TierAction, TierBuilder, TierClassifier};
use podwire_model::Cidr;
use podwire_model::policy::{
    CompiledRule, DirectionPolicy, PeerBlock, PodPolicy, PortRange, RuleAction, TierRule,
};

use super::slots::RuleSlots;

/// The policy table of `pods`, stamped `generation` (which must exceed the generation of the
/// table it replaces: sessions remember the generation they were allowed under), its rules
/// in the slots `slots` gave them in earlier tables (new rules in new slots), and the
/// numbering epoch of `slots`.
///
/// Rules are rendered (new ones given new slots) in pod order, each pod's ingress rules
/// before its egress rules, and in a direction the Admin tier's, the NetworkPolicies', then
/// the Baseline tier's. A direction that nothing restricts has no rules in the table (everything
/// allowed), a tier without rules no classifier, and NetworkPolicies one only when they
/// isolate the pod; a pod restricted in neither direction is left out, so that a node whose
/// pods have no policies has an empty table and its packets skip the policy check.
pub fn render(pods: &[PodPolicy], slots: &mut RuleSlots, generation: u64) -> PolicyTable {
    slots.start();
    let mut table = PolicyTable {
        generation,
        ..PolicyTable::default()
    };
    for pod in pods {
        let name: Arc<str> = format!("{}/{}", pod.namespace, pod.name).into();
        let mut given = PodRenderer {
            pod: &name,
            slots: &mut *slots,
        };
        let ingress = given.direction(&pod.ingress);
        let egress = given.direction(&pod.egress);
        if ingress.is_none() && egress.is_none() {
            continue;
        }
        let rules = Arc::new(PodRules {
            name,
            ingress,
            egress,
        });
        for &address in &pod.addresses {
            table.pods.insert(address, rules.clone());
        }
    }
    table.rules = slots.rules().to_vec();
    table.epoch = slots.epoch();
    table
}

/// Gives one pod's rules their slots.
struct PodRenderer<'a> {
    pod: &'a Arc<str>,
    slots: &'a mut RuleSlots,
}

impl PodRenderer<'_> {
    /// The rules of one direction; `None` when nothing restricts it.
    fn direction(&mut self, direction: &DirectionPolicy) -> Option<DirectionRules> {
        if !direction.restricted() {
            return None;
        }
        let admin = self.tier(Tier::Admin, &direction.admin);
        let policies = direction
            .isolated()
            .then(|| self.network_policies(&direction.rules));
        let baseline = self.tier(Tier::Baseline, &direction.baseline);
        Some(DirectionRules {
            admin,
            policies,
            baseline,
        })
    }

    /// The NetworkPolicy rules' classifier: the first that matches allows.
    fn network_policies(&mut self, rules: &[CompiledRule]) -> Classifier {
        let mut builder = ClassifierBuilder::new();
        for rule in rules {
            let slot = self.slot(rule, Action::Allow);
            let (peers, ports) = matches(rule);
            builder.add(slot, peers.as_deref(), ports.as_deref());
        }
        builder.build()
    }

    /// A tier's classifier, `None` when it has no rules.
    fn tier(&mut self, tier: Tier, rules: &[TierRule]) -> Option<TierClassifier> {
        if rules.is_empty() {
            return None;
        }
        let mut builder = TierBuilder::new();
        for TierRule { rule, action } in rules {
            let action = tier_action(*action);
            let slot = self.slot(rule, Action::Tier(tier, action));
            let (peers, ports) = matches(rule);
            builder.add(slot, action, peers.as_deref(), ports.as_deref());
        }
        Some(builder.build())
    }

    /// The slot of `rule` doing `action` (of its next part, when it compiled into several).
    fn slot(&mut self, rule: &CompiledRule, action: Action) -> RuleSlot {
        self.slots.give(RuleInfo {
            pod: self.pod.clone(),
            rule: rule.id.to_string().into(),
            action,
        })
    }
}

/// The data plane's form of a tier rule's action.
fn tier_action(action: RuleAction) -> TierAction {
    match action {
        RuleAction::Accept => TierAction::Accept,
        RuleAction::Deny => TierAction::Deny,
        RuleAction::Pass => TierAction::Pass,
    }
}

/// What a rule matches, as the classifier takes it: its peers and its ports.
fn matches(rule: &CompiledRule) -> (Option<Vec<PeerMatch>>, Option<Vec<PortMatch>>) {
    let peers = rule
        .peers
        .as_ref()
        .map(|peers| peers.iter().map(peer_match).collect());
    let ports = rule
        .ports
        .as_ref()
        .map(|ports| ports.iter().map(port_match).collect());
    (peers, ports)
}

/// A prefix as the classifier takes it: network address (host bits cleared) and length.
fn prefix(cidr: &Cidr) -> (std::net::IpAddr, u8) {
    let network = cidr.network();
    (network.addr(), network.prefix_len())
}

/// The classifier's form of a rule's peer.
fn peer_match(block: &PeerBlock) -> PeerMatch {
    PeerMatch {
        prefix: prefix(&block.cidr),
        except: block.except.iter().map(prefix).collect(),
    }
}

/// The classifier's form of a rule's ports.
fn port_match(range: &PortRange) -> PortMatch {
    PortMatch {
        protocol: range.protocol.number(),
        ports: range.ports,
    }
}
