//! `podwire memif …`: tools that play a memif peer, built on podwire-memif,
//! so that a memif interface (a pod's, a CNF's, the switch's) can be tested
//! without DPDK:
//!
//! - `gen` sends a stream of stamped UDP frames, at a rate or flat out;
//! - `sink` receives it and checks it (loss, duplicates, order);
//! - `reflect` sends every packet back;
//! - `responder` is an endpoint that answers ARP, ping, neighbor discovery
//!   and UDP echo.
//!
//! Each prints a line every second while connected and a summary at the
//! end (`--json` for JSON). They sleep when idle unless `--polling`.
//!
//! Layout: [`options`] (what every tool takes), [`port`] (server or client),
//! [`driver`] (the loop, the sleeping, the control side), [`report`] (lines
//! and summaries), and one module per tool over [`stream`], [`check`],
//! [`batch`] and [`rate`].

mod batch;
mod check;
mod driver;
mod generator;
mod options;
mod port;
mod rate;
mod receive;
mod reflect;
mod report;
pub(crate) mod responder;
mod sink;
mod stop;
pub(crate) mod stream;

use generator::{Gen, GenArgs};
use reflect::{Reflect, ReflectArgs};
use responder::{Responder, ResponderArgs};
use sink::{Sink, SinkArgs};

/// The memif tools.
#[derive(Debug, clap::Subcommand)]
pub enum MemifCommand {
    /// Send a stream of UDP frames stamped with flow and sequence number, at
    /// --rate or as fast as the peer takes them.
    Gen(GenArgs),
    /// Receive and count, checking gen's stream for frames lost, duplicated
    /// or out of order.
    Sink(SinkArgs),
    /// Send every received packet back on its queue, addresses swapped.
    Reflect(ReflectArgs),
    /// Be an endpoint: answer ARP, ICMP echo, IPv6 neighbor solicitation,
    /// ICMPv6 echo and UDP echo for --ip / --ip6.
    Responder(ResponderArgs),
}

/// Runs one tool until its --count, its --seconds or SIGINT.
pub fn run(command: MemifCommand) -> anyhow::Result<()> {
    match command {
        MemifCommand::Gen(args) => driver::run(&args.common, &mut Gen::new(&args)?),
        MemifCommand::Sink(args) => driver::run(&args.common, &mut Sink::new(&args)),
        MemifCommand::Reflect(args) => driver::run(&args.common, &mut Reflect::new(&args)),
        MemifCommand::Responder(args) => driver::run(&args.common, &mut Responder::new(&args)),
    }
}
