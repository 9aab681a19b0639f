//! ARP (RFC 826) for routed interfaces: `arp-input` answers requests for
//! the interface's addresses and learns neighbors; [`Ip4Glean`] asks for
//! the MAC of an IPv4 next hop. Packets held for a sender whose MAC is now
//! known go back to `ip4-glean`, which sends them.
//!
//! `arp-input` gets the ARP packet at `current_data`, the Ethernet header
//! in front of it (ethernet-input consumed it). A reply is built in place,
//! over the request.

use core::net::{IpAddr, Ipv4Addr};

use podwire_wire::arp::{self, ArpRepr, Operation};
use podwire_wire::ethernet::{self, EtherType, EthernetAddress, EthernetRepr, Frame};
use podwire_wire::{Error, ipv4};

use crate::buffer::{BufferIndex, BufferPool};
use crate::graph::{Context, Dispatch, Node};
use crate::interface::InterfaceConfig;
use crate::neighbor::pending::Family;
use crate::nodes::glean::{Glean, Solicit, answer_and_release};
use crate::tables::Adjacency;

crate::drop_reasons! {
    pub enum Drop {
        Truncated => ("truncated", "the ARP packet is shorter than its header and the addresses it announces"),
        TooLong => ("too-long", "an ARP packet longer than one buffer, which no valid one is (its reply would carry the rest along)"),
        Unsupported => ("unsupported", "ARP for another link or network type than Ethernet and IPv4, or an operation other than request or reply"),
        NoInterface => ("no-interface", "the packet came in on an interface that does not exist (it was removed)"),
        BadSender => ("bad-sender", "the sender claims a multicast or broadcast MAC or IPv4 address, which no station may have"),
        AddressConflict => ("address-conflict", "another station claims one of this interface's own addresses: check the addresses on that link"),
        NotForUs => ("not-for-us", "a request for an address this interface does not have (only refreshes a known sender)"),
        Consumed => ("consumed", "a reply or announcement: its sender was learned or refreshed, nothing to answer"),
        TableFull => ("table-full", "the neighbor table is full, the sender could not be learned"),
        NoHeadroom => ("no-headroom", "no room in front of the request to write the reply's Ethernet header (a podwire bug)"),
    }
}

crate::next_nodes! {
    pub enum Next {
        InterfaceOutput => "interface-output",
        Glean => "ip4-glean",
    }
}

/// The `arp-input` node.
#[derive(Debug, Default)]
pub struct ArpInput;

impl Node for ArpInput {
    fn name(&self) -> &'static str {
        "arp-input"
    }

    fn next_nodes(&self) -> &'static [&'static str] {
        Next::ALL
    }

    fn drop_reasons(&self) -> &'static [crate::counters::DropReason] {
        Drop::ALL
    }

    fn process(&mut self, cx: &mut Context<'_>, packets: &[BufferIndex], out: &mut Dispatch) {
        answer_and_release(
            cx,
            packets,
            out,
            (Next::InterfaceOutput, Next::Glean),
            message,
            input,
            |msg| IpAddr::V4(msg.sender_ip),
        );
    }
}

/// An ARP packet's addresses (Ethernet / IPv4 only).
#[derive(Copy, Clone, Debug)]
struct Message {
    operation: Operation,
    sender_mac: EthernetAddress,
    sender_ip: Ipv4Addr,
    target_ip: Ipv4Addr,
}

/// The addresses of ARP packet `bi`, if it is one that fits a buffer.
fn message(cx: &mut Context<'_>, bi: BufferIndex) -> Result<Message, Drop> {
    // The reply is written over the first buffer: chained buffers after it
    // would leave with it.
    if cx.pool.meta(bi).next().is_some() {
        return Err(Drop::TooLong);
    }
    let msg = parse(cx.pool.data(bi))?;
    cx.note(bi, || {
        format!(
            "{:?} {} is-at {}, for {}",
            msg.operation, msg.sender_ip, msg.sender_mac, msg.target_ip
        )
    });
    Ok(msg)
}

/// Learns from ARP packet `bi` (`msg`) and, for a request for one of our
/// addresses, turns it into the reply (`Ok`); everything else is dropped
/// with why.
fn input(cx: &mut Context<'_>, bi: BufferIndex, msg: &Message) -> Result<(), Drop> {
    let rx_if = cx.pool.meta(bi).rx_if;
    let interface = cx.tables.interface(rx_if).ok_or(Drop::NoInterface)?;
    if msg.sender_mac.is_multicast() || msg.sender_ip.is_broadcast() || msg.sender_ip.is_multicast()
    {
        return Err(Drop::BadSender);
    }
    if interface.has_ip4(msg.sender_ip) {
        return Err(Drop::AddressConflict);
    }
    let mac = interface.mac;
    // A probe (RFC 5227) comes from 0.0.0.0: answer it, learn nothing.
    let learnable = !msg.sender_ip.is_unspecified();
    let for_us = interface.has_ip4(msg.target_ip);
    let announcement = msg.sender_ip == msg.target_ip;
    let sender = IpAddr::V4(msg.sender_ip);
    match msg.operation {
        Operation::Request if !announcement => {
            if !for_us {
                // RFC 826: update a sender already known, add nothing.
                cx.state
                    .neighbors
                    .refresh(rx_if, sender, msg.sender_mac, cx.now);
                return Err(Drop::NotForUs);
            }
            if learnable
                && !cx
                    .state
                    .neighbors
                    .learn(rx_if, sender, msg.sender_mac, cx.now)
            {
                // The requester still gets its answer; the reply path works without the entry.
                cx.note(bi, || "neighbor table full: sender not learned".into());
            }
            answer_in_place(cx.pool, bi, mac, msg).ok_or(Drop::NoHeadroom)?;
            cx.pool.meta_mut(bi).tx_if = rx_if;
            cx.note(bi, || format!("answered: {} is-at {mac}", msg.target_ip));
            Ok(())
        }
        Operation::Request | Operation::Reply => {
            if !learnable {
                return Err(Drop::Consumed);
            }
            if !for_us {
                // Not addressed to us: learn only what we asked for or know.
                cx.state
                    .neighbors
                    .refresh(rx_if, sender, msg.sender_mac, cx.now);
                return Err(Drop::Consumed);
            }
            if !cx
                .state
                .neighbors
                .learn(rx_if, sender, msg.sender_mac, cx.now)
            {
                return Err(Drop::TableFull);
            }
            Err(Drop::Consumed)
        }
        Operation::Unknown(_) => Err(Drop::Unsupported),
    }
}

fn parse(data: &[u8]) -> Result<Message, Drop> {
    let packet = arp::Packet::new_checked(data).map_err(|_| Drop::Truncated)?;
    match ArpRepr::parse(&packet) {
        Ok(ArpRepr::EthernetIpv4 {
            operation,
            source_hardware_addr,
            source_protocol_addr,
            target_protocol_addr,
            ..
        }) => Ok(Message {
            operation,
            sender_mac: source_hardware_addr,
            sender_ip: source_protocol_addr,
            target_ip: target_protocol_addr,
        }),
        Err(Error::Truncated) => Err(Drop::Truncated),
        Err(_) => Err(Drop::Unsupported),
    }
}

/// Rewrites request `bi` into the reply "`request.target_ip` is at `mac`",
/// addressed to the requester, Ethernet header included. `None` when the
/// buffer has no room for the Ethernet header.
fn answer_in_place(
    pool: &mut BufferPool,
    bi: BufferIndex,
    mac: EthernetAddress,
    request: &Message,
) -> Option<()> {
    let reply = ArpRepr::EthernetIpv4 {
        operation: Operation::Reply,
        source_hardware_addr: mac,
        source_protocol_addr: request.target_ip,
        target_hardware_addr: request.sender_mac,
        target_protocol_addr: request.sender_ip,
    };
    // Drop the Ethernet padding of a minimum-size frame after the request.
    pool.truncate(bi, reply.buffer_len());
    reply
        .emit(&mut arp::Packet::new_unchecked(pool.data_mut(bi)))
        .ok()?;
    let header = EthernetRepr {
        src_addr: mac,
        dst_addr: request.sender_mac,
        ethertype: EtherType::ARP,
    };
    let frame = pool.prepend(bi, ethernet::HEADER_LEN).ok()?;
    header.emit(&mut Frame::new_unchecked(frame)).ok()
}

/// ARP as the way to ask for an IPv4 next hop's MAC.
#[derive(Debug)]
pub enum Arp4 {}

/// The `ip4-glean` node.
pub type Ip4Glean = Glean<Arp4>;

impl Solicit for Arp4 {
    const NODE: &'static str = "ip4-glean";
    const FAMILY: Family = Family::V4;
    const ETHERTYPE: EtherType = EtherType::IPV4;
    type Addr = Ipv4Addr;

    fn next_hop(packet: &[u8], adjacency: Adjacency) -> Option<Ipv4Addr> {
        match adjacency {
            // The fixed header only: a jumbo packet continues past this buffer, which
            // `new_checked` (the whole packet in one slice) would refuse.
            Adjacency::Attached { .. } => (packet.len() >= ipv4::HEADER_LEN)
                .then(|| ipv4::Packet::new_unchecked(packet).dst_addr()),
            Adjacency::Via {
                gateway: IpAddr::V4(gateway),
                ..
            } => Some(gateway),
            _ => None,
        }
    }

    fn source(interface: &InterfaceConfig) -> Option<Ipv4Addr> {
        interface.primary_ip4()
    }

    fn write_request(
        frame: &mut [u8],
        mac: EthernetAddress,
        source: Ipv4Addr,
        target: Ipv4Addr,
    ) -> Option<usize> {
        let header = EthernetRepr {
            src_addr: mac,
            dst_addr: EthernetAddress::BROADCAST,
            ethertype: EtherType::ARP,
        };
        let request = ArpRepr::EthernetIpv4 {
            operation: Operation::Request,
            source_hardware_addr: mac,
            source_protocol_addr: source,
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: target,
        };
        let len = ethernet::HEADER_LEN + request.buffer_len();
        let mut frame = Frame::new_checked(frame.get_mut(..len)?).ok()?;
        header.emit(&mut frame).ok()?;
        request
            .emit(&mut arp::Packet::new_unchecked(frame.payload_mut()))
            .ok()?;
        Some(len)
    }
}

#[cfg(test)]
mod tests;
