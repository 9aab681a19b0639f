//! The Transmission Control Protocol header (RFC 9293).
//!
//! TCP has no length field: a view covers exactly one segment, normally the payload of an IP
//! view, and the checksum covers the whole buffer.

use crate::bytes::{
    clamped, clamped_mut, get_u16, get_u32, head, head_mut, set_bit, set_u16, set_u32,
};
use crate::checksum;
use crate::ip::IpProtocol;
use crate::{Error, Result};
use core::net::{Ipv4Addr, Ipv6Addr};

/// Length of a TCP header without options.
pub const HEADER_LEN: usize = 20;

/// The flag bits of [`Packet::flags`].
pub mod flags {
    /// No more data from the sender.
    pub const FIN: u8 = 0x01;
    /// Synchronize sequence numbers.
    pub const SYN: u8 = 0x02;
    /// Reset the connection.
    pub const RST: u8 = 0x04;
    /// Push.
    pub const PSH: u8 = 0x08;
    /// The acknowledgment number is significant.
    pub const ACK: u8 = 0x10;
    /// The urgent pointer is significant.
    pub const URG: u8 = 0x20;
    /// ECN echo (RFC 3168).
    pub const ECE: u8 = 0x40;
    /// Congestion window reduced (RFC 3168).
    pub const CWR: u8 = 0x80;
}

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const SEQ: usize = 4;
    pub const ACK: usize = 8;
    pub const DATA_OFFSET: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: usize = 14;
    pub const CHECKSUM: usize = 16;
    pub const URGENT: usize = 18;
}

/// A view of a TCP segment.
///
/// `new_checked` guarantees: the buffer holds the header, options included, and the data
/// offset is at least 5.
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

    /// Wraps a buffer that holds a TCP header with its options: `Err(Truncated)` if it does
    /// not, `Err(Malformed)` if the data offset is less than 5.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks what [`new_checked`](Self::new_checked) checks.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let header_len = usize::from(self.header_len());
        if header_len < HEADER_LEN {
            return Err(Error::Malformed);
        }
        if len < header_len {
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

    /// The sequence number.
    #[inline]
    pub fn seq_number(&self) -> u32 {
        get_u32(self.header(), field::SEQ)
    }

    /// The acknowledgment number.
    #[inline]
    pub fn ack_number(&self) -> u32 {
        get_u32(self.header(), field::ACK)
    }

    /// The header length in bytes, options included (data offset × 4).
    #[inline]
    pub fn header_len(&self) -> u8 {
        (self.header()[field::DATA_OFFSET] >> 4) * 4
    }

    /// The flag byte (see [`flags`](mod@flags)).
    #[inline]
    pub fn flags(&self) -> u8 {
        self.header()[field::FLAGS]
    }

    #[inline(always)]
    fn flag(&self, flag: u8) -> bool {
        self.flags() & flag != 0
    }

    /// The FIN flag.
    #[inline]
    pub fn fin(&self) -> bool {
        self.flag(flags::FIN)
    }

    /// The SYN flag.
    #[inline]
    pub fn syn(&self) -> bool {
        self.flag(flags::SYN)
    }

    /// The RST flag.
    #[inline]
    pub fn rst(&self) -> bool {
        self.flag(flags::RST)
    }

    /// The PSH flag.
    #[inline]
    pub fn psh(&self) -> bool {
        self.flag(flags::PSH)
    }

    /// The ACK flag.
    #[inline]
    pub fn ack(&self) -> bool {
        self.flag(flags::ACK)
    }

    /// The URG flag.
    #[inline]
    pub fn urg(&self) -> bool {
        self.flag(flags::URG)
    }

    /// The ECE flag.
    #[inline]
    pub fn ece(&self) -> bool {
        self.flag(flags::ECE)
    }

    /// The CWR flag.
    #[inline]
    pub fn cwr(&self) -> bool {
        self.flag(flags::CWR)
    }

    /// The receive window.
    #[inline]
    pub fn window_len(&self) -> u16 {
        get_u16(self.header(), field::WINDOW)
    }

    /// The checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        get_u16(self.header(), field::CHECKSUM)
    }

    /// The urgent pointer.
    #[inline]
    pub fn urgent_at(&self) -> u16 {
        get_u16(self.header(), field::URGENT)
    }

    /// The options: the header bytes after the first 20.
    #[inline]
    pub fn options(&self) -> &[u8] {
        clamped(self.buffer.as_ref(), HEADER_LEN, self.header_len().into())
    }

    /// The data after the header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let data = self.buffer.as_ref();
        clamped(data, self.header_len().into(), data.len())
    }

    /// Whether the checksum is right for a segment between these IPv4 addresses.
    #[inline]
    pub fn verify_checksum_v4(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        self.sum_with(checksum::pseudo_header_v4(
            src,
            dst,
            IpProtocol::TCP,
            self.segment_len(),
        )) == 0xffff
    }

    /// Whether the checksum is right for a segment between these IPv6 addresses.
    #[inline]
    pub fn verify_checksum_v6(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        self.sum_with(checksum::pseudo_header_v6(
            src,
            dst,
            IpProtocol::TCP,
            self.segment_len(),
        )) == 0xffff
    }

    #[inline(always)]
    fn segment_len(&self) -> u32 {
        // A segment longer than 4 GiB cannot be carried by IP; saturate rather than wrap.
        u32::try_from(self.buffer.as_ref().len()).unwrap_or(u32::MAX)
    }

    #[inline(always)]
    fn sum_with(&self, pseudo_header: u16) -> u16 {
        checksum::combine(&[pseudo_header, checksum::data(self.buffer.as_ref())])
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

    /// Sets the sequence number.
    #[inline]
    pub fn set_seq_number(&mut self, seq: u32) {
        set_u32(self.header_mut(), field::SEQ, seq);
    }

    /// Sets the acknowledgment number.
    #[inline]
    pub fn set_ack_number(&mut self, ack: u32) {
        set_u32(self.header_mut(), field::ACK, ack);
    }

    /// Sets the header length in bytes (a multiple of 4 from 20 to 60; the low 2 bits and
    /// anything above 60 are dropped). The reserved bits are kept.
    #[inline]
    pub fn set_header_len(&mut self, len: u8) {
        let byte = &mut self.header_mut()[field::DATA_OFFSET];
        *byte = (*byte & 0x0f) | (((len / 4) & 0x0f) << 4);
    }

    /// Sets the whole flag byte.
    #[inline]
    pub fn set_flags(&mut self, flags: u8) {
        self.header_mut()[field::FLAGS] = flags;
    }

    #[inline(always)]
    fn set_flag(&mut self, flag: u8, on: bool) {
        set_bit(&mut self.header_mut()[field::FLAGS], flag, on);
    }

    /// Sets the FIN flag.
    #[inline]
    pub fn set_fin(&mut self, on: bool) {
        self.set_flag(flags::FIN, on);
    }

    /// Sets the SYN flag.
    #[inline]
    pub fn set_syn(&mut self, on: bool) {
        self.set_flag(flags::SYN, on);
    }

    /// Sets the RST flag.
    #[inline]
    pub fn set_rst(&mut self, on: bool) {
        self.set_flag(flags::RST, on);
    }

    /// Sets the PSH flag.
    #[inline]
    pub fn set_psh(&mut self, on: bool) {
        self.set_flag(flags::PSH, on);
    }

    /// Sets the ACK flag.
    #[inline]
    pub fn set_ack(&mut self, on: bool) {
        self.set_flag(flags::ACK, on);
    }

    /// Sets the URG flag.
    #[inline]
    pub fn set_urg(&mut self, on: bool) {
        self.set_flag(flags::URG, on);
    }

    /// Sets the ECE flag.
    #[inline]
    pub fn set_ece(&mut self, on: bool) {
        self.set_flag(flags::ECE, on);
    }

    /// Sets the CWR flag.
    #[inline]
    pub fn set_cwr(&mut self, on: bool) {
        self.set_flag(flags::CWR, on);
    }

    /// Sets the receive window.
    #[inline]
    pub fn set_window_len(&mut self, window: u16) {
        set_u16(self.header_mut(), field::WINDOW, window);
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, checksum: u16) {
        set_u16(self.header_mut(), field::CHECKSUM, checksum);
    }

    /// Sets the urgent pointer.
    #[inline]
    pub fn set_urgent_at(&mut self, urgent_at: u16) {
        set_u16(self.header_mut(), field::URGENT, urgent_at);
    }

    /// Computes and writes the checksum for a segment between these IPv4 addresses.
    #[inline]
    pub fn fill_checksum_v4(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        let len = self.segment_len();
        self.fill_checksum_with(checksum::pseudo_header_v4(src, dst, IpProtocol::TCP, len));
    }

    /// Computes and writes the checksum for a segment between these IPv6 addresses.
    #[inline]
    pub fn fill_checksum_v6(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        let len = self.segment_len();
        self.fill_checksum_with(checksum::pseudo_header_v6(src, dst, IpProtocol::TCP, len));
    }

    #[inline(always)]
    fn fill_checksum_with(&mut self, pseudo_header: u16) {
        self.set_checksum(0);
        self.set_checksum(checksum::finish(self.sum_with(pseudo_header)));
    }

    /// The options, to write.
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let header_len = self.header_len().into();
        clamped_mut(self.buffer.as_mut(), HEADER_LEN, header_len)
    }

    /// The data after the header, to write.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let header_len = self.header_len().into();
        let data = self.buffer.as_mut();
        let len = data.len();
        clamped_mut(data, header_len, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{PacketBuilder, TcpHeader, TcpOptionElement};
    use proptest::prelude::*;

    const SRC4: [u8; 4] = [10, 244, 0, 3];
    const DST4: [u8; 4] = [10, 244, 7, 9];

    fn segment_v4(payload: &[u8]) -> Vec<u8> {
        let mut header = TcpHeader::new(43210, 443, 0x0102_0304, 29200);
        header.syn = true;
        header.ece = true;
        header.acknowledgment_number = 0xa0b0_c0d0;
        header.urgent_pointer = 7;
        header
            .set_options(&[
                TcpOptionElement::MaximumSegmentSize(1460),
                TcpOptionElement::WindowScale(7),
            ])
            .unwrap();
        let mut bytes = Vec::new();
        PacketBuilder::ipv4(SRC4, DST4, 64)
            .tcp_header(header)
            .write(&mut bytes, payload)
            .unwrap();
        bytes.split_off(20)
    }

    #[test]
    fn reads_a_segment_built_by_etherparse() {
        let bytes = segment_v4(b"GET /");
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!((packet.src_port(), packet.dst_port()), (43210, 443));
        assert_eq!(packet.seq_number(), 0x0102_0304);
        assert_eq!(packet.ack_number(), 0xa0b0_c0d0);
        assert_eq!(packet.header_len(), 28);
        assert!(packet.syn() && packet.ece());
        assert!(
            !(packet.fin()
                || packet.rst()
                || packet.psh()
                || packet.ack()
                || packet.urg()
                || packet.cwr())
        );
        assert_eq!(packet.flags(), flags::SYN | flags::ECE);
        assert_eq!(packet.window_len(), 29200);
        assert_eq!(packet.urgent_at(), 7);
        assert_eq!(&packet.options()[..4], &[2, 4, 0x05, 0xb4]); // MSS 1460
        assert_eq!(packet.payload(), b"GET /");
        assert!(packet.verify_checksum_v4(SRC4.into(), DST4.into()));
        assert!(!packet.verify_checksum_v4(DST4.into(), DST4.into()));
    }

    #[test]
    fn reads_a_segment_over_ipv6() {
        let (src, dst) = ([0x20; 16], [0x30; 16]);
        let mut bytes = Vec::new();
        PacketBuilder::ipv6(src, dst, 64)
            .tcp(1, 2, 3, 4)
            .ack(5)
            .fin()
            .write(&mut bytes, b"bye")
            .unwrap();
        let packet = Packet::new_checked(&bytes[40..]).unwrap();
        assert!(packet.ack() && packet.fin());
        assert!(packet.verify_checksum_v6(src.into(), dst.into()));
        assert!(!packet.verify_checksum_v4(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST));
    }

    #[test]
    fn setters_write_what_etherparse_reads() {
        let mut bytes = [0u8; 27];
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        packet.set_src_port(80);
        packet.set_dst_port(12345);
        packet.set_seq_number(1);
        packet.set_ack_number(2);
        packet.set_header_len(24);
        packet.set_flags(0xff);
        packet.set_urg(false);
        packet.set_cwr(false);
        packet.set_psh(false);
        packet.set_rst(true);
        packet.set_window_len(1000);
        packet.set_urgent_at(0);
        packet.options_mut().copy_from_slice(&[1, 1, 1, 0]);
        packet.payload_mut().copy_from_slice(b"xyz");
        packet.fill_checksum_v4(SRC4.into(), DST4.into());

        let (header, payload) = TcpHeader::from_slice(&bytes).unwrap();
        assert_eq!((header.source_port, header.destination_port), (80, 12345));
        assert_eq!(
            (header.sequence_number, header.acknowledgment_number),
            (1, 2)
        );
        assert!(header.fin && header.syn && header.rst && header.ack && header.ece);
        assert!(!(header.urg || header.cwr || header.psh));
        assert_eq!(header.options.as_slice(), &[1, 1, 1, 0]);
        let ip =
            etherparse::Ipv4Header::new(27, 64, etherparse::IpNumber::TCP, SRC4, DST4).unwrap();
        assert_eq!(
            header.checksum,
            header.calc_checksum_ipv4(&ip, payload).unwrap()
        );
        assert_eq!(payload, b"xyz");
    }

    #[test]
    fn bad_headers_get_the_right_error() {
        let bytes = segment_v4(b"");
        assert_eq!(Packet::new_checked(&bytes[..19]), Err(Error::Truncated));
        assert_eq!(Packet::new_checked(&bytes[..27]), Err(Error::Truncated)); // options cut
        let mut low_offset = bytes.clone();
        low_offset[12] = 0x40;
        assert_eq!(Packet::new_checked(&low_offset[..]), Err(Error::Malformed));
    }

    proptest! {
        #[test]
        fn accessors_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(packet) = Packet::new_checked(&bytes[..]) {
                let _ = (packet.src_port(), packet.dst_port(), packet.seq_number(), packet.ack_number());
                let _ = (packet.header_len(), packet.flags(), packet.window_len(), packet.checksum());
                let _ = (packet.urgent_at(), packet.options(), packet.payload());
                let _ = packet.verify_checksum_v4(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST);
                let _ = packet.verify_checksum_v6(Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST);
            }
        }

        #[test]
        fn port_nat_update_equals_full_recomputation(
            payload in proptest::collection::vec(any::<u8>(), 0..40),
            new_dst in any::<[u8; 4]>(), new_port in any::<u16>(),
        ) {
            let mut bytes = segment_v4(&payload);
            let mut packet = Packet::new_checked(&mut bytes[..]).unwrap();
            let old_port = packet.dst_port();
            let new_dst = Ipv4Addr::from(new_dst);
            packet.set_dst_port(new_port);
            let mut sum = checksum::update_bytes(packet.checksum(), &DST4, &new_dst.octets());
            sum = checksum::update_u16(sum, old_port, new_port);
            packet.set_checksum(sum);
            prop_assert!(packet.verify_checksum_v4(SRC4.into(), new_dst));
            packet.fill_checksum_v4(SRC4.into(), new_dst);
            prop_assert_eq!(sum, packet.checksum());
        }
    }
}
