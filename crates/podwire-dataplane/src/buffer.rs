//! Packet buffers: fixed-size slots in a per-worker pool, referred to by index.
//!
//! Every buffer is [`BUFFER_HEADROOM`] bytes of headroom (room to prepend an
//! encapsulation such as VXLAN without copying) followed by [`BUFFER_DATA_SIZE`]
//! bytes of data. A packet longer than one buffer is a chain: the head buffer's
//! [`PacketMeta::next`] names the next buffer, and so on. Only the head carries
//! the packet's metadata; the other buffers of a chain use `current_data`,
//! `current_length` and `next`.
//!
//! The pool allocates nothing after it is built: the hot path takes and returns
//! indices from a free list.

use crate::interface::IfIndex;

/// Bytes reserved in front of the data of every buffer for headers that are
/// prepended later (VXLAN needs 50).
pub const BUFFER_HEADROOM: usize = 128;
/// Bytes of packet data one buffer holds.
pub const BUFFER_DATA_SIZE: usize = 2048;
/// Distance between two buffers in the pool's memory.
pub const BUFFER_STRIDE: usize = BUFFER_HEADROOM + BUFFER_DATA_SIZE;

/// A buffer in a [`BufferPool`], by position.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct BufferIndex(u32);

impl BufferIndex {
    /// The position in the pool.
    #[inline]
    pub fn as_usize(self) -> usize {
        self.0 as usize
    }
}

/// Checksum and segmentation offload state of a packet, in the terms of the
/// virtio-net header (which is what tap and vhost-user speak), so that a
/// packet can cross the switch without the checksum being computed or the
/// segment being cut until a device that cannot do it needs it.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct OffloadInfo {
    /// The L4 checksum is not filled in: compute it over
    /// `csum_start..` and store it at `csum_start + csum_offset`.
    pub needs_csum: bool,
    /// Offset from the start of the packet where checksumming starts.
    pub csum_start: u16,
    /// Offset from `csum_start` where the checksum is stored.
    pub csum_offset: u16,
    /// The kind of segmentation the packet asks for.
    pub gso: GsoKind,
    /// Payload bytes per segment when `gso` is not `None`.
    pub gso_size: u16,
    /// Length of all headers up to the L4 payload, when `gso` is not `None`.
    pub hdr_len: u16,
}

impl OffloadInfo {
    /// Whether the packet asks a device for any work (a checksum, segmentation). One
    /// branch for the ordinary packet, which asks for none: the output path tests this
    /// before it looks at what the device takes.
    #[inline]
    pub fn asks_for_work(&self) -> bool {
        self.needs_csum | (self.gso != GsoKind::None)
    }
}

/// Segmentation a packet asks for (virtio-net's `gso_type`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum GsoKind {
    /// Not a large segment.
    #[default]
    None,
    /// TCP over IPv4, to be cut into `gso_size` segments.
    Tcp4,
    /// TCP over IPv6.
    Tcp6,
    /// UDP segmentation (USO).
    Udp,
}

/// Metadata of a packet, kept beside its head buffer.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct PacketMeta {
    /// Offset of the packet's first byte in the buffer.
    pub current_data: u16,
    /// Bytes of the packet in this buffer.
    pub current_length: u16,
    /// The next buffer of the chain, if any.
    next: u32,
    /// The interface the packet came in on.
    pub rx_if: IfIndex,
    /// The interface the packet leaves by, once decided.
    pub tx_if: IfIndex,
    /// A value the nodes pass along: the adjacency chosen by the route
    /// lookup, the bridge domain, ... Its meaning is the pair of nodes'.
    pub next_index: u32,
    /// A hash of the flow, for steering and load balancing.
    pub flow_hash: u32,
    /// Offset of the Ethernet header in the buffer, set by ethernet-input
    /// before it advances to the L3 header: later nodes may read the
    /// frame's MACs there.
    pub l2_offset: u16,
    /// Checksum and segmentation offload.
    pub offload: OffloadInfo,
    /// The trace record this packet is followed by, if it is traced.
    pub trace: Option<u32>,
    /// The switch made this packet (an echo reply, an ICMP error): it is
    /// routed out without its TTL counted down, as a host sends its own.
    pub originated: bool,
    /// A session translated this packet (or found it needs none): later NAT nodes leave it
    /// alone.
    pub tracked: bool,
}

const NO_NEXT: u32 = u32::MAX;

impl PacketMeta {
    /// The metadata of a buffer just taken from the pool. A constant, so
    /// that `alloc` copies it in a few wide stores.
    const EMPTY: PacketMeta = PacketMeta {
        current_data: BUFFER_HEADROOM as u16,
        current_length: 0,
        next: NO_NEXT,
        rx_if: IfIndex::INVALID,
        tx_if: IfIndex::INVALID,
        next_index: 0,
        flow_hash: 0,
        l2_offset: 0,
        offload: OffloadInfo {
            needs_csum: false,
            csum_start: 0,
            csum_offset: 0,
            gso: GsoKind::None,
            gso_size: 0,
            hdr_len: 0,
        },
        trace: None,
        originated: false,
        tracked: false,
    };

    /// The next buffer of the chain.
    #[inline]
    pub fn next(&self) -> Option<BufferIndex> {
        (self.next != NO_NEXT).then_some(BufferIndex(self.next))
    }

    /// Drops `n` bytes from the front of the packet in this buffer (a
    /// header that has been consumed); see [`BufferPool::advance`].
    #[inline]
    pub fn advance(&mut self, n: usize) -> Result<(), BufferError> {
        if n > usize::from(self.current_length) {
            return Err(BufferError::TooShort {
                wanted: n,
                available: usize::from(self.current_length),
            });
        }
        // `n` is at most `current_length`, a u16.
        self.current_data += n as u16;
        self.current_length -= n as u16;
        Ok(())
    }
}

/// Why a buffer operation could not be done.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BufferError {
    /// The pool has no free buffer.
    #[error("the buffer pool is exhausted: raise buffers_per_worker")]
    Exhausted,
    /// Prepending would run past the start of the buffer.
    #[error("not enough headroom to prepend {wanted} bytes ({available} available)")]
    NoHeadroom {
        /// Bytes asked for.
        wanted: usize,
        /// Bytes there are.
        available: usize,
    },
    /// One buffer asked for twice where buffers are handed out together.
    #[error("buffer {0:?} asked for twice at once (a podwire bug)")]
    AskedTwice(BufferIndex),
    /// Removing from the front more than the buffer holds.
    #[error("cannot advance {wanted} bytes past a buffer holding {available}")]
    TooShort {
        /// Bytes asked for.
        wanted: usize,
        /// Bytes there are.
        available: usize,
    },
}

/// A fixed set of buffers and their metadata, owned by one worker.
pub struct BufferPool {
    data: Box<[u8]>,
    meta: Box<[PacketMeta]>,
    free: Vec<BufferIndex>,
}

impl BufferPool {
    /// A pool of `count` buffers, all free.
    pub fn new(count: u32) -> Self {
        let n = count as usize;
        BufferPool {
            data: vec![0u8; n * BUFFER_STRIDE].into_boxed_slice(),
            meta: vec![PacketMeta::EMPTY; n].into_boxed_slice(),
            // Popped from the end: hand out low indices first.
            free: (0..count).rev().map(BufferIndex).collect(),
        }
    }

    /// Buffers in the pool.
    pub fn capacity(&self) -> usize {
        self.meta.len()
    }

    /// Buffers free now.
    pub fn available(&self) -> usize {
        self.free.len()
    }

    /// Takes a free buffer, with empty data starting after the headroom.
    #[inline]
    pub fn alloc(&mut self) -> Result<BufferIndex, BufferError> {
        let bi = self.free.pop().ok_or(BufferError::Exhausted)?;
        self.meta[bi.as_usize()] = PacketMeta::EMPTY;
        Ok(bi)
    }

    /// Returns a packet to the pool: its head and every buffer of its chain.
    #[inline]
    pub fn free(&mut self, head: BufferIndex) {
        let mut cur = Some(head);
        while let Some(bi) = cur {
            cur = self.meta[bi.as_usize()].next();
            self.meta[bi.as_usize()].next = NO_NEXT;
            self.free.push(bi);
        }
    }

    /// The metadata of a buffer.
    #[inline]
    pub fn meta(&self, bi: BufferIndex) -> &PacketMeta {
        &self.meta[bi.as_usize()]
    }

    /// The metadata of a buffer, to change.
    #[inline]
    pub fn meta_mut(&mut self, bi: BufferIndex) -> &mut PacketMeta {
        &mut self.meta[bi.as_usize()]
    }

    /// The bytes of the packet held in this buffer (not the rest of a chain).
    #[inline]
    pub fn data(&self, bi: BufferIndex) -> &[u8] {
        let m = &self.meta[bi.as_usize()];
        let start = bi.as_usize() * BUFFER_STRIDE + m.current_data as usize;
        &self.data[start..start + m.current_length as usize]
    }

    /// The bytes of the packet held in this buffer, to change.
    #[inline]
    pub fn data_mut(&mut self, bi: BufferIndex) -> &mut [u8] {
        self.packet_mut(bi).1
    }

    /// The metadata and the bytes of a buffer together, both to change.
    #[inline]
    pub fn packet_mut(&mut self, bi: BufferIndex) -> (&mut PacketMeta, &mut [u8]) {
        let m = &mut self.meta[bi.as_usize()];
        let start = bi.as_usize() * BUFFER_STRIDE + m.current_data as usize;
        let end = start + m.current_length as usize;
        (m, &mut self.data[start..end])
    }

    /// The whole buffer, headroom included, for a device that receives into
    /// it; follow with [`BufferPool::set_data`] to say where the packet is.
    #[inline]
    pub fn raw_mut(&mut self, bi: BufferIndex) -> &mut [u8] {
        let start = bi.as_usize() * BUFFER_STRIDE;
        &mut self.data[start..start + BUFFER_STRIDE]
    }

    /// Several whole buffers at once, headroom included, in the order of `bis`: for a
    /// device that receives one frame into many (a scatter read of a large segment).
    /// Follow with [`BufferPool::set_data`] for each and [`BufferPool::link`].
    ///
    /// Linear in N when `bis` ascend, as a caller that keeps its buffers in index order
    /// does (one comparison per pair proves them distinct); else they are sorted first.
    /// Fails, handing out nothing, when `bis` names a buffer twice.
    ///
    /// # Panics
    /// When an index is not of this pool: a caller's bug.
    pub fn raw_many_mut<const N: usize>(
        &mut self,
        bis: &[BufferIndex; N],
    ) -> Result<[&mut [u8]; N], BufferError> {
        // Walk the pool's buffers once in index order, handing each asked for to its place:
        // linear in N, where checking every pair for overlap would be quadratic.
        let mut order: [usize; N] = std::array::from_fn(|i| i);
        if !bis.is_sorted_by(|a, b| a < b) {
            order.sort_unstable_by_key(|&i| bis[i]);
            if let Some(pair) = order.windows(2).find(|w| bis[w[0]] == bis[w[1]]) {
                return Err(BufferError::AskedTwice(bis[pair[0]]));
            }
        }
        let mut out: [&mut [u8]; N] = std::array::from_fn(|_| <&mut [u8]>::default());
        let mut buffers = self.data.chunks_exact_mut(BUFFER_STRIDE);
        let mut at = 0;
        for i in order {
            let wanted = bis[i].as_usize();
            out[i] = buffers
                .nth(wanted - at)
                .expect("a buffer index of this pool");
            at = wanted + 1;
        }
        Ok(out)
    }

    /// Makes `bis` one chain, in this order: each buffer's next is the one after it, the
    /// last's none. For buffers just received into, none part of another packet.
    pub fn link(&mut self, bis: &[BufferIndex]) {
        for pair in bis.windows(2) {
            self.meta[pair[0].as_usize()].next = pair[1].0;
        }
        if let Some(last) = bis.last() {
            self.meta[last.as_usize()].next = NO_NEXT;
        }
    }

    /// Says that the packet in this buffer is `len` bytes starting at
    /// `offset` of the raw buffer.
    ///
    /// # Panics
    /// When `offset + len` passes the end of the buffer: a caller's bug.
    #[inline]
    pub fn set_data(&mut self, bi: BufferIndex, offset: usize, len: usize) {
        assert!(offset + len <= BUFFER_STRIDE, "packet outside its buffer");
        let m = &mut self.meta[bi.as_usize()];
        m.current_data = offset as u16;
        m.current_length = len as u16;
    }

    /// Drops `n` bytes from the front of the packet (a header that has been
    /// consumed).
    #[inline]
    pub fn advance(&mut self, bi: BufferIndex, n: usize) -> Result<(), BufferError> {
        self.meta[bi.as_usize()].advance(n)
    }

    /// Makes room for `n` bytes in front of the packet (a header to be
    /// written) and returns the packet, now starting with them.
    #[inline]
    pub fn prepend(&mut self, bi: BufferIndex, n: usize) -> Result<&mut [u8], BufferError> {
        let m = &mut self.meta[bi.as_usize()];
        let in_buffer = m.current_data as usize;
        if n > in_buffer {
            return Err(BufferError::NoHeadroom {
                wanted: n,
                available: in_buffer,
            });
        }
        m.current_data -= n as u16;
        m.current_length += n as u16;
        Ok(self.data_mut(bi))
    }

    /// Cuts the packet in this buffer to `len` bytes (trailing padding, say).
    #[inline]
    pub fn truncate(&mut self, bi: BufferIndex, len: usize) {
        let m = &mut self.meta[bi.as_usize()];
        m.current_length = m.current_length.min(len as u16);
    }

    /// Bytes in the whole packet, every buffer of its chain.
    #[inline]
    pub fn total_length(&self, head: BufferIndex) -> usize {
        let m = &self.meta[head.as_usize()];
        // Most packets are one buffer: no chain to walk.
        if m.next == NO_NEXT {
            return usize::from(m.current_length);
        }
        self.chain(head).map(|bi| self.data(bi).len()).sum()
    }

    /// The buffers of a packet, head first.
    pub fn chain(&self, head: BufferIndex) -> impl Iterator<Item = BufferIndex> + '_ {
        std::iter::successors(Some(head), |&bi| self.meta(bi).next())
    }

    /// Appends `tail` (a buffer or a chain) after the last buffer of `head`.
    pub fn append(&mut self, head: BufferIndex, tail: BufferIndex) {
        let last = self.chain(head).last().unwrap_or(head);
        self.meta[last.as_usize()].next = tail.0;
    }

    /// Bytes that fit after the data of this buffer (for a buffer taken from the pool,
    /// [`BUFFER_DATA_SIZE`]).
    #[inline]
    pub fn tailroom(&self, bi: BufferIndex) -> usize {
        let m = &self.meta[bi.as_usize()];
        BUFFER_STRIDE - usize::from(m.current_data) - usize::from(m.current_length)
    }

    /// Appends to the data of buffer `dst` bytes of the data of buffer `src` (not of its
    /// chain), from `offset` on: at most `len`, and no more than `src` holds there or the
    /// tailroom of `dst` takes. Returns how many it copied.
    pub fn append_from(
        &mut self,
        dst: BufferIndex,
        src: BufferIndex,
        offset: usize,
        len: usize,
    ) -> usize {
        let s = self.meta[src.as_usize()];
        let available = usize::from(s.current_length).saturating_sub(offset);
        let n = len.min(available).min(self.tailroom(dst));
        let from = src.as_usize() * BUFFER_STRIDE + usize::from(s.current_data) + offset;
        let d = &mut self.meta[dst.as_usize()];
        let to = dst.as_usize() * BUFFER_STRIDE + usize::from(d.current_data + d.current_length);
        // `n` is at most the tailroom, which is less than a buffer: it fits a u16.
        d.current_length += n as u16;
        self.data.copy_within(from..from + n, to);
        n
    }

    /// Gives packet `to` the metadata of packet `from` (where it came from, where it goes,
    /// its offload state, its trace), but not where its bytes are: `to` keeps its data and
    /// its chain. For a packet made from another (a segment of a large one).
    pub fn copy_meta(&mut self, from: BufferIndex, to: BufferIndex) {
        let m = &self.meta[to.as_usize()];
        let (current_data, current_length, next) = (m.current_data, m.current_length, m.next);
        self.meta[to.as_usize()] = PacketMeta {
            current_data,
            current_length,
            next,
            ..self.meta[from.as_usize()]
        };
    }

    /// Builds a packet from bytes, chaining buffers when it does not fit in
    /// one. Nothing is taken from the pool when it cannot hold it all.
    pub fn alloc_from(&mut self, bytes: &[u8]) -> Result<BufferIndex, BufferError> {
        let needed = bytes.len().div_ceil(BUFFER_DATA_SIZE).max(1);
        if needed > self.free.len() {
            return Err(BufferError::Exhausted);
        }
        let mut chunks = bytes.chunks(BUFFER_DATA_SIZE);
        let head = self.alloc_with(chunks.next().unwrap_or(&[]))?;
        let mut last = head;
        for chunk in chunks {
            let bi = self.alloc_with(chunk)?;
            self.meta[last.as_usize()].next = bi.0;
            last = bi;
        }
        Ok(head)
    }

    fn alloc_with(&mut self, chunk: &[u8]) -> Result<BufferIndex, BufferError> {
        let bi = self.alloc()?;
        self.raw_mut(bi)[BUFFER_HEADROOM..BUFFER_HEADROOM + chunk.len()].copy_from_slice(chunk);
        self.set_data(bi, BUFFER_HEADROOM, chunk.len());
        Ok(bi)
    }

    /// Copies a whole packet, every buffer of its chain, into `out` (the slow
    /// path: devices that need one contiguous frame, pcap, tests).
    pub fn copy_to_vec(&self, head: BufferIndex, out: &mut Vec<u8>) {
        out.clear();
        for bi in self.chain(head) {
            out.extend_from_slice(self.data(bi));
        }
    }

    /// Takes a copy of a whole packet into a new buffer chain (flooding to
    /// several ports, ICMP errors quoting the original). Nothing is taken
    /// from the pool when it cannot hold the whole copy.
    pub fn duplicate(&mut self, head: BufferIndex) -> Result<BufferIndex, BufferError> {
        if self.chain(head).count() > self.free.len() {
            return Err(BufferError::Exhausted);
        }
        let mut copy_head = None;
        let mut last: Option<BufferIndex> = None;
        let mut cur = Some(head);
        while let Some(src) = cur {
            let dst = self.alloc()?;
            let m = self.meta[src.as_usize()];
            let from = src.as_usize() * BUFFER_STRIDE + m.current_data as usize;
            let to = dst.as_usize() * BUFFER_STRIDE + m.current_data as usize;
            self.data
                .copy_within(from..from + m.current_length as usize, to);
            self.set_data(dst, m.current_data as usize, m.current_length as usize);
            match last {
                Some(l) => self.meta[l.as_usize()].next = dst.0,
                None => copy_head = Some(dst),
            }
            last = Some(dst);
            cur = m.next();
        }
        let copy = copy_head.ok_or(BufferError::Exhausted)?;
        let meta = *self.meta(head);
        let m = self.meta_mut(copy);
        m.rx_if = meta.rx_if;
        m.tx_if = meta.tx_if;
        m.flow_hash = meta.flow_hash;
        m.l2_offset = meta.l2_offset;
        m.offload = meta.offload;
        m.trace = meta.trace;
        Ok(copy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alloc_and_free_return_buffers_to_the_pool() {
        let mut pool = BufferPool::new(4);
        let a = pool.alloc().unwrap();
        let b = pool.alloc().unwrap();
        assert_ne!(a, b);
        assert_eq!(pool.available(), 2);
        pool.free(a);
        pool.free(b);
        assert_eq!(pool.available(), 4);
    }

    #[test]
    fn exhausted_pool_says_so() {
        let mut pool = BufferPool::new(1);
        let _a = pool.alloc().unwrap();
        assert_eq!(pool.alloc(), Err(BufferError::Exhausted));
    }

    #[test]
    fn a_jumbo_frame_becomes_a_chain_and_comes_back_whole() {
        let mut pool = BufferPool::new(8);
        let bytes: Vec<u8> = (0..9000u32).map(|i| (i % 251) as u8).collect();
        let head = pool.alloc_from(&bytes).unwrap();
        assert_eq!(pool.chain(head).count(), 5);
        assert_eq!(pool.total_length(head), 9000);
        let mut back = Vec::new();
        pool.copy_to_vec(head, &mut back);
        assert_eq!(back, bytes);
        pool.free(head);
        assert_eq!(pool.available(), 8, "freeing the head frees the chain");
    }

    #[test]
    fn alloc_from_takes_nothing_when_the_pool_cannot_hold_the_packet() {
        let mut pool = BufferPool::new(2);
        assert_eq!(pool.alloc_from(&[0u8; 5000]), Err(BufferError::Exhausted));
        assert_eq!(pool.available(), 2);
    }

    #[test]
    fn prepend_uses_headroom_and_stops_at_its_end() {
        let mut pool = BufferPool::new(1);
        let bi = pool.alloc_from(&[1, 2, 3]).unwrap();
        let front = pool.prepend(bi, 2).unwrap();
        front[0] = 9;
        assert_eq!(pool.data(bi), &[9, 0, 1, 2, 3]);
        pool.advance(bi, 2).unwrap();
        assert_eq!(pool.data(bi), &[1, 2, 3]);
        assert!(matches!(
            pool.prepend(bi, BUFFER_HEADROOM + 1),
            Err(BufferError::NoHeadroom { .. })
        ));
        assert!(matches!(
            pool.advance(bi, 4),
            Err(BufferError::TooShort { .. })
        ));
    }

    #[test]
    fn duplicate_copies_a_chain_whole_or_takes_nothing() {
        let mut pool = BufferPool::new(6);
        let bytes: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        let head = pool.alloc_from(&bytes).unwrap();
        let copy = pool.duplicate(head).unwrap();
        let mut back = Vec::new();
        pool.copy_to_vec(copy, &mut back);
        assert_eq!(back, bytes);
        assert_eq!(pool.duplicate(head), Err(BufferError::Exhausted));
        assert_eq!(pool.available(), 0);
    }

    #[test]
    fn append_from_copies_what_the_source_holds_and_the_destination_takes() {
        let mut pool = BufferPool::new(3);
        let src = pool.alloc_from(&[1, 2, 3, 4, 5]).unwrap();
        let dst = pool.alloc_from(&[9]).unwrap();
        assert_eq!(pool.tailroom(dst), BUFFER_DATA_SIZE - 1);
        assert_eq!(pool.append_from(dst, src, 1, 3), 3);
        assert_eq!(pool.data(dst), &[9, 2, 3, 4]);
        assert_eq!(pool.append_from(dst, src, 3, 100), 2, "only what src holds");
        assert_eq!(pool.append_from(dst, src, 7, 1), 0, "past the end of src");
        let full = pool.alloc().unwrap();
        pool.set_data(full, BUFFER_STRIDE - 2, 0);
        assert_eq!(pool.append_from(full, src, 0, 5), 2, "only the tailroom");
        assert_eq!(pool.data(full), &[1, 2]);
        assert_eq!(pool.tailroom(full), 0);
    }

    #[test]
    fn copy_meta_keeps_the_bytes_and_the_chain_of_the_copy() {
        let mut pool = BufferPool::new(4);
        let from = pool.alloc_from(&[1; 10]).unwrap();
        pool.meta_mut(from).tx_if = IfIndex(7);
        pool.meta_mut(from).next_index = 42;
        pool.meta_mut(from).originated = true;
        let to = pool.alloc_from(&[2; 3000]).unwrap();
        pool.copy_meta(from, to);
        assert_eq!(pool.meta(to).tx_if, IfIndex(7));
        assert_eq!(pool.meta(to).next_index, 42);
        assert!(pool.meta(to).originated);
        assert_eq!(pool.total_length(to), 3000);
        assert_eq!(pool.data(to), &[2; BUFFER_DATA_SIZE][..]);
    }

    #[test]
    fn raw_many_mut_hands_out_each_buffer_in_the_order_asked() {
        let mut pool = BufferPool::new(6);
        let bis = [BufferIndex(4), BufferIndex(1), BufferIndex(5)];
        {
            let [a, b, c] = pool.raw_many_mut(&bis).unwrap();
            assert!([&a, &b, &c].iter().all(|r| r.len() == BUFFER_STRIDE));
            a[BUFFER_HEADROOM] = 4;
            b[BUFFER_HEADROOM] = 1;
            c[BUFFER_STRIDE - 1] = 5;
        }
        for bi in bis {
            pool.set_data(bi, BUFFER_HEADROOM, BUFFER_DATA_SIZE);
        }
        pool.link(&bis);
        assert_eq!(pool.chain(bis[0]).collect::<Vec<_>>(), bis);
        assert_eq!(pool.data(BufferIndex(4))[0], 4);
        assert_eq!(pool.data(BufferIndex(1))[0], 1);
        assert_eq!(pool.data(BufferIndex(5))[BUFFER_DATA_SIZE - 1], 5);
        assert_eq!(
            pool.raw_mut(BufferIndex(0)),
            &[0u8; BUFFER_STRIDE][..],
            "a buffer not asked for is untouched"
        );
        assert_eq!(
            pool.raw_many_mut(&[BufferIndex(2), BufferIndex(3), BufferIndex(2)])
                .err(),
            Some(BufferError::AskedTwice(BufferIndex(2)))
        );
    }

    #[test]
    fn raw_many_mut_takes_ascending_buffers_without_sorting_and_refuses_repeats() {
        let mut pool = BufferPool::new(6);
        let bis = [BufferIndex(0), BufferIndex(3), BufferIndex(5)];
        {
            let [a, b, c] = pool.raw_many_mut(&bis).unwrap();
            a[BUFFER_HEADROOM] = 10;
            b[BUFFER_HEADROOM] = 13;
            c[BUFFER_HEADROOM] = 15;
        }
        for bi in bis {
            pool.set_data(bi, BUFFER_HEADROOM, 1);
        }
        let firsts: Vec<u8> = bis.iter().map(|&bi| pool.data(bi)[0]).collect();
        assert_eq!(firsts, [10, 13, 15]);
        // Not strictly ascending: a repeat next to itself, and one far from it.
        for (bis, twice) in [
            (
                [BufferIndex(1), BufferIndex(1), BufferIndex(4)],
                BufferIndex(1),
            ),
            (
                [BufferIndex(4), BufferIndex(1), BufferIndex(4)],
                BufferIndex(4),
            ),
        ] {
            assert_eq!(
                pool.raw_many_mut(&bis).err(),
                Some(BufferError::AskedTwice(twice))
            );
        }
    }

    #[test]
    fn link_ends_the_chain_at_the_last_buffer() {
        let mut pool = BufferPool::new(4);
        let head = pool.alloc_from(&[1; 5000]).unwrap();
        let first = pool.chain(head).collect::<Vec<_>>();
        pool.link(&first[..2]);
        assert_eq!(pool.chain(head).count(), 2);
        pool.free(head);
        pool.free(first[2]);
        assert_eq!(pool.available(), 4);
    }

    #[test]
    fn duplicate_copies_bytes_and_identity() {
        let mut pool = BufferPool::new(4);
        let bi = pool.alloc_from(&[7; 100]).unwrap();
        pool.meta_mut(bi).rx_if = IfIndex(3);
        let copy = pool.duplicate(bi).unwrap();
        assert_ne!(copy, bi);
        assert_eq!(pool.data(copy), pool.data(bi));
        assert_eq!(pool.meta(copy).rx_if, IfIndex(3));
    }
}
