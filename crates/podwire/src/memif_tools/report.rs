//! What a run tells people: a line every second while connected, events as
//! they happen, and a final summary, as text or as one JSON object.

use std::time::{Duration, Instant};

use podwire_memif::{Interface, QueueStats};
use serde::Serialize;

/// Where the text goes: stdout, or stderr when stdout carries the JSON
/// summary (so that `--json > summary.json` holds only JSON).
#[derive(Debug, Clone, Copy)]
pub struct Console {
    json: bool,
}

impl Console {
    /// A console for a run with or without `--json`.
    pub fn new(json: bool) -> Console {
        Console { json }
    }

    /// Prints one line of text.
    pub fn say(&self, line: &str) {
        if self.json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }

    /// Prints the final summary: JSON on stdout with `--json`, else a line.
    pub fn summary<T: Serialize>(&self, report: &Report<'_, T>, text: &str) -> anyhow::Result<()> {
        if self.json {
            println!("{}", serde_json::to_string(report)?);
        } else {
            println!("{text}");
        }
        Ok(())
    }
}

/// A tool's figures for the line of every second.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// The packets the tool is about (sent, received or reflected).
    pub packets: u64,
    /// Packets lost or refused on the way, by the tool's own measure.
    pub drops: u64,
}

/// The memif queues' own counters, summed over queues and connections.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LinkTotals {
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Received packets dropped, or bursts refused, because of what the
    /// peer wrote (bad descriptors, impossible ring indices).
    pub rx_drops: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Frames that could not be sent (too big, empty, bad posted buffers).
    pub tx_drops: u64,
}

impl LinkTotals {
    /// The counters of every queue of `interface`.
    pub fn of(interface: &Interface) -> LinkTotals {
        let mut totals = LinkTotals::default();
        for queue in 0..interface.rx_queues() {
            if let Ok(stats) = interface.rx_stats(queue) {
                totals.rx_packets += stats.packets;
                totals.rx_bytes += stats.bytes;
                totals.rx_drops += drops(&stats);
            }
        }
        for queue in 0..interface.tx_queues() {
            if let Ok(stats) = interface.tx_stats(queue) {
                totals.tx_packets += stats.packets;
                totals.tx_bytes += stats.bytes;
                totals.tx_drops += drops(&stats);
            }
        }
        totals
    }

    fn add(self, other: LinkTotals) -> LinkTotals {
        LinkTotals {
            rx_packets: self.rx_packets + other.rx_packets,
            rx_bytes: self.rx_bytes + other.rx_bytes,
            rx_drops: self.rx_drops + other.rx_drops,
            tx_packets: self.tx_packets + other.tx_packets,
            tx_bytes: self.tx_bytes + other.tx_bytes,
            tx_drops: self.tx_drops + other.tx_drops,
        }
    }
}

/// Every reason a queue counts for dropping a packet or refusing a burst.
fn drops(stats: &QueueStats) -> u64 {
    stats.drops_bad_region
        + stats.drops_overrun
        + stats.drops_zero_length
        + stats.drops_too_big
        + stats.drops_truncated_chain
        + stats.bad_peer_index
        + stats.ring_unusable
}

/// Link counters over the whole run: a connection's counters start at zero,
/// so those of ended connections are kept apart.
#[derive(Debug, Default)]
pub struct RunTotals {
    ended: LinkTotals,
    current: LinkTotals,
}

impl RunTotals {
    /// Takes the current connection's counters.
    pub fn observe(&mut self, interface: &Interface) {
        self.current = LinkTotals::of(interface);
    }

    /// The current connection ended: its last observed counters are final.
    pub fn connection_ended(&mut self) {
        self.ended = self.ended.add(std::mem::take(&mut self.current));
    }

    /// Everything so far.
    pub fn total(&self) -> LinkTotals {
        self.ended.add(self.current)
    }
}

/// Prints a line every second: packets in that second, the rate, drops.
#[derive(Debug)]
pub struct Meter {
    started: Instant,
    next_line: Instant,
    last_line: Instant,
    last: Progress,
}

/// How often the meter prints.
pub const METER_PERIOD: Duration = Duration::from_secs(1);

impl Meter {
    /// A meter whose first second starts at `started`.
    pub fn new(started: Instant) -> Meter {
        Meter {
            started,
            next_line: started + METER_PERIOD,
            last_line: started,
            last: Progress::default(),
        }
    }

    /// When the next line is due.
    pub fn next_line(&self) -> Instant {
        self.next_line
    }

    /// The line for the period ending at `now`, if one is due.
    pub fn line(
        &mut self,
        now: Instant,
        tool: &str,
        progress: Progress,
        details: &str,
    ) -> Option<String> {
        if now < self.next_line {
            return None;
        }
        let period = now.duration_since(self.last_line).as_secs_f64();
        let packets = progress.packets.saturating_sub(self.last.packets);
        let drops = progress.drops.saturating_sub(self.last.drops);
        let elapsed = now.duration_since(self.started).as_secs_f64();
        self.last = progress;
        self.last_line = now;
        while self.next_line <= now {
            self.next_line += METER_PERIOD;
        }
        Some(format!(
            "{elapsed:6.1}s {tool}: {packets} pkts {:.3} Mpps, {drops} drops | {details}",
            mpps(packets, period)
        ))
    }
}

/// Millions of packets per second.
pub fn mpps(packets: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        packets as f64 / seconds / 1e6
    } else {
        0.0
    }
}

/// The final summary of a run, with the tool's own counters beside the
/// common figures.
#[derive(Debug, Serialize)]
pub struct Report<'a, T: Serialize> {
    /// `gen`, `sink`, `reflect` or `responder`.
    pub tool: &'static str,
    /// Seconds from the first connection to the end.
    pub seconds: f64,
    /// Times a peer connected.
    pub connections: u64,
    /// The last peer's application name.
    pub peer: Option<String>,
    /// The packets the tool is about (as in [`Progress`]).
    pub packets: u64,
    /// Their rate over `seconds`, in millions per second.
    pub mpps: f64,
    /// The tool's drops (as in [`Progress`]).
    pub drops: u64,
    /// The memif queues' counters.
    pub memif: LinkTotals,
    /// The tool's own counters.
    #[serde(flatten)]
    pub counters: &'a T,
}

impl<T: Serialize> Report<'_, T> {
    /// The summary as one line of text.
    pub fn text(&self, details: &str) -> String {
        let peer = self.peer.as_deref().unwrap_or("no peer");
        let m = &self.memif;
        format!(
            "{}: {} pkts in {:.2} s ({:.3} Mpps), {} drops | {details} | memif rx {} pkts {} B \
             {} drops, tx {} pkts {} B {} drops | {} connection(s), last peer: {peer}",
            self.tool,
            self.packets,
            self.seconds,
            self.mpps,
            self.drops,
            m.rx_packets,
            m.rx_bytes,
            m.rx_drops,
            m.tx_packets,
            m.tx_bytes,
            m.tx_drops,
            self.connections,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_meter_reports_the_last_period_only() {
        let start = Instant::now();
        let mut meter = Meter::new(start);
        let progress = |packets| Progress { packets, drops: 0 };
        assert_eq!(
            meter.line(start + Duration::from_millis(999), "t", progress(5), ""),
            None
        );
        let line = meter
            .line(
                start + Duration::from_secs(1),
                "t",
                progress(2_000_000),
                "x",
            )
            .unwrap();
        assert!(line.contains("2000000 pkts 2.000 Mpps"), "{line}");
        // Half a million more in the next two seconds (a late tick).
        let line = meter
            .line(
                start + Duration::from_secs(3),
                "t",
                progress(2_500_000),
                "x",
            )
            .unwrap();
        assert!(line.contains("500000 pkts 0.250 Mpps"), "{line}");
        assert_eq!(meter.next_line(), start + Duration::from_secs(4));
    }

    #[test]
    fn the_json_summary_puts_the_tools_counters_beside_the_common_ones() {
        #[derive(Serialize)]
        struct Counters {
            lost: u64,
        }
        let report = Report {
            tool: "sink",
            seconds: 2.0,
            connections: 1,
            peer: Some("p".into()),
            packets: 4_000_000,
            mpps: mpps(4_000_000, 2.0),
            drops: 0,
            memif: LinkTotals::default(),
            counters: &Counters { lost: 3 },
        };
        let json: serde_json::Value = serde_json::to_value(&report).unwrap();
        assert_eq!(json["lost"], 3);
        assert_eq!(json["mpps"], 2.0);
        assert_eq!(json["memif"]["rx_drops"], 0);
        assert!(
            report
                .text("lost 3")
                .starts_with("sink: 4000000 pkts in 2.00 s (2.000 Mpps)")
        );
    }
}
