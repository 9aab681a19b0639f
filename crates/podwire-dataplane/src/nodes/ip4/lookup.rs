//! `ip4-lookup`: the route for the destination decides. The adjacency
//! index goes into `meta.next_index` for `ip4-nat-out` (egress
//! masquerade) and `ip4-rewrite` after it; the switch's own
//! addresses go to `ip4-local`; no route, or an unreachable route, is
//! answered with an ICMP error. Broadcasts are not forwarded (RFC 1812
//! §5.3.5: directed broadcasts are off by default).

use core::net::Ipv4Addr;

use crate::buffer::BufferIndex;
use crate::graph::{Context, Dispatch, Node, VECTOR_SIZE};
use crate::interface::InterfaceConfig;
use crate::nodes::ip_common::{Routed, apply_route};
use crate::tables::{Adjacency, Tables};

use super::fixed_header;

crate::next_nodes! {
    pub enum Next {
        Local => "ip4-local",
        NatOut => "ip4-nat-out",
        IcmpError => "ip4-icmp-error",
    }
}

crate::drop_reasons! {
    pub enum Drop {
        BadHeader => ("bad-header", "no whole IPv4 header: the packet skipped validation (a podwire bug)"),
        Broadcast => ("broadcast", "to 255.255.255.255 or to the broadcast address of a connected subnet: broadcasts are not forwarded"),
        Blackhole => ("blackhole", "the route to the destination is a blackhole: dropped on purpose"),
    }
}

/// The `ip4-lookup` node.
#[derive(Debug, Default)]
pub struct Ip4Lookup;

impl Node for Ip4Lookup {
    fn name(&self) -> &'static str {
        "ip4-lookup"
    }

    fn next_nodes(&self) -> &'static [&'static str] {
        Next::ALL
    }

    fn drop_reasons(&self) -> &'static [crate::counters::DropReason] {
        Drop::ALL
    }

    fn process(&mut self, cx: &mut Context<'_>, packets: &[BufferIndex], out: &mut Dispatch) {
        for vector in packets.chunks(VECTOR_SIZE) {
            route_vector(cx, vector, out);
        }
    }
}

/// Routes up to [`VECTOR_SIZE`] packets: their destinations first, then all
/// their routes at once ([`crate::fib::Ip4Lpm::lookup_many`]), then each
/// packet by its route.
fn route_vector(cx: &mut Context<'_>, packets: &[BufferIndex], out: &mut Dispatch) {
    let tables = cx.tables;
    let n = packets.len();
    let mut dsts = [Ipv4Addr::UNSPECIFIED; VECTOR_SIZE];
    let mut whole = [false; VECTOR_SIZE];
    for ((dst, whole), &bi) in dsts.iter_mut().zip(&mut whole).zip(packets) {
        // A packet without a header is looked up as 0.0.0.0, then dropped.
        if let Some(ip) = fixed_header(cx.pool.data(bi)) {
            (*dst, *whole) = (ip.dst_addr(), true);
        }
    }
    let mut values = [None; VECTOR_SIZE];
    tables.ip4.lookup_many(&dsts[..n], &mut values[..n]);
    let routed = packets.iter().zip(&whole).zip(&dsts).zip(&values);
    for (((&bi, &whole), &dst), &value) in routed {
        if !whole {
            out.drop(bi, Drop::BadHeader);
            continue;
        }
        // As `Tables::route4`: an index that names no adjacency is no route.
        let route = value.and_then(|index| Some((index, tables.adjacency(index)?)));
        if dst.is_broadcast() || is_subnet_broadcast(tables, route, dst) {
            out.drop(bi, Drop::Broadcast);
            continue;
        }
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

/// Whether `dst`, routed by `route`, is the broadcast address of a subnet
/// of the interface the route leads to.
fn is_subnet_broadcast(tables: &Tables, route: Option<(u32, Adjacency)>, dst: Ipv4Addr) -> bool {
    let Some((_, Adjacency::Attached { interface })) = route else {
        return false;
    };
    tables
        .interface(interface)
        .is_some_and(|config| broadcast_addresses(config).any(|b| b == dst))
}

/// The broadcast addresses of an interface's subnets (not of /31 and /32,
/// which have none: RFC 3021).
fn broadcast_addresses(config: &InterfaceConfig) -> impl Iterator<Item = Ipv4Addr> + '_ {
    config
        .ip4
        .iter()
        .filter(|&&(_, len)| len < 31)
        .map(|&(addr, len)| {
            let host_bits = u32::MAX >> len;
            Ipv4Addr::from(u32::from(addr) | host_bits)
        })
}
