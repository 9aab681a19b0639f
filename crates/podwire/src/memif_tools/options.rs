//! The options every `podwire memif` tool shares: which interface on which
//! socket, in which role, with which rings, and how long to run.

use std::time::Duration;

use podwire_memif::InterfaceConfig;
use podwire_memif::shm::SealPolicy;
use podwire_memif::sys::SocketAddr;
use podwire_memif::types::{
    DEFAULT_BUFFER_SIZE, DEFAULT_LOG2_RING_SIZE, MAX_LOG2_RING_SIZE, MAX_RING_INDEX, Mode,
};

/// Where the tools look for a memif socket unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/run/podwire/memif.sock";

/// Options of every tool.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// The memif control socket: a path, or @NAME (or abstract:NAME) for an
    /// abstract socket, e.g. @/run/memif.sock for DPDK's default.
    #[arg(long, default_value = DEFAULT_SOCKET)]
    pub socket: SocketAddr,
    /// Which end to play: `client` (connect, as a pod does to its switch) or
    /// `server` (listen, as a switch does; the peer connects).
    #[arg(long, value_enum, default_value_t = RoleArg::Client)]
    pub role: RoleArg,
    /// The interface id on the socket; both ends must agree.
    #[arg(long, default_value_t = 0)]
    pub id: u32,
    /// The shared secret (1 to 24 bytes); a server with one refuses clients
    /// without it.
    #[arg(long)]
    pub secret: Option<String>,
    /// Queue pairs (1 to 256). A server accepts up to this many, a client
    /// asks for this many; the agreed count may be lower.
    #[arg(long, default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=i64::from(MAX_RING_INDEX) + 1))]
    pub queues: u16,
    /// Ring size as log2 of the slot count, 1 to 14 (client; a server uses
    /// what the client announces).
    #[arg(long, default_value_t = DEFAULT_LOG2_RING_SIZE,
          value_parser = clap::value_parser!(u8).range(1..=i64::from(MAX_LOG2_RING_SIZE)))]
    pub ring_size: u8,
    /// Bytes per packet buffer (client); longer frames are chained.
    #[arg(long, default_value_t = DEFAULT_BUFFER_SIZE,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub buffer_size: u32,
    /// What the frames are: `ethernet` frames or `ip` packets; both ends
    /// must agree (DPDK speaks ethernet only).
    #[arg(long, value_enum, default_value_t = ModeArg::Ethernet)]
    pub mode: ModeArg,
    /// Busy-poll the receive queues instead of sleeping on their eventfds
    /// when idle: lowest latency and highest rate (the peer no longer
    /// signals every burst), but a whole core at 100 % even without
    /// traffic; pin it to a core of its own (taskset). Default: interrupt
    /// mode, which sleeps when idle.
    #[arg(long)]
    pub polling: bool,
    /// Server: accept shared memory that cannot be sealed against shrinking
    /// (DPDK clients with zero-copy=yes need it). Only for trusted peers.
    #[arg(long)]
    pub allow_unsealed: bool,
    /// Stop this many seconds after the peer first connected.
    #[arg(long, value_parser = parse_seconds)]
    pub seconds: Option<Duration>,
    /// Stop after this many packets: sent (gen), received (sink, responder)
    /// or sent back (reflect).
    #[arg(long)]
    pub count: Option<u64>,
    /// Give up if no peer has connected within this many seconds (default:
    /// wait as long as it takes).
    #[arg(long, value_parser = parse_seconds)]
    pub connect_timeout: Option<Duration>,
    /// Print the final summary as one JSON object on stdout (the lines of
    /// every second then go to stderr).
    #[arg(long)]
    pub json: bool,
}

/// `--role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RoleArg {
    /// Listen on the socket.
    Server,
    /// Connect to the socket, and again whenever the server comes back.
    Client,
}

/// `--mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModeArg {
    /// Ethernet frames.
    Ethernet,
    /// IP packets without a link-layer header.
    Ip,
}

impl From<ModeArg> for Mode {
    fn from(mode: ModeArg) -> Mode {
        match mode {
            ModeArg::Ethernet => Mode::Ethernet,
            ModeArg::Ip => Mode::Ip,
        }
    }
}

impl CommonArgs {
    /// The memif interface these options describe.
    pub fn interface_config(&self) -> InterfaceConfig {
        InterfaceConfig {
            mode: self.mode.into(),
            secret: self.secret.clone(),
            rx_queues: self.queues,
            tx_queues: self.queues,
            log2_ring_size: self.ring_size,
            buffer_size: self.buffer_size,
            polling: self.polling,
            seal_policy: if self.allow_unsealed {
                SealPolicy::AllowUnsealed
            } else {
                SealPolicy::RequireShrinkSeal
            },
            ..InterfaceConfig::new(self.id)
        }
    }
}

/// A non-negative number of seconds, fractions allowed.
fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds (e.g. 10 or 0.5)"))?;
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| format!("{text} seconds is out of range: give 0 or more"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_accept_fractions_and_refuse_nonsense() {
        assert_eq!(parse_seconds("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_seconds("-1").unwrap_err().contains("0 or more"));
        assert!(parse_seconds("soon").unwrap_err().contains("not a number"));
    }
}
