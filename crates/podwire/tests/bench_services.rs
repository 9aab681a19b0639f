//! End-to-end: `podwire bench services` in its short mode (10 and 100 Services). Nothing
//! here judges a time: the run must finish, report every figure the issue names (at the
//! short run's 100 Services) in its unit with a sane value beside its anchor, judge the
//! targets, and leave no namespace behind.

mod support;

use support::bench::*;
use support::*;

/// What a figure's anchor value must be.
#[derive(Copy, Clone, Debug, PartialEq)]
enum Anchor {
    /// Measured in the run: a positive number.
    Positive,
    /// A difference of two kernel round trips: a number, of either sign on a noisy machine
    /// with few rules.
    Difference,
    /// Nothing is measured against it.
    Null,
}

/// The figures of `--quick`, each in its unit, with its anchor.
const FIGURES: [(&str, &str, Anchor); 11] = [
    ("svc_ns_per_packet_10", "ns", Anchor::Positive),
    ("svc_ns_per_packet_100", "ns", Anchor::Positive),
    ("svc_first_packet_us_100", "µs", Anchor::Difference),
    ("svc_first_packet_us_100_iptables", "µs", Anchor::Difference),
    ("svc_first_packet_p99_us_100", "µs", Anchor::Difference),
    (
        "svc_first_packet_p99_us_100_iptables",
        "µs",
        Anchor::Difference,
    ),
    ("svc_update_ms_100", "ms", Anchor::Positive),
    ("svc_load_s_100", "s", Anchor::Positive),
    ("svc_iptables_restore_s_100", "s", Anchor::Positive),
    ("svc_first_packet_ns_per_packet_100", "ns", Anchor::Positive),
    ("svc_bytes_per_service", "bytes", Anchor::Null),
];

#[test]
fn the_short_run_reports_every_figure_beside_the_kernel_and_removes_what_it_made() {
    if !root_or_skip() {
        return;
    }
    let BenchRun { figures, log, pid } = run_bench(&["services", "--quick"], None);
    assert_eq!(figures.len(), FIGURES.len(), "{figures:?}");
    for (name, unit, anchor) in FIGURES {
        let f = figure(&figures, name);
        assert_eq!(f["unit"], unit, "{f}");
        assert_eq!(f["better"], "lower", "{f}");
        assert!(positive_finite(&f["podwire"]), "{name}: {f}");
        match anchor {
            Anchor::Positive => {
                assert!(positive_finite(&f["anchor_value"]), "{name}: {f}");
                assert!(positive_finite(&f["ratio"]), "{name}: {f}");
            }
            Anchor::Difference => assert!(
                f["anchor_value"].as_f64().is_some_and(f64::is_finite),
                "{name}: {f}"
            ),
            Anchor::Null => assert!(f["anchor_value"].is_null(), "{name}: {f}"),
        }
    }
    // Both first-packet figures compare the same podwire value with a different kernel.
    assert_eq!(
        figure(&figures, "svc_first_packet_us_100")["podwire"],
        figure(&figures, "svc_first_packet_us_100_iptables")["podwire"]
    );
    assert!(
        figure(&figures, "svc_first_packet_us_100")["anchor"]
            .as_str()
            .is_some_and(|a| a.contains("nftables"))
    );
    for verdict in [
        "svc_ns_per_packet_100 <= 1.1x its anchor: ",
        "svc_first_packet_us_100 <= 1x its anchor: ",
        "svc_update_ms_100 <= 1 ms: ",
    ] {
        assert!(log.contains(verdict), "no verdict `{verdict}`:\n{log}");
    }
    assert!(log.contains("what the figures are:"), "{log}");
    assert!(log.contains("iptables-restore loads "), "{log}");

    let prefix = format!("pwsvc-{pid}-");
    let left: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.starts_with(&prefix))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "namespaces left behind: {left:?}");
}

#[test]
fn in_memory_only_needs_no_kernel_and_says_so() {
    let BenchRun { figures, log, .. } =
        run_bench(&["services", "--quick", "--in-memory-only"], None);
    assert_eq!(figures.len(), FIGURES.len(), "{figures:?}");
    for (name, _, anchor) in FIGURES {
        let f = figure(&figures, name);
        assert!(positive_finite(&f["podwire"]), "{name}: {f}");
        let kernel = matches!(anchor, Anchor::Difference)
            || [
                "svc_update_ms_100",
                "svc_load_s_100",
                "svc_iptables_restore_s_100",
            ]
            .contains(&name);
        if kernel {
            assert!(f["anchor_value"].is_null(), "{name}: {f}");
            assert!(
                f["anchor"].as_str().is_some_and(|a| a.contains("not run")),
                "{name}: {f}"
            );
        }
    }
    assert!(!log.contains("iptables-restore loads "), "{log}");
}
