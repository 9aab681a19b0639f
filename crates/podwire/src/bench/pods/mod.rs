//! Pod to pod through podwire over tap, against the kernel's own path
//! (the reference `bridge` CNI plugin: veth + Linux bridge) measured in
//! the same run, with the same tools: TCP throughput (one stream and
//! four), UDP 64-byte packets delivered per second, round-trip latency
//! p50/p99; and TCP throughput between pods on two nodes over VXLAN
//! ([`vxlan`]) against the same bridge path on one node. Needs root and
//! etcd.

mod kernel_bridge;
mod podwire_tap;
pub(super) mod traffic;
mod vxlan;

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};

use super::process;
use super::report::{Better, Figure};
use kernel_bridge::BridgePods;
use podwire_tap::PodwirePods;
use traffic::PathFigures;
use vxlan::VxlanPods;

/// The anchor of every figure here.
const ANCHOR: &str = "kernel bridge CNI (veth + Linux bridge)";
/// The anchor of the VXLAN figure: the same bridge path, whose pods share a node.
const VXLAN_ANCHOR: &str = "kernel bridge CNI (veth + Linux bridge), both pods on one node";

/// The pod-to-pod figures of `podwire bench forwarding`: over tap when `tap_workers` says
/// with how many workers, over VXLAN when `vxlan`; each test runs `duration`, rounded up to
/// whole seconds (what the tools take).
pub fn figures(
    duration: Duration,
    tap_workers: Option<u32>,
    vxlan: bool,
) -> anyhow::Result<Vec<Figure>> {
    preflight()?;
    let seconds = u32::try_from(duration.as_secs() + u64::from(duration.subsec_nanos() > 0))
        .unwrap_or(u32::MAX)
        .max(1);
    let run = std::process::id().to_string();
    println!("\npod to pod, {seconds} s per test, each test on both paths in turn");
    let kernel_pods = BridgePods::create(&run)?;
    let mut figures = Vec::new();
    if let Some(workers) = tap_workers {
        // Both paths stay up; the idle one costs nothing (podwire's worker
        // sleeps when no packet comes).
        let podwire_pods = PodwirePods::start(&run, workers)?;
        let [kernel, podwire] =
            traffic::measure([kernel_pods.pods(), podwire_pods.pods()], seconds)?;
        drop(podwire_pods);
        figures = compare(&podwire, &kernel);
    }
    if !vxlan {
        return Ok(figures);
    }
    println!(
        "
pod to pod across two nodes over VXLAN, against the bridge path on one node"
    );
    let exe = std::env::current_exe().context("cannot find the running podwire binary")?;
    let vxlan_pods = VxlanPods::start(&exe, &run)?;
    // The anchor again, now that the nodes' daemons and etcd run beside it as they do
    // beside the VXLAN path.
    let [kernel_tcp, vxlan_tcp] = traffic::on_both(
        [kernel_pods.pods(), vxlan_pods.pods()],
        seconds,
        traffic::tcp_gbps,
    )
    .context("measuring TCP throughput across nodes")?;
    figures.push(Figure::new(
        "vxlan_tcp_gbps",
        "Gbit/s",
        vxlan_tcp,
        VXLAN_ANCHOR,
        Some(kernel_tcp),
        Better::Higher,
    ));
    Ok(figures)
}

fn compare(podwire: &PathFigures, kernel: &PathFigures) -> Vec<Figure> {
    type Read = fn(&PathFigures) -> f64;
    let rows: [(&str, &str, Read, Better); 5] = [
        ("tap_tcp_gbps", "Gbit/s", |f| f.tcp_gbps, Better::Higher),
        ("tap_tcp4_gbps", "Gbit/s", |f| f.tcp4_gbps, Better::Higher),
        ("tap_udp64_kpps", "kpps", |f| f.udp64_kpps, Better::Higher),
        ("tap_rtt_p50_us", "µs", |f| f.rtt_p50_us, Better::Lower),
        ("tap_rtt_p99_us", "µs", |f| f.rtt_p99_us, Better::Lower),
    ];
    rows.into_iter()
        .map(|(name, unit, value, better)| {
            Figure::new(
                name,
                unit,
                value(podwire),
                ANCHOR,
                Some(value(kernel)),
                better,
            )
        })
        .collect()
}

/// Fails early, saying what to do, when the benchmark cannot run here.
fn preflight() -> anyhow::Result<()> {
    if !rustix::process::geteuid().is_root() {
        bail!(
            "the pod-to-pod benchmark creates network namespaces and interfaces: run it as root, \
             or pass --in-memory-only"
        );
    }
    for (tool, package) in [
        ("ip", "iproute2"),
        ("iperf3", "iperf3"),
        ("sockperf", "sockperf"),
        ("etcd", "etcd-server"),
        ("etcdctl", "etcd-client"),
    ] {
        if !process::on_path(tool) {
            bail!("{tool} not found: install {package} (scripts/install-deps.sh)");
        }
    }
    for plugin in ["bridge", "host-local"] {
        if !Path::new(kernel_bridge::CNI_PATH).join(plugin).is_file() {
            bail!(
                "{}/{plugin} not found: install containernetworking-plugins (scripts/install-deps.sh)",
                kernel_bridge::CNI_PATH
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_figure_is_podwire_beside_the_kernel_path() {
        let podwire = PathFigures {
            tcp_gbps: 5.0,
            tcp4_gbps: 12.0,
            udp64_kpps: 300.0,
            rtt_p50_us: 30.0,
            rtt_p99_us: 60.0,
        };
        let kernel = PathFigures {
            tcp_gbps: 10.0,
            tcp4_gbps: 8.0,
            udp64_kpps: 200.0,
            rtt_p50_us: 15.0,
            rtt_p99_us: 20.0,
        };
        let figures = compare(&podwire, &kernel);
        let got: Vec<(&str, f64, Option<f64>, Better)> = figures
            .iter()
            .map(|f| (f.name.as_str(), f.podwire, f.anchor_value, f.better))
            .collect();
        assert_eq!(
            got,
            [
                ("tap_tcp_gbps", 5.0, Some(10.0), Better::Higher),
                ("tap_tcp4_gbps", 12.0, Some(8.0), Better::Higher),
                ("tap_udp64_kpps", 300.0, Some(200.0), Better::Higher),
                ("tap_rtt_p50_us", 30.0, Some(15.0), Better::Lower),
                ("tap_rtt_p99_us", 60.0, Some(20.0), Better::Lower),
            ]
        );
        assert!(figures.iter().all(|f| f.anchor == ANCHOR));
        assert_eq!(figures[4].ratio, Some(3.0));
    }
}
