use std::net::IpAddr;

use k8s_openapi::api::core::v1::Node;
use podwire_model::Cidr;
use podwire_model::cluster::TUNNEL_ADDRESS_ANNOTATION;
use serde_json::{Value, json};

use super::node_info;
use crate::test_support::typed;

/// A Node as an API server writes it, with `patch` merged in.
fn node(patch: Value) -> Node {
    let mut value = json!({
        "metadata": {"name": "node-a", "uid": "5f0c8d0e-2b7a-4f7e-9a43-0d3c1b2e7f10"},
        "spec": {"podCIDRs": ["10.244.1.0/24", "fd44:0:0:1::/64"]},
        "status": {"addresses": [
            {"type": "Hostname", "address": "node-a"},
            {"type": "ExternalIP", "address": "203.0.113.7"},
            {"type": "InternalIP", "address": "fd00:60::1"},
            {"type": "InternalIP", "address": "192.168.60.1"},
        ]},
    });
    crate::test_support::merge(&mut value, patch);
    typed(value)
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn cidrs(texts: &[&str]) -> Vec<Cidr> {
    texts.iter().map(|t| t.parse().unwrap()).collect()
}

#[test]
fn a_node_gives_its_name_pod_cidrs_and_first_ipv4_internal_address() {
    let info = node_info(&node(json!({}))).unwrap();
    assert_eq!(info.name, "node-a");
    assert_eq!(info.pod_cidrs, cidrs(&["10.244.1.0/24", "fd44:0:0:1::/64"]));
    // Not the ExternalIP listed before it, not the IPv6 InternalIP listed before it.
    assert_eq!(info.tunnel_address, Some(ip("192.168.60.1")));
}

#[test]
fn an_ipv6_internal_address_is_used_when_there_is_no_ipv4_one() {
    let ipv6_only = node(json!({"status": {"addresses": [
        {"type": "ExternalIP", "address": "203.0.113.7"},
        {"type": "InternalIP", "address": "fd00:60::1"},
    ]}}));
    assert_eq!(
        node_info(&ipv6_only).unwrap().tunnel_address,
        Some(ip("fd00:60::1"))
    );
    let without = node_info(&node(json!({"status": {"addresses": []}}))).unwrap();
    assert_eq!(without.tunnel_address, None);
}

#[test]
fn the_annotation_wins_over_the_internal_address() {
    let annotated =
        node(json!({"metadata": {"annotations": {TUNNEL_ADDRESS_ANNOTATION: "fd00:60::9"}}}));
    assert_eq!(
        node_info(&annotated).unwrap().tunnel_address,
        Some(ip("fd00:60::9"))
    );
}

#[test]
fn the_singular_pod_cidr_is_read_when_there_is_no_list() {
    let singular = node(json!({"spec": {"podCIDRs": null, "podCIDR": "10.244.7.0/24"}}));
    assert_eq!(
        node_info(&singular).unwrap().pod_cidrs,
        cidrs(&["10.244.7.0/24"])
    );
    // The list wins when both are there (the API server keeps podCIDR = podCIDRs[0]).
    let both = node(json!({"spec": {"podCIDR": "10.244.9.0/24"}}));
    assert_eq!(
        node_info(&both).unwrap().pod_cidrs,
        cidrs(&["10.244.1.0/24", "fd44:0:0:1::/64"])
    );
    let none = node(json!({"spec": {"podCIDRs": null}}));
    assert_eq!(node_info(&none).unwrap().pod_cidrs, Vec::<Cidr>::new());
}

#[test]
fn values_that_do_not_parse_are_errors_naming_their_field() {
    let bad = node(json!({
        "metadata": {"annotations": {TUNNEL_ADDRESS_ANNOTATION: "node-a.example"}},
        "spec": {"podCIDRs": ["10.244.1.0/24", "10.244.2.0/33"]},
    }));
    let problems = node_info(&bad).unwrap_err();
    let fields: Vec<String> = problems.iter().map(|p| p.field.clone()).collect();
    assert_eq!(
        fields,
        [
            "spec.podCIDRs[1]".to_owned(),
            format!("metadata.annotations[{TUNNEL_ADDRESS_ANNOTATION}]")
        ]
    );
    assert!(
        problems[0].problem.contains("10.244.2.0/33"),
        "{problems:?}"
    );
    assert!(
        problems[1].problem.contains("node-a.example"),
        "{problems:?}"
    );
}
