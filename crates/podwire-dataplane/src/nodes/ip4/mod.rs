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

/// The fixed 20 bytes of the IPv4 header at the start of `data`, for the
/// forwarding nodes after `ip4-input` (`ip4-lookup`, `ip4-rewrite`): they
/// read only fields there (addresses, total length, flags, TTL, checksum),
/// so they check only that the bytes are there rather than validate the
/// header again. `None` for a packet too short to hold them (it skipped
/// validation: a podwire bug).
#[inline]
pub(crate) fn fixed_header<T: AsRef<[u8]>>(data: T) -> Option<ipv4::Packet<T>> {
    (data.as_ref().len() >= ipv4::HEADER_LEN).then_some(ipv4::Packet::new_unchecked(data))
}
