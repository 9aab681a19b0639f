use serde_json::{Value, json};

use crate::object::decode;
use crate::test_support::merge;
use crate::validate::object;

/// An Admin policy `deny-sensitive` on the pods of namespaces labelled `team=x`, with
/// `patch` merged into its `spec`.
fn policy(patch: Value) -> Value {
    let mut value = json!({
        "apiVersion": "policy.networking.k8s.io/v1alpha2", "kind": "ClusterNetworkPolicy",
        "metadata": {"name": "deny.sensitive"},
        "spec": {
            "tier": "Admin",
            "priority": 10,
            "subject": {"namespaces": {"matchLabels": {"team": "x"}}}
        }
    });
    merge(&mut value["spec"], patch);
    value
}

fn ingress(rule: Value) -> Value {
    policy(json!({"ingress": [rule]}))
}

fn egress(rule: Value) -> Value {
    policy(json!({"egress": [rule]}))
}

/// An ingress rule from every pod with `protocols`.
fn protocols(protocols: Value) -> Value {
    ingress(json!({"action": "Deny", "from": [{"namespaces": {}}], "protocols": protocols}))
}

/// An ingress rule from every pod with one protocol entry, `tcp: {destinationPort: port}`.
fn tcp_port(port: Value) -> Value {
    protocols(json!([{"tcp": {"destinationPort": port}}]))
}

fn egress_peer(peer: Value) -> Value {
    egress(json!({"action": "Accept", "to": [peer]}))
}

/// The problems of an object given as JSON: (field, problem).
fn problems(value: Value) -> Vec<(String, String)> {
    let decoded = decode(value).expect("test object decodes");
    object(&decoded)
        .into_iter()
        .map(|p| (p.field, p.problem))
        .collect()
}

/// Each case's problems are at the fields it expects, and each problem's text has the
/// case's words in it.
fn check(cases: Vec<(&str, Value, Vec<&str>, &str)>) {
    for (what, value, expected, words) in cases {
        let found = problems(value);
        let fields: Vec<&str> = found.iter().map(|(field, _)| field.as_str()).collect();
        assert_eq!(fields, expected, "{what}: {found:?}");
        assert!(
            found.iter().all(|(_, problem)| problem.contains(words)),
            "{what}: no {words:?} in {found:?}"
        );
    }
}

#[test]
fn valid_cluster_network_policies_have_no_problem() {
    let every_field = policy(json!({
        "tier": "Baseline",
        "priority": 1000,
        "subject": {"namespaces": null, "pods": {
            "namespaceSelector": {"matchExpressions": [
                {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["a", "b"]}]},
            "podSelector": {"matchLabels": {"app": "web"}}}},
        "ingress": [
            {"name": "from-ops", "action": "Accept",
             "from": [{"namespaces": {"matchLabels": {"team": "ops"}}},
                      {"pods": {"namespaceSelector": {}, "podSelector": {}}}],
             "protocols": [
                 {"tcp": {"destinationPort": {"number": 80}}},
                 {"udp": {"destinationPort": {"range": {"start": 5000, "end": 5010}}}},
                 {"sctp": {"destinationPort": {"number": 9003}}},
                 {"destinationNamedPort": "web"}]},
            {"action": "Pass", "from": [{"namespaces": {}}]}
        ],
        "egress": [
            {"name": "x".repeat(100), "action": "Deny",
             "to": [{"networks": ["10.0.0.0/8", "fd00::/8", "192.168.1.1/32"]},
                    {"pods": {"namespaceSelector": {}, "podSelector": {}}}],
             "protocols": [{"tcp": {"destinationPort": {"number": 65535}}}]},
            {"action": "Accept", "to": [{"namespaces": {}}],
             "protocols": [{"destinationNamedPort": "dns"}]}
        ]
    }));
    let rules = |n: usize| {
        let rule = json!({"action": "Deny", "from": [{"namespaces": {}}]});
        policy(json!({"priority": 0, "ingress": vec![rule; n]}))
    };
    for (what, value) in [
        ("no rules", policy(json!({}))),
        ("every field", every_field),
        ("25 rules", rules(25)),
    ] {
        assert_eq!(problems(value), [], "{what}");
    }
}

#[test]
fn metadata_and_subject_problems() {
    let subject = |s: Value| {
        let mut value = policy(json!({}));
        value["spec"]["subject"] = s;
        value
    };
    check(vec![
        (
            "name",
            with_metadata(json!({"name": "Deny_All"})),
            vec!["metadata.name"],
            "DNS-1123 subdomain",
        ),
        (
            "namespace",
            with_metadata(json!({"namespace": "shop"})),
            vec!["metadata.namespace"],
            "cluster-scoped: remove metadata.namespace",
        ),
        (
            "priority below 0",
            policy(json!({"priority": -1})),
            vec!["spec.priority"],
            "use 0-1000",
        ),
        (
            "priority above 1000",
            policy(json!({"priority": 1001})),
            vec!["spec.priority"],
            "use 0-1000",
        ),
        (
            "no subject",
            subject(json!({})),
            vec!["spec.subject"],
            "give one of namespaces or pods",
        ),
        (
            "both subjects",
            subject(
                json!({"namespaces": {}, "pods": {"namespaceSelector": {}, "podSelector": {}}}),
            ),
            vec!["spec.subject"],
            "sets namespaces and pods: give exactly one",
        ),
        (
            "namespaces selector",
            subject(json!({"namespaces": {"matchLabels": {"team": "a b"}}})),
            vec!["spec.subject.namespaces.matchLabels.team"],
            "",
        ),
        (
            "pods selectors",
            subject(json!({"pods": {
                "namespaceSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]},
                "podSelector": {"matchExpressions": [{"key": "a", "operator": "Equals"}]}}})),
            vec![
                "spec.subject.pods.namespaceSelector.matchExpressions[0].values",
                "spec.subject.pods.podSelector.matchExpressions[0].operator",
            ],
            "",
        ),
    ]);
}

fn with_metadata(metadata: Value) -> Value {
    let mut value = policy(json!({}));
    merge(&mut value["metadata"], metadata);
    value
}

#[test]
fn rule_and_peer_problems() {
    let deny_all = json!({"action": "Deny", "from": [{"namespaces": {}}]});
    let all_pods = json!({"namespaces": {}});
    check(vec![
        (
            "26 ingress rules",
            policy(json!({"ingress": vec![deny_all.clone(); 26]})),
            vec!["spec.ingress"],
            "has 26 rules: at most 25",
        ),
        (
            "26 egress rules",
            policy(json!({"egress": vec![json!({"action": "Deny", "to": [all_pods]}); 26]})),
            vec!["spec.egress"],
            "has 26 rules: at most 25",
        ),
        (
            "long rule name",
            ingress(json!({"name": "é".repeat(101), "action": "Deny", "from": [all_pods]})),
            vec!["spec.ingress[0].name"],
            "has 101 characters",
        ),
        (
            "no sources",
            ingress(json!({"action": "Deny", "from": []})),
            vec!["spec.ingress[0].from"],
            "is empty",
        ),
        (
            "no destinations",
            egress(json!({"action": "Deny"})),
            vec!["spec.egress[0].to"],
            "is empty",
        ),
        (
            "26 sources",
            ingress(json!({"action": "Deny", "from": vec![all_pods.clone(); 26]})),
            vec!["spec.ingress[0].from"],
            "has 26 peers",
        ),
        (
            "an empty source",
            ingress(json!({"action": "Deny", "from": [{}]})),
            vec!["spec.ingress[0].from[0]"],
            "sets nothing: give one of namespaces or pods",
        ),
        (
            "a source with two fields",
            ingress(json!({"action": "Deny", "from": [
                {"namespaces": {}, "pods": {"namespaceSelector": {}, "podSelector": {}}}]})),
            vec!["spec.ingress[0].from[0]"],
            "sets namespaces and pods: give exactly one",
        ),
        (
            "a source's selector",
            ingress(json!({"action": "Deny", "from": [
                {"pods": {"namespaceSelector": {}, "podSelector": {"matchLabels": {"-a": "b"}}}}]})),
            vec!["spec.ingress[0].from[0].pods.podSelector.matchLabels.-a"],
            "",
        ),
        (
            "an empty destination",
            egress_peer(json!({})),
            vec!["spec.egress[0].to[0]"],
            "give one of namespaces, pods or networks",
        ),
        (
            "a destination with two fields",
            egress_peer(json!({"networks": ["10.0.0.0/8"], "namespaces": {}})),
            vec!["spec.egress[0].to[0]"],
            "sets namespaces and networks",
        ),
    ]);
}

#[test]
fn networks_and_experimental_peer_problems() {
    let too_many: Vec<String> = (0..26).map(|i| format!("10.{i}.0.0/16")).collect();
    check(vec![
        (
            "no networks",
            egress_peer(json!({"networks": []})),
            vec!["spec.egress[0].to[0].networks"],
            "is empty",
        ),
        (
            "26 networks",
            egress_peer(json!({"networks": too_many})),
            vec!["spec.egress[0].to[0].networks"],
            "has 26 CIDRs",
        ),
        (
            "not CIDRs",
            egress_peer(
                json!({"networks": ["10.0.0.0/8", "10.0.0.0", "10.0.0.0/33", "fd00::/129"]}),
            ),
            vec![
                "spec.egress[0].to[0].networks[1]",
                "spec.egress[0].to[0].networks[2]",
                "spec.egress[0].to[0].networks[3]",
            ],
            "is not a CIDR",
        ),
        (
            "too long",
            egress_peer(json!({"networks": [format!("{}/64", "0:".repeat(20) + "0")]})),
            vec!["spec.egress[0].to[0].networks[0]"],
            "longer than 43",
        ),
        (
            "a CIDR twice",
            egress_peer(json!({"networks": ["10.0.0.0/8", "fd00::/8", "10.0.0.0/8"]})),
            vec!["spec.egress[0].to[0].networks[2]"],
            "is [0] already",
        ),
        (
            "nodes",
            egress_peer(json!({"nodes": {}})),
            vec!["spec.egress[0].to[0].nodes"],
            "podwire does not support the experimental nodes peer (use networks",
        ),
        (
            "domainNames",
            egress_peer(json!({"domainNames": ["kubernetes.io"]})),
            vec!["spec.egress[0].to[0].domainNames"],
            "podwire does not support the experimental domainNames peer (use networks",
        ),
        (
            "a named port towards networks",
            egress(json!({"action": "Deny",
                          "to": [{"namespaces": {}}, {"networks": ["10.0.0.0/8"]}],
                          "protocols": [{"tcp": {"destinationPort": {"number": 80}}},
                                        {"destinationNamedPort": "web"}]})),
            vec!["spec.egress[0].protocols[1].destinationNamedPort"],
            "networks peer (spec.egress[0].to[1])",
        ),
    ]);
}

#[test]
fn protocol_and_port_problems() {
    check(vec![
        (
            "no protocols",
            protocols(json!([])),
            vec!["spec.ingress[0].protocols"],
            "remove protocols to match all traffic",
        ),
        (
            "26 protocols",
            protocols(json!(vec![json!({"destinationNamedPort": "web"}); 26])),
            vec!["spec.ingress[0].protocols"],
            "has 26 protocols",
        ),
        (
            "an empty protocol",
            protocols(json!([{}])),
            vec!["spec.ingress[0].protocols[0]"],
            "give one of tcp, udp, sctp or destinationNamedPort",
        ),
        (
            "two protocols in one entry",
            protocols(json!([{"tcp": {"destinationPort": {"number": 80}},
                              "udp": {"destinationPort": {"number": 80}}}])),
            vec!["spec.ingress[0].protocols[0]"],
            "sets tcp and udp",
        ),
        (
            "no destination port",
            protocols(json!([{"sctp": {}}])),
            vec!["spec.ingress[0].protocols[0].sctp.destinationPort"],
            "is required",
        ),
        (
            "an empty destination port",
            tcp_port(json!({})),
            vec!["spec.ingress[0].protocols[0].tcp.destinationPort"],
            "give a number or a range",
        ),
        (
            "number and range",
            tcp_port(json!({"number": 80, "range": {"start": 80, "end": 81}})),
            vec!["spec.ingress[0].protocols[0].tcp.destinationPort"],
            "sets both number and range",
        ),
        (
            "port 0",
            tcp_port(json!({"number": 0})),
            vec!["spec.ingress[0].protocols[0].tcp.destinationPort.number"],
            "use 1-65535",
        ),
        (
            "port 65536",
            tcp_port(json!({"number": 65536})),
            vec!["spec.ingress[0].protocols[0].tcp.destinationPort.number"],
            "use 1-65535",
        ),
        (
            "range out of bounds",
            tcp_port(json!({"range": {"start": 0, "end": 65536}})),
            vec![
                "spec.ingress[0].protocols[0].tcp.destinationPort.range.start",
                "spec.ingress[0].protocols[0].tcp.destinationPort.range.end",
            ],
            "use 1-65535",
        ),
        (
            "range of one port",
            tcp_port(json!({"range": {"start": 80, "end": 80}})),
            vec!["spec.ingress[0].protocols[0].tcp.destinationPort.range.end"],
            "is not greater than start 80",
        ),
        (
            "range backwards",
            tcp_port(json!({"range": {"start": 90, "end": 80}})),
            vec!["spec.ingress[0].protocols[0].tcp.destinationPort.range.end"],
            "is not greater than start 90",
        ),
        (
            "bad named port",
            protocols(json!([{"destinationNamedPort": "http--alt"}])),
            vec!["spec.ingress[0].protocols[0].destinationNamedPort"],
            "is not a port name",
        ),
        (
            "egress protocols",
            egress(json!({"action": "Deny", "to": [{"namespaces": {}}],
                          "protocols": [{"udp": {"destinationPort": {"number": 0}}}]})),
            vec!["spec.egress[0].protocols[0].udp.destinationPort.number"],
            "use 1-65535",
        ),
    ]);
}
