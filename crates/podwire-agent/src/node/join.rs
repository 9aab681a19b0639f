//! This node as a member of a cluster: its VXLAN tunnel to the other nodes (the way out that
//! bounds the pods' MTU), the routes to the other nodes' pod CIDRs, where `podwire ctl apply` writes, and
//! the pod addresses it tells the other nodes.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use podwire_dataplane::interface::{IfIndex, InterfaceConfig as SwitchInterface, VxlanTunnel};
use podwire_dataplane::nodes::vxlan;
use podwire_k8s::object::Object;
use podwire_model::Cidr;
use podwire_model::cluster::{NodeView, ObjectKey, ObjectKind, ObjectStatus};
use podwire_model::config::{ClusterJoin, Config, TunnelExit};

use super::cluster::AttachedPods;
use super::cluster::Effects;
use super::tunnels::{self, Local, NodeState};
use super::{Node, NodeError, Peer, SwitchPort, route_err};
use crate::cluster::{Cluster, PodAddresses, inputs};
use crate::reconcile::transactions::Trigger;
use crate::source::etcd::EtcdStore;

/// A Pod, by namespace and name.
type PodName = (String, String);

/// Pod addresses written to etcd.
type Published = HashMap<PodName, Vec<IpAddr>>;

/// Pod addresses that could not be written: attempts so far and the last reason.
type Failures = HashMap<PodName, (u32, String)>;

/// Where the cluster objects are changed when `podwire ctl apply` asks.
#[derive(Clone)]
pub enum ObjectStore {
    /// In this node's store (one machine).
    Local,
    /// In etcd, which every node watches: the change comes back through the watch.
    Etcd(Box<EtcdStore>),
    /// In the Kubernetes API, which podwire only reads.
    Kubernetes,
}

impl ObjectStore {
    /// The source's name, for the transaction log.
    pub fn source_name(&self) -> &'static str {
        match self {
            ObjectStore::Local => "local",
            ObjectStore::Etcd(_) => "etcd",
            ObjectStore::Kubernetes => "kubernetes",
        }
    }
}

/// This node's part of a cluster.
pub(super) struct Membership {
    /// The tunnel interface.
    pub interface: IfIndex,
    /// Where the tunnels to this node end.
    pub tunnel_address: IpAddr,
    /// The tunnel as a way out of this node for pods' traffic: their MTU must fit it.
    pub tunnel: TunnelExit,
    /// This node's pod CIDRs.
    pub pod_cidrs: Vec<Cidr>,
    /// Every Node of the store, as `ctl get nodes` shows them.
    pub states: Mutex<Vec<NodeState>>,
    /// The pod addresses last written to etcd, by namespace and name, so that a write is
    /// not repeated while the watch has not brought it back yet.
    pub published: Arc<Mutex<Published>>,
    /// The writes that failed, tried again by [`Node::retry_failed`].
    pub failures: Arc<Mutex<Failures>>,
}

impl Membership {
    fn states(&self) -> MutexGuard<'_, Vec<NodeState>> {
        self.states.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The tunnel interface of `join`, for an uplink of MTU `uplink_mtu`: its MTU leaves room
/// for the encapsulation, so a packet that fits it fits the uplink once encapsulated.
pub(super) fn tunnel_interface(join: &ClusterJoin, uplink_mtu: u32) -> (SwitchInterface, u32) {
    let overhead = match join.tunnel_address {
        IpAddr::V4(_) => vxlan::OVERHEAD4,
        IpAddr::V6(_) => vxlan::OVERHEAD6,
    };
    let mtu = uplink_mtu.saturating_sub(overhead as u32);
    let tunnel = VxlanTunnel {
        vni: join.vni,
        local: join.tunnel_address,
        port: join.vxlan_port,
        peers: Vec::new(),
    };
    let interface = SwitchInterface::vxlan(
        tunnel_name(join),
        tunnel,
        mtu.min(u32::from(u16::MAX)) as u16,
    );
    (interface, mtu)
}

/// The tunnel interface's name in `show interfaces`.
fn tunnel_name(join: &ClusterJoin) -> String {
    format!("vxlan-{}", join.vni)
}

impl Node {
    /// Adds the tunnel interface of `join` to `build` (it has no port: what is routed to it
    /// is encapsulated and leaves by the uplink).
    pub(super) fn join_cluster(
        &mut self,
        tables: &mut podwire_dataplane::tables::TablesBuilder,
        join: &ClusterJoin,
        config: &Config,
        uplink_mtu: u16,
    ) -> Result<Membership, NodeError> {
        let (interface, mtu) = tunnel_interface(join, u32::from(uplink_mtu));
        let index = tables
            .add_interface(interface)
            .map_err(route_err(format!("cluster tunnel over {}", join.uplink)))?;
        self.attachments.push(SwitchPort {
            name: tunnel_name(join),
            index,
            kind: "vxlan",
            peer: Peer::Kernel(format!(
                "VNI {} over {} from {}",
                join.vni, join.uplink, join.tunnel_address
            )),
        });
        let pod_cidrs = config
            .networks
            .iter()
            .find(|n| n.name == join.network)
            .map(|n| n.pod_cidrs.clone())
            .unwrap_or_default();
        tracing::info!(
            tunnel = %tunnel_name(join),
            address = %join.tunnel_address,
            tunnel_mtu = mtu,
            pod_cidrs = ?pod_cidrs,
            "joined the cluster"
        );
        Ok(Membership {
            interface: index,
            tunnel_address: join.tunnel_address,
            tunnel: TunnelExit {
                uplink: join.uplink.clone(),
                uplink_mtu: u32::from(uplink_mtu),
                mtu,
            },
            pod_cidrs,
            states: Mutex::default(),
            published: Arc::default(),
            failures: Arc::default(),
        })
    }

    /// Routes to the other nodes as the store's Nodes say, published when they changed;
    /// what changed, for the transaction log.
    pub(super) fn render_remote_nodes(&self, cluster: &Cluster) -> Vec<String> {
        let Some(member) = &self.membership else {
            return Vec::new();
        };
        let local = Local {
            name: &self.name,
            pod_cidrs: &member.pod_cidrs,
            tunnel_address: member.tunnel_address,
        };
        let (routes, states) = tunnels::render(&local, cluster.nodes());
        let mut notes = node_changes(&member.states(), &states);
        *member.states() = states;
        let mut dynamic = self.dynamic();
        if let Some(change) = dynamic.set_remote_routes(routes) {
            self.publisher.publish(dynamic.render());
            tracing::info!(
                added = change.added,
                removed = change.removed,
                "routes to other nodes changed"
            );
            notes.push(format!(
                "routes to other nodes: +{} -{}",
                change.added, change.removed
            ));
        }
        notes
    }

    /// `GET /v1/cluster/nodes`.
    pub(super) fn node_views(&self) -> Vec<NodeView> {
        let states = match &self.membership {
            Some(member) => member.states().clone(),
            None => self
                .cluster()
                .nodes()
                .into_iter()
                .map(|(name, info)| NodeState {
                    name,
                    info: info.ok(),
                    status: ObjectStatus::Pending(
                        "this node is not in a cluster: set [cluster] source to etcd or kubernetes"
                            .to_owned(),
                    ),
                })
                .collect(),
        };
        states
            .into_iter()
            .map(|state| NodeView {
                this_node: state.name == self.name,
                pod_cidrs: state
                    .info
                    .as_ref()
                    .map(|i| i.pod_cidrs.iter().map(ToString::to_string).collect())
                    .unwrap_or_default(),
                tunnel_address: state.info.as_ref().and_then(|i| i.tunnel_address),
                name: state.name,
                status: state.status,
            })
            .collect()
    }

    /// With etcd: writes the addresses of this node's pods into their stored Pods (as a
    /// kubelet writes `status.podIPs`), where the store has them otherwise, so that the other
    /// nodes see them. Each write runs in the background; the watch brings it back.
    /// Only the pods attached here and those written before can need a write, unless
    /// `every_pod` (at start, and on a retry): a store of 150,000 Pods is not walked for
    /// each change.
    pub(super) fn publish_pod_addresses(
        &self,
        cluster: &Cluster,
        pods: &AttachedPods,
        every_pod: bool,
    ) {
        let (Some(member), ObjectStore::Etcd(store)) = (&self.membership, self.object_store())
        else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut published = member.published.lock().unwrap_or_else(|e| e.into_inner());
        let candidates: BTreeSet<PodName> = match every_pod {
            true => cluster
                .objects()
                .filter(|o| o.kind() == ObjectKind::Pod)
                .map(|o| {
                    let key = o.key();
                    (key.namespace, key.name)
                })
                .collect(),
            false => pods.names().chain(published.keys().cloned()).collect(),
        };
        for (namespace, name) in candidates {
            let key = ObjectKey {
                kind: ObjectKind::Pod,
                namespace,
                name,
            };
            let Some(Object::Pod(pod)) = cluster.object(&key) else {
                continue;
            };
            let here = pods.addresses(&key.namespace, &key.name);
            let node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
            let stored = inputs::status_ips(pod);
            let wanted = match (here.is_empty(), node == Some(self.name.as_str())) {
                (false, _) if stored != here || node != Some(self.name.as_str()) => here,
                (true, true) if !stored.is_empty() => Vec::new(),
                _ => continue,
            };
            let id = (key.namespace.clone(), key.name.clone());
            if published.get(&id) == Some(&wanted) {
                continue;
            }
            published.insert(id.clone(), wanted.clone());
            let (store, node) = (store.as_ref().clone(), self.name.clone());
            let (sent, failures) = (member.published.clone(), member.failures.clone());
            runtime.spawn(async move {
                let written = store
                    .set_pod_ips(&key.namespace, &key.name, &node, &wanted)
                    .await;
                let mut failures = failures.lock().unwrap_or_else(|e| e.into_inner());
                match written {
                    Ok(_) => {
                        failures.remove(&id);
                        tracing::debug!(pod = %key, ips = ?wanted, "pod addresses published");
                    }
                    Err(e) => {
                        // Forgotten, so that the next change of the store, or the next retry,
                        // writes it again.
                        sent.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
                        let failure = failures.entry(id).or_insert((0, String::new()));
                        *failure = (failure.0 + 1, e.to_string());
                        tracing::warn!(pod = %key, "cannot publish the pod's addresses: {e}");
                    }
                }
            });
        }
    }
}

impl Node {
    /// Tries again what failed: the pod addresses etcd did not take. Called periodically
    /// by the daemon; does nothing when nothing failed.
    pub fn retry_failed(&self) {
        let Some(member) = &self.membership else {
            return;
        };
        let attempt = {
            let failures = member.failures.lock().unwrap_or_else(|e| e.into_inner());
            match failures.values().map(|(attempts, _)| attempts).max() {
                Some(attempts) => attempts + 1,
                None => return,
            }
        };
        let trigger = Trigger::Retry {
            what: "writing pod addresses to etcd".to_owned(),
            attempt,
        };
        self.change_cluster(trigger, |_, _| ((), Effects::default()));
    }

    /// The status of Pod `namespace/name` while writing its addresses to etcd fails.
    pub(super) fn publication_failure(&self, namespace: &str, name: &str) -> Option<ObjectStatus> {
        let member = self.membership.as_ref()?;
        let failures = member.failures.lock().unwrap_or_else(|e| e.into_inner());
        let (attempts, reason) = failures.get(&(namespace.to_owned(), name.to_owned()))?;
        Some(ObjectStatus::Retrying {
            reason: format!("cannot write its addresses to etcd: {reason}"),
            attempts: *attempts,
        })
    }
}

/// The nodes that joined or left between two renderings, and those whose status changed.
fn node_changes(before: &[NodeState], after: &[NodeState]) -> Vec<String> {
    let mut notes = Vec::new();
    for state in after {
        match before.iter().find(|b| b.name == state.name) {
            None => notes.push(format!("node joined: {} ({})", state.name, state.status)),
            Some(old) if old.status != state.status => {
                notes.push(format!("node {}: {}", state.name, state.status))
            }
            Some(_) => {}
        }
    }
    for state in before {
        if !after.iter().any(|a| a.name == state.name) {
            notes.push(format!("node left: {}", state.name));
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    fn join(tunnel_address: IpAddr) -> ClusterJoin {
        ClusterJoin {
            cidrs: Vec::new(),
            network: "default".into(),
            uplink: "eth1".into(),
            tunnel_address,
            vni: 1,
            vxlan_port: 4789,
        }
    }

    #[test]
    fn the_tunnel_leaves_room_for_vxlan_over_either_family() {
        let v4 = join(Ipv4Addr::new(192, 168, 60, 1).into());
        let v6 = join(Ipv6Addr::new(0xfd00, 0x60, 0, 0, 0, 0, 0, 1).into());
        for (join, uplink, mtu) in [
            (&v4, 9000, 8950),
            (&v4, 1500, 1450),
            (&v6, 9000, 8930),
            (&v6, 1500, 1430),
        ] {
            let (interface, tunnel) = tunnel_interface(join, uplink);
            assert_eq!(tunnel, mtu, "{} over {uplink}", join.tunnel_address);
            assert_eq!(u32::from(interface.mtu), mtu);
        }
    }
}
