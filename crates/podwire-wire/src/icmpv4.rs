//! ICMP for IPv4 (RFC 792, RFC 1191 for the next-hop MTU).
//!
//! ICMP has no length field: a view covers exactly one message, normally the payload of an
//! IPv4 view, and the checksum covers the whole buffer.

use crate::bytes::{clamped, get_u16, head, head_mut, set_u16};
use crate::checksum;
use crate::ipv4::{self, Ipv4Repr};
use crate::{Error, Result};

/// Length of the ICMP header: type, code, checksum and the 4 bytes that depend on the type.
pub const HEADER_LEN: usize = 8;

/// An ICMP message type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Message(pub u8);

impl Message {
    /// Echo reply (ping answer).
    pub const ECHO_REPLY: Self = Self(0);
    /// Destination unreachable; the code says why (see [`dst_unreachable`]).
    pub const DST_UNREACHABLE: Self = Self(3);
    /// Redirect.
    pub const REDIRECT: Self = Self(5);
    /// Echo request (ping).
    pub const ECHO_REQUEST: Self = Self(8);
    /// Router advertisement.
    pub const ROUTER_ADVERT: Self = Self(9);
    /// Router solicitation.
    pub const ROUTER_SOLICIT: Self = Self(10);
    /// Time exceeded; the code says which (see [`time_exceeded`]).
    pub const TIME_EXCEEDED: Self = Self(11);
    /// Parameter problem.
    pub const PARAM_PROBLEM: Self = Self(12);
    /// Timestamp request.
    pub const TIMESTAMP: Self = Self(13);
    /// Timestamp reply.
    pub const TIMESTAMP_REPLY: Self = Self(14);

    /// Whether this type reports an error about a packet it quotes: a router must never answer
    /// such a message with another error (RFC 1812 §4.3.2.7).
    #[inline]
    pub const fn is_error(self) -> bool {
        matches!(self.0, 3 | 4 | 5 | 11 | 12)
    }
}

/// The codes of [`Message::DST_UNREACHABLE`].
pub mod dst_unreachable {
    /// Net unreachable: no route.
    pub const NET_UNREACHABLE: u8 = 0;
    /// Host unreachable: no answer to address resolution.
    pub const HOST_UNREACHABLE: u8 = 1;
    /// Protocol unreachable.
    pub const PROTO_UNREACHABLE: u8 = 2;
    /// Port unreachable: nothing listens there (or a service has no endpoints).
    pub const PORT_UNREACHABLE: u8 = 3;
    /// Fragmentation needed and "don't fragment" set; the next-hop MTU is in the header.
    pub const FRAG_NEEDED: u8 = 4;
    /// Source route failed.
    pub const SRC_ROUTE_FAILED: u8 = 5;
    /// Destination network unknown.
    pub const DST_NET_UNKNOWN: u8 = 6;
    /// Destination host unknown.
    pub const DST_HOST_UNKNOWN: u8 = 7;
    /// Communication with the destination network administratively prohibited.
    pub const NET_PROHIBITED: u8 = 9;
    /// Communication with the destination host administratively prohibited.
    pub const HOST_PROHIBITED: u8 = 10;
    /// Communication administratively prohibited (by a filter: a network policy, RFC 1812).
    pub const ADMIN_PROHIBITED: u8 = 13;
}

/// The codes of [`Message::TIME_EXCEEDED`].
pub mod time_exceeded {
    /// Time to live exceeded in transit.
    pub const TTL_EXCEEDED: u8 = 0;
    /// Fragment reassembly time exceeded.
    pub const FRAG_REASSEMBLY_EXCEEDED: u8 = 1;
}

mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: usize = 2;
    pub const ECHO_IDENT: usize = 4;
    pub const ECHO_SEQ_NO: usize = 6;
    pub const UNUSED: usize = 4;
    pub const NEXT_HOP_MTU: usize = 6;
}

/// A view of an ICMP message.
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

    /// Wraps a buffer that holds an ICMP header: `Err(Truncated)` if it does not.
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

    /// The next-hop MTU of a "fragmentation needed" message (RFC 1191).
    #[inline]
    pub fn next_hop_mtu(&self) -> u16 {
        get_u16(self.header(), field::NEXT_HOP_MTU)
    }

    /// The bytes after the header: echo data, or the quoted packet of an error.
    #[inline]
    pub fn data(&self) -> &[u8] {
        self.buffer.as_ref().get(HEADER_LEN..).unwrap_or_default()
    }

    /// Whether the checksum over the whole buffer is right.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::data(self.buffer.as_ref()) == 0xffff
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

    /// Sets the next-hop MTU of a "fragmentation needed" message, and zeroes the unused
    /// field before it.
    #[inline]
    pub fn set_next_hop_mtu(&mut self, mtu: u16) {
        let header = self.header_mut();
        set_u16(header, field::UNUSED, 0);
        set_u16(header, field::NEXT_HOP_MTU, mtu);
    }

    /// Computes the checksum over the whole buffer and writes it.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = checksum::data(self.buffer.as_ref());
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

/// The meaning of the ICMP messages podwire reads and writes.
///
/// Errors quote the packet that caused them: `header` is the quoted IPv4 header (its
/// `payload_len` is the original packet's), `data` the quoted bytes after it (RFC 792 asks for
/// at least 8, enough for the ports; RFC 1812 routers quote more).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Icmpv4Repr<'a> {
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
        /// The next-hop MTU field: senders fill it with code
        /// [`FRAG_NEEDED`](dst_unreachable::FRAG_NEEDED) and leave it 0 otherwise.
        mtu: u16,
        /// The header of the packet that could not be delivered.
        header: Ipv4Repr,
        /// The quoted bytes after that header.
        data: &'a [u8],
    },
    /// Time exceeded.
    TimeExceeded {
        /// Which time (see [`time_exceeded`]).
        code: u8,
        /// The header of the packet that expired.
        header: Ipv4Repr,
        /// The quoted bytes after that header.
        data: &'a [u8],
    },
}

impl<'a> Icmpv4Repr<'a> {
    /// Reads a message and verifies its checksum.
    ///
    /// `Err(Checksum)` if it is wrong; `Err(Malformed)` for an echo with a non-zero code or an
    /// error whose quoted IPv4 header is not one; `Err(Truncated)` if the quoted header is cut;
    /// `Err(Unsupported)` for the other message types.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Result<Self> {
        packet.check_len()?;
        if !packet.verify_checksum() {
            return Err(Error::Checksum);
        }
        let data = packet.buffer.as_ref().get(HEADER_LEN..).unwrap_or_default();
        match (packet.msg_type(), packet.msg_code()) {
            (Message::ECHO_REQUEST, 0) => Ok(Icmpv4Repr::EchoRequest {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            }),
            (Message::ECHO_REPLY, 0) => Ok(Icmpv4Repr::EchoReply {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            }),
            (Message::ECHO_REQUEST | Message::ECHO_REPLY, _) => Err(Error::Malformed),
            (Message::DST_UNREACHABLE, code) => {
                let (header, data) = parse_quoted(data)?;
                Ok(Icmpv4Repr::DstUnreachable {
                    code,
                    mtu: packet.next_hop_mtu(),
                    header,
                    data,
                })
            }
            (Message::TIME_EXCEEDED, code) => {
                let (header, data) = parse_quoted(data)?;
                Ok(Icmpv4Repr::TimeExceeded { code, header, data })
            }
            _ => Err(Error::Unsupported),
        }
    }

    /// The number of bytes [`emit`](Self::emit) writes.
    pub fn buffer_len(&self) -> usize {
        match self {
            Icmpv4Repr::EchoRequest { data, .. } | Icmpv4Repr::EchoReply { data, .. } => {
                HEADER_LEN + data.len()
            }
            Icmpv4Repr::DstUnreachable { header, data, .. }
            | Icmpv4Repr::TimeExceeded { header, data, .. } => {
                HEADER_LEN + header.buffer_len() + data.len()
            }
        }
    }

    /// Writes the message and its checksum (over the [`buffer_len`](Self::buffer_len) bytes
    /// written; give a buffer of exactly that length, so that the view's own checksum
    /// functions agree).
    ///
    /// `Err(Truncated)` if the buffer is shorter than `buffer_len`; `Err(Malformed)` if a
    /// quoted header's `payload_len` does not fit IPv4.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) -> Result<()> {
        let len = self.buffer_len();
        let Some(message) = packet.buffer.as_mut().get_mut(..len) else {
            return Err(Error::Truncated);
        };
        let mut packet = Packet::new_unchecked(message);
        *packet.header_mut() = [0; HEADER_LEN];
        match *self {
            Icmpv4Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } => {
                emit_echo(&mut packet, Message::ECHO_REQUEST, ident, seq_no, data);
            }
            Icmpv4Repr::EchoReply {
                ident,
                seq_no,
                data,
            } => {
                emit_echo(&mut packet, Message::ECHO_REPLY, ident, seq_no, data);
            }
            Icmpv4Repr::DstUnreachable {
                code,
                mtu,
                header,
                data,
            } => {
                packet.set_msg_type(Message::DST_UNREACHABLE);
                packet.set_msg_code(code);
                packet.set_next_hop_mtu(mtu);
                emit_quoted(&header, data, packet.data_mut())?;
            }
            Icmpv4Repr::TimeExceeded { code, header, data } => {
                packet.set_msg_type(Message::TIME_EXCEEDED);
                packet.set_msg_code(code);
                emit_quoted(&header, data, packet.data_mut())?;
            }
        }
        packet.fill_checksum();
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

/// Reads the packet an error quotes: its IPv4 header, and the bytes after it (up to the
/// header's total length, when the quote is that long).
fn parse_quoted(quoted: &[u8]) -> Result<(Ipv4Repr, &[u8])> {
    let ip = ipv4::Packet::new_quoted(quoted)?;
    let data = clamped(quoted, ip.header_len().into(), ip.total_len().into());
    Ok((Ipv4Repr::from_header(&ip), data))
}

/// Writes a quoted header and the quoted bytes into `out`, which has exactly their length.
fn emit_quoted(header: &Ipv4Repr, data: &[u8], out: &mut [u8]) -> Result<()> {
    let (quoted_header, quoted_data) = out.split_at_mut(header.buffer_len());
    header.emit(&mut ipv4::Packet::new_unchecked(quoted_header))?;
    quoted_data.copy_from_slice(data);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ip::IpProtocol;
    use core::net::Ipv4Addr;
    use etherparse::{
        IcmpEchoHeader, Icmpv4Slice, Icmpv4Type, PacketBuilder, icmpv4::DestUnreachableHeader,
    };
    use proptest::prelude::*;

    fn etherparse_message(icmp_type: Icmpv4Type, payload: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::new();
        PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .icmpv4(icmp_type)
            .write(&mut bytes, payload)
            .unwrap();
        bytes.split_off(20)
    }

    /// An original packet (IPv4 + UDP + 4 bytes) as an error would quote it: header and 8 bytes.
    fn quoted_udp() -> Vec<u8> {
        let mut bytes = Vec::new();
        PacketBuilder::ipv4([10, 244, 1, 2], [10, 96, 0, 1], 1)
            .udp(5000, 53)
            .write(&mut bytes, b"dnsq")
            .unwrap();
        bytes.truncate(28);
        bytes
    }

    #[test]
    fn reads_an_echo_request_built_by_etherparse() {
        let echo = IcmpEchoHeader { id: 0x1234, seq: 7 };
        let bytes = etherparse_message(Icmpv4Type::EchoRequest(echo), b"ping data");
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(packet.msg_type(), Message::ECHO_REQUEST);
        assert_eq!(packet.msg_code(), 0);
        assert_eq!((packet.echo_ident(), packet.echo_seq_no()), (0x1234, 7));
        assert_eq!(packet.data(), b"ping data");
        assert!(packet.verify_checksum());
        assert_eq!(
            Icmpv4Repr::parse(&packet),
            Ok(Icmpv4Repr::EchoRequest {
                ident: 0x1234,
                seq_no: 7,
                data: b"ping data"
            })
        );
    }

    #[test]
    fn reads_a_frag_needed_built_by_etherparse() {
        let quoted = quoted_udp();
        let icmp_type =
            Icmpv4Type::DestinationUnreachable(DestUnreachableHeader::FragmentationNeeded {
                next_hop_mtu: 1450,
            });
        let bytes = etherparse_message(icmp_type, &quoted);
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(packet.next_hop_mtu(), 1450);
        let Ok(Icmpv4Repr::DstUnreachable {
            code,
            mtu,
            header,
            data,
        }) = Icmpv4Repr::parse(&packet)
        else {
            panic!("not a destination unreachable")
        };
        assert_eq!((code, mtu), (dst_unreachable::FRAG_NEEDED, 1450));
        assert_eq!(header.src_addr, Ipv4Addr::new(10, 244, 1, 2));
        assert_eq!(header.dst_addr, Ipv4Addr::new(10, 96, 0, 1));
        assert_eq!(header.protocol, IpProtocol::UDP);
        assert_eq!(
            header.payload_len, 12,
            "the original payload length, not the quoted one"
        );
        assert_eq!(header.ttl, 1);
        assert_eq!(data, &quoted[20..28]);
    }

    #[test]
    fn emitted_messages_are_read_back_by_etherparse() {
        let reply = Icmpv4Repr::EchoReply {
            ident: 9,
            seq_no: 65535,
            data: b"odd",
        };
        let mut bytes = vec![0xaau8; reply.buffer_len()];
        reply
            .emit(&mut Packet::new_unchecked(&mut bytes[..]))
            .unwrap();
        let theirs = Icmpv4Slice::from_slice(&bytes).unwrap();
        assert_eq!(
            theirs.icmp_type(),
            Icmpv4Type::EchoReply(IcmpEchoHeader { id: 9, seq: 65535 })
        );
        assert_eq!(theirs.checksum(), theirs.icmp_type().calc_checksum(b"odd"));
        assert_eq!(
            Icmpv4Repr::parse(&Packet::new_checked(&bytes[..]).unwrap()),
            Ok(reply)
        );

        let quoted = quoted_udp();
        let (header, data) = parse_quoted(&quoted).unwrap();
        let expired = Icmpv4Repr::TimeExceeded {
            code: time_exceeded::TTL_EXCEEDED,
            header,
            data,
        };
        let mut bytes = vec![0u8; expired.buffer_len()];
        expired
            .emit(&mut Packet::new_unchecked(&mut bytes[..]))
            .unwrap();
        let theirs = Icmpv4Slice::from_slice(&bytes).unwrap();
        assert_eq!(
            theirs.icmp_type(),
            Icmpv4Type::TimeExceeded(etherparse::icmpv4::TimeExceededCode::TtlExceededInTransit)
        );
        assert_eq!(
            theirs.checksum(),
            theirs.icmp_type().calc_checksum(theirs.payload())
        );
        // The quoted header is rebuilt from its meaning: addresses, protocol and ports survive.
        let (ip, rest) = etherparse::Ipv4Header::from_slice(theirs.payload()).unwrap();
        assert_eq!(
            (ip.source, ip.destination, ip.total_len),
            ([10, 244, 1, 2], [10, 96, 0, 1], 32)
        );
        assert_eq!(rest, &quoted[20..28]);
        assert_eq!(
            Icmpv4Repr::parse(&Packet::new_checked(&bytes[..]).unwrap()),
            Ok(expired)
        );

        let unreachable = Icmpv4Repr::DstUnreachable {
            code: dst_unreachable::PORT_UNREACHABLE,
            mtu: 0,
            header,
            data,
        };
        let mut bytes = vec![0u8; unreachable.buffer_len()];
        unreachable
            .emit(&mut Packet::new_unchecked(&mut bytes[..]))
            .unwrap();
        let theirs = Icmpv4Slice::from_slice(&bytes).unwrap();
        assert_eq!(
            theirs.icmp_type(),
            Icmpv4Type::DestinationUnreachable(DestUnreachableHeader::Port)
        );
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let echo = IcmpEchoHeader { id: 1, seq: 1 };
        let mut bytes = etherparse_message(Icmpv4Type::EchoRequest(echo), b"x");
        assert_eq!(Packet::new_checked(&bytes[..7]), Err(Error::Truncated));
        bytes[8] ^= 1;
        assert_eq!(
            Icmpv4Repr::parse(&Packet::new_checked(&bytes[..]).unwrap()),
            Err(Error::Checksum)
        );

        let reparse = |bytes: &mut Vec<u8>| {
            let mut packet = Packet::new_unchecked(&mut bytes[..]);
            packet.fill_checksum();
            Icmpv4Repr::parse(&Packet::new_checked(&bytes[..]).unwrap()).map(|_| ())
        };
        bytes[1] = 1; // echo with a non-zero code
        assert_eq!(reparse(&mut bytes), Err(Error::Malformed));
        bytes[0] = Message::TIMESTAMP.0;
        assert_eq!(reparse(&mut bytes), Err(Error::Unsupported));

        let quoted = quoted_udp();
        let mut bytes = etherparse_message(
            Icmpv4Type::TimeExceeded(etherparse::icmpv4::TimeExceededCode::TtlExceededInTransit),
            &quoted[..19],
        );
        assert_eq!(reparse(&mut bytes), Err(Error::Truncated));
        bytes = etherparse_message(
            Icmpv4Type::TimeExceeded(etherparse::icmpv4::TimeExceededCode::TtlExceededInTransit),
            &quoted,
        );
        bytes[8] = 0x65; // the quoted "IPv4" header has version 6
        assert_eq!(reparse(&mut bytes), Err(Error::Malformed));

        let reply = Icmpv4Repr::EchoReply {
            ident: 1,
            seq_no: 2,
            data: b"abc",
        };
        let mut short = [0u8; 10];
        assert_eq!(
            reply.emit(&mut Packet::new_unchecked(&mut short[..])),
            Err(Error::Truncated)
        );
    }

    #[test]
    fn error_types_are_recognised() {
        assert!(Message::DST_UNREACHABLE.is_error());
        assert!(Message::TIME_EXCEEDED.is_error());
        assert!(!Message::ECHO_REQUEST.is_error());
    }

    proptest! {
        #[test]
        fn accessors_and_parse_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(packet) = Packet::new_checked(&bytes[..]) {
                let _ = (packet.msg_type(), packet.msg_code(), packet.checksum(), packet.data());
                let _ = (packet.echo_ident(), packet.echo_seq_no(), packet.next_hop_mtu());
                let _ = Icmpv4Repr::parse(&packet);
                // Same bytes with a right checksum, so that parse gets past it.
                let mut fixed = bytes.clone();
                Packet::new_unchecked(&mut fixed[..]).fill_checksum();
                let _ = Icmpv4Repr::parse(&Packet::new_unchecked(&fixed[..]));
            }
        }

        #[test]
        fn parse_inverts_emit(
            kind in 0u8..4, code in any::<u8>(), ident in any::<u16>(), seq_no in any::<u16>(),
            mtu in any::<u16>(), data in proptest::collection::vec(any::<u8>(), 0..32),
            src in any::<[u8; 4]>(), ttl in any::<u8>(), payload_extra in 0usize..1000,
        ) {
            let header = Ipv4Repr {
                src_addr: src.into(),
                dst_addr: Ipv4Addr::new(10, 0, 0, 9),
                protocol: IpProtocol::TCP,
                payload_len: data.len() + payload_extra,
                ttl,
                dscp_ecn: 0,
            };
            let repr = match kind {
                0 => Icmpv4Repr::EchoRequest { ident, seq_no, data: &data },
                1 => Icmpv4Repr::EchoReply { ident, seq_no, data: &data },
                2 => Icmpv4Repr::DstUnreachable { code, mtu, header, data: &data },
                _ => Icmpv4Repr::TimeExceeded { code, header, data: &data },
            };
            let mut bytes = vec![0u8; repr.buffer_len()];
            repr.emit(&mut Packet::new_unchecked(&mut bytes[..])).unwrap();
            prop_assert_eq!(Icmpv4Repr::parse(&Packet::new_checked(&bytes[..]).unwrap()), Ok(repr));
        }
    }
}
