//! ICMP for IPv6 (RFC 4443), with neighbor discovery (RFC 4861): [`NdiscRepr`].
//!
//! ICMPv6 has no length field: a view covers exactly one message, normally the payload of an
//! IPv6 view, and the checksum covers the whole buffer and the IPv6 pseudo-header.

mod ndisc;

pub use ndisc::{NdiscOption, NdiscOptions, NdiscRepr, NeighborFlags, PrefixInfo, RouterFlags};

use crate::bytes::{clamped, get_u16, get_u32, head, head_mut, set_u16, set_u32};
use crate::checksum;
use crate::ip::IpProtocol;
use crate::ipv6::{self, Ipv6Repr};
use crate::{Error, Result};
use core::net::Ipv6Addr;

/// Length of the ICMPv6 header: type, code, checksum and the 4 bytes that depend on the type.
pub const HEADER_LEN: usize = 8;

/// An ICMPv6 message type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Message(pub u8);

impl Message {
    /// Destination unreachable; the code says why (see [`dst_unreachable`]).
    pub const DST_UNREACHABLE: Self = Self(1);
    /// Packet too big; the header carries the MTU.
    pub const PKT_TOO_BIG: Self = Self(2);
    /// Time exceeded; the code says which (see [`time_exceeded`]).
    pub const TIME_EXCEEDED: Self = Self(3);
    /// Parameter problem.
    pub const PARAM_PROBLEM: Self = Self(4);
    /// Echo request (ping).
    pub const ECHO_REQUEST: Self = Self(128);
    /// Echo reply.
    pub const ECHO_REPLY: Self = Self(129);
    /// Multicast listener query.
    pub const MLD_QUERY: Self = Self(130);
    /// Multicast listener report (version 1).
    pub const MLD_REPORT: Self = Self(131);
    /// Multicast listener done.
    pub const MLD_DONE: Self = Self(132);
    /// Router solicitation.
    pub const ROUTER_SOLICIT: Self = Self(133);
    /// Router advertisement.
    pub const ROUTER_ADVERT: Self = Self(134);
    /// Neighbor solicitation.
    pub const NEIGHBOR_SOLICIT: Self = Self(135);
    /// Neighbor advertisement.
    pub const NEIGHBOR_ADVERT: Self = Self(136);
    /// Redirect.
    pub const REDIRECT: Self = Self(137);
    /// Multicast listener report (version 2).
    pub const MLDV2_REPORT: Self = Self(143);

    /// Whether this type reports an error about a packet it quotes (types below 128): never
    /// answer such a message with another error (RFC 4443 §2.4).
    #[inline]
    pub const fn is_error(self) -> bool {
        self.0 < 128
    }
}

/// The codes of [`Message::DST_UNREACHABLE`].
pub mod dst_unreachable {
    /// No route to the destination.
    pub const NO_ROUTE: u8 = 0;
    /// Communication administratively prohibited (by a network policy).
    pub const ADMIN_PROHIBITED: u8 = 1;
    /// Beyond the scope of the source address.
    pub const BEYOND_SCOPE: u8 = 2;
    /// Address unreachable: no answer to neighbor discovery.
    pub const ADDR_UNREACHABLE: u8 = 3;
    /// Port unreachable: nothing listens there (or a service has no endpoints).
    pub const PORT_UNREACHABLE: u8 = 4;
    /// The source address failed an ingress/egress policy.
    pub const FAILED_POLICY: u8 = 5;
    /// Reject route to the destination.
    pub const REJECT_ROUTE: u8 = 6;
}

/// The codes of [`Message::TIME_EXCEEDED`].
pub mod time_exceeded {
    /// Hop limit exceeded in transit.
    pub const HOP_LIMIT_EXCEEDED: u8 = 0;
    /// Fragment reassembly time exceeded.
    pub const FRAG_REASSEMBLY_EXCEEDED: u8 = 1;
}

mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    pub const ECHO_IDENT: usize = 4;
    pub const ECHO_SEQ_NO: usize = 6;
    pub const MTU: usize = 4;
}

/// A view of an ICMPv6 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; accessors panic if it is shorter than 8 bytes.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer that holds an ICMPv6 header: `Err(Truncated)` if it does not.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the buffer holds the header: `Err(Truncated)` if not.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// Gives the buffer back.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline(always)]
    fn header(&self) -> &[u8; HEADER_LEN] {
        head(self.buffer.as_ref())
    }

    /// The message type.
    #[inline]
    pub fn msg_type(&self) -> Message {
        Message(self.header()[field::TYPE])
    }

    /// The message code.
    #[inline]
    pub fn msg_code(&self) -> u8 {
        self.header()[field::CODE]
    }

    /// The checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        get_u16(self.header(), field::CHECKSUM)
    }

    /// The identifier of an echo request or reply.
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        get_u16(self.header(), field::ECHO_IDENT)
    }

    /// The sequence number of an echo request or reply.
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        get_u16(self.header(), field::ECHO_SEQ_NO)
    }

    /// The MTU of a "packet too big" message.
    #[inline]
    pub fn pkt_too_big_mtu(&self) -> u32 {
        get_u32(self.header(), field::MTU)
    }

    /// The bytes after the header: echo data, the quoted packet of an error, or the rest of a
    /// neighbor discovery message.
    #[inline]
    pub fn data(&self) -> &[u8] {
        self.buffer.as_ref().get(HEADER_LEN..).unwrap_or_default()
    }

    /// The options of a neighbor discovery message (none for other types).
    #[inline]
    pub fn ndisc_options(&self) -> NdiscOptions<'_> {
        let options = ndisc::fixed_len(self.msg_type())
            .and_then(|start| self.buffer.as_ref().get(start..))
            .unwrap_or_default();
        NdiscOptions::new(options)
    }

    /// Whether the checksum is right for a message between these addresses.
    #[inline]
    pub fn verify_checksum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        self.sum_with(src, dst) == 0xffff
    }

    #[inline(always)]
    fn sum_with(&self, src: Ipv6Addr, dst: Ipv6Addr) -> u16 {
        let message = self.buffer.as_ref();
        // An ICMPv6 message longer than 4 GiB cannot exist; saturate rather than wrap.
        let len = u32::try_from(message.len()).unwrap_or(u32::MAX);
        let pseudo_header = checksum::pseudo_header_v6(src, dst, IpProtocol::ICMPV6, len);
        checksum::combine(&[pseudo_header, checksum::data(message)])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline(always)]
    fn header_mut(&mut self) -> &mut [u8; HEADER_LEN] {
        head_mut(self.buffer.as_mut())
    }

    /// Sets the message type.
    #[inline]
    pub fn set_msg_type(&mut self, msg_type: Message) {
        self.header_mut()[field::TYPE] = msg_type.0;
    }

    /// Sets the message code.
    #[inline]
    pub fn set_msg_code(&mut self, code: u8) {
        self.header_mut()[field::CODE] = code;
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, checksum: u16) {
        set_u16(self.header_mut(), field::CHECKSUM, checksum);
    }

    /// Sets the identifier of an echo request or reply.
    #[inline]
    pub fn set_echo_ident(&mut self, ident: u16) {
        set_u16(self.header_mut(), field::ECHO_IDENT, ident);
    }

    /// Sets the sequence number of an echo request or reply.
    #[inline]
    pub fn set_echo_seq_no(&mut self, seq_no: u16) {
        set_u16(self.header_mut(), field::ECHO_SEQ_NO, seq_no);
    }

    /// Sets the MTU of a "packet too big" message.
    #[inline]
    pub fn set_pkt_too_big_mtu(&mut self, mtu: u32) {
        set_u32(self.header_mut(), field::MTU, mtu);
    }

    /// Computes the checksum for a message between these addresses and writes it.
    #[inline]
    pub fn fill_checksum(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        self.set_checksum(0);
        let sum = self.sum_with(src, dst);
        self.set_checksum(checksum::finish(sum));
    }

    /// The bytes after the header, to write.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        self.buffer
            .as_mut()
            .get_mut(HEADER_LEN..)
            .unwrap_or_default()
    }
}

/// The meaning of the ICMPv6 messages podwire reads and writes.
///
/// Errors quote the packet that caused them: `header` is the quoted IPv6 header (its
/// `payload_len` is the original packet's), `data` the quoted bytes after it (as much as fits
/// in the minimum MTU, RFC 4443 §2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Icmpv6Repr<'a> {
    /// Echo request (ping).
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Data to echo.
        data: &'a [u8],
    },
    /// Echo reply.
    EchoReply {
        /// Identifier, as in the request.
        ident: u16,
        /// Sequence number, as in the request.
        seq_no: u16,
        /// Data, as in the request.
        data: &'a [u8],
    },
    /// Destination unreachable.
    DstUnreachable {
        /// Why (see [`dst_unreachable`]).
        code: u8,
        /// The header of the packet that could not be delivered.
        header: Ipv6Repr,
        /// The quoted bytes after that header.
        data: &'a [u8],
    },
    /// Packet too big for the next link.
    PacketTooBig {
        /// The MTU of the next link.
        mtu: u32,
        /// The header of the packet that did not fit.
        header: Ipv6Repr,
        /// The quoted bytes after that header.
        data: &'a [u8],
    },
    /// Time exceeded.
    TimeExceeded {
        /// Which time (see [`time_exceeded`]).
        code: u8,
        /// The header of the packet that expired.
        header: Ipv6Repr,
        /// The quoted bytes after that header.
        data: &'a [u8],
    },
    /// Neighbor discovery.
    Ndisc(NdiscRepr),
}

impl<'a> Icmpv6Repr<'a> {
    /// Reads a message sent from `src` to `dst` and verifies its checksum.
    ///
    /// `Err(Checksum)` if it is wrong; `Err(Malformed)` for an echo with a non-zero code or an
    /// error whose quoted IPv6 header is not one; `Err(Truncated)` if the quoted header is cut;
    /// neighbor discovery errors as in [`NdiscRepr::parse`]; `Err(Unsupported)` for the other
    /// message types.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        src: Ipv6Addr,
        dst: Ipv6Addr,
        packet: &Packet<&'a T>,
    ) -> Result<Self> {
        packet.check_len()?;
        if !packet.verify_checksum(src, dst) {
            return Err(Error::Checksum);
        }
        let data = packet.buffer.as_ref().get(HEADER_LEN..).unwrap_or_default();
        match (packet.msg_type(), packet.msg_code()) {
            (Message::ECHO_REQUEST, 0) => Ok(Icmpv6Repr::EchoRequest {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            }),
            (Message::ECHO_REPLY, 0) => Ok(Icmpv6Repr::EchoReply {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            }),
            (Message::ECHO_REQUEST | Message::ECHO_REPLY, _) => Err(Error::Malformed),
            (Message::DST_UNREACHABLE, code) => {
                let (header, data) = parse_quoted(data)?;
                Ok(Icmpv6Repr::DstUnreachable { code, header, data })
            }
            (Message::PKT_TOO_BIG, _) => {
                let (header, data) = parse_quoted(data)?;
                Ok(Icmpv6Repr::PacketTooBig {
                    mtu: packet.pkt_too_big_mtu(),
                    header,
                    data,
                })
            }
            (Message::TIME_EXCEEDED, code) => {
                let (header, data) = parse_quoted(data)?;
                Ok(Icmpv6Repr::TimeExceeded { code, header, data })
            }
            _ => NdiscRepr::parse(packet).map(Icmpv6Repr::Ndisc),
        }
    }

    /// The number of bytes [`emit`](Self::emit) writes.
    pub fn buffer_len(&self) -> usize {
        match self {
            Icmpv6Repr::EchoRequest { data, .. } | Icmpv6Repr::EchoReply { data, .. } => {
                HEADER_LEN + data.len()
            }
            Icmpv6Repr::DstUnreachable { header, data, .. }
            | Icmpv6Repr::PacketTooBig { header, data, .. }
            | Icmpv6Repr::TimeExceeded { header, data, .. } => {
                HEADER_LEN + header.buffer_len() + data.len()
            }
            Icmpv6Repr::Ndisc(ndisc) => ndisc.buffer_len(),
        }
    }

    /// Writes a message from `src` to `dst` and its checksum (over the
    /// [`buffer_len`](Self::buffer_len) bytes written; give a buffer of exactly that length,
    /// so that the view's own checksum functions agree).
    ///
    /// `Err(Truncated)` if the buffer is shorter than `buffer_len`; `Err(Malformed)` if a
    /// quoted header's `payload_len` does not fit in 16 bits.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        packet: &mut Packet<T>,
    ) -> Result<()> {
        let len = self.buffer_len();
        let Some(message) = packet.buffer.as_mut().get_mut(..len) else {
            return Err(Error::Truncated);
        };
        let mut packet = Packet::new_unchecked(message);
        *packet.header_mut() = [0; HEADER_LEN];
        match *self {
            Icmpv6Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } => {
                emit_echo(&mut packet, Message::ECHO_REQUEST, ident, seq_no, data);
            }
            Icmpv6Repr::EchoReply {
                ident,
                seq_no,
                data,
            } => {
                emit_echo(&mut packet, Message::ECHO_REPLY, ident, seq_no, data);
            }
            Icmpv6Repr::DstUnreachable { code, header, data } => {
                packet.set_msg_type(Message::DST_UNREACHABLE);
                packet.set_msg_code(code);
                emit_quoted(&header, data, packet.data_mut())?;
            }
            Icmpv6Repr::PacketTooBig { mtu, header, data } => {
                packet.set_msg_type(Message::PKT_TOO_BIG);
                packet.set_pkt_too_big_mtu(mtu);
                emit_quoted(&header, data, packet.data_mut())?;
            }
            Icmpv6Repr::TimeExceeded { code, header, data } => {
                packet.set_msg_type(Message::TIME_EXCEEDED);
                packet.set_msg_code(code);
                emit_quoted(&header, data, packet.data_mut())?;
            }
            Icmpv6Repr::Ndisc(ndisc) => ndisc.emit(&mut packet)?,
        }
        packet.fill_checksum(src, dst);
        Ok(())
    }
}

/// Writes an echo request or reply into `packet`, whose data has exactly the length of `data`.
fn emit_echo(
    packet: &mut Packet<&mut [u8]>,
    msg_type: Message,
    ident: u16,
    seq_no: u16,
    data: &[u8],
) {
    packet.set_msg_type(msg_type);
    packet.set_echo_ident(ident);
    packet.set_echo_seq_no(seq_no);
    packet.data_mut().copy_from_slice(data);
}

/// Reads the packet an error quotes: its IPv6 header, and the bytes after it (up to the
/// header's payload length, when the quote is that long).
fn parse_quoted(quoted: &[u8]) -> Result<(Ipv6Repr, &[u8])> {
    let ip = ipv6::Packet::new_quoted(quoted)?;
    let end = ipv6::HEADER_LEN + usize::from(ip.payload_len());
    let data = clamped(quoted, ipv6::HEADER_LEN, end);
    Ok((Ipv6Repr::from_header(&ip), data))
}

/// Writes a quoted header and the quoted bytes into `out`, which has exactly their length.
fn emit_quoted(header: &Ipv6Repr, data: &[u8], out: &mut [u8]) -> Result<()> {
    let (quoted_header, quoted_data) = out.split_at_mut(header.buffer_len());
    header.emit(&mut ipv6::Packet::new_unchecked(quoted_header))?;
    quoted_data.copy_from_slice(data);
    Ok(())
}

#[cfg(test)]
mod tests;
