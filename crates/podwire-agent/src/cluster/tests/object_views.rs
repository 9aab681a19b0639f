//! The status of NetworkPolicies, ClusterNetworkPolicies and Namespaces, from the store's
//! objects and the pods attached here.

use podwire_k8s::object::Object;
use podwire_k8s::source::SourceEvent;
use podwire_k8s::views::SELECTS_NO_POD;
use podwire_model::cluster::ObjectView;

use super::*;

/// Namespace `shop` with Service `web`, Pod `web-0` (app=web), and NetworkPolicy `web`
/// selecting it.
fn shop() -> String {
    manifest(&[
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n".to_owned(),
        service("shop", "web", "10.96.0.10", "web"),
        pod("shop", "web-0", "web", ""),
        "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{ports: [{port: 80}]}]
"
        .to_owned(),
    ])
}

fn named<'v>(views: &'v [ObjectView], name: &str) -> &'v ObjectView {
    views.iter().find(|v| v.name == name).expect(name)
}

#[test]
fn a_policy_is_pending_until_a_pod_it_selects_is_attached_here() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = open(&dir);
    let nobody = Attached::default();
    cluster.apply(&shop(), &nobody).unwrap();

    let views = cluster.object_views(ObjectKind::NetworkPolicy, &nobody);
    assert_eq!(views.len(), 1, "{views:?}");
    assert_eq!(
        views[0].status,
        ObjectStatus::Pending(SELECTS_NO_POD.into())
    );

    let attached = Attached::default().with("shop", "web-0", &["10.244.0.5"]);
    let views = cluster.object_views(ObjectKind::NetworkPolicy, &attached);
    assert_eq!(views[0].status, ObjectStatus::Applied);
    assert_eq!(
        views[0].summary,
        "selects 1 pod on this node, 1 ingress / 0 egress rules"
    );

    let namespaces = cluster.object_views(ObjectKind::Namespace, &attached);
    assert_eq!(named(&namespaces, "shop").summary, "1 pod, 1 service");
    assert_eq!(
        cluster.object_views(ObjectKind::Service, &attached),
        [],
        "Services have their own view"
    );
}

#[test]
fn a_policy_from_a_source_that_podwire_refuses_shows_why() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = open(&dir);
    let attached = Attached::default().with("shop", "web-0", &["10.244.0.5"]);
    cluster.apply(&shop(), &attached).unwrap();
    // A source's objects are not checked on their way in (`ctl apply` would refuse this).
    let bad = Object::from_json(serde_json::json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "bad", "namespace": "shop"},
        "spec": {"podSelector": {}, "policyTypes": ["Sideways"]}
    }))
    .unwrap();
    cluster.sync(vec![SourceEvent::Applied(bad)], &attached);

    let views = cluster.object_views(ObjectKind::NetworkPolicy, &attached);
    let bad = named(&views, "bad");
    assert!(
        matches!(&bad.status, ObjectStatus::Failed(why) if why.contains("spec.policyTypes[0]")),
        "{bad:?}"
    );
    assert_eq!(named(&views, "web").status, ObjectStatus::Applied);
}
