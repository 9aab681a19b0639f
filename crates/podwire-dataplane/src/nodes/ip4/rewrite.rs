//! `ip4-rewrite`: the last IPv4 step of a forwarded packet. Checks that it
//! fits the outgoing link, decrements the TTL (updating the header
//! checksum incrementally, RFC 1624), and puts the Ethernet header for the
//! next hop in front: the adjacency `ip4-lookup` chose (in
//! `meta.next_index`) says which interface and which neighbor. Through a
//! VXLAN tunnel the link is the tunnel (its MTU, its MAC, the remote end's
//! inner MAC) and the frame goes on to `vxlan-encap`.
//!
//! podwire does not fragment: a packet larger than the link's MTU gets
//! "fragmentation needed" when it says don't-fragment (path MTU discovery,
//! which every modern stack does), and is dropped, counted, when it does
//! not. A segmentation-offload packet (`meta.offload.gso`) is larger on
//! purpose: its segments are cut later, to the size the sender chose.

use podwire_wire::ethernet::EtherType;

use crate::buffer::{BufferIndex, GsoKind};
use crate::graph::{Context, Dispatch, Node};
use crate::icmp_error::IcmpError;
use crate::nodes::ip_common::{Framed, NextHops, frame_for_next_hop};

use super::fixed_header;

crate::next_nodes! {
    pub enum Next {
        Output => "interface-output",
        Glean => "ip4-glean",
        IcmpError => "ip4-icmp-error",
        VxlanEncap => "vxlan-encap",
    }
}

crate::drop_reasons! {
    pub enum Drop {
        BadHeader => ("bad-header", "no whole IPv4 header: the packet skipped validation (a podwire bug)"),
        NoAdjacency => ("no-adjacency", "the route's adjacency is gone or does not forward: the tables changed under the packet"),
        FragmentationUnsupported => ("fragmentation-unsupported", "larger than the outgoing link's MTU without don't-fragment: podwire does not fragment"),
        NoHeadroom => ("no-headroom", "no room in front of the packet for the Ethernet header"),
    }
}

/// The `ip4-rewrite` node.
#[derive(Debug, Default)]
pub struct Ip4Rewrite;

impl Node for Ip4Rewrite {
    fn name(&self) -> &'static str {
        "ip4-rewrite"
    }

    fn next_nodes(&self) -> &'static [&'static str] {
        Next::ALL
    }

    fn drop_reasons(&self) -> &'static [crate::counters::DropReason] {
        Drop::ALL
    }

    fn process(&mut self, cx: &mut Context<'_>, packets: &[BufferIndex], out: &mut Dispatch) {
        let mut next_hops = NextHops::new(cx.tables, EtherType::IPV4);
        for &bi in packets {
            let (meta, data) = cx.pool.packet_mut(bi);
            let Some(mut ip) = fixed_header(data) else {
                out.drop(bi, Drop::BadHeader);
                continue;
            };
            let (dst, total_len, dont_frag) = (ip.dst_addr(), ip.total_len(), ip.dont_frag());
            let egress = next_hops.egress(meta.next_index, dst.into(), &cx.state.neighbors, cx.now);
            let Some(egress) = egress else {
                out.drop(bi, Drop::NoAdjacency);
                continue;
            };
            let mtu = egress.config.mtu;
            if total_len > mtu && meta.offload.gso == GsoKind::None {
                if !dont_frag {
                    out.drop(bi, Drop::FragmentationUnsupported);
                    continue;
                }
                meta.next_index = IcmpError::TooBig { mtu }.encode();
                cx.note(bi, || format!("{total_len} bytes over MTU {mtu}"));
                out.send(Next::IcmpError, bi);
                continue;
            }
            // The switch's own packets leave with the TTL it gave them.
            if !meta.originated && !ip.decrement_ttl() {
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
