//! IEEE 802.1Q VLAN tags.
//!
//! A tagged frame carries [`EtherType::VLAN`] (or [`EtherType::QINQ`] for an outer service tag)
//! where the EtherType would be, followed by the 4 bytes this module views: the tag control
//! information and the EtherType of what follows.

use crate::bytes::{get_u16, head, head_mut, set_u16};
use crate::ethernet::EtherType;
use crate::{Error, Result};

/// Length of a VLAN tag after the tag's EtherType: TCI and inner EtherType.
pub const HEADER_LEN: usize = 4;

/// The largest VLAN identifier (4095 is reserved).
pub const MAX_VID: u16 = 0x0fff;

mod field {
    pub const TCI: usize = 0;
    pub const ETHERTYPE: usize = 2;
}

const PCP_SHIFT: u16 = 13;
const DEI_BIT: u16 = 0x1000;

/// A view of a VLAN tag: the 4 bytes after an 0x8100 (or 0x88a8) EtherType.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VlanTag<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> VlanTag<T> {
    /// Wraps a buffer without checking it; accessors panic if it is shorter than 4 bytes.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer that holds at least a tag.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let tag = Self::new_unchecked(buffer);
        tag.check_len()?;
        Ok(tag)
    }

    /// Checks that the buffer holds a tag: `Err(Truncated)` if it does not.
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

    /// The whole tag control information: PCP (3 bits), DEI (1), VID (12).
    #[inline]
    pub fn tci(&self) -> u16 {
        get_u16(self.header(), field::TCI)
    }

    /// The priority code point (0 to 7).
    #[inline]
    pub fn pcp(&self) -> u8 {
        (self.tci() >> PCP_SHIFT) as u8
    }

    /// The drop eligible indicator.
    #[inline]
    pub fn dei(&self) -> bool {
        self.tci() & DEI_BIT != 0
    }

    /// The VLAN identifier (0 means priority-tagged, no VLAN).
    #[inline]
    pub fn vid(&self) -> u16 {
        self.tci() & MAX_VID
    }

    /// The EtherType of the payload.
    #[inline]
    pub fn ethertype(&self) -> EtherType {
        EtherType(get_u16(self.header(), field::ETHERTYPE))
    }

    /// The bytes after the tag.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        self.buffer.as_ref().get(HEADER_LEN..).unwrap_or_default()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VlanTag<T> {
    #[inline(always)]
    fn header_mut(&mut self) -> &mut [u8; HEADER_LEN] {
        head_mut(self.buffer.as_mut())
    }

    /// Sets the whole tag control information.
    #[inline]
    pub fn set_tci(&mut self, tci: u16) {
        set_u16(self.header_mut(), field::TCI, tci);
    }

    /// Sets the priority code point; only its low 3 bits are used.
    #[inline]
    pub fn set_pcp(&mut self, pcp: u8) {
        let tci = self.tci() & !(0x7 << PCP_SHIFT);
        self.set_tci(tci | (u16::from(pcp & 0x7) << PCP_SHIFT));
    }

    /// Sets the drop eligible indicator.
    #[inline]
    pub fn set_dei(&mut self, dei: bool) {
        let tci = self.tci() & !DEI_BIT;
        self.set_tci(if dei { tci | DEI_BIT } else { tci });
    }

    /// Sets the VLAN identifier; only its low 12 bits are used.
    #[inline]
    pub fn set_vid(&mut self, vid: u16) {
        let tci = self.tci() & !MAX_VID;
        self.set_tci(tci | (vid & MAX_VID));
    }

    /// Sets the EtherType of the payload.
    #[inline]
    pub fn set_ethertype(&mut self, ethertype: EtherType) {
        set_u16(self.header_mut(), field::ETHERTYPE, ethertype.0);
    }

    /// The bytes after the tag, to write.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        self.buffer
            .as_mut()
            .get_mut(HEADER_LEN..)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ethernet::Frame;
    use etherparse::{PacketBuilder, SingleVlanHeader, VlanId, VlanPcp};
    use proptest::prelude::*;

    #[test]
    fn reads_a_tag_built_by_etherparse() {
        let vlan = SingleVlanHeader {
            pcp: VlanPcp::try_new(5).unwrap(),
            drop_eligible_indicator: true,
            vlan_id: VlanId::try_new(1234).unwrap(),
            ether_type: etherparse::EtherType::IPV6,
        };
        let mut bytes = Vec::new();
        PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .vlan(etherparse::VlanHeader::Single(vlan))
            .ipv6([1; 16], [2; 16], 64)
            .udp(1, 2)
            .write(&mut bytes, &[])
            .unwrap();
        let frame = Frame::new_checked(&bytes[..]).unwrap();
        assert_eq!(frame.ethertype(), EtherType::VLAN);
        let tag = VlanTag::new_checked(frame.payload()).unwrap();
        assert_eq!(tag.pcp(), 5);
        assert!(tag.dei());
        assert_eq!(tag.vid(), 1234);
        assert_eq!(tag.ethertype(), EtherType::IPV6);
        assert_eq!(tag.payload(), &bytes[18..]);
    }

    #[test]
    fn written_tag_is_read_back_by_etherparse() {
        let mut bytes = [0u8; 4];
        let mut tag = VlanTag::new_unchecked(&mut bytes[..]);
        tag.set_vid(0xffff); // masked to 12 bits
        tag.set_pcp(3);
        tag.set_dei(true);
        tag.set_dei(false);
        tag.set_ethertype(EtherType::IPV4);
        assert_eq!(tag.vid(), 0x0fff);
        tag.set_vid(42);
        let (header, _) = SingleVlanHeader::from_slice(&bytes).unwrap();
        assert_eq!(header.vlan_id.value(), 42);
        assert_eq!(header.pcp.value(), 3);
        assert!(!header.drop_eligible_indicator);
        assert_eq!(header.ether_type, etherparse::EtherType::IPV4);
    }

    #[test]
    fn short_tag_is_truncated() {
        assert_eq!(VlanTag::new_checked(&[0u8; 3][..]), Err(Error::Truncated));
    }

    proptest! {
        #[test]
        fn fields_partition_the_tci(tci in any::<u16>()) {
            let mut bytes = [0u8; 4];
            let mut tag = VlanTag::new_unchecked(&mut bytes[..]);
            tag.set_pcp((tci >> 13) as u8);
            tag.set_dei(tci & 0x1000 != 0);
            tag.set_vid(tci);
            prop_assert_eq!(tag.tci(), tci);
        }
    }
}
