//! A Kubernetes Node as the data plane needs it: its pod CIDRs and its tunnel address.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::Node;
use podwire_model::Cidr;
use podwire_model::cluster::{NodeInfo, TUNNEL_ADDRESS_ANNOTATION};
use podwire_model::config::FieldError;

/// `node`'s name, pod CIDRs and tunnel address; a problem for each value that does not
/// parse (a Node from an API server always parses; one written by hand may not).
pub fn node_info(node: &Node) -> Result<NodeInfo, Vec<FieldError>> {
    let mut problems = Vec::new();
    let name = node.metadata.name.clone().unwrap_or_default();
    let spec = node.spec.as_ref();
    // The list, else the singular field older clusters set; each with its field path.
    let cidr_texts: Vec<(String, &String)> = match spec.and_then(|s| s.pod_cidrs.as_ref()) {
        Some(list) => list
            .iter()
            .enumerate()
            .map(|(i, text)| (format!("spec.podCIDRs[{i}]"), text))
            .collect(),
        None => spec
            .and_then(|s| s.pod_cidr.as_ref())
            .map(|text| ("spec.podCIDR".to_owned(), text))
            .into_iter()
            .collect(),
    };
    let mut pod_cidrs = Vec::new();
    for (field, text) in cidr_texts {
        match text.parse::<Cidr>() {
            Ok(cidr) => pod_cidrs.push(cidr),
            Err(e) => problems.push(FieldError {
                field,
                problem: format!("{text:?} is not a CIDR: {e}"),
            }),
        }
    }
    let annotated = node
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(TUNNEL_ADDRESS_ANNOTATION));
    let tunnel_address = match annotated {
        Some(text) => match text.parse::<IpAddr>() {
            Ok(address) => Some(address),
            Err(_) => {
                problems.push(FieldError {
                    field: format!("metadata.annotations[{TUNNEL_ADDRESS_ANNOTATION}]"),
                    problem: format!("{text:?} is not an IP address"),
                });
                None
            }
        },
        None => first_internal_ip(node),
    };
    match problems.is_empty() {
        true => Ok(NodeInfo {
            name,
            pod_cidrs,
            tunnel_address,
        }),
        false => Err(problems),
    }
}

/// The node's first `InternalIP`, IPv4 first.
fn first_internal_ip(node: &Node) -> Option<IpAddr> {
    let addresses = node.status.as_ref()?.addresses.as_ref()?;
    let mut internal: Vec<IpAddr> = addresses
        .iter()
        .filter(|a| a.type_ == "InternalIP")
        .filter_map(|a| a.address.parse().ok())
        .collect();
    internal.sort_by_key(|a| a.is_ipv6());
    internal.first().copied()
}

#[cfg(test)]
mod tests;
