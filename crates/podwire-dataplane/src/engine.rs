//! One worker's data plane, without I/O: its buffers, its graph and its own
//! tables. The I/O layer receives into the pool, calls [`Engine::receive`]
//! and [`Engine::run`], then sends what the output queues hold.
//! Tests and benchmarks drive it the same way, in memory.

use crate::buffer::{BufferIndex, BufferPool};
use crate::clock::Instant;
use crate::graph::{Context, Graph, GraphError, NodeIndex};
use crate::interface::IfIndex;
use crate::nodes;
use crate::state::WorkerState;
use crate::tables::Tables;
use crate::trace::Trace;
use crate::tx::TxQueues;

/// The node every received Ethernet frame enters the graph at.
pub const INPUT_NODE: &str = "ethernet-input";

/// A worker's data plane.
pub struct Engine {
    /// The worker's buffers.
    pub pool: BufferPool,
    /// The worker's graph.
    pub graph: Graph,
    /// The worker's own tables.
    pub state: WorkerState,
    /// The packet trace.
    pub trace: Trace,
    /// Packets waiting for their device.
    pub tx: TxQueues,
    input: NodeIndex,
}

impl Engine {
    /// An engine with `buffers` buffers and the standard graph. `ticks`
    /// times the nodes (see [`Graph::new`]).
    pub fn new(buffers: u32, ticks: Option<fn() -> u64>) -> Result<Self, GraphError> {
        let graph = Graph::new(nodes::standard_nodes(), ticks)?;
        let input = graph.node(INPUT_NODE).ok_or(GraphError::UnknownNext {
            node: "engine",
            next: INPUT_NODE,
        })?;
        Ok(Engine {
            pool: BufferPool::new(buffers),
            graph,
            state: WorkerState::default(),
            trace: Trace::default(),
            tx: TxQueues::default(),
            input,
        })
    }

    /// Sizes the worker's session table and sets its timeouts; the sessions it held are
    /// forgotten (call it before traffic flows).
    pub fn set_session_config(&mut self, config: crate::nat::session::SessionConfig) {
        self.state.sessions = crate::nat::session::SessionTable::new(config);
    }

    /// Hands frames received on `rx_if` to the graph; they are processed
    /// by the next [`Engine::run`].
    pub fn receive(&mut self, rx_if: IfIndex, frames: &[BufferIndex], now: Instant) {
        for &bi in frames {
            let meta = self.pool.meta_mut(bi);
            meta.rx_if = rx_if;
            self.trace.on_receive(meta, now);
        }
        self.graph.enqueue(self.input, frames);
    }

    /// Runs the graph until every received packet is queued for output or
    /// dropped.
    pub fn run(&mut self, tables: &Tables, now: Instant) {
        let mut cx = Context {
            pool: &mut self.pool,
            tables,
            state: &mut self.state,
            now,
            trace: &mut self.trace,
            tx: &mut self.tx,
        };
        self.graph.run(&mut cx);
    }
}
