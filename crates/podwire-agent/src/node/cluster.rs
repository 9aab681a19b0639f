//! The cluster store on a running node: manifests applied and deleted through the API, and
//! the Services whose endpoints, and the NetworkPolicies whose pods, follow the pods the CNI
//! plugin attaches here.
//!
//! Every change of the store is computed and handed to the data plane under the store's
//! lock, so that two changes reach the data plane in the order the store made them; and the
//! pods' addresses are read under that lock too, so that a change never publishes addresses
//! older than those an earlier change published.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::MutexGuard;
use std::time::SystemTime;

use podwire_model::api::TransactionView;
use podwire_model::attach::{Attachment, PodIdentity};
use podwire_model::cluster::{
    Change, EndpointView, ManifestReport, ManifestRequest, ObjectChange, ObjectKind, ObjectStatus,
    PodView, ServiceView,
};

use podwire_k8s::source::SourceEvent;

use super::{Node, ObjectStore};
use crate::api::ClusterCallError;
use crate::cluster::{Cluster, ClusterError, PodAddresses};
use crate::reconcile::transactions::{TransactionLog, Trigger};
use crate::services::ServiceUpdate;

/// The addresses of the pods attached on this node, by namespace and name.
#[derive(Debug, Default)]
pub(super) struct AttachedPods(HashMap<String, HashMap<String, Vec<IpAddr>>>);

impl AttachedPods {
    /// From the attachments: each pod's `eth0` first (the interface Kubernetes' pod IPs are
    /// on), then its other interfaces in the registry's order. Attachments whose runtime did
    /// not name the pod are no pod of the store.
    fn new(mut attachments: Vec<Attachment>) -> AttachedPods {
        attachments.sort_by_key(|a| a.key.ifname != "eth0");
        let mut pods = AttachedPods::default();
        for attachment in attachments {
            let PodIdentity {
                namespace: Some(namespace),
                name: Some(name),
                ..
            } = attachment.pod
            else {
                continue;
            };
            pods.0
                .entry(namespace)
                .or_default()
                .entry(name)
                .or_default()
                .extend(attachment.addresses.iter().map(|a| a.addr()));
        }
        pods
    }
}

impl AttachedPods {
    /// The pods, by namespace and name.
    pub(super) fn names(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.0.iter().flat_map(|(namespace, pods)| {
            pods.keys()
                .map(move |name| (namespace.clone(), name.clone()))
        })
    }
}

impl PodAddresses for AttachedPods {
    fn addresses(&self, namespace: &str, name: &str) -> Vec<IpAddr> {
        self.0
            .get(namespace)
            .and_then(|pods| pods.get(name))
            .cloned()
            .unwrap_or_default()
    }
}

/// Whether objects of `kind` are inputs of the policies compiled for this node's pods
/// (Services, EndpointSlices and Nodes are not: a change of them leaves the policies be).
fn shapes_policies(kind: ObjectKind) -> bool {
    match kind {
        ObjectKind::Pod
        | ObjectKind::Namespace
        | ObjectKind::NetworkPolicy
        | ObjectKind::ClusterNetworkPolicy => true,
        ObjectKind::Service | ObjectKind::EndpointSlice | ObjectKind::Node => false,
    }
}

/// What `podwire ctl` asks of a manifest.
#[derive(Clone, Copy)]
enum ManifestOp {
    Apply,
    Delete,
}

impl ManifestOp {
    /// The trigger of a manifest of `objects` objects.
    fn trigger(self, objects: usize) -> Trigger {
        match self {
            ManifestOp::Apply => Trigger::Apply { objects },
            ManifestOp::Delete => Trigger::Delete { objects },
        }
    }
}

/// What a change of the store did besides answering its caller: the Services to render,
/// the objects it changed and whether it succeeded (for the transaction log).
#[derive(Default)]
pub(super) struct Effects {
    updates: Vec<ServiceUpdate>,
    objects: Vec<ObjectChange>,
    /// Effects that are not one object's.
    notes: Vec<String>,
    /// What started it, when only the change could tell (how many objects a manifest had).
    trigger: Option<Trigger>,
    /// The policies of this node's pods must be compiled again whatever objects changed
    /// (at start, and when a pod's attachments changed).
    policies: bool,
    /// Why it failed.
    failure: Option<String>,
}

impl Effects {
    /// Services to render, nothing else.
    fn updates(updates: Vec<ServiceUpdate>) -> Self {
        Effects {
            updates,
            ..Effects::default()
        }
    }

    /// An apply's or a delete's answer and effects.
    fn of_manifest(
        result: Result<(ManifestReport, Vec<ServiceUpdate>), ClusterError>,
        op: ManifestOp,
    ) -> (Result<ManifestReport, ClusterCallError>, Effects) {
        match result {
            Ok((report, updates)) => {
                let effects = Effects {
                    objects: report
                        .objects
                        .iter()
                        .filter(|o| !matches!(o.change, Change::Unchanged | Change::NotFound))
                        .cloned()
                        .collect(),
                    trigger: Some(op.trigger(report.objects.len())),
                    ..Effects::updates(updates)
                };
                (Ok(report), effects)
            }
            Err(error) => {
                let effects = Effects {
                    failure: Some(error.to_string()),
                    ..Effects::default()
                };
                (Err(error.into()), effects)
            }
        }
    }
}

impl From<ClusterError> for ClusterCallError {
    fn from(error: ClusterError) -> Self {
        match error {
            ClusterError::Refused(_) => ClusterCallError::Refused(error.to_string()),
            other => ClusterCallError::Failed(other.to_string()),
        }
    }
}

/// Runs `future` to completion from an API call, which the server makes on tokio's blocking
/// pool (never on its event loop, where blocking would stall it).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Handle::current().block_on(future)
}

fn etcd_failed(error: crate::source::etcd::EtcdError) -> ClusterCallError {
    ClusterCallError::Failed(format!("nothing was changed: {error}"))
}

fn from_kubernetes() -> ClusterCallError {
    ClusterCallError::Refused(
        "this node takes its objects from the Kubernetes API, which podwire only reads: change them with kubectl".to_owned(),
    )
}

impl Node {
    pub(super) fn cluster(&self) -> MutexGuard<'_, Cluster> {
        self.cluster.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn attached_pods(&self) -> AttachedPods {
        AttachedPods::new(self.list_attachments())
    }

    /// Runs `change` on the store and hands the updates it makes to the data plane, then
    /// the policies of this node's pods compiled again (published only when they changed)
    /// and the routes to the other nodes, all under the store's lock; and records what it
    /// did as one transaction of the log, started by `trigger`.
    pub(super) fn change_cluster<T>(
        &self,
        trigger: Trigger,
        change: impl FnOnce(&mut Cluster, &AttachedPods) -> (T, Effects),
    ) -> T {
        let started = SystemTime::now();
        let mut cluster = self.cluster();
        let pods = self.attached_pods();
        let (answer, changed) = change(&mut cluster, &pods);
        let trigger = changed.trigger.unwrap_or(trigger);
        // At start everything is rendered; afterwards only what the change can touch.
        let every_input = matches!(trigger, Trigger::Start);
        let nodes_changed = changed
            .objects
            .iter()
            .any(|o| o.key.kind == ObjectKind::Node);
        let every_pod = every_input || matches!(trigger, Trigger::Retry { .. });
        let mut transaction = self.transactions().begin(trigger, started);
        for note in changed.notes {
            transaction.note(note);
        }
        if !changed.updates.is_empty() {
            transaction.note(format!("services rendered: {}", changed.updates.len()));
        }
        self.apply_service_updates(changed.updates);
        let policy_inputs = changed.objects.iter().any(|o| shapes_policies(o.key.kind));
        if (changed.policies || policy_inputs) && self.apply_policies(cluster.pod_policies(&pods)) {
            transaction.note("network policies of this node's pods rendered");
        }
        if every_input || nodes_changed {
            for note in self.render_remote_nodes(&cluster) {
                transaction.note(note);
            }
        }
        self.publish_pod_addresses(&cluster, &pods, every_pod);
        for object in changed.objects {
            let status = cluster.status(&object.key);
            transaction.object(object.key, object.change, status);
        }
        drop(cluster);
        let outcome = changed.failure.map_or(Ok(()), Err);
        self.transactions()
            .finish(transaction, outcome, SystemTime::now());
        answer
    }

    fn transactions(&self) -> MutexGuard<'_, TransactionLog> {
        self.transactions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `GET /v1/transactions`.
    pub(super) fn recent_transactions(&self, limit: usize) -> Vec<TransactionView> {
        self.transactions().recent(limit)
    }

    /// Takes a batch of changes from the cluster's source (etcd, the Kubernetes API) into
    /// the store, and the data plane follows.
    pub fn sync_cluster(&self, events: Vec<SourceEvent>) {
        let source = self.object_store().source_name();
        let trigger = Trigger::Source {
            source,
            events: events.len(),
        };
        let relisted: Vec<String> = events
            .iter()
            .filter_map(|event| match event {
                SourceEvent::Listed { kind, objects } => {
                    Some(format!("{source} listed every {kind}: {}", objects.len()))
                }
                _ => None,
            })
            .collect();
        self.change_cluster(trigger, |cluster, pods| {
            let (objects, updates) = cluster.sync(events, pods);
            let effects = Effects {
                objects,
                notes: relisted,
                ..Effects::updates(updates)
            };
            ((), effects)
        });
    }

    /// Saves what the source changed since the last save (the cache a restart starts from).
    /// Called now and then by the daemon, and when it stops, on a thread that may block:
    /// the store is copied under its lock (a pointer per object) and written without it,
    /// so that changes go on meanwhile. Two saves at once take turns, and the later copy
    /// is the one the file keeps.
    pub fn save_cluster_cache(&self) {
        let Some(snapshot) = self.cluster().cache_snapshot() else {
            return;
        };
        match snapshot.write() {
            Ok(true) => tracing::debug!("cluster cache saved"),
            Ok(false) => tracing::debug!("cluster cache: a newer copy was saved meanwhile"),
            Err(e) => tracing::warn!(
                "{e}; the node follows its source all the same, and a restart starts from the older copy until the source answers"
            ),
        }
    }

    /// `POST /v1/cluster/apply`.
    pub(super) fn apply_manifest(
        &self,
        request: ManifestRequest,
    ) -> Result<ManifestReport, ClusterCallError> {
        self.change_manifest(&request.manifest, ManifestOp::Apply)
    }

    /// `POST /v1/cluster/delete`.
    pub(super) fn delete_manifest(
        &self,
        request: ManifestRequest,
    ) -> Result<ManifestReport, ClusterCallError> {
        self.change_manifest(&request.manifest, ManifestOp::Delete)
    }

    /// Applies or deletes the objects of `manifest` where this node's objects live: in its
    /// own store, or in etcd (whose watch brings the change back to every node).
    fn change_manifest(
        &self,
        manifest: &str,
        op: ManifestOp,
    ) -> Result<ManifestReport, ClusterCallError> {
        match self.object_store() {
            ObjectStore::Local => self.change_cluster(op.trigger(0), |cluster, pods| {
                let result = match op {
                    ManifestOp::Apply => cluster.apply(manifest, pods),
                    ManifestOp::Delete => cluster.delete(manifest, pods),
                };
                Effects::of_manifest(result, op)
            }),
            ObjectStore::Etcd(store) => {
                let started = SystemTime::now();
                let (report, written) = match op {
                    ManifestOp::Apply => {
                        let (report, objects) = self.cluster().plan_apply(manifest)?;
                        let written = (!objects.is_empty()).then(|| block_on(store.put(&objects)));
                        (report, written)
                    }
                    ManifestOp::Delete => {
                        let (report, keys) = self.cluster().plan_delete(manifest)?;
                        let written =
                            (!keys.is_empty()).then(|| block_on(store.delete(&keys)).map(|_| ()));
                        (report, written)
                    }
                };
                let written = written.unwrap_or(Ok(())).map_err(etcd_failed);
                self.log_written(op.trigger(report.objects.len()), &report, started, &written);
                written.map(|()| report)
            }
            ObjectStore::Kubernetes => Err(from_kubernetes()),
        }
    }

    /// Records a manifest written to etcd: the data plane changes when the watch brings it
    /// back, in a transaction of its own.
    fn log_written(
        &self,
        trigger: Trigger,
        report: &ManifestReport,
        started: SystemTime,
        written: &Result<(), ClusterCallError>,
    ) {
        let mut log = self.transactions();
        let mut transaction = log.begin(trigger, started);
        for object in &report.objects {
            if matches!(object.change, Change::Unchanged | Change::NotFound) {
                continue;
            }
            let status = ObjectStatus::Pending(
                "written to etcd: every node takes it from its watch".to_owned(),
            );
            transaction.object(object.key.clone(), object.change, status);
        }
        let outcome = written.as_ref().map_err(ToString::to_string).copied();
        log.finish(transaction, outcome, SystemTime::now());
    }

    /// Renders every Service and the policies of the store: at start, once the tables are
    /// published.
    pub(super) fn render_cluster(&self) {
        self.change_cluster(Trigger::Start, |cluster, pods| {
            let effects = Effects {
                policies: true,
                ..Effects::updates(cluster.all_updates(pods))
            };
            ((), effects)
        });
    }

    /// After a CNI ADD (`attached`) or DEL of one of `pod`'s interfaces: the Services that
    /// select it, and the policies that name it or apply to it, follow its addresses.
    pub(super) fn pod_attachments_changed(&self, pod: &PodIdentity, attached: bool) {
        let (Some(namespace), Some(name)) = (&pod.namespace, &pod.name) else {
            return;
        };
        let pod = format!("{namespace}/{name}");
        let trigger = match attached {
            true => Trigger::Attach { pod },
            false => Trigger::Detach { pod },
        };
        self.change_cluster(trigger, |cluster, pods| {
            (
                (),
                Effects::updates(cluster.pod_changed(namespace, name, pods)),
            )
        });
    }

    /// `GET /v1/cluster/services`.
    pub(super) fn service_views(&self) -> Vec<ServiceView> {
        self.cluster().services()
    }

    /// `GET /v1/cluster/endpoints`.
    pub(super) fn endpoint_views(&self) -> Vec<EndpointView> {
        let cluster = self.cluster();
        cluster.endpoints(&self.attached_pods())
    }

    /// `GET /v1/cluster/pods`.
    pub(super) fn pod_views(&self) -> Vec<PodView> {
        let mut views = self.cluster().pods(&self.attached_pods());
        for view in &mut views {
            if let Some(status) = self.publication_failure(&view.namespace, &view.name) {
                view.status = status;
            }
        }
        views
    }
}
