//! An AF_XDP port as a worker sees it: the receiving half polled by one worker
//! ([`AfXdpRx`]), the sending half shared by every worker behind a lock ([`AfXdpTx`]).
//!
//! One socket serves one queue of the interface, so the receiving half belongs to one worker;
//! with several workers, the flows it receives that another worker owns are handed over by
//! steering like those of any single-queue port. The sending half takes `&mut self` (it owns
//! the transmit ring and its free frames), so workers take turns through a mutex: uncontended
//! with one worker, held for one batch copy and one kick otherwise.

use std::os::fd::{AsFd, BorrowedFd};
use std::sync::{Mutex, PoisonError};

use podwire_dataplane::buffer::{BufferIndex, BufferPool};

use super::{AfXdpReceiver, AfXdpSender, AfXdpStats};
use crate::tx::FrameBatch;
use crate::worker::{PortCounters, RxPort, TxBatch, TxPort, TxScratch};

/// Receive calls between two readings of the kernel's drop counters (one `getsockopt` each):
/// often enough that `show interfaces` is current, rare enough to cost nothing per frame.
const STATS_EVERY: u32 = 64;

/// The receiving half of an AF_XDP port, for the one worker that polls it.
pub struct AfXdpRx {
    receiver: AfXdpReceiver,
    /// The kernel's drops counted so far, to add only what is new.
    kernel_drops: u64,
    /// Receive calls until the kernel's counters are read again.
    until_stats: u32,
}

impl AfXdpRx {
    /// The worker's side of `receiver`.
    pub fn new(receiver: AfXdpReceiver) -> Self {
        AfXdpRx {
            receiver,
            kernel_drops: 0,
            until_stats: 0,
        }
    }

    /// Adds the frames the kernel lost since the last reading (ring full, fill ring empty,
    /// too long for a UMEM frame) to `counters`.
    fn count_kernel_drops(&mut self, counters: &mut PortCounters) {
        match self.receiver.stats() {
            Ok(stats) => {
                let total = kernel_drops(&stats);
                counters.rx_drops += total.saturating_sub(self.kernel_drops);
                self.kernel_drops = total;
            }
            Err(e) => tracing::debug!(error = %e, "AF_XDP statistics not readable"),
        }
    }
}

/// Frames the kernel redirected to the socket but could not deliver.
fn kernel_drops(stats: &AfXdpStats) -> u64 {
    stats.rx_dropped + stats.rx_ring_full + stats.rx_fill_ring_empty + stats.rx_invalid_descs
}

impl RxPort for AfXdpRx {
    fn fd(&self) -> BorrowedFd<'_> {
        self.receiver.as_fd()
    }

    /// AF_XDP hands over bare frames, with no word of offloads: those from a NIC are
    /// complete, but a veth peer's own stack leaves TCP and UDP checksums partial, which
    /// cannot be told apart from wrong ones. Turn the peer's offload off (`ethtool -K PEER
    /// tx off`).
    fn receive(
        &mut self,
        pool: &mut BufferPool,
        max: usize,
        out: &mut Vec<BufferIndex>,
        counters: &mut PortCounters,
    ) {
        let batch = self.receiver.receive(pool, max, out);
        counters.rx_packets += batch.packets as u64;
        counters.rx_bytes += batch.bytes;
        counters.rx_drops += batch.drops as u64;
        match self.until_stats.checked_sub(1) {
            Some(left) => self.until_stats = left,
            None => {
                self.until_stats = STATS_EVERY;
                self.count_kernel_drops(counters);
            }
        }
    }
}

/// The sending half of an AF_XDP port, shared by every worker.
pub struct AfXdpTx(Mutex<AfXdpSender>);

impl AfXdpTx {
    /// The workers' side of `sender`.
    pub fn new(sender: AfXdpSender) -> Self {
        AfXdpTx(Mutex::new(sender))
    }
}

/// The packets of a [`TxBatch`] from the `first` on: what is left after a partial send.
struct Rest<'a> {
    batch: TxBatch<'a>,
    first: usize,
}

impl FrameBatch for Rest<'_> {
    fn frames(&self) -> usize {
        self.batch.len() - self.first
    }

    fn pieces(&self, i: usize) -> impl Iterator<Item = &[u8]> {
        self.batch.packet(self.first + i).pieces()
    }
}

/// Packets go out finished (the port offers no offloads, so the data plane completed their
/// checksums and cut them to the MTU); a chain is gathered into one UMEM frame. A packet
/// longer than a UMEM frame is dropped and the rest still sent; when the transmit frames are
/// all in the kernel's hands, what is left of the batch is dropped (back-pressure).
impl TxPort for AfXdpTx {
    fn send(&self, batch: TxBatch<'_>, _scratch: &mut TxScratch, counters: &mut PortCounters) {
        let mut sender = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let mut rest = Rest { batch, first: 0 };
        while rest.first < batch.len() {
            match sender.send_batch(&rest) {
                Ok(0) => break,
                Ok(sent) => {
                    counters.tx_packets += sent as u64;
                    counters.tx_bytes += (rest.first..rest.first + sent)
                        .map(|i| batch.packet(i).len() as u64)
                        .sum::<u64>();
                    rest.first += sent;
                }
                Err(e) if e.raw_os_error() == Some(libc::EMSGSIZE) => {
                    tracing::debug!(
                        length = batch.packet(rest.first).len(),
                        "a packet longer than an AF_XDP frame not sent"
                    );
                    counters.tx_drops += 1;
                    rest.first += 1;
                }
                // The device refused the kick (down or gone): what is left is counted lost,
                // though frames of this call already queued may still go with the next kick.
                Err(e) => {
                    tracing::debug!(error = %e, "AF_XDP send failed");
                    break;
                }
            }
        }
        counters.tx_drops += (batch.len() - rest.first) as u64;
    }
}
