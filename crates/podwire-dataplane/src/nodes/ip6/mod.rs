//! IPv6 forwarding: `ip6-input` validates and sorts out neighbor
//! discovery, multicast and link-local traffic, `ip6-lookup` routes,
//! `ip6-local` takes what is for the switch itself, `ip6-rewrite` sends the
//! rest on to the next hop. ICMPv6 echo and errors are in
//! [`crate::nodes::icmp`]; neighbor discovery in `ip6-ndp`.

pub mod input;
pub mod local;
pub mod lookup;
pub mod rewrite;

#[cfg(test)]
mod tests;

use podwire_wire::ipv6;

/// The IPv6 header at the start of `data`, once `ip6-input` has validated
/// it: whole in the first buffer, version 6. The payload may continue in
/// chained buffers, so the view's `payload()` is only what this buffer
/// holds. `None` for a packet that skipped validation (a podwire bug).
#[inline]
pub(crate) fn header(data: &[u8]) -> Option<ipv6::Packet<&[u8]>> {
    ipv6::Packet::new_quoted(data).ok()
}
