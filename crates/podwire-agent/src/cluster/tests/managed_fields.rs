//! `metadata.managedFields` is dropped from every object as it enters the store: from a
//! manifest, from a source, and from a file an older agent wrote.

use podwire_k8s::manifest;
use podwire_k8s::source::SourceEvent;

use super::*;

/// The API server's record of who set which field, as it sends it.
const MANAGED: &str = "
  managedFields:
  - {manager: kubelet, operation: Update, apiVersion: v1, time: \"2026-03-02T09:14:07Z\", fieldsType: FieldsV1, fieldsV1: {\"f:status\": {\"f:podIPs\": {}}}}";

/// Namespace `shop`, Service `shop/web` and Pod `shop/web-0` selected by it, and a
/// NetworkPolicy; each with `managed` in its metadata.
fn shop(managed: &str) -> String {
    manifest(&[
        format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop{managed}\n"),
        format!(
            "apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop{managed}
spec:
  clusterIP: 10.96.0.10
  selector: {{app: web}}
  ports: [{{name: http, port: 80, targetPort: 8080, protocol: TCP}}]
"
        ),
        format!(
            "apiVersion: v1
kind: Pod
metadata:
  name: web-0
  namespace: shop
  labels: {{app: web}}{managed}
spec:
  containers: [{{name: main, image: example}}]
status:
  podIPs: [{{ip: 10.244.1.5}}]
"
        ),
        format!(
            "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web
  namespace: shop{managed}
spec:
  podSelector: {{matchLabels: {{app: web}}}}
  ingress: [{{ports: [{{port: 80}}]}}]
"
        ),
    ])
}

fn web_0() -> ObjectKey {
    key(ObjectKind::Pod, "shop", "web-0")
}

/// What `podwire ctl get -o json` shows of every kind, as JSON.
fn views_json(cluster: &Cluster, pods: &Attached) -> serde_json::Value {
    serde_json::json!({
        "pods": cluster.pods(pods),
        "services": cluster.services(),
        "endpoints": cluster.endpoints(pods),
        "networkpolicies": cluster.object_views(ObjectKind::NetworkPolicy, pods),
        "namespaces": cluster.object_views(ObjectKind::Namespace, pods),
    })
}

#[test]
fn an_object_applied_with_managed_fields_is_stored_without_them() {
    let pods = Attached::default().with("shop", "web-0", &["10.244.0.5"]);
    let plain_dir = tempfile::tempdir().unwrap();
    let mut plain = open(&plain_dir);
    plain.apply(&shop(""), &pods).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mut cluster = open(&dir);
    assert!(
        manifest::parse(&shop(MANAGED)).unwrap()[2]
            .metadata()
            .managed_fields
            .is_some(),
        "the manifest gives managedFields"
    );
    let (report, updates) = cluster.apply(&shop(MANAGED), &pods).unwrap();
    assert!(report.objects.iter().all(|o| o.change == Change::Created));
    assert_eq!(
        endpoints(&only(updates, "shop/web")),
        ["10.244.0.5:8080".parse().unwrap()]
    );
    assert_eq!(cluster.objects().count(), 4);
    assert!(
        cluster
            .objects()
            .all(|o| o.metadata().managed_fields.is_none()),
        "{:?}",
        cluster.object(&web_0())
    );
    assert_eq!(
        cluster.objects().collect::<Vec<_>>(),
        plain.objects().collect::<Vec<_>>(),
        "the objects are those of the manifest without managedFields"
    );
    let labels = cluster.object(&web_0()).unwrap().metadata().labels.clone();
    assert_eq!(
        labels.unwrap()["app"],
        "web",
        "the rest of the metadata stays"
    );

    let views = views_json(&cluster, &pods);
    assert_eq!(views, views_json(&plain, &pods));
    assert_eq!(views["pods"][0]["name"], "web-0", "{views}");
    assert_eq!(views["networkpolicies"][0]["name"], "web", "{views}");

    let file = std::fs::read_to_string(dir.path().join(file::STATE_FILE)).unwrap();
    assert!(!file.contains("managedFields"), "{file}");
    assert!(file.contains("web-0"), "{file}");

    // Only managedFields differ: nothing changes.
    let (report, updates) = cluster
        .apply(&shop(&MANAGED.replace("kubelet", "kubectl")), &pods)
        .unwrap();
    assert!(
        report.objects.iter().all(|o| o.change == Change::Unchanged),
        "{report:?}"
    );
    assert!(updates.is_empty(), "{updates:?}");
}

#[test]
fn a_source_s_objects_are_stored_without_managed_fields() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = open(&dir);
    let pods = Attached::default();
    let objects = manifest::parse(&shop(MANAGED)).unwrap();
    let (changes, _) = cluster.sync(
        vec![SourceEvent::Listed {
            kind: ObjectKind::Pod,
            objects: vec![objects[2].clone()],
        }],
        &pods,
    );
    assert_eq!(changes.len(), 1);
    let stored = cluster.object(&web_0()).unwrap();
    assert_eq!(stored.metadata().managed_fields, None);
    assert_eq!(*stored, objects[2].clone().without_managed_fields());

    // A watch event that only another manager's record sets apart changes nothing.
    let other = manifest::parse(&shop(&MANAGED.replace("kubelet", "kubectl"))).unwrap();
    assert_ne!(other[2], objects[2]);
    let (changes, updates) = cluster.sync(vec![SourceEvent::Applied(other[2].clone())], &pods);
    assert!(changes.is_empty(), "{changes:?}");
    assert!(updates.is_empty(), "{updates:?}");

    assert!(cluster.save_cache().unwrap());
    let reopened = open(&dir);
    assert_eq!(reopened.object(&web_0()), cluster.object(&web_0()));
}

#[test]
fn a_file_with_managed_fields_is_read_without_them() {
    let dir = tempfile::tempdir().unwrap();
    let objects: Vec<serde_json::Value> = manifest::parse(&shop(MANAGED))
        .unwrap()
        .iter()
        .map(|o| o.to_json())
        .collect();
    assert!(objects[2]["metadata"]["managedFields"].is_array());
    let text = serde_json::json!({"version": file::VERSION, "objects": objects}).to_string();
    std::fs::write(dir.path().join(file::STATE_FILE), text).unwrap();

    let cluster = open(&dir);
    assert_eq!(cluster.objects().count(), 4);
    assert!(
        cluster
            .objects()
            .all(|o| o.metadata().managed_fields.is_none())
    );
    assert_eq!(
        cluster
            .object(&web_0())
            .unwrap()
            .metadata()
            .labels
            .as_ref()
            .unwrap()["app"],
        "web"
    );
}
