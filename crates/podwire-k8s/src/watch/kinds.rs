//! The kinds the watcher follows, and how one kind's watcher events become what the store
//! hears: a list (or relist) as one [`SourceEvent::Listed`], then each change.
//!
//! Objects are watched as [`DynamicObject`]s, so that one object that does not decode is
//! skipped (and logged) instead of failing its whole list, and are then read through their
//! k8s-openapi type and the store's strict decoding ([`Object::from_json`]), like every other
//! object the store takes in.

use std::mem;

use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{ApiResource, DynamicObject};
use kube::runtime::watcher;
use podwire_model::cluster::{ObjectKey, ObjectKind};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tracing::{debug, info, warn};

use crate::cnp::ClusterNetworkPolicy;
use crate::manifest::ManifestError;
use crate::object::Object;
use crate::source::SourceEvent;

/// Why an object from the API server was skipped.
#[derive(Debug, thiserror::Error)]
pub(super) enum SkipReason {
    /// Its JSON does not fit its k8s-openapi type (an API server podwire does not know).
    #[error("does not fit its type: {0}")]
    Type(#[from] serde_json::Error),
    /// The store's decoding refused it.
    #[error("the store refuses it: {0}")]
    Refused(#[from] ManifestError),
}

/// A kind podwire watches: where the API server serves it and how its objects are read.
pub(super) struct WatchedKind {
    /// The kind, as the store knows it.
    pub kind: ObjectKind,
    /// Its group, version and plural, for the API paths.
    pub resource: ApiResource,
    /// Reads an object through the kind's k8s-openapi type and writes it back: fields the
    /// type does not know (a newer API server's) are dropped here, as a typed client drops
    /// them, so that the strict decoding after it only refuses what is really wrong.
    retype: fn(Value) -> Result<Value, serde_json::Error>,
}

/// Every kind podwire keeps, as watched.
pub(super) fn watched_kinds() -> Vec<WatchedKind> {
    vec![
        watched::<Namespace>(ObjectKind::Namespace),
        watched::<Pod>(ObjectKind::Pod),
        watched::<Service>(ObjectKind::Service),
        watched::<EndpointSlice>(ObjectKind::EndpointSlice),
        watched::<NetworkPolicy>(ObjectKind::NetworkPolicy),
        watched::<ClusterNetworkPolicy>(ObjectKind::ClusterNetworkPolicy),
        watched::<Node>(ObjectKind::Node),
    ]
}

fn watched<K>(kind: ObjectKind) -> WatchedKind
where
    K: kube::Resource<DynamicType = ()> + DeserializeOwned + Serialize,
{
    WatchedKind {
        kind,
        resource: ApiResource::erase::<K>(&()),
        retype: through_type::<K>,
    }
}

fn through_type<K: DeserializeOwned + Serialize>(value: Value) -> Result<Value, serde_json::Error> {
    serde_json::to_value(serde_json::from_value::<K>(value)?)
}

impl WatchedKind {
    /// `object` as the store keeps it.
    pub fn object(&self, object: &DynamicObject) -> Result<Object, SkipReason> {
        let typed = (self.retype)(serde_json::to_value(object)?)?;
        Ok(Object::from_json(typed)?)
    }

    /// The key of `object`, from its name and namespace alone: a deletion must reach the
    /// store even when the rest of the object no longer decodes.
    fn key(&self, object: &DynamicObject) -> Result<ObjectKey, SkipReason> {
        let meta = &object.metadata;
        let named = json!({"metadata": {"name": meta.name, "namespace": meta.namespace}});
        Ok(Object::from_json((self.retype)(named)?)?.key())
    }
}

/// One kind's watcher events turned into [`SourceEvent`]s.
pub(super) struct KindEvents {
    watched: WatchedKind,
    /// The objects of the list being read (between `Init` and `InitDone`).
    listing: Vec<Object>,
    /// Whether the API server answered the last list with 404 (a CRD not installed), so that
    /// it is said once, not at every retry.
    absent: bool,
}

impl KindEvents {
    /// Before the first list.
    pub fn new(watched: WatchedKind) -> KindEvents {
        KindEvents {
            watched,
            listing: Vec::new(),
            absent: false,
        }
    }

    /// What the store hears of one watcher event, if anything: nothing while a list is
    /// being read, the whole list at its end.
    pub fn on(
        &mut self,
        event: Result<watcher::Event<DynamicObject>, watcher::Error>,
    ) -> Option<SourceEvent> {
        let kind = self.watched.kind;
        match event {
            Ok(watcher::Event::Init) => {
                self.listing.clear();
                None
            }
            Ok(watcher::Event::InitApply(object)) => {
                if let Some(object) = self.readable(&object) {
                    self.listing.push(object);
                }
                None
            }
            Ok(watcher::Event::InitDone) => {
                self.absent = false;
                Some(SourceEvent::Listed {
                    kind,
                    objects: mem::take(&mut self.listing),
                })
            }
            Ok(watcher::Event::Apply(object)) => self.readable(&object).map(SourceEvent::Applied),
            Ok(watcher::Event::Delete(object)) => match self.watched.key(&object) {
                Ok(key) => Some(SourceEvent::Deleted(key)),
                Err(reason) => {
                    warn!(%kind, name = ?object.metadata.name, "cannot delete {kind}: {reason}");
                    None
                }
            },
            Err(error) => self.failed(error),
        }
    }

    /// The object, or `None` (logged) when it cannot be kept.
    fn readable(&self, object: &DynamicObject) -> Option<Object> {
        self.watched
            .object(object)
            .inspect_err(|reason| {
                let kind = self.watched.kind;
                let meta = &object.metadata;
                warn!(
                    %kind,
                    namespace = meta.namespace.as_deref().unwrap_or(""),
                    name = meta.name.as_deref().unwrap_or(""),
                    "skipping a {kind} from the API server: {reason}"
                );
            })
            .ok()
    }

    /// A watcher error: logged (the watcher retries with backoff by itself). A kind the API
    /// server does not serve has no objects: the store hears an empty list, once.
    fn failed(&mut self, error: watcher::Error) -> Option<SourceEvent> {
        let kind = self.watched.kind;
        let plural = &self.watched.resource.plural;
        match &error {
            watcher::Error::InitialListFailed(kube::Error::Api(status))
                if status.is_not_found() =>
            {
                if mem::replace(&mut self.absent, true) {
                    return None;
                }
                info!(
                    %kind,
                    "the API server does not serve {} (is its CRD installed?): no {kind}s; \
                     watching the other kinds and retrying this one",
                    self.watched.resource.api_version
                );
                return Some(SourceEvent::Listed {
                    kind,
                    objects: Vec::new(),
                });
            }
            watcher::Error::WatchError(status) if status.code == 410 => {
                debug!(%kind, "the watch of {plural} expired: relisting");
            }
            watcher::Error::InitialListFailed(kube::Error::Api(status))
            | watcher::Error::WatchStartFailed(kube::Error::Api(status))
                if status.is_forbidden() =>
            {
                warn!(
                    %kind,
                    "not allowed to list and watch {plural}: {error}; give podwire's service \
                     account list and watch on {plural} (deploy/ has the ClusterRole)"
                );
            }
            _ => warn!(%kind, "watching {plural} failed, retrying: {error}"),
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    fn pods() -> KindEvents {
        let watched = watched_kinds()
            .into_iter()
            .find(|w| w.kind == ObjectKind::Pod)
            .expect("pods are watched");
        KindEvents::new(watched)
    }

    fn dynamic(value: Value) -> DynamicObject {
        serde_json::from_value(value).expect("a dynamic object")
    }

    fn pod(name: &str) -> DynamicObject {
        dynamic(json!({
            "metadata": {"name": name, "namespace": "shop", "resourceVersion": "7"},
            "spec": {"containers": [{"name": "app", "image": "nginx"}]},
        }))
    }

    fn names(event: &SourceEvent) -> Vec<String> {
        match event {
            SourceEvent::Listed { objects, .. } => objects.iter().map(|o| o.key().name).collect(),
            other => panic!("expected a list, got {other:?}"),
        }
    }

    fn not_found() -> watcher::Error {
        let status = Status::failure(
            "the server could not find the requested resource",
            "NotFound",
        )
        .with_code(404);
        watcher::Error::InitialListFailed(kube::Error::Api(status.boxed()))
    }

    #[test]
    fn a_list_is_one_event_at_its_end_without_the_objects_that_do_not_decode() {
        let mut events = pods();
        assert_eq!(events.on(Ok(watcher::Event::Init)), None);
        assert_eq!(events.on(Ok(watcher::Event::InitApply(pod("a")))), None);
        let broken = dynamic(json!({"metadata": {"name": "broken"}, "spec": {"containers": 3}}));
        assert_eq!(events.on(Ok(watcher::Event::InitApply(broken))), None);
        assert_eq!(events.on(Ok(watcher::Event::InitApply(pod("b")))), None);
        let listed = events.on(Ok(watcher::Event::InitDone)).expect("a list");
        assert_eq!(names(&listed), ["a", "b"]);
        // A relist starts from nothing.
        assert_eq!(events.on(Ok(watcher::Event::Init)), None);
        assert_eq!(events.on(Ok(watcher::Event::InitApply(pod("c")))), None);
        let relisted = events.on(Ok(watcher::Event::InitDone)).expect("a list");
        assert_eq!(names(&relisted), ["c"]);
    }

    #[test]
    fn changes_are_applied_and_deleted_by_key() {
        let mut events = pods();
        let Some(SourceEvent::Applied(Object::Pod(applied))) =
            events.on(Ok(watcher::Event::Apply(pod("a"))))
        else {
            panic!("an applied pod");
        };
        assert_eq!(applied.metadata.name.as_deref(), Some("a"));
        // A deleted object whose body does not decode still leaves the store.
        let broken = dynamic(json!({
            "metadata": {"name": "gone", "namespace": "shop"}, "spec": {"containers": 3}
        }));
        assert_eq!(
            events.on(Ok(watcher::Event::Delete(broken))),
            Some(SourceEvent::Deleted(ObjectKey {
                kind: ObjectKind::Pod,
                namespace: "shop".into(),
                name: "gone".into(),
            }))
        );
        let unnamespaced = dynamic(json!({"metadata": {"name": "x"}}));
        let Some(SourceEvent::Deleted(key)) = events.on(Ok(watcher::Event::Delete(unnamespaced)))
        else {
            panic!("a deletion");
        };
        assert_eq!(key.namespace, "default");
    }

    #[test]
    fn a_kind_not_served_is_an_empty_list_said_once_until_it_is_served() {
        let mut events = pods();
        assert_eq!(
            events.on(Err(not_found())),
            Some(SourceEvent::Listed {
                kind: ObjectKind::Pod,
                objects: Vec::new()
            })
        );
        assert_eq!(events.on(Err(not_found())), None);
        assert_eq!(events.on(Ok(watcher::Event::Init)), None);
        let listed = events.on(Ok(watcher::Event::InitDone)).expect("a list");
        assert_eq!(names(&listed), Vec::<String>::new());
        // Gone again (the CRD deleted): said again.
        assert!(events.on(Err(not_found())).is_some());
    }

    #[test]
    fn other_errors_say_nothing_to_the_store() {
        let mut events = pods();
        let expired = Status::failure("too old resource version", "Expired").with_code(410);
        assert_eq!(
            events.on(Err(watcher::Error::WatchError(expired.boxed()))),
            None
        );
        assert_eq!(events.on(Err(watcher::Error::NoResourceVersion)), None);
    }

    #[test]
    fn every_kept_kind_is_watched_and_read_as_itself() {
        let kinds = watched_kinds();
        let watched: Vec<(&str, &str)> = kinds
            .iter()
            .map(|w| (w.resource.api_version.as_str(), w.resource.kind.as_str()))
            .collect();
        assert_eq!(watched, crate::object::KEPT);
        for watched in &kinds {
            let object = dynamic(json!({"metadata": {"name": "x", "resourceVersion": "1"}}));
            let object = watched.object(&object).expect("a minimal object decodes");
            assert_eq!(object.kind(), watched.kind);
        }
    }
}
