//! Writing the responder's replies with podwire-wire's views: an Ethernet
//! header from our MAC (none in ip mode), the IP header, then the payload.

use podwire_wire::{
    ArpRepr, EtherType, EthernetAddress, EthernetRepr, Ipv4Repr, Ipv6Repr, arp, ethernet, ipv4,
    ipv6, udp,
};

/// Where a reply goes on the link: the Ethernet destination, in ethernet
/// mode; `None` in ip mode.
pub type LinkDst = Option<EthernetAddress>;

/// Writes replies sent from `mac`.
#[derive(Debug, Clone, Copy)]
pub struct ReplyWriter {
    /// Our MAC address, the source of every frame.
    pub mac: EthernetAddress,
}

impl ReplyWriter {
    /// Writes an ARP packet in an Ethernet frame to `to`; returns the
    /// frame's length.
    pub fn arp(
        self,
        to: EthernetAddress,
        repr: &ArpRepr,
        out: &mut [u8],
    ) -> podwire_wire::Result<usize> {
        self.link(
            Some(to),
            EtherType::ARP,
            repr.buffer_len(),
            out,
            |payload| repr.emit(&mut arp::Packet::new_unchecked(payload)),
        )
    }

    /// Writes an IPv4 packet: the header, then the payload `emit_payload`
    /// writes; returns the frame's length.
    pub fn ipv4(
        self,
        to: LinkDst,
        ip: &Ipv4Repr,
        out: &mut [u8],
        emit_payload: impl FnOnce(&mut [u8]) -> podwire_wire::Result<()>,
    ) -> podwire_wire::Result<usize> {
        let len = ip.buffer_len() + ip.payload_len;
        self.link(to, EtherType::IPV4, len, out, |bytes| {
            let mut packet = ipv4::Packet::new_unchecked(bytes);
            ip.emit(&mut packet)?;
            emit_payload(packet.payload_mut())
        })
    }

    /// Writes an IPv6 packet: the header, then the payload `emit_payload`
    /// writes; returns the frame's length.
    pub fn ipv6(
        self,
        to: LinkDst,
        ip: &Ipv6Repr,
        out: &mut [u8],
        emit_payload: impl FnOnce(&mut [u8]) -> podwire_wire::Result<()>,
    ) -> podwire_wire::Result<usize> {
        let len = ip.buffer_len() + ip.payload_len;
        self.link(to, EtherType::IPV6, len, out, |bytes| {
            let mut packet = ipv6::Packet::new_unchecked(bytes);
            ip.emit(&mut packet)?;
            emit_payload(packet.payload_mut())
        })
    }

    /// Writes the Ethernet header to `to` (none in ip mode), then the `len`
    /// bytes of payload `emit_payload` writes; returns the frame's length.
    fn link(
        self,
        to: LinkDst,
        ethertype: EtherType,
        len: usize,
        out: &mut [u8],
        emit_payload: impl FnOnce(&mut [u8]) -> podwire_wire::Result<()>,
    ) -> podwire_wire::Result<usize> {
        let header_len = if to.is_some() {
            ethernet::HEADER_LEN
        } else {
            0
        };
        let total = header_len + len;
        let frame = out.get_mut(..total).ok_or(podwire_wire::Error::Truncated)?;
        if let Some(dst_addr) = to {
            let header = EthernetRepr {
                src_addr: self.mac,
                dst_addr,
                ethertype,
            };
            header.emit(&mut ethernet::Frame::new_unchecked(&mut *frame))?;
        }
        let payload = frame.get_mut(header_len..);
        emit_payload(payload.ok_or(podwire_wire::Error::Truncated)?)?;
        Ok(total)
    }
}

/// Writes the echo of `request` into `out` (exactly its length): ports
/// swapped, the same payload; the checksum is the caller's to fill.
pub fn udp_echo<'a>(
    request: &udp::Packet<&[u8]>,
    out: &'a mut [u8],
) -> podwire_wire::Result<udp::Packet<&'a mut [u8]>> {
    if out.len() < udp::HEADER_LEN {
        return Err(podwire_wire::Error::Truncated);
    }
    let mut echo = udp::Packet::new_unchecked(out);
    echo.set_src_port(request.dst_port());
    echo.set_dst_port(request.src_port());
    echo.set_len(request.len());
    echo.set_checksum(0);
    let payload = echo.payload_mut();
    if payload.len() != request.payload().len() {
        return Err(podwire_wire::Error::Truncated);
    }
    payload.copy_from_slice(request.payload());
    Ok(echo)
}
