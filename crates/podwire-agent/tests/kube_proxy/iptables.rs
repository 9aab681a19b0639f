//! The packet-flow tests of kube-proxy's iptables proxier that the nftables tests do not
//! cover, as data: kubernetes/kubernetes `pkg/proxy/iptables/proxier_test.go` (read as
//! `pkg/proxy/iptables/rules_test.go` of danwinship/kubernetes at 07fb8ceb, where the
//! packet-flow tests were split out). Their node is `testHostname`.

use serde_json::json;

use crate::flows::{Flow, flow};
use crate::objects::{
    TEST_EXTERNAL_CLIENT, TEST_HOSTNAME, TEST_NODE_IP, endpoint, endpoint_slice, port, service,
};
use crate::suite::{Suite, suite};
use crate::terminating::TerminatingFlavor;

/// Why localhost NodePorts are skipped.
const NO_LOCALHOST_NODEPORTS: &str = "localhost NodePorts (iptables' route_localnet): \
                                      127.0.0.1 never leaves the host, and podwire, like the \
                                      nftables proxier, does not serve NodePorts on it";

/// `TestNodePort`: a NodePort from outside, from the node, and from localhost.
pub fn node_port() -> Vec<Suite> {
    let svc = service(
        "ns1",
        "svc1",
        json!({
            "type": "NodePort",
            "clusterIP": "172.30.0.41",
            "ports": [{ "name": "p80", "port": 80, "protocol": "TCP", "nodePort": 3001 }],
        }),
        &[],
    );
    let slice = endpoint_slice(
        "ns1",
        "svc1",
        1,
        "IPv4",
        json!([endpoint("10.180.0.1", None)]),
        json!([port("p80", 80, "TCP")]),
    );
    const FLOWS: &[Flow] = &[
        flow(
            "pod to cluster IP",
            "10.0.0.2",
            "172.30.0.41",
            80,
            "10.180.0.1:80",
            false,
        ),
        flow(
            "external to nodePort",
            TEST_EXTERNAL_CLIENT,
            TEST_NODE_IP,
            3001,
            "10.180.0.1:80",
            true,
        ),
        flow(
            "node to nodePort",
            TEST_NODE_IP,
            TEST_NODE_IP,
            3001,
            "10.180.0.1:80",
            true,
        ),
        flow(
            "localhost to nodePort gets masqueraded",
            "127.0.0.1",
            "127.0.0.1",
            3001,
            "10.180.0.1:80",
            true,
        )
        .skipped(NO_LOCALHOST_NODEPORTS),
    ];
    vec![suite("iptables TestNodePort", TEST_HOSTNAME).then(vec![svc, slice], FLOWS)]
}

/// `TestHealthCheckNodePort`: the firewall accepts the health-check node port, and forgets
/// it with the Service.
pub fn health_check_node_port() -> Vec<Suite> {
    let svc = service(
        "ns1",
        "svc1",
        json!({
            "type": "LoadBalancer",
            "clusterIP": "172.30.0.42",
            "ports": [{ "name": "p80", "port": 80, "protocol": "TCP", "nodePort": 3001 }],
            "healthCheckNodePort": 30000,
            "externalTrafficPolicy": "Local",
        }),
        &[],
    );
    vec![
        suite("iptables TestHealthCheckNodePort", TEST_HOSTNAME)
            .then(
                vec![svc],
                &[flow(
                    "firewall accepts HealthCheckNodePort",
                    "1.2.3.4",
                    TEST_NODE_IP,
                    30000,
                    "ACCEPT",
                    false,
                )],
            )
            .then(
                vec![],
                &[flow(
                    "HealthCheckNodePort no longer has any rule",
                    "1.2.3.4",
                    TEST_NODE_IP,
                    30000,
                    "",
                    false,
                )],
            )
            .skipped(
                "kube-proxy's filter-table ACCEPT for the health-check port (with NodePorts on \
                 127.0.0.0/8 only): podwire serves health checks from the agent on the host, \
                 the data plane has no firewall verdict to check",
            ),
    ]
}

/// `TestNonLocalExternalIPs`: traffic to an external IP under `externalTrafficPolicy:
/// Cluster` (by default) is masqueraded, and may reach every endpoint.
pub fn non_local_external_ips() -> Vec<Suite> {
    let svc = service(
        "ns1",
        "svc1",
        json!({
            "clusterIP": "172.30.0.41",
            "externalIPs": ["192.168.99.11"],
            "ports": [{ "name": "p80", "port": 80, "protocol": "TCP", "targetPort": 80 }],
        }),
        &[],
    );
    let slice = endpoint_slice(
        "ns1",
        "svc1",
        1,
        "IPv4",
        json!([
            endpoint("10.180.0.1", None),
            endpoint("10.180.2.1", Some(TEST_HOSTNAME))
        ]),
        json!([port("p80", 80, "TCP")]),
    );
    const FLOWS: &[Flow] = &[
        flow(
            "pod to cluster IP",
            "10.0.0.2",
            "172.30.0.41",
            80,
            "10.180.0.1:80, 10.180.2.1:80",
            false,
        ),
        flow(
            "external to external IP",
            TEST_EXTERNAL_CLIENT,
            "192.168.99.11",
            80,
            "10.180.0.1:80, 10.180.2.1:80",
            true,
        ),
    ];
    vec![suite("iptables TestNonLocalExternalIPs", TEST_HOSTNAME).then(vec![svc, slice], FLOWS)]
}

/// `TestOnlyLocalNodePorts` (and `...NoClusterCIDR`, kept skipped): a NodePort under
/// `externalTrafficPolicy: Local`, with NodePorts on 192.168.0.0/24.
pub fn only_local_node_ports() -> Vec<Suite> {
    let objects = vec![
        service(
            "ns1",
            "svc1",
            json!({
                "type": "NodePort",
                "clusterIP": "172.30.0.41",
                "ports": [{ "name": "p80", "port": 80, "protocol": "TCP", "nodePort": 3001 }],
                "externalTrafficPolicy": "Local",
            }),
            &[],
        ),
        endpoint_slice(
            "ns1",
            "svc1",
            1,
            "IPv4",
            json!([
                endpoint("10.180.0.1", None),
                endpoint("10.180.2.1", Some(TEST_HOSTNAME))
            ]),
            json!([port("p80", 80, "TCP")]),
        ),
    ];
    const BOTH: &str = "10.180.0.1:80, 10.180.2.1:80";
    const LOCAL: &str = "10.180.2.1:80";
    const COMMON: [Flow; 3] = [
        flow(
            "pod to cluster IP hit both endpoints",
            "10.0.0.2",
            "172.30.0.41",
            80,
            BOTH,
            false,
        ),
        flow(
            "external to NodePort hits only local endpoint",
            TEST_EXTERNAL_CLIENT,
            TEST_NODE_IP,
            3001,
            LOCAL,
            false,
        ),
        flow(
            "pod to localhost doesn't work because localhost is not in nodePortAddresses",
            "10.0.0.2",
            "127.0.0.1",
            3001,
            "",
            false,
        )
        .skipped(NO_LOCALHOST_NODEPORTS),
    ];
    // pod-to-NodePort is internal traffic when pods can be told apart.
    const WITH_DETECTOR: &[Flow] = &[
        COMMON[0],
        COMMON[1],
        COMMON[2],
        flow(
            "pod to NodePort hits both endpoints",
            "10.0.0.2",
            TEST_NODE_IP,
            3001,
            BOTH,
            false,
        ),
    ];
    // Without a local-traffic detector it is (wrongly, upstream says) external.
    const WITHOUT_DETECTOR: &[Flow] = &[
        COMMON[0],
        COMMON[1],
        COMMON[2],
        flow(
            "pod to NodePort hits only local endpoint",
            "10.0.0.2",
            TEST_NODE_IP,
            3001,
            LOCAL,
            false,
        ),
    ];
    vec![
        suite("iptables TestOnlyLocalNodePorts", TEST_HOSTNAME)
            .then(objects.clone(), WITH_DETECTOR),
        suite(
            "iptables TestOnlyLocalNodePortsNoClusterCIDR",
            TEST_HOSTNAME,
        )
        .then(objects, WITHOUT_DETECTOR)
        .skipped(
            "podwire always knows the cluster CIDRs ([services] cluster_cidrs): it has no \
                 mode without a local-traffic detector",
        ),
    ]
}

/// The iptables versions of the terminating-endpoint tests: the nftables cases, with a
/// Service that has a selector and `ClientIP` affinity.
pub const TERMINATING: TerminatingFlavor = TerminatingFlavor {
    local_test: "iptables TestTerminatingEndpointsTrafficPolicyLocal",
    cluster_test: "iptables TestTerminatingEndpointsTrafficPolicyCluster",
    node: TEST_HOSTNAME,
    remote: "host-1",
    another: "another-host",
    client_ip_affinity: true,
};
