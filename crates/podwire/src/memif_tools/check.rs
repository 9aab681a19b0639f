//! Checking a received test stream: each frame's stamp, and per flow the
//! sequence numbers, for frames lost, duplicated or out of order.

use podwire_memif::types::Mode;
use serde::Serialize;

use super::stream::{Rejection, Stamp, read_stamp};

/// Flows tracked at most: as many as there are source ports. Frames of
/// flows beyond are counted, not tracked (a peer cannot make us allocate
/// without bound).
pub const MAX_FLOWS: usize = 1 << 16;

/// Sequence numbers remembered below the highest one seen, per flow: a frame
/// this late is still told apart as reordered or duplicated.
pub const WINDOW: u64 = 1024;

/// What the check found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CheckCounters {
    /// Frames of the stream with good checksums (duplicates included).
    pub valid: u64,
    /// Frames that are not of the stream (not UDP in IPv4, no magic).
    pub foreign: u64,
    /// Frames of the stream whose IPv4 or UDP checksum is wrong.
    pub bad_checksum: u64,
    /// Sequence numbers skipped and not (yet) received late. Frames after
    /// the last one received are not known to be missing.
    pub lost: u64,
    /// Frames received a second time.
    pub duplicates: u64,
    /// Frames received after a later one of their flow.
    pub reordered: u64,
    /// Frames more than [`WINDOW`] behind their flow: late or duplicated,
    /// too old to tell.
    pub stale: u64,
    /// Frames whose flow number is beyond [`MAX_FLOWS`].
    pub untracked: u64,
    /// Flows seen.
    pub flows: u64,
}

impl CheckCounters {
    /// Frames lost or damaged, as the check sees them.
    pub fn drops(&self) -> u64 {
        self.lost + self.bad_checksum
    }

    /// The check's figures in a few words, for the lines of text.
    pub fn details(&self) -> String {
        format!(
            "valid {} lost {} dup {} reordered {} stale {} bad-checksum {} foreign {} flows {}",
            self.valid,
            self.lost,
            self.duplicates,
            self.reordered,
            self.stale,
            self.bad_checksum,
            self.foreign,
            self.flows
        )
    }
}

/// Checks frames of the test stream as they arrive.
#[derive(Debug)]
pub struct StreamChecker {
    mode: Mode,
    flows: Vec<Option<FlowWindow>>,
    counters: CheckCounters,
}

impl StreamChecker {
    /// A checker of frames of `mode`.
    pub fn new(mode: Mode) -> StreamChecker {
        StreamChecker {
            mode,
            flows: Vec::new(),
            counters: CheckCounters::default(),
        }
    }

    /// Checks one received frame.
    pub fn inspect(&mut self, frame: &[u8]) {
        match read_stamp(self.mode, frame) {
            Ok(stamp) => self.record(stamp),
            Err(Rejection::Foreign) => self.counters.foreign += 1,
            Err(Rejection::BadChecksum) => self.counters.bad_checksum += 1,
        }
    }

    /// What was found so far.
    pub fn counters(&self) -> &CheckCounters {
        &self.counters
    }

    /// Accounts for a good frame of the stream.
    fn record(&mut self, stamp: Stamp) {
        let counters = &mut self.counters;
        counters.valid += 1;
        let index = stamp.flow as usize;
        if index >= MAX_FLOWS {
            counters.untracked += 1;
            return;
        }
        if self.flows.len() <= index {
            self.flows.resize(index + 1, None);
        }
        let Some(slot) = self.flows.get_mut(index) else {
            return;
        };
        let window = slot.get_or_insert_with(|| {
            counters.flows += 1;
            FlowWindow::default()
        });
        match window.arrive(stamp.seq) {
            Arrival::InOrder => {}
            Arrival::Skipped(gap) => counters.lost = counters.lost.saturating_add(gap),
            Arrival::Late => {
                counters.reordered += 1;
                counters.lost = counters.lost.saturating_sub(1);
            }
            Arrival::Duplicate => counters.duplicates += 1,
            Arrival::Stale => counters.stale += 1,
        }
    }
}

/// What a sequence number meant for its flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arrival {
    /// The next one expected.
    InOrder,
    /// Ahead of the next expected: this many before it are missing.
    Skipped(u64),
    /// One of the missing ones, arriving late.
    Late,
    /// Seen already.
    Duplicate,
    /// Too far behind to tell.
    Stale,
}

/// One flow: the next sequence number expected, and which of the [`WINDOW`]
/// numbers below it arrived.
#[derive(Debug, Clone, Default)]
struct FlowWindow {
    next: u64,
    /// Bit `seq % WINDOW`: whether `seq` arrived, for `seq` in
    /// `next - WINDOW .. next`.
    seen: [u64; (WINDOW / 64) as usize],
}

impl FlowWindow {
    fn arrive(&mut self, seq: u64) -> Arrival {
        if seq >= self.next {
            let gap = seq - self.next;
            if gap >= WINDOW {
                self.seen = Default::default();
            } else {
                for skipped in self.next..seq {
                    self.set(skipped, false);
                }
            }
            self.set(seq, true);
            self.next = seq.saturating_add(1);
            return if gap == 0 {
                Arrival::InOrder
            } else {
                Arrival::Skipped(gap)
            };
        }
        if self.next - seq > WINDOW {
            Arrival::Stale
        } else if self.get(seq) {
            Arrival::Duplicate
        } else {
            self.set(seq, true);
            Arrival::Late
        }
    }

    fn get(&self, seq: u64) -> bool {
        let (word, bit) = Self::position(seq);
        self.seen.get(word).is_some_and(|w| w & bit != 0)
    }

    fn set(&mut self, seq: u64, seen: bool) {
        let (word, bit) = Self::position(seq);
        if let Some(w) = self.seen.get_mut(word) {
            if seen {
                *w |= bit;
            } else {
                *w &= !bit;
            }
        }
    }

    fn position(seq: u64) -> (usize, u64) {
        let slot = seq % WINDOW;
        ((slot / 64) as usize, 1 << (slot % 64))
    }
}

#[cfg(test)]
mod tests;
