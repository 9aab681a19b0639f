//! Health-check node ports, with kube-proxy's HTTP contract: a LoadBalancer Service with
//! `externalTrafficPolicy: Local` gets a port on every node that answers any `GET` with
//! `200` when the node has a ready local endpoint of the Service (and the proxy is healthy),
//! else `503`, so that the load balancer sends only to nodes that can serve without a second
//! hop. Body: `{"service":{"namespace":..,"name":..},"localEndpoints":N,
//! "serviceProxyHealthy":true}`; headers `Content-Type: application/json`,
//! `X-Content-Type-Options: nosniff`, `X-Load-Balancing-Endpoint-Weight: N`. Terminating
//! endpoints do not count, even when they still serve traffic.
//!
//! The servers listen in the agent's own network namespace (the node's), on every address.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use podwire_model::service::{ServiceId, ServiceModel};

/// What one health-check port reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthState {
    /// The Service.
    pub service: ServiceId,
    /// Its ready local endpoints.
    pub local_endpoints: usize,
}

/// Why a health-check port could not be served.
#[derive(Debug, thiserror::Error)]
#[error(
    "Service {service}: cannot listen on health-check node port {port}: {source}; another process holds it, or the port is privileged"
)]
pub struct HealthCheckError {
    /// The Service.
    pub service: ServiceId,
    /// Its port.
    pub port: u16,
    /// Why.
    pub source: std::io::Error,
}

struct Server {
    state: Arc<Mutex<HealthState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The health-check servers, one per port.
#[derive(Default)]
pub struct HealthChecks {
    servers: HashMap<u16, Server>,
    owners: HashMap<ServiceId, u16>,
}

impl HealthChecks {
    /// Serves, updates or stops the health-check port of Service `id` as its new `model`
    /// says. Must be called within a tokio runtime.
    pub fn update(
        &mut self,
        id: &ServiceId,
        model: Option<&ServiceModel>,
    ) -> Result<(), HealthCheckError> {
        let wanted = model.and_then(|m| Some((m.health_check_node_port?, m)));
        let owned = self.owners.get(id).copied();
        if owned.is_some_and(|port| wanted.is_none_or(|(p, _)| p != port)) {
            self.owners.remove(id);
            if let Some(port) = owned {
                self.servers.remove(&port);
            }
        }
        let Some((port, model)) = wanted else {
            return Ok(());
        };
        let state = HealthState {
            service: id.clone(),
            local_endpoints: model.local_ready_endpoints,
        };
        if let Some(server) = self.servers.get(&port) {
            *server.state.lock().unwrap_or_else(|e| e.into_inner()) = state;
            self.owners.insert(id.clone(), port);
            return Ok(());
        }
        let error = |source| HealthCheckError {
            service: id.clone(),
            port,
            source,
        };
        let listener = std::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)))
            .map_err(error)?;
        listener.set_nonblocking(true).map_err(error)?;
        let listener = tokio::net::TcpListener::from_std(listener).map_err(error)?;
        let state = Arc::new(Mutex::new(state));
        let router = Router::new()
            .fallback(answer)
            .with_state(Arc::clone(&state));
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::warn!("health-check node port {port} stopped: {e}");
            }
        });
        self.servers.insert(port, Server { state, task });
        self.owners.insert(id.clone(), port);
        Ok(())
    }

    /// The ports served now.
    pub fn ports(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = self.servers.keys().copied().collect();
        ports.sort_unstable();
        ports
    }
}

/// The answer to any request.
async fn answer(State(state): State<Arc<Mutex<HealthState>>>) -> Response {
    let state = state.lock().unwrap_or_else(|e| e.into_inner()).clone();
    respond(&state)
}

/// kube-proxy's answer for `state`.
pub fn respond(state: &HealthState) -> Response {
    let body = serde_json::json!({
        "service": {"namespace": state.service.namespace, "name": state.service.name},
        "localEndpoints": state.local_endpoints,
        "serviceProxyHealthy": true,
    });
    let status = match state.local_endpoints {
        0 => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::OK,
    };
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        "X-Load-Balancing-Endpoint-Weight",
        HeaderValue::from(state.local_endpoints),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(port: Option<u16>, local: usize) -> ServiceModel {
        ServiceModel {
            id: id(),
            frontends: Vec::new(),
            health_check_node_port: port,
            local_ready_endpoints: local,
        }
    }

    fn id() -> ServiceId {
        ServiceId {
            namespace: "default".into(),
            name: "web".into(),
        }
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    async fn get(port: u16) -> (u16, String, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).await.unwrap();
        let status = text[9..12].parse().unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        (status, head.to_ascii_lowercase(), body.to_owned())
    }

    #[tokio::test]
    async fn answers_200_with_local_endpoints_and_503_without() {
        let port = free_port();
        let mut checks = HealthChecks::default();
        checks.update(&id(), Some(&model(Some(port), 2))).unwrap();
        let (status, head, body) = get(port).await;
        assert_eq!(status, 200);
        assert!(head.contains("content-type: application/json"), "{head}");
        assert!(head.contains("x-content-type-options: nosniff"), "{head}");
        assert!(
            head.contains("x-load-balancing-endpoint-weight: 2"),
            "{head}"
        );
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["service"]["name"], "web");
        assert_eq!(json["service"]["namespace"], "default");
        assert_eq!(json["localEndpoints"], 2);
        assert_eq!(json["serviceProxyHealthy"], true);

        checks.update(&id(), Some(&model(Some(port), 0))).unwrap();
        let (status, _, body) = get(port).await;
        assert_eq!(status, 503);
        assert!(body.contains("\"localEndpoints\":0"), "{body}");
    }

    #[tokio::test]
    async fn a_service_without_the_port_stops_its_server() {
        let port = free_port();
        let mut checks = HealthChecks::default();
        checks.update(&id(), Some(&model(Some(port), 1))).unwrap();
        assert_eq!(checks.ports(), vec![port]);
        checks.update(&id(), Some(&model(None, 1))).unwrap();
        assert!(checks.ports().is_empty());
        // The port is free again once the task is gone.
        tokio::task::yield_now().await;
        let mut bound = None;
        for _ in 0..100 {
            if let Ok(l) = std::net::TcpListener::bind(("0.0.0.0", port)) {
                bound = Some(l);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(
            bound.is_some(),
            "port {port} still held after the Service lost it"
        );
    }
}
