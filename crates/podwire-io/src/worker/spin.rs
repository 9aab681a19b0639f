//! Whether a worker keeps polling after its last packet, or sleeps as soon as a round finds
//! nothing.
//!
//! Polling on for [`WorkerConfig::poll_window`](super::WorkerConfig::poll_window) after the
//! last packet keeps a ping-pong fast: the answer is found by a worker that is running, not
//! after an epoll wake-up. That is right while the worker's core has nothing else to do, and
//! wrong when it has: two pods exchanging a TCP stream on a two-core machine need the sender,
//! the receiver and the worker running, and a worker that never sleeps (segments come every
//! few tens of microseconds, well within the window) takes the core they wait for.
//!
//! So a worker spins only while its core is its own. The sign that it is not: the worker
//! waited for a CPU while it was ready to run, that is, its thread's run-queue wait (the
//! second field of `/proc/thread-self/schedstat`, [`RunQueueWait`]) grew by more than
//! [`SHARED_PERCENT`] of the time since the last sample. Read every [`SAMPLE_INTERVAL`] at
//! most, never per packet: one `pread` of an open file. Measured on a two-core machine
//! (`podwire bench forwarding --only tap`), a spinning worker waits 10 to 20 % of the time
//! beside an iperf3 stream, 20 to 30 % beside a sockperf flood, nothing beside a ping-pong
//! that leaves it a core; but a worker that sleeps waits a few microseconds at each wake-up,
//! and the scheduler gives the core it left to the pods: with 5 %, a worker that had once
//! backed off beside a ping-pong kept backing off (round trip p50 35 → 65 µs). So the
//! threshold is high: others took a quarter of the worker's time. Preferred to the alternatives: the count of involuntary context switches
//! (`ru_nivcsw`) says how often, not for how long: kernel threads preempt a worker alone on
//! its core a few times a second, a busy process beside it once per time slice of a few
//! milliseconds, counts too close to tell apart; `/proc/pressure/cpu` is system-wide, so a
//! busy other core would stop a worker spinning on an idle one.
//!
//! Its core shared, the worker sleeps as soon as a round finds nothing, for a back-off
//! period ([`FIRST_BACKOFF`]), then spins again for one sample to see whether the core is
//! free. Each retry that finds it shared doubles the period, up to [`MAX_BACKOFF`], so that a
//! worker on a busy core spins a small fraction of the time; a sample that finds it free
//! brings the period back to the first, so a worker alone on its core keeps the latency of
//! spinning.
//!
//! The decision ([`Spin`]) reads no clock and no file: the worker feeds it the time and the
//! wait, and tests feed it numbers.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::time::Duration;

use podwire_dataplane::clock::Instant;

/// How often the worker reads its run-queue wait while it runs.
pub(super) const SAMPLE_INTERVAL: Duration = Duration::from_millis(2);
/// The first back-off after a preemption, and the one after a sample that found the core free.
pub(super) const FIRST_BACKOFF: Duration = Duration::from_millis(10);
/// The longest back-off: the worker retries spinning at least this often.
pub(super) const MAX_BACKOFF: Duration = Duration::from_millis(320);
/// The share of a sample's time the worker may wait for a CPU with its core still counted
/// its own (a kernel thread that runs a moment takes far less, its own wake-ups some).
pub(super) const SHARED_PERCENT: u128 = 25;

/// Whether a worker may poll on after its last packet, from how long it waited for a CPU.
#[derive(Debug)]
pub(super) struct Spin {
    /// How long it polls after its last packet while its core is free.
    window: Duration,
    /// The last sample: when, and the run-queue wait so far then. None after a back-off
    /// started: the next sample is the baseline of the retry.
    last: Option<(Instant, Duration)>,
    /// Until when it does not spin.
    backoff_until: Option<Instant>,
    /// The back-off period the next preemption starts.
    backoff: Duration,
    /// Times it stopped spinning because its core was shared.
    yielded: u64,
}

impl Spin {
    /// A worker that polls for `window` after its last packet while its core is free.
    pub(super) fn new(window: Duration) -> Self {
        Spin {
            window,
            last: None,
            backoff_until: None,
            backoff: FIRST_BACKOFF,
            yielded: 0,
        }
    }

    fn backing_off(&self, now: Instant) -> bool {
        self.backoff_until.is_some_and(|until| now < until)
    }

    /// How long to poll after the last packet, now: the window, or zero while backing off.
    pub(super) fn window(&self, now: Instant) -> Duration {
        if self.backing_off(now) {
            Duration::ZERO
        } else {
            self.window
        }
    }

    /// Whether the worker should read its run-queue wait and [`observe`](Self::observe) it: never while it backs off (it does not spin then), at once when a retry begins, and
    /// every [`SAMPLE_INTERVAL`] otherwise. Nothing to watch with a window of zero.
    pub(super) fn sample_due(&self, now: Instant) -> bool {
        !self.window.is_zero()
            && !self.backing_off(now)
            && self
                .last
                .is_none_or(|(at, _)| now.saturating_since(at) >= SAMPLE_INTERVAL)
    }

    /// Takes the thread's run-queue wait so far at `now`: when it grew by more than
    /// [`SHARED_PERCENT`] of the time since the last sample, the core is shared, and the
    /// worker backs off.
    pub(super) fn observe(&mut self, now: Instant, waited: Duration) {
        let Some((then, before)) = self.last.replace((now, waited)) else {
            return;
        };
        let elapsed = now.saturating_since(then);
        if waited.saturating_sub(before).as_nanos() * 100 > elapsed.as_nanos() * SHARED_PERCENT {
            self.yielded += 1;
            self.backoff_until = Some(now.after(self.backoff));
            self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
            self.last = None;
        } else {
            self.backoff = FIRST_BACKOFF;
        }
    }

    /// Times it stopped spinning because another task wanted its core.
    pub(super) fn yielded(&self) -> u64 {
        self.yielded
    }
}

/// The time the thread that opened it spent ready to run but waiting for a CPU.
pub(super) struct RunQueueWait {
    /// `/proc/thread-self/schedstat` as opened on the thread (it names the thread for good);
    /// none where the kernel does not have it (no `CONFIG_SCHED_INFO`).
    schedstat: Option<File>,
}

impl RunQueueWait {
    /// The calling thread's; without the file, the worker spins as it would without this
    /// module, and says so once.
    pub(super) fn open() -> Self {
        let schedstat = File::open("/proc/thread-self/schedstat")
            .inspect_err(|e| {
                tracing::info!(
                    error = %e,
                    "no /proc/thread-self/schedstat: the worker polls after its last packet even when its core is shared"
                );
            })
            .ok();
        RunQueueWait { schedstat }
    }

    /// The wait so far; `None` when it cannot be read.
    pub(super) fn read(&self) -> Option<Duration> {
        let mut text = [0u8; 96];
        let len = self.schedstat.as_ref()?.read_at(&mut text, 0).ok()?;
        parse_wait(&text[..len])
    }
}

/// The run-queue wait in a schedstat line: "<run ns> <wait ns> <time slices>".
fn parse_wait(line: &[u8]) -> Option<Duration> {
    let field = line.split(|&b| b == b' ').nth(1)?;
    let nanos = std::str::from_utf8(field).ok()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_micros(100);

    fn ms(n: u64) -> Instant {
        Instant::from_nanos(n * 1_000_000)
    }

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    /// Feeds `spin` the samples it asks for, one look every millisecond from `from` to `to`,
    /// with the wait so far `waited` gives for each millisecond; the windows it allowed, by
    /// millisecond.
    fn run(spin: &mut Spin, from: u64, to: u64, waited: impl Fn(u64) -> Duration) -> Vec<Duration> {
        (from..to)
            .map(|t| {
                if spin.sample_due(ms(t)) {
                    spin.observe(ms(t), waited(t));
                }
                spin.window(ms(t))
            })
            .collect()
    }

    #[test]
    fn a_worker_that_never_waits_or_waits_a_moment_keeps_spinning() {
        for waited in [|_| us(7), |t| us(20 * t), |t| us(200 * t)] {
            let mut spin = Spin::new(WINDOW);
            let windows = run(&mut spin, 0, 1_000, waited);
            assert!(windows.iter().all(|&w| w == WINDOW));
            assert_eq!(spin.yielded(), 0);
        }
    }

    #[test]
    fn a_wait_of_more_than_the_share_stops_spinning_for_the_back_off_then_it_retries() {
        let mut spin = Spin::new(WINDOW);
        // Baseline at 0, 800 µs waited in the 2 ms to the next sample.
        let windows = run(&mut spin, 0, 30, |t| if t < 1 { us(0) } else { us(800) });
        assert_eq!(spin.yielded(), 1);
        assert_eq!(&windows[..2], [WINDOW; 2]);
        let back_off = FIRST_BACKOFF.as_millis() as usize;
        assert!(
            windows[2..2 + back_off].iter().all(Duration::is_zero),
            "{windows:?}"
        );
        assert!(
            windows[2 + back_off..].iter().all(|&w| w == WINDOW),
            "spins again after the back-off: {windows:?}"
        );
    }

    #[test]
    fn the_share_is_of_the_time_since_the_last_sample() {
        let share = |waited: u64| {
            let mut spin = Spin::new(WINDOW);
            spin.observe(ms(0), us(1_000));
            spin.observe(ms(2), us(1_000 + waited));
            spin.yielded()
        };
        let at_share = (2_000 * SHARED_PERCENT / 100) as u64;
        assert_eq!(
            share(at_share),
            0,
            "up to the share, the core is the worker's"
        );
        assert_eq!(share(at_share + 1), 1);
        // The same wait over a long sample (the worker slept in between) is a small share.
        let mut spin = Spin::new(WINDOW);
        spin.observe(ms(0), us(0));
        spin.observe(ms(1_000), us(at_share + 1));
        assert_eq!(spin.yielded(), 0);
    }

    #[test]
    fn it_reads_no_wait_while_it_backs_off() {
        let mut spin = Spin::new(WINDOW);
        spin.observe(ms(0), us(0));
        spin.observe(ms(2), us(2_000));
        assert!(!spin.sample_due(ms(3)));
        assert!(!spin.sample_due(ms(11)));
        assert!(spin.sample_due(ms(12)), "the retry's baseline, at once");
    }

    #[test]
    fn each_retry_on_a_shared_core_doubles_the_back_off_up_to_the_longest() {
        let mut spin = Spin::new(WINDOW);
        // Half of the time waiting for the CPU, all along.
        let windows = run(&mut spin, 0, 3_000, |t| us(500 * t));
        let retries: Vec<usize> = (1..windows.len())
            .filter(|&t| windows[t - 1].is_zero() && !windows[t].is_zero())
            .collect();
        let gaps: Vec<u64> = std::iter::once(0)
            .chain(retries.iter().copied())
            .collect::<Vec<_>>()
            .windows(2)
            .map(|pair| (pair[1] - pair[0]) as u64)
            .collect();
        // Each retry spins for one sample (its baseline, then the sample that finds the core
        // shared): the gap is that and the back-off.
        let sample = SAMPLE_INTERVAL.as_millis() as u64;
        let backoffs: Vec<u64> = gaps.iter().map(|gap| gap - sample).collect();
        let first = FIRST_BACKOFF.as_millis() as u64;
        let max = MAX_BACKOFF.as_millis() as u64;
        assert_eq!(
            backoffs[..7],
            [first, 2 * first, 4 * first, 8 * first, 16 * first, max, max]
        );
        let spun = windows.iter().filter(|w| !w.is_zero()).count();
        assert!(spun * 50 < windows.len(), "spun {spun} ms of 3000");
        assert_eq!(spin.yielded(), retries.len() as u64 + 1);
    }

    #[test]
    fn a_free_retry_brings_the_back_off_back_to_the_first() {
        let mut spin = Spin::new(WINDOW);
        // Shared for the first 200 ms, free after.
        let windows = run(&mut spin, 0, 1_000, |t| us(500 * t.min(200)));
        let yielded = spin.yielded();
        assert!(windows[600..].iter().all(|&w| w == WINDOW));
        // One wait later backs off for the first period only.
        let later = run(&mut spin, 1_000, 1_100, |t| {
            us(100_000 + if t < 1_050 { 0 } else { 800 })
        });
        assert_eq!(spin.yielded(), yielded + 1);
        let stopped = later.iter().filter(|w| w.is_zero()).count();
        assert_eq!(stopped as u128, FIRST_BACKOFF.as_millis(), "{later:?}");
    }

    #[test]
    fn a_zero_window_never_spins_and_never_samples() {
        let mut spin = Spin::new(Duration::ZERO);
        assert!(!spin.sample_due(ms(0)));
        assert_eq!(run(&mut spin, 0, 10, |t| us(500 * t)), [Duration::ZERO; 10]);
    }

    #[test]
    fn the_wait_is_the_second_field_of_schedstat() {
        assert_eq!(
            parse_wait(b"8001 4200 17\n"),
            Some(Duration::from_nanos(4200))
        );
        assert_eq!(parse_wait(b"8001"), None);
        assert_eq!(parse_wait(b"8001 -3 1\n"), None);
    }

    #[test]
    fn the_thread_has_a_run_queue_wait_that_never_goes_down() {
        let wait = RunQueueWait::open();
        let first = wait
            .read()
            .expect("this kernel has /proc/thread-self/schedstat");
        for _ in 0..100 {
            std::thread::yield_now();
        }
        let later = wait.read().expect("read again");
        assert!(later >= first, "{later:?} < {first:?}");
    }
}
