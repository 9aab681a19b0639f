//! The cluster objects the agent keeps (Namespaces, Pods, Services, EndpointSlices, Nodes) as the
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
    /// `v1/Node` (cluster-scoped): a node of the cluster, its pod CIDRs and addresses; the
    /// nodes other than this one are where tunnels go.
    Node,
}

impl ObjectKind {
    /// Every kind the store keeps.
    pub const ALL: [ObjectKind; 7] = [
        ObjectKind::Namespace,
        ObjectKind::Pod,
        ObjectKind::Service,
        ObjectKind::EndpointSlice,
        ObjectKind::NetworkPolicy,
        ObjectKind::ClusterNetworkPolicy,
        ObjectKind::Node,
    ];

    /// Whether its objects live in a namespace (false for Namespaces, ClusterNetworkPolicies
    /// and Nodes, whose keys have an empty namespace).
    pub fn is_namespaced(self) -> bool {
        !matches!(
            self,
            ObjectKind::Namespace | ObjectKind::ClusterNetworkPolicy | ObjectKind::Node
        )
    }
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
            ObjectKind::Node => "Node",
        })
    }
}

/// A node of the cluster as the data plane needs it: where its pods are and how to reach
/// them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// Its name (`metadata.name`).
    pub name: String,
    /// Its pod CIDRs (`spec.podCIDRs`), at most one per family; empty until it has some.
    pub pod_cidrs: Vec<crate::Cidr>,
    /// The address its VXLAN tunnel ends on: the annotation [`TUNNEL_ADDRESS_ANNOTATION`]
    /// when set, else its first `InternalIP` (IPv4 first); `None` when it has neither.
    pub tunnel_address: Option<IpAddr>,
}

/// The annotation of a Node that names the address its podwire tunnels end on (written by
/// podwire when the node registers; set by hand when the first InternalIP is not it).
pub const TUNNEL_ADDRESS_ANNOTATION: &str = "podwire.io/tunnel-address";

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
///
/// In JSON: `{"state": "applied"}`, `{"state": "pending", "reason": "…"}`,
/// `{"state": "failed", "reason": "…"}`, `{"state": "retrying", "reason": "…", "attempts": 2}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "StatusJson", try_from = "StatusJson")]
pub enum ObjectStatus {
    /// Implemented as written.
    Applied,
    /// Accepted, waiting for something (the reason says what).
    Pending(String),
    /// Accepted by the store but not implemented (the reason says why and what to do).
    Failed(String),
    /// Applying it failed for a reason that may pass (the data plane or the store was busy
    /// or unreachable); the agent tries again.
    Retrying {
        /// Why the last attempt failed.
        reason: String,
        /// Attempts made so far.
        attempts: u32,
    },
}

impl ObjectStatus {
    /// The state in one word, without its reason: `applied`, `pending`, `failed` or
    /// `retrying` (what JSON has as `state`).
    pub fn state(&self) -> &'static str {
        StatusState::of(self).word()
    }
}

impl fmt::Display for ObjectStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ObjectStatus::Applied => f.write_str("applied"),
            ObjectStatus::Pending(why) => write!(f, "pending: {why}"),
            ObjectStatus::Failed(why) => write!(f, "failed: {why}"),
            ObjectStatus::Retrying { reason, attempts } => {
                write!(f, "retrying (attempt {attempts}): {reason}")
            }
        }
    }
}

/// [`ObjectStatus`] as it travels: the state, and its reason and attempts beside it.
#[derive(Serialize, Deserialize)]
struct StatusJson {
    state: StatusState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    attempts: Option<u32>,
}

/// The `state` of a [`StatusJson`].
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum StatusState {
    Applied,
    Pending,
    Failed,
    Retrying,
}

impl StatusState {
    fn of(status: &ObjectStatus) -> StatusState {
        match status {
            ObjectStatus::Applied => StatusState::Applied,
            ObjectStatus::Pending(_) => StatusState::Pending,
            ObjectStatus::Failed(_) => StatusState::Failed,
            ObjectStatus::Retrying { .. } => StatusState::Retrying,
        }
    }

    fn word(self) -> &'static str {
        match self {
            StatusState::Applied => "applied",
            StatusState::Pending => "pending",
            StatusState::Failed => "failed",
            StatusState::Retrying => "retrying",
        }
    }
}

impl From<ObjectStatus> for StatusJson {
    fn from(status: ObjectStatus) -> StatusJson {
        let state = StatusState::of(&status);
        let (reason, attempts) = match status {
            ObjectStatus::Applied => (None, None),
            ObjectStatus::Pending(why) | ObjectStatus::Failed(why) => (Some(why), None),
            ObjectStatus::Retrying { reason, attempts } => (Some(reason), Some(attempts)),
        };
        StatusJson {
            state,
            reason,
            attempts,
        }
    }
}

impl TryFrom<StatusJson> for ObjectStatus {
    type Error = String;

    fn try_from(json: StatusJson) -> Result<ObjectStatus, String> {
        let StatusJson {
            state,
            reason,
            attempts,
        } = json;
        let reason = || reason.ok_or_else(|| format!("a {} status needs a reason", state.word()));
        Ok(match state {
            StatusState::Applied => ObjectStatus::Applied,
            StatusState::Pending => ObjectStatus::Pending(reason()?),
            StatusState::Failed => ObjectStatus::Failed(reason()?),
            StatusState::Retrying => ObjectStatus::Retrying {
                reason: reason()?,
                attempts: attempts.ok_or("a retrying status needs its attempts")?,
            },
        })
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
    /// What the data plane answers on: `10.96.0.10:80/TCP`, `[fd00:96::10]:80/TCP`, and
    /// `*:30080/TCP` for a NodePort (every node address).
    #[serde(default)]
    pub frontends: Vec<String>,
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

/// `GET /v1/cluster/nodes`: one node of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeView {
    /// Its name.
    pub name: String,
    /// Its pod CIDRs, as `address/length`.
    pub pod_cidrs: Vec<String>,
    /// The address its VXLAN tunnel ends on, when known.
    pub tunnel_address: Option<IpAddr>,
    /// Whether it is the node of the agent answering.
    pub this_node: bool,
    /// Whether the data plane reaches its pods: applied when its routes go through the
    /// tunnel, pending while it has no pod CIDR or no tunnel address.
    pub status: ObjectStatus,
}

/// `GET /v1/cluster/networkpolicies`, `/v1/cluster/clusternetworkpolicies` and
/// `/v1/cluster/namespaces`: one object of a kind that has no richer view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectView {
    /// Its kind.
    pub kind: ObjectKind,
    /// Its namespace; empty for cluster-scoped kinds.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// What it is, in a few words (what a policy selects and how many rules it has; what a
    /// Namespace holds).
    pub summary: String,
    /// Whether it is implemented.
    pub status: ObjectStatus,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_travel_as_a_state_with_a_reason_beside_it() {
        let retrying = ObjectStatus::Retrying {
            reason: "etcd is unreachable".into(),
            attempts: 3,
        };
        for (status, json) in [
            (ObjectStatus::Applied, r#"{"state":"applied"}"#),
            (
                ObjectStatus::Pending("no endpoints".into()),
                r#"{"state":"pending","reason":"no endpoints"}"#,
            ),
            (
                ObjectStatus::Failed("bad port".into()),
                r#"{"state":"failed","reason":"bad port"}"#,
            ),
            (
                retrying.clone(),
                r#"{"state":"retrying","reason":"etcd is unreachable","attempts":3}"#,
            ),
        ] {
            assert_eq!(serde_json::to_string(&status).unwrap(), json);
            assert_eq!(serde_json::from_str::<ObjectStatus>(json).unwrap(), status);
            let value: serde_json::Value = serde_json::from_str(json).unwrap();
            assert_eq!(value["state"], status.state());
        }
        assert_eq!(
            retrying.to_string(),
            "retrying (attempt 3): etcd is unreachable"
        );
        assert_eq!(retrying.state(), "retrying");
    }

    #[test]
    fn a_status_without_its_reason_or_attempts_is_refused() {
        for (json, problem) in [
            (r#"{"state":"pending"}"#, "a pending status needs a reason"),
            (r#"{"state":"failed"}"#, "a failed status needs a reason"),
            (
                r#"{"state":"retrying","reason":"busy"}"#,
                "a retrying status needs its attempts",
            ),
        ] {
            let error = serde_json::from_str::<ObjectStatus>(json).unwrap_err();
            assert!(error.to_string().contains(problem), "{json}: {error}");
        }
        assert!(serde_json::from_str::<ObjectStatus>(r#"{"state":"gone"}"#).is_err());
    }

    #[test]
    fn a_service_view_without_frontends_still_decodes() {
        let json = r#"{"namespace":"default","name":"web","service_type":"ClusterIP",
            "cluster_ips":["10.96.0.10"],"external_ips":[],"ports":["80/TCP"],"endpoints":0,
            "local_endpoints":0,"affinity_timeout_s":null,"health_check_node_port":null,
            "status":{"state":"pending","reason":"no endpoints"}}"#;
        let view: ServiceView = serde_json::from_str(json).unwrap();
        assert!(view.frontends.is_empty());
        assert_eq!(view.status, ObjectStatus::Pending("no endpoints".into()));
    }
}
