//! Pod attachments on a running node: what the CNI plugin's ADD, DEL, CHECK and GC do.
//!
//! An ADD plans the attachment and reserves its addresses in the [`Registry`] (persisted
//! before anything is touched, so a crash leaks nothing the runtime's DEL would not free),
//! then makes the kernel side ([`kernel`]) and plugs the switch's end in ([`switch`]). A DEL
//! undoes it in the reverse order and forgets the attachment last, so that a DEL that fails
//! half-way can be repeated. At start, the node picks up the attachments a previous agent made.

mod kernel;
mod memif;
mod plan;
mod switch;

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use podwire_dataplane::interface::{InterfaceConfig as SwitchInterface, TxOffloads};
use podwire_io::netns::NetNs;
use podwire_io::worker::{RxPort, TxPort};
use podwire_model::attach::{
    AddRequest, Attachment, AttachmentKey, AttachmentKind, CheckRequest, DelReport, DelRequest,
    FailureKind, GcReport, GcRequest, NetworkMtu, NetworkStatus,
};
use podwire_model::config::{
    Config, MtuSource, NetworkConfig, NetworkForwarding, POD_GATEWAY_V4, POD_GATEWAY_V6, PodExits,
    PodMtu, TunnelExit, pod_mtu,
};

use super::{Node, Peer};
use crate::api::AttachError;
use crate::attachments::{AddError, Registry, RegistryError};

pub(super) use kernel::{offer_offloads, offload_tap_options};
pub(super) use switch::{DynamicTables, PodInterface};

/// The smallest MTU IPv6 allows (RFC 8200): below it the kernel turns IPv6 off on a link.
const IPV6_MIN_MTU: u32 = 1280;

/// The pod networks of a node and the attachments on them.
pub(super) struct PodNetworks {
    networks: Vec<NetworkConfig>,
    registry: Mutex<Registry>,
}

impl PodNetworks {
    /// Opens the registry in `state_dir`.
    pub(super) fn open(
        networks: Vec<NetworkConfig>,
        state_dir: &std::path::Path,
    ) -> Result<PodNetworks, RegistryError> {
        let registry = Registry::open(state_dir, &networks)?;
        for warning in registry.load_warnings() {
            tracing::warn!("{warning}");
        }
        Ok(PodNetworks {
            networks,
            registry: Mutex::new(registry),
        })
    }

    /// The names of the bridged networks, each of which gets a bridge domain.
    pub(super) fn bridged(&self) -> Vec<String> {
        self.networks
            .iter()
            .filter(|n| n.forwarding == NetworkForwarding::Bridged)
            .map(|n| n.name.clone())
            .collect()
    }

    /// The networks.
    pub(super) fn networks(&self) -> &[NetworkConfig] {
        &self.networks
    }

    /// Decides every network's pod MTU for a node whose pods' traffic leaves through `exits`
    /// ([`pod_mtu`]), logs it and has the registry report it: from then on each network's
    /// `mtu` is the pods' MTU. A network with an IPv6 pod CIDR whose MTU comes out below
    /// IPv6's minimum cannot work (the kernel turns IPv6 off on such a link): that is logged
    /// as an error saying what to do, and the network refuses every ADD with it.
    pub(super) fn decide_mtu(&mut self, exits: &PodExits) {
        let mut registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        for network in &mut self.networks {
            let chosen = pod_mtu(network.mtu, exits);
            let problem = below_ipv6_minimum(network, &chosen);
            match &problem {
                None => tracing::info!("network {}: {chosen}", network.name),
                Some(problem) => {
                    tracing::error!("network {} cannot take pods: {problem}", network.name)
                }
            }
            network.mtu = Some(chosen.mtu);
            let mtu = NetworkMtu {
                mtu: chosen.mtu,
                source: chosen.from.to_string(),
            };
            registry.set_mtu(&network.name, mtu, problem);
        }
    }

    fn network(&self, name: &str) -> Result<&NetworkConfig, AttachError> {
        self.networks.iter().find(|n| n.name == name).ok_or_else(|| {
            let known: Vec<&str> = self.networks.iter().map(|n| n.name.as_str()).collect();
            AttachError::new(
                FailureKind::Invalid,
                format!(
                    "this node has no pod network {name:?} (it has {}); set the CNI config's \"network\" to one of them or add a [[network]] to the agent's config",
                    if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                ),
            )
        })
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl From<RegistryError> for AttachError {
    fn from(error: RegistryError) -> Self {
        AttachError::new(error.failure_kind(), error.to_string())
    }
}

/// What is wrong, and what to do, when `network` has an IPv6 pod CIDR and `chosen` is below
/// [`IPV6_MIN_MTU`].
fn below_ipv6_minimum(network: &NetworkConfig, chosen: &PodMtu) -> Option<String> {
    let ipv6 = network
        .pod_cidrs
        .iter()
        .find(|cidr| cidr.addr().is_ipv6())?;
    if chosen.mtu >= IPV6_MIN_MTU {
        return None;
    }
    let fix = match &chosen.from {
        MtuSource::Tunnel(tunnel) | MtuSource::GivenOverTunnel { tunnel, .. } => format!(
            "give {} an MTU of at least {}, or give the network no IPv6 pod CIDR",
            tunnel.uplink,
            IPV6_MIN_MTU + tunnel.uplink_mtu.saturating_sub(tunnel.mtu)
        ),
        MtuSource::Masquerade(name) => format!(
            "give {name} an MTU of at least {IPV6_MIN_MTU}, or the network an mtu of at least {IPV6_MIN_MTU} (a masquerade interface only lowers a network without one)"
        ),
        // The config checks a given mtu against the minimum, and the default is above it.
        MtuSource::Given | MtuSource::Default => {
            format!("give the network an mtu of at least {IPV6_MIN_MTU}")
        }
    };
    Some(format!(
        "its pods' {chosen} is below {IPV6_MIN_MTU}, the smallest IPv6 allows, and it has the IPv6 pod CIDR {ipv6}; {fix}"
    ))
}

/// Where the pods' traffic leaves a node of `config` whose `[[interface]]`s were attached
/// with the MTUs `mtus` (by name), through `tunnel` when it is in a cluster.
pub(super) fn pod_exits(
    config: &Config,
    mtus: &HashMap<String, u16>,
    tunnel: Option<&TunnelExit>,
) -> PodExits {
    let masquerade = (config.services.masquerade_interfaces.iter())
        .filter_map(|name| Some((name.clone(), u32::from(*mtus.get(name)?))))
        .collect();
    PodExits {
        tunnel: tunnel.cloned(),
        masquerade,
    }
}

fn kernel_failure(key: &AttachmentKey, error: impl std::fmt::Display) -> AttachError {
    AttachError::new(FailureKind::Kernel, format!("{key}: {error}"))
}

/// An attachment's sides as the workers take them: its receive queues (one, or one per
/// worker), its transmit side, what it is wired to, and the offloads its device finishes.
type PortSides = (Vec<Box<dyn RxPort>>, Arc<dyn TxPort>, Peer, TxOffloads);

impl Node {
    fn pod_networks(&self) -> Result<&PodNetworks, AttachError> {
        self.pods.as_ref().ok_or_else(AttachError::no_pod_networks)
    }

    pub(super) fn dynamic(&self) -> MutexGuard<'_, DynamicTables> {
        self.dynamic.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// CNI ADD.
    pub(super) async fn add_attachment(
        &self,
        request: AddRequest,
    ) -> Result<Attachment, AttachError> {
        let pods = self.pod_networks()?;
        let network = pods.network(&request.key.network)?;
        let ns = NetNs::open(&request.netns).map_err(|e| {
            AttachError::new(
                FailureKind::UnknownContainer,
                format!(
                    "{}: the pod's network namespace {} cannot be opened: {e}",
                    request.key,
                    request.netns.display()
                ),
            )
        })?;
        let attachment = pods
            .registry()
            .add(&request.key, |addresses| {
                Ok::<_, Infallible>(plan::plan(
                    &self.name,
                    network,
                    &request,
                    addresses,
                    Path::new(plan::POD_MEMIF_DIR),
                ))
            })
            .map_err(|e: AddError<Infallible>| {
                AttachError::new(
                    e.failure_kind().unwrap_or(FailureKind::Internal),
                    e.to_string(),
                )
            })?
            .clone();
        match self.connect(network, Some(&ns), &attachment, true).await {
            Ok(()) => {
                tracing::info!(attachment = %attachment.key, addresses = ?attachment.addresses, "pod attached");
                self.pod_attachments_changed(&attachment.pod, true);
                Ok(attachment)
            }
            Err(error) => {
                if let Err(e) = pods.registry().remove(&attachment.key) {
                    tracing::error!(
                        "{}: releasing the addresses of a failed ADD: {e}",
                        attachment.key
                    );
                }
                Err(error)
            }
        }
    }

    /// CNI DEL: a success when there is nothing to delete.
    pub(super) async fn del_attachment(
        &self,
        request: DelRequest,
    ) -> Result<DelReport, AttachError> {
        let pods = self.pod_networks()?;
        let Some(attachment) = pods.registry().get(&request.key).cloned() else {
            return Ok(DelReport { existed: false });
        };
        self.unplug(&attachment.key);
        match attachment.kind {
            AttachmentKind::Memif => memif::remove(&attachment),
            AttachmentKind::Tap | AttachmentKind::Veth => {
                // A namespace that is gone took the pod's interface with it.
                let ns = NetNs::open(&attachment.netns).ok();
                kernel::unwire(ns.as_ref(), &attachment)
                    .await
                    .map_err(|e| kernel_failure(&attachment.key, e))?;
            }
        }
        pods.registry().remove(&attachment.key)?;
        tracing::info!(attachment = %attachment.key, "pod detached");
        self.pod_attachments_changed(&attachment.pod, false);
        Ok(DelReport { existed: true })
    }

    /// CNI CHECK: the attachment, if it is as ADD left it.
    pub(super) async fn check_attachment(
        &self,
        request: CheckRequest,
    ) -> Result<Attachment, AttachError> {
        let pods = self.pod_networks()?;
        let not_as_added = |what: String| AttachError::new(FailureKind::NotAsAdded, what);
        let attachment = pods.registry().get(&request.key).cloned().ok_or_else(|| {
            not_as_added(format!(
                "{}: there is no such attachment (was it ADDed?)",
                request.key
            ))
        })?;
        if !self.dynamic().ports().any(|(_, p)| p.key == attachment.key) {
            return Err(not_as_added(format!(
                "{}: the switch has no port for it (see the agent's log from its start)",
                attachment.key
            )));
        }
        match attachment.kind {
            AttachmentKind::Memif => memif::check(&attachment).map_err(not_as_added)?,
            AttachmentKind::Tap | AttachmentKind::Veth => {
                let ns = NetNs::open(&attachment.netns).map_err(|e| {
                    AttachError::new(
                        FailureKind::UnknownContainer,
                        format!(
                            "{}: network namespace {}: {e}",
                            attachment.key,
                            attachment.netns.display()
                        ),
                    )
                })?;
                kernel::check(&ns, &attachment).await.map_err(|e| match e {
                    kernel::KernelError::Missing(what) => {
                        not_as_added(format!("{}: {what}", attachment.key))
                    }
                    other => kernel_failure(&attachment.key, other),
                })?;
            }
        }
        Ok(attachment)
    }

    /// CNI GC: DEL for each attachment of the network the runtime no longer has.
    pub(super) async fn gc_attachments(&self, request: GcRequest) -> Result<GcReport, AttachError> {
        let pods = self.pod_networks()?;
        pods.network(&request.network)?;
        let stale = pods
            .registry()
            .stale(&request.network, &request.cni_network, &request.valid);
        let mut report = GcReport::default();
        for key in stale {
            let del = DelRequest {
                key: key.clone(),
                netns: None,
            };
            match self.del_attachment(del).await {
                Ok(_) => report.removed.push(key),
                Err(e) => report.errors.push(e.message),
            }
        }
        Ok(report)
    }

    /// Every attachment.
    pub(super) fn list_attachments(&self) -> Vec<Attachment> {
        self.pods
            .as_ref()
            .map(|pods| pods.registry().iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The networks' status.
    pub(super) fn network_status(&self) -> Vec<NetworkStatus> {
        self.pods
            .as_ref()
            .map(|pods| pods.registry().status())
            .unwrap_or_default()
    }

    /// Picks up the attachments a previous agent made: reopens their taps, veths and memif
    /// sockets, or wires them again when their interface is gone but their pod is not.
    /// Attachments whose pod is gone stay registered until the runtime's DEL or GC.
    pub(super) async fn restore_attachments(&self) {
        let Some(pods) = &self.pods else { return };
        let attachments: Vec<Attachment> = pods.registry().iter().cloned().collect();
        for attachment in attachments {
            let Ok(network) = pods.network(&attachment.key.network) else {
                continue; // the registry warned about it
            };
            let ns = match NetNs::open(&attachment.netns) {
                Ok(ns) => Some(ns),
                Err(e) if attachment.kind != AttachmentKind::Memif => {
                    tracing::warn!(
                        "{}: its network namespace {} is gone ({e}); it stays registered until the runtime DELs it",
                        attachment.key,
                        attachment.netns.display()
                    );
                    continue;
                }
                Err(_) => None,
            };
            match self.connect(network, ns.as_ref(), &attachment, false).await {
                Ok(()) => tracing::info!(attachment = %attachment.key, "pod attachment picked up"),
                Err(e) => tracing::error!("{}: cannot pick it up: {e}", attachment.key),
            }
        }
    }

    /// Makes (`fresh`) or reopens the kernel or memif side of `attachment` and plugs it into
    /// the switch.
    async fn connect(
        &self,
        network: &NetworkConfig,
        ns: Option<&NetNs>,
        attachment: &Attachment,
        fresh: bool,
    ) -> Result<(), AttachError> {
        let failed = |e: kernel::KernelError| kernel_failure(&attachment.key, e);
        // One queue per worker where the device has queues (a tap).
        let queues = self.workers.count();
        let (rx, tx, peer, offloads): PortSides = match attachment.kind {
            AttachmentKind::Memif => {
                let memif =
                    memif::open(attachment).map_err(|e| kernel_failure(&attachment.key, e))?;
                (
                    vec![memif.rx],
                    memif.tx,
                    Peer::Memif(memif.link),
                    TxOffloads::default(),
                )
            }
            AttachmentKind::Tap | AttachmentKind::Veth => {
                let ns = ns.ok_or_else(|| kernel_failure(&attachment.key, "no namespace"))?;
                let mac = plan::switch_mac(&self.name, attachment);
                let port = if fresh {
                    kernel::wire(ns, attachment, queues, mac)
                        .await
                        .map_err(failed)?
                } else {
                    match kernel::reopen(ns, attachment, queues, mac)
                        .await
                        .map_err(failed)?
                    {
                        Some(port) => port,
                        None => kernel::wire(ns, attachment, queues, mac)
                            .await
                            .map_err(failed)?,
                    }
                };
                let peer = Peer::Kernel(format!(
                    "{}/{}",
                    attachment.netns.display(),
                    attachment.key.ifname
                ));
                (port.rx, port.tx, peer, port.offloads)
            }
        };
        let mut pod = self.pod_interface(network, attachment, peer);
        pod.interface.offloads = offloads;
        let mut dynamic = self.dynamic();
        if dynamic.next_index().is_none() {
            drop(dynamic);
            return Err(AttachError::new(
                FailureKind::Exhausted,
                "the switch has no free interface index (65 535 in use)",
            ));
        }
        let index = dynamic.insert(pod);
        // Attached before the tables that route to it are published, as Workers asks.
        self.workers.attach_queues(index, rx, tx);
        self.publisher.publish(dynamic.render());
        Ok(())
    }

    /// Takes `key`'s port out of the switch: tables first, so no worker sends to it, then the
    /// workers let go of it.
    fn unplug(&self, key: &AttachmentKey) {
        let mut dynamic = self.dynamic();
        if let Some(index) = dynamic.remove(key) {
            self.publisher.publish(dynamic.render());
            self.workers.detach(index);
        }
    }

    /// The switch's interface for `attachment`.
    fn pod_interface(
        &self,
        network: &NetworkConfig,
        attachment: &Attachment,
        peer: Peer,
    ) -> PodInterface {
        let mut interface = SwitchInterface::l3(
            attachment.switch_interface.clone(),
            plan::switch_mac(&self.name, attachment),
        );
        interface.mtu = attachment.mtu.min(u32::from(u16::MAX)) as u16;
        let routed = network.forwarding == NetworkForwarding::Routed;
        if routed {
            interface.ip4.push((POD_GATEWAY_V4, 32));
            interface.ip6.push((POD_GATEWAY_V6, 64));
            interface.source_check = true;
        }
        PodInterface {
            key: attachment.key.clone(),
            interface,
            routes: if routed {
                attachment.addresses.iter().map(|a| a.addr()).collect()
            } else {
                Vec::new()
            },
            pod_mac: plan::pod_mac(attachment),
            bridge: (!routed).then(|| network.name.clone()),
            kind: attachment.kind.as_str(),
            peer,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two uplinks and a tap, all routed, and what `extra` adds.
    fn config(extra: &str) -> Config {
        let text = format!(
            r#"
[node]
name = "n1"

[[interface]]
name = "up0"
kind = "af-packet"
host_interface = "veth-a"
addresses = ["192.168.50.1/24"]

[[interface]]
name = "up1"
kind = "af-xdp"
host_interface = "veth-b"
addresses = ["192.168.51.1/24"]

[[interface]]
name = "tap0"
kind = "tap"
addresses = ["192.168.52.1/24"]
{extra}"#
        );
        Config::parse(&text).unwrap_or_else(|e| panic!("a valid config: {e}"))
    }

    fn mtus(of: &[(&str, u16)]) -> HashMap<String, u16> {
        of.iter()
            .map(|&(name, mtu)| (name.to_owned(), mtu))
            .collect()
    }

    #[test]
    fn by_default_the_routed_uplinks_are_the_ways_out_and_a_tap_is_not() {
        let attached = mtus(&[("up0", 9000), ("up1", 4000), ("tap0", 1500)]);
        let exits = pod_exits(&config(""), &attached, None);
        assert_eq!(
            exits.masquerade,
            [("up0".to_owned(), 9000), ("up1".to_owned(), 4000)]
        );
        assert_eq!(pod_mtu(None, &exits).mtu, 4000);
    }

    #[test]
    fn the_masquerade_interfaces_named_and_the_tunnel_are_the_ways_out() {
        let named = config("\n[services]\nmasquerade_interfaces = [\"tap0\"]\n");
        let attached = mtus(&[("up0", 9000), ("up1", 9000), ("tap0", 1500)]);
        let tunnel = TunnelExit {
            uplink: "up0".into(),
            uplink_mtu: 9000,
            mtu: 8950,
        };
        let exits = pod_exits(&named, &attached, Some(&tunnel));
        assert_eq!(exits.masquerade, [("tap0".to_owned(), 1500)]);
        assert_eq!(exits.tunnel, Some(tunnel));
        assert_eq!(pod_mtu(None, &exits).mtu, 1500);
        let none = config("\n[services]\nmasquerade_interfaces = []\n");
        let exits = pod_exits(&none, &attached, None);
        assert_eq!(exits, PodExits::default());
    }

    /// A dual-stack network and an IPv4 one, neither with an `mtu`, and what `extra` adds.
    fn networks(extra: &str) -> (tempfile::TempDir, PodNetworks) {
        let config = config(&format!(
            r#"
[[network]]
name = "dual"
pod_cidrs = ["10.1.0.0/24", "fd01::/112"]

[[network]]
name = "v4"
pod_cidrs = ["10.2.0.0/24"]
{extra}"#
        ));
        let dir = tempfile::tempdir().expect("a temporary directory");
        let pods = PodNetworks::open(config.networks, dir.path())
            .unwrap_or_else(|e| panic!("a new registry: {e}"));
        (dir, pods)
    }

    fn status(pods: &PodNetworks, network: &str) -> NetworkStatus {
        let all = pods.registry().status();
        all.into_iter()
            .find(|n| n.name == network)
            .unwrap_or_else(|| panic!("no status of network {network}"))
    }

    /// What the registry answers an ADD on `network` whose plan fails: the plan's error when
    /// the registry lets it through.
    fn add_error(pods: &PodNetworks, network: &str) -> String {
        let key = AttachmentKey {
            network: network.to_owned(),
            container_id: "c1".into(),
            ifname: "eth0".into(),
        };
        match pods.registry().add(&key, |_| Err("the plan ran")) {
            Ok(_) => panic!("an ADD whose plan fails succeeded"),
            Err(e) => e.to_string(),
        }
    }

    fn tunnel(uplink_mtu: u32) -> PodExits {
        PodExits {
            tunnel: Some(TunnelExit {
                uplink: "up0".into(),
                uplink_mtu,
                mtu: uplink_mtu - 50,
            }),
            masquerade: Vec::new(),
        }
    }

    #[test]
    fn the_status_reports_each_networks_mtu_and_where_it_comes_from() {
        let (_dir, mut pods) = networks("mtu = 1400\n");
        assert_eq!(status(&pods, "dual").mtu, None, "not decided yet");
        pods.decide_mtu(&tunnel(9000));
        let dual = status(&pods, "dual");
        assert_eq!(
            dual.mtu,
            Some(NetworkMtu {
                mtu: 8950,
                source: "tunnel over up0, MTU 9000".into()
            })
        );
        assert!(dual.ready, "{:?}", dual.reason);
        let given = status(&pods, "v4").mtu.expect("decided");
        assert_eq!(
            (given.mtu, given.source.as_str()),
            (1400, "given in the config")
        );
        assert_eq!(pods.networks()[0].mtu, Some(8950));
    }

    #[test]
    fn an_ipv6_network_below_1280_over_the_tunnel_refuses_pods_and_says_what_to_do() {
        let (_dir, mut pods) = networks("");
        pods.decide_mtu(&tunnel(1300));
        let dual = status(&pods, "dual");
        assert!(!dual.ready);
        let reason = dual.reason.expect("a reason");
        assert!(
            reason.contains("MTU 1250 (tunnel over up0, MTU 1300) is below 1280")
                && reason.contains("fd01::/112")
                && reason.contains("give up0 an MTU of at least 1330"),
            "{reason}"
        );
        assert_eq!(dual.mtu.map(|m| m.mtu), Some(1250));
        let refused = add_error(&pods, "dual");
        assert!(
            refused.starts_with("network dual cannot take pods: ") && refused.contains(&reason),
            "{refused}"
        );
        // IPv4 works at 1250: that network takes pods.
        assert!(status(&pods, "v4").ready);
        assert_eq!(add_error(&pods, "v4"), "the plan ran");
    }

    #[test]
    fn an_ipv6_network_below_1280_behind_a_masquerade_interface_is_told_to_give_an_mtu() {
        let (_dir, mut pods) = networks("");
        let exits = PodExits {
            tunnel: None,
            masquerade: vec![("tap0".into(), 1200)],
        };
        pods.decide_mtu(&exits);
        let reason = status(&pods, "dual").reason.expect("a reason");
        assert!(
            reason.contains(
                "give tap0 an MTU of at least 1280, or the network an mtu of at least 1280"
            ),
            "{reason}"
        );
        assert!(add_error(&pods, "dual").contains(&reason));
    }
}
