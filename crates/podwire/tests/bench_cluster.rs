//! End-to-end: `podwire bench cluster` in its short mode (three nodes, 3 pods on each, 3
//! Service changes, 3 connections across the restart). Nothing here judges a time: the run
//! must finish, report every figure the issue names in its unit with a sane value, judge the
//! targets, and leave no network namespace behind.

mod support;

use support::bench::*;
use support::{root_or_skip, run};

/// The figures of the run, each with its unit and which way is better.
const FIGURES: [(&str, &str, &str); 5] = [
    ("cluster_apply_p50_ms", "ms", "lower"),
    ("cluster_apply_p99_ms", "ms", "lower"),
    ("cluster_pods_per_s", "pods/s", "higher"),
    ("restart_gap_ms", "ms", "lower"),
    ("restart_tcp_connections_lost", "connections", "lower"),
];

#[test]
fn the_short_run_reports_every_figure_and_judges_the_targets() {
    if !root_or_skip() {
        return;
    }
    let BenchRun { figures, log, pid } = run_bench(&["cluster", "--quick"], None);
    assert_eq!(figures.len(), FIGURES.len(), "{figures:?}");
    for (name, unit, better) in FIGURES {
        let f = figure(&figures, name);
        assert_eq!(f["unit"], unit, "{f}");
        assert_eq!(f["better"], better, "{f}");
        if name == "restart_tcp_connections_lost" {
            // A count out of the 3 connections: none lost is the target, so 0 is sane.
            let lost = f["podwire"].as_f64().unwrap_or(-1.0);
            assert!((0.0..=3.0).contains(&lost) && lost.fract() == 0.0, "{f}");
        } else {
            assert!(positive_finite(&f["podwire"]), "{name}: {f}");
        }
    }
    let p50 = figure(&figures, "cluster_apply_p50_ms")["podwire"].as_f64();
    let p99 = figure(&figures, "cluster_apply_p99_ms")["podwire"].as_f64();
    assert!(p50 <= p99, "p50 {p50:?} above p99 {p99:?}");
    assert_eq!(
        figure(&figures, "restart_gap_ms")["anchor_value"],
        100.0,
        "the restart gap is judged against the issue's 100 ms"
    );
    for target in [
        "restart_gap_ms under 100 ms: ",
        "restart_tcp_connections_lost none of 3: ",
    ] {
        assert!(log.contains(target), "no verdict \"{target}…\":\n{log}");
    }
    assert!(log.contains("what the figures are:"), "{log}");
    let tag = format!("pwcl{pid}-");
    let namespaces = String::from_utf8_lossy(&run("ip", &["netns", "list"]).stdout).into_owned();
    let left: Vec<&str> = namespaces.lines().filter(|l| l.starts_with(&tag)).collect();
    assert!(
        left.is_empty(),
        "network namespaces left behind: {left:?}\n{log}"
    );
}
