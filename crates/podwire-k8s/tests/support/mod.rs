//! A fake Kubernetes API server for the tests: it answers from recorded responses
//! (`tests/fixtures/`, in the API server's JSON format) and remembers every request.
// Each test file uses a part of this module; what one of them leaves unused is not dead.
#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::Response;
use futures::stream::{self, StreamExt};
use tokio::sync::Notify;

pub const NAMESPACES: &str = "/api/v1/namespaces";
pub const PODS: &str = "/api/v1/pods";
pub const SERVICES: &str = "/api/v1/services";
pub const ENDPOINT_SLICES: &str = "/apis/discovery.k8s.io/v1/endpointslices";
pub const NETWORK_POLICIES: &str = "/apis/networking.k8s.io/v1/networkpolicies";
pub const CLUSTER_NETWORK_POLICIES: &str =
    "/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies";
pub const NODES: &str = "/api/v1/nodes";
pub const NODE_B: &str = "/api/v1/nodes/node-b";

/// Where the API server serves each kind podwire watches.
pub const COLLECTIONS: [&str; 7] = [
    NAMESPACES,
    PODS,
    SERVICES,
    ENDPOINT_SLICES,
    NETWORK_POLICIES,
    CLUSTER_NETWORK_POLICIES,
    NODES,
];

/// How long a test waits for what it expects before failing: a guard against a hang, far
/// above what any step takes (the watcher's first retry backoff is under 2 s).
pub const GUARD: Duration = Duration::from_secs(60);

pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// One answer of the fake API server.
#[derive(Clone)]
pub enum Reply {
    /// A JSON document with this status.
    Json(StatusCode, String),
    /// A watch stream: these newline-delimited events, then the connection closes (as the
    /// API server closes a watch after an ERROR event) or stays open with nothing more.
    Watch { lines: String, close: bool },
}

impl Reply {
    pub fn ok(name: &str) -> Reply {
        Reply::Json(StatusCode::OK, fixture(name))
    }

    pub fn status(name: &str) -> Reply {
        let body = fixture(name);
        let document: serde_json::Value = serde_json::from_str(&body).expect("a Status");
        let code = document["code"].as_u64().expect("a Status has a code");
        Reply::Json(StatusCode::from_u16(code as u16).unwrap(), body)
    }

    pub fn idle_watch() -> Reply {
        Reply::Watch {
            lines: String::new(),
            close: false,
        }
    }

    fn into_response(self) -> Response {
        let body = match self {
            Reply::Json(status, body) => {
                return Response::builder()
                    .status(status)
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(body))
                    .unwrap();
            }
            Reply::Watch { lines, close } => {
                let lines: Vec<Result<Bytes, Infallible>> = lines
                    .lines()
                    .map(|line| Ok(Bytes::from(format!("{line}\n"))))
                    .collect();
                let events = stream::iter(lines);
                match close {
                    true => Body::from_stream(events),
                    false => Body::from_stream(events.chain(stream::pending())),
                }
            }
        };
        Response::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
            .unwrap()
    }
}

/// The answers for one path, in order; the last one repeats.
#[derive(Default)]
struct Script {
    /// To lists and gets.
    gets: Vec<Reply>,
    /// To watches.
    watches: Vec<Reply>,
    /// To patches.
    patches: Vec<Reply>,
}

/// One request the fake API server saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    pub watch: bool,
    pub resource_version: Option<String>,
    pub field_manager: Option<String>,
    pub content_type: Option<String>,
    pub body: Bytes,
}

#[derive(Default)]
struct Fake {
    scripts: HashMap<String, Script>,
    seen: Vec<Seen>,
}

/// A fake API server on 127.0.0.1: scripted paths answer from their script; the other
/// collections of [`COLLECTIONS`] with an empty list and an idle watch; anything else 404.
#[derive(Clone)]
pub struct FakeApi {
    state: Arc<Mutex<Fake>>,
    request_seen: Arc<Notify>,
}

impl FakeApi {
    pub fn new() -> FakeApi {
        FakeApi {
            state: Arc::default(),
            request_seen: Arc::default(),
        }
    }

    /// Answers GETs of `path` with `gets` and watches of it with `watches`.
    pub fn script(self, path: &str, gets: Vec<Reply>, watches: Vec<Reply>) -> FakeApi {
        self.edit_script(path, |script| {
            script.gets = gets;
            script.watches = watches;
        })
    }

    /// Answers PATCHes of `path` with `patches`.
    pub fn script_patches(self, path: &str, patches: Vec<Reply>) -> FakeApi {
        self.edit_script(path, |script| script.patches = patches)
    }

    fn edit_script(self, path: &str, edit: impl FnOnce(&mut Script)) -> FakeApi {
        edit(
            self.state
                .lock()
                .unwrap()
                .scripts
                .entry(path.to_owned())
                .or_default(),
        );
        self
    }

    fn answer(&self, seen: Seen) -> Reply {
        let mut fake = self.state.lock().unwrap();
        let (path, watch, method) = (seen.path.clone(), seen.watch, seen.method.clone());
        fake.seen.push(seen);
        let asked = fake
            .seen
            .iter()
            .filter(|s| s.path == path && s.watch == watch && s.method == method)
            .count();
        let reply = match fake.scripts.get(&path) {
            Some(script) => {
                let replies = match (&method, watch) {
                    (&Method::PATCH, _) => &script.patches,
                    (_, true) => &script.watches,
                    (_, false) => &script.gets,
                };
                replies.get(asked - 1).or(replies.last()).cloned()
            }
            None if method == Method::GET && COLLECTIONS.contains(&path.as_str()) => {
                Some(match watch {
                    true => Reply::idle_watch(),
                    false => Reply::Json(
                        StatusCode::OK,
                        r#"{"metadata":{"resourceVersion":"1"},"items":[]}"#.into(),
                    ),
                })
            }
            None => None,
        };
        reply.unwrap_or_else(|| Reply::status("not-found.json"))
    }

    /// Serves on a free port; returns a kubeconfig for it (kept while the file lives).
    pub async fn start(self) -> tempfile::NamedTempFile {
        async fn serve(
            State(fake): State<FakeApi>,
            Query(query): Query<HashMap<String, String>>,
            method: Method,
            uri: Uri,
            headers: HeaderMap,
            body: Bytes,
        ) -> Response {
            let seen = Seen {
                method,
                path: uri.path().to_owned(),
                watch: query.get("watch").is_some_and(|w| w == "true" || w == "1"),
                resource_version: query.get("resourceVersion").cloned(),
                field_manager: query.get("fieldManager").cloned(),
                content_type: headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
                body,
            };
            let reply = fake.answer(seen);
            fake.request_seen.notify_waiters();
            reply.into_response()
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let app = Router::new().fallback(serve).with_state(self);
        tokio::spawn(async move { axum::serve(listener, app).await });
        let kubeconfig = fixture("kubeconfig.yaml").replace("SERVER", &format!("http://{address}"));
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, kubeconfig.as_bytes()).unwrap();
        file
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// Waits until the requests seen satisfy `done`.
    pub async fn wait_for(&self, what: &str, done: impl Fn(&[Seen]) -> bool) {
        let wait = async {
            loop {
                let notified = self.request_seen.notified();
                if done(&self.seen()) {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(GUARD, wait)
            .await
            .unwrap_or_else(|_| panic!("the fake API server never saw {what}: {:?}", self.seen()));
    }
}
