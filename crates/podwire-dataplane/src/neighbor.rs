//! The neighbor table: which MAC address an IP next hop has, per interface.
//!
//! Entries come from two places: the control plane (static, in
//! [`crate::tables::Tables`]; a pod's MAC is known because podwire made its
//! interface) and the data plane (learned from ARP and neighbor discovery,
//! kept here, per worker). Learned entries expire; the switch also remembers
//! when it last asked for a next hop so that it asks at most once a second,
//! however many packets wait for the answer.
//!
//! With several workers, the worker that receives an ARP reply is not
//! always the one that routes to that neighbor. What a worker learns is
//! therefore also written to a [`NeighborBus`] that every worker of the node
//! shares; each worker applies what others learned between vectors
//! ([`NeighborTable::sync`]), which costs one atomic load when nothing was
//! learned. The hot path reads only the worker's own table.
//!
//! Packets whose next hop is being asked for wait in a worker's [`pending::PendingTable`].

use core::net::IpAddr;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hashbrown::HashMap;
use podwire_wire::ethernet::EthernetAddress;

use crate::clock::Instant;
use crate::interface::IfIndex;
use crate::tables::Tables;

pub mod pending;

/// How long a learned entry is used without being confirmed.
pub const NEIGHBOR_LIFETIME: Duration = Duration::from_secs(300);
/// The least time between two requests for the same next hop.
pub const SOLICIT_INTERVAL: Duration = Duration::from_secs(1);
/// The most entries a worker learns; past it, new ones are refused (a flood
/// of ARP from one port must not eat the node's memory).
pub const NEIGHBOR_CAPACITY: usize = 65_536;

/// A learned neighbor.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct NeighborEntry {
    /// Its MAC address; `None` while only asked for.
    pub mac: Option<EthernetAddress>,
    /// When it was learned or last confirmed.
    pub updated: Instant,
    /// When it was last asked for.
    pub solicited: Option<Instant>,
}

/// How many learned entries the bus keeps for workers that have not
/// caught up; a worker further behind misses the oldest and learns them
/// again from the network.
pub const NEIGHBOR_BUS_DEPTH: usize = 4096;

/// One learned neighbor, as published on the bus.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Learned {
    seq: u64,
    interface: IfIndex,
    ip: IpAddr,
    mac: EthernetAddress,
    at: Instant,
}

/// What the workers of one node learn, shared between them.
#[derive(Debug, Default)]
pub struct NeighborBus {
    /// The sequence number of the newest entry; read without the lock.
    newest: AtomicU64,
    log: Mutex<VecDeque<Learned>>,
}

impl NeighborBus {
    fn publish(&self, interface: IfIndex, ip: IpAddr, mac: EthernetAddress, at: Instant) {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let seq = self.newest.load(Ordering::Relaxed) + 1;
        if log.len() >= NEIGHBOR_BUS_DEPTH {
            log.pop_front();
        }
        log.push_back(Learned {
            seq,
            interface,
            ip,
            mac,
            at,
        });
        self.newest.store(seq, Ordering::Release);
    }
}

/// A worker's learned neighbors.
#[derive(Debug, Default)]
pub struct NeighborTable {
    entries: HashMap<(IfIndex, IpAddr), NeighborEntry>,
    /// Shared with the node's other workers, if it has any.
    bus: Option<Arc<NeighborBus>>,
    /// The newest bus entry this table has applied.
    seen: u64,
    /// How many times a MAC was learned or confirmed (see [`NeighborTable::changes`]).
    changes: u64,
}

impl NeighborTable {
    /// A table that shares what it learns with the other tables on `bus`.
    pub fn shared(bus: Arc<NeighborBus>) -> Self {
        NeighborTable {
            seen: bus.newest.load(Ordering::Acquire),
            bus: Some(bus),
            ..NeighborTable::default()
        }
    }

    /// Applies what other workers learned since the last call. Cheap when
    /// nothing was: one atomic load.
    #[inline]
    pub fn sync(&mut self) {
        let Some(bus) = &self.bus else {
            return;
        };
        if bus.newest.load(Ordering::Acquire) == self.seen {
            return;
        }
        let bus = bus.clone();
        let log = bus.log.lock().unwrap_or_else(|e| e.into_inner());
        let seen = self.seen;
        for l in log.iter().filter(|l| l.seq > seen) {
            self.insert(l.interface, l.ip, l.mac, l.at);
            self.seen = l.seq;
        }
    }

    /// Records that `ip` on `interface` has `mac` (from an ARP or ND
    /// message), and tells the other workers. Returns false when the
    /// table is full.
    pub fn learn(
        &mut self,
        interface: IfIndex,
        ip: IpAddr,
        mac: EthernetAddress,
        now: Instant,
    ) -> bool {
        let known = self
            .entries
            .get(&(interface, ip))
            .is_some_and(|e| e.mac == Some(mac));
        let learned = self.insert(interface, ip, mac, now);
        if learned
            && !known
            && let Some(bus) = &self.bus
        {
            bus.publish(interface, ip, mac, now);
        }
        learned
    }

    fn insert(
        &mut self,
        interface: IfIndex,
        ip: IpAddr,
        mac: EthernetAddress,
        now: Instant,
    ) -> bool {
        let full = self.entries.len() >= NEIGHBOR_CAPACITY;
        match self.entries.get_mut(&(interface, ip)) {
            Some(e) => {
                e.mac = Some(mac);
                e.updated = now;
                self.changes += 1;
                true
            }
            None if full => false,
            None => {
                self.changes += 1;
                self.entries.insert(
                    (interface, ip),
                    NeighborEntry {
                        mac: Some(mac),
                        updated: now,
                        solicited: None,
                    },
                );
                true
            }
        }
    }

    /// Updates `ip` only if it is already known or being asked for: what
    /// RFC 826 and RFC 4861 do with a message that was not for us.
    pub fn refresh(&mut self, interface: IfIndex, ip: IpAddr, mac: EthernetAddress, now: Instant) {
        if let Some(e) = self.entries.get_mut(&(interface, ip)) {
            e.mac = Some(mac);
            e.updated = now;
            self.changes += 1;
        }
    }

    /// A count that grows whenever a MAC is learned, confirmed or changed, here or by
    /// [`NeighborTable::sync`]: what waits for a neighbor need only look again when it
    /// moved.
    #[inline]
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// The MAC of next hop `ip` on `interface`: a static entry of the
    /// control plane first, else a learned one that has not expired.
    #[inline]
    pub fn resolve(
        &self,
        tables: &Tables,
        interface: IfIndex,
        ip: IpAddr,
        now: Instant,
    ) -> Option<EthernetAddress> {
        if let Some(&mac) = tables.neighbors.get(&(interface, ip)) {
            return Some(mac);
        }
        let e = self.entries.get(&(interface, ip))?;
        (now.saturating_since(e.updated) < NEIGHBOR_LIFETIME)
            .then_some(e.mac)
            .flatten()
    }

    /// Whether to send a request for `ip` now, recording it if so: at most
    /// one per [`SOLICIT_INTERVAL`] per next hop.
    pub fn should_solicit(&mut self, interface: IfIndex, ip: IpAddr, now: Instant) -> bool {
        if self.entries.len() >= NEIGHBOR_CAPACITY && !self.entries.contains_key(&(interface, ip)) {
            return false;
        }
        let e = self
            .entries
            .entry((interface, ip))
            .or_insert(NeighborEntry {
                mac: None,
                updated: now,
                solicited: None,
            });
        match e.solicited {
            Some(t) if now.saturating_since(t) < SOLICIT_INTERVAL => false,
            _ => {
                e.solicited = Some(now);
                true
            }
        }
    }

    /// Lets the next packet to an unresolved neighbor on `interface` ask for it at once,
    /// whatever [`NeighborTable::should_solicit`] recorded: the link came up, and what was
    /// asked before went nowhere.
    pub fn forget_solicitations(&mut self, interface: IfIndex) {
        for (_, e) in self
            .entries
            .iter_mut()
            .filter(|((i, _), e)| *i == interface && e.mac.is_none())
        {
            e.solicited = None;
        }
    }

    /// Forgets entries not confirmed for [`NEIGHBOR_LIFETIME`].
    pub fn expire(&mut self, now: Instant) {
        self.entries
            .retain(|_, e| now.saturating_since(e.updated) < NEIGHBOR_LIFETIME);
    }

    /// Every entry, for `show neighbors`.
    pub fn iter(&self) -> impl Iterator<Item = (IfIndex, IpAddr, &NeighborEntry)> {
        self.entries.iter().map(|(&(i, ip), e)| (i, ip, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    const MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
    const IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));

    fn at(secs: u64) -> Instant {
        Instant::from_nanos(secs * 1_000_000_000)
    }

    #[test]
    fn learned_entries_resolve_until_they_expire() {
        let tables = Tables::default();
        let mut n = NeighborTable::default();
        assert!(n.learn(IfIndex(0), IP, MAC, at(0)));
        assert_eq!(n.resolve(&tables, IfIndex(0), IP, at(10)), Some(MAC));
        assert_eq!(n.resolve(&tables, IfIndex(1), IP, at(10)), None);
        assert_eq!(n.resolve(&tables, IfIndex(0), IP, at(301)), None);
        n.expire(at(301));
        assert_eq!(n.iter().count(), 0);
    }

    #[test]
    fn static_entries_win_and_never_expire() {
        let mut tables = Tables::default();
        let other = EthernetAddress([2, 0, 0, 0, 0, 9]);
        tables.neighbors.insert((IfIndex(0), IP), other);
        let mut n = NeighborTable::default();
        n.learn(IfIndex(0), IP, MAC, at(0));
        assert_eq!(n.resolve(&tables, IfIndex(0), IP, at(10_000)), Some(other));
    }

    #[test]
    fn a_link_that_comes_up_lets_its_neighbors_be_asked_for_again_at_once() {
        let mut n = NeighborTable::default();
        let other = IpAddr::V4(core::net::Ipv4Addr::new(10, 9, 9, 9));
        assert!(n.should_solicit(IfIndex(0), IP, at(0)));
        assert!(n.should_solicit(IfIndex(1), other, at(0)));
        n.forget_solicitations(IfIndex(0));
        assert!(
            n.should_solicit(IfIndex(0), IP, at(0)),
            "asked again on the link that came up"
        );
        assert!(
            !n.should_solicit(IfIndex(1), other, at(0)),
            "another link waits its interval"
        );
    }

    #[test]
    fn solicits_at_most_once_a_second() {
        let mut n = NeighborTable::default();
        assert!(n.should_solicit(IfIndex(0), IP, at(0)));
        assert!(!n.should_solicit(IfIndex(0), IP, Instant::from_nanos(500_000_000)));
        assert!(n.should_solicit(IfIndex(0), IP, at(1)));
    }

    #[test]
    fn what_one_worker_learns_the_others_resolve_after_sync() {
        let tables = Tables::default();
        let bus = Arc::new(NeighborBus::default());
        let (mut w0, mut w1) = (
            NeighborTable::shared(bus.clone()),
            NeighborTable::shared(bus.clone()),
        );
        assert!(w0.learn(IfIndex(0), IP, MAC, at(0)));
        assert_eq!(w1.resolve(&tables, IfIndex(0), IP, at(1)), None);
        w1.sync();
        assert_eq!(w1.resolve(&tables, IfIndex(0), IP, at(1)), Some(MAC));
        // A MAC that changes is passed on too; an unchanged one is not
        // published again.
        let moved = EthernetAddress([2, 0, 0, 0, 0, 7]);
        w1.learn(IfIndex(0), IP, moved, at(2));
        w1.learn(IfIndex(0), IP, moved, at(3));
        assert_eq!(bus.newest.load(Ordering::Relaxed), 2);
        w0.sync();
        assert_eq!(w0.resolve(&tables, IfIndex(0), IP, at(4)), Some(moved));
    }

    #[test]
    fn a_worker_far_behind_gets_the_newest_entries() {
        let bus = Arc::new(NeighborBus::default());
        let mut w0 = NeighborTable::shared(bus.clone());
        let mut w1 = NeighborTable::shared(bus.clone());
        for i in 0..(NEIGHBOR_BUS_DEPTH as u32 + 10) {
            let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            w0.learn(IfIndex(0), ip, MAC, at(0));
        }
        w1.sync();
        assert_eq!(w1.iter().count(), NEIGHBOR_BUS_DEPTH);
    }

    #[test]
    fn refresh_only_touches_known_entries() {
        let tables = Tables::default();
        let mut n = NeighborTable::default();
        n.refresh(IfIndex(0), IP, MAC, at(0));
        assert_eq!(n.resolve(&tables, IfIndex(0), IP, at(0)), None);
        n.should_solicit(IfIndex(0), IP, at(0));
        n.refresh(IfIndex(0), IP, MAC, at(0));
        assert_eq!(n.resolve(&tables, IfIndex(0), IP, at(0)), Some(MAC));
    }
}
