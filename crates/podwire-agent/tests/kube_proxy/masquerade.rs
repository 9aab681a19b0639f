//! `TestInternalExternalMasquerade` of kubernetes/kubernetes
//! `pkg/proxy/nftables/proxier_test.go` (read at 030880a5), as data: who is masqueraded and
//! which endpoints are used, for pods, the node and external clients, to a ClusterIP, a
//! NodePort and a LoadBalancer IP, under eTP:Local and iTP:Local.

use serde_json::{Value, json};

use crate::flows::{Flow, flow};
use crate::objects::{
    TEST_EXTERNAL_CLIENT, TEST_NODE_IP, TEST_NODE_NAME, endpoint, endpoint_slice, port, service,
};
use crate::suite::{Suite, suite};

/// The cases of `TestInternalExternalMasquerade`, for the normal proxier (a local-traffic
/// detector, no `--masquerade-all`).
const MASQUERADE_FLOWS: &[Flow] = &[
    flow(
        "pod to ClusterIP",
        "10.0.0.2",
        "172.30.0.41",
        80,
        "10.180.0.1:80, 10.180.1.1:80",
        false,
    ),
    flow(
        "pod to NodePort",
        "10.0.0.2",
        TEST_NODE_IP,
        3001,
        "10.180.0.1:80, 10.180.1.1:80",
        true,
    ),
    flow(
        "pod to LB",
        "10.0.0.2",
        "1.2.3.4",
        80,
        "10.180.0.1:80, 10.180.1.1:80",
        true,
    ),
    flow(
        "node to ClusterIP",
        TEST_NODE_IP,
        "172.30.0.41",
        80,
        "10.180.0.1:80, 10.180.1.1:80",
        true,
    ),
    flow(
        "node to NodePort",
        TEST_NODE_IP,
        TEST_NODE_IP,
        3001,
        "10.180.0.1:80, 10.180.1.1:80",
        true,
    ),
    flow(
        "node to LB",
        TEST_NODE_IP,
        "1.2.3.4",
        80,
        "10.180.0.1:80, 10.180.1.1:80",
        true,
    ),
    flow(
        "external to ClusterIP",
        TEST_EXTERNAL_CLIENT,
        "172.30.0.41",
        80,
        "10.180.0.1:80, 10.180.1.1:80",
        true,
    ),
    flow(
        "external to NodePort",
        TEST_EXTERNAL_CLIENT,
        TEST_NODE_IP,
        3001,
        "10.180.0.1:80, 10.180.1.1:80",
        true,
    ),
    flow(
        "external to LB",
        TEST_EXTERNAL_CLIENT,
        "1.2.3.4",
        80,
        "10.180.0.1:80, 10.180.1.1:80",
        true,
    ),
    // externalTrafficPolicy does not apply to ClusterIP traffic.
    flow(
        "pod to ClusterIP with eTP:Local",
        "10.0.0.2",
        "172.30.0.42",
        80,
        "10.180.0.2:80, 10.180.1.2:80",
        false,
    ),
    // Upstream: short-circuited like the LB case below, for simplicity.
    flow(
        "pod to NodePort with eTP:Local",
        "10.0.0.2",
        TEST_NODE_IP,
        3002,
        "10.180.0.2:80, 10.180.1.2:80",
        false,
    ),
    // Upstream: short-circuited as if it had gone out to the LB and come back: every
    // endpoint, and not masqueraded (which is more useful).
    flow(
        "pod to LB with eTP:Local",
        "10.0.0.2",
        "5.6.7.8",
        80,
        "10.180.0.2:80, 10.180.1.2:80",
        false,
    ),
    flow(
        "node to ClusterIP with eTP:Local",
        TEST_NODE_IP,
        "172.30.0.42",
        80,
        "10.180.0.2:80, 10.180.1.2:80",
        true,
    ),
    // Upstream sends this one to svc1's NodePort (3001), and expects svc1's endpoints.
    flow(
        "node to NodePort with eTP:Local",
        TEST_NODE_IP,
        TEST_NODE_IP,
        3001,
        "10.180.0.1:80, 10.180.1.1:80",
        true,
    ),
    flow(
        "node to LB with eTP:Local",
        TEST_NODE_IP,
        "5.6.7.8",
        80,
        "10.180.0.2:80, 10.180.1.2:80",
        true,
    ),
    flow(
        "external to ClusterIP with eTP:Local",
        TEST_EXTERNAL_CLIENT,
        "172.30.0.42",
        80,
        "10.180.0.2:80, 10.180.1.2:80",
        true,
    ),
    // externalTrafficPolicy applies: the local endpoint only, not masqueraded.
    flow(
        "external to NodePort with eTP:Local",
        TEST_EXTERNAL_CLIENT,
        TEST_NODE_IP,
        3002,
        "10.180.0.2:80",
        false,
    ),
    flow(
        "external to LB with eTP:Local",
        TEST_EXTERNAL_CLIENT,
        "5.6.7.8",
        80,
        "10.180.0.2:80",
        false,
    ),
    // internalTrafficPolicy applies to ClusterIP traffic only, and never to masquerading.
    flow(
        "pod to ClusterIP with iTP:Local",
        "10.0.0.2",
        "172.30.0.43",
        80,
        "10.180.0.3:80",
        false,
    ),
    flow(
        "pod to NodePort with iTP:Local",
        "10.0.0.2",
        TEST_NODE_IP,
        3003,
        "10.180.0.3:80, 10.180.1.3:80",
        true,
    ),
    flow(
        "pod to LB with iTP:Local",
        "10.0.0.2",
        "9.10.11.12",
        80,
        "10.180.0.3:80, 10.180.1.3:80",
        true,
    ),
    flow(
        "node to ClusterIP with iTP:Local",
        TEST_NODE_IP,
        "172.30.0.43",
        80,
        "10.180.0.3:80",
        true,
    ),
    flow(
        "node to NodePort with iTP:Local",
        TEST_NODE_IP,
        TEST_NODE_IP,
        3003,
        "10.180.0.3:80, 10.180.1.3:80",
        true,
    ),
    flow(
        "node to LB with iTP:Local",
        TEST_NODE_IP,
        "9.10.11.12",
        80,
        "10.180.0.3:80, 10.180.1.3:80",
        true,
    ),
    flow(
        "external to ClusterIP with iTP:Local",
        TEST_EXTERNAL_CLIENT,
        "172.30.0.43",
        80,
        "10.180.0.3:80",
        true,
    ),
    flow(
        "external to NodePort with iTP:Local",
        TEST_EXTERNAL_CLIENT,
        TEST_NODE_IP,
        3003,
        "10.180.0.3:80, 10.180.1.3:80",
        true,
    ),
    flow(
        "external to LB with iTP:Local",
        TEST_EXTERNAL_CLIENT,
        "9.10.11.12",
        80,
        "10.180.0.3:80, 10.180.1.3:80",
        true,
    ),
];

/// An override of `TestInternalExternalMasquerade`: a case's new `output` and `masq`.
type Override = (&'static str, Option<&'static str>, Option<bool>);

/// Without a local-traffic detector every ClusterIP client is taken for a pod, and pods get
/// no eTP:Local short-circuit.
const NO_DETECTOR: &[Override] = &[
    ("node to ClusterIP", None, Some(false)),
    ("node to ClusterIP with eTP:Local", None, Some(false)),
    ("node to ClusterIP with iTP:Local", None, Some(false)),
    ("external to ClusterIP", None, Some(false)),
    ("external to ClusterIP with eTP:Local", None, Some(false)),
    ("external to ClusterIP with iTP:Local", None, Some(false)),
    (
        "pod to NodePort with eTP:Local",
        Some("10.180.0.2:80"),
        None,
    ),
    ("pod to LB with eTP:Local", Some("10.180.0.2:80"), None),
];

/// With `--masquerade-all` all ClusterIP traffic is masqueraded.
const MASQUERADE_ALL: &[Override] = &[
    ("pod to ClusterIP", None, Some(true)),
    ("pod to ClusterIP with eTP:Local", None, Some(true)),
    ("pod to ClusterIP with iTP:Local", None, Some(true)),
];

/// `TestInternalExternalMasquerade`: who is masqueraded and which endpoints are used, for
/// pods, the node and external clients, to a ClusterIP, a NodePort and an LB IP, under
/// eTP:Local and iTP:Local. Only the "base" variant is podwire's configuration.
pub fn internal_external_masquerade() -> Vec<Suite> {
    let lb =
        |ns: &str, name: &str, ip: &str, node_port: u16, health: u16, extra: Value, lb: &str| {
            let mut spec = json!({
                "type": "LoadBalancer",
                "clusterIP": ip,
                "ports": [{ "name": "p80", "port": 80, "protocol": "TCP", "nodePort": node_port }],
                "healthCheckNodePort": health,
            });
            if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
                spec.extend(extra.clone());
            }
            service(ns, name, spec, &[lb])
        };
    let slice = |ns: &str, name: &str, local: &str, remote: &str| {
        endpoint_slice(
            ns,
            name,
            1,
            "IPv4",
            json!([
                endpoint(local, Some(TEST_NODE_NAME)),
                endpoint(remote, Some("remote"))
            ]),
            json!([port("p80", 80, "TCP")]),
        )
    };
    let objects = vec![
        lb(
            "ns1",
            "svc1",
            "172.30.0.41",
            3001,
            30001,
            json!({}),
            "1.2.3.4",
        ),
        lb(
            "ns2",
            "svc2",
            "172.30.0.42",
            3002,
            30002,
            json!({ "externalTrafficPolicy": "Local" }),
            "5.6.7.8",
        ),
        lb(
            "ns3",
            "svc3",
            "172.30.0.43",
            3003,
            30003,
            json!({ "internalTrafficPolicy": "Local" }),
            "9.10.11.12",
        ),
        slice("ns1", "svc1", "10.180.0.1", "10.180.1.1"),
        slice("ns2", "svc2", "10.180.0.2", "10.180.1.2"),
        slice("ns3", "svc3", "10.180.0.3", "10.180.1.3"),
    ];
    let with = |overrides: &[&[Override]]| -> Vec<Flow> {
        MASQUERADE_FLOWS
            .iter()
            .map(|f| {
                let mut f = *f;
                for (name, output, masq) in overrides.iter().flat_map(|o| o.iter()) {
                    if *name == f.name {
                        f.output = output.unwrap_or(f.output);
                        f.masq = masq.unwrap_or(f.masq);
                    }
                }
                f
            })
            .collect()
    };
    let s = |name| suite("nftables TestInternalExternalMasquerade", TEST_NODE_NAME).subtest(name);
    const NO_DETECTOR_REASON: &str = "podwire always knows the cluster CIDRs ([services] \
                                      cluster_cidrs): it has no mode without a local-traffic \
                                      detector";
    const MASQUERADE_ALL_REASON: &str = "podwire has no --masquerade-all";
    vec![
        s("base").then(objects.clone(), MASQUERADE_FLOWS),
        s("no LocalTrafficDetector")
            .then(objects.clone(), &with(&[NO_DETECTOR]))
            .skipped(NO_DETECTOR_REASON),
        s("masqueradeAll")
            .then(objects.clone(), &with(&[MASQUERADE_ALL]))
            .skipped(MASQUERADE_ALL_REASON),
        s("masqueradeAll, no LocalTrafficDetector")
            .then(objects, &with(&[MASQUERADE_ALL, NO_DETECTOR]))
            .skipped(
                "podwire has neither --masquerade-all nor a mode without a local-traffic detector",
            ),
    ]
}
