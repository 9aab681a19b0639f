//! The two halves of an interface as a worker sees it: a receive side owned
//! by the one worker that polls it, and a transmit side every worker may use
//! (any worker may route a packet out of any interface).

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::time::Instant;

use podwire_dataplane::buffer::{
    BUFFER_DATA_SIZE, BUFFER_HEADROOM, BufferIndex, BufferPool, OffloadInfo,
};

use podwire_dataplane::buffer::GsoKind;
use podwire_dataplane::offload::segment_frame;

use crate::af_packet::{AfPacket, AfPacketSender};
use crate::tap::Tap;
use crate::tx::{FrameBatch, TxStatus};
use crate::vnet::{self, VNET_HDR_LEN};

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
    /// Gives back to `pool` the buffers the port keeps between
    /// [`receive`](Self::receive) calls. The worker calls it when it lets the port go (the
    /// interface is detached), so that the pool gets back what a port held. Nothing by
    /// default.
    fn release(&mut self, _pool: &mut BufferPool) {}
    /// Whether the port's peer came up since the last call (a memif peer connected), so that
    /// the worker asks for the peer's neighbors again at once: a request sent while nobody
    /// listened was lost, and waiting out the usual interval would stall the peer's traffic.
    /// Never by default (a kernel interface's peer is always there).
    fn take_link_up(&mut self) -> bool {
        false
    }
}

/// The transmit side of an interface, shared by every worker.
pub trait TxPort: Send + Sync {
    /// Sends the packets of `batch` (chains, with the offloads they ask for: only those the
    /// interface's `offloads` allow, the data plane saw to that); counts what it sends and
    /// what it loses. `scratch` is the worker's, for a device that needs a chain copied into
    /// one frame.
    fn send(&self, batch: TxBatch<'_>, scratch: &mut TxScratch, counters: &mut PortCounters);
}

/// Packets on their way out of one interface: chains of buffers in a worker's pool.
#[derive(Clone, Copy)]
pub struct TxBatch<'a> {
    pool: &'a BufferPool,
    packets: &'a [BufferIndex],
}

impl<'a> TxBatch<'a> {
    /// The packets `packets` (heads of chains) of `pool`.
    pub fn new(pool: &'a BufferPool, packets: &'a [BufferIndex]) -> Self {
        TxBatch { pool, packets }
    }

    /// How many packets.
    pub fn len(&self) -> usize {
        self.packets.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }

    /// Packet `i`.
    pub fn packet(&self, i: usize) -> TxPacket<'a> {
        TxPacket {
            pool: self.pool,
            head: self.packets[i],
        }
    }

    /// The packets, in order.
    pub fn iter(&self) -> impl Iterator<Item = TxPacket<'a>> + 'a {
        let pool = self.pool;
        self.packets
            .iter()
            .map(move |&head| TxPacket { pool, head })
    }
}

impl FrameBatch for TxBatch<'_> {
    fn frames(&self) -> usize {
        self.len()
    }

    fn pieces(&self, i: usize) -> impl Iterator<Item = &[u8]> {
        self.packet(i).pieces()
    }
}

/// One packet to send: the buffers of its chain and what it asks of the device.
#[derive(Clone, Copy)]
pub struct TxPacket<'a> {
    pool: &'a BufferPool,
    head: BufferIndex,
}

impl<'a> TxPacket<'a> {
    /// The checksum and segmentation work left for the device.
    pub fn offload(&self) -> &'a OffloadInfo {
        &self.pool.meta(self.head).offload
    }

    /// The packet's bytes in its first buffer: all of its headers.
    pub fn head(&self) -> &'a [u8] {
        self.pool.data(self.head)
    }

    /// Whether it spans several buffers.
    pub fn is_chain(&self) -> bool {
        self.pool.meta(self.head).next().is_some()
    }

    /// Its bytes, buffer by buffer.
    pub fn pieces(self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let pool = self.pool;
        pool.chain(self.head).map(move |bi| pool.data(bi))
    }

    /// Its length, every buffer of its chain.
    pub fn len(&self) -> usize {
        self.pool.total_length(self.head)
    }

    /// Whether it has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Its bytes in one slice: the buffer itself when it is one, else a copy in `scratch`.
    pub fn contiguous<'s>(&self, scratch: &'s mut TxScratch) -> &'s [u8]
    where
        'a: 's,
    {
        if self.is_chain() {
            self.pool.copy_to_vec(self.head, &mut scratch.linear);
            &scratch.linear
        } else {
            self.head()
        }
    }
}

/// A worker's room for what a transmit needs beyond the packets: kept from round to round so
/// that sending allocates nothing once it has grown to the largest packet.
#[derive(Debug, Default)]
pub struct TxScratch {
    linear: Vec<u8>,
}

/// How many pieces one tap write gathers: a virtio-net header and the buffers of a 64 KiB
/// segment (33 of 2 KiB), with room to spare.
const TAP_PIECES: usize = 64;

/// The largest frame a tap hands over: a 64 KiB segment (the most a tap's GSO makes) with
/// its Ethernet header and a VLAN tag.
const TAP_MAX_FRAME: usize = 65_536 + 18;

/// Buffers one tap read may fill: as many as the largest frame takes.
const TAP_RX_BUFFERS: usize = TAP_MAX_FRAME.div_ceil(BUFFER_DATA_SIZE);

/// Where in its head buffer a frame's virtio-net header is read: the end of the headroom.
const VNET_HEADER_AT: usize = BUFFER_HEADROOM - VNET_HDR_LEN;

/// A tap is read by one worker and written by any, through one descriptor (or one queue of a
/// multi-queue tap).
///
/// With the virtio-net header, one `readv` takes each frame straight into pool buffers: the
/// header into the head buffer's headroom, the frame across [`TAP_RX_BUFFERS`] buffers taken
/// from the pool before the read. The buffers the frame filled become its chain; the others wait for
/// the next read, and the next [`RxPort::receive`] call: a worker that polls an idle tap
/// takes and returns nothing (it did, 33 buffers a call, most of a spinning worker's time
/// after the read itself). They go back to the pool with [`RxPort::release`]. A frame
/// crosses the graph whole, as one packet, with the header's [`OffloadInfo`].
pub struct TapPort {
    tap: Arc<Tap>,
    /// Buffers taken from the pool for the next reads, kept between calls, in index order:
    /// distinct by construction, and [`BufferPool::raw_many_mut`] proves it in one pass
    /// when they ascend, where it sorts them otherwise.
    spare: Vec<BufferIndex>,
    /// Frames dropped for a malformed virtio-net header: logged once in a while.
    malformed: u64,
}

impl TapPort {
    /// The receive side of `tap`.
    pub fn new(tap: Arc<Tap>) -> Self {
        TapPort {
            tap,
            spare: Vec::with_capacity(TAP_RX_BUFFERS),
            malformed: 0,
        }
    }

    /// Buffers a read needs: those of the largest frame with the virtio-net header (which
    /// brings large segments), else one.
    fn buffers_per_read(&self) -> usize {
        if self.tap.has_vnet_hdr() {
            TAP_RX_BUFFERS
        } else {
            1
        }
    }

    /// Reads one frame into the spare buffers; what it is, or `None` when no frame is
    /// waiting (or the device failed: counted, logged).
    ///
    /// The virtio-net header is read into the head buffer's headroom, right before the
    /// frame: one iovec per buffer, no copy.
    fn read(&mut self, pool: &mut BufferPool, counters: &mut PortCounters) -> Option<TapFrame> {
        let head = *self.spare.first()?;
        let read = if self.tap.has_vnet_hdr() {
            let bis: [BufferIndex; TAP_RX_BUFFERS] = self.spare.as_slice().try_into().ok()?;
            let mut first = true;
            let mut bufs = pool.raw_many_mut(&bis).ok()?.map(|raw| {
                let from = match std::mem::take(&mut first) {
                    true => VNET_HEADER_AT,
                    false => BUFFER_HEADROOM,
                };
                IoSliceMut::new(&mut raw[from..])
            });
            self.tap.recv_vectored(&mut bufs)
        } else {
            self.tap.recv(&mut pool.raw_mut(head)[BUFFER_HEADROOM..])
        };
        let len = match read {
            Ok(len) => len?,
            Err(e) => {
                counters.rx_drops += 1;
                tracing::warn!(tap = self.tap.name(), error = %e, "tap read failed");
                return None;
            }
        };
        if !self.tap.has_vnet_hdr() {
            return Some(TapFrame::Frame(
                len.min(BUFFER_DATA_SIZE),
                OffloadInfo::default(),
            ));
        }
        let Some(len) = len.checked_sub(VNET_HDR_LEN) else {
            return Some(TapFrame::Malformed);
        };
        if len > TAP_RX_BUFFERS * BUFFER_DATA_SIZE {
            return Some(TapFrame::Truncated);
        }
        let mut header = [0u8; VNET_HDR_LEN];
        header.copy_from_slice(&pool.raw_mut(head)[VNET_HEADER_AT..BUFFER_HEADROOM]);
        pool.set_data(head, BUFFER_HEADROOM, len.min(BUFFER_DATA_SIZE));
        match vnet::decode(&header, pool.data(head), len) {
            Ok(offload) => Some(TapFrame::Frame(len, offload)),
            Err(e) => {
                self.malformed += 1;
                if self.malformed.is_power_of_two() {
                    tracing::debug!(
                        tap = self.tap.name(),
                        error = %e,
                        dropped = self.malformed,
                        "tap frames with a malformed virtio-net header dropped"
                    );
                }
                Some(TapFrame::Malformed)
            }
        }
    }

    /// Tops the spare buffers up to what a read needs, keeping them in index order; false
    /// when the pool cannot.
    fn top_up(&mut self, pool: &mut BufferPool) -> bool {
        let wanted = self.buffers_per_read();
        while self.spare.len() < wanted {
            match pool.alloc() {
                Ok(bi) => {
                    let at = self.spare.partition_point(|&spare| spare < bi);
                    self.spare.insert(at, bi);
                }
                Err(_) => return false,
            }
        }
        true
    }

    /// Makes the first spare buffers a packet of `len` bytes: the head and as many more as
    /// the frame filled, chained; they are spare no more.
    fn take_frame(
        &mut self,
        pool: &mut BufferPool,
        len: usize,
        offload: OffloadInfo,
    ) -> BufferIndex {
        let used = len.div_ceil(BUFFER_DATA_SIZE).max(1);
        let frame = &self.spare[..used];
        for (i, &bi) in frame.iter().enumerate() {
            let in_buffer = (len - i * BUFFER_DATA_SIZE).min(BUFFER_DATA_SIZE);
            pool.set_data(bi, BUFFER_HEADROOM, in_buffer);
        }
        pool.link(frame);
        let head = frame[0];
        pool.meta_mut(head).offload = offload;
        self.spare.drain(..used);
        head
    }
}

/// What one tap read gave.
enum TapFrame {
    /// A frame of this length, in the spare buffers from the first on.
    Frame(usize, OffloadInfo),
    /// A frame longer than the port takes: the kernel cut it.
    Truncated,
    /// A frame whose virtio-net header makes no sense.
    Malformed,
}

impl RxPort for TapPort {
    fn fd(&self) -> BorrowedFd<'_> {
        self.tap.as_fd()
    }

    fn receive(
        &mut self,
        pool: &mut BufferPool,
        max: usize,
        out: &mut Vec<BufferIndex>,
        counters: &mut PortCounters,
    ) {
        for _ in 0..max {
            if !self.top_up(pool) {
                // Leave the frames in the kernel's queue until buffers
                // come back; count it, as it means the pool is too small.
                // What the port took goes back for the packets in flight.
                counters.rx_drops += 1;
                self.release(pool);
                break;
            }
            match self.read(pool, counters) {
                None => break,
                Some(TapFrame::Frame(len, offload)) => {
                    out.push(self.take_frame(pool, len, offload));
                    counters.rx_packets += 1;
                    counters.rx_bytes += len as u64;
                }
                // The buffers stay spare, to be read into again.
                Some(TapFrame::Truncated | TapFrame::Malformed) => counters.rx_drops += 1,
            }
        }
    }

    fn release(&mut self, pool: &mut BufferPool) {
        for bi in self.spare.drain(..) {
            pool.free(bi);
        }
    }
}

impl TxPort for Tap {
    fn send(&self, batch: TxBatch<'_>, _scratch: &mut TxScratch, counters: &mut PortCounters) {
        let vnet = self.has_vnet_hdr();
        for packet in batch.iter() {
            // The header only for a tap that reads one.
            let header = vnet.then(|| vnet::encode(packet.offload(), packet.head()));
            let mut pieces = [IoSlice::new(&[]); TAP_PIECES];
            let mut count = 0;
            if let Some(header) = &header {
                pieces[0] = IoSlice::new(header);
                count = 1;
            }
            let mut fits = true;
            for piece in packet.pieces() {
                let Some(slot) = pieces.get_mut(count) else {
                    fits = false;
                    break;
                };
                *slot = IoSlice::new(piece);
                count += 1;
            }
            match fits.then(|| self.send_vectored(&pieces[..count])) {
                Some(Ok(TxStatus::Sent)) => {
                    counters.tx_packets += 1;
                    counters.tx_bytes += packet.len() as u64;
                }
                Some(Ok(TxStatus::QueueFull)) => counters.tx_drops += 1,
                Some(Err(e)) => {
                    counters.tx_drops += 1;
                    tracing::debug!(tap = self.name(), error = %e, "tap write failed");
                }
                None => {
                    counters.tx_drops += 1;
                    tracing::debug!(tap = self.name(), "a packet of too many buffers not sent");
                }
            }
        }
    }
}

/// The receive side of an AF_PACKET interface: its ring, polled by one
/// worker. Frames are copied from the ring into the pool (the ring's
/// memory goes back to the kernel at once), with the work their sender left
/// undone described, not done: a large segment is cut on the way, each of its
/// segments written straight into pool buffers, checksums left partial.
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
            let offload = match frame.offload {
                Ok(offload) => offload,
                Err(e) => {
                    counters.rx_drops += 1;
                    tracing::debug!(error = %e, "AF_PACKET frame with a malformed virtio-net header dropped");
                    return;
                }
            };
            counters.rx_packets += 1;
            counters.rx_bytes += frame.data.len() as u64;
            if offload.gso == GsoKind::None {
                receive_whole(pool, frame.data, offload, out, counters);
                return;
            }
            // A large segment from a TSO or USO sender, or GRO: cut as the
            // NIC would have, so that every packet the switch handles fits the
            // links it leaves by.
            let size = usize::from(offload.gso_size);
            let cut = segment_frame(pool, frame.data, offload.gso, size, |bi| out.push(bi));
            if let Err(e) = cut {
                counters.rx_drops += 1;
                tracing::debug!(error = %e, "AF_PACKET frame not segmented");
            }
        });
    }
}

/// Copies one frame into the pool (a chain when longer than a buffer), with
/// what it asks for: a checksum its sender left undone stays undone, for the
/// output path to finish where the device cannot (`offload::prepare`).
fn receive_whole(
    pool: &mut BufferPool,
    frame: &[u8],
    offload: OffloadInfo,
    out: &mut Vec<BufferIndex>,
    counters: &mut PortCounters,
) {
    let Ok(bi) = pool.alloc_from(frame) else {
        counters.rx_drops += 1;
        return;
    };
    pool.meta_mut(bi).offload = offload;
    out.push(bi);
}

/// Chains go out gathered (`sendmmsg` with one iovec per buffer, behind the
/// virtio-net header of what the packet asks for), up to 64 frames a call.
/// A frame the kernel refuses (`EINVAL`: offload metadata it does not take;
/// `EMSGSIZE`) is dropped alone; the frames after it are still sent.
impl TxPort for AfPacketSender {
    fn send(&self, batch: TxBatch<'_>, _scratch: &mut TxScratch, counters: &mut PortCounters) {
        let mut rest = batch;
        while !rest.is_empty() {
            let skip = match self.send_batch_offloaded(&rest, |i| *rest.packet(i).offload()) {
                // The queue is full: what is left is dropped.
                Ok(0) => break,
                Ok(sent) => {
                    counters.tx_packets += sent as u64;
                    counters.tx_bytes +=
                        (0..sent).map(|i| rest.packet(i).len() as u64).sum::<u64>();
                    sent
                }
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EMSGSIZE)) => {
                    tracing::debug!(error = %e, "AF_PACKET refused a frame");
                    counters.tx_drops += 1;
                    1
                }
                Err(e) => {
                    tracing::debug!(error = %e, "AF_PACKET send failed");
                    break;
                }
            };
            rest = TxBatch {
                pool: rest.pool,
                packets: &rest.packets[skip..],
            };
        }
        counters.tx_drops += rest.len() as u64;
    }
}

/// Sends `frames` through `port` as a worker would, each frame a packet of a pool of its own
/// (a chain when longer than a buffer): for the ports' tests.
#[cfg(test)]
pub(crate) fn send_frames(
    port: &(impl TxPort + ?Sized),
    frames: &[impl AsRef<[u8]>],
    counters: &mut PortCounters,
) {
    let mut pool = BufferPool::new(64 * frames.len().max(1) as u32);
    let packets: Vec<BufferIndex> = frames
        .iter()
        .map(|f| {
            pool.alloc_from(f.as_ref())
                .expect("the pool holds the frames")
        })
        .collect();
    port.send(
        TxBatch::new(&pool, &packets),
        &mut TxScratch::default(),
        counters,
    );
}

#[cfg(test)]
mod tests;
