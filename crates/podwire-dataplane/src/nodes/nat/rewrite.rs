//! Rewriting a packet's addresses and ports in place, with every checksum that covers them
//! updated incrementally (RFC 1624): the IPv4 header checksum, the TCP, UDP and ICMPv6
//! checksums through their pseudo-header, the ICMP checksum of the echo identifier. The SCTP
//! CRC32c cannot be updated so: [`translate`] says when it must be computed again.
//!
//! A packet whose checksum a device is still to compute (`meta.offload.needs_csum`, a
//! partial checksum: the field holds the pseudo-header's sum, not a checksum) gets only the
//! pseudo-header part updated; its ports are summed by the device.

use core::net::{IpAddr, SocketAddr};

use podwire_wire::checksum::{self, adjust, combine, difference};
use podwire_wire::sctp::Crc32c;

use super::packet::{Headers, Transport};
use crate::buffer::{BufferIndex, BufferPool};

/// A translation to an address of the other IP version than the packet's: the session or
/// the Service that asks for it is wrong (a podwire bug). Nothing was changed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct FamilyMismatch;

/// Where a packet goes after translation: its new source and destination.
pub(crate) type Endpoints = ((IpAddr, u16), (IpAddr, u16));

/// A translation, for the trace: `10.0.0.2:5000 → 10.0.1.7:8080`.
pub(crate) fn show(((src, sport), (dst, dport)): Endpoints) -> String {
    let (src, dst) = (SocketAddr::new(src, sport), SocketAddr::new(dst, dport));
    format!("{src} → {dst}")
}

/// Rewrites the packet whose IP header starts `ip` (with `headers` as parsed) to come from
/// `src` and go to `dst`. `partial`: its transport checksum is partial (offload). Returns
/// whether the SCTP ports changed, so the CRC32c must be computed again.
pub(crate) fn translate(
    ip: &mut [u8],
    headers: &Headers,
    (src, dst): Endpoints,
    partial: bool,
) -> Result<bool, FamilyMismatch> {
    let addresses = set_addresses(ip, headers.v6, src.0, dst.0)?;
    let Some(l4) = ip.get_mut(headers.l4..) else {
        return Ok(false);
    };
    match headers.transport {
        Transport::Tcp | Transport::Udp => {
            let ports = combine(&[set_u16(l4, 0, src.1), set_u16(l4, 2, dst.1)]);
            let (at, udp) = match headers.transport {
                Transport::Tcp => (16, false),
                _ => (6, true),
            };
            update_l4_checksum(l4, at, udp, addresses, ports, partial);
            Ok(false)
        }
        Transport::Sctp => {
            let ports = combine(&[set_u16(l4, 0, src.1), set_u16(l4, 2, dst.1)]);
            Ok(ports != 0)
        }
        Transport::Echo => {
            // Both ports of the key are the identifier; ICMPv6 also sums the
            // pseudo-header, ICMP does not.
            let ident = set_u16(l4, 4, src.1);
            let change = if headers.v6 {
                combine(&[addresses, ident])
            } else {
                ident
            };
            update_l4_checksum(l4, 2, false, change, 0, false);
            Ok(false)
        }
    }
}

/// Rewrites an ICMP error whose IP header starts `ip`, about the packet it quotes at
/// `quoted_at` (`quoted`, as parsed), for the session of that packet: `reply` is where the
/// session rewrites packets going the error's way (answering the quoted one). The quoted
/// packet becomes the packet as its sender knew it (its source and destination the reverse
/// of `reply`'s), the error goes to that sender, and an error the quoted packet's
/// destination sent itself comes from where its sender sent it (a Service address); an error
/// from a router on the way keeps its source. The inner IPv4 header checksum and the inner
/// transport checksum, when the quote holds it, are updated like the packet's own; an SCTP
/// quote keeps its CRC32c (no whole packet to compute it over: receivers do not check it).
pub(crate) fn translate_error(
    ip: &mut [u8],
    v6: bool,
    icmp: usize,
    quoted_at: usize,
    quoted: &Headers,
    reply: Endpoints,
) -> Result<(), FamilyMismatch> {
    let (reply_src, reply_dst) = reply;
    // What may change in the quote: its IP header and the transport header up to the TCP
    // checksum. The ICMP checksum covers it: it moves by the change of its sum.
    let quote_end = ip.len().min(quoted_at + quoted.l4 + 18);
    let quote = ip.get_mut(quoted_at..quote_end).ok_or(FamilyMismatch)?;
    let before = checksum::data(quote);
    translate(quote, quoted, (reply_dst, reply_src), false)?;
    let quote_change = combine(&[!before, checksum::data(quote)]);

    let (outer_src, _) = addresses(ip, v6).ok_or(FamilyMismatch)?;
    let src = if outer_src == quoted.key.dst {
        reply_src.0
    } else {
        outer_src
    };
    let outer = set_addresses(ip, v6, src, reply_dst.0)?;
    let change = if v6 {
        combine(&[quote_change, outer])
    } else {
        quote_change
    };
    if let Some(message) = ip.get_mut(icmp..) {
        update_l4_checksum(message, 2, false, change, 0, false);
    }
    Ok(())
}

/// The source and destination of the IP header at the start of `ip`.
fn addresses(ip: &[u8], v6: bool) -> Option<(IpAddr, IpAddr)> {
    if v6 {
        let h = ip.first_chunk::<40>()?;
        let src: [u8; 16] = h[8..24].try_into().ok()?;
        let dst: [u8; 16] = h[24..40].try_into().ok()?;
        Some((IpAddr::from(src), IpAddr::from(dst)))
    } else {
        let h = ip.first_chunk::<20>()?;
        let src: [u8; 4] = h[12..16].try_into().ok()?;
        let dst: [u8; 4] = h[16..20].try_into().ok()?;
        Some((IpAddr::from(src), IpAddr::from(dst)))
    }
}

/// Sets the source and destination of the IP header at the start of `ip`, updating the IPv4
/// header checksum. Returns the change of the sum of the addresses (0: none), which the
/// pseudo-header of TCP, UDP and ICMPv6 sees too.
fn set_addresses(ip: &mut [u8], v6: bool, src: IpAddr, dst: IpAddr) -> Result<u16, FamilyMismatch> {
    match (src, dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) if !v6 => {
            let h = ip.first_chunk_mut::<20>().ok_or(FamilyMismatch)?;
            let mut new = [0u8; 8];
            new[..4].copy_from_slice(&src.octets());
            new[4..].copy_from_slice(&dst.octets());
            if h[12..20] == new {
                return Ok(0);
            }
            let change = difference(&h[12..20], &new);
            h[12..20].copy_from_slice(&new);
            let header_checksum = u16::from_be_bytes([h[10], h[11]]);
            h[10..12].copy_from_slice(&adjust(header_checksum, change).to_be_bytes());
            Ok(change)
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) if v6 => {
            let h = ip.first_chunk_mut::<40>().ok_or(FamilyMismatch)?;
            let mut new = [0u8; 32];
            new[..16].copy_from_slice(&src.octets());
            new[16..].copy_from_slice(&dst.octets());
            if h[8..40] == new {
                return Ok(0);
            }
            let change = difference(&h[8..40], &new);
            h[8..40].copy_from_slice(&new);
            Ok(change)
        }
        _ => Err(FamilyMismatch),
    }
}

/// Sets the 16 bits at `at` of `bytes` (which holds them: the parser checked); returns the
/// change of their sum (0: none).
fn set_u16(bytes: &mut [u8], at: usize, value: u16) -> u16 {
    let Some(field) = bytes.get_mut(at..at + 2) else {
        return 0;
    };
    let new = value.to_be_bytes();
    if field == new {
        return 0;
    }
    let change = difference(field, &new);
    field.copy_from_slice(&new);
    change
}

/// Updates the transport checksum at `at` of `l4` for a change `pseudo` of the
/// pseudo-header and `ports` of the covered header. Not there (a short quote): nothing to do.
/// A UDP checksum of 0 (none, in IPv4) stays 0, and a UDP checksum that comes out 0 is sent
/// as `0xffff` (RFC 768). A partial checksum (offload) takes only the pseudo-header's change.
fn update_l4_checksum(l4: &mut [u8], at: usize, udp: bool, pseudo: u16, ports: u16, partial: bool) {
    let Some(field) = l4.get_mut(at..at + 2) else {
        return;
    };
    let old = u16::from_be_bytes([field[0], field[1]]);
    let new = if partial {
        combine(&[old, pseudo])
    } else if udp && old == 0 {
        return;
    } else {
        match adjust(old, combine(&[pseudo, ports])) {
            0 if udp => 0xffff,
            sum => sum,
        }
    };
    field.copy_from_slice(&new.to_be_bytes());
}

/// Rewrites packet `bi` (with `headers` as parsed from its first buffer) to `endpoints`,
/// and computes its SCTP CRC32c again, across its chain, when its ports changed and no
/// device is to compute it.
pub(crate) fn rewrite_packet(
    pool: &mut BufferPool,
    bi: BufferIndex,
    headers: &Headers,
    endpoints: Endpoints,
) -> Result<(), FamilyMismatch> {
    let partial = pool.meta(bi).offload.needs_csum;
    if translate(pool.data_mut(bi), headers, endpoints, partial)? && !partial {
        fill_sctp_checksum(pool, bi, headers.l4);
    }
    Ok(())
}

/// Computes the CRC32c of the SCTP packet at `l4` of packet `bi`'s first buffer, across the
/// chain, and stores it.
fn fill_sctp_checksum(pool: &mut BufferPool, bi: BufferIndex, l4: usize) {
    let field = l4 + 8..l4 + 12;
    let Some(bytes) = pool.data_mut(bi).get_mut(field.clone()) else {
        return;
    };
    bytes.fill(0);
    let mut crc = Crc32c::new();
    for (n, piece) in pool.chain(bi).enumerate() {
        let data = pool.data(piece);
        crc.update(if n == 0 {
            data.get(l4..).unwrap_or_default()
        } else {
            data
        });
    }
    if let Some(bytes) = pool.data_mut(bi).get_mut(field) {
        bytes.copy_from_slice(&crc.field().to_be_bytes());
    }
}
