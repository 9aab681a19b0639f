//! The Address Resolution Protocol (RFC 826).
//!
//! [`Packet`] reads any ARP packet (its address fields are as long as its length fields say);
//! [`ArpRepr`] is the Ethernet/IPv4 kind, the only one podwire answers.

use crate::bytes::{clamped, get_array, get_ipv4, get_u16, head, head_mut, set_u16};
use crate::ethernet::{EtherType, EthernetAddress};
use crate::{Error, Result};
use core::net::Ipv4Addr;

/// Length of the fixed part of an ARP header, before the addresses.
pub const FIXED_LEN: usize = 8;

/// The hardware type of Ethernet.
pub const HARDWARE_ETHERNET: u16 = 1;

mod field {
    pub const HTYPE: usize = 0;
    pub const PTYPE: usize = 2;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: usize = 6;
}

/// An ARP operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Who has this protocol address? (1)
    Request,
    /// This protocol address is at this hardware address. (2)
    Reply,
    /// Any other operation (RARP and the like).
    Unknown(u16),
}

impl From<u16> for Operation {
    #[inline]
    fn from(value: u16) -> Self {
        match value {
            1 => Operation::Request,
            2 => Operation::Reply,
            other => Operation::Unknown(other),
        }
    }
}

impl From<Operation> for u16 {
    #[inline]
    fn from(value: Operation) -> Self {
        match value {
            Operation::Request => 1,
            Operation::Reply => 2,
            Operation::Unknown(other) => other,
        }
    }
}

/// A view of an ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; accessors panic if it is shorter than the fixed
    /// part (address accessors return what the buffer holds of their address).
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer that holds the fixed part and all four addresses.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the buffer holds the fixed part and the addresses: `Err(Truncated)` if not.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < FIXED_LEN || len < self.addresses_end() {
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
    fn header(&self) -> &[u8; FIXED_LEN] {
        head(self.buffer.as_ref())
    }

    /// The hardware type (1 for Ethernet).
    #[inline]
    pub fn hardware_type(&self) -> u16 {
        get_u16(self.header(), field::HTYPE)
    }

    /// The protocol type, an EtherType (IPv4 for ARP proper).
    #[inline]
    pub fn protocol_type(&self) -> EtherType {
        EtherType(get_u16(self.header(), field::PTYPE))
    }

    /// The length of a hardware address, in bytes.
    #[inline]
    pub fn hardware_len(&self) -> u8 {
        self.header()[field::HLEN]
    }

    /// The length of a protocol address, in bytes.
    #[inline]
    pub fn protocol_len(&self) -> u8 {
        self.header()[field::PLEN]
    }

    /// The operation.
    #[inline]
    pub fn operation(&self) -> Operation {
        Operation::from(get_u16(self.header(), field::OPER))
    }

    /// The sender's hardware address.
    #[inline]
    pub fn source_hardware_addr(&self) -> &[u8] {
        let (start, end) = self.source_hardware_range();
        clamped(self.buffer.as_ref(), start, end)
    }

    /// The sender's protocol address.
    #[inline]
    pub fn source_protocol_addr(&self) -> &[u8] {
        let (start, end) = self.source_protocol_range();
        clamped(self.buffer.as_ref(), start, end)
    }

    /// The target's hardware address.
    #[inline]
    pub fn target_hardware_addr(&self) -> &[u8] {
        let (start, end) = self.target_hardware_range();
        clamped(self.buffer.as_ref(), start, end)
    }

    /// The target's protocol address.
    #[inline]
    pub fn target_protocol_addr(&self) -> &[u8] {
        let (start, end) = self.target_protocol_range();
        clamped(self.buffer.as_ref(), start, end)
    }

    // The four addresses follow each other: sender hardware, sender protocol, target hardware,
    // target protocol.
    #[inline(always)]
    fn source_hardware_range(&self) -> (usize, usize) {
        (FIXED_LEN, FIXED_LEN + usize::from(self.hardware_len()))
    }

    #[inline(always)]
    fn source_protocol_range(&self) -> (usize, usize) {
        let start = self.source_hardware_range().1;
        (start, start + usize::from(self.protocol_len()))
    }

    #[inline(always)]
    fn target_hardware_range(&self) -> (usize, usize) {
        let start = self.source_protocol_range().1;
        (start, start + usize::from(self.hardware_len()))
    }

    #[inline(always)]
    fn target_protocol_range(&self) -> (usize, usize) {
        let start = self.target_hardware_range().1;
        (start, start + usize::from(self.protocol_len()))
    }

    #[inline(always)]
    fn addresses_end(&self) -> usize {
        self.target_protocol_range().1
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline(always)]
    fn header_mut(&mut self) -> &mut [u8; FIXED_LEN] {
        head_mut(self.buffer.as_mut())
    }

    /// Sets the hardware type.
    #[inline]
    pub fn set_hardware_type(&mut self, value: u16) {
        set_u16(self.header_mut(), field::HTYPE, value);
    }

    /// Sets the protocol type.
    #[inline]
    pub fn set_protocol_type(&mut self, value: EtherType) {
        set_u16(self.header_mut(), field::PTYPE, value.0);
    }

    /// Sets the length of a hardware address; set it before the addresses.
    #[inline]
    pub fn set_hardware_len(&mut self, value: u8) {
        self.header_mut()[field::HLEN] = value;
    }

    /// Sets the length of a protocol address; set it before the addresses.
    #[inline]
    pub fn set_protocol_len(&mut self, value: u8) {
        self.header_mut()[field::PLEN] = value;
    }

    /// Sets the operation.
    #[inline]
    pub fn set_operation(&mut self, value: Operation) {
        set_u16(self.header_mut(), field::OPER, value.into());
    }

    /// Sets the sender's hardware address.
    ///
    /// # Panics
    /// If `addr` is not [`hardware_len`](Packet::hardware_len) bytes long.
    #[inline]
    pub fn set_source_hardware_addr(&mut self, addr: &[u8]) {
        let (start, end) = self.source_hardware_range();
        self.buffer.as_mut()[start..end].copy_from_slice(addr);
    }

    /// Sets the sender's protocol address.
    ///
    /// # Panics
    /// If `addr` is not [`protocol_len`](Packet::protocol_len) bytes long.
    #[inline]
    pub fn set_source_protocol_addr(&mut self, addr: &[u8]) {
        let (start, end) = self.source_protocol_range();
        self.buffer.as_mut()[start..end].copy_from_slice(addr);
    }

    /// Sets the target's hardware address.
    ///
    /// # Panics
    /// If `addr` is not [`hardware_len`](Packet::hardware_len) bytes long.
    #[inline]
    pub fn set_target_hardware_addr(&mut self, addr: &[u8]) {
        let (start, end) = self.target_hardware_range();
        self.buffer.as_mut()[start..end].copy_from_slice(addr);
    }

    /// Sets the target's protocol address.
    ///
    /// # Panics
    /// If `addr` is not [`protocol_len`](Packet::protocol_len) bytes long.
    #[inline]
    pub fn set_target_protocol_addr(&mut self, addr: &[u8]) {
        let (start, end) = self.target_protocol_range();
        self.buffer.as_mut()[start..end].copy_from_slice(addr);
    }
}

/// The meaning of an ARP packet podwire understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpRepr {
    /// ARP for IPv4 over Ethernet.
    EthernetIpv4 {
        /// Request or reply.
        operation: Operation,
        /// The sender's MAC address.
        source_hardware_addr: EthernetAddress,
        /// The sender's IPv4 address.
        source_protocol_addr: Ipv4Addr,
        /// The target's MAC address (zero in a request).
        target_hardware_addr: EthernetAddress,
        /// The address asked about, or the requester's in a reply.
        target_protocol_addr: Ipv4Addr,
    },
}

/// Length of an Ethernet/IPv4 ARP packet.
const ETHERNET_IPV4_LEN: usize = FIXED_LEN + 2 * (6 + 4);

impl ArpRepr {
    /// Reads an ARP packet: `Err(Unsupported)` unless it is Ethernet/IPv4.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Self> {
        packet.check_len()?;
        if packet.hardware_type() != HARDWARE_ETHERNET
            || packet.protocol_type() != EtherType::IPV4
            || packet.hardware_len() != 6
            || packet.protocol_len() != 4
        {
            return Err(Error::Unsupported);
        }
        let data: &[u8; ETHERNET_IPV4_LEN] = head(packet.buffer.as_ref());
        let mac = |at: usize| EthernetAddress(get_array(data, at));
        let ip = |at: usize| get_ipv4(data, at);
        // Sender MAC at 8, sender IPv4 at 14, target MAC at 18, target IPv4 at 24.
        Ok(ArpRepr::EthernetIpv4 {
            operation: packet.operation(),
            source_hardware_addr: mac(8),
            source_protocol_addr: ip(14),
            target_hardware_addr: mac(18),
            target_protocol_addr: ip(24),
        })
    }

    /// The number of bytes [`emit`](Self::emit) writes (28).
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        ETHERNET_IPV4_LEN
    }

    /// Writes the packet: `Err(Truncated)` if the buffer is shorter than 28 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) -> Result<()> {
        if packet.buffer.as_ref().len() < self.buffer_len() {
            return Err(Error::Truncated);
        }
        let ArpRepr::EthernetIpv4 {
            operation,
            source_hardware_addr,
            source_protocol_addr,
            target_hardware_addr,
            target_protocol_addr,
        } = *self;
        packet.set_hardware_type(HARDWARE_ETHERNET);
        packet.set_protocol_type(EtherType::IPV4);
        packet.set_hardware_len(6);
        packet.set_protocol_len(4);
        packet.set_operation(operation);
        packet.set_source_hardware_addr(&source_hardware_addr.0);
        packet.set_source_protocol_addr(&source_protocol_addr.octets());
        packet.set_target_hardware_addr(&target_hardware_addr.0);
        packet.set_target_protocol_addr(&target_protocol_addr.octets());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{ArpHardwareId, ArpOperation, ArpPacket, PacketBuilder};
    use proptest::prelude::*;

    const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 0xa];
    const MAC_B: [u8; 6] = [2, 0, 0, 0, 0, 0xb];

    fn etherparse_request() -> Vec<u8> {
        let arp = ArpPacket::new(
            ArpHardwareId::ETHERNET,
            etherparse::EtherType::IPV4,
            ArpOperation::REQUEST,
            &MAC_A,
            &[10, 0, 0, 1],
            &[0; 6],
            &[10, 0, 0, 2],
        )
        .unwrap();
        let mut bytes = Vec::new();
        PacketBuilder::ethernet2(MAC_A, [0xff; 6])
            .arp(arp)
            .write(&mut bytes)
            .unwrap();
        bytes
    }

    #[test]
    fn reads_a_request_built_by_etherparse() {
        let bytes = etherparse_request();
        let packet = Packet::new_checked(&bytes[14..]).unwrap();
        assert_eq!(packet.hardware_type(), 1);
        assert_eq!(packet.protocol_type(), EtherType::IPV4);
        assert_eq!((packet.hardware_len(), packet.protocol_len()), (6, 4));
        assert_eq!(packet.operation(), Operation::Request);
        assert_eq!(packet.source_hardware_addr(), &MAC_A);
        assert_eq!(packet.target_protocol_addr(), &[10, 0, 0, 2]);
        assert_eq!(
            ArpRepr::parse(&packet),
            Ok(ArpRepr::EthernetIpv4 {
                operation: Operation::Request,
                source_hardware_addr: EthernetAddress(MAC_A),
                source_protocol_addr: Ipv4Addr::new(10, 0, 0, 1),
                target_hardware_addr: EthernetAddress([0; 6]),
                target_protocol_addr: Ipv4Addr::new(10, 0, 0, 2),
            })
        );
    }

    #[test]
    fn emitted_reply_is_read_back_by_etherparse() {
        let repr = ArpRepr::EthernetIpv4 {
            operation: Operation::Reply,
            source_hardware_addr: EthernetAddress(MAC_B),
            source_protocol_addr: Ipv4Addr::new(10, 0, 0, 2),
            target_hardware_addr: EthernetAddress(MAC_A),
            target_protocol_addr: Ipv4Addr::new(10, 0, 0, 1),
        };
        let mut bytes = [0u8; 28];
        repr.emit(&mut Packet::new_unchecked(&mut bytes[..]))
            .unwrap();
        let theirs = etherparse::ArpPacketSlice::from_slice(&bytes).unwrap();
        assert_eq!(theirs.operation(), ArpOperation::REPLY);
        assert_eq!(theirs.sender_hw_addr(), &MAC_B);
        assert_eq!(theirs.sender_protocol_addr(), &[10, 0, 0, 2]);
        assert_eq!(theirs.target_hw_addr(), &MAC_A);
        assert_eq!(theirs.target_protocol_addr(), &[10, 0, 0, 1]);
        assert_eq!(
            ArpRepr::parse(&Packet::new_checked(&bytes[..]).unwrap()),
            Ok(repr)
        );
    }

    #[test]
    fn other_address_kinds_are_unsupported() {
        let mut bytes = etherparse_request();
        bytes[14 + 1] = 6; // hardware type 6 (IEEE 802)
        let packet = Packet::new_checked(&bytes[14..]).unwrap();
        assert_eq!(ArpRepr::parse(&packet), Err(Error::Unsupported));

        // IPv6-sized protocol addresses: the packet is longer, the view still reads it.
        let mut long = vec![0, 1, 0x86, 0xdd, 6, 16, 0, 1];
        long.extend_from_slice(&[0xaa; 2 * (6 + 16)]);
        let packet = Packet::new_checked(&long[..]).unwrap();
        assert_eq!(packet.target_protocol_addr().len(), 16);
        assert_eq!(ArpRepr::parse(&packet), Err(Error::Unsupported));
    }

    #[test]
    fn short_packets_are_truncated() {
        let bytes = etherparse_request();
        assert_eq!(
            Packet::new_checked(&bytes[14..14 + 27]),
            Err(Error::Truncated)
        );
        assert_eq!(
            Packet::new_checked(&bytes[14..14 + 7]),
            Err(Error::Truncated)
        );
        assert_eq!(
            ArpRepr::parse(&Packet::new_unchecked(&bytes[14..20])),
            Err(Error::Truncated)
        );
        let mut short = [0u8; 27];
        let repr = ArpRepr::parse(&Packet::new_checked(&bytes[14..]).unwrap()).unwrap();
        assert_eq!(
            repr.emit(&mut Packet::new_unchecked(&mut short[..])),
            Err(Error::Truncated)
        );
    }

    #[test]
    fn operations_convert_both_ways() {
        for value in 0..5u16 {
            assert_eq!(u16::from(Operation::from(value)), value);
        }
    }

    proptest! {
        #[test]
        fn accessors_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(packet) = Packet::new_checked(&bytes[..]) {
                let _ = (packet.hardware_type(), packet.protocol_type(), packet.operation());
                let _ = (packet.source_hardware_addr(), packet.source_protocol_addr());
                let _ = (packet.target_hardware_addr(), packet.target_protocol_addr());
                if let Ok(repr) = ArpRepr::parse(&packet) {
                    let mut out = [0u8; 28];
                    repr.emit(&mut Packet::new_unchecked(&mut out[..])).unwrap();
                    prop_assert_eq!(&out[..], &bytes[..28]);
                }
            }
        }
    }
}
