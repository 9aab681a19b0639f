//! podwire's side, in memory, on one core: the Services rendered by the agent's
//! `ServiceRenderer` and published in the data plane's tables as the agent publishes them,
//! and TCP segments run through the standard graph (`ethernet-input`, `ip4-input`,
//! `ip4-nat-in`, `ip4-lookup`, `ip4-nat-out`, `ip4-rewrite`, `interface-output`), taken
//! from the output queue and freed. No system call in the loops.
//!
//! The switch has two interfaces: client pods (`10.200.0.0/16`) behind one, endpoints
//! (`10.128.0.0/12`) behind the other, each through a router whose MAC is known.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use podwire_agent::services::ServiceUpdate;
use podwire_agent::services::render::ServiceRenderer;
use podwire_dataplane::buffer::BufferIndex;
use podwire_dataplane::clock;
use podwire_dataplane::engine::Engine;
use podwire_dataplane::graph::VECTOR_SIZE;
use podwire_dataplane::interface::{IfIndex, InterfaceConfig};
use podwire_dataplane::nat::flow::TCP;
use podwire_dataplane::nat::service::{FrontendKey, NodeNat};
use podwire_dataplane::publish::{TablePublisher, TableReader};
use podwire_dataplane::tables::{Adjacency, Tables, TablesBuilder};
use podwire_model::service::ServiceModel;

use super::workload::{self, CLIENT_NET, CLUSTER_CIDR, ENDPOINT_NET, SERVICE_CIDR};
use crate::bench::frames::{self, Segment, Side};
use crate::bench::rng::Rng;
use crate::bench::samples::Samples;

/// The interface towards the client pods.
const CLIENT_IF: IfIndex = IfIndex(0);
/// The interface towards the endpoints.
const SERVER_IF: IfIndex = IfIndex(1);
/// The switch's address towards the client pods.
const CLIENT_IF_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// The switch's address towards the endpoints (and the masquerade address).
const SERVER_IF_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// Buffers of the worker.
const BUFFERS: u32 = 8192;
/// Established connections the per-packet cost is measured on.
pub const FLOWS: usize = 1024;
/// New flows per round of the first-packet measurement: the session table is emptied
/// between rounds, so it never holds more.
const ROUND: usize = 16_384;
/// The worker's clock: fixed, nothing expires during a measurement.
const NOW: clock::Instant = clock::Instant::from_nanos(0);

/// The control plane's side: the renderer, the static tables, and the publication.
pub struct Node {
    renderer: ServiceRenderer,
    base: TablesBuilder,
    publisher: TablePublisher,
    reader: TableReader,
    generation: u64,
}

impl Node {
    /// A node without Services.
    pub fn new() -> anyhow::Result<Node> {
        let mut base = TablesBuilder::new();
        let mut client = InterfaceConfig::l3("client", frames::CLIENT_IF_MAC);
        client.ip4.push((CLIENT_IF_IP, 24));
        let mut server = InterfaceConfig::l3("server", frames::SERVER_IF_MAC);
        server.ip4.push((SERVER_IF_IP, 24));
        ensure!(
            base.add_interface(client)? == CLIENT_IF && base.add_interface(server)? == SERVER_IF
        );
        for (interface, (net, len), peer, mac) in [
            (
                CLIENT_IF,
                CLIENT_NET,
                frames::CLIENT_PEER,
                frames::CLIENT_PEER_MAC,
            ),
            (
                SERVER_IF,
                ENDPOINT_NET,
                frames::SERVER_PEER,
                frames::SERVER_PEER_MAC,
            ),
        ] {
            let gateway = IpAddr::V4(peer);
            base.add_route4(net, len, Adjacency::Via { interface, gateway })?;
            base.add_neighbor(interface, gateway, mac);
        }
        let renderer = ServiceRenderer::new(node_nat());
        let mut first = base.clone();
        first.set_services(renderer.table());
        let publisher = TablePublisher::new(first.build(1));
        let reader = publisher.reader();
        Ok(Node {
            renderer,
            base,
            publisher,
            reader,
            generation: 1,
        })
    }

    /// Applies `updates`, then publishes the tables once, as an agent starting with these
    /// Services does; how long that took.
    pub fn load(&mut self, updates: &[ServiceUpdate]) -> Duration {
        let start = Instant::now();
        for update in updates {
            self.renderer.apply(update);
        }
        self.publish();
        let took = start.elapsed();
        self.reader.refresh();
        took
    }

    /// Applies one update and publishes the tables; how long that took. (The worker
    /// picks the new version up, and drops the old one, afterwards and untimed: that is
    /// the worker's work, between two vectors.)
    pub fn apply(&mut self, update: &ServiceUpdate) -> Duration {
        let start = Instant::now();
        self.renderer.apply(update);
        self.publish();
        let took = start.elapsed();
        self.reader.refresh();
        took
    }

    /// The version a worker uses.
    pub fn tables(&mut self) -> &Tables {
        self.reader.refresh()
    }

    /// Heap bytes of the published service table.
    pub fn service_table_bytes(&self) -> usize {
        self.renderer.table().heap_bytes()
    }

    fn publish(&mut self) {
        let mut tables = self.base.clone();
        tables.set_services(self.renderer.table());
        self.generation += 1;
        self.publisher.publish(tables.build(self.generation));
    }
}

/// The node's NAT facts: the Service and cluster CIDRs of the address plan.
fn node_nat() -> NodeNat {
    NodeNat {
        service_cidrs: vec![(IpAddr::V4(SERVICE_CIDR.0), SERVICE_CIDR.1)],
        cluster_cidrs: vec![(IpAddr::V4(CLUSTER_CIDR.0), CLUSTER_CIDR.1)],
        node_addresses: Vec::new(),
        masquerade4: Some(SERVER_IF_IP),
        masquerade6: None,
        host_interface: None,
    }
}

/// Updates that bring `models` in.
pub fn updates(models: Vec<ServiceModel>) -> Vec<ServiceUpdate> {
    models
        .into_iter()
        .map(|m| ServiceUpdate {
            id: m.id.clone(),
            model: Some(m),
        })
        .collect()
}

/// One connection of the measurements.
#[derive(Copy, Clone, Debug)]
struct Flow {
    /// The client pod's address and port.
    client: SocketAddrV4,
    /// Where it connects to: a ClusterIP, or an endpoint.
    dst: SocketAddrV4,
    /// The Service it connects to, if any.
    service: Option<usize>,
}

/// `count` connections from distinct client ports (and addresses) to Services chosen at
/// random, or, `straight`, to one of their endpoints.
fn flows(models: &[ServiceModel], count: usize, straight: bool, rng: &mut Rng) -> Vec<Flow> {
    (0..count)
        .map(|k| {
            let client = SocketAddrV4::new(
                Ipv4Addr::from(u32::from(CLIENT_NET.0) + 2 + (k % 4096) as u32),
                10_000 + (k / 4096) as u16,
            );
            let i = rng.below(models.len());
            match workload::pick_endpoint(&models[i], rng) {
                Some(endpoint) if straight => Flow {
                    client,
                    dst: endpoint,
                    service: None,
                },
                _ => Flow {
                    client,
                    dst: SocketAddrV4::new(workload::cluster_ip(i), workload::SERVICE_PORT),
                    service: Some(i),
                },
            }
        })
        .collect()
}

/// A worker's data plane and what the measurements keep between vectors.
struct Worker {
    engine: Engine,
    vector: Vec<BufferIndex>,
}

impl Worker {
    fn new() -> anyhow::Result<Worker> {
        Ok(Worker {
            engine: Engine::new(BUFFERS, None)?,
            vector: Vec::with_capacity(VECTOR_SIZE),
        })
    }

    /// Runs `frames` in on `rx`, a vector at a time; returns what came out of `tx`, as
    /// bytes. Anything sent elsewhere, or dropped, is an error: the measurement would not
    /// be what it says.
    fn exchange(
        &mut self,
        tables: &Tables,
        rx: IfIndex,
        frames: &[Vec<u8>],
        tx: IfIndex,
    ) -> anyhow::Result<Vec<Vec<u8>>> {
        let mut out = Vec::with_capacity(frames.len());
        for chunk in frames.chunks(VECTOR_SIZE) {
            for frame in chunk {
                let bi = self.engine.pool.alloc_from(frame)?;
                self.vector.push(bi);
            }
            self.engine.receive(rx, &self.vector, NOW);
            self.vector.clear();
            self.engine.run(tables, NOW);
            let queued = self
                .engine
                .tx
                .queue_mut(tx)
                .map(std::mem::take)
                .unwrap_or_default();
            for bi in queued {
                let mut frame = Vec::new();
                self.engine.pool.copy_to_vec(bi, &mut frame);
                self.engine.pool.free(bi);
                out.push(frame);
            }
        }
        self.check_nothing_else()?;
        Ok(out)
    }

    /// Runs `frames` in on `rx`, `count` of them from `first` on, cycling, a vector of
    /// `per_vector` at a time; frees what comes out of `tx` and returns how many did.
    fn pass(
        &mut self,
        tables: &Tables,
        frames: &[Vec<u8>],
        mut next: usize,
        count: usize,
        per_vector: usize,
    ) -> anyhow::Result<usize> {
        let mut forwarded = 0;
        let mut left = count;
        while left > 0 {
            for _ in 0..per_vector.min(left) {
                let bi = self.engine.pool.alloc_from(&frames[next])?;
                next = (next + 1) % frames.len();
                self.vector.push(bi);
            }
            left -= self.vector.len();
            self.engine.receive(CLIENT_IF, &self.vector, NOW);
            self.vector.clear();
            self.engine.run(tables, NOW);
            if let Some(queue) = self.engine.tx.queue_mut(SERVER_IF) {
                forwarded += queue.len();
                for bi in queue.drain(..) {
                    self.engine.pool.free(bi);
                }
            }
        }
        Ok(forwarded)
    }

    /// Fails when a packet was dropped or sent out of the other interface.
    fn check_nothing_else(&mut self) -> anyhow::Result<()> {
        let drops = self.engine.graph.drop_counts();
        ensure!(
            drops.is_empty(),
            "the benchmark's packets were dropped, its figures would be wrong: {drops:?}"
        );
        let elsewhere: usize = [CLIENT_IF, SERVER_IF]
            .into_iter()
            .filter_map(|i| self.engine.tx.queue_mut(i).map(|q| q.len()))
            .sum();
        ensure!(
            elsewhere == 0,
            "{elsewhere} packets went out of an interface the benchmark did not expect"
        );
        Ok(())
    }

    /// Sessions made since the worker started (or since its table was emptied).
    fn sessions_created(&self) -> u64 {
        self.engine.state.sessions.counters().created
    }

    /// Empties the session table, keeping the size its index grew to: the next round
    /// measures a worker whose table has grown, as a running node's has.
    fn clear_sessions(&mut self) {
        self.engine.state.sessions.reset();
    }
}

/// Opens `flows` with a full handshake (SYN, SYN-ACK from the endpoint, ACK), checking
/// that each went to one of its Service's endpoints and that the answer came back from
/// the Service's address; returns a data segment of each.
fn handshake(
    worker: &mut Worker,
    tables: &Tables,
    models: &[ServiceModel],
    flows: &[Flow],
) -> anyhow::Result<Vec<Vec<u8>>> {
    let segments = |segment| -> Vec<Vec<u8>> {
        flows
            .iter()
            .map(|f| frames::tcp(Side::Client, f.client, f.dst, segment))
            .collect()
    };
    let syns = worker.exchange(tables, CLIENT_IF, &segments(Segment::Syn), SERVER_IF)?;
    // Where each client's SYN went, as the endpoint saw it.
    let sent_to: HashMap<SocketAddrV4, SocketAddrV4> =
        syns.iter().filter_map(|f| frames::endpoints(f)).collect();
    let mut answers = Vec::with_capacity(flows.len());
    for f in flows {
        let endpoint = *sent_to.get(&f.client).with_context(|| {
            format!(
                "the SYN from {} to {} did not come out towards the endpoints unchanged in its \
                 source ({} of {} came out)",
                f.client,
                f.dst,
                syns.len(),
                flows.len()
            )
        })?;
        let expected = match f.service {
            Some(i) => workload::endpoints(&models[i]).contains(&SocketAddr::V4(endpoint)),
            None => endpoint == f.dst,
        };
        ensure!(
            expected,
            "the SYN from {} to {} went to {endpoint}, not to one of its endpoints",
            f.client,
            f.dst
        );
        answers.push(frames::tcp(
            Side::Server,
            endpoint,
            f.client,
            Segment::SynAck,
        ));
    }
    let back = worker.exchange(tables, SERVER_IF, &answers, CLIENT_IF)?;
    let answered_from: HashMap<SocketAddrV4, SocketAddrV4> = back
        .iter()
        .filter_map(|f| frames::endpoints(f).map(|(src, dst)| (dst, src)))
        .collect();
    for f in flows {
        ensure!(
            answered_from.get(&f.client) == Some(&f.dst),
            "the SYN-ACK to {} came back from {:?}, not from {}",
            f.client,
            answered_from.get(&f.client),
            f.dst
        );
    }
    let acks = worker.exchange(tables, CLIENT_IF, &segments(Segment::Ack), SERVER_IF)?;
    ensure!(
        acks.len() == flows.len(),
        "{} of {} ACKs went through",
        acks.len(),
        flows.len()
    );
    Ok(segments(Segment::Data))
}

/// Nanoseconds per data segment on [`FLOWS`] established connections to Services chosen at
/// random among `models` (or, `straight`, to their endpoints directly, with no Service in
/// the tables), through the whole graph in vectors of 256, measured for `duration`.
pub fn established_ns(
    node: &mut Node,
    models: &[ServiceModel],
    straight: bool,
    duration: Duration,
) -> anyhow::Result<f64> {
    let mut rng = Rng::new(0x5e55_1025 ^ models.len() as u64);
    let flows = flows(models, FLOWS, straight, &mut rng);
    let mut worker = Worker::new()?;
    let tables = node.tables();
    let data = handshake(&mut worker, tables, models, &flows)?;
    let sessions = worker.sessions_created();
    let mut next = 0;
    let mut measure = |worker: &mut Worker, run_for: Duration| -> anyhow::Result<f64> {
        let start = Instant::now();
        let (mut sent, mut forwarded) = (0, 0);
        while sent == 0 || start.elapsed() < run_for {
            let count = 64 * VECTOR_SIZE;
            forwarded += worker.pass(tables, &data, next, count, VECTOR_SIZE)?;
            next = (next + count) % data.len();
            sent += count;
        }
        let elapsed = start.elapsed();
        ensure!(
            forwarded == sent,
            "{forwarded} of {sent} data segments went through"
        );
        Ok(elapsed.as_secs_f64() * 1e9 / sent as f64)
    };
    measure(&mut worker, duration / 5)?; // caches, branch predictors
    let ns = measure(&mut worker, duration)?;
    worker.check_nothing_else()?;
    ensure!(
        worker.sessions_created() == sessions,
        "data segments of established connections made new sessions ({} before, {} after): \
         they were not session hits",
        sessions,
        worker.sessions_created()
    );
    Ok(ns)
}

/// The first packets of new connections.
#[derive(Clone, Debug)]
pub struct FirstPackets {
    /// Each SYN alone in its vector, from handing it to the graph to taking it from the
    /// output queue.
    pub latency: Samples,
    /// Nanoseconds per SYN when they come 256 to a vector.
    pub ns_per_packet: f64,
}

/// `count` SYNs of new connections (fresh client ports) to Services chosen at random among
/// `models`: each is a session miss, a service decision (Maglev) and a new session.
pub fn first_packets(
    node: &mut Node,
    models: &[ServiceModel],
    count: usize,
) -> anyhow::Result<FirstPackets> {
    let mut rng = Rng::new(0xf1a5_7ac7 ^ models.len() as u64);
    let mut worker = Worker::new()?;
    let tables = node.tables();
    let mut latency = Vec::with_capacity(count);
    let mut vector_time = Duration::ZERO;
    let mut left = count;
    while left > 0 {
        let round = left.min(ROUND);
        left -= round;
        let syns: Vec<Vec<u8>> = flows(models, round, false, &mut rng)
            .iter()
            .map(|f| frames::tcp(Side::Client, f.client, f.dst, Segment::Syn))
            .collect();
        worker.clear_sessions();
        for k in 0..round {
            let start = Instant::now();
            let forwarded = worker.pass(tables, &syns, k, 1, 1)?;
            latency.push(start.elapsed());
            if forwarded != 1 {
                worker.check_nothing_else()?;
                bail!(
                    "the SYN to {:?} did not go through",
                    frames::endpoints(&syns[k])
                );
            }
        }
        check_new_sessions(&worker, round)?;
        worker.clear_sessions();
        let start = Instant::now();
        let forwarded = worker.pass(tables, &syns, 0, round, VECTOR_SIZE)?;
        vector_time += start.elapsed();
        ensure!(
            forwarded == round,
            "{forwarded} of {round} SYNs went through"
        );
        check_new_sessions(&worker, round)?;
    }
    worker.check_nothing_else()?;
    Ok(FirstPackets {
        latency: Samples::new(latency),
        ns_per_packet: vector_time.as_secs_f64() * 1e9 / count.max(1) as f64,
    })
}

/// Fails unless the worker made `count` sessions since its table was emptied.
fn check_new_sessions(worker: &Worker, count: usize) -> anyhow::Result<()> {
    let created = worker.sessions_created();
    ensure!(
        created == count as u64,
        "{count} SYNs of new connections made {created} sessions: they were not all first \
         packets"
    );
    Ok(())
}

/// Times `changes`, one at a time, each applied and published; checks that each is in the
/// published table.
pub fn changes(node: &mut Node, changes: &[workload::Change]) -> anyhow::Result<Samples> {
    let updates = updates(changes.iter().map(|c| c.after.clone()).collect());
    let mut times = Vec::with_capacity(changes.len());
    for (change, update) in changes.iter().zip(&updates) {
        times.push(node.apply(update));
        let key = FrontendKey {
            address: Some(IpAddr::V4(workload::cluster_ip(change.service))),
            protocol: TCP,
            port: workload::SERVICE_PORT,
        };
        let applied = node
            .tables()
            .services
            .get(&key)
            .is_some_and(|f| f.cluster.contains(change.brought));
        ensure!(
            applied,
            "the change of {} to {} is not in the published table",
            change.after.id,
            change.brought
        );
    }
    Ok(Samples::new(times))
}
