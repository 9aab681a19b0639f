//! `[services]`: how the node implements Kubernetes Services. Every key has a default, and the
//! lists' defaults come from the rest of the file: the pods' addresses (`cluster_cidrs`: the
//! cluster's CIDRs, the networks' and the `[[pod]]`s'), the
//! routed interfaces' addresses (`node_addresses`) and the routed af-packet and af-xdp
//! interfaces (`masquerade_interfaces`).
//!
//! The service CIDRs are addresses of their own: traffic to them is a Service's, or dropped
//! when no Service has the address. So nothing else in the file may own or route addresses
//! in them, except a `[host]` route equal to one, which the agent would add anyway.

use std::net::IpAddr;
use std::time::Duration;

use super::super::file::{ConfigFile, ServicesSection};
use super::super::{
    ClusterConfig, DEFAULT_SERVICE_CIDR, Forwarding, HostConfig, InterfaceConfig, NetworkConfig,
    PodConfig, ServicesConfig,
};
use super::{Validator, family, host_addresses, interface_subnets, l2, overlap, values};
use crate::cidr::Cidr;

/// Sessions per worker unless `services.sessions_per_worker` says otherwise: kube-proxy's
/// conntrack minimum.
const DEFAULT_SESSIONS_PER_WORKER: u32 = 131_072;
/// The fewest sessions a worker may track: fewer would refuse connections on a quiet node.
const MIN_SESSIONS_PER_WORKER: u32 = 1024;
/// The most sessions a worker may track (2^24), which bounds its table's memory.
const MAX_SESSIONS_PER_WORKER: u32 = 16_777_216;
/// `tcp_established_timeout_s` unless given: kube-proxy's 24 h.
const DEFAULT_TCP_ESTABLISHED_TIMEOUT_S: u64 = 86_400;
/// `tcp_close_wait_timeout_s` unless given: kube-proxy's 1 h.
const DEFAULT_TCP_CLOSE_WAIT_TIMEOUT_S: u64 = 3_600;
/// `udp_timeout_s` unless given: Linux's `nf_conntrack_udp_timeout`.
const DEFAULT_UDP_TIMEOUT_S: u64 = 30;
/// `udp_stream_timeout_s` unless given: Linux's `nf_conntrack_udp_timeout_stream`.
const DEFAULT_UDP_STREAM_TIMEOUT_S: u64 = 120;

/// What the rest of the file turned into, for the defaults.
pub(super) struct Validated<'a> {
    /// The valid `[[interface]]`s.
    pub interfaces: &'a [InterfaceConfig],
    /// The valid `[[pod]]`s.
    pub pods: &'a [PodConfig],
    /// The valid `[[network]]`s.
    pub networks: &'a [NetworkConfig],
    /// The valid `[host]`, if any.
    pub host: Option<&'a HostConfig>,
    /// The valid `[cluster]`, if it is.
    pub cluster: Option<&'a ClusterConfig>,
}

impl Validator {
    /// The `[services]` section `raw`; `file` has the sections its CIDRs must not touch.
    pub(super) fn services(
        &mut self,
        raw: &ServicesSection,
        file: &ConfigFile,
        validated: &Validated<'_>,
    ) -> Option<ServicesConfig> {
        let cidrs = self.service_cidrs(raw.cidrs.as_deref(), file);
        let service_cidrs = cidrs.as_deref().unwrap_or_default();
        let cluster_cidrs = match &raw.cluster_cidrs {
            Some(texts) => self.cluster_cidrs(texts, service_cidrs),
            None => Some(default_cluster_cidrs(validated)),
        };
        let node_addresses = match &raw.node_addresses {
            Some(texts) => self.node_addresses(texts, service_cidrs),
            None => Some(default_node_addresses(validated)),
        };
        let masquerade_interfaces = match &raw.masquerade_interfaces {
            Some(names) => self.masquerade_interfaces(names, file),
            None => Some(default_masquerade_interfaces(validated.interfaces)),
        };
        let sessions_per_worker = raw
            .sessions_per_worker
            .unwrap_or(DEFAULT_SESSIONS_PER_WORKER);
        if !(MIN_SESSIONS_PER_WORKER..=MAX_SESSIONS_PER_WORKER).contains(&sessions_per_worker) {
            self.problem(
                "services.sessions_per_worker",
                format!(
                    "{sessions_per_worker} is out of range; a worker tracks from {MIN_SESSIONS_PER_WORKER} to {MAX_SESSIONS_PER_WORKER} sessions"
                ),
            );
        }
        let tcp_established_timeout = self.timeout(
            "tcp_established_timeout_s",
            raw.tcp_established_timeout_s,
            DEFAULT_TCP_ESTABLISHED_TIMEOUT_S,
        );
        let tcp_close_wait_timeout = self.timeout(
            "tcp_close_wait_timeout_s",
            raw.tcp_close_wait_timeout_s,
            DEFAULT_TCP_CLOSE_WAIT_TIMEOUT_S,
        );
        let udp_timeout = self.timeout("udp_timeout_s", raw.udp_timeout_s, DEFAULT_UDP_TIMEOUT_S);
        let udp_stream_timeout = self.timeout(
            "udp_stream_timeout_s",
            raw.udp_stream_timeout_s,
            DEFAULT_UDP_STREAM_TIMEOUT_S,
        );
        Some(ServicesConfig {
            cidrs: cidrs?,
            cluster_cidrs: cluster_cidrs?,
            node_addresses: node_addresses?,
            masquerade_interfaces: masquerade_interfaces?,
            sessions_per_worker,
            tcp_established_timeout: tcp_established_timeout?,
            tcp_close_wait_timeout: tcp_close_wait_timeout?,
            udp_timeout: udp_timeout?,
            udp_stream_timeout: udp_stream_timeout?,
        })
    }

    /// The service CIDRs as given, or the default one, each checked on its own and against
    /// the rest of `file`.
    fn service_cidrs(&mut self, texts: Option<&[String]>, file: &ConfigFile) -> Option<Vec<Cidr>> {
        // Each CIDR's text, its field and how to name it in a problem: the default one has
        // no index, and a problem with it must say where it came from.
        let given: Vec<(&str, String, bool)> = match texts {
            None => vec![(DEFAULT_SERVICE_CIDR, "services.cidrs".to_owned(), true)],
            Some([]) => {
                self.problem(
                    "services.cidrs",
                    format!(
                        "empty: ClusterIPs need a range; give one or two service CIDRs (one IPv4, one IPv6), or remove the key for {DEFAULT_SERVICE_CIDR}"
                    ),
                );
                return None;
            }
            Some(texts) => texts
                .iter()
                .enumerate()
                .map(|(j, text)| (text.as_str(), format!("services.cidrs[{j}]"), false))
                .collect(),
        };
        let mut cidrs: Vec<Cidr> = Vec::with_capacity(given.len());
        let mut ok = true;
        for (text, field, default) in given {
            let Some(cidr) = self.check(&field, values::prefix(text)) else {
                ok = false;
                continue;
            };
            if let Some(other) = cidrs
                .iter()
                .find(|other| other.addr().is_ipv4() == cidr.addr().is_ipv4())
            {
                self.problem(
                    &field,
                    format!(
                        "{cidr} is a second {} service CIDR besides {other}; give at most one per family",
                        family(cidr.addr())
                    ),
                );
                ok = false;
                continue;
            }
            let named = if default {
                format!("{cidr} (the default services.cidrs)")
            } else {
                cidr.to_string()
            };
            let conflicts = service_cidr_conflicts(cidr, &named, file, &self.pod_cidrs);
            ok &= conflicts.is_empty();
            for problem in conflicts {
                self.problem(&field, problem);
            }
            cidrs.push(cidr);
        }
        ok.then_some(cidrs)
    }

    /// `cluster_cidrs` as given: prefixes, each once, outside the service CIDRs.
    fn cluster_cidrs(&mut self, texts: &[String], service_cidrs: &[Cidr]) -> Option<Vec<Cidr>> {
        let mut cidrs: Vec<Cidr> = Vec::with_capacity(texts.len());
        for (j, text) in texts.iter().enumerate() {
            let checked = values::prefix(text).and_then(|cidr| {
                if let Some(k) = cidrs.iter().position(|other| *other == cidr) {
                    return Err(format!(
                        "{cidr} is already services.cluster_cidrs[{k}]; give each CIDR once"
                    ));
                }
                match service_cidrs.iter().find(|svc| overlap(cidr, **svc)) {
                    Some(svc) => Err(format!(
                        "{cidr} overlaps the service CIDR {svc}; pods' addresses are never ClusterIPs: give the CIDRs pods' addresses come from"
                    )),
                    None => Ok(cidr),
                }
            });
            // A bad entry is left out of the duplicate check; the list is refused anyway.
            cidrs.extend(self.check(format!("services.cluster_cidrs[{j}]"), checked));
        }
        (cidrs.len() == texts.len()).then_some(cidrs)
    }

    /// `node_addresses` as given: unicast addresses, each once, outside the service CIDRs.
    fn node_addresses(&mut self, texts: &[String], service_cidrs: &[Cidr]) -> Option<Vec<IpAddr>> {
        let mut addresses: Vec<IpAddr> = Vec::with_capacity(texts.len());
        for (j, text) in texts.iter().enumerate() {
            let checked = values::ip(text).and_then(|ip| {
                values::own_address(ip)?;
                if let Some(k) = addresses.iter().position(|other| *other == ip) {
                    return Err(format!(
                        "{ip} is already services.node_addresses[{k}]; give each address once"
                    ));
                }
                match service_cidrs.iter().find(|svc| svc.contains(ip)) {
                    Some(svc) => Err(format!(
                        "{ip} is in the service CIDR {svc}, whose addresses are ClusterIPs; give an address of this node outside the service CIDRs"
                    )),
                    None => Ok(ip),
                }
            });
            addresses.extend(self.check(format!("services.node_addresses[{j}]"), checked));
        }
        (addresses.len() == texts.len()).then_some(addresses)
    }

    /// `masquerade_interfaces` as given: each names a routed `[[interface]]` of `file` with
    /// an address to masquerade to, once.
    fn masquerade_interfaces(
        &mut self,
        names: &[String],
        file: &ConfigFile,
    ) -> Option<Vec<String>> {
        let mut ok = true;
        for (j, name) in names.iter().enumerate() {
            let problem = if let Some(k) = names[..j].iter().position(|other| other == name) {
                format!(
                    "{name:?} is already services.masquerade_interfaces[{k}]; name each interface once"
                )
            } else if let Some(interface) = file.interface.iter().find(|i| &i.name == name) {
                if let Some(l2) = l2::layer2_reason(file, name) {
                    format!(
                        "interface {name:?} forwards by MAC ({l2}); masquerading rewrites IP addresses, so name a routed interface, one with addresses"
                    )
                } else if interface.addresses.is_empty() {
                    format!(
                        "interface {name:?} has no address to masquerade to; give it addresses, or leave it out"
                    )
                } else {
                    continue;
                }
            } else {
                let names: Vec<_> = file.interface.iter().map(|i| i.name.as_str()).collect();
                let choices = if names.is_empty() {
                    "there are no [[interface]] sections; add one".to_owned()
                } else {
                    format!("name one of {}", names.join(", "))
                };
                format!("there is no interface named {name:?}; {choices}")
            };
            self.problem(format!("services.masquerade_interfaces[{j}]"), problem);
            ok = false;
        }
        ok.then(|| names.to_vec())
    }

    /// The timeout `key` of `seconds`, at least 1, or `default` when not given.
    fn timeout(&mut self, key: &str, seconds: Option<u64>, default: u64) -> Option<Duration> {
        match seconds.unwrap_or(default) {
            0 => {
                self.problem(
                    format!("services.{key}"),
                    "0 seconds would end every session at once; give at least 1".to_owned(),
                );
                None
            }
            seconds => Some(Duration::from_secs(seconds)),
        }
    }
}

/// The problems of the service CIDR `cidr` (called `named` in them) with the rest of `file`
/// and with the networks' `pod_cidrs` (each with its field): each thing that owns or routes
/// some of its addresses. Malformed values are reported with their own sections and skipped
/// here.
fn service_cidr_conflicts(
    cidr: Cidr,
    named: &str,
    file: &ConfigFile,
    pod_cidrs: &[(Cidr, String)],
) -> Vec<String> {
    let mut conflicts = Vec::new();
    for (pod_cidr, pod_cidr_field) in pod_cidrs {
        if overlap(cidr, *pod_cidr) {
            conflicts.push(format!(
                "{named} overlaps {pod_cidr}, the pod CIDR of {pod_cidr_field}; a pod's address cannot also be a ClusterIP: choose a service CIDR outside every pod CIDR"
            ));
        }
    }
    for (i, pod) in file.pod.iter().enumerate() {
        for (j, text) in pod.addresses.iter().enumerate() {
            let Ok(ip) = values::ip(text) else {
                continue;
            };
            if cidr.contains(ip) {
                conflicts.push(format!(
                    "{named} contains pod[{i}].addresses[{j}] ({ip}), an address of [[pod]] {:?}; traffic to it would be taken for a Service's: give that pod an address outside the service CIDRs, or choose another service CIDR",
                    pod.name
                ));
            }
        }
    }
    for (i, j, name, subnet) in interface_subnets(file) {
        if overlap(cidr, subnet) {
            conflicts.push(format!(
                "{named} overlaps {subnet}, the subnet of interface[{i}].addresses[{j}] ({name:?}); the switch could not tell a Service from a neighbor on that link: choose a service CIDR outside the interfaces' subnets"
            ));
        }
    }
    for (key, ip) in host_addresses(file) {
        if cidr.contains(ip) {
            conflicts.push(format!(
                "{named} contains host.{key} ({ip}), the host tap's own address; give the host an address outside the service CIDRs"
            ));
        }
    }
    if let Some(host) = &file.host {
        for (j, text) in host.routes.iter().enumerate() {
            let Ok(route) = values::prefix(text) else {
                continue;
            };
            // The agent routes each service CIDR from the host into the switch: the same
            // route given here is harmless, any other that overlaps it competes with it.
            if route != cidr && overlap(cidr, route) {
                conflicts.push(format!(
                    "{named} overlaps host.routes[{j}] ({route}); the agent routes the service CIDRs from the host itself: make that route exactly {cidr}, remove it, or choose a service CIDR outside it"
                ));
            }
        }
    }
    for (i, route) in file.route.iter().enumerate() {
        let Ok(prefix) = values::prefix(&route.prefix) else {
            continue;
        };
        // A route covering the service CIDR is normal (a default route); one inside it is
        // never used: traffic to a service CIDR is a Service's, or dropped.
        if prefix.prefix_len() >= cidr.prefix_len() && cidr.contains(prefix.addr()) {
            conflicts.push(format!(
                "{named} contains route[{i}].prefix ({prefix}), which would never be used: traffic to a service CIDR goes to a Service or is dropped; route only prefixes outside the service CIDRs"
            ));
        }
    }
    conflicts
}

/// The cluster's pod CIDRs (with a cluster source), every pod CIDR of the networks (the
/// cluster's network has none in the file), then every `[[pod]]` address as a /32 or /128.
fn default_cluster_cidrs(validated: &Validated<'_>) -> Vec<Cidr> {
    let cluster = validated
        .cluster
        .and_then(|c| c.join.as_ref())
        .into_iter()
        .flat_map(|join| join.cidrs.iter());
    let networks = validated.networks.iter().flat_map(|n| n.pod_cidrs.iter());
    let pods = validated.pods.iter().flat_map(|p| p.addresses.iter());
    cluster
        .chain(networks)
        .copied()
        .chain(pods.map(|ip| Cidr::host(*ip)))
        .collect()
}

/// The addresses of the routed interfaces, in file order, then the host's: a node without
/// an uplink still has an address to masquerade the host's traffic to ClusterIPs to.
fn default_node_addresses(validated: &Validated<'_>) -> Vec<IpAddr> {
    let host = validated
        .host
        .into_iter()
        .flat_map(|h| [h.address4.map(IpAddr::V4), h.address6.map(IpAddr::V6)])
        .flatten();
    routed(validated.interfaces)
        .flat_map(|i| i.addresses.iter().map(Cidr::addr))
        .chain(host)
        .collect()
}

/// The routed af-packet and af-xdp interfaces (with addresses), in file order.
fn default_masquerade_interfaces(interfaces: &[InterfaceConfig]) -> Vec<String> {
    routed(interfaces)
        .filter(|i| i.kind().attaches_existing() && !i.addresses.is_empty())
        .map(|i| i.name.clone())
        .collect()
}

/// The interfaces that forward by IP.
fn routed(interfaces: &[InterfaceConfig]) -> impl Iterator<Item = &InterfaceConfig> {
    interfaces
        .iter()
        .filter(|i| i.forwarding == Forwarding::Routed)
}
