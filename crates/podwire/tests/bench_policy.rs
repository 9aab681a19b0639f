//! End-to-end: `podwire bench policy` in its short mode (10 and 1000 rules, 100
//! NetworkPolicies). Nothing here judges a time: the run must finish, report every figure
//! the issue names in its unit with a sane value beside its anchor, judge the target, and
//! leave nothing in its temporary directory.

mod support;

use support::bench::*;

/// What a figure's anchor must be.
#[derive(Copy, Clone, Debug, PartialEq)]
enum Anchor {
    /// The same run without policy: a positive number, and a ratio.
    NoPolicy,
    /// Nothing is measured against it.
    Null,
}

/// The figures of the run, each in its unit, with its anchor.
const FIGURES: [(&str, &str, Anchor); 8] = [
    ("policy_ns_per_packet_none", "ns", Anchor::Null),
    ("policy_ns_per_packet_10", "ns", Anchor::NoPolicy),
    ("policy_ns_per_packet_1k", "ns", Anchor::NoPolicy),
    ("policy_established_ns_per_packet_none", "ns", Anchor::Null),
    (
        "policy_established_ns_per_packet_10",
        "ns",
        Anchor::NoPolicy,
    ),
    (
        "policy_established_ns_per_packet_1k",
        "ns",
        Anchor::NoPolicy,
    ),
    ("policy_compile_100_ms", "ms", Anchor::Null),
    ("policy_classifier_bytes_1k", "bytes", Anchor::Null),
];

#[test]
fn the_short_run_reports_every_figure_beside_the_cost_without_policy() {
    // Its own TMPDIR: the cluster store the compile uses must be gone when it ends.
    let tmp = tempfile::tempdir().unwrap();
    let BenchRun { figures, log, .. } = run_bench(
        &["policy", "--quick", "--rules", "10,1000"],
        Some(tmp.path()),
    );
    assert_eq!(figures.len(), FIGURES.len(), "{figures:?}");
    for (name, unit, anchor) in FIGURES {
        let f = figure(&figures, name);
        assert_eq!(f["unit"], unit, "{f}");
        assert_eq!(f["better"], "lower", "{f}");
        assert!(positive_finite(&f["podwire"]), "{name}: {f}");
        match anchor {
            Anchor::NoPolicy => {
                assert!(positive_finite(&f["anchor_value"]), "{name}: {f}");
                assert!(positive_finite(&f["ratio"]), "{name}: {f}");
                assert!(
                    f["anchor"]
                        .as_str()
                        .is_some_and(|a| a.contains("no policy")),
                    "{name}: {f}"
                );
            }
            Anchor::Null => assert!(f["anchor_value"].is_null(), "{name}: {f}"),
        }
    }
    // Each kind of packet is compared with its own kind without policy.
    for (with, without) in [
        ("policy_ns_per_packet_1k", "policy_ns_per_packet_none"),
        (
            "policy_established_ns_per_packet_1k",
            "policy_established_ns_per_packet_none",
        ),
    ] {
        assert_eq!(
            figure(&figures, with)["anchor_value"],
            figure(&figures, without)["podwire"],
            "{with}"
        );
    }
    assert!(
        log.contains("policy_ns_per_packet_1k <= 1.2x its anchor: "),
        "no verdict on the target:\n{log}"
    );
    assert!(log.contains("what the figures are:"), "{log}");
    assert!(
        log.contains("the server pod has 100 rules"),
        "the compile did not report its result:\n{log}"
    );
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
