//! What a worker reports when the control plane asks: its counters, what it
//! learned, what it traced.

use core::net::IpAddr;
use std::time::Duration;

use podwire_dataplane::clock::Instant;
use podwire_dataplane::counters::OffloadCounters;
use podwire_dataplane::engine::Engine;
use podwire_dataplane::graph::{DropCount, NodeRuntime};
use podwire_dataplane::interface::IfIndex;
use podwire_dataplane::trace::TracedPacket;
use podwire_wire::ethernet::EthernetAddress;

use super::{PortCounters, monotonic_nanos};

/// A learned neighbor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NeighborSnapshot {
    /// Where.
    pub interface: IfIndex,
    /// Its address.
    pub ip: IpAddr,
    /// Its MAC, unless only asked for.
    pub mac: Option<EthernetAddress>,
    /// Since it was learned or confirmed.
    pub age: Duration,
}

/// One worker's state, at one moment.
#[derive(Clone, Debug)]
pub struct WorkerSnapshot {
    /// Which worker.
    pub worker: u32,
    /// Node counters, in pipeline order, then the offload work in software as rows of their
    /// own (see [`OffloadCounters::runtime`]).
    pub runtime: Vec<NodeRuntime>,
    /// Drop counters that are not zero.
    pub drops: Vec<DropCount>,
    /// Learned neighbors.
    pub neighbors: Vec<NeighborSnapshot>,
    /// Per interface index: what this worker received and sent.
    pub ports: Vec<PortCounters>,
    /// Packets traced.
    pub trace: Vec<TracedPacket>,
    /// The session table's counters.
    pub sessions: podwire_dataplane::nat::session::SessionCounters,
    /// The session table's capacity.
    pub session_capacity: u32,
    /// Per policy rule slot of the numbering epoch [`policy_epoch`](Self::policy_epoch):
    /// the new connections the rule decided (allowed, accepted or denied) or, a Pass rule,
    /// passed on.
    pub policy_hits: Vec<u64>,
    /// The numbering epoch of the policy tables whose rule slots `policy_hits` is indexed
    /// by (tables of one epoch give a rule the same slot).
    pub policy_epoch: u64,
    /// Segmentation, checksums and merges done in software.
    pub offload: OffloadCounters,
    /// Buffers free in the worker's pool: those not held by packets in flight, packets
    /// waiting for a neighbor, or ports (a tap keeps one read's worth between reads).
    pub buffers_free: usize,
}

/// The ports' counters, with those of the VXLAN tunnels (which have no port: the data plane
/// counts what it encapsulates and decapsulates) at the tunnels' indices.
fn with_tunnels(ports: &[PortCounters], engine: &Engine) -> Vec<PortCounters> {
    let mut all = ports.to_vec();
    for (index, counted) in engine.state.tunnels.iter() {
        let i = index.as_usize();
        if all.len() <= i {
            all.resize(i + 1, PortCounters::default());
        }
        all[i].add(&PortCounters {
            rx_packets: counted.rx_packets,
            rx_bytes: counted.rx_bytes,
            tx_packets: counted.tx_packets,
            tx_bytes: counted.tx_bytes,
            ..PortCounters::default()
        });
    }
    all
}

/// The graph's rows, then those of the offload work.
fn with_offload(mut rows: Vec<NodeRuntime>, offload: &OffloadCounters) -> Vec<NodeRuntime> {
    rows.extend(
        offload
            .runtime()
            .into_iter()
            .map(|(name, counters)| NodeRuntime { name, counters }),
    );
    rows
}

pub(super) fn take(worker: u32, engine: &Engine, ports: &[PortCounters]) -> WorkerSnapshot {
    let now = Instant::from_nanos(monotonic_nanos());
    WorkerSnapshot {
        worker,
        runtime: with_offload(engine.graph.runtime(), &engine.state.offload),
        drops: engine.graph.drop_counts(),
        neighbors: engine
            .state
            .neighbors
            .iter()
            .map(|(interface, ip, e)| NeighborSnapshot {
                interface,
                ip,
                mac: e.mac,
                age: now.saturating_since(e.updated),
            })
            .collect(),
        ports: with_tunnels(ports, engine),
        trace: engine.trace.packets().to_vec(),
        sessions: engine.state.sessions.counters(),
        session_capacity: engine.state.sessions.config().capacity,
        policy_hits: engine.state.policy_hits.hits.clone(),
        policy_epoch: engine.state.policy_hits.epoch,
        offload: engine.state.offload,
        buffers_free: engine.pool.available(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offload_counters_follow_the_graph_in_show_runtime() {
        let mut engine = Engine::new(8, None).unwrap();
        engine.state.offload.count_segmented(44);
        engine.state.offload.count_finished();
        engine.state.offload.count_merged(5);
        engine.state.offload.count_merged(3);
        let snapshot = take(0, &engine, &[]);
        assert_eq!(snapshot.offload, engine.state.offload);
        let graph = engine.graph.runtime().len();
        let rows: Vec<_> = snapshot.runtime[graph..]
            .iter()
            .map(|r| (r.name, r.counters.calls, r.counters.packets))
            .collect();
        assert_eq!(
            rows,
            [
                ("offload-segment", 1, 44),
                ("offload-checksum", 1, 1),
                ("offload-merge", 2, 8)
            ]
        );
    }
}
