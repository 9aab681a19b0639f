//! `ip4-input`: the first IPv4 node. Validates the header (RFC 1812
//! §5.2.2: length, version, IHL, total length, checksum), refuses sources
//! no host may send from, applies the strict reverse-path check on
//! interfaces that ask for it (a pod may send only from its own addresses),
//! cuts the Ethernet padding, and hands the packet to `ip4-nat-in` (Services and sessions,
//! then `ip4-lookup`).
//! IP options are allowed and left alone.

use podwire_wire::{checksum, ipv4};

use crate::buffer::BufferIndex;
use crate::graph::{Context, Dispatch, Node};
use crate::nodes::ip_common::{routes_back, trim_to};

crate::next_nodes! {
    pub enum Next {
        NatIn => "ip4-nat-in",
    }
}

crate::drop_reasons! {
    pub enum Drop {
        Truncated => ("truncated", "shorter than the IPv4 header it starts (20 bytes, or the IHL it announces)"),
        BadVersion => ("bad-version", "the version field is not 4"),
        BadIhl => ("bad-ihl", "the IHL field is below 5: a header cannot be shorter than 20 bytes"),
        BadTotalLength => ("bad-total-length", "the total length is shorter than the header"),
        LengthOverFrame => ("length-over-frame", "the total length is longer than the frame: the packet was cut short on the way"),
        TrailingData => ("trailing-data", "the frame carries whole buffers of bytes after the IP packet, more than any padding"),
        BadChecksum => ("bad-checksum", "the header checksum is wrong: the header was corrupted"),
        BadSource => ("bad-source", "the source address is multicast or broadcast, which no host sends from"),
        MulticastUnsupported => ("multicast-unsupported", "the destination is multicast: podwire does not route IPv4 multicast"),
        SpoofedSource => ("spoofed-source", "the source address does not route back out of the interface the packet came in on (strict reverse-path check: a pod sending from an address not its own)"),
    }
}

/// The `ip4-input` node.
#[derive(Debug, Default)]
pub struct Ip4Input;

impl Node for Ip4Input {
    fn name(&self) -> &'static str {
        "ip4-input"
    }

    fn next_nodes(&self) -> &'static [&'static str] {
        Next::ALL
    }

    fn drop_reasons(&self) -> &'static [crate::counters::DropReason] {
        Drop::ALL
    }

    fn process(&mut self, cx: &mut Context<'_>, packets: &[BufferIndex], out: &mut Dispatch) {
        for &bi in packets {
            match validate(cx, bi) {
                Ok(()) => out.send(Next::NatIn, bi),
                Err(reason) => out.drop(bi, reason),
            }
        }
    }
}

fn validate(cx: &mut Context<'_>, bi: BufferIndex) -> Result<(), Drop> {
    let frame_len = cx.pool.total_length(bi);
    let data = cx.pool.data(bi);
    if data.len() < ipv4::HEADER_LEN {
        return Err(Drop::Truncated);
    }
    let ip = ipv4::Packet::new_unchecked(data);
    if ip.version() != 4 {
        return Err(Drop::BadVersion);
    }
    let header_len = usize::from(ip.header_len());
    if header_len < ipv4::HEADER_LEN {
        return Err(Drop::BadIhl);
    }
    if header_len > data.len() {
        return Err(Drop::Truncated);
    }
    let total_len = usize::from(ip.total_len());
    if total_len < header_len {
        return Err(Drop::BadTotalLength);
    }
    if total_len > frame_len {
        return Err(Drop::LengthOverFrame);
    }
    if !checksum_ok(ip, header_len) {
        return Err(Drop::BadChecksum);
    }
    let (src, dst, protocol, ttl) = (ip.src_addr(), ip.dst_addr(), ip.protocol(), ip.ttl());
    if src.is_multicast() || src.is_broadcast() {
        return Err(Drop::BadSource);
    }
    if dst.is_multicast() {
        return Err(Drop::MulticastUnsupported);
    }
    let rx_if = cx.pool.meta(bi).rx_if;
    let source_check = cx.tables.interface(rx_if).is_some_and(|i| i.source_check);
    if source_check && !routes_back(cx.tables.route4(src), rx_if) {
        cx.note(bi, || {
            format!("{src} does not route back out of the rx interface")
        });
        return Err(Drop::SpoofedSource);
    }
    if total_len < frame_len && !trim_to(cx.pool, bi, total_len) {
        return Err(Drop::TrailingData);
    }
    cx.note(bi, || {
        format!("{src} → {dst} {protocol} ttl {ttl} length {total_len}")
    });
    Ok(())
}

/// Whether the header checksum of `ip`, whose header is `header_len` bytes,
/// is right. The usual 20-byte header is summed as a fixed-size array, which
/// the compiler unrolls.
#[inline]
fn checksum_ok(ip: ipv4::Packet<&[u8]>, header_len: usize) -> bool {
    match ip.into_inner().first_chunk::<{ ipv4::HEADER_LEN }>() {
        Some(fixed) if header_len == ipv4::HEADER_LEN => checksum::data(fixed) == 0xffff,
        _ => ip.verify_checksum(),
    }
}
