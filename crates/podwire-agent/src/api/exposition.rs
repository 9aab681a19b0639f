//! The Prometheus text exposition format (version 0.0.4) of the data plane's counters.
//!
//! Each metric family is written as `# HELP`, `# TYPE`, then one sample per interface, per
//! (worker, node), per (worker, node, reason), per worker or per (pod, policy rule). Label values are escaped as the format
//! requires (`\` → `\\`, `"` → `\"`, newline → `\n`).

use std::fmt::Write;

use podwire_model::api::{ErrorView, InterfaceView, NodeRuntimeView, SessionTableView};
use podwire_model::policy::PolicyRuleView;

/// The `Content-Type` of the text this module writes.
pub(super) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A metric family whose samples are read from views of type `T`.
struct Family<T> {
    name: &'static str,
    help: &'static str,
    kind: &'static str,
    value: fn(&T) -> u64,
}

const COUNTER: &str = "counter";
const GAUGE: &str = "gauge";

const INTERFACE_FAMILIES: &[Family<InterfaceView>] = &[
    Family {
        name: "podwire_interface_rx_packets_total",
        help: "Packets received on the interface.",
        kind: COUNTER,
        value: |i| i.rx_packets,
    },
    Family {
        name: "podwire_interface_rx_bytes_total",
        help: "Bytes received on the interface.",
        kind: COUNTER,
        value: |i| i.rx_bytes,
    },
    Family {
        name: "podwire_interface_tx_packets_total",
        help: "Packets sent on the interface.",
        kind: COUNTER,
        value: |i| i.tx_packets,
    },
    Family {
        name: "podwire_interface_tx_bytes_total",
        help: "Bytes sent on the interface.",
        kind: COUNTER,
        value: |i| i.tx_bytes,
    },
    Family {
        name: "podwire_interface_drops_total",
        help: "Packets lost on the interface (ring full, driver errors).",
        kind: COUNTER,
        value: |i| i.drops,
    },
    Family {
        name: "podwire_interface_up",
        help: "1 when the interface passes traffic, 0 when it is down.",
        kind: GAUGE,
        value: |i| u64::from(i.up),
    },
];

const NODE_FAMILIES: &[Family<NodeRuntimeView>] = &[
    Family {
        name: "podwire_node_calls_total",
        help: "Times the graph node ran.",
        kind: COUNTER,
        value: |n| n.calls,
    },
    Family {
        name: "podwire_node_vectors_total",
        help: "Vectors the graph node processed.",
        kind: COUNTER,
        value: |n| n.vectors,
    },
    Family {
        name: "podwire_node_packets_total",
        help: "Packets the graph node processed.",
        kind: COUNTER,
        value: |n| n.packets,
    },
    Family {
        name: "podwire_node_nanoseconds_total",
        help: "Time spent in the graph node, in nanoseconds.",
        kind: COUNTER,
        value: |n| n.nanos,
    },
];

const ERROR_FAMILIES: &[Family<ErrorView>] = &[Family {
    name: "podwire_drops_total",
    help: "Packets a graph node dropped or punted, by reason.",
    kind: COUNTER,
    value: |e| e.count,
}];

const SESSION_FAMILIES: &[Family<SessionTableView>] = &[
    Family {
        name: "podwire_sessions",
        help: "Sessions the worker tracks now.",
        kind: GAUGE,
        value: |s| s.active,
    },
    Family {
        name: "podwire_sessions_capacity",
        help: "The most sessions the worker tracks.",
        kind: GAUGE,
        value: |s| s.capacity,
    },
    Family {
        name: "podwire_sessions_created_total",
        help: "Sessions made.",
        kind: COUNTER,
        value: |s| s.created,
    },
    Family {
        name: "podwire_sessions_expired_total",
        help: "Sessions that timed out.",
        kind: COUNTER,
        value: |s| s.expired,
    },
    Family {
        name: "podwire_sessions_evicted_total",
        help: "Unanswered sessions evicted to make room.",
        kind: COUNTER,
        value: |s| s.evicted,
    },
    Family {
        name: "podwire_sessions_refused_full_total",
        help: "New flows refused because the session table was full.",
        kind: COUNTER,
        value: |s| s.refused_full,
    },
    Family {
        name: "podwire_sessions_cleared_total",
        help: "UDP sessions cleared because their endpoint stopped serving.",
        kind: COUNTER,
        value: |s| s.cleared,
    },
];

const POLICY_FAMILIES: &[Family<PolicyRuleView>] = &[Family {
    name: "podwire_policy_rule_packets_total",
    help: "New connections a policy rule decided (Allow, Accept, Deny) or passed on (Pass), by pod, rule and action.",
    kind: COUNTER,
    value: |p| p.packets,
}];

/// The views whose counters `/metrics` exports.
pub(super) struct Counters<'a> {
    /// Per interface.
    pub interfaces: &'a [InterfaceView],
    /// Per worker and graph node.
    pub runtime: &'a [NodeRuntimeView],
    /// Per worker, graph node and reason.
    pub errors: &'a [ErrorView],
    /// Per worker.
    pub sessions: &'a [SessionTableView],
    /// Per pod and policy rule.
    pub policies: &'a [PolicyRuleView],
}

/// The exposition text of the given counters.
pub(super) fn render(counters: &Counters<'_>) -> String {
    let mut out = String::new();
    write_families(&mut out, INTERFACE_FAMILIES, counters.interfaces, |i| {
        vec![("interface", i.name.clone())]
    });
    write_families(&mut out, NODE_FAMILIES, counters.runtime, |n| {
        vec![("worker", n.worker.to_string()), ("node", n.node.clone())]
    });
    write_families(&mut out, ERROR_FAMILIES, counters.errors, |e| {
        vec![
            ("worker", e.worker.to_string()),
            ("node", e.node.clone()),
            ("reason", e.reason.clone()),
        ]
    });
    write_families(&mut out, SESSION_FAMILIES, counters.sessions, |s| {
        vec![("worker", s.worker.to_string())]
    });
    write_families(&mut out, POLICY_FAMILIES, counters.policies, |p| {
        vec![
            ("pod", p.pod.clone()),
            ("rule", p.rule.clone()),
            ("action", p.action.clone()),
        ]
    });
    out
}

/// Writes each family in `families` with one sample per view, labelled by `labels`.
fn write_families<T>(
    out: &mut String,
    families: &[Family<T>],
    views: &[T],
    labels: impl Fn(&T) -> Vec<(&'static str, String)>,
) {
    for family in families {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "# HELP {} {}", family.name, family.help);
        let _ = writeln!(out, "# TYPE {} {}", family.name, family.kind);
        for view in views {
            out.push_str(family.name);
            out.push('{');
            for (i, (label, value)) in labels(view).iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(label);
                out.push_str("=\"");
                push_escaped(out, value);
                out.push('"');
            }
            let _ = writeln!(out, "}} {}", (family.value)(view));
        }
    }
}

/// Appends a label value, escaped.
fn push_escaped(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interface(name: &str, rx_packets: u64, up: bool) -> InterfaceView {
        InterfaceView {
            index: 1,
            name: name.into(),
            kind: "tap".into(),
            mac: "02:00:00:00:00:01".into(),
            mtu: 1500,
            offloads: vec![],
            up,
            addresses: vec![],
            peer: String::new(),
            rx_packets,
            rx_bytes: 100,
            tx_packets: 3,
            tx_bytes: 300,
            drops: 4,
        }
    }

    /// No views at all.
    const NONE: Counters<'static> = Counters {
        interfaces: &[],
        runtime: &[],
        errors: &[],
        sessions: &[],
        policies: &[],
    };

    #[test]
    fn writes_each_family_once_with_a_sample_per_view() {
        let text = render(&Counters {
            interfaces: &[interface("a", 1, true), interface("b", 2, false)],
            runtime: &[NodeRuntimeView {
                worker: 0,
                node: "ip4-lookup".into(),
                calls: 10,
                vectors: 11,
                packets: 12,
                nanos: 13,
            }],
            errors: &[ErrorView {
                worker: 1,
                node: "ip4-input".into(),
                reason: "ttl-expired".into(),
                description: "IP TTL expired".into(),
                count: 7,
            }],
            sessions: &[SessionTableView {
                worker: 0,
                active: 3,
                capacity: 1024,
                created: 9,
                expired: 5,
                evicted: 1,
                refused_full: 2,
                cleared: 0,
            }],
            policies: &[
                PolicyRuleView {
                    pod: "shop/db-0".into(),
                    rule: "shop/db-access ingress[1]".into(),
                    action: "Allow".into(),
                    packets: 42,
                },
                PolicyRuleView {
                    pod: "shop/db-0".into(),
                    rule: "ClusterNetworkPolicy/lockdown ingress[0]".into(),
                    action: "Admin Deny".into(),
                    packets: 3,
                },
            ],
        });
        let expected_lines = [
            "# HELP podwire_interface_rx_packets_total Packets received on the interface.",
            "# TYPE podwire_interface_rx_packets_total counter",
            r#"podwire_interface_rx_packets_total{interface="a"} 1"#,
            r#"podwire_interface_rx_packets_total{interface="b"} 2"#,
            r#"podwire_interface_tx_bytes_total{interface="b"} 300"#,
            "# TYPE podwire_interface_up gauge",
            r#"podwire_interface_up{interface="a"} 1"#,
            r#"podwire_interface_up{interface="b"} 0"#,
            "# TYPE podwire_node_packets_total counter",
            r#"podwire_node_calls_total{worker="0",node="ip4-lookup"} 10"#,
            r#"podwire_node_vectors_total{worker="0",node="ip4-lookup"} 11"#,
            r#"podwire_node_packets_total{worker="0",node="ip4-lookup"} 12"#,
            r#"podwire_node_nanoseconds_total{worker="0",node="ip4-lookup"} 13"#,
            "# TYPE podwire_drops_total counter",
            r#"podwire_drops_total{worker="1",node="ip4-input",reason="ttl-expired"} 7"#,
            "# TYPE podwire_sessions gauge",
            r#"podwire_sessions{worker="0"} 3"#,
            r#"podwire_sessions_capacity{worker="0"} 1024"#,
            r#"podwire_sessions_refused_full_total{worker="0"} 2"#,
            "# TYPE podwire_policy_rule_packets_total counter",
            r#"podwire_policy_rule_packets_total{pod="shop/db-0",rule="shop/db-access ingress[1]",action="Allow"} 42"#,
            r#"podwire_policy_rule_packets_total{pod="shop/db-0",rule="ClusterNetworkPolicy/lockdown ingress[0]",action="Admin Deny"} 3"#,
        ];
        let lines: Vec<&str> = text.lines().collect();
        for expected in expected_lines {
            assert!(lines.contains(&expected), "missing {expected:?} in\n{text}");
        }
        assert_eq!(
            lines.iter().filter(|l| l.starts_with("# TYPE")).count(),
            INTERFACE_FAMILIES.len()
                + NODE_FAMILIES.len()
                + ERROR_FAMILIES.len()
                + SESSION_FAMILIES.len()
                + POLICY_FAMILIES.len()
        );
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn escapes_label_values() {
        let text = render(&Counters {
            interfaces: &[interface("a\"b\\c\nd", 5, true)],
            ..NONE
        });
        assert!(
            text.contains(r#"podwire_interface_rx_packets_total{interface="a\"b\\c\nd"} 5"#),
            "{text}"
        );
    }

    #[test]
    fn no_views_still_declares_the_families() {
        let text = render(&NONE);
        assert!(text.contains("# TYPE podwire_drops_total counter"));
        assert!(text.lines().all(|line| line.starts_with('#')), "{text}");
    }
}
