//! The cluster objects the agent keeps (Namespaces, Pods, Services, EndpointSlices) as the
//! API and the CLI see them: what to apply or delete, what changed, and each object's status.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// The kinds of object the store keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ObjectKind {
    /// `v1/Namespace`.
    Namespace,
    /// `v1/Pod` (its metadata, labels, container ports and status).
    Pod,
    /// `v1/Service`.
    Service,
    /// `discovery.k8s.io/v1/EndpointSlice`.
    EndpointSlice,
    /// `networking.k8s.io/v1/NetworkPolicy`.
    NetworkPolicy,
    /// `policy.networking.k8s.io/v1alpha2/ClusterNetworkPolicy` (cluster-scoped): the Admin
    /// and Baseline tiers around NetworkPolicies.
    ClusterNetworkPolicy,
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ObjectKind::Namespace => "Namespace",
            ObjectKind::Pod => "Pod",
            ObjectKind::Service => "Service",
            ObjectKind::EndpointSlice => "EndpointSlice",
            ObjectKind::NetworkPolicy => "NetworkPolicy",
            ObjectKind::ClusterNetworkPolicy => "ClusterNetworkPolicy",
        })
    }
}

/// An object, by kind, namespace (empty for a Namespace) and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectKey {
    /// Its kind.
    pub kind: ObjectKind,
    /// Its namespace; empty for cluster-scoped kinds.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.namespace.is_empty() {
            true => write!(f, "{} {}", self.kind, self.name),
            false => write!(f, "{} {}/{}", self.kind, self.namespace, self.name),
        }
    }
}

/// `POST /v1/cluster/apply` and `/v1/cluster/delete`: Kubernetes YAML (or JSON), one or more
/// documents separated by `---`. Every document is checked before anything changes: one bad
/// object refuses the whole request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestRequest {
    /// The text of the file.
    pub manifest: String,
}

/// What an apply or delete did to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// It was not there and now is.
    Created,
    /// It was there and was replaced by a different one.
    Configured,
    /// It was there, the same.
    Unchanged,
    /// It was removed.
    Deleted,
    /// Delete of an object that was not there.
    NotFound,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Change::Created => "created",
            Change::Configured => "configured",
            Change::Unchanged => "unchanged",
            Change::Deleted => "deleted",
            Change::NotFound => "not found",
        })
    }
}

/// One object of an apply or delete, and what happened to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectChange {
    /// The object.
    pub key: ObjectKey,
    /// What happened.
    pub change: Change,
}

/// The answer to an apply or delete: every object of the request, in its order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ManifestReport {
    /// The objects.
    pub objects: Vec<ObjectChange>,
}

/// Whether the data plane implements an object as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", content = "reason", rename_all = "lowercase")]
pub enum ObjectStatus {
    /// Implemented as written.
    Applied,
    /// Accepted, waiting for something (the reason says what).
    Pending(String),
    /// Accepted by the store but not implemented (the reason says why and what to do).
    Failed(String),
}

impl fmt::Display for ObjectStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ObjectStatus::Applied => f.write_str("applied"),
            ObjectStatus::Pending(why) => write!(f, "pending: {why}"),
            ObjectStatus::Failed(why) => write!(f, "failed: {why}"),
        }
    }
}

/// `GET /v1/cluster/services`: one Service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceView {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// `ClusterIP`, `NodePort`, `LoadBalancer` or `ExternalName`.
    pub service_type: String,
    /// Its ClusterIPs (empty for headless and ExternalName).
    pub cluster_ips: Vec<IpAddr>,
    /// Its external IPs and LoadBalancer ingress IPs.
    pub external_ips: Vec<IpAddr>,
    /// Its ports as `80/TCP`, with `:30080` for a NodePort and `→8080` for a target port.
    pub ports: Vec<String>,
    /// Endpoints the data plane may send Cluster-policy traffic to.
    pub endpoints: usize,
    /// Of them, on this node.
    pub local_endpoints: usize,
    /// `ClientIP` affinity timeout in seconds, when set.
    pub affinity_timeout_s: Option<u64>,
    /// The health-check node port, when it has one.
    pub health_check_node_port: Option<u16>,
    /// Whether it is implemented.
    pub status: ObjectStatus,
}

/// `GET /v1/cluster/endpoints`: one endpoint of one Service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointView {
    /// The Service's namespace.
    pub namespace: String,
    /// The Service's name.
    pub service: String,
    /// The EndpointSlice it comes from (for a Service with a selector on one machine, the
    /// slice podwire derived from the Pods).
    pub slice: String,
    /// The endpoint's address.
    pub address: IpAddr,
    /// Its ports as `name:port/PROTOCOL`.
    pub ports: Vec<String>,
    /// The node it is on, if the slice says.
    pub node: Option<String>,
    /// The Pod it is, if the slice says (`namespace/name`).
    pub pod: Option<String>,
    /// `conditions.ready` (absent means true).
    pub ready: bool,
    /// `conditions.serving` (absent means true).
    pub serving: bool,
    /// `conditions.terminating` (absent means false).
    pub terminating: bool,
}

/// `GET /v1/cluster/pods`: one Pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodView {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its labels as `key=value`.
    pub labels: Vec<String>,
    /// Its addresses: from its attachment on this node, else from `status.podIPs`.
    pub ips: Vec<IpAddr>,
    /// The node it runs on (`spec.nodeName`), if known.
    pub node: Option<String>,
    /// Whether its `Ready` condition is true (absent conditions count as ready).
    pub ready: bool,
    /// Whether it is implemented: applied with an address, or pending until the CNI plugin
    /// attaches it.
    pub status: ObjectStatus,
}
