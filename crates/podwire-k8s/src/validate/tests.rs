use serde_json::{Value, json};

use super::*;
use crate::object::decode;
use crate::test_support::merge;

/// The fields of the problems of an object given as JSON.
fn fields(value: Value) -> Vec<String> {
    let decoded = decode(value).expect("test object decodes");
    object(&decoded).into_iter().map(|p| p.field).collect()
}

fn with(mut base: Value, patch: Value) -> Value {
    merge(&mut base, patch);
    base
}

fn service(patch: Value) -> Value {
    with(
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 80}]}
        }),
        patch,
    )
}

fn pod(patch: Value) -> Value {
    with(
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-0"},
            "spec": {"containers": [{"name": "web", "ports": [{"name": "http", "containerPort": 8080}]}]}
        }),
        patch,
    )
}

fn slice(patch: Value) -> Value {
    with(
        json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "web-1", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "ports": [{"name": "", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": ["10.244.0.5"], "nodeName": "node-a"}]
        }),
        patch,
    )
}

fn check(cases: Vec<(&str, Value, Vec<&str>)>) {
    for (what, value, expected) in cases {
        assert_eq!(fields(value), expected, "{what}");
    }
}

#[test]
fn valid_objects_have_no_problem() {
    check(vec![
        ("service", service(json!({})), vec![]),
        (
            "dual-stack load balancer",
            service(json!({"spec": {
                "type": "LoadBalancer",
                "clusterIPs": ["10.96.0.10", "fd00:96::10"],
                "ipFamilies": ["IPv4", "IPv6"],
                "ipFamilyPolicy": "RequireDualStack",
                "ports": [{"name": "http", "port": 80, "targetPort": "http", "nodePort": 30080},
                          {"name": "dns", "port": 53, "protocol": "UDP", "nodePort": 30080}],
                "externalTrafficPolicy": "Local",
                "healthCheckNodePort": 32000,
                "loadBalancerSourceRanges": ["192.168.0.0/16"],
                "externalIPs": ["192.0.2.10"],
                "sessionAffinity": "ClientIP",
                "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 86400}},
                "selector": {"app.kubernetes.io/name": "web"}
            }, "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.20", "ipMode": "VIP"}]}}})),
            vec![],
        ),
        (
            "headless without ports",
            service(json!({"spec": {"clusterIP": "None", "ports": null}})),
            vec![],
        ),
        (
            "external name",
            service(
                json!({"spec": {"type": "ExternalName", "externalName": "db.example.com.", "clusterIP": null}}),
            ),
            vec![],
        ),
        (
            "ClusterIP with externalIPs may set externalTrafficPolicy",
            service(
                json!({"spec": {"externalIPs": ["192.0.2.10"], "externalTrafficPolicy": "Local"}}),
            ),
            vec![],
        ),
        (
            "pod",
            pod(
                json!({"status": {"podIP": "10.244.0.5", "podIPs": [{"ip": "10.244.0.5"}, {"ip": "fd00::5"}]}}),
            ),
            vec![],
        ),
        ("slice", slice(json!({})), vec![]),
        (
            "fqdn slice",
            slice(json!({"addressType": "FQDN", "endpoints": [{"addresses": ["db.example.com"]}]})),
            vec![],
        ),
        (
            "namespace",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
            vec![],
        ),
    ]);
}

#[test]
fn metadata_problems() {
    check(vec![
        (
            "no name",
            service(json!({"metadata": {"name": null}})),
            vec!["metadata.name"],
        ),
        (
            "service name is DNS-1035",
            service(json!({"metadata": {"name": "1web"}})),
            vec!["metadata.name"],
        ),
        (
            "service name has no capitals",
            service(json!({"metadata": {"name": "Web"}})),
            vec!["metadata.name"],
        ),
        (
            "namespace name is a label",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a.b"}}),
            vec!["metadata.name"],
        ),
        (
            "pod name is a subdomain",
            pod(json!({"metadata": {"name": "a..b"}})),
            vec!["metadata.name"],
        ),
        (
            "long names",
            service(json!({"metadata": {"name": "a".repeat(64)}})),
            vec!["metadata.name"],
        ),
        (
            "namespace",
            service(json!({"metadata": {"namespace": "Shop"}})),
            vec!["metadata.namespace"],
        ),
        (
            "label key",
            service(json!({"metadata": {"labels": {"-x": "y"}}})),
            vec!["metadata.labels.-x"],
        ),
        (
            "label key prefix",
            service(json!({"metadata": {"labels": {"Bad_Prefix/x": "y"}}})),
            vec!["metadata.labels.Bad_Prefix/x"],
        ),
        (
            "label value",
            service(json!({"metadata": {"labels": {"app": "-web"}}})),
            vec!["metadata.labels.app"],
        ),
    ]);
}

#[test]
fn pod_problems() {
    check(vec![
        (
            "node name",
            pod(json!({"spec": {"nodeName": "Node_A"}})),
            vec!["spec.nodeName"],
        ),
        (
            "port name",
            pod(
                json!({"spec": {"containers": [{"name": "web", "ports": [{"name": "web--port", "containerPort": 80}]}]}}),
            ),
            vec!["spec.containers[0].ports[0].name"],
        ),
        (
            "duplicate port name across containers",
            pod(json!({"spec": {"containers": [
                {"name": "a", "ports": [{"name": "http", "containerPort": 80}]},
                {"name": "b", "ports": [{"name": "http", "containerPort": 81}]}
            ]}})),
            vec!["spec.containers[1].ports[0].name"],
        ),
        (
            "container port",
            pod(
                json!({"spec": {"containers": [{"name": "web", "ports": [{"containerPort": 0}]}]}}),
            ),
            vec!["spec.containers[0].ports[0].containerPort"],
        ),
        (
            "container protocol",
            pod(
                json!({"spec": {"containers": [{"name": "web", "ports": [{"containerPort": 80, "protocol": "ICMP"}]}]}}),
            ),
            vec!["spec.containers[0].ports[0].protocol"],
        ),
        (
            "pod IPs",
            pod(json!({"status": {"podIPs": [{"ip": "10.244.0"}]}})),
            vec!["status.podIPs[0].ip"],
        ),
        (
            "pod IPs of one family",
            pod(json!({"status": {"podIPs": [{"ip": "10.244.0.5"}, {"ip": "10.244.0.6"}]}})),
            vec!["status.podIPs[1].ip"],
        ),
        (
            "pod IP",
            pod(json!({"status": {"podIP": "x"}})),
            vec!["status.podIP"],
        ),
        (
            "pod IP is the first of pod IPs",
            pod(json!({"status": {"podIP": "10.244.0.6", "podIPs": [{"ip": "10.244.0.5"}]}})),
            vec!["status.podIP"],
        ),
    ]);
}

#[test]
fn service_type_and_address_problems() {
    check(vec![
        (
            "type",
            service(json!({"spec": {"type": "Ingress"}})),
            vec!["spec.type"],
        ),
        (
            "external name required",
            service(json!({"spec": {"type": "ExternalName", "clusterIP": null}})),
            vec!["spec.externalName"],
        ),
        (
            "external name is a DNS name",
            service(
                json!({"spec": {"type": "ExternalName", "clusterIP": null, "externalName": "db_1.example"}}),
            ),
            vec!["spec.externalName"],
        ),
        (
            "external name has no ClusterIP",
            service(
                json!({"spec": {"type": "ExternalName", "externalName": "db.example.com", "clusterIPs": ["10.96.0.10"]}}),
            ),
            vec!["spec.clusterIP", "spec.clusterIPs"],
        ),
        (
            "cluster IP",
            service(json!({"spec": {"clusterIP": "10.96.0.300"}})),
            vec!["spec.clusterIP"],
        ),
        (
            "cluster IP with leading zeros",
            service(json!({"spec": {"clusterIP": "010.96.0.10"}})),
            vec!["spec.clusterIP"],
        ),
        (
            "three cluster IPs",
            service(json!({"spec": {"clusterIPs": ["10.96.0.10", "fd00::10", "10.96.0.11"]}})),
            vec!["spec.clusterIPs", "spec.clusterIPs[2]"],
        ),
        (
            "first cluster IP is clusterIP",
            service(json!({"spec": {"clusterIPs": ["10.96.0.11"]}})),
            vec!["spec.clusterIPs[0]"],
        ),
        (
            "None alone",
            service(json!({"spec": {"clusterIP": "None", "clusterIPs": ["None", "fd00::10"]}})),
            vec!["spec.clusterIPs[0]"],
        ),
        (
            "cluster IPs",
            service(json!({"spec": {"clusterIPs": ["10.96.0.10", "fd00::x"]}})),
            vec!["spec.clusterIPs[1]"],
        ),
        (
            "one cluster IP per family",
            service(json!({"spec": {"clusterIPs": ["10.96.0.10", "10.96.0.11"]}})),
            vec!["spec.clusterIPs[1]"],
        ),
        (
            "single stack with two",
            service(
                json!({"spec": {"clusterIPs": ["10.96.0.10", "fd00::10"], "ipFamilyPolicy": "SingleStack"}}),
            ),
            vec!["spec.ipFamilyPolicy"],
        ),
        (
            "family policy",
            service(json!({"spec": {"ipFamilyPolicy": "DualStack"}})),
            vec!["spec.ipFamilyPolicy"],
        ),
        (
            "three families",
            service(json!({"spec": {"ipFamilies": ["IPv4", "IPv6", "IPv4"]}})),
            vec!["spec.ipFamilies", "spec.ipFamilies[2]"],
        ),
        (
            "family",
            service(json!({"spec": {"ipFamilies": ["IPv5"]}})),
            vec!["spec.ipFamilies[0]"],
        ),
        (
            "family twice",
            service(json!({"spec": {"ipFamilies": ["IPv4", "IPv4"]}})),
            vec!["spec.ipFamilies[1]"],
        ),
        (
            "family of the cluster IP",
            service(json!({"spec": {"clusterIPs": ["10.96.0.10"], "ipFamilies": ["IPv6"]}})),
            vec!["spec.ipFamilies[0]"],
        ),
        (
            "headless NodePort",
            service(json!({"spec": {"type": "NodePort", "clusterIP": "None"}})),
            vec!["spec.clusterIP"],
        ),
    ]);
}

#[test]
fn service_port_problems() {
    check(vec![
        (
            "ports required",
            service(json!({"spec": {"ports": []}})),
            vec!["spec.ports"],
        ),
        (
            "names required with two ports",
            service(json!({"spec": {"ports": [{"name": "a", "port": 80}, {"port": 81}]}})),
            vec!["spec.ports[1].name"],
        ),
        (
            "name",
            service(json!({"spec": {"ports": [{"name": "HTTP", "port": 80}]}})),
            vec!["spec.ports[0].name"],
        ),
        (
            "names unique",
            service(
                json!({"spec": {"ports": [{"name": "a", "port": 80}, {"name": "a", "port": 81}]}}),
            ),
            vec!["spec.ports[1].name"],
        ),
        (
            "protocol",
            service(json!({"spec": {"ports": [{"port": 80, "protocol": "tcp"}]}})),
            vec!["spec.ports[0].protocol"],
        ),
        (
            "port 0",
            service(json!({"spec": {"ports": [{"port": 0}]}})),
            vec!["spec.ports[0].port"],
        ),
        (
            "port 65536",
            service(json!({"spec": {"ports": [{"port": 65536}]}})),
            vec!["spec.ports[0].port"],
        ),
        (
            "port and protocol once",
            service(
                json!({"spec": {"ports": [{"name": "a", "port": 80}, {"name": "b", "port": 80, "protocol": "TCP"}]}}),
            ),
            vec!["spec.ports[1]"],
        ),
        (
            "same port, other protocol",
            service(
                json!({"spec": {"ports": [{"name": "a", "port": 53}, {"name": "b", "port": 53, "protocol": "UDP"}]}}),
            ),
            vec![],
        ),
        (
            "target port 0",
            service(json!({"spec": {"ports": [{"port": 80, "targetPort": 0}]}})),
            vec!["spec.ports[0].targetPort"],
        ),
        (
            "target port name",
            service(
                json!({"spec": {"ports": [{"port": 80, "targetPort": "very-long-port-name"}]}}),
            ),
            vec!["spec.ports[0].targetPort"],
        ),
        (
            "target port name has a letter",
            service(json!({"spec": {"ports": [{"port": 80, "targetPort": "8080"}]}})),
            vec!["spec.ports[0].targetPort"],
        ),
        (
            "node port on ClusterIP",
            service(json!({"spec": {"ports": [{"port": 80, "nodePort": 30080}]}})),
            vec!["spec.ports[0].nodePort"],
        ),
        (
            "node port range",
            service(
                json!({"spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 8080}]}}),
            ),
            vec!["spec.ports[0].nodePort"],
        ),
        (
            "node port once per protocol",
            service(json!({"spec": {"type": "NodePort", "ports": [
                {"name": "a", "port": 80, "nodePort": 30080},
                {"name": "b", "port": 81, "nodePort": 30080}
            ]}})),
            vec!["spec.ports[1].nodePort"],
        ),
    ]);
}

#[test]
fn service_policy_and_range_problems() {
    let lb = |spec: Value| {
        service(with(
            json!({"spec": {"type": "LoadBalancer"}}),
            json!({"spec": spec}),
        ))
    };
    check(vec![
        (
            "affinity config without affinity",
            service(
                json!({"spec": {"sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}}}}),
            ),
            vec!["spec.sessionAffinityConfig"],
        ),
        (
            "affinity timeout 0",
            service(
                json!({"spec": {"sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 0}}}}),
            ),
            vec!["spec.sessionAffinityConfig.clientIP.timeoutSeconds"],
        ),
        (
            "affinity timeout over a day",
            service(
                json!({"spec": {"sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 86401}}}}),
            ),
            vec!["spec.sessionAffinityConfig.clientIP.timeoutSeconds"],
        ),
        (
            "affinity",
            service(json!({"spec": {"sessionAffinity": "Cookie"}})),
            vec!["spec.sessionAffinity"],
        ),
        (
            "external policy",
            lb(json!({"externalTrafficPolicy": "Node"})),
            vec!["spec.externalTrafficPolicy"],
        ),
        (
            "external policy on ClusterIP",
            service(json!({"spec": {"externalTrafficPolicy": "Local"}})),
            vec!["spec.externalTrafficPolicy"],
        ),
        (
            "internal policy",
            service(json!({"spec": {"internalTrafficPolicy": "Node"}})),
            vec!["spec.internalTrafficPolicy"],
        ),
        (
            "health check port needs LoadBalancer and Local",
            service(
                json!({"spec": {"type": "NodePort", "externalTrafficPolicy": "Local", "healthCheckNodePort": 32000}}),
            ),
            vec!["spec.healthCheckNodePort"],
        ),
        (
            "health check port number",
            lb(json!({"externalTrafficPolicy": "Local", "healthCheckNodePort": 70000})),
            vec!["spec.healthCheckNodePort"],
        ),
        (
            "source ranges need LoadBalancer",
            service(json!({"spec": {"loadBalancerSourceRanges": ["10.0.0.0/8"]}})),
            vec!["spec.loadBalancerSourceRanges[0]"],
        ),
        (
            "source range",
            lb(json!({"loadBalancerSourceRanges": ["10.0.0.0/8", "10.0.0.0"]})),
            vec!["spec.loadBalancerSourceRanges[1]"],
        ),
        (
            "external IP",
            service(json!({"spec": {"externalIPs": ["example.com"]}})),
            vec!["spec.externalIPs[0]"],
        ),
        (
            "special external IPs",
            service(
                json!({"spec": {"externalIPs": ["0.0.0.0", "127.0.0.1", "169.254.1.1", "224.0.0.5", "::1", "fe80::1", "ff02::1"]}}),
            ),
            vec![
                "spec.externalIPs[0]",
                "spec.externalIPs[1]",
                "spec.externalIPs[2]",
                "spec.externalIPs[3]",
                "spec.externalIPs[4]",
                "spec.externalIPs[5]",
                "spec.externalIPs[6]",
            ],
        ),
        (
            "selector",
            service(json!({"spec": {"selector": {"app": "web app"}}})),
            vec!["spec.selector.app"],
        ),
        (
            "ingress IP",
            with(
                lb(json!({})),
                json!({"status": {"loadBalancer": {"ingress": [{"ip": "lb"}]}}}),
            ),
            vec!["status.loadBalancer.ingress[0].ip"],
        ),
        (
            "ipMode needs ip",
            with(
                lb(json!({})),
                json!({"status": {"loadBalancer": {"ingress": [{"hostname": "lb.example.com", "ipMode": "VIP"}]}}}),
            ),
            vec!["status.loadBalancer.ingress[0].ipMode"],
        ),
        (
            "ipMode",
            with(
                lb(json!({})),
                json!({"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1", "ipMode": "Direct"}]}}}),
            ),
            vec!["status.loadBalancer.ingress[0].ipMode"],
        ),
    ]);
}

#[test]
fn endpoint_slice_problems() {
    let many = |n: usize, item: Value| Value::Array(vec![item; n]);
    check(vec![
        (
            "service name label",
            slice(json!({"metadata": {"labels": null}})),
            vec!["metadata.labels.kubernetes.io/service-name"],
        ),
        (
            "address type",
            slice(json!({"addressType": "IP"})),
            vec!["addressType"],
        ),
        (
            "too many endpoints",
            slice(json!({"endpoints": many(1001, json!({"addresses": ["10.0.0.1"]}))})),
            vec!["endpoints"],
        ),
        (
            "address required",
            slice(json!({"endpoints": [{"addresses": []}]})),
            vec!["endpoints[0].addresses"],
        ),
        (
            "too many addresses",
            slice(json!({"endpoints": [{"addresses": many(101, json!("10.0.0.1"))}]})),
            vec!["endpoints[0].addresses"],
        ),
        (
            "address of the type",
            slice(json!({"endpoints": [{"addresses": ["fd00::5"]}]})),
            vec!["endpoints[0].addresses[0]"],
        ),
        (
            "IPv6 address of the type",
            slice(
                json!({"addressType": "IPv6", "endpoints": [{"addresses": ["fd00::5", "10.0.0.1"]}]}),
            ),
            vec!["endpoints[0].addresses[1]"],
        ),
        (
            "loopback endpoint",
            slice(json!({"endpoints": [{"addresses": ["127.0.0.1"]}]})),
            vec!["endpoints[0].addresses[0]"],
        ),
        (
            "FQDN address",
            slice(json!({"addressType": "FQDN", "endpoints": [{"addresses": ["not a name"]}]})),
            vec!["endpoints[0].addresses[0]"],
        ),
        (
            "node name",
            slice(json!({"endpoints": [{"addresses": ["10.0.0.1"], "nodeName": "Node A"}]})),
            vec!["endpoints[0].nodeName"],
        ),
        (
            "too many ports",
            slice(
                json!({"ports": (0..101).map(|i| json!({"name": format!("p{i}"), "port": 80})).collect::<Vec<_>>()}),
            ),
            vec!["ports"],
        ),
        (
            "port name",
            slice(json!({"ports": [{"name": "Http", "port": 80}]})),
            vec!["ports[0].name"],
        ),
        (
            "port names unique",
            slice(json!({"ports": [{"name": "a", "port": 80}, {"name": "a", "port": 81}]})),
            vec!["ports[1].name"],
        ),
        (
            "port protocol",
            slice(json!({"ports": [{"port": 80, "protocol": "HTTP"}]})),
            vec!["ports[0].protocol"],
        ),
        (
            "port number",
            slice(json!({"ports": [{"port": 0}]})),
            vec!["ports[0].port"],
        ),
    ]);
}

fn objects(values: Vec<Value>) -> Vec<Object> {
    values.into_iter().map(|v| decode(v).unwrap()).collect()
}

#[test]
fn conflicts_name_the_incoming_field_and_the_owner() {
    let existing = objects(vec![
        service(json!({"metadata": {"name": "api"}, "spec": {"clusterIP": "10.96.0.20"}})),
        service(
            json!({"metadata": {"name": "np"}, "spec": {"clusterIP": "10.96.0.30", "type": "NodePort",
            "ports": [{"port": 80, "nodePort": 30080}]}}),
        ),
    ]);
    let existing: Vec<&Object> = existing.iter().collect();
    let incoming = objects(vec![
        // Same address as api, written differently.
        service(json!({"metadata": {"name": "a"}, "spec": {"clusterIP": "10.96.0.20"}})),
        // Same NodePort and protocol as np; the UDP one is free.
        service(
            json!({"metadata": {"name": "b"}, "spec": {"clusterIP": "10.96.0.40", "type": "NodePort",
            "ports": [{"name": "t", "port": 80, "nodePort": 30080}, {"name": "u", "port": 80, "protocol": "UDP", "nodePort": 30080}]}}),
        ),
        // Conflicts among the incoming ones: c takes 10.96.0.50 first.
        service(
            json!({"metadata": {"name": "c"}, "spec": {"clusterIPs": ["10.96.0.50", "fd00::50"], "clusterIP": "10.96.0.50"}}),
        ),
        service(
            json!({"metadata": {"name": "d", "namespace": "shop"}, "spec": {"clusterIPs": ["fd00:0::50"], "clusterIP": "fd00:0::50"}}),
        ),
    ]);
    let problems = conflicts(&incoming, &existing);
    let fields: Vec<_> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "Service default/a: spec.clusterIP",
            "Service default/b: spec.ports[0].nodePort",
            "Service shop/d: spec.clusterIP",
        ]
    );
    assert!(
        problems[0].problem.contains("Service default/api"),
        "{:?}",
        problems[0]
    );
    assert!(
        problems[1].problem.contains("30080/TCP"),
        "{:?}",
        problems[1]
    );
    assert!(
        problems[2].problem.contains("Service default/c"),
        "{:?}",
        problems[2]
    );
}

#[test]
fn a_replaced_service_keeps_its_own_addresses() {
    let stored = objects(vec![service(json!({}))]);
    let stored: Vec<&Object> = stored.iter().collect();
    let incoming = objects(vec![service(json!({"spec": {"ports": [{"port": 8080}]}}))]);
    assert_eq!(conflicts(&incoming, &stored), []);
}

fn network_policy(spec: Value) -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "web.allow", "namespace": "shop"},
        "spec": spec
    })
}

#[test]
fn valid_network_policies_have_no_problem() {
    check(vec![
        (
            "deny all",
            network_policy(json!({"podSelector": {}})),
            vec![],
        ),
        (
            "every kind of peer and port",
            network_policy(json!({
                "podSelector": {"matchLabels": {"app": "web"}},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{
                    "from": [
                        {"podSelector": {"matchExpressions": [
                            {"key": "tier", "operator": "In", "values": ["front"]},
                            {"key": "debug", "operator": "DoesNotExist"}]}},
                        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ops"}},
                         "podSelector": {}},
                        {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}},
                        {"ipBlock": {"cidr": "fd00::/64"}}
                    ],
                    "ports": [{"port": 80}, {"port": "http"}, {"protocol": "UDP"},
                              {"protocol": "SCTP", "port": 9000, "endPort": 9010}]
                }],
                "egress": [{}]
            })),
            vec![],
        ),
    ]);
}

#[test]
fn network_policy_problems() {
    let selector = |s: Value| network_policy(json!({"podSelector": s}));
    let ingress = |rule: Value| network_policy(json!({"podSelector": {}, "ingress": [rule]}));
    let egress_peer =
        |peer: Value| network_policy(json!({"podSelector": {}, "egress": [{"to": [peer]}]}));
    let port = |port: Value| ingress(json!({"ports": [port]}));
    check(vec![
        (
            "name",
            with(
                network_policy(json!({})),
                json!({"metadata": {"name": "Web"}}),
            ),
            vec!["metadata.name"],
        ),
        (
            "In without values",
            selector(json!({"matchExpressions": [{"key": "app", "operator": "In"}]})),
            vec!["spec.podSelector.matchExpressions[0].values"],
        ),
        (
            "Exists with values",
            selector(json!({"matchExpressions": [
                {"key": "app", "operator": "Exists", "values": ["web"]}]})),
            vec!["spec.podSelector.matchExpressions[0].values"],
        ),
        (
            "unknown operator",
            selector(json!({"matchExpressions": [
                {"key": "app", "operator": "Equals", "values": ["web"]}]})),
            vec!["spec.podSelector.matchExpressions[0].operator"],
        ),
        (
            "bad key and value",
            selector(json!({"matchExpressions": [
                {"key": "-app", "operator": "NotIn", "values": ["ok", "not ok"]}]})),
            vec![
                "spec.podSelector.matchExpressions[0].key",
                "spec.podSelector.matchExpressions[0].values[1]",
            ],
        ),
        (
            "bad matchLabels",
            selector(json!({"matchLabels": {"app": "we b"}})),
            vec!["spec.podSelector.matchLabels.app"],
        ),
        (
            "nested selector of a peer",
            ingress(json!({"from": [{"namespaceSelector": {"matchExpressions": [
                {"key": "ns", "operator": "In", "values": []}]}}]})),
            vec!["spec.ingress[0].from[0].namespaceSelector.matchExpressions[0].values"],
        ),
        (
            "empty peer",
            egress_peer(json!({})),
            vec!["spec.egress[0].to[0]"],
        ),
        (
            "ipBlock with a selector",
            egress_peer(json!({"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}})),
            vec!["spec.egress[0].to[0]"],
        ),
        (
            "bad cidr",
            egress_peer(json!({"ipBlock": {"cidr": "10.0.0.0"}})),
            vec!["spec.egress[0].to[0].ipBlock.cidr"],
        ),
        (
            "except outside, as large, other family, not a cidr",
            egress_peer(json!({"ipBlock": {"cidr": "10.0.0.0/16", "except": [
                "10.1.0.0/24", "10.0.0.0/16", "fd00::/64", "10.0.1.0", "10.0.2.0/24"]}})),
            vec![
                "spec.egress[0].to[0].ipBlock.except[0]",
                "spec.egress[0].to[0].ipBlock.except[1]",
                "spec.egress[0].to[0].ipBlock.except[2]",
                "spec.egress[0].to[0].ipBlock.except[3]",
            ],
        ),
        (
            "port 0",
            port(json!({"port": 0})),
            vec!["spec.ingress[0].ports[0].port"],
        ),
        (
            "port 65536",
            port(json!({"port": 65536})),
            vec!["spec.ingress[0].ports[0].port"],
        ),
        (
            "bad port name",
            port(json!({"port": "http--alt"})),
            vec!["spec.ingress[0].ports[0].port"],
        ),
        (
            "protocol",
            port(json!({"protocol": "ICMP"})),
            vec!["spec.ingress[0].ports[0].protocol"],
        ),
        (
            "endPort without port",
            port(json!({"endPort": 90})),
            vec!["spec.ingress[0].ports[0].endPort"],
        ),
        (
            "endPort with a named port",
            port(json!({"port": "http", "endPort": 90})),
            vec!["spec.ingress[0].ports[0].endPort"],
        ),
        (
            "endPort below port",
            port(json!({"port": 90, "endPort": 80})),
            vec!["spec.ingress[0].ports[0].endPort"],
        ),
        (
            "endPort over 65535",
            port(json!({"port": 90, "endPort": 70000})),
            vec!["spec.ingress[0].ports[0].endPort"],
        ),
        (
            "policy types",
            network_policy(json!({"podSelector": {},
                                  "policyTypes": ["Ingress", "egress", "Egress"]})),
            vec!["spec.policyTypes", "spec.policyTypes[1]"],
        ),
    ]);
}
