//! Publication of tables to workers by atomic pointer swap.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::tables::Tables;

/// The control plane's side: stores a new version for every worker to see.
#[derive(Clone)]
pub struct TablePublisher {
    current: Arc<ArcSwap<Tables>>,
}

impl TablePublisher {
    /// Starts with `tables`.
    pub fn new(tables: Tables) -> Self {
        TablePublisher {
            current: Arc::new(ArcSwap::from_pointee(tables)),
        }
    }

    /// Makes `tables` the version workers use from their next vector on.
    pub fn publish(&self, tables: Tables) {
        self.current.store(Arc::new(tables));
    }

    /// The version in force.
    pub fn current(&self) -> Arc<Tables> {
        self.current.load_full()
    }

    /// A reader for a worker.
    pub fn reader(&self) -> TableReader {
        TableReader {
            shared: self.current.clone(),
            cached: self.current.load_full(),
        }
    }
}

/// A worker's side: the version it uses, refreshed between vectors.
pub struct TableReader {
    shared: Arc<ArcSwap<Tables>>,
    cached: Arc<Tables>,
}

impl TableReader {
    /// The newest version; cheap when nothing changed (one atomic load
    /// and a pointer compare).
    #[inline]
    pub fn refresh(&mut self) -> &Tables {
        let latest = self.shared.load();
        if !Arc::ptr_eq(&latest, &self.cached) {
            self.cached = arc_swap::Guard::into_inner(latest);
        }
        &self.cached
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_sees_the_new_version_after_publish() {
        let p = TablePublisher::new(Tables::default());
        let mut r = p.reader();
        assert_eq!(r.refresh().generation, 0);
        p.publish(Tables {
            generation: 7,
            ..Tables::default()
        });
        assert_eq!(r.refresh().generation, 7);
    }
}
