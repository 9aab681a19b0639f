use serde_json::json;

use super::*;
use crate::services::{NO_ENDPOINTS, NodeContext, translate};
use crate::test_support::{pod as pod_of, slice, typed};

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[test]
fn service_view() {
    let service: Service = typed(json!({
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.0.10", "fd00:96::10"],
                 "externalIPs": ["192.0.2.5"], "externalTrafficPolicy": "Local",
                 "healthCheckNodePort": 32000, "sessionAffinity": "ClientIP",
                 "ports": [
                    {"name": "http", "port": 80, "nodePort": 30080, "targetPort": 8080},
                    {"name": "https", "port": 443, "targetPort": "https"},
                    {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53}
                 ]},
        "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}, {"ip": "192.0.2.11", "ipMode": "Proxy"}]}}
    }));
    let endpoints = slice(
        "web-4",
        "IPv4",
        json!([{"name": "http", "port": 8080}, {"name": "dns", "port": 53, "protocol": "UDP"}]),
        json!([{"addresses": ["10.244.0.1"], "nodeName": "node-a"}, {"addresses": ["10.244.1.1"], "nodeName": "node-b"}]),
    );
    let node = NodeContext {
        node_name: "node-a".into(),
    };
    let translation = translate(&service, &[&endpoints], &node);
    let view = super::service(&service, &translation);
    assert_eq!(view.namespace, "shop");
    assert_eq!(view.name, "web");
    assert_eq!(view.service_type, "LoadBalancer");
    assert_eq!(view.cluster_ips, [ip("10.96.0.10"), ip("fd00:96::10")]);
    assert_eq!(view.external_ips, [ip("192.0.2.5"), ip("192.0.2.10")]);
    assert_eq!(view.ports, ["80:30080/TCP→8080", "443/TCP→https", "53/UDP"]);
    // Per port: the ClusterIPs, the NodePort, the external IP, the VIP-mode ingress IP.
    assert_eq!(
        view.frontends,
        [
            "10.96.0.10:80/TCP",
            "[fd00:96::10]:80/TCP",
            "*:30080/TCP",
            "192.0.2.5:80/TCP",
            "192.0.2.10:80/TCP",
            "10.96.0.10:443/TCP",
            "[fd00:96::10]:443/TCP",
            "192.0.2.5:443/TCP",
            "192.0.2.10:443/TCP",
            "10.96.0.10:53/UDP",
            "[fd00:96::10]:53/UDP",
            "192.0.2.5:53/UDP",
            "192.0.2.10:53/UDP",
        ]
    );
    // 10.244.0.1:8080, 10.244.1.1:8080, 10.244.0.1:53, 10.244.1.1:53.
    assert_eq!(view.endpoints, 4);
    assert_eq!(view.local_endpoints, 2);
    assert_eq!(view.affinity_timeout_s, Some(10800));
    assert_eq!(view.health_check_node_port, Some(32000));
    assert_eq!(view.status, ObjectStatus::Applied);

    let bare: Service = typed(
        json!({"metadata": {"name": "api"}, "spec": {"clusterIP": "10.96.0.11", "ports": [{"port": 80}]}}),
    );
    let view = super::service(&bare, &translate(&bare, &[], &node));
    assert_eq!(view.namespace, "default");
    assert_eq!(view.service_type, "ClusterIP");
    assert_eq!(view.ports, ["80/TCP"]);
    assert_eq!(view.frontends, ["10.96.0.11:80/TCP"]);
    assert_eq!(view.endpoints, 0);
    assert_eq!(view.affinity_timeout_s, None);
    assert_eq!(view.status, ObjectStatus::Pending(NO_ENDPOINTS.into()));
}

#[test]
fn endpoint_views() {
    let mut s = slice(
        "web-4",
        "IPv4",
        json!([{"name": "http", "port": 8080}, {"name": "", "port": 9090, "protocol": "UDP"}]),
        json!([
            {"addresses": ["10.244.0.1"], "nodeName": "node-a",
             "targetRef": {"kind": "Pod", "name": "web-0", "namespace": "shop"},
             "conditions": {"ready": false, "serving": true, "terminating": true}},
            {"addresses": ["10.244.1.1"], "targetRef": {"kind": "Node", "name": "n"}}
        ]),
    );
    s.metadata.namespace = Some("shop".into());
    let views = endpoints(&s);
    assert_eq!(views.len(), 2);
    let first = &views[0];
    assert_eq!(first.namespace, "shop");
    assert_eq!(first.service, "web");
    assert_eq!(first.slice, "web-4");
    assert_eq!(first.address, ip("10.244.0.1"));
    assert_eq!(first.ports, ["http:8080/TCP", "9090/UDP"]);
    assert_eq!(first.node.as_deref(), Some("node-a"));
    assert_eq!(first.pod.as_deref(), Some("shop/web-0"));
    assert_eq!(
        (first.ready, first.serving, first.terminating),
        (false, true, true)
    );
    let second = &views[1];
    assert_eq!(second.pod, None, "only a Pod reference names a pod");
    assert_eq!(second.node, None);
    assert_eq!(
        (second.ready, second.serving, second.terminating),
        (true, true, false)
    );

    let fqdn = slice(
        "db",
        "FQDN",
        json!([]),
        json!([{"addresses": ["db.example.com"]}]),
    );
    assert_eq!(endpoints(&fqdn), []);
}

#[test]
fn pod_views() {
    let p = pod_of(json!({
        "metadata": {"name": "web-0", "namespace": "shop", "labels": {"tier": "front", "app": "web"}},
        "spec": {"nodeName": "node-a", "containers": []},
        "status": {"conditions": [{"type": "Ready", "status": "False"}]}
    }));
    let view = pod(&p, &[ip("10.244.0.1")], ObjectStatus::Applied);
    assert_eq!(view.namespace, "shop");
    assert_eq!(view.name, "web-0");
    assert_eq!(view.labels, ["app=web", "tier=front"]);
    assert_eq!(view.ips, [ip("10.244.0.1")]);
    assert_eq!(view.node.as_deref(), Some("node-a"));
    assert!(!view.ready);
    assert_eq!(view.status, ObjectStatus::Applied);

    let bare = pod_of(json!({"metadata": {"name": "x"}}));
    let view = pod(&bare, &[], ObjectStatus::Pending("not attached".into()));
    assert_eq!(view.namespace, "default");
    assert!(view.ready, "no Ready condition counts as ready");
    assert_eq!(view.node, None);
}
