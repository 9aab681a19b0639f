//! `podwire bench`: benchmarks that print each figure beside its anchor,
//! measured in the same run, and write them as JSON. A benchmark is not a
//! test: nothing here asserts a time.

mod cluster;
mod cni;
mod frames;
mod inmem;
mod memif;
mod pods;
mod policy;
mod process;
mod report;
mod rng;
mod samples;
mod services;
mod uplink;

use std::path::PathBuf;
use std::time::Duration;

use report::Figure;

/// The benchmarks.
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Forwarding: in memory through the graph (IPv4/IPv6, 1k and 1M
    /// routes); pod to pod over tap, and across two nodes over VXLAN,
    /// against the kernel's bridge path; uplink packets per second against
    /// testpmd on net_af_packet. Needs root, iperf3, sockperf, etcd,
    /// dpdk-testpmd and nft unless --in-memory-only.
    Forwarding(ForwardingArgs),
    /// memif: our library app to app and to and from DPDK testpmd, and pod
    /// to pod through the switch over memif, against testpmd to testpmd
    /// and against a kernel veth pair. Needs root and dpdk-testpmd.
    Memif(MemifArgs),
    /// CNI: how long a runtime waits for podwire's plugin (ADD, DEL, 10
    /// at a time, 110 pods) against Debian's bridge + host-local. Needs
    /// root and containernetworking-plugins.
    Cni(CniArgs),
    /// Services (kube-proxy's job): podwire's data plane in memory with 10 to 30k
    /// Services, against kube-proxy's iptables and nftables rules loaded into the
    /// kernel. The kernel side needs root, iptables and nft.
    Services(services::ServicesArgs),
    /// NetworkPolicy: podwire's data plane in memory, new and established connections to a
    /// pod selected by 10, 1k and 10k rules against the same with no policy, and the
    /// agent's compile of 10k NetworkPolicies.
    Policy(policy::PolicyArgs),
    /// A cluster: three nodes on this machine (each a network namespace running `podwire
    /// daemon`, etcd as the source): Service changes applied to in effect on every node, pods
    /// brought up per second, and forwarding during a daemon restart. Needs root and etcd.
    Cluster(cluster::ClusterArgs),
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
    #[arg(long, conflicts_with = "only")]
    pub in_memory_only: bool,
    /// Only these parts (repeat, or separate with commas): for a profile of one path, or
    /// a quicker run while changing it. All of them by default.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<ForwardingPart>,
    /// Worker threads of the node on the tap path (the VXLAN nodes run one each).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub workers: u32,
}

/// The parts of `podwire bench forwarding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ForwardingPart {
    /// Through the graph in memory.
    InMemory,
    /// Pod to pod over tap, against the bridge path.
    Tap,
    /// Pod to pod across two nodes over VXLAN, against the bridge path.
    Vxlan,
    /// Uplink packets per second, against testpmd.
    Uplink,
}

impl ForwardingArgs {
    /// Whether `part` runs.
    fn runs(&self, part: ForwardingPart) -> bool {
        match self.in_memory_only {
            true => part == ForwardingPart::InMemory,
            false => self.only.is_empty() || self.only.contains(&part),
        }
    }
}

/// Options of `podwire bench memif`.
#[derive(Debug, clap::Args)]
pub struct MemifArgs {
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Seconds each measurement runs (rounded up to whole seconds).
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
}

/// Options of `podwire bench cni`.
#[derive(Debug, clap::Args)]
pub struct CniArgs {
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Pods wired one at a time (ADD then DEL) on each side; as many go
    /// 10 at a time.
    #[arg(long, default_value_t = 100)]
    pub iterations: usize,
}

/// Runs a benchmark.
pub fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Forwarding(args) => forwarding(&args),
        BenchCommand::Memif(args) => {
            let figures = memif::figures(duration(args.seconds)?)?;
            report_figures(&figures, args.json.as_deref())
        }
        BenchCommand::Cni(args) => {
            let figures = cni::figures(args.iterations)?;
            report_figures(&figures, args.json.as_deref())
        }
        BenchCommand::Services(args) => {
            let figures = services::figures(&args)?;
            report_figures(&figures, args.json.as_deref())
        }
        BenchCommand::Policy(args) => {
            let figures = policy::figures(&args)?;
            report_figures(&figures, args.json.as_deref())
        }
        BenchCommand::Cluster(args) => {
            let figures = cluster::figures(&args)?;
            report_figures(&figures, args.json.as_deref())
        }
    }
}

fn forwarding(args: &ForwardingArgs) -> anyhow::Result<()> {
    let duration = duration(args.seconds)?;
    let mut figures: Vec<Figure> = Vec::new();
    let mut not_measured = Vec::new();
    if args.runs(ForwardingPart::InMemory) {
        figures.extend(inmem::figures(duration)?);
    }
    let (tap, vxlan) = (
        args.runs(ForwardingPart::Tap),
        args.runs(ForwardingPart::Vxlan),
    );
    if tap || vxlan {
        figures.extend(pods::figures(duration, tap.then_some(args.workers), vxlan)?);
    }
    if args.runs(ForwardingPart::Uplink) {
        let (uplink, missing) = uplink::figures(duration)?;
        figures.extend(uplink);
        not_measured = missing;
    }
    report_figures(&figures, args.json.as_deref())?;
    // A figure without a number has no row (nor JSON object): it is named with the reason.
    for missing in &not_measured {
        println!("{}: not measured: {}", missing.name, missing.reason);
    }
    Ok(())
}

/// `--seconds`, at least a tenth of a second.
fn duration(seconds: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(seconds.max(0.1))
        .map_err(|_| anyhow::anyhow!("--seconds {seconds} is not a number of seconds"))
}

/// Prints the figures, and writes them to `json` when given.
fn report_figures(figures: &[Figure], json: Option<&std::path::Path>) -> anyhow::Result<()> {
    report::print(figures);
    if let Some(path) = json {
        report::write_json(figures, path)?;
        println!("\nwrote {}", path.display());
    }
    Ok(())
}
