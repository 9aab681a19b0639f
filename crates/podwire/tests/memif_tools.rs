//! `podwire memif gen | sink | reflect | responder` against each other, as
//! separate processes over a socket in a temporary directory, checked by
//! the exact counts of their JSON summaries. No root needed.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

/// Bounds on every run unless the test sets its own, so that a broken tool
/// fails the test instead of hanging it: far more than a working pair needs.
const BOUNDS: [(&str, &str); 2] = [("--connect-timeout", "30"), ("--seconds", "120")];

/// A tool running in the background, killed if the test ends first.
struct Running {
    child: Option<Child>,
    what: String,
}

impl Running {
    fn start(socket: &Path, args: &[&str]) -> Running {
        let bounds = BOUNDS
            .into_iter()
            .filter(|(flag, _)| !args.contains(flag))
            .flat_map(|(flag, value)| [flag, value]);
        let child = Command::new(env!("CARGO_BIN_EXE_podwire"))
            .arg("memif")
            .args(args)
            .args(bounds)
            .arg("--socket")
            .arg(socket)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start podwire memif");
        Running {
            child: Some(child),
            what: args.join(" "),
        }
    }

    /// Waits for the tool to end.
    fn output(mut self) -> Output {
        let child = self.child.take().expect("running");
        child.wait_with_output().expect("wait for podwire memif")
    }

    /// Waits for the tool to end well, and reads its JSON summary.
    fn summary(self) -> Value {
        let what = self.what.clone();
        let output = self.output();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "podwire memif {what} failed ({}):\n{stdout}\n{stderr}",
            output.status
        );
        serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("{what}: no JSON summary ({e}):\n{stdout}\n{stderr}"))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The check of a stream that arrived whole: `count` valid frames of
/// `flows` flows, nothing lost, repeated, reordered or damaged.
fn assert_whole(check: &Value, count: u64, flows: u64) {
    for (field, expected) in [
        ("valid", count),
        ("lost", 0),
        ("duplicates", 0),
        ("reordered", 0),
        ("stale", 0),
        ("bad_checksum", 0),
        ("foreign", 0),
        ("flows", flows),
    ] {
        assert_eq!(check[field], expected, "{field} in {check}");
    }
}

#[test]
fn gen_as_server_feeds_sink_as_client_every_frame_of_every_flow() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("memif.sock");
    // A 64-slot ring that the sink cannot keep empty: back-pressure.
    let generator = Running::start(
        &socket,
        &[
            "gen",
            "--role",
            "server",
            "--count",
            "20000",
            "--flows",
            "3",
            "--queues",
            "2",
            "--ring-size",
            "6",
            "--json",
        ],
    );
    let sink = Running::start(
        &socket,
        &[
            "sink",
            "--role",
            "client",
            "--count",
            "20000",
            "--queues",
            "2",
            "--ring-size",
            "6",
            "--polling",
            "--json",
        ],
    );
    let sink = sink.summary();
    let generator = generator.summary();
    assert_eq!(generator["tool"], "gen");
    assert_eq!(generator["sent"], 20000);
    assert_eq!(generator["memif"]["tx_packets"], 20000);
    assert_eq!(generator["memif"]["tx_drops"], 0);
    assert_eq!(sink["tool"], "sink");
    assert_eq!(sink["received"], 20000);
    assert_eq!(sink["bytes"], 20000 * 64);
    assert_eq!(sink["memif"]["rx_packets"], 20000);
    assert_eq!(sink["memif"]["rx_drops"], 0);
    assert_eq!(sink["connections"], 1);
    assert_whole(&sink, 20000, 3);
}

#[test]
fn a_rate_limited_gen_client_feeds_an_ip_mode_sink_server() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("ip.sock");
    let sink = Running::start(
        &socket,
        &[
            "sink", "--role", "server", "--mode", "ip", "--count", "3000", "--json",
        ],
    );
    let generator = Running::start(
        &socket,
        &[
            "gen", "--role", "client", "--mode", "ip", "--size", "100", "--rate", "50000",
            "--count", "3000", "--json",
        ],
    );
    let generator = generator.summary();
    let sink = sink.summary();
    assert_eq!(
        (&generator["sent"], &generator["rate"]),
        (&Value::from(3000), &Value::from(50000))
    );
    assert_eq!(sink["bytes"], 3000 * 100);
    assert_whole(&sink, 3000, 1);
}

#[test]
fn reflect_returns_every_frame_to_gen_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("reflect.sock");
    let reflect = Running::start(
        &socket,
        &[
            "reflect", "--role", "server", "--count", "5000", "--queues", "2", "--json",
        ],
    );
    let generator = Running::start(
        &socket,
        &[
            "gen",
            "--role",
            "client",
            "--count",
            "5000",
            "--flows",
            "4",
            "--queues",
            "2",
            "--expect-echo",
            "--json",
        ],
    );
    let generator = generator.summary();
    let reflect = reflect.summary();
    assert_eq!(reflect["received"], 5000);
    assert_eq!(reflect["reflected"], 5000);
    assert_eq!(reflect["unswapped"], 0);
    assert_eq!(generator["sent"], 5000);
    assert_whole(&generator["echo"], 5000, 4);
}

#[test]
fn the_responder_echoes_gens_udp_to_port_7() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("responder.sock");
    let responder = Running::start(
        &socket,
        &[
            "responder",
            "--role",
            "server",
            "--ip",
            "10.0.0.2/24",
            "--count",
            "1000",
            "--json",
        ],
    );
    let generator = Running::start(
        &socket,
        &[
            "gen",
            "--role",
            "client",
            "--dst-port",
            "7",
            "--count",
            "1000",
            "--expect-echo",
            "--json",
        ],
    );
    let generator = generator.summary();
    let responder = responder.summary();
    assert_eq!(responder["received"], 1000);
    assert_eq!(responder["udp_echoes"], 1000);
    assert_eq!(responder["malformed"], 0);
    assert_whole(&generator["echo"], 1000, 1);
}

#[test]
fn a_wrong_secret_is_refused_and_both_give_up_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("secret.sock");
    let sink = Running::start(
        &socket,
        &[
            "sink",
            "--role",
            "server",
            "--secret",
            "right",
            "--connect-timeout",
            "2",
        ],
    );
    let generator = Running::start(
        &socket,
        &[
            "gen",
            "--role",
            "client",
            "--secret",
            "wrong",
            "--connect-timeout",
            "2",
        ],
    );
    for (tool, output) in [("gen", generator.output()), ("sink", sink.output())] {
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success(),
            "{tool} connected with a wrong secret"
        );
        assert!(
            stderr.contains("no memif peer connected"),
            "{tool}: {stderr}"
        );
        assert!(
            stdout.contains("refused"),
            "{tool} did not say why: {stdout}"
        );
        assert!(stdout.to_lowercase().contains("secret"), "{tool}: {stdout}");
    }
}
