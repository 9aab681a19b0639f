//! The node graph and its dispatcher.
//!
//! Packets move through the graph in vectors: a node is handed up to
//! [`VECTOR_SIZE`] packets at once and sorts each to one of its next nodes (or
//! drops it, with a reason). Only when it has processed the whole vector does
//! the next node run, so each node's code and tables stay in cache for the
//! whole vector. Nodes are kept in the order they were added, which is the
//! pipeline order; the dispatcher always runs the first node with pending
//! packets, so a vector flows down the pipeline before anything new starts.

use hashbrown::HashMap;

use crate::buffer::{BufferIndex, BufferPool};
use crate::clock::Instant;
use crate::counters::{DropReason, NodeCounters};
use crate::state::WorkerState;
use crate::tables::Tables;
use crate::trace::Trace;
use crate::tx::TxQueues;

/// The most packets a node is handed at once.
pub const VECTOR_SIZE: usize = 256;

/// A node of the graph, by position.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub struct NodeIndex(u16);

/// What a node works with besides its packets: everything of the worker.
pub struct Context<'a> {
    /// The worker's buffers.
    pub pool: &'a mut BufferPool,
    /// The tables the control plane published, as of this vector.
    pub tables: &'a Tables,
    /// The worker's own tables (neighbors learned, MACs learned, limits).
    pub state: &'a mut WorkerState,
    /// Now.
    pub now: Instant,
    /// The packet trace.
    pub trace: &'a mut Trace,
    /// Packets waiting to be sent, per interface.
    pub tx: &'a mut TxQueues,
}

impl Context<'_> {
    /// Adds to the trace of `bi` what the current node decided, if the
    /// packet is traced. The text is only built for traced packets.
    #[inline]
    pub fn note(&mut self, bi: BufferIndex, detail: impl FnOnce() -> String) {
        if let Some(id) = self.pool.meta(bi).trace {
            self.trace.note(id, detail());
        }
    }
}

/// A step of the pipeline.
pub trait Node: Send {
    /// The node's name, unique in the graph (`ip4-lookup`).
    fn name(&self) -> &'static str;
    /// Names of the nodes this node sends packets to; `Dispatch::send`
    /// takes a position in this list.
    fn next_nodes(&self) -> &'static [&'static str];
    /// Why this node drops packets; `Dispatch::drop` takes a position in
    /// this list.
    fn drop_reasons(&self) -> &'static [DropReason];
    /// Processes a vector of packets, sorting each to `out`.
    ///
    /// Every packet handed in must be sent or dropped exactly once.
    fn process(&mut self, cx: &mut Context<'_>, packets: &[BufferIndex], out: &mut Dispatch);
}

/// Where a node sends the packets of a vector.
#[derive(Default)]
pub struct Dispatch {
    per_next: Vec<Vec<BufferIndex>>,
    drops: Vec<(BufferIndex, u16)>,
    /// Reasons of packets lost without a buffer (see `count_lost`).
    lost: Vec<u16>,
}

impl Dispatch {
    /// Sends a packet to next node `next` (a position in the node's
    /// `next_nodes`).
    #[inline]
    pub fn send(&mut self, next: impl Into<usize>, bi: BufferIndex) {
        let next = next.into();
        // A node naming a next it did not declare is a bug in the node;
        // the graph checks it and drops the packet rather than panic.
        match self.per_next.get_mut(next) {
            Some(frame) => frame.push(bi),
            None => self.drops.push((bi, u16::MAX)),
        }
    }

    /// Drops a packet for `reason` (a position in the node's `drop_reasons`).
    #[inline]
    pub fn drop(&mut self, bi: BufferIndex, reason: impl Into<u16>) {
        self.drops.push((bi, reason.into()));
    }

    /// Counts a packet lost for `reason` that has no buffer to free: a
    /// copy the node could not make (the pool ran out while flooding).
    #[inline]
    pub fn count_lost(&mut self, reason: impl Into<u16>) {
        self.lost.push(reason.into());
    }
}

/// Why a graph could not be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GraphError {
    /// Two nodes share a name.
    #[error("two nodes are named {0:?}: node names must be unique")]
    DuplicateNode(&'static str),
    /// A node names a next node that is not in the graph.
    #[error("node {node:?} sends to {next:?}, which is not in the graph: add it")]
    UnknownNext {
        /// The node.
        node: &'static str,
        /// The next it names.
        next: &'static str,
    },
}

struct Slot {
    node: Box<dyn Node>,
    nexts: Vec<NodeIndex>,
    pending: Vec<BufferIndex>,
    counters: NodeCounters,
    drops: Vec<u64>,
    /// Packets handed to a next the node did not declare (a node bug).
    misrouted: u64,
}

/// The nodes of one worker, wired.
pub struct Graph {
    slots: Vec<Slot>,
    by_name: HashMap<&'static str, NodeIndex>,
    dispatch: Dispatch,
    scratch: Vec<BufferIndex>,
    ticks: fn() -> u64,
}

/// One node's counters, for `show runtime`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRuntime {
    /// The node.
    pub name: &'static str,
    /// Its counters.
    pub counters: NodeCounters,
}

/// One drop counter, for `show errors`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DropCount {
    /// The node that dropped.
    pub node: &'static str,
    /// Why.
    pub reason: DropReason,
    /// How many.
    pub count: u64,
}

const MISROUTED: DropReason = DropReason {
    name: "misrouted",
    description: "a node sent a packet to a next node it does not declare (a podwire bug)",
};

fn no_ticks() -> u64 {
    0
}

impl Graph {
    /// Wires `nodes`, in pipeline order. `ticks` is read before and after
    /// each node runs to count the time spent in it (nanoseconds of a
    /// monotonic clock); `None` counts no time (tests).
    pub fn new(nodes: Vec<Box<dyn Node>>, ticks: Option<fn() -> u64>) -> Result<Self, GraphError> {
        let mut by_name = HashMap::new();
        for (i, node) in nodes.iter().enumerate() {
            if by_name.insert(node.name(), NodeIndex(i as u16)).is_some() {
                return Err(GraphError::DuplicateNode(node.name()));
            }
        }
        let mut slots = Vec::with_capacity(nodes.len());
        let mut max_nexts = 0;
        for node in nodes {
            let nexts = node
                .next_nodes()
                .iter()
                .map(|next| {
                    by_name.get(next).copied().ok_or(GraphError::UnknownNext {
                        node: node.name(),
                        next,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            max_nexts = max_nexts.max(nexts.len());
            let drops = vec![0; node.drop_reasons().len()];
            slots.push(Slot {
                node,
                nexts,
                pending: Vec::with_capacity(VECTOR_SIZE),
                counters: NodeCounters::default(),
                drops,
                misrouted: 0,
            });
        }
        Ok(Graph {
            slots,
            by_name,
            dispatch: Dispatch {
                per_next: (0..max_nexts)
                    .map(|_| Vec::with_capacity(VECTOR_SIZE))
                    .collect(),
                drops: Vec::with_capacity(VECTOR_SIZE),
                lost: Vec::with_capacity(VECTOR_SIZE),
            },
            scratch: Vec::with_capacity(VECTOR_SIZE),
            ticks: ticks.unwrap_or(no_ticks),
        })
    }

    /// The node named `name`.
    pub fn node(&self, name: &str) -> Option<NodeIndex> {
        self.by_name.get(name).copied()
    }

    /// Queues packets for a node; they are processed by the next `run`.
    pub fn enqueue(&mut self, node: NodeIndex, packets: &[BufferIndex]) {
        self.slots[node.0 as usize]
            .pending
            .extend_from_slice(packets);
    }

    /// Runs the graph until no node has packets pending.
    pub fn run(&mut self, cx: &mut Context<'_>) {
        while let Some(i) = self.slots.iter().position(|s| !s.pending.is_empty()) {
            std::mem::swap(&mut self.scratch, &mut self.slots[i].pending);
            let mut frame = std::mem::take(&mut self.scratch);
            for vector in frame.chunks(VECTOR_SIZE) {
                self.run_node(i, cx, vector);
            }
            frame.clear();
            self.scratch = frame;
        }
    }

    fn run_node(&mut self, i: usize, cx: &mut Context<'_>, vector: &[BufferIndex]) {
        let tracing = cx.trace.is_active();
        let slot = &mut self.slots[i];
        if tracing {
            cx.trace.enter(slot.node.name());
        }
        let start = (self.ticks)();
        slot.node.process(cx, vector, &mut self.dispatch);
        let end = (self.ticks)();
        let c = &mut slot.counters;
        c.calls += 1;
        c.vectors += 1;
        c.packets += vector.len() as u64;
        c.nanos += end.saturating_sub(start);

        for reason in self.dispatch.lost.drain(..) {
            match slot.drops.get_mut(reason as usize) {
                Some(count) => *count += 1,
                None => slot.misrouted += 1,
            }
        }
        for (bi, reason) in self.dispatch.drops.drain(..) {
            let described = match slot.drops.get_mut(reason as usize) {
                Some(count) => {
                    *count += 1;
                    slot.node.drop_reasons()[reason as usize]
                }
                None => {
                    slot.misrouted += 1;
                    MISROUTED
                }
            };
            if tracing && let Some(id) = cx.pool.meta(bi).trace {
                cx.trace.hop(id, &format!("drop: {}", described.name));
            }
            cx.pool.free(bi);
        }
        for (n, frame) in self.dispatch.per_next.iter_mut().enumerate() {
            if frame.is_empty() {
                continue;
            }
            let target = self.slots[i].nexts[n].0 as usize;
            if tracing {
                let next_name = self.slots[target].node.name();
                for &bi in frame.iter() {
                    if let Some(id) = cx.pool.meta(bi).trace {
                        cx.trace.hop(id, next_name);
                    }
                }
            }
            self.slots[target].pending.append(frame);
        }
    }

    /// Every node's counters, in pipeline order.
    pub fn runtime(&self) -> Vec<NodeRuntime> {
        self.slots
            .iter()
            .map(|s| NodeRuntime {
                name: s.node.name(),
                counters: s.counters,
            })
            .collect()
    }

    /// Every drop counter that is not zero.
    pub fn drop_counts(&self) -> Vec<DropCount> {
        let mut out = Vec::new();
        for s in &self.slots {
            for (reason, &count) in s.node.drop_reasons().iter().zip(&s.drops) {
                if count > 0 {
                    out.push(DropCount {
                        node: s.node.name(),
                        reason: *reason,
                        count,
                    });
                }
            }
            if s.misrouted > 0 {
                out.push(DropCount {
                    node: s.node.name(),
                    reason: MISROUTED,
                    count: s.misrouted,
                });
            }
        }
        out
    }

    /// The count of one drop reason of one node (tests and benchmarks).
    pub fn drop_count(&self, node: &str, reason: &str) -> u64 {
        self.drop_counts()
            .iter()
            .find(|d| d.node == node && d.reason.name == reason)
            .map_or(0, |d| d.count)
    }
}
