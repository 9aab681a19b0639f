//! A rule's peers and ports resolved against the [`Universe`]: selected pods as their
//! addresses, named ports as the numbers the destination pods give them. NetworkPolicy and
//! ClusterNetworkPolicy rules both compile through here once their own fields are read.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use k8s_openapi::api::core::v1::Pod;
use podwire_model::cidr::Cidr;
use podwire_model::policy::{CompiledRule, PeerBlock, PortRange, RuleId};
use podwire_model::service::Protocol;

use super::universe::Universe;
use crate::endpoints::named_port;

/// A rule's peers: address blocks and the pods its selectors select (indexes into the
/// universe's pods), or every address.
#[derive(Debug, Default)]
pub(super) struct Peers {
    /// Address blocks (ipBlocks, networks).
    pub(super) blocks: Vec<PeerBlock>,
    /// Selected pods.
    pub(super) pods: BTreeSet<usize>,
    /// Every address, pods included: set for a peer that cannot be resolved on a rule that
    /// must fail closed.
    every_address: bool,
}

impl Peers {
    /// Makes these peers every address.
    pub(super) fn every_address(&mut self) {
        self.every_address = true;
    }

    /// The blocks, then the selected pods' addresses, each once; 0.0.0.0/0 and ::/0 for
    /// every address.
    pub(super) fn blocks(&self, universe: &Universe<'_>) -> Vec<PeerBlock> {
        if self.every_address {
            let all = |addr: IpAddr| PeerBlock {
                cidr: Cidr::new(addr, 0).expect("a zero-length prefix is valid"),
                except: Vec::new(),
            };
            return vec![
                all(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
                all(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
            ];
        }
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

    /// The pods whose named ports count.
    fn pods(&self, universe: &Universe<'_>) -> BTreeSet<usize> {
        match self.every_address {
            true => universe.all(),
            false => self.pods.clone(),
        }
    }
}

/// Each block once, in first-seen order.
fn dedup(blocks: impl Iterator<Item = PeerBlock>) -> Vec<PeerBlock> {
    let mut seen = HashSet::new();
    blocks.filter(|b| seen.insert(b.clone())).collect()
}

/// A CIDR and its exceptions as a [`PeerBlock`] (prefixes with their host bits cleared);
/// `None` when `cidr` is not one (validation refuses it). An `except` that is not a CIDR is
/// left out.
pub(super) fn ip_block<'e>(
    cidr: &str,
    except: impl IntoIterator<Item = &'e String>,
) -> Option<PeerBlock> {
    let cidr = cidr.parse::<Cidr>().ok()?.network();
    let except = except
        .into_iter()
        .filter_map(|e| e.parse::<Cidr>().ok())
        .map(|e| e.network())
        .collect();
    Some(PeerBlock { cidr, except })
}

/// A port number as the API writes it, when it is one (1 to 65535).
pub(super) fn port_number(number: i32) -> Option<u16> {
    u16::try_from(number).ok().filter(|&n| n != 0)
}

/// A port entry of a rule: a number or range, or a name the destination pod resolves.
#[derive(Debug, Clone)]
pub(super) enum PortSpec<'a> {
    Range(PortRange),
    /// A container port's name, declared with this protocol (`None`: with any protocol).
    Named(Option<Protocol>, &'a str),
}

/// The protocols a port can be declared with.
pub(super) const PROTOCOLS: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp];

/// The port numbers `pod` gives the container port `name` (of `protocol`, or of each
/// protocol it declares it with), as one-port ranges.
fn resolve_named<'p>(
    pod: &'p Pod,
    protocol: Option<Protocol>,
    name: &'p str,
) -> impl Iterator<Item = PortRange> + 'p {
    PROTOCOLS
        .into_iter()
        .filter(move |p| protocol.is_none_or(|wanted| wanted == *p))
        .filter_map(move |protocol| {
            let number = named_port(pod, name, &protocol.to_string())?;
            let number = port_number(number)?;
            Some(PortRange {
                protocol,
                ports: Some((number, number)),
            })
        })
}

/// An ingress rule whose named ports wait for the pod it protects.
pub(super) struct IngressRule<'a> {
    pub(super) id: RuleId,
    /// `None`: any address.
    pub(super) peers: Option<Vec<PeerBlock>>,
    /// `None`: any traffic.
    pub(super) ports: Option<Vec<PortSpec<'a>>>,
}

impl IngressRule<'_> {
    /// The rule for `target`: its named ports are the target's container ports (a name it
    /// does not serve with that protocol matches nothing).
    pub(super) fn for_target(&self, target: &Pod) -> CompiledRule {
        let ports = self.ports.as_ref().map(|specs| {
            let mut ports = Vec::new();
            for spec in specs {
                match spec {
                    PortSpec::Range(range) => ports.push(*range),
                    PortSpec::Named(protocol, name) => {
                        ports.extend(resolve_named(target, *protocol, name));
                    }
                }
            }
            ports
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
/// that give that number (`peers` `None`: any pod). A named port never matches an address
/// block: it names a pod's port.
pub(super) fn egress_rules(
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
    let named: Vec<(Option<Protocol>, &str)> = specs
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
        Some(peers) => peers.pods(universe),
    };
    let mut by_port: BTreeMap<(Protocol, u16), BTreeSet<usize>> = BTreeMap::new();
    for &i in &candidates {
        for &(protocol, name) in &named {
            for range in resolve_named(universe.pods[i].pod, protocol, name) {
                if let Some((number, _)) = range.ports {
                    by_port
                        .entry((range.protocol, number))
                        .or_default()
                        .insert(i);
                }
            }
        }
    }
    for ((protocol, number), pods) in by_port {
        let peers = Peers {
            pods,
            ..Peers::default()
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
