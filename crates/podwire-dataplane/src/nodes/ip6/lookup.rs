//! `ip6-lookup`: the route for the destination decides. The adjacency
//! index goes into `meta.next_index` for `ip6-nat-out` (egress
//! masquerade) and `ip6-rewrite` after it; the switch's own
//! addresses go to `ip6-local`; no route, or an unreachable route, is
//! answered with an ICMPv6 error. (Multicast and link-local destinations
//! were sorted out by `ip6-input`.)

use crate::buffer::BufferIndex;
use crate::graph::{Context, Dispatch, Node};
use crate::nodes::ip_common::{Routed, apply_route};

use super::header;

crate::next_nodes! {
    pub enum Next {
        Local => "ip6-local",
        NatOut => "ip6-nat-out",
        IcmpError => "ip6-icmp-error",
    }
}

crate::drop_reasons! {
    pub enum Drop {
        BadHeader => ("bad-header", "no whole IPv6 header: the packet skipped validation (a podwire bug)"),
        Blackhole => ("blackhole", "the route to the destination is a blackhole: dropped on purpose"),
    }
}

/// The `ip6-lookup` node.
#[derive(Debug, Default)]
pub struct Ip6Lookup;

impl Node for Ip6Lookup {
    fn name(&self) -> &'static str {
        "ip6-lookup"
    }

    fn next_nodes(&self) -> &'static [&'static str] {
        Next::ALL
    }

    fn drop_reasons(&self) -> &'static [crate::counters::DropReason] {
        Drop::ALL
    }

    fn process(&mut self, cx: &mut Context<'_>, packets: &[BufferIndex], out: &mut Dispatch) {
        for &bi in packets {
            let Some(dst) = header(cx.pool.data(bi)).map(|ip| ip.dst_addr()) else {
                out.drop(bi, Drop::BadHeader);
                continue;
            };
            let route = cx.tables.route6(dst);
            cx.note(bi, || match route {
                Some((_, adjacency)) => format!("{dst}: {adjacency:?}"),
                None => format!("{dst}: no route"),
            });
            match apply_route(cx.pool.meta_mut(bi), route) {
                Routed::Local => out.send(Next::Local, bi),
                Routed::Rewrite => out.send(Next::NatOut, bi),
                Routed::IcmpError => out.send(Next::IcmpError, bi),
                Routed::Blackhole => out.drop(bi, Drop::Blackhole),
            }
        }
    }
}
