//! IPv4 forwarding: `ip4-input` validates, `ip4-lookup` routes,
//! `ip4-local` takes what is for the switch itself, `ip4-rewrite` sends
//! the rest on to the next hop. ICMP (echo, errors) is in
//! [`crate::nodes::icmp`].

pub mod input;
pub mod local;
pub mod lookup;
pub mod rewrite;

#[cfg(test)]
mod tests;

use podwire_wire::ipv4;

/// The IPv4 header at the start of `data`, once `ip4-input` has validated
/// it: whole in the first buffer, version 4. The payload may continue in
/// chained buffers, so the view's `payload()` is only what this buffer
/// holds. `None` for a packet that skipped validation (a podwire bug).
#[inline]
pub(crate) fn header(data: &[u8]) -> Option<ipv4::Packet<&[u8]>> {
    ipv4::Packet::new_quoted(data).ok()
}
