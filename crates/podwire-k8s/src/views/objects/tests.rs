use serde_json::{Value, json};

use super::*;

const NODE: &str = "node-a";

fn node() -> NodeContext {
    NodeContext {
        node_name: NODE.into(),
    }
}

fn object(value: Value) -> Object {
    Object::from_json(value).expect("test object decodes")
}

fn namespace(name: &str, labels: Value) -> Object {
    object(json!({"apiVersion": "v1", "kind": "Namespace",
                  "metadata": {"name": name, "labels": labels}}))
}

fn pod(namespace: &str, name: &str, app: &str) -> Object {
    object(json!({"apiVersion": "v1", "kind": "Pod",
                  "metadata": {"name": name, "namespace": namespace, "labels": {"app": app}},
                  "spec": {"containers": [{"name": "main", "image": "example"}]}}))
}

fn service(namespace: &str, name: &str) -> Object {
    object(json!({"apiVersion": "v1", "kind": "Service",
                  "metadata": {"name": name, "namespace": namespace},
                  "spec": {"ports": [{"port": 80}]}}))
}

/// A NetworkPolicy of `shop` selecting `app=<app>`, with two ingress rules and one egress
/// rule; `port` is the port of its first ingress rule.
fn network_policy(name: &str, app: &str, port: i32) -> Object {
    object(
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"podSelector": {"matchLabels": {"app": app}},
                 "policyTypes": ["Ingress", "Egress"],
                 "ingress": [{"ports": [{"port": port}]}, {"from": [{"podSelector": {}}]}],
                 "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]}}),
    )
}

fn cluster_policy(name: &str, tier: &str, namespace_label: &str) -> Object {
    object(json!({"apiVersion": "policy.networking.k8s.io/v1alpha2",
        "kind": "ClusterNetworkPolicy",
        "metadata": {"name": name},
        "spec": {"tier": tier, "priority": 10,
                 "subject": {"namespaces": {"matchLabels": {"team": namespace_label}}},
                 "ingress": [{"name": "deny-all", "action": "Deny",
                              "from": [{"namespaces": {}}]}]}}))
}

/// Every object of the store, and the infos of its Pods: those named in `here` attached on
/// this node with an address.
fn views_of(kind: ObjectKind, store: &[Object], here: &[&str]) -> Vec<ObjectView> {
    let infos: Vec<PodInfo<'_>> = store
        .iter()
        .filter_map(|o| match o {
            Object::Pod(pod) => Some(pod),
            _ => None,
        })
        .enumerate()
        .map(|(i, pod)| {
            let name = pod.metadata.name.as_deref().unwrap_or_default();
            let attached = here.contains(&name);
            PodInfo {
                pod,
                ips: match attached {
                    true => vec![format!("10.244.0.{}", i + 1).parse().unwrap()],
                    false => Vec::new(),
                },
                node: attached.then(|| NODE.to_owned()),
            }
        })
        .collect();
    let objects: Vec<&Object> = store.iter().collect();
    super::objects(kind, &objects, &infos, &node())
}

fn store() -> Vec<Object> {
    vec![
        namespace("shop", json!({"team": "red"})),
        namespace("empty", json!({"team": "blue"})),
        pod("shop", "web-0", "web"),
        pod("shop", "web-1", "web"),
        pod("shop", "db-0", "db"),
        service("shop", "web"),
        network_policy("web", "web", 8080),
        network_policy("nobody", "cache", 8080),
        with_end_port_below(network_policy("bad", "db", 8080)),
        cluster_policy("red", "Admin", "red"),
        cluster_policy("blue", "Baseline", "blue"),
    ]
}

/// `policy` with an `endPort` below its first port, which validation refuses (an object from
/// a source is not validated on its way in).
fn with_end_port_below(policy: Object) -> Object {
    let mut value = policy.to_json();
    value["spec"]["ingress"][0]["ports"][0]["endPort"] = json!(80);
    object(value)
}

fn by_name<'v>(views: &'v [ObjectView], name: &str) -> &'v ObjectView {
    views
        .iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("no view of {name} in {views:?}"))
}

#[test]
fn a_network_policy_selecting_pods_here_is_applied_with_what_it_selects() {
    let views = views_of(
        ObjectKind::NetworkPolicy,
        &store(),
        &["web-0", "web-1", "db-0"],
    );
    assert_eq!(views.len(), 3, "{views:?}");
    let web = by_name(&views, "web");
    assert_eq!(web.kind, ObjectKind::NetworkPolicy);
    assert_eq!(web.namespace, "shop");
    assert_eq!(
        web.summary,
        "selects 2 pods on this node, 2 ingress / 1 egress rules"
    );
    assert_eq!(web.status, ObjectStatus::Applied);
}

#[test]
fn a_network_policy_selecting_no_pod_here_is_pending() {
    // `web-1` is not attached here: only one pod counts.
    let views = views_of(ObjectKind::NetworkPolicy, &store(), &["web-0"]);
    assert_eq!(
        by_name(&views, "web").summary,
        "selects 1 pod on this node, 2 ingress / 1 egress rules"
    );
    let nobody = by_name(&views, "nobody");
    assert!(nobody.summary.starts_with("selects 0 pods"), "{nobody:?}");
    assert_eq!(nobody.status, ObjectStatus::Pending(SELECTS_NO_POD.into()));
    // With no pod attached here, none selects anything.
    let none = views_of(ObjectKind::NetworkPolicy, &store(), &[]);
    assert_eq!(
        by_name(&none, "web").status,
        ObjectStatus::Pending(SELECTS_NO_POD.into())
    );
}

#[test]
fn a_network_policy_with_a_problem_fails_with_the_field() {
    // It selects db-0, attached here, yet fails: the data plane does not take it as written.
    let views = views_of(ObjectKind::NetworkPolicy, &store(), &["db-0"]);
    let bad = by_name(&views, "bad");
    let ObjectStatus::Failed(reason) = &bad.status else {
        panic!("{bad:?}");
    };
    assert!(
        reason.contains("spec.ingress[0].ports[0].endPort"),
        "{reason}"
    );
    assert!(reason.contains("less than port 8080"), "{reason}");
    assert_eq!(bad.status.state(), "failed");
}

#[test]
fn a_cluster_network_policy_is_applied_when_its_subject_has_pods_here() {
    let views = views_of(ObjectKind::ClusterNetworkPolicy, &store(), &["web-0"]);
    assert_eq!(views.len(), 2, "{views:?}");
    let red = by_name(&views, "red");
    assert_eq!(red.namespace, "");
    assert_eq!(red.summary, "tier Admin, priority 10, 1 rule");
    assert_eq!(red.status, ObjectStatus::Applied);
    // Its subject is the namespace `empty`, which has no pod.
    let blue = by_name(&views, "blue");
    assert_eq!(blue.summary, "tier Baseline, priority 10, 1 rule");
    assert_eq!(blue.status, ObjectStatus::Pending(SELECTS_NO_POD.into()));
}

#[test]
fn a_cluster_network_policy_with_a_problem_fails_with_the_field() {
    let mut value = cluster_policy("wrong", "Admin", "red").to_json();
    value["spec"]["priority"] = json!(5000);
    let store = [store(), vec![object(value)]].concat();
    let views = views_of(ObjectKind::ClusterNetworkPolicy, &store, &["web-0"]);
    let wrong = by_name(&views, "wrong");
    assert!(
        matches!(&wrong.status, ObjectStatus::Failed(reason) if reason.contains("spec.priority")),
        "{wrong:?}"
    );
}

#[test]
fn a_namespace_counts_its_pods_and_services() {
    let views = views_of(ObjectKind::Namespace, &store(), &[]);
    let names: Vec<&str> = views.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names.len(), 2, "{views:?}");
    assert_eq!(by_name(&views, "shop").summary, "3 pods, 1 service");
    assert_eq!(by_name(&views, "empty").summary, "0 pods, 0 services");
    assert!(views.iter().all(|v| v.status == ObjectStatus::Applied));
    assert!(views.iter().all(|v| v.namespace.is_empty()));
}

#[test]
fn kinds_with_their_own_view_have_none_here() {
    for kind in [
        ObjectKind::Pod,
        ObjectKind::Service,
        ObjectKind::EndpointSlice,
        ObjectKind::Node,
    ] {
        assert!(views_of(kind, &store(), &["web-0"]).is_empty(), "{kind}");
    }
}
