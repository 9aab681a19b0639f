//! End-to-end: three nodes on one machine, each a network namespace running its own `podwire
//! daemon` with etcd as the source, their uplinks on a shared underlay (the lab of `podwire
//! bench cluster`, see support/cluster.rs). Pods on different nodes reach each other through
//! VXLAN with the right MTU (also on a 9000-byte uplink), a ClusterIP spreads over the nodes,
//! a policy on one node blocks a pod on another, a node leaves and comes back whole, and a
//! restart keeps the streams through it. Each test ends by checking that the nodes kept nothing of its pods.

#[path = "support/cluster.rs"]
mod cluster;
mod support;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::Duration;

use cluster::*;
use podwire_model::attach::NetworkMtu;
use podwire_model::config::POD_GATEWAY_V4;
use support::cni::{assert_ping, ping};
use support::services::{Service, TcpConn as ServiceConn, tcp_ask};
use support::tcp::iperf3;
use support::{KillOnDrop, podwire, root_or_skip};

/// The server port of every pod here (the `http` port of their Pod objects).
const PORT: u16 = manifest::SERVER_PORT;
/// VXLAN over an IPv4 underlay: outer IPv4 (20), UDP (8), VXLAN (8) and inner Ethernet (14).
const VXLAN_OVERHEAD: u32 = 50;

/// The MTU of `ifname` in the namespace `netns`.
fn mtu(netns: &str, ifname: &str) -> u32 {
    let out = support::ok("ip", &["-j", "-n", netns, "link", "show", "dev", ifname]);
    let links: serde_json::Value = serde_json::from_str(&out).expect("ip -j prints JSON");
    links[0]["mtu"]
        .as_u64()
        .and_then(|m| u32::try_from(m).ok())
        .unwrap_or_else(|| panic!("no MTU for {ifname} in {netns}: {out}"))
}

/// `ping ARGS` from `pod`: whether it answered, and what it printed.
fn ping_with(pod: &Pod, args: &[&str]) -> (bool, String) {
    let mut all = vec!["ping"];
    all.extend_from_slice(args);
    let out = netns(pod).run(&all);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Runs `test` as root on a lab started with `options`, then checks that the nodes kept
/// nothing of the pods it made (they are dropped when it returns).
fn on_cluster(options: LabOptions, test: impl FnOnce(&mut Cluster)) {
    if !root_or_skip() {
        return;
    }
    let mut cluster = Cluster::start(options);
    test(&mut cluster);
    cluster.finish();
}

#[test]
fn pods_on_different_nodes_reach_each_other_through_the_tunnel_with_its_mtu() {
    on_cluster(LabOptions::default(), |cluster| {
        let a = cluster.pod(0, "a", &[("app", "a")]);
        let b = cluster.pod(1, "b", &[("app", "b")]);
        let c = cluster.pod(2, "c", &[("app", "c")]);
        let _server = PodServer::start(&b, "b", PORT).expect("a server in pod b");
        for v6 in [false, true] {
            for (from, to) in [(&a, &b), (&b, &c), (&c, &a)] {
                assert_ping(&netns(from), &to.ip(v6).unwrap().to_string());
            }
            let to = SocketAddr::new(b.ip(v6).unwrap(), PORT);
            let mut conn = TcpConn::open(&a, to, Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("TCP from a on node1 to b on node2 ({to}): {e:#}"));
            assert_eq!(conn.server, "b", "{to}");
            conn.echo()
                .unwrap_or_else(|e| panic!("echo over {to}: {e}"));
        }
        the_tunnel_carries_exactly_its_mtu(cluster, 1500, &[&a, &b, &c]);
    });
}

#[test]
fn on_a_jumbo_uplink_pods_get_its_mtu_less_vxlan_and_use_all_of_it() {
    let options = LabOptions {
        nodes: 2,
        uplink_mtu: 9000,
        ..LabOptions::default()
    };
    on_cluster(options, |cluster| {
        let a = cluster.pod(0, "a", &[("app", "a")]);
        let b = cluster.pod(1, "b", &[("app", "b")]);
        for v6 in [false, true] {
            assert_ping(&netns(&a), &b.ip(v6).unwrap().to_string());
        }
        the_tunnel_carries_exactly_its_mtu(cluster, 9000, &[&a, &b]);
        // A TCP stream at that MTU: the pods' MSS follows it, and the switch cuts their large
        // segments to it before encapsulation.
        iperf3(
            &netns(&a),
            &netns(&b),
            &b.ip(false).unwrap().to_string(),
            false,
        );
    });
}

/// What the pods (the first on node1, the second on node2) of a lab whose uplinks have the
/// MTU `uplink_mtu` must see of the tunnel between them: their MTU is the uplink's less
/// VXLAN's, `GET /v1/networks` and `ctl show networks` say so and why, the largest packets
/// that fit cross unfragmented, one byte more is refused by the pod's own kernel, and a pod
/// whose link claims more learns the tunnel's MTU from the switch's ICMP.
fn the_tunnel_carries_exactly_its_mtu(cluster: &Cluster, uplink_mtu: u32, pods: &[&Pod]) {
    let (a, b) = (pods[0], pods[1]);
    let node1 = cluster.node(0);
    let uplink = mtu(node1.namespace.name(), node::UPLINK_DEVICE);
    assert_eq!(
        uplink,
        uplink_mtu,
        "the lab's uplink {}",
        node::UPLINK_DEVICE
    );
    let tunnel = uplink - VXLAN_OVERHEAD;
    for pod in pods {
        assert_eq!(
            mtu(pod.namespace.name(), "eth0"),
            tunnel,
            "pod {}'s MTU should be the uplink's {uplink} less VXLAN's {VXLAN_OVERHEAD}",
            pod.name
        );
    }
    let source = format!("tunnel over {}, MTU {uplink}", node::UPLINK);
    let network = node1
        .network(POD_NETWORK)
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(
        network.mtu,
        Some(NetworkMtu {
            mtu: tunnel,
            source: source.clone()
        }),
        "GET /v1/networks of node1"
    );
    let shown = node1
        .ctl(&["show", "networks"], "")
        .unwrap_or_else(|e| panic!("{e:#}"));
    let row = shown
        .lines()
        .find(|line| line.starts_with(&format!("{POD_NETWORK} ")))
        .unwrap_or_else(|| panic!("no row of network {POD_NETWORK}:\n{shown}"));
    assert!(
        row.contains(&format!(" {tunnel}  {source}  ")),
        "ctl show networks should give {POD_NETWORK} MTU {tunnel} from the {source}:\n{shown}"
    );

    let b4 = b.ip(false).unwrap().to_string();
    let b6 = b.ip(true).unwrap().to_string();
    // The largest packets the tunnel takes, and a 1400-byte one, not fragmented.
    for (size, to) in [
        ((tunnel - 28).to_string(), &b4),
        ((tunnel - 48).to_string(), &b6),
        ("1400".to_owned(), &b4),
    ] {
        let (answered, text) = ping_with(a, &["-c", "2", "-W", "2", "-M", "do", "-s", &size, to]);
        assert!(
            answered,
            "a DF ping of {size} bytes to {to} through the tunnel:\n{text}"
        );
    }
    // One byte more than fits is refused by the pod's own kernel, which knows the MTU.
    let (size4, size6) = ((tunnel - 27).to_string(), (tunnel - 47).to_string());
    let (answered, text) = ping_with(a, &["-c", "1", "-W", "2", "-M", "do", "-s", &size4, &b4]);
    assert!(
        !answered && names_mtu(&text, tunnel),
        "ping -M do -s {size4}:\n{text}"
    );
    // A pod that thinks its link is larger learns the tunnel's MTU from the switch's ICMP.
    let raise = |to: u32| netns(a).ok(&["ip", "link", "set", "eth0", "mtu", &to.to_string()]);
    raise(uplink);
    let (v4_ok, v4) = ping_with(
        a,
        &[
            "-c", "3", "-i", "0.3", "-W", "2", "-M", "do", "-s", &size4, &b4,
        ],
    );
    let (v6_ok, v6) = ping_with(
        a,
        &[
            "-c", "3", "-i", "0.3", "-W", "2", "-M", "do", "-s", &size6, &b6,
        ],
    );
    raise(tunnel);
    assert!(
        !v4_ok && names_mtu(&v4, tunnel),
        "an oversized IPv4 packet should get \"fragmentation needed\" with MTU {tunnel}:\n{v4}"
    );
    assert!(
        !v6_ok && names_mtu(&v6, tunnel),
        "an oversized IPv6 packet should get \"packet too big\" with MTU {tunnel}:\n{v6}"
    );
}

#[test]
fn an_iperf3_stream_crosses_the_tunnel_both_ways_over_ipv4_and_ipv6() {
    // Large segments from a pod's tap are cut to the tunnel's MTU before encapsulation and
    // merged again toward the other pod: iperf3 checks that every byte arrives.
    on_cluster(LabOptions::default(), |cluster| {
        let a = cluster.pod(0, "a", &[("app", "a")]);
        let b = cluster.pod(1, "b", &[("app", "b")]);
        for v6 in [false, true] {
            let to = b.ip(v6).unwrap().to_string();
            for reverse in [false, true] {
                iperf3(&netns(&a), &netns(&b), &to, reverse);
            }
        }
    });
}

#[test]
fn a_cluster_ip_spreads_over_endpoints_on_every_node() {
    on_cluster(LabOptions::default(), |cluster| {
        let backends: Vec<(Pod, support::services::Backend)> = (0..3)
            .map(|n| {
                let pod = cluster.pod(n, &format!("web-{n}"), &[("app", "web")]);
                let server = support::services::Backend::start(&netns(&pod), &pod.name, PORT);
                (pod, server)
            })
            .collect();
        let client = cluster.pod(0, "client", &[("app", "client")]);
        let cluster_ip = IpAddr::V4(Ipv4Addr::new(10, 96, 0, 50));
        cluster.apply(&Service::new("web", cluster_ip, "web").yaml());
        let want: BTreeSet<IpAddr> = backends.iter().map(|(p, _)| p.ip(false).unwrap()).collect();
        let client_node = cluster.node(0).client();
        cluster.wait_until(
            CONVERGE,
            "node1 should see an endpoint on every node",
            || {
                let endpoints = node::block_on(client_node.cluster_endpoints())
                    .map_err(|e| format!("{e:#}"))?
                    .map_err(|e| e.to_string())?;
                let got: BTreeSet<IpAddr> = endpoints
                    .iter()
                    .filter(|e| e.service == "web" && e.ready)
                    .map(|e| e.address)
                    .collect();
                if got == want {
                    Ok(())
                } else {
                    Err(format!("it has {got:?}, not {want:?}"))
                }
            },
        );
        let to = SocketAddr::new(cluster_ip, support::services::SERVICE_PORT);
        let answered: BTreeSet<String> = (0..60)
            .map(|i| {
                tcp_ask(Some(&netns(&client)), to)
                    .unwrap_or_else(|e| panic!("connection {i} to {to}: {e}"))
                    .backend
            })
            .collect();
        let every: BTreeSet<String> = backends.iter().map(|(p, _)| p.name.clone()).collect();
        assert_eq!(
            answered, every,
            "60 connections to the ClusterIP should reach the backends on all three nodes"
        );
    });
}

#[test]
fn a_policy_on_one_node_blocks_a_pod_on_another() {
    on_cluster(LabOptions::default(), |cluster| {
        let guarded = cluster.pod(1, "guarded", &[("app", "guarded")]);
        let _server = support::services::Backend::start(&netns(&guarded), "guarded", PORT);
        let allowed = cluster.pod(0, "allowed", &[("app", "ok")]);
        let other = cluster.pod(2, "other", &[("app", "other")]);
        let to = SocketAddr::new(guarded.ip(false).unwrap(), PORT);
        // A connection a policy lets through is answered at once; one it drops is given a
        // second (TCP sends the SYN again only after that) before it counts as refused.
        let connects = |from: &Pod, patience: Duration| {
            ServiceConn::connect_within(Some(&netns(from)), to, patience).and_then(|mut c| c.ask())
        };
        let (patient, refused) = (Duration::from_secs(5), Duration::from_secs(1));
        for from in [&allowed, &other] {
            connects(from, patient).unwrap_or_else(|e| {
                panic!("before any policy, {} should reach {to}: {e}", from.name)
            });
        }
        cluster.apply(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: only-ok\n  \
             namespace: default\nspec:\n  podSelector:\n    matchLabels:\n      app: guarded\n  \
             policyTypes: [Ingress]\n  ingress:\n  - from:\n    - podSelector:\n        \
             matchLabels:\n          app: ok\n",
        );
        cluster.wait_until(
            CONVERGE,
            "the policy on node2 should refuse pod other on node3",
            || match connects(&other, refused) {
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Ok(()),
                Err(e) => Err(format!("it failed otherwise: {e}")),
                Ok(answer) => Err(format!("it still connects: {answer}")),
            },
        );
        let answer = connects(&allowed, patient).unwrap_or_else(|e| {
            panic!("the policy allows app=ok: pod allowed should connect: {e}")
        });
        assert_eq!(answer.backend, "guarded");
    });
}

/// The pod CIDRs node `n` claimed, written out.
fn pod_cidrs(cluster: &Cluster, n: usize) -> Vec<String> {
    cluster
        .node(n)
        .pod_cidrs()
        .unwrap_or_else(|e| panic!("{e:#}"))
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn a_node_that_leaves_takes_its_routes_and_comes_back_whole() {
    let options = LabOptions::default();
    let lease = Duration::from_secs(options.lease_ttl_s);
    on_cluster(options, |cluster| {
        let a = cluster.pod(0, "a", &[]);
        let z = cluster.pod(2, "z", &[]);
        let z4 = z.ip(false).unwrap().to_string();
        assert_ping(&netns(&a), &z4);
        let node3 = 2;
        let cidrs = pod_cidrs(cluster, node3);
        assert_eq!(
            cidrs.len(),
            2,
            "node3 should have claimed a CIDR per family: {cidrs:?}"
        );
        let before = cluster
            .node(node3)
            .snapshot()
            .unwrap_or_else(|e| panic!("{e:#}"));
        let others = [0, 1];
        let routes_before: Vec<BTreeSet<String>> =
            others.iter().map(|&n| cluster.route_lines(n)).collect();
        let routes_to = |cluster: &Cluster, n: usize| -> Vec<String> {
            cluster
                .route_lines(n)
                .into_iter()
                .filter(|r| cidrs.iter().any(|c| r.starts_with(&format!("{c} "))))
                .collect()
        };
        for &n in &others {
            assert_eq!(
                routes_to(cluster, n).len(),
                2,
                "node{} should route node3's pod CIDRs {cidrs:?}:\n{:?}",
                n + 1,
                cluster.route_lines(n)
            );
        }

        cluster
            .node_mut(node3)
            .stop()
            .unwrap_or_else(|e| panic!("{e:#}"));
        let gone_by = lease + CONVERGE;
        cluster.wait_until(
            gone_by,
            "the other nodes should drop node3's routes",
            || {
                let left: Vec<String> =
                    others.iter().flat_map(|&n| routes_to(cluster, n)).collect();
                if left.is_empty() {
                    Ok(())
                } else {
                    Err(format!("they still have {left:?}"))
                }
            },
        );

        cluster
            .node_mut(node3)
            .start()
            .unwrap_or_else(|e| panic!("{e:#}"));
        let again = pod_cidrs(cluster, node3);
        assert_eq!(again, cidrs, "node3 should get its own pod CIDRs back");
        cluster.wait_until(
            CONVERGE,
            "the other nodes' routes should be as before",
            || {
                let now: Vec<BTreeSet<String>> =
                    others.iter().map(|&n| cluster.route_lines(n)).collect();
                if now == routes_before {
                    Ok(())
                } else {
                    Err(format!("before {routes_before:#?}, now {now:#?}"))
                }
            },
        );
        cluster.wait_until(CONVERGE, "pod z on node3 should answer again", || {
            let out = ping(&netns(&a), &z4);
            if out.status.success() {
                Ok(())
            } else {
                Err(String::from_utf8_lossy(&out.stdout).into_owned())
            }
        });
        let after = cluster
            .node(node3)
            .snapshot()
            .unwrap_or_else(|e| panic!("{e:#}"));
        let changes = before.changes(&after);
        assert!(
            changes.is_empty(),
            "node3's kernel should be as before it left:\n{}",
            changes.join("\n")
        );
    });
}

/// `podwire memif responder` as the application of memif pod `pod` at `ip`: answers ARP and
/// echoes UDP port 7, reconnecting whenever the switch comes back.
fn memif_responder(pod: &Pod, ip: IpAddr) -> KillOnDrop {
    let socket = pod
        .memif_socket
        .as_ref()
        .unwrap_or_else(|| panic!("the ADD result of memif pod {} has no socketPath", pod.name));
    let child = Command::new(podwire())
        .args(["memif", "responder", "--role", "client", "--socket"])
        .arg(socket)
        .args(["--mac", "02:c1:00:00:00:01", "--ip", &format!("{ip}/32")])
        .args(["--gateway", &POD_GATEWAY_V4.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start podwire memif responder");
    KillOnDrop(Some(child))
}

#[test]
fn a_restart_keeps_a_tcp_and_a_memif_stream_going() {
    on_cluster(
        LabOptions {
            memif_network: true,
            ..LabOptions::default()
        },
        |cluster| {
            let a = cluster.pod(0, "a", &[]);
            let b = cluster.pod(1, "b", &[]);
            let m = cluster.memif_pod(0, "m");
            let _server = PodServer::start(&b, "b", PORT).expect("a server in pod b");
            let m4 = m.ip(false).unwrap();
            let _responder = memif_responder(&m, m4);
            let interval = Duration::from_millis(1);
            let tcp = Prober::tcp(&a, SocketAddr::new(b.ip(false).unwrap(), PORT), interval)
                .unwrap_or_else(|e| panic!("the TCP stream from a on node1 to b on node2: {e:#}"));
            let memif = Prober::udp(&a, SocketAddr::new(m4, 7), interval)
                .unwrap_or_else(|e| panic!("the stream from a to memif pod m: {e:#}"));
            cluster.wait_until(CONVERGE, "both streams should flow", || {
                match (tcp.answered(), memif.answered()) {
                    (0, _) => Err("the TCP stream has no answer".into()),
                    (_, 0) => Err("the memif pod has not answered".into()),
                    _ => Ok(()),
                }
            });
            let node1 = cluster.node_mut(0);
            node1
                .stop()
                .unwrap_or_else(|e| panic!("stop of node1: {e:#}"));
            // Nothing is forwarded now: answers to what is sent from here on show that both
            // streams resumed.
            let first_after = (tcp.sent(), memif.sent());
            node1
                .start()
                .unwrap_or_else(|e| panic!("start of node1 again: {e:#}"));
            cluster.wait_until(
                CONVERGE,
                "both streams should resume after the restart",
                || match (
                    tcp.answered_from(first_after.0),
                    memif.answered_from(first_after.1),
                ) {
                    (0, _) => Err("the TCP stream has not resumed".into()),
                    (_, 0) => Err("the memif stream has not resumed".into()),
                    _ => Ok(()),
                },
            );
            std::thread::sleep(Duration::from_millis(300));
            let tcp = tcp.stop(traffic::ANSWER_TIMEOUT);
            let memif = memif.stop(Duration::from_millis(500));
            for (what, report) in [("TCP", &tcp), ("memif", &memif)] {
                println!(
                    "{what} stream through the restart of node1: forwarding stopped for {:.1} ms, \
                 {} of {} packets lost",
                    report.longest_gap().as_secs_f64() * 1e3,
                    report.lost(),
                    report.sent
                );
            }
            assert!(
                tcp.error.is_none() && tcp.lost() == 0,
                "the TCP connection should survive the restart with every word echoed: {} sent, {} \
             back, {:?}",
                tcp.sent,
                tcp.answered(),
                tcp.error
            );
        },
    );
}
