//! What a worker reports when the control plane asks: its counters, what it
//! learned, what it traced.

use core::net::IpAddr;
use std::time::Duration;

use podwire_dataplane::clock::Instant;
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
    /// Node counters, in pipeline order.
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

pub(super) fn take(worker: u32, engine: &Engine, ports: &[PortCounters]) -> WorkerSnapshot {
    let now = Instant::from_nanos(monotonic_nanos());
    WorkerSnapshot {
        worker,
        runtime: engine.graph.runtime(),
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
    }
}
