//! A memif interface as a port of the switch: its receive side polled by the worker that owns
//! it, its transmit side usable by every worker.
//!
//! **Who services the control channel.** The owning worker does, not a thread of its own: the
//! memif [`Server`] or [`Client`] holds the shared memory the data path reads, and is dropped
//! when a peer leaves, so the thread that polls the rings is the one that can tell when the
//! memory goes away without any hand-over. The port keeps an epoll instance of its own over
//! its control sockets (listener, handshakes, connection) and its receive queues' interrupt
//! eventfds; that epoll's descriptor is the port's [`RxPort::fd`], so the worker's own epoll
//! reports it whenever one of them is readable, and the worker then calls
//! [`RxPort::service`] (accept, handshake, disconnect, drain the interrupts). A client's
//! timers (reconnecting every second, handshake timeouts) come through
//! [`RxPort::next_deadline`]. No system call is made for the control side while nothing
//! happens on it: a busy worker looks at its epoll only every millisecond or so.
//!
//! **Interrupts.** While the worker polls, the receive queues are in polling mode (the ring
//! flag `MASK_INT` asks the peer not to write the eventfd, saving it a system call per
//! burst); when the worker is about to sleep ([`RxPort::set_sleeping`]) they switch to
//! interrupt mode, so the peer's next packet wakes the worker.
//!
//! **Transmit from several workers.** The memif connection sits behind a mutex shared by the
//! receive and transmit sides: a burst takes it once. With one worker (the default) it is
//! never contended and costs two atomic operations per burst. With several workers, those
//! that send out of the same memif interface at the same moment take turns, and every worker
//! transmits on the interface's queue 0 (the other queues carry the peer's traffic in).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use podwire_dataplane::buffer::{BUFFER_DATA_SIZE, BUFFER_HEADROOM, BufferIndex, BufferPool};
use podwire_memif::sys::{FileAccess, SocketAddr};
use podwire_memif::{
    Client, ConnectError, Event, Interface, InterfaceConfig, Packet, PeerInfo, QueueStats, Server,
    ServerError,
};
use rustix::event::epoll;
use rustix::io::Errno;

use super::port::{PortCounters, RxPort, TxPort};

/// The queue every worker transmits on.
const TX_QUEUE: u16 = 0;

/// Which end of the memif connection the switch is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemifRole {
    /// The switch listens on the socket; `access` sets the socket file's permissions (`None`
    /// for an abstract socket).
    Server {
        /// Who may connect.
        access: Option<FileAccess>,
    },
    /// The switch connects to the application's server, and again whenever it comes back.
    Client,
}

/// A memif interface of the switch.
#[derive(Clone, Debug)]
pub struct MemifPortConfig {
    /// The switch's name for it, for the log.
    pub name: String,
    /// The control socket.
    pub socket: SocketAddr,
    /// Which end the switch is.
    pub role: MemifRole,
    /// The interface (id, secret, queues, sizes, seal policy).
    pub interface: InterfaceConfig,
}

/// Why a memif port could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum MemifPortError {
    /// The server socket could not be made.
    #[error("memif interface {name}: {source}")]
    Server {
        /// The switch's name for it.
        name: String,
        /// Why.
        source: ServerError,
    },
    /// The client could not be made.
    #[error("memif interface {name}: {source}")]
    Client {
        /// The switch's name for it.
        name: String,
        /// Why.
        source: ConnectError,
    },
    /// The port's epoll could not be made.
    #[error("memif interface {name}: cannot create its epoll instance: {source}")]
    Epoll {
        /// The switch's name for it.
        name: String,
        /// Why.
        source: Errno,
    },
}

/// What the control plane sees of a memif port's connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemifState {
    /// The peer, while one is connected.
    pub peer: Option<PeerInfo>,
    /// Why the last connection ended or failed, if one did.
    pub last_error: Option<String>,
}

/// A handle on a memif port's [`MemifState`], kept up to date by the worker that owns the
/// port.
#[derive(Clone, Debug, Default)]
pub struct MemifStatus(Arc<Mutex<MemifState>>);

impl MemifStatus {
    /// The state now.
    pub fn get(&self) -> MemifState {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn update(&self, change: impl FnOnce(&mut MemifState)) {
        change(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

/// The two sides of a memif port and its status, as [`open`] makes them.
pub struct MemifPort {
    /// To the owning worker.
    pub rx: MemifRx,
    /// To every worker.
    pub tx: Arc<MemifTx>,
    /// To the control plane.
    pub status: MemifStatus,
}

/// Makes a memif port: binds the server's socket at once (with its permissions, so errors
/// show at start), or prepares the client (which connects when its worker first services
/// it).
pub fn open(config: MemifPortConfig) -> Result<MemifPort, MemifPortError> {
    let name = config.name;
    let endpoint = match config.role {
        MemifRole::Server { access } => {
            let id = config.interface.id;
            let server = Server::bind(&config.socket, access)
                .and_then(|mut server| {
                    server.add_interface(config.interface)?;
                    Ok(server)
                })
                .map_err(|source| MemifPortError::Server {
                    name: name.clone(),
                    source,
                })?;
            Endpoint::Server { server, id }
        }
        MemifRole::Client => Endpoint::Client(
            Client::new(config.socket, config.interface).map_err(|source| {
                MemifPortError::Client {
                    name: name.clone(),
                    source,
                }
            })?,
        ),
    };
    let epoll =
        epoll::create(epoll::CreateFlags::CLOEXEC).map_err(|source| MemifPortError::Epoll {
            name: name.clone(),
            source,
        })?;
    let endpoint = Arc::new(Mutex::new(endpoint));
    let status = MemifStatus::default();
    let rx = MemifRx {
        name,
        endpoint: endpoint.clone(),
        epoll,
        interrupts: Vec::new(),
        sleeping: false,
        drops_seen: Vec::new(),
        next_queue: 0,
        scratch: Vec::new(),
        status: status.clone(),
        link_up: false,
    };
    Ok(MemifPort {
        rx,
        tx: Arc::new(MemifTx { endpoint }),
        status,
    })
}

/// The switch's end of the connection, in either role.
#[derive(Debug)]
enum Endpoint {
    Server { server: Server, id: u32 },
    Client(Client),
}

impl Endpoint {
    fn poll(&mut self, now: Instant) -> Vec<Event> {
        match self {
            Endpoint::Server { server, .. } => server.poll(now),
            Endpoint::Client(client) => client.poll(now).into_iter().collect(),
        }
    }

    fn interface(&self) -> Option<&Interface> {
        match self {
            Endpoint::Server { server, id } => server.interface(*id),
            Endpoint::Client(client) => client.interface(),
        }
    }

    fn interface_mut(&mut self) -> Option<&mut Interface> {
        match self {
            Endpoint::Server { server, id } => server.interface_mut(*id),
            Endpoint::Client(client) => client.interface_mut(),
        }
    }

    fn fds(&self) -> Vec<BorrowedFd<'_>> {
        match self {
            Endpoint::Server { server, .. } => server.fds(),
            Endpoint::Client(client) => client.fds(),
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        match self {
            Endpoint::Server { server, .. } => server.next_deadline(),
            Endpoint::Client(client) => client.next_deadline(),
        }
    }

    /// Why a client is not connected (it cannot reach its server, say); a server just waits.
    fn last_error(&self) -> Option<&str> {
        match self {
            Endpoint::Server { .. } => None,
            Endpoint::Client(client) => client.last_error(),
        }
    }
}

fn lock(endpoint: &Mutex<Endpoint>) -> MutexGuard<'_, Endpoint> {
    endpoint.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The receive side of a memif port, and its control channel.
pub struct MemifRx {
    name: String,
    endpoint: Arc<Mutex<Endpoint>>,
    /// Readable when a control socket or a receive queue's eventfd is.
    epoll: OwnedFd,
    /// Our own duplicates of the receive queues' eventfds, as watched by `epoll`. The peer
    /// holds the same eventfds: epoll watches open files, not descriptors, so a watched
    /// eventfd must be removed before it is closed, and these are ours to remove.
    interrupts: Vec<OwnedFd>,
    /// Whether the worker sleeps (queues in interrupt mode) or polls.
    sleeping: bool,
    /// Per receive queue of the connection: the drops already counted.
    drops_seen: Vec<u64>,
    /// The queue the next burst starts at, so that no queue starves the others.
    next_queue: u16,
    /// A jumbo frame, on its way into a chain of pool buffers.
    scratch: Vec<u8>,
    status: MemifStatus,
    /// A peer connected since the worker last asked ([`RxPort::take_link_up`]).
    link_up: bool,
}

impl MemifRx {
    /// Acts on what a poll of the connection reported.
    fn on_event(&mut self, event: Event, interface: Option<&mut Interface>) {
        match event {
            Event::Connected { peer, .. } => {
                tracing::info!(
                    interface = self.name,
                    peer = peer.name,
                    peer_interface = peer.if_name,
                    "memif connected"
                );
                self.unwatch_interrupts();
                if let Some(interface) = interface {
                    self.watch_interrupts(interface);
                    set_polling(interface, !self.sleeping);
                    self.drops_seen = vec![0; usize::from(interface.rx_queues())];
                    self.next_queue = 0;
                }
                self.status.update(|state| {
                    state.peer = Some(peer);
                    state.last_error = None;
                });
                self.link_up = true;
            }
            Event::Disconnected { reason, .. } => {
                tracing::info!(interface = self.name, %reason, "memif disconnected");
                self.unwatch_interrupts();
                self.status.update(|state| {
                    state.peer = None;
                    state.last_error = Some(reason.to_string());
                });
            }
            Event::Refused { reason, .. } => {
                tracing::warn!(interface = self.name, %reason, "memif connection refused");
                self.status
                    .update(|state| state.last_error = Some(reason.clone()));
            }
        }
    }

    fn watch_interrupts(&mut self, interface: &Interface) {
        for queue in 0..interface.rx_queues() {
            let watched = interface
                .rx_interrupt_fd(queue)
                .map_err(|e| e.to_string())
                .and_then(|fd| fd.try_clone_to_owned().map_err(|e| e.to_string()))
                .and_then(|dup| {
                    epoll::add(&self.epoll, &dup, token(), epoll::EventFlags::IN)
                        .map(|()| dup)
                        .map_err(|e| e.to_string())
                });
            match watched {
                Ok(dup) => self.interrupts.push(dup),
                Err(error) => tracing::error!(
                    interface = self.name,
                    queue,
                    error,
                    "cannot watch a memif receive queue; its packets wait for the next poll"
                ),
            }
        }
    }

    fn unwatch_interrupts(&mut self) {
        for dup in self.interrupts.drain(..) {
            let _ = epoll::delete(&self.epoll, &dup);
        }
    }
}

/// Every descriptor in a port's epoll has the same token: readiness only means "service me".
fn token() -> epoll::EventData {
    epoll::EventData::new_u64(0)
}

/// Polling mode (the peer does not signal) or interrupt mode, on every receive queue.
fn set_polling(interface: &mut Interface, polling: bool) {
    for queue in 0..interface.rx_queues() {
        // Only a queue index out of range fails, and these are in range.
        let _ = interface.set_polling(queue, polling);
    }
}

/// Packets a queue dropped (bad descriptors from the peer, frames too long) and bursts it
/// refused (an impossible index from the peer).
fn dropped(stats: &QueueStats) -> u64 {
    stats.drops_bad_region
        + stats.drops_overrun
        + stats.drops_zero_length
        + stats.drops_too_big
        + stats.drops_truncated_chain
        + stats.bad_peer_index
}

/// Copies a received packet into the pool: one buffer, or a chain for a jumbo frame.
fn copy_in(
    pool: &mut BufferPool,
    packet: &Packet<'_>,
    scratch: &mut Vec<u8>,
) -> Option<BufferIndex> {
    let len = packet.len();
    if len <= BUFFER_DATA_SIZE {
        let bi = pool.alloc().ok()?;
        let copied = packet.copy_to(&mut pool.raw_mut(bi)[BUFFER_HEADROOM..BUFFER_HEADROOM + len]);
        pool.set_data(bi, BUFFER_HEADROOM, copied);
        return Some(bi);
    }
    scratch.resize(len, 0);
    let copied = packet.copy_to(scratch);
    pool.alloc_from(&scratch[..copied]).ok()
}

impl RxPort for MemifRx {
    fn fd(&self) -> BorrowedFd<'_> {
        self.epoll.as_fd()
    }

    fn receive(
        &mut self,
        pool: &mut BufferPool,
        max: usize,
        out: &mut Vec<BufferIndex>,
        counters: &mut PortCounters,
    ) {
        let MemifRx {
            endpoint,
            drops_seen,
            next_queue,
            scratch,
            ..
        } = self;
        let mut endpoint = lock(endpoint);
        let Some(interface) = endpoint.interface_mut() else {
            return;
        };
        let queues = interface.rx_queues();
        // Leave frames in the ring rather than take more than the pool holds.
        let mut budget = max.min(pool.available());
        let first = *next_queue % queues.max(1);
        *next_queue = first.wrapping_add(1);
        for queue in (first..queues).chain(0..first) {
            if budget == 0 {
                break;
            }
            let received = interface.rx_burst(queue, budget, |packet| {
                match copy_in(pool, &packet, scratch) {
                    Some(bi) => {
                        counters.rx_packets += 1;
                        counters.rx_bytes += packet.len() as u64;
                        out.push(bi);
                    }
                    None => counters.rx_drops += 1,
                }
            });
            budget = budget.saturating_sub(received.unwrap_or(0));
            let (Ok(stats), Some(seen)) = (
                interface.rx_stats(queue),
                drops_seen.get_mut(usize::from(queue)),
            ) else {
                continue;
            };
            let total = dropped(&stats);
            counters.rx_drops += total.saturating_sub(*seen);
            *seen = total;
        }
    }

    fn service(&mut self, now: Instant) {
        let endpoint = self.endpoint.clone();
        let mut endpoint = lock(&endpoint);
        for event in endpoint.poll(now) {
            self.on_event(event, endpoint.interface_mut());
        }
        match endpoint.interface() {
            Some(interface) => {
                for queue in 0..interface.rx_queues() {
                    let _ = interface.drain_interrupt(queue);
                }
            }
            None => {
                if let Some(error) = endpoint.last_error() {
                    self.status
                        .update(|state| state.last_error = Some(error.to_owned()));
                }
            }
        }
        // The control sockets change with every poll. Closed ones left the epoll when they
        // closed; adding every open one again adds the new ones (EEXIST: already watched).
        for fd in endpoint.fds() {
            match epoll::add(&self.epoll, fd, token(), epoll::EventFlags::IN) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(error) => tracing::error!(
                    interface = self.name,
                    %error,
                    "cannot watch a memif control socket; it is served on timers only"
                ),
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        lock(&self.endpoint).next_deadline()
    }

    fn take_link_up(&mut self) -> bool {
        std::mem::take(&mut self.link_up)
    }

    fn set_sleeping(&mut self, sleeping: bool) {
        self.sleeping = sleeping;
        if let Some(interface) = lock(&self.endpoint).interface_mut() {
            set_polling(interface, !sleeping);
        }
    }
}

impl Drop for MemifRx {
    fn drop(&mut self) {
        self.unwatch_interrupts();
    }
}

/// The transmit side of a memif port, shared by every worker.
pub struct MemifTx {
    endpoint: Arc<Mutex<Endpoint>>,
}

/// Packets go out in bursts of up to 64 frames; a chain (longer than a buffer) is copied into
/// one frame in the worker's scratch and goes out in a burst of its own.
impl TxPort for MemifTx {
    fn send(
        &self,
        batch: super::port::TxBatch<'_>,
        scratch: &mut super::port::TxScratch,
        counters: &mut PortCounters,
    ) {
        const BURST: usize = 64;
        let mut endpoint = lock(&self.endpoint);
        let Some(interface) = endpoint.interface_mut() else {
            // No peer: nobody to send to.
            counters.tx_drops += batch.len() as u64;
            return;
        };
        let before = interface.tx_stats(TX_QUEUE).unwrap_or_default();
        let mut frames: [&[u8]; BURST] = [&[]; BURST];
        let (mut next, mut taken) = (0, 0);
        while next < batch.len() {
            let first = batch.packet(next);
            let (offered, took) = if first.is_chain() {
                let whole = [first.contiguous(scratch)];
                (1, interface.tx_burst(TX_QUEUE, &whole).unwrap_or(0))
            } else {
                let mut n = 0;
                while n < BURST && next + n < batch.len() && !batch.packet(next + n).is_chain() {
                    frames[n] = batch.packet(next + n).head();
                    n += 1;
                }
                (n, interface.tx_burst(TX_QUEUE, &frames[..n]).unwrap_or(0))
            };
            taken += took;
            next += offered;
            if took < offered {
                break; // the ring is full
            }
        }
        let after = interface.tx_stats(TX_QUEUE).unwrap_or_default();
        counters.tx_packets += after.packets.saturating_sub(before.packets);
        counters.tx_bytes += after.bytes.saturating_sub(before.bytes);
        // Frames that found the ring full, and frames the queue refused (too long, or a bad
        // buffer posted by the peer).
        let refused = dropped(&after).saturating_sub(dropped(&before));
        counters.tx_drops += (batch.len() - taken) as u64 + refused;
    }
}

#[cfg(test)]
mod tests;
