//! VXLAN (RFC 7348): the 8-byte header between the outer UDP header and the inner Ethernet
//! frame.

use crate::bytes::{get_u32, head, head_mut, set_u32};
use crate::{Error, Result};

/// Length of the VXLAN header.
pub const HEADER_LEN: usize = 8;

/// The IANA UDP destination port of VXLAN.
pub const UDP_PORT: u16 = 4789;

/// The largest VXLAN network identifier (24 bits).
pub const MAX_VNI: u32 = 0x00ff_ffff;

/// The "I" flag: the VNI is valid. It must be set; the other flag bits are reserved.
pub const FLAG_I: u8 = 0x08;

mod field {
    pub const FLAGS: usize = 0;
    /// The VNI is the high 24 bits of the second 32-bit word; the low 8 are reserved.
    pub const VNI_WORD: usize = 4;
}

/// A view of a VXLAN header and the inner frame after it.
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

    /// Wraps a buffer that holds a VXLAN header: `Err(Truncated)` if it does not.
    /// The I flag is not checked here; see [`vni_valid`](Self::vni_valid) and
    /// [`VxlanRepr::parse`].
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

    /// The flag byte.
    #[inline]
    pub fn flags(&self) -> u8 {
        self.header()[field::FLAGS]
    }

    /// Whether the I flag says the VNI is valid; receivers drop packets without it.
    #[inline]
    pub fn vni_valid(&self) -> bool {
        self.flags() & FLAG_I != 0
    }

    /// The 24-bit VXLAN network identifier.
    #[inline]
    pub fn vni(&self) -> u32 {
        get_u32(self.header(), field::VNI_WORD) >> 8
    }

    /// The inner Ethernet frame.
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

    /// Sets the flag byte.
    #[inline]
    pub fn set_flags(&mut self, flags: u8) {
        self.header_mut()[field::FLAGS] = flags;
    }

    /// Sets the VNI; only its low 24 bits are used. The reserved byte after it is kept.
    #[inline]
    pub fn set_vni(&mut self, vni: u32) {
        let header = self.header_mut();
        let reserved = get_u32(header, field::VNI_WORD) & 0xff;
        set_u32(header, field::VNI_WORD, ((vni & MAX_VNI) << 8) | reserved);
    }

    /// The inner Ethernet frame, to write.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        self.buffer
            .as_mut()
            .get_mut(HEADER_LEN..)
            .unwrap_or_default()
    }
}

/// The meaning of a VXLAN header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VxlanRepr {
    /// The 24-bit VXLAN network identifier.
    pub vni: u32,
}

impl VxlanRepr {
    /// Reads a header: `Err(Malformed)` if the I flag is clear (RFC 7348 §5).
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Self> {
        packet.check_len()?;
        if !packet.vni_valid() {
            return Err(Error::Malformed);
        }
        Ok(Self { vni: packet.vni() })
    }

    /// The number of bytes [`emit`](Self::emit) writes (8).
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header with the I flag set and the reserved fields zero.
    ///
    /// `Err(Truncated)` if the buffer is shorter than 8 bytes; `Err(Malformed)` if the VNI
    /// does not fit in 24 bits.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) -> Result<()> {
        packet.check_len()?;
        if self.vni > MAX_VNI {
            return Err(Error::Malformed);
        }
        *packet.header_mut() = [FLAG_I, 0, 0, 0, 0, 0, 0, 0];
        packet.set_vni(self.vni);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_the_rfc_layout() {
        // Flags 0x08, VNI 0x123456, reserved bytes set to be sure they are ignored.
        let bytes = [0x08, 0xaa, 0xbb, 0xcc, 0x12, 0x34, 0x56, 0xdd, 0xee];
        let packet = Packet::new_checked(&bytes[..]).unwrap();
        assert!(packet.vni_valid());
        assert_eq!(packet.vni(), 0x12_3456);
        assert_eq!(packet.payload(), &[0xee]);
        assert_eq!(VxlanRepr::parse(&packet), Ok(VxlanRepr { vni: 0x12_3456 }));
    }

    #[test]
    fn emit_writes_the_rfc_layout() {
        let mut bytes = [0xffu8; 8];
        VxlanRepr { vni: 4096 }
            .emit(&mut Packet::new_unchecked(&mut bytes[..]))
            .unwrap();
        assert_eq!(bytes, [0x08, 0, 0, 0, 0x00, 0x10, 0x00, 0]);
    }

    #[test]
    fn errors() {
        assert_eq!(Packet::new_checked(&[0x08u8; 7][..]), Err(Error::Truncated));
        let no_i_flag = [0u8, 0, 0, 0, 0, 0, 1, 0];
        assert_eq!(
            VxlanRepr::parse(&Packet::new_checked(&no_i_flag[..]).unwrap()),
            Err(Error::Malformed)
        );
        let mut bytes = [0u8; 8];
        let repr = VxlanRepr { vni: MAX_VNI + 1 };
        assert_eq!(
            repr.emit(&mut Packet::new_unchecked(&mut bytes[..])),
            Err(Error::Malformed)
        );
        assert_eq!(
            repr.emit(&mut Packet::new_unchecked(&mut bytes[..7])),
            Err(Error::Truncated)
        );
    }

    proptest! {
        #[test]
        fn parse_inverts_emit(vni in 0..=MAX_VNI) {
            let mut bytes = [0u8; 8];
            let repr = VxlanRepr { vni };
            repr.emit(&mut Packet::new_unchecked(&mut bytes[..])).unwrap();
            prop_assert_eq!(VxlanRepr::parse(&Packet::new_checked(&bytes[..]).unwrap()), Ok(repr));
        }

        #[test]
        fn set_vni_keeps_the_reserved_byte(vni in any::<u32>(), reserved in any::<u8>()) {
            let mut bytes = [0u8; 8];
            bytes[7] = reserved;
            let mut packet = Packet::new_unchecked(&mut bytes[..]);
            packet.set_vni(vni);
            prop_assert_eq!(packet.vni(), vni & MAX_VNI);
            prop_assert_eq!(bytes[7], reserved);
        }
    }
}
