//! What the tests of `arp-input`, `ip6-ndp` and the glean nodes share: a
//! packet handed to a glean node as the rewrite node would, and what the
//! bench sent and dropped.

use core::net::IpAddr;

use etherparse::{LinkSlice, NetSlice, PacketBuilder, SlicedPacket};

use super::Solicit;
use crate::interface::IfIndex;
use crate::nodes::arp::Arp4;
use crate::nodes::ethernet_input::bench::Bench;
use crate::nodes::ndp::Nd6;

/// Hands a UDP packet from `src` to `dst` (one family) to the glean node
/// of their family as the rewrite node would: come in on `rx_if`, leaving
/// by `tx_if` by adjacency `adjacency`.
pub(crate) fn hand_to_glean(
    bench: &mut Bench,
    (rx_if, tx_if): (IfIndex, IfIndex),
    adjacency: u32,
    (src, dst): (IpAddr, IpAddr),
) {
    let mut bytes = Vec::new();
    let node = match (src, dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            PacketBuilder::ipv4(src.octets(), dst.octets(), 64)
                .udp(1000, 53)
                .write(&mut bytes, b"query")
                .unwrap();
            Arp4::NODE
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            PacketBuilder::ipv6(src.octets(), dst.octets(), 64)
                .udp(1000, 53)
                .write(&mut bytes, b"query")
                .unwrap();
            Nd6::NODE
        }
        _ => panic!("{src} and {dst} are of two families"),
    };
    let bi = bench.pool.alloc_from(&bytes).unwrap();
    let meta = bench.pool.meta_mut(bi);
    meta.tx_if = tx_if;
    meta.next_index = adjacency;
    bench.inject(node, rx_if, bi);
}

/// Each frame's Ethernet destination and source, and the IP destination
/// it carries.
pub(crate) fn ip_frames(frames: &[Vec<u8>]) -> Vec<([u8; 6], [u8; 6], IpAddr)> {
    frames
        .iter()
        .map(|frame| {
            let packet = SlicedPacket::from_ethernet(frame).unwrap();
            let Some(LinkSlice::Ethernet2(eth)) = packet.link else {
                panic!("not Ethernet II")
            };
            let dst = match packet.net {
                Some(NetSlice::Ipv4(ip)) => IpAddr::V4(ip.header().destination_addr()),
                Some(NetSlice::Ipv6(ip)) => IpAddr::V6(ip.header().destination_addr()),
                _ => panic!("not IP"),
            };
            (eth.destination(), eth.source(), dst)
        })
        .collect()
}

/// Every drop the bench counted: node, reason, how many.
pub(crate) fn drops(bench: &Bench) -> Vec<(&'static str, &'static str, u64)> {
    bench
        .graph
        .drop_counts()
        .iter()
        .map(|d| (d.node, d.reason.name, d.count))
        .collect()
}
