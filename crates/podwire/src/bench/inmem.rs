//! In-memory forwarding: packets written into the pool as a device would,
//! run through the standard graph (ethernet-input, ip-input, lookup,
//! rewrite, interface-output), taken from the output queue and freed. One
//! thread, one core; no system call in the loop.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use podwire_dataplane::buffer::BUFFER_HEADROOM;
use podwire_dataplane::clock;
use podwire_dataplane::engine::Engine;
use podwire_dataplane::graph::VECTOR_SIZE;
use podwire_dataplane::interface::{IfIndex, InterfaceConfig};
use podwire_dataplane::tables::{Adjacency, Tables, TablesBuilder, mask4, mask6};
use podwire_wire::ethernet::EthernetAddress;

use super::report::{Better, Figure};
use crate::bench::rng::Rng;

const IN_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 1]);
const OUT_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 2]);
const SENDER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x10];
const GATEWAY_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x20]);
const GATEWAY4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
const GATEWAY6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 2);
/// Distinct destinations cycled through (a power of two).
const FLOWS: usize = 1 << 16;

/// An IP family.
#[derive(Copy, Clone, Debug)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

/// The in-memory figures of `podwire bench forwarding`.
pub fn figures(duration: Duration) -> anyhow::Result<Vec<Figure>> {
    let anchor = "VPP-class target, 15 Mpps per core (not run here)";
    let mut out = Vec::new();
    for (name, family, routes) in [
        ("inmem_ip4_1k_mpps", Family::V4, 1_000),
        ("inmem_ip4_1m_mpps", Family::V4, 1_000_000),
        ("inmem_ip6_1k_mpps", Family::V6, 1_000),
        ("inmem_ip6_1m_mpps", Family::V6, 1_000_000),
    ] {
        let mpps = forwarding_mpps(family, routes, duration)
            .with_context(|| format!("measuring {name}"))?;
        println!("{name}: {mpps:.2} Mpps ({routes} routes, one core)");
        out.push(Figure::new(
            name,
            "Mpps",
            mpps,
            anchor,
            None,
            Better::Higher,
        ));
    }
    Ok(out)
}

/// Mpps forwarded on one core with `routes` routes in the table.
pub fn forwarding_mpps(family: Family, routes: usize, duration: Duration) -> anyhow::Result<f64> {
    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15 ^ routes as u64);
    let (tables, frames) = workload(family, routes, &mut rng)?;
    let mut engine = Engine::new(8192, None)?;
    let now = clock::Instant::from_nanos(0);
    let (in_if, out_if) = (IfIndex(0), IfIndex(1));
    let mut vector = Vec::with_capacity(VECTOR_SIZE);
    let mut next = 0;
    let mut measure = |engine: &mut Engine, run_for: Duration| -> anyhow::Result<(u64, Duration)> {
        let start = Instant::now();
        let mut forwarded = 0u64;
        let mut rounds = 0u32;
        loop {
            for _ in 0..VECTOR_SIZE {
                let bi = engine.pool.alloc()?;
                let frame = &frames[next];
                next = (next + 1) & (FLOWS - 1);
                engine.pool.raw_mut(bi)[BUFFER_HEADROOM..BUFFER_HEADROOM + frame.len()]
                    .copy_from_slice(frame);
                engine.pool.set_data(bi, BUFFER_HEADROOM, frame.len());
                vector.push(bi);
            }
            engine.receive(in_if, &vector, now);
            vector.clear();
            engine.run(&tables, now);
            if let Some(queue) = engine.tx.queue_mut(out_if) {
                forwarded += queue.len() as u64;
                for bi in queue.drain(..) {
                    engine.pool.free(bi);
                }
            }
            rounds += 1;
            if rounds.is_multiple_of(64) && start.elapsed() >= run_for {
                return Ok((forwarded, start.elapsed()));
            }
        }
    };
    measure(&mut engine, duration / 5)?; // warm the caches and the tables
    let (forwarded, elapsed) = measure(&mut engine, duration)?;
    let drops = engine.graph.drop_counts();
    if !drops.is_empty() {
        bail!("the benchmark's packets were dropped, its figure would be wrong: {drops:?}");
    }
    Ok(forwarded as f64 / elapsed.as_secs_f64() / 1e6)
}

/// Two routed interfaces; `routes` routes out of the second via a gateway
/// with a known MAC; and 64-byte UDP frames to destinations spread over
/// the routes.
fn workload(
    family: Family,
    routes: usize,
    rng: &mut Rng,
) -> anyhow::Result<(Tables, Vec<Vec<u8>>)> {
    let mut b = TablesBuilder::new();
    let mut input = InterfaceConfig::l3("in", IN_MAC);
    let mut output = InterfaceConfig::l3("out", OUT_MAC);
    input.ip4.push((Ipv4Addr::new(192, 0, 2, 1), 24));
    output.ip4.push((Ipv4Addr::new(198, 51, 100, 1), 24));
    input.ip6.push(("2001:db8:1::1".parse()?, 64));
    output.ip6.push(("2001:db8:100::1".parse()?, 64));
    b.add_interface(input)?;
    let out = b.add_interface(output)?;
    let mut destinations = Vec::with_capacity(routes);
    match family {
        Family::V4 => {
            let via = Adjacency::Via {
                interface: out,
                gateway: GATEWAY4.into(),
            };
            b.add_neighbor(out, GATEWAY4.into(), GATEWAY_MAC);
            while destinations.len() < routes {
                let r = rng.next();
                // Mostly /24s, as in an Internet table, with some shorter
                // and some host routes.
                let len = match r % 100 {
                    0..=59 => 24,
                    60..=79 => 16 + (r >> 8) as u8 % 8,
                    80..=94 => 25 + (r >> 8) as u8 % 8,
                    _ => 8 + (r >> 8) as u8 % 8,
                };
                let addr = Ipv4Addr::from((r >> 32) as u32);
                let first = addr.octets()[0];
                if !(1..224).contains(&first) || first == 127 || first == 192 || first == 198 {
                    continue;
                }
                let prefix = mask4(addr, len);
                b.add_route4(prefix, len, via)?;
                let host_bits = u32::MAX.checked_shr(u32::from(len)).unwrap_or(0);
                let host = u32::from(prefix) | ((rng.next() as u32) & host_bits);
                destinations.push(IpAddr::V4(Ipv4Addr::from(host)));
            }
        }
        Family::V6 => {
            let via = Adjacency::Via {
                interface: out,
                gateway: GATEWAY6.into(),
            };
            b.add_neighbor(out, GATEWAY6.into(), GATEWAY_MAC);
            while destinations.len() < routes {
                let r = rng.next();
                let len = [32, 48, 48, 48, 56, 64, 64, 128][(r % 8) as usize];
                // Global unicast, away from the interfaces' 2001:db8::/32.
                let high = 0x2400_0000_0000_0000u64 | (rng.next() >> 8);
                let addr = Ipv6Addr::from((u128::from(high) << 64) | u128::from(rng.next()));
                let prefix = mask6(addr, len);
                b.add_route6(prefix, len, via)?;
                let host_bits = u128::MAX.checked_shr(u32::from(len)).unwrap_or(0);
                let host = u128::from(prefix) | (u128::from(rng.next()) & host_bits);
                destinations.push(IpAddr::V6(Ipv6Addr::from(host)));
            }
        }
    }
    let frames = (0..FLOWS)
        .map(|_| frame(destinations[(rng.next() % destinations.len() as u64) as usize]))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok((b.build(1), frames))
}

/// A 64-byte UDP frame (60 on the wire without the FCS, for IPv4) to `dst`.
fn frame(dst: IpAddr) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(64);
    let eth = etherparse::PacketBuilder::ethernet2(SENDER_MAC, IN_MAC.0);
    match dst {
        IpAddr::V4(d) => eth
            .ipv4([192, 0, 2, 10], d.octets(), 64)
            .udp(4000, 5000)
            .write(&mut out, &[0u8; 18])?,
        IpAddr::V6(d) => eth
            .ipv6(
                "2001:db8:1::10".parse::<Ipv6Addr>()?.octets(),
                d.octets(),
                64,
            )
            .udp(4000, 5000)
            .write(&mut out, &[0u8; 2])?,
    }
    Ok(out)
}
