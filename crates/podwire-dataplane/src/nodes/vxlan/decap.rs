//! `vxlan-input`: takes the UDP datagrams `ip4-local` / `ip6-local` found addressed to a
//! tunnel's port, checks them and hands the frame inside to `ethernet-input` as received
//! on the tunnel interface.
//!
//! What a tunnel accepts: a datagram to its `local` address and `port`, from one of its
//! `peers`, whose UDP length is the IP payload's, whose UDP checksum is right (over IPv4 a
//! zero checksum means none, RFC 7348 §5; over IPv6 zero is wrong, RFC 8200 §8.1; one
//! that a sender on this machine left to an offload, `meta.offload.needs_csum`, is not
//! verified: it crossed no wire), with the
//! I flag set and the tunnel's VNI. The reserved fields of the VXLAN header are ignored, as
//! RFC 7348 says. Everything else is dropped, each with its own reason. The inner frame's
//! MAC is checked by `ethernet-input`, as for any routed interface.

use core::net::IpAddr;

use podwire_wire::ip::IpProtocol;
use podwire_wire::{checksum, ethernet, udp, vxlan};

use crate::buffer::{BufferIndex, OffloadInfo};
use crate::graph::{Context, Dispatch, Node};
use crate::interface::IfIndex;
use crate::nodes::ip_common::sum_from;
use crate::nodes::{ip4, ip6};

use super::UDP_VXLAN_LEN;

crate::next_nodes! {
    pub enum Next {
        EthernetInput => "ethernet-input",
    }
}

crate::drop_reasons! {
    pub enum Drop {
        Truncated => ("vxlan-truncated", "shorter than the UDP, VXLAN and inner Ethernet headers, or a UDP length other than the IP payload's: the datagram was cut short or forged"),
        NoTunnel => ("vxlan-no-tunnel", "no VXLAN tunnel ends on this address and port (a tunnel of the other address family, or another local address, listens on the port)"),
        UnknownPeer => ("vxlan-unknown-peer", "the outer source is none of the tunnel's peers: a node not (or no longer) in the cluster, or a forged packet"),
        BadChecksum => ("vxlan-bad-checksum", "the outer UDP checksum is wrong (or zero over IPv6, which RFC 8200 §8.1 does not allow): the datagram was corrupted"),
        BadHeader => ("vxlan-bad-header", "the VXLAN I flag is clear, so the VNI is not valid (RFC 7348 §5)"),
        WrongVni => ("vxlan-wrong-vni", "the VNI is not the tunnel's: a node of another cluster or network"),
    }
}

/// The `vxlan-input` node.
#[derive(Debug, Default)]
pub struct VxlanInput;

impl Node for VxlanInput {
    fn name(&self) -> &'static str {
        "vxlan-input"
    }

    fn next_nodes(&self) -> &'static [&'static str] {
        Next::ALL
    }

    fn drop_reasons(&self) -> &'static [crate::counters::DropReason] {
        Drop::ALL
    }

    fn process(&mut self, cx: &mut Context<'_>, packets: &[BufferIndex], out: &mut Dispatch) {
        for &bi in packets {
            match decapsulate(cx, bi) {
                Ok(()) => out.send(Next::EthernetInput, bi),
                Err(reason) => out.drop(bi, reason),
            }
        }
    }
}

/// What `vxlan-input` reads of the outer IP header.
struct OuterIp {
    src: IpAddr,
    dst: IpAddr,
    /// Where the UDP header starts.
    l4: usize,
    /// The bytes after the IP header, by the IP header.
    payload_len: usize,
}

/// Reads the outer IP header at the start of `data` (validated by `ip*-input`).
fn outer_ip(data: &[u8]) -> Option<OuterIp> {
    match data.first()? >> 4 {
        4 => {
            let ip = ip4::header(data)?;
            let l4 = usize::from(ip.header_len());
            Some(OuterIp {
                src: ip.src_addr().into(),
                dst: ip.dst_addr().into(),
                l4,
                payload_len: usize::from(ip.total_len()).checked_sub(l4)?,
            })
        }
        6 => {
            let ip = ip6::header(data)?;
            Some(OuterIp {
                src: ip.src_addr().into(),
                dst: ip.dst_addr().into(),
                l4: podwire_wire::ipv6::HEADER_LEN,
                payload_len: usize::from(ip.payload_len()),
            })
        }
        _ => None,
    }
}

/// Checks datagram `bi` and strips its outer headers, leaving the inner frame received on
/// the tunnel.
fn decapsulate(cx: &mut Context<'_>, bi: BufferIndex) -> Result<(), Drop> {
    let tables = cx.tables;
    let data = cx.pool.data(bi);
    let outer = outer_ip(data).ok_or(Drop::Truncated)?;
    // The UDP and VXLAN headers and the inner Ethernet header, all in this buffer:
    // `ethernet-input` reads the frame's header there.
    let headers_end = outer.l4 + UDP_VXLAN_LEN + ethernet::HEADER_LEN;
    let headers = data.get(outer.l4..headers_end).ok_or(Drop::Truncated)?;
    let (udp_header, vxlan_header) = headers.split_at(udp::HEADER_LEN);
    let udp = udp::Packet::new_unchecked(udp_header);
    let (tunnel_if, tunnel) = tables
        .tunnel_at(outer.dst, udp.dst_port())
        .ok_or(Drop::NoTunnel)?;
    if tunnel.peers.binary_search(&outer.src).is_err() {
        cx.note(bi, || {
            format!("{} is no peer of tunnel {tunnel_if:?}", outer.src)
        });
        return Err(Drop::UnknownPeer);
    }
    if usize::from(udp.len()) != outer.payload_len {
        return Err(Drop::Truncated);
    }
    let (udp_checksum, udp_len) = (udp.checksum(), udp.len());
    let vxlan = vxlan::Packet::new_unchecked(vxlan_header);
    let (vni_valid, vni) = (vxlan.vni_valid(), vxlan.vni());
    // A checksum its sender left to an offload (a node on this machine, behind a veth:
    // the datagram crossed no wire) holds the pseudo-header sum; nothing to verify.
    let partial = cx.pool.meta(bi).offload.needs_csum;
    if !partial && !checksum_ok(cx, bi, &outer, udp_checksum, udp_len) {
        return Err(Drop::BadChecksum);
    }
    if !vni_valid {
        return Err(Drop::BadHeader);
    }
    if vni != tunnel.vni {
        cx.note(bi, || format!("vni {vni}, the tunnel's is {}", tunnel.vni));
        return Err(Drop::WrongVni);
    }
    cx.pool
        .advance(bi, outer.l4 + UDP_VXLAN_LEN)
        .map_err(|_| Drop::Truncated)?;
    let inner_len = cx.pool.total_length(bi);
    cx.state.tunnels.count_rx(tunnel_if, inner_len);
    // Received anew: nothing decided about the outer packet holds for the inner one.
    let meta = cx.pool.meta_mut(bi);
    meta.rx_if = tunnel_if;
    meta.tx_if = IfIndex::INVALID;
    meta.next_index = 0;
    meta.flow_hash = 0;
    meta.offload = OffloadInfo::default();
    meta.originated = false;
    meta.tracked = false;
    cx.note(bi, || {
        format!(
            "vni {vni} from {}, {inner_len} bytes into tunnel {tunnel_if:?}",
            outer.src
        )
    });
    Ok(())
}

/// Whether the UDP checksum of datagram `bi` is right; zero is "none" over IPv4 only.
fn checksum_ok(
    cx: &Context<'_>,
    bi: BufferIndex,
    outer: &OuterIp,
    field: u16,
    udp_len: u16,
) -> bool {
    let pseudo = match (outer.src, outer.dst) {
        (IpAddr::V4(_), _) if field == 0 => return true,
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            checksum::pseudo_header_v4(src, dst, IpProtocol::UDP, u32::from(udp_len))
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) if field != 0 => {
            checksum::pseudo_header_v6(src, dst, IpProtocol::UDP, u32::from(udp_len))
        }
        _ => return false,
    };
    // `ip*-input` cut the packet to its IP length, which is the UDP length here.
    checksum::combine(&[pseudo, sum_from(cx.pool, bi, outer.l4)]) == 0xffff
}
