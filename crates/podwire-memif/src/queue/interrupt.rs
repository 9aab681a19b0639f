//! The eventfd of a ring: the producer signals it after publishing, the
//! consumer waits on it (epoll) and drains it.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use rustix::fs::OFlags;
use rustix::io::Errno;

use super::QueueError;

/// What `/proc/self/fd/N` links to for an eventfd.
const EVENTFD_LINK: &[u8] = b"anon_inode:[eventfd]";

/// A ring's eventfd, checked to be one and switched to non-blocking.
#[derive(Debug)]
pub struct Interrupt {
    fd: OwnedFd,
}

impl Interrupt {
    /// Takes a ring's eventfd (ours, or the one the peer sent with
    /// ADD_RING). A peer could send any fd: a pipe would block or fill, a
    /// blocking eventfd would stall the worker on `drain`. So the fd must be
    /// an eventfd, and is made non-blocking (that flag is shared with the
    /// peer's copy, which is harmless: memif peers create them so).
    pub fn new(fd: OwnedFd) -> Result<Interrupt, QueueError> {
        let link = rustix::fs::readlink(format!("/proc/self/fd/{}", fd.as_raw_fd()), Vec::new())
            .map_err(QueueError::InterruptFd)?;
        if link.as_bytes() != EVENTFD_LINK {
            return Err(QueueError::NotAnEventfd {
                found: link.to_string_lossy().into_owned(),
            });
        }
        let flags = rustix::fs::fcntl_getfl(&fd).map_err(QueueError::InterruptFd)?;
        rustix::fs::fcntl_setfl(&fd, flags | OFlags::NONBLOCK).map_err(QueueError::InterruptFd)?;
        Ok(Interrupt { fd })
    }

    /// Signals the consumer.
    pub fn notify(&self) {
        // EAGAIN means the counter is saturated: the consumer has a wake-up
        // pending anyway. Nothing else can fail on a valid eventfd.
        let _ = rustix::io::write(&self.fd, &1u64.to_ne_bytes());
    }

    /// Clears pending signals; returns how many were coalesced (0 if none).
    pub fn drain(&self) -> u64 {
        let mut count = [0u8; 8];
        match rustix::io::read(&self.fd, &mut count) {
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
