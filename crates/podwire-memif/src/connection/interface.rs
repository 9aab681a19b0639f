//! A connected memif interface: its shared memory and its queues, with the
//! burst API applications move packets with. The same type serves both
//! roles; a [`Server`](super::Server) or [`Client`](super::Client) builds
//! it when the handshake completes.

use std::os::fd::BorrowedFd;

use super::{InterfaceConfig, PeerInfo};
use crate::queue::{Packet, QueueError, QueueStats, RxQueue, SharedBuf, TxQueue, TxReservation};
use crate::shm::Regions;
use crate::types::{Mode, Role};

/// A memif interface whose peer is connected.
///
/// Receive queue `i` reads ring `i` the peer produces into, transmit queue
/// `i` writes ring `i` the peer consumes (C2S ring `i` is the client's
/// transmit and the server's receive queue `i`). The counts are those
/// agreed in the handshake, which may be fewer than configured.
///
/// Dropping it unmaps the shared memory, after the queues are gone.
#[derive(Debug)]
pub struct Interface {
    id: u32,
    role: Role,
    mode: Mode,
    peer: PeerInfo,
    rx: Vec<RxQueue>,
    tx: Vec<TxQueue>,
    /// Last field: dropped (unmapped) after the queues that point into it.
    regions: Regions,
}

/// A mistake in a call on an [`Interface`].
#[derive(Debug, thiserror::Error)]
pub enum InterfaceError {
    /// The queue index is not below the queue count.
    #[error(
        "interface {id} has no {kind} queue {queue}: it has {count} (counts are agreed at \
         connect; ask rx_queues()/tx_queues())"
    )]
    NoSuchQueue {
        /// The interface id.
        id: u32,
        /// `receive` or `transmit`.
        kind: &'static str,
        /// The index asked for.
        queue: u16,
        /// How many there are.
        count: u16,
    },
    /// The queue's ring is no longer where it was (cannot happen with the
    /// interface's own memory; reported rather than assumed).
    #[error("interface {id}: {source}")]
    Queue {
        /// The interface id.
        id: u32,
        /// What failed.
        source: QueueError,
    },
}

impl Interface {
    /// Interface `config.id` over `regions`, its queues built on them.
    /// Sets every receive queue to the configured polling or interrupt
    /// mode; a client then posts its receive buffers (the server can send
    /// nothing before that), which it may do only now that the server has
    /// answered CONNECTED.
    pub(crate) fn new(
        config: &InterfaceConfig,
        role: Role,
        peer: PeerInfo,
        regions: Regions,
        rx: Vec<RxQueue>,
        tx: Vec<TxQueue>,
    ) -> Result<Interface, InterfaceError> {
        let mut interface = Interface {
            id: config.id,
            role,
            mode: config.mode,
            peer,
            rx,
            tx,
            regions,
        };
        for queue in 0..interface.rx_queues() {
            interface.set_polling(queue, config.polling)?;
            if role == Role::Client {
                // A burst of nothing posts the whole ring.
                interface.rx_burst(queue, 0, |_| {})?;
            }
        }
        Ok(interface)
    }

    /// Hands up to `max` received packets of receive queue `queue` to
    /// `sink`, each valid only during the call (copy it out with
    /// [`Packet::copy_to`]); returns how many. Bad descriptors from the
    /// peer cost a packet and a counter in [`rx_stats`](Self::rx_stats),
    /// never more.
    pub fn rx_burst(
        &mut self,
        queue: u16,
        max: usize,
        sink: impl FnMut(Packet<'_>),
    ) -> Result<usize, InterfaceError> {
        let (rx, regions) = self.rx_parts(queue)?;
        Ok(rx.rx_burst(regions, max, sink))
    }

    /// Sends frames from the front of `frames` on transmit queue `queue`,
    /// each whole or not at all (chained when longer than a buffer);
    /// returns how many were taken (sent, or dropped as unsendable and
    /// counted). The rest found no room: retry them later.
    pub fn tx_burst(&mut self, queue: u16, frames: &[&[u8]]) -> Result<usize, InterfaceError> {
        let (tx, regions) = self.tx_parts(queue)?;
        Ok(tx.tx_burst(regions, frames))
    }

    /// Zero-copy receive: hands up to `max` received packets of receive
    /// queue `queue` to `f` as handles that read in place in shared memory
    /// ([`SharedBuf::read`] at any offset), validated and counted exactly as
    /// by [`rx_burst`](Self::rx_burst); their slots are released (a client
    /// posts its buffers again) after `f` returns. Returns how many.
    pub fn rx_peek(
        &mut self,
        queue: u16,
        max: usize,
        f: impl FnMut(SharedBuf<'_>),
    ) -> Result<usize, InterfaceError> {
        let (rx, regions) = self.rx_parts(queue)?;
        Ok(rx.rx_peek(regions, max, f))
    }

    /// Zero-copy transmit: reserves up to `n` free buffers of transmit
    /// queue `queue` (as many as the ring has room for; on the server, those
    /// the client posted) to write frames into in place, then
    /// [`TxReservation::commit`] sends them. Dropping the reservation sends
    /// nothing. Frames from `tx_burst` and reservations go out in the order
    /// they were made.
    pub fn tx_reserve(
        &mut self,
        queue: u16,
        n: usize,
    ) -> Result<TxReservation<'_>, InterfaceError> {
        let (tx, regions) = self.tx_parts(queue)?;
        Ok(tx.tx_reserve(regions, n))
    }

    /// Puts receive queue `queue` in polling mode (the peer stops signalling
    /// its eventfd) or interrupt mode. After switching to interrupts, poll
    /// the queue once more before sleeping on its eventfd: packets
    /// published just before were not signalled.
    pub fn set_polling(&mut self, queue: u16, polling: bool) -> Result<(), InterfaceError> {
        let id = self.id;
        let (rx, regions) = self.rx_parts(queue)?;
        rx.set_polling(regions, polling)
            .map_err(|source| InterfaceError::Queue { id, source })
    }

    /// The eventfd of receive queue `queue`: readable when the peer has
    /// signalled packets (interrupt mode). Wait on it with poll(2) or
    /// epoll, then [`drain_interrupt`](Self::drain_interrupt) and receive.
    pub fn rx_interrupt_fd(&self, queue: u16) -> Result<BorrowedFd<'_>, InterfaceError> {
        Ok(self.rx_queue(queue)?.interrupt_fd())
    }

    /// Clears the eventfd of receive queue `queue`; returns how many
    /// signals it had coalesced (0 when none).
    pub fn drain_interrupt(&self, queue: u16) -> Result<u64, InterfaceError> {
        Ok(self.rx_queue(queue)?.drain_interrupt())
    }

    /// The counters of receive queue `queue`.
    pub fn rx_stats(&self, queue: u16) -> Result<QueueStats, InterfaceError> {
        Ok(*self.rx_queue(queue)?.stats())
    }

    /// The counters of transmit queue `queue`.
    pub fn tx_stats(&self, queue: u16) -> Result<QueueStats, InterfaceError> {
        let tx = self.tx.get(usize::from(queue));
        Ok(*tx.ok_or_else(|| self.no_such_tx(queue))?.stats())
    }

    /// Receive queues.
    pub fn rx_queues(&self) -> u16 {
        // At most 256 (the handshake refuses more).
        self.rx.len() as u16
    }

    /// Transmit queues.
    pub fn tx_queues(&self) -> u16 {
        self.tx.len() as u16
    }

    /// The interface id on the socket.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Whether we are the server or the client of this interface.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Ethernet frames or IP packets.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Who is at the other end.
    pub fn peer(&self) -> &PeerInfo {
        &self.peer
    }

    /// Shared-memory regions of the connection (the client's layout: 1 in
    /// copy mode, more when buffers have regions of their own).
    pub fn region_count(&self) -> usize {
        self.regions.len()
    }

    fn rx_queue(&self, queue: u16) -> Result<&RxQueue, InterfaceError> {
        let rx = self.rx.get(usize::from(queue));
        rx.ok_or_else(|| self.no_such_rx(queue))
    }

    /// A receive queue with the memory it reads.
    fn rx_parts(&mut self, queue: u16) -> Result<(&mut RxQueue, &Regions), InterfaceError> {
        let error = self.no_such_rx(queue);
        let rx = self.rx.get_mut(usize::from(queue)).ok_or(error)?;
        Ok((rx, &self.regions))
    }

    /// A transmit queue with the memory it writes.
    fn tx_parts(&mut self, queue: u16) -> Result<(&mut TxQueue, &Regions), InterfaceError> {
        let error = self.no_such_tx(queue);
        let tx = self.tx.get_mut(usize::from(queue)).ok_or(error)?;
        Ok((tx, &self.regions))
    }

    fn no_such_rx(&self, queue: u16) -> InterfaceError {
        InterfaceError::NoSuchQueue {
            id: self.id,
            kind: "receive",
            queue,
            count: self.rx_queues(),
        }
    }

    fn no_such_tx(&self, queue: u16) -> InterfaceError {
        InterfaceError::NoSuchQueue {
            id: self.id,
            kind: "transmit",
            queue,
            count: self.tx_queues(),
        }
    }
}
