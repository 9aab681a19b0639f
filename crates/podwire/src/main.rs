//! `podwire`: the node agent, its control client and its tools, in one binary.
#![forbid(unsafe_code)]

mod bench;
mod cni;
mod ctl;
mod daemon;
mod demo;
mod install_cni;
mod memif_tools;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A Kubernetes network plugin with a user-space vector data plane.
#[derive(Debug, Parser)]
#[command(name = "podwire", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inspect and control the running agent through its API socket.
    Ctl(ctl::CtlArgs),
    /// Run the node agent: build the data plane from a config file and serve
    /// the API until SIGINT or SIGTERM.
    Daemon {
        /// The node's config file (TOML).
        #[arg(long, short, default_value = "/etc/podwire/podwire.toml")]
        config: PathBuf,
    },
    /// Measure podwire against its anchors; print a table and write JSON.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Show podwire on this machine: pods as network namespaces wired
    /// through the data plane, traffic, counters, a trace. Needs root.
    Demo {
        /// Run every step without waiting, and exit non-zero unless all worked.
        #[arg(long)]
        check: bool,
    },
    /// memif tools: traffic generator, sink, reflector and responder, to
    /// test a memif interface without DPDK.
    #[command(subcommand)]
    Memif(memif_tools::MemifCommand),
    /// Install the CNI plugin (this binary) and a network config list that
    /// makes the container runtime use it.
    InstallCni(install_cni::InstallCniArgs),
}

fn main() -> ExitCode {
    // A container runtime runs the binary as a CNI plugin: no arguments, the verb in the
    // environment.
    if std::env::var_os("CNI_COMMAND").is_some() {
        return cni::main();
    }
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Ctl(_)) {
        tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "info".into()),
            )
            .with_writer(std::io::stderr)
            .init();
    }
    let result = match cli.command {
        Command::Ctl(args) => ctl::run(args),
        Command::Daemon { config } => daemon::run(&config),
        Command::Demo { check } => demo::run(check),
        Command::Bench(command) => bench::run(command),
        Command::Memif(command) => memif_tools::run(command),
        Command::InstallCni(args) => install_cni::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}`: the message and its causes on one line, without a backtrace.
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
