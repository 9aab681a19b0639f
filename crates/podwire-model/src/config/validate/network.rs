//! `[[network]]`: the networks pods attach to through the CNI plugin. The agent's IPAM hands
//! out every address of a network's pod CIDRs, so those must be addresses nothing else in the
//! file owns or routes: no other network, no interface's subnet, not the host's tap, not a
//! `[[pod]]`, no `[[route]]` inside them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::super::NetworkConfig;
use super::super::NetworkForwarding;
use super::super::file::{ConfigFile, NetworkSection};
use super::cluster::ClusterNetwork;
use super::{Validator, family, host_addresses, interface_subnets, overlap, values};
use crate::attach::AttachmentKind;
use crate::cidr::Cidr;

/// The longest network name: a DNS label, as it appears in interface and file names.
const NETWORK_NAME_MAX: usize = 63;
/// The longest IPv4 pod CIDR prefix: a /30 still has two addresses besides the network and
/// broadcast addresses.
const MAX_PREFIX_LEN_V4: u8 = 30;
/// The longest IPv6 pod CIDR prefix, keeping at least four addresses like IPv4's /30.
const MAX_PREFIX_LEN_V6: u8 = 126;
/// The smallest MTU of a pod network: the smallest datagram every IPv4 host must accept.
const MTU_MIN: u32 = 576;
/// The smallest MTU IPv6 allows.
const MTU_MIN_V6: u32 = 1280;
/// The largest MTU an interface can have.
const MTU_MAX: u32 = 65535;

/// Address ranges a pod CIDR must not touch, and what they are: pods could not use or route
/// such addresses (and the pods' link-local gateways live in two of them).
const UNUSABLE_RANGES: [(&str, &str); 9] = [
    (
        "0.0.0.0/8",
        "\"this network\" range, which is not a source address",
    ),
    ("127.0.0.0/8", "loopback range"),
    (
        "169.254.0.0/16",
        "link-local range, which other pods and nodes cannot route to",
    ),
    ("224.0.0.0/4", "multicast range"),
    ("240.0.0.0/4", "reserved range (and the broadcast address)"),
    ("::/127", "unspecified and loopback addresses"),
    ("::ffff:0:0/96", "IPv4-mapped range"),
    (
        "fe80::/10",
        "link-local range, which other pods and nodes cannot route to",
    ),
    ("ff00::/8", "multicast range"),
];

/// What the pod CIDR checks found out about a list of pod CIDRs: a network's `pod_cidrs`,
/// or `cluster.cidrs`.
pub(super) struct PodCidrs {
    /// Those that passed every check.
    pub valid: Vec<Cidr>,
    /// Those that parse as prefixes: which families the pods have, as far as is known.
    pub parsed: Vec<Cidr>,
    /// Whether every one of them parsed, so that `parsed` names all the pods' families.
    pub all_parsed: bool,
    /// Whether the key was given, non-empty and every CIDR passed.
    pub ok: bool,
}

impl PodCidrs {
    /// The outcome of a list that is missing or empty: no families known, not ok.
    pub(super) fn missing() -> PodCidrs {
        PodCidrs {
            valid: Vec::new(),
            parsed: Vec::new(),
            all_parsed: false,
            ok: false,
        }
    }
}

impl Validator {
    /// The `[[network]]` at `at`; `file` has the other sections the pod CIDRs must not touch.
    /// `cluster` is what `[cluster]` says with a cluster source: which network is the
    /// cluster's, whose pod CIDRs are not in the file.
    pub(super) fn network(
        &mut self,
        at: &str,
        raw: &NetworkSection,
        file: &ConfigFile,
        cluster: Option<&ClusterNetwork>,
    ) -> Option<NetworkConfig> {
        let forwarding = raw.forwarding.unwrap_or(NetworkForwarding::Routed);
        let name = self.network_name(at, raw, forwarding, file);
        let cidrs = match cluster.filter(|c| c.name.as_deref() == Some(raw.name.as_str())) {
            Some(cluster) => self.cluster_network_cidrs(at, raw, forwarding, cluster),
            None => self.pod_cidrs(at, raw, file),
        };
        let mtu = self.network_mtu(at, raw.mtu, &cidrs.parsed);
        let pod_routes = self.pod_routes(at, raw, forwarding, &cidrs);
        Some(NetworkConfig {
            name: name?,
            pod_cidrs: cidrs.ok.then_some(cidrs.valid)?,
            interface: raw.interface.unwrap_or(AttachmentKind::Tap),
            forwarding,
            mtu: mtu?,
            pod_routes: pod_routes?,
        })
    }

    /// A DNS label, unique among networks, and not a bridge domain's name when the network
    /// makes a bridge domain of its own.
    fn network_name(
        &mut self,
        at: &str,
        raw: &NetworkSection,
        forwarding: NetworkForwarding,
        file: &ConfigFile,
    ) -> Option<String> {
        let field = format!("{at}.name");
        let name = self.check(&field, network_name(&raw.name))?;
        self.unique(
            |v| &mut v.network_names,
            name.clone(),
            &field,
            |first| {
                format!("{name:?} is already the name of {first}; network names must be unique")
            },
        );
        if forwarding == NetworkForwarding::Bridged
            && let Some(i) = file.bridge_domain.iter().position(|b| b.name == name)
        {
            self.problem(
                &field,
                format!(
                    "{name:?} is also the name of bridge_domain[{i}]; a bridged network makes a bridge domain named after itself, so rename the network or the [[bridge_domain]]"
                ),
            );
        }
        Some(name)
    }

    /// A network's `pod_cidrs`: given and not empty, then as [`Validator::pod_cidr_list`].
    fn pod_cidrs(&mut self, at: &str, raw: &NetworkSection, file: &ConfigFile) -> PodCidrs {
        let field = format!("{at}.pod_cidrs");
        match raw.pod_cidrs.as_deref() {
            None => {
                self.problem(
                    &field,
                    "missing: give the network's pod CIDRs, one or two (one IPv4, one IPv6), e.g. pod_cidrs = [\"10.244.0.0/24\", \"fd00:244::/112\"]".to_owned(),
                );
                PodCidrs::missing()
            }
            Some([]) => {
                self.problem(
                    &field,
                    "empty: the network has no addresses to give pods; give one or two pod CIDRs (one IPv4, one IPv6)".to_owned(),
                );
                PodCidrs::missing()
            }
            Some(texts) => self.pod_cidr_list(&field, texts, "a network", file),
        }
    }

    /// Checks each pod CIDR of the list at `field` on its own, then against everything else
    /// that owns addresses, and claims the valid ones. `holder` ("a network", "the cluster")
    /// has at most one per family.
    pub(super) fn pod_cidr_list(
        &mut self,
        field: &str,
        texts: &[String],
        holder: &str,
        file: &ConfigFile,
    ) -> PodCidrs {
        let mut cidrs = PodCidrs {
            valid: Vec::new(),
            parsed: Vec::new(),
            all_parsed: true,
            ok: true,
        };
        if texts.len() > 2 {
            self.problem(
                field,
                format!(
                    "{} CIDRs given; {holder} has at most two, one IPv4 and one IPv6",
                    texts.len()
                ),
            );
            cidrs.ok = false;
        }
        for (j, text) in texts.iter().enumerate() {
            let field = format!("{field}[{j}]");
            let Some(cidr) = self.check(&field, values::prefix(text)) else {
                cidrs.all_parsed = false;
                cidrs.ok = false;
                continue;
            };
            let alone = pod_cidr_alone(cidr).and_then(|()| match cidrs
                .parsed
                .iter()
                .find(|other| other.addr().is_ipv4() == cidr.addr().is_ipv4())
            {
                Some(other) => Err(format!(
                    "{cidr} is a second {} pod CIDR besides {other}; {holder} has at most one per family",
                    family(cidr.addr())
                )),
                None => Ok(()),
            });
            cidrs.parsed.push(cidr);
            if self.check(&field, alone).is_none() {
                cidrs.ok = false;
                continue;
            }
            let conflicts = self.pod_cidr_conflicts(cidr, file);
            self.pod_cidrs.push((cidr, field.clone()));
            if conflicts.is_empty() {
                cidrs.valid.push(cidr);
            } else {
                cidrs.ok = false;
                for problem in conflicts {
                    self.problem(&field, problem);
                }
            }
        }
        cidrs
    }

    /// The problems of the pod CIDR `cidr` with the rest of the file: each thing that owns or
    /// routes some of its addresses.
    fn pod_cidr_conflicts(&self, cidr: Cidr, file: &ConfigFile) -> Vec<String> {
        let mut conflicts = Vec::new();
        for (other, other_field) in &self.pod_cidrs {
            if overlap(cidr, *other) {
                conflicts.push(format!(
                    "{cidr} overlaps {other}, the pod CIDR of {other_field}; each network hands out addresses of its own: choose a CIDR that overlaps no other network's"
                ));
            }
        }
        for (i, j, name, subnet) in interface_subnets(file) {
            if overlap(cidr, subnet) {
                conflicts.push(format!(
                    "{cidr} overlaps {subnet}, the subnet of interface[{i}].addresses[{j}] ({name:?}); the switch could not tell a pod from a neighbor on that link: choose a pod CIDR outside the interfaces' subnets"
                ));
            }
        }
        for (key, ip) in host_addresses(file) {
            if cidr.contains(ip) {
                conflicts.push(format!(
                    "{cidr} contains host.{key} ({ip}), the host tap's own address, which the IPAM could hand to a pod; give the host an address outside the pod CIDRs"
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
                        "{cidr} contains pod[{i}].addresses[{j}] ({ip}), an address of [[pod]] {:?}; the IPAM would hand it out a second time: give that pod an address outside the pod CIDRs, or choose another pod CIDR",
                        pod.name
                    ));
                }
            }
        }
        for (i, route) in file.route.iter().enumerate() {
            let Ok(prefix) = values::prefix(&route.prefix) else {
                continue;
            };
            // A route covering the pod CIDR is normal (other nodes' pods); one inside it would
            // take traffic for this node's pods away to `interface`.
            if prefix.prefix_len() >= cidr.prefix_len() && cidr.contains(prefix.addr()) {
                conflicts.push(format!(
                    "{cidr} contains route[{i}].prefix ({prefix}), which would send this network's pods' traffic out of interface {:?}; route only prefixes outside the pod CIDRs",
                    route.interface
                ));
            }
        }
        conflicts
    }

    /// The MTU when given, at least 1280 when the network has an IPv6 pod CIDR among
    /// `pod_cidrs`: `Some(None)` when not given, `None` when it is wrong.
    fn network_mtu(
        &mut self,
        at: &str,
        mtu: Option<u32>,
        pod_cidrs: &[Cidr],
    ) -> Option<Option<u32>> {
        let Some(mtu) = mtu else {
            return Some(None);
        };
        let ipv6 = pod_cidrs.iter().find(|cidr| cidr.addr().is_ipv6());
        let problem = if !(MTU_MIN..=MTU_MAX).contains(&mtu) {
            format!("{mtu} is out of range; a network's MTU is from {MTU_MIN} to {MTU_MAX}")
        } else if let Some(ipv6) = ipv6.filter(|_| mtu < MTU_MIN_V6) {
            format!(
                "{mtu} is below {MTU_MIN_V6}, the smallest MTU IPv6 allows, and this network has the IPv6 pod CIDR {ipv6}; give at least {MTU_MIN_V6}"
            )
        } else {
            return Some(Some(mtu));
        };
        self.problem(format!("{at}.mtu"), problem);
        None
    }

    /// The routes a routed network's pods get; by default a default route per family it has.
    fn pod_routes(
        &mut self,
        at: &str,
        raw: &NetworkSection,
        forwarding: NetworkForwarding,
        cidrs: &PodCidrs,
    ) -> Option<Vec<Cidr>> {
        let field = format!("{at}.pod_routes");
        let texts = match (&raw.pod_routes, forwarding) {
            (None, NetworkForwarding::Bridged) => return Some(Vec::new()),
            (None, NetworkForwarding::Routed) => {
                let routes = cidrs.parsed.iter().filter_map(|c| default_route(c.addr()));
                return Some(routes.collect());
            }
            (Some(texts), NetworkForwarding::Bridged) if !texts.is_empty() => {
                self.problem(
                    &field,
                    "pod_routes is for routed networks; a bridged network gives no gateway: remove pod_routes, or set forwarding = \"routed\"".to_owned(),
                );
                return None;
            }
            (Some(texts), _) => texts,
        };
        // Each valid route with its index in `texts`.
        let mut routes: Vec<(Cidr, usize)> = Vec::with_capacity(texts.len());
        let mut ok = true;
        for (j, text) in texts.iter().enumerate() {
            let field = format!("{at}.pod_routes[{j}]");
            let checked = values::prefix(text).and_then(|route| {
                if let Some(&(_, k)) = routes.iter().find(|(r, _)| *r == route) {
                    return Err(format!(
                        "{route} is already {at}.pod_routes[{k}]; give each route once"
                    ));
                }
                let family_known = cidrs.all_parsed && !cidrs.parsed.is_empty();
                let of_family = |c: &Cidr| c.addr().is_ipv4() == route.addr().is_ipv4();
                if family_known && !cidrs.parsed.iter().any(of_family) {
                    let family = family(route.addr());
                    return Err(format!(
                        "{route} is an {family} route, but the network has no {family} pod CIDR, so its pods have no {family} address to route from; remove the route or add an {family} pod CIDR"
                    ));
                }
                Ok(route)
            });
            match self.check(&field, checked) {
                Some(route) => routes.push((route, j)),
                None => ok = false,
            }
        }
        ok.then(|| routes.into_iter().map(|(route, _)| route).collect())
    }
}

/// A network's name: a DNS label (RFC 1123), 1 to 63 of `[a-z0-9-]`, starting and ending
/// with a letter or a digit.
fn network_name(text: &str) -> Result<String, String> {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if text.is_empty() || text.len() > NETWORK_NAME_MAX {
        Err(format!(
            "{text:?} is {} bytes long; a network name has 1 to {NETWORK_NAME_MAX}",
            text.len()
        ))
    } else if let Some(bad) = text.chars().find(|&c| !alnum(c) && c != '-') {
        Err(format!(
            "{text:?} contains {bad:?}; a network name is a DNS label (it appears in interface and file names): only lowercase letters, digits and '-'"
        ))
    } else if !text.starts_with(alnum) || !text.ends_with(alnum) {
        Err(format!(
            "{text:?} must start and end with a lowercase letter or a digit (a DNS label)"
        ))
    } else {
        Ok(text.to_owned())
    }
}

/// The checks of a pod CIDR that need nothing else: room for pods, and addresses pods can use.
fn pod_cidr_alone(cidr: Cidr) -> Result<(), String> {
    let (max, example) = match cidr.addr() {
        IpAddr::V4(_) => (MAX_PREFIX_LEN_V4, "/24 gives 254 pods"),
        IpAddr::V6(_) => (MAX_PREFIX_LEN_V6, "/112 gives 65534 pods"),
    };
    if cidr.prefix_len() > max {
        return Err(format!(
            "{cidr} is too small to hand out addresses; give an {} prefix of /{max} or shorter ({example})",
            family(cidr.addr())
        ));
    }
    for (range, what) in unusable_ranges() {
        if overlap(cidr, range) {
            return Err(format!(
                "{cidr} overlaps {range}, the {what}; choose a pod CIDR of unicast addresses that can be routed (e.g. private 10.0.0.0/8 or fd00::/8)"
            ));
        }
    }
    Ok(())
}

/// [`UNUSABLE_RANGES`] as prefixes.
fn unusable_ranges() -> impl Iterator<Item = (Cidr, &'static str)> {
    UNUSABLE_RANGES
        .iter()
        .filter_map(|(range, what)| Some((range.parse().ok()?, *what)))
}

/// The default route of `addr`'s family (always `Some`: a length of 0 fits either family).
fn default_route(addr: IpAddr) -> Option<Cidr> {
    let any = match addr {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    Cidr::new(any, 0).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(text: &str) -> Cidr {
        text.parse().expect("test CIDR parses")
    }

    #[test]
    fn every_unusable_range_parses() {
        assert_eq!(unusable_ranges().count(), UNUSABLE_RANGES.len());
    }

    #[test]
    fn overlap_holds_both_ways_and_not_across_families() {
        assert!(overlap(cidr("10.0.0.0/8"), cidr("10.1.0.0/16")));
        assert!(overlap(cidr("10.1.0.0/16"), cidr("10.0.0.0/8")));
        assert!(overlap(cidr("10.1.0.0/16"), cidr("10.1.0.0/16")));
        assert!(!overlap(cidr("10.1.0.0/16"), cidr("10.2.0.0/16")));
        assert!(!overlap(cidr("0.0.0.0/0"), cidr("::/0")));
        assert!(overlap(cidr("fd00::/8"), cidr("fd00:1::/112")));
    }

    #[test]
    fn default_routes_are_per_family() {
        assert_eq!(
            default_route("10.0.0.0".parse().unwrap()),
            Some(cidr("0.0.0.0/0"))
        );
        assert_eq!(default_route("fd00::".parse().unwrap()), Some(cidr("::/0")));
    }

    #[test]
    fn network_names_are_dns_labels() {
        assert!(network_name("default").is_ok());
        assert!(network_name("net-2").is_ok());
        assert!(network_name(&"a".repeat(63)).is_ok());
        assert!(
            network_name(&"a".repeat(64))
                .unwrap_err()
                .contains("64 bytes")
        );
        assert!(network_name("").is_err());
        assert!(network_name("Net").unwrap_err().contains("'N'"));
        assert!(network_name("a.b").unwrap_err().contains("'.'"));
        assert!(network_name("a_b").unwrap_err().contains("'_'"));
        assert!(network_name("-a").unwrap_err().contains("start and end"));
        assert!(network_name("a-").unwrap_err().contains("start and end"));
    }
}
