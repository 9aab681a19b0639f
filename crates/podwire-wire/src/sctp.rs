//! The Stream Control Transmission Protocol common header (RFC 9260), as far as services and
//! policies need it: the ports.
//!
//! The SCTP checksum is a CRC32c over the whole packet (common header and chunks, the checksum
//! field taken as zero), with no pseudo-header (RFC 9260 §6.8 and Appendix A): rewriting an
//! address changes nothing, rewriting a port means computing it again ([`Crc32c`], which takes
//! the packet piece by piece when it spans several buffers).

use crate::bytes::{get_u16, get_u32, head, head_mut, set_u16, set_u32};
use crate::{Error, Result};

/// Length of the SCTP common header.
pub const HEADER_LEN: usize = 12;

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const VERIFICATION_TAG: usize = 4;
    pub const CHECKSUM: usize = 8;
}

/// A view of an SCTP packet's common header and the chunks after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; accessors panic if it is shorter than 12 bytes.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer that holds the common header: `Err(Truncated)` if it does not.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the buffer holds the common header: `Err(Truncated)` if not.
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

    /// The verification tag of the association.
    #[inline]
    pub fn verification_tag(&self) -> u32 {
        get_u32(self.header(), field::VERIFICATION_TAG)
    }

    /// The CRC32c checksum field, as the four bytes read in network order.
    #[inline]
    pub fn checksum(&self) -> u32 {
        get_u32(self.header(), field::CHECKSUM)
    }

    /// The chunks after the common header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        self.buffer.as_ref().get(HEADER_LEN..).unwrap_or_default()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline(always)]
    fn header_mut(&mut self) -> &mut [u8; HEADER_LEN] {
        head_mut(self.buffer.as_mut())
    }

    /// Sets the source port (the CRC32c is not updated).
    #[inline]
    pub fn set_src_port(&mut self, port: u16) {
        set_u16(self.header_mut(), field::SRC_PORT, port);
    }

    /// Sets the destination port (the CRC32c is not updated).
    #[inline]
    pub fn set_dst_port(&mut self, port: u16) {
        set_u16(self.header_mut(), field::DST_PORT, port);
    }

    /// Sets the checksum field to `value`, the four bytes in network order (what
    /// [`Packet::checksum`] reads; see [`Crc32c::field`]).
    #[inline]
    pub fn set_checksum(&mut self, value: u32) {
        set_u32(self.header_mut(), field::CHECKSUM, value);
    }

    /// Computes the CRC32c of the packet (the whole buffer) and stores it.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let mut crc = Crc32c::new();
        crc.update(self.buffer.as_ref());
        self.set_checksum(crc.field());
    }
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Whether the checksum field holds the CRC32c of the packet (the whole buffer).
    pub fn verify_checksum(&self) -> bool {
        let bytes = self.buffer.as_ref();
        let mut crc = Crc32c::new();
        crc.update(&bytes[..field::CHECKSUM]);
        crc.update(&[0; 4]);
        crc.update(&bytes[HEADER_LEN..]);
        crc.field() == self.checksum()
    }
}

/// The CRC32c (Castagnoli: reflected polynomial `0x82F63B78`, initial value and final XOR all
/// ones) that SCTP packets carry, fed piece by piece.
///
/// Computed eight bytes at a time with eight tables ("slicing-by-8", 8 KiB built at compile
/// time): rewriting the port of an SCTP packet costs a pass over the packet.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Crc32c(u32);

impl Default for Crc32c {
    fn default() -> Self {
        Self::new()
    }
}

impl Crc32c {
    /// Nothing fed yet.
    #[inline]
    pub const fn new() -> Self {
        Crc32c(!0)
    }

    /// Feeds the next bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        let mut crc = self.0;
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            let low = crc ^ u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
            crc = CRC_TABLES[7][(low & 0xff) as usize]
                ^ CRC_TABLES[6][((low >> 8) & 0xff) as usize]
                ^ CRC_TABLES[5][((low >> 16) & 0xff) as usize]
                ^ CRC_TABLES[4][(low >> 24) as usize]
                ^ CRC_TABLES[3][usize::from(w[4])]
                ^ CRC_TABLES[2][usize::from(w[5])]
                ^ CRC_TABLES[1][usize::from(w[6])]
                ^ CRC_TABLES[0][usize::from(w[7])];
        }
        for &b in words.remainder() {
            crc = CRC_TABLES[0][((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
        }
        self.0 = crc;
    }

    /// The CRC of the bytes fed (the standard CRC-32C value: `0xe3069283` for `"123456789"`).
    #[inline]
    pub const fn value(self) -> u32 {
        !self.0
    }

    /// The value of an SCTP checksum field for the bytes fed, as [`Packet::checksum`] reads
    /// it: SCTP sends the CRC least significant byte first (RFC 9260 Appendix A, as Linux's
    /// `cpu_to_le32`).
    #[inline]
    pub const fn field(self) -> u32 {
        self.value().swap_bytes()
    }
}

/// The reflected CRC32c polynomial.
const CASTAGNOLI: u32 = 0x82f6_3b78;

/// `CRC_TABLES[0]` is the byte-at-a-time table; `CRC_TABLES[k][b]` is the CRC of byte `b`
/// followed by `k` zero bytes.
static CRC_TABLES: [[u32; 256]; 8] = crc_tables();

const fn crc_tables() -> [[u32; 256]; 8] {
    let mut tables = [[0u32; 256]; 8];
    let mut b = 0;
    while b < 256 {
        let mut crc = b as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ CASTAGNOLI
            } else {
                crc >> 1
            };
            bit += 1;
        }
        tables[0][b] = crc;
        b += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut b = 0;
        while b < 256 {
            let previous = tables[k - 1][b];
            tables[k][b] = (previous >> 8) ^ tables[0][(previous & 0xff) as usize];
            b += 1;
        }
        k += 1;
    }
    tables
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_the_common_header() {
        // An INIT chunk header follows the common header.
        let bytes = [
            0x0b, 0x59, 0x00, 0x26, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78, 1, 0, 0, 20,
        ];
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!((packet.src_port(), packet.dst_port()), (2905, 38));
        assert_eq!(packet.verification_tag(), 0);
        assert_eq!(packet.checksum(), 0x1234_5678);
        assert_eq!(packet.payload(), &[1, 0, 0, 20]);
    }

    #[test]
    fn ports_can_be_rewritten() {
        let mut bytes = [0u8; 12];
        let mut packet = Packet::new_unchecked(&mut bytes[..]);
        packet.set_src_port(36412);
        packet.set_dst_port(38412);
        assert_eq!(&bytes[..4], &[0x8e, 0x3c, 0x96, 0x0c]);
    }

    /// The CRC one bit at a time, as RFC 9260 Appendix A describes it: the reference.
    fn reference_crc(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ CASTAGNOLI
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn crc32c_check_values() {
        let mut crc = Crc32c::new();
        crc.update(b"123456789");
        assert_eq!(crc.value(), 0xe306_9283, "the CRC-32C check value");
        // RFC 3720 §B.4: 32 bytes of zeros.
        let mut zeros = Crc32c::new();
        zeros.update(&[0; 32]);
        assert_eq!(zeros.value(), 0x8a91_36aa);
    }

    #[test]
    fn checksum_of_a_captured_init_is_what_it_carries() {
        // An SCTP INIT with an IPv4 address parameter (scapy's regression tests), whose
        // checksum field reads 40 2c 0b 5f.
        let mut packet = [0u8; 40];
        packet[8..16].copy_from_slice(&[0x40, 0x2c, 0x0b, 0x5f, 1, 0, 0, 0x1c]);
        packet[32..40].copy_from_slice(&[0, 5, 0, 8, 0x7f, 0, 0, 1]);
        let view = Packet::new_checked(&packet[..]).unwrap();
        assert!(view.verify_checksum());
        let mut copy = packet;
        Packet::new_unchecked(&mut copy[..]).set_checksum(0xdead_beef);
        assert!(!Packet::new_checked(&copy[..]).unwrap().verify_checksum());
        Packet::new_unchecked(&mut copy[..]).fill_checksum();
        assert_eq!(copy, packet);
    }

    #[test]
    fn short_header_is_truncated() {
        assert_eq!(Packet::new_checked(&[0u8; 11][..]), Err(Error::Truncated));
    }

    proptest! {
        #[test]
        fn crc32c_in_pieces_equals_the_reference(
            bytes in proptest::collection::vec(any::<u8>(), 0..200),
            cut in any::<prop::sample::Index>(),
        ) {
            let cut = cut.index(bytes.len() + 1);
            let mut crc = Crc32c::new();
            crc.update(&bytes[..cut]);
            crc.update(&bytes[cut..]);
            prop_assert_eq!(crc.value(), reference_crc(&bytes));
        }

        #[test]
        fn accessors_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..20)) {
            if let Ok(packet) = Packet::new_checked(&bytes[..]) {
                let _ = (packet.src_port(), packet.dst_port(), packet.verification_tag());
                let _ = (packet.checksum(), packet.payload());
            } else {
                prop_assert!(bytes.len() < 12);
            }
        }
    }
}
