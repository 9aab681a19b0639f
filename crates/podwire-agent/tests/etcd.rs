//! The etcd source and the node registry against a real etcd (3.4, as Debian's
//! `etcd-server`): each test starts its own on free ports of 127.0.0.1 (no root needed).

// A test crate's root looks for its modules beside it: these live in etcd/.
#[path = "etcd/objects.rs"]
mod objects;
#[path = "etcd/server.rs"]
mod server;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use etcd_client::GetOptions;
use podwire_agent::source::etcd::{EtcdError, EtcdStore, NodeRegistration};
use podwire_k8s::object::Object;
use podwire_k8s::source::SourceEvent;
use podwire_model::Cidr;
use podwire_model::cluster::{NodeInfo, ObjectKey, ObjectKind};
use serde_json::json;
use tokio::sync::mpsc;

use objects::{Follower, by_key, namespace, object, pod, service};
use server::EtcdServer;

const PREFIX: &str = "/podwire-test/";
/// How long a test waits for something that must happen before it fails (a guard against
/// hanging, not a measurement).
const GUARD: Duration = Duration::from_secs(60);

async fn store(server: &EtcdServer) -> EtcdStore {
    EtcdStore::connect(&server.endpoints(), PREFIX)
        .await
        .expect("the store connects to the test's etcd")
}

async fn stored(store: &EtcdStore) -> BTreeMap<ObjectKey, Object> {
    by_key(store.list().await.expect("the store lists"))
}

fn key(kind: ObjectKind, namespace: &str, name: &str) -> ObjectKey {
    ObjectKey {
        kind,
        namespace: namespace.into(),
        name: name.into(),
    }
}

fn ips(texts: &[&str]) -> Vec<IpAddr> {
    texts.iter().map(|t| t.parse().unwrap()).collect()
}

fn cidr(text: &str) -> Cidr {
    text.parse().unwrap()
}

/// Pod `namespace/name` as stored, as JSON.
async fn stored_pod(store: &EtcdStore, namespace: &str, name: &str) -> serde_json::Value {
    stored(store)
        .await
        .get(&key(ObjectKind::Pod, namespace, name))
        .unwrap_or_else(|| panic!("Pod {namespace}/{name} is stored"))
        .to_json()
}

/// Waits until `condition` holds for what is stored.
async fn until_stored(store: &EtcdStore, condition: impl Fn(&BTreeMap<ObjectKey, Object>) -> bool) {
    let waiting = async {
        while !condition(&stored(store).await) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(GUARD, waiting)
        .await
        .expect("what is stored reaches the expected state");
}

#[tokio::test]
async fn connecting_to_nothing_fails_in_bounded_time_and_says_what_to_check() {
    let nowhere = format!("http://127.0.0.1:{}", server::free_port());
    let error = EtcdStore::connect(std::slice::from_ref(&nowhere), PREFIX)
        .await
        .expect_err("nothing listens there");
    let message = error.to_string();
    assert!(message.contains("cluster.etcd_endpoints"), "{message}");
    assert!(message.contains(&nowhere), "{message}");
}

#[tokio::test]
async fn put_list_and_delete_round_trip() {
    let server = EtcdServer::start().await;
    let store = store(&server).await;
    assert!(store.list().await.unwrap().is_empty());

    let node = object(json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}));
    let first = vec![
        namespace("shop"),
        pod("shop", "a", "web"),
        pod("default", "b", "db"),
        service("web"),
        node,
    ];
    store.put(&first).await.unwrap();
    assert_eq!(stored(&store).await, by_key(first.clone()));

    // The last of two objects with one key wins; the others are untouched.
    store
        .put(&[pod("shop", "a", "old"), pod("shop", "a", "new")])
        .await
        .unwrap();
    let mut expected = by_key(first);
    expected.insert(key(ObjectKind::Pod, "shop", "a"), pod("shop", "a", "new"));
    assert_eq!(stored(&store).await, expected);

    let deleted = store
        .delete(&[
            key(ObjectKind::Pod, "shop", "a"),
            key(ObjectKind::Service, "default", "missing"),
            key(ObjectKind::Pod, "shop", "a"),
            key(ObjectKind::Node, "", "n1"),
        ])
        .await
        .unwrap();
    assert_eq!(deleted, [true, false, true, true]);
    expected.remove(&key(ObjectKind::Pod, "shop", "a"));
    expected.remove(&key(ObjectKind::Node, "", "n1"));
    assert_eq!(stored(&store).await, expected);

    // The layout the contract gives: cluster-scoped kinds under `_`.
    let mut client = server.client().await;
    let raw = client
        .get(format!("{PREFIX}objects/Namespace/_/shop"), None)
        .await
        .unwrap();
    assert_eq!(raw.kvs().len(), 1);
    let value: serde_json::Value = serde_json::from_slice(raw.kvs()[0].value()).unwrap();
    assert_eq!(Object::from_json(value).unwrap(), namespace("shop"));
}

#[tokio::test]
async fn a_write_that_fails_changes_nothing() {
    let server = EtcdServer::start().await;
    let store = store(&server).await;
    store.put(&[service("before")]).await.unwrap();
    let before = stored(&store).await;

    // One object that cannot be stored: nothing of the batch is written.
    let nameless = object(json!({"apiVersion": "v1", "kind": "Service", "metadata": {}}));
    let error = store
        .put(&[service("web"), nameless, pod("default", "a", "web")])
        .await
        .expect_err("an object without a name cannot be stored");
    assert!(matches!(error, EtcdError::BadKey { .. }), "{error}");
    assert_eq!(stored(&store).await, before);

    // More writes than etcd allows in one transaction (--max-txn-ops, 128 by default):
    // etcd refuses the whole transaction.
    let many: Vec<Object> = (0..200).map(|i| service(&format!("s{i}"))).collect();
    let error = store
        .put(&many)
        .await
        .expect_err("etcd refuses 200 writes at once");
    assert!(matches!(error, EtcdError::TooLarge { .. }), "{error}");
    assert!(error.to_string().contains("--max-txn-ops"), "{error}");
    assert_eq!(stored(&store).await, before);
}

#[tokio::test]
async fn the_watch_lists_every_kind_then_follows_changes_in_order() {
    let server = EtcdServer::start().await;
    let store = store(&server).await;
    store
        .put(&[namespace("shop"), pod("shop", "a", "web")])
        .await
        .unwrap();
    let (sender, receiver) = mpsc::channel(16);
    let watcher = tokio::spawn({
        let store = store.clone();
        async move { store.watch(sender).await }
    });
    let mut follower = Follower::new(receiver);

    let listed = follower.next().await;
    let kinds: BTreeSet<ObjectKind> = listed
        .iter()
        .map(|e| match e {
            SourceEvent::Listed { kind, .. } => *kind,
            other => panic!("the first batch is a list, not {other:?}"),
        })
        .collect();
    assert_eq!(kinds.len(), 7, "every kind is listed, the empty ones too");
    assert!(kinds.contains(&ObjectKind::Node) && kinds.contains(&ObjectKind::EndpointSlice));
    assert_eq!(follower.model, stored(&store).await);

    // One transaction: one batch, in the order etcd applied it (keys in order).
    store
        .put(&[service("web"), pod("shop", "b", "db")])
        .await
        .unwrap();
    let batch = follower.next().await;
    assert_eq!(
        batch,
        [
            SourceEvent::Applied(pod("shop", "b", "db")),
            SourceEvent::Applied(service("web")),
        ]
    );
    store
        .delete(&[key(ObjectKind::Pod, "shop", "a")])
        .await
        .unwrap();
    assert_eq!(
        follower.next().await,
        [SourceEvent::Deleted(key(ObjectKind::Pod, "shop", "a"))]
    );

    // A value that is no object is dropped (as a list would), a key that names no object
    // is ignored, and the watch goes on.
    let mut client = server.client().await;
    client
        .put(
            format!("{PREFIX}objects/Service/default/web"),
            "not json",
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        follower.next().await,
        [SourceEvent::Deleted(key(
            ObjectKind::Service,
            "default",
            "web"
        ))]
    );
    client
        .put(format!("{PREFIX}objects/Gadget/x"), "{}", None)
        .await
        .unwrap();
    store.put(&[service("after")]).await.unwrap();
    assert_eq!(
        follower.next().await,
        [SourceEvent::Applied(service("after"))]
    );
    assert_eq!(follower.model, stored(&store).await);
    assert_eq!(follower.lists, 1);

    // Closing the receiving end ends the watch.
    drop(follower);
    let ended = tokio::time::timeout(GUARD, watcher)
        .await
        .expect("the watch ends when its receiver is gone");
    ended.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_behind_a_compaction_lists_again_and_loses_nothing() {
    let server = EtcdServer::start().await;
    let store = store(&server).await;
    store
        .put(&[pod("default", "gone", "x"), service("kept")])
        .await
        .unwrap();
    // Room for one batch only: while the test does not read, the watcher stops reading
    // etcd, etcd stops sending, and the watcher falls behind the writes below.
    let (sender, receiver) = mpsc::channel(1);
    tokio::spawn({
        let store = store.clone();
        async move { store.watch(sender).await }
    });
    let mut follower = Follower::new(receiver);
    follower.next().await;
    assert_eq!(follower.lists, 1);

    // Enough revisions and bytes to fill the watcher's buffers on both sides.
    let padding = "p".repeat(20_000);
    for i in 0..400 {
        let mut filler = pod("default", &format!("filler-{i}"), "filler").to_json();
        filler["metadata"]["annotations"] = json!({ "padding": padding });
        store.put(&[object(filler)]).await.unwrap();
        if i == 200 {
            store
                .delete(&[key(ObjectKind::Pod, "default", "gone")])
                .await
                .unwrap();
        }
    }
    store.put(&[service("late")]).await.unwrap();
    let mut client = server.client().await;
    let revision = client
        .get("/", None)
        .await
        .unwrap()
        .header()
        .unwrap()
        .revision();
    client.compact(revision, None).await.unwrap();

    let expected = stored(&store).await;
    assert!(!expected.contains_key(&key(ObjectKind::Pod, "default", "gone")));
    tokio::time::timeout(GUARD, follower.until(&expected, 2))
        .await
        .expect("the watcher lists again after the compaction and catches up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_survives_an_etcd_restart_by_listing_again() {
    let mut server = EtcdServer::start().await;
    let store = store(&server).await;
    store.put(&[service("before")]).await.unwrap();
    let (sender, receiver) = mpsc::channel(16);
    tokio::spawn({
        let store = store.clone();
        async move { store.watch(sender).await }
    });
    let mut follower = Follower::new(receiver);
    follower.next().await;
    store.put(&[service("watched")]).await.unwrap();
    follower.until(&stored(&store).await, 1).await;

    server.restart().await;
    // The same store (its connection comes back by itself) writes after the restart.
    let write = async {
        loop {
            match store.put(&[service("after-restart")]).await {
                Ok(()) => break,
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    };
    tokio::time::timeout(GUARD, write)
        .await
        .expect("the store writes again once etcd is back");
    let expected = stored(&store).await;
    assert!(expected.contains_key(&key(ObjectKind::Service, "default", "after-restart")));
    tokio::time::timeout(GUARD, follower.until(&expected, 2))
        .await
        .expect("the watcher reconnects, lists again and catches up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claims_never_share_a_cidr() {
    let server = EtcdServer::start().await;
    let cluster = [cidr("fd50::/56"), cidr("10.50.0.0/20")];
    let claimants: Vec<_> = (0..16)
        .map(|i| {
            let endpoints = server.endpoints();
            tokio::spawn(async move {
                // Each claimant is a node of its own, with its own connection.
                let store = EtcdStore::connect(&endpoints, PREFIX).await.unwrap();
                let node = format!("node-{i}");
                let claimed = store
                    .claim_pod_cidrs(&node, &cluster, 24, 64)
                    .await
                    .unwrap();
                (node, claimed)
            })
        })
        .collect();
    let mut claims = BTreeMap::new();
    for claimant in claimants {
        let (node, claimed) = claimant.await.unwrap();
        claims.insert(node, claimed);
    }
    let mut v4 = BTreeSet::new();
    let mut v6 = BTreeSet::new();
    for claimed in claims.values() {
        assert_eq!(claimed.len(), 2, "one per cluster CIDR: {claimed:?}");
        assert!(cluster[0].contains(claimed[0].addr()) && claimed[0].prefix_len() == 64);
        assert!(cluster[1].contains(claimed[1].addr()) && claimed[1].prefix_len() == 24);
        v6.insert(claimed[0].to_string());
        v4.insert(claimed[1].to_string());
    }
    assert_eq!(v4.len(), 16, "every node has its own IPv4 /24: {claims:?}");
    assert_eq!(v6.len(), 16, "every node has its own IPv6 /64: {claims:?}");

    // A node that claims again gets what it has.
    let store = store(&server).await;
    for (node, claimed) in &claims {
        let again = store.claim_pod_cidrs(node, &cluster, 24, 64).await.unwrap();
        assert_eq!(&again, claimed, "{node}");
    }

    // The /20 holds sixteen /24s: a seventeenth node is refused, and keeps no IPv6 claim.
    let error = store
        .claim_pod_cidrs("node-16", &cluster, 24, 64)
        .await
        .expect_err("the IPv4 cluster CIDR is full");
    assert!(
        matches!(
            error,
            EtcdError::ClusterCidrFull {
                len: 24,
                claimed: 16,
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("10.50.0.0/20"), "{error}");
    let mut client = server.client().await;
    let all = client
        .get(
            format!("{PREFIX}cidrs/"),
            Some(GetOptions::new().with_prefix()),
        )
        .await
        .unwrap();
    assert_eq!(all.kvs().len(), 32);
    assert!(all.kvs().iter().all(|kv| kv.value() != b"node-16"));
}

fn registration(name: &str) -> NodeRegistration {
    NodeRegistration {
        name: name.into(),
        pod_cidrs: vec![cidr("10.244.3.0/24"), cidr("fd44:0:0:3::/64")],
        tunnel_address: "192.168.60.3".parse().unwrap(),
    }
}

fn registered(objects: &BTreeMap<ObjectKey, Object>, name: &str) -> Option<NodeInfo> {
    match objects.get(&key(ObjectKind::Node, "", name))? {
        Object::Node(node) => Some(podwire_k8s::nodes::node_info(node).expect("a valid Node")),
        other => panic!("a Node key holds {other:?}"),
    }
}

#[tokio::test]
async fn a_registered_node_stays_while_kept_alive_and_leaves_when_withdrawn() {
    let server = EtcdServer::start().await;
    let store = store(&server).await;
    let ttl = Duration::from_secs(2);
    let registration = store
        .register_node(registration("n1"), ttl, None)
        .await
        .unwrap();
    let expected = NodeInfo {
        name: "n1".into(),
        pod_cidrs: vec![cidr("10.244.3.0/24"), cidr("fd44:0:0:3::/64")],
        tunnel_address: Some("192.168.60.3".parse().unwrap()),
    };
    assert_eq!(
        registered(&stored(&store).await, "n1"),
        Some(expected.clone())
    );

    // Well past the TTL, the keep-alive has kept it.
    tokio::time::sleep(ttl * 3).await;
    assert_eq!(registered(&stored(&store).await, "n1"), Some(expected));

    registration.withdraw().await.unwrap();
    assert_eq!(
        registered(&stored(&store).await, "n1"),
        None,
        "gone at once"
    );
}

#[tokio::test]
async fn a_registration_not_kept_alive_expires() {
    let server = EtcdServer::start().await;
    let store = store(&server).await;
    let registration = store
        .register_node(registration("n2"), Duration::from_secs(2), None)
        .await
        .unwrap();
    assert!(registered(&stored(&store).await, "n2").is_some());
    drop(registration);
    until_stored(&store, |objects| registered(objects, "n2").is_none()).await;
}

#[tokio::test]
async fn a_node_whose_lease_expired_registers_again() {
    let server = EtcdServer::start().await;
    let store = store(&server).await;
    let _registration = store
        .register_node(registration("n3"), Duration::from_secs(2), None)
        .await
        .unwrap();
    let node_key = format!("{PREFIX}objects/Node/_/n3");
    let mut client = server.client().await;
    let lease = client.get(node_key.as_str(), None).await.unwrap().kvs()[0].lease();
    assert_ne!(lease, 0, "the Node is attached to a lease");

    // As if etcd had lost the lease (e.g. it was unreachable for longer than the TTL).
    client.lease_revoke(lease).await.unwrap();
    let waiting = async {
        loop {
            let now = client.get(node_key.as_str(), None).await.unwrap();
            if let Some(kv) = now.kvs().first()
                && kv.lease() != lease
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(GUARD, waiting)
        .await
        .expect("the node registers again under a new lease");
    assert!(registered(&stored(&store).await, "n3").is_some());
}

#[tokio::test]
async fn pod_addresses_are_recorded_kept_by_an_apply_and_cleared() {
    let server = EtcdServer::start().await;
    let store = store(&server).await;
    assert!(
        !store
            .set_pod_ips("default", "missing", "n1", &ips(&["10.1.0.9"]))
            .await
            .unwrap(),
        "no such Pod"
    );
    store.put(&[pod("shop", "a", "web")]).await.unwrap();
    assert!(
        store
            .set_pod_ips("shop", "a", "n1", &ips(&["10.1.0.5", "fd00::5"]))
            .await
            .unwrap()
    );
    let recorded = stored_pod(&store, "shop", "a").await;
    assert_eq!(recorded["spec"]["nodeName"], "n1");
    assert_eq!(recorded["status"]["podIP"], "10.1.0.5");
    assert_eq!(
        recorded["status"]["podIPs"],
        json!([{"ip": "10.1.0.5"}, {"ip": "fd00::5"}])
    );

    // Applied again (a new label, no status): the addresses stay.
    store.put(&[pod("shop", "a", "web2")]).await.unwrap();
    let applied = stored_pod(&store, "shop", "a").await;
    assert_eq!(applied["metadata"]["labels"]["app"], "web2");
    assert_eq!(applied["status"], recorded["status"]);
    assert_eq!(applied["spec"]["nodeName"], "n1");

    // Another node that lets go of the pod does not take n1's addresses away.
    store.set_pod_ips("shop", "a", "n2", &[]).await.unwrap();
    assert_eq!(stored_pod(&store, "shop", "a").await, applied);
    store.set_pod_ips("shop", "a", "n1", &[]).await.unwrap();
    let cleared = stored_pod(&store, "shop", "a").await;
    assert_eq!(cleared.pointer("/status/podIPs"), None);
    assert_eq!(cleared.pointer("/spec/nodeName"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_writers_keep_each_others_changes() {
    let server = EtcdServer::start().await;
    let names: Vec<String> = (0..10).map(|i| format!("p{i}")).collect();
    let setup = store(&server).await;
    let pods: Vec<Object> = names.iter().map(|n| pod("default", n, "v0")).collect();
    setup.put(&pods).await.unwrap();

    // A node records the pods' addresses while an apply relabels all of them, both in
    // their own connection, again and again: every write must survive the other's.
    for round in 1..=5 {
        let recorder = {
            let endpoints = server.endpoints();
            let names = names.clone();
            tokio::spawn(async move {
                let store = EtcdStore::connect(&endpoints, PREFIX).await.unwrap();
                for (i, name) in names.iter().enumerate() {
                    let ip = format!("10.1.{round}.{i}");
                    let recorded = store
                        .set_pod_ips("default", name, "n1", &ips(&[ip.as_str()]))
                        .await
                        .unwrap();
                    assert!(recorded);
                }
            })
        };
        let applier = {
            let endpoints = server.endpoints();
            let names = names.clone();
            tokio::spawn(async move {
                let store = EtcdStore::connect(&endpoints, PREFIX).await.unwrap();
                for _ in 0..3 {
                    let pods: Vec<Object> = names
                        .iter()
                        .map(|n| pod("default", n, &format!("v{round}")))
                        .collect();
                    store.put(&pods).await.unwrap();
                }
            })
        };
        recorder.await.unwrap();
        applier.await.unwrap();
        for (i, name) in names.iter().enumerate() {
            let value = stored_pod(&setup, "default", name).await;
            assert_eq!(
                value["metadata"]["labels"]["app"],
                format!("v{round}"),
                "{name}"
            );
            assert_eq!(
                value["status"]["podIP"],
                format!("10.1.{round}.{i}"),
                "{name}"
            );
            assert_eq!(value["spec"]["nodeName"], "n1", "{name}");
        }
    }
}

#[tokio::test]
async fn a_restarted_agent_takes_the_lease_over_and_the_node_never_leaves() {
    let server = EtcdServer::start().await;
    let store = store(&server).await;
    let ttl = Duration::from_secs(2);
    let first = store
        .register_node(registration("n4"), ttl, None)
        .await
        .unwrap();
    let node_key = format!("{PREFIX}objects/Node/_/n4");
    let mut client = server.client().await;
    let lease_of = |response: etcd_client::GetResponse| response.kvs().first().map(|kv| kv.lease());
    let held = lease_of(client.get(node_key.as_str(), None).await.unwrap()).unwrap();

    let released = first.release().await.expect("the keep-alive ended cleanly");
    assert_eq!(released, held);
    assert!(
        registered(&stored(&store).await, "n4").is_some(),
        "a release leaves the Node in place"
    );
    let second = store
        .register_node(registration("n4"), ttl, Some(released))
        .await
        .unwrap();
    let now = lease_of(client.get(node_key.as_str(), None).await.unwrap());
    assert_eq!(
        now,
        Some(held),
        "the same lease, kept alive by the new agent"
    );
    tokio::time::sleep(ttl * 2).await;
    assert!(registered(&stored(&store).await, "n4").is_some());

    // A lease that expired meanwhile is not taken over: a new one is granted.
    let released = second.release().await.unwrap();
    client.lease_revoke(released).await.unwrap();
    let _third = store
        .register_node(registration("n4"), ttl, Some(released))
        .await
        .unwrap();
    let now = lease_of(client.get(node_key.as_str(), None).await.unwrap()).unwrap();
    assert_ne!(now, released);
    assert!(registered(&stored(&store).await, "n4").is_some());
}
