//! A worker's NAT housekeeping, each round (once a second): expired sessions and affinity
//! entries go, a bounded number at a time, and when the Services changed, UDP sessions to
//! endpoints that no longer serve their Service port go too.
//!
//! UDP has no end: a client that keeps sending to a Service whose endpoint went away would
//! keep its session to the dead endpoint for ever. As kube-proxy does after each sync (it
//! deletes conntrack entries of UDP Services whose reply source is not a serving endpoint),
//! these sessions are cleared, and the client's next datagram is load-balanced afresh. TCP
//! sessions stay: a connection ends on its own (a RST from the endpoint, or its timeout).

use std::sync::Arc;
use std::time::Duration;

use crate::clock::Instant;
use crate::nat::flow::UDP;
use crate::nat::service::ServiceTable;
use crate::state::WorkerState;
use crate::tables::Tables;

/// Sessions expired at most per round: a round's work stays bounded (a few hundred
/// microseconds) however many expire at once; the rest wait for the next rounds, and a
/// lookup never returns an expired session meanwhile.
pub const SESSION_EXPIRY_BUDGET: usize = 4096;
/// Affinity entries expired at most per round.
pub const AFFINITY_EXPIRY_BUDGET: usize = 4096;
/// The longest `ClientIP` affinity timeout a Service may have (Kubernetes' maximum): an
/// entry not used for that long is of no Service.
pub const MAX_AFFINITY_TIMEOUT: Duration = Duration::from_secs(86_400);

/// What one round did.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct HousekeepingReport {
    /// Sessions expired.
    pub sessions_expired: usize,
    /// Affinity entries expired.
    pub affinity_expired: usize,
    /// UDP sessions cleared because their endpoint no longer serves.
    pub stale_udp_cleared: usize,
}

/// A worker's NAT housekeeping: remembers the Services it last saw, to tell when they
/// changed.
#[derive(Debug, Default)]
pub struct NatHousekeeping {
    /// The service table of the last round. Held (not only its address), so that a new
    /// table can never be mistaken for it by reusing its memory.
    services: Option<Arc<ServiceTable>>,
}

impl NatHousekeeping {
    /// Nothing seen yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// One round, at `now`, with the tables the worker runs with.
    pub fn run(
        &mut self,
        state: &mut WorkerState,
        tables: &Tables,
        now: Instant,
    ) -> HousekeepingReport {
        let sessions_expired = state.sessions.expire(now, SESSION_EXPIRY_BUDGET);
        let affinity_expired =
            state
                .affinity
                .expire(now, MAX_AFFINITY_TIMEOUT, AFFINITY_EXPIRY_BUDGET);
        // The first round counts as a change: Services may have changed between the
        // worker's start and now (an agent that restarts applies its store at once).
        let changed = self
            .services
            .as_ref()
            .is_none_or(|last| !Arc::ptr_eq(last, &tables.services));
        let stale_udp_cleared = if changed {
            clear_stale_udp(state, &tables.services)
        } else {
            0
        };
        self.services = Some(tables.services.clone());
        HousekeepingReport {
            sessions_expired,
            affinity_expired,
            stale_udp_cleared,
        }
    }
}

/// Removes the UDP sessions of Service ports whose endpoint no longer serves them.
fn clear_stale_udp(state: &mut WorkerState, services: &ServiceTable) -> usize {
    state.sessions.retain(|s| {
        let stale = s.original.protocol == UDP
            && s.service
                .is_some_and(|b| !services.is_serving(b.service_port, b.endpoint.ip()));
        !stale
    })
}
