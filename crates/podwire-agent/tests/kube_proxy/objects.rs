//! kube-proxy's test fixtures (`NewFakeProxier`, `makeTestService`, `makeTestEndpointSlice`),
//! written as the Kubernetes objects they make (JSON, the API's own form).
//!
//! Conventions, as upstream: pod IPs 10.0.0.0/8 (IPv6 fd00:10::/64), ClusterIPs
//! 172.30.0.0/16 (fd00:10:96::/112), node IP 192.168.0.2 (2001:db8::1), external IPs
//! 192.168.99.0/24, LoadBalancer IPs 1.2.3.4, 5.6.7.8, 9.10.11.12, clients outside the cluster
//! 203.0.113.0/24, LoadBalancer source range 203.0.113.0/25.

use serde_json::{Value, json};

/// The node, as the nftables tests name it (`testNodeName`).
pub const TEST_NODE_NAME: &str = "test-node";
/// The node, as the iptables tests name it (`testHostname`).
pub const TEST_HOSTNAME: &str = "test-hostname";
/// `testNodeIP`.
pub const TEST_NODE_IP: &str = "192.168.0.2";
/// `testNodeIPAlt`: another address of the node, not a NodePort address.
pub const TEST_NODE_IP_ALT: &str = "192.168.1.2";
/// `testNodeIPv6`.
pub const TEST_NODE_IPV6: &str = "2001:db8::1";
/// `testNodeIPv6Alt`.
pub const TEST_NODE_IPV6_ALT: &str = "2001:db8:1::2";
/// `testExternalClient`.
pub const TEST_EXTERNAL_CLIENT: &str = "203.0.113.2";
/// `testExternalClientBlocked`: outside the LoadBalancer source range.
pub const TEST_EXTERNAL_CLIENT_BLOCKED: &str = "203.0.113.130";

/// A Service `namespace/name` with `spec`, and `lb_ingress` as the IPs of its
/// `status.loadBalancer.ingress`.
pub fn service(namespace: &str, name: &str, spec: Value, lb_ingress: &[&str]) -> Value {
    let ingress: Vec<Value> = lb_ingress.iter().map(|ip| json!({ "ip": ip })).collect();
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": { "namespace": namespace, "name": name },
        "spec": spec,
        "status": { "loadBalancer": { "ingress": ingress } },
    })
}

/// Slice `n` of Service `namespace/service` (named `{service}-{n}` and labelled with the
/// Service's name, as `makeTestEndpointSlice`), of `address_type` ("IPv4" or "IPv6").
pub fn endpoint_slice(
    namespace: &str,
    service: &str,
    n: u32,
    address_type: &str,
    endpoints: Value,
    ports: Value,
) -> Value {
    json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "namespace": namespace,
            "name": format!("{service}-{n}"),
            "labels": { "kubernetes.io/service-name": service },
        },
        "addressType": address_type,
        "endpoints": endpoints,
        "ports": ports,
    })
}

/// An endpoint with no conditions (ready), on `node` (none: not this node's).
pub fn endpoint(address: &str, node: Option<&str>) -> Value {
    match node {
        Some(node) => json!({ "addresses": [address], "nodeName": node }),
        None => json!({ "addresses": [address] }),
    }
}

/// An endpoint whose only condition is `ready: true`, on `node`.
pub fn ready_endpoint(address: &str, node: &str) -> Value {
    json!({ "addresses": [address], "conditions": { "ready": true }, "nodeName": node })
}

/// An endpoint with its `ready`, `serving` and `terminating` conditions, on `node`.
pub fn endpoint_in(
    address: &str,
    node: &str,
    ready: bool,
    serving: bool,
    terminating: bool,
) -> Value {
    json!({
        "addresses": [address],
        "nodeName": node,
        "conditions": { "ready": ready, "serving": serving, "terminating": terminating },
    })
}

/// A slice's port `name` (`""` for a Service's only, unnamed port).
pub fn port(name: &str, port: u16, protocol: &str) -> Value {
    json!({ "name": name, "port": port, "protocol": protocol })
}

/// Whether `object` is an EndpointSlice of Service `namespace/name` (by its
/// `kubernetes.io/service-name` label, as kube-proxy joins them).
pub fn is_slice_of(object: &Value, namespace: &str, name: &str) -> bool {
    object["kind"] == "EndpointSlice"
        && object["metadata"]["namespace"] == namespace
        && object["metadata"]["labels"]["kubernetes.io/service-name"] == name
}

/// Every address of every endpoint of the EndpointSlices among `objects`.
pub fn endpoint_addresses(objects: &[Value]) -> impl Iterator<Item = &str> {
    objects
        .iter()
        .filter(|o| o["kind"] == "EndpointSlice")
        .filter_map(|o| o["endpoints"].as_array())
        .flatten()
        .filter_map(|e| e["addresses"].as_array())
        .flatten()
        .filter_map(Value::as_str)
}
