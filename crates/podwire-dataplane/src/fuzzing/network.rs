//! The switch the fuzz target drives: one of each kind of interface and
//! route, so that frames can reach every node of the graph.
//!
//! | index | interface | what it is |
//! |---|---|---|
//! | 0 | `uplink` | routed, 192.168.10.1/24 and fd00:10::1/64, MTU 1400, no source check |
//! | 1 | `pod-a` | routed, pod-style: 169.254.1.1/32 and fe80::1/64, source check; its pod's MACs are static neighbors |
//! | 2 | `pod-b` | the same, but its pod's MACs must be learned (ARP, neighbor discovery) |
//! | 3, 4, 5 | `br-1`, `br-2`, `br-3` | the ports of a bridge domain that learns and floods (three, so that a flood copies frames) |
//! | 6, 7 | `xc-a`, `xc-b` | a cross-connected pair |
//! | 8 | — | no interface: frames "received" on a removed one |
//!
//! Routes beyond the connected ones: a default route per family via a
//! gateway whose MAC must be learned, a prefix per family via a router
//! whose MAC is static, the pods' /32 and /128, and a blackhole (`Drop`)
//! and an `Unreachable` prefix per family.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;
use std::time::Duration;

use podwire_wire::ethernet::EthernetAddress;

use crate::interface::{IfIndex, InterfaceConfig, InterfaceMode};
use crate::tables::{Adjacency, BridgeDomainConfig, Tables, TablesBuilder};

/// The routed uplink.
pub const UPLINK: IfIndex = IfIndex(0);
/// The interface of the pod whose neighbors are static.
pub const POD_A: IfIndex = IfIndex(1);
/// The interface of the pod whose neighbors are learned.
pub const POD_B: IfIndex = IfIndex(2);
/// The first port of the bridge domain.
pub const BRIDGE_PORT_1: IfIndex = IfIndex(3);
/// The second port of the bridge domain.
pub const BRIDGE_PORT_2: IfIndex = IfIndex(4);
/// The third port of the bridge domain.
pub const BRIDGE_PORT_3: IfIndex = IfIndex(5);
/// One end of the cross-connect.
pub const XCONNECT_A: IfIndex = IfIndex(6);
/// The other end of the cross-connect.
pub const XCONNECT_B: IfIndex = IfIndex(7);
/// An index no interface has.
pub const MISSING: IfIndex = IfIndex(8);
/// Interface indices a frame can be received on, [`MISSING`] included.
pub const RX_INTERFACES: u8 = 9;

/// The switch's MAC on interface `interface`.
pub const fn switch_mac(interface: IfIndex) -> EthernetAddress {
    EthernetAddress([2, 0, 0, 0, 0, interface.0 as u8])
}

/// The uplink's IPv4 address (a /24).
pub const UPLINK_IP4: Ipv4Addr = Ipv4Addr::new(192, 168, 10, 1);
/// The uplink's IPv6 address (a /64).
pub const UPLINK_IP6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x10, 0, 0, 0, 0, 0, 1);
/// The uplink's link-local address, which neighbor solicitations come from.
pub const UPLINK_LL6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0x10, 1);
/// The uplink's MTU, lower than the pods' so that forwarded packets can be
/// too big for it.
pub const UPLINK_MTU: u16 = 1400;

/// A router on the uplink whose MAC the control plane gave (static).
pub const ROUTER_IP4: Ipv4Addr = Ipv4Addr::new(192, 168, 10, 2);
/// The router's IPv6 address.
pub const ROUTER_IP6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x10, 0, 0, 0, 0, 0, 2);
/// The router's MAC.
pub const ROUTER_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 1, 2]);
/// The network behind the router.
pub const ROUTER_NET4: (Ipv4Addr, u8) = (Ipv4Addr::new(10, 20, 0, 0), 16);
/// The IPv6 network behind the router.
pub const ROUTER_NET6: (Ipv6Addr, u8) = (Ipv6Addr::new(0xfd00, 0x20, 0, 0, 0, 0, 0, 0), 48);

/// The default gateway on the uplink, whose MAC must be learned.
pub const GATEWAY_IP4: Ipv4Addr = Ipv4Addr::new(192, 168, 10, 254);
/// The default gateway's IPv6 address.
pub const GATEWAY_IP6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x10, 0, 0, 0, 0, 0, 0xfe);
/// The MAC the default gateway answers with.
pub const GATEWAY_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 1, 0xfe]);

/// The address every pod interface has: pods route via it.
pub const POD_GATEWAY4: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);
/// The link-local address every pod interface has.
pub const POD_GATEWAY6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);

/// Pod A's IPv4 address.
pub const POD_A_IP4: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 10);
/// Pod A's IPv6 address.
pub const POD_A_IP6: Ipv6Addr = Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 0xa);
/// Pod A's link-local address.
pub const POD_A_LL6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0xa);
/// Pod A's MAC.
pub const POD_A_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0xa, 1]);
/// Pod B's IPv4 address.
pub const POD_B_IP4: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 11);
/// Pod B's IPv6 address.
pub const POD_B_IP6: Ipv6Addr = Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 0xb);
/// Pod B's link-local address.
pub const POD_B_LL6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0xb);
/// Pod B's MAC.
pub const POD_B_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0xb, 1]);

/// Routed to a blackhole.
pub const BLACKHOLE4: (Ipv4Addr, u8) = (Ipv4Addr::new(10, 66, 0, 0), 16);
/// Routed to a blackhole.
pub const BLACKHOLE6: (Ipv6Addr, u8) = (Ipv6Addr::new(0xfd00, 0x66, 0, 0, 0, 0, 0, 0), 32);
/// Routed as unreachable.
pub const UNREACHABLE4: (Ipv4Addr, u8) = (Ipv4Addr::new(10, 77, 0, 0), 16);
/// Routed as unreachable.
pub const UNREACHABLE6: (Ipv6Addr, u8) = (Ipv6Addr::new(0xfd00, 0x77, 0, 0, 0, 0, 0, 0), 32);

/// How long the bridge domain keeps a MAC not seen again: short, so that
/// the fuzzer's clock steps make entries go stale.
pub const MAC_AGE: Duration = Duration::from_secs(10);

/// The tables of the switch described in the module documentation, built
/// once: building them takes longer than running most inputs.
pub fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let mut b = TablesBuilder::new();
        // The prefixes are constants, all valid: only a bug here fails.
        build(&mut b).expect("the fuzzing network's prefixes are valid");
        b.build(1)
    })
}

fn build(b: &mut TablesBuilder) -> Result<(), crate::fib::FibError> {
    let mut uplink = InterfaceConfig::l3("uplink", switch_mac(UPLINK));
    uplink.mtu = UPLINK_MTU;
    uplink.ip4.push((UPLINK_IP4, 24));
    uplink.ip6.push((UPLINK_IP6, 64));
    uplink.ip6.push((UPLINK_LL6, 64));
    b.add_interface(uplink)?;
    for (index, name) in [(POD_A, "pod-a"), (POD_B, "pod-b")] {
        let mut pod = InterfaceConfig::l3(name, switch_mac(index));
        pod.ip4.push((POD_GATEWAY4, 32));
        pod.ip6.push((POD_GATEWAY6, 64));
        pod.source_check = true;
        b.add_interface(pod)?;
    }
    let bd = b.add_bridge_domain(BridgeDomainConfig {
        name: "bd".into(),
        ports: vec![BRIDGE_PORT_1, BRIDGE_PORT_2, BRIDGE_PORT_3],
        learn: true,
        flood: true,
        mac_age: MAC_AGE,
    });
    let ports = [
        (BRIDGE_PORT_1, "br-1"),
        (BRIDGE_PORT_2, "br-2"),
        (BRIDGE_PORT_3, "br-3"),
    ];
    for (index, name) in ports {
        let mut port = InterfaceConfig::l3(name, switch_mac(index));
        port.mode = InterfaceMode::Bridged(bd);
        b.add_interface(port)?;
    }
    let pair = [
        (XCONNECT_A, "xc-a", XCONNECT_B),
        (XCONNECT_B, "xc-b", XCONNECT_A),
    ];
    for (index, name, peer) in pair {
        let mut end = InterfaceConfig::l3(name, switch_mac(index));
        end.mode = InterfaceMode::CrossConnect(peer);
        b.add_interface(end)?;
    }

    let to_pod_a = Adjacency::Attached { interface: POD_A };
    let to_pod_b = Adjacency::Attached { interface: POD_B };
    b.add_route4(POD_A_IP4, 32, to_pod_a)?;
    b.add_route6(POD_A_IP6, 128, to_pod_a)?;
    b.add_route4(POD_B_IP4, 32, to_pod_b)?;
    b.add_route6(POD_B_IP6, 128, to_pod_b)?;
    for ip in [IpAddr::V4(POD_A_IP4), POD_A_IP6.into(), POD_A_LL6.into()] {
        b.add_neighbor(POD_A, ip, POD_A_MAC);
    }

    let via = |gateway: IpAddr| Adjacency::Via {
        interface: UPLINK,
        gateway,
    };
    b.add_route4(Ipv4Addr::UNSPECIFIED, 0, via(GATEWAY_IP4.into()))?;
    b.add_route6(Ipv6Addr::UNSPECIFIED, 0, via(GATEWAY_IP6.into()))?;
    b.add_route4(ROUTER_NET4.0, ROUTER_NET4.1, via(ROUTER_IP4.into()))?;
    b.add_route6(ROUTER_NET6.0, ROUTER_NET6.1, via(ROUTER_IP6.into()))?;
    b.add_neighbor(UPLINK, ROUTER_IP4.into(), ROUTER_MAC);
    b.add_neighbor(UPLINK, ROUTER_IP6.into(), ROUTER_MAC);

    b.add_route4(BLACKHOLE4.0, BLACKHOLE4.1, Adjacency::Drop)?;
    b.add_route6(BLACKHOLE6.0, BLACKHOLE6.1, Adjacency::Drop)?;
    b.add_route4(UNREACHABLE4.0, UNREACHABLE4.1, Adjacency::Unreachable)?;
    b.add_route6(UNREACHABLE6.0, UNREACHABLE6.1, Adjacency::Unreachable)?;
    Ok(())
}
