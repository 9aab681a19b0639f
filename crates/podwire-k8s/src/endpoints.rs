//! EndpointSlice semantics.
//!
//! - [`categorize`]: which endpoints a Service port's traffic may use, per kube-proxy's
//!   `CategorizeEndpoints`: Cluster traffic uses ready endpoints, or when none is ready
//!   anywhere the serving-terminating ones; Local traffic the local ready ones, or the local
//!   serving-terminating ones (decided on its own). Not-serving terminating endpoints are
//!   never used. Conditions: `ready` absent is true, `serving` absent is true,
//!   `terminating` absent is false. Only an endpoint's first address counts, and only when
//!   it is of the slice's `addressType` (FQDN slices are ignored, as kube-proxy does);
//!   duplicates across slices are merged (an endpoint that one slice says is local stays
//!   local). Slices are matched to the Service port by port name and protocol (a slice port
//!   without a name is the unnamed port, without a protocol TCP, as the API server's
//!   defaulting makes them); a slice port without a number contributes nothing. Topology
//!   hints (`hints.forZones` / `forNodes`, `trafficDistribution`) are ignored: podwire does
//!   not know nodes' zones, and without hints kube-proxy uses every ready endpoint too.
//! - [`derive_slices`]: what the EndpointSlice controller would make for a Service with a
//!   selector, from the Pods it selects (used on one machine, where no controller runs):
//!   one slice per address family of the Service (its `ipFamilies`, else those of its
//!   ClusterIPs, else both), named `<service>-podwire-<family>`, labelled
//!   `kubernetes.io/service-name` and `endpointslice.kubernetes.io/managed-by:
//!   podwire`, with named target ports resolved against each Pod's container ports, and
//!   conditions from the Pod (ready = its Ready condition, absent counts as true, or
//!   `publishNotReadyAddresses`; terminating = it has a deletionTimestamp). Pods whose named
//!   ports resolve to different numbers need different slices (a slice has one port list):
//!   the first group of a family gets the name above, the next ones `-2`, `-3`, ... in the
//!   order of the Pods' names. A Pod in phase Succeeded or Failed, or without an address,
//!   is no endpoint; a Pod whose named target port is not among its containers' ports (of
//!   the Service port's protocol) is no endpoint of that port.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};

use k8s_openapi::api::core::v1::{ObjectReference, Pod, Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::object::namespace_of;
use crate::policy::selector::matches_labels;
use crate::services::cluster_ips;
use crate::validate::{SERVICE_NAME_LABEL, protocol_of};

/// The label that says who made an EndpointSlice.
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";

/// What podwire writes in [`MANAGED_BY_LABEL`] on the slices it derives.
pub const MANAGED_BY: &str = "podwire";

/// A Pod with what podwire knows of it beyond the object: its addresses (from its
/// attachment on this node, else its `status.podIPs`) and its node.
#[derive(Debug, Clone)]
pub struct PodInfo<'a> {
    /// The Pod.
    pub pod: &'a Pod,
    /// Its addresses.
    pub ips: Vec<IpAddr>,
    /// The node it runs on.
    pub node: Option<String>,
}

/// The endpoints of one Service port, categorized.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Categorized {
    /// What Cluster-policy traffic may use.
    pub cluster: Vec<SocketAddr>,
    /// What Local-policy traffic may use (endpoints whose `nodeName` is this node).
    pub local: Vec<SocketAddr>,
    /// Every serving endpoint, ready or terminating, anywhere.
    pub serving: Vec<IpAddr>,
    /// Local endpoints that are ready (for the health check).
    pub local_ready: usize,
}

/// The endpoints of the Service port named `port_name` (protocol `protocol`: "TCP", "UDP",
/// "SCTP") in `slices`, for node `node`.
pub fn categorize(
    slices: &[&EndpointSlice],
    port_name: &str,
    protocol: &str,
    node: &str,
) -> Categorized {
    categorize_endpoints(&port_endpoints(slices, port_name, protocol, node))
}

/// One endpoint of a Service port as kube-proxy sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PortEndpoint {
    /// Its address and port.
    pub addr: SocketAddr,
    /// Whether its `nodeName` is this node.
    pub local: bool,
    /// `conditions.ready`.
    pub ready: bool,
    /// `conditions.serving`.
    pub serving: bool,
    /// `conditions.terminating`.
    pub terminating: bool,
}

impl PortEndpoint {
    fn serving_terminating(&self) -> bool {
        self.serving && self.terminating
    }
}

/// The endpoints of one Service port in `slices`, merged and sorted by address.
pub(crate) fn port_endpoints(
    slices: &[&EndpointSlice],
    port_name: &str,
    protocol: &str,
    node: &str,
) -> Vec<PortEndpoint> {
    let mut merged: BTreeMap<SocketAddr, PortEndpoint> = BTreeMap::new();
    for slice in slices {
        let v6 = match slice.address_type.as_str() {
            "IPv4" => false,
            "IPv6" => true,
            _ => continue,
        };
        let numbers = slice.ports.iter().flatten().filter_map(|port| {
            let matches = port.name.as_deref().unwrap_or("") == port_name
                && protocol_of(&port.protocol) == protocol;
            let number = port
                .port
                .and_then(|n| u16::try_from(n).ok())
                .filter(|&n| n != 0);
            number.filter(|_| matches)
        });
        for number in numbers {
            for endpoint in slice.endpoints.iter().flatten() {
                let Some(ip) = endpoint
                    .addresses
                    .first()
                    .and_then(|a| a.parse::<IpAddr>().ok())
                else {
                    continue;
                };
                if ip.is_ipv6() != v6 {
                    continue;
                }
                let conditions = endpoint.conditions.clone().unwrap_or_default();
                let found = PortEndpoint {
                    addr: SocketAddr::new(ip, number),
                    local: !node.is_empty() && endpoint.node_name.as_deref() == Some(node),
                    ready: conditions.ready.unwrap_or(true),
                    serving: conditions.serving.unwrap_or(true),
                    terminating: conditions.terminating.unwrap_or(false),
                };
                // Like kube-proxy, the first slice's endpoint wins unless a later one says
                // it is local.
                match merged.get(&found.addr) {
                    Some(seen) if seen.local || !found.local => {}
                    _ => {
                        merged.insert(found.addr, found);
                    }
                }
            }
        }
    }
    merged.into_values().collect()
}

/// kube-proxy's `CategorizeEndpoints` over the endpoints of one Service port.
pub(crate) fn categorize_endpoints(endpoints: &[PortEndpoint]) -> Categorized {
    let pick = |keep: &dyn Fn(&PortEndpoint) -> bool| -> Vec<SocketAddr> {
        endpoints
            .iter()
            .filter(|e| keep(e))
            .map(|e| e.addr)
            .collect()
    };
    let mut cluster = pick(&|e| e.ready);
    if cluster.is_empty() {
        cluster = pick(&|e| e.serving_terminating());
    }
    let mut local = pick(&|e| e.local && e.ready);
    if local.is_empty() {
        local = pick(&|e| e.local && e.serving_terminating());
    }
    let serving: BTreeSet<IpAddr> = endpoints
        .iter()
        .filter(|e| e.serving)
        .map(|e| e.addr.ip())
        .collect();
    Categorized {
        cluster,
        local,
        serving: serving.into_iter().collect(),
        local_ready: endpoints.iter().filter(|e| e.local && e.ready).count(),
    }
}

/// The slices the EndpointSlice controller would make for `service` from `pods` (all Pods
/// of the store with what is known of them; the selector, namespace and addresses decide
/// which count). A Service without a selector gets none.
pub fn derive_slices(service: &Service, pods: &[PodInfo<'_>]) -> Vec<EndpointSlice> {
    let Some(spec) = &service.spec else {
        return Vec::new();
    };
    // An empty selector selects nothing here: the API server drops an empty map, and a
    // Service without a selector has its slices written by someone else.
    let Some(selector) = spec.selector.as_ref().filter(|s| !s.is_empty()) else {
        return Vec::new();
    };
    let namespace = namespace_of(&service.metadata);
    let service_name = service.metadata.name.clone().unwrap_or_default();
    let publish_not_ready = spec.publish_not_ready_addresses.unwrap_or(false);
    let service_ports = spec.ports.as_deref().unwrap_or_default();

    let mut selected: Vec<&PodInfo<'_>> = pods
        .iter()
        .filter(|info| {
            let pod = info.pod;
            let labels = pod.metadata.labels.as_ref();
            let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
            namespace_of(&pod.metadata) == namespace
                && matches_labels(selector, labels)
                && !matches!(phase, Some("Succeeded" | "Failed"))
                && !info.ips.is_empty()
        })
        .collect();
    selected.sort_by(|a, b| a.pod.metadata.name.cmp(&b.pod.metadata.name));

    // (address type, ports) → endpoints, in the order the groups appear.
    let mut groups: Vec<(&str, Vec<EndpointPort>, Vec<Endpoint>)> = Vec::new();
    for info in selected {
        let ports: Vec<EndpointPort> = service_ports
            .iter()
            .filter_map(|port| endpoint_port(port, info.pod))
            .collect();
        for address_type in address_types(spec) {
            let Some(ip) = info
                .ips
                .iter()
                .find(|ip| ip.is_ipv6() == (address_type == "IPv6"))
            else {
                continue;
            };
            let endpoint = pod_endpoint(info, *ip, publish_not_ready);
            match groups
                .iter_mut()
                .find(|(t, p, _)| *t == address_type && *p == ports)
            {
                Some((_, _, endpoints)) => endpoints.push(endpoint),
                None => groups.push((address_type, ports.clone(), vec![endpoint])),
            }
        }
    }

    let mut slices = Vec::with_capacity(groups.len());
    let mut per_family: BTreeMap<&str, usize> = BTreeMap::new();
    for (address_type, ports, endpoints) in groups {
        let n = per_family.entry(address_type).or_default();
        *n += 1;
        let family = address_type.to_ascii_lowercase();
        let name = match *n {
            1 => format!("{service_name}-podwire-{family}"),
            n => format!("{service_name}-podwire-{family}-{n}"),
        };
        slices.push(EndpointSlice {
            metadata: ObjectMeta {
                name: Some(name),
                namespace: Some(namespace.to_owned()),
                labels: Some(BTreeMap::from([
                    (SERVICE_NAME_LABEL.to_owned(), service_name.clone()),
                    (MANAGED_BY_LABEL.to_owned(), MANAGED_BY.to_owned()),
                ])),
                ..ObjectMeta::default()
            },
            address_type: address_type.to_owned(),
            endpoints: Some(endpoints),
            ports: Some(ports),
        });
    }
    slices
}

/// The address types the controller makes slices of: the Service's `ipFamilies`, else the
/// families of its ClusterIPs, else (no address, e.g. headless) both.
fn address_types(spec: &ServiceSpec) -> Vec<&'static str> {
    let name = |v6: bool| if v6 { "IPv6" } else { "IPv4" };
    let mut families: Vec<&'static str> = spec
        .ip_families
        .iter()
        .flatten()
        .filter_map(|f| ["IPv4", "IPv6"].into_iter().find(|t| t == f))
        .collect();
    if families.is_empty() {
        families = cluster_ips(spec)
            .iter()
            .map(|ip| name(ip.is_ipv6()))
            .collect();
    }
    if families.is_empty() {
        families = vec!["IPv4", "IPv6"];
    }
    families
}

/// A Service port as a Pod serves it, or `None` when its named target port is not among
/// the Pod's container ports of that protocol.
fn endpoint_port(port: &ServicePort, pod: &Pod) -> Option<EndpointPort> {
    let protocol = protocol_of(&port.protocol);
    let number = match &port.target_port {
        None => port.port,
        Some(IntOrString::Int(n)) => *n,
        Some(IntOrString::String(name)) => named_port(pod, name, protocol)?,
    };
    Some(EndpointPort {
        name: Some(port.name.clone().unwrap_or_default()),
        port: Some(number),
        protocol: Some(protocol.to_owned()),
        app_protocol: port.app_protocol.clone(),
    })
}

/// The number of the container port of `pod` named `name` with `protocol` ("TCP", "UDP",
/// "SCTP"), as a Service's `targetPort` or a NetworkPolicy's named port resolves it.
pub(crate) fn named_port(pod: &Pod, name: &str, protocol: &str) -> Option<i32> {
    pod.spec
        .iter()
        .flat_map(|spec| &spec.containers)
        .flat_map(|container| container.ports.iter().flatten())
        .find(|p| p.name.as_deref() == Some(name) && protocol_of(&p.protocol) == protocol)
        .map(|p| p.container_port)
}

/// The endpoint a Pod is, with the controller's conditions.
fn pod_endpoint(info: &PodInfo<'_>, ip: IpAddr, publish_not_ready: bool) -> Endpoint {
    let pod = info.pod;
    let serving = pod_ready(pod);
    let terminating = pod.metadata.deletion_timestamp.is_some();
    // As the controller: never ready while terminating, unless the Service publishes
    // addresses that are not ready.
    let ready = publish_not_ready || (serving && !terminating);
    Endpoint {
        addresses: vec![ip.to_string()],
        conditions: Some(EndpointConditions {
            ready: Some(ready),
            serving: Some(serving),
            terminating: Some(terminating),
        }),
        node_name: info.node.clone(),
        target_ref: Some(ObjectReference {
            kind: Some("Pod".to_owned()),
            namespace: Some(namespace_of(&pod.metadata).to_owned()),
            name: pod.metadata.name.clone(),
            uid: pod.metadata.uid.clone(),
            ..ObjectReference::default()
        }),
        ..Endpoint::default()
    }
}

/// Whether a Pod's `Ready` condition is true; a Pod without one counts as ready (a Pod
/// written by hand on one machine has no kubelet to report it).
pub fn pod_ready(pod: &Pod) -> bool {
    let conditions = pod.status.as_ref().and_then(|s| s.conditions.as_ref());
    match conditions
        .into_iter()
        .flatten()
        .find(|c| c.type_ == "Ready")
    {
        Some(condition) => condition.status == "True",
        None => true,
    }
}

#[cfg(test)]
mod tests;
