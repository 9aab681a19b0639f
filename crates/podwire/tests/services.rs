//! End-to-end: Kubernetes Services implemented by a running `podwire daemon`, with pods
//! attached by the real CNI plugin in network namespaces, Services, Pods and EndpointSlices
//! applied with `podwire ctl apply` as ordinary Kubernetes YAML, and real TCP and UDP
//! traffic from pods, the host and an "outside" namespace behind an AF_PACKET uplink.
//!
//! Every backend answers with its name and the source address it saw, so a test can tell
//! where each connection landed and whether it was masqueraded. Each test starts its own
//! daemon with its own address block and Service CIDR, so the tests run in parallel.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use podwire_model::cluster::ObjectStatus;
use support::cni::assert_ping;
use support::services::*;
use support::*;

/// Fresh connections a test makes to see that load is spread: with three backends picked
/// by flow hash, the chance that one of them gets none of 60 is 3·(2/3)^60 ≈ 10⁻¹⁰.
const CONNECTIONS: usize = 60;

/// The NodePort of the NodePort tests (TCP and UDP alike).
const NODE_PORT: u16 = 30080;

/// How long a stale UDP flow may outlive its endpoint before the test calls it a bug: a few
/// worker housekeeping rounds, with room for a slow machine.
const STALE_UDP_LIMIT: Duration = Duration::from_secs(15);

/// Asserts that `result` failed with "connection refused".
fn assert_refused(what: &str, result: io::Result<Answer>, lab: &SvcLab) {
    match result {
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
        Err(e) => panic!(
            "{what}: expected \"connection refused\" (an ICMP port unreachable), got {e} ({:?})\n{}",
            e.kind(),
            lab.views()
        ),
        Ok(answer) => panic!(
            "{what}: expected \"connection refused\", but {answer} answered\n{}",
            lab.views()
        ),
    }
}

#[test]
fn a_pod_reaches_a_cluster_ip_over_tcp_and_udp_spread_over_three_backends() {
    if !root_or_skip() {
        return;
    }
    let lab = SvcLab::start();
    // Set up by hand rather than with `SvcLab::serve`: this test applies from stdin.
    let web = Served {
        service: Service::new("web", lab.cluster_ip(10), "web"),
        backends: lab.backends("web", 3),
    };
    let client = lab.client_pod("client");
    let applied = lab.apply_stdin(&web.service.yaml());
    assert!(
        applied.contains("web") && applied.contains("created"),
        "ctl apply should say the Service was created: {applied}"
    );
    lab.wait_endpoints("web", &web.addresses());
    let (vip, all) = (web.vip(), web.names());
    let listed = lab.get("services");
    assert!(
        listed.contains("web") && listed.contains(&vip.ip().to_string()),
        "ctl get services should list web on {}:\n{listed}",
        vip.ip()
    );

    // From a pod, the source is kept: the backend sees the client pod's own address.
    let tcp = tally(
        &lab,
        "TCP to the ClusterIP",
        CONNECTIONS,
        &all,
        client.ip,
        || tcp_ask(Some(&client.ns), vip),
    );
    assert_spread("TCP to the ClusterIP", &tcp, &all);
    let udp = tally(
        &lab,
        "UDP to the ClusterIP",
        CONNECTIONS,
        &all,
        client.ip,
        || udp_ask(Some(&client.ns), vip),
    );
    assert_spread("UDP to the ClusterIP", &udp, &all);
}

#[test]
fn client_ip_affinity_pins_a_client_and_switching_it_off_spreads_again() {
    if !root_or_skip() {
        return;
    }
    let lab = SvcLab::start();
    let web = lab.serve(
        Service::new("web", lab.cluster_ip(10), "web").affinity(true),
        3,
    );
    let client = lab.client_pod("client");
    let view = lab
        .service("web")
        .expect("GET /v1/cluster/services lists web");
    assert_eq!(
        view.affinity_timeout_s,
        Some(10800),
        "ClientIP affinity without a timeout gets Kubernetes' default: {view:?}"
    );

    let (vip, all) = (web.vip(), web.names());
    let tcp = tally(&lab, "TCP with affinity", 20, &all, client.ip, || {
        tcp_ask(Some(&client.ns), vip)
    });
    assert_pinned("TCP with ClientIP affinity", &tcp);
    let udp = tally(&lab, "UDP with affinity", 20, &all, client.ip, || {
        udp_ask(Some(&client.ns), vip)
    });
    assert_pinned("UDP with ClientIP affinity", &udp);

    let applied = lab.apply(&web.service.clone().affinity(false).yaml());
    assert!(
        applied.contains("configured"),
        "ctl apply should say the Service was configured: {applied}"
    );
    let tcp = tally(
        &lab,
        "TCP without affinity",
        CONNECTIONS,
        &all,
        client.ip,
        || tcp_ask(Some(&client.ns), vip),
    );
    assert_spread("TCP after switching affinity off", &tcp, &all);

    lab.apply(&web.service.yaml());
    let tcp = tally(&lab, "TCP with affinity again", 20, &all, client.ip, || {
        tcp_ask(Some(&client.ns), vip)
    });
    assert_pinned("TCP after switching affinity back on", &tcp);
}

#[test]
fn removing_an_endpoint_moves_only_its_connections() {
    if !root_or_skip() {
        return;
    }
    let lab = SvcLab::start();
    let web = lab.serve(Service::new("web", lab.cluster_ip(10), "web"), 3);
    let client = lab.client_pod("client");
    let vip = web.vip();

    // Long-lived connections, each noted with the backend it reached.
    let mut connections: Vec<(TcpConn, String)> = (0..24)
        .map(|i| {
            let mut conn = TcpConn::connect(Some(&client.ns), vip)
                .unwrap_or_else(|e| panic!("connection {i}: {e}\n{}", lab.views()));
            let answer = conn
                .ask()
                .unwrap_or_else(|e| panic!("connection {i}: {e}\n{}", lab.views()));
            (conn, answer.backend)
        })
        .collect();
    let mut per_backend: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, backend) in &connections {
        *per_backend.entry(backend.as_str()).or_insert(0) += 1;
    }
    // The backend to remove: the one with the most connections, so that some move.
    let removed = per_backend
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(name, _)| name.to_string())
        .expect("connections");
    assert!(
        per_backend.len() > 1,
        "24 connections should reach more than one backend: {per_backend:?}"
    );
    let gone = web
        .backends
        .iter()
        .find(|b| b.pod.name == removed)
        .expect("the removed backend");
    let deleted = lab.delete(&gone.manifest());
    assert!(
        deleted.contains("deleted"),
        "ctl delete should say the Pod was deleted: {deleted}"
    );
    let kept: Vec<&BackendPod> = web
        .backends
        .iter()
        .filter(|b| b.pod.name != removed)
        .collect();
    lab.wait_endpoints("web", &kept.iter().map(|b| b.pod.ip).collect::<Vec<_>>());

    for (i, (conn, backend)) in connections.iter_mut().enumerate() {
        if *backend == removed {
            continue;
        }
        let local = conn.local();
        let answer = conn.ask().unwrap_or_else(|e| {
            panic!(
                "connection {i} (on {backend}, not the removed {removed}) broke: {e}\n{}",
                lab.views()
            )
        });
        assert_eq!(
            &answer.backend, backend,
            "connection {i} moved to another backend"
        );
        assert_eq!(answer.source, local, "connection {i}: the source changed");
    }
    let rest: BTreeSet<String> = kept.iter().map(|b| b.pod.name.clone()).collect();
    let fresh = tally(
        &lab,
        "new connections",
        CONNECTIONS,
        &rest,
        client.ip,
        || tcp_ask(Some(&client.ns), vip),
    );
    assert_spread("new connections after the removal", &fresh, &rest);
}

#[test]
fn a_service_without_endpoints_refuses_connections_at_once() {
    if !root_or_skip() {
        return;
    }
    let lab = SvcLab::start();
    let client = lab.client_pod("client");
    let service = Service::new("lonely", lab.cluster_ip(10), "lonely");
    lab.apply(&service.yaml());
    let view = lab
        .service("lonely")
        .expect("GET /v1/cluster/services lists lonely");
    assert_eq!(view.endpoints, 0, "{view:?}");
    assert!(
        matches!(view.status, ObjectStatus::Pending(_)),
        "a Service without endpoints is pending (its connections are refused): {view:?}\n{}",
        lab.views()
    );

    let vip = SocketAddr::new(service.cluster_ip, SERVICE_PORT);
    assert_refused("TCP from a pod", tcp_ask(Some(&client.ns), vip), &lab);
    assert_refused(
        "UDP from a pod (connected socket)",
        udp_ask_connected(Some(&client.ns), vip),
        &lab,
    );
    // The node too: REJECT comes before any masquerade.
    assert_refused("TCP from the host", tcp_ask(None, vip), &lab);

    // An endpoint arrives: the same ClusterIP works, nothing of the refusal sticks.
    let lonely = Served {
        service,
        backends: lab.backends("lonely", 1),
    };
    lab.wait_endpoints("lonely", &lonely.addresses());
    tally(
        &lab,
        "TCP once an endpoint exists",
        3,
        &lonely.names(),
        client.ip,
        || tcp_ask(Some(&client.ns), vip),
    );
}

/// Backends `web-0` and `web-1` behind a ClusterIP; the host (this test's namespace, where
/// the `[host]` tap is) connects to it over TCP and UDP, and the backends must see `source`.
fn the_host_reaches_a_cluster_ip_in(lab: &SvcLab, source: IpAddr) {
    let web = lab.serve(Service::new("web", lab.cluster_ip(10), "web"), 2);
    let (vip, all) = (web.vip(), web.names());
    let tcp = tally(lab, "TCP from the host", 20, &all, source, || {
        tcp_ask(None, vip)
    });
    assert_spread("TCP from the host", &tcp, &all);
    tally(lab, "UDP from the host", 5, &all, source, || {
        udp_ask(None, vip)
    });
}

#[test]
fn the_host_reaches_a_cluster_ip() {
    if !root_or_skip() {
        return;
    }
    // The host is not in the cluster CIDRs: its traffic is masqueraded to the node address
    // (the uplink's), as kube-proxy does for ClusterIP traffic from outside the pod network.
    the_host_reaches_a_cluster_ip_in(&SvcLab::with_uplink(), IpAddr::V4(UPLINK_NODE));
}

#[test]
fn the_host_reaches_a_cluster_ip_on_a_node_without_an_uplink() {
    if !root_or_skip() {
        return;
    }
    // A node with a pod network and a host tap only (one machine, no routed interface, so no
    // default node address): the host's own clients must reach Services all the same. The
    // host tap's address is the one address this node has.
    let lab = SvcLab::start();
    let host = lab
        .block
        .host4
        .parse()
        .expect("the host tap's IPv4 address");
    the_host_reaches_a_cluster_ip_in(&lab, host);
}

#[test]
fn the_outside_reaches_a_node_port_masqueraded_under_cluster_policy_and_not_under_local() {
    if !root_or_skip() {
        return;
    }
    let lab = SvcLab::with_uplink();
    let web = lab.serve(
        Service::new("web", lab.cluster_ip(10), "web")
            .node_ports(NODE_PORT, NODE_PORT)
            .external_traffic_policy("Cluster"),
        2,
    );
    let view = lab
        .service("web")
        .expect("GET /v1/cluster/services lists web");
    assert!(
        view.ports
            .iter()
            .any(|p| p.contains(&format!(":{NODE_PORT}"))),
        "the Service's ports should show its NodePort: {view:?}"
    );

    let outside = lab.outside();
    let node_port = SocketAddr::new(IpAddr::V4(UPLINK_NODE), NODE_PORT);
    let all = web.names();
    let node = IpAddr::V4(UPLINK_NODE);
    let tcp = tally(&lab, "TCP NodePort, Cluster policy", 20, &all, node, || {
        tcp_ask(Some(outside), node_port)
    });
    assert_spread("TCP NodePort, Cluster policy", &tcp, &all);
    tally(&lab, "UDP NodePort, Cluster policy", 5, &all, node, || {
        udp_ask(Some(outside), node_port)
    });

    let applied = lab.apply(&web.service.clone().external_traffic_policy("Local").yaml());
    assert!(
        applied.contains("configured"),
        "ctl apply should say the Service was configured: {applied}"
    );
    // Every endpoint is on this node: Local keeps the client's address.
    let client = IpAddr::V4(UPLINK_OUTSIDE);
    tally(&lab, "TCP NodePort, Local policy", 10, &all, client, || {
        tcp_ask(Some(outside), node_port)
    });
    tally(&lab, "UDP NodePort, Local policy", 5, &all, client, || {
        udp_ask(Some(outside), node_port)
    });
}

#[test]
fn pod_traffic_leaving_the_cluster_is_masqueraded_to_the_uplink_address() {
    if !root_or_skip() {
        return;
    }
    let lab = SvcLab::with_uplink();
    // No Pod object: leaving the cluster needs no Service, only the attachment.
    let client = lab.attach_pod("client");
    let outside = lab.outside();
    let _server = Backend::start(outside, "outside", manifest::BACKEND_PORT);
    let target = SocketAddr::new(IpAddr::V4(UPLINK_OUTSIDE), manifest::BACKEND_PORT);
    let only = BTreeSet::from(["outside".to_owned()]);
    let node = IpAddr::V4(UPLINK_NODE);

    // The outside namespace has no route to the pod network: only masqueraded traffic can
    // get an answer.
    assert_ping(&client.ns, &UPLINK_OUTSIDE.to_string());
    tally(&lab, "TCP to the outside", 5, &only, node, || {
        tcp_ask(Some(&client.ns), target)
    });
    tally(&lab, "UDP to the outside", 5, &only, node, || {
        udp_ask(Some(&client.ns), target)
    });
}

#[test]
fn a_udp_flow_to_a_removed_endpoint_moves_to_another() {
    if !root_or_skip() {
        return;
    }
    let lab = SvcLab::start();
    let web = lab.serve(Service::new("web", lab.cluster_ip(10), "web"), 3);
    let client = lab.client_pod("client");
    let vip = web.vip();

    // One socket, one flow: it stays on one backend.
    let socket = UdpClient::bind(Some(&client.ns));
    let ask = |what: &str| {
        socket
            .ask(vip)
            .unwrap_or_else(|e| panic!("{what}: {e}\n{}", lab.views()))
    };
    let first = ask("the first datagram").backend;
    for _ in 0..3 {
        assert_eq!(
            ask("the same flow").backend,
            first,
            "one UDP flow, one backend"
        );
    }

    let gone = web
        .backends
        .iter()
        .find(|b| b.pod.name == first)
        .expect("the first backend");
    lab.delete(&gone.manifest());
    let kept: Vec<IpAddr> = web
        .backends
        .iter()
        .filter(|b| b.pod.name != first)
        .map(|b| b.pod.ip)
        .collect();
    lab.wait_endpoints("web", &kept);

    // The removed backend still runs and would answer a stale flow: the flow must be
    // cleared and the next datagrams reach another backend. (The removal comes within a
    // second or so of the daemon's start, like a change right after an agent restart: the
    // worker's first housekeeping round must clear too.)
    let start = Instant::now();
    let moved = loop {
        let answer = ask("a datagram after the removal");
        if answer.backend != first {
            break answer.backend;
        }
        if start.elapsed() > STALE_UDP_LIMIT {
            let trace = lab.trace(|| {
                let _ = socket.ask(vip);
            });
            panic!(
                "the UDP flow still reaches the removed {first} after {STALE_UDP_LIMIT:?}\n{}\n--- the next datagram's trace ---\n{trace}\n--- session metrics ---\n{}",
                lab.views(),
                lab.session_metrics()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    for _ in 0..10 {
        assert_eq!(
            ask("the moved flow").backend,
            moved,
            "the moved UDP flow should stay on its new backend"
        );
    }
}

#[test]
fn applied_services_survive_a_restart_and_a_bad_manifest_changes_nothing() {
    if !root_or_skip() {
        return;
    }
    let mut lab = SvcLab::start();
    let web = lab.serve(Service::new("web", lab.cluster_ip(10), "web"), 2);
    let client = lab.client_pod("client");
    let (vip, all) = (web.vip(), web.names());
    tally(&lab, "TCP before the restart", 3, &all, client.ip, || {
        tcp_ask(Some(&client.ns), vip)
    });

    lab.restart();
    let listed = lab.get("services");
    assert!(
        listed.contains("web"),
        "ctl get services should still list web after a restart:\n{listed}"
    );
    let view = lab
        .service("web")
        .unwrap_or_else(|| panic!("web is gone after a restart\n{}", lab.views()));
    assert_eq!(view.cluster_ips, [web.service.cluster_ip], "{view:?}");
    lab.wait_endpoints("web", &web.addresses());
    let tcp = tally(
        &lab,
        "TCP after the restart",
        CONNECTIONS,
        &all,
        client.ip,
        || tcp_ask(Some(&client.ns), vip),
    );
    assert_spread("TCP after the restart", &tcp, &all);
    tally(&lab, "UDP after the restart", 3, &all, client.ip, || {
        udp_ask(Some(&client.ns), vip)
    });

    // A manifest with one good and one bad document is refused as a whole.
    let before = lab.services();
    let other = Service::new("other", lab.cluster_ip(11), "web");
    let broken = format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: broken\n  namespace: {}\nspec:\n  clusterIP: {}\n  selector:\n    app: web\n  ports:\n  - protocol: TCP\n    port: 70000\n",
        manifest::NAMESPACE,
        lab.cluster_ip(12)
    );
    let refused = lab.try_apply(&manifest::documents(&[other.yaml(), broken]));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success(),
        "ctl apply of a bad manifest should fail:\n{}{stderr}",
        String::from_utf8_lossy(&refused.stdout)
    );
    assert!(
        stderr.contains("spec.ports[0].port") && stderr.contains("broken"),
        "the error should name the object and the field (spec.ports[0].port): {stderr}"
    );
    // Another Service on web's ClusterIP: a conflict, refused and named.
    let thief = Service::new("thief", web.service.cluster_ip, "web");
    let refused = lab.try_apply(&thief.yaml());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("clusterIP"),
        "ctl apply of a Service on a taken ClusterIP should fail and name clusterIP: {stderr}"
    );
    assert_eq!(
        lab.services(),
        before,
        "a refused manifest must change nothing\n{}",
        lab.views()
    );
    tally(
        &lab,
        "TCP after the refused manifests",
        3,
        &all,
        client.ip,
        || tcp_ask(Some(&client.ns), vip),
    );
}

#[test]
fn a_service_without_selector_uses_its_endpoint_slices() {
    if !root_or_skip() {
        return;
    }
    let lab = SvcLab::start();
    // Pods with addresses but no Pod objects: only the slice makes them endpoints.
    let pods: Vec<(Pod, Backend)> = (0..2)
        .map(|i| {
            let pod = lab.attach_pod(&format!("ext-{i}"));
            let server = Backend::start(&pod.ns, &pod.name, manifest::BACKEND_PORT);
            (pod, server)
        })
        .collect();
    let client = lab.client_pod("client");
    let service = Service::new("ext", lab.cluster_ip(10), "ext").without_selector();
    let ips: Vec<IpAddr> = pods.iter().map(|(p, _)| p.ip).collect();
    lab.apply(&manifest::documents(&[
        service.yaml(),
        manifest::endpoint_slice("ext-1", "ext", &ips),
    ]));
    lab.wait_endpoints("ext", &ips);

    let vip = SocketAddr::new(service.cluster_ip, SERVICE_PORT);
    let all: BTreeSet<String> = pods.iter().map(|(p, _)| p.name.clone()).collect();
    let tcp = tally(
        &lab,
        "TCP via the slice",
        CONNECTIONS,
        &all,
        client.ip,
        || tcp_ask(Some(&client.ns), vip),
    );
    assert_spread("TCP via the slice", &tcp, &all);
    let udp = tally(
        &lab,
        "UDP via the slice",
        CONNECTIONS,
        &all,
        client.ip,
        || udp_ask(Some(&client.ns), vip),
    );
    assert_spread("UDP via the slice", &udp, &all);

    // The slice now names one endpoint: only it is reached.
    lab.apply(&manifest::endpoint_slice("ext-1", "ext", &ips[..1]));
    lab.wait_endpoints("ext", &ips[..1]);
    let first = BTreeSet::from([pods[0].0.name.clone()]);
    tally(
        &lab,
        "TCP via the shrunk slice",
        20,
        &first,
        client.ip,
        || tcp_ask(Some(&client.ns), vip),
    );
}
