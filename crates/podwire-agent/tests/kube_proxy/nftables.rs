//! The packet-flow tests of kube-proxy's nftables proxier, as data: kubernetes/kubernetes
//! `pkg/proxy/nftables/proxier_test.go` (read at 030880a5), one function per upstream test
//! function, the cases in upstream's order and words.

use serde_json::{Value, json};

use crate::flows::{Flow, Protocol, flow};
use crate::objects::{
    TEST_EXTERNAL_CLIENT, TEST_EXTERNAL_CLIENT_BLOCKED, TEST_NODE_IP, TEST_NODE_IP_ALT,
    TEST_NODE_IPV6, TEST_NODE_IPV6_ALT, TEST_NODE_NAME, endpoint, endpoint_slice, port,
    ready_endpoint, service,
};
use crate::suite::{Suite, suite};
use crate::terminating::TerminatingFlavor;

/// Why podwire skips the `--nodeport-addresses` variants.
const NO_NODEPORT_ADDRESSES: &str = "podwire has no --nodeport-addresses: NodePorts answer on \
                                     [services] node_addresses, which lists the node's \
                                     addresses one by one";

/// `TestNoEndpointsReject`: a Service with no endpoints rejects connections to its
/// ClusterIP, external IP, NodePort and LoadBalancer IP.
pub fn no_endpoints_reject() -> Vec<Suite> {
    let svc = service(
        "ns1",
        "svc1",
        json!({
            "type": "LoadBalancer",
            "clusterIP": "172.30.0.41",
            "externalIPs": ["192.168.99.11"],
            "ports": [{ "name": "p80", "protocol": "TCP", "port": 80, "nodePort": 3001 }],
        }),
        &["1.2.3.4"],
    );
    const FLOWS: &[Flow] = &[
        flow(
            "pod to cluster IP with no endpoints",
            "10.0.0.2",
            "172.30.0.41",
            80,
            "REJECT",
            false,
        ),
        flow(
            "external to external IP with no endpoints",
            TEST_EXTERNAL_CLIENT,
            "192.168.99.11",
            80,
            "REJECT",
            false,
        ),
        flow(
            "pod to NodePort with no endpoints",
            "10.0.0.2",
            TEST_NODE_IP,
            3001,
            "REJECT",
            false,
        ),
        flow(
            "external to NodePort with no endpoints",
            TEST_EXTERNAL_CLIENT,
            TEST_NODE_IP,
            3001,
            "REJECT",
            false,
        ),
        flow(
            "pod to LoadBalancer IP with no endpoints",
            "10.0.0.2",
            "1.2.3.4",
            80,
            "REJECT",
            false,
        ),
        flow(
            "external to LoadBalancer IP with no endpoints",
            TEST_EXTERNAL_CLIENT,
            "1.2.3.4",
            80,
            "REJECT",
            false,
        ),
    ];
    vec![suite("nftables TestNoEndpointsReject", TEST_NODE_NAME).then(vec![svc], FLOWS)]
}

/// `TestClusterIPGeneral`: ClusterIPs, several endpoints, target ports, one port number over
/// three protocols, hairpin, a port or protocol the Service does not have, an address no
/// Service has.
pub fn cluster_ip_general() -> Vec<Suite> {
    let svc1 = service(
        "ns1",
        "svc1",
        json!({
            "clusterIP": "172.30.0.41",
            "ports": [{ "name": "http", "port": 80, "protocol": "TCP" }],
        }),
        &[],
    );
    let svc2 = service(
        "ns2",
        "svc2",
        json!({
            "clusterIP": "172.30.0.42",
            "ports": [
                { "name": "http", "port": 80, "protocol": "TCP" },
                { "name": "https", "port": 443, "protocol": "TCP", "targetPort": 8443 },
                { "name": "dns-udp", "port": 53, "protocol": "UDP" },
                // Upstream: a targetPort on TCP but not UDP/SCTP, to tell them apart.
                { "name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 5353 },
                { "name": "dns-sctp", "port": 53, "protocol": "SCTP" },
            ],
        }),
        &[],
    );
    let slice1 = endpoint_slice(
        "ns1",
        "svc1",
        1,
        "IPv4",
        json!([endpoint("10.180.0.1", Some(TEST_NODE_NAME))]),
        json!([port("http", 80, "TCP")]),
    );
    let slice2 = endpoint_slice(
        "ns2",
        "svc2",
        1,
        "IPv4",
        json!([
            endpoint("10.180.0.1", Some(TEST_NODE_NAME)),
            endpoint("10.180.2.1", Some("node2")),
        ]),
        json!([
            port("http", 80, "TCP"),
            port("https", 8443, "TCP"),
            port("dns-udp", 53, "UDP"),
            port("dns-tcp", 5353, "TCP"),
            port("dns-sctp", 53, "SCTP"),
        ]),
    );
    const FLOWS: &[Flow] = &[
        flow(
            "simple clusterIP",
            "10.180.0.2",
            "172.30.0.41",
            80,
            "10.180.0.1:80",
            false,
        ),
        flow(
            "hairpin to cluster IP",
            "10.180.0.1",
            "172.30.0.41",
            80,
            "10.180.0.1:80",
            true,
        ),
        flow(
            "clusterIP with multiple endpoints",
            "10.180.0.2",
            "172.30.0.42",
            80,
            "10.180.0.1:80, 10.180.2.1:80",
            false,
        ),
        flow(
            "clusterIP with TargetPort",
            "10.180.0.2",
            "172.30.0.42",
            443,
            "10.180.0.1:8443, 10.180.2.1:8443",
            false,
        ),
        flow(
            "clusterIP with TCP, UDP, and SCTP on same port (TCP)",
            "10.180.0.2",
            "172.30.0.42",
            53,
            "10.180.0.1:5353, 10.180.2.1:5353",
            false,
        ),
        // Upstream calls the UDP case "(TCP)" as well.
        flow(
            "clusterIP with TCP, UDP, and SCTP on same port (TCP)",
            "10.180.0.2",
            "172.30.0.42",
            53,
            "10.180.0.1:53, 10.180.2.1:53",
            false,
        )
        .over(Protocol::Udp),
        flow(
            "clusterIP with TCP, UDP, and SCTP on same port (SCTP)",
            "10.180.0.2",
            "172.30.0.42",
            53,
            "10.180.0.1:53, 10.180.2.1:53",
            false,
        )
        .over(Protocol::Sctp),
        flow(
            "TCP-only port does not match UDP traffic",
            "10.180.0.2",
            "172.30.0.42",
            80,
            "REJECT",
            false,
        )
        .over(Protocol::Udp),
        flow(
            "svc1 does not accept svc2's ports",
            "10.180.0.2",
            "172.30.0.41",
            443,
            "REJECT",
            false,
        ),
        flow(
            "packet to unallocated cluster ip",
            "10.180.0.2",
            "172.30.0.50",
            80,
            "DROP",
            false,
        ),
    ];
    vec![
        suite("nftables TestClusterIPGeneral", TEST_NODE_NAME)
            .then(vec![svc1, svc2, slice1, slice2], FLOWS),
    ]
}

/// `TestLoadBalancer`: two LoadBalancer IPs behind `loadBalancerSourceRanges` (one with
/// stray whitespace, which must be ignored), and a NodePort that bypasses them.
pub fn load_balancer() -> Vec<Suite> {
    let svc = service(
        "ns1",
        "svc1",
        json!({
            "type": "LoadBalancer",
            "clusterIP": "172.30.0.41",
            "ports": [{ "name": "p80", "port": 80, "protocol": "TCP", "nodePort": 3001 }],
            "loadBalancerSourceRanges": ["192.168.0.0/24", " 203.0.113.0/25"],
        }),
        &["1.2.3.4", "5.6.7.8"],
    );
    let slice = endpoint_slice(
        "ns1",
        "svc1",
        1,
        "IPv4",
        json!([endpoint("10.180.0.1", None)]),
        json!([port("p80", 80, "TCP")]),
    );
    const EP: &str = "10.180.0.1:80";
    const FLOWS: &[Flow] = &[
        flow(
            "pod to cluster IP",
            "10.0.0.2",
            "172.30.0.41",
            80,
            EP,
            false,
        ),
        flow(
            "external to nodePort",
            TEST_EXTERNAL_CLIENT,
            TEST_NODE_IP,
            3001,
            EP,
            true,
        ),
        flow(
            "nodePort bypasses LoadBalancerSourceRanges",
            TEST_EXTERNAL_CLIENT_BLOCKED,
            TEST_NODE_IP,
            3001,
            EP,
            true,
        ),
        flow(
            "accepted external to LB1",
            TEST_EXTERNAL_CLIENT,
            "1.2.3.4",
            80,
            EP,
            true,
        ),
        flow(
            "accepted external to LB2",
            TEST_EXTERNAL_CLIENT,
            "5.6.7.8",
            80,
            EP,
            true,
        ),
        flow(
            "blocked external to LB1",
            TEST_EXTERNAL_CLIENT_BLOCKED,
            "1.2.3.4",
            80,
            "DROP",
            false,
        ),
        flow(
            "blocked external to LB2",
            TEST_EXTERNAL_CLIENT_BLOCKED,
            "5.6.7.8",
            80,
            "DROP",
            false,
        ),
        flow(
            "pod to LB1 (blocked by LoadBalancerSourceRanges)",
            "10.0.0.2",
            "1.2.3.4",
            80,
            "DROP",
            false,
        ),
        flow(
            "pod to LB2 (blocked by LoadBalancerSourceRanges)",
            "10.0.0.2",
            "5.6.7.8",
            80,
            "DROP",
            false,
        ),
        flow(
            "node to LB1 (allowed by LoadBalancerSourceRanges)",
            TEST_NODE_IP,
            "1.2.3.4",
            80,
            EP,
            true,
        ),
        flow(
            "node to LB2 (allowed by LoadBalancerSourceRanges)",
            TEST_NODE_IP,
            "5.6.7.8",
            80,
            EP,
            true,
        ),
        // Upstream: a connection from the node to an LB IP is taken to be SNATed to the LB IP
        // by something outside kube-proxy, so when the source ranges allow the node's IP,
        // the LB IP is allowed as a source as well.
        flow(
            "same node to LB1, SNATted to LB1 (implicitly allowed)",
            "1.2.3.4",
            "1.2.3.4",
            80,
            EP,
            true,
        ),
        flow(
            "same node to LB2, SNATted to LB2 (implicitly allowed)",
            "5.6.7.8",
            "5.6.7.8",
            80,
            EP,
            true,
        ),
    ];
    vec![suite("nftables TestLoadBalancer", TEST_NODE_NAME).then(vec![svc, slice], FLOWS)]
}

/// The addresses of one family in `TestNodePorts`.
struct NodePortFamily {
    name: &'static str,
    address_type: &'static str,
    svc_ip: &'static str,
    ep1: &'static str,
    ep2: &'static str,
    node_ip: &'static str,
    pod_ip: &'static str,
    external_client: &'static str,
    alt_node_ip: &'static str,
    /// Both endpoints, port 80, as upstream joins them.
    output: &'static str,
}

const NODE_PORTS_V4: NodePortFamily = NodePortFamily {
    name: "ipv4",
    address_type: "IPv4",
    svc_ip: "172.30.0.41",
    ep1: "10.180.0.1",
    ep2: "10.180.2.1",
    node_ip: TEST_NODE_IP,
    pod_ip: "10.0.0.2",
    external_client: TEST_EXTERNAL_CLIENT,
    alt_node_ip: TEST_NODE_IP_ALT,
    output: "10.180.0.1:80, 10.180.2.1:80",
};

const NODE_PORTS_V6: NodePortFamily = NodePortFamily {
    name: "ipv6",
    address_type: "IPv6",
    svc_ip: "fd00:172:30::41",
    ep1: "fd00:10:180::1",
    ep2: "fd00:10:180::2:1",
    node_ip: TEST_NODE_IPV6,
    pod_ip: "fd00:10::2",
    external_client: "2600:5200::1",
    alt_node_ip: TEST_NODE_IPV6_ALT,
    output: "[fd00:10:180::1]:80, [fd00:10:180::2:1]:80",
};

/// `TestNodePorts`: NodePorts over IPv4 and IPv6, on the node's IP and not on its other
/// addresses (the variants with `--nodeport-addresses` are kept, skipped).
pub fn node_ports() -> Vec<Suite> {
    [
        (&NODE_PORTS_V4, None),
        (&NODE_PORTS_V4, Some("ipv4, multiple nodeport-addresses")),
        (&NODE_PORTS_V6, None),
        (&NODE_PORTS_V6, Some("ipv6, multiple nodeport-addresses")),
    ]
    .into_iter()
    .map(|(family, nodeport_addresses)| node_ports_for(family, nodeport_addresses))
    .collect()
}

/// One subtest of `TestNodePorts`; `nodeport_addresses` names the variant that accepts
/// NodePorts on the node's other address too.
fn node_ports_for(f: &NodePortFamily, nodeport_addresses: Option<&'static str>) -> Suite {
    let svc = service(
        "ns1",
        "svc1",
        json!({
            "type": "NodePort",
            "clusterIP": f.svc_ip,
            "ports": [{ "name": "p80", "port": 80, "protocol": "TCP", "nodePort": 3001 }],
        }),
        &[],
    );
    let slice = endpoint_slice(
        "ns1",
        "svc1",
        1,
        f.address_type,
        json!([endpoint(f.ep1, None), endpoint(f.ep2, Some(TEST_NODE_NAME))]),
        json!([port("p80", 80, "TCP")]),
    );
    let mut flows = vec![
        flow("pod to cluster IP", f.pod_ip, f.svc_ip, 80, f.output, false),
        flow(
            "external to nodePort",
            f.external_client,
            f.node_ip,
            3001,
            f.output,
            true,
        ),
        flow(
            "node to nodePort",
            f.node_ip,
            f.node_ip,
            3001,
            f.output,
            true,
        ),
    ];
    let s = suite("nftables TestNodePorts", TEST_NODE_NAME);
    match nodeport_addresses {
        None => {
            flows.push(flow(
                "secondary nodeIP ignores NodePorts",
                f.external_client,
                f.alt_node_ip,
                3001,
                "",
                false,
            ));
            s.subtest(f.name).then(vec![svc, slice], &flows)
        }
        Some(variant) => {
            flows.push(flow(
                "external to nodePort on secondary IP",
                f.external_client,
                f.alt_node_ip,
                3001,
                f.output,
                true,
            ));
            s.subtest(variant)
                .then(vec![svc, slice], &flows)
                .skipped(NO_NODEPORT_ADDRESSES)
        }
    }
}

/// The Service of `TestExternalTrafficPolicyLocal` and `...Cluster` with `policy`, and its
/// endpoints: one remote, one on this node.
fn external_policy_objects(policy: &str) -> Vec<Value> {
    let mut spec = json!({
        "type": "LoadBalancer",
        "externalTrafficPolicy": policy,
        "clusterIP": "172.30.0.41",
        "externalIPs": ["192.168.99.11"],
        "ports": [{
            "name": "p80", "port": 80, "protocol": "TCP", "nodePort": 3001, "targetPort": 80,
        }],
    });
    if policy == "Local" {
        spec["healthCheckNodePort"] = json!(30000);
    }
    vec![
        service("ns1", "svc1", spec, &["1.2.3.4"]),
        endpoint_slice(
            "ns1",
            "svc1",
            1,
            "IPv4",
            json!([
                endpoint("10.180.0.1", None),
                endpoint("10.180.2.1", Some(TEST_NODE_NAME))
            ]),
            json!([port("p80", 80, "TCP")]),
        ),
    ]
}

const BOTH: &str = "10.180.0.1:80, 10.180.2.1:80";
const LOCAL: &str = "10.180.2.1:80";

/// `TestExternalTrafficPolicyLocal`: external traffic is not masqueraded and reaches only
/// the local endpoint; pods reach every endpoint through the external addresses.
pub fn external_traffic_policy_local() -> Vec<Suite> {
    const FLOWS: &[Flow] = &[
        flow(
            "pod to cluster IP hits both endpoints, unmasqueraded",
            "10.0.0.2",
            "172.30.0.41",
            80,
            BOTH,
            false,
        ),
        flow(
            "pod to external IP hits both endpoints, unmasqueraded",
            "10.0.0.2",
            "192.168.99.11",
            80,
            BOTH,
            false,
        ),
        flow(
            "external to external IP hits only local endpoint, unmasqueraded",
            TEST_EXTERNAL_CLIENT,
            "192.168.99.11",
            80,
            LOCAL,
            false,
        ),
        flow(
            "pod to LB IP hits only both endpoints, unmasqueraded",
            "10.0.0.2",
            "1.2.3.4",
            80,
            BOTH,
            false,
        ),
        flow(
            "external to LB IP hits only local endpoint, unmasqueraded",
            TEST_EXTERNAL_CLIENT,
            "1.2.3.4",
            80,
            LOCAL,
            false,
        ),
        flow(
            "pod to NodePort hits both endpoints, unmasqueraded",
            "10.0.0.2",
            TEST_NODE_IP,
            3001,
            BOTH,
            false,
        ),
        flow(
            "external to NodePort hits only local endpoint, unmasqueraded",
            TEST_EXTERNAL_CLIENT,
            TEST_NODE_IP,
            3001,
            LOCAL,
            false,
        ),
    ];
    vec![
        suite("nftables TestExternalTrafficPolicyLocal", TEST_NODE_NAME)
            .then(external_policy_objects("Local"), FLOWS),
    ]
}

/// `TestExternalTrafficPolicyCluster`: traffic to an external address is masqueraded.
pub fn external_traffic_policy_cluster() -> Vec<Suite> {
    const FLOWS: &[Flow] = &[
        flow(
            "pod to cluster IP hits both endpoints, unmasqueraded",
            "10.0.0.2",
            "172.30.0.41",
            80,
            BOTH,
            false,
        ),
        flow(
            "pod to external IP hits both endpoints, masqueraded",
            "10.0.0.2",
            "192.168.99.11",
            80,
            BOTH,
            true,
        ),
        flow(
            "external to external IP hits both endpoints, masqueraded",
            TEST_EXTERNAL_CLIENT,
            "192.168.99.11",
            80,
            BOTH,
            true,
        ),
        flow(
            "pod to LB IP hits both endpoints, masqueraded",
            "10.0.0.2",
            "1.2.3.4",
            80,
            BOTH,
            true,
        ),
        flow(
            "external to LB IP hits both endpoints, masqueraded",
            TEST_EXTERNAL_CLIENT,
            "1.2.3.4",
            80,
            BOTH,
            true,
        ),
        flow(
            "pod to NodePort hits both endpoints, masqueraded",
            "10.0.0.2",
            TEST_NODE_IP,
            3001,
            BOTH,
            true,
        ),
        flow(
            "external to NodePort hits both endpoints, masqueraded",
            TEST_EXTERNAL_CLIENT,
            TEST_NODE_IP,
            3001,
            BOTH,
            true,
        ),
    ];
    vec![
        suite("nftables TestExternalTrafficPolicyCluster", TEST_NODE_NAME)
            .then(external_policy_objects("Cluster"), FLOWS),
    ]
}

/// `TestInternalTrafficPolicy`: ClusterIP traffic under `internalTrafficPolicy`, then with
/// the endpoints deleted.
pub fn internal_traffic_policy() -> Vec<Suite> {
    const HITS_ALL: &[Flow] = &[flow(
        "pod to ClusterIP hits all endpoints",
        "10.0.0.2",
        "172.30.1.1",
        80,
        "10.0.1.1:80, 10.0.1.2:80, 10.0.1.3:80",
        false,
    )];
    const HITS_LOCAL: &[Flow] = &[flow(
        "pod to ClusterIP hits only local endpoint",
        "10.0.0.2",
        "172.30.1.1",
        80,
        "10.0.1.1:80",
        false,
    )];
    const HITS_ALL_LOCAL: &[Flow] = &[flow(
        "pod to ClusterIP hits all local endpoints",
        "10.0.0.2",
        "172.30.1.1",
        80,
        "10.0.1.1:80, 10.0.1.2:80",
        false,
    )];
    const NO_ENDPOINTS: &[Flow] = &[flow(
        "no endpoints",
        "10.0.0.2",
        "172.30.1.1",
        80,
        "DROP",
        false,
    )];
    [
        (
            "internalTrafficPolicy is cluster",
            "Cluster",
            [
                (TEST_NODE_NAME, "10.0.1.1"),
                ("node1", "10.0.1.2"),
                ("node2", "10.0.1.3"),
            ],
            HITS_ALL,
        ),
        (
            "internalTrafficPolicy is local and there is one local endpoint",
            "Local",
            [
                (TEST_NODE_NAME, "10.0.1.1"),
                ("node1", "10.0.1.2"),
                ("node2", "10.0.1.3"),
            ],
            HITS_LOCAL,
        ),
        (
            "internalTrafficPolicy is local and there are multiple local endpoints",
            "Local",
            [
                (TEST_NODE_NAME, "10.0.1.1"),
                (TEST_NODE_NAME, "10.0.1.2"),
                ("node2", "10.0.1.3"),
            ],
            HITS_ALL_LOCAL,
        ),
        (
            "internalTrafficPolicy is local and there are no local endpoints",
            "Local",
            [
                ("node0", "10.0.1.1"),
                ("node1", "10.0.1.2"),
                ("node2", "10.0.1.3"),
            ],
            NO_ENDPOINTS,
        ),
    ]
    .into_iter()
    .map(|(name, policy, endpoints, flows)| {
        let svc = service(
            "ns1",
            "svc1",
            json!({
                "clusterIP": "172.30.1.1",
                "selector": { "foo": "bar" },
                "ports": [{ "name": "", "port": 80, "protocol": "TCP" }],
                "internalTrafficPolicy": policy,
            }),
            &[],
        );
        let endpoints: Vec<Value> = endpoints
            .iter()
            .map(|(node, ip)| ready_endpoint(ip, node))
            .collect();
        let slice = endpoint_slice(
            "ns1",
            "svc1",
            1,
            "IPv4",
            json!(endpoints),
            json!([port("", 80, "TCP")]),
        );
        suite("nftables TestInternalTrafficPolicy", TEST_NODE_NAME)
            .subtest(name)
            .then(vec![svc.clone(), slice], flows)
            .then(
                vec![svc],
                &[flow(
                    "endpoints deleted",
                    "10.0.0.2",
                    "172.30.1.1",
                    80,
                    "REJECT",
                    false,
                )],
            )
    })
    .collect()
}

/// The nftables versions of the terminating-endpoint tests (see [`crate::terminating`]).
pub const TERMINATING: TerminatingFlavor = TerminatingFlavor {
    local_test: "nftables TestTerminatingEndpointsTrafficPolicyLocal",
    cluster_test: "nftables TestTerminatingEndpointsTrafficPolicyCluster",
    node: TEST_NODE_NAME,
    remote: "node-1",
    another: "another-node",
    client_ip_affinity: false,
};
