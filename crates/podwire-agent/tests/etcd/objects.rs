//! Objects to store, and a copy of the store kept from what a watch sends.

use std::collections::BTreeMap;
use std::time::Duration;

use podwire_k8s::object::Object;
use podwire_k8s::source::SourceEvent;
use podwire_model::cluster::ObjectKey;
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// How long a test waits for a batch before it fails (a guard against hanging, not a
/// measurement).
const BATCH_WITHIN: Duration = Duration::from_secs(60);

/// An object from JSON the test wrote.
pub fn object(value: Value) -> Object {
    Object::from_json(value).expect("the test's object decodes")
}

/// Pod `namespace/name` with label `app=<app>`.
pub fn pod(namespace: &str, name: &str, app: &str) -> Object {
    object(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": app}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]}
    }))
}

/// Service `default/name`.
pub fn service(name: &str) -> Object {
    object(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80}]}
    }))
}

/// Namespace `name`.
pub fn namespace(name: &str) -> Object {
    object(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}))
}

/// The objects by key.
pub fn by_key(objects: impl IntoIterator<Item = Object>) -> BTreeMap<ObjectKey, Object> {
    objects.into_iter().map(|o| (o.key(), o)).collect()
}

/// The receiving end of a watch, and the store as its batches built it.
pub struct Follower {
    events: mpsc::Receiver<Vec<SourceEvent>>,
    /// The objects as the batches so far say.
    pub model: BTreeMap<ObjectKey, Object>,
    /// How many batches were a (re)list.
    pub lists: usize,
}

impl Follower {
    /// Follows `events`.
    pub fn new(events: mpsc::Receiver<Vec<SourceEvent>>) -> Follower {
        Follower {
            events,
            model: BTreeMap::new(),
            lists: 0,
        }
    }

    /// The next batch, applied to the model before it is returned.
    pub async fn next(&mut self) -> Vec<SourceEvent> {
        let batch = tokio::time::timeout(BATCH_WITHIN, self.events.recv())
            .await
            .unwrap_or_else(|_| panic!("the watch sent nothing for {BATCH_WITHIN:?}"))
            .expect("the watch is still running");
        let listed: Vec<_> = batch
            .iter()
            .filter(|e| matches!(e, SourceEvent::Listed { .. }))
            .collect();
        assert!(
            listed.is_empty() || listed.len() == batch.len(),
            "a list comes in a batch of its own: {batch:?}"
        );
        if !listed.is_empty() {
            self.lists += 1;
        }
        for event in &batch {
            match event {
                SourceEvent::Listed { kind, objects } => {
                    self.model.retain(|key, _| key.kind != *kind);
                    self.model.extend(by_key(objects.iter().cloned()));
                }
                SourceEvent::Applied(object) => {
                    self.model.insert(object.key(), object.clone());
                }
                SourceEvent::Deleted(key) => {
                    self.model.remove(key);
                }
            }
        }
        batch
    }

    /// Takes batches until the model is `expected` and `lists` lists were seen.
    pub async fn until(&mut self, expected: &BTreeMap<ObjectKey, Object>, lists: usize) {
        while &self.model != expected || self.lists < lists {
            self.next().await;
        }
    }
}
