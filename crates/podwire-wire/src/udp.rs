//! The User Datagram Protocol (RFC 768).

use crate::bytes::{clamped, clamped_mut, get_u16, head, head_mut, set_u16};
use crate::checksum;
use crate::ip::IpProtocol;
use crate::{Error, Result};
use core::net::{Ipv4Addr, Ipv6Addr};

/// Length of the UDP header.
pub const HEADER_LEN: usize = 8;

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const LENGTH: usize = 4;
    pub const CHECKSUM: usize = 6;
}

/// A view of a UDP datagram.
///
/// `new_checked` guarantees `8 <= len <= buffer length`; the buffer may be longer than `len`:
/// the payload and the checksum stop at `len`.
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

    /// Wraps a buffer that holds a whole datagram: `Err(Truncated)` if the buffer is shorter
    /// than the header or than `len`; `Err(Malformed)` if `len` is less than 8.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks what [`new_checked`](Self::new_checked) checks.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let buffer_len = self.buffer.as_ref().len();
        if buffer_len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let len = usize::from(self.len());
        if len < HEADER_LEN {
            return Err(Error::Malformed);
        }
        if buffer_len < len {
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

    /// The source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        get_u16(self.header(), field::SRC_PORT)
    }

    /// The destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        get_u16(self.header(), field::DST_PORT)
    }

    /// The length of the datagram, header included.
    #[inline]
    #[expect(
        clippy::len_without_is_empty,
        reason = "the UDP length field, not the size of a collection"
    )]
    pub fn len(&self) -> u16 {
        get_u16(self.header(), field::LENGTH)
    }

    /// The checksum field (0 over IPv4 means "no checksum").
    #[inline]
    pub fn checksum(&self) -> u16 {
        get_u16(self.header(), field::CHECKSUM)
    }

    /// The payload, bounded by `len`.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        clamped(self.buffer.as_ref(), HEADER_LEN, self.len().into())
    }

    /// Whether the checksum is right for a datagram between these IPv4 addresses; a zero
    /// checksum (none computed by the sender) counts as right.
    #[inline]
    pub fn verify_checksum_v4(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        self.checksum() == 0
            || self.sum_with(checksum::pseudo_header_v4(
                src,
                dst,
                IpProtocol::UDP,
                self.len().into(),
            )) == 0xffff
    }

    /// Whether the checksum is right for a datagram between these IPv6 addresses; a zero
    /// checksum is wrong over IPv6 (RFC 8200 §8.1).
    #[inline]
    pub fn verify_checksum_v6(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        self.checksum() != 0
            && self.sum_with(checksum::pseudo_header_v6(
                src,
                dst,
                IpProtocol::UDP,
                self.len().into(),
            )) == 0xffff
    }

    /// The sum of the datagram (up to `len`) and a pseudo-header sum.
    #[inline(always)]
    fn sum_with(&self, pseudo_header: u16) -> u16 {
        let datagram = clamped(self.buffer.as_ref(), 0, self.len().into());
        checksum::combine(&[pseudo_header, checksum::data(datagram)])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline(always)]
    fn header_mut(&mut self) -> &mut [u8; HEADER_LEN] {
        head_mut(self.buffer.as_mut())
    }

    /// Sets the source port (the checksum is not updated).
    #[inline]
    pub fn set_src_port(&mut self, port: u16) {
        set_u16(self.header_mut(), field::SRC_PORT, port);
    }

    /// Sets the destination port (the checksum is not updated).
    #[inline]
    pub fn set_dst_port(&mut self, port: u16) {
        set_u16(self.header_mut(), field::DST_PORT, port);
    }

    /// Sets the length, header included.
    #[inline]
    pub fn set_len(&mut self, len: u16) {
        set_u16(self.header_mut(), field::LENGTH, len);
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, checksum: u16) {
        set_u16(self.header_mut(), field::CHECKSUM, checksum);
    }

    /// Computes and writes the checksum for a datagram between these IPv4 addresses.
    #[inline]
    pub fn fill_checksum_v4(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        let len = self.len().into();
        self.fill_checksum_with(checksum::pseudo_header_v4(src, dst, IpProtocol::UDP, len));
    }

    /// Computes and writes the checksum for a datagram between these IPv6 addresses.
    #[inline]
    pub fn fill_checksum_v6(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        let len = self.len().into();
        self.fill_checksum_with(checksum::pseudo_header_v6(src, dst, IpProtocol::UDP, len));
    }

    #[inline(always)]
    fn fill_checksum_with(&mut self, pseudo_header: u16) {
        self.set_checksum(0);
        self.set_checksum(sent_form(checksum::finish(self.sum_with(pseudo_header))));
    }

    /// Applies an incremental checksum update (one of the `checksum::update_*` functions,
    /// after NAT rewrote an address or a port) the UDP way: a zero checksum over IPv4 means
    /// "none" and stays zero; a result of zero is sent as `0xffff`.
    #[inline]
    pub fn update_checksum(&mut self, update: impl FnOnce(u16) -> u16) {
        let old = self.checksum();
        if old != 0 {
            self.set_checksum(sent_form(update(old)));
        }
    }

    /// The payload, to write.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let len = self.len().into();
        clamped_mut(self.buffer.as_mut(), HEADER_LEN, len)
    }
}

/// A computed checksum of zero is sent as `0xffff` (its one's-complement twin), because zero
/// means "no checksum" (RFC 768).
#[inline(always)]
fn sent_form(checksum: u16) -> u16 {
    if checksum == 0 { 0xffff } else { checksum }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{PacketBuilder, SlicedPacket, TransportSlice, UdpHeader};
    use proptest::prelude::*;

    const SRC4: [u8; 4] = [10, 244, 1, 5];
    const DST4: [u8; 4] = [10, 96, 0, 10];

    fn v4_datagram(payload: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::new();
        PacketBuilder::ipv4(SRC4, DST4, 64)
            .udp(40000, 53)
            .write(&mut bytes, payload)
            .unwrap();
        bytes.split_off(20)
    }

    #[test]
    fn reads_a_datagram_built_by_etherparse_over_ipv4() {
        let bytes = v4_datagram(b"query");
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(
            (packet.src_port(), packet.dst_port(), packet.len()),
            (40000, 53, 13)
        );
        assert_eq!(packet.payload(), b"query");
        assert!(packet.verify_checksum_v4(SRC4.into(), DST4.into()));
        assert!(!packet.verify_checksum_v4(SRC4.into(), [10, 96, 0, 11].into()));
    }

    #[test]
    fn reads_a_datagram_built_by_etherparse_over_ipv6() {
        let (src, dst) = ([0xfd; 16], [0xfe; 16]);
        let mut bytes = Vec::new();
        PacketBuilder::ipv6(src, dst, 64)
            .udp(4789, 4789)
            .write(&mut bytes, b"odd")
            .unwrap();
        let packet = Packet::new_checked(&bytes[40..]).unwrap();
        assert!(packet.verify_checksum_v6(src.into(), dst.into()));
        assert!(!packet.verify_checksum_v6(src.into(), Ipv6Addr::LOCALHOST));
    }

    #[test]
    fn filled_checksum_is_accepted_by_etherparse() {
        for payload in [&b""[..], b"a", b"even", b"0123456789abcdef0"] {
            let mut bytes = vec![0u8; 8 + payload.len()];
            let mut packet = Packet::new_unchecked(&mut bytes[..]);
            packet.set_src_port(1234);
            packet.set_dst_port(80);
            packet.set_len(8 + payload.len() as u16);
            packet.payload_mut().copy_from_slice(payload);
            packet.fill_checksum_v4(SRC4.into(), DST4.into());

            let (header, _) = UdpHeader::from_slice(&bytes).unwrap();
            let ip = etherparse::Ipv4Header::new(
                bytes.len() as u16,
                64,
                etherparse::IpNumber::UDP,
                SRC4,
                DST4,
            )
            .unwrap();
            assert_eq!(
                header.checksum,
                header.calc_checksum_ipv4(&ip, payload).unwrap()
            );
            assert_eq!((header.source_port, header.destination_port), (1234, 80));
        }
    }

    #[test]
    fn ipv6_emit_round_trips_through_etherparse() {
        let (src, dst) = (Ipv6Addr::LOCALHOST, "fd00::99".parse::<Ipv6Addr>().unwrap());
        let mut ip = Vec::new();
        let header = etherparse::Ipv6Header {
            payload_length: 11,
            next_header: etherparse::IpNumber::UDP,
            hop_limit: 9,
            source: src.octets(),
            destination: dst.octets(),
            ..Default::default()
        };
        header.write(&mut ip).unwrap();
        let mut bytes = [0u8; 11];
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        packet.set_src_port(9);
        packet.set_dst_port(10);
        packet.set_len(11);
        packet.payload_mut().copy_from_slice(b"abc");
        packet.fill_checksum_v6(src, dst);
        ip.extend_from_slice(&bytes);
        let sliced = SlicedPacket::from_ip(&ip).unwrap();
        let Some(TransportSlice::Udp(udp)) = sliced.transport else {
            panic!("not UDP")
        };
        let expected = udp.to_header().calc_checksum_ipv6(&header, b"abc").unwrap();
        assert_eq!(udp.checksum(), expected);
    }

    #[test]
    fn zero_checksum_means_none_over_ipv4_only() {
        let mut bytes = v4_datagram(b"x");
        bytes[6..8].fill(0);
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert!(packet.verify_checksum_v4(SRC4.into(), DST4.into()));
        assert!(!packet.verify_checksum_v6(Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST));
        let mut packet = Packet::new_checked(&mut bytes[..]).unwrap();
        packet.update_checksum(|old| checksum::update_u16(old, 53, 5353));
        assert_eq!(packet.checksum(), 0);
    }

    #[test]
    fn a_computed_zero_is_sent_as_ffff() {
        // Find a source port whose datagram sums to 0xffff before the checksum is added,
        // so that the computed checksum is 0.
        let (src, dst) = (Ipv4Addr::from(SRC4), Ipv4Addr::from(DST4));
        let mut bytes = [0u8; 8];
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        packet.set_len(8);
        let rest =
            checksum::combine(&[checksum::pseudo_header_v4(src, dst, IpProtocol::UDP, 8), 8]);
        packet.set_src_port(!rest);
        packet.fill_checksum_v4(src, dst);
        assert_eq!(packet.checksum(), 0xffff);
        assert!(packet.verify_checksum_v4(src, dst));
    }

    #[test]
    fn bad_lengths_get_the_right_error() {
        let bytes = v4_datagram(b"abcd");
        assert_eq!(Packet::new_checked(&bytes[..7]), Err(Error::Truncated));
        assert_eq!(Packet::new_checked(&bytes[..11]), Err(Error::Truncated));
        let mut short_len = bytes.clone();
        short_len[4..6].copy_from_slice(&7u16.to_be_bytes());
        assert_eq!(Packet::new_checked(&short_len[..]), Err(Error::Malformed));
        let mut padded = bytes.clone();
        padded.extend_from_slice(&[0xee; 3]);
        let packet = Packet::new_checked(&padded[..]).unwrap();
        assert_eq!(packet.payload(), b"abcd");
        assert!(packet.verify_checksum_v4(SRC4.into(), DST4.into()));
    }

    proptest! {
        #[test]
        fn accessors_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(packet) = Packet::new_checked(&bytes[..]) {
                let _ = (packet.src_port(), packet.dst_port(), packet.len(), packet.checksum());
                let _ = packet.payload();
                let _ = packet.verify_checksum_v4(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST);
                let _ = packet.verify_checksum_v6(Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST);
            }
        }

        #[test]
        fn nat_update_equals_full_recomputation(
            payload in proptest::collection::vec(any::<u8>(), 0..40),
            new_src in any::<[u8; 4]>(), new_port in any::<u16>(),
        ) {
            let mut bytes = v4_datagram(&payload);
            let mut packet = Packet::new_checked(&mut bytes[..]).unwrap();
            let (old_src, old_port) = (Ipv4Addr::from(SRC4), packet.src_port());
            let new_src = Ipv4Addr::from(new_src);
            packet.set_src_port(new_port);
            packet.update_checksum(|c| {
                let c = checksum::update_u32(c, old_src.to_bits(), new_src.to_bits());
                checksum::update_u16(c, old_port, new_port)
            });
            let incremental = packet.checksum();
            packet.fill_checksum_v4(new_src, DST4.into());
            prop_assert_eq!(incremental, packet.checksum());
            prop_assert!(packet.verify_checksum_v4(new_src, DST4.into()));
        }
    }
}
