//! The pods and namespaces policies select from, built once per compilation and shared by
//! NetworkPolicies and ClusterNetworkPolicies.
//!
//! A pod in phase Succeeded or Failed, or without an address, is no peer: its address may
//! already be another pod's.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::selector::{self, Labels};
use crate::endpoints::PodInfo;
use crate::object::namespace_of;

/// The label every Namespace carries, whose value is its name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Whether a selector that may be absent selects `labels` (absent: everything, as `{}`).
pub(super) fn selects(selector: Option<&LabelSelector>, labels: Option<&Labels>) -> bool {
    selector.is_none_or(|s| selector::matches(s, labels))
}

/// Which namespaces a peer's pods are taken from.
#[derive(Debug, Clone, Copy)]
pub(super) enum Namespaces<'s> {
    /// One namespace, by name (a NetworkPolicy peer without `namespaceSelector`).
    Named(&'s str),
    /// Every namespace this selects.
    Selected(&'s LabelSelector),
}

/// The pods that can be peers, and the labels of every namespace.
pub(super) struct Universe<'a> {
    /// Every pod, peer or not.
    pub(super) pods: &'a [PodInfo<'a>],
    /// Indexes into `pods` of the pods that can be peers, by namespace.
    by_namespace: BTreeMap<&'a str, Vec<usize>>,
    /// Each namespace's labels, with [`NAMESPACE_NAME_LABEL`] set to its name.
    namespace_labels: BTreeMap<&'a str, Labels>,
}

impl<'a> Universe<'a> {
    pub(super) fn new(pods: &'a [PodInfo<'a>], namespaces: &[&'a Namespace]) -> Universe<'a> {
        let mut by_namespace: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        let mut namespace_labels: BTreeMap<&str, Labels> = BTreeMap::new();
        for (i, info) in pods.iter().enumerate() {
            let namespace = namespace_of(&info.pod.metadata);
            // A namespace known only by its pods still has its name label, for subjects.
            namespace_labels.entry(namespace).or_default();
            let phase = info.pod.status.as_ref().and_then(|s| s.phase.as_deref());
            if !info.ips.is_empty() && !matches!(phase, Some("Succeeded" | "Failed")) {
                by_namespace.entry(namespace).or_default().push(i);
            }
        }
        for namespace in namespaces {
            let Some(name) = namespace.metadata.name.as_deref() else {
                continue;
            };
            let labels = namespace.metadata.labels.clone().unwrap_or_default();
            namespace_labels.insert(name, labels);
        }
        for (name, labels) in &mut namespace_labels {
            labels.insert(NAMESPACE_NAME_LABEL.to_owned(), (*name).to_owned());
        }
        Universe {
            pods,
            by_namespace,
            namespace_labels,
        }
    }

    /// Whether `selector` selects the namespace `name` (by its labels).
    pub(super) fn namespace_selected(&self, selector: &LabelSelector, name: &str) -> bool {
        selector::matches(selector, self.namespace_labels.get(name))
    }

    /// Adds to `into` the pods (indexes) of `namespaces` that `pods` selects (absent: all).
    pub(super) fn select(
        &self,
        namespaces: Namespaces<'_>,
        pods: Option<&LabelSelector>,
        into: &mut BTreeSet<usize>,
    ) {
        let names: Vec<&str> = match namespaces {
            Namespaces::Named(name) => vec![name],
            Namespaces::Selected(selector) => self
                .namespace_labels
                .iter()
                .filter(|(_, labels)| selector::matches(selector, Some(labels)))
                .map(|(name, _)| *name)
                .collect(),
        };
        for namespace in names {
            for &i in self.by_namespace.get(namespace).into_iter().flatten() {
                if selects(pods, self.pods[i].pod.metadata.labels.as_ref()) {
                    into.insert(i);
                }
            }
        }
    }

    /// Every pod that can be a peer.
    pub(super) fn all(&self) -> BTreeSet<usize> {
        self.by_namespace.values().flatten().copied().collect()
    }
}
