//! Uplink packets per second: how many 64-byte UDP frames podwire routes from one uplink
//! port to another, against DPDK's testpmd forwarding (`io`) with `net_af_packet` on the
//! same veths, measured in the same run with the same generator (testpmd `txonly` on a
//! `net_af_packet` port) and counted where they arrive ([`wires`]). The port kind is a
//! parameter ([`PortKind`]): a kind podwire could not attach (AF_XDP refused by this kernel,
//! so that podwire fell back to AF_PACKET) is reported as not measured, never as a number.
//!
//! Every busy-polling process has a CPU of its own: the generator CPU [`GENERATOR_CPU`],
//! the forwarder (podwire's daemon, or the anchor testpmd) CPU [`FORWARDER_CPU`], one
//! forwarder at a time. The kernel's work for a frame runs on the CPU that sends it: the
//! generator's for `in0`, the forwarder's for the sink. Needs root, `dpdk-testpmd`
//! (Debian's `dpdk-dev`) and `nft`.

mod podwire;
mod testpmd;
mod wires;

use std::ffi::OsStr;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rustix::thread::sched_getaffinity;

use super::process;
use super::report::{Better, Figure};
use podwire::PodwireForwarder;
use testpmd::{Mode, TESTPMD, Testpmd};
use wires::{GEN, GEN_IP, IN, IN_MAC, OUT, SINK_IP, Wires};

/// The generator's CPU.
pub const GENERATOR_CPU: usize = 0;
/// The forwarder's CPU.
pub const FORWARDER_CPU: usize = 1;
/// How long the generator runs before the counted window: ARP, rings filling.
const WARM_UP: Duration = Duration::from_secs(1);
/// The anchor of every figure here.
const ANCHOR: &str = "testpmd io on net_af_packet, the same veths (DPDK 22.11)";
/// A forwarder that delivers this share of what was offered kept up with the generator:
/// its figure is then the generator's rate, not its own ceiling.
const KEPT_UP: f64 = 0.97;

/// How podwire attaches the uplink's ports.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PortKind {
    /// AF_XDP sockets.
    AfXdp,
    /// AF_PACKET sockets.
    AfPacket,
}

impl PortKind {
    /// Every kind, in the order the figures are printed.
    pub const ALL: [PortKind; 2] = [PortKind::AfXdp, PortKind::AfPacket];

    /// The figure measured with ports of this kind.
    pub fn figure(self) -> &'static str {
        match self {
            PortKind::AfXdp => "uplink_afxdp_mpps",
            PortKind::AfPacket => "uplink_afpacket_mpps",
        }
    }

    /// The interface `kind` of podwire's config.
    fn config_kind(self) -> &'static str {
        match self {
            PortKind::AfXdp => "af-xdp",
            PortKind::AfPacket => "af-packet",
        }
    }

    /// Whether a port that `show interfaces` says has `driver` is of this kind (and not,
    /// say, AF_PACKET after AF_XDP was refused).
    fn is_driver(self, driver: &str) -> bool {
        match self {
            PortKind::AfXdp => driver.starts_with("af-xdp"),
            PortKind::AfPacket => driver == "af-packet",
        }
    }
}

/// Why an AF_XDP figure is missing when podwire fell back.
const AF_XDP_REFUSED: &str = "podwire fell back to AF_PACKET: this kernel or the veth driver \
                              refused AF_XDP (the daemon's warning says why)";

/// A figure this run could not measure, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotMeasured {
    /// The figure's name.
    pub name: &'static str,
    /// Why, as a person reads it.
    pub reason: &'static str,
}

/// Frames per second in one counted window, millions.
#[derive(Copy, Clone, Debug, PartialEq)]
struct Rates {
    /// Arrived at the forwarder's `in0`.
    offered: f64,
    /// Arrived at the sink.
    delivered: f64,
}

/// The uplink figures, each window `duration` long, and those not measured.
pub fn figures(duration: Duration) -> anyhow::Result<(Vec<Figure>, Vec<NotMeasured>)> {
    preflight()?;
    let exe = std::env::current_exe().context("cannot find the running podwire binary")?;
    println!(
        "\nuplink: 64-byte UDP frames routed from one port to another, {:.1} s per forwarder; \
         generator testpmd txonly on CPU {GENERATOR_CPU}, the forwarder on CPU \
         {FORWARDER_CPU}, one forwarder at a time",
        duration.as_secs_f64()
    );
    let wires = Wires::create(&std::process::id().to_string())?;

    let anchor = Testpmd::start(&wires.forwarder, FORWARDER_CPU, &[IN, OUT], &Mode::Io)?;
    let label = anchor.label().to_owned();
    let anchor_rates = with_generator(&wires, duration).with_context(|| format!("with {label}"))?;
    anchor.stop()?;
    print_rates(&label, anchor_rates);

    let mut figures = Vec::new();
    let mut not_measured = Vec::new();
    for kind in PortKind::ALL {
        let forwarder =
            PodwireForwarder::start(&exe, &wires.forwarder, FORWARDER_CPU, kind.config_kind())?;
        if !forwarder
            .drivers()?
            .iter()
            .all(|driver| kind.is_driver(driver))
        {
            forwarder.stop()?;
            println!("  [{}] not measured: {AF_XDP_REFUSED}", kind.figure());
            not_measured.push(NotMeasured {
                name: kind.figure(),
                reason: AF_XDP_REFUSED,
            });
            continue;
        }
        let label = forwarder.label().to_owned();
        let before = forwarder.counts()?;
        let rates = with_generator(&wires, duration).with_context(|| format!("with {label}"))?;
        let after = forwarder.counts()?;
        forwarder.stop()?;
        print_rates(&label, rates);
        println!(
            "    podwire's ports over the whole run: {} received on in, {} sent on out, {} lost",
            after.received - before.received,
            after.sent - before.sent,
            after.dropped - before.dropped
        );
        figures.push(Figure::new(
            kind.figure(),
            "Mpps",
            rates.delivered,
            ANCHOR,
            Some(anchor_rates.delivered),
            Better::Higher,
        ));
    }
    Ok((figures, not_measured))
}

/// Runs the generator into `in0` and counts what arrives over `duration` after a warm-up.
fn with_generator(wires: &Wires, duration: Duration) -> anyhow::Result<Rates> {
    let generator = Testpmd::start(
        &wires.generator,
        GENERATOR_CPU,
        &[GEN],
        &Mode::TxOnly {
            peer_mac: IN_MAC.into(),
            source: GEN_IP,
            destination: SINK_IP,
        },
    )?;
    std::thread::sleep(WARM_UP);
    let (start, before) = (Instant::now(), wires.counts()?);
    std::thread::sleep(duration);
    let after = wires.counts()?;
    let seconds = start.elapsed().as_secs_f64();
    generator.stop()?;
    let rate = |frames: u64| frames as f64 / seconds / 1e6;
    let rates = Rates {
        offered: rate(after.offered - before.offered),
        delivered: rate(after.delivered - before.delivered),
    };
    if rates.offered == 0.0 {
        bail!("the generator's frames did not reach {IN}");
    }
    if rates.delivered == 0.0 {
        bail!("none of the generator's frames reached the sink through {IN} and {OUT}");
    }
    Ok(rates)
}

fn print_rates(label: &str, rates: Rates) {
    println!(
        "  [{label}] offered {:.3} Mpps at {IN}, delivered {:.3} Mpps at the sink ({:.1}%){}",
        rates.offered,
        rates.delivered,
        rates.delivered * 100.0 / rates.offered,
        if rates.delivered >= KEPT_UP * rates.offered {
            ": kept up with the generator, so this is the generator's rate, not the \
             forwarder's ceiling"
        } else {
            ""
        }
    );
}

/// A command that runs `program` in `netns` on `cpu` only (taskset), killed when the thread
/// that starts it ends (setpriv --pdeathsig), so that a benchmark that dies leaves no
/// process spinning on a CPU. Start it from the benchmark's main thread.
fn pinned(netns: &str, cpu: usize, program: impl AsRef<OsStr>) -> Command {
    let mut command = process::in_netns(netns, &["setpriv", "--pdeathsig", "KILL"]);
    command
        .args(["taskset", "-c", &cpu.to_string()])
        .arg(program);
    command
}

/// Fails early, saying what to do, when the benchmark cannot run here.
fn preflight() -> anyhow::Result<()> {
    if !rustix::process::geteuid().is_root() {
        bail!(
            "the uplink benchmark creates network namespaces and interfaces: run it as root, or \
             pass --in-memory-only"
        );
    }
    for (tool, package) in [
        (TESTPMD, "dpdk-dev"),
        ("nft", "nftables"),
        ("setpriv", "util-linux"),
        ("taskset", "util-linux"),
        ("stdbuf", "coreutils"),
    ] {
        if !process::on_path(tool) {
            bail!("{tool} not found: install {package} (scripts/install-deps.sh)");
        }
    }
    let allowed = sched_getaffinity(None).context("cannot read this process's CPU affinity")?;
    for cpu in [GENERATOR_CPU, FORWARDER_CPU] {
        if !allowed.is_set(cpu) {
            bail!(
                "the uplink benchmark pins the generator to CPU {GENERATOR_CPU} and the \
                 forwarder to CPU {FORWARDER_CPU}, but this process may not run on CPU {cpu}: \
                 run it on a machine (or cpuset) with both"
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_is_measured_only_with_ports_of_its_driver() {
        assert_eq!(PortKind::AfPacket.config_kind(), "af-packet");
        assert_eq!(PortKind::AfXdp.config_kind(), "af-xdp");
        assert!(PortKind::AfXdp.is_driver("af-xdp native"));
        assert!(PortKind::AfXdp.is_driver("af-xdp generic"));
        assert!(!PortKind::AfXdp.is_driver("af-packet (af-xdp refused)"));
        assert!(PortKind::AfPacket.is_driver("af-packet"));
        assert!(!PortKind::AfPacket.is_driver("af-xdp native"));
        let names: Vec<&str> = PortKind::ALL.iter().map(|k| k.figure()).collect();
        assert_eq!(names, ["uplink_afxdp_mpps", "uplink_afpacket_mpps"]);
    }
}
