//! `vxlan-encap`: puts the outer IP, UDP and VXLAN headers in front of a frame that
//! `ip4-rewrite` or `ip6-rewrite` framed for a tunnel interface, and routes the outer
//! packet as one the switch made.
//!
//! The frame arrives with `meta.tx_if` = the tunnel and `meta.next_index` = the
//! [`Adjacency::Tunnel`] that sent it there (the remote end). The outer packet goes from the
//! tunnel's `local` address to the remote end, TTL or hop limit 64, UDP to the tunnel's
//! port from a source port that hashes the inner flow; over IPv4 with "don't fragment"
//! clear and no UDP checksum (RFC 7348 §5), over IPv6 with the UDP checksum (a zero one is
//! not allowed, RFC 8200 §8.1) and the flow's hash as flow label (RFC 6438). Its route is
//! looked up here and it goes straight to the rewrite node of its family, marked
//! `originated` (no TTL to count down): NAT, policy and anti-spoofing saw the inner packet.
//!
//! A tunnel takes no offloads: what an inner packet asks of a device (a checksum,
//! segmentation) is done before it is encapsulated ([`crate::offload::prepare`]), so a
//! large segment leaves as several encapsulated packets, each with its checksums.
//!
//! The tunnel's MTU is the agent's to size (the uplink's less [`super::OVERHEAD4`] or
//! [`super::OVERHEAD6`]) so that an outer packet fits the uplink: one that does not is
//! dropped here, counted, rather than fragmented.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use podwire_wire::ip::IpProtocol;
use podwire_wire::vxlan::{MAX_VNI, VxlanRepr};
use podwire_wire::{checksum, ipv4, ipv6, udp, vxlan};

use crate::buffer::{BufferIndex, OffloadInfo};
use crate::graph::{Context, Dispatch, Node};
use crate::interface::{IfIndex, TxOffloads};
use crate::nodes::ip_common::sum_from;
use crate::offload;
use crate::tables::{Adjacency, Tables};

use super::{OUTER4_LEN, OUTER6_LEN, UDP_VXLAN_LEN, flow_entropy, source_port};

crate::next_nodes! {
    pub enum Next {
        Ip4Rewrite => "ip4-rewrite",
        Ip6Rewrite => "ip6-rewrite",
    }
}

offload::drop_reasons_with_offload! {
    pub enum Drop {
        NotATunnel => ("vxlan-not-a-tunnel", "the packet's route names no VXLAN tunnel interface, or one that cannot encapsulate (a remote end of another address family than its local address, a VNI over 24 bits): the tables changed under the packet, or the tunnel is misconfigured"),
        NoRoute => ("vxlan-no-route", "the tunnel's remote end has no route out of an interface (none, a blackhole, an unreachable, a local address or another tunnel): route it by the uplink"),
        TooBig => ("vxlan-too-big", "the encapsulated packet is larger than the MTU of the interface it leaves by: give the tunnel an MTU 50 (IPv4 underlay) or 70 (IPv6 underlay) bytes below the uplink's"),
        NoHeadroom => ("no-headroom", "no room in front of the packet for the outer headers"),
    }
}

/// The TTL or hop limit of the outer packets.
const OUTER_TTL: u8 = 64;

/// The `vxlan-encap` node.
#[derive(Debug, Default)]
pub struct VxlanEncap {
    /// The identification of the next outer IPv4 packet: "don't fragment" is clear, so a
    /// router on the way may fragment it, and the fragments of two packets must not mix
    /// (RFC 6864).
    ident: u16,
}

impl Node for VxlanEncap {
    fn name(&self) -> &'static str {
        "vxlan-encap"
    }

    fn next_nodes(&self) -> &'static [&'static str] {
        Next::ALL
    }

    fn drop_reasons(&self) -> &'static [crate::counters::DropReason] {
        Drop::ALL
    }

    fn process(&mut self, cx: &mut Context<'_>, packets: &[BufferIndex], out: &mut Dispatch) {
        for &bi in packets {
            if cx.pool.meta(bi).offload.asks_for_work() {
                // A tunnel takes no offloads: the outer headers would be in the way of
                // the offsets.
                offload::finish_then::<Drop>(cx, bi, TxOffloads::default(), out, |cx, bi, out| {
                    self.send(cx, bi, out)
                });
            } else {
                self.send(cx, bi, out);
            }
        }
    }
}

/// The outer addresses, of one family.
#[derive(Copy, Clone, Debug)]
enum Outer {
    V4(Ipv4Addr, Ipv4Addr),
    V6(Ipv6Addr, Ipv6Addr),
}

impl Outer {
    /// The bytes in front of the inner frame.
    fn header_len(self) -> usize {
        match self {
            Outer::V4(..) => OUTER4_LEN,
            Outer::V6(..) => OUTER6_LEN,
        }
    }

    /// The route to the remote end: the adjacency's index and the interface it leaves by.
    fn route(self, tables: &Tables) -> Option<(u32, IfIndex)> {
        let route = match self {
            Outer::V4(_, remote) => tables.route4(remote),
            Outer::V6(_, remote) => tables.route6(remote),
        };
        match route? {
            (i, Adjacency::Attached { interface } | Adjacency::Via { interface, .. }) => {
                Some((i, interface))
            }
            _ => None,
        }
    }
}

impl VxlanEncap {
    /// Encapsulates frame `bi` and sends the outer packet on, or drops it.
    fn send(&mut self, cx: &mut Context<'_>, bi: BufferIndex, out: &mut Dispatch) {
        match self.encapsulate(cx, bi) {
            Ok(next) => out.send(next, bi),
            Err(reason) => out.drop(bi, reason),
        }
    }

    /// Encapsulates frame `bi` and says which rewrite node the outer packet goes to.
    fn encapsulate(&mut self, cx: &mut Context<'_>, bi: BufferIndex) -> Result<Next, Drop> {
        let tables = cx.tables;
        let meta = *cx.pool.meta(bi);
        let (tunnel_if, remote) = match tables.adjacency(meta.next_index) {
            Some(Adjacency::Tunnel { interface, remote }) if interface == meta.tx_if => {
                (interface, remote)
            }
            _ => return Err(Drop::NotATunnel),
        };
        let tunnel = tables
            .interface(tunnel_if)
            .and_then(|c| c.vxlan.as_ref())
            .filter(|t| t.vni <= MAX_VNI)
            .ok_or(Drop::NotATunnel)?;
        let outer = match (tunnel.local, remote) {
            (IpAddr::V4(local), IpAddr::V4(remote)) => Outer::V4(local, remote),
            (IpAddr::V6(local), IpAddr::V6(remote)) => Outer::V6(local, remote),
            _ => return Err(Drop::NotATunnel),
        };
        let (adjacency, uplink) = outer.route(tables).ok_or(Drop::NoRoute)?;
        let mtu = tables.interface(uplink).ok_or(Drop::NoRoute)?.mtu;
        let inner_len = cx.pool.total_length(bi);
        let outer_len = inner_len + outer.header_len();
        if outer_len > usize::from(mtu) {
            cx.note(bi, || format!("{outer_len} bytes over MTU {mtu}"));
            return Err(Drop::TooBig);
        }
        let entropy = flow_entropy(cx.pool.data(bi));
        let src_port = source_port(entropy);
        // `outer_len` fits the MTU, a u16: so do the lengths below.
        let udp_len = (inner_len + UDP_VXLAN_LEN) as u16;
        let front = cx
            .pool
            .prepend(bi, outer.header_len())
            .map_err(|_| Drop::NoHeadroom)?;
        let (ip, rest) = front.split_at_mut(outer.header_len() - UDP_VXLAN_LEN);
        let (udp_header, vxlan_header) = rest.split_at_mut(udp::HEADER_LEN);
        let mut udp = udp::Packet::new_unchecked(udp_header);
        udp.set_src_port(src_port);
        udp.set_dst_port(tunnel.port);
        udp.set_len(udp_len);
        udp.set_checksum(0);
        VxlanRepr { vni: tunnel.vni }
            .emit(&mut vxlan::Packet::new_unchecked(vxlan_header))
            .map_err(|_| Drop::NotATunnel)?;
        let next = match outer {
            Outer::V4(local, remote) => {
                let mut header = ipv4::Packet::new_unchecked(ip);
                ipv4::Ipv4Repr {
                    src_addr: local,
                    dst_addr: remote,
                    protocol: IpProtocol::UDP,
                    payload_len: usize::from(udp_len),
                    ttl: OUTER_TTL,
                    dscp_ecn: 0,
                }
                .emit(&mut header)
                .map_err(|_| Drop::TooBig)?;
                header.set_ident(self.ident);
                header.set_dont_frag(false);
                header.fill_checksum();
                self.ident = self.ident.wrapping_add(1);
                Next::Ip4Rewrite
            }
            Outer::V6(local, remote) => {
                let mut header = ipv6::Packet::new_unchecked(ip);
                ipv6::Ipv6Repr {
                    src_addr: local,
                    dst_addr: remote,
                    next_header: IpProtocol::UDP,
                    payload_len: usize::from(udp_len),
                    hop_limit: OUTER_TTL,
                    traffic_class: 0,
                }
                .emit(&mut header)
                .map_err(|_| Drop::TooBig)?;
                header.set_flow_label((entropy & 0xf_ffff) as u32);
                fill_udp_checksum6(cx, bi, local, remote, udp_len);
                Next::Ip6Rewrite
            }
        };
        cx.state.tunnels.count_tx(tunnel_if, inner_len);
        let meta = cx.pool.meta_mut(bi);
        meta.next_index = adjacency;
        meta.originated = true;
        meta.offload = OffloadInfo::default();
        cx.note(bi, || {
            format!(
                "vni {} {}:{src_port} → {remote}:{}, {outer_len} bytes",
                tunnel.vni, tunnel.local, tunnel.port
            )
        });
        Ok(next)
    }
}

/// Computes the UDP checksum of the outer IPv6 packet `bi`, whose checksum field is zero,
/// over the whole datagram (the inner frame may be a chain of buffers).
fn fill_udp_checksum6(
    cx: &mut Context<'_>,
    bi: BufferIndex,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    udp_len: u16,
) {
    let pseudo = checksum::pseudo_header_v6(src, dst, IpProtocol::UDP, u32::from(udp_len));
    let sum = checksum::combine(&[pseudo, sum_from(cx.pool, bi, ipv6::HEADER_LEN)]);
    // A computed zero is sent as all ones: zero would mean "no checksum" (RFC 768).
    let field = match checksum::finish(sum) {
        0 => 0xffff,
        c => c,
    };
    // The outer headers were just put in front: the UDP header is in this buffer.
    if let Some(datagram) = cx.pool.data_mut(bi).get_mut(ipv6::HEADER_LEN..) {
        udp::Packet::new_unchecked(datagram).set_checksum(field);
    }
}
