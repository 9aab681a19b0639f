//! NetworkPolicies, Pods and Namespaces into the [`PodPolicy`] of each pod of this node.
//!
//! A policy's rules are resolved once, the first time it selects a pod of this node, and
//! shared by every pod it selects; only ingress named ports depend on the selected pod (they
//! name its own container ports).
//!
//! Which pods count: every pod with an address is a target when it runs on this node,
//! whatever its phase (a pod must never lose its isolation). A pod in phase Succeeded or
//! Failed is no peer: its address may already be another pod's.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use podwire_model::cidr::Cidr;
use podwire_model::policy::{
    CompiledRule, DirectionPolicy, PeerBlock, PodPolicy, PolicyDirection, PolicyId, PortRange,
    RuleId,
};
use podwire_model::service::Protocol;

use super::selector::{self, Labels};
use crate::endpoints::{PodInfo, named_port};
use crate::object::namespace_of;
use crate::services::NodeContext;
use crate::validate::protocol_of;

/// The label every Namespace carries, whose value is its name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// See [`super::compile`].
pub(super) fn compile(
    policies: &[&NetworkPolicy],
    pods: &[PodInfo<'_>],
    namespaces: &[&Namespace],
    node: &NodeContext,
) -> Vec<PodPolicy> {
    let universe = Universe::new(pods, namespaces);
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
    for target in pods {
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
                .or_insert_with(|| ResolvedPolicy::new(&id, spec, &universe));
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

/// Whether a selector that may be absent selects `labels` (absent: everything, as `{}`).
fn selects(selector: Option<&LabelSelector>, labels: Option<&Labels>) -> bool {
    selector.is_none_or(|s| selector::matches(s, labels))
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

/// The pods that can be peers, and the labels of every namespace.
struct Universe<'a> {
    pods: &'a [PodInfo<'a>],
    /// Indexes into `pods` of the pods that can be peers, by namespace.
    by_namespace: BTreeMap<&'a str, Vec<usize>>,
    /// Each namespace's labels, with [`NAMESPACE_NAME_LABEL`] set to its name.
    namespace_labels: BTreeMap<&'a str, Labels>,
}

impl<'a> Universe<'a> {
    fn new(pods: &'a [PodInfo<'a>], namespaces: &[&'a Namespace]) -> Universe<'a> {
        let mut by_namespace: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, info) in pods.iter().enumerate() {
            let phase = info.pod.status.as_ref().and_then(|s| s.phase.as_deref());
            if !info.ips.is_empty() && !matches!(phase, Some("Succeeded" | "Failed")) {
                by_namespace
                    .entry(namespace_of(&info.pod.metadata))
                    .or_default()
                    .push(i);
            }
        }
        let mut namespace_labels: BTreeMap<&str, Labels> = BTreeMap::new();
        for namespace in namespaces {
            let Some(name) = namespace.metadata.name.as_deref() else {
                continue;
            };
            let labels = namespace.metadata.labels.clone().unwrap_or_default();
            namespace_labels.insert(name, labels);
        }
        // A namespace known only by its pods still has its name label.
        for name in by_namespace.keys() {
            namespace_labels.entry(name).or_default();
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

    /// The pods (indexes) a selector peer selects, for a policy in `policy_namespace`.
    fn select(&self, policy_namespace: &str, peer: &NetworkPolicyPeer, into: &mut BTreeSet<usize>) {
        let namespaces: Vec<&str> = match &peer.namespace_selector {
            None => vec![policy_namespace],
            Some(selector) => self
                .namespace_labels
                .iter()
                .filter(|(_, labels)| selector::matches(selector, Some(labels)))
                .map(|(name, _)| *name)
                .collect(),
        };
        for namespace in namespaces {
            for &i in self.by_namespace.get(namespace).into_iter().flatten() {
                let labels = self.pods[i].pod.metadata.labels.as_ref();
                if selects(peer.pod_selector.as_ref(), labels) {
                    into.insert(i);
                }
            }
        }
    }

    /// Every pod that can be a peer.
    fn all(&self) -> BTreeSet<usize> {
        self.by_namespace.values().flatten().copied().collect()
    }
}

/// A rule's peers: `None` when it has none (any address), else its ipBlocks and the pods
/// its selectors select (indexes into the universe's pods).
struct Peers {
    blocks: Vec<PeerBlock>,
    pods: BTreeSet<usize>,
}

impl Peers {
    fn resolve(
        policy_namespace: &str,
        peers: Option<&[NetworkPolicyPeer]>,
        universe: &Universe<'_>,
    ) -> Option<Peers> {
        let peers = peers.filter(|p| !p.is_empty())?;
        let mut resolved = Peers {
            blocks: Vec::new(),
            pods: BTreeSet::new(),
        };
        for peer in peers {
            match &peer.ip_block {
                Some(block) => resolved.blocks.extend(ip_block(&block.cidr, &block.except)),
                // A peer that names nothing is refused by validation; it selects nothing.
                None if peer.pod_selector.is_none() && peer.namespace_selector.is_none() => {}
                None => universe.select(policy_namespace, peer, &mut resolved.pods),
            }
        }
        Some(resolved)
    }

    /// The ipBlocks, then the selected pods' addresses, each once.
    fn blocks(&self, universe: &Universe<'_>) -> Vec<PeerBlock> {
        let hosts = self.pods.iter().flat_map(|&i| &universe.pods[i].ips);
        dedup(
            self.blocks
                .iter()
                .cloned()
                .chain(hosts.map(|&ip| PeerBlock {
                    cidr: Cidr::host(ip),
                    except: Vec::new(),
                })),
        )
    }
}

/// Each block once, in first-seen order.
fn dedup(blocks: impl Iterator<Item = PeerBlock>) -> Vec<PeerBlock> {
    let mut seen = HashSet::new();
    blocks.filter(|b| seen.insert(b.clone())).collect()
}

/// An ipBlock as a [`PeerBlock`] (prefixes with their host bits cleared); `None` when its
/// CIDR is not one (validation refuses it). An `except` that is not a CIDR is left out.
fn ip_block(cidr: &str, except: &Option<Vec<String>>) -> Option<PeerBlock> {
    let cidr = cidr.parse::<Cidr>().ok()?.network();
    let except = except
        .iter()
        .flatten()
        .filter_map(|e| e.parse::<Cidr>().ok())
        .map(|e| e.network())
        .collect();
    Some(PeerBlock { cidr, except })
}

/// A port entry of a rule: a number or range, or a name the destination pod resolves.
#[derive(Debug, Clone)]
enum PortSpec<'a> {
    Range(PortRange),
    Named(Protocol, &'a str),
}

/// A rule's ports: `None` when it has none (every protocol and port). An entry that
/// validation would refuse is left out, so that it never widens the rule.
fn port_specs(ports: Option<&[NetworkPolicyPort]>) -> Option<Vec<PortSpec<'_>>> {
    let ports = ports.filter(|p| !p.is_empty())?;
    let specs = ports.iter().filter_map(|entry| {
        let protocol = protocol(protocol_of(&entry.protocol))?;
        let port_number = |n: i32| u16::try_from(n).ok().filter(|&n| n != 0);
        let range = match &entry.port {
            None => None,
            Some(IntOrString::String(name)) => return Some(PortSpec::Named(protocol, name)),
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

/// The port number `pod` gives a named port of `protocol`, as a one-port range.
fn resolve_named(pod: &Pod, protocol: Protocol, name: &str) -> Option<PortRange> {
    let number = named_port(pod, name, &protocol.to_string())?;
    let number = u16::try_from(number).ok().filter(|&n| n != 0)?;
    Some(PortRange {
        protocol,
        ports: Some((number, number)),
    })
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
                    peers: Peers::resolve(&id.namespace, rule.from.as_deref(), universe)
                        .map(|peers| peers.blocks(universe)),
                    ports: port_specs(rule.ports.as_deref()),
                })
                .collect()
        });
        let egress = egress.then(|| {
            let mut compiled = Vec::new();
            for (index, rule) in spec.egress.iter().flatten().enumerate() {
                let id = rule_id(PolicyDirection::Egress, index);
                let peers = Peers::resolve(&id.policy.namespace, rule.to.as_deref(), universe);
                let ports = port_specs(rule.ports.as_deref());
                egress_rules(id, peers, ports, universe, &mut compiled);
            }
            compiled
        });
        ResolvedPolicy { ingress, egress }
    }
}

/// An ingress rule whose named ports wait for the pod it protects.
struct IngressRule<'a> {
    id: RuleId,
    peers: Option<Vec<PeerBlock>>,
    ports: Option<Vec<PortSpec<'a>>>,
}

impl IngressRule<'_> {
    /// The rule for `target`: its named ports are the target's container ports (a name it
    /// does not serve with that protocol matches nothing).
    fn for_target(&self, target: &Pod) -> CompiledRule {
        let ports = self.ports.as_ref().map(|specs| {
            specs
                .iter()
                .filter_map(|spec| match spec {
                    PortSpec::Range(range) => Some(*range),
                    PortSpec::Named(protocol, name) => resolve_named(target, *protocol, name),
                })
                .collect()
        });
        CompiledRule {
            id: self.id.clone(),
            peers: self.peers.clone(),
            ports,
        }
    }
}

/// An egress rule's compiled rules: one for its numbered ports (or all ports) with every
/// peer, and one per protocol and number its named ports resolve to, with the peer pods
/// that give that number. A named port never matches an ipBlock: it names a pod's port.
fn egress_rules(
    id: RuleId,
    peers: Option<Peers>,
    ports: Option<Vec<PortSpec<'_>>>,
    universe: &Universe<'_>,
    into: &mut Vec<CompiledRule>,
) {
    let blocks = peers.as_ref().map(|p| p.blocks(universe));
    let Some(specs) = ports else {
        into.push(CompiledRule {
            id,
            peers: blocks,
            ports: None,
        });
        return;
    };
    let numbered: Vec<PortRange> = specs
        .iter()
        .filter_map(|spec| match spec {
            PortSpec::Range(range) => Some(*range),
            PortSpec::Named(..) => None,
        })
        .collect();
    let named: Vec<(Protocol, &str)> = specs
        .iter()
        .filter_map(|spec| match spec {
            PortSpec::Named(protocol, name) => Some((*protocol, *name)),
            PortSpec::Range(_) => None,
        })
        .collect();
    if !numbered.is_empty() || named.is_empty() {
        into.push(CompiledRule {
            id: id.clone(),
            peers: blocks,
            ports: Some(numbered),
        });
    }
    if named.is_empty() {
        return;
    }
    let candidates = match &peers {
        None => universe.all(),
        Some(peers) => peers.pods.clone(),
    };
    let mut by_port: BTreeMap<(Protocol, u16), BTreeSet<usize>> = BTreeMap::new();
    for &i in &candidates {
        for &(protocol, name) in &named {
            if let Some(range) = resolve_named(universe.pods[i].pod, protocol, name)
                && let Some((number, _)) = range.ports
            {
                by_port.entry((protocol, number)).or_default().insert(i);
            }
        }
    }
    for ((protocol, number), pods) in by_port {
        let peers = Peers {
            blocks: Vec::new(),
            pods,
        };
        into.push(CompiledRule {
            id: id.clone(),
            peers: Some(peers.blocks(universe)),
            ports: Some(vec![PortRange {
                protocol,
                ports: Some((number, number)),
            }]),
        });
    }
}
