//! Reading one `TPACKET_V3` block that the kernel has handed to user space: its header, then
//! its frames one by one.
//!
//! Safe code over a byte slice: every offset and length the kernel wrote is checked against
//! the block before it is used, so a corrupt block ends the walk early instead of panicking or
//! reading outside the block.

use std::mem::{offset_of, size_of};

use libc::{tpacket_block_desc, tpacket_hdr_v1, tpacket3_hdr};
use podwire_dataplane::buffer::{GsoKind, OffloadInfo};
use podwire_dataplane::offload::partial_checksum;

use crate::vnet::{self, PACKET_VNET_HDR_LEN, VnetError};

/// Offset of `block_status` in a block (the word the kernel and user space hand over with).
pub(super) const BLOCK_STATUS: usize =
    offset_of!(tpacket_block_desc, hdr) + offset_of!(tpacket_hdr_v1, block_status);
const NUM_PKTS: usize = offset_of!(tpacket_block_desc, hdr) + offset_of!(tpacket_hdr_v1, num_pkts);
const OFFSET_TO_FIRST_PKT: usize =
    offset_of!(tpacket_block_desc, hdr) + offset_of!(tpacket_hdr_v1, offset_to_first_pkt);
/// Frames start after the block descriptor.
const BLOCK_HEADER_LEN: usize = size_of::<tpacket_block_desc>();

const NEXT_OFFSET: usize = offset_of!(tpacket3_hdr, tp_next_offset);
const SNAPLEN: usize = offset_of!(tpacket3_hdr, tp_snaplen);
const LEN: usize = offset_of!(tpacket3_hdr, tp_len);
const STATUS: usize = offset_of!(tpacket3_hdr, tp_status);
const MAC: usize = offset_of!(tpacket3_hdr, tp_mac);
const VLAN_TCI: usize = offset_of!(tpacket3_hdr, hv1.tp_vlan_tci);
const VLAN_TPID: usize = offset_of!(tpacket3_hdr, hv1.tp_vlan_tpid);
const FRAME_HEADER_LEN: usize = size_of::<tpacket3_hdr>();
/// The frame header plus the `sockaddr_ll` the kernel writes after it; frame data starts
/// after this.
const FRAME_META_LEN: usize = libc::TPACKET3_HDRLEN;

/// Length of an 802.1Q tag, which is reinserted in front of the EtherType.
pub(super) const VLAN_TAG_LEN: usize = 4;
/// Destination and source MAC: what moves forward to make room for a tag.
const MAC_ADDRS_LEN: usize = 12;
const ETH_P_8021Q: u16 = 0x8100;

/// One received frame, valid until the closure given to
/// [`AfPacket::rx_batch`](super::AfPacket::rx_batch) returns.
#[derive(Debug, PartialEq, Eq)]
pub struct RxFrame<'a> {
    /// The frame from its Ethernet header on, as it was on the wire: a VLAN tag the NIC or
    /// veth took out (offloaded) is put back in.
    pub data: &'a [u8],
    /// The frame was longer than the ring could hold and `data` is only its beginning.
    pub truncated: bool,
    /// The work its sender left to an offload that never happened, to be finished before the
    /// frame goes anywhere that checks: a checksum not filled in (the field holds the
    /// pseudo-header sum), a large segment (TSO, USO, GRO) still to be cut. From the
    /// virtio-net header when the socket has one ([`AfPacketConfig::vnet_hdr`]), else from
    /// `TP_STATUS_CSUMNOTREADY` and the frame's own headers. Offsets count from the start of
    /// `data`. An error when the virtio-net header makes no sense: drop the frame.
    ///
    /// [`AfPacketConfig::vnet_hdr`]: super::AfPacketConfig::vnet_hdr
    pub offload: Result<OffloadInfo, VnetError>,
}

/// Where a walk through one block stands; kept between calls so that a batch can end in the
/// middle of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BlockCursor {
    /// Frames not yet handed out.
    remaining: u32,
    /// Offset of the next frame's header in the block.
    offset: usize,
    /// Every frame is preceded by a virtio-net header.
    vnet_hdr: bool,
}

impl BlockCursor {
    /// Starts a walk over `block`, just handed over by the kernel.
    /// `vnet_hdr`: the socket has `PACKET_VNET_HDR` on.
    pub(super) fn start(block: &[u8], vnet_hdr: bool) -> Self {
        match (
            read_u32(block, NUM_PKTS),
            read_u32(block, OFFSET_TO_FIRST_PKT),
        ) {
            (Some(remaining), Some(offset)) if offset as usize >= BLOCK_HEADER_LEN => Self {
                remaining,
                offset: offset as usize,
                vnet_hdr,
            },
            _ => Self::FINISHED,
        }
    }

    const FINISHED: Self = Self {
        remaining: 0,
        offset: 0,
        vnet_hdr: false,
    };

    /// Whether every frame of the block has been handed out (or the block was found corrupt).
    pub(super) fn is_finished(&self) -> bool {
        self.remaining == 0
    }

    /// The next frame of `block` (the block this cursor was started on), or `None` when the
    /// block is done. Reinserting a VLAN tag rewrites the frame's headroom in place.
    pub(super) fn next<'b>(&mut self, block: &'b mut [u8]) -> Option<RxFrame<'b>> {
        if self.remaining == 0 {
            return None;
        }
        let frame = parse_frame(block, self.offset, self.vnet_hdr);
        let Some(header) = frame else {
            tracing::warn!(
                offset = self.offset,
                "AF_PACKET block holds a corrupt frame header; skipping the rest of the block"
            );
            *self = Self::FINISHED;
            return None;
        };
        self.remaining -= 1;
        match self.offset.checked_add(header.next_offset) {
            Some(next) if header.next_offset != 0 => self.offset = next,
            // The kernel links every frame but the last; a broken chain ends the walk.
            _ => self.remaining = 0,
        }
        // Read before a VLAN tag is put back, whose bytes overwrite the virtio-net header; the
        // kernel describes the frame without its tag, so the offsets move past it.
        let offload = offload(block, &header).map(|o| match header.vlan {
            Some(_) => after_tag(o, VLAN_TAG_LEN),
            None => o,
        });
        let data = match header.vlan {
            Some(tag) => reinsert_vlan(block, header.data, tag),
            None => block.get(header.data),
        }?;
        Some(RxFrame {
            data,
            truncated: header.truncated,
            offload,
        })
    }
}

/// What the frame of `header` asks for, as its virtio-net header says, or else as
/// `TP_STATUS_CSUMNOTREADY` and its own headers do.
fn offload(block: &[u8], header: &FrameHeader) -> Result<OffloadInfo, VnetError> {
    let data = &block[header.data.clone()];
    if header.vnet {
        // `parse_frame` checked the header lies in front of the frame, in its own part.
        let start = header.data.start - PACKET_VNET_HDR_LEN;
        let mut bytes = [0u8; PACKET_VNET_HDR_LEN];
        bytes.copy_from_slice(&block[start..header.data.start]);
        vnet::decode(&bytes, data, data.len())
    } else if header.status & libc::TP_STATUS_CSUMNOTREADY != 0 {
        Ok(partial_checksum(data).unwrap_or_default())
    } else {
        Ok(OffloadInfo::default())
    }
}

/// `offload` of a frame once `by` bytes (a VLAN tag) are inserted in front of its L3 header.
fn after_tag(mut offload: OffloadInfo, by: usize) -> OffloadInfo {
    // A tag's 4 bytes; a field that would overflow points outside any frame, which the
    // code finishing the work checks.
    let by = by as u16;
    if offload.needs_csum {
        offload.csum_start = offload.csum_start.saturating_add(by);
    }
    if offload.gso != GsoKind::None {
        offload.hdr_len = offload.hdr_len.saturating_add(by);
    }
    offload
}

/// The parts of a frame header that are used, checked against the block.
struct FrameHeader {
    next_offset: usize,
    status: u32,
    /// Where the frame's bytes are in the block.
    data: std::ops::Range<usize>,
    truncated: bool,
    /// TPID and TCI of an offloaded VLAN tag; `Some` only if there is room to put it back.
    vlan: Option<[u16; 2]>,
    /// A virtio-net header precedes the frame (and fits in front of it).
    vnet: bool,
}

/// Reads and checks the frame header at `offset`. `None` if any part of the frame lies outside
/// the block or over the frame's own header.
fn parse_frame(block: &[u8], offset: usize, vnet: bool) -> Option<FrameHeader> {
    let header = block.get(offset..offset.checked_add(FRAME_HEADER_LEN)?)?;
    let field = |at| read_u32(header, at);
    let status = field(STATUS)?;
    let snaplen = field(SNAPLEN)? as usize;
    let mac = usize::from(read_u16(header, MAC)?);
    let meta = FRAME_META_LEN + if vnet { PACKET_VNET_HDR_LEN } else { 0 };
    if mac < meta {
        return None;
    }
    let start = offset.checked_add(mac)?;
    let end = start.checked_add(snaplen)?;
    if end > block.len() {
        return None;
    }
    let vlan = if status & libc::TP_STATUS_VLAN_VALID != 0 {
        // The tag goes in front of the EtherType, so the MACs move 4 bytes into the headroom;
        // that must not reach the frame header, and the MACs must be there.
        if mac < meta + VLAN_TAG_LEN || snaplen < MAC_ADDRS_LEN {
            return None;
        }
        let tpid = if status & libc::TP_STATUS_VLAN_TPID_VALID != 0 {
            read_u16(header, VLAN_TPID)?
        } else {
            ETH_P_8021Q
        };
        // The TCI is a 16-bit field stored in a u32.
        let tci = field(VLAN_TCI)? as u16;
        Some([tpid, tci])
    } else {
        None
    };
    Some(FrameHeader {
        next_offset: field(NEXT_OFFSET)? as usize,
        status,
        data: start..end,
        truncated: snaplen < field(LEN)? as usize,
        vlan,
        vnet,
    })
}

/// Moves the MAC addresses of the frame at `data` forward by one tag and writes the tag
/// (`[tpid, tci]`) behind them; returns the frame with its tag. `parse_frame` has checked that
/// the headroom and the MACs are inside the frame's own part of the block.
fn reinsert_vlan(block: &mut [u8], data: std::ops::Range<usize>, tag: [u16; 2]) -> Option<&[u8]> {
    let start = data.start.checked_sub(VLAN_TAG_LEN)?;
    let macs = data.start..data.start.checked_add(MAC_ADDRS_LEN)?;
    block.get(macs.clone())?;
    block.copy_within(macs, start);
    let tag_at = start + MAC_ADDRS_LEN;
    let [tpid, tci] = tag;
    block
        .get_mut(tag_at..tag_at + 2)?
        .copy_from_slice(&tpid.to_be_bytes());
    block
        .get_mut(tag_at + 2..tag_at + 4)?
        .copy_from_slice(&tci.to_be_bytes());
    block.get(start..data.end)
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(
        bytes.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(
        bytes.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where the kernel puts frame data (tp_mac) with a 4-byte PACKET_RESERVE: header and
    /// sockaddr_ll, aligned, plus reserve.
    const TP_MAC: usize = 86;

    struct Frame<'a> {
        status: u32,
        tci: u32,
        tpid: u16,
        data: &'a [u8],
        wire_len: usize,
    }

    fn frame(data: &[u8]) -> Frame<'_> {
        Frame {
            status: libc::TP_STATUS_USER,
            tci: 0,
            tpid: 0,
            data,
            wire_len: data.len(),
        }
    }

    fn put_u32(block: &mut [u8], at: usize, value: u32) {
        block[at..at + 4].copy_from_slice(&value.to_ne_bytes());
    }

    fn put_u16(block: &mut [u8], at: usize, value: u16) {
        block[at..at + 2].copy_from_slice(&value.to_ne_bytes());
    }

    /// A block laid out the way the kernel lays one out.
    fn block(frames: &[Frame<'_>]) -> Vec<u8> {
        let mut block = vec![0u8; 4096];
        put_u32(&mut block, BLOCK_STATUS, libc::TP_STATUS_USER);
        put_u32(&mut block, NUM_PKTS, frames.len() as u32);
        let first = BLOCK_HEADER_LEN.next_multiple_of(16);
        put_u32(&mut block, OFFSET_TO_FIRST_PKT, first as u32);
        let mut offset = first;
        for (i, f) in frames.iter().enumerate() {
            let next = (TP_MAC + f.data.len()).next_multiple_of(16);
            let last = i + 1 == frames.len();
            put_u32(
                &mut block,
                offset + NEXT_OFFSET,
                if last { 0 } else { next as u32 },
            );
            put_u32(&mut block, offset + SNAPLEN, f.data.len() as u32);
            put_u32(&mut block, offset + LEN, f.wire_len as u32);
            put_u32(&mut block, offset + STATUS, f.status);
            put_u16(&mut block, offset + MAC, TP_MAC as u16);
            put_u32(&mut block, offset + VLAN_TCI, f.tci);
            put_u16(&mut block, offset + VLAN_TPID, f.tpid);
            block[offset + TP_MAC..][..f.data.len()].copy_from_slice(f.data);
            offset += next;
        }
        block
    }

    /// The frames of `block` (without virtio-net headers): their bytes, whether they ask
    /// for a checksum, whether they were cut short.
    fn walk(block: &mut [u8]) -> Vec<(Vec<u8>, bool, bool)> {
        let mut cursor = BlockCursor::start(block, false);
        let mut out = Vec::new();
        while let Some(f) = cursor.next(block) {
            let needs_csum = f.offload.expect("no header to refuse").needs_csum;
            out.push((f.data.to_vec(), needs_csum, f.truncated));
        }
        assert!(cursor.is_finished());
        out
    }

    /// An untagged IPv4 frame: dst, src, EtherType 0x0800, payload.
    fn ether(payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5];
        f.extend([0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x08, 0x00]);
        f.extend(payload);
        f
    }

    /// An untagged IPv4 frame (no options) carrying `protocol` (6: TCP, 17: UDP) with an
    /// L4 header of `l4_len` bytes (a TCP header's data offset set to match) and `payload`.
    fn ip4(protocol: u8, l4_len: usize, payload: &[u8]) -> Vec<u8> {
        let total = 20 + l4_len + payload.len();
        let mut ip = vec![0x45, 0];
        ip.extend((total as u16).to_be_bytes());
        ip.extend([0, 0, 0x40, 0, 64, protocol, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
        let mut l4 = vec![0u8; l4_len];
        if protocol == 6 {
            l4[12] = ((l4_len / 4) as u8) << 4;
        } else {
            l4[4..6].copy_from_slice(&((l4_len + payload.len()) as u16).to_be_bytes());
        }
        ip.extend(l4);
        ip.extend(payload);
        ether(&ip)
    }

    #[test]
    fn frames_come_out_in_order_with_their_flags() {
        let (a, b, c) = (ether(b"first"), ip4(17, 8, b"second frame"), ether(b""));
        let mut csum = frame(&b);
        csum.status |= libc::TP_STATUS_CSUMNOTREADY;
        let mut cut = frame(&c);
        cut.wire_len = 1500;
        let mut block = block(&[frame(&a), csum, cut]);
        assert_eq!(
            walk(&mut block),
            vec![(a, false, false), (b, true, false), (c, false, true)]
        );
    }

    #[test]
    fn a_checksum_left_undone_is_found_in_the_headers() {
        let udp = ip4(17, 8, b"data");
        let mut csum = frame(&udp);
        csum.status |= libc::TP_STATUS_CSUMNOTREADY;
        // Not TCP or UDP: passed on as it is.
        let other = ether(b"not ip");
        let mut odd = frame(&other);
        odd.status |= libc::TP_STATUS_CSUMNOTREADY;
        let mut block = block(&[csum, odd]);
        let mut cursor = BlockCursor::start(&block, false);
        let info = cursor.next(&mut block).unwrap().offload.unwrap();
        assert_eq!(
            (info.needs_csum, info.csum_start, info.csum_offset),
            (true, 34, 6)
        );
        let info = cursor.next(&mut block).unwrap().offload.unwrap();
        assert_eq!(info, OffloadInfo::default());
    }

    #[test]
    fn an_offloaded_vlan_tag_is_put_back_on_the_wire_position() {
        let original = ether(b"payload");
        let mut tagged = frame(&original);
        tagged.status |= libc::TP_STATUS_VLAN_VALID;
        tagged.tci = 0x2064; // priority 1, VLAN 100
        let mut block = block(&[tagged]);
        let frames = walk(&mut block);
        let mut expected = original[..12].to_vec();
        expected.extend([0x81, 0x00, 0x20, 0x64]);
        expected.extend(&original[12..]);
        assert_eq!(frames, vec![(expected, false, false)]);
    }

    #[test]
    fn the_tag_protocol_is_taken_from_the_kernel_when_it_says_so() {
        let original = ether(b"qinq");
        let mut tagged = frame(&original);
        tagged.status |= libc::TP_STATUS_VLAN_VALID | libc::TP_STATUS_VLAN_TPID_VALID;
        tagged.tci = 7;
        tagged.tpid = 0x88a8;
        let mut block = block(&[tagged]);
        let frames = walk(&mut block);
        assert_eq!(&frames[0].0[12..16], &[0x88, 0xa8, 0x00, 0x07]);
        assert_eq!(frames[0].0.len(), original.len() + 4);
    }

    #[test]
    fn a_batch_can_stop_and_resume_inside_a_block() {
        let (a, b) = (ether(b"a"), ether(b"b"));
        let mut block = block(&[frame(&a), frame(&b)]);
        let mut cursor = BlockCursor::start(&block, false);
        assert_eq!(cursor.next(&mut block).unwrap().data, a.as_slice());
        assert!(!cursor.is_finished());
        let saved = cursor;
        let mut resumed = saved;
        assert_eq!(resumed.next(&mut block).unwrap().data, b.as_slice());
        assert!(resumed.is_finished());
        assert_eq!(resumed.next(&mut block), None);
    }

    /// Writes a virtio-net header in front of the first frame of `block`, its integers in
    /// the host's order as the kernel writes them.
    fn put_vnet_hdr(block: &mut [u8], flags: u8, gso_type: u8, gso_size: u16, csum: [u16; 2]) {
        let first = BLOCK_HEADER_LEN.next_multiple_of(16);
        let at = first + TP_MAC - PACKET_VNET_HDR_LEN;
        block[at..at + PACKET_VNET_HDR_LEN].fill(0);
        block[at] = flags;
        block[at + 1] = gso_type;
        put_u16(block, at + 4, gso_size);
        put_u16(block, at + 6, csum[0]);
        put_u16(block, at + 8, csum[1]);
    }

    fn first_frame_with_vnet_hdr(block: &mut [u8]) -> (Vec<u8>, Result<OffloadInfo, VnetError>) {
        let mut cursor = BlockCursor::start(block, true);
        let f = cursor.next(block).expect("a frame");
        (f.data.to_vec(), f.offload)
    }

    #[test]
    fn the_virtio_net_header_gives_segmentation_and_checksum_state() {
        let data = ip4(6, 20, &[7; 3000]);
        let mut b = block(&[frame(&data)]);
        put_vnet_hdr(&mut b, 1, 1, 1448, [34, 16]);
        let (got, info) = first_frame_with_vnet_hdr(&mut b);
        assert_eq!(got, data);
        let want = OffloadInfo {
            needs_csum: true,
            csum_start: 34,
            csum_offset: 16,
            gso: GsoKind::Tcp4,
            gso_size: 1448,
            hdr_len: 54,
        };
        assert_eq!(info, Ok(want));

        // No segmentation and no checksum work.
        put_vnet_hdr(&mut b, 0, 0, 0, [0, 0]);
        assert_eq!(
            first_frame_with_vnet_hdr(&mut b).1,
            Ok(OffloadInfo::default())
        );
        // A header that makes no sense: segmentation without a checksum to finish.
        put_vnet_hdr(&mut b, 0, 1, 1448, [0, 0]);
        assert_eq!(
            first_frame_with_vnet_hdr(&mut b).1,
            Err(VnetError::GsoWithoutCsum)
        );
    }

    #[test]
    fn a_udp_train_is_described_by_its_header() {
        let data = ip4(17, 8, &[1; 3000]);
        let mut b = block(&[frame(&data)]);
        put_vnet_hdr(&mut b, 1, 5, 1400, [34, 6]);
        let info = first_frame_with_vnet_hdr(&mut b).1.unwrap();
        assert_eq!(
            (info.gso, info.gso_size, info.hdr_len, info.csum_start),
            (GsoKind::Udp, 1400, 42, 34)
        );
    }

    #[test]
    fn offsets_move_past_a_vlan_tag_put_back() {
        let data = ip4(6, 20, &[7; 3000]);
        let mut tagged = frame(&data);
        tagged.status |= libc::TP_STATUS_VLAN_VALID;
        tagged.tci = 10;
        let mut b = block(&[tagged]);
        put_vnet_hdr(&mut b, 1, 1, 1448, [34, 16]);
        let (got, info) = first_frame_with_vnet_hdr(&mut b);
        assert_eq!(got[12..16], [0x81, 0x00, 0x00, 0x0a]);
        let info = info.unwrap();
        assert_eq!((info.csum_start, info.hdr_len), (38, 58));
        assert_eq!(got[38 + 12], 5 << 4, "csum_start is the TCP header");
    }

    #[test]
    fn an_empty_block_has_no_frames() {
        let mut block = block(&[]);
        assert!(BlockCursor::start(&block, false).is_finished());
        assert!(walk(&mut block).is_empty());
    }

    #[test]
    fn offsets_outside_the_block_end_the_walk() {
        let a = ether(b"a");
        let first = BLOCK_HEADER_LEN.next_multiple_of(16);
        let corruptions: [(usize, u32); 6] = [
            (first + SNAPLEN, 5000),         // data runs past the end
            (first + SNAPLEN, u32::MAX),     // and overflows
            (first + NEXT_OFFSET, u32::MAX), // next frame far outside
            (first + NEXT_OFFSET, 0),        // chain broken early
            (OFFSET_TO_FIRST_PKT, 4090),     // header cut by the end
            (OFFSET_TO_FIRST_PKT, 8),        // first frame over the block header
        ];
        for (at, value) in corruptions {
            let mut block = block(&[frame(&a), frame(&a), frame(&a)]);
            put_u32(&mut block, at, value);
            let frames = walk(&mut block);
            assert!(
                frames.len() < 3,
                "corruption at {at} = {value} went unnoticed"
            );
            assert!(frames.iter().all(|f| f.0 == a));
        }
    }

    #[test]
    fn a_frame_overlapping_its_own_header_is_refused() {
        let a = ether(b"a");
        let mut block = block(&[frame(&a)]);
        let first = BLOCK_HEADER_LEN.next_multiple_of(16);
        put_u16(&mut block, first + MAC, 10);
        assert!(walk(&mut block).is_empty());
        // No room in front of the frame for a tag: refused rather than written over the header.
        put_u16(&mut block, first + MAC, FRAME_META_LEN as u16);
        put_u32(&mut block, first + STATUS, libc::TP_STATUS_VLAN_VALID);
        let header = block[first..first + FRAME_META_LEN].to_vec();
        assert!(walk(&mut block).is_empty());
        assert_eq!(&block[first..first + FRAME_META_LEN], header.as_slice());
    }

    #[test]
    fn arbitrary_blocks_never_panic_or_escape() {
        // A small deterministic generator stands in for a fuzzer: whatever the kernel (or a
        // bug) writes, the walk stays inside the block and terminates.
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let a = ether(b"abc");
        for _ in 0..20_000 {
            let mut block = block(&[frame(&a), frame(&a), frame(&a)]);
            for _ in 0..(next() % 6) {
                let at = (next() % 400) as usize;
                block[at] = next() as u8;
            }
            let mut cursor = BlockCursor::start(&block, false);
            let mut seen = 0;
            while let Some(f) = cursor.next(&mut block) {
                assert!(f.data.len() <= 4096);
                seen += 1;
                assert!(seen <= 4096, "walk does not terminate");
            }
        }
    }
}
