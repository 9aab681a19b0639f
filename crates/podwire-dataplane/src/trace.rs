//! Packet trace: the path of the next N received packets through the graph,
//! node by node, with what each node decided.
//!
//! `podwire ctl trace add N` arms it; the receive path marks packets while
//! it is armed; the graph records every hop of a marked packet and the nodes
//! add what they decided (`cx.note(..)`).

use crate::buffer::PacketMeta;
use crate::clock::Instant;
use crate::interface::IfIndex;

/// At most this many packets are kept, however many are asked for.
pub const MAX_TRACED_PACKETS: u32 = 1000;

/// One node's part in a traced packet's path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceStep {
    /// The node.
    pub node: &'static str,
    /// What the node saw and decided; empty when it said nothing.
    pub detail: String,
    /// Where it sent the packet: a next node, or `drop: reason`.
    pub next: String,
}

/// The path of one packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TracedPacket {
    /// The packet's number in this trace.
    pub id: u32,
    /// Where it came in.
    pub rx_if: IfIndex,
    /// When it came in.
    pub received: Instant,
    /// Node by node.
    pub steps: Vec<TraceStep>,
}

/// The trace of one worker.
#[derive(Debug, Default)]
pub struct Trace {
    remaining: u32,
    packets: Vec<TracedPacket>,
    current_node: &'static str,
}

impl Trace {
    /// Traces the next `count` packets received (added to any still armed).
    pub fn arm(&mut self, count: u32) {
        let room = MAX_TRACED_PACKETS.saturating_sub(self.packets.len() as u32);
        self.remaining = self.remaining.saturating_add(count).min(room);
    }

    /// Forgets the packets traced so far and disarms.
    pub fn clear(&mut self) {
        self.remaining = 0;
        self.packets.clear();
    }

    /// Whether the next packet received would be traced, or any is.
    #[inline]
    pub fn is_active(&self) -> bool {
        self.remaining > 0 || !self.packets.is_empty()
    }

    /// The packets traced so far.
    pub fn packets(&self) -> &[TracedPacket] {
        &self.packets
    }

    /// Marks a received packet for tracing if the trace is armed.
    #[inline]
    pub fn on_receive(&mut self, meta: &mut PacketMeta, now: Instant) {
        if self.remaining == 0 {
            return;
        }
        self.remaining -= 1;
        let id = self.packets.len() as u32;
        self.packets.push(TracedPacket {
            id,
            rx_if: meta.rx_if,
            received: now,
            steps: Vec::new(),
        });
        meta.trace = Some(id);
    }

    /// Adds what the current node decided about traced packet `id`.
    pub fn note(&mut self, id: u32, detail: impl Into<String>) {
        let node = self.current_node;
        let Some(step) = self.open_step(id, node) else {
            return;
        };
        if !step.detail.is_empty() {
            step.detail.push_str("; ");
        }
        step.detail.push_str(&detail.into());
    }

    /// Records where the current node sent traced packet `id`.
    pub(crate) fn hop(&mut self, id: u32, next: &str) {
        let node = self.current_node;
        if let Some(step) = self.open_step(id, node) {
            step.next = next.to_string();
        }
    }

    pub(crate) fn enter(&mut self, node: &'static str) {
        self.current_node = node;
    }

    /// The step of `node` for packet `id` that has no next yet, made if
    /// there is none.
    fn open_step(&mut self, id: u32, node: &'static str) -> Option<&mut TraceStep> {
        let packet = self.packets.get_mut(id as usize)?;
        let open = packet
            .steps
            .last()
            .is_some_and(|s| s.node == node && s.next.is_empty());
        if !open {
            packet.steps.push(TraceStep {
                node,
                detail: String::new(),
                next: String::new(),
            });
        }
        packet.steps.last_mut()
    }
}
