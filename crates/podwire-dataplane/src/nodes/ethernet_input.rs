//! `ethernet-input`: the first node. Every received frame enters here, with
//! `current_data` at its Ethernet header.
//!
//! Frames of bridged and cross-connected interfaces go on to the L2 nodes
//! whole. Frames of routed interfaces are filtered by destination MAC (an
//! AF_PACKET uplink is promiscuous and sees frames meant for other hosts),
//! then the Ethernet header is consumed and the frame goes to the node of
//! its EtherType.

use podwire_wire::ethernet::{self, EtherType, EthernetAddress, Frame};

use crate::buffer::BufferIndex;
use crate::graph::{Context, Dispatch, Node};
use crate::interface::{InterfaceConfig, InterfaceMode};

crate::drop_reasons! {
    pub enum Drop {
        Truncated => ("truncated", "the frame is shorter than an Ethernet header"),
        BadSourceMac => ("bad-source-mac", "the source MAC is a multicast or broadcast address, which no station may send from"),
        NoInterface => ("no-interface", "the frame came in on an interface that does not exist (it was removed)"),
        NotForUs => ("not-for-us", "the destination MAC is another station's (a promiscuous device saw a frame for someone else)"),
        VlanUnsupported => ("vlan-unsupported", "the frame carries an 802.1Q/802.1ad VLAN tag, which routed interfaces do not handle"),
        UnknownEthertype => ("unknown-ethertype", "the EtherType is not IPv4, IPv6 or ARP"),
    }
}

crate::next_nodes! {
    pub enum Next {
        Ip4Input => "ip4-input",
        Ip6Input => "ip6-input",
        ArpInput => "arp-input",
        L2Input => "l2-input",
        L2Xconnect => "l2-xconnect",
    }
}

/// The `ethernet-input` node.
#[derive(Debug, Default)]
pub struct EthernetInput;

impl Node for EthernetInput {
    fn name(&self) -> &'static str {
        "ethernet-input"
    }

    fn next_nodes(&self) -> &'static [&'static str] {
        Next::ALL
    }

    fn drop_reasons(&self) -> &'static [crate::counters::DropReason] {
        Drop::ALL
    }

    fn process(&mut self, cx: &mut Context<'_>, packets: &[BufferIndex], out: &mut Dispatch) {
        for &bi in packets {
            match classify(cx, bi) {
                Ok(next) => out.send(next, bi),
                Err(reason) => out.drop(bi, reason),
            }
        }
    }
}

/// Decides where a frame goes; for a routed interface, consumes its
/// Ethernet header on the way.
#[inline]
fn classify(cx: &mut Context<'_>, bi: BufferIndex) -> Result<Next, Drop> {
    let tables = cx.tables;
    let (meta, data) = cx.pool.packet_mut(bi);
    let frame = Frame::new_checked(&*data).map_err(|_| Drop::Truncated)?;
    let (src, dst, ethertype) = (frame.src_addr(), frame.dst_addr(), frame.ethertype());
    // `cx.note`, with the packet's metadata already at hand.
    if let Some(id) = meta.trace {
        cx.trace.note(id, format!("{src} > {dst} {ethertype}"));
    }
    if src.is_multicast() {
        return Err(Drop::BadSourceMac);
    }
    let interface = tables.interface(meta.rx_if).ok_or(Drop::NoInterface)?;
    match interface.mode {
        InterfaceMode::Bridged(_) => return Ok(Next::L2Input),
        InterfaceMode::CrossConnect(_) => return Ok(Next::L2Xconnect),
        InterfaceMode::L3 => {}
    }
    if !accepts(interface, dst) {
        return Err(Drop::NotForUs);
    }
    let next = match ethertype {
        EtherType::IPV4 => Next::Ip4Input,
        EtherType::IPV6 => Next::Ip6Input,
        EtherType::ARP => Next::ArpInput,
        EtherType::VLAN | EtherType::QINQ => return Err(Drop::VlanUnsupported),
        _ => return Err(Drop::UnknownEthertype),
    };
    meta.l2_offset = meta.current_data;
    // Cannot fail: new_checked saw the whole header in this buffer.
    meta.advance(ethernet::HEADER_LEN)
        .map_err(|_| Drop::Truncated)?;
    Ok(next)
}

/// Whether a routed interface takes a frame sent to `dst`: its own MAC,
/// broadcast, or an IPv4 / IPv6 multicast group (which the IP nodes decide
/// about).
#[inline]
fn accepts(interface: &InterfaceConfig, dst: EthernetAddress) -> bool {
    dst == interface.mac || dst.is_broadcast() || is_ip_multicast(dst)
}

/// Whether `mac` is an IPv4 multicast MAC (01:00:5e, then a zero bit,
/// RFC 1112) or an IPv6 one (33:33, RFC 2464).
#[inline]
fn is_ip_multicast(mac: EthernetAddress) -> bool {
    let [a, b, c, d, ..] = mac.0;
    ((a, b, c) == (0x01, 0x00, 0x5e) && d & 0x80 == 0) || (a, b) == (0x33, 0x33)
}

#[cfg(test)]
pub(crate) mod bench;
#[cfg(test)]
mod tests;
