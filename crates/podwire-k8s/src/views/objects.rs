//! What `podwire ctl get networkpolicies|clusternetworkpolicies|namespaces` shows: each
//! object with a summary and its status on this node.
//!
//! Objects from a source (etcd, the Kubernetes API) reach the store without the checks
//! `ctl apply` makes, so an object with a problem shows it here as failed. A policy's
//! status comes from what [`policy::compile`] makes of the store, the form the data plane
//! enforces, so that it can never say a policy selects a pod the data plane does not
//! isolate.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicySpec};
use podwire_model::cluster::{ObjectKind, ObjectStatus, ObjectView};
use podwire_model::policy::{PodPolicy, PolicyId};

use crate::endpoints::PodInfo;
use crate::object::{Object, namespace_of};
use crate::policy;
use crate::services::NodeContext;
use crate::validate;

/// Why a policy that selects no pod here is pending.
pub const SELECTS_NO_POD: &str = "selects no pod on this node";

/// The objects of `kind` among `objects` (the store's objects, every kind), with their
/// status; `pods` are the store's Pods with their addresses, as the policy compiler takes
/// them. Kinds with a richer view (Services, Pods, EndpointSlices, Nodes) give none.
pub fn objects(
    kind: ObjectKind,
    objects: &[&Object],
    pods: &[PodInfo<'_>],
    node: &NodeContext,
) -> Vec<ObjectView> {
    let of_kind = objects.iter().copied().filter(|o| o.kind() == kind);
    match kind {
        ObjectKind::NetworkPolicy | ObjectKind::ClusterNetworkPolicy => {
            let selected = selected_pods(objects, pods, node);
            of_kind
                .filter_map(|object| policy_view(object, &selected))
                .collect()
        }
        ObjectKind::Namespace => {
            let mut counts: BTreeMap<(&str, ObjectKind), usize> = BTreeMap::new();
            for object in objects {
                if let kind @ (ObjectKind::Pod | ObjectKind::Service) = object.kind() {
                    *counts
                        .entry((namespace_of(object.metadata()), kind))
                        .or_default() += 1;
                }
            }
            of_kind
                .map(|object| {
                    let name = object.metadata().name.as_deref().unwrap_or_default();
                    let count = |kind| counts.get(&(name, kind)).copied().unwrap_or(0);
                    let summary = format!(
                        "{}, {}",
                        plural(count(ObjectKind::Pod), "pod"),
                        plural(count(ObjectKind::Service), "service")
                    );
                    view(object, summary, ObjectStatus::Applied)
                })
                .collect()
        }
        ObjectKind::Pod | ObjectKind::Service | ObjectKind::EndpointSlice | ObjectKind::Node => {
            Vec::new()
        }
    }
}

/// How many pods of this node each policy (NetworkPolicy or ClusterNetworkPolicy) applies
/// to in the compiled form.
fn selected_pods(
    objects: &[&Object],
    pods: &[PodInfo<'_>],
    node: &NodeContext,
) -> BTreeMap<PolicyId, usize> {
    let mut policies = Vec::new();
    let mut cluster_policies = Vec::new();
    let mut namespaces = Vec::new();
    for object in objects {
        match object {
            Object::NetworkPolicy(p) => policies.push(p),
            Object::ClusterNetworkPolicy(p) => cluster_policies.push(p),
            Object::Namespace(n) => namespaces.push(n),
            _ => {}
        }
    }
    let compiled = policy::compile(&policies, &cluster_policies, pods, &namespaces, node);
    let mut counts = BTreeMap::new();
    for pod in &compiled {
        for id in policies_of(pod) {
            *counts.entry(id.clone()).or_default() += 1;
        }
    }
    counts
}

/// The policies that apply to a compiled pod: the NetworkPolicies isolating one of its
/// directions, and the ClusterNetworkPolicies with a rule in one of its tiers.
fn policies_of(pod: &PodPolicy) -> BTreeSet<&PolicyId> {
    [&pod.ingress, &pod.egress]
        .into_iter()
        .flat_map(|direction| {
            let tiers = direction.admin.iter().chain(&direction.baseline);
            direction
                .policies
                .iter()
                .chain(tiers.map(|rule| &rule.rule.id.policy))
        })
        .collect()
}

/// A NetworkPolicy's or ClusterNetworkPolicy's view: failed when it has a problem, pending
/// when it selects no pod of this node.
fn policy_view(object: &Object, selected: &BTreeMap<PolicyId, usize>) -> Option<ObjectView> {
    let (id, summary, has_effect) = match object {
        Object::NetworkPolicy(policy) => {
            let id = PolicyId {
                namespace: namespace_of(&policy.metadata).to_owned(),
                name: policy.metadata.name.clone().unwrap_or_default(),
            };
            let count = selected.get(&id).copied().unwrap_or(0);
            let summary = format!(
                "selects {} on this node, {}",
                plural(count, "pod"),
                network_policy_rules(policy)
            );
            // Even without rules it isolates the pods it selects.
            (id, summary, true)
        }
        Object::ClusterNetworkPolicy(policy) => {
            let spec = &policy.spec;
            let rules = spec.ingress.len() + spec.egress.len();
            let id = PolicyId::cluster(policy.metadata.name.clone().unwrap_or_default());
            let summary = format!(
                "tier {}, priority {}, {}",
                spec.tier,
                spec.priority,
                plural(rules, "rule")
            );
            // Without rules it changes nothing, and appears in no compiled pod (a tier
            // lists rules): there is nothing to wait for.
            (id, summary, rules > 0)
        }
        _ => return None,
    };
    let problems = validate::object(object);
    let status = if !problems.is_empty() {
        let reasons: Vec<String> = problems.iter().map(ToString::to_string).collect();
        ObjectStatus::Failed(reasons.join("; "))
    } else if has_effect && !selected.contains_key(&id) {
        ObjectStatus::Pending(SELECTS_NO_POD.to_owned())
    } else {
        ObjectStatus::Applied
    };
    Some(view(object, summary, status))
}

/// A NetworkPolicy's rules: `3 ingress / 1 egress rules`.
fn network_policy_rules(policy: &NetworkPolicy) -> String {
    let empty = NetworkPolicySpec::default();
    let spec = policy.spec.as_ref().unwrap_or(&empty);
    let ingress = spec.ingress.as_ref().map_or(0, Vec::len);
    let egress = spec.egress.as_ref().map_or(0, Vec::len);
    format!("{ingress} ingress / {egress} egress rules")
}

fn view(object: &Object, summary: String, status: ObjectStatus) -> ObjectView {
    let key = object.key();
    ObjectView {
        kind: key.kind,
        namespace: key.namespace,
        name: key.name,
        summary,
        status,
    }
}

/// `1 pod`, `2 pods`.
fn plural(count: usize, noun: &str) -> String {
    match count {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

#[cfg(test)]
mod tests;
