//! A Service's fields: its type and addresses, ports, affinity, traffic policies and what
//! only a LoadBalancer may have.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use podwire_model::cidr::Cidr;

use super::names::{dns1123_label, dns1123_subdomain, iana_svc_name, non_special_ip, parse_ip};
use super::{
    MAX_AFFINITY_TIMEOUT_S, NODE_PORTS, NameRule, Problems, labels, metadata, protocol, protocol_of,
};

/// The facts about a Service that decide which fields it may have.
struct Shape<'a> {
    service_type: &'a str,
    external_name: bool,
    headless: bool,
    /// NodePort or LoadBalancer.
    with_node_ports: bool,
    load_balancer: bool,
}

impl<'a> Shape<'a> {
    fn of(spec: &'a ServiceSpec) -> Shape<'a> {
        let service_type = spec.type_.as_deref().unwrap_or("ClusterIP");
        let first_ip = spec.cluster_ips.as_ref().and_then(|ips| ips.first());
        Shape {
            service_type,
            external_name: service_type == "ExternalName",
            headless: spec.cluster_ip.as_deref() == Some("None")
                || first_ip.map(String::as_str) == Some("None"),
            with_node_ports: matches!(service_type, "NodePort" | "LoadBalancer"),
            load_balancer: service_type == "LoadBalancer",
        }
    }
}

pub(super) fn service(service: &Service, p: &mut Problems) {
    metadata(&service.metadata, NameRule::Label1035, true, p);
    let default = ServiceSpec::default();
    let spec = service.spec.as_ref().unwrap_or(&default);
    let shape = Shape::of(spec);
    let types = ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"];
    if !types.contains(&shape.service_type) {
        p.add(
            "spec.type",
            format!(
                "{:?} is not a Service type: use ClusterIP, NodePort, LoadBalancer or \
                 ExternalName",
                shape.service_type
            ),
        );
    }
    if shape.external_name {
        match spec.external_name.as_deref() {
            None | Some("") => p.add(
                "spec.externalName",
                "is required for type ExternalName: give the DNS name the Service stands for",
            ),
            Some(name) => {
                if let Some(problem) = dns1123_subdomain(name.trim_end_matches('.')) {
                    p.add("spec.externalName", problem);
                }
            }
        }
    }
    cluster_ips(spec, shape.external_name, p);
    if shape.headless && shape.with_node_ports {
        p.add(
            "spec.clusterIP",
            format!(
                "may not be None for type {}: only a ClusterIP Service can be headless",
                shape.service_type
            ),
        );
    }
    let ports = spec.ports.as_deref().unwrap_or_default();
    if ports.is_empty() && !shape.external_name && !shape.headless {
        p.add(
            "spec.ports",
            "is required: a Service needs at least one port",
        );
    }
    service_ports(ports, shape.service_type, p);
    session_affinity(spec, p);
    traffic_policies(spec, &shape, p);
    for (i, ip) in spec.external_ips.iter().flatten().enumerate() {
        if let Some(problem) = non_special_ip(ip) {
            p.add(format!("spec.externalIPs[{i}]"), problem);
        }
    }
    labels(spec.selector.as_ref(), "spec.selector", p);
    load_balancer(service, spec, &shape, p);
}

/// `sessionAffinity` and its timeout.
fn session_affinity(spec: &ServiceSpec, p: &mut Problems) {
    match spec.session_affinity.as_deref() {
        None | Some("None") => {
            if spec.session_affinity_config.is_some() {
                p.add(
                    "spec.sessionAffinityConfig",
                    "must not be set when sessionAffinity is None: set sessionAffinity: \
                     ClientIP or remove it",
                );
            }
        }
        Some("ClientIP") => {
            let timeout = spec
                .session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .and_then(|c| c.timeout_seconds);
            if let Some(timeout) = timeout.filter(|t| !(1..=MAX_AFFINITY_TIMEOUT_S).contains(t)) {
                p.add(
                    "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                    format!("{timeout} is out of range: use 1-{MAX_AFFINITY_TIMEOUT_S} seconds"),
                );
            }
        }
        Some(other) => p.add(
            "spec.sessionAffinity",
            format!("{other:?} is not a session affinity: use None or ClientIP"),
        ),
    }
}

/// `externalTrafficPolicy`, `internalTrafficPolicy` and `healthCheckNodePort`.
fn traffic_policies(spec: &ServiceSpec, shape: &Shape<'_>, p: &mut Problems) {
    let has_external_ips = spec.external_ips.as_ref().is_some_and(|e| !e.is_empty());
    let externally_accessible =
        shape.with_node_ports || (shape.service_type == "ClusterIP" && has_external_ips);
    if let Some(policy) = spec.external_traffic_policy.as_deref() {
        if !matches!(policy, "Cluster" | "Local") {
            p.add(
                "spec.externalTrafficPolicy",
                format!("{policy:?} is not a traffic policy: use Cluster or Local"),
            );
        } else if !externally_accessible {
            p.add(
                "spec.externalTrafficPolicy",
                "may only be set for externally-accessible Services (type NodePort or \
                 LoadBalancer, or with externalIPs)",
            );
        }
    }
    if let Some(policy) = spec.internal_traffic_policy.as_deref()
        && !matches!(policy, "Cluster" | "Local")
    {
        p.add(
            "spec.internalTrafficPolicy",
            format!("{policy:?} is not a traffic policy: use Cluster or Local"),
        );
    }
    if let Some(port) = spec.health_check_node_port.filter(|&n| n != 0) {
        let local = spec.external_traffic_policy.as_deref() == Some("Local");
        if !(shape.load_balancer && local) {
            p.add(
                "spec.healthCheckNodePort",
                "may only be set when type is LoadBalancer and externalTrafficPolicy is Local",
            );
        } else if !(1..=65535).contains(&port) {
            p.add(
                "spec.healthCheckNodePort",
                format!("{port} is not a port number: use 1-65535"),
            );
        }
    }
}

/// `loadBalancerSourceRanges` and `status.loadBalancer.ingress`.
fn load_balancer(service: &Service, spec: &ServiceSpec, shape: &Shape<'_>, p: &mut Problems) {
    let ranges = spec.load_balancer_source_ranges.iter().flatten();
    for (i, range) in ranges.enumerate() {
        let field = format!("spec.loadBalancerSourceRanges[{i}]");
        if !shape.load_balancer {
            p.add(field, "may only be used when type is LoadBalancer");
        } else if let Err(error) = range.trim().parse::<Cidr>() {
            p.add(field, format!("{range:?} is not a CIDR: {error}"));
        }
    }
    let status = service
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref());
    let ingress = status
        .and_then(|lb| lb.ingress.as_ref())
        .into_iter()
        .flatten();
    for (i, ingress) in ingress.enumerate() {
        let field = format!("status.loadBalancer.ingress[{i}]");
        let ip = ingress.ip.as_deref().unwrap_or("");
        if !ip.is_empty()
            && let Err(problem) = parse_ip(ip)
        {
            p.add(format!("{field}.ip"), problem);
        }
        match (ingress.ip_mode.as_deref(), ip.is_empty()) {
            (None, _) | (Some("VIP" | "Proxy"), false) => {}
            (Some(_), true) => p.add(
                format!("{field}.ipMode"),
                "may only be set with ip: ipMode says how that address is handled",
            ),
            (Some(mode), false) => p.add(
                format!("{field}.ipMode"),
                format!("{mode:?} is not an ipMode: use VIP or Proxy"),
            ),
        }
    }
}

/// `clusterIP`, `clusterIPs`, `ipFamilies` and `ipFamilyPolicy`, and how they agree.
fn cluster_ips(spec: &ServiceSpec, external_name: bool, p: &mut Problems) {
    let cluster_ip = spec.cluster_ip.as_deref().unwrap_or("");
    let list = spec.cluster_ips.as_deref().unwrap_or_default();
    if external_name {
        if !cluster_ip.is_empty() {
            p.add(
                "spec.clusterIP",
                "may not be set for type ExternalName: remove it",
            );
        }
        if !list.is_empty() {
            p.add(
                "spec.clusterIPs",
                "may not be set for type ExternalName: remove it",
            );
        }
        return;
    }
    if !cluster_ip.is_empty()
        && cluster_ip != "None"
        && let Err(problem) = parse_ip(cluster_ip)
    {
        p.add("spec.clusterIP", format!("{problem}, None, or empty"));
    }
    if list.len() > 2 {
        p.add(
            "spec.clusterIPs",
            "has more than two addresses: a Service has one per family",
        );
    }
    if let Some(first) = list.first()
        && !cluster_ip.is_empty()
        && first != cluster_ip
    {
        p.add(
            "spec.clusterIPs[0]",
            format!("{first:?} is not clusterIP {cluster_ip:?}: the first of clusterIPs must be clusterIP"),
        );
    }
    let mut families: Vec<(usize, bool)> = Vec::new();
    for (i, ip) in list.iter().enumerate() {
        let field = format!("spec.clusterIPs[{i}]");
        if ip == "None" {
            if list.len() > 1 {
                p.add(
                    field,
                    "None must be the only entry: a headless Service has no address",
                );
            }
            continue;
        }
        match parse_ip(ip) {
            Err(problem) => p.add(field, format!("{problem} or None")),
            Ok(ip) if families.iter().any(|&(_, v6)| v6 == ip.is_ipv6()) => p.add(
                field,
                format!("{ip} is a second address of its family: a Service has one per family"),
            ),
            Ok(ip) => families.push((i, ip.is_ipv6())),
        }
    }
    if families.len() == 2 && spec.ip_family_policy.as_deref() == Some("SingleStack") {
        p.add(
            "spec.ipFamilyPolicy",
            "is SingleStack but clusterIPs has two families: use PreferDualStack or RequireDualStack",
        );
    }
    if let Some(policy) = spec.ip_family_policy.as_deref()
        && !matches!(
            policy,
            "SingleStack" | "PreferDualStack" | "RequireDualStack"
        )
    {
        p.add(
            "spec.ipFamilyPolicy",
            format!("{policy:?} is not an IP family policy: use SingleStack, PreferDualStack or RequireDualStack"),
        );
    }
    let declared = spec.ip_families.as_deref().unwrap_or_default();
    if declared.len() > 2 {
        p.add(
            "spec.ipFamilies",
            "has more than two families: use IPv4, IPv6 or both",
        );
    }
    for (i, family) in declared.iter().enumerate() {
        let field = format!("spec.ipFamilies[{i}]");
        let v6 = match family.as_str() {
            "IPv4" => false,
            "IPv6" => true,
            other => {
                p.add(
                    field,
                    format!("{other:?} is not an IP family: use IPv4 or IPv6"),
                );
                continue;
            }
        };
        if declared[..i].contains(family) {
            p.add(field, format!("{family} is listed twice"));
        } else if families.iter().any(|&(j, ip_v6)| j == i && ip_v6 != v6) {
            p.add(
                field,
                format!("{family} is not the family of spec.clusterIPs[{i}]"),
            );
        }
    }
}

fn service_ports(ports: &[ServicePort], service_type: &str, p: &mut Problems) {
    let with_node_ports = matches!(service_type, "NodePort" | "LoadBalancer");
    let mut names: HashMap<&str, usize> = HashMap::new();
    let mut numbers: HashMap<(i32, &str), usize> = HashMap::new();
    let mut node_ports: HashMap<(i32, &str), usize> = HashMap::new();
    for (i, port) in ports.iter().enumerate() {
        let field = format!("spec.ports[{i}]");
        let name = port.name.as_deref().unwrap_or("");
        if name.is_empty() {
            if ports.len() > 1 {
                p.add(
                    format!("{field}.name"),
                    "is required when a Service has more than one port",
                );
            }
        } else if let Some(problem) = dns1123_label(name) {
            p.add(format!("{field}.name"), problem);
        } else if let Some(first) = names.get(name) {
            p.add(
                format!("{field}.name"),
                format!(
                    "{name:?} is the name of spec.ports[{first}] already: port names are unique"
                ),
            );
        } else {
            names.insert(name, i);
        }
        let protocol_name = protocol_of(&port.protocol);
        protocol(&port.protocol, &format!("{field}.protocol"), p);
        if !(1..=65535).contains(&port.port) {
            p.add(
                format!("{field}.port"),
                format!("{} is not a port number: use 1-65535", port.port),
            );
        } else if let Some(first) = numbers.insert((port.port, protocol_name), i) {
            p.add(
                field.clone(),
                format!(
                    "{}/{protocol_name} is spec.ports[{first}] already: a port and protocol appear once",
                    port.port
                ),
            );
        }
        match &port.target_port {
            None => {}
            Some(IntOrString::Int(n)) if !(1..=65535).contains(n) => p.add(
                format!("{field}.targetPort"),
                format!("{n} is not a port number: use 1-65535 or a container port's name"),
            ),
            Some(IntOrString::Int(_)) => {}
            Some(IntOrString::String(name)) => {
                if let Some(problem) = iana_svc_name(name) {
                    p.add(format!("{field}.targetPort"), problem);
                }
            }
        }
        if let Some(node_port) = port.node_port.filter(|&n| n != 0) {
            if !with_node_ports {
                p.add(
                    format!("{field}.nodePort"),
                    format!("may not be used when type is {service_type}: use type NodePort or LoadBalancer"),
                );
            } else if !NODE_PORTS.contains(&node_port) {
                p.add(
                    format!("{field}.nodePort"),
                    format!("{node_port} is outside the NodePort range: use 30000-32767"),
                );
            } else if let Some(first) = node_ports.insert((node_port, protocol_name), i) {
                p.add(
                    format!("{field}.nodePort"),
                    format!("{node_port}/{protocol_name} is spec.ports[{first}].nodePort already"),
                );
            }
        }
    }
}
