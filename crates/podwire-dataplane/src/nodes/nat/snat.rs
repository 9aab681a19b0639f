//! Choosing the source port of a translated flow.
//!
//! With several workers, a port is free only when no session of this worker has its reply
//! key and no other worker owns that key: the worker claims it in the shared table in the
//! same step ([`SnatClaims::claim`]), so that two workers never give two flows one reply,
//! however they race. Why a shared table rather than a part of the port range per worker
//! (VPP's way): [`crate::steer`], "SNAT ports".

use crate::clock::Instant;
use crate::nat::flow::{FlowKey, ICMP, ICMP6};
use crate::nat::session::SessionTable;
use crate::state::WorkerState;
use crate::steer::SnatClaims;

/// The source ports (and ICMP echo identifiers) a translated flow may be given when its own
/// is taken: Linux's default ephemeral range, which node-local clients also use.
pub(crate) const PORTS: core::ops::RangeInclusive<u16> = 32768..=60999;
/// Ports tried before a new flow is refused (Linux tries up to 128 too).
pub(crate) const MAX_PROBES: u32 = 128;

/// The translation of a new flow `original` that is to leave as `wanted`, with a source port
/// whose replies no other session receives: `wanted`'s own when it is free, else the first
/// free one of [`PORTS`] from a place the flow's hash chooses (so that two flows that
/// collide on a port do not collide again on the next one). `None` when [`MAX_PROBES`] ports
/// are all taken.
///
/// `claims`: the worker's, when it shares the node with other workers; the reply key of the
/// translation returned is then claimed for it (release it if its session is not made).
pub(crate) fn with_free_port(
    sessions: &SessionTable,
    claims: Option<&SnatClaims>,
    original: &FlowKey,
    wanted: FlowKey,
    now: Instant,
) -> Option<FlowKey> {
    // The worker's own sessions first: no shared write for a port it knows is taken.
    let free = |candidate: &FlowKey| {
        let reply = candidate.reversed();
        sessions.reply_key_free(&reply, now) && claims.is_none_or(|claims| claims.claim(&reply))
    };
    if free(&wanted) {
        return Some(wanted);
    }
    let span = u32::from(PORTS.end() - PORTS.start()) + 1;
    let start = (original.hash() % u64::from(span)) as u32;
    (0..MAX_PROBES)
        .map(|i| PORTS.start() + ((start + i) % span) as u16)
        .filter(|&port| port != wanted.src_port)
        .map(|port| with_source_port(wanted, port))
        .find(free)
}

/// Gives up the claim [`with_free_port`] made for `translated` when its session could not be
/// made.
pub(crate) fn unclaim(state: &WorkerState, translated: &FlowKey) {
    if let Some(claims) = state.snat_claims.as_ref() {
        claims.release(&translated.reversed());
    }
}

/// `key` with source port `port`; for ICMP echo, whose identifier is both ports, both.
fn with_source_port(key: FlowKey, port: u16) -> FlowKey {
    let echo = key.protocol == ICMP || key.protocol == ICMP6;
    FlowKey {
        src_port: port,
        dst_port: if echo { port } else { key.dst_port },
        ..key
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nat::flow::TCP;
    use crate::nat::session::SessionConfig;
    use crate::steer::Steering;
    use core::net::{IpAddr, Ipv4Addr};
    use std::collections::HashSet;
    use std::sync::{Arc, Barrier};

    /// Flows per worker: more than the probes of one flow, so that ports run out near the
    /// start of some probe sequences and flows crowd one another.
    const FLOWS: u16 = 1500;
    /// The node's masquerade address.
    const NODE: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 1);

    /// Pod `n` of the cluster opening a connection from port 40000 (they all do) to one
    /// destination outside.
    fn pod_flow(n: u16) -> FlowKey {
        FlowKey {
            src: Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 1, 0, 0)) + u32::from(n)).into(),
            dst: Ipv4Addr::new(1, 1, 1, 1).into(),
            protocol: TCP,
            src_port: 40000,
            dst_port: 443,
        }
    }

    /// What SNAT needs of a worker: its sessions and, if it shares the node, its claims.
    struct Worker {
        sessions: SessionTable,
        claims: Option<SnatClaims>,
    }

    impl Worker {
        fn new(claims: Option<SnatClaims>) -> Self {
            let sessions = SessionTable::new(SessionConfig {
                capacity: u32::from(FLOWS) * 2,
                ..SessionConfig::default()
            });
            Worker { sessions, claims }
        }

        /// Masquerades pod `n`'s flow (as `ip4-nat-out` does); its translation, as
        /// (address, port).
        fn masquerade(&mut self, n: u16) -> (IpAddr, u16) {
            let now = Instant::from_nanos(1);
            let original = pod_flow(n);
            let wanted = FlowKey {
                src: NODE.into(),
                ..original
            };
            let claims = self.claims.as_ref();
            let translated = with_free_port(&self.sessions, claims, &original, wanted, now)
                .expect("a free port");
            self.sessions
                .insert(original, translated, None, 0x02, now)
                .expect("a new session");
            (translated.src, translated.src_port)
        }
    }

    /// How many translations of `all` repeat one before them.
    fn repeats(all: impl IntoIterator<Item = (IpAddr, u16)>) -> usize {
        let mut seen = HashSet::new();
        all.into_iter().filter(|t| !seen.insert(*t)).count()
    }

    #[test]
    fn two_workers_never_masquerade_two_flows_to_one_port() {
        // Without claims, each worker knows only its own sessions: both keep port 40000 for
        // their first flow at least.
        let mut alone = [Worker::new(None), Worker::new(None)];
        let collided: Vec<_> = (0..FLOWS)
            .flat_map(|n| [alone[0].masquerade(2 * n), alone[1].masquerade(2 * n + 1)])
            .collect();
        assert!(repeats(collided) > 0, "workers alone do collide");

        // Taking turns with claims: no port twice, and the table names each port's owner.
        let steering = Steering::new(2, 4 * usize::from(FLOWS), vec![]);
        let mut workers = [0, 1].map(|me| Worker::new(Some(steering.snat_claims(me))));
        let mut all = Vec::new();
        for n in 0..FLOWS {
            for (me, worker) in workers.iter_mut().enumerate() {
                let (address, port) = worker.masquerade(2 * n + me as u16);
                let reply = FlowKey {
                    src: pod_flow(0).dst,
                    dst: address,
                    protocol: TCP,
                    src_port: 443,
                    dst_port: port,
                };
                assert_eq!(steering.owners().lookup(&reply), Some(me));
                all.push((address, port));
            }
        }
        assert_eq!(repeats(all), 0);
    }

    #[test]
    fn two_workers_racing_for_the_same_ports_never_share_one() {
        // The same flows on both threads: both walk the same ports in the same order, so
        // that they race for every one of them.
        let steering = Steering::new(2, 4 * usize::from(FLOWS), vec![]);
        let start = Arc::new(Barrier::new(2));
        let threads: Vec<_> = (0..2)
            .map(|me| {
                let mut worker = Worker::new(Some(steering.snat_claims(me)));
                let start = start.clone();
                std::thread::spawn(move || {
                    start.wait();
                    (0..FLOWS).map(|n| worker.masquerade(n)).collect::<Vec<_>>()
                })
            })
            .collect();
        let all: Vec<_> = threads
            .into_iter()
            .flat_map(|t| t.join().expect("a worker thread"))
            .collect();
        assert_eq!(all.len(), 2 * usize::from(FLOWS));
        assert_eq!(repeats(all), 0);
    }

    #[test]
    fn echo_identifiers_move_together() {
        let key = FlowKey {
            src: Ipv4Addr::new(10, 0, 0, 2).into(),
            dst: Ipv4Addr::new(1, 1, 1, 1).into(),
            protocol: ICMP,
            src_port: 7,
            dst_port: 7,
        };
        let moved = with_source_port(key, 40000);
        assert_eq!((moved.src_port, moved.dst_port), (40000, 40000));
        let udp = FlowKey {
            protocol: crate::nat::flow::UDP,
            dst_port: 53,
            ..key
        };
        assert_eq!(with_source_port(udp, 40000).dst_port, 53);
    }
}
