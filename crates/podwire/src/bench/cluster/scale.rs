//! Scale on paper: what one node's agent pays for a cluster at Kubernetes' limits (5,000
//! nodes, 150,000 pods, 10,000 Services, 1,000 NetworkPolicies), measured in memory: no
//! root, no network namespaces, no API server.
//!
//! - [`store`]: the agent's cluster store (`podwire_agent::cluster::Cluster`): the initial
//!   list a node gets when it starts (every kind at once, as `SourceEvent::Listed`), the
//!   memory it holds, the file it saves every 10 s when a source changed it (its cache for
//!   restarts: a copy taken under the store's lock, written without it), a stream of
//!   single changes as a watch brings them (a Pod's readiness, a Service's port,
//!   an EndpointSlice), and what the node recomputes after each (the policies of its pods,
//!   the Nodes for its routes), then a restart from the saved file.
//! - [`routes`]: the routes to the other nodes: one VXLAN interface whose peers are the
//!   other nodes' tunnel addresses, and a route per remote pod CIDR through it, built into
//!   the data plane's tables.
//!
//! The objects are those of [`objects`]: Services with selectors and the API server's
//! EndpointSlices, as the Kubernetes source gives them (podwire also derives slices from
//! the Pods of every Service with a selector; the duplicates merge).

mod objects;
mod routes;
mod store;

use std::time::Duration;

use anyhow::Context;
use podwire_model::cluster::ObjectKind;

use crate::bench::report::{Better, Figure};
use objects::{PODS_PER_SERVICE, Shape};
use routes::RouteCosts;
use store::StoreCosts;

/// How big a cluster to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScaleSize {
    /// Kubernetes' limits: 5,000 nodes, 150,000 pods, 10,000 Services, 1,000
    /// NetworkPolicies. Needs a few GB of memory and minutes.
    Full,
    /// A hundredth of it: 50 nodes, 1,500 pods, 100 Services, 10 NetworkPolicies.
    Quick,
}

/// What to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Plan {
    shape: Shape,
    /// Single changes timed, taking turns between the three kinds.
    changes: usize,
    /// Saves of the whole store timed (each after a change, copy and write apart).
    saves: usize,
    /// Builds of the routes timed.
    builds: usize,
}

impl ScaleSize {
    fn plan(self) -> Plan {
        match self {
            // clusterloader2's load test: a namespace per 100 nodes, 30 pods per node.
            ScaleSize::Full => Plan {
                shape: Shape {
                    nodes: 5000,
                    namespaces: 50,
                    services_per_namespace: 200,
                    policies_per_namespace: 20,
                },
                changes: 60,
                saves: 3,
                builds: 5,
            },
            ScaleSize::Quick => Plan {
                shape: Shape {
                    nodes: 50,
                    namespaces: 1,
                    services_per_namespace: 100,
                    policies_per_namespace: 10,
                },
                changes: 30,
                saves: 3,
                builds: 5,
            },
        }
    }
}

/// The scale figures of a cluster of `size`.
pub fn measure(size: ScaleSize) -> anyhow::Result<Vec<Figure>> {
    let plan = size.plan();
    plan.shape.check()?;
    let shape = &plan.shape;
    println!(
        "\nscale, in memory on this machine: one node's agent in a cluster of {} nodes, {} pods \
         ({} per node), {} Services of {PODS_PER_SERVICE} pods with their EndpointSlices, {} \
         NetworkPolicies, {} namespaces",
        shape.nodes,
        shape.pods(),
        shape.pods_per_node(),
        shape.services(),
        shape.policies(),
        shape.namespaces
    );
    let store = store::measure(&plan).context("measuring the cluster store")?;
    let routes = routes::measure(shape.nodes, plan.builds).context("measuring the routes")?;
    let figures = figures(shape, &store, &routes);
    explain(&plan, &store, &routes);
    Ok(figures)
}

/// Bytes in a MiB.
const MIB: f64 = 1024.0 * 1024.0;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn figures(shape: &Shape, store: &StoreCosts, routes: &RouteCosts) -> Vec<Figure> {
    let none = "none run here";
    let lower = |name: &str, unit: &str, value: f64| {
        Figure::new(name, unit, value, none, None, Better::Lower)
    };
    let pod_json = store
        .json_bytes
        .iter()
        .find(|&&(kind, _, _)| kind == ObjectKind::Pod)
        .map_or(0.0, |&(_, n, bytes)| bytes as f64 / n.max(1) as f64);
    vec![
        lower("scale_initial_sync_ms", "ms", ms(store.initial_sync)),
        lower("scale_store_rss_mib", "MiB", store.held as f64 / MIB),
        lower(
            "scale_store_bytes_per_pod",
            "bytes",
            store.held as f64 / shape.pods() as f64,
        ),
        lower(
            "scale_sync_peak_rss_mib",
            "MiB",
            store.sync_peak as f64 / MIB,
        ),
        lower("scale_pod_json_bytes", "bytes", pod_json),
        lower("scale_store_file_mib", "MiB", store.file_bytes as f64 / MIB),
        lower("scale_save_lock_ms", "ms", store.snapshots.ms(50.0)),
        lower("scale_save_write_ms", "ms", store.writes.ms(50.0)),
        lower(
            "scale_save_peak_rss_mib",
            "MiB",
            store.save_peak as f64 / MIB,
        ),
        lower("scale_change_p50_us", "us", store.changes.us(50.0)),
        lower("scale_change_p99_us", "us", store.changes.us(99.0)),
        lower("scale_policy_recompile_ms", "ms", store.policies.ms(50.0)),
        lower("scale_nodes_read_ms", "ms", store.nodes.ms(50.0)),
        lower("scale_restart_load_ms", "ms", ms(store.restart_load)),
        lower(
            "scale_restart_translate_ms",
            "ms",
            ms(store.restart_translate),
        ),
        lower(
            &format!("scale_routes_{}_build_ms", shape.nodes),
            "ms",
            routes.builds.ms(50.0),
        ),
        lower("scale_fib_kib", "KiB", routes.bytes as f64 / 1024.0),
        lower("scale_tunnel_count", "peers", routes.peers as f64),
        lower(
            "scale_decap_peer_check_ns",
            "ns",
            routes.peer_check.as_secs_f64() * 1e9,
        ),
    ]
}

/// Says what each figure is, with the details the figures leave out.
fn explain(plan: &Plan, store: &StoreCosts, routes: &RouteCosts) {
    let shape = &plan.shape;
    println!("\nJSON as the API server sends it:");
    for &(kind, n, bytes) in &store.json_bytes {
        println!(
            "  {kind:?}: {n} objects, {:.1} MiB, {:.0} bytes each",
            bytes as f64 / MIB,
            bytes as f64 / n.max(1) as f64
        );
    }
    println!("single changes (sync of one event):");
    for (name, samples) in &store.by_change {
        println!(
            "  {name}: p50 {:.1} ms, max {:.1} ms ({} times)",
            samples.ms(50.0),
            ms(samples.max()),
            samples.len()
        );
    }
    println!(
        "routes: {} routes through {} VXLAN interface with {} peers",
        routes.routes, routes.tunnel_interfaces, routes.peers
    );
    println!(
        "\nwhat the figures are:\n\
         - scale_initial_sync_ms: Cluster::sync of the initial list of every kind ({} objects) \
         into an empty store, one batch: every Service translated (the cache is saved after, \
         as the daemon does within 10 s, and not timed here).\n\
         - scale_store_rss_mib, scale_store_bytes_per_pod: how much the process's resident \
         memory grew while the objects were made (from their JSON), as the store holds them \
         (without managedFields; all kinds, spread over the pods); scale_sync_peak_rss_mib: \
         the most the initial sync had resident beyond the process before the objects (the \
         objects, the translations); scale_pod_json_bytes: one Pod's JSON as the API sends \
         it, managedFields included.\n\
         - scale_store_file_mib: the cache file the store replaces every 10 s when a source \
         changed it; scale_save_lock_ms: one save's copy of the store, the part that holds \
         its lock (Cluster::cache_snapshot); scale_save_write_ms: the copy written \
         (serialized, written, fsynced, renamed: CacheSnapshot::write) with the lock \
         released, p50 of {} after a Pod change each; scale_save_peak_rss_mib: the most \
         resident beyond the process before the objects during those saves.\n\
         - scale_change_p50_us, _p99_us: Cluster::sync of one Applied event ({}, in turn; {} \
         changes, the p99 of so few is about their maximum).\n\
         - scale_policy_recompile_ms, scale_nodes_read_ms: what the node does besides: after \
         a Pod change, the policies of its {} pods compiled again (Cluster::pod_policies), \
         and after each change the Nodes read for its routes (Cluster::nodes), p50.\n\
         - scale_restart_load_ms, _translate_ms: a restart: Cluster::open of the saved file, \
         then every Service translated (Cluster::all_updates).\n\
         - scale_routes_{}_build_ms, scale_fib_kib: the data plane's tables with a route to \
         each of the {} other nodes' pod CIDRs through one VXLAN interface, built \
         (TablesBuilder, p50 of {}), and their bytes (FIB, adjacencies, peer list).\n\
         - scale_tunnel_count: the tunnel's remote ends, one per other node, over one \
         interface; scale_decap_peer_check_ns: the check of an arriving packet's outer source \
         among them (a binary search), for the last.",
        store.json_bytes.iter().map(|&(_, n, _)| n).sum::<usize>(),
        store.writes.len(),
        store::CHANGES.join(", "),
        store.changes.len(),
        shape.pods_per_node(),
        shape.nodes,
        shape.nodes - 1,
        routes.builds.len(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_figure_is_measured() {
        let plan = Plan {
            shape: Shape {
                nodes: 4,
                namespaces: 2,
                services_per_namespace: 2,
                policies_per_namespace: 1,
            },
            changes: 3,
            saves: 1,
            builds: 1,
        };
        plan.shape.check().unwrap();
        let store = store::measure(&plan).unwrap();
        let routes = routes::measure(plan.shape.nodes, plan.builds).unwrap();
        assert_eq!(
            (routes.routes, routes.peers, routes.tunnel_interfaces),
            (3, 3, 1)
        );
        let figures = figures(&plan.shape, &store, &routes);
        assert_eq!(figures.len(), 19);
        for f in &figures {
            // Other tests run in this process at the same time and may free memory while
            // the store grows: the memory figures can only be said not to be negative.
            let memory =
                f.unit == "MiB" && f.name.contains("rss") || f.name == "scale_store_bytes_per_pod";
            let ok = f.podwire.is_finite() && (f.podwire > 0.0 || (memory && f.podwire == 0.0));
            assert!(ok, "{} is {}", f.name, f.podwire);
        }
        let tunnels = figures.iter().find(|f| f.name == "scale_tunnel_count");
        assert_eq!(tunnels.map(|f| f.podwire), Some(3.0));
        assert!(figures.iter().any(|f| f.name == "scale_routes_4_build_ms"));
    }

    #[test]
    fn the_sizes_are_kubernetes_limits_and_a_hundredth() {
        let full = ScaleSize::Full.plan().shape;
        assert_eq!(
            (full.nodes, full.pods(), full.services(), full.policies()),
            (5000, 150_000, 10_000, 1000)
        );
        full.check().unwrap();
        let quick = ScaleSize::Quick.plan().shape;
        assert_eq!(
            (
                quick.nodes,
                quick.pods(),
                quick.services(),
                quick.policies()
            ),
            (50, 1500, 100, 10)
        );
        quick.check().unwrap();
    }
}
