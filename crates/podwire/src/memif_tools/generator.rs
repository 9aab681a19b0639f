//! `podwire memif gen`: sends the test stream (UDP-in-IPv4 frames stamped
//! with flow and sequence number) at a rate or as fast as the peer takes
//! it, and checks whatever comes back (from a reflector or an echo).

use std::time::Instant;

use podwire_memif::Interface;
use podwire_memif::queue::DEFAULT_MAX_FRAME;
use podwire_wire::{EthernetAddress, Ipv4Addr};
use serde::Serialize;

use super::batch::Batch;
use super::check::{CheckCounters, MAX_FLOWS, StreamChecker};
use super::driver::{Step, Tool};
use super::options::CommonArgs;
use super::rate::TokenBucket;
use super::receive::receive_all;
use super::report::Progress;
use super::stream::{Stamp, StreamSpec, Template};

/// Options of `podwire memif gen`.
#[derive(Debug, Clone, clap::Args)]
pub struct GenArgs {
    /// The options every tool takes.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Bytes per frame, Ethernet header included (the IP packet's bytes in
    /// ip mode); at least 58 (44 in ip mode), at most 9216.
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Ethernet source address.
    #[arg(long, default_value = "02:00:00:00:00:01")]
    pub src_mac: EthernetAddress,
    /// Ethernet destination address (`podwire memif responder`'s default).
    #[arg(long, default_value = "02:00:00:00:00:02")]
    pub dst_mac: EthernetAddress,
    /// IPv4 source address.
    #[arg(long, default_value = "10.0.0.1")]
    pub src_ip: Ipv4Addr,
    /// IPv4 destination address.
    #[arg(long, default_value = "10.0.0.2")]
    pub dst_ip: Ipv4Addr,
    /// UDP source port of flow 0; flow F uses this port + F.
    #[arg(long, default_value_t = 1024)]
    pub src_port: u16,
    /// UDP destination port (9, discard; 7 reaches a responder's echo).
    #[arg(long, default_value_t = 9)]
    pub dst_port: u16,
    /// Flows, 1 to 65536, told apart by source port and each numbered on
    /// its own. Flow F goes out on queue F modulo the queue count, so
    /// queues beyond the flow count stay idle.
    #[arg(long, default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=MAX_FLOWS as i64))]
    pub flows: u32,
    /// Frames per second over all queues; default: as fast as the peer
    /// takes them.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub rate: Option<u64>,
    /// Frames handed to a queue at once, 1 to 256.
    #[arg(long, default_value_t = 32,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub burst: u16,
    /// The peer sends the frames back (a reflector, or a responder's UDP
    /// echo): check them, and with --count, wait until all came back.
    #[arg(long)]
    pub expect_echo: bool,
}

/// What gen counts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GenCounters {
    /// Frames the rings took.
    pub sent: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Times a transmit ring was full with frames waiting: back-pressure
    /// from a peer that reads slower than gen writes.
    pub ring_full: u64,
    /// The rate asked for, frames per second (`None`: flat out).
    pub rate: Option<u64>,
    /// What came back, checked as `sink` checks.
    pub echo: CheckCounters,
}

/// Frames staged for one transmit queue, with the flow of each.
#[derive(Debug, Default)]
struct Staged {
    batch: Batch,
    flows: Vec<u32>,
    /// The next of this queue's flows to stage a frame of (an index among
    /// them: queue + index × queues).
    cursor: u32,
}

/// The generator.
#[derive(Debug)]
pub struct Gen {
    template: Template,
    flows: u32,
    burst: usize,
    count: Option<u64>,
    expect_echo: bool,
    bucket: Option<TokenBucket>,
    /// The next sequence number of each flow.
    next_seq: Vec<u64>,
    /// Frames staged, sent or waiting (a frame is staged once, then sent).
    staged_total: u64,
    queues: Vec<Staged>,
    checker: StreamChecker,
    scratch: Vec<u8>,
    counters: GenCounters,
}

impl Gen {
    /// A generator as `args` ask.
    pub fn new(args: &GenArgs) -> anyhow::Result<Gen> {
        let spec = StreamSpec {
            mode: args.common.mode.into(),
            src_mac: args.src_mac,
            dst_mac: args.dst_mac,
            src_ip: args.src_ip,
            dst_ip: args.dst_ip,
            src_port: args.src_port,
            dst_port: args.dst_port,
            size: args.size,
        };
        let burst = usize::from(args.burst);
        Ok(Gen {
            template: Template::new(&spec)?,
            flows: args.flows,
            burst,
            count: args.common.count,
            expect_echo: args.expect_echo,
            bucket: args
                .rate
                .map(|rate| TokenBucket::new(rate, burst, Instant::now())),
            next_seq: vec![0; args.flows as usize],
            staged_total: 0,
            queues: Vec::new(),
            checker: StreamChecker::new(spec.mode),
            scratch: vec![0; DEFAULT_MAX_FRAME],
            counters: GenCounters {
                rate: args.rate,
                ..GenCounters::default()
            },
        })
    }

    /// Stages up to `n` frames for queue `queue` of `queues`, whose batch
    /// is empty, taking the queue's flows in turn; returns how many.
    fn stage(&mut self, queue: usize, queues: usize, n: u64) -> u64 {
        let Some(staged) = self.queues.get_mut(queue) else {
            return 0;
        };
        staged.flows.clear();
        // This queue's flows: queue, queue + queues, ... below `flows`.
        let own_flows = (self.flows as usize)
            .saturating_sub(queue)
            .div_ceil(queues.max(1));
        if own_flows == 0 {
            return 0;
        }
        let mut staged_now = 0;
        while staged_now < n {
            let flow = queue + staged.cursor as usize * queues;
            let Some(seq) = self.next_seq.get_mut(flow) else {
                break;
            };
            // Fewer than 65536 flows.
            staged.cursor = (staged.cursor + 1) % own_flows as u32;
            let stamp = Stamp {
                flow: flow as u32,
                seq: *seq,
            };
            let template = &self.template;
            staged
                .batch
                .push_with(template.len(), |buf| template.write(stamp, buf));
            staged.flows.push(stamp.flow);
            *seq += 1;
            staged_now += 1;
        }
        self.staged_total += staged_now;
        staged_now
    }

    /// Frames that may be staged now: within the count, the burst and the
    /// rate.
    fn allowance(&self) -> u64 {
        let left = self
            .count
            .map_or(u64::MAX, |count| count.saturating_sub(self.staged_total));
        let tokens = self
            .bucket
            .as_ref()
            .map_or(u64::MAX, TokenBucket::available);
        left.min(tokens).min(self.burst as u64)
    }

    /// Takes back the frames staged for a connection that ended before
    /// they went out: their sequence numbers are used again, so the peer
    /// sees no gap that gen did not cause.
    fn unstage_all(&mut self) {
        for staged in &mut self.queues {
            let unsent = staged.batch.pending();
            let first_unsent = staged.flows.len().saturating_sub(unsent);
            for &flow in staged.flows.get(first_unsent..).unwrap_or_default() {
                if let Some(seq) = self.next_seq.get_mut(flow as usize) {
                    *seq = seq.saturating_sub(1);
                }
                self.staged_total = self.staged_total.saturating_sub(1);
            }
            staged.batch.clear();
            staged.flows.clear();
        }
    }
}

impl Tool for Gen {
    type Counters = GenCounters;
    const NAME: &'static str = "gen";

    fn connected(&mut self, interface: &mut Interface, now: Instant) -> anyhow::Result<()> {
        self.unstage_all();
        self.queues = (0..interface.tx_queues())
            .map(|_| Staged::default())
            .collect();
        if let Some(bucket) = &mut self.bucket {
            bucket.restart(now);
        }
        Ok(())
    }

    fn step(&mut self, interface: &mut Interface, now: Instant) -> anyhow::Result<Step> {
        let checker = &mut self.checker;
        let received = receive_all(interface, &mut self.scratch, u64::MAX, |frame| {
            checker.inspect(frame);
        })?;
        let mut moved = received > 0;
        let mut blocked = false;
        if let Some(bucket) = &mut self.bucket {
            bucket.refill(now);
        }
        let queues = self.queues.len();
        for queue in 0..queues {
            if self
                .queues
                .get(queue)
                .is_some_and(|staged| staged.batch.is_empty())
            {
                let allowed = self.allowance();
                let staged = self.stage(queue, queues, allowed);
                if let Some(bucket) = &mut self.bucket {
                    bucket.take(staged);
                }
            }
            let Some(staged) = self.queues.get_mut(queue) else {
                continue;
            };
            if staged.batch.is_empty() {
                continue;
            }
            // At most 256 queues.
            let sent = staged.batch.send(interface, queue as u16)? as u64;
            self.counters.sent += sent;
            self.counters.bytes += sent * self.template.len() as u64;
            moved |= sent > 0;
            if !staged.batch.is_empty() {
                self.counters.ring_full += 1;
                blocked = true;
            }
        }
        Ok(Step::of(moved, blocked))
    }

    fn finished(&self) -> bool {
        self.count.is_some_and(|count| {
            self.counters.sent >= count
                && (!self.expect_echo || self.checker.counters().valid >= count)
        })
    }

    fn wake_at(&self) -> Option<Instant> {
        let all_sent = self.count.is_some_and(|count| self.staged_total >= count);
        match &self.bucket {
            Some(bucket) if !all_sent => Some(bucket.ready_at(self.burst)),
            _ => None,
        }
    }

    fn progress(&self) -> Progress {
        Progress {
            packets: self.counters.sent,
            drops: if self.expect_echo {
                self.checker.counters().drops()
            } else {
                0
            },
        }
    }

    fn details(&self) -> String {
        format!(
            "ring full {} | echo: {}",
            self.counters.ring_full,
            self.checker.counters().details()
        )
    }

    fn counters(&self) -> GenCounters {
        GenCounters {
            echo: *self.checker.counters(),
            ..self.counters.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use podwire_memif::types::Mode;

    use super::*;
    use crate::memif_tools::stream::read_stamp;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: GenArgs,
    }

    fn generator(args: &[&str]) -> Gen {
        let cli = Cli::try_parse_from(["gen"].iter().chain(args)).unwrap();
        Gen::new(&cli.args).unwrap()
    }

    /// The stamps staged for `queue`, as (flow, seq).
    fn staged(generator: &mut Gen, queue: usize) -> Vec<(u32, u64)> {
        let mut stamps = Vec::new();
        generator.queues[queue].batch.for_each_pending(|frame| {
            let stamp = read_stamp(Mode::Ethernet, frame).unwrap();
            stamps.push((stamp.flow, stamp.seq));
        });
        stamps
    }

    #[test]
    fn each_flow_keeps_to_one_queue_with_its_own_numbers() {
        let mut generator = generator(&["--flows", "3", "--count", "7"]);
        generator.queues = (0..2).map(|_| Staged::default()).collect();
        assert_eq!(generator.stage(0, 2, 5), 5);
        assert_eq!(
            staged(&mut generator, 0),
            [(0, 0), (2, 0), (0, 1), (2, 1), (0, 2)]
        );
        assert_eq!(generator.allowance(), 2);
        assert_eq!(generator.stage(1, 2, generator.allowance()), 2);
        assert_eq!(staged(&mut generator, 1), [(1, 0), (1, 1)]);
        assert_eq!(generator.allowance(), 0);
    }

    #[test]
    fn frames_left_unsent_by_a_lost_connection_are_numbered_again() {
        let mut generator = generator(&["--flows", "2", "--count", "10"]);
        generator.queues = vec![Staged::default()];
        generator.stage(0, 1, 4);
        generator.unstage_all();
        assert_eq!(generator.next_seq, [0, 0]);
        assert_eq!(generator.allowance(), 10);
        generator.stage(0, 1, 2);
        assert_eq!(staged(&mut generator, 0), [(0, 0), (1, 0)]);
    }

    #[test]
    fn queues_beyond_the_flows_stay_idle() {
        let mut generator = generator(&["--flows", "1"]);
        generator.queues = (0..2).map(|_| Staged::default()).collect();
        assert_eq!(generator.stage(1, 2, 32), 0);
        assert!(generator.queues[1].batch.is_empty());
    }

    #[test]
    fn a_rate_limits_what_may_be_staged() {
        let generator = generator(&["--rate", "1000"]);
        assert_eq!(generator.allowance(), 0);
        assert!(generator.wake_at().is_some());
    }
}
