//! The HTTP handlers of both listeners: the `/v1` API on the unix socket, and `/metrics` and
//! `/healthz` on the TCP listener. Each handler asks [`NodeControl`] on the blocking pool and
//! turns the answer into JSON or text.

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use axum::{Json, Router};
use podwire_model::api::{ApiError, HealthStatus, TransactionView};
use podwire_model::attach::FailureKind;
use podwire_model::cluster::{ManifestReport, ManifestRequest};
use podwire_model::policy::{ExplainRequest, Explanation};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::task::JoinError;

use super::{
    AttachError, ClusterCallError, DEFAULT_TRANSACTIONS, NodeControl, Reply, exposition, paths,
};

type Control = Arc<dyn NodeControl>;

/// Why a request got no answer from the data plane.
#[derive(Debug, thiserror::Error)]
enum RequestError {
    /// The `NodeControl` call panicked; the agent's log has the details.
    #[error("the data plane failed while answering ({0}); see the agent's log")]
    DataPlane(#[from] JoinError),
    /// `POST /v1/trace` without a usable `add=N`.
    #[error("{0}; ask as POST {path}?add=N with N a number of packets from 1 to {max}", path = paths::TRACE, max = u32::MAX)]
    BadTraceQuery(String),
    /// `GET /v1/transactions` with a `limit` that is not a count.
    #[error("{0}; ask as GET {path}?limit=N with N the number of transactions to list", path = paths::TRANSACTIONS)]
    BadTransactionsQuery(String),
    /// A request body that is not the JSON the path takes.
    #[error("the request is not what the API expects: {0}")]
    BadBody(String),
    /// `POST /v1/explain` about a connection the agent cannot explain (an unknown pod, a
    /// bad address); the agent's words say which and what to give instead.
    #[error("{0}")]
    Unexplainable(String),
    /// The path or method is not part of the API.
    #[error("there is no {method} {uri} in the podwire API; see `podwire ctl --help`")]
    NotFound {
        /// The method asked.
        method: Method,
        /// The path asked.
        uri: Uri,
    },
}

impl IntoResponse for RequestError {
    fn into_response(self) -> Response {
        let status = match &self {
            RequestError::DataPlane(_) => StatusCode::INTERNAL_SERVER_ERROR,
            RequestError::BadTraceQuery(_)
            | RequestError::BadTransactionsQuery(_)
            | RequestError::BadBody(_)
            | RequestError::Unexplainable(_) => StatusCode::BAD_REQUEST,
            RequestError::NotFound { .. } => StatusCode::NOT_FOUND,
        };
        let body = ApiError {
            error: self.to_string(),
            kind: None,
        };
        (status, Json(body)).into_response()
    }
}

/// Runs `call` on the blocking pool: `NodeControl` calls wait for the worker threads.
async fn ask<T: Send + 'static>(
    control: &Control,
    call: impl FnOnce(&dyn NodeControl) -> T + Send + 'static,
) -> Result<T, RequestError> {
    let control = Arc::clone(control);
    Ok(tokio::task::spawn_blocking(move || call(control.as_ref())).await?)
}

/// The `/v1` API.
pub(super) fn api_router(control: Control) -> Router {
    Router::new()
        .route(paths::INTERFACES, view(|c| c.interfaces()))
        .route(paths::RUNTIME, view(|c| c.runtime()))
        .route(paths::ERRORS, view(|c| c.errors()))
        .route(paths::SESSIONS, view(|c| c.sessions()))
        .route(paths::ROUTES, view(|c| c.routes()))
        .route(paths::NEIGHBORS, view(|c| c.neighbors()))
        .route(paths::TRACE, view(|c| c.trace_show()).post(trace_add))
        .route(paths::TRACE_CLEAR, post(trace_clear))
        .route(paths::HEALTH, view(|c| c.health()))
        .route(paths::ATTACHMENTS, view(|c| c.attachments()))
        .route(paths::NETWORKS, view(|c| c.networks()))
        .route(paths::ATTACH_ADD, post(attach(|c, r| c.attach_add(r))))
        .route(paths::ATTACH_DEL, post(attach(|c, r| c.attach_del(r))))
        .route(paths::ATTACH_CHECK, post(attach(|c, r| c.attach_check(r))))
        .route(paths::ATTACH_GC, post(attach(|c, r| c.attach_gc(r))))
        .route(paths::CLUSTER_APPLY, manifest(|c, r| c.cluster_apply(r)))
        .route(paths::CLUSTER_DELETE, manifest(|c, r| c.cluster_delete(r)))
        .route(paths::CLUSTER_SERVICES, view(|c| c.cluster_services()))
        .route(paths::CLUSTER_ENDPOINTS, view(|c| c.cluster_endpoints()))
        .route(paths::CLUSTER_PODS, view(|c| c.cluster_pods()))
        .route(paths::CLUSTER_NODES, view(|c| c.cluster_nodes()))
        .merge(object_routes())
        .route(paths::TRANSACTIONS, get(transactions))
        .route(paths::POLICIES, view(|c| c.policies()))
        .route(paths::EXPLAIN, post(explain))
        .fallback(not_found)
        .with_state(control)
}

/// A `GET` route that answers with what `call` returns, as JSON.
fn view<T: Serialize + Send + 'static>(call: fn(&dyn NodeControl) -> T) -> MethodRouter<Control> {
    get(move |State(control): State<Control>| async move { ask(&control, call).await.map(Json) })
}

/// A `GET` route per kind of [`paths::CLUSTER_OBJECTS`], answering with its objects.
fn object_routes() -> Router<Control> {
    paths::CLUSTER_OBJECTS
        .into_iter()
        .fold(Router::new(), |router, (kind, path)| {
            router.route(
                path,
                get(move |State(control): State<Control>| async move {
                    ask(&control, move |c| c.cluster_objects(kind))
                        .await
                        .map(Json)
                }),
            )
        })
}

/// A `POST` handler that decodes the JSON request, hands it to `call` and answers with what it
/// resolves to, or with the failure and its kind.
fn attach<Req, T>(
    call: fn(Control, Req) -> Reply<T>,
) -> impl Fn(State<Control>, Result<Json<Req>, JsonRejection>) -> AttachFuture + Clone + Send + 'static
where
    Req: DeserializeOwned + Send + 'static,
    T: Serialize + Send + 'static,
{
    move |State(control): State<Control>, request: Result<Json<Req>, JsonRejection>| {
        Box::pin(async move {
            let Json(request) = match request {
                Ok(request) => request,
                Err(rejection) => {
                    return attach_failure(AttachError::new(
                        FailureKind::Invalid,
                        format!(
                            "the request is not what the API expects: {}",
                            rejection.body_text()
                        ),
                    ));
                }
            };
            match call(control, request).await {
                Ok(answer) => Json(answer).into_response(),
                Err(error) => attach_failure(error),
            }
        })
    }
}

type AttachFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send>>;

fn attach_failure(error: AttachError) -> Response {
    let status = match error.kind {
        FailureKind::Invalid => StatusCode::BAD_REQUEST,
        FailureKind::UnknownContainer => StatusCode::NOT_FOUND,
        FailureKind::AlreadyExists | FailureKind::NotAsAdded => StatusCode::CONFLICT,
        FailureKind::Exhausted => StatusCode::SERVICE_UNAVAILABLE,
        FailureKind::Kernel | FailureKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let body = ApiError {
        error: error.message,
        kind: Some(error.kind),
    };
    (status, Json(body)).into_response()
}

/// A `POST` route that hands the manifest of the request to `call` and answers with its
/// report, or with why it was refused.
fn manifest(
    call: fn(&dyn NodeControl, ManifestRequest) -> Result<ManifestReport, ClusterCallError>,
) -> MethodRouter<Control> {
    post(
        move |State(control): State<Control>,
              request: Result<Json<ManifestRequest>, JsonRejection>| async move {
            let Json(request) =
                request.map_err(|rejection| RequestError::BadBody(rejection.body_text()))?;
            match ask(&control, move |c| call(c, request)).await? {
                Ok(report) => Ok(Json(report).into_response()),
                Err(error) => Ok::<_, RequestError>(error.into_response()),
            }
        },
    )
}

impl IntoResponse for ClusterCallError {
    fn into_response(self) -> Response {
        let status = match &self {
            ClusterCallError::NoStore => StatusCode::NOT_IMPLEMENTED,
            ClusterCallError::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ClusterCallError::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let body = ApiError {
            error: self.to_string(),
            kind: None,
        };
        (status, Json(body)).into_response()
    }
}

async fn explain(
    State(control): State<Control>,
    request: Result<Json<ExplainRequest>, JsonRejection>,
) -> Result<Json<Explanation>, RequestError> {
    let Json(request) =
        request.map_err(|rejection| RequestError::BadBody(rejection.body_text()))?;
    ask(&control, move |c| c.explain(request))
        .await?
        .map(Json)
        .map_err(RequestError::Unexplainable)
}

/// The query of `POST /v1/trace`.
#[derive(Deserialize)]
struct TraceAdd {
    add: u32,
}

async fn trace_add(
    State(control): State<Control>,
    query: Result<Query<TraceAdd>, QueryRejection>,
) -> Result<StatusCode, RequestError> {
    let Query(TraceAdd { add }) =
        query.map_err(|rejection| RequestError::BadTraceQuery(rejection.body_text()))?;
    if add == 0 {
        return Err(RequestError::BadTraceQuery(
            "add=0 would trace nothing".to_owned(),
        ));
    }
    ask(&control, move |c| c.trace_add(add)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The query of `GET /v1/transactions`.
#[derive(Deserialize)]
struct TransactionsQuery {
    #[serde(default = "default_transactions")]
    limit: usize,
}

fn default_transactions() -> usize {
    DEFAULT_TRANSACTIONS
}

async fn transactions(
    State(control): State<Control>,
    query: Result<Query<TransactionsQuery>, QueryRejection>,
) -> Result<Json<Vec<TransactionView>>, RequestError> {
    let Query(TransactionsQuery { limit }) =
        query.map_err(|rejection| RequestError::BadTransactionsQuery(rejection.body_text()))?;
    Ok(Json(ask(&control, move |c| c.transactions(limit)).await?))
}

async fn trace_clear(State(control): State<Control>) -> Result<StatusCode, RequestError> {
    ask(&control, |c| c.trace_clear()).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn not_found(method: Method, uri: Uri) -> RequestError {
    RequestError::NotFound { method, uri }
}

/// `/metrics` and `/healthz`.
pub(super) fn metrics_router(control: Control) -> Router {
    Router::new()
        .route(paths::METRICS, get(metrics))
        .route(paths::HEALTHZ, get(healthz))
        .fallback(not_found)
        .with_state(control)
}

async fn metrics(State(control): State<Control>) -> Result<Response, RequestError> {
    let text = ask(&control, |c| {
        exposition::render(&exposition::Counters {
            interfaces: &c.interfaces(),
            runtime: &c.runtime(),
            errors: &c.errors(),
            sessions: &c.sessions(),
            policies: &c.policies(),
        })
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, exposition::CONTENT_TYPE)], text).into_response())
}

/// 200 when the data plane is healthy, 503 otherwise (probes only look at the status).
async fn healthz(State(control): State<Control>) -> Result<Response, RequestError> {
    let health = ask(&control, |c| c.health()).await?;
    let status = match health.status {
        HealthStatus::Ok => StatusCode::OK,
        HealthStatus::Starting | HealthStatus::Degraded => StatusCode::SERVICE_UNAVAILABLE,
    };
    Ok((status, Json(health)).into_response())
}
