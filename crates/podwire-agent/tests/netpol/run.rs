//! Running ported cases and generated scenarios: each probe step's matrix, from the data
//! plane (or the oracle), against what is expected; a mismatch reports the case, the
//! policies, the labels and every cell that differs, with the packet's path.

use podwire_model::service::Protocol;

use crate::case::{Case, Change, Step};
use crate::dataplane::{Outcome, Switch, Target};
use crate::generator;
use crate::model::{Cluster, Family, PodId};
use crate::oracle::{self, Cell};
use crate::reachability::Reachability;
use crate::yaml::to_yaml;

/// Where observed matrices come from.
#[derive(Clone, Copy, Debug)]
pub enum Judge {
    /// The oracle (checks the oracle against the cases' matrices).
    Oracle,
    /// The data plane, probed at the pods or at their Services.
    DataPlane(Target),
}

/// Runs `cases` in a cluster of `family`, judged by `judge`; fails naming every probe step
/// whose matrix differs from the one the case expects.
pub fn check_cases(cases: &[Case], family: Family, judge: Judge) {
    let mut failures = Vec::new();
    let mut probes = 0;
    for case in cases {
        let mut cluster = case.cluster(family);
        let steps = (case.steps)(&cluster);
        for (n, step) in steps.iter().enumerate() {
            match step {
                Step::Change(change) => change.apply(&mut cluster),
                Step::Probe {
                    port,
                    protocol,
                    expect,
                } => {
                    probes += 1;
                    let header = format!(
                        "{} (step {}: probe {protocol}/{port}, {family}, {judge:?})",
                        case.label(),
                        n + 1
                    );
                    if let Err(report) =
                        compare(&cluster, judge, *protocol, *port, expect, n as u64 + 1)
                    {
                        failures.push(format!("{header}\n{report}"));
                    }
                }
            }
        }
    }
    println!(
        "{} cases, {probes} probe steps, {} differ ({family}, {judge:?})",
        cases.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {probes} probe steps differ from the expected matrices{}:\n\n{}",
        failures.len(),
        match failures.len() > REPORTED {
            true => format!(" (the first {REPORTED} in full)"),
            false => String::new(),
        },
        failures
            .iter()
            .enumerate()
            .map(|(i, f)| match i < REPORTED {
                true => f.as_str(),
                false => f.lines().next().unwrap_or_default(),
            })
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}

/// Compares the matrix `judge` sees for `protocol`/`port` in `cluster` with `expect`.
fn compare(
    cluster: &Cluster,
    judge: Judge,
    protocol: Protocol,
    port: u16,
    expect: &Reachability,
    generation: u64,
) -> Result<(), String> {
    let cells = cells(&[protocol], &[port]);
    let seen = match judge {
        Judge::Oracle => Seen::oracle(cluster, &cells),
        Judge::DataPlane(target) => Seen::data_plane(cluster, target, &cells, generation)?,
    };
    let observed = Reachability::from_fn(|from, to| {
        let cell = Cell {
            from,
            to,
            protocol,
            port,
        };
        seen.outcome(&cell) == Some(&Outcome::Connected)
    });
    let differing: Vec<(Cell, bool)> = cells
        .iter()
        .filter(|c| expect.get(c.from, c.to) != observed.get(c.from, c.to))
        .map(|c| (*c, expect.get(c.from, c.to)))
        .collect();
    if differing.is_empty() && seen.strays.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{}\n  expected:\n{}\n  observed:\n{}\n{}",
        describe(cluster),
        expect.table(),
        observed.table(),
        seen.mismatch(cluster, &differing)
    ))
}

/// Every non-loopback pair on each of `protocols` and `ports`.
pub fn cells(protocols: &[Protocol], ports: &[u16]) -> Vec<Cell> {
    let mut cells = Vec::new();
    for &protocol in protocols {
        for &port in ports {
            for (from, to) in Reachability::pairs() {
                cells.push(Cell {
                    from,
                    to,
                    protocol,
                    port,
                });
            }
        }
    }
    cells
}

/// What a judge saw for a list of cells.
pub struct Seen {
    pub cells: Vec<Cell>,
    pub outcomes: Vec<Outcome>,
    pub strays: Vec<String>,
    switch: Option<Switch>,
}

impl Seen {
    /// The oracle's verdicts as outcomes.
    pub fn oracle(cluster: &Cluster, cells: &[Cell]) -> Seen {
        Seen {
            cells: cells.to_vec(),
            outcomes: cells
                .iter()
                .map(|c| match oracle::judge(cluster, *c).allowed() {
                    true => Outcome::Connected,
                    false => Outcome::Blocked,
                })
                .collect(),
            strays: Vec::new(),
            switch: None,
        }
    }

    /// The data plane's outcomes, probing `target`.
    pub fn data_plane(
        cluster: &Cluster,
        target: Target,
        cells: &[Cell],
        generation: u64,
    ) -> Result<Seen, String> {
        let switch = Switch::new(cluster, target, generation).map_err(|e| {
            format!(
                "{}\n  the switch could not be built: {e}",
                describe(cluster)
            )
        })?;
        let probed = switch.probe(cells);
        Ok(Seen {
            cells: cells.to_vec(),
            outcomes: probed.outcomes,
            strays: probed.strays,
            switch: Some(switch),
        })
    }

    /// What was seen of `cell`.
    pub fn outcome(&self, cell: &Cell) -> Option<&Outcome> {
        let i = self.cells.iter().position(|c| c == cell)?;
        self.outcomes.get(i)
    }

    /// What happened to `cell` and why, in words.
    pub fn explain(&self, cluster: &Cluster, cell: &Cell) -> String {
        let judgement = oracle::judge(cluster, *cell);
        let Some(switch) = &self.switch else {
            return format!("the oracle says: {judgement}");
        };
        let what = match self.outcome(cell) {
            Some(Outcome::Connected) => "connected",
            Some(Outcome::Blocked) => "blocked",
            Some(Outcome::NoAnswer) => "the first packet got through, its answer did not",
            None => "not probed",
        };
        format!(
            "the data plane: {what}\n      oracle: {judgement}\n      path: {}",
            switch.trace(cell)
        )
    }
}

impl Seen {
    /// The cells of `differing` (with whether they should connect) and the stray packets, in
    /// words: how many of each kind, then the first few with their paths.
    pub fn mismatch(&self, cluster: &Cluster, differing: &[(Cell, bool)]) -> String {
        let count = |expected: bool, outcome: Outcome| {
            differing
                .iter()
                .filter(|(c, e)| *e == expected && self.outcome(c) == Some(&outcome))
                .count()
        };
        let mut report = format!(
            "  {} cells differ: {} blocked that should connect, {} whose first packet passed \
             but whose answer was dropped, {} connected that should be blocked",
            differing.len(),
            count(true, Outcome::Blocked),
            count(true, Outcome::NoAnswer),
            count(false, Outcome::Connected) + count(false, Outcome::NoAnswer),
        );
        for (cell, expected) in differing.iter().take(REPORTED_CELLS) {
            let expected = match expected {
                true => "connected",
                false => "blocked",
            };
            report.push_str(&format!(
                "\n  {cell}: expected {expected}; {}",
                self.explain(cluster, cell)
            ));
        }
        if differing.len() > REPORTED_CELLS {
            report.push_str(&format!(
                "\n  ... and {} more",
                differing.len() - REPORTED_CELLS
            ));
        }
        if let Some(switch) = &self.switch {
            // What podwire compiled for the pods of the cells shown.
            let shown: Vec<PodId> = differing
                .iter()
                .take(REPORTED_CELLS)
                .flat_map(|(c, _)| [c.from, c.to])
                .collect();
            report.push_str("\n  compiled by podwire_k8s::policy::compile:");
            for pod in switch.compiled.iter().filter(|p| {
                shown
                    .iter()
                    .any(|s| s.namespace() == p.namespace && s.name() == p.name)
            }) {
                report.push_str(&format!(
                    "\n    {}",
                    serde_json::to_string(pod).unwrap_or_default()
                ));
            }
        }
        for stray in &self.strays {
            report.push_str(&format!("\n  stray packet: {stray}"));
        }
        report
    }
}

/// Failing probe steps (or scenarios) reported in full; the others by their first line.
const REPORTED: usize = 3;
/// Differing cells reported in full per probe.
const REPORTED_CELLS: usize = 8;

/// The cluster's policies (as YAML) and labels.
pub fn describe(cluster: &Cluster) -> String {
    let policies: Vec<String> = cluster
        .cluster_policies
        .iter()
        .chain(&cluster.policies)
        .map(|p| format!("---\n{}", to_yaml(p)))
        .collect();
    format!(
        "  {}\n  policies:\n{}",
        cluster.labels_text(),
        if policies.is_empty() {
            "(none)".to_string()
        } else {
            policies.join("")
        }
    )
}

/// How many cells the generated scenarios probed, and how many of them the oracle allows
/// (a generator that allows everything, or nothing, would test little).
#[derive(Default)]
struct Stats {
    cells: usize,
    allowed: usize,
}

/// Runs scenarios `0..count` of `seed` through the data plane (probing `target`) and the
/// oracle; fails with the first disagreements: the scenario, its policies as YAML, the
/// labels, and every differing cell.
pub fn check_generated(seed: u64, count: u64, target: Target) {
    let cells = cells(&generator::PROTOCOLS, &generator::PORTS);
    let mut reports = Vec::new();
    let mut failed = 0;
    let mut probes = 0;
    let mut stats = Stats::default();
    for number in 0..count {
        let scenario = generator::scenario(seed, number);
        let mut cluster = scenario.cluster();
        let mut done = Vec::new();
        let phases: Vec<&[Change]> = match scenario.then.is_empty() {
            true => vec![&scenario.setup],
            false => vec![&scenario.setup, &scenario.then],
        };
        for (phase, changes) in phases.iter().enumerate() {
            for change in changes.iter() {
                change.apply(&mut cluster);
                done.push(change.to_string());
            }
            probes += 1;
            let (node_protocol, node_port) = NODE_ROUNDS[number as usize % NODE_ROUNDS.len()];
            let checked =
                agree(&cluster, target, &cells, phase as u64 + 1, &mut stats).and_then(|switch| {
                    from_node(&switch, node_protocol, node_port)
                        .map_err(|e| format!("{}\n{e}", describe(&cluster)))
                });
            if let Err(report) = checked {
                failed += 1;
                if reports.len() < REPORTED {
                    reports.push(format!(
                        "scenario {number} of seed {seed:#x} ({}, probing {target:?}), probe {} \
                         after: {}\n{report}",
                        scenario.family,
                        phase + 1,
                        done.join("; ")
                    ));
                }
                break;
            }
        }
    }
    println!(
        "{count} generated scenarios ({probes} probes of {} cells each, {:.1}% of the cells \
         allowed), {failed} disagree with the oracle (seed {seed:#x}, probing {target:?})",
        cells.len(),
        100.0 * stats.allowed as f64 / stats.cells.max(1) as f64,
    );
    assert!(
        failed == 0,
        "{failed} of {count} generated scenarios disagree with the oracle; the first {}:\n\n{}",
        reports.len(),
        reports.join("\n\n")
    );
}

/// The (protocol, port) the node's probes use, one per scenario, in turn.
const NODE_ROUNDS: [(Protocol, u16); 3] = [
    (Protocol::Tcp, 80),
    (Protocol::Udp, 81),
    (Protocol::Sctp, 80),
];

/// Probes `cells` in the data plane and compares each with the oracle; the switch, if they
/// all agree.
fn agree(
    cluster: &Cluster,
    target: Target,
    cells: &[Cell],
    generation: u64,
    stats: &mut Stats,
) -> Result<Switch, String> {
    let seen = Seen::data_plane(cluster, target, cells, generation)?;
    let mut differing = Vec::new();
    for (cell, outcome) in cells.iter().zip(&seen.outcomes) {
        let allowed = oracle::judge(cluster, *cell).allowed();
        stats.cells += 1;
        stats.allowed += usize::from(allowed);
        if (*outcome == Outcome::Connected) != allowed {
            differing.push((*cell, allowed));
        }
    }
    if differing.is_empty() && seen.strays.is_empty() {
        return seen
            .switch
            .ok_or_else(|| "the data plane was not probed".to_string());
    }
    Err(format!(
        "{}\n{}",
        describe(cluster),
        seen.mismatch(cluster, &differing)
    ))
}

/// Checks that the node reaches every pod on `protocol`/`port`, whatever the policies.
fn from_node(switch: &Switch, protocol: Protocol, port: u16) -> Result<(), String> {
    let unreached: Vec<String> = switch
        .probe_from_node(protocol, port)
        .into_iter()
        .filter(|(_, connected)| !connected)
        .map(|(pod, _)| pod.to_string())
        .collect();
    match unreached.is_empty() {
        true => Ok(()),
        false => Err(format!(
            "  the node does not reach {} on {protocol}/{port} (its traffic is always allowed)",
            unreached.join(", ")
        )),
    }
}
