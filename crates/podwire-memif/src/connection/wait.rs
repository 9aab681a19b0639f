//! Blocking until a socket or an eventfd has something, for applications
//! that have no event loop of their own.

use std::os::fd::BorrowedFd;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::io::Errno;

/// Waits until one of `fds` is readable (or hung up), or `timeout` passes:
/// e.g. a server's [`fds`](super::Server::fds) and the
/// [`rx_interrupt_fd`](super::Interface::rx_interrupt_fd)s of its
/// interfaces. With no fds it just sleeps. A signal ends the wait early,
/// harmlessly: callers poll and wait again.
pub fn wait_readable(fds: &[BorrowedFd<'_>], timeout: Duration) -> std::io::Result<()> {
    let mut polled: Vec<PollFd<'_>> = fds
        .iter()
        .map(|fd| PollFd::new(fd, PollFlags::IN))
        .collect();
    // Durations beyond what a timespec holds are as good as forever.
    let timeout = Timespec::try_from(timeout).ok();
    match poll(&mut polled, timeout.as_ref()) {
        Ok(_) | Err(Errno::INTR) => Ok(()),
        Err(errno) => Err(errno.into()),
    }
}
