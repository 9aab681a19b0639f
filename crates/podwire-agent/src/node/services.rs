//! The node's side of Services: the facts the data plane needs about the node (its
//! addresses, the cluster and Service CIDRs, the host interface), and publishing the
//! service table each time Services change.

use std::net::IpAddr;
use std::sync::MutexGuard;

use podwire_dataplane::interface::IfIndex;
use podwire_dataplane::nat::service::NodeNat;
use podwire_dataplane::nat::session::{SessionConfig, Timeouts};
use podwire_model::config::{Config, ServicesConfig};

use crate::node::Node;
use crate::services::ServiceUpdate;
use crate::services::render::ServiceRenderer;

/// What the data plane knows of this node for Services, from its config; `host` is the
/// index of the host interface, if it has one.
pub(super) fn node_nat(config: &Config, host: Option<IfIndex>) -> NodeNat {
    let services = &config.services;
    let cidrs = |list: &[podwire_model::Cidr]| {
        list.iter()
            .map(|c| (c.addr(), c.prefix_len()))
            .collect::<Vec<_>>()
    };
    let first = |v6: bool| {
        services
            .node_addresses
            .iter()
            .copied()
            .find(|a| a.is_ipv6() == v6)
    };
    NodeNat {
        service_cidrs: cidrs(&services.cidrs),
        cluster_cidrs: cidrs(&services.cluster_cidrs),
        node_addresses: services.node_addresses.clone(),
        masquerade4: first(false).and_then(|a| match a {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(_) => None,
        }),
        masquerade6: first(true).and_then(|a| match a {
            IpAddr::V6(a) => Some(a),
            IpAddr::V4(_) => None,
        }),
        host_interface: host,
    }
}

/// Each worker's session table, from `[services]`: the size and the timeouts the config
/// sets, Linux's for the rest.
pub(super) fn session_config(services: &ServicesConfig) -> SessionConfig {
    SessionConfig {
        capacity: services.sessions_per_worker,
        timeouts: Timeouts {
            tcp_established: services.tcp_established_timeout,
            tcp_close_wait: services.tcp_close_wait_timeout,
            udp: services.udp_timeout,
            udp_stream: services.udp_stream_timeout,
            ..Timeouts::default()
        },
    }
}

impl Node {
    fn services(&self) -> MutexGuard<'_, ServiceRenderer> {
        self.services.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies Services' new states to the data plane: renders them into the service table,
    /// serves or stops their health-check ports, and publishes the tables. The renderer's
    /// lock is held until the tables are published, so that two changes publish in the
    /// order they were rendered.
    pub(crate) fn apply_service_updates(&self, updates: Vec<ServiceUpdate>) {
        if updates.is_empty() {
            return;
        }
        let mut renderer = self.services();
        for update in &updates {
            renderer.apply(update);
        }
        {
            let mut health = self.health.lock().unwrap_or_else(|e| e.into_inner());
            for update in &updates {
                if let Err(e) = health.update(&update.id, update.model.as_ref()) {
                    tracing::warn!("{e}");
                }
            }
        }
        // Published under the tables' lock: a pod attached meanwhile renders and publishes
        // under it too, and must not be overwritten by an older rendering.
        let mut dynamic = self.dynamic();
        let tables = dynamic.set_services(renderer.table());
        self.publisher.publish(tables);
    }
}
