//! Our side of the memif figures: `podwire memif gen | sink | responder`
//! (this very binary) as processes pinned to a CPU, each ending with its
//! JSON summary, from which the benchmark takes what it counted.

use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

use super::cpu;
use crate::bench::process::Running;

/// How long a tool may take to connect to its peer.
const CONNECT_LIMIT: &str = "30";
/// How long a tool runs at most (`--seconds`): it is stopped when its
/// measurement ends, this only bounds a benchmark that failed to stop it.
const RUN_LIMIT: &str = "600";
/// How long a tool may take to print its summary once it should end.
const END_LIMIT: Duration = Duration::from_secs(30);

/// What a tool's summary says of the run (the fields the benchmark reads).
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Summary {
    /// Seconds from its first connection to its end.
    pub seconds: f64,
    /// Times a peer connected.
    pub connections: u64,
    /// The memif queues' counters.
    pub memif: LinkCounts,
}

/// The memif queues' counters of a summary.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct LinkCounts {
    /// Packets received.
    pub rx_packets: u64,
    /// Received packets dropped for what the peer wrote.
    pub rx_drops: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Frames that could not be sent.
    pub tx_drops: u64,
}

impl Summary {
    /// The summary a tool printed as the last line of its standard output.
    pub fn parse(stdout: &str) -> anyhow::Result<Summary> {
        let last = stdout.lines().last().unwrap_or_default();
        serde_json::from_str(last).with_context(|| {
            format!("the tool printed no JSON summary as its last line:\n{stdout}")
        })
    }
}

/// A tool running in the background.
pub struct Tool {
    running: Running,
}

impl Tool {
    /// Starts `podwire memif <tool> <args>` on `cpu`, with a JSON summary,
    /// a bounded wait for its peer, and a bounded run; it runs until
    /// [`stop`](Self::stop)ped.
    pub fn start(tool: &str, cpu: usize, args: &[&str]) -> anyhow::Result<Tool> {
        let exe = std::env::current_exe().context("cannot find the podwire binary")?;
        let mut command = cpu::pinned(cpu, exe);
        command
            .args(["memif", tool, "--json", "--connect-timeout", CONNECT_LIMIT])
            .args(["--seconds", RUN_LIMIT])
            .args(args);
        Ok(Tool {
            running: Running::start(command, b"")?,
        })
    }

    /// Ends the tool as Ctrl-C would and reads its summary.
    pub fn stop(self) -> anyhow::Result<Summary> {
        self.running.interrupt()?;
        Summary::parse(&self.running.finish(END_LIMIT)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_is_the_last_line() {
        // As printed with --json, after a line a tool could print first.
        let out = format!("note\n{}", include_str!("testdata/sink-summary.json"));
        let summary = Summary::parse(&out).unwrap();
        assert_eq!(summary.connections, 1);
        assert_eq!(summary.seconds, 1.002_815_116);
        assert_eq!(summary.memif.rx_packets, 238_048);
        assert_eq!(summary.memif.rx_drops, 0);
        assert_eq!(summary.memif.tx_packets, 0);
    }

    #[test]
    fn output_without_a_summary_is_an_error_that_quotes_it() {
        let err = Summary::parse("connected\n").unwrap_err();
        assert!(format!("{err:#}").contains("connected"), "{err:#}");
        assert!(Summary::parse("").is_err());
    }
}
