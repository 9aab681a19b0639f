//! A Service and its EndpointSlices into the frontends the data plane implements
//! ([`podwire_model::service::ServiceModel`]): a ClusterIP frontend per ClusterIP and port,
//! a NodePort frontend per port with a nodePort (type NodePort and LoadBalancer), one per
//! external IP and port, one per LoadBalancer ingress IP and port (ipMode VIP or absent;
//! `Proxy` is left to the load balancer). ExternalName and headless Services, and Services
//! labelled `service.kubernetes.io/service-proxy-name` or `service.kubernetes.io/headless`,
//! are not proxied.
//!
//! Each frontend's endpoints come from the slices of its address family. A NodePort
//! frontend answers on every node address, so it has no family of its own: it takes the
//! Service's primary family, that of its first ClusterIP, else of its first `ipFamilies`
//! entry, else IPv4 (a dual-stack Service's NodePort sends to endpoints of that family).
//!
//! The health check's count of local ready endpoints is kube-proxy's: the distinct
//! addresses of local ready endpoints over the Service's ports, in that same primary family
//! (a dual-stack Pod is one endpoint, not two).
//!
//! podwire allocates no ClusterIP: a Service that names none (and has no other frontend) is
//! `Failed` with what to do.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use podwire_model::cidr::Cidr;
use podwire_model::cluster::ObjectStatus;
use podwire_model::service::{
    Frontend, FrontendKind, Protocol, ServiceId, ServiceModel, TrafficPolicy,
};

use crate::endpoints::{self, Categorized};
use crate::object::namespace_of;
use crate::validate::protocol_of;

/// The label that hands a Service to another proxy.
pub const SERVICE_PROXY_NAME_LABEL: &str = "service.kubernetes.io/service-proxy-name";

/// The label that marks a Service headless.
pub const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";

/// `sessionAffinityConfig.clientIP.timeoutSeconds` when it is absent (three hours).
pub const DEFAULT_AFFINITY_TIMEOUT: Duration = Duration::from_secs(10800);

/// The status of a Service none of whose ports has an endpoint.
pub const NO_ENDPOINTS: &str = "no endpoints: connections are refused";

/// What this node is, for the traffic policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeContext {
    /// The node's name, as endpoints' `nodeName` say it.
    pub node_name: String,
}

/// A Service as the data plane should implement it.
#[derive(Debug, Clone, PartialEq)]
pub struct Translation {
    /// Its frontends; `None` when it is not proxied (the status says why).
    pub model: Option<ServiceModel>,
    /// `Applied` when implemented, or deliberately not proxied (headless, ExternalName,
    /// another proxy's); `Pending("no endpoints: connections are refused")` when none of
    /// its ports has an endpoint; `Failed` when it has no frontend at all (no ClusterIP).
    pub status: ObjectStatus,
}

/// The id of a Service.
pub fn service_id(service: &Service) -> ServiceId {
    ServiceId {
        namespace: namespace_of(&service.metadata).to_owned(),
        name: service.metadata.name.clone().unwrap_or_default(),
    }
}

/// A Service port's stable id (a hash of namespace, name and port name), shared by its
/// frontends.
///
/// FNV-1a (64 bits) over `namespace/name/port`: the same in every process and release, so
/// that a restarted agent gives the data plane the ids it had.
pub fn service_port_id(service: &ServiceId, port_name: &str) -> u64 {
    fnv1a(format!("{}/{}/{}", service.namespace, service.name, port_name).as_bytes())
}

/// The 64-bit FNV-1a hash.
fn fnv1a(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

/// Why a Service is not proxied, if it is not.
pub fn not_proxied(service: &Service) -> Option<&'static str> {
    let labels = service.metadata.labels.as_ref();
    let spec = service.spec.as_ref();
    if spec.and_then(|s| s.type_.as_deref()) == Some("ExternalName") {
        return Some("type ExternalName: DNS answers for it, no proxy");
    }
    if spec.is_some_and(|s| cluster_ip_texts(s).first().copied() == Some("None")) {
        return Some("headless (clusterIP None): clients reach the endpoints directly");
    }
    if labels.is_some_and(|l| l.contains_key(SERVICE_PROXY_NAME_LABEL)) {
        return Some("labelled service.kubernetes.io/service-proxy-name: another proxy's");
    }
    if labels.is_some_and(|l| l.contains_key(HEADLESS_LABEL)) {
        return Some("labelled service.kubernetes.io/headless");
    }
    None
}

/// The Service `service` with the slices labelled with its name, for node `node`.
pub fn translate(service: &Service, slices: &[&EndpointSlice], node: &NodeContext) -> Translation {
    if not_proxied(service).is_some() {
        return Translation {
            model: None,
            status: ObjectStatus::Applied,
        };
    }
    let default = ServiceSpec::default();
    let spec = service.spec.as_ref().unwrap_or(&default);
    let shared = Shared::of(service, spec);
    let slices_of = |v6: bool| -> Vec<&EndpointSlice> {
        let address_type = if v6 { "IPv6" } else { "IPv4" };
        slices
            .iter()
            .copied()
            .filter(|s| s.address_type == address_type)
            .collect()
    };
    let (slices4, slices6) = (slices_of(false), slices_of(true));

    let mut frontends = Vec::new();
    let mut local_ready: BTreeSet<IpAddr> = BTreeSet::new();
    for port in spec.ports.iter().flatten() {
        let port_name = port.name.as_deref().unwrap_or("");
        let protocol = protocol_of(&port.protocol);
        let mut categorized = |v6: bool| -> Categorized {
            let slices = if v6 { &slices6 } else { &slices4 };
            let found = endpoints::port_endpoints(slices, port_name, protocol, &node.node_name);
            if v6 == shared.primary_v6 {
                let ready = found.iter().filter(|e| e.local && e.ready);
                local_ready.extend(ready.map(|e| e.addr.ip()));
            }
            endpoints::categorize_endpoints(&found)
        };
        let by_family = [categorized(false), categorized(true)];
        frontends.extend(shared.port_frontends(port, &by_family));
    }

    let status = if frontends.is_empty() {
        ObjectStatus::Failed(
            "it has no address: podwire allocates no ClusterIP, set spec.clusterIP to a free \
             address of the service CIDR (or give it a nodePort or externalIPs)"
                .into(),
        )
    } else if frontends.iter().any(Frontend::has_endpoints) {
        ObjectStatus::Applied
    } else {
        ObjectStatus::Pending(NO_ENDPOINTS.into())
    };
    let health_check_node_port = spec
        .health_check_node_port
        .and_then(|n| u16::try_from(n).ok())
        .filter(|&n| {
            n != 0
                && shared.service_type == "LoadBalancer"
                && shared.external == TrafficPolicy::Local
        });
    Translation {
        model: Some(ServiceModel {
            id: shared.id,
            frontends,
            health_check_node_port,
            local_ready_endpoints: local_ready.len(),
        }),
        status,
    }
}

/// What every frontend of a Service shares.
struct Shared<'a> {
    id: ServiceId,
    service_type: &'a str,
    internal: TrafficPolicy,
    external: TrafficPolicy,
    affinity_timeout: Option<Duration>,
    cluster_ips: Vec<IpAddr>,
    external_ips: Vec<IpAddr>,
    balancer_ips: Vec<IpAddr>,
    source_ranges: Vec<Cidr>,
    /// Whether the primary family (see the module doc) is IPv6.
    primary_v6: bool,
}

impl<'a> Shared<'a> {
    fn of(service: &Service, spec: &'a ServiceSpec) -> Shared<'a> {
        let cluster_ips = cluster_ips(spec);
        let first_family = spec.ip_families.iter().flatten().next();
        let primary_v6 = match (cluster_ips.first(), first_family) {
            (Some(ip), _) => ip.is_ipv6(),
            (None, Some(family)) => family == "IPv6",
            (None, None) => false,
        };
        Shared {
            id: service_id(service),
            service_type: spec.type_.as_deref().unwrap_or("ClusterIP"),
            internal: policy(spec.internal_traffic_policy.as_deref()),
            external: policy(spec.external_traffic_policy.as_deref()),
            affinity_timeout: affinity_timeout(spec),
            cluster_ips,
            external_ips: parse_ips(spec.external_ips.iter().flatten()),
            balancer_ips: load_balancer_ips(service),
            source_ranges: spec
                .load_balancer_source_ranges
                .iter()
                .flatten()
                .filter_map(|r| r.trim().parse::<Cidr>().ok())
                .map(|c| c.network())
                .collect(),
            primary_v6,
        }
    }

    /// The frontends of one Service port, with its endpoints of each family (IPv4, IPv6).
    fn port_frontends(&self, port: &ServicePort, by_family: &[Categorized; 2]) -> Vec<Frontend> {
        let (Some(protocol), Ok(number)) = (
            model_protocol(protocol_of(&port.protocol)),
            u16::try_from(port.port),
        ) else {
            return Vec::new();
        };
        let port_name = port.name.clone().unwrap_or_default();
        let frontend = |kind, address: Option<IpAddr>, port, policy, v6: bool| {
            let endpoints = &by_family[usize::from(v6)];
            Frontend {
                service: self.id.clone(),
                port_name: port_name.clone(),
                kind,
                address,
                protocol,
                port,
                traffic_policy: policy,
                cluster_endpoints: endpoints.cluster.clone(),
                local_endpoints: endpoints.local.clone(),
                serving_endpoints: endpoints.serving.clone(),
                affinity_timeout: self.affinity_timeout,
                source_ranges: match kind {
                    FrontendKind::LoadBalancer => self.source_ranges.clone(),
                    _ => Vec::new(),
                },
            }
        };
        let mut frontends = Vec::new();
        for &ip in &self.cluster_ips {
            let v6 = ip.is_ipv6();
            frontends.push(frontend(
                FrontendKind::ClusterIp,
                Some(ip),
                number,
                self.internal,
                v6,
            ));
        }
        let node_port = port
            .node_port
            .and_then(|n| u16::try_from(n).ok())
            .filter(|&n| n != 0);
        if let (Some(node_port), "NodePort" | "LoadBalancer") = (node_port, self.service_type) {
            let (policy, v6) = (self.external, self.primary_v6);
            frontends.push(frontend(
                FrontendKind::NodePort,
                None,
                node_port,
                policy,
                v6,
            ));
        }
        for &ip in &self.external_ips {
            let v6 = ip.is_ipv6();
            frontends.push(frontend(
                FrontendKind::ExternalIp,
                Some(ip),
                number,
                self.external,
                v6,
            ));
        }
        if self.service_type == "LoadBalancer" {
            for &ip in &self.balancer_ips {
                let (policy, v6) = (self.external, ip.is_ipv6());
                frontends.push(frontend(
                    FrontendKind::LoadBalancer,
                    Some(ip),
                    number,
                    policy,
                    v6,
                ));
            }
        }
        frontends
    }
}

/// `clusterIPs`, else `clusterIP`, as written.
fn cluster_ip_texts(spec: &ServiceSpec) -> Vec<&str> {
    match spec.cluster_ips.as_deref() {
        Some(list) if !list.is_empty() => list.iter().map(String::as_str).collect(),
        _ => spec.cluster_ip.as_deref().into_iter().collect(),
    }
}

/// The Service's ClusterIPs (`clusterIPs`, else `clusterIP`; `None` and empty are none).
pub(crate) fn cluster_ips(spec: &ServiceSpec) -> Vec<IpAddr> {
    parse_ips(cluster_ip_texts(spec))
}

/// The LoadBalancer ingress IPs the data plane answers on: ipMode VIP or absent.
pub(crate) fn load_balancer_ips(service: &Service) -> Vec<IpAddr> {
    let ingress = service
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref());
    let vips = ingress
        .into_iter()
        .flatten()
        .filter(|i| matches!(i.ip_mode.as_deref(), None | Some("VIP")))
        .filter_map(|i| i.ip.as_deref());
    parse_ips(vips)
}

/// `sessionAffinity: ClientIP` with its timeout.
pub(crate) fn affinity_timeout(spec: &ServiceSpec) -> Option<Duration> {
    if spec.session_affinity.as_deref() != Some("ClientIP") {
        return None;
    }
    let seconds = spec
        .session_affinity_config
        .as_ref()
        .and_then(|c| c.client_ip.as_ref())
        .and_then(|c| c.timeout_seconds)
        .and_then(|s| u64::try_from(s).ok());
    Some(seconds.map_or(DEFAULT_AFFINITY_TIMEOUT, Duration::from_secs))
}

fn parse_ips<T: AsRef<str>>(texts: impl IntoIterator<Item = T>) -> Vec<IpAddr> {
    texts
        .into_iter()
        .filter_map(|t| t.as_ref().parse().ok())
        .collect()
}

fn policy(text: Option<&str>) -> TrafficPolicy {
    match text {
        Some("Local") => TrafficPolicy::Local,
        _ => TrafficPolicy::Cluster,
    }
}

fn model_protocol(text: &str) -> Option<Protocol> {
    match text {
        "TCP" => Some(Protocol::Tcp),
        "UDP" => Some(Protocol::Udp),
        "SCTP" => Some(Protocol::Sctp),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
