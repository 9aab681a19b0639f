//! The pods of one measurement on one side: a fresh network namespace each,
//! made before anything is timed. On drop, DEL runs for every pod an ADD
//! was started for and not undone, and the namespaces are deleted, also
//! after a failure half way.

use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use podwire_io::netns::NetNs;

use super::plugin::{Call, Operation, Plugin, Pod};

/// Pods to be wired by one plugin.
pub struct Pods<'a> {
    plugin: &'a Plugin,
    pods: Vec<Pod>,
    /// Per pod: an ADD was started and no DEL has succeeded since. Set
    /// before the ADD: a failed ADD is followed by DEL, as the CNI spec
    /// asks of runtimes, so nothing it made half way stays.
    added: Vec<AtomicBool>,
}

impl<'a> Pods<'a> {
    /// Makes `count` namespaces named `pwcni-RUN-WHAT-I` for pods that
    /// `plugin` will wire.
    pub fn create(plugin: &'a Plugin, run: u32, what: &str, count: usize) -> anyhow::Result<Self> {
        let mut pods = Pods {
            plugin,
            pods: Vec::with_capacity(count),
            added: Vec::with_capacity(count),
        };
        for i in 0..count {
            let netns = format!("pwcni-{run}-{what}-{i}");
            // The name keeps the namespace; the handle is not needed.
            NetNs::create_named(&netns)
                .with_context(|| format!("cannot create network namespace {netns}"))?;
            pods.pods.push(Pod::new(run, netns));
            pods.added.push(AtomicBool::new(false));
        }
        Ok(pods)
    }

    /// How many pods there are.
    pub fn len(&self) -> usize {
        self.pods.len()
    }

    /// Runs ADD for pod `i`.
    pub fn add(&self, i: usize) -> anyhow::Result<Call> {
        self.added[i].store(true, Ordering::Relaxed);
        self.plugin.call(Operation::Add, &self.pods[i])
    }

    /// Runs DEL for pod `i`.
    pub fn del(&self, i: usize) -> anyhow::Result<Call> {
        let call = self.plugin.call(Operation::Del, &self.pods[i])?;
        self.added[i].store(false, Ordering::Relaxed);
        Ok(call)
    }
}

impl Drop for Pods<'_> {
    fn drop(&mut self) {
        for i in 0..self.pods.len() {
            if self.added[i].load(Ordering::Relaxed)
                && let Err(e) = self.del(i)
            {
                println!("  warning: {e:#}");
            }
        }
        for pod in &self.pods {
            if let Err(e) = NetNs::delete_named(&pod.netns) {
                println!("  warning: {e}");
            }
        }
    }
}
