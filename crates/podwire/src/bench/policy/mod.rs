//! `podwire bench policy`: what NetworkPolicies cost podwire, against the same run without
//! any policy.
//!
//! - [`workload`]: the server pod, its client pods, and the rules selecting the server.
//! - [`dataplane`]: the data plane in memory: first packets of new connections (where a
//!   connection is classified) and packets of established ones (which its session lets
//!   through unclassified), with no policy and with 10, 1k and 10k rules.
//! - [`compile`]: the agent's recompile of the node's policies from 10k NetworkPolicy
//!   objects, and their rendering into the data plane's table.
//!
//! The measurements of the different numbers of rules take turns (five turns, each a fifth
//! of `--seconds` per figure; the median is reported), so that a machine that slows down
//! during the run slows them all alike.

mod compile;
mod dataplane;
mod workload;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};

use super::report::count_name;
use podwire_dataplane::tables::Tables;

use super::report::{self, Better, Figure};
use compile::Compiled;
use dataplane::{Established, FirstPackets, Worker};
use workload::MAX_RULES;

/// Options of `podwire bench policy`.
#[derive(Debug, clap::Args)]
pub struct PolicyArgs {
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Numbers of rules selecting the server pod, comma-separated [default: 10,1000,10000].
    #[arg(long, value_delimiter = ',')]
    pub rules: Vec<usize>,
    /// NetworkPolicies compiled [default: 10000].
    #[arg(long)]
    pub policies: Option<usize>,
    /// Seconds each per-packet figure is measured, in five turns.
    #[arg(long, default_value_t = 1.0)]
    pub seconds: f64,
    /// A short run, for tests: 10 and 100 rules and 100 policies unless --rules and
    /// --policies say otherwise, 0.05 s per figure, rounds of 2048 new connections, one
    /// compile. Its figures say nothing about speed.
    #[arg(long)]
    pub quick: bool,
}

/// The numbers of rules.
const RULES: [usize; 3] = [10, 1000, 10_000];
/// The number of policies to compile.
const POLICIES: usize = 10_000;
/// Turns the per-packet measurements take.
const TURNS: usize = 5;
/// New connections per round of the first-packet measurement: the session table is emptied
/// between rounds, so it never holds more.
const ROUND: usize = 16_384;
/// Recompiles timed.
const COMPILES: usize = 5;
/// The target: first packets at the most rules within 1.2× of no policy.
const RATIO_TARGET: f64 = 1.2;

/// What to measure, from the options.
#[derive(Clone, Debug, PartialEq)]
struct Plan {
    /// Numbers of rules, ascending.
    counts: Vec<usize>,
    policies: usize,
    /// Per figure, all turns together.
    seconds: Duration,
    round: usize,
    compiles: usize,
}

impl Plan {
    fn new(args: &PolicyArgs) -> anyhow::Result<Plan> {
        let mut counts = match (&args.rules[..], args.quick) {
            ([], true) => vec![10, 100],
            ([], false) => RULES.to_vec(),
            (given, _) => given.to_vec(),
        };
        counts.sort_unstable();
        counts.dedup();
        let policies = args
            .policies
            .unwrap_or(if args.quick { 100 } else { POLICIES });
        if let Some(bad) = counts.iter().find(|&&n| !(2..=MAX_RULES).contains(&n)) {
            bail!("--rules {bad}: give numbers from 2 to {MAX_RULES}");
        }
        if !(1..=MAX_RULES).contains(&policies) {
            bail!("--policies {policies}: give a number from 1 to {MAX_RULES}");
        }
        let (seconds, round, compiles) = if args.quick {
            (0.05, 2048, 1)
        } else {
            (args.seconds, ROUND, COMPILES)
        };
        Ok(Plan {
            counts,
            policies,
            seconds: Duration::try_from_secs_f64(seconds.max(0.01))
                .map_err(|_| anyhow::anyhow!("--seconds {seconds} is not a number of seconds"))?,
            round,
            compiles,
        })
    }

    fn largest(&self) -> usize {
        self.counts.last().copied().unwrap_or_default()
    }
}

/// The figures of `podwire bench policy`.
pub fn figures(args: &PolicyArgs) -> anyhow::Result<Vec<Figure>> {
    let plan = Plan::new(args)?;
    println!(
        "\nNetworkPolicy: podwire in memory, one core; a server pod selected by no rule, then \
         by {} rules (ingress); {} NetworkPolicies compiled",
        plan.counts
            .iter()
            .map(|&n| n.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        plan.policies
    );
    let measured = measure_dataplane(&plan)?;
    let compiled = compile::measure(plan.policies, plan.compiles)
        .with_context(|| format!("compiling {} NetworkPolicies", plan.policies))?;
    println!(
        "compile: {} NetworkPolicies, {} pods ({} on the node), {} namespaces: recompiled and \
         rendered in p50 {:.2} ms (of which compiled in {:.2} ms), max {:.2} ms ({} times); \
         the server pod has {} rules, the table {} rule slots",
        compiled.policies,
        compiled.pods,
        compiled.local_pods,
        compiled.namespaces,
        compiled.took.ms(50.0),
        compiled.compiling.ms(50.0),
        compiled.took.max().as_secs_f64() * 1e3,
        compiled.took.len(),
        compiled.server_rules,
        compiled.slots
    );
    let figures = compare(&measured, &compiled);
    explain(&plan);
    let most = format!("policy_ns_per_packet_{}", count_name(plan.largest()));
    report::print_targets(&figures, &[(&most, RATIO_TARGET)]);
    if let Some(line) = rules_share(&measured, &most) {
        println!("  {line}");
    }
    Ok(figures)
}

/// Not a target: how the first packets' cost at the most rules compares with the fewest,
/// which is what the number of rules adds; the rest of the difference with no policy is the
/// check itself and the session each allowed connection gets.
fn rules_share(m: &Measured, most: &str) -> Option<String> {
    let with_rules: Vec<&AtCount> = m.counts.iter().filter(|c| c.rules.is_some()).collect();
    let (fewest, largest) = (with_rules.first()?, with_rules.last()?);
    let fewest_rules = fewest.rules?;
    (fewest.rules != largest.rules).then(|| {
        format!(
            "(not a target: {most} is {:.2}x policy_ns_per_packet_{}, what the number of rules \
             adds; the rest of its difference with no policy is the check and the session \
             every allowed connection gets)",
            largest.first_ns / fewest.first_ns,
            count_name(fewest_rules)
        )
    })
}

/// The data plane's figures at one number of rules (`None`: no policy).
#[derive(Clone, Debug, PartialEq)]
struct AtCount {
    rules: Option<usize>,
    /// First packets, ns per packet, median of the turns.
    first_ns: f64,
    /// Established packets, ns per packet, median of the turns.
    established_ns: f64,
}

/// The data plane's figures.
#[derive(Clone, Debug, PartialEq)]
struct Measured {
    /// No policy first, then by number of rules, ascending.
    counts: Vec<AtCount>,
    /// The server's classifier at the most rules: heap bytes.
    classifier_bytes: usize,
}

/// One number of rules' tables, workers and traffic.
struct Setup {
    rules: Option<usize>,
    tables: Tables,
    first: FirstPackets,
    first_worker: Worker,
    established: Established,
    established_worker: Worker,
}

impl Setup {
    fn new(rules: Option<usize>, round: usize) -> anyhow::Result<Setup> {
        let policy = workload::server_policy(rules.unwrap_or(0));
        let tables = dataplane::tables(dataplane::render(&[policy], 1))?;
        // The server is the only pod in the table and its ingress comes first: the probe's
        // rule has its index as slot.
        let first = FirstPackets::new(round, rules.map(workload::probe_rule));
        let mut established_worker = Worker::new()?;
        let established = Established::open(&mut established_worker, &tables)?;
        let expected = if rules.is_some() { dataplane::FLOWS } else { 0 };
        anyhow::ensure!(
            established.sessions() == expected as u64,
            "the handshakes made {} sessions, not {expected}",
            established.sessions()
        );
        Ok(Setup {
            rules,
            tables,
            first,
            first_worker: Worker::new()?,
            established,
            established_worker,
        })
    }

    fn name(&self) -> String {
        match self.rules {
            Some(n) => format!("{n} rules"),
            None => "no policy".to_owned(),
        }
    }
}

fn measure_dataplane(plan: &Plan) -> anyhow::Result<Measured> {
    let mut setups = std::iter::once(None)
        .chain(plan.counts.iter().copied().map(Some))
        .map(|rules| {
            Setup::new(rules, plan.round).with_context(|| match rules {
                Some(n) => format!("setting up the server with {n} rules"),
                None => "setting up the server without policy".to_owned(),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let classifier_bytes = setups
        .last()
        .map(|s| dataplane::server_classifier_bytes(&s.tables))
        .context("no setup")??;
    let turn = plan.seconds / TURNS as u32;
    let mut first = vec![Vec::new(); setups.len()];
    let mut established = vec![Vec::new(); setups.len()];
    // Turn 0 warms the caches and the branch predictors up; it is not counted.
    for t in 0..=TURNS {
        for (i, s) in setups.iter_mut().enumerate() {
            let f = s
                .first
                .ns_per_packet(&mut s.first_worker, &s.tables, turn)
                .with_context(|| format!("first packets, {}", s.name()))?;
            let e = s
                .established
                .ns_per_packet(&mut s.established_worker, &s.tables, turn)
                .with_context(|| format!("established packets, {}", s.name()))?;
            if t > 0 {
                first[i].push(f);
                established[i].push(e);
            }
        }
    }
    let counts = setups
        .iter()
        .zip(first.iter_mut().zip(&mut established))
        .map(|(s, (f, e))| {
            let at = AtCount {
                rules: s.rules,
                first_ns: median(f),
                established_ns: median(e),
            };
            println!(
                "podwire, {}: first packets {:.1} ns/packet ({:.1} to {:.1}), established \
                 {:.1} ns/packet ({:.1} to {:.1})",
                s.name(),
                at.first_ns,
                f[0],
                f[f.len() - 1],
                at.established_ns,
                e[0],
                e[e.len() - 1]
            );
            at
        })
        .collect();
    Ok(Measured {
        counts,
        classifier_bytes,
    })
}

/// The median of `values` (sorted in place); 0 when there are none.
fn median(values: &mut [f64]) -> f64 {
    values.sort_unstable_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn compare(m: &Measured, compiled: &Compiled) -> Vec<Figure> {
    let mut out = Vec::new();
    let Some(none) = m.counts.iter().find(|c| c.rules.is_none()) else {
        return out;
    };
    type Read = fn(&AtCount) -> f64;
    let kinds: [(&str, Read, &str); 2] = [
        (
            "policy_ns_per_packet",
            |c| c.first_ns,
            "no policy: the same first packets",
        ),
        (
            "policy_established_ns_per_packet",
            |c| c.established_ns,
            "no policy: the same established packets",
        ),
    ];
    for (base, read, anchor) in kinds {
        out.push(Figure::new(
            &format!("{base}_none"),
            "ns",
            read(none),
            "none: it is the anchor of the others",
            None,
            Better::Lower,
        ));
        for c in &m.counts {
            if let Some(n) = c.rules {
                out.push(Figure::new(
                    &format!("{base}_{}", count_name(n)),
                    "ns",
                    read(c),
                    &format!("{anchor} ({base}_none)"),
                    Some(read(none)),
                    Better::Lower,
                ));
            }
        }
    }
    let most = m.counts.iter().filter_map(|c| c.rules).max().unwrap_or(0);
    out.push(Figure::new(
        &format!("policy_compile_{}_ms", count_name(compiled.policies)),
        "ms",
        compiled.took.ms(50.0),
        "none run here",
        None,
        Better::Lower,
    ));
    out.push(Figure::new(
        &format!("policy_classifier_bytes_{}", count_name(most)),
        "bytes",
        m.classifier_bytes as f64,
        "none run here",
        None,
        Better::Lower,
    ));
    out
}

/// Says what each figure includes.
fn explain(plan: &Plan) {
    let n = count_name(plan.largest());
    println!(
        "\nwhat the figures are:\n\
         - policy_ns_per_packet_none and _N: podwire in memory, one core: SYNs of new TCP \
         connections (fresh client ports) from {clients} client pods to a server pod, each pod \
         on an interface of its own, 256 to a vector, through the whole graph, ns per packet; \
         the session table is emptied (untimed, keeping its grown size) every {round} SYNs. With N rules selecting \
         the server (ingress; the agent's renderer builds its classifier from compiled \
         PodPolicy values), each SYN is classified, counted on its rule and given a session \
         that keeps the verdict; only the rule before the last allows the probes, some \
         others cover their port for other peers. Without policy no SYN is classified and \
         none makes a session: the anchor is the node without the feature.\n\
         - policy_established_ns_per_packet_none and _N: data segments of {flows} \
         established connections, same path: with rules, each is a session hit and is not \
         classified again.\n\
         - both: {turns} turns, taking turns between the numbers of rules, the median \
         reported.\n\
         - policy_compile_{p}_ms: the agent's response to a change: its cluster store holding \
         {policies} NetworkPolicies selecting the server pod (ipBlocks with except, \
         podSelector AND namespaceSelector, named ports, endPort), 110 pods on the node and \
         1000 on others, recompiles every pod of the node (Cluster::pod_policies → \
         podwire_k8s::policy::compile) and renders the table (every classifier built), p50.\n\
         - policy_classifier_bytes_{n}: heap bytes of the server's classifier with {largest} \
         rules (Classifier::heap_bytes).",
        clients = workload::CLIENTS,
        round = plan.round,
        flows = dataplane::FLOWS,
        turns = TURNS,
        p = count_name(plan.policies),
        policies = plan.policies,
        largest = plan.largest(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::samples::Samples;

    fn args(extra: &[&str]) -> PolicyArgs {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: PolicyArgs,
        }
        let argv = std::iter::once("bench").chain(extra.iter().copied());
        <Cli as clap::Parser>::try_parse_from(argv).unwrap().args
    }

    #[test]
    fn the_plan_follows_the_options() {
        let plan = Plan::new(&args(&[])).unwrap();
        assert_eq!(plan.counts, RULES);
        assert_eq!(
            (plan.policies, plan.round, plan.compiles),
            (POLICIES, ROUND, COMPILES)
        );
        let quick = Plan::new(&args(&["--quick"])).unwrap();
        assert_eq!(
            (quick.counts.as_slice(), quick.policies),
            (&[10, 100][..], 100)
        );
        let given = Plan::new(&args(&["--rules", "1000,10,10", "--policies", "50"])).unwrap();
        assert_eq!(
            (given.counts.as_slice(), given.policies),
            (&[10, 1000][..], 50)
        );
        assert!(Plan::new(&args(&["--rules", "1"])).is_err());
        assert!(Plan::new(&args(&["--rules", "100000"])).is_err());
        assert!(Plan::new(&args(&["--policies", "0"])).is_err());
    }

    #[test]
    fn medians_are_of_the_middle() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&mut []), 0.0);
    }

    #[test]
    fn figures_stand_beside_the_cost_without_policy() {
        let at = |rules, first_ns, established_ns| AtCount {
            rules,
            first_ns,
            established_ns,
        };
        let measured = Measured {
            counts: vec![
                at(None, 100.0, 50.0),
                at(Some(10), 110.0, 52.0),
                at(Some(10_000), 115.0, 53.0),
            ],
            classifier_bytes: 4096,
        };
        let compiled = Compiled {
            policies: 10_000,
            pods: 1110,
            local_pods: 110,
            namespaces: 11,
            took: Samples::new(vec![Duration::from_millis(40), Duration::from_millis(60)]),
            compiling: Samples::new(vec![Duration::from_millis(30), Duration::from_millis(45)]),
            server_rules: 10_000,
            slots: 10_000,
        };
        let figures = compare(&measured, &compiled);
        let get = |name: &str| {
            figures
                .iter()
                .find(|f| f.name == name)
                .unwrap_or_else(|| panic!("{name} missing from {figures:?}"))
        };
        assert_eq!(get("policy_ns_per_packet_none").anchor_value, None);
        let most = get("policy_ns_per_packet_10k");
        assert_eq!((most.podwire, most.anchor_value), (115.0, Some(100.0)));
        assert_eq!(get("policy_ns_per_packet_10").anchor_value, Some(100.0));
        let est = get("policy_established_ns_per_packet_10k");
        assert_eq!((est.podwire, est.anchor_value), (53.0, Some(50.0)));
        assert_eq!(get("policy_compile_10k_ms").podwire, 40.0);
        assert_eq!(get("policy_classifier_bytes_10k").podwire, 4096.0);
        assert_eq!(figures.len(), 8);
        let lines = report::target_lines(&figures, &[("policy_ns_per_packet_10k", RATIO_TARGET)]);
        assert!(lines[0].ends_with("met (1.15x)"), "{lines:?}");
        let share = rules_share(&measured, "policy_ns_per_packet_10k").unwrap();
        assert!(
            share.contains("is 1.05x policy_ns_per_packet_10,"),
            "{share}"
        );
        let alone = Measured {
            counts: measured.counts[..2].to_vec(),
            ..measured
        };
        assert_eq!(rules_share(&alone, "policy_ns_per_packet_10"), None);
    }
}
