//! End-to-end: `podwire bench cni` in its short mode. Nothing here judges a
//! time: the run must finish, report every figure with its reference
//! beside it as a positive, finite number, and leave nothing behind.

mod support;

use std::path::Path;

use support::bench::*;
use support::*;

/// The figures the benchmark promises, each in this unit.
const FIGURES: [(&str, &str); 5] = [
    ("cni_add_p50_ms", "ms"),
    ("cni_add_p99_ms", "ms"),
    ("cni_del_p50_ms", "ms"),
    ("cni_add_parallel10_p50_ms", "ms"),
    ("cni_110_pods_s", "s"),
];

#[test]
fn the_short_run_reports_every_figure_and_removes_what_it_made() {
    if !root_or_skip() {
        return;
    }
    // Its own TMPDIR: whatever the benchmark keeps in temporary
    // directories must be gone when it ends.
    let tmp = tempfile::tempdir().unwrap();
    let BenchRun { figures, log, pid } = run_bench(&["cni", "--iterations", "5"], Some(tmp.path()));
    for (name, unit) in FIGURES {
        let figure = figure(&figures, name);
        assert_eq!(figure["unit"], unit, "{figure}");
        assert_eq!(figure["better"], "lower", "{figure}");
        for key in ["podwire", "anchor_value", "ratio"] {
            assert!(
                positive_finite(&figure[key]),
                "{name}.{key} is not a positive number: {figure}"
            );
        }
    }
    assert!(
        log.contains("cni_add_p50_ms <= 0.25x its anchor: "),
        "no verdict on the target:\n{log}"
    );

    let prefix = format!("pwcni-{pid}-");
    let left: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.starts_with(&prefix))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "namespaces left behind: {left:?}");
    let bridge = format!("pwcb{pid}");
    assert!(
        !Path::new("/sys/class/net").join(&bridge).exists(),
        "bridge {bridge} left behind"
    );
    // The daemon's config file is under TMPDIR: a process still naming it
    // is the benchmark's daemon.
    let tmp_name = tmp.path().to_string_lossy().into_owned();
    let daemons: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|cmdline| String::from_utf8_lossy(&cmdline).replace('\0', " "))
        .filter(|cmdline| cmdline.contains(&tmp_name))
        .collect();
    assert!(daemons.is_empty(), "processes left running: {daemons:?}");
    let kept: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    assert!(kept.is_empty(), "temporary files left behind: {kept:?}");
}
