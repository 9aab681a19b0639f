use std::net::SocketAddr;

use serde_json::{Value, json};

use super::*;
use crate::test_support::{merge, service, slice, typed};

const NODE: &str = "node-a";

fn node() -> NodeContext {
    NodeContext {
        node_name: NODE.into(),
    }
}

fn web(extra: Value) -> Service {
    let mut spec = json!({"clusterIP": "10.96.0.10", "ports": [{"name": "http", "port": 80, "targetPort": 8080}]});
    merge(&mut spec, extra);
    service(spec)
}

/// A slice of Service web: port `http` 8080/TCP, a ready endpoint on this node and one
/// elsewhere.
fn slices4() -> EndpointSlice {
    slice(
        "web-4",
        "IPv4",
        json!([{"name": "http", "port": 8080, "protocol": "TCP"}]),
        json!([{"addresses": ["10.244.0.1"], "nodeName": NODE}, {"addresses": ["10.244.1.1"], "nodeName": "node-b"}]),
    )
}

fn slices6() -> EndpointSlice {
    slice(
        "web-6",
        "IPv6",
        json!([{"name": "http", "port": 8080, "protocol": "TCP"}]),
        json!([{"addresses": ["fd00:244::1"], "nodeName": "node-b"}]),
    )
}

fn addrs(list: &[&str]) -> Vec<SocketAddr> {
    list.iter().map(|a| a.parse().unwrap()).collect()
}

/// (kind, address, port, policy) of each frontend.
fn summary(t: &Translation) -> Vec<(FrontendKind, Option<IpAddr>, u16, TrafficPolicy)> {
    let model = t.model.as_ref().expect("proxied");
    model
        .frontends
        .iter()
        .map(|f| (f.kind, f.address, f.port, f.traffic_policy))
        .collect()
}

fn ip(text: &str) -> Option<IpAddr> {
    Some(text.parse().unwrap())
}

#[test]
fn cluster_ip_service() {
    let (s4, s6) = (slices4(), slices6());
    let t = translate(
        &web(json!({"internalTrafficPolicy": "Local"})),
        &[&s4, &s6],
        &node(),
    );
    assert_eq!(t.status, ObjectStatus::Applied);
    assert_eq!(
        summary(&t),
        [(
            FrontendKind::ClusterIp,
            ip("10.96.0.10"),
            80,
            TrafficPolicy::Local
        )]
    );
    let model = t.model.unwrap();
    assert_eq!(
        model.id,
        ServiceId {
            namespace: "default".into(),
            name: "web".into()
        }
    );
    let f = &model.frontends[0];
    assert_eq!(f.port_name, "http");
    assert_eq!(f.protocol, Protocol::Tcp);
    assert_eq!(
        f.cluster_endpoints,
        addrs(&["10.244.0.1:8080", "10.244.1.1:8080"])
    );
    assert_eq!(f.local_endpoints, addrs(&["10.244.0.1:8080"]));
    assert_eq!(
        f.serving_endpoints,
        [ip("10.244.0.1").unwrap(), ip("10.244.1.1").unwrap()]
    );
    assert_eq!(f.affinity_timeout, None);
    assert_eq!(f.source_ranges, []);
    assert_eq!(model.health_check_node_port, None);
    assert_eq!(model.local_ready_endpoints, 1);
}

#[test]
fn dual_stack_frontends_use_the_slices_of_their_family() {
    let (s4, s6) = (slices4(), slices6());
    let t = translate(
        &web(json!({"clusterIPs": ["10.96.0.10", "fd00:96::10"]})),
        &[&s4, &s6],
        &node(),
    );
    let model = t.model.unwrap();
    assert_eq!(model.frontends.len(), 2);
    assert_eq!(model.frontends[1].address, ip("fd00:96::10"));
    assert_eq!(
        model.frontends[1].cluster_endpoints,
        addrs(&["[fd00:244::1]:8080"])
    );
    assert_eq!(model.frontends[0].cluster_endpoints.len(), 2);
}

#[test]
fn node_port_service() {
    let (s4, s6) = (slices4(), slices6());
    let spec = json!({"type": "NodePort", "externalTrafficPolicy": "Local",
                      "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080}]});
    let t = translate(&web(spec), &[&s4, &s6], &node());
    assert_eq!(
        summary(&t),
        [
            (
                FrontendKind::ClusterIp,
                ip("10.96.0.10"),
                80,
                TrafficPolicy::Cluster
            ),
            (FrontendKind::NodePort, None, 30080, TrafficPolicy::Local),
        ]
    );
    let node_port = &t.model.as_ref().unwrap().frontends[1];
    // The family of the first ClusterIP.
    assert_eq!(
        node_port.cluster_endpoints,
        addrs(&["10.244.0.1:8080", "10.244.1.1:8080"])
    );
    assert_eq!(node_port.local_endpoints, addrs(&["10.244.0.1:8080"]));

    let v6_first = json!({"type": "NodePort", "clusterIPs": ["fd00:96::10", "10.96.0.10"],
                          "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080}]});
    let t = translate(&web(v6_first), &[&s4, &s6], &node());
    let node_port = &t.model.as_ref().unwrap().frontends[2];
    assert_eq!(node_port.kind, FrontendKind::NodePort);
    assert_eq!(node_port.cluster_endpoints, addrs(&["[fd00:244::1]:8080"]));
}

#[test]
fn a_node_port_without_a_cluster_ip_takes_the_first_ip_family() {
    let (s4, s6) = (slices4(), slices6());
    let spec = json!({"type": "NodePort", "clusterIP": null, "ipFamilies": ["IPv6"],
                      "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080}]});
    let t = translate(&web(spec), &[&s4, &s6], &node());
    let model = t.model.unwrap();
    assert_eq!(model.frontends.len(), 1);
    assert_eq!(
        model.frontends[0].cluster_endpoints,
        addrs(&["[fd00:244::1]:8080"])
    );
}

#[test]
fn a_cluster_ip_service_has_no_node_port_frontend() {
    let s4 = slices4();
    let spec =
        json!({"ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080}]});
    let t = translate(&web(spec), &[&s4], &node());
    assert_eq!(summary(&t).len(), 1);
}

#[test]
fn load_balancer_service() {
    let s4 = slices4();
    let mut value = json!({
        "metadata": {"name": "web"},
        "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.10", "externalTrafficPolicy": "Local",
                 "healthCheckNodePort": 32000, "externalIPs": ["192.0.2.5"],
                 "loadBalancerSourceRanges": ["198.51.100.7/24", " 203.0.113.0/25 "],
                 "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080}]},
        "status": {"loadBalancer": {"ingress": [
            {"ip": "192.0.2.10"}, {"ip": "192.0.2.11", "ipMode": "VIP"},
            {"ip": "192.0.2.12", "ipMode": "Proxy"}, {"hostname": "lb.example.com"}
        ]}}
    });
    let t = translate(&typed(value.clone()), &[&s4], &node());
    assert_eq!(
        summary(&t),
        [
            (
                FrontendKind::ClusterIp,
                ip("10.96.0.10"),
                80,
                TrafficPolicy::Cluster
            ),
            (FrontendKind::NodePort, None, 30080, TrafficPolicy::Local),
            (
                FrontendKind::ExternalIp,
                ip("192.0.2.5"),
                80,
                TrafficPolicy::Local
            ),
            (
                FrontendKind::LoadBalancer,
                ip("192.0.2.10"),
                80,
                TrafficPolicy::Local
            ),
            (
                FrontendKind::LoadBalancer,
                ip("192.0.2.11"),
                80,
                TrafficPolicy::Local
            ),
        ]
    );
    let model = t.model.unwrap();
    let ranges: Vec<String> = model.frontends[3]
        .source_ranges
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(ranges, ["198.51.100.0/24", "203.0.113.0/25"]);
    assert_eq!(
        model.frontends[2].source_ranges,
        [],
        "only LoadBalancer frontends have ranges"
    );
    assert_eq!(model.health_check_node_port, Some(32000));

    // Cluster policy: no health check port.
    value["spec"]["externalTrafficPolicy"] = json!("Cluster");
    let t = translate(&typed(value), &[&s4], &node());
    assert_eq!(t.model.unwrap().health_check_node_port, None);
}

#[test]
fn affinity_timeout_defaults_to_three_hours() {
    let s4 = slices4();
    let timeout = |extra: Value| {
        translate(&web(extra), &[&s4], &node())
            .model
            .unwrap()
            .frontends[0]
            .affinity_timeout
    };
    assert_eq!(
        timeout(json!({"sessionAffinity": "ClientIP"})),
        Some(Duration::from_secs(10800))
    );
    assert_eq!(
        timeout(
            json!({"sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}}})
        ),
        Some(Duration::from_secs(60))
    );
    assert_eq!(timeout(json!({"sessionAffinity": "None"})), None);
}

#[test]
fn status_is_pending_only_when_no_port_has_an_endpoint() {
    let s4 = slices4();
    let two_ports = json!({"ports": [{"name": "http", "port": 80, "targetPort": 8080}, {"name": "admin", "port": 81}]});
    assert_eq!(
        translate(&web(two_ports.clone()), &[&s4], &node()).status,
        ObjectStatus::Applied
    );
    let t = translate(&web(two_ports), &[], &node());
    assert_eq!(t.status, ObjectStatus::Pending(NO_ENDPOINTS.into()));
    assert_eq!(
        t.model.unwrap().frontends.len(),
        2,
        "frontends without endpoints still REJECT"
    );
    // Only terminating endpoints that still serve: the fallback keeps it applied.
    let terminating = slice(
        "web-4",
        "IPv4",
        json!([{"name": "http", "port": 8080}]),
        json!([{"addresses": ["10.244.0.1"], "conditions": {"ready": false, "serving": true, "terminating": true}}]),
    );
    assert_eq!(
        translate(&web(json!({})), &[&terminating], &node()).status,
        ObjectStatus::Applied
    );
}

#[test]
fn a_service_without_any_address_failed() {
    let t = translate(&web(json!({"clusterIP": null})), &[], &node());
    assert!(
        matches!(t.status, ObjectStatus::Failed(ref why) if why.contains("spec.clusterIP")),
        "{t:?}"
    );
}

#[test]
fn local_ready_endpoints_count_addresses_once_across_ports() {
    let s = slice(
        "web-4",
        "IPv4",
        json!([{"name": "http", "port": 8080}, {"name": "admin", "port": 8081}]),
        json!([
            {"addresses": ["10.244.0.1"], "nodeName": NODE},
            {"addresses": ["10.244.0.2"], "nodeName": NODE, "conditions": {"ready": false, "serving": true, "terminating": true}},
            {"addresses": ["10.244.1.1"], "nodeName": "node-b"}
        ]),
    );
    let ports = json!({"ports": [{"name": "http", "port": 80, "targetPort": 8080}, {"name": "admin", "port": 81, "targetPort": 8081}]});
    let model = translate(&web(ports), &[&s], &node()).model.unwrap();
    assert_eq!(model.local_ready_endpoints, 1);
}

#[test]
fn services_that_are_not_proxied() {
    let cases = [
        (
            "ExternalName",
            service(json!({"type": "ExternalName", "externalName": "db.example.com"})),
        ),
        (
            "headless",
            service(json!({"clusterIP": "None", "ports": [{"port": 80}]})),
        ),
        (
            "headless in clusterIPs",
            service(json!({"clusterIPs": ["None"], "ports": [{"port": 80}]})),
        ),
        (
            "another proxy's",
            typed(
                json!({"metadata": {"name": "web", "labels": {SERVICE_PROXY_NAME_LABEL: "other"}},
                         "spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 80}]}}),
            ),
        ),
        (
            "labelled headless",
            typed(
                json!({"metadata": {"name": "web", "labels": {HEADLESS_LABEL: ""}},
                         "spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 80}]}}),
            ),
        ),
    ];
    for (what, service) in cases {
        assert!(not_proxied(&service).is_some(), "{what}");
        let t = translate(&service, &[], &node());
        assert_eq!(
            t,
            Translation {
                model: None,
                status: ObjectStatus::Applied
            },
            "{what}"
        );
    }
    assert_eq!(not_proxied(&web(json!({}))), None);
}

#[test]
fn service_port_ids_are_fnv1a_and_distinct() {
    let id = |ns: &str, name: &str| ServiceId {
        namespace: ns.into(),
        name: name.into(),
    };
    let web = id("default", "web");
    // Published FNV-1a 64 test vectors.
    assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    assert_eq!(service_port_id(&web, "http"), fnv1a(b"default/web/http"));
    assert_eq!(
        service_port_id(&web, "http"),
        service_port_id(&web.clone(), "http")
    );
    assert_ne!(
        service_port_id(&web, "http"),
        service_port_id(&web, "https")
    );
    assert_ne!(
        service_port_id(&web, ""),
        service_port_id(&id("default", "api"), "")
    );
    assert_ne!(
        service_port_id(&id("a", "b"), ""),
        service_port_id(&id("b", "a"), "")
    );
}

#[test]
fn service_id_defaults_the_namespace() {
    let s = web(json!({}));
    assert_eq!(service_id(&s).to_string(), "default/web");
}
