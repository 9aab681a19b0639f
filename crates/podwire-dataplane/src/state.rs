//! What a worker keeps for itself and changes as packets pass: learned
//! neighbors, learned MAC addresses, rate limits. No other thread touches it,
//! so the hot path takes no lock.

use crate::bridge::MacTables;
use crate::neighbor::NeighborTable;

/// A worker's own mutable tables.
#[derive(Debug, Default)]
pub struct WorkerState {
    /// Neighbors learned from ARP and neighbor discovery.
    pub neighbors: NeighborTable,
    /// MAC addresses learned by the bridge domains.
    pub bridges: MacTables,
    /// The budget of ICMP errors this worker may send.
    pub icmp_error_limit: crate::nodes::icmp::IcmpErrorLimit,
    /// Connection tracking and NAT sessions.
    pub sessions: crate::nat::session::SessionTable,
    /// `ClientIP` affinity entries.
    pub affinity: crate::nat::affinity::AffinityTable,
    /// New connections each NetworkPolicy rule allowed.
    pub policy_hits: crate::policy::table::PolicyHits,
}
