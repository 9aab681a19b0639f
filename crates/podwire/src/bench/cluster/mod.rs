//! `podwire bench cluster`: three nodes on this machine ([`lab`]: each a network namespace
//! running its own `podwire daemon`, uplinks on a shared underlay, etcd as the source), and
//! what a cluster's users wait for:
//!
//! - [`bring_up`]: pods brought up across the nodes through CNI ADD, the nodes in parallel
//!   and several ADDs in flight on each, as kubelets do;
//! - [`apply`]: the time from `podwire ctl apply` of a Service change to the change being in
//!   effect on every node, seen by a client in a pod on each node whose new connections reach
//!   the new backend;
//! - [`restart`]: how long forwarding stops while a node's daemon restarts (a UDP prober
//!   sends every millisecond), and how many established TCP connections survive it;
//! - [`scale`] (with `--scale`): one node's agent at Kubernetes' limits, in memory.
//!
//! Needs root (network namespaces, interfaces) and etcd.

mod apply;
mod bring_up;
pub(super) mod lab;
mod restart;
mod scale;

use std::path::PathBuf;

use anyhow::{Context, bail};

use super::process;
use super::report::{Better, Figure};
use lab::{ClusterLab, LabOptions, Pod};

/// Options of `podwire bench cluster`.
#[derive(Debug, clap::Args)]
pub struct ClusterArgs {
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Pods brought up on each node, at least 3 [default: 20].
    #[arg(long)]
    pub pods_per_node: Option<usize>,
    /// Service changes timed [default: 20].
    #[arg(long)]
    pub changes: Option<usize>,
    /// Established TCP connections kept open across the restart [default: 20].
    #[arg(long)]
    pub connections: Option<usize>,
    /// A short run, for tests: 3 pods per node, 3 changes and 3 connections unless the
    /// options above say otherwise, and a hundredth of the cluster with `--scale`. Its
    /// figures say little.
    #[arg(long)]
    pub quick: bool,
    /// Also measure one node's agent with a cluster at Kubernetes' limits (5,000 nodes,
    /// 150,000 pods, 10,000 Services), in memory: takes minutes and several GB.
    #[arg(long)]
    pub scale: bool,
}

/// The target: forwarding stops for less than this during a daemon restart.
const RESTART_GAP_TARGET_MS: f64 = 100.0;
/// Pods each node needs besides those brought up: the servers and clients of the
/// measurements are the first three of each node.
const ROLES_PER_NODE: usize = 3;

/// What to measure, from the options.
#[derive(Clone, Debug, PartialEq)]
struct Plan {
    pods_per_node: usize,
    changes: usize,
    connections: usize,
}

impl Plan {
    fn new(args: &ClusterArgs) -> anyhow::Result<Plan> {
        let default = |given: Option<usize>, full, quick| {
            given.unwrap_or(if args.quick { quick } else { full })
        };
        let plan = Plan {
            pods_per_node: default(args.pods_per_node, 20, ROLES_PER_NODE),
            changes: default(args.changes, 20, 3),
            connections: default(args.connections, 20, 3),
        };
        if !(ROLES_PER_NODE..=200).contains(&plan.pods_per_node) {
            bail!(
                "--pods-per-node {}: give {ROLES_PER_NODE} to 200",
                plan.pods_per_node
            );
        }
        if !(1..=1000).contains(&plan.changes) {
            bail!("--changes {}: give 1 to 1000", plan.changes);
        }
        if !(1..=1000).contains(&plan.connections) {
            bail!("--connections {}: give 1 to 1000", plan.connections);
        }
        Ok(plan)
    }
}

/// The figures of `podwire bench cluster`.
pub fn figures(args: &ClusterArgs) -> anyhow::Result<Vec<Figure>> {
    let plan = Plan::new(args)?;
    preflight()?;
    let exe = std::env::current_exe().context("cannot find the running podwire binary")?;
    let options = LabOptions::default();
    println!(
        "\nthree nodes on this machine: each a network namespace running `podwire daemon`, \
         uplinks on a bridge, etcd as the source, a lease of {} s",
        options.lease_ttl_s
    );
    let mut lab = ClusterLab::start(&exe, &format!("pwcl{}", std::process::id()), &options)?;
    for node in lab.nodes() {
        let cidrs: Vec<String> = node.pod_cidrs()?.iter().map(ToString::to_string).collect();
        println!(
            "  {} (network namespace {}) claimed {}",
            node.name,
            node.namespace.name(),
            cidrs.join(", ")
        );
    }
    let measured = measure(&mut lab, &plan);
    match lab.leaks() {
        Ok(leaks) if leaks.is_empty() => {
            println!("the nodes' kernels have nothing left of the pods")
        }
        Ok(leaks) => println!(
            "warning: left behind in the nodes:\n  {}",
            leaks.join("\n  ")
        ),
        Err(e) => println!("warning: {e:#}"),
    }
    println!("stopping the daemons, removing the nodes and etcd");
    let figures =
        measured.map_err(|e| anyhow::anyhow!("{e:#}\nthe lab's logs:\n{}", lab.logs()))?;
    print_targets(&figures, plan.connections);
    let mut figures = figures;
    if args.scale {
        let size = match args.quick {
            true => scale::ScaleSize::Quick,
            false => scale::ScaleSize::Full,
        };
        figures.extend(scale::measure(size)?);
    }
    Ok(figures)
}

/// Every measurement; the pods are gone (CNI DEL) when it returns.
fn measure(lab: &mut ClusterLab, plan: &Plan) -> anyhow::Result<Vec<Figure>> {
    let (pods, pods_per_s) = bring_up::measure(lab, plan.pods_per_node)?;
    let applied = apply::measure(lab, &pods, plan.changes)?;
    let restarted = restart::measure(lab, &pods, plan.connections)?;
    println!("removing the pods (CNI DEL)");
    drop(pods);
    Ok(vec![
        Figure::new(
            "cluster_apply_p50_ms",
            "ms",
            applied.ms(50.0),
            "none run here",
            None,
            Better::Lower,
        ),
        Figure::new(
            "cluster_apply_p99_ms",
            "ms",
            applied.ms(99.0),
            "none run here",
            None,
            Better::Lower,
        ),
        Figure::new(
            "cluster_pods_per_s",
            "pods/s",
            pods_per_s,
            "none run here",
            None,
            Better::Higher,
        ),
        Figure::new(
            "restart_gap_ms",
            "ms",
            restarted.gap.as_secs_f64() * 1e3,
            "the issue's target: under 100 ms",
            Some(RESTART_GAP_TARGET_MS),
            Better::Lower,
        ),
        Figure::new(
            "restart_tcp_connections_lost",
            "connections",
            restarted.connections_lost as f64,
            &format!("the issue's target: none of {} lost", plan.connections),
            None,
            Better::Lower,
        ),
    ])
}

/// The `ROLES_PER_NODE` pods of each node that play a part, by node and role.
fn role(pods: &[Pod], node: usize, role: usize) -> &Pod {
    pods.iter()
        .filter(|p| p.node == node)
        .nth(role)
        .expect("bring_up makes ROLES_PER_NODE pods on every node at least")
}

/// One line per target, met or not.
fn target_lines(figures: &[Figure], connections: usize) -> Vec<String> {
    let value = |name: &str| figures.iter().find(|f| f.name == name).map(|f| f.podwire);
    let verdict = |met: bool| if met { "met" } else { "NOT met" };
    let mut lines = Vec::new();
    if let Some(gap) = value("restart_gap_ms") {
        lines.push(format!(
            "restart_gap_ms under {RESTART_GAP_TARGET_MS} ms: {} ({gap:.1} ms)",
            verdict(gap < RESTART_GAP_TARGET_MS)
        ));
    }
    if let Some(lost) = value("restart_tcp_connections_lost") {
        lines.push(format!(
            "restart_tcp_connections_lost none of {connections}: {} ({lost} lost)",
            verdict(lost == 0.0)
        ));
    }
    lines
}

fn print_targets(figures: &[Figure], connections: usize) {
    println!("targets:");
    for line in target_lines(figures, connections) {
        println!("  {line}");
    }
    println!(
        "what the figures are: cluster_apply_* from `podwire ctl apply` of a Service change until \
         a client on every node reaches the new backend; cluster_pods_per_s CNI ADDs across the \
         nodes; restart_gap_ms the longest silence of a UDP probe sent every 1 ms through the \
         restarted node; restart_tcp_connections_lost established connections that did not \
         answer after the restart"
    );
}

/// Fails early, saying what to do, when the benchmark cannot run here.
fn preflight() -> anyhow::Result<()> {
    if !rustix::process::geteuid().is_root() {
        bail!("the cluster benchmark creates network namespaces and interfaces: run it as root");
    }
    for (tool, package) in [
        ("ip", "iproute2"),
        ("etcd", "etcd-server"),
        ("etcdctl", "etcd-client"),
    ] {
        if !process::on_path(tool) {
            bail!("{tool} not found: install {package} (scripts/install-deps.sh)");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(quick: bool) -> ClusterArgs {
        ClusterArgs {
            json: None,
            pods_per_node: None,
            changes: None,
            connections: None,
            quick,
            scale: false,
        }
    }

    #[test]
    fn quick_runs_are_small_and_options_win() {
        assert_eq!(
            Plan::new(&args(true)).unwrap(),
            Plan {
                pods_per_node: 3,
                changes: 3,
                connections: 3
            }
        );
        assert_eq!(Plan::new(&args(false)).unwrap().pods_per_node, 20);
        let given = ClusterArgs {
            changes: Some(7),
            ..args(true)
        };
        assert_eq!(Plan::new(&given).unwrap().changes, 7);
        let too_few = ClusterArgs {
            pods_per_node: Some(2),
            ..args(false)
        };
        let err = Plan::new(&too_few).unwrap_err().to_string();
        assert!(err.contains("--pods-per-node 2"), "{err}");
    }

    #[test]
    fn targets_are_judged_on_the_figures() {
        let figures = |gap: f64, lost: f64| {
            vec![
                Figure::new("restart_gap_ms", "ms", gap, "t", Some(100.0), Better::Lower),
                Figure::new(
                    "restart_tcp_connections_lost",
                    "connections",
                    lost,
                    "t",
                    None,
                    Better::Lower,
                ),
            ]
        };
        assert_eq!(
            target_lines(&figures(23.0, 0.0), 20),
            [
                "restart_gap_ms under 100 ms: met (23.0 ms)",
                "restart_tcp_connections_lost none of 20: met (0 lost)",
            ]
        );
        assert_eq!(
            target_lines(&figures(140.5, 2.0), 20),
            [
                "restart_gap_ms under 100 ms: NOT met (140.5 ms)",
                "restart_tcp_connections_lost none of 20: NOT met (2 lost)",
            ]
        );
    }
}
