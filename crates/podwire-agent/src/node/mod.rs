//! A running node: the data plane built from the config, its interfaces
//! wired to the kernel, its workers started.
//!
//! [`Node::start`] does everything or nothing: the interfaces it makes are
//! owned by values that remove them when dropped (a tap disappears when its
//! descriptor closes), so a failure half-way unwinds what was done.

mod attach;
mod cluster;
mod control;
mod join;
mod l2;
mod mac;
mod memif;
mod pods;
mod policy;
mod services;
mod tunnels;
mod uplink;

use core::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use podwire_dataplane::fib::FibError;
use podwire_dataplane::interface::{IfIndex, InterfaceConfig as SwitchInterface, TxOffloads};
use podwire_dataplane::publish::TablePublisher;
use podwire_dataplane::tables::{Adjacency, Tables, TablesBuilder};
use podwire_io::netlink::{self, Netlink};
use podwire_io::netns::{self, NetNs};
use podwire_io::tap::{self, Tap};
use podwire_io::worker::memif::MemifPortError;
use podwire_io::worker::{RxPort, TapPort, TxPort, WorkerConfig, WorkerError, Workers};
use podwire_model::config::{
    Config, Device, HostConfig, InterfaceConfig, KernelInterface, MemifConfig,
    POD_GATEWAY_V4 as POD_GATEWAY4, POD_GATEWAY_V6 as POD_GATEWAY6,
};
use podwire_wire::ethernet::EthernetAddress;

pub use join::ObjectStore;
pub use mac::{derived_mac, stable_hash};
pub use memif::MemifLink;

/// Why a node could not be started.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A network namespace named in the config is not there.
    #[error(
        "{what}: cannot open network namespace {path}: {source}; create it first (ip netns add NAME)"
    )]
    Netns {
        /// Who needs it.
        what: String,
        /// Where it was looked for.
        path: String,
        /// Why it failed.
        source: netns::Error,
    },
    /// A tap could not be made.
    #[error("{what}: {source}")]
    Tap {
        /// Which one.
        what: String,
        /// Why.
        source: tap::Error,
    },
    /// The kernel refused a link, address or route change.
    #[error("{what}: {source}")]
    Netlink {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: netlink::Error,
    },
    /// A kernel setting could not be changed.
    #[error("{what}: {source}")]
    Sysctl {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: podwire_io::sysctl::Error,
    },
    /// A route names an interface the node does not have.
    #[error("{what}: there is no interface, pod or host interface named {interface:?}")]
    UnknownInterface {
        /// Which route.
        what: String,
        /// The name it gives.
        interface: String,
    },
    /// An AF_PACKET socket could not be opened.
    #[error("interface {name}: cannot attach {host_interface} with AF_PACKET: {source}")]
    AfPacket {
        /// podwire's name.
        name: String,
        /// The kernel interface.
        host_interface: String,
        /// Why.
        source: podwire_io::af_packet::Error,
    },
    /// A memif interface's socket could not be set up.
    #[error(transparent)]
    Memif(#[from] MemifPortError),
    /// A route could not be added.
    #[error("{what}: {source}")]
    Route {
        /// Which route.
        what: String,
        /// Why.
        source: FibError,
    },
    /// The workers could not be started.
    #[error(transparent)]
    Workers(#[from] WorkerError),
    /// The pod attachments of an earlier run could not be loaded.
    #[error("cannot load the pod attachments: {0}")]
    Attachments(Box<crate::attachments::RegistryError>),
    /// The cluster objects of an earlier run could not be loaded.
    #[error("cannot load the cluster objects: {0}")]
    Cluster(Box<crate::cluster::ClusterError>),
}

fn netlink_err(what: impl Into<String>) -> impl FnOnce(netlink::Error) -> NodeError {
    let what = what.into();
    move |source| NodeError::Netlink { what, source }
}

fn route_err(what: impl Into<String>) -> impl FnOnce(FibError) -> NodeError {
    let what = what.into();
    move |source| NodeError::Route { what, source }
}

/// What an interface of the switch is attached to, for `show interfaces`.
#[derive(Clone, Debug)]
pub struct SwitchPort {
    /// podwire's name for it.
    pub name: String,
    /// Its index in the tables.
    pub index: IfIndex,
    /// The driver: "tap", "af-packet", "af-xdp native", "af-xdp generic", "af-packet (af-xdp
    /// refused)", "memif" or "host".
    pub kind: &'static str,
    /// What is at the other end.
    pub peer: Peer,
}

/// What is at the other end of an interface.
#[derive(Clone, Debug)]
pub enum Peer {
    /// A kernel interface, always there: `netns/ifname` or its name.
    Kernel(String),
    /// A memif connection, up while a peer is connected.
    Memif(MemifLink),
}

impl Peer {
    /// Whether the interface passes traffic, and what is at its other end.
    pub fn describe(&self) -> (bool, String) {
        match self {
            Peer::Kernel(name) => (true, name.clone()),
            Peer::Memif(link) => link.describe(),
        }
    }
}

/// A running node.
pub struct Node {
    name: String,
    publisher: TablePublisher,
    workers: Workers,
    /// The interfaces the config file wires.
    attachments: Vec<SwitchPort>,
    /// The tables, rendered from the static part and the pod attachments present.
    dynamic: std::sync::Mutex<attach::DynamicTables>,
    /// The pod networks, when the config has any.
    pods: Option<attach::PodNetworks>,
    /// The cluster objects (Namespaces, Pods, Services, EndpointSlices, NetworkPolicies)
    /// this node knows.
    cluster: std::sync::Mutex<crate::cluster::Cluster>,
    /// The NetworkPolicies in the data plane.
    policies: std::sync::Mutex<policy::Policies>,
    /// The Services in the data plane.
    services: std::sync::Mutex<crate::services::render::ServiceRenderer>,
    /// The health-check node ports served.
    health: std::sync::Mutex<crate::services::health::HealthChecks>,
    /// This node's part of a cluster (`[cluster]` with etcd or Kubernetes).
    membership: Option<join::Membership>,
    /// The recent changes of the store and what they did.
    transactions: std::sync::Mutex<crate::reconcile::transactions::TransactionLog>,
    /// Where `podwire ctl apply` changes the objects; local until the daemon says otherwise.
    object_store: std::sync::OnceLock<ObjectStore>,
    started: std::time::Instant,
}

/// What a node is built from before it runs: the tables, and the ports
/// made so far, attached to the workers once the tables are published.
#[derive(Default)]
struct Build {
    tables: TablesBuilder,
    ports: Vec<PendingPort>,
    /// The MTU of each `[[interface]]` as attached, by name.
    mtus: std::collections::HashMap<String, u16>,
}

/// An interface's two sides, waiting to be handed to the workers.
struct PendingPort {
    index: IfIndex,
    /// One receive queue, or one per worker.
    rx: Vec<Box<dyn RxPort>>,
    tx: Arc<dyn TxPort>,
}

/// What an `[[interface]]` is attached to, before it joins the tables.
struct Attached {
    mac: EthernetAddress,
    mtu: u16,
    /// One receive queue, or one per worker.
    rx: Vec<Box<dyn RxPort>>,
    tx: Arc<dyn TxPort>,
    /// The driver, as `show interfaces` names it.
    kind: &'static str,
    peer: Peer,
    /// What the device finishes for packets sent on it.
    offloads: TxOffloads,
}

impl Node {
    /// Builds the data plane from `config`, wires every interface and pod,
    /// and starts the workers.
    pub async fn start(config: &Config) -> Result<Node, NodeError> {
        let publisher = TablePublisher::new(Tables::default());
        let workers = Workers::start(
            config.node.workers as usize,
            WorkerConfig {
                buffers: config.node.buffers_per_worker,
                sessions: services::session_config(&config.services),
                vxlan_port: config
                    .cluster
                    .join
                    .as_ref()
                    .map_or(WorkerConfig::default().vxlan_port, |join| join.vxlan_port),
                ..WorkerConfig::default()
            },
            &publisher,
        )?;
        // Opened first: a registry that cannot be read must stop the node before it touches
        // anything (it would hand out addresses twice).
        let pods = match config.networks.is_empty() {
            true => None,
            false => Some(
                attach::PodNetworks::open(config.networks.clone(), &config.node.state_dir)
                    .map_err(|e| NodeError::Attachments(Box::new(e)))?,
            ),
        };
        let cluster = crate::cluster::Cluster::open(
            &config.node.state_dir,
            podwire_k8s::services::NodeContext {
                node_name: config.node.name.clone(),
            },
        )
        .map_err(|e| NodeError::Cluster(Box::new(e)))?;
        let mut node = Node {
            name: config.node.name.clone(),
            publisher,
            workers,
            attachments: Vec::new(),
            dynamic: std::sync::Mutex::new(attach::DynamicTables::new(
                TablesBuilder::new(),
                l2::L2Modes::default(),
                0,
                Vec::new(),
            )),
            pods,
            cluster: std::sync::Mutex::new(cluster),
            policies: Default::default(),
            services: std::sync::Mutex::new(crate::services::render::ServiceRenderer::new(
                Default::default(),
            )),
            health: Default::default(),
            membership: None,
            transactions: Default::default(),
            object_store: std::sync::OnceLock::new(),
            started: std::time::Instant::now(),
        };
        let mut build = Build::default();
        for interface in &config.interfaces {
            let masquerade = (config.services.masquerade_interfaces).contains(&interface.name);
            node.attach_interface(&mut build, interface, masquerade)
                .await?;
        }
        if let Some(join) = &config.cluster.join {
            // Validated: the uplink is one of the interfaces.
            let uplink_mtu = build.mtus.get(&join.uplink).copied().unwrap_or(1500);
            let member = node.join_cluster(&mut build.tables, join, config, uplink_mtu)?;
            node.membership = Some(member);
        }
        // Pods' MTUs fit where their traffic leaves, known now that the interfaces are up.
        let tunnel = node.membership.as_ref().map(|m| &m.tunnel);
        let exits = attach::pod_exits(config, &build.mtus, tunnel);
        if let Some(pods) = &mut node.pods {
            pods.decide_mtu(&exits);
        }
        if let Some(host) = &config.host {
            node.attach_host(&mut build, host, &config.services.cidrs)
                .await?;
        }
        for pod in &config.pods {
            let wired = pods::wire(&node.name, pod, &exits).await?;
            node.attach_pod(&mut build, pod, wired)?;
        }
        for (i, route) in config.routes.iter().enumerate() {
            let what = format!("route[{i}] {}", route.prefix);
            let interface =
                node.index(&route.interface)
                    .ok_or_else(|| NodeError::UnknownInterface {
                        what: what.clone(),
                        interface: route.interface.clone(),
                    })?;
            let adj = match route.via {
                Some(gateway) => Adjacency::Via { interface, gateway },
                None => Adjacency::Attached { interface },
            };
            add_route(
                &mut build.tables,
                route.prefix.addr(),
                route.prefix.prefix_len(),
                adj,
            )
            .map_err(route_err(what))?;
        }
        if let Some(pods) = &node.pods {
            pod_cidrs_unreachable(&mut build.tables, pods.networks())?;
        }
        let l2 = l2::add_bridge_domains(&mut build.tables, config, |name| node.index(name))?;
        let host = config.host.as_ref().and_then(|h| node.index(&h.interface));
        let renderer =
            crate::services::render::ServiceRenderer::new(services::node_nat(config, host));
        build.tables.set_services(renderer.table());
        *node.services.get_mut().unwrap_or_else(|e| e.into_inner()) = renderer;
        let first = u16::try_from(build.tables.interface_count()).unwrap_or(u16::MAX);
        let bridged = node.pods.as_ref().map(|p| p.bridged()).unwrap_or_default();
        let mut dynamic = attach::DynamicTables::new(build.tables, l2, first, bridged);
        if let Some(member) = &node.membership {
            dynamic.set_tunnel(member.interface);
        }
        node.publisher.publish(dynamic.render());
        *node.dynamic.get_mut().unwrap_or_else(|e| e.into_inner()) = dynamic;
        // Receive only once the tables know every interface: a frame
        // that came earlier would be dropped as from an unknown one.
        for PendingPort { index, rx, tx } in build.ports {
            node.workers.attach_queues(index, rx, tx);
        }
        node.restore_attachments().await;
        node.render_cluster();
        Ok(node)
    }

    /// The index of the interface, pod or host interface `name`.
    fn index(&self, name: &str) -> Option<IfIndex> {
        self.attachments
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.index)
    }

    /// Attaches an `[[interface]]`, routed (with its addresses) or L2 (its
    /// mode is set once every interface has its index).
    async fn attach_interface(
        &mut self,
        build: &mut Build,
        config: &InterfaceConfig,
        masquerade: bool,
    ) -> Result<(), NodeError> {
        let attached = match &config.device {
            Device::AfPacket(kernel) | Device::Tap(kernel) => {
                self.attach_kernel(config, kernel).await?
            }
            Device::AfXdp(xdp) => self.attach_kernel(config, &xdp.kernel).await?,
            Device::Memif(memif) => self.attach_memif(config, memif)?,
        };
        let mut switch = SwitchInterface::l3(&config.name, attached.mac);
        switch.mtu = attached.mtu;
        switch.offloads = attached.offloads;
        build.mtus.insert(config.name.clone(), attached.mtu);
        switch.masquerade = masquerade;
        for cidr in &config.addresses {
            push_address(&mut switch, cidr.addr(), cidr.prefix_len());
        }
        let index = build
            .tables
            .add_interface(switch)
            .map_err(route_err(format!("interface {} addresses", config.name)))?;
        build.ports.push(PendingPort {
            index,
            rx: attached.rx,
            tx: attached.tx,
        });
        self.attachments.push(SwitchPort {
            name: config.name.clone(),
            index,
            kind: attached.kind,
            peer: attached.peer,
        });
        Ok(())
    }

    /// An existing kernel interface with AF_PACKET or AF_XDP, or a tap podwire makes (in the
    /// interface's namespace).
    async fn attach_kernel(
        &self,
        config: &InterfaceConfig,
        kernel: &KernelInterface,
    ) -> Result<Attached, NodeError> {
        let what = format!("interface {}", config.name);
        let ns = match &kernel.netns {
            Some(n) => NetNs::open(n.path()).map_err(|source| NodeError::Netns {
                what: what.clone(),
                path: n.path().display().to_string(),
                source,
            })?,
            None => NetNs::current().map_err(|source| NodeError::Netns {
                what: what.clone(),
                path: "the current namespace".into(),
                source,
            })?,
        };
        let host_if = kernel.name.clone();
        let nl = Netlink::connect_in(&ns).map_err(netlink_err(&what))?;
        let what = format!("{what}: kernel interface {host_if}");
        let tap = match config.device {
            Device::Tap(_) => {
                let name = host_if.clone();
                let (tap, offloads) = ns
                    .run_in(move || offload_tap(&name))
                    .map_err(|source| uplink::in_ns(&config.name, source))?
                    .map_err(|source| NodeError::Tap {
                        what: what.clone(),
                        source,
                    })?;
                Some((Arc::new(tap), offloads))
            }
            _ => None,
        };
        if let Some(mtu) = config.mtu {
            nl.set_mtu(&host_if, mtu)
                .await
                .map_err(netlink_err(&what))?;
        }
        let mtu = nl.mtu(&host_if).await.map_err(netlink_err(&what))?;
        let mtu = mtu.min(u32::from(u16::MAX)) as u16;
        nl.set_up(&host_if).await.map_err(netlink_err(&what))?;
        let workers = self.workers.count();
        let (ports, mac) = match (tap, &config.device) {
            (Some((tap, offloads)), _) => {
                let ports = uplink::UplinkPorts {
                    rx: vec![Box::new(TapPort::new(tap.clone()))],
                    tx: tap,
                    driver: "tap",
                    offloads,
                };
                (ports, derived_mac(&[&self.name, &config.name, "switch"]))
            }
            (None, device) => {
                let ports = match device {
                    Device::AfXdp(xdp) => {
                        uplink::af_xdp_or_packet(&ns, &config.name, xdp, mtu, workers)?
                    }
                    _ => uplink::af_packet(&ns, &config.name, &host_if, workers)?,
                };
                let mac = nl.mac(&host_if).await.map_err(netlink_err(&what))?;
                (ports, mac.into())
            }
        };
        Ok(Attached {
            mac,
            mtu,
            rx: ports.rx,
            tx: ports.tx,
            kind: ports.driver,
            peer: Peer::Kernel(host_if),
            offloads: ports.offloads,
        })
    }

    /// A memif interface: its socket, served or connected to by the worker
    /// that polls it.
    fn attach_memif(
        &self,
        config: &InterfaceConfig,
        memif: &MemifConfig,
    ) -> Result<Attached, NodeError> {
        let mtu = config
            .mtu
            .unwrap_or(DEFAULT_MEMIF_MTU)
            .min(u32::from(u16::MAX)) as u16;
        let port = memif::open(&config.name, mtu, memif)?;
        Ok(Attached {
            mac: derived_mac(&[&self.name, &config.name, "switch"]),
            mtu,
            rx: vec![Box::new(port.rx)],
            tx: port.tx,
            kind: "memif",
            peer: Peer::Memif(MemifLink::new(memif, port.status)),
            // Nothing to hand a checksum or a segment to: the peer takes whole packets.
            offloads: TxOffloads::default(),
        })
    }

    /// The host's tap, with routes into the switch for `host.routes` and the Service CIDRs
    /// (so that processes on the node reach ClusterIPs without kube-proxy).
    async fn attach_host(
        &mut self,
        build: &mut Build,
        host: &HostConfig,
        service_cidrs: &[podwire_model::Cidr],
    ) -> Result<(), NodeError> {
        let what = format!("host interface {}", host.interface);
        let (tap, offloads) = offload_tap(&host.interface).map_err(|source| NodeError::Tap {
            what: what.clone(),
            source,
        })?;
        let host_mac = derived_mac(&[&self.name, &host.interface, "host"]);
        let switch_mac = derived_mac(&[&self.name, &host.interface, "switch"]);
        let nl = Netlink::connect().map_err(netlink_err(&what))?;
        nl.set_mac(&host.interface, host_mac.0)
            .await
            .map_err(netlink_err(&what))?;
        let here = NetNs::current().map_err(|source| NodeError::Netns {
            what: what.clone(),
            path: "the current namespace".into(),
            source,
        })?;
        podwire_io::sysctl::disable_ipv6_dad(&here, &host.interface).map_err(|source| {
            NodeError::Sysctl {
                what: what.clone(),
                source,
            }
        })?;
        nl.set_up(&host.interface)
            .await
            .map_err(netlink_err(&what))?;

        let mut switch = SwitchInterface::l3(host.interface.clone(), switch_mac);
        switch.ip4.push((POD_GATEWAY4, 32));
        switch.ip6.push((POD_GATEWAY6, 64));
        switch.offloads = offloads;
        let index = build
            .tables
            .add_interface(switch)
            .map_err(route_err(what.clone()))?;
        if let Some(a4) = host.address4 {
            nl.add_address(&host.interface, a4.into(), 32)
                .await
                .map_err(netlink_err(&what))?;
            add_route(
                &mut build.tables,
                a4.into(),
                32,
                Adjacency::Attached { interface: index },
            )
            .map_err(route_err(what.clone()))?;
            build.tables.add_neighbor(index, a4.into(), host_mac);
        }
        if let Some(a6) = host.address6 {
            nl.add_address(&host.interface, a6.into(), 128)
                .await
                .map_err(netlink_err(&what))?;
            add_route(
                &mut build.tables,
                a6.into(),
                128,
                Adjacency::Attached { interface: index },
            )
            .map_err(route_err(what.clone()))?;
            build.tables.add_neighbor(index, a6.into(), host_mac);
        }
        let extra = service_cidrs.iter().filter(|c| !host.routes.contains(c));
        for cidr in host.routes.iter().chain(extra) {
            let (gateway, src): (IpAddr, Option<IpAddr>) = match cidr.addr() {
                IpAddr::V4(_) => (POD_GATEWAY4.into(), host.address4.map(Into::into)),
                IpAddr::V6(_) => (POD_GATEWAY6.into(), host.address6.map(Into::into)),
            };
            let mut route = netlink::Route::new(cidr.addr(), cidr.prefix_len());
            route.gateway = Some(gateway);
            route.dev = Some(&host.interface);
            route.onlink = true;
            route.src = src;
            nl.add_route(&route)
                .await
                .map_err(netlink_err(format!("{what}: route {cidr}")))?;
        }
        let tap = Arc::new(tap);
        build.ports.push(PendingPort {
            index,
            rx: vec![Box::new(TapPort::new(tap.clone()))],
            tx: tap,
        });
        self.attachments.push(SwitchPort {
            name: host.interface.clone(),
            index,
            kind: "host",
            peer: Peer::Kernel(host.interface.clone()),
        });
        Ok(())
    }

    fn attach_pod(
        &mut self,
        build: &mut Build,
        pod: &podwire_model::config::PodConfig,
        wired: pods::WiredPod,
    ) -> Result<(), NodeError> {
        let what = format!("pod {}", pod.name);
        let mut switch = SwitchInterface::l3(pod.name.clone(), wired.switch_mac);
        switch.mtu = wired.mtu;
        switch.ip4.push((POD_GATEWAY4, 32));
        switch.ip6.push((POD_GATEWAY6, 64));
        switch.source_check = true;
        switch.offloads = attach::offer_offloads(&wired.tap);
        let index = build
            .tables
            .add_interface(switch)
            .map_err(route_err(what.clone()))?;
        for &addr in &pod.addresses {
            let len = if addr.is_ipv4() { 32 } else { 128 };
            add_route(
                &mut build.tables,
                addr,
                len,
                Adjacency::Attached { interface: index },
            )
            .map_err(route_err(format!("{what}: address {addr}")))?;
            build.tables.add_neighbor(index, addr, wired.pod_mac);
        }
        let tap = Arc::new(wired.tap);
        build.ports.push(PendingPort {
            index,
            rx: vec![Box::new(TapPort::new(tap.clone()))],
            tx: tap,
        });
        self.attachments.push(SwitchPort {
            name: pod.name.clone(),
            index,
            kind: "tap",
            peer: Peer::Kernel(format!("{}/{}", pod.netns.path().display(), pod.interface)),
        });
        Ok(())
    }

    /// Stops the workers; the interfaces podwire made disappear with them.
    pub fn stop(self) {
        self.workers.stop();
    }

    /// Where `podwire ctl apply` changes the cluster objects from now on (set once, by the
    /// daemon, before it serves the API; local otherwise).
    pub fn set_object_store(&self, store: ObjectStore) {
        if self.object_store.set(store).is_err() {
            tracing::warn!("the object store was set twice; the first one stays");
        }
    }

    fn object_store(&self) -> &ObjectStore {
        self.object_store.get().unwrap_or(&ObjectStore::Local)
    }

    /// How long the node has run.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }
}

/// Makes the tap `name` in the calling thread's namespace as pods' taps are made, so that
/// TCP between the node and its pods crosses the switch as 64 KiB segments: with the
/// virtio-net header, offered the offloads. The tap, and what its kernel accepted.
fn offload_tap(name: &str) -> Result<(Tap, TxOffloads), tap::Error> {
    let tap = Tap::create_with(name, &attach::offload_tap_options(false, false))?;
    let offloads = attach::offer_offloads(&tap);
    Ok((tap, offloads))
}

/// The IP MTU of a memif interface whose config names none.
const DEFAULT_MEMIF_MTU: u32 = 1500;

fn push_address(switch: &mut SwitchInterface, addr: IpAddr, len: u8) {
    match addr {
        IpAddr::V4(a) => switch.ip4.push((a, len)),
        IpAddr::V6(a) => switch.ip6.push((a, len)),
    }
}

/// Routes each routed network's pod CIDRs to "unreachable": an address no pod has gets an
/// ICMP error instead of following a default route out of the node. Each pod's own /32 and
/// /128 are more specific.
fn pod_cidrs_unreachable(
    tables: &mut TablesBuilder,
    networks: &[podwire_model::config::NetworkConfig],
) -> Result<(), NodeError> {
    let routed = networks
        .iter()
        .filter(|n| n.forwarding == podwire_model::config::NetworkForwarding::Routed);
    for network in routed {
        for cidr in &network.pod_cidrs {
            add_route(
                tables,
                cidr.addr(),
                cidr.prefix_len(),
                Adjacency::Unreachable,
            )
            .map_err(route_err(format!(
                "network {} pod CIDR {cidr}",
                network.name
            )))?;
        }
    }
    Ok(())
}

fn add_route(
    tables: &mut TablesBuilder,
    prefix: IpAddr,
    len: u8,
    adj: Adjacency,
) -> Result<(), FibError> {
    match prefix {
        IpAddr::V4(p) => tables.add_route4(p, len, adj),
        IpAddr::V6(p) => tables.add_route6(p, len, adj),
    }
}
