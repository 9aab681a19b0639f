//! A contiguous frame as a receive ring holds it (AF_PACKET), brought into the pool with the
//! work its sender left undone described rather than done: a large TCP segment (TSO, GRO) or
//! UDP train (USO) is cut straight into pool packets, one copy from the ring, each segment's
//! checksum left partial; a frame whose checksum alone is left gets the offsets of it.
//!
//! "Partial" is Linux's `CHECKSUM_PARTIAL`: the field holds the pseudo-header sum and the
//! packet asks for the rest (`needs_csum`), which the output path finishes for a device that
//! cannot ([`super::prepare`]). The data never crossed a wire, so nothing is lost by not
//! computing a checksum that the next device may compute anyway.

use super::OffloadError;
use super::headers::{Layout, Segmentation};
use crate::buffer::{BUFFER_DATA_SIZE, BUFFER_HEADROOM, BufferIndex, BufferPool, GsoKind};
use crate::buffer::{BufferError, OffloadInfo};

/// Cuts the large segment `frame` (Ethernet, IPv4 or IPv6, TCP or UDP) as segmentation `gso`
/// with `size` payload bytes per segment would: each segment, a new packet of `pool` (a chain
/// when it is longer than a buffer), goes to `emit` in order. Returns how many.
///
/// Each segment's headers are the frame's, rewritten for it (see `Segmentation::write`: IP
/// length, IPv4 identification and header checksum, TCP sequence number and flags, UDP
/// length); its transport checksum is left partial, the segment asking for it
/// (`needs_csum`, `csum_start` at its L4 header).
///
/// Nothing is taken from the pool unless it holds every segment. On error nothing was
/// emitted.
pub fn segment_frame(
    pool: &mut BufferPool,
    frame: &[u8],
    gso: GsoKind,
    size: usize,
    mut emit: impl FnMut(BufferIndex),
) -> Result<usize, OffloadError> {
    let layout = Layout::parse(frame, frame.len())?;
    layout.check_kind(gso)?;
    let plan = Segmentation::new(layout, frame, size)?;
    let count = plan.count();
    // At most this many: every segment as long as the first.
    let needed = count * (plan.header_len() + plan.segment_len(0)).div_ceil(BUFFER_DATA_SIZE);
    if needed > pool.available() {
        return Err(OffloadError::NoBuffers { needed });
    }
    let headers = &frame[..layout.payload];
    let payload = &frame[layout.payload..layout.end];
    let offload = partial(&layout);
    for i in 0..count {
        let start = plan.segment_start(i);
        let seg = alloc_segment(pool, headers, &payload[start..start + plan.segment_len(i)])
            .map_err(|_| OffloadError::NoBuffers { needed })?;
        plan.write(&mut pool.data_mut(seg)[..headers.len()], i);
        pool.meta_mut(seg).offload = offload;
        emit(seg);
    }
    Ok(count)
}

/// What a frame whose transport checksum its sender left undone (`TP_STATUS_CSUMNOTREADY`, a
/// packet made on this host behind a veth) asks for: the checksum, at the offsets its headers
/// give. `None` for a frame that is not TCP or UDP over IPv4 or IPv6, or whose headers do not
/// parse: such a frame is passed on as it is and the data plane's own checks judge it.
pub fn partial_checksum(frame: &[u8]) -> Option<OffloadInfo> {
    Layout::parse(frame, frame.len()).ok().map(|l| partial(&l))
}

/// The offload state of a packet of layout `layout` whose checksum field holds the
/// pseudo-header sum.
fn partial(layout: &Layout) -> OffloadInfo {
    // Header offsets: well under 64 KiB.
    OffloadInfo {
        needs_csum: true,
        csum_start: layout.l4 as u16,
        csum_offset: (layout.checksum_at() - layout.l4) as u16,
        ..OffloadInfo::default()
    }
}

/// A new packet of `headers` then `payload`, copied in: the headers and as much payload as
/// fits in the first buffer, the rest chained. Takes nothing from the pool on failure.
fn alloc_segment(
    pool: &mut BufferPool,
    headers: &[u8],
    payload: &[u8],
) -> Result<BufferIndex, BufferError> {
    let h = headers.len();
    let first = payload.len().min(BUFFER_DATA_SIZE - h);
    let seg = pool.alloc()?;
    let raw = &mut pool.raw_mut(seg)[BUFFER_HEADROOM..];
    raw[..h].copy_from_slice(headers);
    raw[h..h + first].copy_from_slice(&payload[..first]);
    pool.set_data(seg, BUFFER_HEADROOM, h + first);
    if first < payload.len() {
        match pool.alloc_from(&payload[first..]) {
            Ok(rest) => pool.append(seg, rest),
            Err(e) => {
                pool.free(seg);
                return Err(e);
            }
        }
    }
    Ok(seg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{IpHeaders, IpNumber, Ipv4Header, Ipv6Header, PacketBuilder, TcpHeader};

    const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 2];
    const SRC4: [u8; 4] = [10, 0, 0, 1];
    const DST4: [u8; 4] = [10, 0, 0, 2];
    const SRC6: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const DST6: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    /// Where the L4 header starts: Ethernet then an option-less IPv4 or IPv6 header.
    const L4_V4: usize = 14 + 20;
    const L4_V6: usize = 14 + 40;

    fn payload(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 + 7) as u8).collect()
    }

    fn ip(v6: bool, ident: u16, protocol: IpNumber) -> IpHeaders {
        if v6 {
            let header = Ipv6Header {
                next_header: protocol,
                hop_limit: 64,
                source: SRC6,
                destination: DST6,
                ..Default::default()
            };
            IpHeaders::Ipv6(header, Default::default())
        } else {
            let mut header = Ipv4Header::new(0, 64, protocol, SRC4, DST4).unwrap();
            header.identification = ident;
            IpHeaders::Ipv4(header, Default::default())
        }
    }

    /// TCP flags the segments keep or lose: FIN, PSH, CWR.
    #[derive(Clone, Copy)]
    struct Flags {
        fin_psh: bool,
        cwr: bool,
    }

    /// A TCP packet as etherparse builds it, every checksum valid.
    fn tcp(v6: bool, ident: u16, seq: u32, flags: Flags, data: &[u8]) -> Vec<u8> {
        let mut t = TcpHeader::new(40_000, 80, seq, 512);
        t.ack = true;
        t.acknowledgment_number = 77;
        (t.fin, t.psh, t.cwr) = (flags.fin_psh, flags.fin_psh, flags.cwr);
        let mut out = Vec::new();
        PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ip(ip(v6, ident, IpNumber::TCP))
            .tcp_header(t)
            .write(&mut out, data)
            .unwrap();
        out
    }

    /// A UDP datagram as etherparse builds it, every checksum valid.
    fn udp(v6: bool, ident: u16, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        PacketBuilder::ethernet2(MAC_A, MAC_B)
            .ip(ip(v6, ident, IpNumber::UDP))
            .udp(4789, 4789)
            .write(&mut out, data)
            .unwrap();
        out
    }

    /// The ones' complement sum of the pseudo-header of `packet` (built by [`tcp`] or
    /// [`udp`]), folded, not complemented: what a partial checksum field holds.
    fn pseudo_header_sum(packet: &[u8], v6: bool, protocol: u8) -> u16 {
        let l4 = if v6 { L4_V6 } else { L4_V4 };
        let l4_len = (packet.len() - l4) as u32;
        let mut words = Vec::new();
        if v6 {
            words.extend(SRC6);
            words.extend(DST6);
            words.extend(l4_len.to_be_bytes());
        } else {
            words.extend(SRC4);
            words.extend(DST4);
            words.extend((l4_len as u16).to_be_bytes());
        }
        words.extend([0, protocol]);
        let mut sum: u32 = words
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        sum as u16
    }

    /// `packet` with its transport checksum field holding the pseudo-header sum instead.
    fn partial_of(mut packet: Vec<u8>, v6: bool, protocol: u8, csum_offset: usize) -> Vec<u8> {
        let at = if v6 { L4_V6 } else { L4_V4 } + csum_offset;
        let sum = pseudo_header_sum(&packet, v6, protocol);
        packet[at..at + 2].copy_from_slice(&sum.to_be_bytes());
        packet
    }

    /// Cuts `frame` into a fresh pool and returns the segments' bytes, after checking each
    /// asks for its checksum at the L4 header's offsets and nothing else.
    fn cut(frame: &[u8], gso: GsoKind, size: usize, v6: bool) -> Vec<Vec<u8>> {
        let mut pool = BufferPool::new(512);
        let mut segs = Vec::new();
        let n = segment_frame(&mut pool, frame, gso, size, |bi| segs.push(bi)).unwrap();
        assert_eq!(n, segs.len());
        let csum_offset = if gso == GsoKind::Udp { 6 } else { 16 };
        segs.iter()
            .map(|&bi| {
                let want = OffloadInfo {
                    needs_csum: true,
                    csum_start: if v6 { L4_V6 } else { L4_V4 } as u16,
                    csum_offset,
                    ..OffloadInfo::default()
                };
                assert_eq!(pool.meta(bi).offload, want);
                let mut bytes = Vec::new();
                pool.copy_to_vec(bi, &mut bytes);
                pool.free(bi);
                bytes
            })
            .collect()
    }

    /// A large TCP segment cut into `size`-byte ones, each compared byte for byte with the
    /// segment etherparse builds on its own (its checksum field set to the pseudo-header
    /// sum): headers, flags, sequence number, IPv4 identification, payload.
    fn check_tcp(v6: bool, len: usize, size: usize, seq: u32, ident: u16) {
        let data = payload(len);
        let flags = Flags {
            fin_psh: true,
            cwr: true,
        };
        let gso = if v6 { GsoKind::Tcp6 } else { GsoKind::Tcp4 };
        let segs = cut(&tcp(v6, ident, seq, flags, &data), gso, size, v6);
        let chunks: Vec<&[u8]> = data.chunks(size).collect();
        assert_eq!(segs.len(), chunks.len());
        for (i, (seg, chunk)) in segs.iter().zip(&chunks).enumerate() {
            let flags = Flags {
                fin_psh: i + 1 == chunks.len(),
                cwr: i == 0,
            };
            let seq = seq.wrapping_add((i * size) as u32);
            let ident = ident.wrapping_add(i as u16);
            let expected = partial_of(tcp(v6, ident, seq, flags, chunk), v6, 6, 16);
            assert!(*seg == expected, "segment {i} of {len} by {size}");
        }
    }

    fn check_udp(v6: bool, len: usize, size: usize, ident: u16) {
        let data = payload(len);
        let segs = cut(&udp(v6, ident, &data), GsoKind::Udp, size, v6);
        let chunks: Vec<&[u8]> = data.chunks(size).collect();
        assert_eq!(segs.len(), chunks.len());
        for (i, (seg, chunk)) in segs.iter().zip(&chunks).enumerate() {
            let ident = ident.wrapping_add(i as u16);
            let expected = partial_of(udp(v6, ident, chunk), v6, 17, 6);
            assert!(*seg == expected, "datagram {i} of {len} by {size}");
        }
    }

    #[test]
    fn a_large_tcp4_segment_becomes_segments_with_partial_checksums() {
        // An odd last segment, and an identification that wraps.
        check_tcp(false, 10_000, 1448, 1_000_000, 0xfffe);
        check_tcp(false, 1449, 1448, 5, 0);
        check_tcp(false, 1, 1448, 5, 0);
    }

    #[test]
    fn a_large_tcp6_segment_with_a_wrapping_sequence_number() {
        check_tcp(true, 7001, 1440, u32::MAX - 100, 0);
    }

    #[test]
    fn a_udp_train_becomes_its_datagrams() {
        // 20 datagrams of 1400 bytes and a short one: what vxlan-encap sends.
        check_udp(false, 20 * 1400 + 100, 1400, 0x1234);
        check_udp(true, 3 * 1000 + 1, 1000, 0);
    }

    #[test]
    fn segments_longer_than_a_buffer_are_chains() {
        let data = payload(9000);
        let flags = Flags {
            fin_psh: false,
            cwr: false,
        };
        let frame = tcp(false, 0, 0, flags, &data);
        let mut pool = BufferPool::new(64);
        let mut segs = Vec::new();
        segment_frame(&mut pool, &frame, GsoKind::Tcp4, 4000, |bi| segs.push(bi)).unwrap();
        let buffers: Vec<usize> = segs.iter().map(|&bi| pool.chain(bi).count()).collect();
        assert_eq!(buffers, [2, 2, 1]);
        check_tcp(false, 9000, 4000, 0, 0);
        for bi in segs {
            pool.free(bi);
        }
        assert_eq!(pool.available(), pool.capacity());
    }

    #[test]
    fn a_frame_that_cannot_be_cut_takes_nothing_and_emits_nothing() {
        let flags = Flags {
            fin_psh: false,
            cwr: false,
        };
        let big = tcp(false, 0, 0, flags, &payload(5000));
        let mut truncated = big.clone();
        truncated.truncate(1000);
        let datagram = udp(false, 0, &payload(3000));
        let cases: [(&[u8], GsoKind, usize, OffloadError); 5] = [
            (
                &big,
                GsoKind::Tcp6,
                1000,
                OffloadError::KindMismatch(GsoKind::Tcp6),
            ),
            (
                &datagram,
                GsoKind::Tcp4,
                1000,
                OffloadError::KindMismatch(GsoKind::Tcp4),
            ),
            (&big, GsoKind::Tcp4, 0, OffloadError::ZeroSize),
            (&truncated, GsoKind::Tcp4, 100, OffloadError::Truncated),
            (&[0u8; 20], GsoKind::Udp, 100, OffloadError::NotTcpOrUdp),
        ];
        for (frame, gso, size, want) in cases {
            let mut pool = BufferPool::new(64);
            let got = segment_frame(&mut pool, frame, gso, size, |_| panic!("emitted"));
            assert_eq!(got, Err(want));
            assert_eq!(pool.available(), pool.capacity());
        }
        // 5 segments, a pool of 4.
        let mut pool = BufferPool::new(4);
        let got = segment_frame(&mut pool, &big, GsoKind::Tcp4, 1000, |_| panic!("emitted"));
        assert_eq!(got, Err(OffloadError::NoBuffers { needed: 5 }));
        assert_eq!(pool.available(), 4);
    }

    #[test]
    fn a_partial_checksum_is_found_where_the_headers_say() {
        let flags = Flags {
            fin_psh: false,
            cwr: false,
        };
        let info = partial_checksum(&tcp(false, 0, 0, flags, b"data")).unwrap();
        assert_eq!(
            (info.needs_csum, info.csum_start, info.csum_offset, info.gso),
            (true, 34, 16, GsoKind::None)
        );
        let info = partial_checksum(&udp(true, 0, b"data")).unwrap();
        assert_eq!((info.csum_start, info.csum_offset), (54, 6));
        let mut arp = vec![0xffu8; 14 + 28];
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(partial_checksum(&arp), None);
    }
}
