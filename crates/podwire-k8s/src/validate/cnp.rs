//! A ClusterNetworkPolicy's fields, as the network-policy-api CRD's schema and CEL rules
//! check them: a cluster-scoped name, `priority` 0-1000, a subject and peers with exactly
//! one field each, valid label selectors, at most 25 rules, peers, CIDRs and protocols,
//! ports and ranges, and no named port towards `networks`. The experimental `nodes` and
//! `domainNames` peers are refused: podwire does not implement them.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use podwire_model::cidr::Cidr;

use crate::cnp::{
    ClusterNetworkPolicy, ClusterNetworkPolicyEgressPeer, ClusterNetworkPolicyEgressRule,
    ClusterNetworkPolicyIngressRule, ClusterNetworkPolicyProtocol, ClusterNetworkPolicySubject,
    NamespacedPod, Port, ProtocolPort,
};

use super::names::iana_svc_name;
use super::policy::label_selector;
use super::{NameRule, Problems, metadata};

/// The schema's bound on rules per direction, peers per rule, CIDRs per peer and protocols
/// per rule.
const MAX_ITEMS: usize = 25;

/// The schema's bound on a rule's name, in characters.
const MAX_RULE_NAME: usize = 100;

/// The schema's bound on a CIDR's text (an IPv6 address with its prefix length).
const MAX_CIDR_LEN: usize = 43;

/// The priorities a policy may have.
const PRIORITIES: std::ops::RangeInclusive<i32> = 0..=1000;

pub(super) fn cluster_network_policy(policy: &ClusterNetworkPolicy, p: &mut Problems) {
    metadata(&policy.metadata, NameRule::Subdomain, false, p);
    if let Some(namespace) = policy.metadata.namespace.as_deref()
        && !namespace.is_empty()
    {
        p.add(
            "metadata.namespace",
            format!(
                "is {namespace:?}, but a ClusterNetworkPolicy is cluster-scoped: remove \
                 metadata.namespace"
            ),
        );
    }
    let spec = &policy.spec;
    if !PRIORITIES.contains(&spec.priority) {
        p.add(
            "spec.priority",
            format!(
                "{} is not a priority: use 0-1000 (lower values are evaluated first)",
                spec.priority
            ),
        );
    }
    subject(&spec.subject, p);
    length(spec.ingress.len(), 0, "spec.ingress", Items::Rules, p);
    for (i, rule) in spec.ingress.iter().enumerate() {
        ingress_rule(rule, &format!("spec.ingress[{i}]"), p);
    }
    length(spec.egress.len(), 0, "spec.egress", Items::Rules, p);
    for (i, rule) in spec.egress.iter().enumerate() {
        egress_rule(rule, &format!("spec.egress[{i}]"), p);
    }
}

fn ingress_rule(rule: &ClusterNetworkPolicyIngressRule, field: &str, p: &mut Problems) {
    rule_name(&rule.name, field, p);
    length(
        rule.from.len(),
        1,
        &format!("{field}.from"),
        Items::Peers,
        p,
    );
    for (j, peer) in rule.from.iter().enumerate() {
        let field = format!("{field}.from[{j}]");
        let set = pod_peer(peer.namespaces.as_ref(), peer.pods.as_ref(), &field, p);
        exactly_one(&set, &field, "namespaces or pods", AS_PEERS, p);
    }
    protocols(rule.protocols.as_deref(), field, p);
}

fn egress_rule(rule: &ClusterNetworkPolicyEgressRule, field: &str, p: &mut Problems) {
    rule_name(&rule.name, field, p);
    length(rule.to.len(), 1, &format!("{field}.to"), Items::Peers, p);
    for (j, peer) in rule.to.iter().enumerate() {
        egress_peer(peer, &format!("{field}.to[{j}]"), p);
    }
    protocols(rule.protocols.as_deref(), field, p);
    // The CRD's CEL rule: a network has no container ports to name.
    let Some(j) = rule.to.iter().position(|peer| peer.networks.is_some()) else {
        return;
    };
    for (k, protocol) in rule.protocols.iter().flatten().enumerate() {
        if protocol.destination_named_port.is_some() {
            p.add(
                format!("{field}.protocols[{k}].destinationNamedPort"),
                format!(
                    "cannot be used in a rule with a networks peer ({field}.to[{j}]): addresses \
                     have no named ports; give the port by number, or put the networks peer in \
                     a rule of its own"
                ),
            );
        }
    }
}

/// `spec.subject`: exactly one of `namespaces` and `pods`, with valid selectors.
fn subject(subject: &ClusterNetworkPolicySubject, p: &mut Problems) {
    let field = "spec.subject";
    let set = pod_peer(subject.namespaces.as_ref(), subject.pods.as_ref(), field, p);
    exactly_one(
        &set,
        field,
        "namespaces or pods ({} selects all)",
        "pods selects by namespace and pod labels together",
        p,
    );
}

/// The selectors of the `namespaces` and `pods` fields a subject or peer shares; the names
/// of those that are set.
fn pod_peer(
    namespaces: Option<&LabelSelector>,
    pods: Option<&NamespacedPod>,
    field: &str,
    p: &mut Problems,
) -> Vec<&'static str> {
    let mut set = Vec::new();
    if let Some(selector) = namespaces {
        label_selector(selector, &format!("{field}.namespaces"), p);
        set.push("namespaces");
    }
    if let Some(pods) = pods {
        let selectors = [
            (&pods.namespace_selector, "namespaceSelector"),
            (&pods.pod_selector, "podSelector"),
        ];
        for (selector, name) in selectors {
            label_selector(selector, &format!("{field}.pods.{name}"), p);
        }
        set.push("pods");
    }
    set
}

/// An egress peer: exactly one field, `networks` CIDRs, and no experimental peer.
fn egress_peer(peer: &ClusterNetworkPolicyEgressPeer, field: &str, p: &mut Problems) {
    let mut set = pod_peer(peer.namespaces.as_ref(), peer.pods.as_ref(), field, p);
    if let Some(networks) = &peer.networks {
        self::networks(networks, &format!("{field}.networks"), p);
        set.push("networks");
    }
    if peer.nodes.is_some() {
        p.add(
            format!("{field}.nodes"),
            "podwire does not support the experimental nodes peer (use networks with the \
             nodes' addresses)",
        );
        set.push("nodes");
    }
    if peer.domain_names.is_some() {
        p.add(
            format!("{field}.domainNames"),
            "podwire does not support the experimental domainNames peer (use networks with \
             the addresses the names resolve to)",
        );
        set.push("domainNames");
    }
    exactly_one(&set, field, "namespaces, pods or networks", AS_PEERS, p);
}

/// `networks`: 1 to 25 distinct CIDRs.
fn networks(networks: &[String], field: &str, p: &mut Problems) {
    length(networks.len(), 1, field, Items::Cidrs, p);
    for (i, network) in networks.iter().enumerate() {
        let field = format!("{field}[{i}]");
        if let Some(first) = networks[..i].iter().position(|n| n == network) {
            p.add(
                field,
                format!("{network:?} is [{first}] already: list each CIDR once"),
            );
        } else if network.len() > MAX_CIDR_LEN {
            p.add(
                field,
                format!("is longer than {MAX_CIDR_LEN} characters: write a CIDR, e.g. fd00::/8"),
            );
        } else if let Err(error) = network.parse::<Cidr>() {
            p.add(
                field,
                format!("{network:?} is not a CIDR: {error}; write e.g. 10.0.0.0/8 or fd00::/8"),
            );
        }
    }
}

/// A rule's `protocols`, when given: 1 to 25 entries, each exactly one protocol with its
/// port, or a named port.
fn protocols(protocols: Option<&[ClusterNetworkPolicyProtocol]>, rule: &str, p: &mut Problems) {
    let Some(protocols) = protocols else {
        return;
    };
    let field = format!("{rule}.protocols");
    if protocols.is_empty() {
        p.add(
            field,
            "is empty: list 1 to 25 protocols, or remove protocols to match all traffic",
        );
        return;
    }
    length(protocols.len(), 0, &field, Items::Protocols, p);
    for (i, protocol) in protocols.iter().enumerate() {
        let field = format!("{field}[{i}]");
        let mut set = Vec::new();
        for (port, name) in [
            (&protocol.tcp, "tcp"),
            (&protocol.udp, "udp"),
            (&protocol.sctp, "sctp"),
        ] {
            if let Some(port) = port {
                protocol_port(port, &format!("{field}.{name}"), p);
                set.push(name);
            }
        }
        if let Some(name) = &protocol.destination_named_port {
            if let Some(problem) = iana_svc_name(name) {
                p.add(format!("{field}.destinationNamedPort"), problem);
            }
            set.push("destinationNamedPort");
        }
        exactly_one(
            &set,
            &field,
            "tcp, udp, sctp or destinationNamedPort",
            "write each as an entry of protocols",
            p,
        );
    }
}

/// `tcp`, `udp` or `sctp`: a destination port, one number or a range.
fn protocol_port(port: &ProtocolPort, field: &str, p: &mut Problems) {
    let field = format!("{field}.destinationPort");
    let Some(Port { number, range }) = &port.destination_port else {
        p.add(
            field,
            "is required: give a number or a range (leave protocols out to match every port)",
        );
        return;
    };
    match (number, range) {
        (None, None) => p.add(field, "is empty: give a number or a range"),
        (Some(_), Some(_)) => p.add(
            field,
            "sets both number and range: give one (a range of one port is a number)",
        ),
        (Some(number), None) => port_number(*number, &format!("{field}.number"), p),
        (None, Some(range)) => {
            let field = format!("{field}.range");
            port_number(range.start, &format!("{field}.start"), p);
            port_number(range.end, &format!("{field}.end"), p);
            if range.start >= range.end {
                p.add(
                    format!("{field}.end"),
                    format!(
                        "{} is not greater than start {}: end is the last port of the range \
                         (for one port, give a number)",
                        range.end, range.start
                    ),
                );
            }
        }
    }
}

fn port_number(number: i32, field: &str, p: &mut Problems) {
    if !(1..=65535).contains(&number) {
        p.add(field, format!("{number} is not a port number: use 1-65535"));
    }
}

fn rule_name(name: &str, rule: &str, p: &mut Problems) {
    let chars = name.chars().count();
    if chars > MAX_RULE_NAME {
        p.add(
            format!("{rule}.name"),
            format!("has {chars} characters: shorten it to at most {MAX_RULE_NAME}"),
        );
    }
}

/// The items of a list the schema bounds.
#[derive(Clone, Copy)]
enum Items {
    /// A direction's rules.
    Rules,
    /// A rule's peers.
    Peers,
    /// A `networks` peer's CIDRs.
    Cidrs,
    /// A rule's protocols.
    Protocols,
}

impl Items {
    /// What they are, and what they can be spread over when there are too many.
    fn words(self) -> (&'static str, &'static str) {
        match self {
            Items::Rules => ("rules", "policies"),
            Items::Peers => ("peers", "rules"),
            Items::Cidrs => ("CIDRs", "peers"),
            Items::Protocols => ("protocols", "rules"),
        }
    }
}

/// A list's length against `min` and [`MAX_ITEMS`].
fn length(len: usize, min: usize, field: &str, items: Items, p: &mut Problems) {
    let (what, split) = items.words();
    if len < min {
        p.add(field, format!("is empty: list 1 to {MAX_ITEMS} {what}"));
    } else if len > MAX_ITEMS {
        p.add(
            field,
            format!(
                "has {len} {what}: at most {MAX_ITEMS} are allowed; spread them over several \
                 {split}"
            ),
        );
    }
}

/// What to do with a peer that sets several fields.
const AS_PEERS: &str = "write each as a peer of its own (any peer of the list matching is enough)";

/// A union (subject, peer, protocol) with the fields `set`, of which exactly one must be
/// set; `choices` are the ones that may be, `instead` what to do when several are.
fn exactly_one(set: &[&str], field: &str, choices: &str, instead: &str, p: &mut Problems) {
    match set {
        [] => p.add(field, format!("sets nothing: give one of {choices}")),
        [_] => {}
        [many @ .., last] => p.add(
            field,
            format!(
                "sets {} and {last}: give exactly one; {instead}",
                many.join(", ")
            ),
        ),
    }
}

#[cfg(test)]
mod tests;
