//! The switch's side of pod attachments: interfaces that come and go while the node runs.
//!
//! The tables are rendered whole from the node's static part (what the config file wires at
//! start) and the attachments present, then published: there is no incremental edit to get
//! wrong. Each attachment holds one interface slot; a slot freed by a DEL is reused by later
//! ADDs, oldest first, so that an index a worker still has state for (learned neighbors, MACs)
//! is not handed out again at once.

use std::collections::VecDeque;
use std::net::IpAddr;

use podwire_dataplane::interface::{IfIndex, InterfaceConfig as SwitchInterface, InterfaceMode};
use podwire_dataplane::tables::{Adjacency, BridgeDomainConfig, Tables, TablesBuilder};
use podwire_model::attach::AttachmentKey;
use podwire_model::config::DEFAULT_MAC_AGE;
use podwire_wire::ethernet::EthernetAddress;

use crate::node::Peer;
use crate::node::l2::L2Modes;
use crate::node::tunnels::RemoteRoute;

/// One attachment's interface in the switch.
#[derive(Clone, Debug)]
pub struct PodInterface {
    /// Which attachment.
    pub key: AttachmentKey,
    /// The switch's interface (routed: with the gateway addresses and source check).
    pub interface: SwitchInterface,
    /// The pod's addresses, routed to this interface (routed networks).
    pub routes: Vec<IpAddr>,
    /// The pod's MAC, known to the switch without ARP (tap and veth).
    pub pod_mac: Option<EthernetAddress>,
    /// The bridged network whose bridge domain it is a port of.
    pub bridge: Option<String>,
    /// For `show interfaces`.
    pub kind: &'static str,
    /// For `show interfaces`.
    pub peer: Peer,
}

/// The static tables and the attachments' slots, rendered into [`Tables`] on each change.
pub struct DynamicTables {
    base: TablesBuilder,
    l2: L2Modes,
    first: u16,
    slots: Vec<Option<PodInterface>>,
    free: VecDeque<usize>,
    bridged_networks: Vec<String>,
    tunnel: Option<TunnelRoutes>,
    generation: u64,
}

/// The VXLAN tunnel's interface and the routes through it to the other nodes.
struct TunnelRoutes {
    interface: IfIndex,
    routes: Vec<RemoteRoute>,
}

/// What a change of the routes to other nodes did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RouteChange {
    /// Routes added.
    pub added: usize,
    /// Routes removed.
    pub removed: usize,
}

impl DynamicTables {
    /// Starts from `base` (the static interfaces, routes and bridge domains, with `l2` the
    /// modes of its L2 interfaces); attachments get indices from `first` on. Each of
    /// `bridged_networks` gets a bridge domain of its own.
    pub fn new(
        base: TablesBuilder,
        l2: L2Modes,
        first: u16,
        bridged_networks: Vec<String>,
    ) -> Self {
        DynamicTables {
            base,
            l2,
            first,
            slots: Vec::new(),
            free: VecDeque::new(),
            bridged_networks,
            tunnel: None,
            generation: 0,
        }
    }

    /// Routes to other nodes go through the tunnel interface `interface` (of the static part).
    pub fn set_tunnel(&mut self, interface: IfIndex) {
        self.tunnel = Some(TunnelRoutes {
            interface,
            routes: Vec::new(),
        });
    }

    /// Replaces the routes to the other nodes (sorted, as [`crate::node::tunnels::render`] makes them);
    /// what changed, or `None` when nothing did (or the node has no tunnel). Render after.
    pub fn set_remote_routes(&mut self, routes: Vec<RemoteRoute>) -> Option<RouteChange> {
        let tunnel = self.tunnel.as_mut()?;
        if tunnel.routes == routes {
            return None;
        }
        let change = RouteChange {
            added: routes.iter().filter(|r| !tunnel.routes.contains(r)).count(),
            removed: tunnel.routes.iter().filter(|r| !routes.contains(r)).count(),
        };
        tunnel.routes = routes;
        Some(change)
    }

    /// The index the next [`DynamicTables::insert`] will use, or `None` when every index is
    /// taken.
    pub fn next_index(&self) -> Option<IfIndex> {
        match self.free.front() {
            Some(&slot) => Some(self.index_of(slot)),
            None => {
                let index = usize::from(self.first) + self.slots.len();
                (index < usize::from(IfIndex::INVALID.0)).then_some(IfIndex(index as u16))
            }
        }
    }

    /// Takes the slot [`DynamicTables::next_index`] named.
    pub fn insert(&mut self, pod: PodInterface) -> IfIndex {
        match self.free.pop_front() {
            Some(slot) => {
                self.slots[slot] = Some(pod);
                self.index_of(slot)
            }
            None => {
                self.slots.push(Some(pod));
                self.index_of(self.slots.len() - 1)
            }
        }
    }

    /// Frees the slot of `key`; its index, if it had one.
    pub fn remove(&mut self, key: &AttachmentKey) -> Option<IfIndex> {
        let slot = self
            .slots
            .iter()
            .position(|s| s.as_ref().is_some_and(|p| &p.key == key))?;
        self.slots[slot] = None;
        self.free.push_back(slot);
        Some(self.index_of(slot))
    }

    /// The attachments' interfaces with their indices.
    pub fn ports(&self) -> impl Iterator<Item = (IfIndex, &PodInterface)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|p| (self.index_of(i), p)))
    }

    /// Replaces the Services (they are shared, not copied, by each rendering) and renders.
    pub fn set_services(
        &mut self,
        services: std::sync::Arc<podwire_dataplane::nat::service::ServiceTable>,
    ) -> Tables {
        self.base.set_services(services);
        self.render()
    }

    /// Replaces the NetworkPolicies (shared, not copied, by each rendering) and renders.
    pub fn set_policies(
        &mut self,
        policies: std::sync::Arc<podwire_dataplane::policy::table::PolicyTable>,
    ) -> Tables {
        self.base.set_policies(policies);
        self.render()
    }

    /// The tables: the static part, then every slot (a free one as an interface that accepts
    /// nothing), then the bridged networks' bridge domains.
    pub fn render(&mut self) -> Tables {
        let mut tables = self.base.clone();
        for slot in &self.slots {
            let index = match slot {
                Some(pod) => add_pod(&mut tables, pod),
                None => tables.add_interface(vacant()),
            };
            debug_assert!(index.is_ok(), "pod routes are host routes and always fit");
        }
        if let Some(tunnel) = &self.tunnel {
            for route in &tunnel.routes {
                let adj = Adjacency::Tunnel {
                    interface: tunnel.interface,
                    remote: route.remote,
                };
                let added = match route.cidr.addr() {
                    IpAddr::V4(a) => tables.add_route4(a, route.cidr.prefix_len(), adj),
                    IpAddr::V6(a) => tables.add_route6(a, route.cidr.prefix_len(), adj),
                };
                debug_assert!(added.is_ok(), "tunnels::render refuses overlapping CIDRs");
            }
        }
        let mut modes = Vec::new();
        for network in &self.bridged_networks {
            let ports: Vec<IfIndex> = self
                .ports()
                .filter(|(_, p)| p.bridge.as_ref() == Some(network))
                .map(|(i, _)| i)
                .collect();
            let id = tables.add_bridge_domain(BridgeDomainConfig {
                name: network.clone(),
                ports: ports.clone(),
                learn: true,
                flood: true,
                mac_age: DEFAULT_MAC_AGE,
            });
            modes.extend(ports.into_iter().map(|p| (p, InterfaceMode::Bridged(id))));
        }
        self.generation += 1;
        let mut tables = tables.build(self.generation);
        self.l2.apply(&mut tables);
        if let Some(tunnel) = &self.tunnel {
            let vxlan = tables
                .interfaces
                .get_mut(tunnel.interface.as_usize())
                .and_then(|i| i.vxlan.as_mut());
            if let Some(vxlan) = vxlan {
                vxlan.peers = tunnel.routes.iter().map(|r| r.remote).collect();
                vxlan.peers.sort();
                vxlan.peers.dedup();
            }
        }
        for (index, mode) in modes {
            if let Some(interface) = tables.interfaces.get_mut(index.as_usize()) {
                interface.mode = mode;
            }
        }
        tables
    }

    fn index_of(&self, slot: usize) -> IfIndex {
        IfIndex(self.first + slot as u16)
    }
}

/// Adds a pod's interface, its host routes and its MAC.
fn add_pod(
    tables: &mut TablesBuilder,
    pod: &PodInterface,
) -> Result<IfIndex, podwire_dataplane::fib::FibError> {
    let index = tables.add_interface(pod.interface.clone())?;
    for &ip in &pod.routes {
        let adj = Adjacency::Attached { interface: index };
        match ip {
            IpAddr::V4(a) => tables.add_route4(a, 32, adj)?,
            IpAddr::V6(a) => tables.add_route6(a, 128, adj)?,
        }
        if let Some(mac) = pod.pod_mac {
            tables.add_neighbor(index, ip, mac);
        }
    }
    Ok(index)
}

/// A free slot: no port is attached to it and nothing routes to it; were a frame to arrive,
/// the source check would drop it (no route leads back to it).
fn vacant() -> SwitchInterface {
    let mut interface = SwitchInterface::l3("(free)", EthernetAddress([0x02, 0, 0, 0, 0, 0]));
    interface.source_check = true;
    interface
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> AttachmentKey {
        AttachmentKey {
            network: "n".into(),
            container_id: id.into(),
            ifname: "eth0".into(),
        }
    }

    fn pod(id: &str, ip: &str, bridge: Option<&str>) -> PodInterface {
        PodInterface {
            key: key(id),
            interface: SwitchInterface::l3(id, EthernetAddress([2, 0, 0, 0, 0, 1])),
            routes: vec![ip.parse().unwrap()],
            pod_mac: Some(EthernetAddress([2, 0, 0, 0, 0, 2])),
            bridge: bridge.map(Into::into),
            kind: "tap",
            peer: Peer::Kernel(id.into()),
        }
    }

    fn dynamic(bridged: &[&str]) -> DynamicTables {
        let mut base = TablesBuilder::new();
        base.add_interface(SwitchInterface::l3(
            "uplink",
            EthernetAddress([2, 0, 0, 0, 0, 9]),
        ))
        .unwrap();
        DynamicTables::new(
            base,
            L2Modes::default(),
            1,
            bridged.iter().map(|s| s.to_string()).collect(),
        )
    }

    #[test]
    fn pods_are_routed_after_the_static_interfaces_and_leave_without_a_trace() {
        let mut d = dynamic(&[]);
        assert_eq!(d.next_index(), Some(IfIndex(1)));
        let a = d.insert(pod("a", "10.0.0.2", None));
        let b = d.insert(pod("b", "10.0.0.3", None));
        assert_eq!((a, b), (IfIndex(1), IfIndex(2)));
        let t = d.render();
        assert_eq!(
            t.route4("10.0.0.3".parse().unwrap()).unwrap().1,
            Adjacency::Attached { interface: b }
        );
        assert_eq!(t.interfaces.len(), 3);

        assert_eq!(d.remove(&key("a")), Some(a));
        let t = d.render();
        assert!(
            t.route4("10.0.0.2".parse().unwrap()).is_none(),
            "a's route went with it"
        );
        assert!(t.neighbors.keys().all(|(i, _)| *i != a));
        assert_eq!(t.interfaces.len(), 3, "b keeps its index");
        assert_eq!(t.interfaces[a.as_usize()].name, "(free)");
        assert!(t.generation > 1);
    }

    #[test]
    fn freed_slots_are_reused_oldest_first() {
        let mut d = dynamic(&[]);
        for (id, ip) in [("a", "10.0.0.2"), ("b", "10.0.0.3"), ("c", "10.0.0.4")] {
            d.insert(pod(id, ip, None));
        }
        d.remove(&key("c"));
        d.remove(&key("a"));
        assert_eq!(d.next_index(), Some(IfIndex(3)), "c was freed first");
        assert_eq!(d.insert(pod("d", "10.0.0.5", None)), IfIndex(3));
        assert_eq!(d.insert(pod("e", "10.0.0.6", None)), IfIndex(1));
        assert_eq!(d.insert(pod("f", "10.0.0.7", None)), IfIndex(4));
    }

    #[test]
    fn bridged_pods_are_ports_of_their_networks_bridge_domain() {
        let mut d = dynamic(&["l2a"]);
        let a = d.insert(pod("a", "10.0.0.2", Some("l2a")));
        let b = d.insert(pod("b", "10.0.0.3", Some("l2a")));
        let t = d.render();
        assert_eq!(t.bridge_domains.len(), 1);
        assert_eq!(t.bridge_domains[0].ports, [a, b]);
        assert!(matches!(
            t.interfaces[a.as_usize()].mode,
            InterfaceMode::Bridged(_)
        ));
    }
}
