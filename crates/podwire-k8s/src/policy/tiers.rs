//! ClusterNetworkPolicies (Admin and Baseline tiers) into the tier rules of each compiled
//! pod.
//!
//! Policies are taken in precedence order (priority, then name) and each is resolved once,
//! when it first selects a pod of this node; its rules are then appended to every pod it
//! selects, so each pod's tier lists come out in precedence order without sorting. Only
//! ingress named ports depend on the subject pod (they name its own container ports).
//!
//! Fail-closed: what cannot be resolved (an experimental `nodes` or `domainNames` peer,
//! which validation refuses, a peer with no field, a CIDR that is not one) must never let
//! traffic through. In an Accept rule it matches nothing; in a Deny or Pass rule it matches
//! every address, so that the rule denies (or passes) rather than lets lower tiers allow.
//! A protocol entry without a usable port is read the same way: nothing for Accept, every
//! port of its protocol (of every protocol when it names none) for Deny and Pass.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use podwire_model::policy::{
    CompiledRule, PodPolicy, PolicyDirection, PolicyId, PortRange, RuleAction, RuleId, Tier,
    TierRule,
};

use super::resolve::{
    IngressRule, PROTOCOLS, Peers, PortSpec, egress_rules, ip_block, port_number,
};
use super::selector;
use super::universe::{Namespaces, Universe};
use crate::cnp::{
    ClusterNetworkPolicy, ClusterNetworkPolicyEgressPeer, ClusterNetworkPolicyIngressPeer,
    ClusterNetworkPolicyProtocol, ClusterNetworkPolicySubject, NamespacedPod, ProtocolPort,
};
use crate::endpoints::PodInfo;
use crate::object::namespace_of;

/// Adds to each pod of `compiled` (this node's pods, as [`super::compiler::compile`] made
/// them, one per target pod) the Admin and Baseline rules of the `cluster_policies` whose
/// subject selects it.
pub(super) fn compile(
    cluster_policies: &[&ClusterNetworkPolicy],
    universe: &Universe<'_>,
    compiled: &mut [PodPolicy],
) {
    if cluster_policies.is_empty() || compiled.is_empty() {
        return;
    }
    let targets = targets(universe, compiled);
    let mut ordered = cluster_policies.to_vec();
    ordered.sort_by(|a, b| (a.spec.priority, name(a)).cmp(&(b.spec.priority, name(b))));
    for policy in ordered {
        let selected: Vec<(usize, &Pod)> = targets
            .iter()
            .filter(|(_, pod)| subject_selects(&policy.spec.subject, universe, pod))
            .copied()
            .collect();
        if selected.is_empty() {
            continue;
        }
        let resolved = ResolvedPolicy::new(policy, universe);
        for (i, pod) in selected {
            let pod_policy = &mut compiled[i];
            let (ingress, egress) = match policy.spec.tier {
                Tier::Admin => (&mut pod_policy.ingress.admin, &mut pod_policy.egress.admin),
                Tier::Baseline => (
                    &mut pod_policy.ingress.baseline,
                    &mut pod_policy.egress.baseline,
                ),
            };
            ingress.extend(resolved.ingress.iter().map(|(rule, action)| TierRule {
                rule: rule.for_target(pod),
                action: *action,
            }));
            egress.extend(resolved.egress.iter().cloned());
        }
    }
}

fn name(policy: &ClusterNetworkPolicy) -> &str {
    policy.metadata.name.as_deref().unwrap_or_default()
}

/// Each compiled pod (index into `compiled`) with its Pod object, matched by namespace and
/// name.
fn targets<'a>(universe: &Universe<'a>, compiled: &[PodPolicy]) -> Vec<(usize, &'a Pod)> {
    let index: HashMap<(&str, &str), usize> = compiled
        .iter()
        .enumerate()
        .map(|(i, pod)| ((pod.namespace.as_str(), pod.name.as_str()), i))
        .collect();
    universe
        .pods
        .iter()
        .filter_map(|info: &PodInfo<'a>| {
            let metadata = &info.pod.metadata;
            let key = (
                namespace_of(metadata),
                metadata.name.as_deref().unwrap_or_default(),
            );
            index.get(&key).map(|&i| (i, info.pod))
        })
        .collect()
}

/// Whether `spec.subject` selects `pod`: every pod of the namespaces `namespaces` selects,
/// or the pods `pods` selects (namespace AND pod labels). A subject that names nothing
/// (validation refuses it) selects nothing.
fn subject_selects(
    subject: &ClusterNetworkPolicySubject,
    universe: &Universe<'_>,
    pod: &Pod,
) -> bool {
    let namespace = namespace_of(&pod.metadata);
    let by_namespace = subject
        .namespaces
        .as_ref()
        .is_some_and(|selector| universe.namespace_selected(selector, namespace));
    let by_pod = subject.pods.as_ref().is_some_and(|pods| {
        universe.namespace_selected(&pods.namespace_selector, namespace)
            && selector::matches(&pods.pod_selector, pod.metadata.labels.as_ref())
    });
    by_namespace || by_pod
}

/// A policy's rules, resolved but for the ingress named ports, which depend on the pod it
/// selects.
struct ResolvedPolicy<'a> {
    ingress: Vec<(IngressRule<'a>, RuleAction)>,
    egress: Vec<TierRule>,
}

impl<'a> ResolvedPolicy<'a> {
    fn new(policy: &'a ClusterNetworkPolicy, universe: &Universe<'_>) -> Self {
        let id = PolicyId::cluster(name(policy));
        let rule_id = |direction, index| RuleId {
            policy: id.clone(),
            direction,
            index,
        };
        let ingress = policy.spec.ingress.iter().enumerate().map(|(index, rule)| {
            let peers = rule.from.iter().map(PeerFields::from);
            let peers = resolve_peers(peers, rule.action, universe);
            let resolved = IngressRule {
                id: rule_id(PolicyDirection::Ingress, index),
                peers: Some(peers.blocks(universe)),
                ports: port_specs(rule.protocols.as_deref(), rule.action),
            };
            (resolved, rule.action)
        });
        let mut egress = Vec::new();
        for (index, rule) in policy.spec.egress.iter().enumerate() {
            let id = rule_id(PolicyDirection::Egress, index);
            let peers = rule.to.iter().map(PeerFields::from);
            let peers = resolve_peers(peers, rule.action, universe);
            let ports = port_specs(rule.protocols.as_deref(), rule.action);
            let mut compiled = Vec::new();
            egress_rules(id.clone(), Some(peers), ports, universe, &mut compiled);
            if compiled.is_empty() {
                // Only named ports, which no peer gives: the rule keeps its place, matching
                // nothing.
                compiled.push(CompiledRule {
                    id,
                    peers: Some(Vec::new()),
                    ports: Some(Vec::new()),
                });
            }
            egress.extend(compiled.into_iter().map(|rule_part| TierRule {
                rule: rule_part,
                action: rule.action,
            }));
        }
        ResolvedPolicy {
            ingress: ingress.collect(),
            egress,
        }
    }
}

/// One peer of a rule, ingress or egress, field by field.
struct PeerFields<'p> {
    namespaces: Option<&'p LabelSelector>,
    pods: Option<&'p NamespacedPod>,
    networks: Option<&'p [String]>,
    /// A peer podwire cannot resolve (`nodes`, `domainNames`).
    unsupported: bool,
}

impl<'p> From<&'p ClusterNetworkPolicyIngressPeer> for PeerFields<'p> {
    fn from(peer: &'p ClusterNetworkPolicyIngressPeer) -> Self {
        PeerFields {
            namespaces: peer.namespaces.as_ref(),
            pods: peer.pods.as_ref(),
            networks: None,
            unsupported: false,
        }
    }
}

impl<'p> From<&'p ClusterNetworkPolicyEgressPeer> for PeerFields<'p> {
    fn from(peer: &'p ClusterNetworkPolicyEgressPeer) -> Self {
        PeerFields {
            namespaces: peer.namespaces.as_ref(),
            pods: peer.pods.as_ref(),
            networks: peer.networks.as_deref(),
            unsupported: peer.nodes.is_some() || peer.domain_names.is_some(),
        }
    }
}

/// A rule's peers: the pods of `namespaces` peers, the pods of `pods` peers, the CIDRs of
/// `networks` peers (no exceptions). Fail-closed for what it cannot resolve, no peer at
/// all included: nothing more for Accept, every address for Deny and Pass.
fn resolve_peers<'p>(
    peers: impl Iterator<Item = PeerFields<'p>>,
    action: RuleAction,
    universe: &Universe<'_>,
) -> Peers {
    let mut resolved = Peers::default();
    let mut unresolved = false;
    let mut count = 0;
    for peer in peers {
        count += 1;
        let mut understood = false;
        let mut failed = peer.unsupported;
        if let Some(selector) = peer.namespaces {
            universe.select(Namespaces::Selected(selector), None, &mut resolved.pods);
            understood = true;
        }
        if let Some(pods) = peer.pods {
            let namespaces = Namespaces::Selected(&pods.namespace_selector);
            universe.select(namespaces, Some(&pods.pod_selector), &mut resolved.pods);
            understood = true;
        }
        if let Some(networks) = peer.networks {
            let blocks: Vec<_> = networks.iter().filter_map(|n| ip_block(n, [])).collect();
            failed |= networks.is_empty() || blocks.len() != networks.len();
            resolved.blocks.extend(blocks);
            understood = true;
        }
        unresolved |= failed || !understood;
    }
    if (unresolved || count == 0) && action != RuleAction::Accept {
        resolved.every_address();
    }
    resolved
}

/// A rule's `protocols`: `None` when it has none (all traffic); numbers and ranges of a
/// protocol, and named ports of any protocol. What cannot be read fails closed (see the
/// module's comment).
fn port_specs(
    protocols: Option<&[ClusterNetworkPolicyProtocol]>,
    action: RuleAction,
) -> Option<Vec<PortSpec<'_>>> {
    let protocols = protocols.filter(|p| !p.is_empty())?;
    let fail_closed = action != RuleAction::Accept;
    let every_port = |protocol| {
        PortSpec::Range(PortRange {
            protocol,
            ports: None,
        })
    };
    let mut specs = Vec::new();
    for entry in protocols {
        let mut understood = false;
        let ports = PROTOCOLS
            .into_iter()
            .zip([&entry.tcp, &entry.udp, &entry.sctp]);
        for (protocol, port) in ports {
            let Some(port) = port else { continue };
            understood = true;
            match destination_port(port) {
                Some(range) => specs.push(PortSpec::Range(PortRange {
                    protocol,
                    ports: Some(range),
                })),
                None if fail_closed => specs.push(every_port(protocol)),
                None => {}
            }
        }
        if let Some(name) = &entry.destination_named_port {
            specs.push(PortSpec::Named(None, name));
            understood = true;
        }
        if !understood && fail_closed {
            specs.extend(PROTOCOLS.map(every_port));
        }
    }
    Some(specs)
}

/// A `destinationPort`'s first and last port, when it is one number or a range of valid
/// port numbers.
fn destination_port(port: &ProtocolPort) -> Option<(u16, u16)> {
    let port = port.destination_port.as_ref()?;
    match (port.number, &port.range) {
        (Some(number), None) => port_number(number).map(|n| (n, n)),
        (None, Some(range)) => {
            let (first, last) = (port_number(range.start)?, port_number(range.end)?);
            (first <= last).then_some((first, last))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
