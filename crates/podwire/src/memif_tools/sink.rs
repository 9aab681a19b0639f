//! `podwire memif sink`: receives and counts, checking the test stream
//! `gen` sends: stamps, checksums, and per flow frames lost, duplicated or
//! out of order.

use std::time::Instant;

use podwire_memif::Interface;
use podwire_memif::queue::DEFAULT_MAX_FRAME;
use serde::Serialize;

use super::check::{CheckCounters, StreamChecker};
use super::driver::{Step, Tool};
use super::options::CommonArgs;
use super::receive::receive_all;
use super::report::Progress;

/// Options of `podwire memif sink`.
#[derive(Debug, Clone, clap::Args)]
pub struct SinkArgs {
    /// The options every tool takes.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// What sink counts.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct SinkCounters {
    /// Packets received, of any kind.
    pub received: u64,
    /// Their bytes.
    pub bytes: u64,
    /// What the check of the test stream found.
    #[serde(flatten)]
    pub check: CheckCounters,
}

/// The sink.
#[derive(Debug)]
pub struct Sink {
    count: Option<u64>,
    checker: StreamChecker,
    scratch: Vec<u8>,
    received: u64,
    bytes: u64,
}

impl Sink {
    /// A sink as `args` ask.
    pub fn new(args: &SinkArgs) -> Sink {
        Sink {
            count: args.common.count,
            checker: StreamChecker::new(args.common.mode.into()),
            scratch: vec![0; DEFAULT_MAX_FRAME],
            received: 0,
            bytes: 0,
        }
    }
}

impl Tool for Sink {
    type Counters = SinkCounters;
    const NAME: &'static str = "sink";

    fn connected(&mut self, _: &mut Interface, _: Instant) -> anyhow::Result<()> {
        Ok(())
    }

    fn step(&mut self, interface: &mut Interface, _: Instant) -> anyhow::Result<Step> {
        let limit = self
            .count
            .map_or(u64::MAX, |count| count.saturating_sub(self.received));
        let (checker, bytes) = (&mut self.checker, &mut self.bytes);
        let got = receive_all(interface, &mut self.scratch, limit, |frame| {
            *bytes += frame.len() as u64;
            checker.inspect(frame);
        })?;
        self.received += got;
        Ok(if got > 0 { Step::Busy } else { Step::Idle })
    }

    fn finished(&self) -> bool {
        self.count.is_some_and(|count| self.received >= count)
    }

    fn progress(&self) -> Progress {
        Progress {
            packets: self.received,
            drops: self.checker.counters().drops(),
        }
    }

    fn details(&self) -> String {
        self.checker.counters().details()
    }

    fn counters(&self) -> SinkCounters {
        SinkCounters {
            received: self.received,
            bytes: self.bytes,
            check: *self.checker.counters(),
        }
    }
}
