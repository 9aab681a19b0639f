//! NetworkPolicy through the nodes, on the NAT tests' network: pod A on [`POD_IF`], pod B
//! (the Services' endpoint) on [`POD_B_IF`], hosts outside behind router A on the uplink.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use podwire_wire::ethernet::EthernetAddress;
use std::sync::Arc;

use crate::interface::IfIndex;
use crate::nat::flow::{TCP, UDP};
use crate::nodes::ip_common::harness::frames::{from_pod, from_router, raw, refill_ip4_checksum};
use crate::nodes::ip_common::harness::*;
use crate::nodes::nat::tests::*;
use crate::policy::classifier::{Classifier, ClassifierBuilder, PeerMatch, PortMatch, RuleSlot};
use crate::policy::table::{Action, DirectionRules, PodRules, PolicyTable, RuleInfo};
use crate::policy::tier::{Tier, TierAction, TierBuilder, TierClassifier};

/// A rule: its name, the remote prefixes it allows (`None`: any), its ports (`None`: any).
type Rule = (
    &'static str,
    Option<Vec<(IpAddr, u8)>>,
    Option<Vec<PortMatch>>,
);

fn host(ip: impl Into<IpAddr>) -> Option<Vec<(IpAddr, u8)>> {
    Some(vec![(ip.into(), 32)])
}

fn port(protocol: u8, port: u16) -> Option<Vec<PortMatch>> {
    Some(vec![PortMatch {
        protocol,
        ports: Some((port, port)),
    }])
}

/// A ClusterNetworkPolicy rule: its policy's name, its action, the remote prefixes it
/// matches (`None`: any), its ports (`None`: any).
type TierRule = (
    &'static str,
    TierAction,
    Option<Vec<(IpAddr, u8)>>,
    Option<Vec<PortMatch>>,
);

/// One direction of a pod: its Admin tier rules, its NetworkPolicy rules (`Some`: isolated;
/// an empty list: nothing is allowed), its Baseline tier rules.
#[derive(Default, Clone, Copy)]
struct Direction<'r> {
    admin: &'r [TierRule],
    policies: Option<&'r [Rule]>,
    baseline: &'r [TierRule],
}

fn isolated(rules: &[Rule]) -> Direction<'_> {
    Direction {
        policies: Some(rules),
        ..Direction::default()
    }
}

fn peer_matches(peers: &Option<Vec<(IpAddr, u8)>>) -> Option<Vec<PeerMatch>> {
    peers.as_ref().map(|peers| {
        peers
            .iter()
            .map(|&prefix| PeerMatch {
                prefix,
                except: Vec::new(),
            })
            .collect()
    })
}

/// A policy table built pod by pod; rule slots in the order rules are given.
#[derive(Default)]
struct Policies(PolicyTable);

impl Policies {
    /// `pod` at `addresses`, isolated by NetworkPolicies in each direction given (an empty
    /// list: nothing is allowed).
    fn pod(
        self,
        pod: &str,
        addresses: &[IpAddr],
        ingress: Option<&[Rule]>,
        egress: Option<&[Rule]>,
    ) -> Self {
        let direction = |policies| Direction {
            policies,
            ..Direction::default()
        };
        self.pod_tiers(pod, addresses, direction(ingress), direction(egress))
    }

    /// `pod` at `addresses`, with the tiers of each direction.
    fn pod_tiers(
        mut self,
        pod: &str,
        addresses: &[IpAddr],
        ingress: Direction<'_>,
        egress: Direction<'_>,
    ) -> Self {
        let name: Arc<str> = pod.into();
        let ingress = self.direction(&name, ingress);
        let egress = self.direction(&name, egress);
        let rules = Arc::new(PodRules {
            name,
            ingress,
            egress,
        });
        for &address in addresses {
            self.0.pods.insert(address, rules.clone());
        }
        self
    }

    fn direction(&mut self, pod: &Arc<str>, rules: Direction<'_>) -> Option<DirectionRules> {
        if rules.admin.is_empty() && rules.policies.is_none() && rules.baseline.is_empty() {
            return None;
        }
        let admin = self.tier(pod, Tier::Admin, rules.admin);
        let policies = rules.policies.map(|rules| self.classifier(pod, rules));
        let baseline = self.tier(pod, Tier::Baseline, rules.baseline);
        Some(DirectionRules {
            admin,
            policies,
            baseline,
        })
    }

    fn slot(&mut self, pod: &Arc<str>, rule: String, action: Action) -> RuleSlot {
        let slot = RuleSlot(self.0.rules.len() as u32);
        self.0.rules.push(RuleInfo {
            pod: pod.clone(),
            rule: rule.into(),
            action,
        });
        slot
    }

    fn tier(&mut self, pod: &Arc<str>, tier: Tier, rules: &[TierRule]) -> Option<TierClassifier> {
        if rules.is_empty() {
            return None;
        }
        let mut b = TierBuilder::new();
        for (name, action, peers, ports) in rules {
            let rule = format!("ClusterNetworkPolicy/{name}");
            let slot = self.slot(pod, rule, Action::Tier(tier, *action));
            b.add(
                slot,
                *action,
                peer_matches(peers).as_deref(),
                ports.as_deref(),
            );
        }
        Some(b.build())
    }

    fn classifier(&mut self, pod: &Arc<str>, rules: &[Rule]) -> Classifier {
        let mut b = ClassifierBuilder::new();
        for (name, peers, ports) in rules {
            let slot = self.slot(pod, format!("default/{name}"), Action::Allow);
            b.add(slot, peer_matches(peers).as_deref(), ports.as_deref());
        }
        b.build()
    }

    fn harness(self, masquerade: bool) -> Harness {
        let mut tables = crate::nodes::nat::tests::network(services(), masquerade);
        let mut table = self.0;
        table.generation = 7;
        table.epoch = 3;
        tables.policies = Arc::new(table);
        Harness::with_tables(tables)
    }
}

fn a() -> [IpAddr; 2] {
    [POD_IP4.into(), POD_IP6.into()]
}

fn b() -> [IpAddr; 2] {
    [POD_B_IP4.into(), POD_B_IP6.into()]
}

/// Sends one frame in on `interface` and runs the graph; returns its trace id.
fn send(h: &mut Harness, interface: IfIndex, frame: &[u8]) -> u32 {
    let id = h.receive(interface, frame);
    h.run();
    id
}

/// Asserts the last frame sent went nowhere, dropped by `node` for `reason`.
fn assert_dropped(h: &mut Harness, node: &str, reason: &str) {
    assert_eq!(
        h.drops(node, reason),
        1,
        "drops {:?}",
        h.graph.drop_counts()
    );
    assert_eq!(h.queued(), 0, "nothing sent");
}

const A_CLIENT: u16 = 40000;

fn a4(port: u16) -> SocketAddr {
    sa(POD_IP4, port)
}

fn b4(port: u16) -> SocketAddr {
    sa(POD_B_IP4, port)
}

#[test]
fn an_isolated_pod_refuses_what_no_rule_allows() {
    let rules: &[Rule] = &[("allow-a", host(POD_IP4), port(TCP, 8080))];
    let mut h = Policies::default()
        .pod("default/b", &b(), Some(rules), None)
        .harness(false);
    let outside = sa(OUTSIDE4, 5555);
    let id = send(
        &mut h,
        UPLINK_IF,
        &frame(from_router(), outside, b4(8080), L4::Syn),
    );
    assert_dropped(&mut h, "ip4-nat-in", "policy-denied-ingress");
    assert!(
        noted(&h, id, "ip4-nat-in").contains("no ingress rule of default/b"),
        "{}",
        noted(&h, id, "ip4-nat-in")
    );
    send(
        &mut h,
        POD_IF,
        &frame(from_pod(), a4(A_CLIENT), b4(9999), L4::Syn),
    );
    assert_eq!(
        h.drops("ip4-nat-in", "policy-denied-ingress"),
        2,
        "another port"
    );
    send(
        &mut h,
        POD_IF,
        &frame(from_pod(), a4(A_CLIENT), b4(8080), L4::Udp),
    );
    assert_eq!(
        h.drops("ip4-nat-in", "policy-denied-ingress"),
        3,
        "another protocol"
    );
    assert_eq!(active(&h), 0, "nothing denied is tracked");
}

#[test]
fn an_allowed_connection_passes_and_so_do_its_replies() {
    // A accepts nothing: B's answers pass because they answer A's connection.
    let mut h = Policies::default()
        .pod("default/a", &a(), Some(&[]), None)
        .pod(
            "default/b",
            &b(),
            Some(&[("allow-a", host(POD_IP4), port(TCP, 8080))]),
            None,
        )
        .harness(false);
    let id = send(
        &mut h,
        POD_IF,
        &frame(from_pod(), a4(A_CLIENT), b4(8080), L4::Syn),
    );
    assert_eq!(seen(&one_out(&mut h, POD_B_IF)).dst, b4(8080));
    assert!(
        noted(&h, id, "ip4-nat-in").contains("default/allow-a (default/b)"),
        "{}",
        noted(&h, id, "ip4-nat-in")
    );
    assert!(
        !h.path(id).contains(&"ip4-policy"),
        "read and checked once, by ip4-nat-in: {:?}",
        h.path(id)
    );
    assert_eq!(active(&h), 1, "a session remembers the verdict");

    send(
        &mut h,
        POD_B_IF,
        &frame(from_pod_b(), b4(8080), a4(A_CLIENT), L4::SynAck),
    );
    assert_eq!(seen(&one_out(&mut h, POD_IF)).src, b4(8080));

    // A new connection from B to A is A's ingress to decide.
    send(
        &mut h,
        POD_B_IF,
        &frame(from_pod_b(), b4(8080), a4(A_CLIENT + 1), L4::Syn),
    );
    assert_dropped(&mut h, "ip4-nat-in", "policy-denied-ingress");
}

#[test]
fn egress_isolation_refuses_destinations_no_rule_allows() {
    let rules: &[Rule] = &[("to-b", host(POD_B_IP4), None)];
    let mut h = Policies::default()
        .pod("default/a", &a(), None, Some(rules))
        .harness(false);
    let outside = sa(OUTSIDE4, 80);
    let id = send(
        &mut h,
        POD_IF,
        &frame(from_pod(), a4(A_CLIENT), outside, L4::Syn),
    );
    assert_dropped(&mut h, "ip4-nat-in", "policy-denied-egress");
    assert!(noted(&h, id, "ip4-nat-in").contains("no egress rule of default/a"));
    // Any port and protocol to B, ICMP echo included.
    send(
        &mut h,
        POD_IF,
        &frame(from_pod(), a4(A_CLIENT), b4(1), L4::Udp),
    );
    one_out(&mut h, POD_B_IF);
    send(&mut h, POD_IF, &frame(from_pod(), a4(7), b4(7), L4::Echo));
    one_out(&mut h, POD_B_IF);
    send(
        &mut h,
        POD_B_IF,
        &frame(from_pod_b(), b4(7), a4(7), L4::EchoReply),
    );
    one_out(&mut h, POD_IF);
}

#[test]
fn the_reply_of_an_allowed_egress_connection_passes_ingress_isolation() {
    let mut h = Policies::default()
        .pod(
            "default/a",
            &a(),
            Some(&[]),
            Some(&[("web-out", Some(vec![(OUTSIDE4.into(), 16)]), port(TCP, 80))]),
        )
        .harness(false);
    let outside = sa(OUTSIDE4, 80);
    send(
        &mut h,
        POD_IF,
        &frame(from_pod(), a4(A_CLIENT), outside, L4::Syn),
    );
    assert_eq!(seen(&one_out(&mut h, UPLINK_IF)).dst, outside);
    send(
        &mut h,
        UPLINK_IF,
        &frame(from_router(), outside, a4(A_CLIENT), L4::SynAck),
    );
    assert_eq!(seen(&one_out(&mut h, POD_IF)).src, outside);
    // The same host opening a connection of its own is refused.
    send(
        &mut h,
        UPLINK_IF,
        &frame(from_router(), outside, a4(22), L4::Syn),
    );
    assert_dropped(&mut h, "ip4-nat-in", "policy-denied-ingress");
}

#[test]
fn a_masqueraded_connection_gets_the_masquerade_session_and_its_replies_pass() {
    let mut h = Policies::default()
        .pod("default/a", &a(), Some(&[]), Some(&[("any", None, None)]))
        .harness(true);
    let outside = sa(OUTSIDE4, 80);
    send(
        &mut h,
        POD_IF,
        &frame(from_pod(), a4(A_CLIENT), outside, L4::Syn),
    );
    let out = seen(&one_out(&mut h, UPLINK_IF));
    assert_eq!(out.src.ip(), IpAddr::from(UPLINK_IP4), "masqueraded");
    assert_eq!(active(&h), 1, "one session: the masquerade's");
    send(
        &mut h,
        UPLINK_IF,
        &frame(from_router(), outside, out.src, L4::SynAck),
    );
    assert_eq!(seen(&one_out(&mut h, POD_IF)).dst, a4(A_CLIENT));
}

#[test]
fn a_service_flow_is_checked_with_the_endpoint_and_its_target_port() {
    let vip = sa(VIP4, 80);
    // B accepts A on the target port 8080: the Service's port 80 is not what B sees.
    let mut h = Policies::default()
        .pod(
            "default/a",
            &a(),
            None,
            Some(&[("to-b", host(POD_B_IP4), port(TCP, 8080))]),
        )
        .pod(
            "default/b",
            &b(),
            Some(&[("from-a", host(POD_IP4), port(TCP, 8080))]),
            None,
        )
        .harness(false);
    let id = send(
        &mut h,
        POD_IF,
        &frame(from_pod(), a4(A_CLIENT), vip, L4::Syn),
    );
    assert_eq!(seen(&one_out(&mut h, POD_B_IF)).dst, b4(8080));
    let noted = noted(&h, id, "ip4-nat-in");
    assert!(
        noted.contains("default/to-b (default/a) and default/from-a (default/b)"),
        "{noted}"
    );
    send(
        &mut h,
        POD_B_IF,
        &frame(from_pod_b(), b4(8080), a4(A_CLIENT), L4::SynAck),
    );
    assert_eq!(
        seen(&one_out(&mut h, POD_IF)).src,
        vip,
        "the reply un-DNATed"
    );

    let mut h = Policies::default()
        .pod(
            "default/b",
            &b(),
            Some(&[("service-port", host(POD_IP4), port(TCP, 80))]),
            None,
        )
        .harness(false);
    send(
        &mut h,
        POD_IF,
        &frame(from_pod(), a4(A_CLIENT), vip, L4::Syn),
    );
    assert_dropped(&mut h, "ip4-nat-in", "policy-denied-ingress");
    assert_eq!(active(&h), 0);

    let mut h = Policies::default()
        .pod(
            "default/a",
            &a(),
            None,
            Some(&[("to-vip", host(VIP4), None)]),
        )
        .harness(false);
    send(
        &mut h,
        POD_IF,
        &frame(from_pod(), a4(A_CLIENT), vip, L4::Syn),
    );
    assert_dropped(&mut h, "ip4-nat-in", "policy-denied-egress");
}

#[test]
fn the_node_always_reaches_its_pods() {
    let mut h = Policies::default()
        .pod("default/b", &b(), Some(&[]), None)
        .harness(false);
    // From a node address.
    let node = sa(UPLINK_IP4, 40000);
    send(
        &mut h,
        UPLINK_IF,
        &frame(from_router(), node, b4(8080), L4::Syn),
    );
    one_out(&mut h, POD_B_IF);
    // From the host interface, whatever the source.
    let mut tables = h.tables.clone();
    let mut services = (*tables.services).clone();
    let mut node_nat = services.node().clone();
    node_nat.host_interface = Some(UPLINK_IF);
    services.set_node(node_nat);
    tables.services = Arc::new(services);
    h.tables = tables;
    send(
        &mut h,
        UPLINK_IF,
        &frame(from_router(), sa(OUTSIDE4, 1), b4(8080), L4::Syn),
    );
    one_out(&mut h, POD_B_IF);
    assert_eq!(
        h.state.policy_hits.hits.iter().sum::<u64>(),
        0,
        "no rule allowed them"
    );
}

#[test]
fn an_icmp_error_about_an_allowed_connection_passes() {
    let mut h = Policies::default()
        .pod("default/a", &a(), Some(&[]), None)
        .pod(
            "default/b",
            &b(),
            Some(&[("dns", None, port(UDP, 5353))]),
            None,
        )
        .harness(false);
    send(
        &mut h,
        POD_IF,
        &frame(from_pod(), a4(A_CLIENT), b4(5353), L4::Udp),
    );
    let sent = one_out(&mut h, POD_B_IF);
    let quote = &sent[14..];
    send(
        &mut h,
        POD_B_IF,
        &port_unreachable(from_pod_b(), POD_B_IP4.into(), POD_IP4.into(), quote),
    );
    assert!(seen(&one_out(&mut h, POD_IF)).port_unreachable);
    // An error about nothing A sent is ICMP from outside, which A does not accept.
    let other = frame(from_pod(), a4(A_CLIENT), sa(OUTSIDE4, 53), L4::Udp);
    send(
        &mut h,
        UPLINK_IF,
        &port_unreachable(from_router(), OUTSIDE4.into(), POD_IP4.into(), &other[14..]),
    );
    assert_dropped(&mut h, "ip4-policy", "policy-denied-ingress");
}

/// A GRE packet (a protocol without ports) from `src` to pod B, in a frame with `macs`.
fn gre_to_b(macs: (EthernetAddress, EthernetAddress), src: Ipv4Addr) -> Vec<u8> {
    let mut ip = vec![0x45, 0, 0, 28, 0, 0, 0, 0, 64, GRE, 0, 0];
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&POD_B_IP4.octets());
    ip.extend_from_slice(&[0, 0, 0x08, 0x00, 0, 0, 0, 0]);
    let mut frame = raw(macs, &ip);
    refill_ip4_checksum(&mut frame);
    frame
}

const GRE: u8 = 47;

#[test]
fn a_packet_without_ports_is_checked_by_the_policy_node_with_port_0() {
    // B accepts anything from A (no ports: every protocol), nothing else.
    let mut h = Policies::default()
        .pod(
            "default/b",
            &b(),
            Some(&[("from-a", host(POD_IP4), None)]),
            None,
        )
        .harness(false);
    let id = send(&mut h, POD_IF, &gre_to_b(from_pod(), POD_IP4));
    one_out(&mut h, POD_B_IF);
    assert!(
        noted(&h, id, "ip4-policy").contains("default/from-a (default/b)"),
        "{:?}",
        h.steps(id)
    );
    let id = send(&mut h, UPLINK_IF, &gre_to_b(from_router(), OUTSIDE4));
    assert_dropped(&mut h, "ip4-policy", "policy-denied-ingress");
    assert!(
        noted(&h, id, "ip4-policy").contains("protocol 47 port 0"),
        "{:?}",
        h.steps(id)
    );
    assert_eq!(active(&h), 0, "no session remembers a packet without ports");
    assert_eq!(h.state.policy_hits.hits, vec![1]);
}

#[test]
fn rules_count_the_connections_they_allow() {
    let mut h = Policies::default()
        .pod(
            "default/b",
            &b(),
            Some(&[
                ("web", host(POD_IP4), port(TCP, 8080)),
                ("dns", None, port(UDP, 5353)),
            ]),
            None,
        )
        .harness(false);
    for client in [A_CLIENT, A_CLIENT + 1] {
        send(
            &mut h,
            POD_IF,
            &frame(from_pod(), a4(client), b4(5353), L4::Udp),
        );
        one_out(&mut h, POD_B_IF);
    }
    send(
        &mut h,
        POD_IF,
        &frame(from_pod(), a4(A_CLIENT), b4(8080), L4::Syn),
    );
    one_out(&mut h, POD_B_IF);
    // Later packets of a connection are its session's: not counted again.
    send(
        &mut h,
        POD_IF,
        &frame(from_pod(), a4(A_CLIENT), b4(5353), L4::Udp),
    );
    one_out(&mut h, POD_B_IF);
    assert_eq!(h.state.policy_hits.epoch, 3);
    assert_eq!(h.state.policy_hits.hits, vec![1, 2]);
}

#[test]
fn ipv6_is_checked_alike() {
    let rules: &[Rule] = &[(
        "allow-a",
        Some(vec![(POD_IP6.into(), 128)]),
        port(TCP, 8080),
    )];
    let mut h = Policies::default()
        .pod("default/b", &b(), Some(rules), None)
        .harness(false);
    let (a6, b6) = (sa(POD_IP6, A_CLIENT), sa(POD_B_IP6, 8080));
    send(&mut h, POD_IF, &frame(from_pod(), a6, b6, L4::Syn));
    assert_eq!(seen(&one_out(&mut h, POD_B_IF)).dst, b6);
    send(&mut h, POD_B_IF, &frame(from_pod_b(), b6, a6, L4::SynAck));
    one_out(&mut h, POD_IF);
    send(
        &mut h,
        UPLINK_IF,
        &frame(from_router(), sa(OUTSIDE6, 1), b6, L4::Syn),
    );
    assert_dropped(&mut h, "ip6-nat-in", "policy-denied-ingress");
}

#[test]
fn without_policies_the_node_is_skipped() {
    let mut h = Policies::default().harness(false);
    let id = send(
        &mut h,
        POD_IF,
        &frame(from_pod(), a4(A_CLIENT), b4(8080), L4::Syn),
    );
    one_out(&mut h, POD_B_IF);
    assert!(!h.path(id).contains(&"ip4-policy"));
    assert_eq!(active(&h), 0);
}

#[test]
fn a_flow_from_outside_that_nat_in_tracks_is_checked_there() {
    // By a masquerading uplink, `ip4-nat-in` tracks flows from outside to pods itself.
    let rules: &[Rule] = &[("web", Some(vec![(OUTSIDE4.into(), 32)]), port(TCP, 8080))];
    let mut h = Policies::default()
        .pod("default/b", &b(), Some(rules), None)
        .harness(true);
    send(
        &mut h,
        UPLINK_IF,
        &frame(from_router(), sa(OTHER_OUTSIDE4, 1), b4(8080), L4::Syn),
    );
    assert_dropped(&mut h, "ip4-nat-in", "policy-denied-ingress");
    let outside = sa(OUTSIDE4, 1);
    send(
        &mut h,
        UPLINK_IF,
        &frame(from_router(), outside, b4(8080), L4::Syn),
    );
    one_out(&mut h, POD_B_IF);
    send(
        &mut h,
        POD_B_IF,
        &frame(from_pod_b(), b4(8080), outside, L4::SynAck),
    );
    assert_eq!(
        seen(&one_out(&mut h, UPLINK_IF)).src,
        b4(8080),
        "not masqueraded"
    );
    assert_eq!(h.state.policy_hits.hits, vec![1]);
}

/// B's ingress: `admin` before NetworkPolicies allowing A on TCP 8080 (`np`) or not isolated.
fn b_ingress<'r>(
    admin: &'r [TierRule],
    np: Option<&'r [Rule]>,
    baseline: &'r [TierRule],
) -> Harness {
    Policies::default()
        .pod_tiers(
            "default/b",
            &b(),
            Direction {
                admin,
                policies: np,
                baseline,
            },
            Direction::default(),
        )
        .harness(false)
}

const ALLOW_A: &[Rule] = &[("allow-a", None, None)];

#[test]
fn an_admin_deny_refuses_what_a_network_policy_allows_and_is_counted() {
    let deny: &[TierRule] = &[("no-a", TierAction::Deny, host(POD_IP4), port(TCP, 8080))];
    let np: &[Rule] = &[("allow-a", host(POD_IP4), None)];
    let mut h = b_ingress(deny, Some(np), &[]);
    let id = send(
        &mut h,
        POD_IF,
        &frame(from_pod(), a4(A_CLIENT), b4(8080), L4::Syn),
    );
    assert_dropped(&mut h, "ip4-nat-in", "policy-denied-admin-ingress");
    let noted = noted(&h, id, "ip4-nat-in");
    assert!(
        noted.contains("denied by ClusterNetworkPolicy/no-a (Admin Deny, default/b)"),
        "{noted}"
    );
    assert_eq!(h.state.policy_hits.hits, vec![1, 0], "the Deny rule counts");
    // What the Admin rule does not match, the NetworkPolicy allows.
    send(
        &mut h,
        POD_IF,
        &frame(from_pod(), a4(A_CLIENT), b4(9090), L4::Syn),
    );
    one_out(&mut h, POD_B_IF);
    assert_eq!(h.state.policy_hits.hits, vec![1, 1]);
    assert_eq!(active(&h), 1, "only the allowed connection is tracked");
}

#[test]
fn an_admin_pass_leaves_the_connection_to_network_policies() {
    let pass: &[TierRule] = &[
        ("pass-a", TierAction::Pass, host(POD_IP4), None),
        ("deny-all", TierAction::Deny, None, None),
    ];
    let np: &[Rule] = &[("web", host(POD_IP4), port(TCP, 8080))];
    let mut h = b_ingress(pass, Some(np), &[]);
    let id = send(
        &mut h,
        POD_IF,
        &frame(from_pod(), a4(A_CLIENT), b4(8080), L4::Syn),
    );
    one_out(&mut h, POD_B_IF);
    let noted = noted(&h, id, "ip4-nat-in");
    assert!(
        noted.contains("allowed by default/web (default/b), after passing on ClusterNetworkPolicy/pass-a (Admin Pass, default/b)"),
        "{noted}"
    );
    assert_eq!(
        h.state.policy_hits.hits,
        vec![1, 0, 1],
        "the Pass and the Allow"
    );
    // Passed on, the NetworkPolicies refuse another port: isolation, not the Admin Deny.
    send(
        &mut h,
        POD_IF,
        &frame(from_pod(), a4(A_CLIENT), b4(9090), L4::Syn),
    );
    assert_dropped(&mut h, "ip4-nat-in", "policy-denied-ingress");
    assert_eq!(h.state.policy_hits.hits, vec![2, 0, 1]);
    // Not passed on: the Admin Deny.
    send(
        &mut h,
        UPLINK_IF,
        &frame(from_router(), sa(OUTSIDE4, 1), b4(8080), L4::Syn),
    );
    assert_dropped(&mut h, "ip4-nat-in", "policy-denied-admin-ingress");
}

#[test]
fn the_baseline_decides_only_for_pods_no_network_policy_isolates() {
    let baseline: &[TierRule] = &[("no-outside", TierAction::Deny, host(OUTSIDE4), None)];
    let outside = sa(OUTSIDE4, 1);
    let mut h = b_ingress(&[], None, baseline);
    send(
        &mut h,
        UPLINK_IF,
        &frame(from_router(), outside, b4(8080), L4::Syn),
    );
    assert_dropped(&mut h, "ip4-nat-in", "policy-denied-baseline-ingress");
    send(
        &mut h,
        POD_IF,
        &frame(from_pod(), a4(A_CLIENT), b4(8080), L4::Syn),
    );
    one_out(&mut h, POD_B_IF);
    assert_eq!(
        h.state.policy_hits.hits,
        vec![1],
        "no rule decided A's connection"
    );

    let mut h = b_ingress(&[], Some(ALLOW_A), baseline);
    send(
        &mut h,
        UPLINK_IF,
        &frame(from_router(), outside, b4(8080), L4::Syn),
    );
    one_out(&mut h, POD_B_IF);
    assert_eq!(
        h.state.policy_hits.hits,
        vec![1, 0],
        "the NetworkPolicy allowed it; the Baseline was not asked"
    );
}

#[test]
fn an_egress_accept_still_needs_the_servers_ingress() {
    let accept: &[TierRule] = &[("to-b", TierAction::Accept, host(POD_B_IP4), None)];
    let mut h = Policies::default()
        .pod_tiers(
            "default/a",
            &a(),
            Direction::default(),
            Direction {
                admin: accept,
                ..Direction::default()
            },
        )
        .pod_tiers("default/b", &b(), isolated(&[]), Direction::default())
        .harness(false);
    send(
        &mut h,
        POD_IF,
        &frame(from_pod(), a4(A_CLIENT), b4(8080), L4::Syn),
    );
    assert_dropped(&mut h, "ip4-nat-in", "policy-denied-ingress");
    assert_eq!(
        h.state.policy_hits.hits,
        vec![1],
        "the egress Accept matched"
    );
}

#[test]
fn tier_denials_of_service_flows_are_dropped_by_nat_in() {
    let vip = sa(VIP4, 80);
    let deny: &[TierRule] = &[("no-b", TierAction::Deny, host(POD_B_IP4), port(TCP, 8080))];
    for (tier, reason) in [
        ("admin", "policy-denied-admin-egress"),
        ("baseline", "policy-denied-baseline-egress"),
    ] {
        let egress = match tier {
            "admin" => Direction {
                admin: deny,
                ..Direction::default()
            },
            _ => Direction {
                baseline: deny,
                ..Direction::default()
            },
        };
        let mut h = Policies::default()
            .pod_tiers("default/a", &a(), Direction::default(), egress)
            .harness(false);
        send(
            &mut h,
            POD_IF,
            &frame(from_pod(), a4(A_CLIENT), vip, L4::Syn),
        );
        assert_dropped(&mut h, "ip4-nat-in", reason);
        assert_eq!(active(&h), 0);
        assert_eq!(h.state.policy_hits.hits, vec![1], "{tier}");
    }
    let mut h = b_ingress(
        &[("no-a", TierAction::Deny, host(POD_IP4), None)],
        None,
        &[],
    );
    send(
        &mut h,
        POD_IF,
        &frame(from_pod(), a4(A_CLIENT), vip, L4::Syn),
    );
    assert_dropped(&mut h, "ip4-nat-in", "policy-denied-admin-ingress");
}

#[test]
fn the_node_reaches_pods_a_tier_denies_everything() {
    let deny_all: &[TierRule] = &[("deny-all", TierAction::Deny, None, None)];
    let mut h = b_ingress(deny_all, None, &[]);
    send(
        &mut h,
        UPLINK_IF,
        &frame(from_router(), sa(UPLINK_IP4, 40000), b4(8080), L4::Syn),
    );
    one_out(&mut h, POD_B_IF);
    send(
        &mut h,
        UPLINK_IF,
        &frame(from_router(), sa(OUTSIDE4, 1), b4(8080), L4::Syn),
    );
    assert_dropped(&mut h, "ip4-nat-in", "policy-denied-admin-ingress");
}
