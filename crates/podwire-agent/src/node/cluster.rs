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

use podwire_model::attach::{Attachment, PodIdentity};
use podwire_model::cluster::{EndpointView, ManifestReport, ManifestRequest, PodView, ServiceView};

use super::Node;
use crate::api::ClusterCallError;
use crate::cluster::{Cluster, ClusterError, PodAddresses};
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

impl PodAddresses for AttachedPods {
    fn addresses(&self, namespace: &str, name: &str) -> Vec<IpAddr> {
        self.0
            .get(namespace)
            .and_then(|pods| pods.get(name))
            .cloned()
            .unwrap_or_default()
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

impl Node {
    pub(super) fn cluster(&self) -> MutexGuard<'_, Cluster> {
        self.cluster.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn attached_pods(&self) -> AttachedPods {
        AttachedPods::new(self.list_attachments())
    }

    /// Runs `change` on the store and hands the updates it makes to the data plane, then
    /// the policies of this node's pods compiled again (published only when they changed),
    /// all under the store's lock.
    fn change_cluster<T>(
        &self,
        change: impl FnOnce(&mut Cluster, &AttachedPods) -> (T, Vec<ServiceUpdate>),
    ) -> T {
        let mut cluster = self.cluster();
        let pods = self.attached_pods();
        let (answer, updates) = change(&mut cluster, &pods);
        self.apply_service_updates(updates);
        self.apply_policies(cluster.pod_policies(&pods));
        answer
    }

    /// `POST /v1/cluster/apply`.
    pub(super) fn apply_manifest(
        &self,
        request: ManifestRequest,
    ) -> Result<ManifestReport, ClusterCallError> {
        self.change_cluster(
            |cluster, pods| match cluster.apply(&request.manifest, pods) {
                Ok((report, updates)) => (Ok(report), updates),
                Err(error) => (Err(error.into()), Vec::new()),
            },
        )
    }

    /// `POST /v1/cluster/delete`.
    pub(super) fn delete_manifest(
        &self,
        request: ManifestRequest,
    ) -> Result<ManifestReport, ClusterCallError> {
        self.change_cluster(
            |cluster, pods| match cluster.delete(&request.manifest, pods) {
                Ok((report, updates)) => (Ok(report), updates),
                Err(error) => (Err(error.into()), Vec::new()),
            },
        )
    }

    /// Renders every Service and the policies of the store: at start, once the tables are
    /// published.
    pub(super) fn render_cluster(&self) {
        self.change_cluster(|cluster, pods| ((), cluster.all_updates(pods)));
    }

    /// After a CNI ADD or DEL of one of `pod`'s interfaces: the Services that select it, and
    /// the policies that name it or apply to it, follow its addresses.
    pub(super) fn pod_attachments_changed(&self, pod: &PodIdentity) {
        let (Some(namespace), Some(name)) = (&pod.namespace, &pod.name) else {
            return;
        };
        self.change_cluster(|cluster, pods| ((), cluster.pod_changed(namespace, name, pods)));
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
        let cluster = self.cluster();
        cluster.pods(&self.attached_pods())
    }
}
