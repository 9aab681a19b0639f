//! Checks of objects as the API server would make them, for the fields podwire uses, each
//! problem named by its field path: names (DNS-1123), Service ports (1-65535, protocol TCP,
//! UDP or SCTP, names unique and required when more than one, NodePorts in 30000-32767),
//! ClusterIPs (valid, `None`, or empty; one per family), `sessionAffinityConfig` timeout
//! (1-86400), traffic policies, `loadBalancerSourceRanges` CIDRs, external IPs; EndpointSlice
//! `addressType` and addresses of that type, its `kubernetes.io/service-name` label, port
//! numbers; Pod IPs; NetworkPolicy selectors, peers, ports and `policyTypes`. And conflicts
//! between objects: two Services with one ClusterIP, or one NodePort and protocol.
//!
//! Nothing here defaults a field: an absent protocol is TCP, an absent type ClusterIP, as
//! the API server's defaulting would make them. Fields podwire does not use (resources,
//! volumes, ...) are left to the kubelet of a real cluster.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Namespace, Node, Pod, ServiceSpec};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use podwire_model::config::FieldError;

use crate::object::Object;

mod cnp;
mod names;
mod policy;
mod service;

use names::{
    dns1035_label, dns1123_label, dns1123_subdomain, iana_svc_name, label_key, label_value,
    non_special_ip, parse_ip,
};

/// The NodePort range (the API server's default `--service-node-port-range`).
pub const NODE_PORTS: std::ops::RangeInclusive<i32> = 30000..=32767;

/// The label that joins an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// The largest `sessionAffinityConfig.clientIP.timeoutSeconds` (one day).
pub const MAX_AFFINITY_TIMEOUT_S: i32 = 86400;

const PROTOCOLS: &str = "TCP, UDP or SCTP";

/// The problems of one object, each with its field path (`spec.ports[0].port`).
pub fn object(object: &Object) -> Vec<FieldError> {
    let mut p = Problems::default();
    match object {
        Object::Namespace(o) => namespace(o, &mut p),
        Object::Pod(o) => pod(o, &mut p),
        Object::Service(o) => service::service(o, &mut p),
        Object::EndpointSlice(o) => endpoint_slice(o, &mut p),
        Object::NetworkPolicy(o) => policy::network_policy(o, &mut p),
        Object::ClusterNetworkPolicy(o) => cnp::cluster_network_policy(o, &mut p),
        Object::Node(o) => node(o, &mut p),
    }
    p.0
}

/// The conflicts `incoming` (objects being applied) would make with `existing` (the store's
/// objects that `incoming` does not replace) and among themselves: a ClusterIP, or a
/// NodePort with its protocol, used by two Services. Each problem names the incoming
/// object's field and the Service that has it already.
pub fn conflicts(incoming: &[Object], existing: &[&Object]) -> Vec<FieldError> {
    let mut cluster_ips: HashMap<IpAddr, String> = HashMap::new();
    let mut node_ports: HashMap<(i32, String), String> = HashMap::new();
    let mut claim = |object: &Object, mut report: Option<&mut Vec<FieldError>>| {
        let Object::Service(service) = object else {
            return;
        };
        let key = object.key();
        let owner = format!("{}/{}", key.namespace, key.name);
        let spec = service.spec.clone().unwrap_or_default();
        for (field, ip) in cluster_ip_fields(&spec) {
            match cluster_ips.get(&ip) {
                Some(other) if *other != owner => {
                    if let Some(report) = report.as_deref_mut() {
                        report.push(FieldError {
                            field: format!("{key}: {field}"),
                            problem: format!(
                                "{ip} is the ClusterIP of Service {other} already: choose \
                                 another address of the service CIDR"
                            ),
                        });
                    }
                }
                Some(_) => {}
                None => {
                    cluster_ips.insert(ip, owner.clone());
                }
            }
        }
        for (i, port) in spec.ports.iter().flatten().enumerate() {
            let Some(node_port) = port.node_port.filter(|&n| n != 0) else {
                continue;
            };
            let protocol = protocol_of(&port.protocol).to_owned();
            match node_ports.get(&(node_port, protocol.clone())) {
                Some(other) if *other != owner => {
                    if let Some(report) = report.as_deref_mut() {
                        report.push(FieldError {
                            field: format!("{key}: spec.ports[{i}].nodePort"),
                            problem: format!(
                                "NodePort {node_port}/{protocol} is used by Service {other} \
                                 already: choose another port in 30000-32767"
                            ),
                        });
                    }
                }
                Some(_) => {}
                None => {
                    node_ports.insert((node_port, protocol), owner.clone());
                }
            }
        }
    };
    let replaced: Vec<_> = incoming.iter().map(Object::key).collect();
    for object in existing {
        // An existing object that an incoming one replaces gives its addresses up.
        if !replaced.contains(&object.key()) {
            claim(object, None);
        }
    }
    let mut problems = Vec::new();
    for object in incoming {
        claim(object, Some(&mut problems));
    }
    problems
}

/// The problems found so far.
#[derive(Default)]
struct Problems(Vec<FieldError>);

impl Problems {
    fn add(&mut self, field: impl Into<String>, problem: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            problem: problem.into(),
        });
    }
}

/// The name rules of the kinds.
#[derive(Clone, Copy)]
enum NameRule {
    /// DNS-1123 label: Namespaces.
    Label,
    /// DNS-1035 label (starts with a letter): Services.
    Label1035,
    /// DNS-1123 subdomain: Pods, EndpointSlices.
    Subdomain,
}

fn metadata(meta: &ObjectMeta, rule: NameRule, namespaced: bool, p: &mut Problems) {
    match meta.name.as_deref() {
        None | Some("") => p.add(
            "metadata.name",
            "is required: give the object a name (podwire does not use generateName)",
        ),
        Some(name) => {
            let problem = match rule {
                NameRule::Label => dns1123_label(name),
                NameRule::Label1035 => dns1035_label(name),
                NameRule::Subdomain => dns1123_subdomain(name),
            };
            if let Some(problem) = problem {
                p.add("metadata.name", problem);
            }
        }
    }
    let namespace = meta.namespace.as_deref().filter(|ns| !ns.is_empty());
    if namespaced && let Some(problem) = namespace.and_then(dns1123_label) {
        p.add("metadata.namespace", problem);
    }
    labels(meta.labels.as_ref(), "metadata.labels", p);
}

fn labels(labels: Option<&BTreeMap<String, String>>, field: &str, p: &mut Problems) {
    for (key, value) in labels.into_iter().flatten() {
        if let Some(problem) = label_key(key) {
            p.add(format!("{field}.{key}"), problem);
        }
        if let Some(problem) = label_value(value) {
            p.add(format!("{field}.{key}"), problem);
        }
    }
}

fn namespace(namespace: &Namespace, p: &mut Problems) {
    metadata(&namespace.metadata, NameRule::Label, false, p);
}

fn node(node: &Node, p: &mut Problems) {
    metadata(&node.metadata, NameRule::Subdomain, false, p);
    if let Err(problems) = crate::nodes::node_info(node) {
        p.0.extend(problems);
    }
}

fn pod(pod: &Pod, p: &mut Problems) {
    metadata(&pod.metadata, NameRule::Subdomain, true, p);
    if let Some(spec) = &pod.spec {
        if let Some(problem) = spec.node_name.as_deref().and_then(dns1123_subdomain) {
            p.add("spec.nodeName", problem);
        }
        let mut names: HashMap<&str, String> = HashMap::new();
        for (c, container) in spec.containers.iter().enumerate() {
            for (i, port) in container.ports.iter().flatten().enumerate() {
                let field = format!("spec.containers[{c}].ports[{i}]");
                if let Some(name) = port.name.as_deref() {
                    if let Some(problem) = iana_svc_name(name) {
                        p.add(format!("{field}.name"), problem);
                    } else if let Some(first) = names.get(name) {
                        p.add(
                            format!("{field}.name"),
                            format!("{name:?} is the name of {first} already: port names are unique in a Pod"),
                        );
                    } else {
                        names.insert(name, field.clone());
                    }
                }
                if !(1..=65535).contains(&port.container_port) {
                    p.add(
                        format!("{field}.containerPort"),
                        format!("{} is not a port number: use 1-65535", port.container_port),
                    );
                }
                protocol(&port.protocol, &format!("{field}.protocol"), p);
            }
        }
    }
    if let Some(status) = &pod.status {
        let mut families = Vec::new();
        for (i, pod_ip) in status.pod_ips.iter().flatten().enumerate() {
            let field = format!("status.podIPs[{i}].ip");
            match parse_ip(&pod_ip.ip) {
                Err(problem) => p.add(field, problem),
                Ok(ip) if families.contains(&ip.is_ipv6()) => p.add(
                    field,
                    format!("{ip} is a second address of its family: a Pod has one per family"),
                ),
                Ok(ip) => families.push(ip.is_ipv6()),
            }
        }
        if let Some(pod_ip) = status.pod_ip.as_deref().filter(|ip| !ip.is_empty()) {
            match parse_ip(pod_ip) {
                Err(problem) => p.add("status.podIP", problem),
                Ok(ip) => {
                    let first = status.pod_ips.iter().flatten().next();
                    if first.is_some_and(|f| parse_ip(&f.ip).ok() != Some(ip)) {
                        p.add("status.podIP", "must be the same as status.podIPs[0].ip");
                    }
                }
            }
        }
    }
}

fn endpoint_slice(slice: &EndpointSlice, p: &mut Problems) {
    metadata(&slice.metadata, NameRule::Subdomain, true, p);
    let service = slice
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(SERVICE_NAME_LABEL));
    if service.is_none_or(|name| name.is_empty()) {
        p.add(
            format!("metadata.labels.{SERVICE_NAME_LABEL}"),
            "is required: it names the Service the slice belongs to",
        );
    }
    let family = match slice.address_type.as_str() {
        "IPv4" => Some(false),
        "IPv6" => Some(true),
        "FQDN" => None,
        other => {
            p.add(
                "addressType",
                format!("{other:?} is not an address type: use IPv4, IPv6 or FQDN"),
            );
            return;
        }
    };
    let endpoints = slice.endpoints.as_deref().unwrap_or_default();
    if endpoints.len() > 1000 {
        p.add(
            "endpoints",
            "has more than 1000 endpoints: split them over several slices",
        );
    }
    for (i, endpoint) in endpoints.iter().enumerate() {
        let field = format!("endpoints[{i}].addresses");
        if endpoint.addresses.is_empty() {
            p.add(field.clone(), "is required: an endpoint has an address");
        } else if endpoint.addresses.len() > 100 {
            p.add(field.clone(), "has more than 100 addresses");
        }
        for (j, address) in endpoint.addresses.iter().enumerate() {
            let field = format!("{field}[{j}]");
            let problem = match family {
                None => dns1123_subdomain(address),
                Some(v6) => match address.parse::<IpAddr>() {
                    Ok(ip) if ip.is_ipv6() == v6 => non_special_ip(address),
                    _ => Some(format!(
                        "{address:?} is not an {} address, as addressType says",
                        slice.address_type
                    )),
                },
            };
            if let Some(problem) = problem {
                p.add(field, problem);
            }
        }
        if let Some(problem) = endpoint.node_name.as_deref().and_then(dns1123_subdomain) {
            p.add(format!("endpoints[{i}].nodeName"), problem);
        }
    }
    let ports = slice.ports.as_deref().unwrap_or_default();
    if ports.len() > 100 {
        p.add("ports", "has more than 100 ports");
    }
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (i, port) in ports.iter().enumerate() {
        let field = format!("ports[{i}]");
        let name = port.name.as_deref().unwrap_or("");
        if !name.is_empty()
            && let Some(problem) = dns1123_label(name)
        {
            p.add(format!("{field}.name"), problem);
        }
        if let Some(first) = names.insert(name, i) {
            p.add(
                format!("{field}.name"),
                format!("{name:?} is the name of ports[{first}] already: port names are unique"),
            );
        }
        protocol(&port.protocol, &format!("{field}.protocol"), p);
        if let Some(number) = port.port.filter(|n| !(1..=65535).contains(n)) {
            p.add(
                format!("{field}.port"),
                format!("{number} is not a port number: use 1-65535"),
            );
        }
    }
}

/// The protocol a port names: TCP when it names none.
pub(crate) fn protocol_of(protocol: &Option<String>) -> &str {
    protocol.as_deref().unwrap_or("TCP")
}

fn protocol(protocol: &Option<String>, field: &str, p: &mut Problems) {
    let name = protocol_of(protocol);
    if !matches!(name, "TCP" | "UDP" | "SCTP") {
        p.add(
            field,
            format!("{name:?} is not a protocol: use {PROTOCOLS}"),
        );
    }
}

/// The ClusterIPs a Service spec claims, each with its field (a `clusterIPs` entry that
/// repeats `clusterIP` is not claimed twice).
fn cluster_ip_fields(spec: &ServiceSpec) -> Vec<(String, IpAddr)> {
    let mut found: Vec<(String, IpAddr)> = Vec::new();
    let single = spec
        .cluster_ip
        .iter()
        .map(|ip| ("spec.clusterIP".to_owned(), ip));
    let list = spec
        .cluster_ips
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, ip)| (format!("spec.clusterIPs[{i}]"), ip));
    for (field, text) in single.chain(list) {
        if let Ok(ip) = text.parse::<IpAddr>()
            && !found.iter().any(|(_, seen)| *seen == ip)
        {
            found.push((field, ip));
        }
    }
    found
}

#[cfg(test)]
mod tests;
