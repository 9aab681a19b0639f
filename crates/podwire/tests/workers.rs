//! End-to-end: a node with two data-plane workers. Each port is read by one worker, so the
//! two directions of a flow often arrive on different workers; the flow must still be handled
//! by the one that holds its session (steering and handoff between workers). Services (DNAT
//! and its replies, over TCP and UDP), a long TCP connection through a ClusterIP, a
//! NetworkPolicy whose answers pass only by their session, and masquerading (a NodePort from
//! outside, pods leaving the cluster), each on a daemon of its own.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use podwire_model::api::NodeRuntimeView;
use support::cni::assert_ping;
use support::services::*;
use support::*;

/// Fresh connections to a ClusterIP with three backends: the chance that one of them gets
/// none of 60 is 3·(2/3)^60 ≈ 10⁻¹⁰.
const CONNECTIONS: usize = 60;

/// Requests over one TCP connection: thousands of packets each way.
const EXCHANGES: usize = 2000;

/// How long a policy may take to reach the data plane once applied.
const CONVERGE: Duration = Duration::from_secs(10);

/// How long a probe expected to be blocked waits to connect.
const BLOCKED_WAIT: Duration = Duration::from_secs(1);

/// The daemons' data-plane workers.
const WORKERS: u32 = 2;

/// A request from a namespace (or the host) to an address: [`tcp_ask`] or [`udp_ask`].
type Ask = fn(Option<&Netns>, SocketAddr) -> io::Result<Answer>;

/// [`tally`]s `count` requests from `client` to `to` over TCP, then as many over UDP
/// (`what` says where to), each answered by one of `backends` seeing the client's own
/// address. Returns each protocol's tally with what it was.
fn tally_tcp_and_udp(
    lab: &SvcLab,
    what: &str,
    count: usize,
    backends: &BTreeSet<String>,
    client: &Pod,
    to: SocketAddr,
) -> Vec<(String, BTreeMap<String, usize>)> {
    [("TCP", tcp_ask as Ask), ("UDP", udp_ask)]
        .into_iter()
        .map(|(protocol, ask)| {
            let what = format!("{protocol} {what}");
            let seen = tally(lab, &what, count, backends, client.ip, || {
                ask(Some(&client.ns), to)
            });
            (what, seen)
        })
        .collect()
}

/// `show runtime` of the lab's daemon.
fn runtime(lab: &SvcLab) -> Vec<NodeRuntimeView> {
    let json = lab.daemon.ctl_ok(&["show", "runtime", "--json"]);
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("show runtime --json: {e}:\n{json}"))
}

/// Packets of `node` on `worker`, from `show runtime`.
fn packets(rows: &[NodeRuntimeView], worker: u32, node: &str) -> u64 {
    rows.iter()
        .filter(|r| r.worker == worker && r.node == node)
        .map(|r| r.packets)
        .sum()
}

/// Asserts that both workers received packets and that packets were handed between them:
/// the traffic so far did cross workers.
fn assert_handed_over(lab: &SvcLab, what: &str) {
    let rows = runtime(lab);
    let shown = lab.daemon.ctl_ok(&["show", "runtime"]);
    for worker in 0..WORKERS {
        assert!(
            packets(&rows, worker, "worker-input") > 0,
            "{what}: worker {worker} received nothing:\n{shown}"
        );
    }
    let handed: u64 = (0..WORKERS).map(|w| packets(&rows, w, "handoff-out")).sum();
    let taken: u64 = (0..WORKERS).map(|w| packets(&rows, w, "handoff-in")).sum();
    assert!(
        handed > 0 && taken > 0,
        "{what}: no packet went from one worker to the other:\n{shown}"
    );
}

#[test]
fn a_cluster_ip_spreads_tcp_and_udp_over_its_backends_with_two_workers() {
    if !root_or_skip() {
        return;
    }
    let lab = SvcLab::start_with_workers(WORKERS);
    let web = lab.serve(Service::new("web", lab.cluster_ip(10), "web"), 3);
    let client = lab.client_pod("client");

    let (vip, all) = (web.vip(), web.names());
    for (what, seen) in tally_tcp_and_udp(&lab, "to the ClusterIP", CONNECTIONS, &all, &client, vip)
    {
        assert_spread(&what, &seen, &all);
    }
    assert_handed_over(&lab, "TCP and UDP to the ClusterIP");
}

#[test]
fn a_tcp_connection_through_a_cluster_ip_lasts_thousands_of_exchanges_with_two_workers() {
    if !root_or_skip() {
        return;
    }
    let lab = SvcLab::start_with_workers(WORKERS);
    let web = lab.serve(Service::new("web", lab.cluster_ip(11), "web"), 2);
    let client = lab.client_pod("client");

    let mut conn = TcpConn::connect(Some(&client.ns), web.vip()).expect("connect to the ClusterIP");
    let first = conn.ask().expect("the first answer");
    for i in 1..EXCHANGES {
        let answer = conn
            .ask()
            .unwrap_or_else(|e| panic!("exchange {i} of {EXCHANGES} failed: {e}\n{}", lab.views()));
        assert_eq!(
            (answer.backend.as_str(), answer.source),
            (first.backend.as_str(), conn.local()),
            "exchange {i}: one connection, one backend, the client's own address and port"
        );
    }
    // One flow: after its first packets, the kernel queues the pods' side of it to the
    // worker that writes it (multi-queue taps), so there may be no handoff to see here.
    let rows = runtime(&lab);
    assert!(
        rows.iter().any(|r| r.worker == 1),
        "the daemon runs two workers:\n{}",
        lab.daemon.ctl_ok(&["show", "runtime"])
    );
}

/// A NetworkPolicy in the lab's namespace.
fn network_policy(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: \"{name}\"\n  namespace: \"{}\"\nspec:\n{spec}",
        manifest::NAMESPACE
    )
}

/// Tries a TCP connection from `ns` to `to` until it times out (a policy drops its SYN), at
/// most until [`CONVERGE`] has passed; panics when it keeps connecting.
fn assert_blocked(lab: &SvcLab, what: &str, ns: &Netns, to: SocketAddr) {
    let start = Instant::now();
    loop {
        match TcpConn::connect_within(Some(ns), to, BLOCKED_WAIT) {
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                ) =>
            {
                return;
            }
            other => assert!(
                start.elapsed() < CONVERGE,
                "{what}: not blocked after {CONVERGE:?} ({:?})\n{}",
                other.map(|c| c.to),
                lab.policy_views()
            ),
        }
    }
}

#[test]
fn a_pod_that_may_not_open_connections_answers_through_its_sessions_with_two_workers() {
    if !root_or_skip() {
        return;
    }
    let lab = SvcLab::start_with_workers(WORKERS);
    let web = lab.serve(Service::new("web", lab.cluster_ip(12), "web"), 2);
    let client = lab.client_pod("client");
    // The client serves too: the web pods must not reach it.
    let _client_server = Backend::start(&client.ns, &client.name, manifest::BACKEND_PORT);
    let other = lab.attach_pod("other");
    lab.apply(&manifest::pod("other", &[("app", "other")]));

    // The web pods take connections from clients only and open none: their answers pass
    // only by the session their client's connection made, wherever they arrive.
    lab.apply(&network_policy(
        "web",
        "  podSelector:\n    matchLabels:\n      app: web\n  policyTypes:\n  - Ingress\n  - Egress\n  ingress:\n  - from:\n    - podSelector:\n        matchLabels:\n          app: client\n",
    ));
    let port = manifest::BACKEND_PORT;
    assert_blocked(
        &lab,
        "other to web-0",
        &other.ns,
        SocketAddr::new(web.backends[0].pod.ip, port),
    );
    assert_blocked(
        &lab,
        "web-0 to the client",
        &web.backends[0].pod.ns,
        SocketAddr::new(client.ip, port),
    );

    let (vip, all) = (web.vip(), web.names());
    for (what, seen) in tally_tcp_and_udp(&lab, "to the ClusterIP", CONNECTIONS, &all, &client, vip)
    {
        assert_spread(&what, &seen, &all);
    }
    for backend in &web.backends {
        let to = SocketAddr::new(backend.pod.ip, port);
        let one = BTreeSet::from([backend.pod.name.clone()]);
        tally_tcp_and_udp(&lab, "to a web pod", CONNECTIONS / 2, &one, &client, to);
    }
    assert_handed_over(&lab, "connections to isolated pods");
}

#[test]
fn masqueraded_flows_find_their_sessions_with_two_workers() {
    if !root_or_skip() {
        return;
    }
    let lab = SvcLab::start_with(SvcOptions {
        uplink: true,
        workers: WORKERS,
    });
    let node_port_number = 30080;
    let web = lab.serve(
        Service::new("web", lab.cluster_ip(13), "web")
            .node_ports(node_port_number, node_port_number)
            .external_traffic_policy("Cluster"),
        2,
    );

    // From outside to a NodePort, masqueraded to the node's address (DNAT and SNAT).
    let outside = lab.outside();
    let node = IpAddr::V4(UPLINK_NODE);
    let node_port = SocketAddr::new(node, node_port_number);
    let all = web.names();
    let tcp = tally(&lab, "TCP to the NodePort", CONNECTIONS, &all, node, || {
        tcp_ask(Some(outside), node_port)
    });
    assert_spread("TCP to the NodePort", &tcp, &all);
    tally(
        &lab,
        "UDP to the NodePort",
        CONNECTIONS / 2,
        &all,
        node,
        || udp_ask(Some(outside), node_port),
    );

    // From a pod to outside the cluster, masqueraded to the uplink's address (SNAT).
    let client = lab.attach_pod("client");
    let _server = Backend::start(outside, "outside", manifest::BACKEND_PORT);
    let target = SocketAddr::new(IpAddr::V4(UPLINK_OUTSIDE), manifest::BACKEND_PORT);
    let only = BTreeSet::from(["outside".to_owned()]);
    assert_ping(&client.ns, &UPLINK_OUTSIDE.to_string());
    tally(&lab, "TCP to the outside", CONNECTIONS, &only, node, || {
        tcp_ask(Some(&client.ns), target)
    });
    tally(
        &lab,
        "UDP to the outside",
        CONNECTIONS / 2,
        &only,
        node,
        || udp_ask(Some(&client.ns), target),
    );
    assert_handed_over(&lab, "masqueraded flows");
}

#[test]
fn client_ip_affinity_keeps_a_client_on_one_backend_with_two_workers() {
    if !root_or_skip() {
        return;
    }
    let lab = SvcLab::start_with_workers(WORKERS);
    let web = lab.serve(
        Service::new("web", lab.cluster_ip(14), "web").affinity(true),
        3,
    );
    let client = lab.client_pod("client");

    // The worker that remembers a client's endpoint must see all its connections.
    let (vip, all) = (web.vip(), web.names());
    for (what, seen) in tally_tcp_and_udp(&lab, "with affinity", CONNECTIONS, &all, &client, vip) {
        assert_pinned(&what, &seen);
    }
    assert_handed_over(&lab, "connections with affinity");
}

#[test]
fn pods_keep_working_when_the_agent_restarts_with_another_number_of_workers() {
    if !root_or_skip() {
        return;
    }
    let mut lab = SvcLab::start_with_workers(WORKERS);
    let web = lab.serve(Service::new("web", lab.cluster_ip(15), "web"), 2);
    let client = lab.client_pod("client");
    let (vip, all) = (web.vip(), web.names());
    let ask_all = |lab: &SvcLab, what: &str| {
        tally_tcp_and_udp(lab, what, CONNECTIONS / 2, &all, &client, vip);
    };
    ask_all(&lab, "two workers");

    // The pods' taps were made with a queue per worker; one worker takes them as they are.
    lab.restart_with_workers(1);
    ask_all(&lab, "restarted with one worker");
    // And two again (the same binding: the lab goes after its pods).
    lab.restart_with_workers(WORKERS);
    ask_all(&lab, "restarted with two workers");
    assert_handed_over(&lab, "after the restarts");
}
