//! The flow a received frame belongs to, read from its bytes before any node sees it: the
//! key its session is found by (see [`crate::nat::flow::FlowKey`]), so that a look-up of
//! [`FlowOwners`](super::FlowOwners) by it finds the keys sessions publish.
//!
//! The IP packet is read by `ip*-nat-in`'s own parser, so the two cannot disagree: TCP, UDP
//! and SCTP ports; the ICMP echo identifier as both ports; for an ICMP error, the flow of the
//! packet it quotes, reversed (the error travels as a reply of that packet would). A VXLAN
//! frame for one of the given UDP ports is read inside (its inner packet is what the
//! sessions see). What NAT cannot read (a fragment other than the first, another protocol)
//! gives the addresses and protocol with ports 0; a frame that is not IP gives nothing.
//! Nothing here trusts the frame: every read is bounds-checked.

use crate::nat::flow::{FlowKey, UDP};
use crate::nodes::nat::packet::{self, Parsed};

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: [u16; 2] = [0x8100, 0x88a8];
const ETHERNET_LEN: usize = 14;
const VLAN_TAG_LEN: usize = 4;
const UDP_LEN: usize = 8;
const VXLAN_LEN: usize = 8;

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
        ETHERTYPE_IPV4 => ip_packet(ip, false),
        ETHERTYPE_IPV6 => ip_packet(ip, true),
        _ => None,
    }
}

/// The flow of the IP packet `ip` (IPv6 if `v6`) and its bytes from the transport header
/// on: what `ip*-nat-in` reads ([`packet::parse`]), so that the key is the one its session
/// is found by. An ICMP error stands for the flow it quotes, reversed. A packet NAT cannot
/// read (a later fragment, another protocol, a transport header cut short) gives its
/// addresses and protocol with ports 0.
fn ip_packet(ip: &[u8], v6: bool) -> Option<(FlowKey, &[u8])> {
    match packet::parse(ip, v6) {
        Parsed::Packet { headers, .. } => {
            Some((headers.key, ip.get(headers.l4..).unwrap_or_default()))
        }
        Parsed::Error { quoted, .. } => Some((quoted.key.reversed(), &[])),
        Parsed::Opaque(_) => {
            let (src, dst, protocol) = packet::addresses(ip, v6).ok()?;
            let key = FlowKey {
                src,
                dst,
                protocol,
                src_port: 0,
                dst_port: 0,
            };
            Some((key, &[]))
        }
    }
}

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}
