//! IPv6 neighbor discovery (RFC 4861) for routed interfaces: `ip6-ndp`
//! answers neighbor solicitations for the interface's addresses and learns
//! neighbors; [`Ip6Glean`] solicits the MAC of an IPv6 next hop. Packets
//! held for a neighbor whose MAC is now known go back to `ip6-glean`, which
//! sends them.
//!
//! `ip6-ndp` gets the message from `ip6-input` (NDP types 133–137) or
//! `ip6-local` with `current_data` at the IPv6 header and the Ethernet
//! header in front of it. The advertisement answering a solicitation is
//! written in place, over the solicitation's frame.

use core::net::{IpAddr, Ipv6Addr};

use podwire_wire::ethernet::{self, EtherType, EthernetAddress, EthernetRepr, Frame};
use podwire_wire::icmpv6::{self, Icmpv6Repr, Message, NdiscRepr, NeighborFlags};
use podwire_wire::ip::IpProtocol;
use podwire_wire::ipv6::{self, Ipv6Repr};

use crate::buffer::{BufferIndex, BufferPool};
use crate::graph::{Context, Dispatch, Node};
use crate::interface::InterfaceConfig;
use crate::neighbor::pending::Family;
use crate::nodes::glean::{Glean, Solicit, answer_and_release};
use crate::tables::Adjacency;

crate::drop_reasons! {
    pub enum Drop {
        Truncated => ("truncated", "shorter than an IPv6 header, or than the fixed part of a neighbor solicitation or advertisement"),
        TooLong => ("too-long", "a neighbor discovery message longer than one buffer, which no valid one is"),
        BadHopLimit => ("bad-hop-limit", "the hop limit is not 255: the message was not sent on this link (RFC 4861), it may be spoofed from afar"),
        BadChecksum => ("bad-checksum", "the ICMPv6 checksum does not match: the message was corrupted"),
        BadCode => ("bad-code", "the ICMPv6 code of a neighbor solicitation or advertisement is not 0"),
        BadTarget => ("bad-target", "the target address is a multicast address"),
        BadOption => ("bad-option", "an option has length zero or runs past the message, or a link-layer address option is not an Ethernet address"),
        BadDad => ("bad-dad", "a solicitation from :: (duplicate address detection) not sent to the target's solicited-node address, or with a link-layer address option"),
        BadAdvert => ("bad-advert", "an advertisement sent to a multicast address with the solicited flag set"),
        BadLladdr => ("bad-lladdr", "the link-layer address given is a multicast MAC, which no station has"),
        Ignored => ("ignored", "a router solicitation, router advertisement or redirect: pods use the static gateway fe80::1, the switch neither routes by them nor sends them"),
        NoInterface => ("no-interface", "the packet came in on an interface that does not exist (it was removed)"),
        NotForUs => ("not-for-us", "a solicitation for an address this interface does not have (only refreshes a known sender)"),
        AddressConflict => ("address-conflict", "another station claims one of this interface's own addresses: check the addresses on that link"),
        Consumed => ("consumed", "an advertisement: its target was learned or refreshed, nothing to answer"),
        TableFull => ("table-full", "the neighbor table is full, the advertised neighbor could not be learned"),
        NoRoom => ("no-room", "no room in the buffer to write the advertisement over the solicitation (a podwire bug)"),
    }
}

crate::next_nodes! {
    pub enum Next {
        InterfaceOutput => "interface-output",
        Glean => "ip6-glean",
    }
}

/// The hop limit of every neighbor discovery message, and the only one
/// accepted: a router would have decremented it.
const NDP_HOP_LIMIT: u8 = 255;
/// Length of a neighbor solicitation or advertisement before its options.
const NEIGHBOR_MESSAGE_LEN: usize = 24;
/// The MAC that frames to all nodes (ff02::1) go to.
const ALL_NODES_MAC: EthernetAddress = ipv6::multicast_mac(ipv6::LINK_LOCAL_ALL_NODES);

/// The `ip6-ndp` node.
#[derive(Debug, Default)]
pub struct Ip6Ndp;

impl Node for Ip6Ndp {
    fn name(&self) -> &'static str {
        "ip6-ndp"
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
            |msg| IpAddr::V6(msg.heard()),
        );
    }
}

/// A valid neighbor solicitation or advertisement and its IPv6 addresses.
#[derive(Copy, Clone, Debug)]
struct NeighborMessage {
    src: Ipv6Addr,
    dst: Ipv6Addr,
    ndisc: NdiscRepr,
}

impl NeighborMessage {
    /// The neighbor whose MAC the message may tell: the solicitor of a
    /// solicitation, the target of an advertisement.
    fn heard(&self) -> Ipv6Addr {
        match self.ndisc {
            NdiscRepr::NeighborAdvert { target_addr, .. } => target_addr,
            _ => self.src,
        }
    }
}

/// The valid neighbor solicitation or advertisement in `bi`, if it fits a
/// buffer.
fn message(cx: &mut Context<'_>, bi: BufferIndex) -> Result<NeighborMessage, Drop> {
    if cx.pool.meta(bi).next().is_some() {
        return Err(Drop::TooLong);
    }
    let msg = parse(cx.pool.data(bi))?;
    cx.note(bi, || format!("{} > {}: {:?}", msg.src, msg.dst, msg.ndisc));
    Ok(msg)
}

/// Learns from neighbor solicitation or advertisement `bi` (`msg`) and, for
/// a solicitation of one of our addresses, turns it into the advertisement
/// (`Ok`); everything else is dropped with why.
fn input(cx: &mut Context<'_>, bi: BufferIndex, msg: &NeighborMessage) -> Result<(), Drop> {
    let tables = cx.tables;
    let interface = tables
        .interface(cx.pool.meta(bi).rx_if)
        .ok_or(Drop::NoInterface)?;
    if interface.has_ip6(msg.src) {
        return Err(Drop::AddressConflict);
    }
    match msg.ndisc {
        NdiscRepr::NeighborSolicit {
            target_addr,
            lladdr,
        } => solicited(cx, bi, interface, msg, target_addr, lladdr),
        NdiscRepr::NeighborAdvert {
            flags,
            target_addr,
            lladdr,
        } => Err(advertised(
            cx,
            bi,
            interface,
            msg,
            flags,
            target_addr,
            lladdr,
        )),
        NdiscRepr::RouterSolicit { .. } | NdiscRepr::RouterAdvert { .. } => Err(Drop::Ignored),
    }
}

/// A solicitation for `target`: learns the solicitor and answers it when
/// `target` is one of the interface's addresses.
fn solicited(
    cx: &mut Context<'_>,
    bi: BufferIndex,
    interface: &InterfaceConfig,
    msg: &NeighborMessage,
    target: Ipv6Addr,
    lladdr: Option<EthernetAddress>,
) -> Result<(), Drop> {
    let dad = msg.src.is_unspecified();
    if dad && (msg.dst != ipv6::solicited_node_multicast(target) || lladdr.is_some()) {
        return Err(Drop::BadDad);
    }
    if lladdr.is_some_and(|mac| mac.is_multicast()) {
        return Err(Drop::BadLladdr);
    }
    let rx_if = cx.pool.meta(bi).rx_if;
    let sender = IpAddr::V6(msg.src);
    if !interface.has_ip6(target) {
        if let Some(mac) = lladdr {
            cx.state.neighbors.refresh(rx_if, sender, mac, cx.now);
        }
        return Err(Drop::NotForUs);
    }
    if let Some(lladdr) = lladdr
        && !cx.state.neighbors.learn(rx_if, sender, lladdr, cx.now)
    {
        // The solicitor still gets its answer; the reply path works without the entry.
        cx.note(bi, || "neighbor table full: sender not learned".into());
    }
    let mac = interface.mac;
    advertise_in_place(cx.pool, bi, mac, msg, target, lladdr).ok_or(Drop::NoRoom)?;
    cx.pool.meta_mut(bi).tx_if = rx_if;
    cx.note(bi, || format!("advertised {target} at {mac}"));
    Ok(())
}

/// An advertisement of `target` at `lladdr`: learned when it answers a
/// solicitation, else only refreshes what is known. Returns how the
/// advertisement is counted.
fn advertised(
    cx: &mut Context<'_>,
    bi: BufferIndex,
    interface: &InterfaceConfig,
    msg: &NeighborMessage,
    flags: NeighborFlags,
    target: Ipv6Addr,
    lladdr: Option<EthernetAddress>,
) -> Drop {
    if flags.solicited && msg.dst.is_multicast() {
        return Drop::BadAdvert;
    }
    if interface.has_ip6(target) {
        return Drop::AddressConflict;
    }
    let Some(mac) = lladdr else {
        return Drop::Consumed;
    };
    if mac.is_multicast() {
        return Drop::BadLladdr;
    }
    let rx_if = cx.pool.meta(bi).rx_if;
    let target = IpAddr::V6(target);
    if !flags.solicited {
        // An announcement: update what we know, add nothing.
        cx.state.neighbors.refresh(rx_if, target, mac, cx.now);
    } else if !cx.state.neighbors.learn(rx_if, target, mac, cx.now) {
        return Drop::TableFull;
    }
    Drop::Consumed
}

/// Validates a neighbor solicitation or advertisement (RFC 4861 §7.1),
/// starting at its IPv6 header.
fn parse(data: &[u8]) -> Result<NeighborMessage, Drop> {
    let ip = ipv6::Packet::new_checked(data).map_err(|_| Drop::Truncated)?;
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let icmp = icmpv6::Packet::new_checked(ip.payload()).map_err(|_| Drop::Truncated)?;
    if !matches!(
        icmp.msg_type(),
        Message::NEIGHBOR_SOLICIT | Message::NEIGHBOR_ADVERT
    ) {
        return Err(Drop::Ignored);
    }
    if ip.hop_limit() != NDP_HOP_LIMIT {
        return Err(Drop::BadHopLimit);
    }
    if !icmp.verify_checksum(src, dst) {
        return Err(Drop::BadChecksum);
    }
    if icmp.msg_code() != 0 {
        return Err(Drop::BadCode);
    }
    let target: [u8; 16] = ip
        .payload()
        .get(8..NEIGHBOR_MESSAGE_LEN)
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(Drop::Truncated)?;
    if Ipv6Addr::from(target).is_multicast() {
        return Err(Drop::BadTarget);
    }
    let ndisc = NdiscRepr::parse(&icmp).map_err(|_| Drop::BadOption)?;
    Ok(NeighborMessage { src, dst, ndisc })
}

/// Rewrites solicitation `bi` into the advertisement of `target` (one of
/// the interface's addresses, at `mac`): to the solicitor, or to all nodes
/// when it was duplicate address detection (from ::). `None` when the
/// buffer has no room for it.
fn advertise_in_place(
    pool: &mut BufferPool,
    bi: BufferIndex,
    mac: EthernetAddress,
    solicit: &NeighborMessage,
    target: Ipv6Addr,
    lladdr: Option<EthernetAddress>,
) -> Option<()> {
    let dad = solicit.src.is_unspecified();
    let start = usize::from(pool.meta(bi).l2_offset);
    let frame = pool.raw_mut(bi).get_mut(start..)?;
    let (eth_dst, ip_dst) = if dad {
        (ALL_NODES_MAC, ipv6::LINK_LOCAL_ALL_NODES)
    } else {
        // A unicast solicitation may leave out its link-layer address:
        // then answer the MAC it came from.
        let from = Frame::new_checked(&*frame).ok()?.src_addr();
        (lladdr.unwrap_or(from), solicit.src)
    };
    let advert = NdiscRepr::NeighborAdvert {
        flags: NeighborFlags {
            router: true,
            solicited: !dad,
            override_flag: true,
        },
        target_addr: target,
        lladdr: Some(mac),
    };
    let len = write_ndisc(frame, (mac, eth_dst), (target, ip_dst), advert)?;
    pool.set_data(bi, start, len);
    Some(())
}

/// Writes a neighbor discovery frame at the start of `frame`: Ethernet
/// header (`eth` = source, destination), IPv6 header (`ip` = source,
/// destination; hop limit 255) and the message with its checksum. Returns
/// the frame's length, or `None` when `frame` cannot hold it.
fn write_ndisc(
    frame: &mut [u8],
    eth: (EthernetAddress, EthernetAddress),
    ip: (Ipv6Addr, Ipv6Addr),
    ndisc: NdiscRepr,
) -> Option<usize> {
    let icmp = Icmpv6Repr::Ndisc(ndisc);
    let ip_header = Ipv6Repr {
        src_addr: ip.0,
        dst_addr: ip.1,
        next_header: IpProtocol::ICMPV6,
        payload_len: icmp.buffer_len(),
        hop_limit: NDP_HOP_LIMIT,
        traffic_class: 0,
    };
    let eth_header = EthernetRepr {
        src_addr: eth.0,
        dst_addr: eth.1,
        ethertype: EtherType::IPV6,
    };
    let len = ethernet::HEADER_LEN + ip_header.buffer_len() + icmp.buffer_len();
    let mut frame = Frame::new_checked(frame.get_mut(..len)?).ok()?;
    eth_header.emit(&mut frame).ok()?;
    let mut packet = ipv6::Packet::new_unchecked(frame.payload_mut());
    ip_header.emit(&mut packet).ok()?;
    let message = packet.payload_mut();
    icmp.emit(ip.0, ip.1, &mut icmpv6::Packet::new_unchecked(message))
        .ok()?;
    Some(len)
}

/// Neighbor solicitation as the way to ask for an IPv6 next hop's MAC.
#[derive(Debug)]
pub enum Nd6 {}

/// The `ip6-glean` node.
pub type Ip6Glean = Glean<Nd6>;

impl Solicit for Nd6 {
    const NODE: &'static str = "ip6-glean";
    const FAMILY: Family = Family::V6;
    const ETHERTYPE: EtherType = EtherType::IPV6;
    type Addr = Ipv6Addr;

    fn next_hop(packet: &[u8], adjacency: Adjacency) -> Option<Ipv6Addr> {
        match adjacency {
            // The fixed header only: a jumbo packet continues past this buffer, which
            // `new_checked` (the whole packet in one slice) would refuse.
            Adjacency::Attached { .. } => (packet.len() >= ipv6::HEADER_LEN)
                .then(|| ipv6::Packet::new_unchecked(packet).dst_addr()),
            Adjacency::Via {
                gateway: IpAddr::V6(gateway),
                ..
            } => Some(gateway),
            _ => None,
        }
    }

    fn source(interface: &InterfaceConfig) -> Option<Ipv6Addr> {
        interface.primary_ip6()
    }

    fn write_request(
        frame: &mut [u8],
        mac: EthernetAddress,
        source: Ipv6Addr,
        target: Ipv6Addr,
    ) -> Option<usize> {
        let group = ipv6::solicited_node_multicast(target);
        let solicit = NdiscRepr::NeighborSolicit {
            target_addr: target,
            lladdr: Some(mac),
        };
        write_ndisc(
            frame,
            (mac, ipv6::multicast_mac(group)),
            (source, group),
            solicit,
        )
    }
}

#[cfg(test)]
mod tests;
