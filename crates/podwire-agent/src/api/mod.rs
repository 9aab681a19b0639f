//! The agent's local API: JSON over HTTP/1.1 on a unix socket, plus an HTTP listener for
//! Prometheus (`/metrics`) and probes (`/healthz`).
//!
//! The API only reads and pokes the data plane through [`NodeControl`], which the daemon
//! implements; [`client::Client`] is the other end, used by `podwire ctl`.
//!
//! | method and path | answer |
//! |---|---|
//! | `GET /v1/interfaces` | `[InterfaceView]` |
//! | `GET /v1/runtime` | `[NodeRuntimeView]` |
//! | `GET /v1/errors` | `[ErrorView]` |
//! | `GET /v1/routes` | `[RouteView]` |
//! | `GET /v1/neighbors` | `[NeighborView]` |
//! | `GET /v1/trace` | `TraceView` |
//! | `POST /v1/trace?add=N` | 204: trace the next N packets |
//! | `POST /v1/trace/clear` | 204: empty the trace buffer |
//! | `GET /v1/health` | `Health` |
//! | `GET /v1/attachments` | `[Attachment]`: every pod interface the CNI plugin asked for |
//! | `GET /v1/networks` | `[NetworkStatus]` |
//! | `POST /v1/attachments/add` with an `AddRequest` | the `Attachment` |
//! | `POST /v1/attachments/del` with a `DelRequest` | `DelReport` |
//! | `POST /v1/attachments/check` with a `CheckRequest` | the `Attachment` |
//! | `POST /v1/attachments/gc` with a `GcRequest` | `GcReport` |
//! | `POST /v1/cluster/apply` with a `ManifestRequest` | `ManifestReport`; 422 with every problem when refused |
//! | `POST /v1/cluster/delete` with a `ManifestRequest` | `ManifestReport`; 422 with every problem when refused |
//! | `GET /v1/cluster/services` | `[ServiceView]` |
//! | `GET /v1/cluster/endpoints` | `[EndpointView]` |
//! | `GET /v1/cluster/pods` | `[PodView]` |
//! | `GET /v1/cluster/nodes` | `[NodeView]`: the nodes of the cluster, this one marked |
//! | `GET /v1/cluster/networkpolicies` | `[ObjectView]`: each NetworkPolicy, what it selects here and its status |
//! | `GET /v1/cluster/clusternetworkpolicies` | `[ObjectView]`: each ClusterNetworkPolicy, its tier and its status |
//! | `GET /v1/cluster/namespaces` | `[ObjectView]`: each Namespace, its pods and services |
//! | `GET /v1/transactions?limit=N` | `[TransactionView]`: the last N (default 50) changes to the data plane, newest first |
//! | `GET /v1/policies` | `[PolicyRuleView]`: every compiled rule of a local pod, with its counter |
//! | `POST /v1/explain` with an `ExplainRequest` | `Explanation`; 400 with the reason for a bad request |
//!
//! Failures answer with a 4xx or 5xx status and an [`ApiError`](podwire_model::api::ApiError)
//! body.

pub mod client;
mod exposition;
mod routes;
mod server;
mod socket;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use podwire_model::api::{
    ErrorView, Health, InterfaceView, NeighborView, NodeRuntimeView, RouteView, TraceView,
    TransactionView,
};
use podwire_model::attach::{
    AddRequest, Attachment, CheckRequest, DelReport, DelRequest, FailureKind, GcReport, GcRequest,
    NetworkStatus,
};
use podwire_model::cluster::{
    EndpointView, ManifestReport, ManifestRequest, NodeView, ObjectKind, ObjectView, PodView,
    ServiceView,
};
use podwire_model::policy::{ExplainRequest, Explanation, PolicyRuleView};

pub use server::{ServeError, Server, serve};

/// The names [`InterfaceView::offloads`] lists for an interface's offloads.
pub fn offload_names(offloads: &podwire_dataplane::interface::TxOffloads) -> Vec<String> {
    [
        (offloads.csum, "csum"),
        (offloads.tso4, "tso4"),
        (offloads.tso6, "tso6"),
        (offloads.uso, "uso"),
    ]
    .into_iter()
    .filter(|&(on, _)| on)
    .map(|(_, name)| name.to_owned())
    .collect()
}
pub use socket::SocketError;

/// What the API asks of the running data plane.
///
/// Calls may block briefly (they ask the worker threads), so the server makes them on
/// tokio's blocking pool, never on its event loop.
pub trait NodeControl: Send + Sync + 'static {
    /// Every interface with its counters.
    fn interfaces(&self) -> Vec<InterfaceView>;
    /// Per-worker, per-node work counters.
    fn runtime(&self) -> Vec<NodeRuntimeView>;
    /// Per-worker, per-node drop and punt counters.
    fn errors(&self) -> Vec<ErrorView>;
    /// The forwarding table.
    fn routes(&self) -> Vec<RouteView>;
    /// The neighbor (ARP / ND) table.
    fn neighbors(&self) -> Vec<NeighborView>;
    /// Traces the next `packets` packets received (`packets` ≥ 1).
    fn trace_add(&self, packets: u32);
    /// The packets traced so far.
    fn trace_show(&self) -> TraceView;
    /// Empties the trace buffer.
    fn trace_clear(&self);
    /// Whether the data plane is running.
    fn health(&self) -> Health;

    /// Each worker's session table.
    fn sessions(&self) -> Vec<podwire_model::api::SessionTableView> {
        Vec::new()
    }
    /// Every pod attachment.
    fn attachments(&self) -> Vec<Attachment> {
        Vec::new()
    }
    /// The pod networks and whether each can take another pod.
    fn networks(&self) -> Vec<NetworkStatus> {
        Vec::new()
    }
    /// Wires a pod interface (CNI ADD).
    fn attach_add(self: Arc<Self>, request: AddRequest) -> Reply<Attachment> {
        no_pod_networks(request)
    }
    /// Unwires a pod interface (CNI DEL).
    fn attach_del(self: Arc<Self>, request: DelRequest) -> Reply<DelReport> {
        no_pod_networks(request)
    }
    /// Checks a pod interface (CNI CHECK).
    fn attach_check(self: Arc<Self>, request: CheckRequest) -> Reply<Attachment> {
        no_pod_networks(request)
    }
    /// Removes a network's attachments the runtime no longer has (CNI GC).
    fn attach_gc(self: Arc<Self>, request: GcRequest) -> Reply<GcReport> {
        no_pod_networks(request)
    }

    /// Creates or replaces the objects of a manifest in the cluster store, all or none.
    fn cluster_apply(&self, _request: ManifestRequest) -> Result<ManifestReport, ClusterCallError> {
        Err(ClusterCallError::NoStore)
    }
    /// Removes the objects of a manifest from the cluster store, all or none.
    fn cluster_delete(
        &self,
        _request: ManifestRequest,
    ) -> Result<ManifestReport, ClusterCallError> {
        Err(ClusterCallError::NoStore)
    }
    /// Every Service of the cluster store, with its status.
    fn cluster_services(&self) -> Vec<ServiceView> {
        Vec::new()
    }
    /// Every endpoint of the cluster store's Services.
    fn cluster_endpoints(&self) -> Vec<EndpointView> {
        Vec::new()
    }
    /// Every Pod of the cluster store, with its addresses and status.
    fn cluster_pods(&self) -> Vec<PodView> {
        Vec::new()
    }
    /// Every node of the cluster (this one included), with whether its pods are reachable.
    fn cluster_nodes(&self) -> Vec<NodeView> {
        Vec::new()
    }
    /// Every NetworkPolicy, ClusterNetworkPolicy or Namespace (`kind`) of the cluster store,
    /// with its status; none for the kinds with a view of their own.
    fn cluster_objects(&self, _kind: ObjectKind) -> Vec<ObjectView> {
        Vec::new()
    }
    /// The last `limit` transactions (batches of changes to the data plane), newest first.
    fn transactions(&self, _limit: usize) -> Vec<TransactionView> {
        Vec::new()
    }
    /// Every compiled NetworkPolicy rule of this node's pods, with the new connections it
    /// allowed (all workers).
    fn policies(&self) -> Vec<PolicyRuleView> {
        Vec::new()
    }
    /// The verdict of the NetworkPolicies on a connection and what decided it; an error,
    /// for people, when the request names an unknown pod or a bad address.
    fn explain(&self, _request: ExplainRequest) -> Result<Explanation, String> {
        Err(
            "this agent keeps no cluster store, so it enforces no NetworkPolicies; \
             run `podwire daemon` to apply manifests"
                .to_owned(),
        )
    }
}

/// How many transactions `GET /v1/transactions` answers with when not told.
pub const DEFAULT_TRANSACTIONS: usize = 50;

/// Why a cluster store request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterCallError {
    /// The agent keeps no cluster store.
    #[error(
        "this agent keeps no cluster store, so it implements no Services; run `podwire daemon` to apply manifests"
    )]
    NoStore,
    /// The manifest has problems or conflicts with the store; nothing was changed. The text
    /// lists every problem.
    #[error("{0}")]
    Refused(String),
    /// The store could not make the change (it could not be saved); nothing was changed.
    #[error("{0}")]
    Failed(String),
}

/// What an attachment call resolves to.
pub type Reply<T> = Pin<Box<dyn Future<Output = Result<T, AttachError>> + Send>>;

/// Why an attachment request failed, with the kind the CNI plugin turns into an error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AttachError {
    /// What kind of failure.
    pub kind: FailureKind,
    /// What went wrong and what to do, for people.
    pub message: String,
}

impl AttachError {
    /// A failure of `kind`.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        AttachError {
            kind,
            message: message.into(),
        }
    }

    /// The answer of an agent whose config has no `[[network]]`.
    pub fn no_pod_networks() -> Self {
        AttachError::new(
            FailureKind::Invalid,
            "this agent serves no pod networks: add a [[network]] to its config",
        )
    }
}

/// The answer of an agent that serves no pod networks.
fn no_pod_networks<T: Send + 'static>(_request: impl Send) -> Reply<T> {
    Box::pin(std::future::ready(Err(AttachError::no_pod_networks())))
}

/// The API's paths, shared by the server and the client so that they cannot drift apart.
pub mod paths {
    use podwire_model::cluster::ObjectKind;

    /// `GET`: [`InterfaceView`](podwire_model::api::InterfaceView)s.
    pub const INTERFACES: &str = "/v1/interfaces";
    /// `GET`: [`NodeRuntimeView`](podwire_model::api::NodeRuntimeView)s.
    pub const RUNTIME: &str = "/v1/runtime";
    /// `GET`: [`ErrorView`](podwire_model::api::ErrorView)s.
    pub const ERRORS: &str = "/v1/errors";
    /// `GET`: [`SessionTableView`](podwire_model::api::SessionTableView)s, one per worker.
    pub const SESSIONS: &str = "/v1/sessions";
    /// `GET`: [`RouteView`](podwire_model::api::RouteView)s.
    pub const ROUTES: &str = "/v1/routes";
    /// `GET`: [`NeighborView`](podwire_model::api::NeighborView)s.
    pub const NEIGHBORS: &str = "/v1/neighbors";
    /// `GET`: the [`TraceView`](podwire_model::api::TraceView); `POST ?add=N`: trace N packets.
    pub const TRACE: &str = "/v1/trace";
    /// `POST`: empty the trace buffer.
    pub const TRACE_CLEAR: &str = "/v1/trace/clear";
    /// `GET`: [`Health`](podwire_model::api::Health).
    pub const HEALTH: &str = "/v1/health";
    /// `GET`: [`Attachment`](podwire_model::attach::Attachment)s, every pod interface.
    pub const ATTACHMENTS: &str = "/v1/attachments";
    /// `GET`: [`NetworkStatus`](podwire_model::attach::NetworkStatus)es.
    pub const NETWORKS: &str = "/v1/networks";
    /// `POST` an [`AddRequest`](podwire_model::attach::AddRequest): an `Attachment`.
    pub const ATTACH_ADD: &str = "/v1/attachments/add";
    /// `POST` a [`DelRequest`](podwire_model::attach::DelRequest): a `DelReport`.
    pub const ATTACH_DEL: &str = "/v1/attachments/del";
    /// `POST` a [`CheckRequest`](podwire_model::attach::CheckRequest): the `Attachment`.
    pub const ATTACH_CHECK: &str = "/v1/attachments/check";
    /// `POST` a [`GcRequest`](podwire_model::attach::GcRequest): a `GcReport`.
    pub const ATTACH_GC: &str = "/v1/attachments/gc";
    /// `POST` a [`ManifestRequest`](podwire_model::cluster::ManifestRequest): a
    /// `ManifestReport`.
    pub const CLUSTER_APPLY: &str = "/v1/cluster/apply";
    /// `POST` a [`ManifestRequest`](podwire_model::cluster::ManifestRequest): a
    /// `ManifestReport`.
    pub const CLUSTER_DELETE: &str = "/v1/cluster/delete";
    /// `GET`: [`ServiceView`](podwire_model::cluster::ServiceView)s.
    pub const CLUSTER_SERVICES: &str = "/v1/cluster/services";
    /// `GET`: [`EndpointView`](podwire_model::cluster::EndpointView)s.
    pub const CLUSTER_ENDPOINTS: &str = "/v1/cluster/endpoints";
    /// `GET`: [`PodView`](podwire_model::cluster::PodView)s.
    pub const CLUSTER_PODS: &str = "/v1/cluster/pods";
    /// `GET`: [`NodeView`](podwire_model::cluster::NodeView)s.
    pub const CLUSTER_NODES: &str = "/v1/cluster/nodes";
    /// `GET`: [`ObjectView`](podwire_model::cluster::ObjectView)s of the NetworkPolicies.
    pub const CLUSTER_NETWORK_POLICIES: &str = "/v1/cluster/networkpolicies";
    /// `GET`: [`ObjectView`](podwire_model::cluster::ObjectView)s of the
    /// ClusterNetworkPolicies.
    pub const CLUSTER_CLUSTER_NETWORK_POLICIES: &str = "/v1/cluster/clusternetworkpolicies";
    /// `GET`: [`ObjectView`](podwire_model::cluster::ObjectView)s of the Namespaces.
    pub const CLUSTER_NAMESPACES: &str = "/v1/cluster/namespaces";
    /// The kinds shown as [`ObjectView`](podwire_model::cluster::ObjectView)s, each with its
    /// path.
    pub const CLUSTER_OBJECTS: [(ObjectKind, &str); 3] = [
        (ObjectKind::NetworkPolicy, CLUSTER_NETWORK_POLICIES),
        (
            ObjectKind::ClusterNetworkPolicy,
            CLUSTER_CLUSTER_NETWORK_POLICIES,
        ),
        (ObjectKind::Namespace, CLUSTER_NAMESPACES),
    ];
    /// `GET ?limit=N`: the last N [`TransactionView`](podwire_model::api::TransactionView)s,
    /// newest first; [`DEFAULT_TRANSACTIONS`](super::DEFAULT_TRANSACTIONS) without `limit`.
    pub const TRANSACTIONS: &str = "/v1/transactions";
    /// `GET`: [`PolicyRuleView`](podwire_model::policy::PolicyRuleView)s.
    pub const POLICIES: &str = "/v1/policies";
    /// `POST` an [`ExplainRequest`](podwire_model::policy::ExplainRequest): an
    /// `Explanation`.
    pub const EXPLAIN: &str = "/v1/explain";
    /// On the metrics listener: Prometheus text format.
    pub const METRICS: &str = "/metrics";
    /// On the metrics listener: 200 when healthy, 503 otherwise, with a `Health` body.
    pub const HEALTHZ: &str = "/healthz";
}
