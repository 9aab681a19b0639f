//! The header arithmetic of segmentation and checksum offload, shared by every way in:
//! where a packet's headers are ([`Layout`]), and what the headers of each of its
//! segments say ([`Segmentation`]).

use podwire_wire::checksum;
use podwire_wire::ethernet::{self, EtherType};
use podwire_wire::ip::IpProtocol;
use podwire_wire::tcp::{self, flags};
use podwire_wire::{ipv4, ipv6, udp};

use super::OffloadError;
use crate::buffer::GsoKind;

/// Offset of the checksum in a TCP header (RFC 9293 §3.1).
const TCP_CHECKSUM_AT: usize = 16;
/// Offset of the checksum in a UDP header (RFC 768).
pub(super) const UDP_CHECKSUM_AT: usize = 6;

/// The transport a packet carries.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Transport {
    Tcp,
    Udp,
}

impl Transport {
    fn protocol(self) -> IpProtocol {
        match self {
            Transport::Tcp => IpProtocol::TCP,
            Transport::Udp => IpProtocol::UDP,
        }
    }

    /// Where the checksum is in the transport header.
    pub(super) fn checksum_at(self) -> usize {
        match self {
            Transport::Tcp => TCP_CHECKSUM_AT,
            Transport::Udp => UDP_CHECKSUM_AT,
        }
    }
}

/// Where the headers of a TCP or UDP packet in an Ethernet frame are, as offsets from the
/// start of the frame.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) struct Layout {
    /// The IP header.
    pub l3: usize,
    /// The TCP or UDP header.
    pub l4: usize,
    /// The payload: the length of all the headers.
    pub payload: usize,
    /// The end of the IP packet (what follows is padding).
    pub end: usize,
    /// IPv6 rather than IPv4.
    pub v6: bool,
    /// TCP or UDP.
    pub transport: Transport,
}

/// That the first `upto` bytes of a packet of `len` bytes are in `head`, its first buffer.
fn within(head: &[u8], len: usize, upto: usize) -> Result<(), OffloadError> {
    if upto <= head.len() {
        Ok(())
    } else if upto <= len {
        Err(OffloadError::HeadersOutsideFirstBuffer)
    } else {
        Err(OffloadError::Truncated)
    }
}

impl Layout {
    /// Reads the headers of a packet `len` bytes long from `head`, the bytes of its first
    /// buffer, which must hold them all.
    pub fn parse(head: &[u8], len: usize) -> Result<Layout, OffloadError> {
        let l3 = ethernet::HEADER_LEN;
        within(head, len, l3)?;
        let ethertype = EtherType(u16::from_be_bytes([head[12], head[13]]));
        let (l4, end, v6, protocol) = match ethertype {
            EtherType::IPV4 => {
                within(head, len, l3 + ipv4::HEADER_LEN)?;
                let ip = ipv4::Packet::new_unchecked(&head[l3..]);
                let header_len = usize::from(ip.header_len());
                if ip.version() != 4 || header_len < ipv4::HEADER_LEN || ip.is_fragment() {
                    return Err(OffloadError::NotTcpOrUdp);
                }
                within(head, len, l3 + header_len)?;
                let total = usize::from(ip.total_len());
                (l3 + header_len, l3 + total, false, ip.protocol())
            }
            EtherType::IPV6 => {
                within(head, len, l3 + ipv6::HEADER_LEN)?;
                let ip = ipv6::Packet::new_unchecked(&head[l3..]);
                if ip.version() != 6 {
                    return Err(OffloadError::NotTcpOrUdp);
                }
                let l4 = l3 + ipv6::HEADER_LEN;
                (
                    l4,
                    l4 + usize::from(ip.payload_len()),
                    true,
                    ip.next_header(),
                )
            }
            _ => return Err(OffloadError::NotTcpOrUdp),
        };
        let (transport, header_len) = match protocol {
            IpProtocol::TCP => {
                within(head, len, l4 + tcp::HEADER_LEN)?;
                let header_len = usize::from(tcp::Packet::new_unchecked(&head[l4..]).header_len());
                if header_len < tcp::HEADER_LEN {
                    return Err(OffloadError::NotTcpOrUdp);
                }
                (Transport::Tcp, header_len)
            }
            IpProtocol::UDP => (Transport::Udp, udp::HEADER_LEN),
            _ => return Err(OffloadError::NotTcpOrUdp),
        };
        let payload = l4 + header_len;
        within(head, len, payload)?;
        if end < payload || end > len {
            return Err(OffloadError::Truncated);
        }
        Ok(Layout {
            l3,
            l4,
            payload,
            end,
            v6,
            transport,
        })
    }

    /// That the packet is what `kind` segments.
    pub fn check_kind(&self, kind: GsoKind) -> Result<(), OffloadError> {
        let matches = match kind {
            GsoKind::Tcp4 => !self.v6 && self.transport == Transport::Tcp,
            GsoKind::Tcp6 => self.v6 && self.transport == Transport::Tcp,
            GsoKind::Udp => self.transport == Transport::Udp,
            GsoKind::None => true,
        };
        if matches {
            Ok(())
        } else {
            Err(OffloadError::KindMismatch(kind))
        }
    }

    /// The sum of the pseudo-header of the transport checksum, for a transport header and
    /// payload of `l4_len` bytes, read from `headers` (the frame's first bytes).
    pub fn pseudo_header(&self, headers: &[u8], l4_len: usize) -> u16 {
        let protocol = self.transport.protocol();
        // At most 65535 plus a header: the length fields are 16 bits.
        let len = l4_len as u32;
        if self.v6 {
            let ip = ipv6::Packet::new_unchecked(&headers[self.l3..]);
            checksum::pseudo_header_v6(ip.src_addr(), ip.dst_addr(), protocol, len)
        } else {
            let ip = ipv4::Packet::new_unchecked(&headers[self.l3..]);
            checksum::pseudo_header_v4(ip.src_addr(), ip.dst_addr(), protocol, len)
        }
    }

    /// Where the transport checksum is, from the start of the frame.
    pub fn checksum_at(&self) -> usize {
        self.l4 + self.transport.checksum_at()
    }
}

/// The value of a transport checksum field over bytes that sum to `sum` (the field holding
/// the pseudo-header sum included). A UDP checksum computed as zero is sent as all ones:
/// zero means "no checksum" (RFC 768).
pub(super) fn checksum_field(sum: u16, udp: bool) -> u16 {
    match checksum::finish(sum) {
        0 if udp => 0xffff,
        field => field,
    }
}

/// How a packet is cut: its layout, the segment size, and what of its original headers
/// the segments' headers count from.
#[derive(Copy, Clone, Debug)]
pub(super) struct Segmentation {
    layout: Layout,
    size: usize,
    /// The TCP sequence number of the first payload byte.
    seq: u32,
    /// The TCP flags.
    flags: u8,
    /// The IPv4 identification of the first segment.
    ident: u16,
}

impl Segmentation {
    /// Plans cutting the packet of layout `layout`, whose headers are at the start of
    /// `headers`, into segments of `size` payload bytes.
    pub fn new(layout: Layout, headers: &[u8], size: usize) -> Result<Self, OffloadError> {
        if size == 0 {
            return Err(OffloadError::ZeroSize);
        }
        let plan = Segmentation {
            layout,
            size,
            seq: 0,
            flags: 0,
            ident: 0,
        };
        // The IP length field of the largest segment must hold it.
        let largest = plan.ip_len(plan.segment_len(0));
        if largest > usize::from(u16::MAX) {
            return Err(OffloadError::TooLong(largest));
        }
        let (seq, flags) = match layout.transport {
            Transport::Tcp => {
                let t = tcp::Packet::new_unchecked(&headers[layout.l4..]);
                (t.seq_number(), t.flags())
            }
            Transport::Udp => (0, 0),
        };
        let ident = match layout.v6 {
            true => 0,
            false => ipv4::Packet::new_unchecked(&headers[layout.l3..]).ident(),
        };
        Ok(Segmentation {
            seq,
            flags,
            ident,
            ..plan
        })
    }

    /// The packet's layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Bytes of headers in front of each segment's payload.
    pub fn header_len(&self) -> usize {
        self.layout.payload
    }

    /// How many segments: a packet with no payload is one.
    pub fn count(&self) -> usize {
        self.payload_len().div_ceil(self.size).max(1)
    }

    /// Payload bytes of the whole packet.
    fn payload_len(&self) -> usize {
        self.layout.end - self.layout.payload
    }

    /// Where segment `i`'s payload starts in the packet's payload.
    pub fn segment_start(&self, i: usize) -> usize {
        i * self.size
    }

    /// Payload bytes of segment `i`.
    pub fn segment_len(&self, i: usize) -> usize {
        self.payload_len()
            .saturating_sub(self.segment_start(i))
            .min(self.size)
    }

    /// What the IP length field counts for a segment of `len` payload bytes: the IPv4
    /// header on, or what follows the IPv6 header.
    fn ip_len(&self, len: usize) -> usize {
        let from = match self.layout.v6 {
            true => self.layout.l3 + ipv6::HEADER_LEN,
            false => self.layout.l3,
        };
        self.layout.payload - from + len
    }

    /// Writes into `headers`, a copy of the packet's headers, those of segment `i`: the IP
    /// length and, over IPv4, the identification (counted up per segment as Linux does)
    /// and header checksum; the TCP sequence number advanced past the payload before it,
    /// FIN and PSH kept for the last segment only, CWR for the first only; the UDP length.
    /// The transport checksum field is left holding the pseudo-header sum, as a packet
    /// whose checksum is left to an offload: finish it with the sum of the transport
    /// header and payload.
    pub fn write(&self, headers: &mut [u8], i: usize) {
        let layout = &self.layout;
        let len = self.segment_len(i);
        let l4_len = layout.payload - layout.l4 + len;
        // Lengths fit 16 bits: `new` checked the largest segment.
        let ip_len = self.ip_len(len) as u16;
        if layout.v6 {
            ipv6::Packet::new_unchecked(&mut headers[layout.l3..]).set_payload_len(ip_len);
        } else {
            let mut ip = ipv4::Packet::new_unchecked(&mut headers[layout.l3..]);
            ip.set_total_len(ip_len);
            ip.set_ident(self.ident.wrapping_add(i as u16));
            ip.fill_checksum();
        }
        let pseudo = layout.pseudo_header(headers, l4_len);
        let l4 = &mut headers[layout.l4..layout.payload];
        match layout.transport {
            Transport::Tcp => {
                let mut t = tcp::Packet::new_unchecked(l4);
                t.set_seq_number(self.seq.wrapping_add(self.segment_start(i) as u32));
                let mut f = self.flags;
                if i + 1 < self.count() {
                    f &= !(flags::FIN | flags::PSH);
                }
                if i > 0 {
                    f &= !flags::CWR;
                }
                t.set_flags(f);
                t.set_checksum(pseudo);
            }
            Transport::Udp => {
                let mut u = udp::Packet::new_unchecked(l4);
                u.set_len(l4_len as u16);
                u.set_checksum(pseudo);
            }
        }
    }
}
