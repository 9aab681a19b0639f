//! A benchmark's figures: each beside the anchor it is compared with,
//! printed as a table and written as JSON.

use std::path::Path;

use anyhow::Context;
use serde::Serialize;

/// Which way is better for a figure.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    /// More is better (throughput).
    Higher,
    /// Less is better (latency, cost).
    Lower,
}

/// One measured figure.
#[derive(Clone, Debug, Serialize)]
pub struct Figure {
    /// Stable name, e.g. `inmem_ip4_1m_mpps`.
    pub name: String,
    /// Unit of both values.
    pub unit: String,
    /// What podwire measured.
    pub podwire: f64,
    /// What it is compared with.
    pub anchor: String,
    /// The anchor's value, when the anchor ran in the same run.
    pub anchor_value: Option<f64>,
    /// podwire / anchor, when there is an anchor value.
    pub ratio: Option<f64>,
    /// Which way is better.
    pub better: Better,
}

impl Figure {
    /// A figure with an anchor measured in the same run (or not).
    pub fn new(
        name: &str,
        unit: &str,
        podwire: f64,
        anchor: &str,
        anchor_value: Option<f64>,
        better: Better,
    ) -> Figure {
        let ratio = anchor_value.filter(|&a| a != 0.0).map(|a| podwire / a);
        Figure {
            name: name.into(),
            unit: unit.into(),
            podwire,
            anchor: anchor.into(),
            anchor_value,
            ratio,
            better,
        }
    }
}

/// Prints the figures as a table.
pub fn print(figures: &[Figure]) {
    let width = figures
        .iter()
        .map(|f| f.name.len())
        .max()
        .unwrap_or(0)
        .max(6);
    println!(
        "\n{:<width$} {:>12} {:>12} {:>8}  {:<8} anchor",
        "figure", "podwire", "anchor", "ratio", "unit"
    );
    for f in figures {
        let anchor = f
            .anchor_value
            .map_or("-".to_string(), |v| format!("{v:.3}"));
        let ratio = f.ratio.map_or("-".to_string(), |r| format!("{r:.2}x"));
        println!(
            "{:<width$} {:>12.3} {:>12} {:>8}  {:<8} {} ({} is better)",
            f.name,
            f.podwire,
            anchor,
            ratio,
            f.unit,
            f.anchor,
            match f.better {
                Better::Higher => "higher",
                Better::Lower => "lower",
            }
        );
    }
}

/// Writes the figures as a JSON list.
pub fn write_json(figures: &[Figure], path: &Path) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(figures)?;
    std::fs::write(path, text + "\n").with_context(|| format!("cannot write {}", path.display()))
}

/// One line per target: `NAME <= 0.25x its anchor: met (0.20x)` (or `>=` where higher is
/// better), `NOT met`, or `no anchor value`. Targets name a figure and the ratio to reach.
pub fn target_lines(figures: &[Figure], targets: &[(&str, f64)]) -> Vec<String> {
    targets
        .iter()
        .filter_map(|&(name, target)| {
            let figure = figures.iter().find(|f| f.name == name)?;
            let (sign, met) = match figure.better {
                Better::Higher => (">=", figure.ratio.map(|r| r >= target)),
                Better::Lower => ("<=", figure.ratio.map(|r| r <= target)),
            };
            let verdict = match (figure.ratio, met) {
                (Some(r), Some(true)) => format!("met ({r:.2}x)"),
                (Some(r), _) => format!("NOT met ({r:.2}x)"),
                (None, _) => "no anchor value".to_owned(),
            };
            Some(format!("{name} {sign} {target}x its anchor: {verdict}"))
        })
        .collect()
}

/// Prints [`target_lines`] under a `targets:` heading.
pub fn print_targets(figures: &[Figure], targets: &[(&str, f64)]) {
    println!("targets:");
    for line in target_lines(figures, targets) {
        println!("  {line}");
    }
}

/// A figure's name for a count (of Services, rules): `10`, `1k`, `30k`, `1500`.
pub fn count_name(n: usize) -> String {
    if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_the_documented_shape() {
        let f = Figure::new("x_mpps", "Mpps", 3.0, "y", Some(2.0), Better::Higher);
        let v: serde_json::Value = serde_json::to_value([f]).unwrap();
        let o = &v[0];
        for key in [
            "name",
            "unit",
            "podwire",
            "anchor",
            "anchor_value",
            "ratio",
            "better",
        ] {
            assert!(o.get(key).is_some(), "{key} missing");
        }
        assert_eq!(o["ratio"], 1.5);
        assert_eq!(o["better"], "higher");
        let none = Figure::new("z", "us", 1.0, "none", None, Better::Lower);
        let v = serde_json::to_value(none).unwrap();
        assert!(v["anchor_value"].is_null() && v["ratio"].is_null());
    }

    #[test]
    fn counts_are_named_in_thousands_when_round() {
        assert_eq!(count_name(10), "10");
        assert_eq!(count_name(1000), "1k");
        assert_eq!(count_name(30_000), "30k");
        assert_eq!(count_name(1500), "1500");
    }
}
