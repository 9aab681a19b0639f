//! The terminating-endpoint tests, which the nftables and iptables proxiers share (the
//! iptables versions add `ClientIP` affinity): `TestTerminatingEndpointsTrafficPolicyLocal`
//! and `TestTerminatingEndpointsTrafficPolicyCluster` in kubernetes/kubernetes
//! `pkg/proxy/{nftables,iptables}/proxier_test.go`. Endpoint conditions decide which
//! endpoints are used (KEP-1669): ready ones, else serving-terminating ones, never
//! non-serving ones.

use serde_json::{Value, json};

use crate::flows::{Flow, flow};
use crate::objects::{TEST_EXTERNAL_CLIENT, endpoint_in, endpoint_slice, port, service};
use crate::suite::{Suite, suite};

/// What the nftables and iptables versions of the terminating-endpoint tests differ in.
pub struct TerminatingFlavor {
    /// The upstream Local test, as reports name it.
    pub local_test: &'static str,
    /// The upstream Cluster test.
    pub cluster_test: &'static str,
    /// This node's name.
    pub node: &'static str,
    /// The remote node of the Local test and of "terminating endpoints on remote node".
    pub remote: &'static str,
    /// The other remote node of the Cluster test.
    pub another: &'static str,
    /// The iptables versions give the Service a selector and `ClientIP` affinity (10800 s).
    pub client_ip_affinity: bool,
}

/// The LoadBalancer Service of the terminating-endpoint tests, with `policy`.
fn terminating_service(flavor: &TerminatingFlavor, policy: &str) -> Value {
    let mut spec = json!({
        "clusterIP": "172.30.1.1",
        "type": "LoadBalancer",
        "externalTrafficPolicy": policy,
        "ports": [{ "name": "", "targetPort": 80, "port": 80, "protocol": "TCP" }],
        "healthCheckNodePort": 30000,
    });
    if flavor.client_ip_affinity {
        spec["selector"] = json!({ "foo": "bar" });
        spec["sessionAffinity"] = json!("ClientIP");
        spec["sessionAffinityConfig"] = json!({ "clientIP": { "timeoutSeconds": 10800 } });
    }
    service("ns1", "svc1", spec, &["1.2.3.4"])
}

/// The slice of a terminating-endpoint subtest: `(address, node, ready, serving,
/// terminating)`.
fn terminating_slice(endpoints: &[(&str, &str, bool, bool, bool)]) -> Value {
    let endpoints: Vec<Value> = endpoints
        .iter()
        .map(|&(ip, node, ready, serving, terminating)| {
            endpoint_in(ip, node, ready, serving, terminating)
        })
        .collect();
    endpoint_slice(
        "ns1",
        "svc1",
        1,
        "IPv4",
        json!(endpoints),
        json!([port("", 80, "TCP")]),
    )
}

/// The cases every terminating-endpoint subtest ends with, once its slice is deleted.
const AFTER_DELETE: &[Flow] = &[
    flow(
        "pod to clusterIP after endpoints deleted",
        "10.0.0.2",
        "172.30.1.1",
        80,
        "REJECT",
        false,
    ),
    flow(
        "external to LB after endpoints deleted",
        TEST_EXTERNAL_CLIENT,
        "1.2.3.4",
        80,
        "REJECT",
        false,
    ),
];

/// `TestTerminatingEndpointsTrafficPolicyLocal`: with local ready endpoints only they are
/// used for external traffic; without, the local serving-terminating ones; a remote
/// terminating endpoint keeps the Service from rejecting but is not used externally.
pub fn terminating_endpoints_local(flavor: &TerminatingFlavor) -> Vec<Suite> {
    let (node, remote) = (flavor.node, flavor.remote);
    let subtests: [(&'static str, Value, &[Flow]); 4] = [
        (
            "ready endpoints exist",
            terminating_slice(&[
                ("10.0.1.1", node, true, true, false),
                ("10.0.1.2", node, true, true, false),
                // Ignored for external traffic: there are ready, non-terminating ones.
                ("10.0.1.3", node, false, true, true),
                ("10.0.1.4", node, false, false, true),
                // Ignored for external traffic: not local.
                ("10.0.1.5", remote, true, true, false),
            ]),
            &[
                flow(
                    "pod to clusterIP",
                    "10.0.0.2",
                    "172.30.1.1",
                    80,
                    "10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80",
                    false,
                ),
                flow(
                    "external to LB",
                    TEST_EXTERNAL_CLIENT,
                    "1.2.3.4",
                    80,
                    "10.0.1.1:80, 10.0.1.2:80",
                    false,
                ),
            ],
        ),
        (
            "only terminating endpoints exist",
            terminating_slice(&[
                // Used: only serving-terminating endpoints are local.
                ("10.0.1.2", node, false, true, true),
                ("10.0.1.3", node, false, true, true),
                // Not used: terminating and not serving.
                ("10.0.1.4", node, false, false, true),
                // Ignored for external traffic: not local.
                ("10.0.1.5", remote, true, true, false),
            ]),
            &[
                flow(
                    "pod to clusterIP",
                    "10.0.0.2",
                    "172.30.1.1",
                    80,
                    "10.0.1.5:80",
                    false,
                ),
                flow(
                    "external to LB",
                    TEST_EXTERNAL_CLIENT,
                    "1.2.3.4",
                    80,
                    "10.0.1.2:80, 10.0.1.3:80",
                    false,
                ),
            ],
        ),
        (
            "terminating endpoints on remote node",
            // Not local, so not used externally, but it keeps the Service from rejecting.
            terminating_slice(&[("10.0.1.5", remote, false, true, true)]),
            &[
                flow(
                    "pod to clusterIP",
                    "10.0.0.2",
                    "172.30.1.1",
                    80,
                    "10.0.1.5:80",
                    false,
                ),
                flow(
                    "external to LB, no locally-usable endpoints",
                    TEST_EXTERNAL_CLIENT,
                    "1.2.3.4",
                    80,
                    "DROP",
                    false,
                ),
            ],
        ),
        (
            "no usable endpoints on any node",
            terminating_slice(&[
                ("10.0.1.5", node, false, false, true),
                ("10.0.1.5", remote, false, false, true),
            ]),
            &[
                flow(
                    "pod to clusterIP, no usable endpoints",
                    "10.0.0.2",
                    "172.30.1.1",
                    80,
                    "REJECT",
                    false,
                ),
                flow(
                    "external to LB, no usable endpoints",
                    TEST_EXTERNAL_CLIENT,
                    "1.2.3.4",
                    80,
                    "REJECT",
                    false,
                ),
            ],
        ),
    ];
    terminating_suites(flavor, flavor.local_test, "Local", subtests)
}

/// `TestTerminatingEndpointsTrafficPolicyCluster`: ready endpoints anywhere are used;
/// without any, the serving-terminating ones anywhere.
pub fn terminating_endpoints_cluster(flavor: &TerminatingFlavor) -> Vec<Suite> {
    let (node, remote, another) = (flavor.node, flavor.remote, flavor.another);
    let subtests: [(&'static str, Value, &[Flow]); 4] = [
        (
            "ready endpoints exist",
            terminating_slice(&[
                ("10.0.1.1", node, true, true, false),
                ("10.0.1.2", node, true, true, false),
                // Ignored: there are ready, non-terminating endpoints.
                ("10.0.1.3", another, false, true, true),
                // Ignored: not serving.
                ("10.0.1.4", another, false, false, true),
                ("10.0.1.5", another, true, true, false),
            ]),
            &[
                flow(
                    "pod to clusterIP",
                    "10.0.0.2",
                    "172.30.1.1",
                    80,
                    "10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80",
                    false,
                ),
                flow(
                    "external to LB",
                    TEST_EXTERNAL_CLIENT,
                    "1.2.3.4",
                    80,
                    "10.0.1.1:80, 10.0.1.2:80, 10.0.1.5:80",
                    true,
                ),
            ],
        ),
        (
            "only terminating endpoints exist",
            terminating_slice(&[
                ("10.0.1.2", node, false, true, true),
                ("10.0.1.3", node, false, true, true),
                // Not used: terminating and not serving.
                ("10.0.1.4", another, false, false, true),
                ("10.0.1.5", another, false, true, true),
            ]),
            &[
                flow(
                    "pod to clusterIP",
                    "10.0.0.2",
                    "172.30.1.1",
                    80,
                    "10.0.1.2:80, 10.0.1.3:80, 10.0.1.5:80",
                    false,
                ),
                flow(
                    "external to LB",
                    TEST_EXTERNAL_CLIENT,
                    "1.2.3.4",
                    80,
                    "10.0.1.2:80, 10.0.1.3:80, 10.0.1.5:80",
                    true,
                ),
            ],
        ),
        (
            "terminating endpoints on remote node",
            terminating_slice(&[("10.0.1.5", remote, false, true, true)]),
            &[
                flow(
                    "pod to clusterIP",
                    "10.0.0.2",
                    "172.30.1.1",
                    80,
                    "10.0.1.5:80",
                    false,
                ),
                flow(
                    "external to LB",
                    TEST_EXTERNAL_CLIENT,
                    "1.2.3.4",
                    80,
                    "10.0.1.5:80",
                    true,
                ),
            ],
        ),
        (
            "no usable endpoints on any node",
            terminating_slice(&[
                ("10.0.1.5", node, false, false, true),
                ("10.0.1.5", remote, false, false, true),
            ]),
            &[
                flow(
                    "pod to clusterIP",
                    "10.0.0.2",
                    "172.30.1.1",
                    80,
                    "REJECT",
                    false,
                ),
                flow(
                    "external to LB",
                    TEST_EXTERNAL_CLIENT,
                    "1.2.3.4",
                    80,
                    "REJECT",
                    false,
                ),
            ],
        ),
    ];
    terminating_suites(flavor, flavor.cluster_test, "Cluster", subtests)
}

/// The subtests of a terminating-endpoint test: each slice with its cases, then no slice.
fn terminating_suites(
    flavor: &TerminatingFlavor,
    upstream: &'static str,
    policy: &str,
    subtests: [(&'static str, Value, &[Flow]); 4],
) -> Vec<Suite> {
    let svc = terminating_service(flavor, policy);
    subtests
        .into_iter()
        .map(|(name, slice, flows)| {
            suite(upstream, flavor.node)
                .subtest(name)
                .then(vec![svc.clone(), slice], flows)
                .then(vec![svc.clone()], AFTER_DELETE)
        })
        .collect()
}
