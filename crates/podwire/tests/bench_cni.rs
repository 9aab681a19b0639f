//! End-to-end: `podwire bench cni` in its short mode. Nothing here judges a
//! time: the run must finish, report every figure with its reference
//! beside it as a positive, finite number, and leave nothing behind.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};

use support::*;

/// The figures the benchmark promises, each in this unit.
const FIGURES: [(&str, &str); 5] = [
    ("cni_add_p50_ms", "ms"),
    ("cni_add_p99_ms", "ms"),
    ("cni_del_p50_ms", "ms"),
    ("cni_add_parallel10_p50_ms", "ms"),
    ("cni_110_pods_s", "s"),
];

fn positive_finite(value: &serde_json::Value) -> bool {
    value.as_f64().is_some_and(|v| v.is_finite() && v > 0.0)
}

#[test]
fn the_short_run_reports_every_figure_and_removes_what_it_made() {
    if !root_or_skip() {
        return;
    }
    // Its own TMPDIR: whatever the benchmark keeps in temporary
    // directories must be gone when it ends.
    let tmp = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let json = out.path().join("cni.json");
    let child = Command::new(podwire())
        .args(["bench", "cni", "--iterations", "5", "--json"])
        .arg(&json)
        .env("TMPDIR", tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start podwire bench cni");
    let run = child.id();
    let bench = KillOnDrop(Some(child)).wait();
    let log = format!(
        "{}\n{}",
        String::from_utf8_lossy(&bench.stdout),
        String::from_utf8_lossy(&bench.stderr)
    );
    assert!(bench.status.success(), "podwire bench cni failed:\n{log}");

    let text = std::fs::read_to_string(&json).expect("the JSON file");
    let figures: Vec<serde_json::Value> = serde_json::from_str(&text).expect("a JSON list");
    for (name, unit) in FIGURES {
        let figure = figures
            .iter()
            .find(|f| f["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing from {text}"));
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

    let prefix = format!("pwcni-{run}-");
    let left: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.starts_with(&prefix))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "namespaces left behind: {left:?}");
    let bridge = format!("pwcb{run}");
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
