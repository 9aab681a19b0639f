//! NetworkPolicies, Pods and Namespaces into the [`PodPolicy`] of each pod of this node.
//!
//! A policy's rules are resolved once, the first time it selects a pod of this node, and
//! shared by every pod it selects; only ingress named ports depend on the selected pod (they
//! name its own container ports).
//!
//! Which pods count: every pod with an address is a target when it runs on this node,
//! whatever its phase (a pod must never lose its isolation). A pod in phase Succeeded or
//! Failed is no peer: its address may already be another pod's.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use podwire_model::policy::{
    CompiledRule, DirectionPolicy, PodPolicy, PolicyDirection, PolicyId, PortRange, RuleId,
};
use podwire_model::service::Protocol;

use super::resolve::{IngressRule, Peers, PortSpec, egress_rules, ip_block, port_number};
use super::universe::{Namespaces, Universe, selects};
use crate::object::namespace_of;
use crate::services::NodeContext;
use crate::validate::protocol_of;

/// See [`super::compile`].
pub(super) fn compile(
    policies: &[&NetworkPolicy],
    universe: &Universe<'_>,
    node: &NodeContext,
) -> Vec<PodPolicy> {
    // Policies in name order, by namespace: the order of `DirectionPolicy::policies`.
    let mut by_namespace: BTreeMap<&str, Vec<&NetworkPolicy>> = BTreeMap::new();
    for policy in policies {
        by_namespace
            .entry(namespace_of(&policy.metadata))
            .or_default()
            .push(policy);
    }
    for list in by_namespace.values_mut() {
        list.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    }
    let no_policies = Vec::new();
    let empty_spec = NetworkPolicySpec::default();
    let mut resolved: HashMap<PolicyId, ResolvedPolicy<'_>> = HashMap::new();

    let mut compiled = Vec::new();
    for target in universe.pods {
        if target.node.as_deref() != Some(node.node_name.as_str()) || target.ips.is_empty() {
            continue;
        }
        let namespace = namespace_of(&target.pod.metadata);
        let labels = target.pod.metadata.labels.as_ref();
        let mut pod_policy = PodPolicy {
            namespace: namespace.to_owned(),
            name: target.pod.metadata.name.clone().unwrap_or_default(),
            addresses: target.ips.clone(),
            ingress: DirectionPolicy::default(),
            egress: DirectionPolicy::default(),
        };
        for policy in by_namespace.get(namespace).unwrap_or(&no_policies) {
            let spec = policy.spec.as_ref().unwrap_or(&empty_spec);
            if !selects(spec.pod_selector.as_ref(), labels) {
                continue;
            }
            let id = PolicyId {
                namespace: namespace.to_owned(),
                name: policy.metadata.name.clone().unwrap_or_default(),
            };
            let rules = resolved
                .entry(id.clone())
                .or_insert_with(|| ResolvedPolicy::new(&id, spec, universe));
            if let Some(ingress) = &rules.ingress {
                pod_policy.ingress.policies.push(id.clone());
                let ingress = ingress.iter().map(|rule| rule.for_target(target.pod));
                pod_policy.ingress.rules.extend(ingress);
            }
            if let Some(egress) = &rules.egress {
                pod_policy.egress.policies.push(id);
                pod_policy.egress.rules.extend(egress.iter().cloned());
            }
        }
        compiled.push(pod_policy);
    }
    compiled
}

/// The directions a policy isolates: its `policyTypes`, or when it lists none, Ingress,
/// and Egress too when it has egress rules (the API server's defaulting).
fn policy_types(spec: &NetworkPolicySpec) -> (bool, bool) {
    match spec.policy_types.as_deref() {
        Some(types) if !types.is_empty() => (
            types.iter().any(|t| t == "Ingress"),
            types.iter().any(|t| t == "Egress"),
        ),
        _ => (true, spec.egress.as_ref().is_some_and(|e| !e.is_empty())),
    }
}

/// A rule's peers: `None` when it has none (any address), else its ipBlocks and the pods
/// its selectors select.
fn peers(
    policy_namespace: &str,
    peers: Option<&[NetworkPolicyPeer]>,
    universe: &Universe<'_>,
) -> Option<Peers> {
    let peers = peers.filter(|p| !p.is_empty())?;
    let mut resolved = Peers::default();
    for peer in peers {
        match &peer.ip_block {
            Some(block) => resolved
                .blocks
                .extend(ip_block(&block.cidr, block.except.iter().flatten())),
            // A peer that names nothing is refused by validation; it selects nothing.
            None if peer.pod_selector.is_none() && peer.namespace_selector.is_none() => {}
            None => {
                let namespaces = match &peer.namespace_selector {
                    None => Namespaces::Named(policy_namespace),
                    Some(selector) => Namespaces::Selected(selector),
                };
                universe.select(namespaces, peer.pod_selector.as_ref(), &mut resolved.pods);
            }
        }
    }
    Some(resolved)
}

/// A rule's ports: `None` when it has none (every protocol and port). An entry that
/// validation would refuse is left out, so that it never widens the rule.
fn port_specs(ports: Option<&[NetworkPolicyPort]>) -> Option<Vec<PortSpec<'_>>> {
    let ports = ports.filter(|p| !p.is_empty())?;
    let specs = ports.iter().filter_map(|entry| {
        let protocol = protocol(protocol_of(&entry.protocol))?;
        let range = match &entry.port {
            None => None,
            Some(IntOrString::String(name)) => return Some(PortSpec::Named(Some(protocol), name)),
            Some(IntOrString::Int(first)) => {
                let first = port_number(*first)?;
                let last = match entry.end_port {
                    None => first,
                    Some(last) => port_number(last).filter(|&last| last >= first)?,
                };
                Some((first, last))
            }
        };
        Some(PortSpec::Range(PortRange {
            protocol,
            ports: range,
        }))
    });
    Some(specs.collect())
}

/// A protocol's name as the model's protocol.
fn protocol(name: &str) -> Option<Protocol> {
    match name {
        "TCP" => Some(Protocol::Tcp),
        "UDP" => Some(Protocol::Udp),
        "SCTP" => Some(Protocol::Sctp),
        _ => None,
    }
}

/// A policy's rules, resolved but for what depends on the pod it selects; `None` for a
/// direction the policy does not isolate.
struct ResolvedPolicy<'a> {
    ingress: Option<Vec<IngressRule<'a>>>,
    egress: Option<Vec<CompiledRule>>,
}

impl<'a> ResolvedPolicy<'a> {
    fn new(id: &PolicyId, spec: &'a NetworkPolicySpec, universe: &Universe<'_>) -> Self {
        let (ingress, egress) = policy_types(spec);
        let rule_id = |direction, index| RuleId {
            policy: id.clone(),
            direction,
            index,
        };
        let ingress = ingress.then(|| {
            let rules = spec.ingress.iter().flatten().enumerate();
            rules
                .map(|(index, rule)| IngressRule {
                    id: rule_id(PolicyDirection::Ingress, index),
                    peers: peers(&id.namespace, rule.from.as_deref(), universe)
                        .map(|peers| peers.blocks(universe)),
                    ports: port_specs(rule.ports.as_deref()),
                })
                .collect()
        });
        let egress = egress.then(|| {
            let mut compiled = Vec::new();
            for (index, rule) in spec.egress.iter().flatten().enumerate() {
                let id = rule_id(PolicyDirection::Egress, index);
                let peers = peers(&id.policy.namespace, rule.to.as_deref(), universe);
                let ports = port_specs(rule.ports.as_deref());
                egress_rules(id, peers, ports, universe, &mut compiled);
            }
            compiled
        });
        ResolvedPolicy { ingress, egress }
    }
}
