//! `podwire bench memif`: our memif library and memif through the switch,
//! each figure against its anchor measured in the same run:
//!
//! - app to app, one-way 64-byte packets per second counted at the
//!   receiver: our library (`podwire memif gen` → `sink`), ours to and from
//!   testpmd, against testpmd `txonly` → testpmd `rxonly` ([`library`]);
//! - pod to pod through the switch (memif → L3 lookup → memif), against
//!   testpmd to testpmd and against two pods on a kernel veth pair
//!   (sockperf, 64-byte UDP messages); round-trip latency through the
//!   switch against the same veth pair ([`through_switch`], [`veth`]).
//!
//! Where each peer runs is in [`cpu`]. Needs root (testpmd keeps its
//! runtime files in /var/run/dpdk; network namespaces), `dpdk-testpmd`
//! (Debian's `dpdk-dev`) and sockperf.

mod cpu;
mod library;
mod pingpong;
mod stats;
mod switch;
mod testpmd;
mod through_switch;
mod tools;
mod veth;

use std::time::Duration;

use anyhow::{Context, bail};

use super::pods::traffic;
use super::process;
use super::report::{self, Better, Figure};
use library::{End, OneWay};
use pingpong::RoundTrips;
use switch::Switch;
use veth::VethPods;

/// The anchor of the throughput figures.
const TESTPMD_ANCHOR: &str = "testpmd txonly -> testpmd rxonly over memif (DPDK 22.11)";
/// The anchor of the switch-versus-kernel figures.
const VETH_ANCHOR: &str = "two pods on a kernel veth pair, sockperf UDP 64-byte messages";

/// The targets: a figure's ratio to its anchor should be at least
/// this (throughput) or at most this (latency).
const TARGETS: [(&str, f64); 3] = [
    ("memif_lib_mpps", 1.0),
    ("memif_switch_mpps", 0.5),
    ("memif_switch_vs_veth_mpps", 10.0),
];

/// Everything one run measured.
#[derive(Clone, Debug, PartialEq)]
struct Measured {
    testpmd_to_testpmd: OneWay,
    ours_to_ours: OneWay,
    ours_to_testpmd: OneWay,
    testpmd_to_ours: OneWay,
    switch: OneWay,
    switch_rtt: RoundTrips,
    /// 64-byte UDP messages delivered over the veth pair, Mpps.
    veth_mpps: f64,
    /// Round trips over the veth pair, p50 and p99, µs.
    veth_rtt_us: (f64, f64),
}

/// The figures of `podwire bench memif`; each measurement runs `duration`
/// rounded up to whole seconds (what sockperf takes).
pub fn figures(duration: Duration) -> anyhow::Result<Vec<Figure>> {
    preflight()?;
    let seconds = u32::try_from(duration.as_secs() + u64::from(duration.subsec_nanos() > 0))
        .unwrap_or(u32::MAX)
        .max(1);
    let window = Duration::from_secs(u64::from(seconds));
    let run = std::process::id().to_string();
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    println!("{}", cpu::PLACEMENT);

    println!(
        "\napp to app over memif: 64-byte frames flat out for {seconds} s, counted at the receiver"
    );
    let one_way = |what: &str, sender: End, receiver: End| {
        println!("  {what}");
        let result = library::one_way(sender, receiver, dir.path(), window)
            .with_context(|| format!("measuring {what}"))?;
        print_one_way(&result);
        anyhow::Ok(result)
    };
    let testpmd_to_testpmd = one_way(
        "testpmd txonly (server) -> testpmd rxonly (client)",
        End::Testpmd,
        End::Testpmd,
    )?;
    let ours_to_ours = one_way(
        "podwire memif gen (server) -> podwire memif sink (client)",
        End::Ours,
        End::Ours,
    )?;
    let ours_to_testpmd = one_way(
        "podwire memif gen (server) -> testpmd rxonly (client)",
        End::Ours,
        End::Testpmd,
    )?;
    let testpmd_to_ours = one_way(
        "testpmd txonly (server) -> podwire memif sink (client)",
        End::Testpmd,
        End::Ours,
    )?;

    println!(
        "\npod to pod through the switch: memif {} -> ip4-lookup -> memif {}, {seconds} s each",
        switch::A.name,
        switch::B.name
    );
    let (switch, switch_rtt) = {
        let switch = Switch::start(&run)?;
        println!(
            "  podwire memif gen ({}) -> switch -> podwire memif responder ({}), 64-byte frames flat out",
            switch::A.pod_ip,
            switch::B.pod_ip
        );
        let one_way = through_switch::one_way(&switch, window)
            .context("measuring pod to pod through the switch")?;
        print_one_way(&one_way);
        println!(
            "  round trips: 64-byte UDP frames from {} to the echo port of {} and back",
            switch::A.pod_ip,
            switch::B.pod_ip
        );
        let rtt = through_switch::round_trips(&switch, window)
            .context("measuring round trips through the switch")?;
        println!(
            "    {} round trips, {} lost: p50 {:.1} µs, p99 {:.1} µs",
            rtt.samples, rtt.lost, rtt.p50_us, rtt.p99_us
        );
        (one_way, rtt)
    };

    println!("\nthe kernel path between two pods, {seconds} s each");
    let (veth_mpps, veth_rtt_us) = {
        let pods = VethPods::create(&run)?;
        let kpps = traffic::udp64_kpps(pods.pods(), seconds).context("measuring the veth pair")?;
        let rtt = cpu::on_cpu(cpu::VETH_RTT, || traffic::rtt_us(pods.pods(), seconds))
            .context("measuring the veth pair")?;
        (kpps / 1e3, rtt)
    };

    Ok(compare(&Measured {
        testpmd_to_testpmd,
        ours_to_ours,
        ours_to_testpmd,
        testpmd_to_ours,
        switch,
        switch_rtt,
        veth_mpps,
        veth_rtt_us,
    }))
    .inspect(|figures| report::print_targets(figures, &TARGETS))
}

/// What each side counted.
fn print_one_way(one_way: &OneWay) {
    let (sent, received) = (&one_way.sent, &one_way.received);
    println!(
        "    received {} in {:.3} s: {:.3} Mpps (the sender counted {} in {:.3} s, {:.3} Mpps)",
        received.packets,
        received.seconds,
        received.mpps(),
        sent.packets,
        sent.seconds,
        sent.mpps()
    );
}

fn compare(m: &Measured) -> Vec<Figure> {
    let anchor = m.testpmd_to_testpmd.received.mpps();
    let throughput = |name, podwire: &OneWay| {
        Figure::new(
            name,
            "Mpps",
            podwire.received.mpps(),
            TESTPMD_ANCHOR,
            Some(anchor),
            Better::Higher,
        )
    };
    let switch_mpps = m.switch.received.mpps();
    vec![
        throughput("memif_lib_mpps", &m.ours_to_ours),
        throughput("memif_lib_to_testpmd_mpps", &m.ours_to_testpmd),
        throughput("memif_testpmd_to_lib_mpps", &m.testpmd_to_ours),
        throughput("memif_switch_mpps", &m.switch),
        Figure::new(
            "memif_switch_vs_veth_mpps",
            "Mpps",
            switch_mpps,
            VETH_ANCHOR,
            Some(m.veth_mpps),
            Better::Higher,
        ),
        Figure::new(
            "memif_switch_rtt_p50_us",
            "µs",
            m.switch_rtt.p50_us,
            VETH_ANCHOR,
            Some(m.veth_rtt_us.0),
            Better::Lower,
        ),
        Figure::new(
            "memif_switch_rtt_p99_us",
            "µs",
            m.switch_rtt.p99_us,
            VETH_ANCHOR,
            Some(m.veth_rtt_us.1),
            Better::Lower,
        ),
    ]
}

/// Fails early, saying what to do, when the benchmark cannot run here.
fn preflight() -> anyhow::Result<()> {
    if !rustix::process::geteuid().is_root() {
        bail!(
            "the memif benchmark runs testpmd (its runtime files are in /var/run/dpdk) and \
             creates network namespaces: run it as root"
        );
    }
    for (tool, package) in [
        (testpmd::TESTPMD, "dpdk-dev"),
        ("stdbuf", "coreutils"),
        ("taskset", "util-linux"),
        ("setpriv", "util-linux"),
        ("ip", "iproute2"),
        ("sockperf", "sockperf"),
    ] {
        if !process::on_path(tool) {
            bail!("{tool} not found: install {package} (scripts/install-deps.sh)");
        }
    }
    cpu::check()
}

#[cfg(test)]
mod tests {
    use super::library::Count;
    use super::*;

    fn one_way(mpps: f64) -> OneWay {
        let count = Count {
            packets: (mpps * 1e6) as u64,
            seconds: 1.0,
        };
        OneWay {
            sent: count,
            received: count,
        }
    }

    fn measured() -> Measured {
        Measured {
            testpmd_to_testpmd: one_way(20.0),
            ours_to_ours: one_way(22.0),
            ours_to_testpmd: one_way(18.0),
            testpmd_to_ours: one_way(16.0),
            switch: one_way(8.0),
            switch_rtt: RoundTrips {
                samples: 1000,
                lost: 0,
                p50_us: 6.0,
                p99_us: 12.0,
            },
            veth_mpps: 1.0,
            veth_rtt_us: (20.0, 30.0),
        }
    }

    #[test]
    fn each_figure_stands_beside_its_anchor() {
        let figures = compare(&measured());
        let got: Vec<(&str, f64, Option<f64>, &str, Better)> = figures
            .iter()
            .map(|f| {
                (
                    f.name.as_str(),
                    f.podwire,
                    f.anchor_value,
                    f.anchor.as_str(),
                    f.better,
                )
            })
            .collect();
        let h = Better::Higher;
        let l = Better::Lower;
        assert_eq!(
            got,
            [
                ("memif_lib_mpps", 22.0, Some(20.0), TESTPMD_ANCHOR, h),
                (
                    "memif_lib_to_testpmd_mpps",
                    18.0,
                    Some(20.0),
                    TESTPMD_ANCHOR,
                    h
                ),
                (
                    "memif_testpmd_to_lib_mpps",
                    16.0,
                    Some(20.0),
                    TESTPMD_ANCHOR,
                    h
                ),
                ("memif_switch_mpps", 8.0, Some(20.0), TESTPMD_ANCHOR, h),
                ("memif_switch_vs_veth_mpps", 8.0, Some(1.0), VETH_ANCHOR, h),
                ("memif_switch_rtt_p50_us", 6.0, Some(20.0), VETH_ANCHOR, l),
                ("memif_switch_rtt_p99_us", 12.0, Some(30.0), VETH_ANCHOR, l),
            ]
        );
    }

    #[test]
    fn targets_are_judged_by_ratio() {
        let lines = report::target_lines(&compare(&measured()), &TARGETS);
        assert_eq!(
            lines,
            [
                "memif_lib_mpps >= 1x its anchor: met (1.10x)",
                "memif_switch_mpps >= 0.5x its anchor: NOT met (0.40x)",
                "memif_switch_vs_veth_mpps >= 10x its anchor: NOT met (8.00x)",
            ]
        );
    }
}
