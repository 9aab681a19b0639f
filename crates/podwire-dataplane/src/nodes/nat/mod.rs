//! The NAT nodes: Services and masquerading, with the worker's sessions; and the policy
//! check of new flows, which make those sessions.
//!
//! ```text
//! ip*-input → ip*-nat-in → ip*-policy → ip*-lookup → ip*-nat-out → ip*-rewrite
//! ```
//!
//! `ip4-nat-in` / `ip6-nat-in` see every packet before it is routed. A packet of a tracked
//! flow is translated as its session says (a reply un-DNATed, un-masqueraded) and marked
//! `tracked` (and goes straight to the route lookup: its policies were checked when its
//! session was made); an ICMP error about a tracked flow is translated back to the packet's
//! sender.
//! The first packet of a flow is given to the service table
//! ([`crate::nat::service::ServiceTable::decide`]): DNAT to an endpoint (and masquerade when
//! the rules say so) with a new session, REJECT (ICMP port unreachable, by `ip*-icmp-error`),
//! or DROP; anything else goes on untranslated. ICMP echo is never load-balanced: kube-proxy
//! does not DNAT it either. Every new flow is checked against the policies here
//! ([`crate::nodes::policy`]), from the headers read once: a Service's with the endpoint it
//! chose, before its session is made; any other as it is, and given a session without
//! translation when a pod with policies is at either end (so that its replies pass) or when
//! it comes from outside the cluster by a masquerading interface (so that `ip*-nat-out`
//! does not masquerade the pod's answers). A packet with no flow to read (no ports) goes
//! to `ip*-policy` (straight to the route lookup when no pod has a policy).
//!
//! `ip4-nat-out` / `ip6-nat-out` see the packets routed out of an interface: a new flow from
//! a pod (a source in a cluster CIDR) to outside the cluster, leaving by an interface that
//! masquerades (an uplink), gets a session that SNATs it to the interface's address.
//! The replies come back through `ip*-nat-in`, which finds the session.
//!
//! What the nodes leave untouched and why is in `packet`'s documentation; translation and
//! checksums are in `rewrite`; the choice of a source port in `snat`.
//!
//! A worker with no session, no Service, no masquerading interface and no policy skips all
//! of it: the nodes then cost a check per vector (nat-in) and two table reads per packet
//! (nat-out).

mod nat_in;
mod nat_out;
pub(crate) mod packet;
mod rewrite;
mod snat;

#[cfg(test)]
pub(crate) mod tests;

pub use nat_in::{InDrop, Ip4NatIn, Ip6NatIn, NatIn};
pub use nat_out::{Ip4NatOut, Ip6NatOut, NatOut, OutDrop};
pub(crate) use packet::{Headers, Transport, addresses};
