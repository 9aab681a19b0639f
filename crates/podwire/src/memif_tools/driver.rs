//! The loop every tool runs: wait for the peer, do the tool's work while it
//! is connected, sleep when there is none (unless `--polling`), follow the
//! control side, print a line every second and a summary at the end.

use std::time::{Duration, Instant};

use anyhow::bail;
use podwire_memif::connection::wait_readable;
use podwire_memif::{Event, Interface};
use serde::Serialize;

use super::options::CommonArgs;
use super::port::Port;
use super::report::{Console, METER_PERIOD, Meter, Progress, Report, RunTotals, mpps};
use super::stop::Stop;

/// What one round of a tool's work came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Packets moved: go on at once.
    Busy,
    /// Nothing to do until a packet arrives or [`Tool::wake_at`].
    Idle,
    /// Frames wait for room in a full transmit ring: the peer must read
    /// first, and memif has no signal for that, so back off a little.
    Blocked,
}

impl Step {
    /// The step of a round that `moved` packets or not, and left frames
    /// waiting for a full ring (`blocked`) or not: moving wins.
    pub fn of(moved: bool, blocked: bool) -> Step {
        if moved {
            Step::Busy
        } else if blocked {
            Step::Blocked
        } else {
            Step::Idle
        }
    }
}

/// A tool: what it does with a connected interface, and what it counts.
pub trait Tool {
    /// Its counters, in the JSON summary.
    type Counters: Serialize;
    /// Its name in lines and summaries.
    const NAME: &'static str;
    /// The interface came up (the first time, or again after a loss):
    /// forget what belonged to the last connection.
    fn connected(&mut self, interface: &mut Interface, now: Instant) -> anyhow::Result<()>;
    /// One round over the queues: receive, answer, send.
    fn step(&mut self, interface: &mut Interface, now: Instant) -> anyhow::Result<Step>;
    /// Whether the run's goal (`--count`) is reached.
    fn finished(&self) -> bool;
    /// When the tool has work even if nothing arrives (a rate limit, a
    /// retry), if ever.
    fn wake_at(&self) -> Option<Instant> {
        None
    }
    /// The figures of the line of every second.
    fn progress(&self) -> Progress;
    /// The tool's own figures in a few words.
    fn details(&self) -> String;
    /// The tool's counters for the summary.
    fn counters(&self) -> Self::Counters;
}

/// How often a busy loop looks at the control side.
const CONTROL_PERIOD: Duration = Duration::from_millis(1);
/// How long a blocked tool sleeps in interrupt mode before trying again.
const BACKOFF: Duration = Duration::from_micros(50);
/// Rounds of work at most before the control side is followed, to take
/// what a departing peer left in the rings (a ring holds at most 16384).
const DRAIN_ROUNDS: usize = 1024;

/// What a run has seen of its peers.
#[derive(Debug, Default)]
struct Session {
    /// When the first peer connected.
    started: Option<Instant>,
    connections: u64,
    peer: Option<String>,
    totals: RunTotals,
    meter: Option<Meter>,
}

/// Runs `tool` on the interface `args` describe until its goal, the time
/// limit or a signal; then prints the summary.
pub fn run<T: Tool>(args: &CommonArgs, tool: &mut T) -> anyhow::Result<()> {
    let console = Console::new(args.json);
    let stop = Stop::on_signals()?;
    let mut port = Port::open(args)?;
    console.say(&port.describe());
    let opened = Instant::now();
    let connect_deadline = args.connect_timeout.map(|timeout| opened + timeout);
    let mut session = Session::default();
    let mut next_control = opened;
    let mut woke = true;
    loop {
        let now = Instant::now();
        let end = session
            .started
            .zip(args.seconds)
            .map(|(started, seconds)| started + seconds);
        if stop.raised() || tool.finished() || end.is_some_and(|end| now >= end) {
            break;
        }
        if session.started.is_none() && connect_deadline.is_some_and(|deadline| now >= deadline) {
            bail!(
                "no memif peer connected within {:?} ({}); is the peer running, with the same \
                 --socket, --id, --mode and --secret, and the other --role?",
                args.connect_timeout.unwrap_or_default(),
                port.describe()
            );
        }
        let mut step = match port.interface_mut() {
            Some(interface) => tool.step(interface, now)?,
            None => Step::Idle,
        };
        if woke || now >= next_control {
            next_control = now + CONTROL_PERIOD;
            if port.control_due(now)?
                && follow_control(&mut port, tool, &mut session, &console, now)?
            {
                // A peer came or went: what there is to do changed, no sleeping.
                step = Step::Busy;
            }
        }
        if let Some(meter) = session.meter.as_mut().filter(|m| now >= m.next_line())
            && let Some(line) = meter.line(now, T::NAME, tool.progress(), &tool.details())
        {
            console.say(&line);
        }
        // Computed only when idle: a busy loop does not look at clocks.
        let until = || {
            let deadlines = [
                session.meter.as_ref().map(Meter::next_line),
                tool.wake_at(),
                port.next_deadline(now),
                end,
                connect_deadline.filter(|_| session.started.is_none()),
            ];
            deadlines.into_iter().flatten().min()
        };
        woke = pause(step, args.polling, &port, &stop, until, now)?;
    }
    if let Some(interface) = port.interface() {
        session.totals.observe(interface);
    }
    summarize(tool, &session, &console)
}

/// Takes what the peer left in the rings, then lets the control side move
/// on: a departing peer's last packets are published before its socket
/// closes, so they are received before the connection is dropped. Returns
/// whether anything happened (a connection, a loss, a refusal).
fn follow_control<T: Tool>(
    port: &mut Port,
    tool: &mut T,
    session: &mut Session,
    console: &Console,
    now: Instant,
) -> anyhow::Result<bool> {
    if let Some(interface) = port.interface_mut() {
        for _ in 0..DRAIN_ROUNDS {
            if tool.step(interface, now)? != Step::Busy {
                break;
            }
        }
        session.totals.observe(interface);
    }
    let events = port.poll(now);
    let happened = !events.is_empty();
    for event in events {
        match event {
            Event::Connected { id, peer } => {
                session.connections += 1;
                if session.started.is_none() {
                    session.started = Some(now);
                    session.meter = Some(Meter::new(now));
                }
                if let Some(interface) = port.interface_mut() {
                    console.say(&format!(
                        "memif id {id}: connected to {} ({}), {} rx / {} tx queues",
                        peer.name,
                        peer.if_name,
                        interface.rx_queues(),
                        interface.tx_queues()
                    ));
                    tool.connected(interface, now)?;
                }
                session.peer = Some(peer.name);
            }
            Event::Disconnected { id, reason } => {
                session.totals.connection_ended();
                console.say(&format!(
                    "memif id {id}: disconnected ({reason}); waiting for the peer to come back"
                ));
            }
            Event::Refused { reason, .. } => {
                console.say(&format!("memif: a connection was refused: {reason}"));
            }
        }
    }
    Ok(happened)
}

/// Waits as `step` asks: not at all while busy; a spin in polling mode; a
/// short back-off when blocked; otherwise until something arrives or
/// what `until` says (a second when it says nothing). Returns whether it slept.
fn pause(
    step: Step,
    polling: bool,
    port: &Port,
    stop: &Stop,
    until: impl FnOnce() -> Option<Instant>,
    now: Instant,
) -> anyhow::Result<bool> {
    let connected = port.interface().is_some();
    match step {
        Step::Busy => return Ok(false),
        Step::Idle | Step::Blocked if polling && connected => {
            std::hint::spin_loop();
            return Ok(false);
        }
        Step::Blocked => sleep(port, stop, now + BACKOFF, now)?,
        Step::Idle => {
            let until = until().unwrap_or(now + METER_PERIOD);
            sleep(port, stop, until, now)?;
        }
    }
    Ok(true)
}

/// Sleeps until a packet, a control message or a signal arrives, or
/// `until`; then clears the receive queues' interrupts that woke it.
fn sleep(port: &Port, stop: &Stop, until: Instant, now: Instant) -> anyhow::Result<()> {
    let mut fds = port.control_fds();
    fds.push(stop.fd());
    let interface = port.interface();
    let queues = interface.map_or(0, Interface::rx_queues);
    if let Some(interface) = interface {
        for queue in 0..queues {
            fds.push(interface.rx_interrupt_fd(queue)?);
        }
    }
    wait_readable(&fds, until.saturating_duration_since(now))?;
    if let Some(interface) = interface {
        for queue in 0..queues {
            interface.drain_interrupt(queue)?;
        }
    }
    Ok(())
}

/// Prints the run's summary.
fn summarize<T: Tool>(tool: &T, session: &Session, console: &Console) -> anyhow::Result<()> {
    let seconds = session
        .started
        .map_or(0.0, |started| started.elapsed().as_secs_f64());
    let progress = tool.progress();
    let counters = tool.counters();
    let report = Report {
        tool: T::NAME,
        seconds,
        connections: session.connections,
        peer: session.peer.clone(),
        packets: progress.packets,
        mpps: mpps(progress.packets, seconds),
        drops: progress.drops,
        memif: session.totals.total(),
        counters: &counters,
    };
    console.summary(&report, &report.text(&tool.details()))
}
