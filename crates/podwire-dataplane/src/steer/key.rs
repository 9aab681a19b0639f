//! The flow a received frame belongs to, read from its bytes before any node sees it: the
//! key its session is found by (see [`crate::nat::flow::FlowKey`]), so that a look-up of
//! [`FlowOwners`](super::FlowOwners) by it finds the keys sessions publish.
//!
//! It reads what `ip*-nat-in` reads, the same way: TCP, UDP and SCTP ports; the ICMP echo
//! identifier as both ports; for an ICMP error, the flow of the packet it quotes, reversed
//! (the error travels as a reply of that packet would). A VXLAN frame for one of the given
//! UDP ports is read inside (its inner packet is what the sessions see). A fragment other
//! than the first, and any other protocol, give the addresses and protocol with ports 0;
//! a frame that is not IP gives nothing. Nothing here trusts the frame: every read is
//! bounds-checked, and a frame cut short gives what could be read.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::nat::flow::{FlowKey, ICMP, ICMP6, SCTP, TCP, UDP};

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: [u16; 2] = [0x8100, 0x88a8];
const ETHERNET_LEN: usize = 14;
const VLAN_TAG_LEN: usize = 4;
const UDP_LEN: usize = 8;
const VXLAN_LEN: usize = 8;
/// The ICMP header before the quoted packet of an error.
const ICMP_LEN: usize = 8;
/// IPv6 extension headers walked at most (as `ip*-nat-in` does).
const MAX_EXTENSION_HEADERS: usize = 8;

/// The flow of the Ethernet frame `frame`; a VXLAN frame whose UDP destination port is one
/// of `vxlan_ports` is read inside (one level). `None`: not IP, or cut short before the
/// addresses.
pub fn flow_of(frame: &[u8], vxlan_ports: &[u16]) -> Option<FlowKey> {
    let (key, inner) = ethernet(frame)?;
    if key.protocol == UDP
        && vxlan_ports.contains(&key.dst_port)
        && let Some(inner) = inner.get(UDP_LEN + VXLAN_LEN..)
    {
        return ethernet(inner).map(|(key, _)| key).or(Some(key));
    }
    Some(key)
}

/// The flow of an Ethernet frame, and the bytes from its transport header on.
fn ethernet(frame: &[u8]) -> Option<(FlowKey, &[u8])> {
    let mut at = ETHERNET_LEN - 2;
    let mut ethertype = read_u16(frame, at)?;
    // Up to two tags (802.1ad then 802.1Q).
    for _ in 0..2 {
        if !ETHERTYPE_VLAN.contains(&ethertype) {
            break;
        }
        at += VLAN_TAG_LEN;
        ethertype = read_u16(frame, at)?;
    }
    let ip = frame.get(at + 2..)?;
    match ethertype {
        ETHERTYPE_IPV4 => ip_packet(ip, false, true),
        ETHERTYPE_IPV6 => ip_packet(ip, true, true),
        _ => None,
    }
}

/// The flow of the IP packet `ip` (IPv6 if `v6`) and its bytes from the transport header
/// on. `quote_errors`: an ICMP error stands for the flow it quotes (not within a quote).
fn ip_packet(ip: &[u8], v6: bool, quote_errors: bool) -> Option<(FlowKey, &[u8])> {
    let header = if v6 { ipv6(ip)? } else { ipv4(ip)? };
    let mut key = FlowKey {
        src: header.src,
        dst: header.dst,
        protocol: header.protocol,
        src_port: 0,
        dst_port: 0,
    };
    if header.later_fragment {
        return Some((key, &[]));
    }
    let l4 = ip.get(header.l4..).unwrap_or_default();
    match header.protocol {
        TCP | UDP | SCTP => {
            if let (Some(src), Some(dst)) = (read_u16(l4, 0), read_u16(l4, 2)) {
                key.src_port = src;
                key.dst_port = dst;
            }
        }
        ICMP | ICMP6 => {
            let kind = *l4.first()?;
            if is_echo(kind, v6) {
                let id = read_u16(l4, 4).unwrap_or(0);
                key.src_port = id;
                key.dst_port = id;
            } else if quote_errors && is_error(kind, v6) {
                let quoted = l4.get(ICMP_LEN..).unwrap_or_default();
                if let Some((about, _)) = ip_packet(quoted, v6, false) {
                    return Some((about.reversed(), &[]));
                }
            }
        }
        _ => {}
    }
    Some((key, l4))
}

/// What the key needs of an IP header.
struct IpHeader {
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    /// Where the transport header starts.
    l4: usize,
    /// A fragment other than the first: no transport header.
    later_fragment: bool,
}

fn ipv4(ip: &[u8]) -> Option<IpHeader> {
    let first = *ip.first()?;
    let l4 = usize::from(first & 0x0f) * 4;
    let src: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
    let dst: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
    Some(IpHeader {
        src: Ipv4Addr::from(src).into(),
        dst: Ipv4Addr::from(dst).into(),
        protocol: *ip.get(9)?,
        l4,
        later_fragment: read_u16(ip, 6)? & 0x1fff != 0,
    })
}

fn ipv6(ip: &[u8]) -> Option<IpHeader> {
    let src: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
    let dst: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
    let mut protocol = *ip.get(6)?;
    let mut l4 = 40;
    let mut later_fragment = false;
    for _ in 0..MAX_EXTENSION_HEADERS {
        match protocol {
            // Hop-by-hop, routing, destination options: length in 8-byte units, after 8.
            0 | 43 | 60 => {
                let next = *ip.get(l4)?;
                l4 += 8 + usize::from(*ip.get(l4 + 1)?) * 8;
                protocol = next;
            }
            // Fragment: 8 bytes; the offset in its upper 13 bits of bytes 2..4.
            44 => {
                later_fragment = read_u16(ip, l4 + 2)? & 0xfff8 != 0;
                protocol = *ip.get(l4)?;
                l4 += 8;
            }
            _ => break,
        }
    }
    Some(IpHeader {
        src: Ipv6Addr::from(src).into(),
        dst: Ipv6Addr::from(dst).into(),
        protocol,
        l4,
        later_fragment,
    })
}

/// ICMP echo request or reply.
fn is_echo(kind: u8, v6: bool) -> bool {
    match v6 {
        false => kind == 8 || kind == 0,
        true => kind == 128 || kind == 129,
    }
}

/// ICMP errors that quote the packet they are about (as `ip*-nat-in` translates them).
fn is_error(kind: u8, v6: bool) -> bool {
    match v6 {
        false => matches!(kind, 3 | 11 | 12),
        true => matches!(kind, 1..=4),
    }
}

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}
