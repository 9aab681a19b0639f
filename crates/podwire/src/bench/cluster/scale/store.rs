//! The cluster store at scale: the initial list, the memory it holds, the saves of its
//! cache (the copy under the store's lock, and the write without it), single changes and
//! what the node recomputes after them, and a restart from the saved file.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use podwire_agent::cluster::{Cluster, PodAddresses, file};
use podwire_agent::services::ServiceUpdate;
use podwire_k8s::object::Object;
use podwire_k8s::services::NodeContext;
use podwire_k8s::source::SourceEvent;
use podwire_model::cluster::ObjectKind;
use serde_json::Value;

use super::objects::{self, PODS_PER_SERVICE, Shape};
use super::{MIB, Plan};
use crate::bench::rng::Rng;
use crate::bench::samples::Samples;

/// The node measured: node 0 of [`objects`].
fn this_node() -> NodeContext {
    NodeContext {
        node_name: objects::node_name(0),
    }
}

/// What the cluster store cost.
#[derive(Clone, Debug)]
pub struct StoreCosts {
    /// The initial list, every kind in one batch, into an empty store.
    pub initial_sync: Duration,
    /// Resident memory the process grew by while the objects were made, as the store then
    /// holds them (the sync moves them in).
    pub held: u64,
    /// The most resident memory the initial sync took beyond what the process had before
    /// the objects were made: the objects and the Services' translations at once.
    pub sync_peak: u64,
    /// The most resident memory the saves took beyond what the process had before the
    /// objects were made: the store and one save's serialization.
    pub save_peak: u64,
    /// Bytes of JSON of each kind, as the API server sends it, in the order of [`KINDS`].
    pub json_bytes: Vec<(ObjectKind, usize, u64)>,
    /// The saved file.
    pub file_bytes: u64,
    /// Each copy of the store to save, taken under its lock.
    pub snapshots: Samples,
    /// Each write of such a copy to the file, with the store's lock released.
    pub writes: Samples,
    /// Each single change, all kinds.
    pub changes: Samples,
    /// Each single change, by kind of change.
    pub by_change: Vec<(&'static str, Samples)>,
    /// Each recompile of the policies of this node's pods after a change.
    pub policies: Samples,
    /// Each reading of the Nodes after a change (what the routes are rendered from).
    pub nodes: Samples,
    /// Opening the store from its file, as after a restart.
    pub restart_load: Duration,
    /// Translating every Service of the opened store.
    pub restart_translate: Duration,
}

/// The kinds of the initial list, in the order the store takes them.
const KINDS: [ObjectKind; 6] = [
    ObjectKind::Namespace,
    ObjectKind::Node,
    ObjectKind::Pod,
    ObjectKind::Service,
    ObjectKind::EndpointSlice,
    ObjectKind::NetworkPolicy,
];

/// No pod is attached here: every address comes from the Pods' `status.podIPs`, as for the
/// pods of other nodes.
struct Unattached;

impl PodAddresses for Unattached {
    fn addresses(&self, _namespace: &str, _name: &str) -> Vec<IpAddr> {
        Vec::new()
    }
}

/// The objects of `kind` in the cluster, each from its JSON (whose bytes are counted), as
/// the store keeps them: without `managedFields`, which the store drops as they come in
/// (dropped here too, so that the memory measured is what the store holds).
fn listed(shape: &Shape, kind: ObjectKind) -> anyhow::Result<(Vec<Object>, u64)> {
    let values: Box<dyn Iterator<Item = Value>> = match kind {
        ObjectKind::Namespace => Box::new((0..shape.namespaces).map(objects::namespace)),
        ObjectKind::Node => Box::new((0..shape.nodes).map(|n| objects::node(n, 0))),
        ObjectKind::Pod => Box::new((0..shape.pods()).map(|i| objects::pod(shape, i, 0))),
        ObjectKind::Service => {
            Box::new((0..shape.services()).map(|s| objects::service(shape, s, 0)))
        }
        ObjectKind::EndpointSlice => {
            Box::new((0..shape.services()).map(|s| objects::endpoint_slice(shape, s, 0)))
        }
        ObjectKind::NetworkPolicy => {
            Box::new((0..shape.policies()).map(|p| objects::network_policy(shape, p)))
        }
        ObjectKind::ClusterNetworkPolicy => Box::new(std::iter::empty()),
    };
    let mut bytes = 0;
    let mut list = Vec::new();
    for value in values {
        bytes += serde_json::to_vec(&value)?.len() as u64;
        list.push(objects::object(value)?.without_managed_fields());
    }
    Ok((list, bytes))
}

pub fn measure(plan: &Plan) -> anyhow::Result<StoreCosts> {
    let shape = &plan.shape;
    let dir = tempfile::tempdir().context("a temporary directory for the cluster store")?;
    let before = memory()?.resident;
    let mut events = Vec::new();
    let mut json_bytes = Vec::new();
    for kind in KINDS {
        let (list, bytes) = listed(shape, kind)?;
        json_bytes.push((kind, list.len(), bytes));
        events.push(SourceEvent::Listed {
            kind,
            objects: list,
        });
    }
    let objects_total: usize = json_bytes.iter().map(|&(_, n, _)| n).sum();
    let held = memory()?.resident.saturating_sub(before);
    reset_peak()?;

    let mut cluster = Cluster::open(dir.path(), this_node())?;
    let start = Instant::now();
    let (changes, updates) = cluster.sync(events, &Unattached);
    let initial_sync = start.elapsed();
    let sync_peak = memory()?.peak.saturating_sub(before);
    ensure!(
        changes.len() == objects_total,
        "the initial sync made {} changes of {objects_total} objects",
        changes.len()
    );
    check_services(&updates, shape.services())?;
    // The daemon saves the cache a few seconds later, not within the sync.
    cluster.save_cache()?;
    let file_bytes = std::fs::metadata(dir.path().join(file::STATE_FILE))
        .context("the store saved no file")?
        .len();
    println!(
        "initial sync: {objects_total} objects ({:.0} MiB resident) in {:.0} ms, at most {:.0} \
         MiB resident meanwhile; {} saved",
        held as f64 / MIB,
        initial_sync.as_secs_f64() * 1e3,
        sync_peak as f64 / MIB,
        file::STATE_FILE
    );

    reset_peak()?;
    let saves = time_saves(&mut cluster, plan)?;
    let save_peak = memory()?.peak.saturating_sub(before);
    let timed = time_changes(&mut cluster, plan)?;
    // As the daemon does when it stops.
    cluster.save_cache()?;

    // What the node implements before the restart, which it must implement again after.
    let before_restart = cluster.all_updates(&Unattached);
    drop(cluster);
    let start = Instant::now();
    let mut reopened = Cluster::open(dir.path(), this_node())?;
    let restart_load = start.elapsed();
    let start = Instant::now();
    let updates = reopened.all_updates(&Unattached);
    let restart_translate = start.elapsed();
    ensure!(
        updates == before_restart,
        "after the restart the Services are not what they were before"
    );
    Ok(StoreCosts {
        initial_sync,
        held,
        sync_peak,
        save_peak,
        json_bytes,
        file_bytes,
        snapshots: saves.snapshots,
        writes: saves.writes,
        changes: timed.all,
        by_change: timed.by_change,
        policies: timed.policies,
        nodes: timed.nodes,
        restart_load,
        restart_translate,
    })
}

/// Checks that every Service was translated with its pods as endpoints, once each (the
/// API server's slices and those podwire derives list the same pods).
fn check_services(updates: &[ServiceUpdate], services: usize) -> anyhow::Result<()> {
    ensure!(
        updates.len() == services,
        "{} Services were translated, not {services}",
        updates.len()
    );
    for update in updates {
        let model = update
            .model
            .as_ref()
            .with_context(|| format!("Service {:?} has no model", update.id))?;
        ensure!(
            matches!(&model.frontends[..], [f] if f.cluster_endpoints.len() == PODS_PER_SERVICE),
            "Service {:?} has frontends {:?}, not one with {PODS_PER_SERVICE} endpoints",
            update.id,
            model.frontends
        );
    }
    Ok(())
}

/// The saves' times, in their two parts.
struct Saves {
    snapshots: Samples,
    writes: Samples,
}

/// Saves the store `plan.saves` times after a change of a Pod, as the daemon does every
/// 10 s while a source changes it: the copy (what holds the store's lock) and its write
/// (with the lock released) timed apart.
fn time_saves(cluster: &mut Cluster, plan: &Plan) -> anyhow::Result<Saves> {
    let shape = &plan.shape;
    let (mut snapshots, mut writes) = (Vec::new(), Vec::new());
    for i in 0..plan.saves.max(1) {
        // A generation the single changes do not give, so that the Pod always changes.
        let generation = (plan.changes + 1 + i) as u64;
        let pod = objects::object(objects::pod(shape, i, generation))?;
        let (changes, _) = cluster.sync(vec![SourceEvent::Applied(pod)], &Unattached);
        ensure!(
            changes.len() == 1,
            "the Pod changed {} times",
            changes.len()
        );
        let start = Instant::now();
        let snapshot = cluster
            .cache_snapshot()
            .context("the store has a change to save, but gave no copy")?;
        snapshots.push(start.elapsed());
        let start = Instant::now();
        let wrote = snapshot.write()?;
        writes.push(start.elapsed());
        ensure!(wrote, "the copy was not written");
    }
    Ok(Saves {
        snapshots: Samples::new(snapshots),
        writes: Samples::new(writes),
    })
}

/// The single changes' times.
struct Timed {
    all: Samples,
    by_change: Vec<(&'static str, Samples)>,
    policies: Samples,
    nodes: Samples,
}

/// The kinds of single change, in turn.
pub const CHANGES: [&str; 3] = [
    "a Pod's readiness",
    "a Service's port",
    "an EndpointSlice's endpoint",
];

/// Feeds `plan.changes` single changes to the store, one `sync` each as a watch brings them,
/// timing each; after each, times what the node recomputes: the policies of its pods (after
/// a Pod change) and the Nodes its routes come from.
fn time_changes(cluster: &mut Cluster, plan: &Plan) -> anyhow::Result<Timed> {
    let shape = &plan.shape;
    let mut rng = Rng::new(7);
    let mut all = Vec::new();
    let mut by_change = vec![Vec::new(); CHANGES.len()];
    let (mut policies, mut nodes) = (Vec::new(), Vec::new());
    for i in 0..plan.changes.max(CHANGES.len()) {
        let which = i % CHANGES.len();
        // Each change a new generation: the object always differs from the stored one.
        let generation = i as u64 + 1;
        let value = match which {
            0 => objects::pod(shape, rng.below(shape.pods()), generation),
            1 => objects::service(shape, rng.below(shape.services()), generation),
            _ => objects::endpoint_slice(shape, rng.below(shape.services()), generation),
        };
        let event = SourceEvent::Applied(objects::object(value)?);
        let start = Instant::now();
        let (changes, updates) = cluster.sync(vec![event], &Unattached);
        let took = start.elapsed();
        ensure!(
            changes.len() == 1 && updates.len() == 1,
            "{} made {} changes and {} Service updates, not one of each",
            CHANGES[which],
            changes.len(),
            updates.len()
        );
        all.push(took);
        by_change[which].push(took);

        // The node compiles its pods' policies again only after a change of their inputs:
        // here, the Pod.
        if which == 0 {
            let start = Instant::now();
            let compiled = cluster.pod_policies(&Unattached);
            policies.push(start.elapsed());
            ensure!(
                compiled.len() == shape.pods_per_node(),
                "{} of the node's {} pods had their policies compiled",
                compiled.len(),
                shape.pods_per_node()
            );
        }
        let start = Instant::now();
        let read = cluster.nodes();
        nodes.push(start.elapsed());
        ensure!(
            read.len() == shape.nodes && read.iter().all(|(_, info)| info.is_ok()),
            "the store gave {} Nodes, not the {} it holds, or some do not parse",
            read.len(),
            shape.nodes
        );
    }
    Ok(Timed {
        all: Samples::new(all),
        by_change: CHANGES
            .iter()
            .copied()
            .zip(by_change.into_iter().map(Samples::new))
            .collect(),
        policies: Samples::new(policies),
        nodes: Samples::new(nodes),
    })
}

/// This process's resident memory, in bytes.
struct Memory {
    /// Now.
    resident: u64,
    /// At its most since the last [`reset_peak`].
    peak: u64,
}

/// This process's resident memory, from `/proc/self/status`.
fn memory() -> anyhow::Result<Memory> {
    let status = std::fs::read_to_string("/proc/self/status")
        .context("cannot read /proc/self/status for the memory figures")?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .map(|kib| kib * 1024)
            .with_context(|| format!("/proc/self/status has no {name} line"))
    };
    Ok(Memory {
        resident: field("VmRSS:")?,
        peak: field("VmHWM:")?,
    })
}

/// Starts the peak of [`memory`] again from the memory resident now.
fn reset_peak() -> anyhow::Result<()> {
    // 5 resets the peak resident set size (proc(5), /proc/pid/clear_refs).
    std::fs::write("/proc/self/clear_refs", "5")
        .context("cannot reset the peak memory through /proc/self/clear_refs")
}
