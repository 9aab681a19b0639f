//! The oracle's ClusterNetworkPolicy tiers, from `policy.networking.k8s.io/v1alpha2`'s type
//! comments (`apis/v1alpha2/clusternetworkpolicy_types.go`) and the reference's §3.4:
//!
//! - A tier's policies are those of that `spec.tier` whose `spec.subject` selects the pod:
//!   `namespaces` (every pod of the namespaces the selector selects) or `pods` (the pods
//!   `podSelector` selects in the namespaces `namespaceSelector` selects; absent or `{}`
//!   selects all).
//! - Lower `priority` first; the order of equal priorities is left to implementations
//!   upstream, podwire orders them by name, and so does this. Within a policy, its rules of
//!   the direction (`ingress` or `egress`) in the order written.
//! - A rule matches iff one of its peers (`from` or `to`) matches the other pod AND, when it
//!   has `protocols`, one of them matches the connection (without: all traffic).
//! - Peers: `namespaces` and `pods` as subjects do; `networks` (egress only) matches an
//!   address in one of its CIDRs, pods' included.
//! - Protocols: `tcp`, `udp` or `sctp` with a destination port `number` or inclusive
//!   `range`; `destinationNamedPort` is the destination pod's container port of that name,
//!   over whatever protocol that port has.
//! - The first rule that matches acts: Accept or Deny decides the direction; Pass ends the
//!   tier's say (the next tier decides).
//!
//! What the validation refuses (`nodes` and `domainNames` peers, several fields in one peer,
//! unknown actions) never reaches here: meeting it is a mistake in a case, and panics.

use serde_json::Value;

use super::{Cell, Decision, Direction, contains, ends, list, selects};
use crate::model::{Cluster, PodId, port_name};
use podwire_model::service::Protocol;

/// `spec.tier` of the Admin tier.
pub const ADMIN: &str = "Admin";
/// `spec.tier` of the Baseline tier.
pub const BASELINE: &str = "Baseline";

/// The decision of tier `tier` (`ADMIN` or `BASELINE`) on direction `dir` of `cell`: `None`
/// when no rule of the tier matches, or when a Pass rule does (noted in `passed`).
pub fn decide(
    cluster: &Cluster,
    tier: &'static str,
    dir: Direction,
    cell: Cell,
    passed: &mut Vec<String>,
) -> Option<Decision> {
    let (subject, remote) = ends(dir, cell);
    let mut policies: Vec<&Value> = cluster
        .cluster_policies
        .iter()
        .filter(|p| p["spec"]["tier"] == tier)
        .filter(|p| pods_match(cluster, &p["spec"]["subject"], subject, "subject"))
        .collect();
    policies.sort_by_key(|p| (priority(p), name(p)));
    for policy in policies {
        for (i, rule) in list(&policy["spec"][dir.rules_field()]).iter().enumerate() {
            if !rule_matches(cluster, dir, rule, remote, cell) {
                continue;
            }
            let id = format!(
                "ClusterNetworkPolicy/{} {}[{i}]",
                name(policy),
                dir.rules_field()
            );
            let accept = match rule["action"].as_str() {
                Some("Accept") => true,
                Some("Deny") => false,
                Some("Pass") => {
                    passed.push(format!("{tier} {id}"));
                    return None;
                }
                other => panic!("{id} has action {other:?}: the case is wrong"),
            };
            return Some(Decision::Tier {
                tier,
                accept,
                rule: id,
            });
        }
    }
    None
}

/// A policy's `spec.priority`.
fn priority(policy: &Value) -> i64 {
    policy["spec"]["priority"]
        .as_i64()
        .unwrap_or_else(|| panic!("{} has no priority: the case is wrong", name(policy)))
}

/// A policy's name.
fn name(policy: &Value) -> &str {
    policy["metadata"]["name"].as_str().unwrap_or("?")
}

/// Whether `rule` (of direction `dir`) matches traffic with the other pod `remote`.
fn rule_matches(
    cluster: &Cluster,
    dir: Direction,
    rule: &Value,
    remote: PodId,
    cell: Cell,
) -> bool {
    let peer_matches =
        list(&rule[dir.peers_field()])
            .iter()
            .any(|peer| match peer.get("networks") {
                Some(networks) => list(networks).iter().any(|cidr| {
                    let text = cidr.as_str().unwrap_or_default();
                    contains(text, cluster.address(remote))
                        .unwrap_or_else(|| panic!("{text:?} is not a CIDR: the case is wrong"))
                }),
                None => pods_match(cluster, peer, remote, "peer"),
            });
    let protocols = &rule["protocols"];
    peer_matches
        && (protocols.is_null()
            || list(protocols)
                .iter()
                .any(|entry| protocol_matches(cluster, entry, cell)))
}

/// Whether a subject or peer (`what`, for messages) takes in `pod`: exactly one of
/// `namespaces` and `pods`.
fn pods_match(cluster: &Cluster, selection: &Value, pod: PodId, what: &str) -> bool {
    let namespace_labels = &cluster.namespace_labels[pod.namespace_index()];
    match (selection.get("namespaces"), selection.get("pods")) {
        (Some(namespaces), None) => selects(namespaces, namespace_labels),
        (None, Some(pods)) => {
            selects(&pods["namespaceSelector"], namespace_labels)
                && selects(&pods["podSelector"], &cluster.pod_labels[pod.0])
        }
        _ => panic!("{what} {selection} sets not exactly one field: the case is wrong"),
    }
}

/// Whether a `protocols` entry matches the cell's protocol and destination port.
fn protocol_matches(cluster: &Cluster, entry: &Value, cell: Cell) -> bool {
    let by_protocol = [
        ("tcp", Protocol::Tcp),
        ("udp", Protocol::Udp),
        ("sctp", Protocol::Sctp),
    ];
    for (field, protocol) in by_protocol {
        if let Some(port) = entry.get(field) {
            return protocol == cell.protocol
                && port_in(&port["destinationPort"], cell.port, entry);
        }
    }
    match entry["destinationNamedPort"].as_str() {
        // The destination is always a pod of the model: the server.
        Some(name) => cluster.containers.iter().any(|&(port, protocol)| {
            port_name(port, protocol) == name && port == cell.port && protocol == cell.protocol
        }),
        None => panic!("protocols entry {entry} sets none of its fields: the case is wrong"),
    }
}

/// Whether `port` is the `destinationPort` (`number` or inclusive `range`) of `entry`.
fn port_in(destination: &Value, port: u16, entry: &Value) -> bool {
    let port = i64::from(port);
    if let Some(number) = destination["number"].as_i64() {
        return number == port;
    }
    match (
        destination["range"]["start"].as_i64(),
        destination["range"]["end"].as_i64(),
    ) {
        (Some(start), Some(end)) => (start..=end).contains(&port),
        _ => panic!("protocols entry {entry} has no destination port: the case is wrong"),
    }
}
