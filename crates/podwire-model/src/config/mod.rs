//! The daemon's config file: TOML, parsed, then validated as a whole into a [`Config`].
//!
//! The interface's addresses are the switch's own: it answers ARP, ND and ping on them. A
//! namespace is a name under `/run/netns` or an absolute path. An interface of any kind is
//! routed (L3, with addresses), a port of a `[[bridge_domain]]`, or cross-connected with
//! another interface (L2, without addresses).
//!
//! Nothing is applied from a file that has a problem anywhere: [`Config::parse`] checks every
//! value and reports every problem it finds, each named by its field path (indices count from
//! 0 in file order), e.g. `interface[2].addresses[0]: "10.0.0.1/33" is not a valid CIDR:
//! prefix length 33 is over 32`. Unknown fields are rejected, so a typo fails instead of
//! being ignored.
//!
//! A complete file, with the defaults spelled out:
//!
//! ```
//! # use podwire_model::config::Config;
//! let text = r#"
//! [node]
//! name = "node1"                             # required: this node's name (as in Kubernetes)
//! api_socket = "/run/podwire/podwire.sock"   # default: the local API (CLI, CNI)
//! metrics_listen = "127.0.0.1:9464"          # default: HTTP /metrics and /healthz
//! workers = 1                                # default: data-plane worker threads
//! buffers_per_worker = 16384                 # default: packet buffers in each worker's pool
//! state_dir = "/run/podwire/state"           # default: pod attachments and their addresses
//!
//! [[interface]]                 # a kernel interface the switch sends and receives on
//! name = "uplink0"              # podwire's name for it: 1 to 15 of [a-zA-Z0-9_.-]
//! kind = "af-packet"            # "af-packet" or "af-xdp": attach an existing interface; "tap": create one
//! host_interface = "veth-up"    # the kernel interface (af-packet, af-xdp: required; tap: default `name`)
//! netns = "uplink-ns"           # optional: its namespace, by name or path; default: the daemon's
//! addresses = ["192.168.50.1/24", "fd00:50::1/64"]  # the switch's own, with their subnets
//! mtu = 1500                    # optional; at least 1280 when it has an IPv6 address
//! ## xdp_queue = 0               # af-xdp only (default 0): the receive queue the socket serves
//!
//! [[interface]]                 # a memif interface for a network-function pod
//! name = "cnf0"
//! kind = "memif"
//! socket = "/run/podwire/memif/cnf0/memif.sock"  # default; or "@NAME" for an abstract socket
//! role = "server"               # default; "client" connects to the application's server
//! id = 0                        # default: the interface id on the socket
//! secret = "s3cret"             # optional, 1 to 24 bytes; the peer must send the same
//! mode = "ethernet"             # default and only mode
//! queues = 1                    # default: queues each way, 1 to 256
//! socket_mode = 0o600           # default (server, path socket): who may connect
//! socket_owner = { uid = 1000, gid = 1000 }  # optional (server, path socket)
//! allow_unsealed_regions = false  # default (server): see the memif docs before changing it
//! addresses = ["10.0.1.1/24"]   # routed, like any interface
//!
//! [[interface]]                 # an L2 interface: a bridge domain port (or xconnect = "NAME")
//! name = "cnf1"
//! kind = "memif"
//! role = "client"               # the switch connects; then it chooses the memory layout:
//! socket = "@cnf1"
//! ring_size = 10                # default: log2 of the slots per ring (client only)
//! buffer_size = 2048            # default: bytes per buffer (client only)
//! bridge_domain = "l2net"       # no addresses in L2
//!
//! [[bridge_domain]]
//! name = "l2net"
//! learn = true                  # default: learn source MACs
//! flood = true                  # default: flood unknown destinations
//! mac_age_s = 300               # default: seconds a learned MAC is kept
//!
//! [host]                        # optional: a tap in the daemon's namespace for host processes
//! interface = "podwire0"        # default: the tap's kernel name
//! address4 = "10.0.255.254"     # optional: the address of the host end; address6 likewise
//! address6 = "fd10::fffe"
//! routes = ["10.0.0.0/16", "fd10::/64"]  # prefixes the host routes into the switch
//!
//! [[route]]
//! prefix = "10.9.0.0/16"        # host bits zero
//! via = "192.168.50.2"          # optional gateway, inside a subnet of the interface
//! interface = "uplink0"         # an [[interface]] name
//!
//! [[pod]]                       # a local pod: a network namespace wired with a tap
//! name = "a"                    # unique; a DNS name like Kubernetes pod names
//! netns = "podwire-a"           # a name under /run/netns or an absolute path
//! interface = "eth0"            # default: the interface's name inside the pod
//! addresses = ["10.0.0.2", "fd10::2"]  # at most one per family; the pod gets /32 and /128
//! mtu = 1500                    # optional: as a [[network]]'s mtu
//!
//! [[network]]                   # a network pods attach to through the CNI plugin
//! name = "default"              # the CNI config's "network" key (default "default"); a DNS label
//! pod_cidrs = ["10.0.2.0/24", "fd10::2:0/112"]  # one or two, one per family; overlapping nothing
//! interface = "tap"             # default; "veth" (host end attached with AF_PACKET) or "memif"
//! forwarding = "routed"         # default: /32 and /128, via 169.254.1.1 and fe80::1; or "bridged"
//! mtu = 1500                    # optional, an upper bound: 576 to 65535, at least 1280 with an IPv6 pod CIDR
//! pod_routes = ["0.0.0.0/0", "::/0"]  # routed only; default: a default route per family
//!
//! [cluster]                     # where the cluster objects come from
//! source = "local"              # default: `podwire ctl apply`, one machine; "etcd", "kubernetes"
//!
//! [services]                    # Kubernetes Services: ClusterIP, NodePort, LoadBalancer
//! cidrs = ["10.96.0.0/12"]      # default: the service CIDRs, at most one per family
//! cluster_cidrs = [             # default: the pod CIDRs, then the [[pod]] addresses
//!     "10.0.2.0/24", "fd10::2:0/112", "10.0.0.2/32", "fd10::2/128",
//! ]
//! node_addresses = [            # default: the routed interfaces' addresses, then [host]'s
//!     "192.168.50.1", "fd00:50::1", "10.0.1.1", "10.0.255.254", "fd10::fffe",
//! ]
//! masquerade_interfaces = ["uplink0"]  # default: the routed af-packet and af-xdp interfaces
//! sessions_per_worker = 131072  # default: 1024 to 16777216
//! tcp_established_timeout_s = 86400  # default: idle timeouts in seconds, each at least 1
//! tcp_close_wait_timeout_s = 3600    # default
//! udp_timeout_s = 30            # default: UDP with packets one way only
//! udp_stream_timeout_s = 120    # default: UDP with packets both ways
//! "#;
//! let config = Config::parse(text)?;
//! assert_eq!(config.pods[0].addresses.len(), 2);
//! assert_eq!(config.bridge_domains[0].name, "l2net");
//! assert_eq!(config.networks[0].pod_routes.len(), 2);
//! assert_eq!(config.services.masquerade_interfaces, ["uplink0"]);
//! // Every [services] value above is its default.
//! let (without_services, _) = text.split_once("[services]").expect("the example has one");
//! assert_eq!(Config::parse(without_services)?.services, config.services);
//! # Ok::<(), podwire_model::config::ConfigError>(())
//! ```
//!
//! A node of a cluster whose objects are in etcd, with the defaults spelled out: nodes reach
//! each other's pods through VXLAN tunnels over their uplinks, and the cluster's network gets
//! its pod CIDRs at start (see [`ClusterJoin`]).
//!
//! ```
//! # use podwire_model::config::{ClusterSource, Config};
//! let text = r#"
//! [node]
//! name = "node1"
//!
//! [[interface]]
//! name = "uplink0"
//! kind = "af-packet"
//! host_interface = "eth0"
//! addresses = ["192.168.60.1/24"]
//!
//! [[network]]
//! name = "default"              # no pod_cidrs: this node's share of cluster.cidrs, claimed at start
//!
//! [cluster]
//! source = "etcd"               # "local" (default), "etcd" or "kubernetes"
//! cidrs = ["10.244.0.0/16", "fd44::/56"]  # required: the cluster's pod CIDRs, one per family
//! network = "default"           # default: the only [[network]]
//! uplink = "uplink0"            # required: the routed interface the VXLAN tunnels run over
//! tunnel_address = "192.168.60.1"  # default: the uplink's first address, IPv4 first
//! vni = 4096                    # default: the VXLAN network identifier, the same on every node
//! vxlan_port = 4789             # default: the VXLAN UDP port, the same on every node
//! etcd_endpoints = ["http://192.168.60.254:2379"]  # etcd: required, the client URLs
//! etcd_prefix = "/podwire/"     # etcd: default: where podwire's keys are
//! node_cidr_len4 = 24           # etcd: default: each node claims a /24 of cluster.cidrs
//! node_cidr_len6 = 64           # etcd: default: and a /64
//! lease_ttl_s = 10              # etcd: default: a node silent this long leaves the cluster
//! "#;
//! let config = Config::parse(text)?;
//! assert!(matches!(config.cluster.source, ClusterSource::Etcd(_)));
//! let join = config.cluster.join.as_ref().expect("etcd is a cluster source");
//! assert!(config.networks[0].pod_cidrs.is_empty());
//! assert_eq!(config.services.cluster_cidrs, join.cidrs);
//! // Every key above that says "default" is at its default.
//! let given: Vec<_> = text.lines().filter(|line| !line.contains("default:")).collect();
//! assert_eq!(Config::parse(&given.join("\n"))?, config);
//! # Ok::<(), podwire_model::config::ConfigError>(())
//! ```
//!
//! A pod's MTU (`mtu` of a `[[network]]` or a `[[pod]]`) is by default that of where its
//! traffic leaves the node: in a cluster the tunnel's (the uplink's less 50 or 70 bytes),
//! else the smallest of `services.masquerade_interfaces`, whichever is smaller when both are
//! there, and 1500 ([`DEFAULT_NETWORK_MTU`]) with neither. An `mtu` in the file is used as
//! given, lowered to the tunnel's when the tunnel cannot carry it. The node decides it once its
//! interfaces are attached ([`pod_mtu`]) and logs it per network.
//!
//! The pods' gateway addresses [`POD_GATEWAY_V4`] and [`POD_GATEWAY_V6`] are the switch's on
//! every pod's tap and cannot be given to anything else.

mod file;
mod memif;
mod pod_mtu;
mod validate;
mod values;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::cidr::Cidr;

pub use memif::{
    DEFAULT_MEMIF_BUFFER_SIZE, DEFAULT_MEMIF_QUEUES, DEFAULT_MEMIF_RING_SIZE,
    DEFAULT_MEMIF_SOCKET_DIR, DEFAULT_MEMIF_SOCKET_FILE, DEFAULT_MEMIF_SOCKET_MODE, MemifConfig,
    MemifRole, MemifSocket, SocketAccess,
};
pub use pod_mtu::{MtuSource, PodExits, PodMtu, TunnelExit, pod_mtu};

/// Where the local API listens unless `node.api_socket` says otherwise.
pub const DEFAULT_API_SOCKET: &str = "/run/podwire/podwire.sock";
/// Where `/metrics` and `/healthz` listen unless `node.metrics_listen` says otherwise.
pub const DEFAULT_METRICS_LISTEN: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9464);
/// Worker threads unless `node.workers` says otherwise.
pub const DEFAULT_WORKERS: u32 = 1;
/// Packet buffers per worker unless `node.buffers_per_worker` says otherwise.
pub const DEFAULT_BUFFERS_PER_WORKER: u32 = 16384;
/// The host tap's kernel name unless `host.interface` says otherwise.
pub const DEFAULT_HOST_INTERFACE: &str = "podwire0";
/// A pod's interface name unless `pod.interface` says otherwise.
pub const DEFAULT_POD_INTERFACE: &str = "eth0";
/// The IPv4 gateway every pod routes through: the switch's address on each pod's tap.
pub const POD_GATEWAY_V4: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);
/// The IPv6 gateway every pod routes through: the switch's address on each pod's tap.
pub const POD_GATEWAY_V6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
/// Where named network namespaces live (`ip netns add` puts them there).
pub const NETNS_DIR: &str = "/run/netns";
/// How long a bridge domain keeps a learned MAC address unless `mac_age_s` says otherwise.
pub const DEFAULT_MAC_AGE: Duration = Duration::from_secs(300);

/// A validated config: every value parsed, defaults filled in, references resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `[node]`
    pub node: NodeConfig,
    /// `[[interface]]`, in file order.
    pub interfaces: Vec<InterfaceConfig>,
    /// `[host]`, when present.
    pub host: Option<HostConfig>,
    /// `[[route]]`, in file order.
    pub routes: Vec<RouteConfig>,
    /// `[[pod]]`, in file order.
    pub pods: Vec<PodConfig>,
    /// `[[bridge_domain]]`, in file order.
    pub bridge_domains: Vec<BridgeDomainConfig>,
    /// `[[network]]`, in file order: the networks pods attach to through the CNI plugin.
    pub networks: Vec<NetworkConfig>,
    /// `[services]`, with its defaults when absent: Services are always on.
    pub services: ServicesConfig,
    /// `[cluster]`, with its defaults when absent: one machine, objects from `podwire ctl`.
    pub cluster: ClusterConfig,
}

/// Where the cluster objects come from, and how this node joins the others (`[cluster]`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClusterConfig {
    /// The source of cluster objects.
    pub source: ClusterSource,
    /// Everything a node of a cluster needs; `None` with the local source.
    pub join: Option<ClusterJoin>,
}

/// Where the cluster objects come from (`cluster.source`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ClusterSource {
    /// `"local"` (default): `podwire ctl apply` into `<state_dir>/cluster.json`; one machine.
    #[default]
    Local,
    /// `"etcd"`: several nodes without Kubernetes; `podwire ctl apply` writes to etcd and
    /// every node watches it.
    Etcd(EtcdSource),
    /// `"kubernetes"`: the Kubernetes API, watched.
    Kubernetes(KubernetesSource),
}

/// `cluster.source = "etcd"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdSource {
    /// `cluster.etcd_endpoints`: client URLs, e.g. `http://127.0.0.1:2379` (at least one,
    /// each `http://` or `https://` with a host and a port).
    pub endpoints: Vec<String>,
    /// `cluster.etcd_prefix` (default [`DEFAULT_ETCD_PREFIX`]): every key podwire writes
    /// starts with it; it ends with `/`.
    pub prefix: String,
    /// `cluster.node_cidr_len4` (default 24) and `node_cidr_len6` (default 64): the size of
    /// the pod CIDR each node claims from `cluster.cidrs`, from the cluster CIDR's own prefix
    /// length (a cluster of one node) to 30 (IPv4) or 126 (IPv6). Checked only for the
    /// families `cluster.cidrs` has.
    pub node_cidr_len4: u8,
    /// See `node_cidr_len4`.
    pub node_cidr_len6: u8,
    /// `cluster.lease_ttl_s` (default 10, 2 to 3600 s): a node that stops renewing its
    /// registration for this long is taken out of the cluster (its routes go with it).
    pub lease_ttl: Duration,
}

/// Where every key podwire writes in etcd starts unless `cluster.etcd_prefix` says otherwise.
pub const DEFAULT_ETCD_PREFIX: &str = "/podwire/";
/// The VXLAN network identifier unless `cluster.vni` says otherwise.
pub const DEFAULT_VNI: u32 = 4096;
/// The VXLAN UDP port unless `cluster.vxlan_port` says otherwise (IANA's, RFC 7348).
pub const DEFAULT_VXLAN_PORT: u16 = 4789;

/// `cluster.source = "kubernetes"`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KubernetesSource {
    /// `cluster.kubeconfig`, an absolute path: default the in-cluster service account, else
    /// `$KUBECONFIG`, else `~/.kube/config` (kube-rs' inference).
    pub kubeconfig: Option<PathBuf>,
}

/// How a node of a cluster (etcd or Kubernetes source) joins the others: the keys of
/// `[cluster]` both cluster sources share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterJoin {
    /// `cluster.cidrs`: the cluster's pod CIDRs (one or two, one per family). With etcd,
    /// each node claims its pod CIDR from them; they are also the default
    /// `services.cluster_cidrs`.
    pub cidrs: Vec<Cidr>,
    /// `cluster.network` (default: the only `[[network]]`): the network whose pod CIDRs are
    /// this node's share of `cidrs`; its `pod_cidrs` are not given in the file but claimed
    /// (etcd) or read from the Node's `spec.podCIDRs` (Kubernetes) at start.
    pub network: String,
    /// `cluster.uplink`: the routed `[[interface]]` (af-packet, af-xdp or tap, with an address) the
    /// VXLAN tunnels run over. The tunnel's MTU is the uplink's less 50 bytes (IPv4
    /// underlay) or 70 (IPv6), and the cluster network's pods get at most that: the
    /// network's `mtu` is an upper bound.
    pub uplink: String,
    /// `cluster.tunnel_address` (default: the uplink's first address, IPv4 first): where
    /// other nodes' tunnels to this one end; one of the uplink's addresses.
    pub tunnel_address: IpAddr,
    /// `cluster.vni` (default [`DEFAULT_VNI`]), 1 to 16777215.
    pub vni: u32,
    /// `cluster.vxlan_port` (default [`DEFAULT_VXLAN_PORT`]).
    pub vxlan_port: u16,
}

/// How the node implements Kubernetes Services (`[services]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicesConfig {
    /// Service CIDRs (default [`DEFAULT_SERVICE_CIDR`]): ClusterIPs come from them, an address
    /// in them that no Service has is dropped, and the host routes them into the switch.
    pub cidrs: Vec<Cidr>,
    /// Where pods' addresses come from: traffic to a ClusterIP from elsewhere is masqueraded.
    /// Default: `cluster.cidrs` (with an etcd or Kubernetes source), then every other
    /// `[[network]]` pod CIDR and every `[[pod]]` address.
    pub cluster_cidrs: Vec<Cidr>,
    /// The node's addresses: NodePorts answer on them, and the first of each family is what
    /// masqueraded Service traffic gets as its source. Default: the addresses of every routed
    /// `[[interface]]`, in file order, then the `[host]` addresses.
    pub node_addresses: Vec<IpAddr>,
    /// The `[[interface]]`s where pod traffic leaving the cluster is masqueraded to the
    /// interface's own address. Default: every routed `[[interface]]` of kind af-packet or
    /// af-xdp.
    pub masquerade_interfaces: Vec<String>,
    /// Sessions each worker tracks at most (default 131072, kube-proxy's conntrack minimum).
    pub sessions_per_worker: u32,
    /// How long an established TCP connection lives idle (default 24 h, as kube-proxy).
    pub tcp_established_timeout: Duration,
    /// How long a TCP connection in close-wait lives (default 1 h, as kube-proxy).
    pub tcp_close_wait_timeout: Duration,
    /// How long a UDP flow with packets one way only lives (default 30 s, as Linux).
    pub udp_timeout: Duration,
    /// How long a UDP flow with packets both ways lives (default 120 s, as Linux).
    pub udp_stream_timeout: Duration,
}

/// The Service CIDR unless `services.cidrs` says otherwise (kubeadm's default).
pub const DEFAULT_SERVICE_CIDR: &str = "10.96.0.0/12";

/// The daemon itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    /// This node's name.
    pub name: String,
    /// The unix socket of the local API.
    pub api_socket: PathBuf,
    /// The TCP address of `/metrics` and `/healthz`.
    pub metrics_listen: SocketAddr,
    /// Data-plane worker threads, at least 1.
    pub workers: u32,
    /// Packet buffers in each worker's pool.
    pub buffers_per_worker: u32,
    /// Where the agent keeps what must outlive it (pod attachments and their addresses).
    pub state_dir: PathBuf,
}

/// Where the agent keeps its state unless `node.state_dir` says otherwise. On tmpfs on
/// purpose: the state must outlive the agent (a restart neither leaks nor duplicates an
/// address) but not the machine, since no pod survives a reboot and every address it held is
/// free again. It also makes each ADD's durable write cost microseconds instead of a disk
/// flush (~12 ms here).
pub const DEFAULT_STATE_DIR: &str = "/run/podwire/state";
/// A pod's MTU when the config gives none and nothing bounds it: the node is in no cluster
/// and masquerades out of no interface (see [`pod_mtu`]).
pub const DEFAULT_NETWORK_MTU: u32 = 1500;

/// A network pods attach to through the CNI plugin (`[[network]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkConfig {
    /// Its name, as the CNI config's `network` key gives it ([`crate::attach::DEFAULT_NETWORK`]
    /// when the CNI config names none).
    pub name: String,
    /// This node's pod CIDRs on it: at most one per family, host bits zero.
    pub pod_cidrs: Vec<Cidr>,
    /// How pods are attached.
    pub interface: crate::attach::AttachmentKind,
    /// Routed (L3) or bridged (L2).
    pub forwarding: NetworkForwarding,
    /// `mtu`, when the file gives it: an upper bound on the pods' MTU. `None`: the MTU of where
    /// the pods' traffic leaves the node, which the node decides with [`pod_mtu`] once its
    /// interfaces are attached.
    pub mtu: Option<u32>,
    /// The routes a pod gets through this network's interface, via the switch's link-local
    /// gateway (routed networks only; by default a default route for each family it has).
    pub pod_routes: Vec<Cidr>,
}

/// How a network forwards between its pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkForwarding {
    /// By IP: each pod gets a /32 and a /128 and routes via the switch's link-local gateway.
    Routed,
    /// By MAC: the network's pods share one L2 segment (a bridge domain named after the
    /// network) and get addresses with the subnet's prefix length; no gateway.
    Bridged,
}

/// What is behind an interface, as `kind` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InterfaceKind {
    /// Attach an existing interface with an AF_PACKET socket.
    AfPacket,
    /// Attach an existing interface with an AF_XDP socket on one of its queues, or with
    /// AF_PACKET where the kernel or the driver refuses.
    AfXdp,
    /// Create a tap interface.
    Tap,
    /// Serve (or connect to) a memif socket.
    Memif,
}

impl fmt::Display for InterfaceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InterfaceKind::AfPacket => "af-packet",
            InterfaceKind::AfXdp => "af-xdp",
            InterfaceKind::Tap => "tap",
            InterfaceKind::Memif => "memif",
        })
    }
}

impl InterfaceKind {
    /// Whether it attaches an existing kernel interface (a node's uplink) rather than making
    /// one: `af-packet` and `af-xdp`.
    pub fn attaches_existing(self) -> bool {
        matches!(self, InterfaceKind::AfPacket | InterfaceKind::AfXdp)
    }
}

/// An interface the switch sends and receives on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceConfig {
    /// podwire's name for it.
    pub name: String,
    /// What is behind it.
    pub device: Device,
    /// The switch's own addresses on it, each with its subnet (routed interfaces only).
    pub addresses: Vec<Cidr>,
    /// The MTU to use, when set.
    pub mtu: Option<u32>,
    /// Routed, bridged or cross-connected.
    pub forwarding: Forwarding,
}

impl InterfaceConfig {
    /// The `kind` it was given.
    pub fn kind(&self) -> InterfaceKind {
        match self.device {
            Device::AfPacket(_) => InterfaceKind::AfPacket,
            Device::AfXdp(_) => InterfaceKind::AfXdp,
            Device::Tap(_) => InterfaceKind::Tap,
            Device::Memif(_) => InterfaceKind::Memif,
        }
    }
}

/// What is behind an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Device {
    /// An existing kernel interface, attached with an AF_PACKET socket.
    AfPacket(KernelInterface),
    /// An existing kernel interface, attached with an AF_XDP socket on one queue.
    AfXdp(XdpInterface),
    /// A tap interface podwire creates.
    Tap(KernelInterface),
    /// A memif socket.
    Memif(MemifConfig),
}

/// A kernel interface and the namespace it lives in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelInterface {
    /// The kernel interface's name (for a tap: the name to create).
    pub name: String,
    /// The namespace the kernel interface lives in; `None`: the daemon's own.
    pub netns: Option<Netns>,
}

/// A kernel interface attached with AF_XDP (`kind = "af-xdp"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XdpInterface {
    /// The kernel interface and its namespace.
    pub kernel: KernelInterface,
    /// `xdp_queue` (default 0): the receive queue the socket serves. The XDP program passes
    /// the frames of the interface's other queues to the kernel's stack, so a multi-queue
    /// NIC needs its traffic on this queue: one queue (`ethtool -L IF combined 1`) or a
    /// steering rule (`ethtool -N`).
    pub queue: u32,
}

/// How the switch forwards the frames an interface receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forwarding {
    /// By IP: the interface has addresses, routes may leave through it.
    Routed,
    /// By MAC, as a port of the named `[[bridge_domain]]`.
    Bridged(String),
    /// Unchanged out of the named interface, and that interface's frames out of this one.
    /// Always symmetric: the config names the pair on one end or on both.
    CrossConnect(String),
}

/// A bridge domain: the interfaces whose `bridge_domain` names it switch frames by MAC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeDomainConfig {
    /// Its unique name.
    pub name: String,
    /// Learn where source MAC addresses are.
    pub learn: bool,
    /// Send frames for unknown destinations to every port (broadcasts always are).
    pub flood: bool,
    /// How long a learned MAC address is kept without being seen again.
    pub mac_age: Duration,
}

/// A network namespace, by name or by path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Netns {
    /// A name under [`NETNS_DIR`].
    Named(String),
    /// An absolute path to a namespace file (`/proc/1234/ns/net`).
    Path(PathBuf),
}

impl Netns {
    /// The file to open to enter the namespace.
    pub fn path(&self) -> PathBuf {
        match self {
            Netns::Named(name) => Path::new(NETNS_DIR).join(name),
            Netns::Path(path) => path.clone(),
        }
    }
}

impl fmt::Display for Netns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Netns::Named(name) => f.write_str(name),
            Netns::Path(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A tap in the daemon's namespace through which host processes reach pods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostConfig {
    /// The tap's kernel name.
    pub interface: String,
    /// The IPv4 address of the host end, if any.
    pub address4: Option<Ipv4Addr>,
    /// The IPv6 address of the host end, if any.
    pub address6: Option<Ipv6Addr>,
    /// Prefixes the host routes into the switch.
    pub routes: Vec<Cidr>,
}

/// A static route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteConfig {
    /// The destinations it matches (host bits zero).
    pub prefix: Cidr,
    /// The gateway, in a subnet of `interface`; `None`: the destinations are on the link.
    pub via: Option<IpAddr>,
    /// The name of the [`InterfaceConfig`] packets leave on.
    pub interface: String,
}

/// A local pod: a network namespace wired to the switch with a tap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodConfig {
    /// Its unique name.
    pub name: String,
    /// Its network namespace.
    pub netns: Netns,
    /// The interface's name inside the pod.
    pub interface: String,
    /// Its addresses (at most one per family); each is given as a /32 or /128.
    pub addresses: Vec<IpAddr>,
    /// `mtu`, when the file gives it; decided as a network's ([`NetworkConfig::mtu`]).
    pub mtu: Option<u32>,
}

/// One problem with one value of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Where: `interface[2].addresses[0]`.
    pub field: String,
    /// What is wrong and how to fix it.
    pub problem: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

/// Every problem found in a file, one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<FieldError>);

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

/// Why a config file was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The text is not TOML, or a section or field is missing, unknown or of the wrong type.
    #[error("the config does not have the expected shape: {0}")]
    Syntax(#[from] toml::de::Error),
    /// Values are out of range, malformed, duplicated or refer to nothing.
    #[error("the config has {} problem(s); nothing was applied:\n{problems}", problems.0.len())]
    Invalid {
        /// Every problem, in file order.
        problems: FieldErrors,
    },
}

impl Config {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text)
    }

    /// Parses and validates config text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let file: file::ConfigFile = toml::from_str(text)?;
        validate::validate(&file).map_err(|errors| ConfigError::Invalid {
            problems: FieldErrors(errors),
        })
    }
}

#[cfg(test)]
mod tests;
