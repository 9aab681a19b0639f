//! Running `podwire bench …` as a user would and reading the figures it writes with
//! `--json`, for the benchmark tests (which judge what is reported, never a time).

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use super::{KillOnDrop, podwire};

/// What one benchmark run left: its figures, what it printed, and its process id (which
/// names what it creates, so that a test can check it is all gone).
pub struct BenchRun {
    /// The `--json` list, one object per figure.
    pub figures: Vec<Value>,
    /// Its standard output, then its standard error.
    pub log: String,
    /// Its process id.
    pub pid: u32,
}

/// Runs `podwire bench ARGS --json FILE` (with `TMPDIR` set to `tmp` when given), which must
/// succeed, and reads its figures.
pub fn run_bench(args: &[&str], tmp: Option<&Path>) -> BenchRun {
    let out = tempfile::tempdir().unwrap();
    let json = out.path().join("figures.json");
    let mut command = Command::new(podwire());
    command
        .arg("bench")
        .args(args)
        .arg("--json")
        .arg(&json)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(tmp) = tmp {
        command.env("TMPDIR", tmp);
    }
    let child = command
        .spawn()
        .unwrap_or_else(|e| panic!("start podwire bench {args:?}: {e}"));
    let pid = child.id();
    let bench = KillOnDrop(Some(child)).wait();
    let log = format!(
        "{}\n{}",
        String::from_utf8_lossy(&bench.stdout),
        String::from_utf8_lossy(&bench.stderr)
    );
    assert!(
        bench.status.success(),
        "podwire bench {args:?} failed:\n{log}"
    );
    let text = std::fs::read_to_string(&json).expect("the JSON file");
    let figures = serde_json::from_str(&text).expect("a JSON list");
    BenchRun { figures, log, pid }
}

/// The figure named `name`, which must be there.
pub fn figure<'a>(figures: &'a [Value], name: &str) -> &'a Value {
    figures
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("{name} missing from {figures:?}"))
}

/// Whether `value` is a positive, finite number.
pub fn positive_finite(value: &Value) -> bool {
    value.as_f64().is_some_and(|v| v.is_finite() && v > 0.0)
}
