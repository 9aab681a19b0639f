//! IPv6 (RFC 8200): packets, their meaning, CIDR blocks and the addresses neighbor discovery
//! derives.
//!
//! Extension headers are not walked here: [`Packet::next_header`] names the first one, and
//! [`Packet::payload`] starts at it.

use crate::bytes::{
    clamped, clamped_mut, get_ipv6, get_u16, get_u32, head, head_mut, set_bytes, set_u16, set_u32,
};
use crate::ethernet::EthernetAddress;
use crate::ip::IpProtocol;
use crate::{Error, ParseError, Result};
use core::net::Ipv6Addr;
use core::{fmt, str::FromStr};

/// Length of the IPv6 header.
pub const HEADER_LEN: usize = 40;

/// The link-local all-nodes multicast address `ff02::1`.
pub const LINK_LOCAL_ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// The link-local all-routers multicast address `ff02::2`.
pub const LINK_LOCAL_ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);

mod field {
    pub const VER_TC_FLOW: usize = 0;
    pub const LENGTH: usize = 4;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: usize = 8;
    pub const DST: usize = 24;
}

const FLOW_LABEL_MASK: u32 = 0x000f_ffff;

/// A view of an IPv6 packet.
///
/// `new_checked` guarantees: the buffer holds the 40-byte header, the version is 6, and
/// `40 + payload_len <= buffer length`. The buffer may be longer (Ethernet padding):
/// [`payload`](Packet::payload) stops at `payload_len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; accessors panic if it is shorter than 40 bytes.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer that holds a whole IPv6 packet (see [`Packet`]).
    ///
    /// `Err(Truncated)` if the buffer is shorter than the header or than `payload_len`
    /// announces; `Err(Malformed)` if the version is not 6.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Wraps the copy of a packet that an ICMPv6 error quotes: the header must be whole, the
    /// payload may be cut short ([`payload`](Self::payload) returns what is there).
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
        if self.buffer.as_ref().len() < HEADER_LEN + usize::from(self.payload_len()) {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    #[inline]
    fn check_header(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if self.version() != 6 {
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

    #[inline(always)]
    fn first_word(&self) -> u32 {
        get_u32(self.header(), field::VER_TC_FLOW)
    }

    /// The version field (6 in a checked packet).
    #[inline]
    pub fn version(&self) -> u8 {
        self.header()[field::VER_TC_FLOW] >> 4
    }

    /// The traffic class (DSCP and ECN).
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        (self.first_word() >> 20) as u8
    }

    /// The 20-bit flow label.
    #[inline]
    pub fn flow_label(&self) -> u32 {
        self.first_word() & FLOW_LABEL_MASK
    }

    /// The length of what follows the 40-byte header, extension headers included.
    #[inline]
    pub fn payload_len(&self) -> u16 {
        get_u16(self.header(), field::LENGTH)
    }

    /// The type of the header after this one.
    #[inline]
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol(self.header()[field::NEXT_HEADER])
    }

    /// The hop limit.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.header()[field::HOP_LIMIT]
    }

    /// The source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv6Addr {
        get_ipv6(self.header(), field::SRC)
    }

    /// The destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv6Addr {
        get_ipv6(self.header(), field::DST)
    }

    /// What follows the header, bounded by `payload_len` (shorter if a quoted packet was cut).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        clamped(
            self.buffer.as_ref(),
            HEADER_LEN,
            HEADER_LEN + usize::from(self.payload_len()),
        )
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline(always)]
    fn header_mut(&mut self) -> &mut [u8; HEADER_LEN] {
        head_mut(self.buffer.as_mut())
    }

    #[inline(always)]
    fn set_first_word(&mut self, keep: u32, value: u32) {
        let word = (self.first_word() & keep) | (value & !keep);
        set_u32(self.header_mut(), field::VER_TC_FLOW, word);
    }

    /// Sets the version field.
    #[inline]
    pub fn set_version(&mut self, version: u8) {
        self.set_first_word(0x0fff_ffff, u32::from(version) << 28);
    }

    /// Sets the traffic class.
    #[inline]
    pub fn set_traffic_class(&mut self, traffic_class: u8) {
        self.set_first_word(0xf00f_ffff, u32::from(traffic_class) << 20);
    }

    /// Sets the flow label; only its low 20 bits are used.
    #[inline]
    pub fn set_flow_label(&mut self, flow_label: u32) {
        self.set_first_word(!FLOW_LABEL_MASK, flow_label);
    }

    /// Sets the payload length.
    #[inline]
    pub fn set_payload_len(&mut self, len: u16) {
        set_u16(self.header_mut(), field::LENGTH, len);
    }

    /// Sets the type of the next header.
    #[inline]
    pub fn set_next_header(&mut self, next_header: IpProtocol) {
        self.header_mut()[field::NEXT_HEADER] = next_header.0;
    }

    /// Sets the hop limit.
    #[inline]
    pub fn set_hop_limit(&mut self, hop_limit: u8) {
        self.header_mut()[field::HOP_LIMIT] = hop_limit;
    }

    /// Decrements the hop limit of a packet being forwarded (IPv6 has no header checksum).
    ///
    /// Returns `false`, leaving the packet untouched, when the hop limit is 0 or 1: the packet
    /// must not be forwarded; answer with an ICMPv6 Time Exceeded (RFC 8200 §3).
    #[inline]
    #[must_use = "a packet whose hop limit could not be decremented must not be forwarded"]
    pub fn decrement_hop_limit(&mut self) -> bool {
        let hop_limit = &mut self.header_mut()[field::HOP_LIMIT];
        if *hop_limit <= 1 {
            return false;
        }
        *hop_limit -= 1;
        true
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: Ipv6Addr) {
        set_bytes(self.header_mut(), field::SRC, &addr.octets());
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: Ipv6Addr) {
        set_bytes(self.header_mut(), field::DST, &addr.octets());
    }

    /// The payload, to write.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = HEADER_LEN + usize::from(self.payload_len());
        clamped_mut(self.buffer.as_mut(), HEADER_LEN, end)
    }
}

/// The meaning of an IPv6 header, as far as podwire builds packets (flow label 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Repr {
    /// The source address.
    pub src_addr: Ipv6Addr,
    /// The destination address.
    pub dst_addr: Ipv6Addr,
    /// The type of the header after this one.
    pub next_header: IpProtocol,
    /// The length of what follows the header, in bytes.
    pub payload_len: usize,
    /// The hop limit.
    pub hop_limit: u8,
    /// The traffic class (DSCP and ECN).
    pub traffic_class: u8,
}

impl Ipv6Repr {
    /// Reads the header of a checked, whole packet (the flow label is not kept).
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Self> {
        packet.check_len()?;
        Ok(Self::from_header(packet))
    }

    /// Reads the fields of a header that has been checked (whole, or quoted).
    pub(crate) fn from_header<T: AsRef<[u8]>>(packet: &Packet<T>) -> Self {
        Self {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            payload_len: packet.payload_len().into(),
            hop_limit: packet.hop_limit(),
            traffic_class: packet.traffic_class(),
        }
    }

    /// The number of bytes [`emit`](Self::emit) writes: the header, 40.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the 40-byte header; the payload is the caller's to write, after it.
    ///
    /// `Err(Truncated)` if the buffer is shorter than 40 bytes; `Err(Malformed)` if
    /// `payload_len` does not fit in 16 bits (jumbograms are not supported).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) -> Result<()> {
        if packet.buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let payload_len = u16::try_from(self.payload_len).map_err(|_| Error::Malformed)?;
        set_u32(packet.header_mut(), field::VER_TC_FLOW, 6 << 28);
        packet.set_traffic_class(self.traffic_class);
        packet.set_payload_len(payload_len);
        packet.set_next_header(self.next_header);
        packet.set_hop_limit(self.hop_limit);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        Ok(())
    }
}

/// Whether `addr` is a link-local unicast address (`fe80::/10`).
#[inline]
pub const fn is_link_local(addr: Ipv6Addr) -> bool {
    addr.segments()[0] & 0xffc0 == 0xfe80
}

/// The solicited-node multicast address of `addr` (`ff02::1:ffXX:XXXX`, RFC 4291 §2.7.1),
/// to which neighbor solicitations for `addr` are sent.
#[inline]
pub const fn solicited_node_multicast(addr: Ipv6Addr) -> Ipv6Addr {
    let low24 = addr.to_bits() & 0x00ff_ffff;
    Ipv6Addr::from_bits(0xff02_0000_0000_0000_0000_0001_ff00_0000 | low24)
}

/// The Ethernet address that frames to the multicast `addr` go to (`33:33` followed by the
/// low 32 bits of the address, RFC 2464 §7).
#[inline]
pub const fn multicast_mac(addr: Ipv6Addr) -> EthernetAddress {
    let [.., a, b, c, d] = addr.octets();
    EthernetAddress([0x33, 0x33, a, b, c, d])
}

/// An IPv6 address with a prefix length: `fd00::5/64` or `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv6Cidr {
    address: Ipv6Addr,
    prefix_len: u8,
}

impl Ipv6Cidr {
    /// The CIDR of `address` with `prefix_len` leading bits: `Err` if `prefix_len > 128`.
    /// The address may have host bits set; [`network`](Self::network) clears them.
    #[inline]
    pub const fn new(address: Ipv6Addr, prefix_len: u8) -> core::result::Result<Self, ParseError> {
        if prefix_len > 128 {
            return Err(ParseError::CidrPrefixLen { max: 128 });
        }
        Ok(Self {
            address,
            prefix_len,
        })
    }

    /// The address, host bits included.
    #[inline]
    pub const fn address(&self) -> Ipv6Addr {
        self.address
    }

    /// The number of leading bits that name the network.
    #[inline]
    pub const fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// The block this address is in: the address with its host bits cleared.
    #[inline]
    pub const fn network(&self) -> Self {
        Self {
            address: Ipv6Addr::from_bits(self.address.to_bits() & self.mask()),
            prefix_len: self.prefix_len,
        }
    }

    /// Whether `addr` is in the block.
    #[inline]
    pub const fn contains(&self, addr: Ipv6Addr) -> bool {
        (addr.to_bits() ^ self.address.to_bits()) & self.mask() == 0
    }

    #[inline]
    const fn mask(&self) -> u128 {
        match self.prefix_len {
            0 => 0,
            len => u128::MAX << (128 - len),
        }
    }
}

impl fmt::Display for Ipv6Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix_len)
    }
}

impl FromStr for Ipv6Cidr {
    type Err = ParseError;

    /// Parses `fd00::/8`.
    fn from_str(text: &str) -> core::result::Result<Self, ParseError> {
        let (address, prefix_len) = crate::cidr::parse(text, 128)?;
        Self::new(address, prefix_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{IpNumber, Ipv6FlowLabel, Ipv6Header, PacketBuilder};
    use proptest::prelude::*;

    fn addr(text: &str) -> Ipv6Addr {
        text.parse().unwrap()
    }

    #[test]
    fn reads_a_packet_built_by_etherparse() {
        let header = Ipv6Header {
            traffic_class: 0xb8,
            flow_label: Ipv6FlowLabel::try_new(0xabcde).unwrap(),
            payload_length: 8 + 3,
            next_header: IpNumber::UDP,
            hop_limit: 17,
            source: addr("fd00::1").octets(),
            destination: addr("fe80::2").octets(),
        };
        let mut bytes = Vec::new();
        PacketBuilder::ip(etherparse::IpHeaders::Ipv6(header, Default::default()))
            .udp(1, 2)
            .write(&mut bytes, b"abc")
            .unwrap();
        bytes.extend_from_slice(&[0; 4]); // padding after the packet
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(packet.version(), 6);
        assert_eq!(packet.traffic_class(), 0xb8);
        assert_eq!(packet.flow_label(), 0xabcde);
        assert_eq!(packet.payload_len(), 11);
        assert_eq!(packet.next_header(), IpProtocol::UDP);
        assert_eq!(packet.hop_limit(), 17);
        assert_eq!(packet.src_addr(), addr("fd00::1"));
        assert_eq!(packet.dst_addr(), addr("fe80::2"));
        assert_eq!(packet.payload(), &bytes[40..51]);
        assert_eq!(
            Ipv6Repr::parse(&packet),
            Ok(Ipv6Repr {
                src_addr: addr("fd00::1"),
                dst_addr: addr("fe80::2"),
                next_header: IpProtocol::UDP,
                payload_len: 11,
                hop_limit: 17,
                traffic_class: 0xb8,
            })
        );
    }

    #[test]
    fn written_header_is_read_back_by_etherparse() {
        let repr = Ipv6Repr {
            src_addr: addr("2001:db8::1"),
            dst_addr: addr("ff02::1:ff00:2"),
            next_header: IpProtocol::ICMPV6,
            payload_len: 4,
            hop_limit: 255,
            traffic_class: 3,
        };
        let mut bytes = [0xffu8; 44];
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        repr.emit(&mut packet).unwrap();
        packet.set_flow_label(0x12345);
        packet.payload_mut().copy_from_slice(b"ndp!");
        let (header, rest) = Ipv6Header::from_slice(&bytes).unwrap();
        assert_eq!(header.traffic_class, 3);
        assert_eq!(header.flow_label.value(), 0x12345);
        assert_eq!(header.payload_length, 4);
        assert_eq!(header.next_header, IpNumber::IPV6_ICMP);
        assert_eq!(header.hop_limit, 255);
        assert_eq!(header.source, addr("2001:db8::1").octets());
        assert_eq!(header.destination, addr("ff02::1:ff00:2").octets());
        assert_eq!(rest, b"ndp!");
    }

    #[test]
    fn first_word_setters_leave_their_neighbours_alone() {
        let mut bytes = [0u8; 40];
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        packet.set_flow_label(u32::MAX);
        packet.set_traffic_class(0xa5);
        packet.set_version(6);
        assert_eq!(
            (
                packet.version(),
                packet.traffic_class(),
                packet.flow_label()
            ),
            (6, 0xa5, 0xfffff)
        );
        packet.set_flow_label(0);
        packet.set_traffic_class(0);
        assert_eq!(
            (
                packet.version(),
                packet.traffic_class(),
                packet.flow_label()
            ),
            (6, 0, 0)
        );
    }

    #[test]
    fn bad_headers_get_the_right_error() {
        let mut good = [0u8; 48];
        let mut packet = Packet::new_unchecked(&mut good[..]);
        packet.set_version(6);
        packet.set_payload_len(8);
        assert!(Packet::new_checked(&good[..]).is_ok());
        assert_eq!(Packet::new_checked(&good[..39]), Err(Error::Truncated));
        assert_eq!(Packet::new_checked(&good[..47]), Err(Error::Truncated));
        assert_eq!(
            Packet::new_quoted(&good[..47]).map(|p| p.payload().len()),
            Ok(7)
        );
        assert_eq!(
            Ipv6Repr::parse(&Packet::new_unchecked(&good[..47])),
            Err(Error::Truncated)
        );
        good[0] = 0x40;
        assert_eq!(Packet::new_checked(&good[..]), Err(Error::Malformed));
        let repr = Ipv6Repr {
            src_addr: Ipv6Addr::UNSPECIFIED,
            dst_addr: Ipv6Addr::LOCALHOST,
            next_header: IpProtocol::IPV6_NONXT,
            payload_len: 65_536,
            hop_limit: 1,
            traffic_class: 0,
        };
        assert_eq!(
            repr.emit(&mut Packet::new_unchecked(&mut good[..])),
            Err(Error::Malformed)
        );
        assert_eq!(
            repr.emit(&mut Packet::new_unchecked(&mut good[..39])),
            Err(Error::Truncated)
        );
    }

    #[test]
    fn decrement_hop_limit_refuses_expired_packets() {
        let mut bytes = [0u8; 40];
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        packet.set_hop_limit(2);
        assert!(packet.decrement_hop_limit());
        assert_eq!(packet.hop_limit(), 1);
        assert!(!packet.decrement_hop_limit());
        assert_eq!(packet.hop_limit(), 1);
    }

    #[test]
    fn neighbor_discovery_addresses() {
        assert!(is_link_local(addr("fe80::1")));
        assert!(is_link_local(addr("febf:ffff::1")));
        assert!(!is_link_local(addr("fec0::1")));
        assert!(!is_link_local(addr("fd00::1")));
        assert_eq!(
            solicited_node_multicast(addr("2001:db8::abcd:1234:5678")),
            addr("ff02::1:ff34:5678")
        );
        assert_eq!(
            multicast_mac(addr("ff02::1:ff34:5678")),
            EthernetAddress([0x33, 0x33, 0xff, 0x34, 0x56, 0x78])
        );
        assert_eq!(
            multicast_mac(LINK_LOCAL_ALL_NODES).to_string(),
            "33:33:00:00:00:01"
        );
    }

    #[test]
    fn cidr_arithmetic() {
        let cidr: Ipv6Cidr = "fd00:10:244:1::7/64".parse().unwrap();
        assert_eq!(cidr.network().to_string(), "fd00:10:244:1::/64");
        assert!(cidr.contains(addr("fd00:10:244:1:ffff::1")));
        assert!(!cidr.contains(addr("fd00:10:244:2::1")));
        assert!(
            "::/0"
                .parse::<Ipv6Cidr>()
                .unwrap()
                .contains(addr("2001:db8::1"))
        );
        let host: Ipv6Cidr = "fd00::1/128".parse().unwrap();
        assert!(host.contains(addr("fd00::1")) && !host.contains(addr("fd00::2")));
        assert_eq!(
            "fd00::/129".parse::<Ipv6Cidr>(),
            Err(ParseError::CidrPrefixLen { max: 128 })
        );
        assert_eq!(
            "10.0.0.0/8".parse::<Ipv6Cidr>(),
            Err(ParseError::CidrAddress)
        );
        assert_eq!(
            "fd00::".parse::<Ipv6Cidr>(),
            Err(ParseError::CidrWithoutPrefixLen)
        );
    }

    proptest! {
        #[test]
        fn accessors_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            for packet in [Packet::new_checked(&bytes[..]), Packet::new_quoted(&bytes[..])].into_iter().flatten() {
                let _ = (packet.version(), packet.traffic_class(), packet.flow_label());
                let _ = (packet.payload_len(), packet.next_header(), packet.hop_limit());
                let _ = (packet.src_addr(), packet.dst_addr(), packet.payload());
                let _ = Ipv6Repr::parse(&packet);
            }
        }

        #[test]
        fn parse_inverts_emit(
            src in any::<[u8; 16]>(), dst in any::<[u8; 16]>(), next_header in any::<u8>(),
            payload_len in 0usize..64, hop_limit in any::<u8>(), traffic_class in any::<u8>(),
        ) {
            let repr = Ipv6Repr {
                src_addr: src.into(), dst_addr: dst.into(), next_header: IpProtocol(next_header),
                payload_len, hop_limit, traffic_class,
            };
            let mut bytes = vec![0u8; repr.buffer_len() + payload_len];
            repr.emit(&mut Packet::new_unchecked(&mut bytes[..])).unwrap();
            prop_assert_eq!(Ipv6Repr::parse(&Packet::new_checked(&bytes[..]).unwrap()), Ok(repr));
        }

        #[test]
        fn cidr_text_round_trips(addr in any::<[u8; 16]>(), prefix_len in 0u8..=128) {
            let cidr = Ipv6Cidr::new(addr.into(), prefix_len).unwrap();
            prop_assert_eq!(cidr.to_string().parse(), Ok(cidr));
            prop_assert!(cidr.network().contains(cidr.address()));
        }

        #[test]
        fn solicited_node_keeps_the_low_24_bits(addr in any::<[u8; 16]>()) {
            let multicast = solicited_node_multicast(addr.into()).octets();
            prop_assert_eq!(&multicast[13..], &addr[13..]);
            prop_assert_eq!(&multicast[..13], &[0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff]);
        }
    }
}
