//! The measurements: ADD then DEL one pod at a time, and many ADDs from
//! several threads at once, each call timed as the runtime waits for it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use anyhow::anyhow;

use super::plugin::Call;
use super::pods::Pods;
use crate::bench::samples::Samples;

/// Timed calls of one kind.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Latencies(Vec<Duration>);

impl Latencies {
    /// The `p`-th percentile (0 < p ≤ 100, nearest rank) in milliseconds;
    /// NaN when nothing was timed.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        match self.0.is_empty() {
            true => f64::NAN,
            false => Samples::new(self.0.clone()).ms(p),
        }
    }
}

impl From<Vec<Duration>> for Latencies {
    fn from(durations: Vec<Duration>) -> Latencies {
        Latencies(durations)
    }
}

/// ADD and DEL latencies of pods wired one at a time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OneByOne {
    /// ADD, each.
    pub add: Latencies,
    /// DEL, each.
    pub del: Latencies,
}

/// For each pod in turn: ADD, then DEL, on each side in turn, so both sides
/// see the same conditions over the run. Every side has as many pods.
pub fn one_by_one<const N: usize>(sides: [&Pods; N]) -> anyhow::Result<[OneByOne; N]> {
    let mut measured: [(Vec<Duration>, Vec<Duration>); N] =
        std::array::from_fn(|_| (Vec::new(), Vec::new()));
    let pods = sides.iter().map(|s| s.len()).min().unwrap_or(0);
    for i in 0..pods {
        for (side, (add, del)) in sides.iter().zip(&mut measured) {
            add.push(side.add(i)?.elapsed());
            del.push(side.del(i)?.elapsed());
        }
    }
    Ok(measured.map(|(add, del)| OneByOne {
        add: add.into(),
        del: del.into(),
    }))
}

/// ADDs made by several threads at once.
#[derive(Clone, Debug, PartialEq)]
pub struct Concurrent {
    /// Each ADD's latency.
    pub add: Latencies,
    /// From the first ADD's start to the last one's end.
    pub wall: Duration,
}

/// ADDs every pod with `threads` threads, each taking the next pod no
/// thread has taken yet; then DELs them all the same way (not timed), so
/// the next measurement starts from an empty network.
pub fn concurrent_adds(pods: &Pods, threads: usize) -> anyhow::Result<Concurrent> {
    let adds = on_threads(pods.len(), threads, |i| pods.add(i))?;
    on_threads(pods.len(), threads, |i| pods.del(i))?;
    Ok(Concurrent {
        add: adds.iter().map(Call::elapsed).collect::<Vec<_>>().into(),
        wall: wall_clock(&adds),
    })
}

/// From the first call's start to the last one's end.
fn wall_clock(calls: &[Call]) -> Duration {
    let started = calls.iter().map(|c| c.started).min();
    let finished = calls.iter().map(|c| c.finished).max();
    match (started, finished) {
        (Some(s), Some(f)) => f - s,
        _ => Duration::ZERO,
    }
}

/// Runs `job` for `0..count` on `threads` threads at once; stops taking new
/// work after the first failure and returns it.
fn on_threads(
    count: usize,
    threads: usize,
    job: impl Fn(usize) -> anyhow::Result<Call> + Sync,
) -> anyhow::Result<Vec<Call>> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let work = || {
        let mut done = Vec::new();
        while !failed.load(Ordering::Relaxed) {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= count {
                break;
            }
            match job(i) {
                Ok(call) => done.push(call),
                Err(e) => {
                    failed.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
        Ok(done)
    };
    let results: Vec<anyhow::Result<Vec<Call>>> = thread::scope(|scope| {
        let handles: Vec<_> = (0..threads.max(1)).map(|_| scope.spawn(work)).collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("a benchmark thread panicked")))
            })
            .collect()
    });
    let mut calls = Vec::with_capacity(count);
    for result in results {
        calls.extend(result?);
    }
    Ok(calls)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Instant;

    use super::*;

    /// A call that ran from `ms.0` to `ms.1` milliseconds after `base`.
    fn call_between(base: Instant, ms: (u64, u64)) -> Call {
        Call {
            started: base + Duration::from_millis(ms.0),
            finished: base + Duration::from_millis(ms.1),
            stdout: String::new(),
        }
    }

    fn ms(values: &[u64]) -> Latencies {
        values
            .iter()
            .map(|&v| Duration::from_millis(v))
            .collect::<Vec<_>>()
            .into()
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let hundred = ms(&(1..=100).rev().collect::<Vec<_>>());
        assert_eq!(hundred.percentile_ms(50.0), 50.0);
        assert_eq!(hundred.percentile_ms(99.0), 99.0);
        assert_eq!(hundred.percentile_ms(100.0), 100.0);
        let five = ms(&[9, 1, 5, 3, 7]);
        assert_eq!(five.percentile_ms(50.0), 5.0);
        // With few samples p99 is the slowest.
        assert_eq!(five.percentile_ms(99.0), 9.0);
        assert!(ms(&[]).percentile_ms(50.0).is_nan());
    }

    #[test]
    fn every_job_runs_once_across_the_threads() {
        let seen = Mutex::new(Vec::new());
        let now = Instant::now();
        let calls = on_threads(25, 4, |i| {
            seen.lock().unwrap().push(i);
            Ok(call_between(now, (0, 1)))
        })
        .unwrap();
        assert_eq!(calls.len(), 25);
        let mut seen = seen.into_inner().unwrap();
        seen.sort_unstable();
        assert_eq!(seen, (0..25).collect::<Vec<_>>());
    }

    #[test]
    fn the_first_failure_stops_the_work_and_is_returned() {
        let ran = AtomicUsize::new(0);
        let now = Instant::now();
        let job = |i| {
            ran.fetch_add(1, Ordering::Relaxed);
            if i == 5 {
                Err(anyhow!("pod 5 failed"))
            } else {
                Ok(call_between(now, (0, 1)))
            }
        };
        let err = on_threads(1000, 3, job).unwrap_err();
        assert_eq!(format!("{err}"), "pod 5 failed");
        // One thread takes the jobs in order: nothing runs after the failure.
        ran.store(0, Ordering::Relaxed);
        assert!(on_threads(1000, 1, job).is_err());
        assert_eq!(ran.load(Ordering::Relaxed), 6);
    }

    #[test]
    fn the_wall_clock_spans_the_first_start_to_the_last_end() {
        let base = Instant::now();
        let calls = [
            call_between(base, (5, 20)),
            call_between(base, (2, 9)),
            call_between(base, (11, 40)),
        ];
        assert_eq!(wall_clock(&calls), Duration::from_millis(38));
        assert_eq!(wall_clock(&[]), Duration::ZERO);
    }
}
