//! A test bench: an [`Engine`] with the standard graph, every packet traced
//! so a test can read where each node sent it, packets handed to any node,
//! and the frames each interface sent read back.

use core::ops::{Deref, DerefMut};

use podwire_wire::ethernet;

use crate::buffer::BufferIndex;
use crate::clock::Instant;
use crate::engine::Engine;
use crate::interface::IfIndex;

/// Buffers in a bench's pool.
const BENCH_BUFFERS: u32 = 64;

/// A worker's data plane in memory.
pub(crate) struct Bench {
    engine: Engine,
}

impl Deref for Bench {
    type Target = Engine;

    fn deref(&self) -> &Engine {
        &self.engine
    }
}

impl DerefMut for Bench {
    fn deref_mut(&mut self) -> &mut Engine {
        &mut self.engine
    }
}

impl Bench {
    pub fn new() -> Self {
        let engine = Engine::new(BENCH_BUFFERS, None).expect("the standard graph wires up");
        Bench { engine }
    }

    /// Hands a received frame to `ethernet-input`; returns its trace id.
    pub fn receive(&mut self, rx_if: IfIndex, frame: &[u8]) -> u32 {
        let bi = self.pool.alloc_from(frame).expect("the bench has buffers");
        self.trace.arm(1);
        self.engine.receive(rx_if, &[bi], Instant::default());
        self.pool.meta(bi).trace.expect("the trace was armed")
    }

    /// Hands a received frame straight to an L3 node, as ethernet-input
    /// would: its Ethernet header consumed and remembered in `l2_offset`.
    /// Returns its trace id.
    pub fn receive_at(&mut self, node: &str, rx_if: IfIndex, frame: &[u8]) -> u32 {
        let bi = self.pool.alloc_from(frame).expect("the bench has buffers");
        let meta = self.pool.meta_mut(bi);
        meta.l2_offset = meta.current_data;
        self.pool
            .advance(bi, ethernet::HEADER_LEN)
            .expect("a whole Ethernet header");
        self.inject(node, rx_if, bi)
    }

    /// Queues a buffer for `node`, traced; returns its trace id.
    pub fn inject(&mut self, node: &str, rx_if: IfIndex, bi: BufferIndex) -> u32 {
        let Engine {
            pool, graph, trace, ..
        } = &mut self.engine;
        let meta = pool.meta_mut(bi);
        meta.rx_if = rx_if;
        trace.arm(1);
        trace.on_receive(meta, Instant::default());
        let node = graph.node(node).expect("the node is in the graph");
        graph.enqueue(node, &[bi]);
        meta.trace.expect("the trace was armed")
    }

    /// Takes the frames queued on an interface, as the device would.
    pub fn sent(&mut self, interface: IfIndex) -> Vec<Vec<u8>> {
        let queued = self
            .tx
            .queue_mut(interface)
            .map(std::mem::take)
            .unwrap_or_default();
        queued
            .into_iter()
            .map(|bi| {
                let mut frame = Vec::new();
                self.pool.copy_to_vec(bi, &mut frame);
                self.pool.free(bi);
                frame
            })
            .collect()
    }

    /// Where `node` sent traced packet `id`: a next node, `drop: reason`,
    /// or `None` if the packet never reached it.
    pub fn next_of(&self, id: u32, node: &str) -> Option<&str> {
        let packet = self.trace.packets().get(id as usize)?;
        let step = packet.steps.iter().find(|s| s.node == node)?;
        Some(step.next.as_str())
    }

    /// The notes `node` left about traced packet `id`.
    pub fn notes_of(&self, id: u32, node: &str) -> String {
        let Some(packet) = self.trace.packets().get(id as usize) else {
            return String::new();
        };
        packet
            .steps
            .iter()
            .filter(|s| s.node == node)
            .map(|s| s.detail.as_str())
            .collect()
    }

    /// Checks that no buffer leaked: every one is free, none is queued.
    pub fn assert_no_leak(&self) {
        assert_eq!(self.tx.pending().count(), 0, "frames left in tx queues");
        assert_eq!(
            self.pool.available(),
            BENCH_BUFFERS as usize,
            "buffers leaked"
        );
    }
}
