//! Pod attachments: what the CNI plugin asks the agent, and what the agent answers.
//!
//! An attachment is one interface of one pod on one podwire network, named by
//! [`AttachmentKey`]: the network, the runtime's container id and the interface name inside
//! the pod (`CNI_IFNAME`). The agent owns attachments: it allocates their addresses, wires
//! them and keeps them across its restarts; the CNI plugin only asks.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::cidr::Cidr;

/// The podwire network a CNI config attaches to when it names none.
pub const DEFAULT_NETWORK: &str = "default";

/// One pod interface on one network.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AttachmentKey {
    /// The podwire network (`[[network]]` in the daemon's config).
    pub network: String,
    /// The runtime's container (sandbox) id, `CNI_CONTAINERID`.
    pub container_id: String,
    /// The interface's name inside the pod, `CNI_IFNAME`.
    pub ifname: String,
}

impl fmt::Display for AttachmentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of container {} on network {}",
            self.ifname, self.container_id, self.network
        )
    }
}

/// Who the pod is, as the runtime says in `CNI_ARGS` (`K8S_POD_NAMESPACE`, `K8S_POD_NAME`,
/// `K8S_POD_UID`, `K8S_POD_INFRA_CONTAINER_ID`). Runtimes outside Kubernetes send none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodIdentity {
    /// The pod's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The pod's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The pod's uid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// The pod's sandbox (infra) container id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_id: Option<String>,
}

/// `POST /v1/attachments/add`: wire a pod interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddRequest {
    /// Which attachment.
    pub key: AttachmentKey,
    /// The pod's network namespace, `CNI_NETNS`.
    pub netns: PathBuf,
    /// Who the pod is.
    #[serde(default)]
    pub pod: PodIdentity,
    /// The runtime's name for the network config that asked (the conflist's `name`): GC from
    /// that config only considers its own attachments, even when several configs attach pods
    /// to one podwire network.
    #[serde(default)]
    pub cni_network: String,
    /// Where to write the Network Plumbing WG device-info of a memif attachment (the
    /// `CNIDeviceInfoFile` runtime config), if the runtime asked for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_info_file: Option<PathBuf>,
}

/// `POST /v1/attachments/del`: unwire a pod interface, release its addresses. Succeeds when
/// the attachment, its namespace or its interface is already gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DelRequest {
    /// Which attachment.
    pub key: AttachmentKey,
    /// The pod's network namespace, when the runtime still has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<PathBuf>,
}

/// What `DEL` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DelReport {
    /// Whether the attachment existed (false: nothing to do, still a success).
    pub existed: bool,
}

/// `POST /v1/attachments/check`: is the attachment as `ADD` left it?
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRequest {
    /// Which attachment.
    pub key: AttachmentKey,
    /// The pod's network namespace.
    pub netns: PathBuf,
}

/// One entry of `cni.dev/valid-attachments`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ValidAttachment {
    /// `containerID`
    pub container_id: String,
    /// `ifname`
    pub ifname: String,
}

/// `POST /v1/attachments/gc`: remove every attachment of `network` not in `valid`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcRequest {
    /// The network to clean.
    pub network: String,
    /// Only the attachments the network config of this name made (its conflist `name`).
    #[serde(default)]
    pub cni_network: String,
    /// The attachments the runtime still has.
    pub valid: Vec<ValidAttachment>,
}

/// What GC removed, and what it could not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcReport {
    /// The attachments removed.
    pub removed: Vec<AttachmentKey>,
    /// Why some could not be removed completely (their addresses are released regardless).
    pub errors: Vec<String>,
}

/// How a pod interface is attached to the switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttachmentKind {
    /// A tap whose kernel end is the pod's interface.
    Tap,
    /// A veth pair: one end the pod's interface, the other on the host, attached with
    /// AF_PACKET (for tools that expect a veth, such as the `bandwidth` plugin).
    Veth,
    /// A memif socket the pod's application connects to.
    Memif,
}

impl AttachmentKind {
    /// Its name, as the config and the API write it.
    pub fn as_str(self) -> &'static str {
        match self {
            AttachmentKind::Tap => "tap",
            AttachmentKind::Veth => "veth",
            AttachmentKind::Memif => "memif",
        }
    }
}

impl fmt::Display for AttachmentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A route the pod is given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodRoute {
    /// The destination prefix.
    pub dst: Cidr,
    /// The next hop, if not on the link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
}

/// An attachment as the agent keeps it and reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// Which attachment.
    pub key: AttachmentKey,
    /// The pod's network namespace.
    pub netns: PathBuf,
    /// Who the pod is.
    #[serde(default)]
    pub pod: PodIdentity,
    /// The network config that made it (the conflist's `name`).
    #[serde(default)]
    pub cni_network: String,
    /// How it is attached.
    pub kind: AttachmentKind,
    /// podwire's name for the switch's end (as in `podwire ctl show interfaces`).
    pub switch_interface: String,
    /// The kernel interface on the host, for a veth: its host end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_interface: Option<String>,
    /// The pod interface's MAC address (tap and veth).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// The link's MTU.
    pub mtu: u32,
    /// The pod's addresses, with the prefix length the pod's interface has (/32 and /128 on a
    /// routed network, the subnet's on a bridged one).
    pub addresses: Vec<Cidr>,
    /// The gateway of each family, if the network routes (the switch's link-local address).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gateways: Vec<IpAddr>,
    /// The routes the pod is given.
    #[serde(default)]
    pub routes: Vec<PodRoute>,
    /// The memif socket the pod connects to (memif only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket_path: Option<PathBuf>,
    /// The device-info file written for it, to remove on DEL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_info_file: Option<PathBuf>,
}

/// `GET /v1/networks`: one podwire network and whether it can take another pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkStatus {
    /// Its name.
    pub name: String,
    /// Whether an ADD can be served now.
    pub ready: bool,
    /// Why not, when not ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Its address pools.
    pub pools: Vec<PoolStatus>,
    /// Its attachments.
    pub attachments: usize,
    /// The MTU its pods get and why; `None` until the node has decided it (once its
    /// interfaces are attached), and from an agent that does not report it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<NetworkMtu>,
}

/// A network's pod MTU and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkMtu {
    /// The MTU of its pods' interfaces.
    pub mtu: u32,
    /// What decided it, as the daemon logs it: `tunnel over uplink0, MTU 9000`.
    pub source: String,
}

/// One address pool of a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolStatus {
    /// The pod CIDR.
    pub cidr: Cidr,
    /// Addresses it can give out in all.
    pub capacity: u128,
    /// Addresses given out.
    pub used: u128,
}

/// What kind of failure an attachment request met, so that the CNI plugin can give the
/// runtime the right error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// The request names a network this node does not have, or is malformed.
    Invalid,
    /// The pod's network namespace does not exist.
    UnknownContainer,
    /// The attachment exists already (a second ADD without DEL).
    AlreadyExists,
    /// The attachment is not as ADD left it (CHECK), or does not exist.
    NotAsAdded,
    /// The network has no free address.
    Exhausted,
    /// The kernel refused a change; the message says which.
    Kernel,
    /// Anything else.
    Internal,
}
