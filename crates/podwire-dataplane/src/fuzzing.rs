//! Fuzzing the graph with what the network sends.
//!
//! [`run_frames`] reads its input as a sequence of frames, each received on
//! one interface of a fixed switch ([`network`]: a routed uplink, two pod
//! interfaces, a bridge domain, a cross-connect), and drives an [`Engine`]
//! with them as a worker would: into the pool, through the graph, out of
//! the output queues, with a clock that only moves forward. After every
//! run it checks what must hold whatever the frames were:
//!
//! - every buffer is accounted for, free or queued for output: a node that
//!   forgets a packet leaks its buffer, one that sends or drops a packet
//!   twice frees it twice;
//! - no node sent a packet to a next node it does not declare (the graph
//!   counts those as `misrouted` drops);
//! - every frame queued on a routed interface is one that interface may
//!   send: from its own MAC, IPv4, IPv6 or ARP, within its MTU.
//!
//! That the graph does not panic is checked by running it at all: the fuzz
//! target (`fuzz/fuzz_targets/input_nodes.rs`) and this crate's tests call
//! [`run_frames`], which panics on a broken invariant too.
//!
//! [`tunnel`] drives the same worker, with the same checks, over a switch that
//! ends VXLAN tunnels, with datagrams to them (`fuzz/fuzz_targets/vxlan_decap.rs`).
//!
//! # Input format
//!
//! [`Record`]s one after the other: a four-byte head, then a frame. Bytes
//! after the last whole head are ignored, and the last frame may be shorter
//! than its head says.
//!
//! | bytes | meaning |
//! |---|---|
//! | 1 | where and when: bits 0–3 the receiving interface (an index of [`network`] modulo 9; 8 is none), bits 4–5 what the worker does next ([`Then`]), bits 6–7 how far the clock moves before the frame arrives ([`Step`]) |
//! | 1 | flags: bit 0 trace the frame; bits 1 and 2 fill the IPv4 header checksum and the ICMP or ICMPv6 one before it is received ([`Fill`]: a fuzzer changing a header cannot compute them itself) |
//! | 2 | the frame's length, big-endian |
//! | length | the frame, Ethernet header first |

mod checksums;
pub mod network;
mod record;
pub mod tunnel;

pub use record::{Fill, Record, Step, Then};

use podwire_wire::ethernet::{self, EtherType, Frame};

use crate::buffer::BufferIndex;
use crate::clock::Instant;
use crate::engine::Engine;
use crate::graph::{DropCount, GraphError};
use crate::interface::{IfIndex, InterfaceMode};
use crate::nodes::glean::release_due;
use crate::tables::Tables;

/// Buffers in the fuzzed worker's pool: few enough that frames left
/// waiting, jumbo frames and floods exhaust it.
pub const FUZZ_BUFFERS: u32 = 128;

/// When the fuzzed worker's clock starts.
const START: Instant = Instant::from_nanos(1_000_000_000);

/// Bytes of a bad frame a [`Violation`] shows.
const FRAME_HEAD_SHOWN: usize = 64;

/// Runs `data` through the graph (see the [module](self) documentation).
///
/// # Panics
/// When an invariant breaks (see [`Violation`]), or the graph panics: what
/// a fuzzer looks for.
pub fn run_frames(data: &[u8]) {
    if let Err(violation) = check_frames(data) {
        panic!("{violation}");
    }
}

/// Runs `data` through the graph and says what came out, or which
/// invariant broke first.
pub fn check_frames(data: &[u8]) -> Result<Outcome, Violation> {
    let mut worker = Worker::new(network::tables())?;
    let mut rest = data;
    while let Some((record, after)) = Record::decode(rest) {
        rest = after;
        worker.receive(&record);
        match record.then {
            Then::Wait => {}
            Then::Run => worker.run()?,
            Then::RunAndSend => {
                worker.run()?;
                worker.send()?;
            }
            Then::RunSendAndAge => {
                worker.run()?;
                worker.send()?;
                worker.age();
            }
        }
    }
    worker.finish()
}

/// What came out of a run of [`check_frames`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Frames handed to the graph.
    pub received: usize,
    /// Frames not received because the pool had no room for them (a
    /// driver drops them so).
    pub refused: usize,
    /// Frames the devices were handed, in order.
    pub sent: Vec<Sent>,
    /// Every drop counter that is not zero, at the end.
    pub drops: Vec<DropCount>,
}

/// A frame handed to a device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    /// The interface it left by.
    pub interface: IfIndex,
    /// The whole frame.
    pub frame: Vec<u8>,
}

/// An invariant of the graph that a sequence of frames broke: a podwire
/// bug. Reproduce it with the input that broke it (`cargo fuzz run
/// input_nodes ARTIFACT`, or a test calling [`check_frames`]).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Violation {
    /// The standard graph did not wire.
    #[error("the standard graph does not wire: {0}")]
    Graph(#[from] GraphError),
    /// Buffers were neither free, queued nor held, or freed twice.
    #[error(
        "after a run {free} buffers are free, {queued} queued for output and {held} held for their next hop, of {capacity}: a node lost a packet (fewer) or freed one twice (more)"
    )]
    Buffers {
        /// Buffers free.
        free: usize,
        /// Buffers in the output queues, every buffer of a chain counted.
        queued: usize,
        /// Buffers of the packets waiting for their next hop's MAC, every buffer of a
        /// chain counted.
        held: usize,
        /// Buffers in the pool.
        capacity: usize,
    },
    /// A node sent packets to a next node it does not declare.
    #[error(
        "node {node} sent {count} packets to a next node it does not declare: add the next to its next_nodes, or send to one it has"
    )]
    Misrouted {
        /// The node.
        node: &'static str,
        /// How many packets.
        count: u64,
    },
    /// A routed interface was handed a frame it may not send.
    #[error(
        "interface {interface} was handed a frame it may not send: {problem} ({len} bytes, starting {head:02x?})",
        len = .frame.len(),
        head = &.frame[..FRAME_HEAD_SHOWN.min(.frame.len())]
    )]
    BadFrame {
        /// The interface.
        interface: u16,
        /// What is wrong with the frame.
        problem: &'static str,
        /// The frame.
        frame: Vec<u8>,
    },
}

/// An [`Engine`] over fixed tables ([`network::tables`], [`tunnel::tables`]), driven as a
/// worker drives it.
struct Worker {
    engine: Engine,
    tables: &'static Tables,
    now: Instant,
    outcome: Outcome,
    /// The frame being received, its checksums filled.
    frame: Vec<u8>,
}

impl Worker {
    fn new(tables: &'static Tables) -> Result<Self, Violation> {
        Ok(Worker {
            engine: Engine::new(FUZZ_BUFFERS, None)?,
            tables,
            now: START,
            outcome: Outcome::default(),
            frame: Vec::new(),
        })
    }

    /// Receives a record's frame, at its time, into the pool and the
    /// graph's input; refuses it when the pool cannot hold it.
    fn receive(&mut self, record: &Record<'_>) {
        self.now = self.now.after(record.step.duration());
        self.frame.clear();
        self.frame.extend_from_slice(record.frame);
        checksums::fill_checksums(&mut self.frame, record.fill);
        self.receive_frame(record.rx_if, record.traced);
    }

    /// Receives [`Worker::frame`] on `rx_if`, now; refuses it when the pool cannot hold
    /// it.
    fn receive_frame(&mut self, rx_if: IfIndex, traced: bool) {
        let Ok(bi) = self.engine.pool.alloc_from(&self.frame) else {
            self.outcome.refused += 1;
            return;
        };
        if traced {
            self.engine.trace.arm(1);
        }
        self.engine.receive(rx_if, &[bi], self.now);
        self.outcome.received += 1;
    }

    /// Runs and sends what is left, checks the buffers, and reports.
    fn finish(mut self) -> Result<Outcome, Violation> {
        self.run()?;
        self.send()?;
        self.check_buffers()?;
        self.outcome.drops = self.engine.graph.drop_counts();
        Ok(self.outcome)
    }

    /// Runs the graph, then checks that no node misrouted and that every
    /// buffer is free or queued.
    fn run(&mut self) -> Result<(), Violation> {
        self.engine.run(self.tables, self.now);
        let misrouted = self.engine.graph.drop_counts();
        if let Some(d) = misrouted.iter().find(|d| d.reason.name == "misrouted") {
            return Err(Violation::Misrouted {
                node: d.node,
                count: d.count,
            });
        }
        self.check_buffers()
    }

    /// Hands every output queue to its device: checks and copies each frame
    /// out, and frees its buffers.
    fn send(&mut self) -> Result<(), Violation> {
        let Engine { pool, tx, .. } = &mut self.engine;
        let interfaces: Vec<IfIndex> = tx.pending().collect();
        for interface in interfaces {
            let queue = tx.queue_mut(interface).map(std::mem::take);
            for bi in queue.unwrap_or_default() {
                let mut frame = Vec::new();
                pool.copy_to_vec(bi, &mut frame);
                pool.free(bi);
                check_sent(self.tables, interface, &frame)?;
                self.outcome.sent.push(Sent { interface, frame });
            }
        }
        Ok(())
    }

    /// What a worker does between vectors, about once a second. The held
    /// packets it hands back are sent or dropped by the next run.
    fn age(&mut self) {
        let state = &mut self.engine.state;
        state.bridges.age(self.now, self.tables);
        state.neighbors.expire(self.now);
        release_due(&mut self.engine, self.tables, self.now);
    }

    /// Checks that every buffer is free, waits in an output queue, or is
    /// held for its next hop.
    fn check_buffers(&mut self) -> Result<(), Violation> {
        let Engine {
            pool, tx, state, ..
        } = &mut self.engine;
        let interfaces: Vec<IfIndex> = tx.pending().collect();
        let mut queued = 0;
        for interface in interfaces {
            let heads: &[BufferIndex] = tx.queue_mut(interface).map_or(&[], |q| q.as_slice());
            queued += heads
                .iter()
                .map(|&bi| pool.chain(bi).count())
                .sum::<usize>();
        }
        let held = state.pending.iter().map(|bi| pool.chain(bi).count()).sum();
        let (free, capacity) = (pool.available(), pool.capacity());
        if free + queued + held != capacity {
            return Err(Violation::Buffers {
                free,
                queued,
                held,
                capacity,
            });
        }
        Ok(())
    }
}

/// Checks that `interface` may send `frame`: any frame of at least an
/// Ethernet header on an L2 port (it leaves as it came), and on a routed
/// interface only IPv4, IPv6 or ARP from the interface's MAC within its MTU.
fn check_sent(tables: &Tables, interface: IfIndex, frame: &[u8]) -> Result<(), Violation> {
    let bad = |problem| {
        Err(Violation::BadFrame {
            interface: interface.0,
            problem,
            frame: frame.to_vec(),
        })
    };
    let Some(config) = tables.interface(interface) else {
        return bad("the interface does not exist");
    };
    let Ok(header) = Frame::new_checked(frame) else {
        return bad("shorter than an Ethernet header");
    };
    if config.mode != InterfaceMode::L3 {
        return Ok(());
    }
    if header.src_addr() != config.mac {
        return bad("not from the interface's MAC");
    }
    if !matches!(
        header.ethertype(),
        EtherType::IPV4 | EtherType::IPV6 | EtherType::ARP
    ) {
        return bad("neither IPv4, IPv6 nor ARP");
    }
    if frame.len() > ethernet::HEADER_LEN + usize::from(config.mtu) {
        return bad("longer than the interface's MTU allows");
    }
    Ok(())
}

#[cfg(test)]
mod tests;
