//! `podwire bench`: benchmarks that print each figure beside its anchor,
//! measured in the same run, and write them as JSON. A benchmark is not a
//! test: nothing here asserts a time.

mod inmem;
mod pods;
mod report;

use std::path::PathBuf;
use std::time::Duration;

use report::Figure;

/// The benchmarks.
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Forwarding: in memory through the graph (IPv4/IPv6, 1k and 1M
    /// routes), and pod to pod over tap against the kernel's bridge path.
    Forwarding(ForwardingArgs),
}

/// Options of `podwire bench forwarding`.
#[derive(Debug, clap::Args)]
pub struct ForwardingArgs {
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Seconds each measurement runs.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// Only the in-memory figures (no root, no network namespaces).
    #[arg(long)]
    pub in_memory_only: bool,
}

/// Runs a benchmark.
pub fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Forwarding(args) => forwarding(&args),
    }
}

fn forwarding(args: &ForwardingArgs) -> anyhow::Result<()> {
    let duration = Duration::from_secs_f64(args.seconds.max(0.1));
    let mut figures: Vec<Figure> = inmem::figures(duration)?;
    if !args.in_memory_only {
        figures.extend(pods::figures(duration)?);
    }
    report::print(&figures);
    if let Some(path) = &args.json {
        report::write_json(&figures, path)?;
        println!("\nwrote {}", path.display());
    }
    Ok(())
}
