//! The policies every measurement uses, and the address plan they live in.
//!
//! One server pod (`10.200.1.1`, TCP port 8080) and [`CLIENTS`] client pods
//! (`10.200.0.1` on) run on the node. The server's ingress is isolated by `n` rules, each
//! with its own peers and ports: ipBlocks with an exception (`10.64.0.0/10`), pod addresses
//! (`10.128.0.0/16`), single ports, port ranges around the probe port, other protocols,
//! and rules for every port. Some of them cover the probe's port, none the clients: the
//! probe traffic (clients to the server's TCP 8080) is allowed by one rule only, the one
//! before the last ([`probe_rule`]), so a classifier that tried rules in order would try
//! nearly all of them.
//!
//! The compile measurement starts from Kubernetes objects of the same shape
//! ([`manifest`]): `n` NetworkPolicies selecting the server pod, each with one ingress
//! rule (ipBlock with `except`, podSelector AND namespaceSelector, ports and port ranges),
//! 110 pods on the node, and peer pods on other nodes.

use std::net::{IpAddr, Ipv4Addr};

use podwire_model::cidr::Cidr;
use podwire_model::policy::{
    CompiledRule, DirectionPolicy, PeerBlock, PodPolicy, PolicyDirection, PolicyId, PortRange,
    RuleId,
};
use podwire_model::service::Protocol;
use serde_json::{Value, json};

/// The namespace of the node's pods and of the policies.
pub const NAMESPACE: &str = "bench";
/// The node the pods run on.
pub const NODE: &str = "bench-node";
/// The server pod's name.
pub const SERVER: &str = "server";
/// The server pod's address.
pub const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 200, 1, 1);
/// The port the clients connect to.
pub const SERVER_PORT: u16 = 8080;
/// Client pods, each on an interface of its own.
pub const CLIENTS: usize = 4;
/// The pods' addresses: the cluster CIDR.
pub const CLUSTER_CIDR: (Ipv4Addr, u8) = (Ipv4Addr::new(10, 192, 0, 0), 10);
/// The Service CIDR: the node has one, as a node in a cluster does (no Service in it).
pub const SERVICE_CIDR: (Ipv4Addr, u8) = (Ipv4Addr::new(10, 96, 0, 0), 12);
/// The most rules (or policies) the address plan holds.
pub const MAX_RULES: usize = 16_000;
/// Pods on the node (the Kubernetes limit per node), the server and clients included.
const LOCAL_PODS: usize = 110;
/// Peer pods on other nodes, in [`PEER_NAMESPACES`] namespaces.
const PEER_PODS: usize = 1000;
const PEER_NAMESPACES: usize = 10;

/// Client pod `c`'s address.
pub fn client_ip(c: usize) -> Ipv4Addr {
    offset(Ipv4Addr::new(10, 200, 0, 1), c)
}

/// The rule of `n` that allows the probe traffic: the one before the last.
pub fn probe_rule(n: usize) -> usize {
    n.saturating_sub(2)
}

/// The server pod's policies with `n` rules selecting it (ingress), as the agent gets them
/// from `podwire_k8s::policy::compile`: rule `k` is policy `allow-k`'s `ingress[0]`.
pub fn server_policy(n: usize) -> PodPolicy {
    let ids: Vec<PolicyId> = (0..n).map(policy_id).collect();
    let rules = ids
        .iter()
        .enumerate()
        .map(|(k, policy)| {
            let id = RuleId {
                policy: policy.clone(),
                direction: PolicyDirection::Ingress,
                index: 0,
            };
            if k == probe_rule(n) {
                let peers = (0..CLIENTS)
                    .map(|c| PeerBlock {
                        cidr: Cidr::host(IpAddr::V4(client_ip(c))),
                        except: Vec::new(),
                    })
                    .collect();
                return CompiledRule {
                    id,
                    peers: Some(peers),
                    ports: Some(vec![tcp(SERVER_PORT, SERVER_PORT)]),
                };
            }
            CompiledRule {
                id,
                peers: Some(vec![peer(k)]),
                ports: ports(k),
            }
        })
        .collect();
    PodPolicy {
        namespace: NAMESPACE.to_owned(),
        name: SERVER.to_owned(),
        addresses: vec![IpAddr::V4(SERVER_IP)],
        ingress: DirectionPolicy {
            policies: ids,
            rules,
            ..DirectionPolicy::default()
        },
        egress: DirectionPolicy::default(),
    }
}

/// Policy `k`'s id; the names sort as the numbers do.
fn policy_id(k: usize) -> PolicyId {
    PolicyId {
        namespace: NAMESPACE.to_owned(),
        name: format!("allow-{k:05}"),
    }
}

/// Rule `k`'s peers: a /24 with a /28 exception every fourth rule, else a pod's address.
fn peer(k: usize) -> PeerBlock {
    if k.is_multiple_of(4) {
        let net = block(k);
        PeerBlock {
            cidr: cidr(net, 24),
            except: vec![cidr(offset(net, 16), 28)],
        }
    } else {
        PeerBlock {
            cidr: Cidr::host(IpAddr::V4(peer_pod_ip(k))),
            except: Vec::new(),
        }
    }
}

/// Rule `k`'s ports: a port of its own, a range holding the probe port, a UDP port, every
/// port of every protocol, or a small TCP range and SCTP.
fn ports(k: usize) -> Option<Vec<PortRange>> {
    let own = 20_000 + k as u16;
    match k % 5 {
        0 => Some(vec![tcp(own, own)]),
        1 => Some(vec![tcp(8000, 8999)]),
        2 => Some(vec![PortRange {
            protocol: Protocol::Udp,
            ports: Some((own, own)),
        }]),
        3 => None,
        _ => Some(vec![
            tcp(own + 20_000, own + 20_010),
            PortRange {
                protocol: Protocol::Sctp,
                ports: Some((80, 80)),
            },
        ]),
    }
}

fn tcp(first: u16, last: u16) -> PortRange {
    PortRange {
        protocol: Protocol::Tcp,
        ports: Some((first, last)),
    }
}

/// The /24 of rule `k`'s ipBlock.
fn block(k: usize) -> Ipv4Addr {
    offset(Ipv4Addr::new(10, 64, 0, 0), k * 256)
}

/// The address of the peer pod of rule `k` (a pod on another node).
fn peer_pod_ip(k: usize) -> Ipv4Addr {
    offset(Ipv4Addr::new(10, 128, 0, 0), k)
}

fn cidr(address: Ipv4Addr, length: u8) -> Cidr {
    Cidr::new(IpAddr::V4(address), length).expect("a length of at most 32")
}

/// `base` plus `k`.
fn offset(base: Ipv4Addr, k: usize) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(base).wrapping_add(k as u32))
}

/// What [`manifest`] holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Objects {
    /// The manifest: one `v1 List`.
    pub text: String,
    /// NetworkPolicies in it.
    pub policies: usize,
    /// Pods in it.
    pub pods: usize,
    /// Pods of it on the node.
    pub local_pods: usize,
    /// Namespaces in it.
    pub namespaces: usize,
}

/// `n` NetworkPolicies selecting the server pod, with the pods and namespaces they talk
/// about, as one manifest (a `v1 List` in JSON). Policy `k` isolates the server's ingress
/// and allows, in one rule: an ipBlock with an exception (k % 3 = 0), the one peer pod
/// labelled `group: g<k % 100>` in the namespace labelled `team: t<k % 10>` (podSelector
/// AND namespaceSelector, k % 3 = 1), or the clients (`role: client`) on the named port
/// `http` (k % 3 = 2); on a port of its own or a range (`endPort`).
pub fn manifest(n: usize) -> Objects {
    let mut items = Vec::new();
    items.push(namespace(NAMESPACE, "server-side"));
    for t in 0..PEER_NAMESPACES {
        items.push(namespace(&peer_namespace(t), &format!("t{t}")));
    }
    items.push(pod(
        NAMESPACE,
        SERVER,
        json!({"app": "server"}),
        IpAddr::V4(SERVER_IP),
        Some(NODE),
    ));
    for c in 0..CLIENTS {
        items.push(pod(
            NAMESPACE,
            &format!("client-{c}"),
            json!({"role": "client"}),
            IpAddr::V4(client_ip(c)),
            Some(NODE),
        ));
    }
    let others = LOCAL_PODS - 1 - CLIENTS;
    for i in 0..others {
        items.push(pod(
            NAMESPACE,
            &format!("web-{i}"),
            json!({"app": format!("web-{}", i % 10)}),
            IpAddr::V4(offset(Ipv4Addr::new(10, 200, 2, 1), i)),
            Some(NODE),
        ));
    }
    for j in 0..PEER_PODS {
        // Pod j is the only one with group g<j / 10 % 100> in namespace t<j % 10>.
        items.push(pod(
            &peer_namespace(j % PEER_NAMESPACES),
            &format!("peer-{j}"),
            json!({"group": format!("g{}", j / PEER_NAMESPACES % 100)}),
            IpAddr::V4(peer_pod_ip(j)),
            Some("elsewhere"),
        ));
    }
    for k in 0..n {
        items.push(network_policy(k));
    }
    let pods = 1 + CLIENTS + others + PEER_PODS;
    let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
    Objects {
        text: list.to_string(),
        policies: n,
        pods,
        local_pods: LOCAL_PODS,
        namespaces: 1 + PEER_NAMESPACES,
    }
}

fn peer_namespace(t: usize) -> String {
    format!("peers-{t}")
}

fn namespace(name: &str, team: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"team": team}},
    })
}

fn pod(namespace: &str, name: &str, labels: Value, ip: IpAddr, node: Option<&str>) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "nodeName": node,
            "containers": [{
                "name": "app",
                "image": "bench",
                "ports": [{"name": "http", "containerPort": SERVER_PORT, "protocol": "TCP"}],
            }],
        },
        "status": {"podIPs": [{"ip": ip.to_string()}]},
    })
}

/// NetworkPolicy `k` of [`manifest`].
fn network_policy(k: usize) -> Value {
    let own = 20_000 + k as u16;
    let (from, ports) = match k % 3 {
        0 => (
            json!({"ipBlock": {
                "cidr": format!("{}/24", block(k)),
                "except": [format!("{}/28", offset(block(k), 16))],
            }}),
            json!([{"protocol": "TCP", "port": own}]),
        ),
        1 => (
            json!({
                "podSelector": {"matchLabels": {"group": format!("g{}", k % 100)}},
                "namespaceSelector": {"matchLabels": {"team": format!("t{}", k % PEER_NAMESPACES)}},
            }),
            json!([{"protocol": "TCP", "port": own, "endPort": own + 10}]),
        ),
        _ => (
            json!({"podSelector": {"matchExpressions": [
                {"key": "role", "operator": "In", "values": ["client"]},
            ]}}),
            json!([{"port": "http"}]),
        ),
    };
    let id = policy_id(k);
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": id.name, "namespace": id.namespace},
        "spec": {
            "podSelector": {"matchLabels": {"app": "server"}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [from], "ports": ports}],
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether rule `rule` allows TCP to `port` from `ip`, straight from the model.
    fn allows(rule: &CompiledRule, ip: Ipv4Addr, port: u16) -> bool {
        let peer = rule.peers.as_ref().is_none_or(|peers| {
            peers.iter().any(|p| {
                p.cidr.contains(ip.into()) && !p.except.iter().any(|e| e.contains(ip.into()))
            })
        });
        peer && covers(rule, port)
    }

    /// Whether rule `rule` allows TCP to `port` from some address.
    fn covers(rule: &CompiledRule, port: u16) -> bool {
        rule.ports.as_ref().is_none_or(|ports| {
            ports.iter().any(|r| {
                r.protocol == Protocol::Tcp
                    && r.ports
                        .is_none_or(|(first, last)| (first..=last).contains(&port))
            })
        })
    }

    #[test]
    fn only_the_rule_before_the_last_allows_the_probes() {
        for n in [2, 10, 1000, MAX_RULES] {
            let policy = server_policy(n);
            assert_eq!(policy.ingress.rules.len(), n);
            assert_eq!(policy.ingress.policies.len(), n);
            assert!(policy.ingress.isolated() && !policy.egress.isolated());
            let mut sorted = policy.ingress.policies.clone();
            sorted.sort();
            assert_eq!(sorted, policy.ingress.policies, "rules in policy order");
            for c in 0..CLIENTS {
                let allowing: Vec<usize> = (policy.ingress.rules.iter().enumerate())
                    .filter(|(_, r)| allows(r, client_ip(c), SERVER_PORT))
                    .map(|(k, _)| k)
                    .collect();
                assert_eq!(allowing, [probe_rule(n)], "n = {n}");
            }
        }
    }

    #[test]
    fn rules_differ_and_some_cover_the_probe_port_for_other_peers() {
        let policy = server_policy(1000);
        let rules = &policy.ingress.rules;
        let peers: std::collections::HashSet<_> = rules.iter().map(|r| &r.peers).collect();
        assert_eq!(peers.len(), rules.len(), "every rule has its own peers");
        let on_probe_port = rules.iter().filter(|r| covers(r, SERVER_PORT)).count();
        assert_eq!(
            on_probe_port, 400,
            "k % 5 = 1 or 3; the probe's rule is one of them"
        );
        let last = block(MAX_RULES - 1);
        assert!(last < Ipv4Addr::new(10, 128, 0, 0) && peer_pod_ip(MAX_RULES) < client_ip(0));
        assert!(20_000 + MAX_RULES + 20_010 < usize::from(u16::MAX));
    }

    #[test]
    fn the_manifest_is_one_list_of_what_it_says() {
        let objects = manifest(30);
        let list: Value = serde_json::from_str(&objects.text).unwrap();
        let items = list["items"].as_array().unwrap();
        let count = |kind: &str| items.iter().filter(|i| i["kind"] == kind).count();
        assert_eq!(count("NetworkPolicy"), 30);
        assert_eq!(count("Pod"), objects.pods);
        assert_eq!(count("Namespace"), objects.namespaces);
        let local = items
            .iter()
            .filter(|i| i["spec"]["nodeName"] == NODE)
            .count();
        assert_eq!(local, objects.local_pods);
        let names: std::collections::HashSet<_> = items
            .iter()
            .map(|i| (&i["metadata"]["namespace"], &i["metadata"]["name"]))
            .collect();
        assert_eq!(names.len(), items.len(), "no object twice");
    }
}
