//! `podwire bench cni`: how long a container runtime waits for podwire's
//! CNI plugin, against Debian's `bridge` + `host-local` measured in the
//! same run. Both plugins are executed as a runtime executes them
//! ([`plugin`]); podwire's talks to a `podwire daemon` started for the run
//! ([`agent`]), the reference wires veth pairs to a Linux bridge
//! ([`reference`]). Every pod has a fresh network namespace made before
//! anything is timed ([`pods`]). Measured ([`measure`]):
//!
//! - ADD p50 and p99 and DEL p50, one pod at a time (ADD then DEL, both
//!   sides in turn for each pod);
//! - ADD p50 with 10 ADDs in flight at once;
//! - the wall clock of bringing up 110 pods (the kubelet's default pod
//!   limit per node), 10 at a time.
//!
//! Needs root (network namespaces, interfaces) and Debian's
//! containernetworking-plugins.

mod agent;
mod measure;
mod plugin;
mod pods;
mod reference;

use std::path::Path;

use anyhow::bail;

use super::process;
use super::report::{self, Better, Figure};
use agent::Agent;
use measure::{Concurrent, OneByOne};
use pods::Pods;
use reference::Reference;

/// The anchor of every figure here.
const ANCHOR: &str = "Debian's bridge + host-local CNI plugins (veth + Linux bridge)";
/// ADDs in flight at once in the concurrent measurements.
const THREADS: usize = 10;
/// Pods brought up in the bring-up measurement.
const BRING_UP: usize = 110;
/// The most `--iterations`: each makes two network namespaces per side,
/// all kept until the end of the run, and the subnets must hold the
/// concurrent ADDs' pods at once.
pub const MAX_ITERATIONS: usize = 1000;
/// The target: podwire's figure at most this times the anchor's.
const TARGETS: [(&str, f64); 1] = [("cni_add_p50_ms", 0.25)];

/// One side's figures.
#[derive(Clone, Debug, PartialEq)]
struct SideFigures {
    add_p50_ms: f64,
    add_p99_ms: f64,
    del_p50_ms: f64,
    add_parallel10_p50_ms: f64,
    pods_110_s: f64,
}

impl SideFigures {
    fn new(one_by_one: &OneByOne, concurrent: &Concurrent, bring_up: &Concurrent) -> SideFigures {
        SideFigures {
            add_p50_ms: one_by_one.add.percentile_ms(50.0),
            add_p99_ms: one_by_one.add.percentile_ms(99.0),
            del_p50_ms: one_by_one.del.percentile_ms(50.0),
            add_parallel10_p50_ms: concurrent.add.percentile_ms(50.0),
            pods_110_s: bring_up.wall.as_secs_f64(),
        }
    }
}

/// The figures of `podwire bench cni`, from `iterations` one-by-one ADD
/// and DEL cycles per side (and as many concurrent ADDs, rounded up to a
/// multiple of 10).
pub fn figures(iterations: usize) -> anyhow::Result<Vec<Figure>> {
    preflight()?;
    if !(1..=MAX_ITERATIONS).contains(&iterations) {
        bail!(
            "--iterations {iterations}: give 1 to {MAX_ITERATIONS} (each iteration keeps two \
             network namespaces per side until the end of the run)"
        );
    }
    let run = std::process::id();
    let concurrent = THREADS * iterations.div_ceil(THREADS);
    println!(
        "\nCNI ADD and DEL as a runtime runs them: {iterations} pods one at a time, \
         {concurrent} pods {THREADS} at a time, {BRING_UP} pods {THREADS} at a time"
    );
    let reference = Reference::create(run)?;
    println!(
        "reference: {}/bridge + host-local, bridge {}, pods in {}, default route via the bridge",
        reference::CNI_PATH,
        reference.bridge(),
        reference::SUBNET
    );
    let agent = Agent::start(run)?;
    println!(
        "podwire: this binary as the plugin, a `podwire daemon` with a routed tap network, pods in {}",
        agent::SUBNET
    );
    let [reference_figures, podwire_figures] = measure_sides(
        run,
        [("bridge", reference.plugin()), ("podwire", agent.plugin())],
        iterations,
    )?;
    let figures = compare(&podwire_figures, &reference_figures);
    report::print_targets(&figures, &TARGETS);
    println!("removing the bridge and stopping the daemon");
    Ok(figures)
}

/// Runs every measurement on both sides (each a label for names and the
/// log, and a plugin); the namespaces are made first and all removed at the
/// end, so no namespace teardown runs in the kernel while a figure is timed.
fn measure_sides(
    run: u32,
    sides: [(&str, &plugin::Plugin); 2],
    iterations: usize,
) -> anyhow::Result<[SideFigures; 2]> {
    let concurrent = THREADS * iterations.div_ceil(THREADS);
    // One ADD and DEL each, not timed: the bridge plugin makes its bridge
    // on its first ADD, both binaries come into the page cache, and a side
    // that cannot wire a pod fails here, before hundreds of namespaces.
    for (label, plugin) in sides {
        let warm_up = Pods::create(plugin, run, &format!("{label}-warm"), 1)?;
        warm_up.add(0)?;
        warm_up.del(0)?;
    }

    let make = |what: &str, count: usize| -> anyhow::Result<[Pods; 2]> {
        let [(a, a_plugin), (b, b_plugin)] = sides;
        Ok([
            Pods::create(a_plugin, run, &format!("{a}-{what}"), count)?,
            Pods::create(b_plugin, run, &format!("{b}-{what}"), count)?,
        ])
    };
    println!(
        "making {} network namespaces (not timed)",
        2 * (iterations + concurrent + BRING_UP)
    );
    let one_by_one = make("seq", iterations)?;
    let concurrent_pods = make("par", concurrent)?;
    let bring_up = make("up", BRING_UP)?;

    println!("one at a time: ADD then DEL, each side in turn");
    let [a_one, b_one] = measure::one_by_one([&one_by_one[0], &one_by_one[1]])?;
    println!("{THREADS} at a time: {concurrent} ADDs per side, one side after the other");
    let a_concurrent = measure::concurrent_adds(&concurrent_pods[0], THREADS)?;
    let b_concurrent = measure::concurrent_adds(&concurrent_pods[1], THREADS)?;
    println!("bring-up: {BRING_UP} pods {THREADS} at a time, one side after the other");
    let a_up = measure::concurrent_adds(&bring_up[0], THREADS)?;
    let b_up = measure::concurrent_adds(&bring_up[1], THREADS)?;

    let figures = [
        SideFigures::new(&a_one, &a_concurrent, &a_up),
        SideFigures::new(&b_one, &b_concurrent, &b_up),
    ];
    for ((label, _), f) in sides.iter().zip(&figures) {
        print_side(label, f);
    }
    println!("removing the pods (CNI DEL) and their namespaces");
    Ok(figures)
}

fn print_side(name: &str, f: &SideFigures) {
    println!(
        "  {name:<8} ADD p50 {:.2} ms, p99 {:.2} ms; DEL p50 {:.2} ms; \
         {THREADS} at a time ADD p50 {:.2} ms; {BRING_UP} pods in {:.3} s",
        f.add_p50_ms, f.add_p99_ms, f.del_p50_ms, f.add_parallel10_p50_ms, f.pods_110_s
    );
}

fn compare(podwire: &SideFigures, reference: &SideFigures) -> Vec<Figure> {
    type Read = fn(&SideFigures) -> f64;
    let rows: [(&str, &str, Read); 5] = [
        ("cni_add_p50_ms", "ms", |f| f.add_p50_ms),
        ("cni_add_p99_ms", "ms", |f| f.add_p99_ms),
        ("cni_del_p50_ms", "ms", |f| f.del_p50_ms),
        ("cni_add_parallel10_p50_ms", "ms", |f| {
            f.add_parallel10_p50_ms
        }),
        ("cni_110_pods_s", "s", |f| f.pods_110_s),
    ];
    rows.into_iter()
        .map(|(name, unit, value)| {
            Figure::new(
                name,
                unit,
                value(podwire),
                ANCHOR,
                Some(value(reference)),
                Better::Lower,
            )
        })
        .collect()
}

/// Fails early, saying what to do, when the benchmark cannot run here.
fn preflight() -> anyhow::Result<()> {
    if !rustix::process::geteuid().is_root() {
        bail!(
            "the CNI benchmark creates network namespaces, a bridge and pod interfaces: run it as root"
        );
    }
    if !process::on_path("ip") {
        bail!("ip not found: install iproute2 (scripts/install-deps.sh)");
    }
    for plugin in ["bridge", "host-local"] {
        if !Path::new(reference::CNI_PATH).join(plugin).is_file() {
            bail!(
                "{}/{plugin} not found: install containernetworking-plugins (scripts/install-deps.sh)",
                reference::CNI_PATH
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn ms(d: Duration) -> f64 {
        d.as_secs_f64() * 1e3
    }

    fn side(scale: f64) -> SideFigures {
        SideFigures {
            add_p50_ms: 10.0 * scale,
            add_p99_ms: 20.0 * scale,
            del_p50_ms: 5.0 * scale,
            add_parallel10_p50_ms: 30.0 * scale,
            pods_110_s: 0.5 * scale,
        }
    }

    #[test]
    fn each_figure_is_podwire_beside_the_reference() {
        let figures = compare(&side(0.2), &side(1.0));
        let got: Vec<(&str, &str, f64, Option<f64>)> = figures
            .iter()
            .map(|f| (f.name.as_str(), f.unit.as_str(), f.podwire, f.anchor_value))
            .collect();
        assert_eq!(
            got,
            [
                ("cni_add_p50_ms", "ms", 2.0, Some(10.0)),
                ("cni_add_p99_ms", "ms", 4.0, Some(20.0)),
                ("cni_del_p50_ms", "ms", 1.0, Some(5.0)),
                ("cni_add_parallel10_p50_ms", "ms", 6.0, Some(30.0)),
                ("cni_110_pods_s", "s", 0.1, Some(0.5)),
            ]
        );
        assert!(figures.iter().all(|f| f.better == Better::Lower));
        assert!(figures.iter().all(|f| f.anchor == ANCHOR));
        assert!((figures[0].ratio.unwrap() - 0.2).abs() < 1e-9);
    }

    #[test]
    fn the_add_target_is_a_quarter_of_the_reference() {
        let met = report::target_lines(&compare(&side(0.2), &side(1.0)), &TARGETS);
        assert_eq!(met, ["cni_add_p50_ms <= 0.25x its anchor: met (0.20x)"]);
        let not_met = report::target_lines(&compare(&side(0.5), &side(1.0)), &TARGETS);
        assert_eq!(
            not_met,
            ["cni_add_p50_ms <= 0.25x its anchor: NOT met (0.50x)"]
        );
    }

    #[test]
    fn side_figures_come_from_the_measurements() {
        let latencies = |values: &[u64]| -> measure::Latencies {
            values
                .iter()
                .map(|&v| Duration::from_millis(v))
                .collect::<Vec<_>>()
                .into()
        };
        let one_by_one = OneByOne {
            add: latencies(&[3, 1, 2, 50]),
            del: latencies(&[4, 4, 9, 1]),
        };
        let concurrent = Concurrent {
            add: latencies(&[7, 8, 9]),
            wall: Duration::from_millis(30),
        };
        let bring_up = Concurrent {
            add: latencies(&[1]),
            wall: Duration::from_millis(1500),
        };
        let f = SideFigures::new(&one_by_one, &concurrent, &bring_up);
        assert_eq!(
            f,
            SideFigures {
                add_p50_ms: ms(Duration::from_millis(2)),
                add_p99_ms: ms(Duration::from_millis(50)),
                del_p50_ms: ms(Duration::from_millis(4)),
                add_parallel10_p50_ms: ms(Duration::from_millis(8)),
                pods_110_s: 1.5,
            }
        );
    }
}
