//! `ip6-rewrite`: the last IPv6 step of a forwarded packet. Checks that it
//! fits the outgoing link (IPv6 routers never fragment: a packet too big
//! gets an ICMPv6 Packet Too Big, RFC 8201), decrements the hop limit
//! (IPv6 has no header checksum), and puts the Ethernet header for the next
//! hop in front: the adjacency in `meta.next_index` (from `ip6-lookup`, or
//! the rx interface's attached adjacency for replies to link-local
//! addresses) says which interface and which neighbor. A link-local next
//! hop (a router's fe80:: address) is resolved like any other; a
//! link-local source never leaves its link (RFC 4291 §2.5.6). Through a
//! VXLAN tunnel the link is the tunnel (its MTU, its MAC, the remote end's
//! inner MAC) and the frame goes on to `vxlan-encap`.
//! A segmentation-offload packet (`meta.offload.gso`) is larger than the
//! MTU on purpose: its segments are cut later, to the size the sender chose.

use podwire_wire::ethernet::EtherType;
use podwire_wire::ipv6;

use crate::buffer::{BufferIndex, GsoKind};
use crate::graph::{Context, Dispatch, Node};
use crate::icmp_error::IcmpError;
use crate::nodes::ip_common::{Framed, NextHops, frame_for_next_hop};

use super::header;

crate::next_nodes! {
    pub enum Next {
        Output => "interface-output",
        Glean => "ip6-glean",
        IcmpError => "ip6-icmp-error",
        VxlanEncap => "vxlan-encap",
    }
}

crate::drop_reasons! {
    pub enum Drop {
        BadHeader => ("bad-header", "no whole IPv6 header: the packet skipped validation (a podwire bug)"),
        LinkLocalSource => ("link-local-source", "from a link-local address to another link: link-local packets are never forwarded (RFC 4291 §2.5.6)"),
        NoAdjacency => ("no-adjacency", "the route's adjacency is gone or does not forward: the tables changed under the packet"),
        NoHeadroom => ("no-headroom", "no room in front of the packet for the Ethernet header"),
    }
}

/// The `ip6-rewrite` node.
#[derive(Debug, Default)]
pub struct Ip6Rewrite;

impl Node for Ip6Rewrite {
    fn name(&self) -> &'static str {
        "ip6-rewrite"
    }

    fn next_nodes(&self) -> &'static [&'static str] {
        Next::ALL
    }

    fn drop_reasons(&self) -> &'static [crate::counters::DropReason] {
        Drop::ALL
    }

    fn process(&mut self, cx: &mut Context<'_>, packets: &[BufferIndex], out: &mut Dispatch) {
        let mut next_hops = NextHops::new(cx.tables, EtherType::IPV6);
        for &bi in packets {
            let (meta, data) = cx.pool.packet_mut(bi);
            let Some(ip) = header(data) else {
                out.drop(bi, Drop::BadHeader);
                continue;
            };
            let (src, dst) = (ip.src_addr(), ip.dst_addr());
            let total_len = ipv6::HEADER_LEN + usize::from(ip.payload_len());
            let egress = next_hops.egress(meta.next_index, dst.into(), &cx.state.neighbors, cx.now);
            let Some(egress) = egress else {
                out.drop(bi, Drop::NoAdjacency);
                continue;
            };
            if ipv6::is_link_local(src) && egress.interface != meta.rx_if {
                out.drop(bi, Drop::LinkLocalSource);
                continue;
            }
            let mtu = egress.config.mtu;
            if total_len > usize::from(mtu) && meta.offload.gso == GsoKind::None {
                meta.next_index = IcmpError::TooBig { mtu }.encode();
                cx.note(bi, || format!("{total_len} bytes over MTU {mtu}"));
                out.send(Next::IcmpError, bi);
                continue;
            }
            // `header` found a whole header: the unchecked view stays in bounds.
            // The switch's own packets leave with the hop limit it gave them.
            if !meta.originated && !ipv6::Packet::new_unchecked(data).decrement_hop_limit() {
                meta.next_index = IcmpError::TimeExceeded.encode();
                out.send(Next::IcmpError, bi);
                continue;
            }
            let framed = frame_for_next_hop(cx.pool, bi, egress);
            cx.note(bi, || {
                format!(
                    "to {} via {} on {}: {framed:?}",
                    dst, egress.next_hop, egress.config.name
                )
            });
            match framed {
                Framed::Ready if egress.tunnel => out.send(Next::VxlanEncap, bi),
                Framed::Ready => out.send(Next::Output, bi),
                Framed::Unresolved => out.send(Next::Glean, bi),
                Framed::NoHeadroom => out.drop(bi, Drop::NoHeadroom),
            }
        }
    }
}
