//! The server and the client together: a fake data plane behind a real socket and a real
//! TCP listener.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use podwire_model::api::{
    ErrorView, Health, HealthStatus, InterfaceView, NeighborState, NeighborView, NodeRuntimeView,
    RouteAction, RouteView, TraceStep, TraceView, TracedPacket, TransactionObject, TransactionView,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use podwire_model::cluster::{
    Change, EndpointView, ManifestReport, ManifestRequest, NodeView, ObjectChange, ObjectKey,
    ObjectKind, ObjectStatus, ObjectView, PodView, ServiceView,
};
use podwire_model::policy::{
    ExplainRequest, Explanation, PolicyDirection, PolicyId, PolicyRuleView, RuleId, Verdict,
};
use podwire_model::service::Protocol;

use super::client::{Client, ClientError};
use super::*;

/// A data plane that answers with fixed views and records what it was told.
struct Fake {
    health: HealthStatus,
    /// Whether `routes` panics, as a data plane that fails to answer.
    broken: bool,
    traces_added: Mutex<Vec<u32>>,
    clears: Mutex<u32>,
    /// The manifests applied and deleted, as `("apply" | "delete", text)`.
    manifests: Mutex<Vec<(&'static str, String)>>,
    /// The limits transactions were asked with.
    transaction_limits: Mutex<Vec<usize>>,
}

impl Fake {
    fn new(health: HealthStatus, broken: bool) -> Arc<Fake> {
        Arc::new(Fake {
            health,
            broken,
            traces_added: Mutex::new(Vec::new()),
            clears: Mutex::new(0),
            manifests: Mutex::new(Vec::new()),
            transaction_limits: Mutex::new(Vec::new()),
        })
    }
}

fn interfaces() -> Vec<InterfaceView> {
    vec![InterfaceView {
        index: 1,
        name: "uplink0".into(),
        kind: "af-packet".into(),
        mac: "02:00:00:00:00:01".into(),
        mtu: 1500,
        offloads: vec![],
        up: true,
        addresses: vec!["192.168.50.1/24".into()],
        peer: "veth-up".into(),
        rx_packets: 10,
        rx_bytes: 1000,
        tx_packets: 20,
        tx_bytes: 2000,
        drops: 1,
    }]
}

fn runtime() -> Vec<NodeRuntimeView> {
    vec![NodeRuntimeView {
        worker: 0,
        node: "ip4-\"lookup\"".into(),
        calls: 3,
        vectors: 4,
        packets: 50,
        nanos: 5000,
    }]
}

fn errors() -> Vec<ErrorView> {
    vec![ErrorView {
        worker: 1,
        node: "ip4-input".into(),
        reason: "ttl-expired".into(),
        description: "IP TTL expired".into(),
        count: 7,
    }]
}

fn routes() -> Vec<RouteView> {
    vec![RouteView {
        prefix: "10.9.0.0/16".into(),
        action: RouteAction::Forward,
        via: Some("192.168.50.2".into()),
        interface: Some("uplink0".into()),
    }]
}

fn neighbors() -> Vec<NeighborView> {
    vec![NeighborView {
        interface: "uplink0".into(),
        ip: "192.168.50.2".into(),
        mac: "02:00:00:00:00:02".into(),
        state: NeighborState::Reachable,
        age_ms: Some(1500),
    }]
}

fn trace() -> TraceView {
    TraceView {
        packets: vec![TracedPacket {
            id: 0,
            worker: 0,
            rx_interface: "uplink0".into(),
            timestamp_ns: 123,
            steps: vec![TraceStep {
                node: "ethernet-input".into(),
                detail: "IP4: 02:00:00:00:00:02 -> 02:00:00:00:00:01".into(),
            }],
        }],
    }
}

impl NodeControl for Fake {
    fn interfaces(&self) -> Vec<InterfaceView> {
        interfaces()
    }
    fn runtime(&self) -> Vec<NodeRuntimeView> {
        runtime()
    }
    fn errors(&self) -> Vec<ErrorView> {
        errors()
    }
    fn routes(&self) -> Vec<RouteView> {
        assert!(!self.broken, "the broken fake data plane fails on routes");
        routes()
    }
    fn neighbors(&self) -> Vec<NeighborView> {
        neighbors()
    }
    fn trace_add(&self, packets: u32) {
        self.traces_added.lock().unwrap().push(packets);
    }
    fn trace_show(&self) -> TraceView {
        trace()
    }
    fn trace_clear(&self) {
        *self.clears.lock().unwrap() += 1;
    }
    fn health(&self) -> Health {
        Health {
            status: self.health,
            workers: 2,
            uptime_s: 60,
        }
    }
    fn cluster_apply(&self, request: ManifestRequest) -> Result<ManifestReport, ClusterCallError> {
        self.cluster_change("apply", Change::Created, request)
    }
    fn cluster_delete(&self, request: ManifestRequest) -> Result<ManifestReport, ClusterCallError> {
        self.cluster_change("delete", Change::Deleted, request)
    }
    fn cluster_services(&self) -> Vec<ServiceView> {
        service_views()
    }
    fn cluster_endpoints(&self) -> Vec<EndpointView> {
        endpoint_views()
    }
    fn cluster_pods(&self) -> Vec<PodView> {
        pod_views()
    }
    fn cluster_nodes(&self) -> Vec<NodeView> {
        node_views()
    }
    fn cluster_objects(&self, kind: ObjectKind) -> Vec<ObjectView> {
        object_views()
            .into_iter()
            .filter(|v| v.kind == kind)
            .collect()
    }
    fn transactions(&self, limit: usize) -> Vec<TransactionView> {
        self.transaction_limits.lock().unwrap().push(limit);
        transaction_views().into_iter().take(limit).collect()
    }
    fn policies(&self) -> Vec<PolicyRuleView> {
        policy_views()
    }
    fn explain(&self, request: ExplainRequest) -> Result<Explanation, String> {
        fake_explain(request)
    }
}

/// A server on a fresh socket in a temporary directory; stops it when dropped.
struct Running {
    fake: Arc<Fake>,
    client: Client,
    socket: PathBuf,
    metrics: std::net::SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServeError>>,
    _dir: tempfile::TempDir,
}

impl Running {
    async fn start(health: HealthStatus) -> Running {
        Running::start_fake(Fake::new(health, false)).await
    }

    async fn start_fake(fake: Arc<Fake>) -> Running {
        let dir = tempfile::tempdir().unwrap();
        // A directory that does not exist yet: the server must create it.
        let socket = dir.path().join("run/podwire.sock");
        let control: Arc<dyn NodeControl> = fake.clone();
        let server = Server::bind(control, &socket, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let metrics = server.metrics_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        Running {
            fake,
            client: Client::new(&socket),
            socket,
            metrics,
            stop: Some(stop),
            task,
            _dir: dir,
        }
    }

    /// Stops the server and waits for it.
    async fn stop(mut self) -> Result<(), ServeError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A `GET` over plain TCP; the status code and the body.
async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_owned(), body.to_owned())
}

#[tokio::test]
async fn the_client_gets_what_the_data_plane_returned() {
    let server = Running::start(HealthStatus::Ok).await;
    let client = &server.client;
    assert_eq!(client.interfaces().await.unwrap(), interfaces());
    assert_eq!(client.runtime().await.unwrap(), runtime());
    assert_eq!(client.errors().await.unwrap(), errors());
    assert_eq!(client.routes().await.unwrap(), routes());
    assert_eq!(client.neighbors().await.unwrap(), neighbors());
    assert_eq!(client.trace().await.unwrap(), trace());
    assert_eq!(
        client.health().await.unwrap(),
        Health {
            status: HealthStatus::Ok,
            workers: 2,
            uptime_s: 60
        }
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn trace_add_and_clear_reach_the_data_plane() {
    let server = Running::start(HealthStatus::Ok).await;
    server.client.trace_add(5).await.unwrap();
    server.client.trace_add(u32::MAX).await.unwrap();
    server.client.trace_clear().await.unwrap();
    assert_eq!(*server.fake.traces_added.lock().unwrap(), vec![5, u32::MAX]);
    assert_eq!(*server.fake.clears.lock().unwrap(), 1);

    let zero = server.client.trace_add(0).await.unwrap_err();
    assert!(
        matches!(&zero, ClientError::Refused { status, message, .. }
            if status.as_u16() == 400 && message.contains("add=0 would trace nothing")),
        "{zero}"
    );
    assert_eq!(*server.fake.traces_added.lock().unwrap(), vec![5, u32::MAX]);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_failing_data_plane_call_answers_500_and_the_server_goes_on() {
    let server = Running::start_fake(Fake::new(HealthStatus::Ok, true)).await;
    let error = server.client.routes().await.unwrap_err();
    match &error {
        ClientError::Refused {
            status, message, ..
        } => {
            assert_eq!(status.as_u16(), 500);
            assert!(message.contains("the data plane failed"), "{message}");
        }
        other => panic!("expected a refusal, got {other}"),
    }
    assert_eq!(server.client.interfaces().await.unwrap(), interfaces());
    server.stop().await.unwrap();
}

#[tokio::test]
async fn metrics_are_exported_as_prometheus_text() {
    let server = Running::start(HealthStatus::Ok).await;
    let (status, head, body) = http_get(server.metrics, "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4; charset=utf-8"),
        "{head}"
    );
    for line in [
        r#"podwire_interface_rx_packets_total{interface="uplink0"} 10"#,
        r#"podwire_interface_tx_bytes_total{interface="uplink0"} 2000"#,
        r#"podwire_node_packets_total{worker="0",node="ip4-\"lookup\""} 50"#,
        r#"podwire_node_nanoseconds_total{worker="0",node="ip4-\"lookup\""} 5000"#,
        r#"podwire_drops_total{worker="1",node="ip4-input",reason="ttl-expired"} 7"#,
        r#"podwire_policy_rule_packets_total{pod="shop/db-0",rule="shop/db-access ingress[0]",action="Allow"} 12"#,
    ] {
        assert!(
            body.lines().any(|l| l == line),
            "missing {line:?} in\n{body}"
        );
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn healthz_follows_the_health_status() {
    let healthy = Running::start(HealthStatus::Ok).await;
    let (status, _, body) = http_get(healthy.metrics, "/healthz").await;
    assert_eq!(status, 200);
    assert!(body.contains(r#""status":"ok""#), "{body}");
    healthy.stop().await.unwrap();

    let starting = Running::start(HealthStatus::Starting).await;
    assert_eq!(http_get(starting.metrics, "/healthz").await.0, 503);
    starting.stop().await.unwrap();
}

#[tokio::test]
async fn unknown_paths_answer_404_with_a_json_error() {
    let server = Running::start(HealthStatus::Ok).await;
    let (status, _, body) = http_get(server.metrics, "/v2/nothing").await;
    assert_eq!(status, 404);
    let error: podwire_model::api::ApiError = serde_json::from_str(&body).unwrap();
    assert!(error.error.contains("GET /v2/nothing"), "{}", error.error);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn the_socket_is_group_only_and_removed_on_shutdown() {
    let server = Running::start(HealthStatus::Ok).await;
    let socket = server.socket.clone();
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o660);
    server.stop().await.unwrap();
    assert!(!socket.exists(), "{} is still there", socket.display());
}

fn fake_control() -> Arc<dyn NodeControl> {
    Fake::new(HealthStatus::Ok, false)
}

#[tokio::test]
async fn serve_can_be_spawned_and_stops_on_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("podwire.sock");
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(serve(
        fake_control(),
        &socket.clone(),
        "127.0.0.1:0".parse().unwrap(),
        async {
            let _ = stopped.await;
        },
    ));
    // The socket answers once bound; retrying covers the moment before the task binds it.
    let client = Client::new(&socket);
    let health = loop {
        match client.health().await {
            Ok(health) => break health,
            Err(ClientError::Unreachable { .. }) if !served.is_finished() => {
                tokio::task::yield_now().await
            }
            Err(other) => panic!("{other}"),
        }
    };
    assert_eq!(health.status, HealthStatus::Ok);
    stop.send(()).unwrap();
    served.await.unwrap().unwrap();
    assert!(!socket.exists());
}

#[tokio::test]
async fn a_stale_socket_is_replaced_but_a_live_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("podwire.sock");
    // A listener that is gone leaves its socket file behind.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    assert!(socket.exists());

    let metrics = "127.0.0.1:0".parse().unwrap();
    let live = Server::bind(fake_control(), &socket, metrics)
        .await
        .unwrap();
    match Server::bind(fake_control(), &socket, metrics).await {
        Err(ServeError::Socket(SocketError::InUse { path })) => assert_eq!(path, socket),
        other => panic!("expected the socket to be in use, got {other:?}"),
    }
    drop(live);
    assert!(!socket.exists(), "dropping a server removes its socket");
}

#[tokio::test]
async fn a_file_that_is_not_a_socket_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("podwire.sock");
    std::fs::write(&path, "keep me").unwrap();
    let error = Server::bind(fake_control(), &path, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(error, ServeError::Socket(SocketError::NotASocket { .. })),
        "{error}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me");
}

#[tokio::test]
async fn a_taken_metrics_port_is_reported_and_the_socket_cleaned_up() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("podwire.sock");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let error = Server::bind(fake_control(), &socket, addr)
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with(&format!("cannot listen for metrics on {addr}: ")),
        "{error}"
    );
    assert!(!socket.exists());
}

#[tokio::test]
async fn an_unreachable_agent_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.sock");
    assert_eq!(
        Client::new(&missing)
            .health()
            .await
            .unwrap_err()
            .to_string(),
        format!(
            "cannot reach the podwire agent at {}: is `podwire daemon` running? (there is no socket file at that path)",
            missing.display()
        )
    );

    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    assert_eq!(
        Client::new(&stale).health().await.unwrap_err().to_string(),
        format!(
            "cannot reach the podwire agent at {}: is `podwire daemon` running? (connection refused)",
            stale.display()
        )
    );
}

#[tokio::test]
async fn an_agent_that_does_not_answer_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let path: &Path = &dir.path().join("silent.sock");
    // Accepts connections (the kernel does, into the backlog) but never answers.
    let _silent = tokio::net::UnixListener::bind(path).unwrap();
    let client = Client::new(path).with_timeout(std::time::Duration::from_millis(50));
    let error = client.health().await.unwrap_err();
    assert!(matches!(error, ClientError::Timeout { .. }), "{error}");
}

impl Fake {
    /// A store that refuses a manifest saying `conflict`, has no room for one saying `full`
    /// and is missing for one saying `nothing`; it records the others and reports one
    /// Service `default/<manifest>` with `change`.
    fn cluster_change(
        &self,
        verb: &'static str,
        change: Change,
        request: ManifestRequest,
    ) -> Result<ManifestReport, ClusterCallError> {
        match request.manifest.as_str() {
            "conflict" => return Err(ClusterCallError::Refused(REFUSAL.to_owned())),
            "full" => return Err(ClusterCallError::Failed("no room on the disk".to_owned())),
            "nothing" => return Err(ClusterCallError::NoStore),
            _ => {}
        }
        let key = ObjectKey {
            kind: ObjectKind::Service,
            namespace: "default".into(),
            name: request.manifest.clone(),
        };
        self.manifests
            .lock()
            .unwrap()
            .push((verb, request.manifest));
        Ok(ManifestReport {
            objects: vec![ObjectChange { key, change }],
        })
    }
}

/// What the fake store answers to a manifest it refuses: every problem, one a line.
const REFUSAL: &str = "the manifest was refused, nothing was changed:
document 1 (Service default/web): spec.ports[0].port: 0 is not a port: give 1-65535
Service default/api: spec.clusterIP: 10.96.0.10 is the ClusterIP of Service default/web already";

fn service_views() -> Vec<ServiceView> {
    vec![ServiceView {
        namespace: "default".into(),
        name: "web".into(),
        service_type: "NodePort".into(),
        cluster_ips: vec!["10.96.0.10".parse().unwrap()],
        external_ips: Vec::new(),
        ports: vec!["80/TCP:30080→8080".into()],
        frontends: vec!["10.96.0.10:80/TCP".into(), "*:30080/TCP".into()],
        endpoints: 2,
        local_endpoints: 1,
        affinity_timeout_s: Some(10800),
        health_check_node_port: None,
        status: ObjectStatus::Pending("no endpoints: connections are refused".into()),
    }]
}

fn endpoint_views() -> Vec<EndpointView> {
    vec![EndpointView {
        namespace: "default".into(),
        service: "web".into(),
        slice: "web-podwire-ipv4".into(),
        address: "10.244.0.5".parse().unwrap(),
        ports: vec!["http:8080/TCP".into()],
        node: Some("node-a".into()),
        pod: Some("default/web-0".into()),
        ready: true,
        serving: true,
        terminating: false,
    }]
}

fn pod_views() -> Vec<PodView> {
    vec![PodView {
        namespace: "default".into(),
        name: "web-0".into(),
        labels: vec!["app=web".into()],
        ips: vec!["10.244.0.5".parse().unwrap()],
        node: None,
        ready: true,
        status: ObjectStatus::Applied,
    }]
}

fn manifest(text: &str) -> ManifestRequest {
    ManifestRequest {
        manifest: text.to_owned(),
    }
}

#[tokio::test]
async fn manifests_reach_the_store_and_its_reports_come_back() {
    let server = Running::start(HealthStatus::Ok).await;
    let report = server.client.cluster_apply(&manifest("web")).await.unwrap();
    assert_eq!(
        report.objects,
        [ObjectChange {
            key: ObjectKey {
                kind: ObjectKind::Service,
                namespace: "default".into(),
                name: "web".into()
            },
            change: Change::Created
        }]
    );
    let report = server
        .client
        .cluster_delete(&manifest("api"))
        .await
        .unwrap();
    assert_eq!(report.objects[0].change, Change::Deleted);
    assert_eq!(
        *server.fake.manifests.lock().unwrap(),
        [("apply", "web".to_owned()), ("delete", "api".to_owned())]
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_refused_manifest_answers_422_with_every_problem() {
    let server = Running::start(HealthStatus::Ok).await;
    for refused in [
        server.client.cluster_apply(&manifest("conflict")).await,
        server.client.cluster_delete(&manifest("conflict")).await,
    ] {
        match refused.unwrap_err() {
            ClientError::Refused {
                status, message, ..
            } => {
                assert_eq!(status.as_u16(), 422);
                assert_eq!(message, REFUSAL);
            }
            other => panic!("expected a refusal, got {other}"),
        }
    }
    let status = |error: ClientError| match error {
        ClientError::Refused { status, .. } => status.as_u16(),
        other => panic!("expected a refusal, got {other}"),
    };
    let full = server.client.cluster_apply(&manifest("full")).await;
    assert_eq!(status(full.unwrap_err()), 500);
    let nothing = server.client.cluster_apply(&manifest("nothing")).await;
    assert_eq!(status(nothing.unwrap_err()), 501);
    assert!(server.fake.manifests.lock().unwrap().is_empty());
    server.stop().await.unwrap();
}

#[tokio::test]
async fn the_cluster_views_are_served() {
    let server = Running::start(HealthStatus::Ok).await;
    assert_eq!(
        server.client.cluster_services().await.unwrap(),
        service_views()
    );
    assert_eq!(
        server.client.cluster_endpoints().await.unwrap(),
        endpoint_views()
    );
    assert_eq!(server.client.cluster_pods().await.unwrap(), pod_views());
    server.stop().await.unwrap();
}

/// A JSON `POST` of `body` over the socket; the status code and the error the agent gave.
async fn post_raw(socket: &Path, path: &str, body: &str) -> (u16, podwire_model::api::ApiError) {
    let mut stream = tokio::net::UnixStream::connect(socket).await.unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap())
}

#[tokio::test]
async fn a_body_that_is_not_a_manifest_request_answers_400() {
    let server = Running::start(HealthStatus::Ok).await;
    let (status, error) = post_raw(
        &server.socket,
        paths::CLUSTER_APPLY,
        r#"{"manifesto": "web"}"#,
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        error
            .error
            .starts_with("the request is not what the API expects: "),
        "{}",
        error.error
    );
    assert!(server.fake.manifests.lock().unwrap().is_empty());
    server.stop().await.unwrap();
}

fn policy_views() -> Vec<PolicyRuleView> {
    vec![PolicyRuleView {
        pod: "shop/db-0".into(),
        rule: "shop/db-access ingress[0]".into(),
        action: "Allow".into(),
        packets: 12,
    }]
}

/// The pods the fake explains connections between.
const FAKE_PODS: [&str; 2] = ["shop/web-0", "shop/db-0"];

/// A fake verdict: `shop/db-access ingress[0]` lets TCP/5432 reach `shop/db-0`, and
/// nothing else; a party that is neither a known pod nor an address is refused.
fn fake_explain(request: ExplainRequest) -> Result<Explanation, String> {
    for party in [&request.from, &request.to] {
        if !FAKE_PODS.contains(&party.as_str()) && party.parse::<std::net::IpAddr>().is_err() {
            return Err(format!(
                "there is no pod {party}: give NAMESPACE/POD of a pod in the store, or an address"
            ));
        }
    }
    let policy = PolicyId {
        namespace: "shop".into(),
        name: "db-access".into(),
    };
    let allowed =
        request.to == "shop/db-0" && request.protocol == Protocol::Tcp && request.port == 5432;
    let (rule, reason) = if allowed {
        ("ingress[0]", "shop/db-access ingress[0] allows it")
    } else {
        ("ingress", "no rule of shop/db-access allows it")
    };
    Ok(Explanation {
        verdict: (if allowed { "allow" } else { "deny" }).into(),
        policy: Some(policy.to_string()),
        rule: Some(rule.into()),
        egress: None,
        ingress: Some(Verdict {
            allowed,
            rule: allowed.then(|| RuleId {
                policy: policy.clone(),
                direction: PolicyDirection::Ingress,
                index: 0,
            }),
            isolating: vec![policy],
            tier: None,
            passed: Vec::new(),
        }),
        reason: reason.into(),
    })
}

fn explain_request(from: &str, to: &str, protocol: Protocol, port: u16) -> ExplainRequest {
    ExplainRequest {
        from: from.into(),
        to: to.into(),
        protocol,
        port,
    }
}

#[tokio::test]
async fn policies_and_explanations_are_served() {
    let server = Running::start(HealthStatus::Ok).await;
    assert_eq!(server.client.policies().await.unwrap(), policy_views());
    for request in [
        explain_request("shop/web-0", "shop/db-0", Protocol::Tcp, 5432),
        explain_request("10.244.0.9", "shop/db-0", Protocol::Udp, 5432),
        explain_request("shop/db-0", "shop/web-0", Protocol::Sctp, 80),
    ] {
        assert_eq!(
            server.client.explain(&request).await.unwrap(),
            fake_explain(request).unwrap()
        );
    }
    let allowed = server
        .client
        .explain(&explain_request(
            "shop/web-0",
            "shop/db-0",
            Protocol::Tcp,
            5432,
        ))
        .await
        .unwrap();
    assert_eq!(
        (allowed.verdict.as_str(), allowed.rule.as_deref()),
        ("allow", Some("ingress[0]"))
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn an_explanation_of_an_unknown_pod_answers_400_with_the_reason() {
    let server = Running::start(HealthStatus::Ok).await;
    let request = explain_request("shop/nobody", "shop/db-0", Protocol::Tcp, 5432);
    match server.client.explain(&request).await.unwrap_err() {
        ClientError::Refused {
            status, message, ..
        } => {
            assert_eq!(status.as_u16(), 400);
            assert_eq!(
                message,
                "there is no pod shop/nobody: give NAMESPACE/POD of a pod in the store, or an address"
            );
        }
        other => panic!("expected a refusal, got {other}"),
    }
    // A protocol policies do not know is not an `ExplainRequest`.
    let body = r#"{"from": "shop/web-0", "to": "shop/db-0", "protocol": "ICMP", "port": 0}"#;
    let (status, error) = post_raw(&server.socket, paths::EXPLAIN, body).await;
    assert_eq!(status, 400);
    assert!(
        error
            .error
            .starts_with("the request is not what the API expects: "),
        "{}",
        error.error
    );
    server.stop().await.unwrap();
}

fn node_views() -> Vec<NodeView> {
    vec![
        NodeView {
            name: "node-a".into(),
            pod_cidrs: vec!["10.244.0.0/24".into(), "fd44::/64".into()],
            tunnel_address: Some("192.168.60.1".parse().unwrap()),
            this_node: true,
            status: ObjectStatus::Applied,
        },
        NodeView {
            name: "node-b".into(),
            pod_cidrs: Vec::new(),
            tunnel_address: None,
            this_node: false,
            status: ObjectStatus::Retrying {
                reason: "it has no pod CIDR yet".into(),
                attempts: 2,
            },
        },
    ]
}

/// A NetworkPolicy of each status that has a reason, and a ClusterNetworkPolicy and a
/// Namespace that are applied.
fn object_views() -> Vec<ObjectView> {
    let view = |kind, namespace: &str, name: &str, summary: &str, status| ObjectView {
        kind,
        namespace: namespace.into(),
        name: name.into(),
        summary: summary.into(),
        status,
    };
    vec![
        view(
            ObjectKind::NetworkPolicy,
            "shop",
            "web",
            "selects 0 pods on this node, 1 ingress / 0 egress rules",
            ObjectStatus::Pending("selects no pod on this node".into()),
        ),
        view(
            ObjectKind::NetworkPolicy,
            "shop",
            "bad",
            "selects 1 pod on this node, 1 ingress / 0 egress rules",
            ObjectStatus::Failed("spec.policyTypes[0]: \"Sideways\" is not a policy type".into()),
        ),
        view(
            ObjectKind::ClusterNetworkPolicy,
            "",
            "deny-red",
            "tier Admin, priority 10, 1 rule",
            ObjectStatus::Applied,
        ),
        view(
            ObjectKind::Namespace,
            "",
            "shop",
            "2 pods, 1 service",
            ObjectStatus::Applied,
        ),
    ]
}

/// Three transactions, newest first.
fn transaction_views() -> Vec<TransactionView> {
    (1..=3)
        .rev()
        .map(|id| TransactionView {
            id,
            started_unix_ms: 1_700_000_000_000 + id,
            duration_us: 250 * id,
            trigger: format!("etcd: {id} events"),
            objects: vec![TransactionObject {
                key: "Service shop/web".into(),
                change: "configured".into(),
                status: "applied".into(),
            }],
            notes: vec!["routes: +2 -0".into()],
            outcome: match id {
                2 => "failed: etcd is unreachable".into(),
                _ => "ok".into(),
            },
        })
        .collect()
}

/// A `GET` over the socket; the status code and the body.
async fn get_raw(socket: &Path, path: &str) -> (u16, String) {
    let mut stream = tokio::net::UnixStream::connect(socket).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    (
        head.split(' ').nth(1).unwrap().parse().unwrap(),
        body.to_owned(),
    )
}

#[tokio::test]
async fn policies_and_namespaces_are_served_each_on_its_path() {
    let server = Running::start(HealthStatus::Ok).await;
    for (kind, path) in paths::CLUSTER_OBJECTS {
        let expected: Vec<ObjectView> = object_views()
            .into_iter()
            .filter(|v| v.kind == kind)
            .collect();
        assert!(!expected.is_empty(), "{kind}");
        assert_eq!(server.client.cluster_objects(kind).await.unwrap(), expected);
        // The statuses travel as the model says: a state with its reason beside it.
        let (status, body) = get_raw(&server.socket, path).await;
        assert_eq!(status, 200, "{path}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json[0]["status"]["state"], expected[0].status.state());
    }
    let (_, body) = get_raw(&server.socket, paths::CLUSTER_NETWORK_POLICIES).await;
    assert!(
        body.contains(r#""reason":"selects no pod on this node""#),
        "{body}"
    );
    // Kinds with a view of their own are not asked for as objects.
    assert!(
        server
            .client
            .cluster_objects(ObjectKind::Service)
            .await
            .unwrap()
            .is_empty()
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn nodes_and_transactions_are_served() {
    let server = Running::start(HealthStatus::Ok).await;
    assert_eq!(server.client.cluster_nodes().await.unwrap(), node_views());
    let two = server.client.transactions(2).await.unwrap();
    assert_eq!(two, transaction_views()[..2]);
    assert_eq!(two[1].outcome, "failed: etcd is unreachable");

    // Without a limit the agent is asked for the default.
    let (status, body) = get_raw(&server.socket, paths::TRANSACTIONS).await;
    assert_eq!(status, 200);
    let all: Vec<TransactionView> = serde_json::from_str(&body).unwrap();
    assert_eq!(all, transaction_views());
    assert_eq!(
        *server.fake.transaction_limits.lock().unwrap(),
        [2, DEFAULT_TRANSACTIONS]
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_transactions_limit_that_is_not_a_count_answers_400() {
    let server = Running::start(HealthStatus::Ok).await;
    for query in ["limit=-1", "limit=many"] {
        let path = format!("{}?{query}", paths::TRANSACTIONS);
        let (status, body) = get_raw(&server.socket, &path).await;
        assert_eq!(status, 400, "{query}");
        let error: podwire_model::api::ApiError = serde_json::from_str(&body).unwrap();
        assert!(
            error.error.ends_with(
                "ask as GET /v1/transactions?limit=N with N the number of transactions to list"
            ),
            "{}",
            error.error
        );
    }
    assert!(server.fake.transaction_limits.lock().unwrap().is_empty());
    server.stop().await.unwrap();
}
