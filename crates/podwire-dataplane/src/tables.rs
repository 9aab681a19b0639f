//! The tables the control plane builds and publishes to the workers.
//!
//! A [`Tables`] value is immutable once built. The control plane builds a
//! new one with a [`TablesBuilder`] and swaps it in atomically
//! ([`crate::publish::TablePublisher`]); a worker picks the new version up
//! between two vectors, so the hot path reads it without a lock.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use hashbrown::HashMap;
use podwire_wire::ethernet::EthernetAddress;

use crate::fib::{FibError, Ip4Lpm, Ip6Lpm};
use crate::interface::{BridgeDomainId, IfIndex, InterfaceConfig, VxlanTunnel};

/// What to do with a packet whose destination matched a route.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Adjacency {
    /// Drop it silently (a blackhole route).
    Drop,
    /// Answer with ICMP destination unreachable.
    Unreachable,
    /// It is for the switch itself.
    Local,
    /// The destination is on the link of `interface`: send it there, to
    /// the destination's own MAC.
    Attached {
        /// The outgoing interface.
        interface: IfIndex,
    },
    /// Send it out of `interface` to the router `gateway`.
    Via {
        /// The outgoing interface.
        interface: IfIndex,
        /// The next hop.
        gateway: IpAddr,
    },
    /// Encapsulate it in VXLAN through the tunnel `interface` to the remote end
    /// `remote` (one of the tunnel's peers); the outer packet is routed by the FIB.
    Tunnel {
        /// The tunnel interface (its [`crate::interface::InterfaceConfig::vxlan`] is set).
        interface: IfIndex,
        /// The remote end of the tunnel.
        remote: IpAddr,
    },
}

/// A bridge domain: a set of L2 ports that switch frames between them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgeDomainConfig {
    /// The name the user knows it by.
    pub name: String,
    /// Its ports.
    pub ports: Vec<IfIndex>,
    /// Learn source MAC addresses.
    pub learn: bool,
    /// Flood frames to unknown destinations (and broadcast, always).
    pub flood: bool,
    /// How long a learned MAC address stays without being seen again.
    pub mac_age: Duration,
}

/// Everything the workers read, as of one generation.
#[derive(Clone, Debug, Default)]
pub struct Tables {
    /// Increases with each publication.
    pub generation: u64,
    /// The interfaces, by [`IfIndex`].
    pub interfaces: Vec<InterfaceConfig>,
    /// IPv4 routes: prefix → index into `adjacencies`.
    pub ip4: Ip4Lpm,
    /// IPv6 routes: prefix → index into `adjacencies`.
    pub ip6: Ip6Lpm,
    /// What routes lead to, shared between routes.
    pub adjacencies: Vec<Adjacency>,
    /// Neighbors the control plane knows (pods' MACs).
    pub neighbors: HashMap<(IfIndex, IpAddr), EthernetAddress>,
    /// Bridge domains, by [`BridgeDomainId`].
    pub bridge_domains: Vec<BridgeDomainConfig>,
    /// For each interface, the index of its `Attached` adjacency: where a
    /// node sends a packet back out of the link it came from (replies to
    /// link-local addresses, which no route covers).
    pub attached: Vec<u32>,
    /// The Services: frontends, endpoints, the node's NAT facts. Shared between versions
    /// of the tables: a change of pods does not copy it, a change of Services copies one
    /// shard of it.
    pub services: std::sync::Arc<crate::nat::service::ServiceTable>,
    /// The NetworkPolicies of the local pods.
    pub policies: std::sync::Arc<crate::policy::table::PolicyTable>,
    /// The VXLAN tunnel interfaces (those whose `vxlan` is set), for decapsulation to
    /// find the one a packet arrives by.
    pub tunnels: Vec<IfIndex>,
}

impl Tables {
    /// The configuration of an interface, if it exists.
    #[inline]
    pub fn interface(&self, i: IfIndex) -> Option<&InterfaceConfig> {
        self.interfaces.get(i.as_usize())
    }

    /// The route for an IPv4 destination.
    #[inline]
    pub fn route4(&self, dst: Ipv4Addr) -> Option<(u32, Adjacency)> {
        let i = self.ip4.lookup(dst)?;
        Some((i, *self.adjacencies.get(i as usize)?))
    }

    /// The route for an IPv6 destination.
    #[inline]
    pub fn route6(&self, dst: Ipv6Addr) -> Option<(u32, Adjacency)> {
        let i = self.ip6.lookup(dst)?;
        Some((i, *self.adjacencies.get(i as usize)?))
    }

    /// The index of the adjacency that sends out of `interface` to the
    /// packet's destination itself.
    #[inline]
    pub fn attached_adjacency(&self, interface: IfIndex) -> Option<u32> {
        self.attached.get(interface.as_usize()).copied()
    }

    /// Whether a VXLAN tunnel takes UDP datagrams to `port`: those go to `vxlan-input`
    /// rather than being answered with port unreachable.
    #[inline]
    pub fn is_vxlan_port(&self, port: u16) -> bool {
        self.tunnels_iter().any(|(_, t)| t.port == port)
    }

    /// The tunnel that ends on `local`, UDP port `port`: its interface and its
    /// configuration.
    pub fn tunnel_at(&self, local: IpAddr, port: u16) -> Option<(IfIndex, &VxlanTunnel)> {
        self.tunnels_iter()
            .find(|(_, t)| t.local == local && t.port == port)
    }

    fn tunnels_iter(&self) -> impl Iterator<Item = (IfIndex, &VxlanTunnel)> {
        self.tunnels.iter().filter_map(|&i| {
            let tunnel = self.interface(i)?.vxlan.as_ref()?;
            Some((i, tunnel))
        })
    }

    /// The adjacency at an index a lookup returned.
    #[inline]
    pub fn adjacency(&self, i: u32) -> Option<Adjacency> {
        self.adjacencies.get(i as usize).copied()
    }
}

/// Builds a [`Tables`]: interfaces, routes, neighbors, bridge domains. Cloning one is how a
/// control plane keeps a fixed part and renders the rest on top, again and again.
#[derive(Debug, Default, Clone)]
pub struct TablesBuilder {
    tables: Tables,
    adjacency_ids: HashMap<Adjacency, u32>,
}

impl TablesBuilder {
    /// An empty set of tables.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an interface, and with it a local route for each of its
    /// addresses and a connected route for each of its subnets.
    /// Link-local IPv6 addresses get no route: they are only answered on
    /// their own link.
    pub fn add_interface(&mut self, config: InterfaceConfig) -> Result<IfIndex, FibError> {
        let index = IfIndex(self.tables.interfaces.len() as u16);
        for &(addr, len) in &config.ip4 {
            self.add_route4(addr, 32, Adjacency::Local)?;
            if len < 32 {
                let net = mask4(addr, len);
                self.add_route4(net, len, Adjacency::Attached { interface: index })?;
            }
        }
        for &(addr, len) in &config.ip6 {
            if addr.is_unicast_link_local() {
                continue;
            }
            self.add_route6(addr, 128, Adjacency::Local)?;
            if len < 128 {
                let net = mask6(addr, len);
                self.add_route6(net, len, Adjacency::Attached { interface: index })?;
            }
        }
        if config.vxlan.is_some() {
            self.tables.tunnels.push(index);
        }
        self.tables.interfaces.push(config);
        let attached = self.adjacency_id(Adjacency::Attached { interface: index });
        self.tables.attached.push(attached);
        Ok(index)
    }

    /// How many interfaces it has so far: the index the next one gets.
    pub fn interface_count(&self) -> usize {
        self.tables.interfaces.len()
    }

    /// Routes an IPv4 prefix.
    pub fn add_route4(
        &mut self,
        prefix: Ipv4Addr,
        len: u8,
        adj: Adjacency,
    ) -> Result<(), FibError> {
        let id = self.adjacency_id(adj);
        self.tables.ip4.insert(prefix, len, id).map(drop)
    }

    /// Routes an IPv6 prefix.
    pub fn add_route6(
        &mut self,
        prefix: Ipv6Addr,
        len: u8,
        adj: Adjacency,
    ) -> Result<(), FibError> {
        let id = self.adjacency_id(adj);
        self.tables.ip6.insert(prefix, len, id).map(drop)
    }

    /// Says which MAC a neighbor has (a pod the control plane wired).
    pub fn add_neighbor(&mut self, interface: IfIndex, ip: IpAddr, mac: EthernetAddress) {
        self.tables.neighbors.insert((interface, ip), mac);
    }

    /// Adds a bridge domain.
    pub fn add_bridge_domain(&mut self, config: BridgeDomainConfig) -> BridgeDomainId {
        self.tables.bridge_domains.push(config);
        BridgeDomainId(self.tables.bridge_domains.len() as u16 - 1)
    }

    /// Sets the Services.
    pub fn set_services(&mut self, services: std::sync::Arc<crate::nat::service::ServiceTable>) {
        self.tables.services = services;
    }

    /// Sets the NetworkPolicies.
    pub fn set_policies(&mut self, policies: std::sync::Arc<crate::policy::table::PolicyTable>) {
        self.tables.policies = policies;
    }

    /// The tables, stamped with `generation`.
    pub fn build(mut self, generation: u64) -> Tables {
        self.tables.generation = generation;
        self.tables
    }

    fn adjacency_id(&mut self, adj: Adjacency) -> u32 {
        let next = self.tables.adjacencies.len() as u32;
        *self.adjacency_ids.entry(adj).or_insert_with(|| {
            self.tables.adjacencies.push(adj);
            next
        })
    }
}

/// The network of `addr` with a prefix of `len` bits.
pub fn mask4(addr: Ipv4Addr, len: u8) -> Ipv4Addr {
    let bits = u32::from(addr);
    let mask = u32::MAX
        .checked_shl(32 - u32::from(len.min(32)))
        .unwrap_or(0);
    Ipv4Addr::from(bits & mask)
}

/// The network of `addr` with a prefix of `len` bits.
pub fn mask6(addr: Ipv6Addr, len: u8) -> Ipv6Addr {
    let bits = u128::from(addr);
    let mask = u128::MAX
        .checked_shl(128 - u32::from(len.min(128)))
        .unwrap_or(0);
    Ipv6Addr::from(bits & mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interface_brings_its_local_and_connected_routes() {
        let mut b = TablesBuilder::new();
        let mut cfg = InterfaceConfig::l3("up0", EthernetAddress([2, 0, 0, 0, 0, 1]));
        cfg.ip4.push((Ipv4Addr::new(192, 168, 1, 1), 24));
        cfg.ip6.push(("fd00::1".parse().unwrap(), 64));
        cfg.ip6.push(("fe80::1".parse().unwrap(), 64));
        let i = b.add_interface(cfg).unwrap();
        let t = b.build(1);
        assert_eq!(
            t.route4(Ipv4Addr::new(192, 168, 1, 1)).map(|r| r.1),
            Some(Adjacency::Local)
        );
        assert_eq!(
            t.route4(Ipv4Addr::new(192, 168, 1, 7)).map(|r| r.1),
            Some(Adjacency::Attached { interface: i })
        );
        assert_eq!(t.route4(Ipv4Addr::new(10, 0, 0, 1)), None);
        assert_eq!(
            t.route6("fd00::1".parse().unwrap()).map(|r| r.1),
            Some(Adjacency::Local)
        );
        assert_eq!(t.route6("fe80::1".parse().unwrap()), None);
    }

    #[test]
    fn routes_share_adjacencies() {
        let mut b = TablesBuilder::new();
        let adj = Adjacency::Attached {
            interface: IfIndex(0),
        };
        b.add_route4(Ipv4Addr::new(10, 0, 0, 0), 8, adj).unwrap();
        b.add_route4(Ipv4Addr::new(11, 0, 0, 0), 8, adj).unwrap();
        assert_eq!(b.build(1).adjacencies.len(), 1);
    }

    #[test]
    fn masks() {
        assert_eq!(
            mask4(Ipv4Addr::new(10, 1, 2, 3), 16),
            Ipv4Addr::new(10, 1, 0, 0)
        );
        assert_eq!(mask4(Ipv4Addr::new(10, 1, 2, 3), 0), Ipv4Addr::UNSPECIFIED);
        assert_eq!(
            mask6("fd00::1".parse().unwrap(), 64),
            "fd00::".parse::<Ipv6Addr>().unwrap()
        );
    }
}
