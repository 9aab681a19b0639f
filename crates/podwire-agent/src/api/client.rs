//! A client for the agent's API socket, with one typed call per endpoint.
//!
//! Each call opens its own connection: the CLI makes one or two calls and exits.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode, header};
use hyper_util::rt::TokioIo;
use podwire_model::api::{
    ApiError, ErrorView, Health, InterfaceView, NeighborView, NodeRuntimeView, RouteView,
    TraceView, TransactionView,
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
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::UnixStream;

use super::paths;

/// How long a call waits for the agent unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a call to the agent failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing answers on the socket.
    #[error(
        "cannot reach the podwire agent at {}: is `podwire daemon` running? ({})",
        socket.display(),
        describe_connect_error(error)
    )]
    Unreachable {
        /// The socket.
        socket: PathBuf,
        /// What the system said; the message already words it, so it is not a `source`.
        error: io::Error,
    },
    /// The agent took longer than the timeout.
    #[error(
        "the podwire agent at {} did not answer within {} s; it may be overloaded or stuck: check its log",
        socket.display(),
        after.as_secs_f32()
    )]
    Timeout {
        /// The socket.
        socket: PathBuf,
        /// The time waited.
        after: Duration,
    },
    /// The HTTP exchange broke off.
    #[error("the connection to the podwire agent at {} failed: {source}", socket.display())]
    Connection {
        /// The socket.
        socket: PathBuf,
        /// What went wrong.
        #[source]
        source: hyper::Error,
    },
    /// The agent answered with an error.
    #[error("the podwire agent refused {method} {path}: {message} (HTTP {status})")]
    Refused {
        /// The method asked.
        method: Method,
        /// The path and query asked.
        path: String,
        /// The HTTP status.
        status: StatusCode,
        /// The agent's explanation.
        message: String,
        /// What kind of failure it was, for attachment requests.
        kind: Option<FailureKind>,
    },
    /// The answer is not the JSON this client expects.
    #[error(
        "the podwire agent's answer to {path} is not what this client expects ({source}); are `podwire` and the agent the same version?"
    )]
    Decode {
        /// The path asked.
        path: String,
        /// What did not match.
        #[source]
        source: serde_json::Error,
    },
}

/// The reason in an [`ClientError::Unreachable`] message, in words that suggest the fix.
fn describe_connect_error(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::NotFound => "there is no socket file at that path".to_owned(),
        io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
        io::ErrorKind::PermissionDenied => {
            "permission denied: run as root or as a member of the socket's group".to_owned()
        }
        _ => error.to_string(),
    }
}

/// A client of the agent at one socket.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
    timeout: Duration,
}

impl Client {
    /// A client of the agent listening on `socket`, waiting [`DEFAULT_TIMEOUT`] per call.
    pub fn new(socket: impl Into<PathBuf>) -> Client {
        Client {
            socket: socket.into(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Waits `timeout` per call instead.
    pub fn with_timeout(self, timeout: Duration) -> Client {
        Client { timeout, ..self }
    }

    /// The socket this client connects to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// `GET /v1/interfaces`
    pub async fn interfaces(&self) -> Result<Vec<InterfaceView>, ClientError> {
        self.get(paths::INTERFACES).await
    }

    /// `GET /v1/runtime`
    pub async fn runtime(&self) -> Result<Vec<NodeRuntimeView>, ClientError> {
        self.get(paths::RUNTIME).await
    }

    /// `GET /v1/errors`
    pub async fn errors(&self) -> Result<Vec<ErrorView>, ClientError> {
        self.get(paths::ERRORS).await
    }

    /// `GET /v1/sessions`
    pub async fn sessions(&self) -> Result<Vec<podwire_model::api::SessionTableView>, ClientError> {
        self.get(paths::SESSIONS).await
    }

    /// `GET /v1/routes`
    pub async fn routes(&self) -> Result<Vec<RouteView>, ClientError> {
        self.get(paths::ROUTES).await
    }

    /// `GET /v1/neighbors`
    pub async fn neighbors(&self) -> Result<Vec<NeighborView>, ClientError> {
        self.get(paths::NEIGHBORS).await
    }

    /// `GET /v1/trace`
    pub async fn trace(&self) -> Result<TraceView, ClientError> {
        self.get(paths::TRACE).await
    }

    /// `POST /v1/trace?add=N`: trace the next `packets` packets.
    pub async fn trace_add(&self, packets: u32) -> Result<(), ClientError> {
        let path = format!("{}?add={packets}", paths::TRACE);
        self.call(Method::POST, &path).await.map(drop)
    }

    /// `POST /v1/trace/clear`
    pub async fn trace_clear(&self) -> Result<(), ClientError> {
        self.call(Method::POST, paths::TRACE_CLEAR).await.map(drop)
    }

    /// `GET /v1/health`
    pub async fn health(&self) -> Result<Health, ClientError> {
        self.get(paths::HEALTH).await
    }

    /// `GET /v1/attachments`
    pub async fn attachments(&self) -> Result<Vec<Attachment>, ClientError> {
        self.get(paths::ATTACHMENTS).await
    }

    /// `GET /v1/networks`
    pub async fn networks(&self) -> Result<Vec<NetworkStatus>, ClientError> {
        self.get(paths::NETWORKS).await
    }

    /// `POST /v1/attachments/add`: wire a pod interface.
    pub async fn attach_add(&self, request: &AddRequest) -> Result<Attachment, ClientError> {
        self.post(paths::ATTACH_ADD, request).await
    }

    /// `POST /v1/attachments/del`: unwire a pod interface (a success when already gone).
    pub async fn attach_del(&self, request: &DelRequest) -> Result<DelReport, ClientError> {
        self.post(paths::ATTACH_DEL, request).await
    }

    /// `POST /v1/attachments/check`: the attachment, if it is as ADD left it.
    pub async fn attach_check(&self, request: &CheckRequest) -> Result<Attachment, ClientError> {
        self.post(paths::ATTACH_CHECK, request).await
    }

    /// `POST /v1/attachments/gc`: remove a network's attachments the runtime no longer has.
    pub async fn attach_gc(&self, request: &GcRequest) -> Result<GcReport, ClientError> {
        self.post(paths::ATTACH_GC, request).await
    }

    /// `POST /v1/cluster/apply`: create or replace the objects of a manifest, all or none
    /// (refused with HTTP 422 and every problem otherwise).
    pub async fn cluster_apply(
        &self,
        request: &ManifestRequest,
    ) -> Result<ManifestReport, ClientError> {
        self.post(paths::CLUSTER_APPLY, request).await
    }

    /// `POST /v1/cluster/delete`: remove the objects of a manifest.
    pub async fn cluster_delete(
        &self,
        request: &ManifestRequest,
    ) -> Result<ManifestReport, ClientError> {
        self.post(paths::CLUSTER_DELETE, request).await
    }

    /// `GET /v1/cluster/services`
    pub async fn cluster_services(&self) -> Result<Vec<ServiceView>, ClientError> {
        self.get(paths::CLUSTER_SERVICES).await
    }

    /// `GET /v1/cluster/endpoints`
    pub async fn cluster_endpoints(&self) -> Result<Vec<EndpointView>, ClientError> {
        self.get(paths::CLUSTER_ENDPOINTS).await
    }

    /// `GET /v1/cluster/pods`
    pub async fn cluster_pods(&self) -> Result<Vec<PodView>, ClientError> {
        self.get(paths::CLUSTER_PODS).await
    }

    /// `GET /v1/cluster/nodes`
    pub async fn cluster_nodes(&self) -> Result<Vec<NodeView>, ClientError> {
        self.get(paths::CLUSTER_NODES).await
    }

    /// `GET /v1/cluster/networkpolicies`, `/v1/cluster/clusternetworkpolicies` or
    /// `/v1/cluster/namespaces`, by `kind`; none for the kinds with a view of their own
    /// (not in [`paths::CLUSTER_OBJECTS`]), as the agent has none of them either.
    pub async fn cluster_objects(&self, kind: ObjectKind) -> Result<Vec<ObjectView>, ClientError> {
        match paths::CLUSTER_OBJECTS.iter().find(|(k, _)| *k == kind) {
            Some((_, path)) => self.get(path).await,
            None => Ok(Vec::new()),
        }
    }

    /// `GET /v1/transactions?limit=N`: the last `limit` transactions, newest first.
    pub async fn transactions(&self, limit: usize) -> Result<Vec<TransactionView>, ClientError> {
        let path = format!("{}?limit={limit}", paths::TRANSACTIONS);
        self.get(&path).await
    }

    /// `GET /v1/policies`
    pub async fn policies(&self) -> Result<Vec<PolicyRuleView>, ClientError> {
        self.get(paths::POLICIES).await
    }

    /// `POST /v1/explain`: the NetworkPolicies' verdict on a connection and what decided it
    /// (refused with HTTP 400 for an unknown pod or a bad address).
    pub async fn explain(&self, request: &ExplainRequest) -> Result<Explanation, ClientError> {
        self.post(paths::EXPLAIN, request).await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let body = self.call(Method::GET, path).await?;
        decode(path, &body)
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        request: &impl Serialize,
    ) -> Result<T, ClientError> {
        let json = serde_json::to_vec(request)
            .expect("the API's request types serialize to JSON without fail");
        let body = self
            .call_with(Method::POST, path, Bytes::from(json))
            .await?;
        decode(path, &body)
    }

    /// Makes one request on a new connection; the body of a 2xx answer, or the agent's error.
    async fn call(&self, method: Method, path: &str) -> Result<Bytes, ClientError> {
        self.call_with(method, path, Bytes::new()).await
    }

    /// [`Client::call`] with a JSON request body (empty: none).
    async fn call_with(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> Result<Bytes, ClientError> {
        tokio::time::timeout(self.timeout, self.exchange(method, path, body))
            .await
            .map_err(|_| ClientError::Timeout {
                socket: self.socket.clone(),
                after: self.timeout,
            })?
    }

    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> Result<Bytes, ClientError> {
        let stream =
            UnixStream::connect(&self.socket)
                .await
                .map_err(|error| ClientError::Unreachable {
                    socket: self.socket.clone(),
                    error,
                })?;
        let broken = |source| ClientError::Connection {
            socket: self.socket.clone(),
            source,
        };
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(broken)?;
        // The connection is driven by its own task; it ends when `sender` is dropped.
        tokio::spawn(connection);

        let mut request = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(header::HOST, "localhost");
        if !body.is_empty() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let request = request.body(Full::new(body)).expect(
            "a method, an ASCII path from `paths` and constant headers make a valid request",
        );
        let response = sender.send_request(request).await.map_err(broken)?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(broken)?
            .to_bytes();
        if status.is_success() {
            return Ok(body);
        }
        let (message, kind) = match serde_json::from_slice::<ApiError>(&body) {
            Ok(answer) => (answer.error, answer.kind),
            Err(_) => (String::from_utf8_lossy(&body).into_owned(), None),
        };
        Err(ClientError::Refused {
            method,
            path: path.to_owned(),
            status,
            message,
            kind,
        })
    }
}

fn decode<T: DeserializeOwned>(path: &str, body: &[u8]) -> Result<T, ClientError> {
    serde_json::from_slice(body).map_err(|source| ClientError::Decode {
        path: path.to_owned(),
        source,
    })
}
