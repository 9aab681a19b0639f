//! Handing packets between workers, so that each flow is handled by the worker that holds
//! its session (which worker that is: [`podwire_dataplane::steer`]).
//!
//! Every ordered pair of workers has a bounded queue (`std::sync::mpsc::sync_channel`: a
//! lock-free array queue) carrying copies of frames, and a queue back that returns their
//! allocations (up to 16 KiB), so that a steady handoff of ordinary frames allocates nothing. A worker splits each vector it
//! receives: what it owns stays in its pool, the rest is copied out and queued (the buffer
//! freed at once); when its queue is full, a packet is dropped and counted, as a congested
//! NIC queue would. After a round it wakes, through its eventfd, each worker it handed
//! packets to that sleeps, and only those: a worker says it sleeps before its last look at
//! its queues, with a full fence each side, so that a packet queued just as it falls asleep
//! is seen by one of the two.
//!
//! With one worker there is no handoff at all: the worker never makes one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering, fence};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};

use podwire_dataplane::buffer::{BufferIndex, BufferPool, OffloadInfo};
use podwire_dataplane::clock::Instant;
use podwire_dataplane::counters::NodeCounters;
use podwire_dataplane::engine::Engine;
use podwire_dataplane::graph::{NodeRuntime, VECTOR_SIZE};
use podwire_dataplane::interface::IfIndex;
use podwire_dataplane::nat::flow::FlowKey;
use podwire_dataplane::nat::service::ServiceTable;
use podwire_dataplane::nat::session::SessionTable;
use podwire_dataplane::steer::{Published, Steering, has_affinity};
use podwire_dataplane::tables::Tables;

use crate::poll::Waker;

/// Packets one queue holds: a few vectors, so that a burst waits rather than drops while
/// its owner finishes a round.
const QUEUE_PACKETS: usize = 4 * VECTOR_SIZE;
/// Allocations a queue back holds: a vector's worth.
const SPARE_FRAMES: usize = VECTOR_SIZE;
/// The largest allocation that goes back for reuse: a large segment's (up to 64 KiB) is
/// freed instead, so that the spares of a queue stay within a few MiB.
const SPARE_CAPACITY: usize = 16 * 1024;
/// Published keys a housekeeping round looks at, to release those whose session ended.
const SWEEP_BUDGET: usize = 4096;

/// A packet on its way to its owner.
struct Handed {
    /// The interface it came in by.
    interface: IfIndex,
    /// What its device left undone (checksum, segmentation).
    offload: OffloadInfo,
    /// Its flow, as the sender read it.
    key: FlowKey,
    /// Its bytes.
    frame: Vec<u8>,
}

/// The way to one other worker.
struct Peer {
    queue: SyncSender<Handed>,
    /// Allocations of frames it took, coming back.
    spare: Receiver<Vec<u8>>,
    waker: Arc<Waker>,
    sleeping: Arc<AtomicBool>,
    /// Packets were queued to it this round.
    sent: bool,
}

/// The way from one other worker.
struct Inbound {
    queue: Receiver<Handed>,
    spare: SyncSender<Vec<u8>>,
}

/// What a worker handed over and took, for `show runtime`.
#[derive(Copy, Clone, Debug, Default)]
struct HandoffCounters {
    out: NodeCounters,
    taken: NodeCounters,
    /// Packets dropped: the owner's queue was full, or the pool had no room for a packet
    /// taken.
    dropped: u64,
}

/// One worker's end of the handoff.
pub(super) struct Handoff {
    me: usize,
    steering: Steering,
    /// By worker; `None` for this one.
    peers: Vec<Option<Peer>>,
    inbound: Vec<Inbound>,
    sleeping: Arc<AtomicBool>,
    /// The flows of the packets this worker handles this round: those whose sessions were
    /// made in it are published.
    keys: Vec<FlowKey>,
    /// Sessions made before this round.
    created: u64,
    published: Published,
    counters: HandoffCounters,
    /// Claims lost to a full table or taken from another worker, logged now and then.
    trouble: u64,
    /// The last Service table seen, and whether a frontend of it has `ClientIP` affinity.
    affinity: Option<(Arc<ServiceTable>, bool)>,
}

impl Handoff {
    /// The handoff ends of `wakers.len()` workers (one for each, by its number).
    pub(super) fn mesh(steering: &Steering, wakers: &[Arc<Waker>]) -> Vec<Handoff> {
        let count = wakers.len();
        let sleeping: Vec<Arc<AtomicBool>> = (0..count)
            .map(|_| Arc::new(AtomicBool::new(false)))
            .collect();
        let mut ends: Vec<Handoff> = (0..count)
            .map(|me| Handoff {
                me,
                steering: steering.clone(),
                peers: (0..count).map(|_| None).collect(),
                inbound: Vec::with_capacity(count.saturating_sub(1)),
                sleeping: sleeping[me].clone(),
                keys: Vec::with_capacity(VECTOR_SIZE),
                created: 0,
                published: Published::default(),
                counters: HandoffCounters::default(),
                trouble: 0,
                affinity: None,
            })
            .collect();
        for from in 0..count {
            for to in (0..count).filter(|&to| to != from) {
                let (queue, taken) = mpsc::sync_channel(QUEUE_PACKETS);
                let (spare_back, spare) = mpsc::sync_channel(SPARE_FRAMES);
                ends[from].peers[to] = Some(Peer {
                    queue,
                    spare,
                    waker: wakers[to].clone(),
                    sleeping: sleeping[to].clone(),
                    sent: false,
                });
                ends[to].inbound.push(Inbound {
                    queue: taken,
                    spare: spare_back,
                });
            }
        }
        ends
    }

    /// Starts a round: forgets the last round's flows, notes how many sessions there are.
    pub(super) fn begin_round(&mut self, sessions: &SessionTable) {
        self.keys.clear();
        self.created = sessions.counters().created;
    }

    /// Keeps in `rx` (packets just received on `interface`) those this worker owns, in
    /// order; copies the others to their owners' queues and frees them.
    pub(super) fn split(
        &mut self,
        pool: &mut BufferPool,
        interface: IfIndex,
        rx: &mut Vec<BufferIndex>,
        tables: &Tables,
    ) {
        let mut handed = 0;
        let affinity = affine_services(&mut self.affinity, tables);
        rx.retain(|&bi| {
            let Some(key) = self.steering.flow_of(pool.data(bi)) else {
                return true;
            };
            let owner = self.steering.owner(&key, affinity);
            let Some(peer) = self.peers.get_mut(owner).and_then(Option::as_mut) else {
                self.keys.push(key);
                return true;
            };
            let mut frame = peer.spare.try_recv().unwrap_or_default();
            pool.copy_to_vec(bi, &mut frame);
            let packet = Handed {
                interface,
                offload: pool.meta(bi).offload,
                key,
                frame,
            };
            pool.free(bi);
            match peer.queue.try_send(packet) {
                Ok(()) => {
                    peer.sent = true;
                    handed += 1;
                }
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                    self.counters.dropped += 1;
                }
            }
            false
        });
        if handed > 0 {
            count(&mut self.counters.out, handed);
        }
    }

    /// Wakes the workers it handed packets to this round that sleep.
    pub(super) fn wake_peers(&mut self) {
        // Pairs with the fence in `set_sleeping`: either this sees the flag, or the owner's
        // last look sees the packets.
        fence(Ordering::SeqCst);
        for peer in self.peers.iter_mut().flatten() {
            if std::mem::take(&mut peer.sent) && peer.sleeping.load(Ordering::SeqCst) {
                let _ = peer.waker.wake();
            }
        }
    }

    /// Takes what other workers handed over (a vector at most), into `engine`'s pool and
    /// graph; returns how many packets.
    pub(super) fn take(&mut self, engine: &mut Engine, now: Instant) -> usize {
        let mut taken = 0;
        for inbound in &self.inbound {
            while taken < VECTOR_SIZE {
                let Ok(packet) = inbound.queue.try_recv() else {
                    break;
                };
                match engine.pool.alloc_from(&packet.frame) {
                    Ok(bi) => {
                        engine.pool.meta_mut(bi).offload = packet.offload;
                        engine.receive(packet.interface, &[bi], now);
                        self.keys.push(packet.key);
                        taken += 1;
                    }
                    Err(_) => self.counters.dropped += 1,
                }
                if packet.frame.capacity() <= SPARE_CAPACITY {
                    let _ = inbound.spare.try_send(packet.frame);
                }
            }
        }
        if taken > 0 {
            count(&mut self.counters.taken, taken);
        }
        taken
    }

    /// After the graph ran, before anything is sent: claims the reply keys of the sessions
    /// this round made, so that replies come here.
    pub(super) fn publish(&mut self, sessions: &mut SessionTable, tables: &Tables, now: Instant) {
        if sessions.counters().created == self.created {
            return;
        }
        let affinity = affine_services(&mut self.affinity, tables);
        let counts = self.steering.publish(
            self.me,
            sessions,
            &self.keys,
            &mut self.published,
            affinity,
            now,
        );
        let trouble = counts.full + counts.conflicts;
        if trouble > 0 {
            let before = self.trouble;
            self.trouble += trouble;
            // Once at each power of two.
            if before.leading_zeros() != self.trouble.leading_zeros() {
                tracing::warn!(
                    worker = self.me,
                    full = counts.full,
                    conflicts = counts.conflicts,
                    total = self.trouble,
                    "flow steering: reply keys not claimed (table full) or taken from another worker (a stale claim not swept yet); their replies may miss their session"
                );
            }
        }
    }

    /// Releases the claims of sessions that ended (a bounded part of them).
    pub(super) fn housekeeping(&mut self, sessions: &mut SessionTable, now: Instant) {
        self.published
            .sweep(&self.steering, self.me, sessions, now, SWEEP_BUDGET);
    }

    /// Says whether the worker is about to sleep (`true`, before its last look at the
    /// queues) or awake.
    pub(super) fn set_sleeping(&self, sleeping: bool) {
        self.sleeping.store(sleeping, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }

    /// `show runtime` rows: what it handed over, took, and dropped.
    pub(super) fn runtime(&self) -> [NodeRuntime; 3] {
        [
            NodeRuntime {
                name: "handoff-out",
                counters: self.counters.out,
            },
            NodeRuntime {
                name: "handoff-in",
                counters: self.counters.taken,
            },
            NodeRuntime {
                name: "handoff-drop",
                counters: NodeCounters {
                    packets: self.counters.dropped,
                    ..NodeCounters::default()
                },
            },
        ]
    }
}

/// The Service table of `tables` when one of its frontends has `ClientIP` affinity (steering
/// then looks up frontends); the answer is kept in `cache` for as long as the table stays.
fn affine_services<'t>(
    cache: &mut Option<(Arc<ServiceTable>, bool)>,
    tables: &'t Tables,
) -> Option<&'t ServiceTable> {
    let services = &tables.services;
    let affine = match cache {
        Some((seen, affine)) if Arc::ptr_eq(seen, services) => *affine,
        _ => {
            let affine = has_affinity(services);
            *cache = Some((services.clone(), affine));
            affine
        }
    };
    affine.then_some(&**services)
}

/// Counts a vector of `packets` packets.
pub(super) fn count(counters: &mut NodeCounters, packets: usize) {
    counters.calls += 1;
    counters.vectors += 1;
    counters.packets += packets as u64;
}
