//! Ending a run on SIGINT or SIGTERM with its summary printed, instead of
//! dying mid-line: the first signal raises a flag and wakes the tool's
//! wait; a second one ends the process at once.

use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use podwire_memif::sys::EventFd;
use tokio::signal::unix::{SignalKind, signal};

/// Exit status of a process ended by a second SIGINT (128 + 2, as shells do).
const SECOND_SIGNAL_EXIT: i32 = 130;

/// Raised once SIGINT or SIGTERM arrived.
#[derive(Debug)]
pub struct Stop {
    raised: Arc<AtomicBool>,
    wake: Arc<EventFd>,
}

impl Stop {
    /// Catches SIGINT and SIGTERM from now on, on a thread of its own.
    pub fn on_signals() -> anyhow::Result<Stop> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the runtime that catches signals")?;
        // Registered before returning, so no signal slips through.
        let (mut interrupt, mut terminate) = {
            let _context = runtime.enter();
            let interrupt = signal(SignalKind::interrupt()).context("cannot catch SIGINT")?;
            let terminate = signal(SignalKind::terminate()).context("cannot catch SIGTERM")?;
            (interrupt, terminate)
        };
        let stop = Stop {
            raised: Arc::new(AtomicBool::new(false)),
            wake: Arc::new(EventFd::new()?),
        };
        let (raised, wake) = (stop.raised.clone(), stop.wake.clone());
        std::thread::Builder::new()
            .name("memif-signals".into())
            .spawn(move || {
                runtime.block_on(async {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = terminate.recv() => {}
                    }
                    raised.store(true, Ordering::Relaxed);
                    wake.notify();
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = terminate.recv() => {}
                    }
                    eprintln!("second signal: exiting without a summary");
                    std::process::exit(SECOND_SIGNAL_EXIT);
                });
            })
            .context("cannot start the thread that catches signals")?;
        Ok(stop)
    }

    /// Whether a signal asked us to stop.
    pub fn raised(&self) -> bool {
        self.raised.load(Ordering::Relaxed)
    }

    /// Readable once a signal arrived: wait on it with the other fds.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.wake.as_fd()
    }
}
