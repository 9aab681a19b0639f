//! `[cluster]`: where the cluster objects come from and, with etcd or Kubernetes, how this
//! node joins the others.
//!
//! Each key belongs to some sources only and is refused with the others, so that a key the
//! daemon would ignore fails instead. With a cluster source, `cidrs` are claimed like a
//! network's pod CIDRs (nothing else in the file may own or route their addresses), and the
//! cluster's `[[network]]` gives no `pod_cidrs`: this node's share of `cidrs` is claimed from
//! etcd, or read from the Node's `spec.podCIDRs`, when the daemon starts.
//!
//! Checked in two passes: [`Validator::cluster_network`] before the networks (they need to
//! know which one is the cluster's and which families its pods have), [`Validator::cluster`]
//! after the interfaces (the uplink and its addresses).

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use super::super::file::{ClusterSection, ClusterSourceName, ConfigFile, NetworkSection};
use super::super::{
    ClusterConfig, ClusterJoin, ClusterSource, DEFAULT_ETCD_PREFIX, DEFAULT_VNI,
    DEFAULT_VXLAN_PORT, EtcdSource, InterfaceConfig, InterfaceKind, KubernetesSource,
    NetworkForwarding,
};
use super::network::PodCidrs;
use super::{Validator, l2, values};
use crate::cidr::Cidr;

/// The largest VXLAN network identifier: 24 bits.
const MAX_VNI: u32 = 0x00ff_ffff;
/// `node_cidr_len4` unless given: 254 pods per node.
const DEFAULT_NODE_CIDR_LEN4: u8 = 24;
/// `node_cidr_len6` unless given.
const DEFAULT_NODE_CIDR_LEN6: u8 = 64;
/// The longest node CIDR of each family: the longest pod CIDR a network may have.
const MAX_NODE_CIDR_LEN4: u8 = 30;
/// See [`MAX_NODE_CIDR_LEN4`].
const MAX_NODE_CIDR_LEN6: u8 = 126;
/// `lease_ttl_s` unless given.
const DEFAULT_LEASE_TTL_S: u64 = 10;
/// The shortest lease: the node renews it at a fraction of its life, in whole seconds.
const MIN_LEASE_TTL_S: u64 = 2;
/// The longest lease: a dead node's routes stay at most this long.
const MAX_LEASE_TTL_S: u64 = 3600;
/// What an etcd endpoint looks like, for the problems.
const ENDPOINT_EXAMPLE: &str = "e.g. \"http://192.168.60.254:2379\"";

/// The sources a `[cluster]` key is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyOf {
    /// Both cluster sources, etcd and kubernetes.
    Cluster,
    /// `source = "etcd"` only.
    Etcd,
    /// `source = "kubernetes"` only.
    Kubernetes,
}

impl KeyOf {
    fn allows(self, source: ClusterSourceName) -> bool {
        match self {
            KeyOf::Cluster => source != ClusterSourceName::Local,
            KeyOf::Etcd => source == ClusterSourceName::Etcd,
            KeyOf::Kubernetes => source == ClusterSourceName::Kubernetes,
        }
    }

    fn sources(self) -> &'static str {
        match self {
            KeyOf::Cluster => "source = \"etcd\" or \"kubernetes\"",
            KeyOf::Etcd => "source = \"etcd\"",
            KeyOf::Kubernetes => "source = \"kubernetes\"",
        }
    }
}

/// What the networks need to know of `[cluster]` with a cluster source.
pub(super) struct ClusterNetwork {
    /// The cluster's `[[network]]`, when the file says which (`cluster.network`, or the only
    /// network).
    pub name: Option<String>,
    /// What the checks of `cluster.cidrs` found: the families the network's pods will have.
    pub cidrs: PodCidrs,
}

impl Validator {
    /// The first pass, before the networks: `None` with the local source; otherwise
    /// `cluster.cidrs`, checked and claimed, and which network is the cluster's.
    pub(super) fn cluster_network(
        &mut self,
        raw: &ClusterSection,
        file: &ConfigFile,
    ) -> Option<ClusterNetwork> {
        let source = raw.source.unwrap_or(ClusterSourceName::Local);
        if source == ClusterSourceName::Local {
            return None;
        }
        let cidrs = match raw.cidrs.as_deref() {
            Some(texts) if !texts.is_empty() => {
                self.pod_cidr_list("cluster.cidrs", texts, "the cluster", file)
            }
            given => {
                let what = if given.is_some() { "empty" } else { "missing" };
                self.problem(
                    "cluster.cidrs",
                    format!(
                        "{what}: a cluster needs its pod CIDRs, one or two (one IPv4, one IPv6), from which each node gets its share, e.g. cidrs = [\"10.244.0.0/16\", \"fd00:244::/56\"]"
                    ),
                );
                PodCidrs::missing()
            }
        };
        let name = self.cluster_network_name(raw, file);
        Some(ClusterNetwork { name, cidrs })
    }

    /// `cluster.network`, which must name a `[[network]]`; by default the only one.
    fn cluster_network_name(&mut self, raw: &ClusterSection, file: &ConfigFile) -> Option<String> {
        let names: Vec<_> = file.network.iter().map(|n| n.name.as_str()).collect();
        let problem = match (&raw.network, names.as_slice()) {
            (Some(name), _) if names.contains(&name.as_str()) => return Some(name.clone()),
            (None, [only]) => return Some((*only).to_owned()),
            (_, []) => "there is no [[network]]; add one for the cluster's pods, without pod_cidrs (each node gets its share of cluster.cidrs)".to_owned(),
            (Some(name), _) => format!(
                "there is no [[network]] named {name:?}; name one of {}",
                names.join(", ")
            ),
            (None, _) => format!(
                "missing: there are several networks ({}); name the one whose pods get their addresses from cluster.cidrs",
                names.join(", ")
            ),
        };
        self.problem("cluster.network", problem);
        None
    }

    /// The pod CIDRs of the cluster's network `raw` (at `at`): none in the file, which must
    /// not give them; its pods have the families of `cluster.cidrs`.
    pub(super) fn cluster_network_cidrs(
        &mut self,
        at: &str,
        raw: &NetworkSection,
        forwarding: NetworkForwarding,
        cluster: &ClusterNetwork,
    ) -> PodCidrs {
        let mut ok = true;
        if raw.pod_cidrs.is_some() {
            self.problem(
                format!("{at}.pod_cidrs"),
                format!(
                    "network {:?} is the cluster's network (cluster.network): its pod CIDRs are this node's share of cluster.cidrs, claimed from etcd or read from the Node's spec.podCIDRs at start; remove pod_cidrs, or name another network in cluster.network",
                    raw.name
                ),
            );
            ok = false;
        }
        if forwarding != NetworkForwarding::Routed {
            self.problem(
                format!("{at}.forwarding"),
                format!(
                    "network {:?} is the cluster's network (cluster.network), whose pods are reached from other nodes by routing; set forwarding = \"routed\", or name another network in cluster.network",
                    raw.name
                ),
            );
            ok = false;
        }
        PodCidrs {
            valid: Vec::new(),
            parsed: cluster.cidrs.parsed.clone(),
            all_parsed: cluster.cidrs.all_parsed,
            ok,
        }
    }

    /// The second pass: the whole `[cluster]`; `interfaces` are the valid `[[interface]]`s,
    /// `network` what [`Validator::cluster_network`] found.
    pub(super) fn cluster(
        &mut self,
        raw: &ClusterSection,
        file: &ConfigFile,
        interfaces: &[InterfaceConfig],
        network: Option<ClusterNetwork>,
    ) -> Option<ClusterConfig> {
        let given_source = raw.source;
        let source = given_source.unwrap_or(ClusterSourceName::Local);
        for (key, given, of) in keys(raw) {
            if given && !of.allows(source) {
                let current = match given_source {
                    None => "\"local\" (the default)",
                    Some(ClusterSourceName::Local) => "\"local\"",
                    Some(ClusterSourceName::Etcd) => "\"etcd\"",
                    Some(ClusterSourceName::Kubernetes) => "\"kubernetes\"",
                };
                let sources = of.sources();
                self.problem(
                    format!("cluster.{key}"),
                    format!(
                        "only with {sources}; the source is {current}: remove {key}, or set {sources}"
                    ),
                );
            }
        }
        let Some(network) = network else {
            return Some(ClusterConfig::default());
        };
        let join = self.cluster_join(raw, file, interfaces, &network);
        let source = match source {
            ClusterSourceName::Etcd => self
                .etcd(raw, &network.cidrs.valid)
                .map(ClusterSource::Etcd),
            ClusterSourceName::Kubernetes => self.kubernetes(raw).map(ClusterSource::Kubernetes),
            // Not reached: the local source has no cluster network.
            ClusterSourceName::Local => Some(ClusterSource::Local),
        };
        Some(ClusterConfig {
            source: source?,
            join: Some(join?),
        })
    }

    /// The keys of both cluster sources.
    fn cluster_join(
        &mut self,
        raw: &ClusterSection,
        file: &ConfigFile,
        interfaces: &[InterfaceConfig],
        network: &ClusterNetwork,
    ) -> Option<ClusterJoin> {
        let uplink = self.uplink(raw.uplink.as_deref(), file, interfaces);
        let tunnel_address = match &raw.tunnel_address {
            Some(text) => {
                let checked = values::ip(text).and_then(|ip| match uplink {
                    Some(uplink) => tunnel_address_of(ip, uplink),
                    None => Ok(ip),
                });
                self.check("cluster.tunnel_address", checked)
            }
            None => uplink.and_then(default_tunnel_address),
        };
        let vni = raw.vni.unwrap_or(DEFAULT_VNI);
        let vni_ok = (1..=MAX_VNI).contains(&vni);
        if !vni_ok {
            self.problem(
                "cluster.vni",
                format!(
                    "{vni} is out of range; a VXLAN network identifier is from 1 to {MAX_VNI}, the same on every node"
                ),
            );
        }
        let vxlan_port = raw.vxlan_port.unwrap_or(u32::from(DEFAULT_VXLAN_PORT));
        let vxlan_port = match u16::try_from(vxlan_port) {
            Ok(port) if port != 0 => Some(port),
            _ => {
                self.problem(
                    "cluster.vxlan_port",
                    format!(
                        "{vxlan_port} is not a UDP port; give 1 to 65535, the same on every node ({DEFAULT_VXLAN_PORT} by default)"
                    ),
                );
                None
            }
        };
        Some(ClusterJoin {
            cidrs: network.cidrs.ok.then(|| network.cidrs.valid.clone())?,
            network: network.name.clone()?,
            uplink: uplink?.name.clone(),
            tunnel_address: tunnel_address?,
            vni: vni_ok.then_some(vni)?,
            vxlan_port: vxlan_port?,
        })
    }

    /// `cluster.uplink`: a routed af-packet, af-xdp or tap `[[interface]]` of `file` with an
    /// address;
    /// the valid one among `interfaces`.
    fn uplink<'a>(
        &mut self,
        name: Option<&str>,
        file: &ConfigFile,
        interfaces: &'a [InterfaceConfig],
    ) -> Option<&'a InterfaceConfig> {
        let Some(name) = name else {
            self.problem(
                "cluster.uplink",
                "missing: name the [[interface]] the VXLAN tunnels to other nodes run over (an af-packet or af-xdp interface with an address)".to_owned(),
            );
            return None;
        };
        let problem = match file.interface.iter().find(|i| i.name == name) {
            None => {
                let names: Vec<_> = file.interface.iter().map(|i| i.name.as_str()).collect();
                let choices = if names.is_empty() {
                    "there are no [[interface]] sections; add the node's uplink".to_owned()
                } else {
                    format!("name one of {}", names.join(", "))
                };
                format!("there is no interface named {name:?}; {choices}")
            }
            Some(raw) if raw.kind == InterfaceKind::Memif => format!(
                "interface {name:?} is a memif interface; the tunnels run over the node's network: name an af-packet or af-xdp (or tap) interface"
            ),
            Some(_) => {
                if let Some(l2) = l2::layer2_reason(file, name) {
                    format!(
                        "interface {name:?} forwards by MAC ({l2}); the tunnels run over a routed interface, one with addresses"
                    )
                } else {
                    // A bad interface is reported with its own section.
                    let uplink = interfaces.iter().find(|i| i.name == name)?;
                    if !uplink.addresses.is_empty() {
                        return Some(uplink);
                    }
                    format!(
                        "interface {name:?} has no address; the tunnels to other nodes end on one of its addresses: give it addresses"
                    )
                }
            }
        };
        self.problem("cluster.uplink", problem);
        None
    }

    /// The keys of `source = "etcd"`; `cidrs` are the valid cluster CIDRs, which the node
    /// CIDR lengths are checked against.
    fn etcd(&mut self, raw: &ClusterSection, cidrs: &[Cidr]) -> Option<EtcdSource> {
        let endpoints = self.etcd_endpoints(raw.etcd_endpoints.as_deref());
        let prefix = match &raw.etcd_prefix {
            Some(text) => self.check("cluster.etcd_prefix", etcd_prefix(text)),
            None => Some(DEFAULT_ETCD_PREFIX.to_owned()),
        };
        let node_cidr_len4 = self.node_cidr_len(
            "node_cidr_len4",
            raw.node_cidr_len4,
            DEFAULT_NODE_CIDR_LEN4,
            MAX_NODE_CIDR_LEN4,
            cidrs.iter().find(|c| c.addr().is_ipv4()),
        );
        let node_cidr_len6 = self.node_cidr_len(
            "node_cidr_len6",
            raw.node_cidr_len6,
            DEFAULT_NODE_CIDR_LEN6,
            MAX_NODE_CIDR_LEN6,
            cidrs.iter().find(|c| c.addr().is_ipv6()),
        );
        let lease_ttl_s = raw.lease_ttl_s.unwrap_or(DEFAULT_LEASE_TTL_S);
        let lease_ttl = if (MIN_LEASE_TTL_S..=MAX_LEASE_TTL_S).contains(&lease_ttl_s) {
            Some(Duration::from_secs(lease_ttl_s))
        } else {
            self.problem(
                "cluster.lease_ttl_s",
                format!(
                    "{lease_ttl_s} is out of range; give {MIN_LEASE_TTL_S} to {MAX_LEASE_TTL_S} seconds: how long a node that stopped is still taken for alive"
                ),
            );
            None
        };
        Some(EtcdSource {
            endpoints: endpoints?,
            prefix: prefix?,
            node_cidr_len4: node_cidr_len4?,
            node_cidr_len6: node_cidr_len6?,
            lease_ttl: lease_ttl?,
        })
    }

    /// `cluster.etcd_endpoints`: at least one, each an http(s) URL with a host and a port,
    /// each once.
    fn etcd_endpoints(&mut self, texts: Option<&[String]>) -> Option<Vec<String>> {
        let texts = match texts {
            Some(texts) if !texts.is_empty() => texts,
            given => {
                let what = if given.is_some() { "empty" } else { "missing" };
                self.problem(
                    "cluster.etcd_endpoints",
                    format!("{what}: give the client URLs of the etcd cluster, {ENDPOINT_EXAMPLE}"),
                );
                return None;
            }
        };
        let mut ok = true;
        for (j, text) in texts.iter().enumerate() {
            let checked = etcd_endpoint(text).and_then(|()| {
                match texts[..j].iter().position(|other| other == text) {
                    Some(k) => Err(format!(
                        "{text:?} is already cluster.etcd_endpoints[{k}]; give each endpoint once"
                    )),
                    None => Ok(()),
                }
            });
            ok &= self
                .check(format!("cluster.etcd_endpoints[{j}]"), checked)
                .is_some();
        }
        ok.then(|| texts.to_vec())
    }

    /// The node CIDR length `key` (`value`, or `default` when not given), checked against
    /// the cluster CIDR of its family when there is one: longer than or as long as it, at
    /// most `max`. Without a cluster CIDR of its family it is not used.
    fn node_cidr_len(
        &mut self,
        key: &str,
        value: Option<u32>,
        default: u8,
        max: u8,
        cluster_cidr: Option<&Cidr>,
    ) -> Option<u8> {
        let Some(cidr) = cluster_cidr else {
            // Unused: the cluster has no pods of that family.
            return Some(value.map_or(default, |v| u8::try_from(v).unwrap_or(u8::MAX)));
        };
        let len = value.unwrap_or(u32::from(default));
        let min = cidr.prefix_len();
        if (u32::from(min)..=u32::from(max)).contains(&len) {
            return u8::try_from(len).ok();
        }
        let given = if value.is_some() {
            format!("/{len}")
        } else {
            format!("the default /{len}")
        };
        self.problem(
            format!("cluster.{key}"),
            format!(
                "{given} does not fit the cluster CIDR {cidr}; each node's pod CIDR is a part of it: give {min} to {max} ({min} makes a cluster of one node)"
            ),
        );
        None
    }

    /// The key of `source = "kubernetes"`.
    fn kubernetes(&mut self, raw: &ClusterSection) -> Option<KubernetesSource> {
        let kubeconfig = self.check_optional(
            "cluster.kubeconfig",
            raw.kubeconfig.as_deref(),
            values::absolute_path,
        );
        Some(KubernetesSource {
            kubeconfig: kubeconfig?,
        })
    }
}

/// Every key of `raw`: its name, whether it is given, and the sources it is for.
fn keys(raw: &ClusterSection) -> [(&'static str, bool, KeyOf); 12] {
    [
        ("cidrs", raw.cidrs.is_some(), KeyOf::Cluster),
        ("network", raw.network.is_some(), KeyOf::Cluster),
        ("uplink", raw.uplink.is_some(), KeyOf::Cluster),
        (
            "tunnel_address",
            raw.tunnel_address.is_some(),
            KeyOf::Cluster,
        ),
        ("vni", raw.vni.is_some(), KeyOf::Cluster),
        ("vxlan_port", raw.vxlan_port.is_some(), KeyOf::Cluster),
        ("etcd_endpoints", raw.etcd_endpoints.is_some(), KeyOf::Etcd),
        ("etcd_prefix", raw.etcd_prefix.is_some(), KeyOf::Etcd),
        ("node_cidr_len4", raw.node_cidr_len4.is_some(), KeyOf::Etcd),
        ("node_cidr_len6", raw.node_cidr_len6.is_some(), KeyOf::Etcd),
        ("lease_ttl_s", raw.lease_ttl_s.is_some(), KeyOf::Etcd),
        ("kubeconfig", raw.kubeconfig.is_some(), KeyOf::Kubernetes),
    ]
}

/// `ip` when it is one of the addresses of `uplink`.
fn tunnel_address_of(ip: IpAddr, uplink: &InterfaceConfig) -> Result<IpAddr, String> {
    if uplink.addresses.iter().any(|a| a.addr() == ip) {
        return Ok(ip);
    }
    let addresses: Vec<_> = uplink
        .addresses
        .iter()
        .map(|a| a.addr().to_string())
        .collect();
    Err(format!(
        "{ip} is not an address of the uplink {:?} (it has {}); give one of them, or leave tunnel_address out for the first",
        uplink.name,
        addresses.join(", ")
    ))
}

/// The first IPv4 address of `uplink`, else its first IPv6 address.
fn default_tunnel_address(uplink: &InterfaceConfig) -> Option<IpAddr> {
    let first = |v4: bool| {
        uplink
            .addresses
            .iter()
            .map(Cidr::addr)
            .find(|a| a.is_ipv4() == v4)
    };
    first(true).or_else(|| first(false))
}

/// An etcd client URL: `http://` or `https://`, a host (a name, an IPv4 address or an IPv6
/// address in brackets) and a port, and at most a `/` after them.
fn etcd_endpoint(text: &str) -> Result<(), String> {
    let Some(rest) = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"))
    else {
        return Err(format!(
            "{text:?} is not an http:// or https:// URL; give etcd's client URL, {ENDPOINT_EXAMPLE}"
        ));
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains(['/', '?', '#', '@']) {
        return Err(format!(
            "{text:?} has more than a host and a port; give etcd's client URL alone, {ENDPOINT_EXAMPLE}"
        ));
    }
    let port = match authority.strip_prefix('[') {
        Some(bracketed) => {
            let (ip, after) = bracketed.split_once(']').ok_or_else(|| {
                format!("{text:?} opens '[' without closing it; write an IPv6 host as [fd00::1]")
            })?;
            if ip.parse::<Ipv6Addr>().is_err() {
                return Err(format!(
                    "{text:?}: {ip:?} in brackets is not an IPv6 address"
                ));
            }
            after.strip_prefix(':')
        }
        None => {
            let (host, port) = match authority.split_once(':') {
                Some((_, port)) if port.contains(':') => {
                    return Err(format!(
                        "{text:?} has an IPv6 host without brackets; write it as http://[fd00::1]:2379"
                    ));
                }
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            };
            let label_ok = |label: &str| {
                !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            };
            if !host.split('.').all(label_ok) {
                return Err(format!(
                    "{text:?} has no valid host; give a host name or an address, {ENDPOINT_EXAMPLE}"
                ));
            }
            port
        }
    };
    match port.map(str::parse::<u16>) {
        Some(Ok(port)) if port != 0 => Ok(()),
        Some(_) => Err(format!(
            "{text:?} has a port that is not 1 to 65535; etcd's client port is usually 2379"
        )),
        None => Err(format!(
            "{text:?} has no port; add etcd's client port, usually 2379, {ENDPOINT_EXAMPLE}"
        )),
    }
}

/// An etcd key prefix: it starts and ends with `/`, so that podwire's keys are a directory
/// of their own.
fn etcd_prefix(text: &str) -> Result<String, String> {
    if text.starts_with('/') && text.ends_with('/') {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "{text:?} must start and end with '/', like {DEFAULT_ETCD_PREFIX:?}, so that podwire's keys are apart from others"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcd_endpoints_are_urls_with_a_host_and_a_port() {
        for good in [
            "http://127.0.0.1:2379",
            "https://etcd-0.example.com:2379/",
            "http://[fd00::1]:2379",
            "http://localhost:1",
        ] {
            assert_eq!(etcd_endpoint(good), Ok(()), "{good}");
        }
        let problem = |text: &str| etcd_endpoint(text).unwrap_err();
        assert!(problem("127.0.0.1:2379").contains("not an http:// or https:// URL"));
        assert!(problem("grpc://127.0.0.1:2379").contains("not an http:// or https:// URL"));
        assert!(problem("http://127.0.0.1").contains("has no port"));
        assert!(problem("http://127.0.0.1:0").contains("not 1 to 65535"));
        assert!(problem("http://127.0.0.1:70000").contains("not 1 to 65535"));
        assert!(problem("http://127.0.0.1:x").contains("not 1 to 65535"));
        assert!(problem("http://:2379").contains("no valid host"));
        assert!(problem("http://a..b:2379").contains("no valid host"));
        assert!(problem("http://fd00::1:2379").contains("without brackets"));
        assert!(problem("http://[fd00::1:2379").contains("without closing"));
        assert!(problem("http://[10.0.0.1]:2379").contains("not an IPv6 address"));
        assert!(problem("http://[fd00::1]").contains("has no port"));
        assert!(problem("http://127.0.0.1:2379/v3").contains("more than a host and a port"));
        assert!(problem("http://user@127.0.0.1:2379").contains("more than a host and a port"));
    }

    #[test]
    fn etcd_prefixes_are_directories() {
        assert_eq!(etcd_prefix("/podwire/"), Ok("/podwire/".to_owned()));
        assert_eq!(etcd_prefix("/a/b/"), Ok("/a/b/".to_owned()));
        assert!(etcd_prefix("podwire/").is_err());
        assert!(etcd_prefix("/podwire").is_err());
        assert!(etcd_prefix("").is_err());
    }
}
