//! A NetworkPolicy's fields, as the API server checks them: label selectors, peers
//! (something to select; an ipBlock alone, its `except`s inside its CIDR), ports (numbers,
//! IANA service names, `endPort` ranges, protocols) and `policyTypes`.

use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use podwire_model::cidr::Cidr;

use super::names::{iana_svc_name, label_key, label_value};
use super::{NameRule, Problems, labels, metadata, protocol};

pub(super) fn network_policy(policy: &NetworkPolicy, p: &mut Problems) {
    metadata(&policy.metadata, NameRule::Subdomain, true, p);
    let default = NetworkPolicySpec::default();
    let spec = policy.spec.as_ref().unwrap_or(&default);
    if let Some(selector) = &spec.pod_selector {
        label_selector(selector, "spec.podSelector", p);
    }
    for (i, rule) in spec.ingress.iter().flatten().enumerate() {
        let field = format!("spec.ingress[{i}]");
        ports(rule.ports.as_deref(), &format!("{field}.ports"), p);
        peers(rule.from.as_deref(), &format!("{field}.from"), p);
    }
    for (i, rule) in spec.egress.iter().flatten().enumerate() {
        let field = format!("spec.egress[{i}]");
        ports(rule.ports.as_deref(), &format!("{field}.ports"), p);
        peers(rule.to.as_deref(), &format!("{field}.to"), p);
    }
    let types = spec.policy_types.as_deref().unwrap_or_default();
    if types.len() > 2 {
        p.add(
            "spec.policyTypes",
            "has more than 2 entries: list Ingress, Egress or both",
        );
    }
    for (i, policy_type) in types.iter().enumerate() {
        if !matches!(policy_type.as_str(), "Ingress" | "Egress") {
            p.add(
                format!("spec.policyTypes[{i}]"),
                format!("{policy_type:?} is not a policy type: use Ingress or Egress"),
            );
        }
    }
}

/// `matchLabels` keys and values, and `matchExpressions`: a valid key, a known operator,
/// values for `In` and `NotIn` and none for `Exists` and `DoesNotExist`.
pub(super) fn label_selector(selector: &LabelSelector, field: &str, p: &mut Problems) {
    labels(
        selector.match_labels.as_ref(),
        &format!("{field}.matchLabels"),
        p,
    );
    for (i, requirement) in selector.match_expressions.iter().flatten().enumerate() {
        let field = format!("{field}.matchExpressions[{i}]");
        if let Some(problem) = label_key(&requirement.key) {
            p.add(format!("{field}.key"), problem);
        }
        let values = requirement.values.as_deref().unwrap_or_default();
        match requirement.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => p.add(
                format!("{field}.values"),
                format!(
                    "is required when the operator is {}: list the values to compare with",
                    requirement.operator
                ),
            ),
            "Exists" | "DoesNotExist" if !values.is_empty() => p.add(
                format!("{field}.values"),
                format!(
                    "must be empty when the operator is {}: it looks only at the key",
                    requirement.operator
                ),
            ),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => p.add(
                format!("{field}.operator"),
                format!(
                    "{other:?} is not a selector operator: use In, NotIn, Exists or DoesNotExist"
                ),
            ),
        }
        for (j, value) in values.iter().enumerate() {
            if let Some(problem) = label_value(value) {
                p.add(format!("{field}.values[{j}]"), problem);
            }
        }
    }
}

fn peers(peers: Option<&[NetworkPolicyPeer]>, field: &str, p: &mut Problems) {
    for (i, peer) in peers.unwrap_or_default().iter().enumerate() {
        let field = format!("{field}[{i}]");
        if let Some(selector) = &peer.pod_selector {
            label_selector(selector, &format!("{field}.podSelector"), p);
        }
        if let Some(selector) = &peer.namespace_selector {
            label_selector(selector, &format!("{field}.namespaceSelector"), p);
        }
        let selectors = peer.pod_selector.is_some() || peer.namespace_selector.is_some();
        match &peer.ip_block {
            None if !selectors => p.add(
                field,
                "selects nothing: give a podSelector, a namespaceSelector or an ipBlock",
            ),
            None => {}
            Some(_) if selectors => p.add(
                field,
                "combines ipBlock with a selector: write them as two peers of the list",
            ),
            Some(block) => ip_block(block, &format!("{field}.ipBlock"), p),
        }
    }
}

fn ip_block(block: &IPBlock, field: &str, p: &mut Problems) {
    let cidr = match block.cidr.parse::<Cidr>() {
        Ok(cidr) => cidr,
        Err(error) => {
            let problem = match block.cidr.is_empty() {
                true => "is required: give the addresses as a CIDR, e.g. 10.0.0.0/16".to_owned(),
                false => format!("{:?} is not a CIDR: {error}", block.cidr),
            };
            p.add(format!("{field}.cidr"), problem);
            return;
        }
    };
    for (i, except) in block.except.iter().flatten().enumerate() {
        let field = format!("{field}.except[{i}]");
        match except.parse::<Cidr>() {
            Err(error) => p.add(field, format!("{except:?} is not a CIDR: {error}")),
            Ok(inner)
                if !cidr.contains(inner.addr()) || inner.prefix_len() <= cidr.prefix_len() =>
            {
                p.add(
                    field,
                    format!(
                        "{inner} is not inside {cidr}: an except must be a smaller part of cidr"
                    ),
                )
            }
            Ok(_) => {}
        }
    }
}

fn ports(ports: Option<&[NetworkPolicyPort]>, field: &str, p: &mut Problems) {
    for (i, port) in ports.unwrap_or_default().iter().enumerate() {
        let field = format!("{field}[{i}]");
        protocol(&port.protocol, &format!("{field}.protocol"), p);
        match &port.port {
            Some(IntOrString::Int(n)) if !(1..=65535).contains(n) => p.add(
                format!("{field}.port"),
                format!("{n} is not a port number: use 1-65535"),
            ),
            Some(IntOrString::String(name)) => {
                if let Some(problem) = iana_svc_name(name) {
                    p.add(format!("{field}.port"), problem);
                }
            }
            _ => {}
        }
        let Some(end) = port.end_port else {
            continue;
        };
        let end_field = format!("{field}.endPort");
        match &port.port {
            None => p.add(
                end_field,
                "requires port: give the first port of the range as a number",
            ),
            Some(IntOrString::String(_)) => p.add(
                end_field,
                "may not be used with a named port: give port as a number",
            ),
            Some(IntOrString::Int(_)) if !(1..=65535).contains(&end) => p.add(
                end_field,
                format!("{end} is not a port number: use 1-65535"),
            ),
            Some(IntOrString::Int(first)) if end < *first => p.add(
                end_field,
                format!("{end} is less than port {first}: endPort is the last port of the range"),
            ),
            Some(IntOrString::Int(_)) => {}
        }
    }
}
