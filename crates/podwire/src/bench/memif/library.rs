//! The app-to-app figures: one-way 64-byte packets per second over one
//! memif connection, counted at the receiver. The sender is the memif
//! server and sends flat out; the receiver is the client. Each end is ours
//! (`podwire memif gen` / `sink`, polling) or testpmd's (`txonly` /
//! `rxonly`), so the same code measures our library, testpmd's, and each
//! against the other.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::cpu;
use super::stats::PortStats;
use super::testpmd::{Forwarding, Role, Testpmd};
use super::tools::Tool;

/// How long a sender may take to create its socket.
const LISTEN_LIMIT: Duration = Duration::from_secs(30);
/// How often the socket is looked for.
const LISTEN_POLL: Duration = Duration::from_millis(5);

/// One end of a connection.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// Our library, through `podwire memif gen` or `sink`.
    Ours,
    /// DPDK's `net_memif`, through testpmd.
    Testpmd,
}

/// Packets one end counted, over how long.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Count {
    /// Packets.
    pub packets: u64,
    /// Seconds.
    pub seconds: f64,
}

impl Count {
    /// Millions of packets per second.
    pub fn mpps(&self) -> f64 {
        if self.seconds > 0.0 {
            self.packets as f64 / self.seconds / 1e6
        } else {
            0.0
        }
    }
}

/// What a one-way run counted.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct OneWay {
    /// What the sender counted as sent (over its own window).
    pub sent: Count,
    /// What the receiver counted: the figure.
    pub received: Count,
}

/// Which way a peer's packets go.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Side {
    /// It sends, and serves the socket.
    Sender,
    /// It receives, and connects.
    Receiver,
}

impl Side {
    /// The packets that count on this side, of those received (`rx`) and
    /// sent (`tx`).
    fn pick(self, rx: u64, tx: u64) -> u64 {
        match self {
            Side::Sender => tx,
            Side::Receiver => rx,
        }
    }
}

/// One end, running.
enum Peer {
    /// `gen` or `sink`, counting until stopped.
    Tool(Tool),
    /// testpmd, whose counters are read around the window.
    Testpmd(Testpmd),
}

/// A testpmd's counters at one moment.
type Reading = Option<(PortStats, Instant)>;

impl Peer {
    /// Starts `end` as `side` on `socket`. A sending testpmd does not send
    /// yet (see [`Peer::go`]).
    fn start(end: End, side: Side, socket: &Path) -> anyhow::Result<Peer> {
        let socket_text = socket
            .to_str()
            .context("the temporary directory is not UTF-8")?;
        let (tool, role, cpu, forwarding) = match side {
            Side::Sender => ("gen", "server", cpu::SENDER, Forwarding::TxOnly),
            Side::Receiver => ("sink", "client", cpu::RECEIVER, Forwarding::RxOnly),
        };
        Ok(match end {
            End::Ours => Peer::Tool(Tool::start(
                tool,
                cpu,
                &["--role", role, "--socket", socket_text, "--polling"],
            )?),
            End::Testpmd => {
                let role = match side {
                    Side::Sender => Role::Server,
                    Side::Receiver => Role::Client,
                };
                let mut testpmd = Testpmd::start(role, socket, cpu, forwarding)?;
                if side == Side::Receiver {
                    testpmd.start_forwarding()?;
                }
                Peer::Testpmd(testpmd)
            }
        })
    }

    /// Waits for the connection and lets a sending testpmd send: started
    /// before its client connected, DPDK 22.11 sends two rings' worth and
    /// then no more. (Our tools move packets as soon as they connect.)
    fn go(&mut self, side: Side) -> anyhow::Result<()> {
        if let Peer::Testpmd(testpmd) = self {
            testpmd.wait_for_link()?;
            if side == Side::Sender {
                testpmd.start_forwarding()?;
            }
        }
        Ok(())
    }

    /// testpmd's counters now; nothing for a tool, which counts until
    /// stopped.
    fn read(&mut self) -> anyhow::Result<Reading> {
        match self {
            Peer::Tool(_) => Ok(None),
            Peer::Testpmd(testpmd) => Ok(Some((testpmd.port_stats()?, Instant::now()))),
        }
    }

    /// What this end counted on its `side`: testpmd between two readings
    /// (its counters vanish when the connection ends), a tool over its
    /// connection until stopped now.
    fn count(self, side: Side, before: Reading, after: Reading) -> anyhow::Result<Count> {
        let packets = |stats: &PortStats| side.pick(stats.rx_packets, stats.tx_packets);
        match (self, before, after) {
            (Peer::Tool(tool), ..) => {
                let summary = tool.stop()?;
                Ok(Count {
                    packets: side.pick(summary.memif.rx_packets, summary.memif.tx_packets),
                    seconds: summary.seconds,
                })
            }
            (Peer::Testpmd(_), Some((then, t0)), Some((now, t1))) => Ok(Count {
                packets: packets(&now).saturating_sub(packets(&then)),
                seconds: t1.duration_since(t0).as_secs_f64(),
            }),
            (Peer::Testpmd(testpmd), ..) => bail!(
                "{} was not read before and after the window (a benchmark bug)",
                testpmd.label()
            ),
        }
    }
}

/// Measures `sender` → `receiver` for `duration`, the socket in `dir`.
pub fn one_way(
    sender: End,
    receiver: End,
    dir: &Path,
    duration: Duration,
) -> anyhow::Result<OneWay> {
    let socket = dir.join(format!("{}-to-{}.sock", name(sender), name(receiver)));
    let mut tx = Peer::start(sender, Side::Sender, &socket)?;
    wait_for_socket(&socket)?;
    let mut rx = Peer::start(receiver, Side::Receiver, &socket)?;
    rx.go(Side::Receiver)?;
    tx.go(Side::Sender)?;
    let (rx_before, tx_before) = (rx.read()?, tx.read()?);
    std::thread::sleep(duration);
    let (rx_after, tx_after) = (rx.read()?, tx.read()?);
    // The receiver is stopped first: a sender stopped first would leave
    // the end of the receiver's window without packets.
    let received = rx.count(Side::Receiver, rx_before, rx_after)?;
    let sent = tx.count(Side::Sender, tx_before, tx_after)?;
    Ok(OneWay { sent, received })
}

/// Waits (bounded) until the sender's socket file exists: a testpmd client
/// connects only once, and a sink would wait a retry period.
fn wait_for_socket(socket: &Path) -> anyhow::Result<()> {
    let deadline = Instant::now() + LISTEN_LIMIT;
    while !socket.exists() {
        if Instant::now() >= deadline {
            bail!(
                "the sender did not create its memif socket {} within {} s",
                socket.display(),
                LISTEN_LIMIT.as_secs()
            );
        }
        std::thread::sleep(LISTEN_POLL);
    }
    Ok(())
}

/// `ours` or `testpmd`, for file names.
fn name(end: End) -> &'static str {
    match end {
        End::Ours => "ours",
        End::Testpmd => "testpmd",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_is_a_rate_and_nothing_over_no_time() {
        let count = Count {
            packets: 30_000_000,
            seconds: 2.0,
        };
        assert_eq!(count.mpps(), 15.0);
        let empty = Count {
            packets: 5,
            seconds: 0.0,
        };
        assert_eq!(empty.mpps(), 0.0);
    }
}
