//! What `podwire ctl get services|endpoints|pods|networkpolicies|clusternetworkpolicies|namespaces`
//! shows, from the objects.

mod objects;

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};

use k8s_openapi::api::core::v1::{Pod, Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use podwire_model::cluster::{EndpointView, ObjectStatus, PodView, ServiceView};
use podwire_model::service::Frontend;

use crate::endpoints::pod_ready;
use crate::object::namespace_of;
use crate::services::{self, Translation};
use crate::validate::{SERVICE_NAME_LABEL, protocol_of};

pub use objects::{SELECTS_NO_POD, objects};

/// A Service's view, with what its translation made of it.
pub fn service(service: &Service, translation: &Translation) -> ServiceView {
    let default = ServiceSpec::default();
    let spec = service.spec.as_ref().unwrap_or(&default);
    let mut external_ips: Vec<IpAddr> = spec
        .external_ips
        .iter()
        .flatten()
        .filter_map(|ip| ip.parse().ok())
        .collect();
    external_ips.extend(services::load_balancer_ips(service));
    let frontends = translation.model.iter().flat_map(|m| &m.frontends);
    let frontend_texts = frontends.clone().map(frontend_text).collect();
    let cluster: BTreeSet<_> = frontends
        .clone()
        .flat_map(|f| &f.cluster_endpoints)
        .collect();
    let local: BTreeSet<_> = frontends.flat_map(|f| &f.local_endpoints).collect();
    ServiceView {
        namespace: namespace_of(&service.metadata).to_owned(),
        name: service.metadata.name.clone().unwrap_or_default(),
        service_type: spec.type_.clone().unwrap_or_else(|| "ClusterIP".into()),
        cluster_ips: services::cluster_ips(spec),
        external_ips,
        ports: spec.ports.iter().flatten().map(port_text).collect(),
        frontends: frontend_texts,
        endpoints: cluster.len(),
        local_endpoints: local.len(),
        affinity_timeout_s: services::affinity_timeout(spec).map(|t| t.as_secs()),
        health_check_node_port: translation
            .model
            .as_ref()
            .and_then(|m| m.health_check_node_port),
        status: translation.status.clone(),
    }
}

/// `80/TCP`, `80:30080/TCP`, `80/TCP→8080`, `443:30443/TCP→https`.
fn port_text(port: &ServicePort) -> String {
    let mut text = port.port.to_string();
    if let Some(node_port) = port.node_port.filter(|&n| n != 0) {
        text.push_str(&format!(":{node_port}"));
    }
    text.push('/');
    text.push_str(protocol_of(&port.protocol));
    match &port.target_port {
        Some(IntOrString::Int(n)) if *n != port.port => text.push_str(&format!("→{n}")),
        Some(IntOrString::String(name)) => text.push_str(&format!("→{name}")),
        _ => {}
    }
    text
}

/// `10.96.0.10:80/TCP`, `[fd00:96::10]:80/TCP`, `*:30080/TCP` (a NodePort, on every node
/// address).
fn frontend_text(frontend: &Frontend) -> String {
    let (port, protocol) = (frontend.port, frontend.protocol);
    match frontend.address {
        Some(address) => format!("{}/{protocol}", SocketAddr::new(address, port)),
        None => format!("*:{port}/{protocol}"),
    }
}

/// The endpoints of a slice (of the Service it is labelled with).
pub fn endpoints(slice: &EndpointSlice) -> Vec<EndpointView> {
    let namespace = namespace_of(&slice.metadata).to_owned();
    let service = slice
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(SERVICE_NAME_LABEL))
        .cloned()
        .unwrap_or_default();
    let ports: Vec<String> = slice
        .ports
        .iter()
        .flatten()
        .map(|p| {
            let number = p.port.map_or_else(|| "-".to_owned(), |n| n.to_string());
            let protocol = protocol_of(&p.protocol);
            match p.name.as_deref().unwrap_or("") {
                "" => format!("{number}/{protocol}"),
                name => format!("{name}:{number}/{protocol}"),
            }
        })
        .collect();
    let slice_name = slice.metadata.name.clone().unwrap_or_default();
    slice
        .endpoints
        .iter()
        .flatten()
        .filter_map(|endpoint| {
            // FQDN slices have no IP to show; proxies ignore them too.
            let address: IpAddr = endpoint.addresses.first()?.parse().ok()?;
            let conditions = endpoint.conditions.clone().unwrap_or_default();
            let pod = endpoint
                .target_ref
                .as_ref()
                .filter(|r| r.kind.as_deref() == Some("Pod"))
                .and_then(|r| {
                    let ns = r.namespace.as_deref().unwrap_or(&namespace);
                    Some(format!("{ns}/{}", r.name.as_deref()?))
                });
            Some(EndpointView {
                namespace: namespace.clone(),
                service: service.clone(),
                slice: slice_name.clone(),
                address,
                ports: ports.clone(),
                node: endpoint.node_name.clone(),
                pod,
                ready: conditions.ready.unwrap_or(true),
                serving: conditions.serving.unwrap_or(true),
                terminating: conditions.terminating.unwrap_or(false),
            })
        })
        .collect()
}

/// A Pod's view: `ips` are its addresses as podwire knows them, `status` whether it is
/// attached.
pub fn pod(pod: &Pod, ips: &[IpAddr], status: ObjectStatus) -> PodView {
    PodView {
        namespace: namespace_of(&pod.metadata).to_owned(),
        name: pod.metadata.name.clone().unwrap_or_default(),
        labels: pod
            .metadata
            .labels
            .iter()
            .flatten()
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
        ips: ips.to_vec(),
        node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        ready: pod_ready(pod),
        status,
    }
}

#[cfg(test)]
mod tests;
