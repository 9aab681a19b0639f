//! A worker's session table: connection tracking with NAT.
//!
//! A session is made by the first packet of a flow that needs one (a Service frontend, a
//! masqueraded flow leaving the cluster). It remembers the flow as it arrived
//! ([`Session::original`]) and as it leaves after translation ([`Session::translated`]);
//! packets of the flow are found by their key in either direction: the original direction by
//! `original`, replies by `translated.reversed()`.
//!
//! The table is bounded. Each session expires after a timeout that depends on its protocol
//! and, for TCP, on the state of the connection ([`Timeouts`]); expiry is lazy (a lookup
//! never returns an expired session) plus a bounded sweep each housekeeping round
//! ([`SessionTable::expire`]). When the table is full, a new session may evict an expired or
//! unanswered one (a flood of new flows never pushes out established connections); if there
//! is none, the new flow is refused and counted ([`SessionCounters::refused_full`]).
//!
//! No clock of its own: every call that needs the time is given `now`.

use core::hash::BuildHasher;
use core::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hashbrown::HashTable;

use crate::clock::Instant;
use crate::nat::flow::{FlowKey, ICMP, ICMP6, TCP, UDP};
use crate::nat::service::ServicePortId;

/// A session in its table, by position.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub struct SessionId(pub u32);

/// Which way a packet goes relative to the packet that made its session.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Direction {
    /// The same way as the first packet (client to server).
    Original,
    /// The other way (a reply).
    Reply,
}

/// The Service endpoint a session was load-balanced to.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct ServiceBinding {
    /// The Service port whose frontend the flow was sent to.
    pub service_port: ServicePortId,
    /// The endpoint chosen.
    pub endpoint: SocketAddr,
}

/// How far a TCP connection has got, as far as the switch saw.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum TcpState {
    /// A SYN went out, nothing came back.
    SynSent,
    /// The SYN was answered (SYN-ACK), the handshake's last ACK not yet seen.
    SynReceived,
    /// The handshake is done.
    Established,
    /// One side sent a FIN; the other has not.
    FinWait,
    /// The side that did not send the first FIN has not closed yet, a long time (the
    /// server's CLOSE_WAIT).
    CloseWait,
    /// Both sides sent a FIN.
    TimeWait,
    /// A reset was seen.
    Closed,
}

/// How long a session lives without a packet, by protocol and state. The defaults are
/// Linux conntrack's, with kube-proxy's settings for established and close-wait TCP.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct Timeouts {
    /// TCP, SYN sent and no answer (Linux 120 s).
    pub tcp_syn_sent: Duration,
    /// TCP, SYN answered, last ACK not seen (Linux 60 s).
    pub tcp_syn_received: Duration,
    /// TCP, established (kube-proxy 24 h).
    pub tcp_established: Duration,
    /// TCP, one FIN seen (Linux fin_wait 120 s).
    pub tcp_fin_wait: Duration,
    /// TCP, close-wait (kube-proxy 1 h).
    pub tcp_close_wait: Duration,
    /// TCP, both FINs seen (Linux time_wait 120 s).
    pub tcp_time_wait: Duration,
    /// TCP, reset seen (Linux close 10 s).
    pub tcp_closed: Duration,
    /// UDP, packets one way only (Linux 30 s).
    pub udp: Duration,
    /// UDP, packets both ways (Linux udp_stream 120 s).
    pub udp_stream: Duration,
    /// ICMP echo (Linux 30 s).
    pub icmp: Duration,
    /// Any other protocol, SCTP included (Linux generic 600 s).
    pub other: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            tcp_syn_sent: Duration::from_secs(120),
            tcp_syn_received: Duration::from_secs(60),
            tcp_established: Duration::from_secs(24 * 3600),
            tcp_fin_wait: Duration::from_secs(120),
            tcp_close_wait: Duration::from_secs(3600),
            tcp_time_wait: Duration::from_secs(120),
            tcp_closed: Duration::from_secs(10),
            udp: Duration::from_secs(30),
            udp_stream: Duration::from_secs(120),
            icmp: Duration::from_secs(30),
            other: Duration::from_secs(600),
        }
    }
}

/// The size and timeouts of a session table.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct SessionConfig {
    /// The most sessions the table holds (kube-proxy's conntrack minimum is 131072).
    pub capacity: u32,
    /// How long sessions live.
    pub timeouts: Timeouts,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            capacity: 131_072,
            timeouts: Timeouts::default(),
        }
    }
}

/// One tracked flow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The flow as its first packet arrived.
    pub original: FlowKey,
    /// The flow as its packets leave, after translation; replies arrive as its reverse.
    pub translated: FlowKey,
    /// The Service endpoint it was sent to, if a Service frontend made it.
    pub service: Option<ServiceBinding>,
    /// The TCP state (other protocols: `Established` once both ways were seen, else
    /// `SynSent`).
    pub state: TcpState,
    /// When it was made.
    pub created: Instant,
    /// When a packet of it was last seen.
    pub last_seen: Instant,
    /// When it expires unless another packet comes.
    pub expires: Instant,
    /// Packets seen in the original direction.
    pub packets_original: u64,
    /// Packets seen in the reply direction.
    pub packets_reply: u64,
}

impl Session {
    /// The key of its packets going `dir`: the original flow, or the reverse of the
    /// translated one.
    #[inline]
    pub fn key(&self, dir: Direction) -> FlowKey {
        match dir {
            Direction::Original => self.original,
            Direction::Reply => self.translated.reversed(),
        }
    }

    /// Where a packet of direction `dir` is rewritten to: its new (source, destination).
    /// Original: the translated flow's; reply: the original flow's, reversed.
    #[inline]
    pub fn rewrite(&self, dir: Direction) -> ((IpAddr, u16), (IpAddr, u16)) {
        let k = match dir {
            Direction::Original => self.translated,
            Direction::Reply => self.original.reversed(),
        };
        ((k.src, k.src_port), (k.dst, k.dst_port))
    }
}

/// Why a session could not be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SessionError {
    /// The table is full of sessions that may not be evicted.
    #[error(
        "the session table is full ({capacity} sessions, none expired or unanswered): raise services.sessions_per_worker"
    )]
    Full {
        /// Its capacity.
        capacity: u32,
    },
    /// Another session already owns a key of this one (its original key, or its reply key:
    /// the translated flow is taken).
    #[error("a session already tracks this flow or its translation")]
    Exists,
}

/// Totals since the table was made, and its size now.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionCounters {
    /// Sessions in the table now.
    pub active: u64,
    /// Sessions made.
    pub created: u64,
    /// Sessions that expired.
    pub expired: u64,
    /// Unanswered sessions evicted to make room.
    pub evicted: u64,
    /// New flows refused because the table was full.
    pub refused_full: u64,
    /// Sessions removed by the control plane's rules (stale UDP sessions).
    pub cleared: u64,
}

/// TCP header flags the state machine reads.
const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;

/// How many slots a full table looks at for a session to evict: a bounded cost per new flow,
/// whatever the table's size.
const EVICTION_CANDIDATES: usize = 16;

/// How many slots [`SessionTable::expire`] examines per session it may remove: the sweep is
/// bounded by its budget even when nothing has expired.
const EXPIRE_SCAN_PER_BUDGET: usize = 8;

/// One key of a session in the index: its hash, the session's slot, and which of the
/// session's keys it is.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
struct KeyRef {
    hash: u64,
    slot: u32,
    dir: Direction,
}

/// A worker's sessions.
///
/// Sessions live in a slab (their [`SessionId`] is their slot); one hash index, seeded per
/// table (flows are chosen by whoever sends them), finds a session by either of its keys.
/// The index holds no keys, only their hashes and where they are ([`KeyRef`], 16 bytes): a
/// key is compared with the session's own, which a hit reads next anyway, so the index
/// stays small and in the cache, and it grows (with the most sessions the table has held)
/// without hashing a key again. The slab's memory is reserved when the table is made and
/// used as sessions come; slots are reused from a free list.
#[derive(Debug)]
pub struct SessionTable {
    config: SessionConfig,
    slots: Vec<Option<Session>>,
    free: Vec<u32>,
    keys: HashTable<KeyRef>,
    hasher: foldhash::fast::RandomState,
    /// Where the next housekeeping sweep starts.
    expire_hand: usize,
    /// Where the next search for a session to evict starts.
    evict_hand: usize,
    counters: SessionCounters,
}

impl SessionTable {
    /// An empty table. The address space of `config.capacity` sessions is reserved (the
    /// memory is used as sessions come), so that no packet waits for the slab to be moved;
    /// if it cannot be, the slab grows as sessions come instead.
    pub fn new(config: SessionConfig) -> Self {
        let mut slots = Vec::new();
        let _ = slots.try_reserve_exact(config.capacity as usize);
        SessionTable {
            config,
            slots,
            free: Vec::new(),
            keys: HashTable::new(),
            hasher: foldhash::fast::RandomState::default(),
            expire_hand: 0,
            evict_hand: 0,
            counters: SessionCounters::default(),
        }
    }

    /// Its size and timeouts.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The session a packet with `key` belongs to, and the packet's direction. An expired
    /// session is removed and not returned.
    pub fn lookup(&mut self, key: &FlowKey, now: Instant) -> Option<(SessionId, Direction)> {
        let KeyRef { slot, dir, .. } = self.find(key, self.hash(key))?;
        if self.is_expired(slot, now) {
            self.remove(slot);
            self.counters.expired += 1;
            return None;
        }
        Some((SessionId(slot), dir))
    }

    /// The session `id`. Panics on an id no lookup or insert returned (a podwire bug).
    pub fn get(&self, id: SessionId) -> &Session {
        self.slots
            .get(id.0 as usize)
            .and_then(Option::as_ref)
            .expect("a session id from this table's lookup or insert")
    }

    /// Makes a session for a flow whose first packet is `original` and leaves as
    /// `translated`, seen now (as a packet in the original direction: see
    /// [`SessionTable::observe`]; `tcp_flags` is that packet's, 0 for other protocols).
    ///
    /// A key held by an expired session is taken over. When the table is full, an expired
    /// session, else the unanswered one (no reply seen) that expires soonest, among a few
    /// slots from a rotating hand, makes room; without one the flow is refused.
    pub fn insert(
        &mut self,
        original: FlowKey,
        translated: FlowKey,
        service: Option<ServiceBinding>,
        tcp_flags: u8,
        now: Instant,
    ) -> Result<SessionId, SessionError> {
        let reply = translated.reversed();
        // Each key is hashed once, for its look-up here and its place in the index below.
        let original_hash = self.hash(&original);
        // A flow that is its own reply (same address and port both ends) has one key.
        let reply_hash = (reply != original).then(|| self.hash(&reply));
        self.take_over(&original, original_hash, now)?;
        if let Some(hash) = reply_hash {
            self.take_over(&reply, hash, now)?;
        }
        let slot = self.free_slot(now)?;
        let state = match original.protocol {
            TCP => next_tcp_state(None, Direction::Original, tcp_flags),
            _ => TcpState::SynSent,
        };
        let mut session = Session {
            original,
            translated,
            service,
            state,
            created: now,
            last_seen: now,
            expires: now,
            packets_original: 1,
            packets_reply: 0,
        };
        session.expires = now.after(timeout(&self.config.timeouts, &session));
        self.slots[slot as usize] = Some(session);
        self.index(original_hash, slot, Direction::Original);
        if let Some(hash) = reply_hash {
            self.index(hash, slot, Direction::Reply);
        }
        self.counters.created += 1;
        self.counters.active += 1;
        Ok(SessionId(slot))
    }

    /// Counts a packet of session `id` going `dir`, with TCP flags `tcp_flags` (the flags
    /// byte of the TCP header; 0 for other protocols): moves the TCP state on and sets the
    /// expiry by the new state.
    pub fn observe(&mut self, id: SessionId, dir: Direction, tcp_flags: u8, now: Instant) {
        let timeouts = self.config.timeouts;
        let Some(session) = self.slots.get_mut(id.0 as usize).and_then(Option::as_mut) else {
            return;
        };
        match dir {
            Direction::Original => session.packets_original += 1,
            Direction::Reply => session.packets_reply += 1,
        }
        session.state = if session.original.protocol == TCP {
            next_tcp_state(Some(session.state), dir, tcp_flags)
        } else if session.packets_reply > 0 {
            TcpState::Established
        } else {
            TcpState::SynSent
        };
        session.last_seen = now;
        session.expires = now.after(timeout(&timeouts, session));
    }

    /// Whether no session receives replies as `reply`: a translation whose reply key is
    /// free may be used (SNAT port choice). A key held by an expired session is free.
    pub fn reply_key_free(&self, reply: &FlowKey, now: Instant) -> bool {
        self.find(reply, self.hash(reply))
            .is_none_or(|r| self.is_expired(r.slot, now))
    }

    /// Removes up to `budget` expired sessions; returns how many it removed. Called on each
    /// housekeeping round, so that expired sessions do not hold the table while no packet
    /// looks them up. It examines at most 8 × `budget` slots, going on where the last
    /// round stopped, so that a round costs the same however big the table is.
    pub fn expire(&mut self, now: Instant, budget: usize) -> usize {
        let len = self.slots.len();
        let mut removed = 0;
        let scan = budget.saturating_mul(EXPIRE_SCAN_PER_BUDGET).min(len);
        for _ in 0..scan {
            if removed == budget {
                break;
            }
            self.expire_hand = (self.expire_hand + 1) % len;
            let slot = self.expire_hand as u32;
            if self.slots[self.expire_hand].is_some() && self.is_expired(slot, now) {
                self.remove(slot);
                removed += 1;
            }
        }
        self.counters.expired += removed as u64;
        removed
    }

    /// Removes every session for which `keep` is false; returns how many (counted as
    /// [`SessionCounters::cleared`]).
    pub fn retain(&mut self, mut keep: impl FnMut(&Session) -> bool) -> usize {
        let doomed: Vec<u32> = self
            .iter()
            .filter(|(_, session)| !keep(session))
            .map(|(id, _)| id.0)
            .collect();
        for &slot in &doomed {
            self.remove(slot);
        }
        self.counters.cleared += doomed.len() as u64;
        doomed.len()
    }

    /// Empties the table as if it were new, sessions and counters, keeping its memory: the
    /// index keeps the size it grew to, so refilling it rehashes nothing (a benchmark's
    /// rounds of new flows measure what a worker does once its table has grown).
    pub fn reset(&mut self) {
        self.slots.clear();
        self.free.clear();
        self.keys.clear();
        self.expire_hand = 0;
        self.evict_hand = 0;
        self.counters = SessionCounters::default();
    }

    /// Its counters.
    pub fn counters(&self) -> SessionCounters {
        self.counters
    }

    /// The sessions, in no particular order (for `show sessions`).
    pub fn iter(&self) -> impl Iterator<Item = (SessionId, &Session)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(slot, s)| Some((SessionId(slot as u32), s.as_ref()?)))
    }

    /// The table's hash of `key`.
    #[inline]
    fn hash(&self, key: &FlowKey) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Where `key`, whose hash is `hash`, is indexed.
    #[inline]
    fn find(&self, key: &FlowKey, hash: u64) -> Option<KeyRef> {
        let slots = &self.slots;
        // The whole hash first: the session is read only for the key that has it.
        self.keys
            .find(hash, |&r| {
                r.hash == hash && indexed_key(slots, r) == Some(*key)
            })
            .copied()
    }

    /// Frees `key` (hashed `hash`) for a new session: refused if a live session holds it,
    /// taken over from an expired one.
    fn take_over(&mut self, key: &FlowKey, hash: u64, now: Instant) -> Result<(), SessionError> {
        let Some(KeyRef { slot, .. }) = self.find(key, hash) else {
            return Ok(());
        };
        if !self.is_expired(slot, now) {
            return Err(SessionError::Exists);
        }
        self.remove(slot);
        self.counters.expired += 1;
        Ok(())
    }

    /// Indexes the key of the session in `slot` going `dir`, hashed `hash`; the key is not
    /// indexed yet (its look-up found nothing, or took it over).
    fn index(&mut self, hash: u64, slot: u32, dir: Direction) {
        self.keys
            .insert_unique(hash, KeyRef { hash, slot, dir }, |r| r.hash);
    }

    fn is_expired(&self, slot: u32, now: Instant) -> bool {
        self.slots[slot as usize]
            .as_ref()
            .is_none_or(|s| now >= s.expires)
    }

    /// A slot for a new session: a free one, a new one below capacity, or one an evicted
    /// session leaves.
    fn free_slot(&mut self, now: Instant) -> Result<u32, SessionError> {
        if let Some(slot) = self.free.pop() {
            return Ok(slot);
        }
        if self.slots.len() < self.config.capacity as usize {
            self.slots.push(None);
            return Ok((self.slots.len() - 1) as u32);
        }
        let Some((slot, expired)) = self.eviction_candidate(now) else {
            self.counters.refused_full += 1;
            return Err(SessionError::Full {
                capacity: self.config.capacity,
            });
        };
        self.remove(slot);
        if expired {
            self.counters.expired += 1;
        } else {
            self.counters.evicted += 1;
        }
        // `remove` put the slot on the free list; it is taken now.
        self.free.pop();
        Ok(slot)
    }

    /// Among the next few slots from the eviction hand: an expired session (and `true`),
    /// else the unanswered session that expires soonest. Never a session that had a reply.
    fn eviction_candidate(&mut self, now: Instant) -> Option<(u32, bool)> {
        let len = self.slots.len();
        let mut best: Option<(u32, Instant)> = None;
        for _ in 0..EVICTION_CANDIDATES.min(len) {
            self.evict_hand = (self.evict_hand + 1) % len;
            let Some(session) = &self.slots[self.evict_hand] else {
                continue;
            };
            let slot = self.evict_hand as u32;
            if now >= session.expires {
                return Some((slot, true));
            }
            if session.packets_reply == 0 && best.is_none_or(|(_, e)| session.expires < e) {
                best = Some((slot, session.expires));
            }
        }
        best.map(|(slot, _)| (slot, false))
    }

    /// Takes a session out of its slot and its keys out of the map.
    fn remove(&mut self, slot: u32) {
        let Some(session) = self.slots[slot as usize].take() else {
            return;
        };
        for dir in [Direction::Original, Direction::Reply] {
            let hash = self.hash(&session.key(dir));
            let own = KeyRef { hash, slot, dir };
            // Absent for the reply key of a flow that is its own reply.
            if let Ok(entry) = self.keys.find_entry(hash, |&r| r == own) {
                entry.remove();
            }
        }
        self.free.push(slot);
        self.counters.active -= 1;
    }
}

/// The key `r` stands for, read from its session; `None` for an empty slot (never indexed).
#[inline]
fn indexed_key(slots: &[Option<Session>], r: KeyRef) -> Option<FlowKey> {
    Some(slots.get(r.slot as usize)?.as_ref()?.key(r.dir))
}

impl Default for SessionTable {
    fn default() -> Self {
        SessionTable::new(SessionConfig::default())
    }
}

/// How long `session` lives from its last packet, by its protocol and state.
fn timeout(timeouts: &Timeouts, session: &Session) -> Duration {
    match session.original.protocol {
        TCP => match session.state {
            TcpState::SynSent => timeouts.tcp_syn_sent,
            TcpState::SynReceived => timeouts.tcp_syn_received,
            TcpState::Established => timeouts.tcp_established,
            TcpState::FinWait => timeouts.tcp_fin_wait,
            TcpState::CloseWait => timeouts.tcp_close_wait,
            TcpState::TimeWait => timeouts.tcp_time_wait,
            TcpState::Closed => timeouts.tcp_closed,
        },
        UDP if session.state == TcpState::Established => timeouts.udp_stream,
        UDP => timeouts.udp,
        ICMP | ICMP6 => timeouts.icmp,
        _ => timeouts.other,
    }
}

/// The TCP state after a packet going `dir` with `flags`, from `state` (`None`: the packet
/// makes the session).
///
/// - RST closes, from any state.
/// - A SYN (without ACK) from the client starts a connection, also over one that closed
///   (a client reusing its port).
/// - SYN-ACK from the server answers it; the client's next ACK establishes it.
/// - A first packet that is not a SYN is a connection picked up in the middle: it counts
///   as established once the other side answers with anything but a reset (so that a
///   restarted switch does not cut long connections).
/// - The first FIN: from the client, `FinWait`; from the server, `CloseWait` (the client
///   may take long to close its side). The other side's FIN then: `TimeWait`.
fn next_tcp_state(state: Option<TcpState>, dir: Direction, flags: u8) -> TcpState {
    use Direction::{Original, Reply};
    use TcpState::*;
    if flags & RST != 0 {
        return Closed;
    }
    let syn = flags & SYN != 0;
    let ack = flags & ACK != 0;
    let fin = flags & FIN != 0;
    let Some(state) = state else {
        return if fin { FinWait } else { SynSent };
    };
    match (state, dir) {
        (TimeWait | Closed, Original) if syn && !ack => SynSent,
        (SynSent | SynReceived | Established, Original) if fin => FinWait,
        (SynSent | SynReceived | Established, Reply) if fin => CloseWait,
        (FinWait, Reply) | (CloseWait, Original) if fin => TimeWait,
        (SynSent, Reply) if syn && ack => SynReceived,
        (SynSent, Reply) if !syn => Established,
        (SynReceived, Original) if ack && !syn => Established,
        (state, _) => state,
    }
}

#[cfg(test)]
mod tests;
