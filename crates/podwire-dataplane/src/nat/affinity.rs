//! `sessionAffinity: ClientIP`: which endpoint a client was sent to, per Service port, for
//! as long as the client keeps coming back within the timeout (each use refreshes it, as
//! kube-proxy's `recent` match and nftables' timed sets do). One table per worker, bounded:
//! when full, the entry used longest ago gives way.

use core::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hashbrown::HashMap;

use crate::clock::Instant;
use crate::nat::service::ServicePortId;

/// How many entries a full table looks at to find the one to evict.
const EVICTION_SAMPLE: usize = 16;

/// How many entries [`AffinityTable::expire`] examines per entry it may remove.
const EXPIRE_SCAN_PER_BUDGET: usize = 8;

type Key = (ServicePortId, IpAddr);

/// One client's endpoint for one Service port.
#[derive(Copy, Clone, Debug)]
struct Entry {
    key: Key,
    endpoint: SocketAddr,
    last_used: Instant,
}

/// A worker's affinity entries.
///
/// Entries are kept densely in a vector (so that eviction samples and the expiry sweep go
/// over them by position, at a bounded cost) and found by a seeded hash map of their
/// positions (clients choose their addresses).
#[derive(Debug)]
pub struct AffinityTable {
    capacity: usize,
    entries: Vec<Entry>,
    index: HashMap<Key, u32, foldhash::fast::RandomState>,
    /// Where the next eviction sample or expiry sweep starts.
    hand: usize,
}

impl AffinityTable {
    /// An empty table holding at most `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        AffinityTable {
            capacity,
            entries: Vec::new(),
            index: HashMap::default(),
            hand: 0,
        }
    }

    /// The endpoint `client` was last sent to for `service_port`, if that was less than
    /// `timeout` ago and `usable` says the endpoint may still be chosen. A hit counts as a
    /// use: the entry lives `timeout` from now. An entry found too old is removed.
    pub fn lookup(
        &mut self,
        service_port: ServicePortId,
        client: IpAddr,
        timeout: Duration,
        now: Instant,
        usable: impl Fn(SocketAddr) -> bool,
    ) -> Option<SocketAddr> {
        let position = *self.index.get(&(service_port, client))? as usize;
        let entry = &mut self.entries[position];
        if now.saturating_since(entry.last_used) >= timeout {
            self.remove(position);
            return None;
        }
        if !usable(entry.endpoint) {
            return None;
        }
        entry.last_used = now;
        Some(entry.endpoint)
    }

    /// Records (or refreshes) that `client` was sent to `endpoint` for `service_port`. When
    /// the table is full, the entry used longest ago among a few gives way.
    pub fn record(
        &mut self,
        service_port: ServicePortId,
        client: IpAddr,
        endpoint: SocketAddr,
        now: Instant,
    ) {
        let key = (service_port, client);
        if let Some(&position) = self.index.get(&key) {
            let entry = &mut self.entries[position as usize];
            entry.endpoint = endpoint;
            entry.last_used = now;
            return;
        }
        if self.capacity == 0 {
            return;
        }
        if self.entries.len() >= self.capacity {
            let victim = self.least_recently_used_sample();
            self.remove(victim);
        }
        self.index.insert(key, self.entries.len() as u32);
        self.entries.push(Entry {
            key,
            endpoint,
            last_used: now,
        });
    }

    /// Removes entries not used for `max_timeout` (the longest timeout of any Service);
    /// at most `budget` of them. Returns how many. It examines at most 8 × `budget`
    /// entries, going on where the last round stopped.
    pub fn expire(&mut self, now: Instant, max_timeout: Duration, budget: usize) -> usize {
        let scan = budget
            .saturating_mul(EXPIRE_SCAN_PER_BUDGET)
            .min(self.entries.len());
        let mut removed = 0;
        for _ in 0..scan {
            if removed == budget || self.entries.is_empty() {
                break;
            }
            self.hand = (self.hand + 1) % self.entries.len();
            if now.saturating_since(self.entries[self.hand].last_used) >= max_timeout {
                // The last entry moves into this position: look at it next.
                self.remove(self.hand);
                removed += 1;
                let len = self.entries.len();
                if len > 0 {
                    self.hand = (self.hand + len - 1) % len;
                }
            }
        }
        removed
    }

    /// Entries now.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it has no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The position of the entry used longest ago among the next few from the hand.
    fn least_recently_used_sample(&mut self) -> usize {
        let len = self.entries.len();
        let mut oldest = self.hand % len;
        for _ in 0..EVICTION_SAMPLE.min(len) {
            self.hand = (self.hand + 1) % len;
            if self.entries[self.hand].last_used < self.entries[oldest].last_used {
                oldest = self.hand;
            }
        }
        oldest
    }

    /// Removes the entry at `position`; the last entry takes its place.
    fn remove(&mut self, position: usize) {
        let entry = self.entries.swap_remove(position);
        self.index.remove(&entry.key);
        if let Some(moved) = self.entries.get(position) {
            self.index.insert(moved.key, position as u32);
        }
    }
}

impl Default for AffinityTable {
    fn default() -> Self {
        AffinityTable::new(65_536)
    }
}

#[cfg(test)]
mod tests;
