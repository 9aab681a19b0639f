use serde_json::{Value, json};

use super::*;
use crate::test_support::{merge, pod, service, slice};

const NODE: &str = "node-a";

/// An endpoint on `node` with conditions (`None` leaves a condition out).
fn ep(
    ip: &str,
    node: &str,
    ready: Option<bool>,
    serving: Option<bool>,
    terminating: Option<bool>,
) -> Value {
    json!({
        "addresses": [ip],
        "nodeName": node,
        "conditions": {"ready": ready, "serving": serving, "terminating": terminating}
    })
}

fn ready(ip: &str, node: &str) -> Value {
    ep(ip, node, Some(true), Some(true), Some(false))
}

fn serving_terminating(ip: &str, node: &str) -> Value {
    ep(ip, node, Some(false), Some(true), Some(true))
}

fn addrs(list: &[&str]) -> Vec<SocketAddr> {
    list.iter()
        .map(|ip| SocketAddr::new(ip.parse().unwrap(), 80))
        .collect()
}

fn categorize_one(endpoints: Value) -> Categorized {
    let s = slice(
        "web-1",
        "IPv4",
        json!([{"name": "", "port": 80}]),
        endpoints,
    );
    categorize(&[&s], "", "TCP", NODE)
}

#[test]
fn categorize_follows_kube_proxy() {
    // (what, endpoints, cluster, local, local ready)
    type Case<'a> = (&'a str, Value, &'a [&'a str], &'a [&'a str], usize);
    let cases: Vec<Case> = vec![
        (
            "ready endpoints: cluster uses all of them, local the local ones",
            json!([
                ready("10.0.0.1", NODE),
                ready("10.0.0.2", "node-b"),
                ready("10.0.0.3", NODE)
            ]),
            &["10.0.0.1", "10.0.0.2", "10.0.0.3"],
            &["10.0.0.1", "10.0.0.3"],
            2,
        ),
        (
            "serving-terminating endpoints are not used while one is ready anywhere",
            json!([
                ready("10.0.0.2", "node-b"),
                serving_terminating("10.0.0.1", "node-b")
            ]),
            &["10.0.0.2"],
            &[],
            0,
        ),
        (
            "no ready endpoint anywhere: fall back to the serving-terminating ones",
            json!([
                serving_terminating("10.0.0.1", NODE),
                serving_terminating("10.0.0.2", "node-b"),
                ep("10.0.0.3", "node-b", Some(false), Some(false), Some(false))
            ]),
            &["10.0.0.1", "10.0.0.2"],
            &["10.0.0.1"],
            0,
        ),
        (
            "the local fallback is decided on its own: remote ready, local terminating",
            json!([
                ready("10.0.0.2", "node-b"),
                serving_terminating("10.0.0.1", NODE)
            ]),
            &["10.0.0.2"],
            &["10.0.0.1"],
            0,
        ),
        (
            "a local ready endpoint hides the local terminating ones",
            json!([
                ready("10.0.0.1", NODE),
                serving_terminating("10.0.0.2", NODE)
            ]),
            &["10.0.0.1"],
            &["10.0.0.1"],
            1,
        ),
        (
            "terminating endpoints that do not serve are never used",
            json!([
                ep("10.0.0.1", NODE, Some(false), Some(false), Some(true)),
                ep("10.0.0.2", "node-b", Some(false), Some(false), Some(true))
            ]),
            &[],
            &[],
            0,
        ),
        (
            "not ready, not terminating: not used even as a fallback",
            json!([ep("10.0.0.1", NODE, Some(false), Some(true), Some(false))]),
            &[],
            &[],
            0,
        ),
        (
            "absent conditions: ready, serving, not terminating",
            json!([ep("10.0.0.1", NODE, None, None, None), {"addresses": ["10.0.0.2"]}]),
            &["10.0.0.1", "10.0.0.2"],
            &["10.0.0.1"],
            1,
        ),
        (
            "ready counts even when serving says false",
            json!([ep(
                "10.0.0.1",
                "node-b",
                Some(true),
                Some(false),
                Some(false)
            )]),
            &["10.0.0.1"],
            &[],
            0,
        ),
        (
            "only the first address counts; one of another family is skipped",
            json!([{"addresses": ["10.0.0.1", "10.0.0.9"]}, {"addresses": ["fd00::1"]}]),
            &["10.0.0.1"],
            &[],
            0,
        ),
    ];
    for (what, endpoints, cluster, local, local_ready) in cases {
        let got = categorize_one(endpoints);
        assert_eq!(got.cluster, addrs(cluster), "cluster: {what}");
        assert_eq!(got.local, addrs(local), "local: {what}");
        assert_eq!(got.local_ready, local_ready, "local ready: {what}");
    }
}

#[test]
fn serving_lists_every_serving_address_once() {
    let got = categorize_one(json!([
        ready("10.0.0.1", NODE),
        serving_terminating("10.0.0.2", "node-b"),
        ep("10.0.0.3", "node-b", Some(false), Some(false), Some(true)),
    ]));
    let expected: Vec<IpAddr> = vec!["10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()];
    assert_eq!(got.serving, expected);
}

#[test]
fn duplicates_across_slices_are_merged_and_local_wins() {
    let ports = json!([{"name": "", "port": 80}]);
    let remote = slice(
        "web-1",
        "IPv4",
        ports.clone(),
        json!([ready("10.0.0.1", "node-b")]),
    );
    let local = slice(
        "web-2",
        "IPv4",
        ports,
        json!([ready("10.0.0.1", NODE), ready("10.0.0.2", NODE)]),
    );
    let got = categorize(&[&remote, &local], "", "TCP", NODE);
    assert_eq!(got.cluster, addrs(&["10.0.0.1", "10.0.0.2"]));
    assert_eq!(got.local, addrs(&["10.0.0.1", "10.0.0.2"]));
    assert_eq!(got.local_ready, 2);
}

#[test]
fn slice_ports_match_by_name_and_protocol() {
    let endpoints = json!([ready("10.0.0.1", NODE)]);
    let s = slice(
        "web-1",
        "IPv4",
        json!([
            {"name": "http", "port": 8080, "protocol": "TCP"},
            {"name": "dns", "port": 5353, "protocol": "UDP"},
            {"name": "metrics", "port": 9090},
            {"name": "nonumber", "protocol": "TCP"},
            {"port": 7070}
        ]),
        endpoints,
    );
    let ip: IpAddr = "10.0.0.1".parse().unwrap();
    let at = |port| vec![SocketAddr::new(ip, port)];
    // (port name, protocol, expected)
    let cases: Vec<(&str, &str, Vec<SocketAddr>)> = vec![
        ("http", "TCP", at(8080)),
        ("http", "UDP", vec![]),
        ("dns", "UDP", at(5353)),
        ("dns", "TCP", vec![]),
        ("metrics", "TCP", at(9090)),
        ("nonumber", "TCP", vec![]),
        ("", "TCP", at(7070)),
        ("other", "TCP", vec![]),
    ];
    for (name, protocol, expected) in cases {
        assert_eq!(
            categorize(&[&s], name, protocol, NODE).cluster,
            expected,
            "{name}/{protocol}"
        );
    }
}

#[test]
fn fqdn_slices_and_an_empty_node_name_give_nothing_local() {
    let ports = json!([{"name": "", "port": 80}]);
    let fqdn = slice(
        "web-1",
        "FQDN",
        ports.clone(),
        json!([{"addresses": ["db.example.com"]}]),
    );
    assert_eq!(
        categorize(&[&fqdn], "", "TCP", NODE),
        Categorized::default()
    );
    let s = slice("web-2", "IPv4", ports, json!([{"addresses": ["10.0.0.1"]}]));
    // An endpoint without nodeName is not local, even to a node without a name.
    assert_eq!(categorize(&[&s], "", "TCP", "").local, []);
}

fn web_pod(name: &str, extra: Value) -> Pod {
    let mut value = json!({
        "metadata": {"name": name, "labels": {"app": "web"}, "uid": format!("uid-{name}")},
        "spec": {"nodeName": "node-b", "containers": [
            {"name": "web", "ports": [{"name": "http", "containerPort": 8080}, {"name": "dns", "containerPort": 53, "protocol": "UDP"}]}
        ]}
    });
    merge(&mut value, extra);
    pod(value)
}

fn info<'a>(pod: &'a Pod, ips: &[&str], node: Option<&str>) -> PodInfo<'a> {
    PodInfo {
        pod,
        ips: ips.iter().map(|ip| ip.parse().unwrap()).collect(),
        node: node.map(str::to_owned),
    }
}

fn web_service(extra: Value) -> Service {
    let mut spec = json!({"clusterIP": "10.96.0.10", "selector": {"app": "web"},
                          "ports": [{"name": "http", "port": 80, "targetPort": "http"}]});
    merge(&mut spec, extra);
    service(spec)
}

fn addresses(slice: &EndpointSlice) -> Vec<&str> {
    slice
        .endpoints
        .iter()
        .flatten()
        .map(|e| e.addresses[0].as_str())
        .collect()
}

#[test]
fn derive_selects_pods_by_namespace_labels_phase_and_address() {
    let selected = web_pod("a", json!({}));
    let other_namespace = web_pod("b", json!({"metadata": {"namespace": "shop"}}));
    let other_labels = web_pod("c", json!({"metadata": {"labels": {"app": "api"}}}));
    let finished = web_pod("d", json!({"status": {"phase": "Succeeded"}}));
    let no_address = web_pod("e", json!({}));
    let extra_label = web_pod("f", json!({"metadata": {"labels": {"tier": "front"}}}));
    let pods = [
        info(&selected, &["10.244.0.1"], Some("node-a")),
        info(&other_namespace, &["10.244.0.2"], None),
        info(&other_labels, &["10.244.0.3"], None),
        info(&finished, &["10.244.0.4"], None),
        info(&no_address, &[], None),
        info(&extra_label, &["10.244.0.6"], None),
    ];
    let slices = derive_slices(&web_service(json!({})), &pods);
    assert_eq!(slices.len(), 1);
    let s = &slices[0];
    assert_eq!(s.metadata.name.as_deref(), Some("web-podwire-ipv4"));
    assert_eq!(s.metadata.namespace.as_deref(), Some("default"));
    let labels = s.metadata.labels.clone().unwrap();
    assert_eq!(labels[SERVICE_NAME_LABEL], "web");
    assert_eq!(labels[MANAGED_BY_LABEL], "podwire");
    assert_eq!(s.address_type, "IPv4");
    assert_eq!(addresses(s), ["10.244.0.1", "10.244.0.6"]);
    let first = &s.endpoints.as_ref().unwrap()[0];
    assert_eq!(first.node_name.as_deref(), Some("node-a"));
    let target = first.target_ref.as_ref().unwrap();
    assert_eq!(target.kind.as_deref(), Some("Pod"));
    assert_eq!(target.name.as_deref(), Some("a"));
    assert_eq!(target.namespace.as_deref(), Some("default"));
    assert_eq!(target.uid.as_deref(), Some("uid-a"));
    // The derived slice is a valid EndpointSlice.
    assert_eq!(
        crate::validate::object(&crate::object::Object::EndpointSlice(s.clone())),
        []
    );
}

#[test]
fn derive_gives_nothing_without_a_selector() {
    let p = web_pod("a", json!({}));
    let pods = [info(&p, &["10.244.0.1"], None)];
    assert_eq!(
        derive_slices(&web_service(json!({"selector": null})), &pods),
        []
    );
    assert_eq!(
        derive_slices(
            &service(json!({"selector": {}, "ports": [{"port": 80}]})),
            &pods
        ),
        []
    );
}

#[test]
fn derive_resolves_named_ports_per_pod() {
    let a = web_pod("a", json!({}));
    let b = web_pod(
        "b",
        json!({"spec": {"containers": [{"name": "web", "ports": [{"name": "http", "containerPort": 9090}]}]}}),
    );
    let c = web_pod(
        "c",
        json!({"spec": {"containers": [{"name": "web", "ports": [{"name": "admin", "containerPort": 8081}]}]}}),
    );
    let d = web_pod("d", json!({}));
    let pods = [
        info(&d, &["10.244.0.4"], None),
        info(&c, &["10.244.0.3"], None),
        info(&b, &["10.244.0.2"], None),
        info(&a, &["10.244.0.1"], None),
    ];
    let service = web_service(json!({"ports": [
        {"name": "http", "port": 80, "targetPort": "http"},
        {"name": "plain", "port": 81},
        {"name": "fixed", "port": 82, "targetPort": 8082},
        {"name": "dns", "port": 53, "targetPort": "dns"},
        {"name": "dns-udp", "port": 53, "protocol": "UDP", "targetPort": "dns"}
    ]}));
    let slices = derive_slices(&service, &pods);
    let names: Vec<_> = slices
        .iter()
        .map(|s| s.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "web-podwire-ipv4",
            "web-podwire-ipv4-2",
            "web-podwire-ipv4-3"
        ]
    );
    assert_eq!(addresses(&slices[0]), ["10.244.0.1", "10.244.0.4"]);
    assert_eq!(addresses(&slices[1]), ["10.244.0.2"]);
    assert_eq!(addresses(&slices[2]), ["10.244.0.3"]);
    let refs: Vec<&EndpointSlice> = slices.iter().collect();
    let cluster = |name: &str, protocol: &str| -> Vec<String> {
        categorize(&refs, name, protocol, NODE)
            .cluster
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    assert_eq!(
        cluster("http", "TCP"),
        ["10.244.0.1:8080", "10.244.0.2:9090", "10.244.0.4:8080"]
    );
    assert_eq!(
        cluster("plain", "TCP"),
        [
            "10.244.0.1:81",
            "10.244.0.2:81",
            "10.244.0.3:81",
            "10.244.0.4:81"
        ]
    );
    assert_eq!(cluster("fixed", "TCP").len(), 4);
    // The container's "dns" port is UDP: the TCP Service port cannot use it.
    assert_eq!(cluster("dns", "TCP"), Vec::<String>::new());
    assert_eq!(
        cluster("dns-udp", "UDP"),
        ["10.244.0.1:53", "10.244.0.4:53"]
    );
}

#[test]
fn derive_conditions_follow_readiness_and_termination() {
    let ready =
        |status: &str| json!({"status": {"conditions": [{"type": "Ready", "status": status}]}});
    let deleted = json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}});
    let ready_pod = web_pod("a", ready("True"));
    let unready = web_pod("b", ready("False"));
    let terminating = web_pod("c", deleted.clone());
    let mut both = ready("False");
    merge(&mut both, deleted);
    let unready_terminating = web_pod("d", both);
    let no_conditions = web_pod("e", json!({}));
    let pods = [
        info(&ready_pod, &["10.244.0.1"], None),
        info(&unready, &["10.244.0.2"], None),
        info(&terminating, &["10.244.0.3"], None),
        info(&unready_terminating, &["10.244.0.4"], None),
        info(&no_conditions, &["10.244.0.5"], None),
    ];
    let conditions = |service: &Service| -> Vec<(bool, bool, bool)> {
        let slices = derive_slices(service, &pods);
        slices[0]
            .endpoints
            .iter()
            .flatten()
            .map(|e| {
                let c = e.conditions.clone().unwrap();
                (c.ready.unwrap(), c.serving.unwrap(), c.terminating.unwrap())
            })
            .collect()
    };
    // (ready, serving, terminating)
    assert_eq!(
        conditions(&web_service(json!({}))),
        [
            (true, true, false),
            (false, false, false),
            (false, true, true),
            (false, false, true),
            (true, true, false),
        ]
    );
    assert_eq!(
        conditions(&web_service(json!({"publishNotReadyAddresses": true}))),
        [
            (true, true, false),
            (true, false, false),
            (true, true, true),
            (true, false, true),
            (true, true, false),
        ]
    );
}

#[test]
fn derive_makes_one_slice_per_family() {
    let a = web_pod("a", json!({}));
    let b = web_pod("b", json!({}));
    let pods = [
        info(&a, &["10.244.0.1", "fd00:244::1"], None),
        info(&b, &["fd00:244::2"], None),
    ];
    // A single-stack Service gets the slice of its family only.
    let slices = derive_slices(&web_service(json!({})), &pods);
    assert_eq!(slices.len(), 1);
    assert_eq!(slices[0].address_type, "IPv4");
    let dual = json!({"clusterIPs": ["10.96.0.10", "fd00:96::10"]});
    let slices = derive_slices(&web_service(dual), &pods);
    let summary: Vec<_> = slices
        .iter()
        .map(|s| {
            (
                s.metadata.name.clone().unwrap(),
                s.address_type.clone(),
                addresses(s).join(","),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "web-podwire-ipv4".to_owned(),
                "IPv4".to_owned(),
                "10.244.0.1".to_owned()
            ),
            (
                "web-podwire-ipv6".to_owned(),
                "IPv6".to_owned(),
                "fd00:244::1,fd00:244::2".to_owned()
            ),
        ]
    );
}
