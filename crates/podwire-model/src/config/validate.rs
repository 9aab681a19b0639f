//! From the file as written to a [`Config`]: checks every value, fills in defaults, and checks
//! what sections say about each other (unique names and addresses, routes that name an
//! interface and a gateway it can reach, L2 interfaces that name a bridge domain or a pair,
//! networks whose pod CIDRs nothing else uses, service CIDRs apart from everything else, a
//! cluster's uplink and network).
//! It records every problem and goes on, so that one run reports them all.

mod cluster;
mod l2;
mod memif;
mod network;
mod services;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt::Display;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use super::file::{
    ConfigFile, HostSection, InterfaceSection, NodeSection, PodSection, RouteSection,
};
use super::{
    Config, DEFAULT_API_SOCKET, DEFAULT_BUFFERS_PER_WORKER, DEFAULT_HOST_INTERFACE,
    DEFAULT_METRICS_LISTEN, DEFAULT_POD_INTERFACE, DEFAULT_STATE_DIR, DEFAULT_WORKERS, Device,
    FieldError, HostConfig, InterfaceConfig, InterfaceKind, KernelInterface, MemifSocket, Netns,
    NodeConfig, PodConfig, RouteConfig, XdpInterface, values,
};
use crate::cidr::Cidr;

/// The fewest buffers a worker can run with: one full vector.
const MIN_BUFFERS_PER_WORKER: u32 = 256;

/// Validates `file` as a whole; `Err` holds every problem found, in file order.
pub(super) fn validate(file: &ConfigFile) -> Result<Config, Vec<FieldError>> {
    let mut v = Validator::default();
    let node = v.node(&file.node);
    let mut interfaces: Vec<_> = file
        .interface
        .iter()
        .enumerate()
        .filter_map(|(i, raw)| v.interface(&format!("interface[{i}]"), raw, file))
        .collect();
    l2::pair_cross_connects(&mut interfaces);
    let bridge_domains: Vec<_> = file
        .bridge_domain
        .iter()
        .enumerate()
        .filter_map(|(i, raw)| v.bridge_domain(&format!("bridge_domain[{i}]"), raw))
        .collect();
    let host = match &file.host {
        None => Some(None),
        Some(raw) => v.host(raw).map(Some),
    };
    let pods: Vec<_> = file
        .pod
        .iter()
        .enumerate()
        .filter_map(|(i, raw)| v.pod(&format!("pod[{i}]"), raw))
        .collect();
    let routes: Vec<_> = file
        .route
        .iter()
        .enumerate()
        .filter_map(|(i, raw)| v.route(&format!("route[{i}]"), raw, file, &interfaces))
        .collect();
    let cluster_network = v.cluster_network(&file.cluster, file);
    let networks: Vec<_> = file
        .network
        .iter()
        .enumerate()
        .filter_map(|(i, raw)| {
            v.network(
                &format!("network[{i}]"),
                raw,
                file,
                cluster_network.as_ref(),
            )
        })
        .collect();
    let cluster = v.cluster(&file.cluster, file, &interfaces, cluster_network);
    let validated = services::Validated {
        interfaces: &interfaces,
        pods: &pods,
        networks: &networks,
        host: host.as_ref().and_then(Option::as_ref),
        cluster: cluster.as_ref(),
    };
    let services = v.services(&file.services, file, &validated);
    match (node, host, services, cluster) {
        (Some(node), Some(host), Some(services), Some(cluster)) if v.problems.is_empty() => {
            Ok(Config {
                node,
                interfaces,
                host,
                routes,
                pods,
                bridge_domains,
                networks,
                services,
                cluster,
            })
        }
        _ => Err(v.problems),
    }
}

/// The problems found so far and what earlier sections have claimed, for the uniqueness checks.
#[derive(Default)]
struct Validator {
    problems: Vec<FieldError>,
    /// podwire interface name → the field that named it.
    interface_names: HashMap<String, String>,
    /// pod name → the field that named it.
    pod_names: HashMap<String, String>,
    /// An address the switch, the host or a pod owns → the field that gave it.
    addresses: HashMap<IpAddr, String>,
    /// (namespace file or `None` for the daemon's, kernel interface name) → the field that
    /// named it: two attachments cannot share a kernel interface.
    kernel_interfaces: HashMap<(Option<PathBuf>, String), String>,
    /// Route prefix → the field that routes it.
    route_prefixes: HashMap<Cidr, String>,
    /// Bridge domain name → the field that named it.
    bridge_domain_names: HashMap<String, String>,
    /// An interface in a cross-connected pair → its partner and the field that paired them.
    cross_connects: HashMap<String, (String, String)>,
    /// A memif server's socket → the field that gave it: one interface per server socket.
    memif_servers: HashMap<MemifSocket, String>,
    /// A memif client's socket and id → the field that gave them.
    memif_clients: HashMap<(MemifSocket, u32), String>,
    /// Network name → the field that named it.
    network_names: HashMap<String, String>,
    /// The cluster's pod CIDRs (`cluster.cidrs`), then those of the networks so far, each
    /// with the field that gave it, in file order: no two networks may hand out the same
    /// addresses, nor a service CIDR any of them.
    pod_cidrs: Vec<(Cidr, String)>,
}

impl Validator {
    fn problem(&mut self, field: impl Display, problem: String) {
        self.problems.push(FieldError {
            field: field.to_string(),
            problem,
        });
    }

    /// The value of a check, or `None` after recording its problem under `field`.
    fn check<T>(&mut self, field: impl Display, result: Result<T, String>) -> Option<T> {
        result.map_err(|problem| self.problem(field, problem)).ok()
    }

    /// Checks an optional value, keeping "absent" (`Some(None)`) apart from "bad" (`None`).
    fn check_optional<T>(
        &mut self,
        field: impl Display,
        text: Option<&str>,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<Option<T>> {
        match text {
            None => Some(None),
            Some(text) => self.check(field, parse(text)).map(Some),
        }
    }

    /// Records `key` in the table `seen` as claimed by `field`; if an earlier field claimed it,
    /// records the problem `taken(earlier field)` instead.
    fn unique<K: Hash + Eq>(
        &mut self,
        seen: fn(&mut Validator) -> &mut HashMap<K, String>,
        key: K,
        field: &str,
        taken: impl FnOnce(&str) -> String,
    ) {
        match seen(self).entry(key) {
            Entry::Occupied(first) => {
                let problem = taken(first.get());
                self.problem(field, problem);
            }
            Entry::Vacant(slot) => {
                slot.insert(field.to_owned());
            }
        }
    }

    /// Claims `ip` for `field`.
    fn claim_address(&mut self, field: &str, ip: IpAddr) {
        self.unique(
            |v| &mut v.addresses,
            ip,
            field,
            |first| format!("{ip} is already used by {first}; an address belongs to one place"),
        );
    }

    /// Claims the kernel interface `name` in `netns` for `field`.
    fn claim_kernel_interface(&mut self, field: &str, netns: Option<&Netns>, name: &str) {
        let place = match netns {
            Some(netns) => format!("namespace {netns}"),
            None => "the daemon's namespace".to_owned(),
        };
        let key = (netns.map(Netns::path), name.to_owned());
        self.unique(|v| &mut v.kernel_interfaces, key, field, |first| {
            format!(
                "{name:?} in {place} is already used by {first}; each kernel interface can be attached once"
            )
        });
    }

    fn node(&mut self, raw: &NodeSection) -> Option<NodeConfig> {
        let name = self.check("node.name", values::dns_name(&raw.name));
        let api_socket = match &raw.api_socket {
            Some(text) => self.check("node.api_socket", values::absolute_path(text)),
            None => Some(PathBuf::from(DEFAULT_API_SOCKET)),
        };
        let metrics_listen = match &raw.metrics_listen {
            Some(text) => self.check("node.metrics_listen", values::socket_addr(text)),
            None => Some(DEFAULT_METRICS_LISTEN),
        };
        let state_dir = match &raw.state_dir {
            Some(text) => self.check("node.state_dir", values::absolute_path(text)),
            None => Some(PathBuf::from(DEFAULT_STATE_DIR)),
        };
        let workers = raw.workers.unwrap_or(DEFAULT_WORKERS);
        if workers == 0 {
            self.problem(
                "node.workers",
                "0 workers cannot forward anything; give at least 1".to_owned(),
            );
        }
        let buffers_per_worker = raw.buffers_per_worker.unwrap_or(DEFAULT_BUFFERS_PER_WORKER);
        if buffers_per_worker < MIN_BUFFERS_PER_WORKER {
            self.problem(
                "node.buffers_per_worker",
                format!(
                    "{buffers_per_worker} is less than one full vector; give at least {MIN_BUFFERS_PER_WORKER}"
                ),
            );
        }
        Some(NodeConfig {
            name: name?,
            api_socket: api_socket?,
            metrics_listen: metrics_listen?,
            workers,
            buffers_per_worker,
            state_dir: state_dir?,
        })
    }

    fn interface(
        &mut self,
        at: &str,
        raw: &InterfaceSection,
        file: &ConfigFile,
    ) -> Option<InterfaceConfig> {
        let name_field = format!("{at}.name");
        let name = self.check(&name_field, values::interface_name(&raw.name));
        if let Some(name) = &name {
            self.unique(
                |v| &mut v.interface_names,
                name.clone(),
                &name_field,
                |first| format!("{name:?} is already the name of {first}; names must be unique"),
            );
        }

        if raw.kind != InterfaceKind::AfXdp && raw.xdp_queue.is_some() {
            self.problem(
                format!("{at}.xdp_queue"),
                format!(
                    "only an af-xdp interface has xdp_queue, and this one is kind = \"{}\"; remove it or set kind = \"af-xdp\"",
                    raw.kind
                ),
            );
        }
        let device = match raw.kind {
            InterfaceKind::AfPacket => {
                let kernel = self.kernel_interface(at, raw, name.as_deref());
                kernel.map(Device::AfPacket)
            }
            InterfaceKind::AfXdp => {
                let kernel = self.kernel_interface(at, raw, name.as_deref());
                kernel.map(|kernel| {
                    Device::AfXdp(XdpInterface {
                        kernel,
                        queue: raw.xdp_queue.unwrap_or(0),
                    })
                })
            }
            InterfaceKind::Tap => self
                .kernel_interface(at, raw, name.as_deref())
                .map(Device::Tap),
            InterfaceKind::Memif => self.memif(at, raw, name.as_deref()).map(Device::Memif),
        };

        let mut addresses = Vec::with_capacity(raw.addresses.len());
        for (j, text) in raw.addresses.iter().enumerate() {
            let field = format!("{at}.addresses[{j}]");
            let checked = values::cidr(text).and_then(|cidr| {
                values::interface_address(cidr)?;
                Ok(cidr)
            });
            if let Some(cidr) = self.check(&field, checked) {
                self.claim_address(&field, cidr.addr());
                addresses.push(cidr);
            }
        }
        let carries_ipv6 = addresses.iter().any(|cidr| cidr.addr().is_ipv6());
        let mtu = raw.mtu.map(|mtu| values::mtu(mtu, carries_ipv6));
        let mtu = self.check(format!("{at}.mtu"), mtu.transpose());
        let forwarding = self.forwarding(at, raw, file);

        if addresses.len() != raw.addresses.len() {
            // Leave the interface out so that routes are not checked against part of its subnets.
            return None;
        }
        Some(InterfaceConfig {
            name: name?,
            device: device?,
            addresses,
            mtu: mtu?,
            forwarding: forwarding?,
        })
    }

    /// The kernel interface of an `af-packet`, `af-xdp` or `tap` interface (`name` is podwire's name for
    /// it, when valid), which has no memif keys.
    fn kernel_interface(
        &mut self,
        at: &str,
        raw: &InterfaceSection,
        name: Option<&str>,
    ) -> Option<KernelInterface> {
        self.refuse_memif_keys(at, raw);
        let host_field = format!("{at}.host_interface");
        let host_interface = match (&raw.host_interface, raw.kind) {
            (Some(text), _) => self.check(&host_field, values::interface_name(text)),
            (None, kind) if kind.attaches_existing() => {
                self.problem(
                    &host_field,
                    format!(
                        "missing: kind \"{kind}\" attaches an existing kernel interface; name it here"
                    ),
                );
                None
            }
            // A tap is created under podwire's name for it.
            (None, _) => name.map(str::to_owned),
        };
        let netns = self.check_optional(format!("{at}.netns"), raw.netns.as_deref(), values::netns);
        if let (Some(host_interface), Some(netns)) = (&host_interface, &netns) {
            self.claim_kernel_interface(&host_field, netns.as_ref(), host_interface);
        }
        Some(KernelInterface {
            name: host_interface?,
            netns: netns?,
        })
    }

    fn host(&mut self, raw: &HostSection) -> Option<HostConfig> {
        let interface = raw.interface.as_deref().unwrap_or(DEFAULT_HOST_INTERFACE);
        let interface = self.check("host.interface", values::interface_name(interface));
        if let Some(interface) = &interface {
            self.claim_kernel_interface("host.interface", None, interface);
        }
        let address4 = self.check_optional("host.address4", raw.address4.as_deref(), |text| {
            values::address_of_family::<Ipv4Addr>(text, "host.address6")
        });
        let address6 = self.check_optional("host.address6", raw.address6.as_deref(), |text| {
            values::address_of_family::<Ipv6Addr>(text, "host.address4")
        });
        if let Some(Some(ip)) = address4 {
            self.claim_address("host.address4", ip.into());
        }
        if let Some(Some(ip)) = address6 {
            self.claim_address("host.address6", ip.into());
        }
        let routes = raw
            .routes
            .iter()
            .enumerate()
            .filter_map(|(j, text)| self.check(format!("host.routes[{j}]"), values::prefix(text)))
            .collect();
        Some(HostConfig {
            interface: interface?,
            address4: address4?,
            address6: address6?,
            routes,
        })
    }

    fn pod(&mut self, at: &str, raw: &PodSection) -> Option<PodConfig> {
        let name_field = format!("{at}.name");
        let name = self.check(&name_field, values::dns_name(&raw.name));
        if let Some(name) = &name {
            self.unique(
                |v| &mut v.pod_names,
                name.clone(),
                &name_field,
                |first| {
                    format!("{name:?} is already the name of {first}; pod names must be unique")
                },
            );
        }
        let netns = self.check(format!("{at}.netns"), values::netns(&raw.netns));
        let interface_field = format!("{at}.interface");
        let interface = raw.interface.as_deref().unwrap_or(DEFAULT_POD_INTERFACE);
        let interface = self.check(&interface_field, values::interface_name(interface));
        if let (Some(netns), Some(interface)) = (&netns, &interface) {
            self.claim_kernel_interface(&interface_field, Some(netns), interface);
        }

        if raw.addresses.is_empty() {
            self.problem(
                format!("{at}.addresses"),
                "empty: a pod needs at least one address".to_owned(),
            );
        }
        let mut addresses = Vec::with_capacity(raw.addresses.len());
        for (j, text) in raw.addresses.iter().enumerate() {
            let field = format!("{at}.addresses[{j}]");
            let checked = values::ip(text).and_then(|ip| {
                values::pod_address(ip)?;
                Ok(ip)
            });
            let Some(ip) = self.check(&field, checked) else {
                continue;
            };
            if let Some(same_family) = addresses
                .iter()
                .find(|a: &&IpAddr| a.is_ipv4() == ip.is_ipv4())
            {
                self.problem(
                    &field,
                    format!(
                        "{ip} is a second address of the family of {same_family}; a pod has at most one IPv4 and one IPv6 address"
                    ),
                );
                continue;
            }
            self.claim_address(&field, ip);
            addresses.push(ip);
        }
        let carries_ipv6 = addresses.iter().any(IpAddr::is_ipv6);
        let mtu = raw.mtu.map(|mtu| values::mtu(mtu, carries_ipv6));
        let mtu = self.check(format!("{at}.mtu"), mtu.transpose());

        Some(PodConfig {
            name: name?,
            netns: netns?,
            interface: interface?,
            addresses,
            mtu: mtu?,
        })
    }

    /// `interfaces` are the valid `[[interface]]` sections; `file` has them all, for names.
    fn route(
        &mut self,
        at: &str,
        raw: &RouteSection,
        file: &ConfigFile,
        interfaces: &[InterfaceConfig],
    ) -> Option<RouteConfig> {
        let prefix_field = format!("{at}.prefix");
        let prefix = self.check(&prefix_field, values::prefix(&raw.prefix));
        if let Some(prefix) = prefix {
            self.unique(
                |v| &mut v.route_prefixes,
                prefix,
                &prefix_field,
                |first| {
                    format!("{prefix} is already routed by {first}; give each prefix one route")
                },
            );
        }

        let interface_field = format!("{at}.interface");
        if !file.interface.iter().any(|i| i.name == raw.interface) {
            let names: Vec<_> = file.interface.iter().map(|i| i.name.as_str()).collect();
            let choices = if names.is_empty() {
                "there are no [[interface]] sections; add one".to_owned()
            } else {
                format!("name one of {}", names.join(", "))
            };
            self.problem(
                &interface_field,
                format!("there is no interface named {:?}; {choices}", raw.interface),
            );
        } else if let Some(l2) = l2::layer2_reason(file, &raw.interface) {
            self.problem(
                &interface_field,
                format!(
                    "interface {:?} forwards by MAC ({l2}); a route leaves through a routed interface, one with addresses",
                    raw.interface
                ),
            );
        }

        let via_field = format!("{at}.via");
        let via = self.check_optional(&via_field, raw.via.as_deref(), values::ip);
        if let (Some(prefix), Some(Some(via))) = (prefix, via) {
            let interface = interfaces.iter().find(|i| i.name == raw.interface);
            self.check(&via_field, gateway(via, prefix, interface));
        }

        Some(RouteConfig {
            prefix: prefix?,
            via: via?,
            interface: raw.interface.clone(),
        })
    }
}

/// The subnet of every `[[interface]]` address that parses, with where it is: (interface
/// index, address index, interface name, subnet). A malformed address is reported with its
/// interface, not by the checks that use these.
fn interface_subnets(file: &ConfigFile) -> impl Iterator<Item = (usize, usize, &str, Cidr)> {
    file.interface
        .iter()
        .enumerate()
        .flat_map(|(i, interface)| {
            interface
                .addresses
                .iter()
                .enumerate()
                .filter_map(move |(j, text)| {
                    let subnet = values::cidr(text).ok()?.network();
                    Some((i, j, interface.name.as_str(), subnet))
                })
        })
}

/// The `[host]` addresses that parse, by key (`address4`, `address6`).
fn host_addresses(file: &ConfigFile) -> impl Iterator<Item = (&'static str, IpAddr)> {
    file.host.iter().flat_map(|host| {
        [("address4", &host.address4), ("address6", &host.address6)]
            .into_iter()
            .filter_map(|(key, text)| Some((key, values::ip(text.as_deref()?).ok()?)))
    })
}

/// Whether two prefixes share an address: one holds the other's first address.
fn overlap(a: Cidr, b: Cidr) -> bool {
    a.contains(b.network().addr()) || b.contains(a.network().addr())
}

/// "IPv4" or "IPv6".
fn family(addr: IpAddr) -> &'static str {
    if addr.is_ipv4() { "IPv4" } else { "IPv6" }
}

/// A route's gateway must be of the prefix's family and, when the route's interface is known
/// (`Some`), inside one of its subnets: otherwise it could never be resolved.
fn gateway(via: IpAddr, prefix: Cidr, interface: Option<&InterfaceConfig>) -> Result<(), String> {
    if via.is_ipv4() != prefix.addr().is_ipv4() {
        return Err(format!(
            "{via} and the prefix {prefix} are of different IP families; give a gateway of the prefix's family"
        ));
    }
    let Some(interface) = interface else {
        return Ok(());
    };
    if interface
        .addresses
        .iter()
        .any(|subnet| subnet.contains(via))
    {
        return Ok(());
    }
    let subnets: Vec<_> = interface.addresses.iter().map(Cidr::to_string).collect();
    let subnets = if subnets.is_empty() {
        "it has no addresses".to_owned()
    } else {
        format!("its addresses: {}", subnets.join(", "))
    };
    Err(format!(
        "{via} is not in a subnet of interface {:?} ({subnets}); give a gateway on that link, or give the interface an address whose subnet covers it",
        interface.name
    ))
}
