//! What the NAT nodes read of a packet: the flow it belongs to and where its headers are, for
//! IPv4 and IPv6 alike.
//!
//! Only what is in the packet's first buffer is read (the IP header always is, and so is the
//! transport header of any packet short of 2 KiB of IPv6 extension headers). Whatever cannot
//! be translated is [`Parsed::Opaque`], with the reason for the trace, and passes untouched:
//!
//! - a fragment other than the first carries no ports. podwire does not reassemble, so the
//!   later fragments of a datagram sent to a Service are not translated (and do not reach the
//!   endpoint); Services are used by TCP and by UDP datagrams that fit the path, as with IPVS;
//! - a protocol other than TCP, UDP, SCTP, ICMP echo and the ICMP errors;
//! - a transport header cut short in the first buffer.

use core::net::IpAddr;

use podwire_wire::{icmpv4, icmpv6, ipv4, ipv6, sctp, tcp, udp};

use crate::nat::flow::{FlowKey, ICMP, ICMP6, SCTP, TCP, UDP};

/// The transport of a flow, as NAT rewrites it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    /// TCP: ports and checksum (with the pseudo-header).
    Tcp,
    /// UDP: ports and checksum (with the pseudo-header), when there is one.
    Udp,
    /// SCTP: ports; the CRC32c covers the whole packet.
    Sctp,
    /// ICMP echo request or reply: the identifier stands for both ports.
    Echo,
}

/// The headers of one IP packet: the packet itself, or the one an ICMP error quotes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Headers {
    /// IPv6 (else IPv4).
    pub v6: bool,
    /// Where the transport header starts, from the start of the IP header.
    pub l4: usize,
    /// What the transport is.
    pub transport: Transport,
    /// The flow the packet belongs to.
    pub key: FlowKey,
}

/// A packet as the NAT nodes see it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// Nothing to translate: why.
    Opaque(&'static str),
    /// A packet of a flow.
    Packet {
        /// Its headers.
        headers: Headers,
        /// The TCP flags byte; 0 for other transports.
        tcp_flags: u8,
        /// Whether it may start a flow (everything but an echo reply).
        starts_flow: bool,
    },
    /// An ICMP error about a packet of a flow.
    Error {
        /// Where the ICMP header starts.
        icmp: usize,
        /// Where the quoted packet starts (after the ICMP header).
        quoted_at: usize,
        /// The quoted packet's headers, offsets from `quoted_at`.
        quoted: Headers,
    },
}

/// ICMPv4 types that quote the packet they are about: destination unreachable, time
/// exceeded, parameter problem.
const ICMP4_ERRORS: [u8; 3] = [
    icmpv4::Message::DST_UNREACHABLE.0,
    icmpv4::Message::TIME_EXCEEDED.0,
    icmpv4::Message::PARAM_PROBLEM.0,
];
/// ICMPv6 types that quote the packet they are about: destination unreachable, packet too
/// big, time exceeded, parameter problem.
const ICMP6_ERRORS: [u8; 4] = [
    icmpv6::Message::DST_UNREACHABLE.0,
    icmpv6::Message::PKT_TOO_BIG.0,
    icmpv6::Message::TIME_EXCEEDED.0,
    icmpv6::Message::PARAM_PROBLEM.0,
];
/// The transport bytes an ICMP error quotes at least (RFC 792, RFC 4443 quote more): the
/// ports, and the echo identifier.
const QUOTED_L4_LEN: usize = 8;
/// IPv6 extension headers walked at most before the transport header.
const MAX_EXTENSION_HEADERS: usize = 8;

/// Reads the packet whose IP header starts `data`.
pub(crate) fn parse(data: &[u8], v6: bool) -> Parsed {
    let ip = match ip_header(data, v6) {
        Ok(ip) if ip.later_fragment => return Parsed::Opaque(LATER_FRAGMENT),
        Ok(ip) => ip,
        Err(why) => return Parsed::Opaque(why),
    };
    let Some(transport) = transport(ip.protocol, v6) else {
        return Parsed::Opaque("not TCP, UDP, SCTP or ICMP");
    };
    let l4 = data.get(ip.l4..).unwrap_or_default();
    let min_len = match transport {
        Transport::Tcp => tcp::HEADER_LEN,
        Transport::Udp => udp::HEADER_LEN,
        Transport::Sctp => sctp::HEADER_LEN,
        Transport::Echo => icmpv4::HEADER_LEN,
    };
    if l4.len() < min_len {
        return Parsed::Opaque("transport header cut short");
    }
    let kind = l4[0];
    if transport == Transport::Echo {
        if is_error(kind, v6) {
            return quoted_error(data, ip.l4, v6);
        }
        let Some(request) = echo_request(kind, v6) else {
            return Parsed::Opaque("ICMP neither echo nor an error");
        };
        let headers = Headers {
            v6,
            l4: ip.l4,
            transport,
            key: key(&ip, Transport::Echo, l4),
        };
        return Parsed::Packet {
            headers,
            tcp_flags: 0,
            starts_flow: request,
        };
    }
    let tcp_flags = if transport == Transport::Tcp {
        l4[13]
    } else {
        0
    };
    Parsed::Packet {
        headers: Headers {
            v6,
            l4: ip.l4,
            transport,
            key: key(&ip, transport, l4),
        },
        tcp_flags,
        starts_flow: true,
    }
}

/// The ICMP error whose ICMP header is at `icmp` of `data`, with the packet it quotes.
fn quoted_error(data: &[u8], icmp: usize, v6: bool) -> Parsed {
    let quoted_at = icmp + icmpv4::HEADER_LEN;
    let quote = data.get(quoted_at..).unwrap_or_default();
    let ip = match ip_header(quote, v6) {
        Ok(ip) if ip.later_fragment => return Parsed::Opaque(LATER_FRAGMENT),
        Ok(ip) => ip,
        Err(why) => return Parsed::Opaque(why),
    };
    let l4 = quote.get(ip.l4..).unwrap_or_default();
    if l4.len() < QUOTED_L4_LEN {
        return Parsed::Opaque("ICMP error quoting too little of the packet");
    }
    let Some(transport) = transport(ip.protocol, v6) else {
        return Parsed::Opaque("ICMP error about a protocol NAT does not translate");
    };
    if transport == Transport::Echo && echo_request(l4[0], v6).is_none() {
        return Parsed::Opaque("ICMP error about an ICMP message other than echo");
    }
    Parsed::Error {
        icmp,
        quoted_at,
        quoted: Headers {
            v6,
            l4: ip.l4,
            transport,
            key: key(&ip, transport, l4),
        },
    }
}

/// Why a fragment other than the first is opaque.
const LATER_FRAGMENT: &str = "a fragment other than the first: no ports";

/// The addresses and the transport protocol (after any IPv6 extension headers) of the packet
/// whose IP header starts `data`, whatever NAT makes of it: what a policy check of a packet
/// without ports reads. `Err`: why there is no whole IP header.
pub(crate) fn addresses(data: &[u8], v6: bool) -> Result<(IpAddr, IpAddr, u8), &'static str> {
    ip_header(data, v6).map(|ip| (ip.src, ip.dst, ip.protocol))
}

/// What NAT needs of an IP header.
struct IpHeader {
    src: IpAddr,
    dst: IpAddr,
    /// The transport protocol (after any IPv6 extension headers).
    protocol: u8,
    /// Where the transport header starts (for a later fragment, its data).
    l4: usize,
    /// A fragment other than the first: no transport header.
    later_fragment: bool,
}

/// The IP header at the start of `data`, of the version `v6` says.
fn ip_header(data: &[u8], v6: bool) -> Result<IpHeader, &'static str> {
    if v6 {
        ip6_header(data)
    } else {
        ip4_header(data)
    }
}

fn ip4_header(data: &[u8]) -> Result<IpHeader, &'static str> {
    let ip = ipv4::Packet::new_quoted(data).map_err(|_| "no whole IPv4 header")?;
    Ok(IpHeader {
        src: IpAddr::V4(ip.src_addr()),
        dst: IpAddr::V4(ip.dst_addr()),
        protocol: ip.protocol().0,
        l4: usize::from(ip.header_len()),
        later_fragment: ip.frag_offset() != 0,
    })
}

/// IPv6 extension headers with the common layout (RFC 8200 §4: next header, then the length
/// in 8-octet units not counting the first): hop-by-hop, routing, destination options.
const HOP_BY_HOP: u8 = 0;
const ROUTING: u8 = 43;
const FRAGMENT: u8 = 44;
const DESTINATION_OPTIONS: u8 = 60;

fn ip6_header(data: &[u8]) -> Result<IpHeader, &'static str> {
    let ip = ipv6::Packet::new_quoted(data).map_err(|_| "no whole IPv6 header")?;
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let mut next = ip.next_header().0;
    let mut at = ipv6::HEADER_LEN;
    let mut later_fragment = false;
    for _ in 0..MAX_EXTENSION_HEADERS {
        match next {
            HOP_BY_HOP | ROUTING | DESTINATION_OPTIONS => {
                let [header, len] = *data
                    .get(at..at + 2)
                    .and_then(|b| b.first_chunk::<2>())
                    .ok_or("IPv6 extension header cut short")?;
                next = header;
                at += (usize::from(len) + 1) * 8;
            }
            FRAGMENT => {
                let fragment = data
                    .get(at..at + 8)
                    .and_then(|b| b.first_chunk::<8>())
                    .ok_or("IPv6 fragment header cut short")?;
                later_fragment |= u16::from_be_bytes([fragment[2], fragment[3]]) >> 3 != 0;
                next = fragment[0];
                at += 8;
            }
            protocol => {
                return Ok(IpHeader {
                    src: IpAddr::V6(src),
                    dst: IpAddr::V6(dst),
                    protocol,
                    l4: at,
                    later_fragment,
                });
            }
        }
    }
    Err("too many IPv6 extension headers")
}

/// The transport NAT translates for `protocol`; ICMP only of the packet's own version.
fn transport(protocol: u8, v6: bool) -> Option<Transport> {
    match protocol {
        TCP => Some(Transport::Tcp),
        UDP => Some(Transport::Udp),
        SCTP => Some(Transport::Sctp),
        ICMP if !v6 => Some(Transport::Echo),
        ICMP6 if v6 => Some(Transport::Echo),
        _ => None,
    }
}

/// Whether an ICMP type is an error that quotes a packet.
fn is_error(kind: u8, v6: bool) -> bool {
    if v6 {
        ICMP6_ERRORS.contains(&kind)
    } else {
        ICMP4_ERRORS.contains(&kind)
    }
}

/// `Some(true)` for an echo request, `Some(false)` for an echo reply, else `None`.
fn echo_request(kind: u8, v6: bool) -> Option<bool> {
    let (request, reply) = if v6 {
        (
            icmpv6::Message::ECHO_REQUEST.0,
            icmpv6::Message::ECHO_REPLY.0,
        )
    } else {
        (
            icmpv4::Message::ECHO_REQUEST.0,
            icmpv4::Message::ECHO_REPLY.0,
        )
    };
    match kind {
        k if k == request => Some(true),
        k if k == reply => Some(false),
        _ => None,
    }
}

/// The flow key of a packet with IP header `ip` and transport header `l4` (at least 8 bytes:
/// the callers checked).
fn key(ip: &IpHeader, transport: Transport, l4: &[u8]) -> FlowKey {
    let word = |at: usize| u16::from_be_bytes([l4[at], l4[at + 1]]);
    let (src_port, dst_port) = match transport {
        Transport::Echo => (word(4), word(4)),
        _ => (word(0), word(2)),
    };
    FlowKey {
        src: ip.src,
        dst: ip.dst,
        protocol: ip.protocol,
        src_port,
        dst_port,
    }
}
