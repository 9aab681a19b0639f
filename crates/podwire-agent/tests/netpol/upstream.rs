//! The upstream netpol e2e suite as data: kubernetes/kubernetes
//! `test/e2e/network/netpol/network_policy.go` as of v1.30 (every test on the full 3×3 model),
//! the 42 TCP tests of "NetworkPolicy between server and client", and the 3 UDP and 3 SCTP
//! ones ("... using UDP", "... using SCTP"). Each keeps upstream's name, its policies (the
//! objects `GenNetworkPolicyWithNameAndPodMatchLabel`/`...PodSelector` with
//! `SetSpecIngressRules`/`SetSpecEgressRules` make: those append the direction to
//! `policyTypes`), its steps and its expected matrices, written the way upstream writes them.
//!
//! Not ported: the two API tests (`network_policy_api.go`: CRUD, and that `endPort` is
//! accepted), which probe nothing; the generated cases cover `endPort`. One deliberate
//! difference: where v1.30 writes the "large CIDR" of the except tests as `<pod IP>/4` (host
//! bits set), the CIDR here is the canonical `/4`, as newer upstream's `makeLargeCIDRForIP`
//! writes it; both mean the same prefix.

use podwire_model::service::Protocol::{self, Sctp, Tcp, Udp};
use serde_json::{Value, json};

use crate::case::{Case, Change, Step, create, probe};
use crate::model::{Cluster, NAME_LABEL, PodId};
use crate::reachability::{Peer, Reachability};

const TCP_CONTEXT: &str = "Netpol NetworkPolicy between server and client";
const UDP_CONTEXT: &str = "Netpol NetworkPolicy between server and client using UDP";
const SCTP_CONTEXT: &str = "Netpol NetworkPolicy between server and client using SCTP";

/// Every pod reaching every pod.
fn all() -> Reachability {
    Reachability::new(true)
}

/// A case of the TCP context.
const fn tcp(name: &'static str, ports: &'static [u16], steps: fn(&Cluster) -> Vec<Step>) -> Case {
    Case {
        name,
        context: TCP_CONTEXT,
        ports,
        protocols: &[Tcp],
        steps,
    }
}

/// The TCP tests.
// Data, laid out by hand: one entry per upstream test, its policies as the API's JSON.
#[rustfmt::skip]
pub const TCP_CASES: &[Case] = &[
    tcp("should support a 'default-deny-ingress' policy", &[80], |_| {
        vec![
            create("x", "deny-ingress", json!({
                "podSelector": {}, "policyTypes": ["Ingress"], "ingress": [],
            })),
            probe(80, Tcp, all().expect_peer(Peer::any(), Peer::ns("x"), false)),
        ]
    }),
    tcp("should support a 'default-deny-all' policy", &[80], |_| {
        vec![
            create("x", "deny-all", json!({
                "podSelector": {}, "policyTypes": ["Ingress", "Egress"], "ingress": [], "egress": [],
            })),
            probe(
                80,
                Tcp,
                all()
                    .expect_peer(Peer::any(), Peer::ns("x"), false)
                    .expect_peer(Peer::ns("x"), Peer::any(), false),
            ),
        ]
    }),
    tcp("should enforce policy to allow traffic from pods within server namespace based on PodSelector", &[80], |_| {
        vec![
            create("x", "x-a-allows-x-b", json!({
                "podSelector": { "matchLabels": { "pod": "a" } },
                "policyTypes": ["Ingress"],
                "ingress": [{ "from": [{ "podSelector": { "matchLabels": { "pod": "b" } } }] }],
            })),
            probe(80, Tcp, all().expect_all_ingress("x/a", false).expect("x/b", "x/a", true)),
        ]
    }),
    tcp("should enforce policy to allow ingress traffic for a target", &[80], |_| {
        vec![
            create("x", "deny-all", json!({
                "podSelector": {}, "policyTypes": ["Ingress"], "ingress": [],
            })),
            create("x", "allow-all-to-a", json!({
                "podSelector": { "matchLabels": { "pod": "a" } },
                "policyTypes": ["Ingress"],
                "ingress": [{ "from": [{ "podSelector": {}, "namespaceSelector": {} }] }],
            })),
            probe(
                80,
                Tcp,
                all()
                    .expect_all_ingress("x/a", true)
                    .expect_all_ingress("x/b", false)
                    .expect_all_ingress("x/c", false),
            ),
        ]
    }),
    tcp("should enforce policy to allow ingress traffic from pods in all namespaces", &[80], |_| {
        vec![
            create("x", "allow-from-another-ns", json!({
                "podSelector": { "matchLabels": { "pod": "a" } },
                "policyTypes": ["Ingress"],
                "ingress": [{ "from": [{ "namespaceSelector": { "matchLabels": {} } }] }],
            })),
            probe(80, Tcp, all()),
        ]
    }),
    tcp("should enforce policy to allow traffic only from a different namespace, based on NamespaceSelector", &[80], |_| {
        vec![
            create("x", "allow-client-a-via-ns-selector", json!({
                "podSelector": { "matchLabels": { "pod": "a" } },
                "policyTypes": ["Ingress"],
                "ingress": [{ "from": [{ "namespaceSelector": { "matchLabels": { NAME_LABEL: "y" } } }] }],
            })),
            probe(
                80,
                Tcp,
                all()
                    .expect_peer(Peer::ns("x"), Peer::pod("x", "a"), false)
                    .expect_peer(Peer::ns("z"), Peer::pod("x", "a"), false),
            ),
        ]
    }),
    tcp("should enforce policy based on PodSelector with MatchExpressions", &[80], |_| {
        vec![
            create("x", "x-a-allows-x-b", json!({
                "podSelector": { "matchLabels": { "pod": "a" } },
                "policyTypes": ["Ingress"],
                "ingress": [{ "from": [{ "podSelector": {
                    "matchExpressions": [{ "key": "pod", "operator": "In", "values": ["b"] }],
                } }] }],
            })),
            probe(80, Tcp, all().expect_all_ingress("x/a", false).expect("x/b", "x/a", true)),
        ]
    }),
    tcp("should enforce policy based on NamespaceSelector with MatchExpressions", &[80], |_| {
        vec![
            create("x", "allow-ns-y-match-selector", json!({
                "podSelector": { "matchLabels": { "pod": "a" } },
                "policyTypes": ["Ingress"],
                "ingress": [{ "from": [{ "namespaceSelector": {
                    "matchExpressions": [{ "key": NAME_LABEL, "operator": "In", "values": ["y"] }],
                } }] }],
            })),
            probe(
                80,
                Tcp,
                all()
                    .expect_peer(Peer::ns("x"), Peer::pod("x", "a"), false)
                    .expect_peer(Peer::ns("z"), Peer::pod("x", "a"), false),
            ),
        ]
    }),
    tcp("should enforce policy based on PodSelector or NamespaceSelector", &[80], |_| {
        vec![
            create("x", "allow-ns-y-match-selector", json!({
                "podSelector": { "matchLabels": { "pod": "a" } },
                "policyTypes": ["Ingress"],
                "ingress": [{ "from": [
                    { "namespaceSelector": {
                        "matchExpressions": [{ "key": NAME_LABEL, "operator": "NotIn", "values": ["x"] }],
                    } },
                    { "podSelector": { "matchLabels": { "pod": "b" } } },
                ] }],
            })),
            probe(80, Tcp, all().expect("x/a", "x/a", false).expect("x/c", "x/a", false)),
        ]
    }),
    tcp("should enforce policy based on PodSelector and NamespaceSelector", &[80], |_| {
        vec![
            create("x", "allow-ns-y-podselector-and-nsselector", json!({
                "podSelector": { "matchLabels": { "pod": "a" } },
                "policyTypes": ["Ingress"],
                "ingress": [{ "from": [{
                    "namespaceSelector": {
                        "matchExpressions": [{ "key": NAME_LABEL, "operator": "NotIn", "values": ["x"] }],
                    },
                    "podSelector": { "matchLabels": { "pod": "b" } },
                }] }],
            })),
            probe(
                80,
                Tcp,
                all()
                    .expect_all_ingress("x/a", false)
                    .expect("y/b", "x/a", true)
                    .expect("z/b", "x/a", true),
            ),
        ]
    }),
    tcp("should enforce policy based on Multiple PodSelectors and NamespaceSelectors", &[80], |_| {
        vec![
            create("x", "allow-ns-y-z-pod-b-c", json!({
                "podSelector": { "matchLabels": { "pod": "a" } },
                "policyTypes": ["Ingress"],
                "ingress": [{ "from": [{
                    "namespaceSelector": {
                        "matchExpressions": [{ "key": NAME_LABEL, "operator": "NotIn", "values": ["x"] }],
                    },
                    "podSelector": {
                        "matchExpressions": [{ "key": "pod", "operator": "In", "values": ["b", "c"] }],
                    },
                }] }],
            })),
            probe(
                80,
                Tcp,
                all()
                    .expect_peer(Peer::ns("x"), Peer::pod("x", "a"), false)
                    .expect("y/a", "x/a", false)
                    .expect("z/a", "x/a", false),
            ),
        ]
    }),
    tcp("should enforce policy based on any PodSelectors", &[80], |_| {
        vec![
            create("x", "allow-ns-x-pod-b-c", json!({
                "podSelector": { "matchLabels": { "pod": "a" } },
                "policyTypes": ["Ingress"],
                "ingress": [{ "from": [
                    { "podSelector": { "matchLabels": { "pod": "b" } } },
                    { "podSelector": { "matchLabels": { "pod": "c" } } },
                ] }],
            })),
            probe(
                80,
                Tcp,
                all()
                    .expect_all_ingress("x/a", false)
                    .expect("x/b", "x/a", true)
                    .expect("x/c", "x/a", true),
            ),
        ]
    }),
    tcp("should enforce policy to allow traffic only from a pod in a different namespace based on PodSelector and NamespaceSelector", &[80], |_| {
        vec![
            create("x", "allow-ns-y-pod-a-via-namespace-pod-selector", allow_y_a()),
            probe(80, Tcp, all().expect_all_ingress("x/a", false).expect("y/a", "x/a", true)),
        ]
    }),
    tcp("should enforce policy based on Ports", &[81], |_| {
        vec![
            create("x", "allow-client-a-via-ns-selector", allow_ns_y_on(json!(81), Tcp)),
            probe(81, Tcp, only_ns_y_reaches_x_a()),
        ]
    }),
    tcp("should enforce multiple, stacked policies with overlapping podSelectors", &[80, 81], |_| {
        vec![
            create("x", "allow-client-a-via-ns-selector", allow_ns_y_on(json!(81), Tcp)),
            probe(81, Tcp, only_ns_y_reaches_x_a()),
            probe(80, Tcp, all().expect_all_ingress("x/a", false)),
            create("x", "allow-client-a-via-ns-selector-80", allow_ns_y_on(json!(80), Tcp)),
            probe(80, Tcp, only_ns_y_reaches_x_a()),
        ]
    }),
    tcp("should support allow-all policy", &[80, 81], |_| {
        vec![
            create("x", "allow-all", json!({
                "podSelector": { "matchLabels": {} }, "policyTypes": ["Ingress"], "ingress": [{}],
            })),
            probe(80, Tcp, all()),
            probe(81, Tcp, all()),
        ]
    }),
    tcp("should allow ingress access on one named port", &[80, 81], |_| {
        vec![
            create("x", "allow-all", json!({
                "podSelector": { "matchLabels": {} },
                "policyTypes": ["Ingress"],
                "ingress": [{ "ports": [{ "port": "serve-81-tcp" }] }],
            })),
            probe(81, Tcp, all()),
            probe(80, Tcp, all().expect_peer(Peer::any(), Peer::ns("x"), false)),
        ]
    }),
    tcp("should allow ingress access from namespace on one named port", &[80, 81], |_| {
        vec![
            create("x", "allow-client-a-via-ns-selector-80", allow_ns_y_on(json!("serve-80-tcp"), Tcp)),
            probe(
                80,
                Tcp,
                all()
                    .expect_peer(Peer::ns("x"), Peer::pod("x", "a"), false)
                    .expect_peer(Peer::ns("z"), Peer::pod("x", "a"), false),
            ),
            probe(81, Tcp, all().expect_all_ingress("x/a", false)),
        ]
    }),
    tcp("should allow egress access on one named port", &[80, 81], |_| {
        vec![
            create("x", "allow-egress", json!({
                "podSelector": { "matchLabels": {} },
                "policyTypes": ["Egress"],
                "egress": [{ "ports": [{ "port": "serve-80-tcp" }] }],
            })),
            probe(80, Tcp, all()),
            probe(81, Tcp, all().expect_peer(Peer::ns("x"), Peer::any(), false)),
        ]
    }),
    tcp("should enforce updated policy", &[81], |_| {
        vec![
            create("x", "allow-all-mutate-to-deny-all", json!({
                "podSelector": { "matchLabels": {} }, "policyTypes": ["Ingress"], "ingress": [{}],
            })),
            probe(81, Tcp, all()),
            create("x", "allow-all-mutate-to-deny-all", json!({
                "podSelector": { "matchLabels": {} }, "policyTypes": ["Ingress"], "ingress": [],
            })),
            probe(81, Tcp, all().expect_peer(Peer::any(), Peer::ns("x"), false)),
        ]
    }),
    tcp("should allow ingress access from updated namespace", &[80], |_| {
        vec![
            create("x", "allow-client-a-via-ns-selector", json!({
                "podSelector": { "matchLabels": { "pod": "a" } },
                "policyTypes": ["Ingress"],
                "ingress": [{ "from": [{ "namespaceSelector": { "matchLabels": { "ns2": "updated" } } }] }],
            })),
            probe(80, Tcp, all().expect_all_ingress("x/a", false)),
            Step::Change(Change::NamespaceLabel { namespace: "y", key: "ns2", value: "updated" }),
            probe(
                80,
                Tcp,
                all()
                    .expect_all_ingress("x/a", false)
                    .expect_peer(Peer::ns("y"), Peer::any(), true),
            ),
        ]
    }),
    tcp("should allow ingress access from updated pod", &[80], |_| {
        vec![
            create("x", "allow-client-a-via-pod-selector", json!({
                "podSelector": { "matchLabels": { "pod": "a" } },
                "policyTypes": ["Ingress"],
                "ingress": [{ "from": [{ "podSelector": { "matchLabels": { "pod": "b", "pod2": "updated" } } }] }],
            })),
            probe(80, Tcp, all().expect_all_ingress("x/a", false)),
            Step::Change(Change::PodLabels { pod: "x/b", labels: &[("pod", "b"), ("pod2", "updated")] }),
            probe(80, Tcp, all().expect_all_ingress("x/a", false).expect("x/b", "x/a", true)),
        ]
    }),
    tcp("should deny ingress from pods on other namespaces", &[80], |_| {
        vec![
            create("x", "deny-empty-policy", json!({
                "podSelector": {},
                "policyTypes": ["Ingress"],
                "ingress": [{ "from": [{ "podSelector": { "matchLabels": {} } }] }],
            })),
            probe(
                80,
                Tcp,
                all()
                    .expect_peer(Peer::ns("y"), Peer::ns("x"), false)
                    .expect_peer(Peer::ns("z"), Peer::ns("x"), false),
            ),
        ]
    }),
    tcp("should deny ingress access to updated pod", &[80], |_| {
        vec![
            create("x", "deny-ingress-via-label-selector", json!({
                "podSelector": { "matchLabels": { "target": "isolated" } },
                "policyTypes": ["Ingress"],
                "ingress": [],
            })),
            probe(80, Tcp, all()),
            Step::Change(Change::PodLabels { pod: "x/a", labels: &[("target", "isolated")] }),
            probe(80, Tcp, all().expect_all_ingress("x/a", false)),
        ]
    }),
    tcp("should deny egress from pods based on PodSelector", &[80], |_| {
        vec![
            create("x", "deny-egress-pod-a", json!({
                "podSelector": { "matchLabels": { "pod": "a" } }, "policyTypes": ["Egress"], "egress": [],
            })),
            probe(80, Tcp, all().expect_all_egress("x/a", false)),
        ]
    }),
    tcp("should deny egress from all pods in a namespace", &[80], |_| {
        vec![
            create("x", "deny-egress-ns-x", json!({
                "podSelector": {}, "policyTypes": ["Egress"], "egress": [],
            })),
            probe(80, Tcp, all().expect_peer(Peer::ns("x"), Peer::any(), false)),
        ]
    }),
    tcp("should work with Ingress, Egress specified together", &[80, 81], |_| {
        vec![
            create("x", "allow-client-a-via-pod-selector", json!({
                "podSelector": { "matchLabels": { "pod": "a" } },
                "policyTypes": ["Egress", "Ingress"],
                "ingress": [{ "from": [{ "podSelector": { "matchLabels": { "pod": "b" } } }] }],
                "egress": [{ "ports": [{ "port": 80 }] }],
            })),
            probe(80, Tcp, all().expect_all_ingress("x/a", false).expect("x/b", "x/a", true)),
            probe(
                81,
                Tcp,
                all()
                    .expect_all_ingress("x/a", false)
                    .expect_all_egress("x/a", false)
                    .expect("x/b", "x/a", true),
            ),
        ]
    }),
    tcp("should support denying of egress traffic on the client side (even if the server explicitly allows this traffic)", &[80], |_| {
        let from_x_a = json!([{ "from": [{
            "namespaceSelector": { "matchLabels": { NAME_LABEL: "x" } },
            "podSelector": { "matchLabels": { "pod": "a" } },
        }] }]);
        vec![
            create("x", "allow-to-ns-y-pod-a", json!({
                "podSelector": { "matchLabels": { "pod": "a" } },
                "policyTypes": ["Egress"],
                "egress": [{ "to": [{
                    "namespaceSelector": { "matchLabels": { NAME_LABEL: "y" } },
                    "podSelector": { "matchLabels": { "pod": "a" } },
                }] }],
            })),
            create("y", "allow-from-xa-on-ya-match-selector", json!({
                "podSelector": { "matchLabels": { "pod": "a" } }, "policyTypes": ["Ingress"], "ingress": from_x_a,
            })),
            create("y", "allow-from-xa-on-yb-match-selector", json!({
                "podSelector": { "matchLabels": { "pod": "b" } }, "policyTypes": ["Ingress"], "ingress": from_x_a,
            })),
            probe(
                80,
                Tcp,
                all()
                    .expect_peer(Peer::pod("x", "a"), Peer::any(), false)
                    .expect_peer(Peer::any(), Peer::pod("y", "a"), false)
                    .expect_peer(Peer::pod("x", "a"), Peer::pod("y", "a"), true)
                    .expect_peer(Peer::any(), Peer::pod("y", "b"), false),
            ),
        ]
    }),
    tcp("should enforce egress policy allowing traffic to a server in a different namespace based on PodSelector and NamespaceSelector", &[80], |_| {
        vec![
            create("x", "allow-to-ns-y-pod-a", json!({
                "podSelector": { "matchLabels": { "pod": "a" } },
                "policyTypes": ["Egress"],
                "egress": [{ "to": [{
                    "namespaceSelector": { "matchLabels": { NAME_LABEL: "y" } },
                    "podSelector": { "matchLabels": { "pod": "a" } },
                }] }],
            })),
            probe(80, Tcp, all().expect_all_egress("x/a", false).expect("x/a", "y/a", true)),
        ]
    }),
    Case {
        name: "should enforce ingress policy allowing any port traffic to a server on a specific protocol",
        context: TCP_CONTEXT,
        ports: &[80],
        protocols: &[Tcp, Udp],
        steps: |_| {
            vec![
                create("x", "allow-ingress-by-proto", json!({
                    "podSelector": { "matchLabels": { "pod": "a" } },
                    "policyTypes": ["Ingress"],
                    "ingress": [{ "ports": [{ "protocol": "TCP" }] }],
                })),
                probe(80, Tcp, all()),
                probe(80, Udp, all().expect_peer(Peer::any(), Peer::pod("x", "a"), false)),
            ]
        },
    },
    tcp("should enforce multiple ingress policies with ingress allow-all policy taking precedence", &[81], |_| {
        vec![
            create("x", "allow-ingress-port-80", json!({
                "podSelector": { "matchLabels": {} },
                "policyTypes": ["Ingress"],
                "ingress": [{ "ports": [{ "port": 80 }] }],
            })),
            probe(81, Tcp, all().expect_peer(Peer::any(), Peer::ns("x"), false)),
            create("x", "allow-ingress", json!({
                "podSelector": { "matchLabels": {} }, "policyTypes": ["Ingress"], "ingress": [{}],
            })),
            probe(81, Tcp, all()),
        ]
    }),
    tcp("should enforce multiple egress policies with egress allow-all policy taking precedence", &[81], |_| {
        vec![
            create("x", "allow-egress-port-80", json!({
                "podSelector": { "matchLabels": {} },
                "policyTypes": ["Egress"],
                "egress": [{ "ports": [{ "port": 80 }] }],
            })),
            probe(81, Tcp, all().expect_peer(Peer::ns("x"), Peer::any(), false)),
            create("x", "allow-egress", json!({
                "podSelector": { "matchLabels": {} }, "policyTypes": ["Egress"], "egress": [{}],
            })),
            probe(81, Tcp, all()),
        ]
    }),
    tcp("should stop enforcing policies after they are deleted", &[80], |_| {
        vec![
            create("x", "deny-all", json!({
                "podSelector": {}, "policyTypes": ["Ingress", "Egress"], "ingress": [], "egress": [],
            })),
            probe(
                80,
                Tcp,
                all()
                    .expect_peer(Peer::ns("x"), Peer::any(), false)
                    .expect_peer(Peer::any(), Peer::ns("x"), false),
            ),
            Step::Change(Change::DeletePolicies),
            probe(80, Tcp, all()),
        ]
    }),
    tcp("should allow egress access to server in CIDR block", &[80], |m| {
        vec![
            create("x", "allow-client-a-via-cidr-egress-rule", json!({
                "podSelector": { "matchLabels": { "pod": "a" } },
                "policyTypes": ["Egress"],
                "egress": [{ "to": [{ "ipBlock": { "cidr": m.host_cidr(PodId::named("y/b")) } }] }],
            })),
            probe(80, Tcp, all().expect_all_egress("x/a", false).expect("x/a", "y/b", true)),
        ]
    }),
    tcp("should enforce except clause while egress access to server in CIDR block", &[80], |m| {
        vec![
            create("x", "allow-client-a-via-cidr-egress-rule", large_cidr_except_x_b(m)),
            probe(80, Tcp, all().expect("x/a", "x/b", false)),
        ]
    }),
    tcp("should ensure an IP overlapping both IPBlock.CIDR and IPBlock.Except is allowed", &[80], |m| {
        vec![
            create("x", "allow-client-a-via-cidr-egress-rule", large_cidr_except_x_b(m)),
            probe(80, Tcp, all().expect("x/a", "x/b", false)),
            // Upstream updates the same policy (same name) to allow x/b's address only.
            create("x", "allow-client-a-via-cidr-egress-rule", json!({
                "podSelector": { "matchLabels": { "pod": "a" } },
                "policyTypes": ["Egress"],
                "egress": [{ "to": [{ "ipBlock": { "cidr": m.host_cidr(PodId::named("x/b")) } }] }],
            })),
            probe(80, Tcp, all().expect_all_egress("x/a", false).expect("x/a", "x/b", true)),
        ]
    }),
    tcp("should enforce policies to check ingress and egress policies can be controlled independently based on PodSelector", &[80], |_| {
        vec![
            create("x", "allow-egress-for-target", json!({
                "podSelector": { "matchLabels": { "pod": "a" } }, "policyTypes": ["Egress"], "egress": [{}],
            })),
            probe(80, Tcp, all()),
            create("x", "deny-ingress-via-label-selector", json!({
                "podSelector": { "matchLabels": { "pod": "a" } }, "policyTypes": ["Ingress"], "ingress": [],
            })),
            probe(80, Tcp, all().expect_all_ingress("x/a", false)),
        ]
    }),
    tcp("should not mistakenly treat 'protocol: SCTP' as 'protocol: TCP', even if the plugin doesn't support SCTP", &[81], |_| {
        vec![
            create("x", "deny-ingress", json!({
                "podSelector": {}, "policyTypes": ["Ingress"], "ingress": [],
            })),
            create("x", "allow-only-sctp-ingress-on-port-81", json!({
                "podSelector": { "matchLabels": { "pod": "a" } },
                "policyTypes": ["Ingress"],
                "ingress": [{ "ports": [{ "port": 81, "protocol": "SCTP" }] }],
            })),
            probe(81, Tcp, all().expect_peer(Peer::any(), Peer::ns("x"), false)),
        ]
    }),
    tcp("should properly isolate pods that are selected by a policy allowing SCTP, even if the plugin doesn't support SCTP", &[81], |_| {
        vec![
            create("x", "allow-only-sctp-ingress-on-port-80", json!({
                "podSelector": { "matchLabels": { "pod": "a" } },
                "policyTypes": ["Ingress"],
                "ingress": [{ "ports": [{ "port": 80, "protocol": "SCTP" }] }],
            })),
            probe(81, Tcp, all().expect_all_ingress("x/a", false)),
        ]
    }),
    tcp("should not allow access by TCP when a policy specifies only UDP", &[81], |_| {
        vec![
            create("x", "allow-only-udp-ingress-on-port-81", json!({
                "podSelector": { "matchLabels": { "pod": "a" } },
                "policyTypes": ["Ingress"],
                "ingress": [{ "ports": [{ "port": 81, "protocol": "UDP" }] }],
            })),
            probe(81, Tcp, all().expect_all_ingress("x/a", false)),
        ]
    }),
    tcp("should enforce policy to allow traffic based on NamespaceSelector with MatchLabels using default ns label", &[80], |_| {
        vec![
            create("x", "allow-client-a-via-ns-selector-for-immutable-ns-label", json!({
                "podSelector": { "matchLabels": { "pod": "a" } },
                "policyTypes": ["Ingress"],
                "ingress": [{ "from": [{ "namespaceSelector": { "matchLabels": { NAME_LABEL: "y" } } }] }],
            })),
            probe(
                80,
                Tcp,
                all()
                    .expect_peer(Peer::ns("x"), Peer::pod("x", "a"), false)
                    .expect_peer(Peer::ns("z"), Peer::pod("x", "a"), false),
            ),
        ]
    }),
    tcp("should enforce policy based on NamespaceSelector with MatchExpressions using default ns label", &[80], |_| {
        vec![
            create("x", "allow-ns-y-match-selector-for-immutable-ns-label", json!({
                "podSelector": { "matchLabels": { "pod": "a" } },
                "policyTypes": ["Egress"],
                "egress": [{ "to": [{ "namespaceSelector": {
                    "matchExpressions": [{ "key": NAME_LABEL, "operator": "NotIn", "values": ["y"] }],
                } }] }],
            })),
            probe(80, Tcp, all().expect_peer(Peer::pod("x", "a"), Peer::ns("y"), false)),
        ]
    }),
];

/// The tests of the UDP context.
pub const UDP_CASES: &[Case] = &[
    Case {
        name: "should support a 'default-deny-ingress' policy",
        context: UDP_CONTEXT,
        ports: &[80],
        protocols: &[Udp],
        steps: |_| default_deny_ingress(Udp),
    },
    Case {
        name: "should enforce policy based on Ports",
        context: UDP_CONTEXT,
        ports: &[81],
        protocols: &[Udp],
        steps: |_| ports_from_ns_y(Udp),
    },
    Case {
        name: "should enforce policy to allow traffic only from a pod in a different namespace based on PodSelector and NamespaceSelector",
        context: UDP_CONTEXT,
        ports: &[80],
        protocols: &[Udp],
        steps: |_| only_from_y_a(Udp),
    },
];

/// The tests of the SCTP context.
pub const SCTP_CASES: &[Case] = &[
    Case {
        name: "should support a 'default-deny-ingress' policy",
        context: SCTP_CONTEXT,
        ports: &[80],
        protocols: &[Sctp],
        steps: |_| default_deny_ingress(Sctp),
    },
    Case {
        name: "should enforce policy based on Ports",
        context: SCTP_CONTEXT,
        ports: &[81],
        protocols: &[Sctp],
        steps: |_| ports_from_ns_y(Sctp),
    },
    Case {
        name: "should enforce policy to allow traffic only from a pod in a different namespace based on PodSelector and NamespaceSelector",
        context: SCTP_CONTEXT,
        ports: &[80],
        protocols: &[Sctp],
        steps: |_| only_from_y_a(Sctp),
    },
];

/// The UDP and SCTP 'default-deny-ingress' test.
fn default_deny_ingress(protocol: Protocol) -> Vec<Step> {
    vec![
        create(
            "x",
            "deny-all",
            json!({
                "podSelector": {}, "policyTypes": ["Ingress"], "ingress": [],
            }),
        ),
        probe(
            80,
            protocol,
            all().expect_peer(Peer::any(), Peer::ns("x"), false),
        ),
    ]
}

/// The UDP and SCTP 'Ports' test.
fn ports_from_ns_y(protocol: Protocol) -> Vec<Step> {
    vec![
        create(
            "x",
            "allow-ingress-on-port-81-ns-x",
            allow_ns_y_on(json!(81), protocol),
        ),
        probe(
            81,
            protocol,
            all()
                .expect_peer(Peer::ns("x"), Peer::pod("x", "a"), false)
                .expect_peer(Peer::ns("z"), Peer::pod("x", "a"), false),
        ),
    ]
}

/// The UDP and SCTP pod-and-namespace-selector test.
fn only_from_y_a(protocol: Protocol) -> Vec<Step> {
    vec![
        create(
            "x",
            "allow-ns-y-pod-a-via-namespace-pod-selector",
            allow_y_a(),
        ),
        probe(
            80,
            protocol,
            all()
                .expect_all_ingress("x/a", false)
                .expect("y/a", "x/a", true),
        ),
    ]
}

/// x/a lets in y/a only (namespace and pod selector in one peer).
fn allow_y_a() -> Value {
    json!({
        "podSelector": { "matchLabels": { "pod": "a" } },
        "policyTypes": ["Ingress"],
        "ingress": [{ "from": [{
            "namespaceSelector": { "matchLabels": { NAME_LABEL: "y" } },
            "podSelector": { "matchLabels": { "pod": "a" } },
        }] }],
    })
}

/// x/a lets in namespace y on `port` over `protocol`.
fn allow_ns_y_on(port: Value, protocol: Protocol) -> Value {
    json!({
        "podSelector": { "matchLabels": { "pod": "a" } },
        "policyTypes": ["Ingress"],
        "ingress": [{
            "from": [{ "namespaceSelector": { "matchLabels": { NAME_LABEL: "y" } } }],
            "ports": [{ "port": port, "protocol": protocol.to_string() }],
        }],
    })
}

/// Only namespace y reaches x/a (the Ports tests' matrix).
fn only_ns_y_reaches_x_a() -> Reachability {
    all()
        .expect_peer(Peer::ns("x"), Peer::pod("x", "a"), false)
        .expect_peer(Peer::ns("y"), Peer::pod("x", "a"), true)
        .expect_peer(Peer::ns("z"), Peer::pod("x", "a"), false)
}

/// x/a may send to the large CIDR around x/b, except x/b.
fn large_cidr_except_x_b(m: &Cluster) -> Value {
    let x_b = PodId::named("x/b");
    json!({
        "podSelector": { "matchLabels": { "pod": "a" } },
        "policyTypes": ["Egress"],
        "egress": [{ "to": [{ "ipBlock": {
            "cidr": m.large_cidr(x_b),
            "except": [m.host_cidr(x_b)],
        } }] }],
    })
}
