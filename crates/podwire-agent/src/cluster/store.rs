//! The store itself: the objects by key, changed by manifests, saved before anything
//! downstream hears of a change, each Service's last translation, and the NetworkPolicies
//! compiled for this node's pods.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use podwire_k8s::manifest::{self, ManifestError};
use podwire_k8s::object::Object;
use podwire_k8s::services::{self, NodeContext, Translation};
use podwire_k8s::source::SourceEvent;
use podwire_k8s::{nodes, policy, validate, views};
use podwire_model::cluster::{
    Change, EndpointView, ManifestReport, NodeInfo, ObjectChange, ObjectKey, ObjectKind,
    ObjectStatus, ObjectView, PodView, ServiceView,
};
use podwire_model::config::FieldError;
use podwire_model::policy::PodPolicy;
use podwire_model::service::ServiceId;

use super::inputs::{self, Objects};
use super::{ClusterError, PodAddresses, file};
use crate::services::ServiceUpdate;

/// The cluster objects of this node, persisted in `<state_dir>/cluster.json`.
#[derive(Debug)]
pub struct Cluster {
    path: PathBuf,
    node: NodeContext,
    objects: Objects,
    /// Each Service's last translation: what the data plane was told, and what
    /// [`Cluster::services`] shows.
    translations: BTreeMap<ObjectKey, Translation>,
    /// The version of the objects: one more for each change that needs saving.
    version: u64,
    /// The store's file, shared with the copies of the store being written to it.
    file: Arc<CacheFile>,
}

/// The store's file, as its writers share it.
#[derive(Debug, Default)]
struct CacheFile {
    /// Held while the file is written, so that one writer at a time replaces it.
    writing: Mutex<()>,
    /// The version of the objects the file holds.
    saved: AtomicU64,
}

/// A copy of the store's objects to write to its file, taken under the store's lock
/// ([`Cluster::cache_snapshot`]) and written without it ([`CacheSnapshot::write`]).
#[derive(Debug)]
pub struct CacheSnapshot {
    path: PathBuf,
    /// The objects, in the store's order: shared with the store, so the copy costs a
    /// pointer each.
    objects: Vec<Arc<Object>>,
    /// Their version: a copy older than the one the file holds is not written.
    version: u64,
    file: Arc<CacheFile>,
}

impl CacheSnapshot {
    /// Replaces the store's file with the copy, unless a newer copy was written meanwhile
    /// (then nothing is written: the last copy taken wins). Writers take turns: one waits
    /// for the write in progress. Whether it wrote the file; on failure the store still
    /// counts its changes as unsaved, and the next copy tries again.
    pub fn write(self) -> Result<bool, ClusterError> {
        let _writing = self.file.writing.lock().unwrap_or_else(|e| e.into_inner());
        if self.file.saved.load(Ordering::Acquire) >= self.version {
            return Ok(false);
        }
        file::save(&self.path, self.objects.iter().map(|o| &**o))?;
        self.file.saved.store(self.version, Ordering::Release);
        Ok(true)
    }
}

/// An object change: its key and what it was before (`None`: it was not there).
type Undo = (ObjectKey, Option<Arc<Object>>);

impl Cluster {
    /// Opens the store in `state_dir` (made if missing) for the node `node`, with what an
    /// earlier agent saved there. Nothing is translated until [`Cluster::all_updates`].
    pub fn open(state_dir: &Path, node: NodeContext) -> Result<Cluster, ClusterError> {
        fs::create_dir_all(state_dir).map_err(|source| ClusterError::CreateDir {
            path: state_dir.to_owned(),
            source,
        })?;
        let path = state_dir.join(file::STATE_FILE);
        let objects = file::load(&path)?;
        Ok(Cluster {
            path,
            node,
            objects,
            translations: BTreeMap::new(),
            version: 0,
            file: Arc::default(),
        })
    }

    /// The object at `key`, when the store has it.
    pub fn object(&self, key: &ObjectKey) -> Option<&Object> {
        self.objects.get(key).map(|o| &**o)
    }

    /// The stored objects, by kind, namespace and name.
    pub fn objects(&self) -> impl Iterator<Item = &Object> {
        self.objects.values().map(|o| &**o)
    }

    /// Creates or replaces the objects of `manifest`, all or none: a manifest with a
    /// problem, or that conflicts with the store, changes nothing. The store is saved before
    /// this returns; the updates are for the Services the change touched.
    pub fn apply(
        &mut self,
        manifest: &str,
        pods: &dyn PodAddresses,
    ) -> Result<(ManifestReport, Vec<ServiceUpdate>), ClusterError> {
        let (report, objects) = self.plan_apply(manifest)?;
        let mut undo = Vec::new();
        for object in objects {
            let key = object.key();
            let old = self.objects.insert(key.clone(), Arc::new(object));
            undo.push((key, old));
        }
        let updates = self.commit(undo, pods)?;
        Ok((report, updates))
    }

    /// What applying `manifest` would do, without doing it: the report, and the objects
    /// that are new or changed (for a store elsewhere, such as etcd, to write), without
    /// their `managedFields`. Refused like [`Cluster::apply`].
    pub fn plan_apply(
        &self,
        manifest: &str,
    ) -> Result<(ManifestReport, Vec<Object>), ClusterError> {
        let incoming: Vec<Object> = manifest::parse(manifest)?
            .into_iter()
            .map(Object::without_managed_fields)
            .collect();
        refuse_repeats(&incoming)?;
        let replaced: HashSet<ObjectKey> = incoming.iter().map(Object::key).collect();
        let existing: Vec<&Object> = self
            .objects
            .iter()
            .filter(|(key, _)| !replaced.contains(key))
            .map(|(_, object)| &**object)
            .collect();
        let problems = validate::conflicts(&incoming, &existing);
        if !problems.is_empty() {
            return Err(ManifestError { problems }.into());
        }
        let mut report = ManifestReport::default();
        let mut changed = Vec::new();
        for object in incoming {
            let key = object.key();
            let change = match self.objects.get(&key) {
                None => Change::Created,
                Some(old) if **old == object => Change::Unchanged,
                Some(_) => Change::Configured,
            };
            if change != Change::Unchanged {
                changed.push(object);
            }
            report.objects.push(ObjectChange { key, change });
        }
        Ok((report, changed))
    }

    /// Removes the objects of `manifest` (only their kind, namespace and name count; one
    /// that is not there is reported `NotFound`). Saved before this returns, like
    /// [`Cluster::apply`].
    pub fn delete(
        &mut self,
        manifest: &str,
        pods: &dyn PodAddresses,
    ) -> Result<(ManifestReport, Vec<ServiceUpdate>), ClusterError> {
        let (report, keys) = self.plan_delete(manifest)?;
        let mut undo = Vec::new();
        for key in keys {
            if let Some(old) = self.objects.remove(&key) {
                undo.push((key, Some(old)));
            }
        }
        let updates = self.commit(undo, pods)?;
        Ok((report, updates))
    }

    /// What deleting `manifest`'s objects would do: the report, and the keys of those
    /// stored.
    pub fn plan_delete(
        &self,
        manifest: &str,
    ) -> Result<(ManifestReport, Vec<ObjectKey>), ClusterError> {
        let incoming = manifest::parse(manifest)?;
        let mut report = ManifestReport::default();
        let mut keys = Vec::new();
        for object in incoming {
            let key = object.key();
            let change = match self.objects.contains_key(&key) {
                true => {
                    keys.push(key.clone());
                    Change::Deleted
                }
                false => Change::NotFound,
            };
            report.objects.push(ObjectChange { key, change });
        }
        Ok((report, keys))
    }

    /// Takes the changes a source (etcd, the Kubernetes API) saw, in order: each object as
    /// the source has it but its `managedFields`, with no check beyond decoding (the source
    /// is the truth; an object podwire cannot implement shows its reason in its status). The
    /// store is not saved here: at a large cluster's rate of changes, writing it whole each
    /// time would cost more than everything else; [`Cluster::cache_snapshot`] copies it now
    /// and then to be written. The updates are for the Services the changes touched.
    pub fn sync(
        &mut self,
        events: Vec<SourceEvent>,
        pods: &dyn PodAddresses,
    ) -> (Vec<ObjectChange>, Vec<ServiceUpdate>) {
        let mut changes = Vec::new();
        let mut undo = Vec::new();
        let mut put = |objects: &mut Objects, key: ObjectKey, object: Option<Object>| {
            let object = object.map(Object::without_managed_fields);
            let change = match (objects.get(&key), &object) {
                (None, None) => return,
                (Some(old), Some(new)) if **old == *new => return,
                (None, Some(_)) => Change::Created,
                (Some(_), Some(_)) => Change::Configured,
                (Some(_), None) => Change::Deleted,
            };
            let old = match object {
                Some(object) => objects.insert(key.clone(), Arc::new(object)),
                None => objects.remove(&key),
            };
            undo.push((key.clone(), old));
            changes.push(ObjectChange { key, change });
        };
        for event in events {
            match event {
                SourceEvent::Listed { kind, objects } => {
                    let listed: HashSet<ObjectKey> = objects.iter().map(Object::key).collect();
                    let gone: Vec<ObjectKey> = inputs::of_kind(&self.objects, kind, None)
                        .map(|(key, _)| key.clone())
                        .filter(|key| !listed.contains(key))
                        .collect();
                    for key in gone {
                        put(&mut self.objects, key, None);
                    }
                    for object in objects {
                        put(&mut self.objects, object.key(), Some(object));
                    }
                }
                SourceEvent::Applied(object) => put(&mut self.objects, object.key(), Some(object)),
                SourceEvent::Deleted(key) => put(&mut self.objects, key, None),
            }
        }
        if !undo.is_empty() {
            self.version += 1;
        }
        let updates = self.update(self.touched(&undo), pods);
        (changes, updates)
    }

    /// A copy of the store to save, when a source changed it since the file was last
    /// written: a cache, so that after a restart the node implements the last known state
    /// at once, before the source answers. Taking it costs a pointer per object, under the
    /// store's lock; [`CacheSnapshot::write`] writes it with the lock released. A cache
    /// that cannot be written is an error to log, not a reason to stop following the
    /// source: its changes stay unsaved, and the next copy has them too.
    pub fn cache_snapshot(&self) -> Option<CacheSnapshot> {
        (self.file.saved.load(Ordering::Acquire) < self.version)
            .then(|| self.snapshot(self.version))
    }

    /// Takes a [`Cluster::cache_snapshot`] and writes it at once; whether it wrote anything.
    pub fn save_cache(&self) -> Result<bool, ClusterError> {
        self.cache_snapshot()
            .map_or(Ok(false), CacheSnapshot::write)
    }

    /// The cluster's Nodes as the data plane needs them; a Node whose values do not parse
    /// comes with its problems instead.
    pub fn nodes(&self) -> Vec<(String, Result<NodeInfo, String>)> {
        inputs::of_kind(&self.objects, ObjectKind::Node, None)
            .filter_map(|(key, object)| match object {
                Object::Node(node) => Some((
                    key.name.clone(),
                    nodes::node_info(node).map_err(|problems| {
                        problems
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join("; ")
                    }),
                )),
                _ => None,
            })
            .collect()
    }

    /// The updates of the Services that select Pod `namespace/name`, after its attachments
    /// on this node changed (a CNI ADD or DEL). None when the store has no such Pod.
    pub fn pod_changed(
        &mut self,
        namespace: &str,
        name: &str,
        pods: &dyn PodAddresses,
    ) -> Vec<ServiceUpdate> {
        let key = ObjectKey {
            kind: ObjectKind::Pod,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        };
        let keys = inputs::touched(&self.objects, &key, self.object(&key), None);
        self.update(keys, pods)
    }

    /// The updates of every Service: what the data plane implements at start.
    pub fn all_updates(&mut self, pods: &dyn PodAddresses) -> Vec<ServiceUpdate> {
        let keys: Vec<ObjectKey> = inputs::of_kind(&self.objects, ObjectKind::Service, None)
            .map(|(key, _)| key.clone())
            .collect();
        self.update(keys, pods)
    }

    /// The status of the object at `key` as far as the store knows it: a Service's from its
    /// last translation; any other object, once stored (or deleted), is applied.
    pub fn status(&self, key: &ObjectKey) -> ObjectStatus {
        match self.translations.get(key) {
            Some(translation) if key.kind == ObjectKind::Service => translation.status.clone(),
            _ => ObjectStatus::Applied,
        }
    }

    /// Every Service, with what its last translation made of it.
    pub fn services(&self) -> Vec<ServiceView> {
        inputs::of_kind(&self.objects, ObjectKind::Service, None)
            .filter_map(|(key, object)| {
                let Object::Service(service) = object else {
                    return None;
                };
                Some(match self.translations.get(key) {
                    Some(translation) => views::service(service, translation),
                    None => views::service(service, &not_translated()),
                })
            })
            .collect()
    }

    /// The endpoints of every stored EndpointSlice and of the slices derived for the
    /// Services with a selector, by namespace, Service and slice.
    pub fn endpoints(&self, pods: &dyn PodAddresses) -> Vec<EndpointView> {
        let derived: Vec<Object> = inputs::of_kind(&self.objects, ObjectKind::Service, None)
            .filter(|(_, service)| inputs::has_selector(service))
            .flat_map(|(key, _)| inputs::derived_slices(&self.objects, key, &self.node, pods))
            .collect();
        let stored =
            inputs::of_kind(&self.objects, ObjectKind::EndpointSlice, None).map(|(_, slice)| slice);
        let mut endpoints: Vec<EndpointView> = stored
            .chain(&derived)
            .flat_map(|object| match object {
                Object::EndpointSlice(slice) => views::endpoints(slice),
                _ => Vec::new(),
            })
            .collect();
        endpoints.sort_by(|a, b| {
            (&a.namespace, &a.service, &a.slice, a.address).cmp(&(
                &b.namespace,
                &b.service,
                &b.slice,
                b.address,
            ))
        });
        endpoints
    }

    /// Every Pod with its addresses: applied when it has one, pending until the CNI plugin
    /// attaches it otherwise.
    pub fn pods(&self, pods: &dyn PodAddresses) -> Vec<PodView> {
        inputs::of_kind(&self.objects, ObjectKind::Pod, None)
            .filter_map(|(key, object)| {
                let Object::Pod(pod) = object else {
                    return None;
                };
                let place = inputs::pod_place(key, object, &self.node, pods);
                let status = match place.ips.is_empty() {
                    true => ObjectStatus::Pending("not attached on this node yet".to_owned()),
                    false => ObjectStatus::Applied,
                };
                Some(views::pod(pod, &place.ips, status))
            })
            .collect()
    }

    /// The NetworkPolicies, ClusterNetworkPolicies or Namespaces (`kind`) with their status
    /// on this node; none for the kinds with a view of their own.
    pub fn object_views(&self, kind: ObjectKind, pods: &dyn PodAddresses) -> Vec<ObjectView> {
        let objects: Vec<&Object> = self.objects().collect();
        let infos = inputs::pod_infos(&self.objects, None, &self.node, pods);
        views::objects(kind, &objects, &infos, &self.node)
    }

    /// The NetworkPolicies of every Pod of this node that has an address, compiled against
    /// the stored Pods (with their addresses) and Namespaces: what the data plane enforces.
    /// The whole set is compiled again for each change; with about a hundred pods per node
    /// that is cheaper than working out which pods a change touches.
    pub fn pod_policies(&self, pods: &dyn PodAddresses) -> Vec<PodPolicy> {
        let policies: Vec<_> = inputs::of_kind(&self.objects, ObjectKind::NetworkPolicy, None)
            .filter_map(|(_, object)| match object {
                Object::NetworkPolicy(policy) => Some(policy),
                _ => None,
            })
            .collect();
        let namespaces: Vec<_> = inputs::of_kind(&self.objects, ObjectKind::Namespace, None)
            .filter_map(|(_, object)| match object {
                Object::Namespace(namespace) => Some(namespace),
                _ => None,
            })
            .collect();
        let cluster_policies: Vec<_> =
            inputs::of_kind(&self.objects, ObjectKind::ClusterNetworkPolicy, None)
                .filter_map(|(_, object)| match object {
                    Object::ClusterNetworkPolicy(policy) => Some(policy),
                    _ => None,
                })
                .collect();
        let infos = inputs::pod_infos(&self.objects, None, &self.node, pods);
        policy::compile(
            &policies,
            &cluster_policies,
            &infos,
            &namespaces,
            &self.node,
        )
    }

    /// The addresses of Pod `namespace/name` (from its attachments here, else its status);
    /// `None` when the store has no such Pod.
    pub fn pod_addresses(
        &self,
        namespace: &str,
        name: &str,
        pods: &dyn PodAddresses,
    ) -> Option<Vec<IpAddr>> {
        let key = ObjectKey {
            kind: ObjectKind::Pod,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        };
        let object = self.objects.get(&key)?;
        Some(inputs::pod_place(&key, object, &self.node, pods).ips)
    }

    /// Saves the store after the changes `undo` records, or undoes them when it cannot; then
    /// the updates of the Services they touched.
    fn commit(
        &mut self,
        undo: Vec<Undo>,
        pods: &dyn PodAddresses,
    ) -> Result<Vec<ServiceUpdate>, ClusterError> {
        if undo.is_empty() {
            return Ok(Vec::new());
        }
        // Through the writers' turns, like a cache save: one in progress (of an older copy)
        // finishes first, and does not replace this one afterwards.
        if let Err(error) = self.snapshot(self.version + 1).write() {
            for (key, old) in undo.into_iter().rev() {
                match old {
                    Some(old) => self.objects.insert(key, old),
                    None => self.objects.remove(&key),
                };
            }
            return Err(error);
        }
        self.version += 1;
        Ok(self.update(self.touched(&undo), pods))
    }

    /// A copy of the objects, as of `version`, to write to the store's file.
    fn snapshot(&self, version: u64) -> CacheSnapshot {
        CacheSnapshot {
            path: self.path.clone(),
            objects: self.objects.values().cloned().collect(),
            version,
            file: Arc::clone(&self.file),
        }
    }

    /// The Services the changes `undo` records touched.
    fn touched(&self, undo: &[Undo]) -> BTreeSet<ObjectKey> {
        undo.iter()
            .flat_map(|(key, old)| {
                inputs::touched(&self.objects, key, old.as_deref(), self.object(key))
            })
            .collect()
    }

    /// Translates the Services at `keys` again: an update for each one there, and one with
    /// no model for each one gone that was translated before.
    fn update(
        &mut self,
        keys: impl IntoIterator<Item = ObjectKey>,
        pods: &dyn PodAddresses,
    ) -> Vec<ServiceUpdate> {
        let mut updates = Vec::new();
        for key in keys {
            let id = ServiceId {
                namespace: key.namespace.clone(),
                name: key.name.clone(),
            };
            match self.translate(&key, pods) {
                Some(translation) => {
                    updates.push(ServiceUpdate {
                        id,
                        model: translation.model.clone(),
                    });
                    self.translations.insert(key, translation);
                }
                None => {
                    if self.translations.remove(&key).is_some() {
                        updates.push(ServiceUpdate { id, model: None });
                    }
                }
            }
        }
        updates
    }

    /// The Service at `key` with its stored and derived slices; `None` when it is not there.
    fn translate(&self, key: &ObjectKey, pods: &dyn PodAddresses) -> Option<Translation> {
        let Some(Object::Service(service)) = self.object(key) else {
            return None;
        };
        let derived = inputs::derived_slices(&self.objects, key, &self.node, pods);
        let slices: Vec<_> = inputs::stored_slices(&self.objects, key)
            .chain(&derived)
            .filter_map(|object| match object {
                Object::EndpointSlice(slice) => Some(slice),
                _ => None,
            })
            .collect();
        Some(services::translate(service, &slices, &self.node))
    }
}

/// What a Service shows before its first translation.
fn not_translated() -> Translation {
    Translation {
        model: None,
        status: ObjectStatus::Pending("the agent has not rendered it yet".to_owned()),
    }
}

/// Refuses a manifest that gives one object twice: which of the two would count is
/// anyone's guess.
fn refuse_repeats(objects: &[Object]) -> Result<(), ManifestError> {
    let mut counts: BTreeMap<ObjectKey, usize> = BTreeMap::new();
    for object in objects {
        *counts.entry(object.key()).or_default() += 1;
    }
    let problems: Vec<FieldError> = counts
        .into_iter()
        .filter(|&(_, n)| n > 1)
        .map(|(key, n)| FieldError {
            field: key.to_string(),
            problem: format!("the manifest gives it {n} times; give each object once"),
        })
        .collect();
    match problems.is_empty() {
        true => Ok(()),
        false => Err(ManifestError { problems }),
    }
}
