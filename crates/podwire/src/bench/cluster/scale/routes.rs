//! The routes to the other nodes at scale: one VXLAN interface, a route per remote pod
//! CIDR through it, built into the data plane's tables.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use podwire_dataplane::interface::{IfIndex, InterfaceConfig, VxlanTunnel};
use podwire_dataplane::tables::{Adjacency, Tables, TablesBuilder};
use podwire_wire::ethernet::EthernetAddress;

use super::objects;
use crate::bench::samples::Samples;

/// What the routes to the other nodes cost.
#[derive(Clone, Debug)]
pub struct RouteCosts {
    /// Routes through the tunnel: one per other node.
    pub routes: usize,
    /// Each build of the tables with them.
    pub builds: Samples,
    /// Bytes of the IPv4 FIB, the adjacencies and the tunnel's peer list.
    pub bytes: usize,
    /// VXLAN interfaces in the tables.
    pub tunnel_interfaces: usize,
    /// Remote ends of the tunnel.
    pub peers: usize,
    /// One lookup of an arriving packet's outer source among the tunnel's peers (what
    /// decapsulation does), for the last peer.
    pub peer_check: Duration,
}

/// Node 0's tables with an uplink, one VXLAN interface whose peers are the other nodes'
/// tunnel addresses, and a route to each other node's pod CIDR through it, as the agent
/// renders them; and the tunnel's index.
fn route_tables(nodes: usize) -> anyhow::Result<(Tables, IfIndex)> {
    let local = objects::tunnel_address(0);
    let mut builder = TablesBuilder::new();
    let mut uplink = InterfaceConfig::l3("uplink0", EthernetAddress([2, 0, 0, 0, 0, 1]));
    uplink.ip4 = vec![(local, 12)];
    builder.add_interface(uplink)?;
    let vxlan = VxlanTunnel {
        vni: 4096,
        local: IpAddr::V4(local),
        port: 4789,
        peers: (1..nodes)
            .map(|n| IpAddr::V4(objects::tunnel_address(n)))
            .collect(),
    };
    let tunnel = builder.add_interface(InterfaceConfig::vxlan("vxlan0", vxlan, 1450))?;
    for n in 1..nodes {
        let (cidr, len) = objects::node_cidr(n);
        let remote = IpAddr::V4(objects::tunnel_address(n));
        builder.add_route4(
            cidr,
            len,
            Adjacency::Tunnel {
                interface: tunnel,
                remote,
            },
        )?;
    }
    Ok((builder.build(1), tunnel))
}

pub fn measure(nodes: usize, builds: usize) -> anyhow::Result<RouteCosts> {
    let mut took = Vec::new();
    let mut last = None;
    for _ in 0..builds.max(1) {
        drop(last.take());
        let start = Instant::now();
        let built = route_tables(nodes)?;
        took.push(start.elapsed());
        last = Some(built);
    }
    let (tables, tunnel) = last.context("no build")?;
    for n in [1, nodes / 2, nodes - 1] {
        let (cidr, _) = objects::node_cidr(n);
        let pod = Ipv4Addr::from(u32::from(cidr) + 7);
        let remote = IpAddr::V4(objects::tunnel_address(n));
        ensure!(
            tables.route4(pod).map(|(_, adjacency)| adjacency)
                == Some(Adjacency::Tunnel {
                    interface: tunnel,
                    remote
                }),
            "{pod} does not route through the tunnel to node {n}'s {remote}"
        );
    }
    let peers = &tables
        .interface(tunnel)
        .and_then(|i| i.vxlan.as_ref())
        .context("the tunnel interface lost its tunnel")?
        .peers;
    let bytes = tables.ip4.memory_bytes()
        + tables.adjacencies.capacity() * size_of::<Adjacency>()
        + peers.capacity() * size_of::<IpAddr>();
    Ok(RouteCosts {
        routes: tables
            .ip4
            .iter()
            .filter(|&(_, _, i)| matches!(tables.adjacency(i), Some(Adjacency::Tunnel { .. })))
            .count(),
        builds: Samples::new(took),
        bytes,
        tunnel_interfaces: tables.tunnels.len(),
        peers: peers.len(),
        peer_check: peer_check(peers)?,
    })
}

/// How long finding the last peer takes: decapsulation looks every arriving packet's outer
/// source up among the tunnel's sorted peers by binary search (`nodes/vxlan/decap.rs`).
fn peer_check(peers: &[IpAddr]) -> anyhow::Result<Duration> {
    let mut peers = peers.to_vec();
    peers.sort();
    let peers = peers.as_slice();
    let last = *peers.last().context("the tunnel has no peer")?;
    // About 20 million comparisons: long enough for the clock, short at any size.
    let rounds = (20_000_000 / peers.len()).max(1000);
    let start = Instant::now();
    for _ in 0..rounds {
        ensure!(
            black_box(peers).binary_search(black_box(&last)).is_ok(),
            "{last} not found"
        );
    }
    Ok(start.elapsed() / rounds as u32)
}
