//! The Kubernetes watcher against a fake API server ([`support::FakeApi`]) that answers from
//! recorded responses (`tests/fixtures/`, in the API server's JSON format): lists, watch
//! streams with ADDED, MODIFIED, BOOKMARK, DELETED and an expired watch (`ERROR` 410) that
//! must relist, a CRD that is not installed (404), and Node gets for the node's pod CIDRs.

mod support;

use std::time::Duration;

use podwire_k8s::nodes::node_info;
use podwire_k8s::object::Object;
use podwire_k8s::source::SourceEvent;
use podwire_k8s::watch::{WatchError, client, node_pod_cidrs, watch};
use podwire_model::cluster::{ObjectKey, ObjectKind};
use support::{
    CLUSTER_NETWORK_POLICIES, COLLECTIONS, ENDPOINT_SLICES, FakeApi, GUARD, NAMESPACES,
    NETWORK_POLICIES, NODE_B, NODES, PODS, Reply, SERVICES, fixture,
};
use tokio::sync::mpsc;

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
