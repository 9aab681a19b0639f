//! The node as the API sees it: views of its interfaces, counters, tables
//! and trace, gathered from the workers.

use core::net::IpAddr;

use podwire_dataplane::interface::IfIndex;
use podwire_dataplane::tables::{Adjacency, Tables};
use podwire_io::worker::{PortCounters, WorkerSnapshot};
use podwire_model::api::{
    ErrorView, Health, HealthStatus, InterfaceView, NeighborState, NeighborView, NodeRuntimeView,
    RouteAction, RouteView, TraceStep, TraceView, TracedPacket,
};

use crate::api::NodeControl;

use super::{Node, Peer};

impl Node {
    pub(super) fn snapshots(&self) -> Vec<WorkerSnapshot> {
        self.workers.snapshot().unwrap_or_else(|e| {
            tracing::error!(error = %e, "a worker did not answer");
            Vec::new()
        })
    }

    fn interface_name(tables: &Tables, i: IfIndex) -> String {
        tables
            .interface(i)
            .map_or_else(|| format!("#{}", i.0), |c| c.name.clone())
    }
}

fn route_view(tables: &Tables, prefix: IpAddr, len: u8, adj: Option<Adjacency>) -> RouteView {
    let (action, via, interface) = match adj {
        Some(Adjacency::Local) => (RouteAction::Local, None, None),
        Some(Adjacency::Drop) | None => (RouteAction::Drop, None, None),
        Some(Adjacency::Unreachable) => (RouteAction::Unreachable, None, None),
        Some(Adjacency::Attached { interface }) => (
            RouteAction::Connected,
            None,
            Some(Node::interface_name(tables, interface)),
        ),
        Some(Adjacency::Via { interface, gateway }) => (
            RouteAction::Forward,
            Some(gateway.to_string()),
            Some(Node::interface_name(tables, interface)),
        ),
        Some(Adjacency::Tunnel { interface, remote }) => (
            RouteAction::Forward,
            Some(remote.to_string()),
            Some(Node::interface_name(tables, interface)),
        ),
    };
    RouteView {
        prefix: format!("{prefix}/{len}"),
        action,
        via,
        interface,
    }
}

impl NodeControl for Node {
    fn attachments(&self) -> Vec<podwire_model::attach::Attachment> {
        self.list_attachments()
    }

    fn networks(&self) -> Vec<podwire_model::attach::NetworkStatus> {
        self.network_status()
    }

    fn attach_add(
        self: std::sync::Arc<Self>,
        request: podwire_model::attach::AddRequest,
    ) -> crate::api::Reply<podwire_model::attach::Attachment> {
        Box::pin(async move { self.add_attachment(request).await })
    }

    fn attach_del(
        self: std::sync::Arc<Self>,
        request: podwire_model::attach::DelRequest,
    ) -> crate::api::Reply<podwire_model::attach::DelReport> {
        Box::pin(async move { self.del_attachment(request).await })
    }

    fn attach_check(
        self: std::sync::Arc<Self>,
        request: podwire_model::attach::CheckRequest,
    ) -> crate::api::Reply<podwire_model::attach::Attachment> {
        Box::pin(async move { self.check_attachment(request).await })
    }

    fn attach_gc(
        self: std::sync::Arc<Self>,
        request: podwire_model::attach::GcRequest,
    ) -> crate::api::Reply<podwire_model::attach::GcReport> {
        Box::pin(async move { self.gc_attachments(request).await })
    }

    fn cluster_apply(
        &self,
        request: podwire_model::cluster::ManifestRequest,
    ) -> Result<podwire_model::cluster::ManifestReport, crate::api::ClusterCallError> {
        self.apply_manifest(request)
    }

    fn cluster_delete(
        &self,
        request: podwire_model::cluster::ManifestRequest,
    ) -> Result<podwire_model::cluster::ManifestReport, crate::api::ClusterCallError> {
        self.delete_manifest(request)
    }

    fn transactions(&self, limit: usize) -> Vec<podwire_model::api::TransactionView> {
        self.recent_transactions(limit)
    }

    fn cluster_nodes(&self) -> Vec<podwire_model::cluster::NodeView> {
        self.node_views()
    }

    fn cluster_services(&self) -> Vec<podwire_model::cluster::ServiceView> {
        self.service_views()
    }

    fn cluster_endpoints(&self) -> Vec<podwire_model::cluster::EndpointView> {
        self.endpoint_views()
    }

    fn cluster_pods(&self) -> Vec<podwire_model::cluster::PodView> {
        self.pod_views()
    }

    fn cluster_objects(
        &self,
        kind: podwire_model::cluster::ObjectKind,
    ) -> Vec<podwire_model::cluster::ObjectView> {
        let cluster = self.cluster();
        cluster.object_views(kind, &self.attached_pods())
    }

    fn policies(&self) -> Vec<podwire_model::policy::PolicyRuleView> {
        self.policy_views()
    }

    fn explain(
        &self,
        request: podwire_model::policy::ExplainRequest,
    ) -> Result<podwire_model::policy::Explanation, String> {
        // Node's own `explain` (node/policy.rs): inherent methods come before trait ones.
        Node::explain(self, request)
    }

    fn interfaces(&self) -> Vec<InterfaceView> {
        let tables = self.publisher.current();
        let snapshots = self.snapshots();
        // The config's interfaces, then the pods' attachments.
        let ports: Vec<(IfIndex, &'static str, Peer)> = self
            .attachments
            .iter()
            .map(|a| (a.index, a.kind, a.peer.clone()))
            .chain(
                self.dynamic
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .ports()
                    .map(|(index, pod)| (index, pod.kind, pod.peer.clone())),
            )
            .collect();
        ports
            .into_iter()
            .filter_map(|(index, kind, peer)| {
                let config = tables.interface(index)?;
                let mut c = PortCounters::default();
                for s in &snapshots {
                    if let Some(p) = s.ports.get(index.as_usize()) {
                        c.add(p);
                    }
                }
                let addresses = config
                    .ip4
                    .iter()
                    .map(|(ip, len)| format!("{ip}/{len}"))
                    .chain(config.ip6.iter().map(|(ip, len)| format!("{ip}/{len}")))
                    .collect();
                let (up, peer) = peer.describe();
                Some(InterfaceView {
                    index: u32::from(index.0),
                    name: config.name.clone(),
                    kind: kind.to_string(),
                    mac: config.mac.to_string(),
                    mtu: u32::from(config.mtu),
                    offloads: crate::api::offload_names(&config.offloads),
                    up,
                    addresses,
                    peer,
                    rx_packets: c.rx_packets,
                    rx_bytes: c.rx_bytes,
                    tx_packets: c.tx_packets,
                    tx_bytes: c.tx_bytes,
                    drops: c.rx_drops + c.tx_drops,
                })
            })
            .collect()
    }

    fn runtime(&self) -> Vec<NodeRuntimeView> {
        self.snapshots()
            .iter()
            .flat_map(|s| {
                s.runtime.iter().map(|r| NodeRuntimeView {
                    worker: s.worker,
                    node: r.name.to_string(),
                    calls: r.counters.calls,
                    vectors: r.counters.vectors,
                    packets: r.counters.packets,
                    nanos: r.counters.nanos,
                })
            })
            .collect()
    }

    fn errors(&self) -> Vec<ErrorView> {
        self.snapshots()
            .iter()
            .flat_map(|s| {
                s.drops.iter().map(|d| ErrorView {
                    worker: s.worker,
                    node: d.node.to_string(),
                    reason: d.reason.name.to_string(),
                    description: d.reason.description.to_string(),
                    count: d.count,
                })
            })
            .collect()
    }

    fn sessions(&self) -> Vec<podwire_model::api::SessionTableView> {
        self.snapshots()
            .iter()
            .map(|s| podwire_model::api::SessionTableView {
                worker: s.worker,
                active: s.sessions.active,
                capacity: u64::from(s.session_capacity),
                created: s.sessions.created,
                expired: s.sessions.expired,
                evicted: s.sessions.evicted,
                refused_full: s.sessions.refused_full,
                cleared: s.sessions.cleared,
            })
            .collect()
    }

    fn routes(&self) -> Vec<RouteView> {
        let tables = self.publisher.current();
        let v4 = tables
            .ip4
            .iter()
            .map(|(p, len, i)| route_view(&tables, p.into(), len, tables.adjacency(i)));
        let v6 = tables
            .ip6
            .iter()
            .map(|(p, len, i)| route_view(&tables, p.into(), len, tables.adjacency(i)));
        v4.chain(v6).collect()
    }

    fn neighbors(&self) -> Vec<NeighborView> {
        let tables = self.publisher.current();
        let mut out: Vec<NeighborView> = tables
            .neighbors
            .iter()
            .map(|(&(i, ip), mac)| NeighborView {
                interface: Node::interface_name(&tables, i),
                ip: ip.to_string(),
                mac: mac.to_string(),
                state: NeighborState::Static,
                age_ms: None,
            })
            .collect();
        for s in self.snapshots() {
            for n in s.neighbors {
                out.push(NeighborView {
                    interface: Node::interface_name(&tables, n.interface),
                    ip: n.ip.to_string(),
                    mac: n.mac.map(|m| m.to_string()).unwrap_or_default(),
                    state: match n.mac {
                        None => NeighborState::Incomplete,
                        Some(_) if n.age.as_secs() < 30 => NeighborState::Reachable,
                        Some(_) => NeighborState::Stale,
                    },
                    age_ms: Some(n.age.as_millis() as u64),
                });
            }
        }
        out.sort_by(|a, b| (&a.interface, &a.ip).cmp(&(&b.interface, &b.ip)));
        out
    }

    fn trace_add(&self, packets: u32) {
        self.workers.trace_add(packets);
    }

    fn trace_show(&self) -> TraceView {
        let tables = self.publisher.current();
        let mut packets = Vec::new();
        for s in self.snapshots() {
            for p in s.trace {
                packets.push(TracedPacket {
                    id: p.id,
                    worker: s.worker,
                    rx_interface: Node::interface_name(&tables, p.rx_if),
                    timestamp_ns: p.received.as_nanos(),
                    steps: p
                        .steps
                        .into_iter()
                        .map(|step| TraceStep {
                            node: step.node.to_string(),
                            detail: match (step.detail.is_empty(), step.next.is_empty()) {
                                (_, true) => step.detail,
                                (true, false) => format!("→ {}", step.next),
                                (false, false) => format!("{} → {}", step.detail, step.next),
                            },
                        })
                        .collect(),
                });
            }
        }
        packets.sort_by_key(|p| p.timestamp_ns);
        TraceView { packets }
    }

    fn trace_clear(&self) {
        self.workers.trace_clear();
    }

    fn health(&self) -> Health {
        let answering = self.workers.snapshot().is_ok();
        Health {
            status: if answering {
                HealthStatus::Ok
            } else {
                HealthStatus::Degraded
            },
            workers: self.workers.count() as u32,
            uptime_s: self.uptime().as_secs(),
        }
    }
}
