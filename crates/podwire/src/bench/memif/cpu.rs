//! Where everything runs. The benchmark is built for a machine with two
//! CPUs, and memif peers poll: two polling threads on one CPU would starve
//! each other for whole scheduler slices, so every polling thread gets a
//! CPU of its own, and what shares a CPU sleeps when it has nothing to do.
//!
//! - app to app (ours, testpmd's, and the mixed pairs): the sender on
//!   CPU 0, the receiver on CPU 1, both polling;
//! - through the switch: pod A (the sender, the pinger) alone on CPU 0,
//!   polling; the switch's worker on CPU 1 (it polls while traffic flows)
//!   with pod B, which sleeps on its eventfd until the switch sends to it:
//!   the switch's signal wakes B on the switch's own CPU, which preempts
//!   the worker at once (a wake-up on another, idle CPU of a VM costs tens
//!   of µs);
//! - the kernel veth path, in its best placement for each figure:
//!   throughput unpinned (the kernel spreads the sender, the receiver and
//!   its softirq work over both CPUs), round trips with both pods on CPU 0
//!   (everything then happens on one CPU; a wake-up across CPUs would cost
//!   tens of µs).

use std::ffi::OsStr;
use std::process::Command;

use anyhow::{Context, bail};
use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};

/// The sender of an app-to-app pair.
pub const SENDER: usize = 0;
/// The receiver of an app-to-app pair.
pub const RECEIVER: usize = 1;
/// The switch's worker.
pub const SWITCH: usize = 1;
/// Pod A of the switch figures, which sends.
pub const POD_A: usize = 0;
/// Pod B of the switch figures, which receives (and echoes).
pub const POD_B: usize = 1;
/// Both pods of the veth round trips.
pub const VETH_RTT: usize = 0;

/// The placement above, for the printed output.
pub const PLACEMENT: &str = "CPU placement: app to app, the sender on CPU 0 and the receiver on \
     CPU 1, both polling (testpmd: --lcores=0@N,1@N); through the switch, pod A on CPU 0 \
     polling, the switch's worker and pod B (in interrupt mode) on CPU 1; the kernel veth \
     path unpinned for throughput, both pods on CPU 0 for round trips";

/// Fails, saying why, unless this process may run on CPUs 0 and 1.
pub fn check() -> anyhow::Result<()> {
    let allowed = sched_getaffinity(None).context("cannot read this process's CPU affinity")?;
    for cpu in [SENDER, RECEIVER] {
        if !allowed.is_set(cpu) {
            bail!(
                "the memif benchmark pins its peers to CPUs 0 and 1, but this process may not \
                 run on CPU {cpu}: run it on a machine (or cpuset) with both"
            );
        }
    }
    Ok(())
}

/// Runs `work` on a thread of its own confined to `cpu`; the threads and
/// processes it starts inherit that (the benchmark's own threads stay
/// where they are).
pub fn on_cpu<T: Send>(
    cpu: usize,
    work: impl FnOnce() -> anyhow::Result<T> + Send,
) -> anyhow::Result<T> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let mut set = CpuSet::new();
                set.set(cpu);
                sched_setaffinity(None, &set)
                    .with_context(|| format!("cannot pin a thread to CPU {cpu}"))?;
                work()
            })
            .join()
            .map_err(|_| anyhow::anyhow!("a thread pinned to CPU {cpu} panicked"))?
    })
}

/// A command that runs `program` on `cpu` only (taskset), and is killed
/// when the thread that starts it ends (setpriv --pdeathsig), so that a
/// benchmark that dies leaves no peer spinning on a CPU. Start it from the
/// benchmark's main thread.
pub fn pinned(cpu: usize, program: impl AsRef<OsStr>) -> Command {
    let mut command = Command::new("setpriv");
    command
        .args(["--pdeathsig", "KILL", "taskset", "-c", &cpu.to_string()])
        .arg(program);
    command
}
