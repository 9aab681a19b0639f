//! `ip4-icmp-error`: tells the sender of a packet that died why, with an
//! ICMP error built in a new buffer and routed by `ip4-lookup` (after `ip4-nat-in`), and drops
//! the packet with the reason of its death.
//!
//! As RFC 1812 §4.3.2.7 asks, no error is sent about an ICMP error, a
//! packet to a multicast or broadcast address, a fragment other than the
//! first, or a packet whose source does not name one host. Errors come
//! from the address of the interface the packet came in on (so that a
//! traceroute shows the hop the sender knows), quote as much of the
//! packet as fits in 576 bytes (RFC 1812 §4.3.2.3), and are rate-limited
//! per worker ([`super::rate_limit`]).

use core::net::Ipv4Addr;

use podwire_wire::icmpv4::{self, Message, dst_unreachable, time_exceeded};
use podwire_wire::ip::IpProtocol;
use podwire_wire::ipv4::{self, Ipv4Repr};

use crate::buffer::BufferIndex;
use crate::graph::{Context, Dispatch, Node};
use crate::icmp_error::IcmpError;
use crate::interface::{IfIndex, InterfaceConfig};
use crate::nodes::ip4::header;
use crate::tables::Tables;

use super::ReplyRoute;
use super::error::{ErrorDrop, ErrorFamily, answer};

crate::next_nodes! {
    pub enum Next {
        // Through NAT first: an error about a packet a session translated is translated
        // back, so that the sender recognises its own packet in the quote.
        Lookup => "ip4-nat-in",
    }
}

/// TTL of the errors.
const ERROR_TTL: u8 = 64;
/// DSCP/ECN byte of the errors: precedence 6, internetwork control
/// (RFC 1812 §4.3.2.5), as Linux sends them.
const ERROR_TOS: u8 = 0xc0;

/// The `ip4-icmp-error` node.
#[derive(Debug, Default)]
pub struct Ip4IcmpError;

impl Node for Ip4IcmpError {
    fn name(&self) -> &'static str {
        "ip4-icmp-error"
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
                    out.send(Next::Lookup, answer.error);
                    out.drop(bi, answer.cause);
                }
                Err(reason) => out.drop(bi, reason),
            }
        }
    }
}

impl ErrorFamily for Ip4IcmpError {
    type Addr = Ipv4Addr;
    const HEADERS_LEN: usize = ipv4::HEADER_LEN + icmpv4::HEADER_LEN;
    /// RFC 1812 §4.3.2.3.
    const MAX_LEN: usize = 576;

    fn sender(data: &[u8]) -> Option<(Ipv4Addr, Option<&'static str>)> {
        let ip = header(data)?;
        Some((ip.src_addr(), forbidden(&ip)))
    }

    /// The rx interface's own address (so that a traceroute shows the hop
    /// the sender knows), else any the switch has.
    fn source_address(tables: &Tables, rx_if: IfIndex, _: Ipv4Addr) -> Option<Ipv4Addr> {
        tables
            .interface(rx_if)
            .and_then(InterfaceConfig::primary_ip4)
            .or_else(|| {
                tables
                    .interfaces
                    .iter()
                    .find_map(InterfaceConfig::primary_ip4)
            })
    }

    fn route(_: &Tables, _: IfIndex, _: Ipv4Addr) -> Option<ReplyRoute> {
        Some(ReplyRoute::Lookup)
    }

    fn write(
        packet: &mut [u8],
        from: Ipv4Addr,
        to: Ipv4Addr,
        error: IcmpError,
    ) -> podwire_wire::Result<()> {
        let (ip_bytes, icmp_bytes) = packet.split_at_mut(ipv4::HEADER_LEN);
        let ip = Ipv4Repr {
            src_addr: from,
            dst_addr: to,
            protocol: IpProtocol::ICMP,
            payload_len: icmp_bytes.len(),
            ttl: ERROR_TTL,
            dscp_ecn: ERROR_TOS,
        };
        ip.emit(&mut ipv4::Packet::new_unchecked(ip_bytes))?;
        let (msg_type, code, mtu) = match error {
            IcmpError::TimeExceeded => (Message::TIME_EXCEEDED, time_exceeded::TTL_EXCEEDED, 0),
            IcmpError::NoRoute => (
                Message::DST_UNREACHABLE,
                dst_unreachable::NET_UNREACHABLE,
                0,
            ),
            IcmpError::HostUnreachable => (
                Message::DST_UNREACHABLE,
                dst_unreachable::HOST_UNREACHABLE,
                0,
            ),
            IcmpError::ProtocolUnreachable => (
                Message::DST_UNREACHABLE,
                dst_unreachable::PROTO_UNREACHABLE,
                0,
            ),
            IcmpError::PortUnreachable => (
                Message::DST_UNREACHABLE,
                dst_unreachable::PORT_UNREACHABLE,
                0,
            ),
            IcmpError::TooBig { mtu } => {
                (Message::DST_UNREACHABLE, dst_unreachable::FRAG_NEEDED, mtu)
            }
        };
        let mut icmp = icmpv4::Packet::new_checked(icmp_bytes)?;
        icmp.set_msg_type(msg_type);
        icmp.set_msg_code(code);
        // The four bytes after the checksum are zero, but for the next-hop MTU
        // of "fragmentation needed" (RFC 1191) in the last two.
        icmp.set_next_hop_mtu(mtu);
        icmp.fill_checksum();
        Ok(())
    }
}

/// Why no error may be sent about this packet, if so (RFC 1812 §4.3.2.7).
fn forbidden(ip: &ipv4::Packet<&[u8]>) -> Option<&'static str> {
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    if src.is_unspecified() || src.is_multicast() || src.is_broadcast() || src.is_loopback() {
        return Some("its source names no single host");
    }
    if dst.is_multicast() || dst.is_broadcast() {
        return Some("it went to a multicast or broadcast address");
    }
    if ip.frag_offset() != 0 {
        return Some("it is a fragment other than the first");
    }
    // An ICMP message whose type the first buffer does not even hold is
    // taken for an error: better silent than an error about an error.
    if ip.protocol() == IpProtocol::ICMP
        && ip.payload().first().is_none_or(|&t| Message(t).is_error())
    {
        return Some("it is an ICMP error itself");
    }
    None
}
