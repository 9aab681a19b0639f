//! The two halves of an interface as a worker sees it: a receive side owned
//! by the one worker that polls it, and a transmit side every worker may use
//! (any worker may route a packet out of any interface).

use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::time::Instant;

use podwire_dataplane::buffer::{BUFFER_HEADROOM, BUFFER_STRIDE, BufferIndex, BufferPool};

use podwire_dataplane::offload::{complete_l4_checksum, segment_tcp};

use crate::af_packet::{AfPacket, AfPacketSender, Gso, GsoKind};
use crate::tap::Tap;
use crate::tx::TxStatus;

/// Per-interface counters a worker keeps.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct PortCounters {
    /// Frames received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Frames lost on receive: no buffer, or a device error.
    pub rx_drops: u64,
    /// Frames sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Frames not sent: queue full or a device error.
    pub tx_drops: u64,
}

impl PortCounters {
    /// Adds `other` to these.
    pub fn add(&mut self, other: &PortCounters) {
        self.rx_packets += other.rx_packets;
        self.rx_bytes += other.rx_bytes;
        self.rx_drops += other.rx_drops;
        self.tx_packets += other.tx_packets;
        self.tx_bytes += other.tx_bytes;
        self.tx_drops += other.tx_drops;
    }
}

/// The receive side of an interface.
pub trait RxPort: Send {
    /// What the worker sleeps on when idle: readable when frames wait (or,
    /// for a port with a control channel, when it needs [`service`](Self::service)).
    fn fd(&self) -> BorrowedFd<'_>;
    /// Receives up to `max` frames into buffers of `pool`, appending them
    /// to `out`; counts what it receives and loses.
    fn receive(
        &mut self,
        pool: &mut BufferPool,
        max: usize,
        out: &mut Vec<BufferIndex>,
        counters: &mut PortCounters,
    );
    /// Does the port's control work (memif: accept, handshake, notice a
    /// peer that left, reconnect). The worker calls it when the port is
    /// attached, when [`fd`](Self::fd) is reported readable, and when
    /// [`next_deadline`](Self::next_deadline) has come. Nothing by default.
    fn service(&mut self, _now: Instant) {}
    /// When [`service`](Self::service) is due even if the fd stays quiet
    /// (a timer). Asked after each service call. `None` by default.
    fn next_deadline(&self) -> Option<Instant> {
        None
    }
    /// The worker is about to sleep on [`fd`](Self::fd) (`true`) or has
    /// woken up and polls again (`false`). A port whose peer signals only
    /// on request (memif) asks for signals while the worker sleeps. The
    /// worker polls once more after `true` before it sleeps, for frames
    /// that arrived before the port asked. Nothing by default.
    fn set_sleeping(&mut self, _sleeping: bool) {}
}

/// The transmit side of an interface, shared by every worker.
pub trait TxPort: Send + Sync {
    /// Sends whole frames; counts what it sends and what it loses.
    fn send(&self, frames: &[&[u8]], counters: &mut PortCounters);
}

/// A tap is read by one worker and written by any, through one descriptor.
pub struct TapPort(pub Arc<Tap>);

impl RxPort for TapPort {
    fn fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }

    fn receive(
        &mut self,
        pool: &mut BufferPool,
        max: usize,
        out: &mut Vec<BufferIndex>,
        counters: &mut PortCounters,
    ) {
        for _ in 0..max {
            let Ok(bi) = pool.alloc() else {
                // Leave the frames in the kernel's queue until buffers
                // come back; count it, as it means the pool is too small.
                counters.rx_drops += 1;
                return;
            };
            match self
                .0
                .recv(&mut pool.raw_mut(bi)[BUFFER_HEADROOM..BUFFER_STRIDE])
            {
                Ok(Some(len)) => {
                    pool.set_data(bi, BUFFER_HEADROOM, len);
                    counters.rx_packets += 1;
                    counters.rx_bytes += len as u64;
                    out.push(bi);
                }
                Ok(None) => {
                    pool.free(bi);
                    return;
                }
                Err(e) => {
                    pool.free(bi);
                    counters.rx_drops += 1;
                    tracing::warn!(tap = self.0.name(), error = %e, "tap read failed");
                    return;
                }
            }
        }
    }
}

impl TxPort for Tap {
    fn send(&self, frames: &[&[u8]], counters: &mut PortCounters) {
        for frame in frames {
            match Tap::send(self, frame) {
                Ok(TxStatus::Sent) => {
                    counters.tx_packets += 1;
                    counters.tx_bytes += frame.len() as u64;
                }
                Ok(TxStatus::QueueFull) | Err(_) => counters.tx_drops += 1,
            }
        }
    }
}

/// The receive side of an AF_PACKET interface: its ring, polled by one
/// worker. Frames are copied from the ring into the pool (the ring's
/// memory goes back to the kernel at once).
pub struct AfPacketRx(pub AfPacket);

impl RxPort for AfPacketRx {
    fn fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }

    fn receive(
        &mut self,
        pool: &mut BufferPool,
        max: usize,
        out: &mut Vec<BufferIndex>,
        counters: &mut PortCounters,
    ) {
        self.0.rx_batch(max, |frame| {
            if frame.truncated {
                counters.rx_drops += 1;
                return;
            }
            counters.rx_packets += 1;
            counters.rx_bytes += frame.data.len() as u64;
            match frame.gso {
                None => receive_whole(pool, frame.data, frame.csum_not_ready, out, counters),
                Some(Gso {
                    kind: GsoKind::Tcp4 | GsoKind::Tcp6,
                    size,
                }) => {
                    // A large segment from a TSO sender or GRO: cut it as
                    // the NIC would have, so every frame the switch
                    // handles fits the links it leaves by.
                    let cut = segment_tcp(frame.data, usize::from(size), |segment| {
                        receive_whole(pool, segment, false, out, counters)
                    });
                    if let Err(e) = cut {
                        counters.rx_drops += 1;
                        tracing::debug!(error = %e, "AF_PACKET frame not segmented");
                    }
                }
                Some(gso) => {
                    counters.rx_drops += 1;
                    tracing::debug!(
                        ?gso,
                        "AF_PACKET frame with unsupported segmentation dropped"
                    );
                }
            }
        });
    }
}

/// Copies one frame into the pool, completing its checksum if the sender
/// left it to an offload.
fn receive_whole(
    pool: &mut BufferPool,
    frame: &[u8],
    csum_not_ready: bool,
    out: &mut Vec<BufferIndex>,
    counters: &mut PortCounters,
) {
    let Ok(bi) = pool.alloc_from(frame) else {
        counters.rx_drops += 1;
        return;
    };
    if csum_not_ready && pool.meta(bi).next().is_none() {
        // A veth peer left its checksum to an offload that never happens;
        // finish it before any device sees the frame.
        complete_l4_checksum(pool.data_mut(bi));
    }
    out.push(bi);
}

impl TxPort for AfPacketSender {
    fn send(&self, frames: &[&[u8]], counters: &mut PortCounters) {
        let sent = match self.send_batch(frames) {
            Ok(n) => n,
            Err(e) => {
                tracing::debug!(error = %e, "AF_PACKET send failed");
                0
            }
        };
        counters.tx_packets += sent as u64;
        counters.tx_bytes += frames[..sent].iter().map(|f| f.len() as u64).sum::<u64>();
        counters.tx_drops += (frames.len() - sent) as u64;
    }
}
