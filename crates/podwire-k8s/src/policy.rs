//! NetworkPolicy (`networking.k8s.io/v1`) and ClusterNetworkPolicy
//! (`policy.networking.k8s.io/v1alpha2`) semantics, as pure functions: the policies, Pods
//! and Namespaces of the store compiled into what each pod of this node allows
//! ([`compile`]), and the evaluation of a connection against that compiled form
//! ([`evaluate`], [`explain`]), which the data plane's classifiers must agree with.
//!
//! The semantics are Kubernetes' (`networking.k8s.io/v1`):
//!
//! - A policy selects pods of its own namespace (`spec.podSelector`; `{}` all of them) and
//!   isolates them for the directions of its `policyTypes`; when it lists none, Ingress, and
//!   Egress too when `egress` has a rule. A direction no policy isolates allows everything;
//!   an isolated one allows what a rule of a selecting policy allows (policies add up).
//! - A rule allows traffic whose remote address is one of its peers AND whose protocol and
//!   port are one of its ports; no peers is every address, no ports every port.
//! - A peer is a `podSelector` (pods of the policy's namespace), a `namespaceSelector`
//!   (every pod of the namespaces it selects), both (pods it selects in those namespaces),
//!   or an `ipBlock` (a CIDR minus its `except`s; pod addresses included). Every namespace
//!   carries `kubernetes.io/metadata.name=<name>`, even when its object does not say so.
//! - A port's protocol defaults to TCP; no `port` is every port of the protocol; `endPort`
//!   makes a range; a named port is the destination pod's container port of that name and
//!   protocol: the selected pod for ingress, each peer pod for egress (never an ipBlock).
//! - Pods without an address are neither selected nor peers.
//!
//! ClusterNetworkPolicies add two tiers around NetworkPolicies, per direction: the Admin
//! tier's rules first (by priority, then name, then rule order; the first that matches
//! decides when it is Accept or Deny, and a Pass skips the rest of the tier), then the
//! NetworkPolicies when one isolates the pod (final), then the Baseline tier's rules in the
//! same way, else allowed. A connection needs its client's egress AND its server's ingress:
//! an egress Accept does not bypass the destination's ingress.

mod compiler;
mod explanation;
mod resolve;
pub mod selector;
mod tiers;
mod universe;

use std::net::IpAddr;

pub use universe::NAMESPACE_NAME_LABEL;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use podwire_model::policy::{
    CompiledRule, DirectionPolicy, Explanation, PodPolicy, RuleAction, RuleId, Tier, TierRule,
    Verdict,
};
use podwire_model::service::Protocol;

use crate::cnp::ClusterNetworkPolicy;
use crate::endpoints::PodInfo;
use crate::services::NodeContext;

/// The compiled policies of every pod of `pods` that runs on this node (`PodInfo::node` is
/// `node.node_name`), in pod order: isolation per direction (policyTypes defaulting), rules
/// with selectors (podSelector, namespaceSelector, both), ipBlocks with `except`, ports
/// (protocol default TCP, `endPort`, named ports resolved against the destination pod's
/// container ports: the pod itself for ingress, each peer pod for egress).
///
/// The ClusterNetworkPolicies of `cluster_policies` that select a pod (`spec.subject`) give
/// it their rules in the Admin or Baseline tier of [`DirectionPolicy`], in precedence order
/// (priority, then name, then rule order), with peers (`namespaces`, `pods`, `networks`) and
/// `protocols` (ports, ranges, named ports) resolved as for NetworkPolicies.
pub fn compile(
    policies: &[&NetworkPolicy],
    cluster_policies: &[&ClusterNetworkPolicy],
    pods: &[PodInfo<'_>],
    namespaces: &[&Namespace],
    node: &NodeContext,
) -> Vec<PodPolicy> {
    let universe = universe::Universe::new(pods, namespaces);
    let mut compiled = compiler::compile(policies, &universe, node);
    tiers::compile(cluster_policies, &universe, &mut compiled);
    compiled
}

/// The verdict of one direction of a pod on traffic with remote address `remote`, protocol
/// and destination port: the first Admin rule that matches, unless it passes; else, when a
/// NetworkPolicy isolates the direction, whether one of its rules matches; else the first
/// Baseline rule that matches, unless it passes; else allowed.
pub fn evaluate(
    direction: &DirectionPolicy,
    remote: IpAddr,
    protocol: Protocol,
    port: u16,
) -> Verdict {
    let mut verdict = Verdict {
        allowed: true,
        rule: None,
        tier: None,
        isolating: direction.policies.clone(),
        passed: Vec::new(),
    };
    let traffic = (remote, protocol, port);
    if let Some(rule) = tier_decision(&direction.admin, traffic, &mut verdict.passed) {
        return decided(verdict, Tier::Admin, rule);
    }
    if direction.isolated() {
        let allowed_by = direction.rules.iter().find(|rule| matches(rule, traffic));
        verdict.allowed = allowed_by.is_some();
        verdict.rule = allowed_by.map(|rule| rule.id.clone());
        return verdict;
    }
    if let Some(rule) = tier_decision(&direction.baseline, traffic, &mut verdict.passed) {
        return decided(verdict, Tier::Baseline, rule);
    }
    verdict
}

/// The remote address, protocol and destination port of the traffic to judge.
type Traffic = (IpAddr, Protocol, u16);

/// Whether `rule` matches: the remote address in one of its peers AND the protocol and port
/// in one of its ports.
fn matches(rule: &CompiledRule, (remote, protocol, port): Traffic) -> bool {
    let peer = rule.peers.as_ref().is_none_or(|peers| {
        peers.iter().any(|block| {
            block.cidr.contains(remote) && !block.except.iter().any(|e| e.contains(remote))
        })
    });
    let ports = rule.ports.as_ref().is_none_or(|ports| {
        ports.iter().any(|range| {
            range.protocol == protocol
                && range
                    .ports
                    .is_none_or(|(first, last)| (first..=last).contains(&port))
        })
    });
    peer && ports
}

/// The rule of a tier that decides: the first that matches when it is Accept or Deny;
/// `None` when none matches or the first is a Pass (noted in `passed`).
fn tier_decision<'r>(
    rules: &'r [TierRule],
    traffic: Traffic,
    passed: &mut Vec<RuleId>,
) -> Option<&'r TierRule> {
    let rule = rules.iter().find(|rule| matches(&rule.rule, traffic))?;
    if rule.action == RuleAction::Pass {
        passed.push(rule.rule.id.clone());
        return None;
    }
    Some(rule)
}

/// `verdict` decided by a tier's Accept or Deny rule.
fn decided(verdict: Verdict, tier: Tier, rule: &TierRule) -> Verdict {
    Verdict {
        allowed: rule.action == RuleAction::Accept,
        rule: Some(rule.rule.id.clone()),
        tier: Some(tier),
        ..verdict
    }
}

/// Who is at one end of a connection to explain.
#[derive(Debug, Clone, Copy)]
pub enum Party<'a> {
    /// A pod of this node, with its compiled policies.
    Pod(&'a PodPolicy),
    /// The node itself (always reaches its pods, and is reached).
    Node(IpAddr),
    /// Any other address (outside the cluster, or a pod podwire does not know).
    Address(IpAddr),
}

/// The whole verdict on a connection from `from` to `to`: the client's egress AND the
/// server's ingress, each through the tiers as [`evaluate`] judges them, with the rule or
/// policy that decided (a ClusterNetworkPolicy's Accept or Deny rule, a NetworkPolicy
/// rule, or for a denial without a rule the isolating NetworkPolicy) and one line for
/// people that names the tier and action, and any Pass on the way.
pub fn explain(from: Party<'_>, to: Party<'_>, protocol: Protocol, port: u16) -> Explanation {
    explanation::explain(from, to, protocol, port)
}

#[cfg(test)]
mod tests;
