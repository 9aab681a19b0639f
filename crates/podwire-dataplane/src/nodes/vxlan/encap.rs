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
//! large segment leaves as several encapsulated datagrams, each inner segment with its
//! checksums. When the uplink cuts UDP trains itself (USO, as the kernel does behind an
//! AF_PACKET port: `TxOffloads::uso` and `csum`), those datagrams leave as *trains*: one
//! outer header followed by the datagrams' payloads, each a VXLAN header and an inner
//! segment, all of one size but the last, which the uplink cuts into datagrams and
//! checksums (so an IPv4 train's datagrams carry a UDP checksum, which RFC 7348 §5
//! allows). A 64 KiB segment then crosses the kernel once instead of some 45 times. A
//! train holds at most [`TRAIN_DATAGRAMS`] datagrams and an IP packet's 65 535 bytes.
//!
//! The tunnel's MTU is the agent's to size (the uplink's less [`super::OVERHEAD4`] or
//! [`super::OVERHEAD6`]) so that an outer packet fits the uplink: one that does not is
//! dropped here, counted, rather than fragmented.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use podwire_wire::ip::IpProtocol;
use podwire_wire::vxlan::{MAX_VNI, VxlanRepr};
use podwire_wire::{checksum, ethernet, ipv4, ipv6, udp, vxlan};

use crate::buffer::{BufferIndex, BufferPool, GsoKind, OffloadInfo};
use crate::graph::{Context, Dispatch, Node};
use crate::interface::{IfIndex, TxOffloads};
use crate::nodes::ip_common::sum_from;
use crate::offload::{self, Prepared};
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
            // Once per packet, not per segment: every segment of it takes the same path.
            let path = match TunnelPath::of(cx.tables, cx.pool, bi) {
                Ok(path) => path,
                Err(reason) => {
                    out.drop(bi, reason);
                    continue;
                }
            };
            let offload = cx.pool.meta(bi).offload;
            if !offload.asks_for_work() {
                self.send(cx, bi, &path, out);
            } else if offload.gso != GsoKind::None && path.trains {
                self.send_trains(cx, bi, &path, out);
            } else {
                // The inner packet's offsets would be wrong behind the outer headers: its
                // work is done here, and its segments leave one datagram each.
                offload::finish_then::<Drop>(cx, bi, TxOffloads::default(), out, |cx, bi, out| {
                    self.send(cx, bi, &path, out)
                });
            }
        }
    }
}

/// The most datagrams in one train: Linux refuses a UDP GSO packet of more
/// (`UDP_MAX_SEGMENTS`, 64 before Linux 6.9).
pub const TRAIN_DATAGRAMS: usize = 64;

/// Where a frame for a tunnel goes: the tunnel, the outer addresses and the uplink.
#[derive(Copy, Clone, Debug)]
struct TunnelPath {
    tunnel_if: IfIndex,
    vni: u32,
    port: u16,
    outer: Outer,
    /// The route to the remote end (an adjacency index).
    adjacency: u32,
    /// The MTU of the uplink.
    mtu: u16,
    /// The uplink cuts and checksums UDP trains.
    trains: bool,
}

impl TunnelPath {
    /// The path of frame `bi`, which `ip*-rewrite` framed for a tunnel interface.
    fn of(tables: &Tables, pool: &BufferPool, bi: BufferIndex) -> Result<TunnelPath, Drop> {
        let meta = pool.meta(bi);
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
        let uplink = tables.interface(uplink).ok_or(Drop::NoRoute)?;
        Ok(TunnelPath {
            tunnel_if,
            vni: tunnel.vni,
            port: tunnel.port,
            outer,
            adjacency,
            mtu: uplink.mtu,
            trains: uplink.offloads.uso && uplink.offloads.csum,
        })
    }
}

/// What the outer headers of one packet carry: one datagram, or a train of `count`
/// datagrams of `size` bytes each (VXLAN header and inner frame), the last maybe shorter.
#[derive(Copy, Clone, Debug)]
struct Datagrams {
    count: usize,
    size: usize,
}

impl Datagrams {
    const ONE: Datagrams = Datagrams { count: 1, size: 0 };
}

/// A train being made: the inner frame of its first datagram, then the others, each behind
/// its VXLAN header.
#[derive(Copy, Clone, Debug)]
struct Train {
    head: BufferIndex,
    /// The last buffer of the chain.
    tail: BufferIndex,
    datagrams: Datagrams,
    /// Bytes of all the datagrams, VXLAN headers included.
    len: usize,
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

    /// The remote end.
    fn remote(self) -> IpAddr {
        match self {
            Outer::V4(_, remote) => remote.into(),
            Outer::V6(_, remote) => remote.into(),
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
    fn send(
        &mut self,
        cx: &mut Context<'_>,
        bi: BufferIndex,
        path: &TunnelPath,
        out: &mut Dispatch,
    ) {
        let sent =
            counted_in(cx, bi, path).and_then(|_| self.encapsulate(cx, bi, path, Datagrams::ONE));
        match sent {
            Ok(next) => out.send(next, bi),
            Err(reason) => out.drop(bi, reason),
        }
    }

    /// Cuts large segment `bi` into inner segments and sends them in trains along `path`,
    /// whose uplink takes them.
    fn send_trains(
        &mut self,
        cx: &mut Context<'_>,
        bi: BufferIndex,
        path: &TunnelPath,
        out: &mut Dispatch,
    ) {
        let mut segments = match offload::prepare(cx.pool, bi, TxOffloads::default()) {
            Ok(Prepared::Segments(segments)) => segments,
            Ok(Prepared::Whole(bi) | Prepared::Finished(bi)) => {
                return self.send(cx, bi, path, out);
            }
            Err(e) => return out.drop(bi, Drop::from(e)),
        };
        let n = segments.segments();
        cx.state.offload.count_segmented(n);
        cx.note(bi, || {
            format!("segmented into {n} in software, sent in UDP trains")
        });
        let mut train: Option<Train> = None;
        while let Some(made) = segments.next_segment(cx.pool) {
            let seg = match made {
                Ok(seg) => seg,
                Err(e) => {
                    out.count_lost(Drop::from(e));
                    continue;
                }
            };
            let inner_len = match counted_in(cx, seg, path) {
                Ok(len) => len,
                Err(reason) => {
                    out.drop(seg, reason);
                    continue;
                }
            };
            train = match train {
                None => Some(Train::start(cx.pool, seg, inner_len)),
                Some(t) => match t.extend(cx.pool, seg, inner_len, path) {
                    Ok(t) => Some(t),
                    Err(full) => {
                        self.send_train(cx, full, path, out);
                        Some(Train::start(cx.pool, seg, inner_len))
                    }
                },
            };
        }
        if let Some(train) = train {
            self.send_train(cx, train, path, out);
        }
    }

    /// Puts the outer headers in front of `train` and sends it on, or drops it.
    fn send_train(
        &mut self,
        cx: &mut Context<'_>,
        train: Train,
        path: &TunnelPath,
        out: &mut Dispatch,
    ) {
        match self.encapsulate(cx, train.head, path, train.datagrams) {
            Ok(next) => out.send(next, train.head),
            Err(reason) => out.drop(train.head, reason),
        }
    }

    /// Puts the outer IP, UDP and VXLAN headers in front of packet `bi` (a frame, or the
    /// first datagram of a train) and says which rewrite node the outer packet goes to.
    fn encapsulate(
        &mut self,
        cx: &mut Context<'_>,
        bi: BufferIndex,
        path: &TunnelPath,
        datagrams: Datagrams,
    ) -> Result<Next, Drop> {
        let outer = path.outer;
        let inner_len = cx.pool.total_length(bi);
        let entropy = flow_entropy(cx.pool.data(bi));
        let src_port = source_port(entropy);
        // The MTU, or a train's 65 535 bytes, bounds the lengths below: they fit a u16.
        let udp_len = (inner_len + UDP_VXLAN_LEN) as u16;
        let train = datagrams.count > 1;
        let front = cx
            .pool
            .prepend(bi, outer.header_len())
            .map_err(|_| Drop::NoHeadroom)?;
        let (ip, rest) = front.split_at_mut(outer.header_len() - UDP_VXLAN_LEN);
        let (udp_header, vxlan_header) = rest.split_at_mut(udp::HEADER_LEN);
        let mut udp = udp::Packet::new_unchecked(udp_header);
        udp.set_src_port(src_port);
        udp.set_dst_port(path.port);
        udp.set_len(udp_len);
        udp.set_checksum(0);
        VxlanRepr { vni: path.vni }
            .emit(&mut vxlan::Packet::new_unchecked(vxlan_header))
            .map_err(|_| Drop::NotATunnel)?;
        let (next, pseudo) = match outer {
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
                // The uplink numbers a train's datagrams from this one on.
                self.ident = self.ident.wrapping_add(datagrams.count as u16);
                let pseudo =
                    checksum::pseudo_header_v4(local, remote, IpProtocol::UDP, u32::from(udp_len));
                (Next::Ip4Rewrite, pseudo)
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
                if !train {
                    fill_udp_checksum6(cx, bi, local, remote, udp_len);
                }
                let pseudo =
                    checksum::pseudo_header_v6(local, remote, IpProtocol::UDP, u32::from(udp_len));
                (Next::Ip6Rewrite, pseudo)
            }
        };
        let ip_len = outer.header_len() - UDP_VXLAN_LEN;
        let meta = cx.pool.meta_mut(bi);
        meta.next_index = path.adjacency;
        meta.originated = true;
        meta.offload = OffloadInfo::default();
        if train {
            // The uplink cuts the train and fills each datagram's checksum from the
            // pseudo-header sum of the whole (it subtracts the lengths it changes).
            let l4 = ethernet::HEADER_LEN + ip_len;
            meta.offload = OffloadInfo {
                needs_csum: true,
                csum_start: l4 as u16,
                csum_offset: UDP_CHECKSUM_OFFSET,
                gso: GsoKind::Udp,
                gso_size: datagrams.size as u16,
                hdr_len: (l4 + udp::HEADER_LEN) as u16,
            };
            if let Some(datagram) = cx.pool.data_mut(bi).get_mut(ip_len..) {
                udp::Packet::new_unchecked(datagram).set_checksum(pseudo);
            }
        }
        cx.note(bi, || {
            format!(
                "vni {} → {}:{}, {} bytes in {} datagram(s)",
                path.vni,
                outer.remote(),
                path.port,
                inner_len + outer.header_len(),
                datagrams.count
            )
        });
        Ok(next)
    }
}

/// Checks that frame `bi`, encapsulated, fits the uplink's MTU along `path`, and counts it
/// as sent on the tunnel; its length.
fn counted_in(cx: &mut Context<'_>, bi: BufferIndex, path: &TunnelPath) -> Result<usize, Drop> {
    let inner_len = cx.pool.total_length(bi);
    let outer_len = inner_len + path.outer.header_len();
    if outer_len > usize::from(path.mtu) {
        cx.note(bi, || format!("{outer_len} bytes over MTU {}", path.mtu));
        return Err(Drop::TooBig);
    }
    cx.state.tunnels.count_tx(path.tunnel_if, inner_len);
    Ok(inner_len)
}

/// Where the checksum sits in a UDP header.
const UDP_CHECKSUM_OFFSET: u16 = 6;

impl Train {
    /// A train whose first datagram is inner frame `seg`, `len` bytes.
    fn start(pool: &BufferPool, seg: BufferIndex, len: usize) -> Train {
        Train {
            head: seg,
            tail: pool.chain(seg).last().unwrap_or(seg),
            datagrams: Datagrams {
                count: 1,
                size: vxlan::HEADER_LEN + len,
            },
            len: vxlan::HEADER_LEN + len,
        }
    }

    /// Adds inner frame `seg`, `len` bytes, behind its VXLAN header; the train as it was,
    /// full, when it cannot take it (too many datagrams or bytes, or the one before was a
    /// last, shorter one).
    fn extend(
        mut self,
        pool: &mut BufferPool,
        seg: BufferIndex,
        len: usize,
        path: &TunnelPath,
    ) -> Result<Train, Train> {
        let size = vxlan::HEADER_LEN + len;
        let ip_len = self.len + size + path.outer.header_len() - vxlan::HEADER_LEN;
        let equal = self.len == self.datagrams.count * self.datagrams.size;
        if self.datagrams.count == TRAIN_DATAGRAMS
            || size > self.datagrams.size
            || !equal
            || ip_len > usize::from(u16::MAX)
        {
            return Err(self);
        }
        let Ok(header) = pool.prepend(seg, vxlan::HEADER_LEN) else {
            return Err(self);
        };
        let vxlan = VxlanRepr { vni: path.vni };
        if vxlan
            .emit(&mut vxlan::Packet::new_unchecked(header))
            .is_err()
        {
            // Not for a VNI `TunnelPath::of` checked; the frame is left as it came.
            let _ = pool.advance(seg, vxlan::HEADER_LEN);
            return Err(self);
        }
        pool.append(self.tail, seg);
        self.tail = pool.chain(seg).last().unwrap_or(seg);
        self.datagrams.count += 1;
        self.len += size;
        Ok(self)
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
