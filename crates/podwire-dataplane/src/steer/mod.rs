//! Which worker a packet belongs to, when a node has several: both directions of a flow must
//! reach the worker that holds its session (connection tracking, Service NAT, the policy
//! verdict), since sessions are per worker and the hot path takes no lock.
//!
//! **The choice** (VPP's NAT handoff): a worker that receives a frame reads its flow key
//! ([`flow_of`]: the 5-tuple; the inner one of VXLAN; the quoted flow of an ICMP error), and
//! the frame's owner is
//!
//! 1. the worker named for that exact key in [`FlowOwners`], a table shared by the workers,
//!    else
//! 2. the hash of the key with its two ends sorted ([`symmetric_hash`]), scaled to the number
//!    of workers; for a Service frontend with `ClientIP` affinity, the hash of the client's
//!    address alone, so that all its connections meet the worker that remembers its endpoint.
//!
//! A flow that is not translated (pod to pod, a policy session) is steered by rule 2 alone:
//! its reply is its key reversed, which hashes the same, so both directions meet and it costs
//! the table nothing. A translated flow is not symmetric: a ClusterIP's forward packets
//! C:cp→VIP:vp and replies B:bp→C:cp; masqueraded, N:np→B:bp and back. Its first packet goes
//! where rule 2 sends it, and so do the rest of that direction; the worker that made the
//! session then claims the session's reply key in the table ([`Steering::publish`]), before it
//! sends the packet on (so that no reply can come first), unless rule 2 brings the replies to
//! it anyway. Only the reply key is published, and only for translated flows: the table holds
//! at most as many keys as there are NATed sessions. When a session ends, its worker releases
//! the key ([`Published::sweep`], a bounded part per housekeeping round); a key whose release
//! is late only sends a few packets of a dead flow to one worker rather than another.
//!
//! **Why this one.** Multi-queue taps and AF_PACKET fanout hash in the kernel, symmetric only
//! for flows nobody translates, so a handoff is needed anyway; a rule with no table (key on
//! the client's end, SNAT ports chosen by worker) breaks on corner cases (a client whose port
//! is a Service's target port). The shared table is exact for whatever NAT the session made.
//! The io layer still uses both to spread the reading: each worker reads its own queue of
//! every pod tap and its own fanout socket of every AF_PACKET port; and a worker writes into
//! a tap through its own queue, so the kernel (tun's flow steering) queues the pod's side of
//! the flow to that worker, the owner: most packets need no handoff.
//!
//! **Cost per packet** with more than one worker: the key read (headers the graph reads next
//! anyway), one hash, one probe of the table (one cache line, two when the first bucket does
//! not hold the key; read-mostly, shared by the cores), a frontend look-up only while a
//! Service has affinity, and for a packet owned elsewhere a copy into a bounded queue to its
//! owner. A round that made sessions looks up its packets' keys in the local session table
//! once more, to publish the new ones. With one worker, none of this runs.
//!
//! **SNAT ports.** A worker that translates a flow (a Service's DNAT, masquerading) chooses
//! its source port: its own when free, else another (as Linux's conntrack moves a port that
//! clashes). It must not choose one on which a flow of another worker receives its replies:
//! the later claim would take the key, and the earlier flow its replies. So a port is free
//! only when no session of the worker has its reply key *and* the worker can claim that key
//! as no one else's, both in one step of the table ([`SnatClaims::claim`], a compare-and-swap
//! that, of two workers racing for one key, lets at most one win): the loser tries the next
//! port. Every key chosen so is claimed, even one whose hash would bring its replies home,
//! since another worker could claim it otherwise; [`Steering::publish`] then only records
//! it, to release. VPP gives each worker a part of the port range instead: no shared state,
//! but each worker has a fraction of the 28232 ports to any one destination, and a flow
//! could not keep its own source port (it may lie in another worker's part); the table is
//! there anyway, for the replies of DNAT.
//!
//! **Limits.** A later IP fragment has no ports: it goes by its addresses, not with its
//! first fragment (as with `ip*-nat-in`, which does not translate them). A key whose session
//! ended stays its worker's until a sweep releases it: meanwhile its port is taken for the
//! others, and a session made without choosing a port (not translated) whose reply is that
//! key takes it over: [`Claim::TakenFrom`] counts it (see [`PublishCounts::conflicts`]).

mod key;
mod owners;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use core::hash::BuildHasher;

use crate::clock::Instant;
use crate::nat::flow::{FlowKey, flow_hasher};
use crate::nat::service::{FrontendKey, ServiceTable};
use crate::nat::session::{Direction, SessionTable};

pub use key::flow_of;
pub use owners::{Claim, FlowOwners, MAX_WORKERS, Unowned};

/// The hash of a flow that both of its directions have: the key with its two ends (address
/// and port) in a fixed order, hashed with the process's flow hasher.
#[inline]
pub fn symmetric_hash(key: &FlowKey) -> u64 {
    let forward = (key.src, key.src_port) <= (key.dst, key.dst_port);
    if forward {
        key.hash()
    } else {
        key.reversed().hash()
    }
}

/// Where the packets of a node with several workers go: shared by the workers.
#[derive(Clone, Debug)]
pub struct Steering {
    owners: Arc<FlowOwners>,
    workers: usize,
    vxlan_ports: Vec<u16>,
}

impl Steering {
    /// Steering over `workers` workers (at most [`MAX_WORKERS`]) with room for about `keys`
    /// published keys; VXLAN frames to one of `vxlan_ports` are steered by their inner flow.
    pub fn new(workers: usize, keys: usize, vxlan_ports: Vec<u16>) -> Self {
        Steering {
            owners: Arc::new(FlowOwners::new(keys)),
            workers: workers.clamp(1, MAX_WORKERS),
            vxlan_ports,
        }
    }

    /// How many workers it steers to.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// The shared table.
    pub fn owners(&self) -> &FlowOwners {
        &self.owners
    }

    /// What worker `me` claims reply keys with as it chooses translations (keep it in the
    /// worker's state: the NAT nodes use it).
    pub fn snat_claims(&self, me: usize) -> SnatClaims {
        debug_assert!(me < self.workers);
        SnatClaims {
            owners: self.owners.clone(),
            me,
        }
    }

    /// The flow of an Ethernet frame, as [`flow_of`] reads it with these VXLAN ports.
    #[inline]
    pub fn flow_of(&self, frame: &[u8]) -> Option<FlowKey> {
        flow_of(frame, &self.vxlan_ports)
    }

    /// The worker that owns the packets of `key`: the table's, else rule 2's. `affinity`: the
    /// Service table when one of its frontends has `ClientIP` affinity (see
    /// [`has_affinity`]), else `None` (no frontend is looked up).
    #[inline]
    pub fn owner(&self, key: &FlowKey, affinity: Option<&ServiceTable>) -> usize {
        match self.owners.lookup(key) {
            Some(owner) => owner,
            None => self.by_rule(key, affinity),
        }
    }

    /// The worker rule 2 gives `key` (`affinity` as for [`Steering::owner`]).
    #[inline]
    fn by_rule(&self, key: &FlowKey, affinity: Option<&ServiceTable>) -> usize {
        match affinity.is_some_and(|services| to_affine_frontend(services, key)) {
            true => self.scale(flow_hasher().hash_one(key.src)),
            false => self.by_hash(key),
        }
    }

    /// The worker rule 2 gives `key` when it is not for a frontend with affinity.
    #[inline]
    pub fn by_hash(&self, key: &FlowKey) -> usize {
        self.scale(symmetric_hash(key))
    }

    /// A worker by a hash: the hash scaled to the number of workers.
    #[inline]
    fn scale(&self, hash: u64) -> usize {
        ((u128::from(hash) * self.workers as u128) >> 64) as usize
    }

    /// After a round of worker `me` that made sessions: for each of `keys` (the flows of the
    /// packets it handled that round) whose session was made `now`, claims the session's
    /// reply key when the replies would not come to `me` by themselves (`affinity` as for
    /// [`Steering::owner`]), and remembers it in `published`; a reply key `me` claimed as it
    /// chose the translation ([`SnatClaims`]) is only remembered.
    pub fn publish(
        &self,
        me: usize,
        sessions: &mut SessionTable,
        keys: &[FlowKey],
        published: &mut Published,
        affinity: Option<&ServiceTable>,
        now: Instant,
    ) -> PublishCounts {
        let mut counts = PublishCounts::default();
        for key in keys {
            let Some((id, Direction::Original)) = sessions.lookup(key, now) else {
                continue;
            };
            let session = sessions.get(id);
            if session.created != now {
                continue;
            }
            let reply = session.key(Direction::Reply);
            match self.owners.lookup(&reply) {
                Some(owner) if owner == me => counts.claimed += 1,
                None if self.by_rule(&reply, affinity) == me => continue,
                _ => match self.owners.claim(&reply, me) {
                    Claim::Claimed => counts.claimed += 1,
                    Claim::TakenFrom(_) => {
                        counts.claimed += 1;
                        counts.conflicts += 1;
                    }
                    Claim::Full => {
                        counts.full += 1;
                        continue;
                    }
                },
            }
            published.keys.push(reply);
        }
        counts
    }
}

/// Whether a frontend of `services` has `ClientIP` affinity: then steering looks up the
/// frontend of each new flow (see [`Steering::owner`]).
pub fn has_affinity(services: &ServiceTable) -> bool {
    services
        .iter()
        .any(|(_, frontend)| frontend.affinity.is_some())
}

/// Whether `key` goes to a frontend of `services` with `ClientIP` affinity: at its address,
/// or a NodePort on its port.
fn to_affine_frontend(services: &ServiceTable, key: &FlowKey) -> bool {
    let at = |address| FrontendKey {
        address,
        protocol: key.protocol,
        port: key.dst_port,
    };
    services
        .get(&at(Some(key.dst)))
        .or_else(|| services.get(&at(None)))
        .is_some_and(|frontend| frontend.affinity.is_some())
}

/// What one [`Steering::publish`] did.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct PublishCounts {
    /// Reply keys claimed (or found claimed by the worker, as it chose the translation).
    pub claimed: u64,
    /// Of those, keys another worker had: a session there ended, its key not yet swept (see
    /// the module's documentation).
    pub conflicts: u64,
    /// Reply keys not claimed: their buckets were full (the replies go by hash, and may miss
    /// the session).
    pub full: u64,
}

/// One worker's hand on the shared table for the translations it chooses: it claims a reply
/// key only if no other worker owns it, in one step (see the module's documentation). Made
/// by [`Steering::snat_claims`].
#[derive(Clone, Debug)]
pub struct SnatClaims {
    owners: Arc<FlowOwners>,
    me: usize,
}

impl SnatClaims {
    /// Claims `reply` for this worker unless another worker owns it or takes it at the same
    /// moment, or its buckets are full: whether the key is this worker's now (then a
    /// translation whose replies come as `reply` is free for it).
    pub fn claim(&self, reply: &FlowKey) -> bool {
        self.owners.claim_unowned(reply, self.me) == Unowned::Claimed
    }

    /// Gives `reply` up: the session it was claimed for was not made.
    pub fn release(&self, reply: &FlowKey) {
        self.owners.release(reply, self.me);
    }
}

/// The reply keys one worker claimed, to release when their sessions end.
#[derive(Debug, Default)]
pub struct Published {
    keys: Vec<FlowKey>,
    hand: usize,
}

impl Published {
    /// How many keys it holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Looks at up to `budget` of the keys, going on where the last sweep stopped; releases
    /// (in `steering`'s table, as worker `me`) those whose session is gone from `sessions`.
    /// Returns how many it released.
    pub fn sweep(
        &mut self,
        steering: &Steering,
        me: usize,
        sessions: &mut SessionTable,
        now: Instant,
        budget: usize,
    ) -> usize {
        let mut released = 0;
        for _ in 0..budget.min(self.keys.len()) {
            if self.hand >= self.keys.len() {
                self.hand = 0;
            }
            let key = self.keys[self.hand];
            if sessions.lookup(&key, now).is_some() {
                self.hand += 1;
            } else {
                steering.owners.release(&key, me);
                self.keys.swap_remove(self.hand);
                released += 1;
            }
        }
        released
    }
}
