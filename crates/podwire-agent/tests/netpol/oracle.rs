//! An oracle for NetworkPolicy and ClusterNetworkPolicy verdicts, written from the APIs'
//! semantics (`/work/shared/reference/kubernetes.md` §3.1 and §3.4, the `networking.k8s.io/v1`
//! and `policy.networking.k8s.io/v1alpha2` type comments) and nothing of podwire's: it reads
//! the policies as the API's JSON and decides one connection at a time, the slow and obvious
//! way. The data plane is checked against it.
//!
//! - A connection from pod A to pod B is allowed iff A's egress allows it AND B's ingress
//!   allows it. Each direction is decided on its own, tier after tier:
//!   1. the Admin tier (`oracle_tiers.rs`): its first rule that matches decides if it is
//!      Accept or Deny; a Pass skips the rest of the tier;
//!   2. the NetworkPolicy tier: if NetworkPolicies isolate the pod in this direction, they
//!      decide (below), whatever comes after;
//!   3. the Baseline tier, as the Admin tier;
//!   4. nothing decided: allowed.
//! - A direction of a pod is isolated iff a policy of its namespace selects it
//!   (`spec.podSelector`) and has that direction in its policy types. Policy types default,
//!   when absent or empty, to `Ingress`, plus `Egress` when `spec.egress` has a rule. An
//!   isolated direction allows what a rule of a selecting policy (of that direction) allows.
//!   Policies add up; there is no deny.
//! - A rule allows iff its ports (absent or empty: all) match AND its peers (absent or empty:
//!   all) match.
//! - A peer: an ipBlock matches an address in its cidr and in none of its excepts (host bits
//!   of a prefix are ignored, as the API server's parser does); otherwise the namespace part
//!   (namespaceSelector absent: the policy's namespace) AND the pod part (podSelector
//!   absent: every pod) must match.
//! - A port: protocol (default TCP) equal; `port` absent: every port; a number: equal, or
//!   with `endPort` the inclusive range; a name: the destination pod has a container port
//!   of that name and protocol whose number is the port. For egress, a name is only resolved
//!   for a destination one of the rule's selector peers (or the absence of peers) lets in:
//!   a named port never matches a destination matched by an ipBlock alone.
//! - Selectors: every matchLabels pair, and every expression (In, NotIn, Exists,
//!   DoesNotExist) holds; an empty selector selects everything.

use std::collections::BTreeMap;
use std::net::IpAddr;

use podwire_model::service::Protocol;
use serde_json::Value;

use crate::model::{Cluster, PodId, port_name};

// The ClusterNetworkPolicy tiers; beside this file.
#[path = "oracle_tiers.rs"]
mod tiers;

/// What decided one direction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// No tier decided: allowed.
    Open,
    /// Allowed by this NetworkPolicy rule (`namespace/policy egress[0]`).
    Allowed(String),
    /// Isolated by these NetworkPolicies, and no rule of theirs allows it.
    Denied(Vec<String>),
    /// Accepted or denied by a ClusterNetworkPolicy rule.
    Tier {
        /// `Admin` or `Baseline`.
        tier: &'static str,
        /// Whether the rule's action is Accept (else Deny).
        accept: bool,
        /// The rule (`ClusterNetworkPolicy/name ingress[2]`).
        rule: String,
    },
}

/// One direction's verdict, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The Pass rules that sent the traffic on to the next tier, in order.
    pub passed: Vec<String>,
    /// What decided.
    pub decision: Decision,
}

impl Verdict {
    /// Whether the traffic passes this direction.
    pub fn allows(&self) -> bool {
        match &self.decision {
            Decision::Open | Decision::Allowed(_) => true,
            Decision::Denied(_) => false,
            Decision::Tier { accept, .. } => *accept,
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.decision {
            Decision::Open => f.write_str("no tier decides (allowed)")?,
            Decision::Allowed(rule) => write!(f, "allowed by {rule}")?,
            Decision::Denied(by) => {
                write!(f, "isolated by {} and no rule allows it", by.join(", "))?
            }
            Decision::Tier { tier, accept, rule } => {
                let action = if *accept { "Accept" } else { "Deny" };
                write!(f, "{tier} tier {action} by {rule}")?
            }
        }
        if !self.passed.is_empty() {
            write!(f, ", after Pass by {}", self.passed.join(", "))?;
        }
        Ok(())
    }
}

/// A connection of the model: client, server, protocol and the server's port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cell {
    pub from: PodId,
    pub to: PodId,
    pub protocol: Protocol,
    pub port: u16,
}

impl std::fmt::Display for Cell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} -> {} {}/{}",
            self.from, self.to, self.protocol, self.port
        )
    }
}

/// Both directions' verdicts on one connection.
#[derive(Clone, Debug)]
pub struct Judgement {
    /// The client's egress.
    pub egress: Verdict,
    /// The server's ingress.
    pub ingress: Verdict,
}

impl Judgement {
    /// Whether the connection is allowed.
    pub fn allowed(&self) -> bool {
        self.egress.allows() && self.ingress.allows()
    }
}

impl std::fmt::Display for Judgement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "client's egress {}; server's ingress {}",
            self.egress, self.ingress
        )
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    fn type_name(self) -> &'static str {
        match self {
            Direction::Ingress => "Ingress",
            Direction::Egress => "Egress",
        }
    }

    fn rules_field(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }

    fn peers_field(self) -> &'static str {
        match self {
            Direction::Ingress => "from",
            Direction::Egress => "to",
        }
    }
}

/// The oracle's verdict on `cell` in `cluster`.
pub fn judge(cluster: &Cluster, cell: Cell) -> Judgement {
    Judgement {
        egress: direction(cluster, Direction::Egress, cell),
        ingress: direction(cluster, Direction::Ingress, cell),
    }
}

/// The verdict of the client's egress or the server's ingress: the Admin tier, the
/// NetworkPolicy tier, the Baseline tier, in that order, until one decides.
fn direction(cluster: &Cluster, dir: Direction, cell: Cell) -> Verdict {
    let mut passed = Vec::new();
    let decision = tiers::decide(cluster, tiers::ADMIN, dir, cell, &mut passed)
        .or_else(|| network_policies(cluster, dir, cell))
        .or_else(|| tiers::decide(cluster, tiers::BASELINE, dir, cell, &mut passed))
        .unwrap_or(Decision::Open);
    Verdict { passed, decision }
}

/// The pod whose direction `dir` is judged (the subject of its policies), and the other one.
fn ends(dir: Direction, cell: Cell) -> (PodId, PodId) {
    match dir {
        Direction::Egress => (cell.from, cell.to),
        Direction::Ingress => (cell.to, cell.from),
    }
}

/// The NetworkPolicy tier's decision: `None` when no NetworkPolicy isolates the pod.
fn network_policies(cluster: &Cluster, dir: Direction, cell: Cell) -> Option<Decision> {
    let (subject, remote) = ends(dir, cell);
    let selecting: Vec<&Value> = cluster
        .policies
        .iter()
        .filter(|p| p["metadata"]["namespace"] == subject.namespace())
        .filter(|p| selects(&p["spec"]["podSelector"], &cluster.pod_labels[subject.0]))
        .filter(|p| policy_types(p).contains(&dir.type_name()))
        .collect();
    if selecting.is_empty() {
        return None;
    }
    for policy in &selecting {
        let rules = list(&policy["spec"][dir.rules_field()]);
        for (i, rule) in rules.iter().enumerate() {
            if rule_allows(cluster, dir, policy, rule, remote, cell) {
                return Some(Decision::Allowed(format!(
                    "{} {}[{i}]",
                    policy_name(policy),
                    dir.rules_field()
                )));
            }
        }
    }
    Some(Decision::Denied(
        selecting.iter().map(|p| policy_name(p)).collect(),
    ))
}

/// `namespace/name`.
fn policy_name(policy: &Value) -> String {
    format!(
        "{}/{}",
        policy["metadata"]["namespace"].as_str().unwrap_or("?"),
        policy["metadata"]["name"].as_str().unwrap_or("?")
    )
}

/// The policy's types after the API server's defaulting.
fn policy_types(policy: &Value) -> Vec<&str> {
    let given: Vec<&str> = list(&policy["spec"]["policyTypes"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    if !given.is_empty() {
        return given;
    }
    if list(&policy["spec"]["egress"]).is_empty() {
        vec!["Ingress"]
    } else {
        vec!["Ingress", "Egress"]
    }
}

/// The elements of a JSON list; absent or null is empty.
fn list(value: &Value) -> &[Value] {
    value.as_array().map(Vec::as_slice).unwrap_or_default()
}

/// Whether `rule` (of `policy`, direction `dir`) allows traffic with the other pod `remote`.
fn rule_allows(
    cluster: &Cluster,
    dir: Direction,
    policy: &Value,
    rule: &Value,
    remote: PodId,
    cell: Cell,
) -> bool {
    let peers = list(&rule[dir.peers_field()]);
    let remote_ip = cluster.address(remote);
    // How the remote is let in: by a selector (or by the absence of peers), which makes it a
    // pod whose port names count; by an ipBlock alone, which does not (for egress).
    let by_selector = peers.is_empty()
        || peers
            .iter()
            .filter(|p| p.get("ipBlock").is_none_or(Value::is_null))
            .any(|p| pod_peer_matches(cluster, policy, p, remote));
    let by_block = peers
        .iter()
        .filter_map(|p| p.get("ipBlock").filter(|b| !b.is_null()))
        .any(|b| block_matches(b, remote_ip));
    if !by_selector && !by_block {
        return false;
    }
    let names_resolve = dir == Direction::Ingress || by_selector;
    let ports = list(&rule["ports"]);
    ports.is_empty()
        || ports
            .iter()
            .any(|p| port_matches(cluster, p, cell, names_resolve))
}

/// Whether a selector peer (podSelector, namespaceSelector, or both) takes in `pod`.
fn pod_peer_matches(cluster: &Cluster, policy: &Value, peer: &Value, pod: PodId) -> bool {
    let namespace_ok = match peer.get("namespaceSelector").filter(|s| !s.is_null()) {
        None => policy["metadata"]["namespace"] == pod.namespace(),
        Some(selector) => selects(selector, &cluster.namespace_labels[pod.namespace_index()]),
    };
    let pod_ok = match peer.get("podSelector").filter(|s| !s.is_null()) {
        None => true,
        Some(selector) => selects(selector, &cluster.pod_labels[pod.0]),
    };
    namespace_ok && pod_ok
}

/// Whether an ipBlock takes in `ip`.
fn block_matches(block: &Value, ip: IpAddr) -> bool {
    let inside = |cidr: &Value| {
        let text = cidr.as_str().unwrap_or_default();
        contains(text, ip).unwrap_or_else(|| panic!("{text:?} is not a CIDR: the case is wrong"))
    };
    inside(&block["cidr"]) && !list(&block["except"]).iter().any(inside)
}

/// Whether prefix `cidr` (text, host bits ignored) holds `ip`; `None` if it is no CIDR.
pub fn contains(cidr: &str, ip: IpAddr) -> Option<bool> {
    let (addr, len) = cidr.split_once('/')?;
    let addr: IpAddr = addr.parse().ok()?;
    let len: u32 = len.parse().ok()?;
    let (a, b, bits) = match (addr, ip) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u128::from(a.to_bits()), u128::from(b.to_bits()), 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (a.to_bits(), b.to_bits(), 128),
        (IpAddr::V4(_), _) if len <= 32 => return Some(false),
        (IpAddr::V6(_), _) if len <= 128 => return Some(false),
        _ => return None,
    };
    if len > bits {
        return None;
    }
    let host = bits - len;
    Some(a.checked_shr(host).unwrap_or(0) == b.checked_shr(host).unwrap_or(0))
}

/// Whether port entry `port` matches the cell's protocol and port; `names_resolve`: a
/// named port may be looked up in the server's containers.
fn port_matches(cluster: &Cluster, port: &Value, cell: Cell, names_resolve: bool) -> bool {
    let protocol = port["protocol"].as_str().unwrap_or("TCP");
    if protocol != cell.protocol.to_string() {
        return false;
    }
    match &port["port"] {
        Value::Null => true,
        Value::Number(n) => {
            let first = n.as_u64().unwrap_or(0);
            let last = port["endPort"].as_u64().unwrap_or(first);
            (first..=last).contains(&u64::from(cell.port))
        }
        Value::String(name) => {
            names_resolve
                && cluster.containers.iter().any(|&(p, proto)| {
                    p == cell.port && proto == cell.protocol && port_name(p, proto) == *name
                })
        }
        other => panic!("a port that is neither a number nor a name: {other}"),
    }
}

/// Whether label selector `selector` (the API's JSON) selects an object with `labels`.
fn selects(selector: &Value, labels: &BTreeMap<String, String>) -> bool {
    let by_label = selector["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str());
    let by_expression = list(&selector["matchExpressions"]).iter().all(|e| {
        let key = e["key"].as_str().unwrap_or_default();
        let values: Vec<&str> = list(&e["values"])
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let value = labels.get(key).map(String::as_str);
        match e["operator"].as_str().unwrap_or_default() {
            "In" => value.is_some_and(|v| values.contains(&v)),
            "NotIn" => value.is_none_or(|v| !values.contains(&v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            other => panic!("label selector operator {other:?}: the case is wrong"),
        }
    });
    by_label && by_expression
}
