//! The virtio-net header in front of every frame of a tap opened with `IFF_VNET_HDR` and of an
//! `AF_PACKET` socket with `PACKET_VNET_HDR`, read into the data plane's [`OffloadInfo`] and
//! written from it.
//!
//! Two lengths, one layout: a tap here uses the 12-byte header ([`VNET_HDR_LEN`], `struct
//! virtio_net_hdr_mrg_rxbuf`, set with `TUNSETVNETHDRSZ`) rather than the tap's default of 10,
//! as it is the only header virtio 1.0 knows (`VIRTIO_F_VERSION_1`), so the same codec serves
//! vhost-user later; a packet socket's is the 10-byte `struct virtio_net_hdr`
//! ([`PACKET_VNET_HDR_LEN`]). The first 10 bytes are the same, and are all [`decode`] reads; the
//! two extra bytes (`num_buffers`) are zero both ways (tun ignores them on write and zeroes them
//! on read).
//!
//! Byte order: the host's, for both. Both kernel sides speak *legacy* virtio here: tun unless
//! `TUNSETVNETLE`/`BE` is set (podwire leaves them alone), and `AF_PACKET` always (its
//! `vio_le()` is `virtio_legacy_is_little_endian()`, true only on a little-endian host). Should
//! taps ever be switched to `TUNSETVNETLE` (vhost-user, virtio 1.0), the packet socket would still
//! be the host's order: the codec would then take the order as a parameter.
//!
//! Linux fills in `hdr_len` with the length of the socket buffer's linear part, a hint that may
//! include payload; the data plane wants the headers' length, so it is computed from the L4
//! header at `csum_start`. The ECN bit of `gso_type` is not kept either: Linux sets it exactly
//! when the segment's TCP header carries CWR, so it is read from the packet again on the way
//! out. `DATA_VALID` (the kernel checked the checksum) needs nothing: the data plane does not
//! verify L4 checksums.

use podwire_dataplane::buffer::{GsoKind, OffloadInfo};

/// Bytes of the header podwire asks a tap for (`struct virtio_net_hdr_mrg_rxbuf`).
pub const VNET_HDR_LEN: usize = 12;
/// Bytes of the header of a packet socket with `PACKET_VNET_HDR` (`struct virtio_net_hdr`): the
/// first [`PACKET_VNET_HDR_LEN`] bytes of the tap's.
pub const PACKET_VNET_HDR_LEN: usize = 10;

const F_NEEDS_CSUM: u8 = 1;
const GSO_NONE: u8 = 0;
const GSO_TCPV4: u8 = 1;
const GSO_TCPV6: u8 = 4;
const GSO_UDP_L4: u8 = 5;
const GSO_ECN: u8 = 0x80;

/// Where the checksum sits in a TCP header, and in a UDP header.
const TCP_CSUM_OFFSET: u16 = 16;
const UDP_CSUM_OFFSET: u16 = 6;
/// The TCP flag that makes Linux set the ECN bit.
const TCP_FLAG_CWR: u8 = 0x80;

/// Why a received header was refused (the frame is dropped and counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VnetError {
    /// A `gso_type` Linux does not send on a tap (UFO, or an unknown value).
    #[error("unknown segmentation type {0:#x} in the virtio-net header")]
    UnknownGso(u8),
    /// A large segment whose segment size is zero.
    #[error("a large segment with a segment size of 0")]
    ZeroGsoSize,
    /// A large segment without a checksum left to finish (Linux never sends one).
    #[error("a large segment without NEEDS_CSUM")]
    GsoWithoutCsum,
    /// The checksum field lies outside the frame's first buffer.
    #[error("checksum at {start}+{offset} lies outside the first {head} bytes of the frame")]
    CsumOutside {
        /// `csum_start`.
        start: u16,
        /// `csum_offset`.
        offset: u16,
        /// Bytes of the frame in its first buffer.
        head: usize,
    },
    /// The checksum offset does not fit the segmentation's L4 protocol.
    #[error("checksum offset {0} does not fit the segment's L4 header")]
    WrongCsumOffset(u16),
    /// The L4 header of a large segment does not fit in the frame's first buffer.
    #[error("the headers of a large segment do not fit in its first buffer")]
    HeadersOutside,
}

/// The 16-bit field at `at` of a header: in the host's byte order (see the module's
/// documentation), as [`put_field`] writes it.
fn field(header: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([header[at], header[at + 1]])
}

/// Writes the 16-bit field at `at` of a header, in the host's byte order.
fn put_field(header: &mut [u8], at: usize, value: u16) {
    header[at..at + 2].copy_from_slice(&value.to_ne_bytes());
}

/// Reads a received header, of either length: [`VNET_HDR_LEN`] (a tap's) or
/// [`PACKET_VNET_HDR_LEN`] (a packet socket's); another length does not compile. `frame_len`
/// is the frame's length, `head` its bytes in the first buffer (all of it, for a frame that
/// fits one).
pub fn decode<const N: usize>(
    header: &[u8; N],
    head: &[u8],
    frame_len: usize,
) -> Result<OffloadInfo, VnetError> {
    const {
        assert!(
            N == VNET_HDR_LEN || N == PACKET_VNET_HDR_LEN,
            "a virtio-net header is 10 or 12 bytes"
        )
    };
    let (flags, gso_type) = (header[0], header[1]);
    let (gso_size, csum_start, csum_offset) =
        (field(header, 4), field(header, 6), field(header, 8));
    let needs_csum = flags & F_NEEDS_CSUM != 0;
    let head = &head[..head.len().min(frame_len)];
    if needs_csum {
        let end = usize::from(csum_start) + usize::from(csum_offset) + 2;
        if end > head.len() {
            return Err(VnetError::CsumOutside {
                start: csum_start,
                offset: csum_offset,
                head: head.len(),
            });
        }
    }
    let gso = match gso_type {
        GSO_NONE => GsoKind::None,
        t if t & !GSO_ECN == GSO_TCPV4 => GsoKind::Tcp4,
        t if t & !GSO_ECN == GSO_TCPV6 => GsoKind::Tcp6,
        GSO_UDP_L4 => GsoKind::Udp,
        other => return Err(VnetError::UnknownGso(other)),
    };
    if gso == GsoKind::None {
        return Ok(OffloadInfo {
            needs_csum,
            csum_start: if needs_csum { csum_start } else { 0 },
            csum_offset: if needs_csum { csum_offset } else { 0 },
            ..OffloadInfo::default()
        });
    }
    if gso_size == 0 {
        return Err(VnetError::ZeroGsoSize);
    }
    if !needs_csum {
        return Err(VnetError::GsoWithoutCsum);
    }
    let l4 = usize::from(csum_start);
    let l4_len = if gso == GsoKind::Udp {
        if csum_offset != UDP_CSUM_OFFSET {
            return Err(VnetError::WrongCsumOffset(csum_offset));
        }
        8
    } else {
        if csum_offset != TCP_CSUM_OFFSET {
            return Err(VnetError::WrongCsumOffset(csum_offset));
        }
        let data_offset = head.get(l4 + 12).ok_or(VnetError::HeadersOutside)? >> 4;
        if data_offset < 5 {
            return Err(VnetError::HeadersOutside);
        }
        usize::from(data_offset) * 4
    };
    let hdr_len = l4 + l4_len;
    if hdr_len > head.len() {
        return Err(VnetError::HeadersOutside);
    }
    Ok(OffloadInfo {
        needs_csum,
        csum_start,
        csum_offset,
        gso,
        gso_size,
        // At most head.len(), a buffer's length.
        hdr_len: hdr_len as u16,
    })
}

/// The header for a packet to write, from what it asks for; `head` is its first buffer (for
/// the ECN bit, read from the TCP header of a large segment). A packet socket takes its first
/// [`PACKET_VNET_HDR_LEN`] bytes.
pub fn encode(offload: &OffloadInfo, head: &[u8]) -> [u8; VNET_HDR_LEN] {
    let mut header = [0u8; VNET_HDR_LEN];
    let gso_type = match offload.gso {
        GsoKind::None => GSO_NONE,
        GsoKind::Tcp4 | GsoKind::Tcp6 => {
            let cwr = head
                .get(usize::from(offload.csum_start) + 13)
                .is_some_and(|flags| flags & TCP_FLAG_CWR != 0);
            let base = if offload.gso == GsoKind::Tcp4 {
                GSO_TCPV4
            } else {
                GSO_TCPV6
            };
            if cwr { base | GSO_ECN } else { base }
        }
        GsoKind::Udp => GSO_UDP_L4,
    };
    if offload.gso != GsoKind::None {
        put_field(&mut header, 2, offload.hdr_len);
        put_field(&mut header, 4, offload.gso_size);
    }
    if offload.needs_csum {
        put_field(&mut header, 6, offload.csum_start);
        put_field(&mut header, 8, offload.csum_offset);
    }
    header[0] = if offload.needs_csum { F_NEEDS_CSUM } else { 0 };
    header[1] = gso_type;
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Ethernet + IPv4 + TCP head (20-byte IP header, TCP header of `doff` words) with
    /// `payload` bytes after it.
    fn tcp4_frame(doff: u8, flags: u8, payload: usize) -> Vec<u8> {
        let mut frame = vec![0u8; 14 + 20 + usize::from(doff) * 4 + payload];
        frame[12..14].copy_from_slice(&[0x08, 0x00]);
        frame[14] = 0x45;
        frame[34 + 12] = doff << 4;
        frame[34 + 13] = flags;
        frame
    }

    fn header(
        flags: u8,
        gso_type: u8,
        hdr_len: u16,
        gso_size: u16,
        start: u16,
        offset: u16,
    ) -> [u8; 12] {
        // Written as the kernel's C code does: a struct of host-order integers.
        let mut h = [0u8; 12];
        h[0] = flags;
        h[1] = gso_type;
        h[2..4].copy_from_slice(&hdr_len.to_ne_bytes());
        h[4..6].copy_from_slice(&gso_size.to_ne_bytes());
        h[6..8].copy_from_slice(&start.to_ne_bytes());
        h[8..10].copy_from_slice(&offset.to_ne_bytes());
        h
    }

    #[test]
    fn a_plain_frame_asks_for_nothing() {
        let frame = tcp4_frame(5, 0x10, 100);
        let info = decode(&[0; 12], &frame, frame.len()).unwrap();
        assert_eq!(info, OffloadInfo::default());
        assert_eq!(encode(&info, &frame), [0; 12]);
    }

    #[test]
    fn a_large_tcp_segment_gets_the_length_of_its_real_headers() {
        let frame = tcp4_frame(8, 0x10, 1000);
        // Linux's hdr_len: the linear part, more than the headers.
        let h = header(1, GSO_TCPV4, 600, 1448, 34, 16);
        let info = decode(&h, &frame, 60_000).unwrap();
        assert_eq!(info.gso, GsoKind::Tcp4);
        assert_eq!((info.gso_size, info.hdr_len), (1448, 34 + 32));
        assert_eq!(
            (info.needs_csum, info.csum_start, info.csum_offset),
            (true, 34, 16)
        );
        let back = encode(&info, &frame);
        assert_eq!(back[1], GSO_TCPV4);
        assert_eq!(u16::from_ne_bytes([back[2], back[3]]), 66);
        assert_eq!(back[4..10], h[4..10]);
    }

    #[test]
    fn the_ecn_bit_follows_cwr() {
        let frame = tcp4_frame(5, 0x80 | 0x10, 100);
        let h = header(1, GSO_TCPV6 | GSO_ECN, 0, 1000, 34, 16);
        let info = decode(&h, &frame, frame.len()).unwrap();
        assert_eq!(info.gso, GsoKind::Tcp6);
        assert_eq!(encode(&info, &frame)[1], GSO_TCPV6 | GSO_ECN);
        let no_cwr = tcp4_frame(5, 0x10, 100);
        assert_eq!(encode(&info, &no_cwr)[1], GSO_TCPV6);
    }

    #[test]
    fn udp_segmentation_has_an_eight_byte_header() {
        let frame = vec![0u8; 14 + 40 + 8 + 100];
        let h = header(1, GSO_UDP_L4, 0, 1200, 54, 6);
        let info = decode(&h, &frame, 5000).unwrap();
        assert_eq!((info.gso, info.hdr_len), (GsoKind::Udp, 62));
        assert_eq!(encode(&info, &frame)[1], GSO_UDP_L4);
    }

    #[test]
    fn a_packet_socket_header_is_the_first_ten_bytes_of_a_tap_header() {
        let frame = tcp4_frame(8, 0x10, 1000);
        let long = header(1, GSO_TCPV4, 600, 1448, 34, 16);
        let short: [u8; PACKET_VNET_HDR_LEN] = long[..PACKET_VNET_HDR_LEN].try_into().unwrap();
        let info = decode(&short, &frame, 60_000).unwrap();
        assert_eq!(info, decode(&long, &frame, 60_000).unwrap());
        assert_eq!(
            (info.gso, info.gso_size, info.hdr_len),
            (GsoKind::Tcp4, 1448, 66)
        );
        // And on the way out the packet socket takes the same first ten bytes (with the
        // headers' length for Linux's hint).
        let out = encode(&info, &frame);
        assert_eq!((&out[..2], &out[4..10]), (&long[..2], &long[4..10]));
    }

    #[test]
    fn integers_are_in_the_host_byte_order() {
        // What the kernel's `struct virtio_net_hdr` holds for gso_size 1448 (0x05a8),
        // csum_start 34 and csum_offset 16, written out byte by byte for this host.
        let mut raw = [1, GSO_TCPV4, 0, 0, 0xa8, 0x05, 34, 0, 16, 0];
        if cfg!(target_endian = "big") {
            for pair in raw[2..].chunks_mut(2) {
                pair.swap(0, 1);
            }
        }
        let frame = tcp4_frame(5, 0x10, 2000);
        let info = decode(&raw, &frame, frame.len()).unwrap();
        assert_eq!(
            (info.gso_size, info.csum_start, info.csum_offset),
            (1448, 34, 16)
        );
        let out = encode(&info, &frame);
        assert_eq!(out[4..10], raw[4..10]);
    }

    #[test]
    fn a_checksum_only_frame_keeps_its_offsets() {
        let frame = tcp4_frame(5, 0x10, 10);
        let info = decode(&header(1, 0, 0, 0, 34, 16), &frame, frame.len()).unwrap();
        assert_eq!(
            (info.needs_csum, info.csum_start, info.csum_offset),
            (true, 34, 16)
        );
        assert_eq!(info.gso, GsoKind::None);
    }

    #[test]
    fn malformed_headers_are_refused() {
        let frame = tcp4_frame(5, 0x10, 100);
        let len = frame.len();
        let cases = [
            (header(1, GSO_TCPV4, 0, 0, 34, 16), VnetError::ZeroGsoSize),
            (
                header(0, GSO_TCPV4, 0, 1000, 0, 0),
                VnetError::GsoWithoutCsum,
            ),
            (header(1, 3, 0, 1000, 34, 16), VnetError::UnknownGso(3)),
            (
                header(1, 0x42, 0, 1000, 34, 16),
                VnetError::UnknownGso(0x42),
            ),
            (
                header(1, GSO_UDP_L4 | GSO_ECN, 0, 1000, 34, 6),
                VnetError::UnknownGso(0x85),
            ),
            (
                header(1, GSO_TCPV4, 0, 1000, 34, 6),
                VnetError::WrongCsumOffset(6),
            ),
            (
                header(1, 0, 0, 0, 200, 16),
                VnetError::CsumOutside {
                    start: 200,
                    offset: 16,
                    head: len,
                },
            ),
        ];
        for (h, want) in cases {
            assert_eq!(decode(&h, &frame, len), Err(want), "{h:?}");
        }
        // A TCP header claiming more words than the frame holds.
        let short = tcp4_frame(15, 0x10, 0);
        let h = header(1, GSO_TCPV4, 0, 1000, 34, 16);
        assert_eq!(decode(&h, &short[..60], 60), Err(VnetError::HeadersOutside));
    }

    #[test]
    fn any_header_on_any_frame_never_panics() {
        let frame = tcp4_frame(5, 0x10, 30);
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut h = [0u8; 12];
            for (i, b) in h.iter_mut().enumerate() {
                *b = (seed >> (i * 5)) as u8;
            }
            // Small offsets often, to reach the checks past the first ones.
            h[7] = 0;
            h[9] = 0;
            let cut = (seed >> 60) as usize * 6;
            let _ = decode(&h, &frame[..cut.min(frame.len())], frame.len());
        }
    }
}
