//! The data plane's side, in memory, on one core: the server pod's policies rendered by the
//! agent's renderer (`podwire_agent::policy::render`) into the tables a worker uses, and TCP
//! segments from the client pods run through the standard graph (`ethernet-input`,
//! `ip4-input`, `ip4-nat-in`, `ip4-policy`, `ip4-lookup`, `ip4-nat-out`, `ip4-rewrite`,
//! `interface-output`), taken from the server pod's output queue and freed. No system call
//! in the loops.
//!
//! Every pod has an interface of its own, routed, with the source check on, as the agent
//! wires a pod; the node has a Service CIDR (and no Service), as a node of a cluster has.

use std::net::{IpAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use podwire_dataplane::buffer::BufferIndex;
use podwire_dataplane::clock;
use podwire_dataplane::engine::Engine;
use podwire_dataplane::graph::VECTOR_SIZE;
use podwire_dataplane::interface::{IfIndex, InterfaceConfig};
use podwire_dataplane::nat::service::{NodeNat, ServiceTable};
use podwire_dataplane::policy::table::PolicyTable;
use podwire_dataplane::tables::{Adjacency, Tables, TablesBuilder};
use podwire_model::config::POD_GATEWAY_V4;
use podwire_model::policy::PodPolicy;

use super::workload::{self, CLIENTS, CLUSTER_CIDR, SERVER_IP, SERVER_PORT, SERVICE_CIDR};
use crate::bench::frames::{self, Segment, Side};

/// The server pod's interface; client `c`'s is `IfIndex(c)`.
const SERVER_IF: IfIndex = IfIndex(CLIENTS as u16);
/// Buffers of the worker.
const BUFFERS: u32 = 8192;
/// Established connections the per-packet cost is measured on (per client: a quarter).
pub const FLOWS: usize = 1024;
/// The worker's clock: fixed, nothing expires during a measurement.
const NOW: clock::Instant = clock::Instant::from_nanos(0);

/// Client `c`'s interface.
fn client_if(c: usize) -> IfIndex {
    IfIndex(c as u16)
}

/// The tables of a node with the server and client pods, and `policies`.
pub fn tables(policies: PolicyTable) -> anyhow::Result<Tables> {
    let mut b = TablesBuilder::new();
    let pods = (0..CLIENTS)
        .map(|c| {
            (
                format!("client-{c}"),
                workload::client_ip(c),
                frames::CLIENT_IF_MAC,
            )
        })
        .chain([("server".to_owned(), SERVER_IP, frames::SERVER_IF_MAC)]);
    for (i, (name, ip, switch_mac)) in pods.enumerate() {
        let mut interface = InterfaceConfig::l3(name, switch_mac);
        interface.ip4.push((POD_GATEWAY_V4, 32));
        interface.source_check = true;
        let index = b.add_interface(interface)?;
        ensure!(
            index == IfIndex(i as u16),
            "interface {i} got index {index:?}"
        );
        b.add_route4(ip, 32, Adjacency::Attached { interface: index })?;
        // The pods' MACs: as frames::tcp writes them.
        let pod_mac = if index == SERVER_IF {
            frames::SERVER_PEER_MAC
        } else {
            frames::CLIENT_PEER_MAC
        };
        b.add_neighbor(index, IpAddr::V4(ip), pod_mac);
    }
    b.set_services(Arc::new(ServiceTable::new(node_nat())));
    let generation = policies.generation;
    b.set_policies(Arc::new(policies));
    Ok(b.build(generation))
}

/// The node's NAT facts: a Service CIDR and the cluster CIDR, nothing to masquerade.
fn node_nat() -> NodeNat {
    NodeNat {
        service_cidrs: vec![(IpAddr::V4(SERVICE_CIDR.0), SERVICE_CIDR.1)],
        cluster_cidrs: vec![(IpAddr::V4(CLUSTER_CIDR.0), CLUSTER_CIDR.1)],
        node_addresses: Vec::new(),
        masquerade4: None,
        masquerade6: None,
        host_interface: None,
    }
}

/// The rendered policy table of `pods` (the agent's renderer), stamped `generation`.
pub fn render(pods: &[PodPolicy], generation: u64) -> PolicyTable {
    let slots = &mut podwire_agent::policy::slots::RuleSlots::default();
    podwire_agent::policy::render::render(pods, slots, generation)
}

/// Heap bytes of the server pod's ingress classifier in `tables`.
pub fn server_classifier_bytes(tables: &Tables) -> anyhow::Result<usize> {
    let server = tables
        .policies
        .pods
        .get(&IpAddr::V4(SERVER_IP))
        .context("the server pod is not in the policy table")?;
    let ingress = server
        .ingress
        .as_ref()
        .context("the server pod's ingress has no classifier")?;
    Ok(ingress.heap_bytes())
}

/// Segments from the clients to the server, each client's from its own interface.
struct Traffic {
    /// Per client, one frame per connection.
    by_client: [Vec<Vec<u8>>; CLIENTS],
}

impl Traffic {
    /// `segment` of `count` connections (rounded up to a multiple of [`CLIENTS`]), each
    /// client's from distinct ports from `first_port` on.
    fn new(count: usize, first_port: u16, segment: Segment) -> Traffic {
        let per_client = count.div_ceil(CLIENTS);
        let server = SocketAddrV4::new(SERVER_IP, SERVER_PORT);
        Traffic {
            by_client: std::array::from_fn(|c| {
                (0..per_client)
                    .map(|p| {
                        let client =
                            SocketAddrV4::new(workload::client_ip(c), first_port + p as u16);
                        frames::tcp(Side::Client, client, server, segment)
                    })
                    .collect()
            }),
        }
    }

    /// The same connections' `segment`s.
    fn like(&self, segment: Segment) -> Traffic {
        Traffic {
            by_client: std::array::from_fn(|c| {
                self.by_client[c]
                    .iter()
                    .filter_map(|f| frames::endpoints(f))
                    .map(|(client, server)| frames::tcp(Side::Client, client, server, segment))
                    .collect()
            }),
        }
    }

    fn len(&self) -> usize {
        self.by_client.iter().map(Vec::len).sum()
    }

    /// The vectors, clients in turn: (interface, frames).
    fn vectors(&self) -> impl Iterator<Item = (IfIndex, &[Vec<u8>])> {
        let rounds = self.by_client[0].len().div_ceil(VECTOR_SIZE);
        (0..rounds).flat_map(move |r| {
            self.by_client
                .iter()
                .enumerate()
                .filter_map(move |(c, frames)| {
                    let start = r * VECTOR_SIZE;
                    (start < frames.len()).then(|| {
                        (
                            client_if(c),
                            &frames[start..(start + VECTOR_SIZE).min(frames.len())],
                        )
                    })
                })
        })
    }
}

/// A worker's data plane and what the measurements keep between vectors.
pub struct Worker {
    engine: Engine,
    vector: Vec<BufferIndex>,
}

impl Worker {
    /// A worker with the default session table.
    pub fn new() -> anyhow::Result<Worker> {
        Ok(Worker {
            engine: Engine::new(BUFFERS, None)?,
            vector: Vec::with_capacity(VECTOR_SIZE),
        })
    }

    /// Runs `frames` (at most a vector) in on `rx`; frees what the server's interface sends
    /// and returns how many it did.
    fn deliver(
        &mut self,
        tables: &Tables,
        rx: IfIndex,
        frames: &[Vec<u8>],
    ) -> anyhow::Result<usize> {
        self.input(tables, rx, frames)?;
        let queue = self
            .engine
            .tx
            .queue_mut(SERVER_IF)
            .context("no server queue")?;
        let sent = queue.len();
        for bi in queue.drain(..) {
            self.engine.pool.free(bi);
        }
        Ok(sent)
    }

    /// Runs `frames` (at most a vector) in on `rx`; takes what each interface sends, as
    /// (interface, bytes).
    fn exchange(
        &mut self,
        tables: &Tables,
        rx: IfIndex,
        frames: &[Vec<u8>],
    ) -> anyhow::Result<Vec<(IfIndex, Vec<u8>)>> {
        self.input(tables, rx, frames)?;
        let mut out = Vec::new();
        for i in 0..=CLIENTS {
            let tx = IfIndex(i as u16);
            for bi in self
                .engine
                .tx
                .queue_mut(tx)
                .map(std::mem::take)
                .unwrap_or_default()
            {
                let mut frame = Vec::new();
                self.engine.pool.copy_to_vec(bi, &mut frame);
                self.engine.pool.free(bi);
                out.push((tx, frame));
            }
        }
        Ok(out)
    }

    fn input(&mut self, tables: &Tables, rx: IfIndex, frames: &[Vec<u8>]) -> anyhow::Result<()> {
        for frame in frames {
            let bi = self.engine.pool.alloc_from(frame)?;
            self.vector.push(bi);
        }
        self.engine.receive(rx, &self.vector, NOW);
        self.vector.clear();
        self.engine.run(tables, NOW);
        Ok(())
    }

    /// Runs `traffic` in, a vector at a time; fails unless all of it reached the server.
    fn send_all(&mut self, tables: &Tables, traffic: &Traffic) -> anyhow::Result<()> {
        let mut reached = 0;
        for (rx, frames) in traffic.vectors() {
            reached += self.deliver(tables, rx, frames)?;
        }
        if reached != traffic.len() {
            self.check_nothing_dropped()?;
        }
        ensure!(
            reached == traffic.len(),
            "{reached} of {} segments reached the server",
            traffic.len()
        );
        Ok(())
    }

    /// Fails when a packet was dropped.
    fn check_nothing_dropped(&self) -> anyhow::Result<()> {
        let drops = self.engine.graph.drop_counts();
        ensure!(
            drops.is_empty(),
            "the benchmark's packets were dropped, its figures would be wrong: {drops:?}"
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

    /// New connections the rule in `slot` allowed on this worker.
    pub fn rule_hits(&self, slot: usize) -> u64 {
        self.engine
            .state
            .policy_hits
            .hits
            .get(slot)
            .copied()
            .unwrap_or(0)
    }
}

/// The first packets of new connections, the measurement's way: `round` SYNs from fresh
/// client ports, 256 to a vector, the session table emptied (untimed) before each round.
pub struct FirstPackets {
    syns: Traffic,
    /// The slot of the rule that allows them, when the server is isolated: each then makes a
    /// session (it keeps the verdict) and counts on that rule.
    probe: Option<usize>,
}

impl FirstPackets {
    /// SYNs of `round` new connections, allowed by the rule in slot `probe` (`None`: no
    /// policy applies).
    pub fn new(round: usize, probe: Option<usize>) -> FirstPackets {
        FirstPackets {
            syns: Traffic::new(round, 1024, Segment::Syn),
            probe,
        }
    }

    /// Rounds until `at_least` was spent in them; nanoseconds per SYN. Fails unless every
    /// SYN reached the server, made a session (or, without policies, none), and counted on
    /// the probe's rule: a classifier that chose another rule would be measured wrong.
    pub fn ns_per_packet(
        &self,
        worker: &mut Worker,
        tables: &Tables,
        at_least: Duration,
    ) -> anyhow::Result<f64> {
        let hits_before = self.probe.map(|slot| worker.rule_hits(slot));
        let per_round = self.syns.len() as u64;
        let sessions = if self.probe.is_some() { per_round } else { 0 };
        let (mut spent, mut sent) = (Duration::ZERO, 0);
        while sent == 0 || spent < at_least {
            worker.clear_sessions();
            let start = Instant::now();
            worker.send_all(tables, &self.syns)?;
            spent += start.elapsed();
            sent += per_round;
            let created = worker.sessions_created();
            ensure!(
                created == sessions,
                "{per_round} SYNs of new connections made {created} sessions, not {sessions}: \
                 they were not what the measurement says"
            );
        }
        if let (Some(slot), Some(before)) = (self.probe, hits_before) {
            let hits = worker.rule_hits(slot) - before;
            ensure!(
                hits == sent,
                "the probe's rule (slot {slot}) allowed {hits} of {sent} SYNs: the classifier \
                 chose another rule"
            );
        }
        Ok(spent.as_secs_f64() * 1e9 / sent as f64)
    }
}

/// Established connections, the measurement's way: [`FLOWS`] connections opened with a
/// full handshake, then their data segments, 256 to a vector, cycling.
pub struct Established {
    data: Traffic,
    /// Sessions the handshakes made.
    sessions: u64,
}

impl Established {
    /// Opens [`FLOWS`] connections on `worker` (SYN, SYN-ACK from the server, ACK), checking
    /// that each SYN reached the server unchanged and each SYN-ACK its client.
    pub fn open(worker: &mut Worker, tables: &Tables) -> anyhow::Result<Established> {
        let syns = Traffic::new(FLOWS, 40_000, Segment::Syn);
        let mut answers = Vec::with_capacity(FLOWS);
        for (rx, frames) in syns.vectors() {
            for (tx, frame) in worker.exchange(tables, rx, frames)? {
                let (client, server) =
                    frames::endpoints(&frame).context("a SYN that is not TCP")?;
                ensure!(
                    tx == SERVER_IF && server == SocketAddrV4::new(SERVER_IP, SERVER_PORT),
                    "the SYN from {client} came out of {tx:?} to {server}"
                );
                answers.push(frames::tcp(Side::Server, server, client, Segment::SynAck));
            }
        }
        worker.check_nothing_dropped()?;
        ensure!(
            answers.len() == FLOWS,
            "{} of {FLOWS} SYNs reached the server",
            answers.len()
        );
        let mut answered = 0;
        for chunk in answers.chunks(VECTOR_SIZE) {
            for (tx, frame) in worker.exchange(tables, SERVER_IF, chunk)? {
                let (_, client) = frames::endpoints(&frame).context("a SYN-ACK that is not TCP")?;
                let c = (0..CLIENTS).find(|&c| workload::client_ip(c) == *client.ip());
                ensure!(
                    c.map(client_if) == Some(tx),
                    "the SYN-ACK to {client} came out of {tx:?}"
                );
                answered += 1;
            }
        }
        worker.check_nothing_dropped()?;
        ensure!(
            answered == FLOWS,
            "{answered} of {FLOWS} SYN-ACKs reached their client"
        );
        worker.send_all(tables, &syns.like(Segment::Ack))?;
        Ok(Established {
            data: syns.like(Segment::Data),
            sessions: worker.sessions_created(),
        })
    }

    /// Sessions the handshakes made.
    pub fn sessions(&self) -> u64 {
        self.sessions
    }

    /// Data segments until `at_least` was spent; nanoseconds per segment. Fails when one made
    /// a session: they must all be of the established connections.
    pub fn ns_per_packet(
        &self,
        worker: &mut Worker,
        tables: &Tables,
        at_least: Duration,
    ) -> anyhow::Result<f64> {
        let start = Instant::now();
        let mut sent = 0;
        while sent == 0 || start.elapsed() < at_least {
            worker.send_all(tables, &self.data)?;
            sent += self.data.len();
        }
        let ns = start.elapsed().as_secs_f64() * 1e9 / sent as f64;
        ensure!(
            worker.sessions_created() == self.sessions,
            "data segments of established connections made sessions ({} before, {} after)",
            self.sessions,
            worker.sessions_created()
        );
        Ok(ns)
    }
}
