//! `podwire bench services`: Services in podwire's data plane against the kernel's way
//! (kube-proxy's iptables and nftables rules), on this machine, in the same run.
//!
//! - [`workload`]: the Services (10 to 30 000, 3.3 endpoints each) and the address plan.
//! - [`dataplane`]: podwire in memory: the per-packet cost of established connections, the
//!   processing of first packets, one Service change applied and published, the memory.
//! - [`kube_proxy`]: the same Services written as kube-proxy writes them.
//! - [`kernel`]: namespaces with the rules loaded, and first-packet round trips through them.
//!
//! The kernel's rules are loaded for the largest number of Services only: at 30 000,
//! nftables takes minutes to load them (kube-proxy's known slow first sync).

mod dataplane;
mod kernel;
mod kube_proxy;
mod workload;

use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};

use super::process;
use super::report::count_name;
use super::report::{self, Better, Figure};
use super::rng::Rng;
use super::samples::Samples;
use dataplane::{FirstPackets, Node};
use kernel::{Kernel, Way};
use workload::{CLUSTER_CIDR, MAX_SERVICES};

/// Options of `podwire bench services`.
#[derive(Debug, clap::Args)]
pub struct ServicesArgs {
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Numbers of Services podwire is measured with, comma-separated [default:
    /// 10,1000,10000,30000]. The kernel's rules are loaded for the largest.
    #[arg(long, value_delimiter = ',')]
    pub services: Vec<usize>,
    /// Seconds each per-packet measurement runs.
    #[arg(long, default_value_t = 1.0)]
    pub seconds: f64,
    /// First-packet round trips timed through each kernel router.
    #[arg(long, default_value_t = 1000)]
    pub probes: usize,
    /// Service changes timed on podwire (nftables gets the first 50 of them).
    #[arg(long, default_value_t = 200)]
    pub changes: usize,
    /// Only podwire's in-memory figures: no root, no network namespaces, no kernel anchors.
    #[arg(long)]
    pub in_memory_only: bool,
    /// Load the iptables rules with iptables-legacy-restore instead of iptables-restore
    /// (on Debian the nf_tables backend).
    #[arg(long)]
    pub iptables_legacy: bool,
    /// A short run, for tests: 10 and 100 Services unless --services says otherwise, 0.05 s
    /// per measurement, 50 probes, 20 changes. Its figures say nothing about speed.
    #[arg(long)]
    pub quick: bool,
}

/// The default numbers of Services: the issue's.
const SERVICES: [usize; 4] = [10, 1000, 10_000, 30_000];
/// SYNs of new connections timed on podwire per number of Services.
const FIRST_PACKETS: usize = 65_536;
/// Service changes timed on nftables at most (each is a process and a transaction).
const KERNEL_CHANGES: usize = 50;
/// How long loading a ruleset may take (nftables takes minutes at 30 000 Services).
const LOAD_LIMIT: Duration = Duration::from_secs(30 * 60);
/// Seeds: the same Services, connections and changes on every run, and the same changes
/// on both sides.
const CHANGE_SEED: u64 = 0xc4a9_6e5e;
const PROBE_SEED: u64 = 0x9b0b_e5ee;

/// The issue's targets on podwire ÷ anchor: the cost at the most Services within 1.1× the
/// cost at the fewest; the first packet below nftables'.
const RATIO_TARGETS: [(&str, f64); 2] = [("svc_ns_per_packet", 1.1), ("svc_first_packet_us", 1.0)];
/// The issue's target on one change: applied in at most 1 ms.
const UPDATE_TARGET_MS: f64 = 1.0;

/// What to measure, from the options.
#[derive(Clone, Debug)]
struct Plan {
    /// Numbers of Services, ascending.
    counts: Vec<usize>,
    seconds: Duration,
    first_packets: usize,
    probes: usize,
    changes: usize,
    kernel: bool,
    iptables_restore: &'static str,
}

impl Plan {
    fn new(args: &ServicesArgs) -> anyhow::Result<Plan> {
        let mut counts = match (&args.services[..], args.quick) {
            ([], true) => vec![10, 100],
            ([], false) => SERVICES.to_vec(),
            (given, _) => given.to_vec(),
        };
        counts.sort_unstable();
        counts.dedup();
        if let Some(bad) = counts.iter().find(|&&n| n == 0 || n > MAX_SERVICES) {
            bail!("--services {bad}: give numbers from 1 to {MAX_SERVICES}");
        }
        let (seconds, probes, changes, first_packets) = if args.quick {
            (0.05, 50, 20, 2048)
        } else {
            (args.seconds, args.probes, args.changes, FIRST_PACKETS)
        };
        if probes == 0 || changes == 0 {
            bail!("--probes and --changes must be at least 1");
        }
        Ok(Plan {
            counts,
            seconds: Duration::try_from_secs_f64(seconds.max(0.01))
                .map_err(|_| anyhow::anyhow!("--seconds {seconds} is not a number of seconds"))?,
            first_packets,
            probes,
            changes,
            kernel: !args.in_memory_only,
            iptables_restore: if args.iptables_legacy {
                "iptables-legacy-restore"
            } else {
                "iptables-restore"
            },
        })
    }

    fn largest(&self) -> usize {
        self.counts.last().copied().unwrap_or_default()
    }

    fn kernel_changes(&self) -> usize {
        self.changes.min(KERNEL_CHANGES)
    }
}

/// The figures of `podwire bench services`.
pub fn figures(args: &ServicesArgs) -> anyhow::Result<Vec<Figure>> {
    let plan = Plan::new(args)?;
    if plan.kernel {
        preflight(&plan)?;
    }
    println!(
        "\nServices: podwire in memory with {} Services (3.3 endpoints each, TCP, ClusterIP); \
         {}",
        plan.counts
            .iter()
            .map(|&n| n.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        if plan.kernel {
            format!(
                "the kernel with kube-proxy's rules for {} Services",
                plan.largest()
            )
        } else {
            "no kernel side (--in-memory-only)".to_owned()
        }
    );
    let podwire = measure_podwire(&plan)?;
    let kernel = if plan.kernel {
        Some(measure_kernel(&plan)?)
    } else {
        None
    };
    let figures = compare(&plan, &podwire, kernel.as_ref());
    explain(&plan, &podwire, kernel.as_ref());
    print_targets(&plan, &figures);
    Ok(figures)
}

/// podwire's measurements at one number of Services.
#[derive(Clone, Debug)]
struct AtCount {
    services: usize,
    established_ns: f64,
    first: FirstPackets,
}

/// podwire's measurements.
#[derive(Clone, Debug)]
struct PodwireFigures {
    /// The same connections sent straight to endpoints, no Services.
    straight_ns: f64,
    counts: Vec<AtCount>,
    /// Rendering and publishing the most Services at once.
    load: Duration,
    changes: Samples,
    bytes_per_service: f64,
}

fn measure_podwire(plan: &Plan) -> anyhow::Result<PodwireFigures> {
    let fewest = plan
        .counts
        .first()
        .copied()
        .context("no number of Services")?;
    let straight_ns = dataplane::established_ns(
        &mut Node::new()?,
        &workload::services(fewest),
        true,
        plan.seconds,
    )
    .context("measuring forwarding without Services")?;
    println!("podwire, no Services, connections straight to endpoints: {straight_ns:.1} ns/packet");
    let mut counts = Vec::new();
    let mut largest = None;
    for &n in &plan.counts {
        let models = workload::services(n);
        let mut node = Node::new()?;
        let load = node.load(&dataplane::updates(models.clone()));
        let established_ns = dataplane::established_ns(&mut node, &models, false, plan.seconds)
            .with_context(|| format!("measuring established connections at {n} Services"))?;
        let first = dataplane::first_packets(&mut node, &models, plan.first_packets)
            .with_context(|| format!("measuring first packets at {n} Services"))?;
        println!(
            "podwire, {n} Services ({} endpoints): rendered and published in {:.3} s; \
             established {established_ns:.1} ns/packet; first packet alone p50 {:.2} µs, \
             p99 {:.2} µs; first packets 256 to a vector {:.1} ns/packet",
            workload::total_endpoints(n),
            load.as_secs_f64(),
            first.latency.us(50.0),
            first.latency.us(99.0),
            first.ns_per_packet
        );
        counts.push(AtCount {
            services: n,
            established_ns,
            first,
        });
        largest = Some((node, models, load));
    }
    let (mut node, models, load) = largest.context("no number of Services")?;
    let bytes_per_service = node.service_table_bytes() as f64 / models.len() as f64;
    let changes = workload::changes(&models, plan.changes, &mut Rng::new(CHANGE_SEED));
    let changes = dataplane::changes(&mut node, &changes).context("timing Service changes")?;
    println!(
        "podwire, {} Services: one change applied and published p50 {:.4} ms, p99 {:.4} ms \
         ({} changes); service table {bytes_per_service:.0} bytes per Service",
        models.len(),
        changes.ms(50.0),
        changes.ms(99.0),
        changes.len()
    );
    Ok(PodwireFigures {
        straight_ns,
        counts,
        load,
        changes,
        bytes_per_service,
    })
}

/// A ruleset the kernel loaded.
#[derive(Clone, Debug)]
struct Loaded {
    took: Duration,
    rules: usize,
    chains: usize,
}

/// The kernel's measurements.
#[derive(Clone, Debug)]
struct KernelFigures {
    services: usize,
    iptables: Loaded,
    nftables: Loaded,
    /// Round trips by way: plain, iptables, nftables.
    probes: [Samples; 3],
    nft_changes: Samples,
    versions: String,
}

impl KernelFigures {
    /// What `way`'s rules add to the round trip at percentile `p`, in µs.
    fn added_us(&self, way: Way, p: f64) -> f64 {
        self.probes[way as usize].us(p) - self.probes[Way::Plain as usize].us(p)
    }
}

fn measure_kernel(plan: &Plan) -> anyhow::Result<KernelFigures> {
    let n = plan.largest();
    let models = workload::services(n);
    let cidr = format!("{}/{}", CLUSTER_CIDR.0, CLUSTER_CIDR.1);
    let versions = [[plan.iptables_restore, "--version"], ["nft", "--version"]]
        .iter()
        .map(|[tool, arg]| {
            let mut command = std::process::Command::new(tool);
            command.arg(arg);
            process::run(command, b"", Duration::from_secs(10))
                .map(|v| v.trim().to_owned())
                .unwrap_or_else(|e| format!("{tool}: {e:#}"))
        })
        .collect::<Vec<_>>()
        .join(", ");
    let kernel = Kernel::create(&std::process::id().to_string())?;

    let rules = kube_proxy::iptables::restore_input(&models, &cidr);
    println!(
        "iptables: {} loads {} rules in {} chains for {n} Services",
        plan.iptables_restore, rules.rules, rules.chains
    );
    let took = kernel.load(
        Way::Iptables,
        &[plan.iptables_restore],
        &rules.text,
        LOAD_LIMIT,
    )?;
    println!("iptables: loaded in {:.2} s", took.as_secs_f64());
    let iptables = Loaded {
        took,
        rules: rules.rules,
        chains: rules.chains,
    };
    drop(rules);

    let rules = kube_proxy::nftables::ruleset(&models, &cidr);
    println!(
        "nftables: nft -f loads {} rules and map elements in {} chains for {n} Services \
         (kube-proxy's first sync; minutes at 30 000 Services)",
        rules.rules, rules.chains
    );
    let took = kernel.load(Way::Nftables, &["nft", "-f", "-"], &rules.text, LOAD_LIMIT)?;
    println!("nftables: loaded in {:.2} s", took.as_secs_f64());
    let nftables = Loaded {
        took,
        rules: rules.rules,
        chains: rules.chains,
    };
    drop(rules);

    let mut rng = Rng::new(PROBE_SEED);
    let rounds: Vec<[SocketAddrV4; 3]> = (0..plan.probes)
        .map(|_| {
            let i = rng.below(n);
            let endpoint = workload::pick_endpoint(&models[i], &mut rng)
                .context("a Service without an IPv4 endpoint")?;
            let service = SocketAddrV4::new(workload::cluster_ip(i), workload::SERVICE_PORT);
            Ok([endpoint, service, service])
        })
        .collect::<anyhow::Result<_>>()?;
    println!(
        "kernel: {} first-packet round trips through each router, in turn",
        rounds.len()
    );
    let probes = kernel.probe(&rounds)?;

    let changes = workload::changes(&models, plan.kernel_changes(), &mut Rng::new(CHANGE_SEED));
    let mut times = Vec::with_capacity(changes.len());
    for change in &changes {
        let transaction = kube_proxy::nftables::change(&change.before, &change.after, &cidr);
        times.push(kernel.nft(&transaction)?);
    }
    Ok(KernelFigures {
        services: n,
        iptables,
        nftables,
        probes,
        nft_changes: Samples::new(times),
        versions,
    })
}

/// Anchors of the kernel-anchored figures.
const NFT_FIRST: &str = "kube-proxy nftables rules: first-packet round trip added over a router \
                         without rules";
const IPT_FIRST: &str = "kube-proxy iptables rules: first-packet round trip added over a router \
                         without rules";

fn compare(plan: &Plan, p: &PodwireFigures, k: Option<&KernelFigures>) -> Vec<Figure> {
    let mut out = Vec::new();
    let Some((fewest, most)) = p.counts.first().zip(p.counts.last()) else {
        return out;
    };
    for c in &p.counts {
        let (anchor, value) = if c.services == fewest.services {
            (
                "podwire without Services: the same connections straight to endpoints".to_owned(),
                p.straight_ns,
            )
        } else {
            (
                format!("podwire at {} Services", fewest.services),
                fewest.established_ns,
            )
        };
        out.push(Figure::new(
            &format!("svc_ns_per_packet_{}", count_name(c.services)),
            "ns",
            c.established_ns,
            &anchor,
            Some(value),
            Better::Lower,
        ));
    }
    let n = count_name(plan.largest());
    type Read = fn(&KernelFigures) -> f64;
    let kernel = |anchor: &str, value: Read| match k {
        Some(k) => (anchor.to_owned(), Some(value(k))),
        None => (format!("{anchor} (not run: --in-memory-only)"), None),
    };
    let first = &most.first.latency;
    let rows: [(String, &str, f64, &str, Read); 7] = [
        (
            format!("svc_first_packet_us_{n}"),
            "µs",
            first.us(50.0),
            NFT_FIRST,
            |k| k.added_us(Way::Nftables, 50.0),
        ),
        (
            format!("svc_first_packet_us_{n}_iptables"),
            "µs",
            first.us(50.0),
            IPT_FIRST,
            |k| k.added_us(Way::Iptables, 50.0),
        ),
        (
            format!("svc_first_packet_p99_us_{n}"),
            "µs",
            first.us(99.0),
            NFT_FIRST,
            |k| k.added_us(Way::Nftables, 99.0),
        ),
        (
            format!("svc_first_packet_p99_us_{n}_iptables"),
            "µs",
            first.us(99.0),
            IPT_FIRST,
            |k| k.added_us(Way::Iptables, 99.0),
        ),
        (
            format!("svc_update_ms_{n}"),
            "ms",
            p.changes.ms(50.0),
            "kube-proxy nftables mode: the same change as one `nft -f` transaction, p50",
            |k| k.nft_changes.ms(50.0),
        ),
        (
            format!("svc_load_s_{n}"),
            "s",
            p.load.as_secs_f64(),
            "kube-proxy nftables mode: every Service in one `nft -f` transaction",
            |k| k.nftables.took.as_secs_f64(),
        ),
        (
            format!("svc_iptables_restore_s_{n}"),
            "s",
            p.load.as_secs_f64(),
            "kube-proxy iptables mode: the nat table in one iptables-restore",
            |k| k.iptables.took.as_secs_f64(),
        ),
    ];
    for (name, unit, value, anchor, read) in rows {
        let (anchor, anchor_value) = kernel(anchor, read);
        out.push(Figure::new(
            &name,
            unit,
            value,
            &anchor,
            anchor_value,
            Better::Lower,
        ));
    }
    out.push(Figure::new(
        &format!("svc_first_packet_ns_per_packet_{n}"),
        "ns",
        most.first.ns_per_packet,
        &format!(
            "podwire, established connections at {} Services",
            most.services
        ),
        Some(most.established_ns),
        Better::Lower,
    ));
    out.push(Figure::new(
        "svc_bytes_per_service",
        "bytes",
        p.bytes_per_service,
        "none: the kernel's memory for its rules is not measured",
        None,
        Better::Lower,
    ));
    out
}

/// Says what each figure includes, and the kernel's round trips in full.
fn explain(plan: &Plan, p: &PodwireFigures, k: Option<&KernelFigures>) {
    let n = count_name(plan.largest());
    println!(
        "\nwhat the figures are:\n\
         - svc_ns_per_packet_N: podwire in memory, one core: data segments of {} established \
         TCP connections to random Services (session hits), 256 to a vector, through the whole \
         graph, ns per packet. Anchor of the fewest: the same connections sent straight to \
         endpoints, no Service.\n\
         - svc_first_packet_us_{n} (and _p99_): podwire in memory: one SYN of a new connection \
         (fresh client port) alone in its vector, from handing it to the graph to taking it \
         from the output queue: session miss, service decision (Maglev), new session, DNAT, \
         routing, rewrite. The session table is emptied every 16 384 SYNs. No wire, no system \
         call. svc_first_packet_ns_per_packet_{n}: the same SYNs 256 to a vector.\n\
         - their kernel anchors: TCP connect round trips from a fresh socket (a new conntrack \
         entry and the full rule walk) through a router with kube-proxy's rules, minus the \
         same through a router without rules, probed in turn; the difference holds conntrack \
         and NAT of the SYN and of its SYN-ACK and the rule walk, and neither the wire nor the \
         sockets (they are in both). podwire's figure is the data plane's own processing of \
         one packet; the kernel's is a difference of round trips: they differ in kind.\n\
         - svc_update_ms_{n}: podwire: one Service's endpoint replaced (ServiceRenderer::apply, \
         the table, the Tables built and published as the agent does), p50. Anchor: the same \
         change as kube-proxy's nftables mode writes it, one `nft -f` process and transaction \
         (kube-proxy runs nft the same way).\n\
         - svc_load_s_{n}, svc_iptables_restore_s_{n}: every Service at once: podwire renders \
         and publishes them; the kernel loads kube-proxy's whole ruleset.\n\
         - svc_bytes_per_service: heap bytes of podwire's published service table \
         (ServiceTable::heap_bytes) ÷ {}; not the RSS.",
        dataplane::FLOWS,
        plan.largest()
    );
    if let Some(k) = k {
        println!(
            "\nkernel, {} Services ({}): TCP connect round trip, µs",
            k.services, k.versions
        );
        println!(
            "  {:<9} {:>9} {:>9} {:>11} {:>11}  loaded",
            "router", "p50", "p99", "added p50", "added p99"
        );
        for way in kernel::WAYS {
            let s = &k.probes[way as usize];
            let (added, loaded) = match way {
                Way::Plain => (String::new(), "no rules, no conntrack".to_owned()),
                Way::Iptables | Way::Nftables => {
                    let l = if way == Way::Iptables {
                        &k.iptables
                    } else {
                        &k.nftables
                    };
                    (
                        format!(
                            "{:>11.2} {:>11.2}",
                            k.added_us(way, 50.0),
                            k.added_us(way, 99.0)
                        ),
                        format!(
                            "{} rules in {} chains in {:.2} s",
                            l.rules,
                            l.chains,
                            l.took.as_secs_f64()
                        ),
                    )
                }
            };
            println!(
                "  {:<9} {:>9.2} {:>9.2} {added:>23}  {loaded}",
                way.name(),
                s.us(50.0),
                s.us(99.0)
            );
        }
        println!(
            "  nftables, one Service changed: p50 {:.2} ms, max {:.2} ms ({} transactions)",
            k.nft_changes.ms(50.0),
            k.nft_changes.max().as_secs_f64() * 1e3,
            k.nft_changes.len()
        );
    }
    let most = p.counts.last();
    if let Some(most) = most {
        println!(
            "podwire, {} Services: first packet alone p50 {:.2} µs, p99 {:.2} µs; one change \
             p50 {:.4} ms, max {:.4} ms",
            most.services,
            most.first.latency.us(50.0),
            most.first.latency.us(99.0),
            p.changes.ms(50.0),
            p.changes.max().as_secs_f64() * 1e3
        );
    }
}

/// The issue's targets: met or not.
fn print_targets(plan: &Plan, figures: &[Figure]) {
    let n = count_name(plan.largest());
    let names: Vec<(String, f64)> = RATIO_TARGETS
        .iter()
        .map(|&(base, ratio)| (format!("{base}_{n}"), ratio))
        .collect();
    let targets: Vec<(&str, f64)> = names.iter().map(|(s, r)| (s.as_str(), *r)).collect();
    report::print_targets(figures, &targets);
    if let Some(line) = absolute_target(figures, &format!("svc_update_ms_{n}"), UPDATE_TARGET_MS) {
        println!("  {line}");
    }
}

/// `NAME <= LIMIT UNIT: met (VALUE UNIT)` or `NOT met`, for a target on the figure itself.
fn absolute_target(figures: &[Figure], name: &str, limit: f64) -> Option<String> {
    let f = figures.iter().find(|f| f.name == name)?;
    let verdict = if f.podwire <= limit { "met" } else { "NOT met" };
    Some(format!(
        "{name} <= {limit} {unit}: {verdict} ({:.4} {unit})",
        f.podwire,
        unit = f.unit
    ))
}

/// Fails early, saying what to do, when the kernel side cannot run here.
fn preflight(plan: &Plan) -> anyhow::Result<()> {
    if !rustix::process::geteuid().is_root() {
        bail!(
            "the Services benchmark loads kube-proxy's rules into network namespaces: run it \
             as root, or pass --in-memory-only"
        );
    }
    for (tool, package) in [
        ("ip", "iproute2"),
        ("sysctl", "procps"),
        ("nsenter", "util-linux"),
        (plan.iptables_restore, "iptables"),
        ("nft", "nftables"),
    ] {
        if !process::on_path(tool) {
            bail!("{tool} not found: install {package} (scripts/install-deps.sh)");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> ServicesArgs {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: ServicesArgs,
        }
        let argv = std::iter::once("bench").chain(extra.iter().copied());
        <Cli as clap::Parser>::try_parse_from(argv).unwrap().args
    }

    #[test]
    fn the_plan_follows_the_options() {
        let plan = Plan::new(&args(&[])).unwrap();
        assert_eq!(plan.counts, SERVICES);
        assert_eq!(plan.largest(), 30_000);
        assert!(plan.kernel);
        assert_eq!(plan.iptables_restore, "iptables-restore");
        let quick = Plan::new(&args(&["--quick", "--in-memory-only"])).unwrap();
        assert_eq!(quick.counts, [10, 100]);
        assert!(!quick.kernel);
        assert_eq!(quick.kernel_changes(), 20);
        let given = Plan::new(&args(&["--services", "1000,10,10", "--iptables-legacy"])).unwrap();
        assert_eq!(given.counts, [10, 1000]);
        assert_eq!(given.iptables_restore, "iptables-legacy-restore");
        assert!(Plan::new(&args(&["--services", "0"])).is_err());
        assert!(Plan::new(&args(&["--services", "200000"])).is_err());
    }

    fn podwire_figures(first_us: f64) -> PodwireFigures {
        let at = |services, established_ns| AtCount {
            services,
            established_ns,
            first: FirstPackets {
                latency: Samples::new(vec![Duration::from_secs_f64(first_us / 1e6)]),
                ns_per_packet: 500.0,
            },
        };
        PodwireFigures {
            straight_ns: 50.0,
            counts: vec![at(10, 60.0), at(30_000, 63.0)],
            load: Duration::from_millis(300),
            changes: Samples::new(vec![Duration::from_micros(40)]),
            bytes_per_service: 900.0,
        }
    }

    fn kernel_figures() -> KernelFigures {
        let us = |v: f64| Samples::new(vec![Duration::from_secs_f64(v / 1e6)]);
        let loaded = |s| Loaded {
            took: Duration::from_secs(s),
            rules: 1,
            chains: 1,
        };
        KernelFigures {
            services: 30_000,
            iptables: loaded(11),
            nftables: loaded(200),
            probes: [us(40.0), us(300.0), us(50.0)],
            nft_changes: Samples::new(vec![Duration::from_millis(8)]),
            versions: String::new(),
        }
    }

    #[test]
    fn figures_stand_beside_their_anchors() {
        let plan = Plan::new(&args(&["--services", "10,30000"])).unwrap();
        let figures = compare(&plan, &podwire_figures(2.0), Some(&kernel_figures()));
        let get = |name: &str| {
            figures
                .iter()
                .find(|f| f.name == name)
                .unwrap_or_else(|| panic!("{name} missing"))
        };
        assert_eq!(get("svc_ns_per_packet_10").anchor_value, Some(50.0));
        let most = get("svc_ns_per_packet_30k");
        assert_eq!((most.podwire, most.anchor_value), (63.0, Some(60.0)));
        let first = get("svc_first_packet_us_30k");
        assert!((first.podwire - 2.0).abs() < 1e-6);
        assert!(
            (first.anchor_value.unwrap() - 10.0).abs() < 1e-6,
            "{first:?}"
        );
        let iptables = get("svc_first_packet_us_30k_iptables");
        assert!((iptables.anchor_value.unwrap() - 260.0).abs() < 1e-6);
        assert!((get("svc_update_ms_30k").anchor_value.unwrap() - 8.0).abs() < 1e-9);
        assert_eq!(get("svc_iptables_restore_s_30k").anchor_value, Some(11.0));
        assert_eq!(get("svc_load_s_30k").anchor_value, Some(200.0));
        assert_eq!(
            get("svc_first_packet_ns_per_packet_30k").anchor_value,
            Some(63.0)
        );
        assert_eq!(get("svc_bytes_per_service").anchor_value, None);
        assert!(figures.iter().all(|f| f.better == Better::Lower));

        let without = compare(&plan, &podwire_figures(2.0), None);
        let first = without
            .iter()
            .find(|f| f.name == "svc_first_packet_us_30k")
            .unwrap();
        assert_eq!(first.anchor_value, None);
        assert!(first.anchor.contains("not run"));
    }

    #[test]
    fn targets_are_judged_on_the_issue_terms() {
        let plan = Plan::new(&args(&["--services", "10,30000"])).unwrap();
        let met = compare(&plan, &podwire_figures(2.0), Some(&kernel_figures()));
        let lines = report::target_lines(
            &met,
            &[
                ("svc_ns_per_packet_30k", 1.1),
                ("svc_first_packet_us_30k", 1.0),
            ],
        );
        assert!(lines[0].ends_with("met (1.05x)"), "{lines:?}");
        assert!(lines[1].ends_with("met (0.20x)"), "{lines:?}");
        let slow = compare(&plan, &podwire_figures(20.0), Some(&kernel_figures()));
        let lines = report::target_lines(&slow, &[("svc_first_packet_us_30k", 1.0)]);
        assert!(lines[0].contains("NOT met"), "{lines:?}");
        assert_eq!(
            absolute_target(&met, "svc_update_ms_30k", 1.0).unwrap(),
            "svc_update_ms_30k <= 1 ms: met (0.0400 ms)"
        );
        let mut late = met.clone();
        late.iter_mut()
            .filter(|f| f.name == "svc_update_ms_30k")
            .for_each(|f| f.podwire = 3.0);
        assert!(
            absolute_target(&late, "svc_update_ms_30k", 1.0)
                .unwrap()
                .contains("NOT met")
        );
    }
}
