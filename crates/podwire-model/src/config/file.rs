//! The config file as written: TOML sections with their values still as text.
//!
//! Serde only checks the shape here (sections, field names, value types); values are kept as
//! strings so that [`super::validate`] can check them all and name each bad one by its path.

use serde::Deserialize;

use super::memif::{MemifMode, MemifRoleName};
use super::{InterfaceKind, NetworkForwarding};
use crate::attach::AttachmentKind;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConfigFile {
    pub node: NodeSection,
    #[serde(default)]
    pub interface: Vec<InterfaceSection>,
    pub host: Option<HostSection>,
    #[serde(default)]
    pub route: Vec<RouteSection>,
    #[serde(default)]
    pub pod: Vec<PodSection>,
    #[serde(default)]
    pub bridge_domain: Vec<BridgeDomainSection>,
    #[serde(default)]
    pub network: Vec<NetworkSection>,
    /// Absent: every default.
    #[serde(default)]
    pub services: ServicesSection,
    /// Absent: the local source.
    #[serde(default)]
    pub cluster: ClusterSection,
}

/// `[node]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NodeSection {
    pub name: String,
    pub api_socket: Option<String>,
    pub metrics_listen: Option<String>,
    pub workers: Option<u32>,
    pub buffers_per_worker: Option<u32>,
    pub state_dir: Option<String>,
}

/// `[[interface]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct InterfaceSection {
    pub name: String,
    pub kind: InterfaceKind,
    pub host_interface: Option<String>,
    pub netns: Option<String>,
    #[serde(default)]
    pub addresses: Vec<String>,
    pub mtu: Option<u32>,
    /// L2: a port of this `[[bridge_domain]]`.
    pub bridge_domain: Option<String>,
    /// L2: cross-connected with this other `[[interface]]`.
    pub xconnect: Option<String>,
    /// `kind = "af-xdp"`: the queue its socket serves; refused on other kinds.
    pub xdp_queue: Option<u32>,
    // The keys of `kind = "memif"`; refused on other kinds.
    pub socket: Option<String>,
    pub role: Option<MemifRoleName>,
    pub id: Option<u32>,
    pub secret: Option<String>,
    pub mode: Option<MemifMode>,
    pub queues: Option<u32>,
    pub ring_size: Option<u32>,
    pub buffer_size: Option<u32>,
    pub socket_owner: Option<SocketOwnerSection>,
    pub socket_mode: Option<u32>,
    pub allow_unsealed_regions: Option<bool>,
}

/// `socket_owner = { uid = 1000, gid = 1000 }` of a memif interface.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SocketOwnerSection {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

/// `[[bridge_domain]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BridgeDomainSection {
    pub name: String,
    pub learn: Option<bool>,
    pub flood: Option<bool>,
    pub mac_age_s: Option<u64>,
}

/// `[host]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HostSection {
    pub interface: Option<String>,
    pub address4: Option<String>,
    pub address6: Option<String>,
    #[serde(default)]
    pub routes: Vec<String>,
}

/// `[[route]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RouteSection {
    pub prefix: String,
    pub via: Option<String>,
    pub interface: String,
}

/// `[[pod]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PodSection {
    pub name: String,
    pub netns: String,
    pub interface: Option<String>,
    #[serde(default)]
    pub addresses: Vec<String>,
    pub mtu: Option<u32>,
}

/// `[[network]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NetworkSection {
    pub name: String,
    /// `None` when the key is missing, which is reported with the other problems.
    pub pod_cidrs: Option<Vec<String>>,
    pub interface: Option<AttachmentKind>,
    pub forwarding: Option<NetworkForwarding>,
    pub mtu: Option<u32>,
    /// `None`: the default routes; `Some(empty)`: none at all.
    pub pod_routes: Option<Vec<String>>,
}

/// `[services]`: `None` takes the default, which for the lists is computed from the rest of
/// the file; `Some(empty)` is an empty list.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ServicesSection {
    pub cidrs: Option<Vec<String>>,
    pub cluster_cidrs: Option<Vec<String>>,
    pub node_addresses: Option<Vec<String>>,
    pub masquerade_interfaces: Option<Vec<String>>,
    pub sessions_per_worker: Option<u32>,
    pub tcp_established_timeout_s: Option<u64>,
    pub tcp_close_wait_timeout_s: Option<u64>,
    pub udp_timeout_s: Option<u64>,
    pub udp_stream_timeout_s: Option<u64>,
}

/// `[cluster]`: flat keys, each valid with some sources only (see [`super::validate`]).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ClusterSection {
    /// `None`: local.
    pub source: Option<ClusterSourceName>,
    // The keys of every cluster source (etcd and kubernetes).
    pub cidrs: Option<Vec<String>>,
    pub network: Option<String>,
    pub uplink: Option<String>,
    pub tunnel_address: Option<String>,
    pub vni: Option<u32>,
    pub vxlan_port: Option<u32>,
    // The keys of `source = "etcd"`.
    pub etcd_endpoints: Option<Vec<String>>,
    pub etcd_prefix: Option<String>,
    pub node_cidr_len4: Option<u32>,
    pub node_cidr_len6: Option<u32>,
    pub lease_ttl_s: Option<u64>,
    // The key of `source = "kubernetes"`.
    pub kubeconfig: Option<String>,
}

/// `source` as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum ClusterSourceName {
    Local,
    Etcd,
    Kubernetes,
}
