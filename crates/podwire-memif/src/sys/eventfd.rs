//! The eventfd of a memif ring: the producer writes to it after publishing
//! packets (unless the consumer polls), the consumer waits on it and drains
//! it. The client creates one per ring and hands it to the server.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use rustix::event::EventfdFlags;
use rustix::fs::OFlags;
use rustix::io::Errno;

/// What `/proc/self/fd/N` links to for an eventfd.
const EVENTFD_LINK: &str = "anon_inode:[eventfd]";

/// An eventfd, non-blocking and close-on-exec.
#[derive(Debug)]
pub struct EventFd(OwnedFd);

/// Why an eventfd could not be made or taken from a peer.
#[derive(Debug, thiserror::Error)]
pub enum EventFdError {
    /// `eventfd()` failed.
    #[error("cannot create an eventfd: {0}: check the open-file limit of the process")]
    Create(Errno),
    /// What the peer sent could not be identified.
    #[error(
        "cannot check the file descriptor the memif peer sent for a ring ({0}): is /proc mounted?"
    )]
    Inspect(std::io::Error),
    /// The peer sent some other kind of file, which could block us or
    /// consume data that is not ours.
    #[error("the memif peer sent {kind:?} where a ring's eventfd belongs: drop the connection")]
    NotAnEventFd {
        /// What `/proc/self/fd` says the descriptor is.
        kind: String,
    },
    /// The peer's eventfd could not be made non-blocking.
    #[error("cannot make the memif peer's eventfd non-blocking: {0}: drop the connection")]
    NonBlocking(Errno),
}

impl EventFd {
    /// A new eventfd with counter 0.
    pub fn new() -> Result<EventFd, EventFdError> {
        rustix::event::eventfd(0, EventfdFlags::NONBLOCK | EventfdFlags::CLOEXEC)
            .map(EventFd)
            .map_err(EventFdError::Create)
    }

    /// Takes a descriptor a peer sent as a ring's eventfd, after checking
    /// that it is one, and makes it non-blocking so that neither `notify`
    /// nor `drain` can stall us. (The peer shares the file status flags and
    /// could clear `O_NONBLOCK` again; it would then also have to push the
    /// counter to its maximum for a `notify` to block.)
    pub fn from_peer(fd: OwnedFd) -> Result<EventFd, EventFdError> {
        let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
            .map_err(EventFdError::Inspect)?;
        if link.as_os_str() != EVENTFD_LINK {
            return Err(EventFdError::NotAnEventFd {
                kind: link.to_string_lossy().into_owned(),
            });
        }
        let flags = rustix::fs::fcntl_getfl(&fd).map_err(EventFdError::NonBlocking)?;
        if !flags.contains(OFlags::NONBLOCK) {
            rustix::fs::fcntl_setfl(&fd, flags | OFlags::NONBLOCK)
                .map_err(EventFdError::NonBlocking)?;
        }
        Ok(EventFd(fd))
    }

    /// Signals the other side: adds 1 to the counter.
    pub fn notify(&self) {
        // An eventfd write of 8 bytes fails only with EAGAIN, when the
        // counter is at its maximum: the other side has a wake-up pending
        // already, which is all a notification is for.
        let _ = rustix::io::write(&self.0, &1u64.to_ne_bytes());
    }

    /// Clears the counter; whether any notification was pending. The caller
    /// polls its ring either way: notifications coalesce.
    pub fn drain(&self) -> bool {
        let mut counter = [0u8; 8];
        // An eventfd read of 8 bytes fails only with EAGAIN (counter 0).
        rustix::io::read(&self.0, &mut counter).is_ok()
    }
}

impl AsFd for EventFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl From<EventFd> for OwnedFd {
    fn from(eventfd: EventFd) -> OwnedFd {
        eventfd.0
    }
}
