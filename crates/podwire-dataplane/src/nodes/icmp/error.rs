//! What `ip4-icmp-error` and `ip6-icmp-error` share: the steps from a
//! packet that must be answered to the error that answers it. Each node
//! supplies what its IP version does differently ([`ErrorFamily`]).

use core::fmt::Display;

use crate::buffer::{BUFFER_HEADROOM, BufferIndex, BufferPool};
use crate::graph::Context;
use crate::icmp_error::IcmpError;
use crate::interface::IfIndex;
use crate::nodes::ip_common::copy_prefix;
use crate::tables::Tables;

use super::ReplyRoute;

// Why `ip4-icmp-error` and `ip6-icmp-error` drop packets: the cause of
// death of the packet the error is about, or why no error was sent.
crate::drop_reasons! {
    pub enum ErrorDrop {
        TtlExpired => ("ttl-expired", "the TTL / hop limit ran out in transit; the sender is told (time exceeded) unless the packet was itself an ICMP error, a fragment or from an address no one answers"),
        NoRoute => ("no-route", "no route to the destination; the sender is told (destination unreachable: no route)"),
        HostUnreachable => ("host-unreachable", "the route to the destination says unreachable; the sender is told (destination unreachable: host / address)"),
        ProtocolUnreachable => ("protocol-unreachable", "addressed to the switch in a protocol it does not speak; the sender is told (protocol unreachable / parameter problem)"),
        PortUnreachable => ("port-unreachable", "UDP or TCP addressed to the switch, which listens on no port; the sender is told (port unreachable)"),
        TooBig => ("too-big", "larger than the outgoing link's MTU and may not be fragmented; the sender is told the MTU (fragmentation needed / packet too big)"),
        RateLimited => ("rate-limited", "dropped for one of the reasons above, and the error about it was not sent: this worker already sends 1000 errors a second"),
        NoSourceAddress => ("no-source-address", "dropped for one of the reasons above, and no error was sent: the switch has no address of this IP version to send it from"),
        BufferExhausted => ("buffer-exhausted", "dropped for one of the reasons above, and no error was sent: no free buffer to build it in"),
        BadRequest => ("bad-request", "the packet carries no ICMP error code, or no whole IP header: a node sent it here wrongly (a podwire bug)"),
    }
}

/// The drop reason of a packet that gets `error`.
fn cause(error: IcmpError) -> ErrorDrop {
    match error {
        IcmpError::TimeExceeded => ErrorDrop::TtlExpired,
        IcmpError::NoRoute => ErrorDrop::NoRoute,
        IcmpError::HostUnreachable => ErrorDrop::HostUnreachable,
        IcmpError::ProtocolUnreachable => ErrorDrop::ProtocolUnreachable,
        IcmpError::PortUnreachable => ErrorDrop::PortUnreachable,
        IcmpError::TooBig { .. } => ErrorDrop::TooBig,
    }
}

/// What the ICMP errors of one IP version need to know.
pub(crate) trait ErrorFamily {
    /// An address of this version.
    type Addr: Copy + Display;
    /// The IP and ICMP headers of an error.
    const HEADERS_LEN: usize;
    /// The most an error may be, quote included.
    const MAX_LEN: usize;

    /// The source of the packet in `data`, and why no error may be sent
    /// about it, if so. `None` when `data` does not start with a whole
    /// header of this version.
    fn sender(data: &[u8]) -> Option<(Self::Addr, Option<&'static str>)>;

    /// The switch's address for an error to `dst` about a packet received
    /// on `rx_if`.
    fn source_address(tables: &Tables, rx_if: IfIndex, dst: Self::Addr) -> Option<Self::Addr>;

    /// How the error reaches `dst`.
    fn route(tables: &Tables, rx_if: IfIndex, dst: Self::Addr) -> Option<ReplyRoute>;

    /// Writes the IP and ICMP headers of the error, checksums included, in
    /// front of the quote already in `packet`.
    fn write(
        packet: &mut [u8],
        from: Self::Addr,
        to: Self::Addr,
        error: IcmpError,
    ) -> podwire_wire::Result<()>;
}

/// An error ready to leave, and the reason to drop the packet it is about.
pub(crate) struct Answer {
    /// The error, with `meta.next_index` set for `route`.
    pub error: BufferIndex,
    /// Where it goes next.
    pub route: ReplyRoute,
    /// The drop reason of the packet it is about.
    pub cause: ErrorDrop,
}

/// Builds the error that packet `bi` asks for; `Err` is the reason to drop
/// the packet when no error is sent.
pub(crate) fn answer<F: ErrorFamily>(
    cx: &mut Context<'_>,
    bi: BufferIndex,
) -> Result<Answer, ErrorDrop> {
    let meta = *cx.pool.meta(bi);
    let error = IcmpError::decode(meta.next_index).ok_or(ErrorDrop::BadRequest)?;
    let (sender, forbidden) = F::sender(cx.pool.data(bi)).ok_or(ErrorDrop::BadRequest)?;
    if let Some(why) = forbidden {
        cx.note(bi, || format!("no {error:?} error: {why}"));
        return Err(cause(error));
    }
    if !cx.state.icmp_error_limit.allow(cx.now) {
        return Err(ErrorDrop::RateLimited);
    }
    let from = F::source_address(cx.tables, meta.rx_if, sender);
    let route = F::route(cx.tables, meta.rx_if, sender);
    let (Some(from), Some(route)) = (from, route) else {
        return Err(ErrorDrop::NoSourceAddress);
    };
    let quote_limit = F::MAX_LEN - F::HEADERS_LEN;
    let reply = build_error(cx.pool, bi, F::HEADERS_LEN, quote_limit, |packet| {
        F::write(packet, from, sender, error)
    })
    .ok_or(ErrorDrop::BufferExhausted)?;
    if let ReplyRoute::SameLink(adjacency) = route {
        cx.pool.meta_mut(reply).next_index = adjacency;
    }
    cx.note(bi, || format!("{error:?} from {from} to {sender}"));
    Ok(Answer {
        error: reply,
        route,
        cause: cause(error),
    })
}

/// The longest quote an error carries: the IPv6 minimum MTU (RFC 4443
/// §2.4(c)) less the IPv6 and ICMPv6 headers. IPv4 quotes less.
const MAX_QUOTE: usize = 1280 - 40 - 8;

/// Builds an error about packet `original` in a new buffer:
/// `headers_len` bytes that `write` fills (the IP and ICMP headers, with
/// their checksums), then the first bytes of the original, at most
/// `quote_limit` of them. The new packet carries the original's rx
/// interface and trace. `write` is given the whole new packet.
///
/// `None` when no buffer is free, or when `write` fails (which the fixed
/// header sizes of the callers rule out).
fn build_error(
    pool: &mut BufferPool,
    original: BufferIndex,
    headers_len: usize,
    quote_limit: usize,
    write: impl FnOnce(&mut [u8]) -> podwire_wire::Result<()>,
) -> Option<BufferIndex> {
    // The pool lends one buffer at a time: the quote passes by the stack.
    let mut quote = [0u8; MAX_QUOTE];
    let quote_len = copy_prefix(pool, original, &mut quote[..quote_limit.min(MAX_QUOTE)]);
    let error = pool.alloc().ok()?;
    let len = headers_len + quote_len;
    let packet = &mut pool.raw_mut(error)[BUFFER_HEADROOM..BUFFER_HEADROOM + len];
    packet[headers_len..].copy_from_slice(&quote[..quote_len]);
    if write(packet).is_err() {
        pool.free(error);
        return None;
    }
    pool.set_data(error, BUFFER_HEADROOM, len);
    let from = *pool.meta(original);
    let meta = pool.meta_mut(error);
    meta.rx_if = from.rx_if;
    meta.trace = from.trace;
    meta.originated = true;
    Some(error)
}
