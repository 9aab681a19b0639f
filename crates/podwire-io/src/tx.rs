//! The outcome of handing one frame to a non-blocking device, and batches of frames made of
//! several pieces (the buffers of a chain) for devices that gather.

use std::io;

/// What became of a frame passed to a driver's `send`.
///
/// A full transmit queue is back-pressure, not a failure: the data plane counts the frame as a
/// tx drop (or keeps it for the next round) and carries on. Only conditions that need attention
/// (device gone, frame too big for the device, ...) are `Err`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a frame that met a full queue was not sent"]
pub enum TxStatus {
    /// The kernel accepted the whole frame.
    Sent,
    /// The device's queue (or the socket's send buffer) is full; the frame was not sent.
    QueueFull,
}

/// Frames to send in one batch, each the byte slices it is made of, in order: one for a
/// contiguous frame, one per buffer of a chained packet. A device that gathers (`writev`,
/// `sendmmsg`) sends the pieces as they are, without copying them together.
pub trait FrameBatch {
    /// How many frames.
    fn frames(&self) -> usize;
    /// The pieces of frame `i` (below [`frames`](Self::frames)), in order.
    fn pieces(&self, i: usize) -> impl Iterator<Item = &[u8]>;
}

/// Contiguous frames.
impl FrameBatch for [&[u8]] {
    fn frames(&self) -> usize {
        self.len()
    }

    fn pieces(&self, i: usize) -> impl Iterator<Item = &[u8]> {
        std::iter::once(self[i])
    }
}

/// Maps the result of one non-blocking `write`/`send` of a whole frame to a [`TxStatus`]:
/// `EAGAIN` and `ENOBUFS` (a full device queue under `PACKET_QDISC_BYPASS`) are back-pressure.
pub(crate) fn classify(result: rustix::io::Result<usize>) -> io::Result<TxStatus> {
    match result {
        Ok(_) => Ok(TxStatus::Sent),
        Err(e) if is_queue_full(e) => Ok(TxStatus::QueueFull),
        Err(e) => Err(e.into()),
    }
}

/// Whether `errno` from a non-blocking send means "try again later" rather than an error.
pub(crate) fn is_queue_full(errno: rustix::io::Errno) -> bool {
    errno == rustix::io::Errno::AGAIN || errno == rustix::io::Errno::NOBUFS
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::io::Errno;

    #[test]
    fn back_pressure_is_not_an_error() {
        assert_eq!(classify(Ok(60)).unwrap(), TxStatus::Sent);
        assert_eq!(classify(Err(Errno::AGAIN)).unwrap(), TxStatus::QueueFull);
        assert_eq!(classify(Err(Errno::NOBUFS)).unwrap(), TxStatus::QueueFull);
    }

    #[test]
    fn real_failures_are_errors() {
        let err = classify(Err(Errno::MSGSIZE)).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EMSGSIZE));
        let err = classify(Err(Errno::NXIO)).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENXIO));
    }
}
