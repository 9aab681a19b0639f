//! Packets that wait for their next hop's MAC: held by `ip4-glean` / `ip6-glean` while the
//! switch asks for it, sent as soon as it is learned, dropped when nobody answers.
//!
//! Dropping the packet that finds its next hop unresolved (what VPP does) costs the first
//! packet of every flow to a new neighbor: a TCP SYN is retransmitted only after a second.
//! Between nodes that happens to every new VXLAN remote end, and after an agent restart to
//! every neighbor at once. Linux holds such packets instead (`unres_qlen`); so does
//! podwire, within bounds that a flood of packets to addresses nobody answers for cannot
//! pass:
//!
//! - [`HOLD_PACKETS`] packets and [`HOLD_BYTES`] per next hop;
//! - [`HOLD_NEIGHBORS`] next hops waiting at once;
//! - a [`HOLD_POOL_SHARE`]th of the worker's buffers in all.
//!
//! A held packet keeps its buffer: nothing is copied. The table owns those buffers until
//! they are *handed back* to their glean node (the neighbor answered, the interface went, or
//! [`HOLD_TIME`] passed), which sends or drops them, counted, in the graph.

use core::net::IpAddr;
use std::collections::VecDeque;
use std::time::Duration;

use hashbrown::HashMap;
use hashbrown::hash_map::Entry;

use crate::buffer::{BufferIndex, BufferPool};
use crate::clock::Instant;
use crate::interface::IfIndex;
use crate::neighbor::{NeighborTable, SOLICIT_INTERVAL};
use crate::tables::Tables;

/// The most packets held for one next hop: Linux's historical `unres_qlen`. Enough for
/// the first packets of a flow (a SYN, a DNS query and its retry, a ping) and the first
/// packets of each flow that resumes after a restart; a sender that sends more before the
/// answer comes (a second at worst) retransmits what was dropped.
pub const HOLD_PACKETS: usize = 3;
/// The most bytes held for one next hop: one segmentation-offload packet of the largest
/// size (64 KiB), so that a TCP stream resuming with one is not cut.
pub const HOLD_BYTES: usize = 65_536;
/// The most next hops with packets held at once, per worker.
pub const HOLD_NEIGHBORS: usize = 256;
/// Held packets take at most this fraction (1/n) of the worker's buffers: the rest keep
/// receiving, whatever a pod sends to addresses nobody answers for.
pub const HOLD_POOL_SHARE: usize = 8;
/// How long packets are held for a next hop, from the first one: as long as the switch
/// waits before asking again. A neighbor that has not answered by then is probably gone,
/// and the sender's own retransmission (TCP's first timeout is a second, RFC 6298) takes
/// over.
pub const HOLD_TIME: Duration = SOLICIT_INTERVAL;

/// A next hop: the interface it is on and its address.
pub type NextHop = (IfIndex, IpAddr);

/// An address family, for the glean node that handles it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Family {
    /// IPv4: `ip4-glean`.
    V4,
    /// IPv6: `ip6-glean`.
    V6,
}

impl Family {
    /// The family of `ip`.
    pub fn of(ip: IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Why a packet was not held.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HoldError {
    /// Its next hop already has as many packets or bytes held as it may.
    #[error("{HOLD_PACKETS} packets or {HOLD_BYTES} bytes already wait for this next hop")]
    NextHopFull,
    /// As many next hops as may wait already do, or the held packets use their share of
    /// the buffers.
    #[error("{HOLD_NEIGHBORS} next hops or a {HOLD_POOL_SHARE}th of the buffers already wait")]
    TableFull,
}

/// The packets held for one next hop.
#[derive(Debug)]
struct Waiting {
    /// When they are dropped if the next hop has not answered.
    deadline: Instant,
    /// In the order they came.
    packets: Vec<BufferIndex>,
    bytes: usize,
    buffers: usize,
}

/// A worker's held packets. See the module's documentation.
#[derive(Debug, Default)]
pub struct PendingTable {
    waiting: HashMap<NextHop, Waiting>,
    /// Buffers of the waiting packets, chained ones counted.
    buffers: usize,
    /// No deadline of `waiting` is earlier.
    earliest: Option<Instant>,
    /// The neighbor table's [`NeighborTable::changes`] and the tables' generation when
    /// [`PendingTable::due`] last looked: until one of them changes or a deadline passes,
    /// nothing can have become due.
    seen: (u64, u64),
    /// Packets handed back to their glean node and not yet sent or dropped by it, by
    /// family, with the next hop they waited for.
    handed_back: [VecDeque<(BufferIndex, NextHop)>; 2],
}

impl PendingTable {
    /// Whether no packet is held.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty() && self.handed_back.iter().all(VecDeque::is_empty)
    }

    /// The packets held, handed back ones included.
    pub fn len(&self) -> usize {
        let waiting: usize = self.waiting.values().map(|w| w.packets.len()).sum();
        waiting + self.handed_back.iter().map(VecDeque::len).sum::<usize>()
    }

    /// Every buffer head held, handed back ones included: for the checks that no buffer
    /// leaks.
    pub fn iter(&self) -> impl Iterator<Item = BufferIndex> + '_ {
        let waiting = self
            .waiting
            .values()
            .flat_map(|w| w.packets.iter().copied());
        let handed_back = self.handed_back.iter().flatten().map(|&(bi, _)| bi);
        waiting.chain(handed_back)
    }

    /// Whether packets wait for `next_hop`.
    #[inline]
    pub fn is_waiting(&self, next_hop: NextHop) -> bool {
        !self.waiting.is_empty() && self.waiting.contains_key(&next_hop)
    }

    /// Holds packet `bi` (of `pool`) for `next_hop`; returns how many wait for it now.
    /// The first packet for a next hop starts its [`HOLD_TIME`].
    pub fn hold(
        &mut self,
        next_hop: NextHop,
        bi: BufferIndex,
        pool: &BufferPool,
        now: Instant,
    ) -> Result<usize, HoldError> {
        let bytes = pool.total_length(bi);
        let buffers = pool.chain(bi).count();
        if bytes > HOLD_BYTES {
            return Err(HoldError::NextHopFull);
        }
        if self.buffers + buffers > pool.capacity() / HOLD_POOL_SHARE {
            return Err(HoldError::TableFull);
        }
        let full = self.waiting.len() >= HOLD_NEIGHBORS;
        let waiting = match self.waiting.entry(next_hop) {
            Entry::Occupied(w) => w.into_mut(),
            Entry::Vacant(_) if full => return Err(HoldError::TableFull),
            Entry::Vacant(slot) => {
                let deadline = now.after(HOLD_TIME);
                self.earliest = Some(self.earliest.map_or(deadline, |e| e.min(deadline)));
                slot.insert(Waiting {
                    deadline,
                    packets: Vec::with_capacity(HOLD_PACKETS),
                    bytes: 0,
                    buffers: 0,
                })
            }
        };
        if waiting.packets.len() >= HOLD_PACKETS || waiting.bytes + bytes > HOLD_BYTES {
            return Err(HoldError::NextHopFull);
        }
        waiting.packets.push(bi);
        waiting.bytes += bytes;
        waiting.buffers += buffers;
        self.buffers += buffers;
        Ok(waiting.packets.len())
    }

    /// Takes the packets held for `next_hop` if its time is up (empty otherwise), to be
    /// dropped: a packet for it that comes later starts a new wait.
    pub fn take_expired(&mut self, next_hop: NextHop, now: Instant) -> Vec<BufferIndex> {
        match self.waiting.get(&next_hop) {
            Some(w) if w.deadline <= now => self.remove(next_hop),
            _ => Vec::new(),
        }
    }

    /// Hands the packets held for `next_hop` back to their glean node: returns them, in
    /// the order they came, for the caller to send there. The table remembers them until
    /// the glean node takes each back ([`PendingTable::take_handed_back`]).
    pub fn hand_back(&mut self, next_hop: NextHop) -> Vec<BufferIndex> {
        let packets = self.remove(next_hop);
        let queue = &mut self.handed_back[Family::of(next_hop.1).index()];
        queue.extend(packets.iter().map(|&bi| (bi, next_hop)));
        packets
    }

    /// If `bi` is a packet handed back to the glean node of `family`, takes it back and
    /// says which next hop it waited for; `None` for any other packet.
    #[inline]
    pub fn take_handed_back(&mut self, family: Family, bi: BufferIndex) -> Option<NextHop> {
        let queue = &mut self.handed_back[family.index()];
        if queue.is_empty() {
            return None;
        }
        // Handed-back packets reach their glean node in the order they were handed back.
        let at = queue.iter().position(|&(b, _)| b == bi)?;
        queue.remove(at).map(|(_, next_hop)| next_hop)
    }

    /// The next hops whose packets are due, to hand back: their MAC is known now (learned
    /// by another worker, or given by the control plane), their interface is gone, or
    /// their time is up. Cheap when nothing can have changed since the last call.
    pub fn due(
        &mut self,
        neighbors: &NeighborTable,
        tables: &Tables,
        now: Instant,
    ) -> Vec<NextHop> {
        let seen = (neighbors.changes(), tables.generation);
        let late = self.earliest.is_some_and(|e| e <= now);
        if self.waiting.is_empty() || (seen == self.seen && !late) {
            return Vec::new();
        }
        self.seen = seen;
        let due: Vec<NextHop> = self
            .waiting
            .iter()
            .filter(|&(&(interface, ip), w)| {
                w.deadline <= now
                    || tables.interface(interface).is_none()
                    || neighbors.resolve(tables, interface, ip, now).is_some()
            })
            .map(|(&next_hop, _)| next_hop)
            .collect();
        self.earliest = self
            .waiting
            .iter()
            .filter(|(next_hop, _)| !due.contains(next_hop))
            .map(|(_, w)| w.deadline)
            .min();
        due
    }

    fn remove(&mut self, next_hop: NextHop) -> Vec<BufferIndex> {
        let Some(w) = self.waiting.remove(&next_hop) else {
            return Vec::new();
        };
        self.buffers -= w.buffers;
        w.packets
    }
}

#[cfg(test)]
mod tests;
