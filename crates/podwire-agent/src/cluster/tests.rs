//! The store in memory, with its file in a temporary directory and a fake set of attached
//! pods.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use podwire_k8s::services::NodeContext;
use podwire_model::cluster::{Change, ObjectKey, ObjectKind, ObjectStatus};
use podwire_model::service::ServiceId;

use super::*;
use crate::services::ServiceUpdate;

mod cache;
mod cluster_policy;
mod managed_fields;
mod object_views;
mod policy;
mod sync;

/// The pods attached on this node, as the tests say.
#[derive(Default)]
struct Attached(BTreeMap<(String, String), Vec<IpAddr>>);

impl Attached {
    fn with(mut self, namespace: &str, name: &str, ips: &[&str]) -> Attached {
        let ips = ips.iter().map(|ip| ip.parse().unwrap()).collect();
        self.0.insert((namespace.to_owned(), name.to_owned()), ips);
        self
    }
}

impl PodAddresses for Attached {
    fn addresses(&self, namespace: &str, name: &str) -> Vec<IpAddr> {
        self.0
            .get(&(namespace.to_owned(), name.to_owned()))
            .cloned()
            .unwrap_or_default()
    }
}

const NODE: &str = "node-a";

fn open(dir: &tempfile::TempDir) -> Cluster {
    Cluster::open(
        dir.path(),
        NodeContext {
            node_name: NODE.to_owned(),
        },
    )
    .unwrap()
}

/// A Service `namespace/name` on `cluster_ip` port 80 → 8080, selecting `app=<selector>`
/// (no selector when it is empty).
fn service(namespace: &str, name: &str, cluster_ip: &str, selector: &str) -> String {
    let selector = match selector {
        "" => String::new(),
        app => format!("\n  selector: {{app: {app}}}"),
    };
    format!(
        "apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  clusterIP: {cluster_ip}{selector}
  ports: [{{name: http, port: 80, targetPort: 8080, protocol: TCP}}]
"
    )
}

/// A Pod `namespace/name` labelled `app=<app>`, with `extra` appended (e.g. a status).
fn pod(namespace: &str, name: &str, app: &str, extra: &str) -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {namespace}, labels: {{app: {app}}}}}
spec:
  containers: [{{name: main, image: example}}]
{extra}"
    )
}

/// An EndpointSlice of Service `default/<service>` with one endpoint `ip`:8080.
fn slice(name: &str, service: &str, ip: &str) -> String {
    format!(
        "apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: {name}
  namespace: default
  labels: {{kubernetes.io/service-name: {service}}}
addressType: IPv4
ports: [{{name: http, port: 8080, protocol: TCP}}]
endpoints: [{{addresses: [{ip}]}}]
"
    )
}

fn manifest(documents: &[String]) -> String {
    documents.join("---\n")
}

fn key(kind: ObjectKind, namespace: &str, name: &str) -> ObjectKey {
    ObjectKey {
        kind,
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    }
}

fn changes(report: &podwire_model::cluster::ManifestReport) -> Vec<(String, Change)> {
    report
        .objects
        .iter()
        .map(|o| (o.key.to_string(), o.change))
        .collect()
}

/// The Services the updates are for, as `namespace/name`.
fn ids(updates: &[ServiceUpdate]) -> Vec<String> {
    updates.iter().map(|u| u.id.to_string()).collect()
}

/// The Cluster-policy endpoints of every frontend of an update's model.
fn endpoints(update: &ServiceUpdate) -> Vec<SocketAddr> {
    let model = update.model.as_ref().expect("the Service is proxied");
    let mut all: Vec<SocketAddr> = model
        .frontends
        .iter()
        .flat_map(|f| f.cluster_endpoints.iter().copied())
        .collect();
    all.sort();
    all.dedup();
    all
}

fn only(updates: Vec<ServiceUpdate>, id: &str) -> ServiceUpdate {
    assert_eq!(ids(&updates), [id], "{updates:?}");
    updates.into_iter().next().unwrap()
}

#[test]
fn apply_creates_then_reports_unchanged_and_configured() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = open(&dir);
    let pods = Attached::default();
    let text = manifest(&[
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n".to_owned(),
        service("shop", "web", "10.96.0.10", ""),
        slice("web-1", "web", "10.1.0.1").replace("namespace: default", "namespace: shop"),
    ]);
    let (report, updates) = cluster.apply(&text, &pods).unwrap();
    assert_eq!(
        changes(&report),
        [
            ("Namespace shop".to_owned(), Change::Created),
            ("Service shop/web".to_owned(), Change::Created),
            ("EndpointSlice shop/web-1".to_owned(), Change::Created),
        ]
    );
    let web = only(updates, "shop/web");
    assert_eq!(endpoints(&web), ["10.1.0.1:8080".parse().unwrap()]);

    let (report, updates) = cluster.apply(&text, &pods).unwrap();
    assert!(
        report.objects.iter().all(|o| o.change == Change::Unchanged),
        "{report:?}"
    );
    assert!(updates.is_empty(), "{updates:?}");

    let moved = text.replace("10.1.0.1", "10.1.0.2");
    let (report, updates) = cluster.apply(&moved, &pods).unwrap();
    assert_eq!(
        changes(&report)[2],
        ("EndpointSlice shop/web-1".to_owned(), Change::Configured)
    );
    assert_eq!(changes(&report)[1].1, Change::Unchanged);
    let web = only(updates, "shop/web");
    assert_eq!(endpoints(&web), ["10.1.0.2:8080".parse().unwrap()]);
}

#[test]
fn delete_removes_and_reports_what_was_not_there() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = open(&dir);
    let pods = Attached::default();
    let text = manifest(&[
        service("default", "web", "10.96.0.10", ""),
        slice("web-1", "web", "10.1.0.1"),
    ]);
    cluster.apply(&text, &pods).unwrap();

    let (report, updates) = cluster
        .delete(&service("default", "web", "10.96.0.10", ""), &pods)
        .unwrap();
    assert_eq!(
        changes(&report),
        [("Service default/web".to_owned(), Change::Deleted)]
    );
    assert_eq!(
        updates,
        [ServiceUpdate {
            id: ServiceId {
                namespace: "default".into(),
                name: "web".into()
            },
            model: None
        }]
    );
    // Its slice stays, and tells the data plane nothing: its Service is gone.
    let (report, updates) = cluster.delete(&text, &pods).unwrap();
    assert_eq!(
        changes(&report),
        [
            ("Service default/web".to_owned(), Change::NotFound),
            ("EndpointSlice default/web-1".to_owned(), Change::Deleted),
        ]
    );
    assert!(updates.is_empty(), "{updates:?}");
    assert_eq!(cluster.objects().count(), 0);
}

#[test]
fn a_restarted_store_has_what_was_applied() {
    let dir = tempfile::tempdir().unwrap();
    let pods = Attached::default();
    let text = manifest(&[
        service("default", "web", "10.96.0.10", ""),
        slice("web-1", "web", "10.1.0.1"),
        pod("default", "web-0", "web", ""),
    ]);
    let (before, applied) = {
        let mut cluster = open(&dir);
        let (_, updates) = cluster.apply(&text, &pods).unwrap();
        cluster
            .delete(&pod("default", "web-0", "web", ""), &pods)
            .unwrap();
        (cluster.objects().cloned().collect::<Vec<_>>(), updates)
    };
    assert_eq!(before.len(), 2);
    assert!(!dir.path().join("cluster.json.tmp").exists());

    let mut cluster = open(&dir);
    assert_eq!(cluster.objects().cloned().collect::<Vec<_>>(), before);
    // Before its first translation a Service says so; after, it is what the data plane got.
    assert!(matches!(
        &cluster.services()[0].status,
        ObjectStatus::Pending(why) if why.contains("not rendered")
    ));
    assert_eq!(cluster.all_updates(&pods), applied);
    assert_eq!(cluster.services()[0].status, ObjectStatus::Applied);
}

#[test]
fn a_corrupt_or_newer_file_is_an_error_that_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cluster.json");
    let node = || NodeContext {
        node_name: NODE.to_owned(),
    };
    std::fs::write(&path, "{\"version\": 1, \"objects\": [").unwrap();
    let error = Cluster::open(dir.path(), node()).unwrap_err();
    assert!(matches!(error, ClusterError::Corrupt { .. }), "{error}");
    let text = error.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains("move it away"), "{text}");

    std::fs::write(
        &path,
        r#"{"version": 1, "objects": [{"apiVersion": "v1", "kind": "Secret"}]}"#,
    )
    .unwrap();
    let error = Cluster::open(dir.path(), node()).unwrap_err();
    assert!(error.to_string().contains("objects[0]"), "{error}");

    std::fs::write(&path, r#"{"version": 7, "objects": []}"#).unwrap();
    let error = Cluster::open(dir.path(), node()).unwrap_err();
    assert!(
        matches!(error, ClusterError::NewerVersion { found: 7, .. }),
        "{error}"
    );
}

#[test]
fn a_conflicting_cluster_ip_is_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = open(&dir);
    let pods = Attached::default();
    cluster
        .apply(&service("default", "web", "10.96.0.10", ""), &pods)
        .unwrap();
    let saved = std::fs::read(dir.path().join("cluster.json")).unwrap();

    let text = manifest(&[
        slice("api-1", "api", "10.1.0.1"),
        service("default", "api", "10.96.0.10", ""),
    ]);
    let error = cluster.apply(&text, &pods).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, ClusterError::Refused(_)), "{message}");
    assert!(
        message.contains("Service default/api") && message.contains("10.96.0.10"),
        "{message}"
    );
    assert_eq!(cluster.objects().count(), 1);
    assert_eq!(
        std::fs::read(dir.path().join("cluster.json")).unwrap(),
        saved
    );
    // The Service itself may be applied again: it does not conflict with itself.
    let (report, _) = cluster
        .apply(&service("default", "web", "10.96.0.10", ""), &pods)
        .unwrap();
    assert_eq!(report.objects[0].change, Change::Unchanged);
}

#[test]
fn a_bad_document_among_good_ones_refuses_them_all() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = open(&dir);
    let text = manifest(&[
        service("default", "web", "10.96.0.10", ""),
        service("default", "bad", "10.96.0.11", "").replace("port: 80", "port: 0"),
        slice("web-1", "web", "10.1.0.1"),
    ]);
    let error = cluster.apply(&text, &Attached::default()).unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with("the manifest was refused, nothing was changed:\n"),
        "{message}"
    );
    assert!(message.contains("document 2"), "{message}");
    assert!(message.contains("spec.ports[0].port"), "{message}");
    assert_eq!(cluster.objects().count(), 0);
    assert!(!dir.path().join("cluster.json").exists());
}

#[test]
fn an_object_given_twice_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = open(&dir);
    let text = manifest(&[
        service("default", "web", "10.96.0.10", ""),
        service("default", "web", "10.96.0.11", ""),
    ]);
    let error = cluster.apply(&text, &Attached::default()).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("Service default/web: the manifest gives it 2 times"),
        "{error}"
    );
    assert_eq!(cluster.objects().count(), 0);
}

#[test]
fn a_store_that_cannot_be_saved_is_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = open(&dir);
    let pods = Attached::default();
    cluster
        .apply(&service("default", "web", "10.96.0.10", ""), &pods)
        .unwrap();
    // A directory where the temporary file goes makes every save fail, even for root.
    std::fs::create_dir(dir.path().join("cluster.json.tmp")).unwrap();
    let text = manifest(&[
        service("default", "web", "10.96.0.20", ""),
        service("default", "api", "10.96.0.21", ""),
    ]);
    let error = cluster.apply(&text, &pods).unwrap_err();
    assert!(matches!(error, ClusterError::Write { .. }), "{error}");
    assert!(error.to_string().contains("nothing was changed"), "{error}");
    let error = cluster
        .delete(&service("default", "web", "10.96.0.10", ""), &pods)
        .unwrap_err();
    assert!(matches!(error, ClusterError::Write { .. }), "{error}");

    let keys: Vec<ObjectKey> = cluster.objects().map(|o| o.key()).collect();
    assert_eq!(keys, [key(ObjectKind::Service, "default", "web")]);
    let (report, updates) = cluster
        .apply(&service("default", "web", "10.96.0.10", ""), &pods)
        .unwrap();
    assert_eq!(report.objects[0].change, Change::Unchanged);
    assert!(updates.is_empty());
}

#[test]
fn selector_endpoints_follow_pod_labels_and_attachments() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = open(&dir);
    let nobody = Attached::default();
    let text = manifest(&[
        service("default", "web", "10.96.0.10", "web"),
        pod("default", "web-0", "web", ""),
    ]);
    let (_, updates) = cluster.apply(&text, &nobody).unwrap();
    let web = only(updates, "default/web");
    assert!(endpoints(&web).is_empty());
    assert!(matches!(
        cluster.services()[0].status,
        ObjectStatus::Pending(_)
    ));
    assert!(matches!(
        &cluster.pods(&nobody)[0].status,
        ObjectStatus::Pending(why) if why == "not attached on this node yet"
    ));

    // The CNI plugin attaches it here.
    let attached = Attached::default().with("default", "web-0", &["10.244.0.5"]);
    let web = only(
        cluster.pod_changed("default", "web-0", &attached),
        "default/web",
    );
    assert_eq!(endpoints(&web), ["10.244.0.5:8080".parse().unwrap()]);
    let model = web.model.unwrap();
    assert_eq!(model.local_ready_endpoints, 1, "attached here means local");
    let view = &cluster.pods(&attached)[0];
    assert_eq!(view.status, ObjectStatus::Applied);
    assert_eq!(view.ips, ["10.244.0.5".parse::<IpAddr>().unwrap()]);
    let endpoint_views = cluster.endpoints(&attached);
    assert_eq!(endpoint_views.len(), 1);
    assert_eq!(endpoint_views[0].service, "web");
    assert_eq!(endpoint_views[0].node.as_deref(), Some(NODE));

    // Relabelled, it leaves the Service (its old labels matched).
    let (_, updates) = cluster
        .apply(&pod("default", "web-0", "other", ""), &attached)
        .unwrap();
    assert!(endpoints(&only(updates, "default/web")).is_empty());
    assert!(cluster.endpoints(&attached).is_empty());

    // A Pod of another node counts with its status.podIPs.
    let elsewhere = pod(
        "default",
        "web-1",
        "web",
        "  nodeName: node-b\nstatus:\n  podIPs: [{ip: 10.244.1.7}]\n",
    );
    let (_, updates) = cluster.apply(&elsewhere, &attached).unwrap();
    let web = only(updates, "default/web");
    assert_eq!(endpoints(&web), ["10.244.1.7:8080".parse().unwrap()]);
    assert_eq!(web.model.unwrap().local_ready_endpoints, 0);
    let views = cluster.endpoints(&attached);
    assert_eq!(views[0].node.as_deref(), Some("node-b"));
}

#[test]
fn updates_are_for_exactly_the_services_touched() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = open(&dir);
    let pods = Attached::default().with("default", "web-0", &["10.244.0.5"]);
    let text = manifest(&[
        service("default", "web", "10.96.0.10", "web"),
        service("default", "web-too", "10.96.0.11", "web"),
        service("default", "api", "10.96.0.12", "api"),
        service("default", "manual", "10.96.0.13", ""),
        service("prod", "web", "10.96.0.14", "web"),
    ]);
    let (_, updates) = cluster.apply(&text, &pods).unwrap();
    assert_eq!(
        ids(&updates),
        [
            "default/api",
            "default/manual",
            "default/web",
            "default/web-too",
            "prod/web"
        ]
    );

    let (_, updates) = cluster
        .apply(&pod("default", "web-0", "web", ""), &pods)
        .unwrap();
    assert_eq!(ids(&updates), ["default/web", "default/web-too"]);

    let (_, updates) = cluster
        .apply(&slice("manual-1", "manual", "10.1.0.1"), &pods)
        .unwrap();
    assert_eq!(ids(&updates), ["default/manual"]);

    let (_, updates) = cluster
        .apply(
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: default}\n",
            &pods,
        )
        .unwrap();
    assert!(updates.is_empty(), "{updates:?}");

    // A Pod of the store that is attached or detached touches the Services selecting it; one
    // that the store does not have touches none.
    assert_eq!(
        ids(&cluster.pod_changed("default", "web-0", &Attached::default())),
        ["default/web", "default/web-too"]
    );
    assert!(cluster.pod_changed("default", "stranger", &pods).is_empty());

    let (_, updates) = cluster
        .delete(&pod("default", "web-0", "web", ""), &pods)
        .unwrap();
    assert_eq!(ids(&updates), ["default/web", "default/web-too"]);
}
