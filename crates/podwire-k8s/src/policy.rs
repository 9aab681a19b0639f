//! NetworkPolicy semantics (`networking.k8s.io/v1`), as pure functions: the policies, Pods
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

mod compiler;
mod explanation;
pub mod selector;

use std::net::IpAddr;

pub use compiler::NAMESPACE_NAME_LABEL;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use podwire_model::policy::{DirectionPolicy, Explanation, PodPolicy, Verdict};
use podwire_model::service::Protocol;

use crate::endpoints::PodInfo;
use crate::services::NodeContext;

/// The compiled policies of every pod of `pods` that runs on this node (`PodInfo::node` is
/// `node.node_name`), in pod order: isolation per direction (policyTypes defaulting), rules
/// with selectors (podSelector, namespaceSelector, both), ipBlocks with `except`, ports
/// (protocol default TCP, `endPort`, named ports resolved against the destination pod's
/// container ports: the pod itself for ingress, each peer pod for egress).
pub fn compile(
    policies: &[&NetworkPolicy],
    pods: &[PodInfo<'_>],
    namespaces: &[&Namespace],
    node: &NodeContext,
) -> Vec<PodPolicy> {
    compiler::compile(policies, pods, namespaces, node)
}

/// The verdict of one direction of a pod on traffic with remote address `remote`, protocol
/// and destination port: allowed when not isolated, else by the first rule that matches.
pub fn evaluate(
    direction: &DirectionPolicy,
    remote: IpAddr,
    protocol: Protocol,
    port: u16,
) -> Verdict {
    if !direction.isolated() {
        return Verdict {
            allowed: true,
            rule: None,
            isolating: Vec::new(),
        };
    }
    let allowed_by = direction.rules.iter().find(|rule| {
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
    });
    Verdict {
        allowed: allowed_by.is_some(),
        rule: allowed_by.map(|rule| rule.id.clone()),
        isolating: direction.policies.clone(),
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
/// server's ingress, with the rule or policy that decided and one line for people.
pub fn explain(from: Party<'_>, to: Party<'_>, protocol: Protocol, port: u16) -> Explanation {
    explanation::explain(from, to, protocol, port)
}

#[cfg(test)]
mod tests;
