//! Following the objects: a list, then a watch from the list's revision on, and a new list
//! whenever the watch is lost (a compaction it fell behind, a cancel, a lost connection).

use std::collections::BTreeMap;

use etcd_client::{Event, EventType, WatchOptions};
use podwire_k8s::object::Object;
use podwire_k8s::source::SourceEvent;
use podwire_model::cluster::ObjectKind;
use tokio::sync::mpsc;

use super::backoff::Backoff;
use super::keys::KINDS;
use super::{EtcdError, EtcdStore, request};

impl EtcdStore {
    /// Lists every object, sends one [`SourceEvent::Listed`] per kind (every kind, an empty
    /// one included) as one batch, then watches from the list's revision on and sends each
    /// watch response's changes as one batch (`Applied`, `Deleted`), in etcd's order. When
    /// the watch is lost (it fell behind a compaction, etcd cancelled it, the connection
    /// broke) it logs why, waits (100 ms, doubling up to 5 s while it keeps failing) and
    /// lists again. A value that is not a valid object is logged and counts as absent (a
    /// change to it is sent as `Deleted`): the watch never stops for it. Returns `Ok(())`
    /// when `events` is closed.
    pub async fn watch(&self, events: mpsc::Sender<Vec<SourceEvent>>) -> Result<(), EtcdError> {
        let mut backoff = Backoff::default();
        loop {
            let lost = tokio::select! {
                _ = events.closed() => return Ok(()),
                followed = self.follow(&events, &mut backoff) => match followed {
                    Ok(()) => return Ok(()),
                    Err(lost) => lost,
                },
            };
            let delay = backoff.next_delay();
            tracing::warn!("{lost}; listing the objects again in {delay:?}");
            tokio::select! {
                _ = events.closed() => return Ok(()),
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// One list and the watch after it: `Ok` when `events` is closed, else why the watch
    /// was lost.
    async fn follow(
        &self,
        events: &mpsc::Sender<Vec<SourceEvent>>,
        backoff: &mut Backoff,
    ) -> Result<(), EtcdError> {
        const WHAT: &str = "watch the objects";
        let (revision, objects) = self.list_at().await?;
        if events.send(listed(objects)).await.is_err() {
            return Ok(());
        }
        backoff.reset();
        let options = WatchOptions::new()
            .with_prefix()
            .with_start_revision(revision + 1);
        let mut watch_client = self.watcher();
        let mut stream =
            request(WHAT, watch_client.watch(self.keys.objects(), Some(options))).await?;
        loop {
            let answer = stream
                .message()
                .await
                .map_err(|source| EtcdError::Request { what: WHAT, source })?;
            let Some(answer) = answer else {
                return Err(EtcdError::StreamEnded { what: WHAT });
            };
            if answer.compact_revision() != 0 {
                return Err(EtcdError::Compacted {
                    revision: answer.compact_revision(),
                });
            }
            if answer.canceled() {
                return Err(EtcdError::WatchCancelled {
                    reason: answer.cancel_reason().to_owned(),
                });
            }
            let batch: Vec<SourceEvent> = answer
                .events()
                .iter()
                .filter_map(|event| self.source_event(event))
                .collect();
            if !batch.is_empty() && events.send(batch).await.is_err() {
                return Ok(());
            }
        }
    }

    /// What a watch event means to the store; `None` for a key podwire does not write.
    fn source_event(&self, event: &Event) -> Option<SourceEvent> {
        let kv = event.kv()?;
        let Some(key) = self.keys.parse_object(kv.key()) else {
            tracing::warn!(
                key = %String::from_utf8_lossy(kv.key()),
                "ignoring a key among the objects that names no object"
            );
            return None;
        };
        match event.event_type() {
            EventType::Delete => Some(SourceEvent::Deleted(key)),
            EventType::Put => match self.decode(kv) {
                Ok(object) => Some(SourceEvent::Applied(object)),
                Err(e) => {
                    // As a list leaves it out, so does the watch: the key holds no object.
                    tracing::warn!("{e}; treating it as deleted");
                    Some(SourceEvent::Deleted(key))
                }
            },
        }
    }
}

/// One `Listed` per kind, every kind, from the objects of a list.
fn listed(objects: Vec<Object>) -> Vec<SourceEvent> {
    let mut by_kind: BTreeMap<ObjectKind, Vec<Object>> =
        KINDS.iter().map(|&kind| (kind, Vec::new())).collect();
    for object in objects {
        by_kind.entry(object.kind()).or_default().push(object);
    }
    by_kind
        .into_iter()
        .map(|(kind, objects)| SourceEvent::Listed { kind, objects })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_list_reports_every_kind_with_its_objects() {
        let object = |kind: &str, name: &str| {
            Object::from_json(json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": name}}))
                .unwrap()
        };
        let batch = listed(vec![
            object("Pod", "a"),
            object("Service", "s"),
            object("Pod", "b"),
        ]);
        assert_eq!(batch.len(), KINDS.len());
        for event in &batch {
            let SourceEvent::Listed { kind, objects } = event else {
                panic!("a list sends only Listed events");
            };
            let names: Vec<_> = objects.iter().map(|o| o.key().name).collect();
            let expected: &[&str] = match kind {
                ObjectKind::Pod => &["a", "b"],
                ObjectKind::Service => &["s"],
                _ => &[],
            };
            assert_eq!(names, expected, "{kind}");
        }
    }
}
