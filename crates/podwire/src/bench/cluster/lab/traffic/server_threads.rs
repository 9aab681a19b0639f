//! The threads of a server that runs inside the test process, with nothing of the lab in
//! them: the Service tests include this file by its path for their backends.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

/// A server's threads (its accept and UDP loops, one per TCP connection) and the flag that
/// stops them. Cloned into the threads, which start the connections' threads themselves;
/// the server stops them with [`ServerThreads::stop_and_join`].
#[derive(Clone, Default)]
pub struct ServerThreads {
    /// Set when the server stops: each thread looks at it every tick or so.
    pub stop: Arc<AtomicBool>,
    threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl ServerThreads {
    /// Whether the server stops.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Runs `work` on a new thread of the server, forgetting those that have finished.
    pub fn spawn(&self, work: impl FnOnce() + Send + 'static) {
        let thread = thread::spawn(work);
        let mut threads = self.threads.lock().unwrap();
        threads.retain(|t| !t.is_finished());
        threads.push(thread);
    }

    /// Sets the stop flag and waits for every thread to end.
    pub fn stop_and_join(&self) {
        self.stop.store(true, Ordering::Relaxed);
        // The accept loop starts connection threads until it sees the flag: join until the
        // list stays empty.
        loop {
            let drained: Vec<_> = self.threads.lock().unwrap().drain(..).collect();
            if drained.is_empty() {
                break;
            }
            for thread in drained {
                let _ = thread.join();
            }
        }
    }
}
