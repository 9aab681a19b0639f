//! Worker threads: each owns a data-plane [`Engine`] and the receive side of
//! some interfaces, and runs to completion: receive a vector, run the graph,
//! hand the output queues to the devices.
//!
//! Adaptive by default: a worker polls while it finds packets and for a
//! short window after the last one (so a ping-pong keeps it awake and
//! fast), then sleeps in epoll on its interfaces' descriptors and its
//! [`Waker`], so an idle node uses no CPU. It polls on after the last packet
//! only while its core is its own: when others keep it waiting for a CPU, it
//! sleeps as soon as a round finds nothing, for a while ([`spin`]), leaving the
//! core to the pods' processes. The control plane talks to a worker through a
//! command channel, waking it if it sleeps; the tables come by atomic swap and
//! are picked up between vectors, so the hot path takes no lock.
//!
//! With several workers, each flow is handled by the worker that holds its session: a
//! worker hands the packets it receives for flows another owns to that worker
//! ([`handoff`]; which worker: [`podwire_dataplane::steer`]). With one, nothing of it runs.
//!
//! Ports with a control channel (memif) are serviced by the worker that
//! polls them: when their descriptor is readable, when their timer is due,
//! and, while traffic keeps the worker from sleeping, at the latest every
//! [`LOOK_INTERVAL`] (one `epoll_wait` that does not sleep).

mod handoff;
pub mod memif;
mod port;
mod queues;
mod snapshot;
mod spin;

use std::io;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use arc_swap::ArcSwap;
use podwire_dataplane::buffer::BufferIndex;
use podwire_dataplane::clock::Instant;
use podwire_dataplane::counters::NodeCounters;
use podwire_dataplane::engine::Engine;
use podwire_dataplane::graph::{NodeRuntime, VECTOR_SIZE};
use podwire_dataplane::interface::IfIndex;
use podwire_dataplane::nat::housekeeping::NatHousekeeping;
use podwire_dataplane::neighbor::{NeighborBus, NeighborTable};
use podwire_dataplane::nodes::glean::release_due;
use podwire_dataplane::publish::{TablePublisher, TableReader};
use podwire_dataplane::steer::Steering;

use crate::poll::{Poller, Waker};
use handoff::Handoff;
use spin::{RunQueueWait, Spin};

pub use port::{AfPacketRx, PortCounters, RxPort, TapPort, TxBatch, TxPacket, TxPort, TxScratch};
pub use queues::TapQueues;
pub use snapshot::{NeighborSnapshot, WorkerSnapshot};

/// How a worker behaves.
#[derive(Copy, Clone, Debug)]
pub struct WorkerConfig {
    /// Buffers in each worker's pool.
    pub buffers: u32,
    /// How long a worker keeps polling after its last packet before it
    /// sleeps, while no other task wants its core. Zero: sleep as soon as a
    /// round finds nothing.
    pub poll_window: Duration,
    /// Each worker's session table: size and timeouts.
    pub sessions: podwire_dataplane::nat::session::SessionConfig,
    /// The UDP port of VXLAN: with several workers, a VXLAN packet goes to the worker of
    /// the flow inside.
    pub vxlan_port: u16,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            buffers: 16_384,
            poll_window: Duration::from_micros(100),
            sessions: Default::default(),
            vxlan_port: 4789,
        }
    }
}

std::thread_local! {
    /// The number of the worker this thread is, on a worker's thread.
    static WORKER: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// The number of the worker the calling thread is; `None` off the workers' threads. A device
/// with a queue per worker ([`TapQueues`]) sends through the caller's.
pub fn current_worker() -> Option<usize> {
    WORKER.with(std::cell::Cell::get)
}

/// The start of the time base of [`monotonic_nanos`].
fn epoch() -> std::time::Instant {
    static EPOCH: OnceLock<std::time::Instant> = OnceLock::new();
    *EPOCH.get_or_init(std::time::Instant::now)
}

/// Nanoseconds of the monotonic clock since the first call: the time base
/// of every worker and of the node timers.
pub fn monotonic_nanos() -> u64 {
    epoch().elapsed().as_nanos() as u64
}

/// A worker's time stamp as the standard library's instant, the time base
/// of the ports' timers.
fn std_instant(now: Instant) -> std::time::Instant {
    epoch() + Duration::from_nanos(now.as_nanos())
}

/// Why the workers could not be started or asked something.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The data-plane graph is inconsistent (a podwire bug).
    #[error("cannot build the data-plane graph: {0}")]
    Graph(#[from] podwire_dataplane::graph::GraphError),
    /// epoll or eventfd could not be set up.
    #[error("cannot set up a worker's wake-up (epoll/eventfd): {0}")]
    Poll(#[source] io::Error),
    /// The thread could not be started.
    #[error("cannot start a worker thread: {0}")]
    Spawn(#[source] io::Error),
    /// A worker did not answer: it died or is stuck.
    #[error("worker {0} did not answer; see the daemon's log")]
    NoAnswer(u32),
}

type TxTable = Vec<Option<Arc<dyn TxPort>>>;

enum Command {
    AddPort(IfIndex, Box<dyn RxPort>),
    RemovePort(IfIndex),
    TraceAdd(u32),
    TraceClear,
    Snapshot(Sender<WorkerSnapshot>),
    Stop,
}

struct WorkerHandle {
    commands: Sender<Command>,
    waker: Arc<Waker>,
    /// Gives back the ports it polled when it stops.
    thread: Option<JoinHandle<Vec<Box<dyn RxPort>>>>,
}

impl WorkerHandle {
    fn send(&self, command: Command) {
        // A worker that has gone away has already logged why.
        if self.commands.send(command).is_ok() {
            let _ = self.waker.wake();
        }
    }
}

/// The workers of a node.
pub struct Workers {
    handles: Vec<WorkerHandle>,
    tx: Arc<ArcSwap<TxTable>>,
    placement: std::sync::Mutex<Vec<(IfIndex, usize)>>,
}

impl Workers {
    /// Starts `count` workers reading tables from `publisher`.
    pub fn start(
        count: usize,
        config: WorkerConfig,
        publisher: &TablePublisher,
    ) -> Result<Workers, WorkerError> {
        let tx: Arc<ArcSwap<TxTable>> = Arc::new(ArcSwap::from_pointee(Vec::new()));
        // What one worker learns from ARP/ND, the others route with.
        let neighbors = Arc::new(NeighborBus::default());
        let count = count.clamp(1, podwire_dataplane::steer::MAX_WORKERS);
        let mut handles = Vec::with_capacity(count);
        let wakers = (0..count)
            .map(|_| Waker::new().map(Arc::new))
            .collect::<io::Result<Vec<_>>>()
            .map_err(WorkerError::Poll)?;
        // Several workers: every flow to the one that holds its session, with room in the
        // shared table for the reply key of every session they can hold.
        let steering = (count > 1).then(|| {
            let keys = config.sessions.capacity as usize * count;
            Steering::new(count, keys, vec![config.vxlan_port])
        });
        let mut handoffs: Vec<Option<Handoff>> = match &steering {
            None => vec![None],
            Some(steering) => Handoff::mesh(steering, &wakers)
                .into_iter()
                .map(Some)
                .collect(),
        };
        for (id, waker) in wakers.into_iter().enumerate() {
            let (commands, inbox) = mpsc::channel();
            let handoff = handoffs[id].take();
            let mut engine = Engine::new(config.buffers, Some(monotonic_nanos))?;
            engine.set_session_config(config.sessions);
            engine.state.neighbors = NeighborTable::shared(neighbors.clone());
            engine.state.snat_claims = steering.as_ref().map(|s| s.snat_claims(id));
            let reader = publisher.reader();
            let (thread_tx, thread_waker) = (tx.clone(), waker.clone());
            // The poller is made on the worker's own thread (an epoll
            // event list is not Send); its setup result comes back here.
            let (ready_tx, ready_rx) = mpsc::channel();
            let thread = std::thread::Builder::new()
                .name(format!("podwire-w{id}"))
                .spawn(move || {
                    WORKER.with(|worker| worker.set(Some(id)));
                    let poller = match Poller::new()
                        .and_then(|p| p.add(&*thread_waker, WAKER_TOKEN).map(|()| p))
                    {
                        Ok(p) => {
                            let _ = ready_tx.send(Ok(()));
                            p
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return Vec::new();
                        }
                    };
                    Worker {
                        id: id as u32,
                        engine,
                        reader,
                        tx: thread_tx,
                        ports: Vec::new(),
                        counters: Vec::new(),
                        inbox,
                        poller,
                        waker: thread_waker,
                        next_deadline: None,
                        rx: Vec::with_capacity(VECTOR_SIZE),
                        pending: Vec::new(),
                        scratch: TxScratch::default(),
                        nat: NatHousekeeping::new(),
                        handoff,
                        input: NodeCounters::default(),
                        sleeps: 0,
                        spin: Spin::new(config.poll_window),
                    }
                    .run()
                })
                .map_err(WorkerError::Spawn)?;
            ready_rx
                .recv()
                .map_err(|_| WorkerError::NoAnswer(id as u32))?
                .map_err(WorkerError::Poll)?;
            handles.push(WorkerHandle {
                commands,
                waker,
                thread: Some(thread),
            });
        }
        Ok(Workers {
            handles,
            tx,
            placement: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// Number of workers.
    pub fn count(&self) -> usize {
        self.handles.len()
    }

    /// Attaches an interface: every worker may send on `tx`; `rx` is
    /// polled by the least loaded worker. Attach before publishing tables
    /// that route to the interface.
    pub fn attach(&self, index: IfIndex, rx: Box<dyn RxPort>, tx: Arc<dyn TxPort>) {
        self.attach_queues(index, vec![rx], tx);
    }

    /// Attaches an interface read through several queues (a multi-queue tap): every worker
    /// may send on `tx`; queue `i` of `rx` is polled by worker `i`, one queue alone by the
    /// least loaded worker. Queues beyond the number of workers are closed. Attach before
    /// publishing tables that route to the interface.
    pub fn attach_queues(&self, index: IfIndex, rx: Vec<Box<dyn RxPort>>, tx: Arc<dyn TxPort>) {
        self.tx.rcu(|table| {
            let mut table = (**table).clone();
            if table.len() <= index.as_usize() {
                table.resize_with(index.as_usize() + 1, || None);
            }
            table[index.as_usize()] = Some(tx.clone());
            table
        });
        let mut placement = self.placement.lock().unwrap_or_else(|e| e.into_inner());
        match <[Box<dyn RxPort>; 1]>::try_from(rx) {
            Ok([only]) => {
                let worker = (0..self.handles.len())
                    .min_by_key(|w| placement.iter().filter(|(_, p)| p == w).count())
                    .unwrap_or(0);
                placement.push((index, worker));
                self.handles[worker].send(Command::AddPort(index, only));
            }
            Err(queues) => {
                for (worker, queue) in queues.into_iter().enumerate().take(self.handles.len()) {
                    placement.push((index, worker));
                    self.handles[worker].send(Command::AddPort(index, queue));
                }
            }
        }
    }

    /// Detaches an interface: no worker polls or sends on it any more.
    pub fn detach(&self, index: IfIndex) {
        self.tx.rcu(|table| {
            let mut table = (**table).clone();
            if let Some(slot) = table.get_mut(index.as_usize()) {
                *slot = None;
            }
            table
        });
        let mut placement = self.placement.lock().unwrap_or_else(|e| e.into_inner());
        placement.retain(|&(i, worker)| {
            if i == index {
                self.handles[worker].send(Command::RemovePort(index));
            }
            i != index
        });
    }

    /// Traces the next `packets` packets received by each worker.
    pub fn trace_add(&self, packets: u32) {
        for h in &self.handles {
            h.send(Command::TraceAdd(packets));
        }
    }

    /// Forgets the trace of every worker.
    pub fn trace_clear(&self) {
        for h in &self.handles {
            h.send(Command::TraceClear);
        }
    }

    /// What every worker has counted, learned and traced.
    pub fn snapshot(&self) -> Result<Vec<WorkerSnapshot>, WorkerError> {
        let replies: Vec<_> = self
            .handles
            .iter()
            .map(|h| {
                let (tx, rx) = mpsc::channel();
                h.send(Command::Snapshot(tx));
                rx
            })
            .collect();
        replies
            .into_iter()
            .enumerate()
            .map(|(i, rx)| {
                rx.recv_timeout(Duration::from_secs(2))
                    .map_err(|_| WorkerError::NoAnswer(i as u32))
            })
            .collect()
    }

    /// Stops every worker and waits for them.
    pub fn stop(mut self) {
        self.stop_all();
    }

    fn stop_all(&mut self) {
        for h in &self.handles {
            h.send(Command::Stop);
        }
        let mut rx = Vec::new();
        for h in &mut self.handles {
            if let Some(t) = h.thread.take() {
                rx.extend(t.join().unwrap_or_default());
            }
        }
        // The workers are gone: nobody else holds the table now.
        let tx = Arc::try_unwrap(self.tx.swap(Arc::new(Vec::new()))).unwrap_or_default();
        let rx = rx.into_iter().map(|port| port as Box<dyn Send>);
        let tx = tx
            .into_iter()
            .flatten()
            .map(|port| Box::new(port) as Box<dyn Send>);
        drop_together(rx.chain(tx));
    }
}

/// Drops each of `ports` on a thread of its own. Closing a tap or an AF_PACKET socket waits
/// in the kernel for an RCU grace period (`synchronize_net`, tens of milliseconds); one after
/// the other, a node with a few of them took most of 100 ms to stop, and a restarting node
/// forwards again only once the last one is closed (a tap takes one reader at a time).
/// Together, they wait about one grace period.
fn drop_together(ports: impl Iterator<Item = Box<dyn Send>>) {
    std::thread::scope(|scope| {
        for port in ports {
            let thread = std::thread::Builder::new().name("podwire-close".into());
            // Without a thread, the port is dropped here, in turn.
            if let Err(e) = thread.spawn_scoped(scope, move || drop(port)) {
                tracing::debug!("closing a port in turn: no thread for it: {e}");
            }
        }
    });
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop_all();
    }
}

const WAKER_TOKEN: u64 = u64::MAX;
/// How often a worker expires neighbors, MAC addresses, sessions and affinity entries.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(1);
/// How often a worker that traffic keeps awake looks at its descriptors,
/// so that control channels (a memif handshake, a peer leaving) move on.
pub const LOOK_INTERVAL: Duration = Duration::from_millis(1);

struct AttachedPort {
    index: IfIndex,
    rx: Box<dyn RxPort>,
    /// When the port's control work is due, as it said after its last
    /// service.
    deadline: Option<std::time::Instant>,
}

struct Worker {
    id: u32,
    engine: Engine,
    reader: TableReader,
    tx: Arc<ArcSwap<TxTable>>,
    ports: Vec<AttachedPort>,
    /// Per interface, by index: what this worker received and sent.
    counters: Vec<PortCounters>,
    inbox: Receiver<Command>,
    poller: Poller,
    waker: Arc<Waker>,
    /// The earliest of the ports' deadlines.
    next_deadline: Option<std::time::Instant>,
    rx: Vec<BufferIndex>,
    /// The interfaces with packets to send, this round.
    pending: Vec<IfIndex>,
    /// What devices that need a chain in one piece copy it into.
    scratch: TxScratch,
    /// Session and affinity expiry, stale UDP sessions.
    nat: NatHousekeeping,
    /// With several workers: the way to the others.
    handoff: Option<Handoff>,
    /// What it received from its ports, as `show runtime`'s `worker-input`.
    input: NodeCounters,
    /// Times it slept.
    sleeps: u64,
    /// Whether it polls on after its last packet.
    spin: Spin,
}

impl Worker {
    /// Runs until told to stop; the ports it polled, for [`Workers::stop`] to close.
    fn run(mut self) -> Vec<Box<dyn RxPort>> {
        let mut last_busy = Instant::from_nanos(monotonic_nanos());
        let mut last_housekeeping = last_busy;
        let mut last_look = last_busy;
        let mut ready = Vec::new();
        // Opened here, on the worker's thread: the file is the thread's.
        let run_queue = RunQueueWait::open();
        while self.handle_commands() {
            let now = Instant::from_nanos(monotonic_nanos());
            if self.spin.sample_due(now)
                && let Some(waited) = run_queue.read()
            {
                self.spin.observe(now, waited);
            }
            self.service_due(now);
            if self.poll_once(now) > 0 {
                last_busy = now;
                if now.saturating_since(last_look) >= LOOK_INTERVAL {
                    self.wait(Some(Duration::ZERO), &mut ready);
                    last_look = now;
                }
            } else if now.saturating_since(last_busy) >= self.spin.window(now) {
                let until_housekeeping =
                    HOUSEKEEPING_INTERVAL.saturating_sub(now.saturating_since(last_housekeeping));
                if self.sleep(now, until_housekeeping, &mut ready) {
                    last_busy = now;
                }
                last_look = now;
            }
            if now.saturating_since(last_housekeeping) >= HOUSEKEEPING_INTERVAL {
                let tables = self.reader.refresh();
                // Packets held for a next hop whose time is up are dropped, counted;
                // those another worker's answer or new tables resolved leave.
                self.engine.state.neighbors.sync();
                let released = release_due(&mut self.engine, tables, now) > 0;
                if released {
                    self.engine.run(tables, now);
                }
                self.engine.state.neighbors.expire(now);
                self.engine.state.bridges.age(now, tables);
                let nat = self.nat.run(&mut self.engine.state, tables, now);
                if nat.stale_udp_cleared > 0 {
                    tracing::debug!(
                        worker = self.id,
                        cleared = nat.stale_udp_cleared,
                        "UDP sessions to endpoints that no longer serve cleared"
                    );
                }
                if let Some(handoff) = &mut self.handoff {
                    if released {
                        handoff.publish(&mut self.engine.state.sessions, tables, now);
                    }
                    handoff.housekeeping(&mut self.engine.state.sessions, now);
                }
                if released {
                    self.transmit();
                }
                last_housekeeping = now;
            }
        }
        std::mem::take(&mut self.ports)
            .into_iter()
            .map(|port| port.rx)
            .collect()
    }

    /// Sleeps until a descriptor is readable, `limit` passes or a port's
    /// timer is due. The ports are told first, and polled once more after:
    /// frames that came before they asked their peers for signals signalled
    /// nothing. Returns whether that last look found frames (and so the
    /// worker did not sleep).
    fn sleep(&mut self, now: Instant, limit: Duration, ready: &mut Vec<u64>) -> bool {
        self.set_sleeping(true);
        let found = self.poll_once(now) > 0;
        if !found {
            self.sleeps += 1;
            let until_deadline = self
                .next_deadline
                .map(|due| due.saturating_duration_since(std_instant(now)));
            let timeout = until_deadline.map_or(limit, |until| until.min(limit));
            self.wait(Some(timeout), ready);
        }
        self.set_sleeping(false);
        found
    }

    fn set_sleeping(&mut self, sleeping: bool) {
        for port in &mut self.ports {
            port.rx.set_sleeping(sleeping);
        }
        if let Some(handoff) = &self.handoff {
            handoff.set_sleeping(sleeping);
        }
    }

    /// Waits on the descriptors for at most `timeout`, then services the
    /// ports reported readable.
    fn wait(&mut self, timeout: Option<Duration>, ready: &mut Vec<u64>) {
        if let Err(e) = self.poller.wait(timeout, ready) {
            tracing::error!(worker = self.id, error = %e, "epoll_wait failed");
        }
        let now = std::time::Instant::now();
        for &token in ready.iter() {
            if token == WAKER_TOKEN {
                let _ = self.waker.drain();
            } else if let Some(port) = self
                .ports
                .iter_mut()
                .find(|p| u64::from(p.index.0) == token)
            {
                service(port, now, &mut self.engine.state.neighbors);
            }
        }
        ready.clear();
        self.update_next_deadline();
    }

    /// Services the ports whose timer has come.
    fn service_due(&mut self, now: Instant) {
        let now = std_instant(now);
        if self.next_deadline.is_none_or(|due| now < due) {
            return;
        }
        for port in &mut self.ports {
            if port.deadline.is_some_and(|due| due <= now) {
                service(port, now, &mut self.engine.state.neighbors);
            }
        }
        self.update_next_deadline();
    }

    fn update_next_deadline(&mut self) {
        self.next_deadline = self.ports.iter().filter_map(|p| p.deadline).min();
    }

    /// One round: receive from every port (and, with several workers, hand over what
    /// others own and take what they handed over), run the graph, transmit.
    /// Returns the number of packets received.
    fn poll_once(&mut self, now: Instant) -> usize {
        let mut received = 0;
        // With several workers, the tables tell steering which Services keep clients to one
        // endpoint.
        let tables = match &mut self.handoff {
            Some(handoff) => {
                handoff.begin_round(&self.engine.state.sessions);
                Some(self.reader.refresh())
            }
            None => None,
        };
        for port in &mut self.ports {
            let i = port.index.as_usize();
            if self.counters.len() <= i {
                self.counters.resize(i + 1, PortCounters::default());
            }
            port.rx.receive(
                &mut self.engine.pool,
                VECTOR_SIZE,
                &mut self.rx,
                &mut self.counters[i],
            );
            received += self.rx.len();
            if let (Some(handoff), Some(tables)) = (&mut self.handoff, tables) {
                handoff.split(&mut self.engine.pool, port.index, &mut self.rx, tables);
            }
            if !self.rx.is_empty() {
                self.engine.receive(port.index, &self.rx, now);
                self.rx.clear();
            }
        }
        if received > 0 {
            handoff::count(&mut self.input, received);
        }
        let mut handled = received;
        if let Some(handoff) = &mut self.handoff {
            handoff.wake_peers();
            handled += handoff.take(&mut self.engine, now);
        }
        if handled > 0 {
            let tables = self.reader.refresh();
            self.engine.state.neighbors.sync();
            // What another worker learned releases the packets held here at once.
            release_due(&mut self.engine, tables, now);
            self.engine.run(tables, now);
            if let Some(handoff) = &mut self.handoff {
                handoff.publish(&mut self.engine.state.sessions, tables, now);
            }
            self.transmit();
        }
        handled
    }

    /// Hands every output queue to its device. Allocates nothing once the scratch vectors
    /// have grown: the interface list and the linearizing buffer are the worker's, kept from
    /// round to round, and the queues get their allocations back.
    fn transmit(&mut self) {
        let table = self.tx.load();
        self.pending.clear();
        self.pending.extend(self.engine.tx.pending());
        for &index in &self.pending {
            let Some(queue) = self.engine.tx.queue_mut(index) else {
                continue;
            };
            let mut packets = std::mem::take(queue);
            let i = index.as_usize();
            if self.counters.len() <= i {
                self.counters.resize(i + 1, PortCounters::default());
            }
            match table.get(i).and_then(Option::as_ref) {
                Some(device) => device.send(
                    TxBatch::new(&self.engine.pool, &packets),
                    &mut self.scratch,
                    &mut self.counters[i],
                ),
                None => self.counters[i].tx_drops += packets.len() as u64,
            }
            for &bi in &packets {
                self.engine.pool.free(bi);
            }
            // Give the queue its allocation back for the next round.
            if let Some(queue) = self.engine.tx.queue_mut(index) {
                packets.clear();
                *queue = packets;
            }
        }
    }

    /// Handles what the control plane asked; false when told to stop.
    fn handle_commands(&mut self) -> bool {
        loop {
            let command = match self.inbox.try_recv() {
                Ok(c) => c,
                Err(mpsc::TryRecvError::Empty) => return true,
                Err(mpsc::TryRecvError::Disconnected) => return false,
            };
            match command {
                Command::AddPort(index, rx) => {
                    if let Err(e) = self.poller.add(rx.fd(), u64::from(index.0)) {
                        tracing::error!(worker = self.id, error = %e, "cannot watch an interface");
                    }
                    let mut port = AttachedPort {
                        index,
                        rx,
                        deadline: None,
                    };
                    service(
                        &mut port,
                        std::time::Instant::now(),
                        &mut self.engine.state.neighbors,
                    );
                    self.ports.push(port);
                    self.update_next_deadline();
                }
                Command::RemovePort(index) => {
                    if let Some(pos) = self.ports.iter().position(|p| p.index == index) {
                        let mut port = self.ports.remove(pos);
                        let _ = self.poller.remove(port.rx.fd());
                        port.rx.release(&mut self.engine.pool);
                    }
                    self.update_next_deadline();
                }
                Command::TraceAdd(n) => self.engine.trace.arm(n),
                Command::TraceClear => self.engine.trace.clear(),
                Command::Snapshot(reply) => {
                    let mut snapshot = snapshot::take(self.id, &self.engine, &self.counters);
                    snapshot.runtime.extend(self.runtime());
                    let _ = reply.send(snapshot);
                }
                Command::Stop => return false,
            }
        }
    }
}

impl Worker {
    /// `show runtime` rows of the worker itself, after the graph's: what it received,
    /// how often it slept, how often it stopped polling because another task wanted its
    /// core (`worker-yield`), what it handed over and took.
    fn runtime(&self) -> Vec<NodeRuntime> {
        let mut rows = vec![
            NodeRuntime {
                name: "worker-input",
                counters: self.input,
            },
            NodeRuntime {
                name: "worker-sleep",
                counters: NodeCounters {
                    calls: self.sleeps,
                    ..NodeCounters::default()
                },
            },
            NodeRuntime {
                name: "worker-yield",
                counters: NodeCounters {
                    calls: self.spin.yielded(),
                    ..NodeCounters::default()
                },
            },
        ];
        if let Some(handoff) = &self.handoff {
            rows.extend(handoff.runtime());
        }
        rows
    }
}

/// Does a port's control work and notes its next timer; when the port's peer came up,
/// the worker may ask for its neighbors there again at once.
fn service(port: &mut AttachedPort, now: std::time::Instant, neighbors: &mut NeighborTable) {
    port.rx.service(now);
    port.deadline = port.rx.next_deadline();
    if port.rx.take_link_up() {
        neighbors.forget_solicitations(port.index);
    }
}
