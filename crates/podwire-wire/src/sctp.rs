//! The Stream Control Transmission Protocol common header (RFC 9260), as far as services and
//! policies need it: the ports.
//!
//! The SCTP checksum is a CRC32c over the whole packet, with no pseudo-header; it is not
//! computed here, so rewriting a port needs a CRC update that this module does not provide yet.

use crate::bytes::{get_u16, get_u32, head, head_mut, set_u16};
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

    #[test]
    fn short_header_is_truncated() {
        assert_eq!(Packet::new_checked(&[0u8; 11][..]), Err(Error::Truncated));
    }

    proptest! {
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
