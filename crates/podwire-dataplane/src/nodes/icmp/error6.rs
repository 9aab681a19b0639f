//! `ip6-icmp-error`: tells the sender of a packet that died why, with an
//! ICMPv6 error built in a new buffer, and drops the packet with the reason
//! of its death. The error is routed by `ip6-lookup`, or, to a link-local
//! sender, sent straight back out of the link the packet came in on.
//!
//! As RFC 4443 §2.4(e) asks, no error is sent about an ICMPv6 error, a
//! packet to a multicast address, or a packet whose source does not name
//! one host (:: or multicast); nor, as for IPv4, about a fragment other
//! than the first. An error quotes as much of the packet as fits in the
//! IPv6 minimum MTU, 1280 bytes (§2.4(c)), and comes from an address of the
//! interface the packet came in on, of the sender's scope (link-local for a
//! link-local sender, else a global one, the switch's if that interface
//! has none). Errors are rate-limited per worker ([`super::rate_limit`]).

use core::net::Ipv6Addr;

use podwire_wire::icmpv6::{self, Message, dst_unreachable, time_exceeded};
use podwire_wire::ip::IpProtocol;
use podwire_wire::ipv6::{self, Ipv6Repr, is_link_local};

use crate::buffer::BufferIndex;
use crate::graph::{Context, Dispatch, Node};
use crate::icmp_error::IcmpError;
use crate::interface::IfIndex;
use crate::nodes::ip6::header;
use crate::tables::Tables;

use super::error::{ErrorDrop, ErrorFamily, answer};
use super::{ReplyRoute, reply_route6};

crate::next_nodes! {
    pub enum Next {
        // Through NAT first: an error about a packet a session translated is translated
        // back, so that the sender recognises its own packet in the quote.
        Lookup => "ip6-nat-in",
        Rewrite => "ip6-rewrite",
    }
}

/// Hop limit of the errors.
const ERROR_HOP_LIMIT: u8 = 64;
/// The parameter problem code for an unknown next header (RFC 4443 §3.4).
const UNRECOGNIZED_NEXT_HEADER: u8 = 1;
/// Where the next header field is in the IPv6 header: the pointer of that
/// parameter problem.
const NEXT_HEADER_OFFSET: u32 = 6;

/// The `ip6-icmp-error` node.
#[derive(Debug, Default)]
pub struct Ip6IcmpError;

impl Node for Ip6IcmpError {
    fn name(&self) -> &'static str {
        "ip6-icmp-error"
    }

    fn next_nodes(&self) -> &'static [&'static str] {
        Next::ALL
    }

    fn drop_reasons(&self) -> &'static [crate::counters::DropReason] {
        ErrorDrop::ALL
    }

    fn process(&mut self, cx: &mut Context<'_>, packets: &[BufferIndex], out: &mut Dispatch) {
        for &bi in packets {
            match answer::<Self>(cx, bi) {
                Ok(answer) => {
                    let next = match answer.route {
                        ReplyRoute::Lookup => Next::Lookup,
                        ReplyRoute::SameLink(_) => Next::Rewrite,
                    };
                    out.send(next, answer.error);
                    out.drop(bi, answer.cause);
                }
                Err(reason) => out.drop(bi, reason),
            }
        }
    }
}

impl ErrorFamily for Ip6IcmpError {
    type Addr = Ipv6Addr;
    const HEADERS_LEN: usize = ipv6::HEADER_LEN + icmpv6::HEADER_LEN;
    /// The IPv6 minimum MTU (RFC 4443 §2.4(c)).
    const MAX_LEN: usize = 1280;

    fn sender(data: &[u8]) -> Option<(Ipv6Addr, Option<&'static str>)> {
        let ip = header(data)?;
        Some((ip.src_addr(), forbidden(&ip)))
    }

    /// The switch's address for an error to `dst` about a packet received on
    /// `rx_if`: of the interface, link-local for a link-local `dst`; else a
    /// global one of the interface, of any interface, or at last the
    /// interface's link-local one (good enough for a sender on that link).
    fn source_address(tables: &Tables, rx_if: IfIndex, dst: Ipv6Addr) -> Option<Ipv6Addr> {
        let on_rx = tables
            .interface(rx_if)
            .map(|c| c.ip6.as_slice())
            .unwrap_or_default();
        let link_local = || on_rx.iter().map(|&(a, _)| a).find(|&a| is_link_local(a));
        if is_link_local(dst) {
            return link_local();
        }
        let global = |addresses: &[(Ipv6Addr, u8)]| {
            addresses
                .iter()
                .map(|&(a, _)| a)
                .find(|&a| !is_link_local(a))
        };
        global(on_rx)
            .or_else(|| tables.interfaces.iter().find_map(|c| global(&c.ip6)))
            .or_else(link_local)
    }

    fn route(tables: &Tables, rx_if: IfIndex, dst: Ipv6Addr) -> Option<ReplyRoute> {
        reply_route6(tables, rx_if, dst)
    }

    fn write(
        packet: &mut [u8],
        from: Ipv6Addr,
        to: Ipv6Addr,
        error: IcmpError,
    ) -> podwire_wire::Result<()> {
        let (ip_bytes, icmp_bytes) = packet.split_at_mut(ipv6::HEADER_LEN);
        let ip = Ipv6Repr {
            src_addr: from,
            dst_addr: to,
            next_header: IpProtocol::ICMPV6,
            payload_len: icmp_bytes.len(),
            hop_limit: ERROR_HOP_LIMIT,
            traffic_class: 0,
        };
        ip.emit(&mut ipv6::Packet::new_unchecked(ip_bytes))?;
        // The word after the checksum: the MTU of packet too big, the pointer
        // of a parameter problem, zero for the others.
        let (msg_type, code, word) = match error {
            IcmpError::TimeExceeded => {
                (Message::TIME_EXCEEDED, time_exceeded::HOP_LIMIT_EXCEEDED, 0)
            }
            IcmpError::NoRoute => (Message::DST_UNREACHABLE, dst_unreachable::NO_ROUTE, 0),
            IcmpError::HostUnreachable => (
                Message::DST_UNREACHABLE,
                dst_unreachable::ADDR_UNREACHABLE,
                0,
            ),
            IcmpError::PortUnreachable => (
                Message::DST_UNREACHABLE,
                dst_unreachable::PORT_UNREACHABLE,
                0,
            ),
            IcmpError::ProtocolUnreachable => (
                Message::PARAM_PROBLEM,
                UNRECOGNIZED_NEXT_HEADER,
                NEXT_HEADER_OFFSET,
            ),
            IcmpError::TooBig { mtu } => (Message::PKT_TOO_BIG, 0, u32::from(mtu)),
        };
        let mut icmp = icmpv6::Packet::new_checked(icmp_bytes)?;
        icmp.set_msg_type(msg_type);
        icmp.set_msg_code(code);
        icmp.set_pkt_too_big_mtu(word);
        icmp.fill_checksum(from, to);
        Ok(())
    }
}

/// Why no error may be sent about this packet, if so (RFC 4443 §2.4(e)).
fn forbidden(ip: &ipv6::Packet<&[u8]>) -> Option<&'static str> {
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    if src.is_unspecified() || src.is_multicast() {
        return Some("its source names no single host");
    }
    if dst.is_multicast() {
        return Some("it went to a multicast address");
    }
    let first = ip.payload().first().copied();
    match ip.next_header() {
        // An ICMPv6 message whose type the first buffer does not even
        // hold is taken for an error: better silent than an error about
        // an error.
        IpProtocol::ICMPV6 if first.is_none_or(|t| Message(t).is_error()) => {
            Some("it is an ICMPv6 error itself")
        }
        IpProtocol::IPV6_FRAG if !is_first_fragment(ip.payload()) => {
            Some("it is a fragment other than the first")
        }
        _ => None,
    }
}

/// Whether a fragment header (RFC 8200 §4.5) says offset 0; false when the
/// first buffer does not hold it.
fn is_first_fragment(fragment_header: &[u8]) -> bool {
    match fragment_header.get(2..4) {
        Some(&[high, low]) => u16::from_be_bytes([high, low]) >> 3 == 0,
        _ => false,
    }
}
