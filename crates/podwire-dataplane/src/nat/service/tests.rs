use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::nat::flow::{TCP, UDP};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn ep(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn at(secs: u64) -> Instant {
    Instant::from_nanos(secs * 1_000_000_000)
}

const HOST_IF: IfIndex = IfIndex(0);
const POD_IF: IfIndex = IfIndex(1);
const UPLINK: IfIndex = IfIndex(2);

const NODE: &str = "192.168.1.10";
const POD: &str = "10.244.1.5";
const OUTSIDE: &str = "203.0.113.7";
const LOCAL_EP: &str = "10.244.1.20:8080";
const REMOTE_EP: &str = "10.244.2.20:8080";

fn node() -> NodeNat {
    NodeNat {
        service_cidrs: vec![(ip("10.96.0.0"), 12), (ip("fd00:96::"), 108)],
        cluster_cidrs: vec![(ip("10.244.0.0"), 16)],
        node_addresses: vec![ip(NODE)],
        masquerade4: Some(Ipv4Addr::new(192, 168, 1, 10)),
        masquerade6: None,
        host_interface: Some(HOST_IF),
    }
}

fn key(address: Option<&str>, protocol: u8, port: u16) -> FrontendKey {
    FrontendKey {
        address: address.map(ip),
        protocol,
        port,
    }
}

fn frontend(
    name: &str,
    scope: Scope,
    local_policy: bool,
    cluster: &[&str],
    local: &[&str],
) -> Frontend {
    Frontend {
        name: name.into(),
        service_port: ServicePortId(name.len() as u64),
        scope,
        local_policy,
        cluster: EndpointSet::new(cluster.iter().map(|e| ep(e)).collect()),
        local: EndpointSet::new(local.iter().map(|e| ep(e)).collect()),
        affinity: None,
        source_ranges: Vec::new(),
    }
}

const BOTH: &[&str] = &[LOCAL_EP, REMOTE_EP];
const LOCAL: &[&str] = &[LOCAL_EP];

/// A node's Services, one per situation the rules tell apart.
fn services() -> ServiceTable {
    use Scope::{External, Internal};
    let mut t = ServiceTable::new(node());
    let mut add = |k: FrontendKey, f: Frontend| t.insert(k, f);
    add(
        key(Some("10.96.0.10"), TCP, 80),
        frontend("web", Internal, false, BOTH, LOCAL),
    );
    add(
        key(Some("10.96.0.11"), TCP, 80),
        frontend("itp-local-none", Internal, true, BOTH, &[]),
    );
    add(
        key(Some("10.96.0.13"), TCP, 80),
        frontend("itp-local", Internal, true, BOTH, LOCAL),
    );
    add(
        key(Some("10.96.0.12"), TCP, 80),
        frontend("no-endpoints", Internal, false, &[], &[]),
    );
    add(
        key(None, TCP, 30080),
        frontend("np-etp-local", External, true, BOTH, LOCAL),
    );
    add(
        key(None, TCP, 30081),
        frontend("np-etp-local-none", External, true, BOTH, &[]),
    );
    add(
        key(None, TCP, 30082),
        frontend("np-etp-cluster", External, false, BOTH, LOCAL),
    );
    let ranges = vec![(ip("203.0.113.0"), 24)];
    let mut lb = frontend("lb", External, false, BOTH, LOCAL);
    lb.source_ranges = ranges.clone();
    add(key(Some("198.51.100.1"), TCP, 443), lb);
    let mut lb_np = frontend("lb-nodeport", External, false, BOTH, LOCAL);
    lb_np.source_ranges = ranges;
    add(key(None, TCP, 30443), lb_np);
    // A range that holds the node's address lets the node send from the VIP itself.
    let mut lb_node = frontend("lb-node-in-range", External, false, BOTH, LOCAL);
    lb_node.source_ranges = vec![(ip("203.0.113.0"), 24), (ip(NODE), 32)];
    add(key(Some("198.51.100.2"), TCP, 443), lb_node);
    // An external IP that is the node's own address.
    add(
        key(Some(NODE), TCP, 8443),
        frontend("external-ip", External, false, BOTH, LOCAL),
    );
    add(
        key(Some("fd00:96::10"), TCP, 80),
        frontend("web6", Internal, false, &["[fd00:244::20]:8080"], &[]),
    );
    t
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Forward {
        frontend: &'static str,
        local_set: bool,
        masquerade: bool,
    },
    Reject(RejectCause),
    Drop(DropCause),
    NotAService,
}

fn fwd(frontend: &'static str, local_set: bool, masquerade: bool) -> Expect {
    Expect::Forward {
        frontend,
        local_set,
        masquerade,
    }
}

/// A row of the rules' table: name, source, receiving interface, destination, protocol,
/// destination port, what should happen.
type Case = (
    &'static str,
    &'static str,
    IfIndex,
    &'static str,
    u8,
    u16,
    Expect,
);

/// Decides for 64 flows from `src` (different source ports) and checks each against
/// `expect`; for a Forward, every endpoint is in the expected set and, for the Cluster set,
/// some are not local (so that the Local set would have been told apart).
fn check(t: &ServiceTable, case: &Case) {
    let &(name, src, rx, dst, protocol, port, expect) = case;
    let mut affinity = AffinityTable::new(16);
    let mut remote_seen = false;
    for src_port in 40_000..40_064 {
        let flow = FlowKey {
            src: ip(src),
            dst: ip(dst),
            protocol,
            src_port,
            dst_port: port,
        };
        let got = t.decide(&flow, rx, &mut affinity, at(0));
        match (expect, got) {
            (
                Expect::Forward {
                    frontend,
                    local_set,
                    masquerade,
                },
                Decision::Forward {
                    frontend: f,
                    endpoint,
                    masquerade: m,
                },
            ) => {
                assert_eq!(&*f.name, frontend, "{name}");
                assert_eq!(m, masquerade, "{name}: masquerade");
                let set = if local_set { &f.local } else { &f.cluster };
                assert!(
                    set.contains(endpoint),
                    "{name}: {endpoint} not in the expected set"
                );
                remote_seen |= !f.local.contains(endpoint);
            }
            (Expect::Reject(c), Decision::Reject(g)) => assert_eq!(c, g, "{name}"),
            (Expect::Drop(c), Decision::Drop(g)) => assert_eq!(c, g, "{name}"),
            (Expect::NotAService, Decision::NotAService) => {}
            (expect, got) => panic!("{name}: expected {expect:?}, got {got:?}"),
        }
    }
    if let Expect::Forward { local_set, .. } = expect {
        assert_eq!(remote_seen, !local_set, "{name}: the set used");
    }
}

#[test]
fn every_rule_decides_as_kube_proxy_does() {
    use DropCause::*;
    use Expect::{NotAService, Reject as Rej};
    use RejectCause::*;
    let t = services();
    let cases: &[Case] = &[
        // Rule 1, 5: ClusterIP; only pods keep their source.
        (
            "pod to ClusterIP",
            POD,
            POD_IF,
            "10.96.0.10",
            TCP,
            80,
            fwd("web", false, false),
        ),
        (
            "host interface to ClusterIP",
            "10.0.0.1",
            HOST_IF,
            "10.96.0.10",
            TCP,
            80,
            fwd("web", false, true),
        ),
        (
            "node address to ClusterIP",
            NODE,
            UPLINK,
            "10.96.0.10",
            TCP,
            80,
            fwd("web", false, true),
        ),
        (
            "outside to ClusterIP",
            OUTSIDE,
            UPLINK,
            "10.96.0.10",
            TCP,
            80,
            fwd("web", false, true),
        ),
        // Rule 2.
        (
            "ClusterIP, wrong port",
            POD,
            POD_IF,
            "10.96.0.10",
            TCP,
            81,
            Rej(NoSuchPort),
        ),
        (
            "ClusterIP, wrong protocol",
            POD,
            POD_IF,
            "10.96.0.10",
            UDP,
            80,
            Rej(NoSuchPort),
        ),
        (
            "ClusterIP, ICMP",
            POD,
            POD_IF,
            "10.96.0.10",
            crate::nat::flow::ICMP,
            0,
            Rej(NoSuchPort),
        ),
        (
            "unallocated in the service CIDR",
            POD,
            POD_IF,
            "10.96.0.99",
            TCP,
            80,
            Expect::Drop(Unallocated),
        ),
        (
            "unallocated IPv6",
            POD,
            POD_IF,
            "fd00:96::99",
            TCP,
            80,
            Expect::Drop(Unallocated),
        ),
        (
            "outside the service CIDRs",
            POD,
            POD_IF,
            "10.112.0.1",
            TCP,
            80,
            NotAService,
        ),
        ("the internet", POD, POD_IF, "8.8.8.8", TCP, 80, NotAService),
        (
            "node address, not a NodePort",
            OUTSIDE,
            UPLINK,
            NODE,
            TCP,
            22,
            NotAService,
        ),
        (
            "external IP (a node address), other port",
            OUTSIDE,
            UPLINK,
            NODE,
            TCP,
            22,
            NotAService,
        ),
        (
            "external IP, its port",
            OUTSIDE,
            UPLINK,
            NODE,
            TCP,
            8443,
            fwd("external-ip", false, true),
        ),
        // Rule 4.
        (
            "no endpoints, from a pod",
            POD,
            POD_IF,
            "10.96.0.12",
            TCP,
            80,
            Rej(NoEndpoints),
        ),
        (
            "no endpoints, from outside",
            OUTSIDE,
            UPLINK,
            "10.96.0.12",
            TCP,
            80,
            Rej(NoEndpoints),
        ),
        // Rules 5, 6: internalTrafficPolicy Local.
        (
            "iTP Local",
            POD,
            POD_IF,
            "10.96.0.13",
            TCP,
            80,
            fwd("itp-local", true, false),
        ),
        (
            "iTP Local from the node",
            NODE,
            HOST_IF,
            "10.96.0.13",
            TCP,
            80,
            fwd("itp-local", true, true),
        ),
        (
            "iTP Local, none local",
            POD,
            POD_IF,
            "10.96.0.11",
            TCP,
            80,
            Expect::Drop(NoLocalEndpoint),
        ),
        (
            "iTP Local, none local, node",
            NODE,
            HOST_IF,
            "10.96.0.11",
            TCP,
            80,
            Expect::Drop(NoLocalEndpoint),
        ),
        // NodePorts answer on node addresses only.
        (
            "NodePort on a node address",
            OUTSIDE,
            UPLINK,
            NODE,
            TCP,
            30082,
            fwd("np-etp-cluster", false, true),
        ),
        (
            "NodePort on another address",
            OUTSIDE,
            UPLINK,
            "192.168.1.99",
            TCP,
            30082,
            NotAService,
        ),
        (
            "NodePort, wrong protocol",
            OUTSIDE,
            UPLINK,
            NODE,
            UDP,
            30082,
            NotAService,
        ),
        (
            "eTP Cluster from a pod",
            POD,
            POD_IF,
            NODE,
            TCP,
            30082,
            fwd("np-etp-cluster", false, true),
        ),
        // Rule 5: externalTrafficPolicy Local.
        (
            "eTP Local, outside",
            OUTSIDE,
            UPLINK,
            NODE,
            TCP,
            30080,
            fwd("np-etp-local", true, false),
        ),
        (
            "eTP Local, pod",
            POD,
            POD_IF,
            NODE,
            TCP,
            30080,
            fwd("np-etp-local", false, false),
        ),
        (
            "eTP Local, node",
            NODE,
            HOST_IF,
            NODE,
            TCP,
            30080,
            fwd("np-etp-local", false, true),
        ),
        (
            "eTP Local none local, outside",
            OUTSIDE,
            UPLINK,
            NODE,
            TCP,
            30081,
            Expect::Drop(NoLocalEndpoint),
        ),
        (
            "eTP Local none local, pod",
            POD,
            POD_IF,
            NODE,
            TCP,
            30081,
            fwd("np-etp-local-none", false, false),
        ),
        (
            "eTP Local none local, node",
            NODE,
            HOST_IF,
            NODE,
            TCP,
            30081,
            fwd("np-etp-local-none", false, true),
        ),
        // Rule 3: loadBalancerSourceRanges.
        (
            "LB, source in range",
            OUTSIDE,
            UPLINK,
            "198.51.100.1",
            TCP,
            443,
            fwd("lb", false, true),
        ),
        (
            "LB, source out of range",
            "198.18.0.1",
            UPLINK,
            "198.51.100.1",
            TCP,
            443,
            Expect::Drop(SourceRange),
        ),
        (
            "LB, pod out of range",
            POD,
            POD_IF,
            "198.51.100.1",
            TCP,
            443,
            Expect::Drop(SourceRange),
        ),
        (
            "LB, the node out of range",
            NODE,
            HOST_IF,
            "198.51.100.1",
            TCP,
            443,
            Expect::Drop(SourceRange),
        ),
        (
            "LB, the node in range sends from the VIP (looped back)",
            "198.51.100.2",
            HOST_IF,
            "198.51.100.2",
            TCP,
            443,
            fwd("lb-node-in-range", false, true),
        ),
        (
            "LB, the VIP as source while no range holds the node",
            "198.51.100.1",
            HOST_IF,
            "198.51.100.1",
            TCP,
            443,
            Expect::Drop(SourceRange),
        ),
        (
            "LB, wrong port",
            OUTSIDE,
            UPLINK,
            "198.51.100.1",
            TCP,
            80,
            NotAService,
        ),
        (
            "NodePort bypasses source ranges",
            "198.18.0.1",
            UPLINK,
            NODE,
            TCP,
            30443,
            fwd("lb-nodeport", false, true),
        ),
        // IPv6.
        (
            "IPv6 ClusterIP",
            "fd00:244::5",
            POD_IF,
            "fd00:96::10",
            TCP,
            80,
            fwd("web6", false, true),
        ),
        (
            "IPv6 ClusterIP, wrong port",
            "fd00:244::5",
            POD_IF,
            "fd00:96::10",
            TCP,
            81,
            Rej(NoSuchPort),
        ),
    ];
    for case in cases {
        check(&t, case);
    }
}

#[test]
fn sources_are_classified_by_interface_address_and_cidr() {
    let t = services();
    assert_eq!(
        t.classify(ip(POD), HOST_IF),
        SourceClass::Node,
        "the host interface wins"
    );
    assert_eq!(t.classify(ip(NODE), UPLINK), SourceClass::Node);
    assert_eq!(t.classify(ip(POD), POD_IF), SourceClass::Pod);
    assert_eq!(t.classify(ip("10.245.0.1"), POD_IF), SourceClass::External);
    assert_eq!(
        t.classify(ip("fd00:244::5"), POD_IF),
        SourceClass::External,
        "no IPv6 cluster CIDR"
    );
    assert_eq!(t.masquerade_address(false), Some(ip(NODE)));
    assert_eq!(t.masquerade_address(true), None);
}

#[test]
fn a_pod_reaching_itself_through_its_service_is_masqueraded() {
    let mut t = ServiceTable::new(node());
    t.insert(
        key(Some("10.96.0.10"), TCP, 80),
        frontend("self", Scope::Internal, false, &[LOCAL_EP], &[LOCAL_EP]),
    );
    let mut affinity = AffinityTable::new(4);
    let endpoint = ep(LOCAL_EP);
    for (src, masquerade) in [(endpoint.ip(), true), (ip(POD), false)] {
        let flow = FlowKey {
            src,
            dst: ip("10.96.0.10"),
            protocol: TCP,
            src_port: 1234,
            dst_port: 80,
        };
        match t.decide(&flow, POD_IF, &mut affinity, at(0)) {
            Decision::Forward {
                endpoint: e,
                masquerade: m,
                ..
            } => {
                assert_eq!((e, m), (endpoint, masquerade), "from {src}");
            }
            other => panic!("{other:?}"),
        }
    }
}

fn endpoints(n: u8) -> Vec<SocketAddr> {
    (1..=n)
        .map(|i| SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 244, 3, i)), 8080))
        .collect()
}

fn forwarded(
    t: &ServiceTable,
    affinity: &mut AffinityTable,
    flow: &FlowKey,
    now: Instant,
) -> SocketAddr {
    match t.decide(flow, POD_IF, affinity, now) {
        Decision::Forward { endpoint, .. } => endpoint,
        other => panic!("{other:?}"),
    }
}

#[test]
fn client_ip_affinity_sticks_across_flows_and_frontends_until_it_times_out() {
    let timeout = Duration::from_secs(100);
    let mut t = ServiceTable::new(node());
    let sticky = |cluster_ip: bool| Frontend {
        name: "sticky".into(),
        service_port: ServicePortId(9),
        scope: if cluster_ip {
            Scope::Internal
        } else {
            Scope::External
        },
        local_policy: false,
        cluster: EndpointSet::new(endpoints(10)),
        local: EndpointSet::default(),
        affinity: Some(timeout),
        source_ranges: Vec::new(),
    };
    t.insert(key(Some("10.96.0.20"), TCP, 80), sticky(true));
    t.insert(key(None, TCP, 30090), sticky(false));
    let mut affinity = AffinityTable::new(64);
    let flow = |src_port, dst: &str, dst_port| FlowKey {
        src: ip(POD),
        dst: ip(dst),
        protocol: TCP,
        src_port,
        dst_port,
    };
    let first = forwarded(&t, &mut affinity, &flow(1, "10.96.0.20", 80), at(0));
    let set = &t.get(&key(Some("10.96.0.20"), TCP, 80)).unwrap().cluster;
    // Flows that Maglev alone would send elsewhere still go to the client's endpoint; each
    // comes within the timeout of the one before, long after the first.
    let mut elsewhere = 0;
    for port in 2..200 {
        let f = flow(port, "10.96.0.20", 80);
        elsewhere += usize::from(set.pick(f.hash()) != Some(first));
        assert_eq!(
            forwarded(&t, &mut affinity, &f, at(u64::from(port - 1) * 60)),
            first
        );
    }
    assert!(
        elsewhere > 100,
        "Maglev alone spreads the flows: {elsewhere}"
    );
    // The NodePort of the same Service port shares the entry.
    let now = 199 * 60;
    assert_eq!(
        forwarded(&t, &mut affinity, &flow(7, NODE, 30090), at(now)),
        first
    );
    // Idle past the timeout: the next flow is placed by Maglev (and sticks from then on).
    let later = now + timeout.as_secs() + 1;
    let f = flow(1000, "10.96.0.20", 80);
    let placed = forwarded(&t, &mut affinity, &f, at(later));
    assert_eq!(Some(placed), set.pick(f.hash()));
    assert_eq!(
        forwarded(
            &t,
            &mut affinity,
            &flow(1001, "10.96.0.20", 80),
            at(later + 1)
        ),
        placed
    );
}

#[test]
fn affinity_to_an_endpoint_that_left_the_set_is_ignored() {
    let timeout = Duration::from_secs(100);
    let make = |eps: Vec<SocketAddr>| Frontend {
        affinity: Some(timeout),
        cluster: EndpointSet::new(eps),
        ..frontend("sticky", Scope::Internal, false, &[], &[])
    };
    let k = key(Some("10.96.0.20"), TCP, 80);
    let mut t = ServiceTable::new(node());
    t.insert(k, make(endpoints(4)));
    let mut affinity = AffinityTable::new(64);
    let f = FlowKey {
        src: ip(POD),
        dst: ip("10.96.0.20"),
        protocol: TCP,
        src_port: 1,
        dst_port: 80,
    };
    let first = forwarded(&t, &mut affinity, &f, at(0));
    let rest: Vec<SocketAddr> = endpoints(4).into_iter().filter(|&e| e != first).collect();
    t.insert(k, make(rest.clone()));
    let now_ = forwarded(&t, &mut affinity, &f, at(1));
    assert!(rest.contains(&now_));
    assert_eq!(
        forwarded(&t, &mut affinity, &FlowKey { src_port: 2, ..f }, at(2)),
        now_,
        "the new endpoint sticks"
    );
}

#[test]
fn without_affinity_flows_spread_over_endpoints() {
    let mut t = ServiceTable::new(node());
    let mut f = frontend("spread", Scope::Internal, false, &[], &[]);
    f.cluster = EndpointSet::new(endpoints(4));
    t.insert(key(Some("10.96.0.20"), TCP, 80), f);
    let mut affinity = AffinityTable::new(64);
    let mut seen = std::collections::BTreeSet::new();
    for src_port in 0..256 {
        let flow = FlowKey {
            src: ip(POD),
            dst: ip("10.96.0.20"),
            protocol: TCP,
            src_port,
            dst_port: 80,
        };
        seen.insert(forwarded(&t, &mut affinity, &flow, at(0)));
    }
    assert_eq!(seen.len(), 4);
    assert!(affinity.is_empty(), "nothing recorded without affinity");
}

#[test]
fn an_endpoint_set_is_sorted_without_duplicates_and_independent_of_order() {
    let a = EndpointSet::new(vec![ep(REMOTE_EP), ep(LOCAL_EP), ep(REMOTE_EP)]);
    let b = EndpointSet::new(vec![ep(LOCAL_EP), ep(REMOTE_EP)]);
    assert_eq!(a.endpoints(), &[ep(LOCAL_EP), ep(REMOTE_EP)]);
    assert_eq!(a, b, "same endpoints, same Maglev table");
    assert!(a.contains(ep(LOCAL_EP)) && !a.contains(ep("10.244.1.20:8081")));
    for hash in 0..1000 {
        assert!(a.contains(a.pick(hash).unwrap()));
    }
    assert_eq!(
        a.heap_bytes(),
        2 * core::mem::size_of::<SocketAddr>() + a.maglev().heap_bytes()
    );
    let empty = EndpointSet::new(Vec::new());
    assert!(empty.is_empty());
    assert_eq!(empty.pick(7), None);
    assert_eq!(empty, EndpointSet::default());
}

#[test]
fn cidr_containment_matches_the_prefix_and_the_family() {
    let nets = [(ip("10.244.0.0"), 16)];
    assert!(cidrs_contain(&nets, ip("10.244.255.255")));
    assert!(!cidrs_contain(&nets, ip("10.245.0.0")));
    assert!(
        !cidrs_contain(&nets, ip("::ffff:10.244.0.1")),
        "another family"
    );
    assert!(cidrs_contain(&[(ip("0.0.0.0"), 0)], ip("1.2.3.4")));
    assert!(!cidrs_contain(&[(ip("0.0.0.0"), 0)], ip("::1")));
    assert!(cidrs_contain(&[(ip("1.2.3.4"), 32)], ip("1.2.3.4")));
    assert!(!cidrs_contain(&[(ip("1.2.3.4"), 32)], ip("1.2.3.5")));
    assert!(
        !cidrs_contain(&[(ip("1.2.3.4"), 33)], ip("1.2.3.4")),
        "no such prefix"
    );
    assert!(cidrs_contain(&[(ip("fd00::"), 8)], ip("fdff::1")));
    assert!(cidrs_contain(&[(ip("::"), 0)], ip("fdff::1")));
    assert!(cidrs_contain(&[(ip("fd00::1"), 128)], ip("fd00::1")));
    assert!(!cidrs_contain(&[], ip("fd00::1")));
}

#[test]
fn service_addresses_are_counted_per_frontend() {
    let mut t = ServiceTable::new(node());
    let web = frontend("web", Scope::Internal, false, BOTH, &[]);
    let (k80, k443) = (
        key(Some("10.96.0.10"), TCP, 80),
        key(Some("10.96.0.10"), TCP, 443),
    );
    t.insert(k80, web.clone());
    t.insert(k443, web.clone());
    t.insert(k80, web.clone()); // replaced, not added
    assert_eq!(t.len(), 2);
    let mut affinity = AffinityTable::new(4);
    let to = |port| FlowKey {
        src: ip(POD),
        dst: ip("10.96.0.10"),
        protocol: TCP,
        src_port: 1,
        dst_port: port,
    };
    assert_eq!(
        t.decide(&to(22), POD_IF, &mut affinity, at(0)),
        Decision::Reject(RejectCause::NoSuchPort)
    );
    assert_eq!(t.remove(&k80).as_deref(), Some(&web));
    assert_eq!(t.remove(&k80), None);
    assert_eq!(
        t.decide(&to(22), POD_IF, &mut affinity, at(0)),
        Decision::Reject(RejectCause::NoSuchPort)
    );
    t.remove(&k443);
    assert_eq!(
        t.decide(&to(22), POD_IF, &mut affinity, at(0)),
        Decision::Drop(DropCause::Unallocated)
    );
    assert!(t.is_empty());
}

#[test]
fn serving_endpoints_are_set_and_cleared() {
    let mut t = ServiceTable::new(node());
    let port = ServicePortId(3);
    assert!(
        !t.is_serving(port, ip("10.244.1.20")),
        "an unknown port serves nothing"
    );
    t.set_serving(
        port,
        vec![ip("10.244.2.20"), ip("10.244.1.20"), ip("10.244.2.20")],
    );
    assert!(t.is_serving(port, ip("10.244.1.20")));
    assert!(t.is_serving(port, ip("10.244.2.20")));
    assert!(!t.is_serving(port, ip("10.244.3.20")));
    assert!(!t.is_serving(ServicePortId(4), ip("10.244.1.20")));
    t.set_serving(port, Vec::new());
    assert!(!t.is_serving(port, ip("10.244.1.20")));
}

fn many_frontends(n: u32) -> ServiceTable {
    let mut t = ServiceTable::new(node());
    let f = frontend("svc", Scope::Internal, false, BOTH, LOCAL);
    for i in 0..n {
        let address = IpAddr::V4(Ipv4Addr::from(0x0a60_0000 + i));
        t.insert(
            FrontendKey {
                address: Some(address),
                protocol: TCP,
                port: 80,
            },
            f.clone(),
        );
    }
    t
}

fn shared<K, V>(a: &Sharded<K, V>, b: &Sharded<K, V>) -> usize {
    a.shards
        .iter()
        .zip(b.shards.iter())
        .filter(|(x, y)| Arc::ptr_eq(x, y))
        .count()
}

#[test]
fn changing_a_copy_of_a_big_table_copies_one_shard() {
    let t = many_frontends(30_000);
    assert_eq!(t.len(), 30_000);
    assert_eq!(t.iter().count(), 30_000);
    let mut copy = t.clone();
    assert_eq!(
        shared(&t.frontends, &copy.frontends),
        SHARDS,
        "a clone shares every shard"
    );
    let new = key(Some("10.100.0.1"), TCP, 80);
    copy.insert(new, frontend("new", Scope::Internal, false, BOTH, LOCAL));
    assert_eq!(shared(&t.frontends, &copy.frontends), SHARDS - 1);
    assert_eq!(shared(&t.cluster_ips, &copy.cluster_ips), SHARDS - 1);
    assert_eq!(shared(&t.serving, &copy.serving), SHARDS);
    assert_eq!((t.len(), copy.len()), (30_000, 30_001));
    assert!(t.get(&new).is_none() && copy.get(&new).is_some());

    let mut copy = t.clone();
    assert!(copy.remove(&key(Some("10.100.0.1"), TCP, 80)).is_none());
    assert_eq!(
        shared(&t.frontends, &copy.frontends),
        SHARDS,
        "removing nothing copies nothing"
    );
    assert!(copy.remove(&key(Some("10.96.0.7"), TCP, 80)).is_some());
    assert_eq!(shared(&t.frontends, &copy.frontends), SHARDS - 1);
    assert_eq!(copy.len(), 29_999);
}

#[test]
fn heap_bytes_grow_with_frontends_and_their_endpoints() {
    let small = many_frontends(100);
    let big = many_frontends(1000);
    // Each frontend has two sets of Maglev tables (251 two-byte slots each) at least.
    let tables = 2 * 251 * 2;
    assert!(small.heap_bytes() >= 100 * tables);
    assert!(big.heap_bytes() >= 1000 * tables);
    let per_frontend = (big.heap_bytes() - small.heap_bytes()) / 900;
    assert!(
        per_frontend >= tables + core::mem::size_of::<Frontend>(),
        "{per_frontend}"
    );
    assert!(
        per_frontend < 4 * (tables + core::mem::size_of::<Frontend>()),
        "{per_frontend}"
    );
}

#[test]
fn node_facts_are_replaced() {
    let mut t = services();
    let flow = FlowKey {
        src: ip(OUTSIDE),
        dst: ip("192.168.1.11"),
        protocol: TCP,
        src_port: 1,
        dst_port: 30082,
    };
    let mut affinity = AffinityTable::new(4);
    assert_eq!(
        t.decide(&flow, UPLINK, &mut affinity, at(0)),
        Decision::NotAService
    );
    let mut facts = node();
    facts.node_addresses.push(ip("192.168.1.11"));
    t.set_node(facts.clone());
    assert_eq!(t.node(), &facts);
    assert!(matches!(
        t.decide(&flow, UPLINK, &mut affinity, at(0)),
        Decision::Forward { .. }
    ));
}
