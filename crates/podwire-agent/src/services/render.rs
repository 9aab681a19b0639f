//! Service models into the data plane's service table.
//!
//! The renderer keeps the table and, per Service, the frontend keys and Service ports it put
//! there, so that a change of one Service replaces exactly its frontends: one shard of the
//! table is copied, whatever the number of Services (the table is sharded, see
//! [`podwire_dataplane::nat::service`]).

use std::collections::HashMap;
use std::sync::Arc;

use podwire_dataplane::nat::service::{
    EndpointSet, Frontend, FrontendKey, NodeNat, Scope, ServicePortId, ServiceTable,
};
use podwire_model::service::{self as model, ServiceId, ServiceModel, TrafficPolicy};

use crate::services::ServiceUpdate;

/// The Service port a model frontend belongs to.
pub fn service_port(frontend: &model::Frontend) -> ServicePortId {
    ServicePortId(podwire_k8s::services::service_port_id(
        &frontend.service,
        &frontend.port_name,
    ))
}

/// The data plane's frontend for a model frontend.
pub fn frontend(f: &model::Frontend) -> (FrontendKey, Frontend) {
    let key = FrontendKey {
        address: f.address,
        protocol: f.protocol.number(),
        port: f.port,
    };
    let at = match f.address {
        Some(address) => format!("{address}"),
        None => "node addresses".to_owned(),
    };
    let port_name = match f.port_name.is_empty() {
        true => String::new(),
        false => format!(":{}", f.port_name),
    };
    let name = format!(
        "{}{port_name} ({} {at} port {}/{})",
        f.service, f.kind, f.port, f.protocol
    );
    let frontend = Frontend {
        name: name.into(),
        service_port: service_port(f),
        scope: match f.kind.is_external() {
            true => Scope::External,
            false => Scope::Internal,
        },
        local_policy: f.traffic_policy == TrafficPolicy::Local,
        cluster: EndpointSet::new(f.cluster_endpoints.clone()),
        local: EndpointSet::new(f.local_endpoints.clone()),
        affinity: f.affinity_timeout,
        source_ranges: f
            .source_ranges
            .iter()
            .map(|c| (c.addr(), c.prefix_len()))
            .collect(),
    };
    (key, frontend)
}

/// The data plane's frontends for a Service model.
pub fn frontends(model: &ServiceModel) -> Vec<(FrontendKey, Frontend)> {
    model.frontends.iter().map(frontend).collect()
}

/// What one Service put in the table.
#[derive(Debug, Default)]
struct Placed {
    keys: Vec<FrontendKey>,
    ports: Vec<ServicePortId>,
}

/// The service table and what each Service put in it.
#[derive(Debug)]
pub struct ServiceRenderer {
    table: ServiceTable,
    placed: HashMap<ServiceId, Placed>,
}

impl ServiceRenderer {
    /// An empty table for a node.
    pub fn new(node: NodeNat) -> Self {
        ServiceRenderer {
            table: ServiceTable::new(node),
            placed: HashMap::new(),
        }
    }

    /// Applies one Service's new state: its old frontends that it no longer has go, its new
    /// ones replace what was at their keys.
    pub fn apply(&mut self, update: &ServiceUpdate) {
        let old = self.placed.remove(&update.id).unwrap_or_default();
        let mut placed = Placed::default();
        let mut serving: HashMap<ServicePortId, Vec<core::net::IpAddr>> = HashMap::new();
        for f in update.model.iter().flat_map(|m| &m.frontends) {
            let (key, frontend) = frontend(f);
            serving
                .entry(frontend.service_port)
                .or_default()
                .extend(&f.serving_endpoints);
            placed.keys.push(key);
            self.table.insert(key, frontend);
        }
        for key in old.keys.iter().filter(|k| !placed.keys.contains(k)) {
            self.table.remove(key);
        }
        for port in old.ports.iter().filter(|p| !serving.contains_key(p)) {
            self.table.set_serving(*port, Vec::new());
        }
        for (port, mut addresses) in serving {
            addresses.sort_unstable();
            addresses.dedup();
            placed.ports.push(port);
            self.table.set_serving(port, addresses);
        }
        if !placed.keys.is_empty() {
            self.placed.insert(update.id.clone(), placed);
        }
    }

    /// The table to publish (sharing its shards with the renderer's).
    pub fn table(&self) -> Arc<ServiceTable> {
        Arc::new(self.table.clone())
    }

    /// Services with at least one frontend in the table.
    pub fn services(&self) -> usize {
        self.placed.len()
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, SocketAddr};
    use std::time::Duration;

    use podwire_model::service::{FrontendKind, Protocol};

    use super::*;

    fn id(name: &str) -> ServiceId {
        ServiceId {
            namespace: "default".into(),
            name: name.into(),
        }
    }

    fn clusterip(name: &str, vip: &str, port: u16, endpoints: &[&str]) -> model::Frontend {
        let endpoints: Vec<SocketAddr> = endpoints.iter().map(|e| e.parse().unwrap()).collect();
        model::Frontend {
            service: id(name),
            port_name: "http".into(),
            kind: FrontendKind::ClusterIp,
            address: Some(vip.parse().unwrap()),
            protocol: Protocol::Tcp,
            port,
            traffic_policy: TrafficPolicy::Cluster,
            cluster_endpoints: endpoints.clone(),
            local_endpoints: Vec::new(),
            serving_endpoints: endpoints.iter().map(|e| e.ip()).collect(),
            affinity_timeout: Some(Duration::from_secs(30)),
            source_ranges: vec!["10.0.0.0/8".parse().unwrap()],
        }
    }

    fn update(name: &str, frontends: Vec<model::Frontend>) -> ServiceUpdate {
        ServiceUpdate {
            id: id(name),
            model: Some(ServiceModel {
                id: id(name),
                frontends,
                health_check_node_port: None,
                local_ready_endpoints: 0,
            }),
        }
    }

    fn key(vip: &str, port: u16) -> FrontendKey {
        FrontendKey {
            address: Some(vip.parse().unwrap()),
            protocol: 6,
            port,
        }
    }

    #[test]
    fn a_model_frontend_becomes_a_data_plane_frontend() {
        let f = clusterip("web", "10.96.0.10", 80, &["10.0.0.2:8080", "10.0.0.3:8080"]);
        let (k, dp) = frontend(&f);
        assert_eq!(k, key("10.96.0.10", 80));
        assert_eq!(dp.scope, Scope::Internal);
        assert!(!dp.local_policy);
        assert_eq!(dp.cluster.endpoints().len(), 2);
        assert!(dp.local.is_empty());
        assert_eq!(dp.affinity, Some(Duration::from_secs(30)));
        assert_eq!(dp.source_ranges, vec![("10.0.0.0".parse().unwrap(), 8)]);
        assert_eq!(dp.service_port, service_port(&f));
        assert!(dp.name.contains("default/web:http"), "{}", dp.name);
    }

    #[test]
    fn a_change_replaces_exactly_the_services_frontends() {
        let mut r = ServiceRenderer::new(NodeNat::default());
        r.apply(&update(
            "web",
            vec![
                clusterip("web", "10.96.0.10", 80, &["10.0.0.2:8080"]),
                clusterip("web", "10.96.0.10", 443, &["10.0.0.2:8443"]),
            ],
        ));
        r.apply(&update(
            "db",
            vec![clusterip("db", "10.96.0.20", 5432, &["10.0.0.9:5432"])],
        ));
        assert_eq!(r.table().len(), 3);

        // web loses port 443 and moves its endpoint.
        r.apply(&update(
            "web",
            vec![clusterip("web", "10.96.0.10", 80, &["10.0.0.3:8080"])],
        ));
        let table = r.table();
        assert_eq!(table.len(), 2);
        assert!(table.get(&key("10.96.0.10", 443)).is_none());
        let web = table.get(&key("10.96.0.10", 80)).unwrap();
        assert_eq!(web.cluster.endpoints(), &["10.0.0.3:8080".parse().unwrap()]);
        let port = web.service_port;
        assert!(table.is_serving(port, "10.0.0.3".parse().unwrap()));
        assert!(!table.is_serving(port, "10.0.0.2".parse().unwrap()));

        // Deleting web leaves db alone and forgets web's serving endpoints.
        r.apply(&ServiceUpdate {
            id: id("web"),
            model: None,
        });
        let table = r.table();
        assert_eq!(table.len(), 1);
        assert!(table.get(&key("10.96.0.20", 5432)).is_some());
        assert!(!table.is_serving(port, "10.0.0.3".parse::<IpAddr>().unwrap()));
        assert_eq!(r.services(), 1);
    }
}
