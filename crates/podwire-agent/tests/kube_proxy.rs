//! kube-proxy's packet-flow truth tables, run against podwire's data plane in memory.
//!
//! kube-proxy's own unit tests (`pkg/proxy/nftables/proxier_test.go`, and the iptables ones)
//! build Services and EndpointSlices, generate rules, and run `runPacketFlowTests` cases:
//! from this source, to this destination and port, the packet goes to one of these
//! endpoints (masqueraded or not), or is rejected, or dropped. They are the de-facto
//! specification of a kube-proxy replacement. Here they are ported as data (same fixtures,
//! same case names, each citing its upstream test function) and run through podwire's real
//! path: the objects are translated by `podwire_k8s::services::translate`, rendered into the
//! service table by the agent's `ServiceRenderer`, published in the data plane's tables,
//! and one packet per case (several, for cases that may reach several endpoints) is sent
//! through an `Engine`; what leaves the switch is compared with upstream's answer.
//!
//! Cases that test what podwire deliberately does otherwise (`--nodeport-addresses`,
//! `--masquerade-all`, localhost NodePorts, no local-traffic detector, firewall verdicts) are
//! kept in the data, skipped with the reason; each test prints them (`--nocapture`).

// A test crate's root looks for its modules beside it: these live in kube_proxy/.
#[path = "kube_proxy/flows.rs"]
mod flows;
#[path = "kube_proxy/iptables.rs"]
mod iptables;
#[path = "kube_proxy/masquerade.rs"]
mod masquerade;
#[path = "kube_proxy/network.rs"]
mod network;
#[path = "kube_proxy/nftables.rs"]
mod nftables;
#[path = "kube_proxy/objects.rs"]
mod objects;
// The frames of first packets, shared with the NetworkPolicy truth tables (netpol.rs), which
// also use its answers and its reader.
#[allow(dead_code)]
#[path = "common/packets.rs"]
mod packets;
#[path = "kube_proxy/run.rs"]
mod run;
#[path = "kube_proxy/suite.rs"]
mod suite;
#[path = "kube_proxy/terminating.rs"]
mod terminating;

use run::check;

#[test]
fn no_endpoints_reject() {
    check(&nftables::no_endpoints_reject());
}

#[test]
fn cluster_ip_general() {
    check(&nftables::cluster_ip_general());
}

#[test]
fn load_balancer_source_ranges() {
    check(&nftables::load_balancer());
}

#[test]
fn node_ports_ipv4_and_ipv6() {
    check(&nftables::node_ports());
}

#[test]
fn external_traffic_policy_local() {
    check(&nftables::external_traffic_policy_local());
}

#[test]
fn external_traffic_policy_cluster() {
    check(&nftables::external_traffic_policy_cluster());
}

#[test]
fn internal_traffic_policy() {
    check(&nftables::internal_traffic_policy());
}

#[test]
fn terminating_endpoints_traffic_policy_local() {
    check(&terminating::terminating_endpoints_local(
        &nftables::TERMINATING,
    ));
}

#[test]
fn terminating_endpoints_traffic_policy_cluster() {
    check(&terminating::terminating_endpoints_cluster(
        &nftables::TERMINATING,
    ));
}

#[test]
fn terminating_endpoints_with_client_ip_affinity() {
    let mut suites = terminating::terminating_endpoints_local(&iptables::TERMINATING);
    suites.extend(terminating::terminating_endpoints_cluster(
        &iptables::TERMINATING,
    ));
    check(&suites);
}

#[test]
fn internal_external_masquerade() {
    check(&masquerade::internal_external_masquerade());
}

#[test]
fn iptables_node_port() {
    check(&iptables::node_port());
}

#[test]
fn iptables_health_check_node_port() {
    check(&iptables::health_check_node_port());
}

#[test]
fn iptables_non_local_external_ips() {
    check(&iptables::non_local_external_ips());
}

#[test]
fn iptables_only_local_node_ports() {
    check(&iptables::only_local_node_ports());
}
