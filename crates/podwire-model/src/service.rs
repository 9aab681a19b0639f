//! Services as the data plane implements them: frontends (an address, a protocol and a port)
//! and the endpoints each sends to, already chosen by the Kubernetes rules (ready endpoints,
//! the fallback to serving-terminating ones, the node-local subset for the `Local` traffic
//! policies). `podwire-k8s` makes these from Services and EndpointSlices; the agent renders
//! them into the data plane's service table. Nothing here knows Kubernetes' types, so that a
//! live cluster, etcd and the local store all feed the same code.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cidr::Cidr;

/// A Service, by namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ServiceId {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

impl fmt::Display for ServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A transport protocol a Service port carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Protocol {
    /// TCP (IP protocol 6).
    Tcp,
    /// UDP (IP protocol 17).
    Udp,
    /// SCTP (IP protocol 132).
    Sctp,
}

impl Protocol {
    /// The IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        })
    }
}

/// Which endpoints a class of traffic may go to (`internalTrafficPolicy` for ClusterIP
/// traffic, `externalTrafficPolicy` for the rest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum TrafficPolicy {
    /// Any endpoint in the cluster.
    #[default]
    Cluster,
    /// Only endpoints on this node.
    Local,
}

/// How traffic reaches a frontend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum FrontendKind {
    /// A ClusterIP: internal traffic.
    ClusterIp,
    /// A NodePort, on every node address: external traffic.
    NodePort,
    /// One of `spec.externalIPs`: external traffic.
    ExternalIp,
    /// A LoadBalancer ingress IP (`status.loadBalancer.ingress[].ip`, ipMode VIP): external
    /// traffic, subject to `loadBalancerSourceRanges`.
    LoadBalancer,
}

impl FrontendKind {
    /// Whether its traffic is "external" in kube-proxy's sense (everything but ClusterIP).
    pub fn is_external(self) -> bool {
        self != FrontendKind::ClusterIp
    }
}

impl fmt::Display for FrontendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FrontendKind::ClusterIp => "ClusterIP",
            FrontendKind::NodePort => "NodePort",
            FrontendKind::ExternalIp => "ExternalIP",
            FrontendKind::LoadBalancer => "LoadBalancer",
        })
    }
}

/// One address, protocol and port a Service answers on, and where it sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frontend {
    /// The Service.
    pub service: ServiceId,
    /// The Service port's name (may be empty when the Service has one port).
    pub port_name: String,
    /// How traffic reaches it.
    pub kind: FrontendKind,
    /// The address; `None` for a NodePort (every node address).
    pub address: Option<IpAddr>,
    /// The protocol.
    pub protocol: Protocol,
    /// The port (the NodePort for [`FrontendKind::NodePort`]).
    pub port: u16,
    /// The traffic policy that applies to this frontend's traffic.
    pub traffic_policy: TrafficPolicy,
    /// The endpoints Cluster-policy traffic may use: the ready ones, or when none is ready
    /// anywhere, the serving-terminating ones. Address and target port.
    pub cluster_endpoints: Vec<SocketAddr>,
    /// The endpoints Local-policy traffic may use: the local ready ones, or when none is,
    /// the local serving-terminating ones.
    pub local_endpoints: Vec<SocketAddr>,
    /// Every serving endpoint (ready or terminating) of the Service port, anywhere: a UDP
    /// session to an address not in this list is stale and cleared.
    pub serving_endpoints: Vec<IpAddr>,
    /// `sessionAffinity: ClientIP` with its timeout; `None` without affinity.
    pub affinity_timeout: Option<Duration>,
    /// `loadBalancerSourceRanges` (LoadBalancer frontends only); empty allows every source.
    pub source_ranges: Vec<Cidr>,
}

impl Frontend {
    /// Whether the Service port has any endpoint it may use anywhere. Without one, traffic
    /// to it is refused (REJECT), whatever the policy.
    pub fn has_endpoints(&self) -> bool {
        !self.cluster_endpoints.is_empty()
    }
}

/// Everything the data plane implements for one Service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceModel {
    /// The Service.
    pub id: ServiceId,
    /// Its frontends, one per (address or NodePort, port).
    pub frontends: Vec<Frontend>,
    /// The health-check node port (LoadBalancer with `externalTrafficPolicy: Local`).
    pub health_check_node_port: Option<u16>,
    /// Local endpoints that are ready (not terminating): what the health check reports.
    pub local_ready_endpoints: usize,
}
