//! Filling in the checksums the nodes verify, as a record's [`Fill`] asks.
//!
//! A fuzzer that changes a header byte breaks its checksum, and cannot
//! compute the new one itself: without this, nearly every changed header
//! stops at the first node that verifies it.

use core::net::Ipv6Addr;

use podwire_wire::ethernet::{self, EtherType, Frame};
use podwire_wire::ip::IpProtocol;
use podwire_wire::{icmpv4, icmpv6, ipv4, ipv6};

use super::Fill;

/// Fills the checksums `fill` names in `frame`, when the headers they
/// cover are whole (a header cut short is left as it is: the nodes drop it
/// before any checksum matters).
pub(crate) fn fill_checksums(frame: &mut [u8], fill: Fill) {
    let ethertype = match Frame::new_checked(&*frame) {
        Ok(header) => header.ethertype(),
        Err(_) => return,
    };
    let packet = &mut frame[ethernet::HEADER_LEN..];
    match ethertype {
        EtherType::IPV4 => fill_ip4(packet, fill),
        EtherType::IPV6 if fill.icmp => fill_icmp6(packet),
        _ => {}
    }
}

fn fill_ip4(packet: &mut [u8], fill: Fill) {
    let Ok(mut ip) = ipv4::Packet::new_checked(packet) else {
        return;
    };
    if fill.icmp
        && ip.protocol() == IpProtocol::ICMP
        && let Ok(mut icmp) = icmpv4::Packet::new_checked(ip.payload_mut())
    {
        icmp.fill_checksum();
    }
    if fill.ip4_header {
        ip.fill_checksum();
    }
}

fn fill_icmp6(packet: &mut [u8]) {
    let Ok(mut ip) = ipv6::Packet::new_checked(packet) else {
        return;
    };
    if ip.next_header() != IpProtocol::ICMPV6 {
        return;
    }
    let (src, dst): (Ipv6Addr, Ipv6Addr) = (ip.src_addr(), ip.dst_addr());
    if let Ok(mut icmp) = icmpv6::Packet::new_checked(ip.payload_mut()) {
        icmp.fill_checksum(src, dst);
    }
}
