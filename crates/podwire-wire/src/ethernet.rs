//! Ethernet II frames (IEEE 802.3 with an EtherType), addresses and EtherTypes.

use crate::bytes::{get_array, get_u16, head, head_mut, set_bytes, set_u16};
use crate::{Error, ParseError, Result};
use core::{fmt, str::FromStr};

/// Length of the Ethernet header: destination, source, EtherType.
pub const HEADER_LEN: usize = 14;

/// A 48-bit IEEE 802 MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct EthernetAddress(pub [u8; 6]);

impl EthernetAddress {
    /// The broadcast address `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: Self = Self([0xff; 6]);

    /// The address as bytes, in wire order.
    #[inline]
    pub const fn as_bytes(&self) -> &[u8; 6] {
        &self.0
    }

    /// Whether this is the broadcast address.
    #[inline]
    pub const fn is_broadcast(&self) -> bool {
        matches!(self.0, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
    }

    /// Whether the group bit is set (broadcast is a multicast address too).
    #[inline]
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// Whether this addresses one station (the group bit is clear).
    #[inline]
    pub const fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }

    /// Whether the locally-administered bit is set, as it is in addresses podwire makes up.
    #[inline]
    pub const fn is_local(&self) -> bool {
        self.0[0] & 0x02 != 0
    }
}

impl fmt::Display for EthernetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl FromStr for EthernetAddress {
    type Err = ParseError;

    /// Parses `aa:bb:cc:dd:ee:ff` (either letter case).
    fn from_str(text: &str) -> core::result::Result<Self, ParseError> {
        let mut octets = [0u8; 6];
        let mut parts = text.split(':');
        for octet in &mut octets {
            let part = parts.next().ok_or(ParseError::EthernetAddress)?;
            if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ParseError::EthernetAddress);
            }
            *octet = u8::from_str_radix(part, 16).map_err(|_| ParseError::EthernetAddress)?;
        }
        match parts.next() {
            None => Ok(Self(octets)),
            Some(_) => Err(ParseError::EthernetAddress),
        }
    }
}

impl From<[u8; 6]> for EthernetAddress {
    #[inline]
    fn from(octets: [u8; 6]) -> Self {
        Self(octets)
    }
}

/// An EtherType: the protocol of an Ethernet payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EtherType(pub u16);

impl EtherType {
    /// Internet Protocol version 4.
    pub const IPV4: Self = Self(0x0800);
    /// Address Resolution Protocol.
    pub const ARP: Self = Self(0x0806);
    /// Internet Protocol version 6.
    pub const IPV6: Self = Self(0x86dd);
    /// IEEE 802.1Q VLAN tag (customer tag).
    pub const VLAN: Self = Self(0x8100);
    /// IEEE 802.1ad service tag (outer tag of Q-in-Q).
    pub const QINQ: Self = Self(0x88a8);
}

impl fmt::Display for EtherType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::IPV4 => f.write_str("ipv4"),
            Self::ARP => f.write_str("arp"),
            Self::IPV6 => f.write_str("ipv6"),
            Self::VLAN => f.write_str("vlan"),
            Self::QINQ => f.write_str("qinq"),
            Self(other) => write!(f, "0x{other:04x}"),
        }
    }
}

/// A view of an Ethernet II frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<T> {
    buffer: T,
}

mod field {
    pub const DST: usize = 0;
    pub const SRC: usize = 6;
    pub const ETHERTYPE: usize = 12;
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Length of the Ethernet header.
    pub const HEADER_LEN: usize = HEADER_LEN;

    /// Wraps a buffer without checking it; accessors panic if it is shorter than the header.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer that holds at least an Ethernet header.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let frame = Self::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// Checks that the buffer holds the header: `Err(Truncated)` if it does not.
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

    /// The destination address.
    #[inline]
    pub fn dst_addr(&self) -> EthernetAddress {
        EthernetAddress(get_array(self.header(), field::DST))
    }

    /// The source address.
    #[inline]
    pub fn src_addr(&self) -> EthernetAddress {
        EthernetAddress(get_array(self.header(), field::SRC))
    }

    /// The EtherType of the payload.
    #[inline]
    pub fn ethertype(&self) -> EtherType {
        EtherType(get_u16(self.header(), field::ETHERTYPE))
    }

    /// The bytes after the header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        self.buffer.as_ref().get(HEADER_LEN..).unwrap_or_default()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    #[inline(always)]
    fn header_mut(&mut self) -> &mut [u8; HEADER_LEN] {
        head_mut(self.buffer.as_mut())
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: EthernetAddress) {
        set_bytes(self.header_mut(), field::DST, &addr.0);
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: EthernetAddress) {
        set_bytes(self.header_mut(), field::SRC, &addr.0);
    }

    /// Sets the EtherType.
    #[inline]
    pub fn set_ethertype(&mut self, ethertype: EtherType) {
        set_u16(self.header_mut(), field::ETHERTYPE, ethertype.0);
    }

    /// The bytes after the header, to write.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        self.buffer
            .as_mut()
            .get_mut(HEADER_LEN..)
            .unwrap_or_default()
    }
}

/// The meaning of an Ethernet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EthernetRepr {
    /// The sender.
    pub src_addr: EthernetAddress,
    /// The receiver.
    pub dst_addr: EthernetAddress,
    /// The protocol of the payload.
    pub ethertype: EtherType,
}

impl EthernetRepr {
    /// Reads the header of a frame.
    pub fn parse<T: AsRef<[u8]>>(frame: &Frame<T>) -> Result<Self> {
        frame.check_len()?;
        Ok(Self {
            src_addr: frame.src_addr(),
            dst_addr: frame.dst_addr(),
            ethertype: frame.ethertype(),
        })
    }

    /// The number of bytes [`emit`](Self::emit) writes.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header into a frame: `Err(Truncated)` if the buffer is too short.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, frame: &mut Frame<T>) -> Result<()> {
        frame.check_len()?;
        frame.set_src_addr(self.src_addr);
        frame.set_dst_addr(self.dst_addr);
        frame.set_ethertype(self.ethertype);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;
    use proptest::prelude::*;

    const SRC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
    const DST: [u8; 6] = [0x0a, 0xbb, 0xcc, 0xdd, 0xee, 0xff];

    #[test]
    fn reads_a_frame_built_by_etherparse() {
        let mut bytes = Vec::new();
        PacketBuilder::ethernet2(SRC, DST)
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(1000, 2000)
            .write(&mut bytes, b"hi")
            .unwrap();
        let frame = Frame::new_checked(&bytes[..]).unwrap();
        assert_eq!(frame.src_addr(), EthernetAddress(SRC));
        assert_eq!(frame.dst_addr(), EthernetAddress(DST));
        assert_eq!(frame.ethertype(), EtherType::IPV4);
        assert_eq!(frame.payload(), &bytes[14..]);
        assert_eq!(Frame::<&[u8]>::HEADER_LEN, 14);
    }

    #[test]
    fn emitted_header_is_read_back_by_etherparse() {
        let repr = EthernetRepr {
            src_addr: EthernetAddress(SRC),
            dst_addr: EthernetAddress(DST),
            ethertype: EtherType::ARP,
        };
        let mut bytes = [0u8; 20];
        let mut frame = Frame::new_unchecked(&mut bytes[..]);
        repr.emit(&mut frame).unwrap();
        frame.payload_mut().copy_from_slice(b"abcdef");
        let (header, rest) = etherparse::Ethernet2Header::from_slice(&bytes).unwrap();
        assert_eq!(header.source, SRC);
        assert_eq!(header.destination, DST);
        assert_eq!(header.ether_type, etherparse::EtherType::ARP);
        assert_eq!(rest, b"abcdef");
        assert_eq!(
            EthernetRepr::parse(&Frame::new_checked(&bytes[..]).unwrap()),
            Ok(repr)
        );
    }

    #[test]
    fn short_buffers_are_truncated() {
        assert_eq!(Frame::new_checked(&[0u8; 13][..]), Err(Error::Truncated));
        assert_eq!(
            EthernetRepr::parse(&Frame::new_unchecked(&[0u8; 3][..])),
            Err(Error::Truncated)
        );
        let repr = EthernetRepr {
            src_addr: EthernetAddress(SRC),
            dst_addr: EthernetAddress::BROADCAST,
            ethertype: EtherType::IPV6,
        };
        let mut short = [0u8; 13];
        assert_eq!(
            repr.emit(&mut Frame::new_unchecked(&mut short[..])),
            Err(Error::Truncated)
        );
        let frame = Frame::new_checked(&[0u8; 14][..]).unwrap();
        assert!(frame.payload().is_empty());
    }

    #[test]
    fn address_classes() {
        assert!(EthernetAddress::BROADCAST.is_broadcast());
        assert!(EthernetAddress::BROADCAST.is_multicast());
        assert!(EthernetAddress([0x33, 0x33, 0, 0, 0, 1]).is_multicast());
        assert!(!EthernetAddress([0x33, 0x33, 0, 0, 0, 1]).is_broadcast());
        assert!(EthernetAddress(SRC).is_unicast());
        assert!(EthernetAddress(SRC).is_local());
        assert!(!EthernetAddress([0x00, 0x1b, 0x21, 0, 0, 1]).is_local());
    }

    #[test]
    fn addresses_print_and_parse() {
        let addr = EthernetAddress(DST);
        assert_eq!(addr.to_string(), "0a:bb:cc:dd:ee:ff");
        assert_eq!("0a:BB:cc:dd:ee:ff".parse(), Ok(addr));
        for bad in [
            "",
            "0a:bb:cc:dd:ee",
            "0a:bb:cc:dd:ee:ff:00",
            "0a:bb:cc:dd:ee:f",
            "0a:bb:cc:dd:ee:fff",
            "0a:bb:cc:dd:ee:+f",
            "0a-bb-cc-dd-ee-ff",
            "0a:bb:cc:dd:ee:gg",
        ] {
            assert_eq!(
                bad.parse::<EthernetAddress>(),
                Err(ParseError::EthernetAddress),
                "{bad}"
            );
        }
    }

    #[test]
    fn ethertypes_match_the_registry() {
        assert_eq!(EtherType::IPV4.0, etherparse::EtherType::IPV4.0);
        assert_eq!(EtherType::IPV6.0, etherparse::EtherType::IPV6.0);
        assert_eq!(EtherType::ARP.0, etherparse::EtherType::ARP.0);
        assert_eq!(
            EtherType::VLAN.0,
            etherparse::EtherType::VLAN_TAGGED_FRAME.0
        );
        assert_eq!(
            EtherType::QINQ.0,
            etherparse::EtherType::PROVIDER_BRIDGING.0
        );
        assert_eq!(EtherType(0x88cc).to_string(), "0x88cc");
    }

    proptest! {
        #[test]
        fn accessors_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(frame) = Frame::new_checked(&bytes[..]) {
                let _ = (frame.dst_addr(), frame.src_addr(), frame.ethertype(), frame.payload());
                let repr = EthernetRepr::parse(&frame).unwrap();
                let mut out = vec![0u8; bytes.len()];
                out[14..].copy_from_slice(&bytes[14..]);
                repr.emit(&mut Frame::new_unchecked(&mut out[..])).unwrap();
                prop_assert_eq!(out, bytes);
            } else {
                prop_assert!(bytes.len() < 14);
            }
        }

        #[test]
        fn address_text_round_trips(octets in any::<[u8; 6]>()) {
            let addr = EthernetAddress(octets);
            prop_assert_eq!(addr.to_string().parse(), Ok(addr));
        }
    }
}
