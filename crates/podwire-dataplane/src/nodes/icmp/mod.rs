//! ICMP and ICMPv6 as the switch speaks them: it answers pings to its own
//! addresses (`ip4-icmp-echo`, `ip6-icmp-echo`) and tells senders why their
//! packets died (`ip4-icmp-error`, `ip6-icmp-error`), within a rate limit.
//!
//! A node that wants an error sent stores an [`IcmpError`](crate::icmp_error::IcmpError) in
//! `meta.next_index` and hands the packet to the error node, which builds
//! the error in a new buffer, routes it, and drops the original with the
//! reason of its error, so that `show errors` says why packets died.

pub mod echo4;
pub mod echo6;
mod error;
pub mod error4;
pub mod error6;
pub mod rate_limit;

#[cfg(test)]
mod tests;

use core::net::Ipv6Addr;

use podwire_wire::icmpv6::Message;
use podwire_wire::ipv6;

use crate::interface::IfIndex;
use crate::tables::Tables;

pub use error::ErrorDrop;
pub use rate_limit::IcmpErrorLimit;

/// Whether an ICMPv6 type is neighbor discovery (RFC 4861: router
/// solicitation and advertisement, neighbor solicitation and
/// advertisement, redirect).
#[inline]
pub(crate) fn is_ndp(icmp_type: u8) -> bool {
    (Message::ROUTER_SOLICIT.0..=Message::REDIRECT.0).contains(&icmp_type)
}

/// How an ICMPv6 message the switch sends reaches its destination.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum ReplyRoute {
    /// By the route to it: to `ip4-lookup` / `ip6-lookup`.
    Lookup,
    /// Back out of the link the packet it answers came in on, with this
    /// attached adjacency (for `meta.next_index`): to `ip6-rewrite`. A
    /// link-local destination is reached so, since no route covers it.
    SameLink(u32),
}

/// How a message about a packet received on `rx_if` reaches `dst`; `None`
/// for a link-local `dst` when `rx_if` is no interface.
pub(crate) fn reply_route6(tables: &Tables, rx_if: IfIndex, dst: Ipv6Addr) -> Option<ReplyRoute> {
    if ipv6::is_link_local(dst) {
        tables.attached_adjacency(rx_if).map(ReplyRoute::SameLink)
    } else {
        Some(ReplyRoute::Lookup)
    }
}
