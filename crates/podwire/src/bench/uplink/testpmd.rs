//! `dpdk-testpmd` (Debian's DPDK 22.11) with `net_af_packet` ports, the generator of the
//! uplink figures and their anchor. It runs non-interactively: it starts forwarding at once,
//! says "Press enter to exit", and stops (closing its ports) when its standard input closes.
//! Killed on drop when it has not stopped.

use std::fs::File;
use std::io::{Read, Seek};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::pinned;

/// The executable, from the Debian package `dpdk-dev`.
pub const TESTPMD: &str = "dpdk-testpmd";
/// What testpmd prints once its forwarding has started.
const STARTED: &str = "Press enter to exit";
/// How long it may take to start, or to stop once asked.
const STEP_LIMIT: Duration = Duration::from_secs(30);
/// How often the output is looked at while it starts.
const POLL: Duration = Duration::from_millis(20);
/// Lines of output quoted in an error.
const TAIL_LINES: usize = 30;

/// What testpmd's forwarding core does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `txonly` on port 0: 64-byte UDP frames from the port's MAC to `peer_mac`, from
    /// `source` to `destination`, as fast as the port takes them.
    TxOnly {
        /// The frames' destination MAC.
        peer_mac: String,
        /// The frames' source IPv4 address.
        source: std::net::Ipv4Addr,
        /// The frames' destination IPv4 address.
        destination: std::net::Ipv4Addr,
    },
    /// `io`: every frame received on port 0 is sent on port 1 unchanged, and back.
    Io,
}

impl Mode {
    fn args(&self) -> Vec<String> {
        match self {
            Mode::TxOnly {
                peer_mac,
                source,
                destination,
            } => vec![
                "--forward-mode=txonly".into(),
                "--txpkts=64".into(),
                format!("--eth-peer=0,{peer_mac}"),
                format!("--tx-ip={source},{destination}"),
            ],
            Mode::Io => vec!["--forward-mode=io".into()],
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Mode::TxOnly { .. } => "txonly",
            Mode::Io => "io",
        }
    }
}

/// A running testpmd.
pub struct Testpmd {
    child: Child,
    stdin: Option<ChildStdin>,
    output: File,
    /// `--file-prefix`: its runtime directory under /var/run/dpdk.
    prefix: String,
    /// `testpmd io on in0, out0`, for messages.
    label: String,
    stopped: bool,
}

impl Testpmd {
    /// Starts testpmd in `netns` with both its lcores on `cpu`, one `net_af_packet` port on
    /// each of `interfaces` (in order: port 0, port 1), forwarding as `mode`; returns once
    /// it forwards.
    pub fn start(
        netns: &str,
        cpu: usize,
        interfaces: &[&str],
        mode: &Mode,
    ) -> anyhow::Result<Testpmd> {
        let prefix = unique_prefix();
        let label = format!(
            "testpmd {} on {} (CPU {cpu})",
            mode.name(),
            interfaces.join(", ")
        );
        let mut command = pinned(netns, cpu, "stdbuf");
        command
            // Its output line by line: printf to a file is otherwise buffered to the end.
            .args(["-oL", TESTPMD])
            // No hugepages, no PCI, a runtime directory of its own (two testpmds run at
            // once), both lcores (main and forwarding) on `cpu`.
            .args(["--no-huge", "-m", "256", "--no-pci"])
            .arg(format!("--lcores=0@{cpu},1@{cpu}"))
            .arg(format!("--file-prefix={prefix}"))
            .args(
                interfaces
                    .iter()
                    .enumerate()
                    .map(|(i, iface)| format!("--vdev=net_af_packet{i},iface={iface}")),
            )
            .args([
                "--",
                "--nb-cores=1",
                "--total-num-mbufs=16384",
                "--no-mlockall",
            ])
            .args(mode.args());
        let output = tempfile::tempfile().context("cannot create a temporary file")?;
        let child = command
            .stdin(Stdio::piped())
            .stdout(output.try_clone()?)
            .stderr(output.try_clone()?)
            .spawn()
            .with_context(|| format!("cannot start {TESTPMD} (setpriv, taskset, stdbuf)"))?;
        let mut testpmd = Testpmd {
            stdin: None,
            child,
            output,
            prefix,
            label,
            stopped: false,
        };
        // Held open: testpmd stops when it closes.
        testpmd.stdin = testpmd.child.stdin.take();
        testpmd.wait_started()?;
        Ok(testpmd)
    }

    /// Stops it (its standard input closes) and waits, bounded, for it to exit cleanly.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.stdin = None;
        let deadline = Instant::now() + STEP_LIMIT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                self.stopped = true;
                if !status.success() {
                    bail!("{} exited with {status}{}", self.label, self.tail());
                }
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} did not stop within {} s of its input closing{}",
                    self.label,
                    STEP_LIMIT.as_secs(),
                    self.tail()
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// `testpmd io on in0, out0 (CPU 1)`.
    pub fn label(&self) -> &str {
        &self.label
    }

    fn wait_started(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + STEP_LIMIT;
        loop {
            if self.text().contains(STARTED) {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                self.stopped = true;
                bail!(
                    "{} exited ({status}) as it started{}",
                    self.label,
                    self.tail()
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} did not start forwarding within {} s{}",
                    self.label,
                    STEP_LIMIT.as_secs(),
                    self.tail()
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// Everything it printed so far.
    fn text(&self) -> String {
        let mut text = String::new();
        let mut output = &self.output;
        // An unreadable output reads as empty: the caller's bounded wait then reports.
        if output.rewind().is_ok() {
            let _ = output.read_to_string(&mut text);
        }
        text
    }

    /// The end of the output, as a suffix for error messages.
    fn tail(&self) -> String {
        let text = self.text();
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.len().saturating_sub(TAIL_LINES);
        format!(
            "\n--- {} output (last lines) ---\n{}",
            self.label,
            lines[start..].join("\n")
        )
    }
}

impl Drop for Testpmd {
    fn drop(&mut self) {
        if !self.stopped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(std::path::Path::new("/var/run/dpdk").join(&self.prefix));
    }
}

/// A `--file-prefix` no other testpmd of this or another run uses.
fn unique_prefix() -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("podwire-bench-uplink-{}-{n}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_addresses_the_forwarder() {
        let mode = Mode::TxOnly {
            peer_mac: "02:00:00:00:00:02".into(),
            source: std::net::Ipv4Addr::new(10, 0, 1, 2),
            destination: std::net::Ipv4Addr::new(10, 0, 2, 2),
        };
        assert_eq!(
            mode.args(),
            [
                "--forward-mode=txonly",
                "--txpkts=64",
                "--eth-peer=0,02:00:00:00:00:02",
                "--tx-ip=10.0.1.2,10.0.2.2",
            ]
        );
        assert_eq!(Mode::Io.args(), ["--forward-mode=io"]);
    }
}
