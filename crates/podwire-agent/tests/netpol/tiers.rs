//! ClusterNetworkPolicy (Admin and Baseline tier) cases, modelled on the network-policy-api
//! conformance tests (kubernetes-sigs/network-policy-api `conformance/tests/`, manifests in
//! `conformance/base/admin_tier/`, `baseline_tier/`, `api_integration/`): the same policies,
//! rule orders and rule swaps, mapped onto the x/y/z × a/b/c model, with the whole matrix
//! expected at each step instead of upstream's few probes, written by hand.
//!
//! The mapping: gryffindor (the subject) is x; ravenclaw is y; slytherin is z; hufflepuff,
//! the fourth house, is played by x's own other pods (the model has three namespaces). Ports:
//! TCP 80 and 8080 are 80 and 81; UDP 53 and 5353 are 80 and 81; SCTP 9003 and 9005 are 80
//! and 81. Upstream's patches (rules swapped, an action or a priority changed) are new
//! versions of the policy, each step's applied to the previous step's, as upstream's are.
//! A few steps go beyond upstream (marked): Pass in the Baseline tier, a Baseline Deny behind
//! an Admin Pass.

use podwire_model::service::Protocol::{Sctp, Tcp, Udp};
use serde_json::{Value, json};

use crate::case::{Case, Change, Step, create, create_cluster, probe};
use crate::model::{Cluster, NAME_LABEL, PodId};
use crate::reachability::{Peer, Reachability};

const CONTEXT: &str = "network-policy-api conformance on the x/y/z model";

/// Every pod reaching every pod.
fn all() -> Reachability {
    Reachability::new(true)
}

/// The namespace selector of namespace `name`, by its name label.
fn named(name: &str) -> Value {
    json!({ "matchLabels": { NAME_LABEL: name } })
}

/// A spec of `tier` with `priority`, `subject` and rules (`ingress`, `egress`: JSON lists).
fn spec(tier: &str, priority: i32, subject: Value, ingress: Value, egress: Value) -> Value {
    let mut spec = json!({ "tier": tier, "priority": priority, "subject": subject });
    if ingress != json!([]) {
        spec["ingress"] = ingress;
    }
    if egress != json!([]) {
        spec["egress"] = egress;
    }
    spec
}

/// A rule named `name` with `action`, peers `peers` in field `field` (`from` or `to`), and
/// `protocols` unless null.
fn rule(name: &str, action: &str, field: &str, peers: Value, protocols: Value) -> Value {
    let mut rule = json!({ "name": name, "action": action, field: peers });
    if !protocols.is_null() {
        rule["protocols"] = protocols;
    }
    rule
}

/// `rules` in the order `order` gives (upstream's swaps).
fn ordered(rules: &[Value], order: &[usize]) -> Value {
    Value::Array(order.iter().map(|&i| rules[i].clone()).collect())
}

/// The rules of upstream's `ingress-tcp` and `egress-udp` (and each direction of
/// `gress-rules`) towards or from y, z and x's other pods, in `field` (`from` or `to`):
/// Accept, Deny and Pass for y; Deny and Pass for z on `z_ports`; Accept for x on
/// `x_ports`, then Deny for x.
fn house_rules(field: &str, z_ports: Value, x_ports: Value) -> Vec<Value> {
    let ns = |name: &str| json!([{ "namespaces": named(name) }]);
    vec![
        rule("accept-y", "Accept", field, ns("y"), Value::Null),
        rule("deny-y", "Deny", field, ns("y"), Value::Null),
        rule("pass-y", "Pass", field, ns("y"), Value::Null),
        rule("deny-z-on-ports", "Deny", field, ns("z"), z_ports.clone()),
        rule("pass-z-on-ports", "Pass", field, ns("z"), z_ports),
        rule("accept-x-on-ports", "Accept", field, ns("x"), x_ports),
        rule("deny-x", "Deny", field, ns("x"), Value::Null),
    ]
}

/// `protocol` (`tcp`, `udp`, `sctp`) to port `number`.
fn port(protocol: &str, number: u16) -> Value {
    json!({ protocol: { "destinationPort": { "number": number } } })
}

/// The order of the rules at each of upstream's steps: as written; rules 0 and 1 swapped
/// (Deny before Accept); then 0 and 2 (Pass first); then 3 and 4 (Pass before Deny).
const ORDERS: [[usize; 7]; 4] = [
    [0, 1, 2, 3, 4, 5, 6],
    [1, 0, 2, 3, 4, 5, 6],
    [2, 0, 1, 3, 4, 5, 6],
    [2, 0, 1, 4, 3, 5, 6],
];

/// A case of this file.
const fn case(
    name: &'static str,
    protocols: &'static [podwire_model::service::Protocol],
    steps: fn(&Cluster) -> Vec<Step>,
) -> Case {
    Case {
        name,
        context: CONTEXT,
        ports: &[80, 81],
        protocols,
        steps,
    }
}

/// The cases.
// Data, laid out by hand: one entry per conformance test, each step's matrix written out.
#[rustfmt::skip]
pub const TIER_CASES: &[Case] = &[
    // base/admin_tier/standard-ingress-tcp-rules.yaml: subject x, ingress only.
    case("CNPAdminTierIngressTCP", &[Tcp], |_| {
        let rules = house_rules("from", json!([port("tcp", 80)]), json!([port("tcp", 80)]));
        let version = |order: &[usize]| {
            create_cluster("ingress-tcp", spec("Admin", 3, json!({ "namespaces": named("x") }), ordered(&rules, order), json!([])))
        };
        vec![
            version(&ORDERS[0]),
            // y accepted (rule 0); z denied on 80 (rule 3); x's pods accepted on 80 (rule 5),
            // denied on the rest (rule 6). Egress is untouched.
            probe(80, Tcp, all().expect_peer(Peer::ns("z"), Peer::ns("x"), false)),
            probe(81, Tcp, all().expect_peer(Peer::ns("x"), Peer::ns("x"), false)),
            // Deny before Accept: y denied.
            version(&ORDERS[1]),
            probe(80, Tcp, all()
                .expect_peer(Peer::ns("z"), Peer::ns("x"), false)
                .expect_peer(Peer::ns("y"), Peer::ns("x"), false)),
            probe(81, Tcp, all()
                .expect_peer(Peer::ns("x"), Peer::ns("x"), false)
                .expect_peer(Peer::ns("y"), Peer::ns("x"), false)),
            // Pass first: y passed on, and nothing else decides.
            version(&ORDERS[2]),
            probe(80, Tcp, all().expect_peer(Peer::ns("z"), Peer::ns("x"), false)),
            probe(81, Tcp, all().expect_peer(Peer::ns("x"), Peer::ns("x"), false)),
            // Pass before Deny for z on 80.
            version(&ORDERS[3]),
            probe(80, Tcp, all()),
            probe(81, Tcp, all().expect_peer(Peer::ns("x"), Peer::ns("x"), false)),
        ]
    }),
    // base/admin_tier/standard-egress-udp-rules.yaml: subject x, egress only.
    case("CNPAdminTierEgressUDP", &[Udp], |_| {
        let rules = house_rules("to", json!([port("udp", 81)]), json!([port("udp", 80)]));
        let version = |order: &[usize]| {
            create_cluster("egress-udp", spec("Admin", 7, json!({ "namespaces": named("x") }), json!([]), ordered(&rules, order)))
        };
        vec![
            version(&ORDERS[0]),
            // To y accepted; to z denied on 81; to x's pods accepted on 80, denied on 81.
            probe(80, Udp, all()),
            probe(81, Udp, all()
                .expect_peer(Peer::ns("x"), Peer::ns("z"), false)
                .expect_peer(Peer::ns("x"), Peer::ns("x"), false)),
            version(&ORDERS[1]),
            probe(80, Udp, all().expect_peer(Peer::ns("x"), Peer::ns("y"), false)),
            probe(81, Udp, all()
                .expect_peer(Peer::ns("x"), Peer::ns("y"), false)
                .expect_peer(Peer::ns("x"), Peer::ns("z"), false)
                .expect_peer(Peer::ns("x"), Peer::ns("x"), false)),
            version(&ORDERS[2]),
            probe(80, Udp, all()),
            probe(81, Udp, all()
                .expect_peer(Peer::ns("x"), Peer::ns("z"), false)
                .expect_peer(Peer::ns("x"), Peer::ns("x"), false)),
            version(&ORDERS[3]),
            probe(80, Udp, all()),
            probe(81, Udp, all().expect_peer(Peer::ns("x"), Peer::ns("x"), false)),
        ]
    }),
    // base/admin_tier/standard-gress-rules-combined.yaml: subject x, both directions, rules
    // over the three protocols.
    case("CNPAdminTierGress", &[Tcp, Udp, Sctp], |_| {
        let z_ports = json!([port("tcp", 80), port("udp", 80), port("sctp", 80)]);
        let egress = house_rules("to", z_ports.clone(), json!([port("tcp", 81), port("udp", 81), port("sctp", 80)]));
        let ingress = house_rules("from", z_ports, json!([port("tcp", 80), port("udp", 81), port("sctp", 80)]));
        let version = |order: &[usize]| {
            create_cluster("gress-rules", spec(
                "Admin", 15, json!({ "namespaces": named("x") }),
                ordered(&ingress, order), ordered(&egress, order),
            ))
        };
        // Between x and z, both ways, denied on 80 of every protocol; between x's pods, the
        // client's egress must accept (TCP 81, UDP 81, SCTP 80) and the server's ingress too
        // (TCP 80, UDP 81, SCTP 80).
        let x_z_80 = |r: Reachability| r
            .expect_peer(Peer::ns("x"), Peer::ns("z"), false)
            .expect_peer(Peer::ns("z"), Peer::ns("x"), false);
        let x_x = |r: Reachability| r.expect_peer(Peer::ns("x"), Peer::ns("x"), false);
        let y_x = |r: Reachability| r
            .expect_peer(Peer::ns("x"), Peer::ns("y"), false)
            .expect_peer(Peer::ns("y"), Peer::ns("x"), false);
        vec![
            version(&ORDERS[0]),
            probe(80, Tcp, x_x(x_z_80(all()))),
            probe(81, Tcp, x_x(all())),
            probe(80, Udp, x_x(x_z_80(all()))),
            probe(81, Udp, all()),
            probe(80, Sctp, x_z_80(all())),
            probe(81, Sctp, x_x(all())),
            // Deny before Accept: y and x cut off both ways.
            version(&ORDERS[1]),
            probe(80, Tcp, y_x(x_x(x_z_80(all())))),
            probe(81, Tcp, y_x(x_x(all()))),
            probe(80, Udp, y_x(x_x(x_z_80(all())))),
            probe(81, Udp, y_x(all())),
            probe(80, Sctp, y_x(x_z_80(all()))),
            probe(81, Sctp, y_x(x_x(all()))),
            // Pass first: y passed on both ways.
            version(&ORDERS[2]),
            probe(80, Tcp, x_x(x_z_80(all()))),
            probe(81, Udp, all()),
            probe(80, Sctp, x_z_80(all())),
            // Pass before Deny for z.
            version(&ORDERS[3]),
            probe(80, Tcp, x_x(all())),
            probe(80, Udp, x_x(all())),
            probe(80, Sctp, all()),
            probe(81, Sctp, x_x(all())),
        ]
    }),
    // base/admin_tier/standard-priority-field.yaml: subject x/a and x/b, peers z/a and z/b
    // (pods peers); a Deny at 50, a Pass at 60 then 40, a Baseline Accept.
    case("CNPAdminTierPriorityField", &[Tcp], |_| {
        let subject = json!({ "pods": {
            "namespaceSelector": named("x"),
            "podSelector": { "matchExpressions": [{ "key": "pod", "operator": "In", "values": ["a", "b"] }] },
        } });
        let peers = json!([{ "pods": {
            "namespaceSelector": { "matchLabels": { "ns": "z" } },
            "podSelector": { "matchExpressions": [{ "key": "pod", "operator": "NotIn", "values": ["c"] }] },
        } }]);
        let policy = |tier: &str, priority: i32, action: &str| spec(
            tier, priority, subject.clone(),
            json!([rule("from-z", action, "from", peers.clone(), Value::Null)]),
            json!([rule("to-z", action, "to", peers.clone(), Value::Null)]),
        );
        let cut_off = || {
            let mut r = all();
            for s in ["x/a", "x/b"] {
                for p in ["z/a", "z/b"] {
                    r = r.expect(s, p, false).expect(p, s, false);
                }
            }
            r
        };
        vec![
            create_cluster("priority-50-example", policy("Admin", 50, "Deny")),
            create_cluster("old-priority-60-new-priority-40-example", policy("Admin", 60, "Pass")),
            create_cluster("default", policy("Baseline", 10, "Accept")),
            probe(80, Tcp, cut_off()),
            probe(81, Tcp, cut_off()),
            // The Pass now comes first: on to the Baseline tier, which accepts.
            create_cluster("old-priority-60-new-priority-40-example", policy("Admin", 40, "Pass")),
            probe(80, Tcp, all()),
            probe(81, Tcp, all()),
            // Beyond upstream: a Baseline Deny behind the Admin Pass.
            create_cluster("default", policy("Baseline", 10, "Deny")),
            probe(80, Tcp, cut_off()),
        ]
    }),
    // base/api_integration/standard-anp-np-banp.yaml: an Admin Deny turned to Pass, a
    // NetworkPolicy, a Baseline Deny.
    case("CNPAdminTierIntegration", &[Tcp], |_| {
        let admin = |ingress: &str, egress: &str| spec(
            "Admin", 10, json!({ "namespaces": { "matchLabels": { "ns": "x" } } }),
            json!([rule("from-z", ingress, "from", json!([{ "namespaces": { "matchLabels": { "ns": "z" } } }]), Value::Null)]),
            json!([rule("to-z", egress, "to", json!([{ "namespaces": { "matchLabels": { "ns": "z" } } }]), Value::Null)]),
        );
        let baseline = spec(
            "Baseline", 10, json!({ "namespaces": { "matchLabels": { "ns": "x" } } }),
            json!([rule("from-z", "Deny", "from", json!([{ "namespaces": { "matchLabels": { "ns": "z" } } }]), Value::Null)]),
            json!([rule("to-z", "Deny", "to", json!([{ "namespaces": { "matchLabels": { "ns": "z" } } }]), Value::Null)]),
        );
        // x's pods talk with z only, as far as their NetworkPolicy goes.
        let isolated = || all()
            .expect_peer(Peer::ns("x"), Peer::any(), false)
            .expect_peer(Peer::any(), Peer::ns("x"), false);
        vec![
            create_cluster("pass-example", admin("Deny", "Deny")),
            create("x", "allow-gress-from-to-z-to-x", json!({
                "podSelector": {},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{ "from": [{ "namespaceSelector": { "matchLabels": { "ns": "z" } } }] }],
                "egress": [{ "to": [{ "namespaceSelector": { "matchLabels": { "ns": "z" } } }] }],
            })),
            create_cluster("default", baseline),
            // The Admin tier denies z both ways; the NetworkPolicy the rest.
            probe(80, Tcp, isolated()),
            probe(81, Tcp, isolated()),
            // Ingress passed on to the NetworkPolicy, which lets z in.
            create_cluster("pass-example", admin("Pass", "Deny")),
            probe(80, Tcp, isolated().expect_peer(Peer::ns("z"), Peer::ns("x"), true)),
            // Egress too.
            create_cluster("pass-example", admin("Pass", "Pass")),
            probe(80, Tcp, isolated()
                .expect_peer(Peer::ns("z"), Peer::ns("x"), true)
                .expect_peer(Peer::ns("x"), Peer::ns("z"), true)),
            // No NetworkPolicy: the Baseline tier decides what was passed on.
            Step::Change(Change::DeletePolicies),
            probe(80, Tcp, all()
                .expect_peer(Peer::ns("z"), Peer::ns("x"), false)
                .expect_peer(Peer::ns("x"), Peer::ns("z"), false)),
            probe(81, Tcp, all()
                .expect_peer(Peer::ns("z"), Peer::ns("x"), false)
                .expect_peer(Peer::ns("x"), Peer::ns("z"), false)),
        ]
    }),
    // base/baseline_tier/standard-egress-sctp-rules.yaml, with a NetworkPolicy on x/a, which
    // the Baseline tier does not get to judge.
    case("CNPBaselineTierEgressSCTP", &[Sctp], |_| {
        let to = |name: &str| json!([{ "namespaces": named(name) }]);
        let rules = |last: &str| vec![
            rule("accept-y", "Accept", "to", to("y"), Value::Null),
            rule("deny-y", "Deny", "to", to("y"), Value::Null),
            rule("deny-z-on-81", "Deny", "to", to("z"), json!([port("sctp", 81)])),
            rule("accept-x-on-80", "Accept", "to", to("x"), json!([port("sctp", 80)])),
            rule("the-rest-of-x", last, "to", to("x"), Value::Null),
        ];
        let version = |order: &[usize], last: &str| {
            create_cluster("egress-sctp", spec("Baseline", 4, json!({ "namespaces": named("x") }), json!([]), ordered(&rules(last), order)))
        };
        let x_a = Peer::pod("x", "a");
        let x_b_c_to_z = |r: Reachability| r
            .expect_peer(Peer::pod("x", "b"), Peer::ns("z"), false)
            .expect_peer(Peer::pod("x", "c"), Peer::ns("z"), false);
        vec![
            version(&[0, 1, 2, 3, 4], "Deny"),
            create("x", "x-a-to-z", json!({
                "podSelector": { "matchLabels": { "pod": "a" } },
                "policyTypes": ["Egress"],
                "egress": [{ "to": [{ "namespaceSelector": named("z") }] }],
            })),
            // x/a: its NetworkPolicy's z only. x/b, x/c: y accepted, z on 80 and x on 80 not
            // matched or accepted, the rest of z and x denied.
            probe(80, Sctp, all()
                .expect_peer(x_a, Peer::ns("x"), false)
                .expect_peer(x_a, Peer::ns("y"), false)),
            probe(81, Sctp, x_b_c_to_z(all()
                .expect_peer(Peer::ns("x"), Peer::ns("x"), false)
                .expect_peer(x_a, Peer::ns("y"), false))),
            // Deny before Accept: x/b and x/c lose y.
            version(&[1, 0, 2, 3, 4], "Deny"),
            probe(80, Sctp, all()
                .expect_peer(Peer::ns("x"), Peer::ns("y"), false)
                .expect_peer(x_a, Peer::ns("x"), false)),
            probe(81, Sctp, x_b_c_to_z(all()
                .expect_peer(Peer::ns("x"), Peer::ns("y"), false)
                .expect_peer(Peer::ns("x"), Peer::ns("x"), false))),
            // Beyond upstream: a Baseline Pass ends the tier; nothing decides after it.
            version(&[1, 0, 2, 3, 4], "Pass"),
            probe(81, Sctp, x_b_c_to_z(all()
                .expect_peer(Peer::ns("x"), Peer::ns("y"), false)
                .expect_peer(x_a, Peer::ns("x"), false))),
        ]
    }),
    // base/admin_tier/standard-egress-inline-cidr-rules.yaml: subject x/b; z's pods
    // accepted, every address of both families denied, then two pod addresses accepted
    // first.
    case("CNPAdminTierEgressInlineCIDRPeers", &[Tcp, Udp, Sctp], |m| {
        let to_z = rule("accept-z", "Accept", "to", json!([{ "pods": {
            "namespaceSelector": named("z"), "podSelector": {},
        } }]), Value::Null);
        let deny_all = rule("deny-everything", "Deny", "to", json!([{ "networks": ["0.0.0.0/0", "::/0"] }]), Value::Null);
        let to_pods = rule("accept-y-a-and-x-c", "Accept", "to", json!([{ "networks": [
            m.host_cidr(PodId::named("y/a")), m.host_cidr(PodId::named("x/c")),
        ] }]), Value::Null);
        let subject = json!({ "pods": {
            "namespaceSelector": named("x"), "podSelector": { "matchLabels": { "pod": "b" } },
        } });
        let only_z = || all()
            .expect_peer(Peer::pod("x", "b"), Peer::any(), false)
            .expect_peer(Peer::pod("x", "b"), Peer::ns("z"), true);
        vec![
            create_cluster("inline-cidr-as-peers-example", spec("Admin", 85, subject.clone(), json!([]), json!([to_z.clone(), deny_all.clone()]))),
            probe(80, Tcp, only_z()),
            probe(80, Udp, only_z()),
            probe(81, Sctp, only_z()),
            create_cluster("inline-cidr-as-peers-example", spec("Admin", 85, subject, json!([]), json!([to_pods, to_z, deny_all]))),
            probe(80, Tcp, only_z().expect("x/b", "y/a", true).expect("x/b", "x/c", true)),
            probe(80, Udp, only_z().expect("x/b", "y/a", true).expect("x/b", "x/c", true)),
            probe(81, Sctp, only_z().expect("x/b", "y/a", true).expect("x/b", "x/c", true)),
        ]
    }),
];
