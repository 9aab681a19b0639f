//! The eventfd of a ring: the producer signals it after publishing, the
//! consumer waits on it (epoll) and drains it.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::io::Errno;

use super::QueueError;
use crate::sys::EventFd;

/// A ring's eventfd, checked to be one and switched to non-blocking.
#[derive(Debug)]
pub struct Interrupt {
    fd: EventFd,
}

impl Interrupt {
    /// Takes a ring's eventfd (ours, or the one the peer sent with
    /// ADD_RING). A peer could send any fd: a pipe would block or fill, a
    /// blocking eventfd would stall the worker on `drain`. So the fd must be
    /// an eventfd, and is made non-blocking ([`EventFd::from_peer`]).
    pub fn new(fd: OwnedFd) -> Result<Interrupt, QueueError> {
        Ok(Interrupt {
            fd: EventFd::from_peer(fd)?,
        })
    }

    /// Signals the consumer.
    pub fn notify(&self) {
        self.fd.notify();
    }

    /// Clears pending signals; returns how many were coalesced (0 if none).
    pub fn drain(&self) -> u64 {
        let mut count = [0u8; 8];
        match rustix::io::read(self.fd.as_fd(), &mut count) {
            Ok(8) => u64::from_ne_bytes(count),
            Ok(_) | Err(Errno::AGAIN) => 0,
            Err(err) => {
                tracing::debug!(%err, "reading a memif ring eventfd failed");
                0
            }
        }
    }
}

impl AsFd for Interrupt {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
