//! Changes from a source (etcd, the Kubernetes API) taken into the store.

use podwire_k8s::manifest;
use podwire_k8s::object::Object;
use podwire_k8s::source::SourceEvent;

use super::*;

/// The objects of a manifest, as a source would hand them.
fn objects(text: &str) -> Vec<Object> {
    manifest::parse(text).unwrap()
}

fn one(text: &str) -> Object {
    objects(text).remove(0)
}

fn node(name: &str, cidr: &str, address: &str) -> String {
    format!(
        "apiVersion: v1
kind: Node
metadata: {{name: {name}, annotations: {{podwire.io/tunnel-address: \"{address}\"}}}}
spec: {{podCIDRs: [\"{cidr}\"]}}
"
    )
}

fn listed(kind: ObjectKind, documents: &[String]) -> SourceEvent {
    SourceEvent::Listed {
        kind,
        objects: objects(&manifest(documents)),
    }
}

#[test]
fn a_list_replaces_its_kind_only_and_reports_each_change() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = open(&dir);
    let pods = Attached::default().with("default", "a", &["10.244.0.2"]);
    let first = vec![
        listed(
            ObjectKind::Service,
            &[
                service("default", "web", "10.96.0.10", "a"),
                service("default", "old", "10.96.0.11", ""),
            ],
        ),
        listed(ObjectKind::Pod, &[pod("default", "a", "a", "")]),
    ];
    let (changes, updates) = cluster.sync(first, &pods);
    assert_eq!(changes.len(), 3);
    assert!(changes.iter().all(|c| c.change == Change::Created));
    assert_eq!(ids(&updates), ["default/old", "default/web"]);
    assert_eq!(
        endpoints(&only(
            updates.into_iter().filter(|u| u.id.name == "web").collect(),
            "default/web"
        )),
        ["10.244.0.2:8080".parse().unwrap()]
    );

    // A relist of Services without `old` deletes it and leaves the Pods alone; `web` as it
    // was is no change at all.
    let relist = vec![listed(
        ObjectKind::Service,
        &[service("default", "web", "10.96.0.10", "a")],
    )];
    let (changes, updates) = cluster.sync(relist, &pods);
    let seen: Vec<(String, Change)> = changes
        .iter()
        .map(|c| (c.key.to_string(), c.change))
        .collect();
    assert_eq!(seen, [("Service default/old".to_owned(), Change::Deleted)]);
    let update = only(updates, "default/old");
    assert!(update.model.is_none(), "a deleted Service is withdrawn");
    assert!(
        cluster
            .objects()
            .any(|o| o.key() == key(ObjectKind::Pod, "default", "a"))
    );
}

#[test]
fn applied_and_deleted_events_change_one_object_each_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = open(&dir);
    let pods = Attached::default();
    let web = service("default", "web", "10.96.0.10", "");
    let events = vec![
        SourceEvent::Applied(one(&web)),
        SourceEvent::Applied(one(&service("default", "web", "10.96.0.20", ""))),
        SourceEvent::Deleted(key(ObjectKind::Service, "default", "gone")),
    ];
    let (changes, _) = cluster.sync(events, &pods);
    let seen: Vec<Change> = changes.iter().map(|c| c.change).collect();
    assert_eq!(
        seen,
        [Change::Created, Change::Configured],
        "deleting nothing is no change"
    );
    let (changes, updates) = cluster.sync(
        vec![SourceEvent::Deleted(key(
            ObjectKind::Service,
            "default",
            "web",
        ))],
        &pods,
    );
    assert_eq!(changes[0].change, Change::Deleted);
    assert!(only(updates, "default/web").model.is_none());
    assert_eq!(cluster.objects().count(), 0);
}

#[test]
fn what_a_source_gave_is_there_after_a_restart_before_it_answers() {
    let dir = tempfile::tempdir().unwrap();
    let pods = Attached::default();
    {
        let mut cluster = open(&dir);
        let events = vec![SourceEvent::Applied(one(&service(
            "default",
            "web",
            "10.96.0.10",
            "",
        )))];
        cluster.sync(events, &pods);
        assert!(cluster.save_cache().unwrap(), "a change to save");
        assert!(!cluster.save_cache().unwrap(), "saved already");
    }
    let mut cluster = open(&dir);
    assert_eq!(ids(&cluster.all_updates(&pods)), ["default/web"]);
}

#[test]
fn the_source_is_followed_even_when_its_cache_cannot_be_saved() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = open(&dir);
    let pods = Attached::default();
    std::fs::create_dir(dir.path().join("cluster.json.tmp")).unwrap();
    let events = vec![SourceEvent::Applied(one(&service(
        "default",
        "web",
        "10.96.0.10",
        "",
    )))];
    let (changes, updates) = cluster.sync(events, &pods);
    assert_eq!(changes.len(), 1);
    assert!(only(updates, "default/web").model.is_some());
    let error = cluster.save_cache().unwrap_err();
    assert!(matches!(error, ClusterError::Write { .. }), "{error}");
    assert_eq!(
        cluster.objects().count(),
        1,
        "the store keeps what the source said"
    );
    std::fs::remove_dir(dir.path().join("cluster.json.tmp")).unwrap();
    assert_eq!(open(&dir).objects().count(), 0, "the cache was not written");
    assert!(cluster.save_cache().unwrap(), "tried again");
    assert_eq!(open(&dir).objects().count(), 1);
}

#[test]
fn nodes_come_with_their_values_or_their_problems() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = open(&dir);
    let bad =
        "apiVersion: v1\nkind: Node\nmetadata: {name: n3}\nspec: {podCIDRs: [\"10.244.3.0/33\"]}\n";
    let events = vec![listed(
        ObjectKind::Node,
        &[
            node("n1", "10.244.1.0/24", "192.168.60.1"),
            node("n2", "10.244.2.0/24", "192.168.60.2"),
        ],
    )];
    cluster.sync(events, &Attached::default());
    // A source hands over what it has, even what podwire's checks would refuse.
    let raw = serde_json::json!({
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": "n3"},
        "spec": {"podCIDRs": ["10.244.3.0/33"]}
    });
    let n3 = Object::from_json(raw).unwrap();
    assert!(
        manifest::parse(bad).is_err(),
        "a manifest with it is refused"
    );
    cluster.sync(vec![SourceEvent::Applied(n3)], &Attached::default());
    let nodes = cluster.nodes();
    let names: Vec<&str> = nodes.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["n1", "n2", "n3"]);
    let n1 = nodes[0].1.as_ref().unwrap();
    assert_eq!(n1.tunnel_address, Some("192.168.60.1".parse().unwrap()));
    assert_eq!(n1.pod_cidrs, ["10.244.1.0/24".parse().unwrap()]);
    let problem = nodes[2].1.as_ref().unwrap_err();
    assert!(problem.contains("spec.podCIDRs[0]"), "{problem}");
}
