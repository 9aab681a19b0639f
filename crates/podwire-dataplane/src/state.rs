//! What a worker keeps for itself and changes as packets pass: learned
//! neighbors and the packets waiting for them, learned MAC addresses, rate
//! limits. No other thread touches it, so the hot path takes no lock.

use crate::bridge::MacTables;
use crate::neighbor::NeighborTable;
use crate::neighbor::pending::PendingTable;

/// A worker's own mutable tables.
#[derive(Debug, Default)]
pub struct WorkerState {
    /// Neighbors learned from ARP and neighbor discovery.
    pub neighbors: NeighborTable,
    /// Packets held while their next hop's MAC is asked for.
    pub pending: PendingTable,
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
    /// What the VXLAN tunnel interfaces received and sent: they have no device to count
    /// it. Add them to the devices' counters when reporting interfaces.
    pub tunnels: crate::counters::InterfaceCounterTable,
    /// Segmentation and checksums done in software for devices that could not.
    pub offload: crate::counters::OffloadCounters,
    /// The SNAT reply keys this worker claims in the node's shared flow table, so that no
    /// two workers masquerade to the same port. `None`: the node's only worker.
    pub snat_claims: Option<crate::steer::SnatClaims>,
}
