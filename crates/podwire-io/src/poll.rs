//! Sleeping on file descriptors: an epoll [`Poller`] over a worker's interfaces and an eventfd
//! [`Waker`] through which the control plane wakes a sleeping worker.
//!
//! A worker polls its queues while traffic flows; when a round finds nothing it calls
//! [`Poller::wait`] and sleeps until one of its descriptors (tap fd, `AF_PACKET` socket, memif
//! eventfd, its `Waker`) becomes readable.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use rustix::buffer::spare_capacity;
use rustix::event::{EventfdFlags, Timespec, epoll};
use rustix::io::Errno;

/// How many readiness events one [`Poller::wait`] can report.
const EVENTS_PER_WAIT: usize = 64;

/// The longest timeout epoll accepts on kernels before 5.11 (`INT_MAX` milliseconds); longer
/// waits are cut to it, which callers see as an ordinary timeout.
const MAX_TIMEOUT: Duration = Duration::from_millis(i32::MAX as u64);

/// An epoll instance watching file descriptors for readability, each under a caller-chosen
/// token.
pub struct Poller {
    epoll: OwnedFd,
    /// Reused by every `wait`, so that waiting does not allocate.
    events: Vec<epoll::Event>,
}

impl Poller {
    /// Creates a poller watching nothing yet.
    pub fn new() -> io::Result<Self> {
        Ok(Self {
            epoll: epoll::create(epoll::CreateFlags::CLOEXEC)?,
            events: Vec::with_capacity(EVENTS_PER_WAIT),
        })
    }

    /// Watches `fd` for readability, reported as `token`. Level-triggered: a descriptor that
    /// stays readable is reported by every `wait` until it is drained.
    pub fn add(&self, fd: impl AsFd, token: u64) -> io::Result<()> {
        Ok(epoll::add(
            &self.epoll,
            fd,
            epoll::EventData::new_u64(token),
            epoll::EventFlags::IN,
        )?)
    }

    /// Stops watching `fd`. Do this before closing a descriptor that may be shared (dup'ed):
    /// epoll watches the open file, not the number.
    pub fn remove(&self, fd: impl AsFd) -> io::Result<()> {
        Ok(epoll::delete(&self.epoll, fd)?)
    }

    /// Sleeps until at least one watched descriptor is readable or `timeout` passes (`None`:
    /// no limit; `Some(ZERO)`: just look), then replaces the contents of `out` with the tokens
    /// of the readable descriptors. `out` is empty after a timeout, and after a signal
    /// interrupted the sleep.
    pub fn wait(&mut self, timeout: Option<Duration>, out: &mut Vec<u64>) -> io::Result<()> {
        out.clear();
        self.events.clear();
        let timeout = timeout.map(|t| {
            let t = t.min(MAX_TIMEOUT);
            Timespec {
                tv_sec: t.as_secs() as i64,
                tv_nsec: t.subsec_nanos().into(),
            }
        });
        match epoll::wait(
            &self.epoll,
            spare_capacity(&mut self.events),
            timeout.as_ref(),
        ) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        out.extend(self.events.iter().map(|event| event.data.u64()));
        Ok(())
    }
}

impl std::fmt::Debug for Poller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poller")
            .field("epoll", &self.epoll)
            .finish()
    }
}

impl AsFd for Poller {
    /// The epoll descriptor, itself pollable: it is readable when a `wait` would not sleep.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.epoll.as_fd()
    }
}

/// An eventfd that makes a [`Poller`] wake up: add it to the poller under a token of its own,
/// call [`Waker::wake`] from any thread, and [`Waker::drain`] it in the worker when its token
/// is reported.
#[derive(Debug)]
pub struct Waker {
    fd: OwnedFd,
}

impl Waker {
    /// Creates a waker with no wake-up pending.
    pub fn new() -> io::Result<Self> {
        let flags = EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK;
        Ok(Self {
            fd: rustix::event::eventfd(0, flags)?,
        })
    }

    /// Makes the waker readable until the next [`Waker::drain`]. Several wakes before a drain
    /// are one wake-up.
    pub fn wake(&self) -> io::Result<()> {
        match rustix::io::write(&self.fd, &1u64.to_ne_bytes()) {
            // EAGAIN: the counter is saturated, so a wake-up is pending anyway.
            Ok(_) | Err(Errno::AGAIN) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Clears pending wake-ups; returns whether there was one.
    pub fn drain(&self) -> io::Result<bool> {
        let mut counter = [0u8; 8];
        match rustix::io::read(&self.fd, &mut counter) {
            Ok(_) => Ok(true),
            Err(Errno::AGAIN) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

impl AsFd for Waker {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::thread;

    /// Long enough never to be reached by a working implementation; it only keeps a broken
    /// one from hanging the test run.
    const NEVER: Option<Duration> = Some(Duration::from_secs(30));

    fn ready(poller: &mut Poller) -> Vec<u64> {
        let mut out = vec![999];
        poller.wait(Some(Duration::ZERO), &mut out).unwrap();
        out.sort_unstable();
        out
    }

    #[test]
    fn a_waker_is_reported_under_its_token_until_drained() {
        let mut poller = Poller::new().unwrap();
        let (a, b) = (Waker::new().unwrap(), Waker::new().unwrap());
        poller.add(&a, 7).unwrap();
        poller.add(&b, 1 << 40).unwrap();
        assert_eq!(ready(&mut poller), Vec::<u64>::new());
        assert!(!a.drain().unwrap());

        a.wake().unwrap();
        a.wake().unwrap();
        assert_eq!(ready(&mut poller), vec![7]);
        // Level-triggered: still readable until drained.
        assert_eq!(ready(&mut poller), vec![7]);
        b.wake().unwrap();
        assert_eq!(ready(&mut poller), vec![7, 1 << 40]);

        assert!(a.drain().unwrap());
        assert!(!a.drain().unwrap(), "two wakes are one wake-up");
        assert_eq!(ready(&mut poller), vec![1 << 40]);
    }

    #[test]
    fn removed_descriptors_are_not_reported() {
        let mut poller = Poller::new().unwrap();
        let waker = Waker::new().unwrap();
        poller.add(&waker, 3).unwrap();
        waker.wake().unwrap();
        poller.remove(&waker).unwrap();
        assert_eq!(ready(&mut poller), Vec::<u64>::new());
        assert!(poller.add(&waker, 3).is_ok(), "can be added again");
        assert!(poller.add(&waker, 4).is_err(), "but not twice");
    }

    #[test]
    fn other_descriptors_are_watched_for_readability() {
        let mut poller = Poller::new().unwrap();
        let (reader, writer) = rustix::pipe::pipe().unwrap();
        poller.add(&reader, 11).unwrap();
        assert_eq!(ready(&mut poller), Vec::<u64>::new());
        rustix::io::write(&writer, b"x").unwrap();
        assert_eq!(ready(&mut poller), vec![11]);
    }

    #[test]
    fn a_sleeping_poller_is_woken_from_another_thread() {
        let mut poller = Poller::new().unwrap();
        let waker = Arc::new(Waker::new().unwrap());
        poller.add(&*waker, 5).unwrap();
        let remote = Arc::clone(&waker);
        let waking = thread::spawn(move || remote.wake().unwrap());
        let mut out = Vec::new();
        poller.wait(NEVER, &mut out).unwrap();
        waking.join().unwrap();
        assert_eq!(out, vec![5]);
    }

    #[test]
    fn an_idle_wait_times_out_empty() {
        let mut poller = Poller::new().unwrap();
        let mut out = vec![1, 2, 3];
        poller
            .wait(Some(Duration::from_millis(1)), &mut out)
            .unwrap();
        assert!(out.is_empty());
    }
}
