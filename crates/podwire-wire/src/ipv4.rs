//! IPv4 (RFC 791): packets, their meaning, and CIDR blocks.

use crate::bytes::{
    clamped, clamped_mut, get_ipv4, get_u16, head, head_mut, set_bit, set_bytes, set_u16,
};
use crate::checksum;
use crate::ip::IpProtocol;
use crate::{Error, ParseError, Result};
use core::net::Ipv4Addr;
use core::{fmt, str::FromStr};

/// Length of an IPv4 header without options.
pub const HEADER_LEN: usize = 20;

/// Length of the longest IPv4 header (IHL 15).
pub const MAX_HEADER_LEN: usize = 60;

mod field {
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLAGS_FRAG: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
}

const FLAG_DONT_FRAG: u8 = 0x40;
const FLAG_MORE_FRAGS: u8 = 0x20;
const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// A view of an IPv4 packet.
///
/// `new_checked` guarantees: the buffer holds the header (options included), the version is 4,
/// and `header_len <= total_len <= buffer length`. The buffer may be longer than `total_len`
/// (Ethernet padding): [`payload`](Packet::payload) stops at `total_len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; accessors panic if it is shorter than 20 bytes.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer that holds a whole, consistent IPv4 packet (see [`Packet`]).
    ///
    /// `Err(Truncated)` if the buffer is shorter than the header or `total_len`;
    /// `Err(Malformed)` if the version is not 4, IHL < 5, or `total_len < header_len`.
    /// The header checksum is not verified: call [`verify_checksum`](Self::verify_checksum).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Wraps the copy of a packet that an ICMP error quotes: its header must be whole, but its
    /// payload is cut short, so `total_len` may exceed the buffer and
    /// [`payload`](Self::payload) returns what is there. Errors as [`new_checked`](Self::new_checked).
    #[inline]
    pub fn new_quoted(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_header()?;
        Ok(packet)
    }

    /// Checks what [`new_checked`](Self::new_checked) checks.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        self.check_header()?;
        if self.buffer.as_ref().len() < usize::from(self.total_len()) {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    #[inline]
    fn check_header(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if self.version() != 4 || usize::from(self.header_len()) < HEADER_LEN {
            return Err(Error::Malformed);
        }
        if len < usize::from(self.header_len()) {
            return Err(Error::Truncated);
        }
        if self.total_len() < u16::from(self.header_len()) {
            return Err(Error::Malformed);
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

    /// The version field (4 in a checked packet).
    #[inline]
    pub fn version(&self) -> u8 {
        self.header()[field::VER_IHL] >> 4
    }

    /// The header length in bytes, options included (IHL × 4).
    #[inline]
    pub fn header_len(&self) -> u8 {
        (self.header()[field::VER_IHL] & 0x0f) * 4
    }

    /// The differentiated services code point.
    #[inline]
    pub fn dscp(&self) -> u8 {
        self.header()[field::DSCP_ECN] >> 2
    }

    /// The explicit congestion notification bits.
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.header()[field::DSCP_ECN] & 0x03
    }

    /// The length of the packet, header included.
    #[inline]
    pub fn total_len(&self) -> u16 {
        get_u16(self.header(), field::LENGTH)
    }

    /// The identification of the datagram that fragments share.
    #[inline]
    pub fn ident(&self) -> u16 {
        get_u16(self.header(), field::IDENT)
    }

    /// The "don't fragment" flag.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.header()[field::FLAGS_FRAG] & FLAG_DONT_FRAG != 0
    }

    /// The "more fragments" flag.
    #[inline]
    pub fn more_frags(&self) -> bool {
        self.header()[field::FLAGS_FRAG] & FLAG_MORE_FRAGS != 0
    }

    /// The offset of this fragment in the datagram, in bytes.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (get_u16(self.header(), field::FLAGS_FRAG) & FRAG_OFFSET_MASK) << 3
    }

    /// Whether this packet is a fragment (more fragments follow, or it is not the first):
    /// only the first fragment carries the transport header.
    #[inline]
    pub fn is_fragment(&self) -> bool {
        get_u16(self.header(), field::FLAGS_FRAG)
            & (u16::from(FLAG_MORE_FRAGS) << 8 | FRAG_OFFSET_MASK)
            != 0
    }

    /// The time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.header()[field::TTL]
    }

    /// The protocol of the payload.
    #[inline]
    pub fn protocol(&self) -> IpProtocol {
        IpProtocol(self.header()[field::PROTOCOL])
    }

    /// The header checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        get_u16(self.header(), field::CHECKSUM)
    }

    /// The source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        get_ipv4(self.header(), field::SRC)
    }

    /// The destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        get_ipv4(self.header(), field::DST)
    }

    /// The options: the header bytes after the first 20.
    #[inline]
    pub fn options(&self) -> &[u8] {
        clamped(self.buffer.as_ref(), HEADER_LEN, self.header_len().into())
    }

    /// The payload: from the end of the header to `total_len` (shorter if a quoted packet was
    /// cut).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        clamped(
            self.buffer.as_ref(),
            self.header_len().into(),
            self.total_len().into(),
        )
    }

    /// Whether the header checksum is right.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::data(clamped(self.buffer.as_ref(), 0, self.header_len().into())) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline(always)]
    fn header_mut(&mut self) -> &mut [u8; HEADER_LEN] {
        head_mut(self.buffer.as_mut())
    }

    /// Sets the version field.
    #[inline]
    pub fn set_version(&mut self, version: u8) {
        let byte = &mut self.header_mut()[field::VER_IHL];
        *byte = (*byte & 0x0f) | (version << 4);
    }

    /// Sets the header length in bytes (a multiple of 4 from 20 to 60; the low 2 bits and
    /// anything above 60 are dropped).
    #[inline]
    pub fn set_header_len(&mut self, len: u8) {
        let byte = &mut self.header_mut()[field::VER_IHL];
        *byte = (*byte & 0xf0) | ((len / 4) & 0x0f);
    }

    /// Sets the differentiated services code point (6 bits).
    #[inline]
    pub fn set_dscp(&mut self, dscp: u8) {
        let byte = &mut self.header_mut()[field::DSCP_ECN];
        *byte = (*byte & 0x03) | (dscp << 2);
    }

    /// Sets the explicit congestion notification bits (2 bits).
    #[inline]
    pub fn set_ecn(&mut self, ecn: u8) {
        let byte = &mut self.header_mut()[field::DSCP_ECN];
        *byte = (*byte & !0x03) | (ecn & 0x03);
    }

    /// Sets the total length.
    #[inline]
    pub fn set_total_len(&mut self, len: u16) {
        set_u16(self.header_mut(), field::LENGTH, len);
    }

    /// Sets the identification.
    #[inline]
    pub fn set_ident(&mut self, ident: u16) {
        set_u16(self.header_mut(), field::IDENT, ident);
    }

    /// Clears the flags and the fragment offset.
    #[inline]
    pub fn clear_flags(&mut self) {
        set_u16(self.header_mut(), field::FLAGS_FRAG, 0);
    }

    /// Sets the "don't fragment" flag.
    #[inline]
    pub fn set_dont_frag(&mut self, on: bool) {
        set_bit(
            &mut self.header_mut()[field::FLAGS_FRAG],
            FLAG_DONT_FRAG,
            on,
        );
    }

    /// Sets the "more fragments" flag.
    #[inline]
    pub fn set_more_frags(&mut self, on: bool) {
        set_bit(
            &mut self.header_mut()[field::FLAGS_FRAG],
            FLAG_MORE_FRAGS,
            on,
        );
    }

    /// Sets the fragment offset, in bytes (a multiple of 8; the low 3 bits are dropped).
    #[inline]
    pub fn set_frag_offset(&mut self, offset: u16) {
        let header = self.header_mut();
        let flags = get_u16(header, field::FLAGS_FRAG) & !FRAG_OFFSET_MASK;
        set_u16(header, field::FLAGS_FRAG, flags | (offset >> 3));
    }

    /// Sets the time to live (the checksum is not updated: see
    /// [`decrement_ttl`](Self::decrement_ttl)).
    #[inline]
    pub fn set_ttl(&mut self, ttl: u8) {
        self.header_mut()[field::TTL] = ttl;
    }

    /// Sets the protocol of the payload.
    #[inline]
    pub fn set_protocol(&mut self, protocol: IpProtocol) {
        self.header_mut()[field::PROTOCOL] = protocol.0;
    }

    /// Sets the header checksum field.
    #[inline]
    pub fn set_checksum(&mut self, checksum: u16) {
        set_u16(self.header_mut(), field::CHECKSUM, checksum);
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: Ipv4Addr) {
        set_bytes(self.header_mut(), field::SRC, &addr.octets());
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) {
        set_bytes(self.header_mut(), field::DST, &addr.octets());
    }

    /// Computes the header checksum and writes it.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let header_len = self.header_len().into();
        let sum = checksum::data(clamped(self.buffer.as_ref(), 0, header_len));
        self.set_checksum(checksum::finish(sum));
    }

    /// Decrements the TTL of a packet being forwarded, updating the header checksum
    /// incrementally (RFC 1624): a right checksum stays right, a wrong one stays wrong.
    ///
    /// Returns `false`, leaving the packet untouched, when the TTL is 0 or 1: the packet has
    /// expired in transit and must not be forwarded; answer with an ICMP Time Exceeded
    /// (RFC 1812 §5.3.1).
    #[inline]
    #[must_use = "a packet whose TTL could not be decremented must not be forwarded"]
    pub fn decrement_ttl(&mut self) -> bool {
        let header = self.header_mut();
        let ttl = header[field::TTL];
        if ttl <= 1 {
            return false;
        }
        // TTL is the high byte of the 16-bit word it shares with the protocol.
        let old_word = get_u16(header, field::TTL);
        let new_word = old_word - 0x0100;
        header[field::TTL] = ttl - 1;
        let old_checksum = get_u16(header, field::CHECKSUM);
        set_u16(
            header,
            field::CHECKSUM,
            checksum::update_u16(old_checksum, old_word, new_word),
        );
        true
    }

    /// The options, to write.
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let header_len = self.header_len().into();
        clamped_mut(self.buffer.as_mut(), HEADER_LEN, header_len)
    }

    /// The payload, to write.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (start, end) = (self.header_len().into(), self.total_len().into());
        clamped_mut(self.buffer.as_mut(), start, end)
    }
}

/// The meaning of an IPv4 header, as far as podwire builds packets: no options, no
/// fragmentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    /// The source address.
    pub src_addr: Ipv4Addr,
    /// The destination address.
    pub dst_addr: Ipv4Addr,
    /// The protocol of the payload.
    pub protocol: IpProtocol,
    /// The payload length, in bytes.
    pub payload_len: usize,
    /// The time to live.
    pub ttl: u8,
    /// The DSCP (high 6 bits) and ECN (low 2 bits) byte.
    pub dscp_ecn: u8,
}

impl Ipv4Repr {
    /// Reads the header of a checked, whole packet and verifies its checksum
    /// (`Err(Checksum)`). Options are skipped; fragmentation fields are not kept.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Self> {
        packet.check_len()?;
        if !packet.verify_checksum() {
            return Err(Error::Checksum);
        }
        Ok(Self::from_header(packet))
    }

    /// Reads the fields of a header that has been checked (whole, or quoted).
    pub(crate) fn from_header<T: AsRef<[u8]>>(packet: &Packet<T>) -> Self {
        Self {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len: usize::from(
                packet
                    .total_len()
                    .saturating_sub(packet.header_len().into()),
            ),
            ttl: packet.ttl(),
            dscp_ecn: packet.header()[field::DSCP_ECN],
        }
    }

    /// The number of bytes [`emit`](Self::emit) writes: the header, 20.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes a 20-byte header, checksum included, with identification 0 and "don't fragment"
    /// set (an atomic datagram, RFC 6864). The payload is the caller's to write, after it.
    ///
    /// `Err(Truncated)` if the buffer is shorter than 20 bytes; `Err(Malformed)` if
    /// `payload_len` does not fit in a 16-bit total length.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) -> Result<()> {
        if packet.buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let total_len =
            u16::try_from(HEADER_LEN + self.payload_len).map_err(|_| Error::Malformed)?;
        let header = packet.header_mut();
        header[field::VER_IHL] = 0x45;
        header[field::DSCP_ECN] = self.dscp_ecn;
        packet.set_total_len(total_len);
        packet.set_ident(0);
        packet.clear_flags();
        packet.set_dont_frag(true);
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        packet.fill_checksum();
        Ok(())
    }
}

/// An IPv4 address with a prefix length: `10.1.2.3/24` (an interface address) or
/// `10.0.0.0/8` (a block).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv4Cidr {
    address: Ipv4Addr,
    prefix_len: u8,
}

impl Ipv4Cidr {
    /// The CIDR of `address` with `prefix_len` leading bits: `Err` if `prefix_len > 32`.
    /// The address may have host bits set; [`network`](Self::network) clears them.
    #[inline]
    pub const fn new(address: Ipv4Addr, prefix_len: u8) -> core::result::Result<Self, ParseError> {
        if prefix_len > 32 {
            return Err(ParseError::CidrPrefixLen { max: 32 });
        }
        Ok(Self {
            address,
            prefix_len,
        })
    }

    /// The address, host bits included.
    #[inline]
    pub const fn address(&self) -> Ipv4Addr {
        self.address
    }

    /// The number of leading bits that name the network.
    #[inline]
    pub const fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// The netmask: `255.255.255.0` for a /24.
    #[inline]
    pub const fn netmask(&self) -> Ipv4Addr {
        Ipv4Addr::from_bits(self.mask())
    }

    /// The block this address is in: the address with its host bits cleared.
    #[inline]
    pub const fn network(&self) -> Self {
        Self {
            address: Ipv4Addr::from_bits(self.address.to_bits() & self.mask()),
            prefix_len: self.prefix_len,
        }
    }

    /// Whether `addr` is in the block.
    #[inline]
    pub const fn contains(&self, addr: Ipv4Addr) -> bool {
        (addr.to_bits() ^ self.address.to_bits()) & self.mask() == 0
    }

    #[inline]
    const fn mask(&self) -> u32 {
        match self.prefix_len {
            0 => 0,
            len => u32::MAX << (32 - len),
        }
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix_len)
    }
}

impl FromStr for Ipv4Cidr {
    type Err = ParseError;

    /// Parses `10.0.0.0/8`.
    fn from_str(text: &str) -> core::result::Result<Self, ParseError> {
        let (address, prefix_len) = crate::cidr::parse(text, 32)?;
        Self::new(address, prefix_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{IpNumber, Ipv4Header, PacketBuilder};
    use proptest::prelude::*;

    const SRC: [u8; 4] = [10, 0, 0, 1];
    const DST: [u8; 4] = [192, 168, 100, 200];

    fn udp_packet(payload: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::new();
        PacketBuilder::ipv4(SRC, DST, 64)
            .udp(5353, 53)
            .write(&mut bytes, payload)
            .unwrap();
        bytes
    }

    #[test]
    fn reads_a_packet_built_by_etherparse() {
        let mut bytes = udp_packet(b"hello");
        bytes.extend_from_slice(&[0; 6]); // Ethernet padding after the packet
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(packet.version(), 4);
        assert_eq!(packet.header_len(), 20);
        assert_eq!(packet.total_len(), 20 + 8 + 5);
        assert_eq!(packet.ttl(), 64);
        assert_eq!(packet.protocol(), IpProtocol::UDP);
        assert_eq!(packet.src_addr(), Ipv4Addr::from(SRC));
        assert_eq!(packet.dst_addr(), Ipv4Addr::from(DST));
        assert!(packet.dont_frag());
        assert!(!packet.more_frags());
        assert!(!packet.is_fragment());
        assert!(packet.options().is_empty());
        assert_eq!(packet.payload(), &bytes[20..33]);
        assert!(packet.verify_checksum());
        assert_eq!(
            Ipv4Repr::parse(&packet),
            Ok(Ipv4Repr {
                src_addr: Ipv4Addr::from(SRC),
                dst_addr: Ipv4Addr::from(DST),
                protocol: IpProtocol::UDP,
                payload_len: 13,
                ttl: 64,
                dscp_ecn: 0,
            })
        );
    }

    #[test]
    fn reads_every_field_of_a_header_with_options() {
        let mut header = Ipv4Header::new(4, 9, IpNumber::TCP, SRC, DST).unwrap();
        header.dscp = etherparse::IpDscp::try_new(46).unwrap();
        header.ecn = etherparse::IpEcn::try_new(1).unwrap();
        header.identification = 0xbeef;
        header.dont_fragment = false;
        header.more_fragments = true;
        header.fragment_offset = etherparse::IpFragOffset::try_new(185).unwrap();
        header.options = [1, 1, 1, 0, 7, 7, 7, 7].into();
        header.total_len = header.header_len() as u16 + 4;
        header.header_checksum = header.calc_header_checksum();
        let mut bytes = header.to_bytes().to_vec();
        bytes.extend_from_slice(b"data");

        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(packet.header_len(), 28);
        assert_eq!(packet.dscp(), 46);
        assert_eq!(packet.ecn(), 1);
        assert_eq!(packet.ident(), 0xbeef);
        assert!(!packet.dont_frag());
        assert!(packet.more_frags());
        assert_eq!(packet.frag_offset(), 185 * 8);
        assert!(packet.is_fragment());
        assert_eq!(packet.options(), &[1, 1, 1, 0, 7, 7, 7, 7]);
        assert_eq!(packet.payload(), b"data");
        assert_eq!(packet.checksum(), header.header_checksum);
        assert!(packet.verify_checksum());
        assert_eq!(Ipv4Repr::parse(&packet).unwrap().payload_len, 4);
    }

    #[test]
    fn setters_write_what_etherparse_reads() {
        let mut bytes = [0u8; 28];
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        packet.set_version(4);
        packet.set_header_len(24);
        packet.set_dscp(10);
        packet.set_ecn(3);
        packet.set_total_len(28);
        packet.set_ident(7);
        packet.set_more_frags(true);
        packet.set_dont_frag(true);
        packet.set_dont_frag(false);
        packet.set_frag_offset(64);
        packet.set_ttl(3);
        packet.set_protocol(IpProtocol::ICMP);
        packet.set_src_addr(Ipv4Addr::from(SRC));
        packet.set_dst_addr(Ipv4Addr::from(DST));
        packet.options_mut().copy_from_slice(&[1, 1, 1, 1]);
        packet.payload_mut().copy_from_slice(&[9, 9, 9, 9]);
        packet.fill_checksum();
        let (header, payload) = Ipv4Header::from_slice(&bytes).unwrap();
        assert_eq!(header.dscp.value(), 10);
        assert_eq!(header.ecn.value(), 3);
        assert_eq!(header.identification, 7);
        assert!(header.more_fragments && !header.dont_fragment);
        assert_eq!(header.fragment_offset.value(), 8);
        assert_eq!(header.time_to_live, 3);
        assert_eq!(header.protocol, IpNumber::ICMP);
        assert_eq!(header.options.as_slice(), &[1, 1, 1, 1]);
        assert_eq!(header.header_checksum, header.calc_header_checksum());
        assert_eq!(payload, &[9, 9, 9, 9]);
    }

    #[test]
    fn emitted_header_is_read_back_by_etherparse() {
        let repr = Ipv4Repr {
            src_addr: Ipv4Addr::from(SRC),
            dst_addr: Ipv4Addr::from(DST),
            protocol: IpProtocol::TCP,
            payload_len: 100,
            ttl: 255,
            dscp_ecn: 0xb8,
        };
        let mut bytes = vec![0xaa; 120];
        repr.emit(&mut Packet::new_unchecked(&mut bytes[..]))
            .unwrap();
        let (header, _) = Ipv4Header::from_slice(&bytes).unwrap();
        assert_eq!(header.total_len, 120);
        assert_eq!(header.time_to_live, 255);
        assert_eq!(header.dscp.value(), 46);
        assert_eq!(header.source, SRC);
        assert_eq!(header.destination, DST);
        assert_eq!(header.protocol, IpNumber::TCP);
        assert!(header.dont_fragment);
        assert_eq!(header.header_checksum, header.calc_header_checksum());
        assert_eq!(
            Ipv4Repr::parse(&Packet::new_checked(&bytes[..]).unwrap()),
            Ok(repr)
        );
    }

    #[test]
    fn emit_refuses_what_does_not_fit() {
        let mut repr = Ipv4Repr {
            src_addr: Ipv4Addr::from(SRC),
            dst_addr: Ipv4Addr::from(DST),
            protocol: IpProtocol::UDP,
            payload_len: 65_515,
            ttl: 1,
            dscp_ecn: 0,
        };
        let mut bytes = [0u8; 20];
        assert_eq!(
            repr.emit(&mut Packet::new_unchecked(&mut bytes[..])),
            Ok(())
        );
        repr.payload_len = 65_516;
        assert_eq!(
            repr.emit(&mut Packet::new_unchecked(&mut bytes[..])),
            Err(Error::Malformed)
        );
        assert_eq!(
            repr.emit(&mut Packet::new_unchecked(&mut bytes[..19])),
            Err(Error::Truncated)
        );
    }

    #[test]
    fn bad_headers_get_the_right_error() {
        let good = udp_packet(b"abcd");
        let check = |bytes: &[u8]| Packet::new_checked(bytes).map(|_| ());
        assert_eq!(check(&good), Ok(()));
        assert_eq!(check(&good[..19]), Err(Error::Truncated));
        assert_eq!(check(&good[..good.len() - 1]), Err(Error::Truncated));

        let with = |at: usize, value: u8| {
            let mut bytes = good.clone();
            bytes[at] = value;
            bytes
        };
        assert_eq!(check(&with(0, 0x65)), Err(Error::Malformed)); // version 6
        assert_eq!(check(&with(0, 0x44)), Err(Error::Malformed)); // IHL 4
        assert_eq!(check(&with(0, 0x4f)), Err(Error::Truncated)); // IHL 15 > 32-byte buffer
        assert_eq!(check(&with(3, 19)), Err(Error::Malformed)); // total_len < header_len
        assert_eq!(check(&with(3, 200)), Err(Error::Truncated)); // total_len > buffer
        let quoted = &good[..28];
        assert_eq!(check(quoted), Err(Error::Truncated));
        let packet = Packet::new_quoted(quoted).unwrap();
        assert_eq!(packet.payload(), &good[20..28]);
        assert_eq!(Ipv4Repr::parse(&packet), Err(Error::Truncated));

        let corrupt = with(8, 63);
        let packet = Packet::new_checked(&corrupt[..]).unwrap();
        assert!(!packet.verify_checksum());
        assert_eq!(Ipv4Repr::parse(&packet), Err(Error::Checksum));
    }

    #[test]
    fn decrement_ttl_refuses_expired_packets() {
        let mut bytes = udp_packet(b"");
        for (ttl, forwarded) in [(0u8, false), (1, false), (2, true)] {
            let mut packet = Packet::new_checked(&mut bytes[..]).unwrap();
            packet.set_ttl(ttl);
            packet.fill_checksum();
            let before = packet.into_inner().to_vec();
            let mut packet = Packet::new_checked(&mut bytes[..]).unwrap();
            assert_eq!(packet.decrement_ttl(), forwarded);
            if forwarded {
                assert_eq!(packet.ttl(), ttl - 1);
                assert!(packet.verify_checksum());
            } else {
                assert_eq!(bytes, before);
            }
        }
    }

    #[test]
    fn cidr_arithmetic() {
        let cidr: Ipv4Cidr = "10.1.2.3/16".parse().unwrap();
        assert_eq!(cidr.address(), Ipv4Addr::new(10, 1, 2, 3));
        assert_eq!(cidr.prefix_len(), 16);
        assert_eq!(cidr.netmask(), Ipv4Addr::new(255, 255, 0, 0));
        assert_eq!(cidr.network().to_string(), "10.1.0.0/16");
        assert!(cidr.contains(Ipv4Addr::new(10, 1, 255, 255)));
        assert!(!cidr.contains(Ipv4Addr::new(10, 2, 0, 0)));
        let all: Ipv4Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(Ipv4Addr::BROADCAST));
        assert_eq!(all.netmask(), Ipv4Addr::UNSPECIFIED);
        let host: Ipv4Cidr = "10.0.0.7/32".parse().unwrap();
        assert!(host.contains(Ipv4Addr::new(10, 0, 0, 7)));
        assert!(!host.contains(Ipv4Addr::new(10, 0, 0, 6)));
        assert_eq!(
            Ipv4Cidr::new(Ipv4Addr::LOCALHOST, 33),
            Err(ParseError::CidrPrefixLen { max: 32 })
        );
    }

    #[test]
    fn cidr_text_errors_say_which_part_is_wrong() {
        let parse = |text: &str| text.parse::<Ipv4Cidr>();
        assert_eq!(parse("10.0.0.0"), Err(ParseError::CidrWithoutPrefixLen));
        assert_eq!(parse("10.0.0/8"), Err(ParseError::CidrAddress));
        assert_eq!(parse("fd00::/8"), Err(ParseError::CidrAddress));
        for bad in [
            "10.0.0.0/33",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/-1",
            "10.0.0.0/8/8",
            "10.0.0.0/300",
        ] {
            assert_eq!(
                parse(bad),
                Err(ParseError::CidrPrefixLen { max: 32 }),
                "{bad}"
            );
        }
    }

    fn arbitrary_header() -> impl Strategy<Value = Vec<u8>> {
        // A version-4 header of any IHL from 5 to 15, any field values, a right checksum.
        (5u8..=15, proptest::collection::vec(any::<u8>(), 60)).prop_map(|(ihl, mut bytes)| {
            let header_len = usize::from(ihl) * 4;
            bytes.truncate(header_len);
            bytes[0] = 0x40 | ihl;
            bytes[2..4].copy_from_slice(&(header_len as u16).to_be_bytes());
            let mut packet = Packet::new_unchecked(&mut bytes[..]);
            packet.fill_checksum();
            bytes
        })
    }

    proptest! {
        #[test]
        fn accessors_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            for packet in [Packet::new_checked(&bytes[..]), Packet::new_quoted(&bytes[..])].into_iter().flatten() {
                let _ = (packet.version(), packet.header_len(), packet.dscp(), packet.ecn());
                let _ = (packet.total_len(), packet.ident(), packet.dont_frag(), packet.more_frags());
                let _ = (packet.frag_offset(), packet.is_fragment(), packet.ttl(), packet.protocol());
                let _ = (packet.checksum(), packet.src_addr(), packet.dst_addr());
                let _ = (packet.options(), packet.payload(), packet.verify_checksum());
                let _ = Ipv4Repr::parse(&packet);
            }
        }

        #[test]
        fn header_checks_follow_the_rules(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let ok = bytes.len() >= 20 && {
                let header_len = usize::from(bytes[0] & 0x0f) * 4;
                let total_len = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
                bytes[0] >> 4 == 4 && header_len >= 20 && header_len <= total_len && total_len <= bytes.len()
            };
            prop_assert_eq!(Packet::new_checked(&bytes[..]).is_ok(), ok);
        }

        #[test]
        fn decrement_ttl_equals_full_recomputation(mut bytes in arbitrary_header()) {
            let mut packet = Packet::new_checked(&mut bytes[..]).unwrap();
            let ttl = packet.ttl();
            prop_assert_eq!(packet.decrement_ttl(), ttl > 1);
            let incremental = packet.checksum();
            packet.fill_checksum();
            prop_assert_eq!(incremental, packet.checksum());
            prop_assert!(packet.verify_checksum());
        }

        #[test]
        fn parse_inverts_emit(
            src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(), protocol in any::<u8>(),
            payload_len in 0usize..100, ttl in any::<u8>(), dscp_ecn in any::<u8>(),
        ) {
            let repr = Ipv4Repr {
                src_addr: src.into(), dst_addr: dst.into(), protocol: IpProtocol(protocol),
                payload_len, ttl, dscp_ecn,
            };
            let mut bytes = vec![0u8; repr.buffer_len() + payload_len];
            repr.emit(&mut Packet::new_unchecked(&mut bytes[..])).unwrap();
            prop_assert_eq!(Ipv4Repr::parse(&Packet::new_checked(&bytes[..]).unwrap()), Ok(repr));
        }

        #[test]
        fn cidr_text_round_trips(addr in any::<[u8; 4]>(), prefix_len in 0u8..=32) {
            let cidr = Ipv4Cidr::new(addr.into(), prefix_len).unwrap();
            prop_assert_eq!(cidr.to_string().parse(), Ok(cidr));
            prop_assert!(cidr.contains(cidr.address()));
            prop_assert!(cidr.network().contains(cidr.address()));
        }
    }
}
