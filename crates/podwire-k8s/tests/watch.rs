//! The Kubernetes watcher against a fake API server that answers from recorded responses
//! (`tests/fixtures/`, in the API server's JSON format): lists, watch streams with ADDED,
//! MODIFIED, BOOKMARK, DELETED and an expired watch (`ERROR` 410) that must relist, a CRD
//! that is not installed (404), and Node gets for the node's pod CIDRs.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::Response;
use futures::stream::{self, StreamExt};
use podwire_k8s::nodes::node_info;
use podwire_k8s::object::Object;
use podwire_k8s::source::SourceEvent;
use podwire_k8s::watch::{WatchError, client, node_pod_cidrs, watch};
use podwire_model::cluster::{ObjectKey, ObjectKind};
use tokio::sync::{Notify, mpsc};

const NAMESPACES: &str = "/api/v1/namespaces";
const PODS: &str = "/api/v1/pods";
const SERVICES: &str = "/api/v1/services";
const ENDPOINT_SLICES: &str = "/apis/discovery.k8s.io/v1/endpointslices";
const NETWORK_POLICIES: &str = "/apis/networking.k8s.io/v1/networkpolicies";
const CLUSTER_NETWORK_POLICIES: &str =
    "/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies";
const NODES: &str = "/api/v1/nodes";

/// Where the API server serves each kind podwire watches.
const COLLECTIONS: [&str; 7] = [
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
const GUARD: Duration = Duration::from_secs(60);

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// One answer of the fake API server.
#[derive(Clone)]
enum Reply {
    /// A JSON document with this status.
    Json(StatusCode, String),
    /// A watch stream: these newline-delimited events, then the connection closes (as the
    /// API server closes a watch after an ERROR event) or stays open with nothing more.
    Watch { lines: String, close: bool },
}

impl Reply {
    fn ok(name: &str) -> Reply {
        Reply::Json(StatusCode::OK, fixture(name))
    }

    fn status(name: &str) -> Reply {
        let body = fixture(name);
        let document: serde_json::Value = serde_json::from_str(&body).expect("a Status");
        let code = document["code"].as_u64().expect("a Status has a code");
        Reply::Json(StatusCode::from_u16(code as u16).unwrap(), body)
    }

    fn idle_watch() -> Reply {
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
}

/// One request the fake API server saw.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    path: String,
    watch: bool,
    resource_version: Option<String>,
}

#[derive(Default)]
struct Fake {
    scripts: HashMap<String, Script>,
    seen: Vec<Seen>,
}

/// A fake API server on 127.0.0.1: scripted paths answer from their script; the other
/// collections of [`COLLECTIONS`] with an empty list and an idle watch; anything else 404.
#[derive(Clone)]
struct FakeApi {
    state: Arc<Mutex<Fake>>,
    request_seen: Arc<Notify>,
}

impl FakeApi {
    fn new() -> FakeApi {
        FakeApi {
            state: Arc::default(),
            request_seen: Arc::default(),
        }
    }

    fn script(self, path: &str, gets: Vec<Reply>, watches: Vec<Reply>) -> FakeApi {
        let script = Script { gets, watches };
        self.state
            .lock()
            .unwrap()
            .scripts
            .insert(path.to_owned(), script);
        self
    }

    fn answer(&self, path: &str, query: &HashMap<String, String>) -> Reply {
        let watch = query.get("watch").is_some_and(|w| w == "true" || w == "1");
        let mut fake = self.state.lock().unwrap();
        fake.seen.push(Seen {
            path: path.to_owned(),
            watch,
            resource_version: query.get("resourceVersion").cloned(),
        });
        let asked = fake
            .seen
            .iter()
            .filter(|s| s.path == path && s.watch == watch)
            .count();
        let reply = match fake.scripts.get(path) {
            Some(script) => {
                let replies = if watch { &script.watches } else { &script.gets };
                replies.get(asked - 1).or(replies.last()).cloned()
            }
            None if COLLECTIONS.contains(&path) => Some(match watch {
                true => Reply::idle_watch(),
                false => Reply::Json(
                    StatusCode::OK,
                    r#"{"metadata":{"resourceVersion":"1"},"items":[]}"#.into(),
                ),
            }),
            None => None,
        };
        reply.unwrap_or_else(|| Reply::status("not-found.json"))
    }

    /// Serves on a free port; returns a kubeconfig for it (kept while the file lives).
    async fn start(self) -> tempfile::NamedTempFile {
        async fn serve(
            State(fake): State<FakeApi>,
            Query(query): Query<HashMap<String, String>>,
            uri: Uri,
        ) -> Response {
            let reply = fake.answer(uri.path(), &query);
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

    fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// Waits until the requests seen satisfy `done`.
    async fn wait_for(&self, what: &str, done: impl Fn(&[Seen]) -> bool) {
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

/// Receives batches until the events so far satisfy `done`; returns them all.
async fn receive_until(
    events: &mut mpsc::Receiver<Vec<SourceEvent>>,
    what: &str,
    done: impl Fn(&[SourceEvent]) -> bool,
) -> Vec<SourceEvent> {
    let mut all = Vec::new();
    let receive = async {
        while !done(&all) {
            let batch = events.recv().await.expect("the watcher runs");
            assert!(!batch.is_empty(), "a batch has events");
            all.extend(batch);
        }
    };
    if tokio::time::timeout(GUARD, receive).await.is_err() {
        panic!("never received {what}: {all:#?}");
    }
    all
}

fn listed(events: &[SourceEvent], wanted: ObjectKind) -> Vec<&[Object]> {
    events
        .iter()
        .filter_map(|e| match e {
            SourceEvent::Listed { kind, objects } if *kind == wanted => Some(objects.as_slice()),
            _ => None,
        })
        .collect()
}

fn names(objects: &[Object]) -> Vec<String> {
    objects.iter().map(|o| o.key().name).collect()
}

/// The events about Pods, each as a line: what happened and to which pod.
fn pod_story(events: &[SourceEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            SourceEvent::Listed {
                kind: ObjectKind::Pod,
                objects,
            } => Some(format!("listed {}", names(objects).join(" "))),
            SourceEvent::Applied(object @ Object::Pod(_)) => {
                let version = object.metadata().resource_version.clone().unwrap();
                Some(format!("applied {} at {version}", object.key()))
            }
            SourceEvent::Deleted(key) if key.kind == ObjectKind::Pod => {
                Some(format!("deleted {key}"))
            }
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn an_expired_watch_relists_and_the_new_list_lacks_what_was_deleted_meanwhile() {
    let fake = FakeApi::new().script(
        PODS,
        vec![Reply::ok("pods.list.1.json"), Reply::ok("pods.list.2.json")],
        vec![
            Reply::Watch {
                lines: fixture("pods.watch.1.jsonl"),
                close: true,
            },
            Reply::idle_watch(),
        ],
    );
    let kubeconfig = fake.clone().start().await;
    let client = client(Some(kubeconfig.path())).await.unwrap();
    let (sender, mut events) = mpsc::channel(16);
    let watching = tokio::spawn(watch(client, sender));

    let received = receive_until(&mut events, "a relist of pods", |events| {
        listed(events, ObjectKind::Pod).len() == 2
    })
    .await;

    assert_eq!(
        pod_story(&received),
        [
            // The pod whose spec does not decode is skipped, the others kept.
            "listed web-7d4b9c6f8d-2xk9p web-7d4b9c6f8d-9qwzt",
            "applied Pod shop/web-7d4b9c6f8d-m4d8s at 1001",
            "applied Pod shop/web-7d4b9c6f8d-2xk9p at 1002",
            "deleted Pod shop/web-7d4b9c6f8d-9qwzt",
            // After the 410: m4d8s went while nobody watched, t7hvn came.
            "listed web-7d4b9c6f8d-2xk9p web-7d4b9c6f8d-t7hvn",
        ]
    );
    // Objects keep what the API server said of them: status, labels, managed fields.
    let added = received
        .iter()
        .find_map(|e| match e {
            SourceEvent::Applied(Object::Pod(pod)) => Some(pod),
            _ => None,
        })
        .unwrap();
    let pod_ips: Vec<&str> = added
        .status
        .as_ref()
        .unwrap()
        .pod_ips
        .as_ref()
        .unwrap()
        .iter()
        .map(|ip| ip.ip.as_str())
        .collect();
    assert_eq!(pod_ips, ["10.244.2.7", "fd44:0:0:2::7"]);
    assert!(added.metadata.managed_fields.is_some());
    let modified = &listed(&received, ObjectKind::Pod)[1][0];
    let labels = modified.metadata().labels.as_ref().unwrap();
    assert_eq!(labels.get("tier").map(String::as_str), Some("frontend"));

    // The first watch resumed from the first list's version, the second from the relist's.
    let pods: Vec<(bool, Option<String>)> = fake
        .seen()
        .into_iter()
        .filter(|s| s.path == PODS)
        .map(|s| (s.watch, s.resource_version))
        .collect();
    assert_eq!(
        pods[..3],
        [(false, None), (true, Some("1000".into())), (false, None),]
    );
    fake.wait_for("the watch after the relist", |seen| {
        seen.iter()
            .any(|s| s.path == PODS && s.watch && s.resource_version.as_deref() == Some("1350"))
    })
    .await;

    // Closing the receiver stops the watcher.
    drop(events);
    let stopped = tokio::time::timeout(GUARD, watching).await;
    assert!(matches!(stopped, Ok(Ok(Ok(())))), "{stopped:?}");
}

#[tokio::test]
async fn every_kind_is_listed_and_watched_and_a_missing_crd_stops_none() {
    let fake = FakeApi::new()
        .script(
            NAMESPACES,
            vec![Reply::ok("namespaces.list.json")],
            vec![Reply::idle_watch()],
        )
        .script(
            SERVICES,
            vec![Reply::ok("services.list.json")],
            vec![Reply::idle_watch()],
        )
        .script(
            ENDPOINT_SLICES,
            vec![Reply::ok("endpointslices.list.json")],
            vec![Reply::idle_watch()],
        )
        .script(
            NETWORK_POLICIES,
            vec![Reply::ok("networkpolicies.list.json")],
            vec![Reply::idle_watch()],
        )
        .script(
            NODES,
            vec![Reply::ok("nodes.list.json")],
            vec![Reply::idle_watch()],
        )
        .script(
            CLUSTER_NETWORK_POLICIES,
            vec![Reply::status("not-found.json")],
            vec![],
        );
    let kubeconfig = fake.clone().start().await;
    let client = client(Some(kubeconfig.path())).await.unwrap();
    let (sender, mut events) = mpsc::channel(16);
    let watching = tokio::spawn(watch(client, sender));

    let received = receive_until(&mut events, "a list of every kind", |events| {
        ObjectKind::ALL
            .iter()
            .all(|&kind| !listed(events, kind).is_empty())
    })
    .await;
    let list = |kind| names(listed(&received, kind)[0]);
    assert_eq!(list(ObjectKind::Namespace), ["default", "shop"]);
    assert_eq!(list(ObjectKind::Pod), Vec::<String>::new());
    assert_eq!(list(ObjectKind::Service), ["web"]);
    assert_eq!(list(ObjectKind::EndpointSlice), ["web-x2k4q"]);
    assert_eq!(list(ObjectKind::NetworkPolicy), ["web-from-frontend"]);
    // No CRD: no ClusterNetworkPolicies, said as an empty list.
    assert_eq!(list(ObjectKind::ClusterNetworkPolicy), Vec::<String>::new());
    let [Object::Node(node)] = listed(&received, ObjectKind::Node)[0] else {
        panic!("one Node");
    };
    let info = node_info(node).unwrap();
    assert_eq!(info.name, "node-a");
    assert_eq!(
        info.pod_cidrs,
        [
            "10.244.1.0/24".parse().unwrap(),
            "fd44:0:0:1::/64".parse().unwrap()
        ]
    );
    assert_eq!(info.tunnel_address, Some("192.168.60.1".parse().unwrap()));
    let [Object::EndpointSlice(slice)] = listed(&received, ObjectKind::EndpointSlice)[0] else {
        panic!("one EndpointSlice");
    };
    assert_eq!(
        Object::EndpointSlice(slice.clone()).key(),
        ObjectKey {
            kind: ObjectKind::EndpointSlice,
            namespace: "shop".into(),
            name: "web-x2k4q".into()
        }
    );

    // Every kind served is watched; the missing one is asked for again (with backoff).
    fake.wait_for(
        "a watch of every served kind and a retry of the CRD",
        |seen| {
            let watched = |path: &str| seen.iter().any(|s| s.path == path && s.watch);
            let cnp_lists = seen
                .iter()
                .filter(|s| s.path == CLUSTER_NETWORK_POLICIES && !s.watch)
                .count();
            COLLECTIONS
                .iter()
                .filter(|&&p| p != CLUSTER_NETWORK_POLICIES)
                .all(|p| watched(p))
                && cnp_lists >= 2
        },
    )
    .await;
    drop(events);
    let stopped = tokio::time::timeout(GUARD, watching).await;
    assert!(matches!(stopped, Ok(Ok(Ok(())))), "{stopped:?}");
}

const NODE_B: &str = "/api/v1/nodes/node-b";

#[tokio::test]
async fn node_pod_cidrs_waits_until_the_node_has_them() {
    let fake = FakeApi::new().script(
        NODE_B,
        vec![
            Reply::ok("node-b.without-cidrs.json"),
            Reply::ok("node-b.json"),
        ],
        vec![],
    );
    let kubeconfig = fake.clone().start().await;
    let client = client(Some(kubeconfig.path())).await.unwrap();
    let cidrs = node_pod_cidrs(&client, "node-b", GUARD).await.unwrap();
    assert_eq!(
        cidrs,
        [
            "10.244.2.0/24".parse().unwrap(),
            "fd44:0:0:2::/64".parse().unwrap()
        ]
    );
    let gets = fake.seen().iter().filter(|s| s.path == NODE_B).count();
    assert_eq!(gets, 2);
}

#[tokio::test]
async fn node_pod_cidrs_says_why_they_never_came() {
    let fake = FakeApi::new()
        .script(NODE_B, vec![Reply::ok("node-b.without-cidrs.json")], vec![])
        .script(
            "/api/v1/nodes/node-c",
            vec![Reply::status("forbidden.json")],
            vec![],
        );
    let kubeconfig = fake.clone().start().await;
    let client = client(Some(kubeconfig.path())).await.unwrap();

    let error = node_pod_cidrs(&client, "node-b", Duration::ZERO)
        .await
        .unwrap_err();
    assert!(matches!(error, WatchError::NoPodCidrs { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("Node node-b"), "{message}");
    assert!(message.contains("--allocate-node-cidrs"), "{message}");

    let error = node_pod_cidrs(&client, "node-x", Duration::ZERO)
        .await
        .unwrap_err();
    assert!(matches!(error, WatchError::NoNode { .. }), "{error:?}");
    assert!(error.to_string().contains("Node node-x"), "{error}");

    // A refusal is final: no waiting for the timeout.
    let error = node_pod_cidrs(&client, "node-c", GUARD).await.unwrap_err();
    assert!(
        matches!(error, WatchError::NodeUnreadable { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("may get nodes"), "{error}");
}

#[tokio::test]
async fn a_kubeconfig_that_cannot_be_read_is_named() {
    let missing = std::env::temp_dir().join(format!("podwire-missing-{}.yaml", std::process::id()));
    let Err(error) = client(Some(&missing)).await else {
        panic!("a client from a kubeconfig that does not exist");
    };
    assert!(matches!(error, WatchError::Kubeconfig { .. }), "{error:?}");
    assert!(
        error.to_string().contains(&missing.display().to_string()),
        "{error}"
    );
}
