//! `ip6-input`: the first IPv6 node. Validates the header (version,
//! payload length), refuses multicast sources, applies the strict
//! reverse-path check on interfaces that ask for it (the unspecified and
//! link-local sources that neighbor discovery uses pass), cuts the Ethernet
//! padding, then sorts: neighbor discovery to `ip6-ndp`, link-local
//! destinations of the switch to `ip6-local`, everything else to
//! `ip6-nat-in` (Services and sessions, then `ip6-lookup`). Multicast is not
//! routed, link-local is never forwarded (RFC 4291 §2.5.6).

use podwire_wire::ip::IpProtocol;
use podwire_wire::ipv6;

use crate::buffer::BufferIndex;
use crate::graph::{Context, Dispatch, Node};
use crate::nodes::icmp::is_ndp;
use crate::nodes::ip_common::{routes_back, trim_to};

crate::next_nodes! {
    pub enum Next {
        NatIn => "ip6-nat-in",
        Local => "ip6-local",
        Ndp => "ip6-ndp",
    }
}

crate::drop_reasons! {
    pub enum Drop {
        Truncated => ("truncated", "shorter than the 40-byte IPv6 header"),
        BadVersion => ("bad-version", "the version field is not 6"),
        LengthOverFrame => ("length-over-frame", "the payload length is longer than the frame: the packet was cut short on the way"),
        TrailingData => ("trailing-data", "the frame carries whole buffers of bytes after the IP packet, more than any padding"),
        BadSource => ("bad-source", "the source address is multicast, which no host sends from"),
        SpoofedSource => ("spoofed-source", "the source address does not route back out of the interface the packet came in on (strict reverse-path check: a pod sending from an address not its own)"),
        MulticastUnsupported => ("multicast-unsupported", "the destination is multicast and not neighbor discovery: podwire does not route IPv6 multicast"),
        LinkLocalNotForwarded => ("link-local-not-forwarded", "to a link-local address that is not the switch's on this link: link-local packets are never forwarded"),
    }
}

/// Where a valid packet goes.
enum Verdict {
    Next(Next),
    Drop(Drop),
}

/// The `ip6-input` node.
#[derive(Debug, Default)]
pub struct Ip6Input;

impl Node for Ip6Input {
    fn name(&self) -> &'static str {
        "ip6-input"
    }

    fn next_nodes(&self) -> &'static [&'static str] {
        Next::ALL
    }

    fn drop_reasons(&self) -> &'static [crate::counters::DropReason] {
        Drop::ALL
    }

    fn process(&mut self, cx: &mut Context<'_>, packets: &[BufferIndex], out: &mut Dispatch) {
        for &bi in packets {
            match classify(cx, bi) {
                Verdict::Next(next) => out.send(next, bi),
                Verdict::Drop(reason) => out.drop(bi, reason),
            }
        }
    }
}

fn classify(cx: &mut Context<'_>, bi: BufferIndex) -> Verdict {
    let tables = cx.tables;
    let frame_len = cx.pool.total_length(bi);
    let data = cx.pool.data(bi);
    if data.len() < ipv6::HEADER_LEN {
        return Verdict::Drop(Drop::Truncated);
    }
    let ip = ipv6::Packet::new_unchecked(data);
    if ip.version() != 6 {
        return Verdict::Drop(Drop::BadVersion);
    }
    let total_len = ipv6::HEADER_LEN + usize::from(ip.payload_len());
    if total_len > frame_len {
        return Verdict::Drop(Drop::LengthOverFrame);
    }
    let (src, dst, next_header) = (ip.src_addr(), ip.dst_addr(), ip.next_header());
    let ndp = next_header == IpProtocol::ICMPV6 && ip.payload().first().is_some_and(|&t| is_ndp(t));
    if src.is_multicast() {
        return Verdict::Drop(Drop::BadSource);
    }
    let rx_if = cx.pool.meta(bi).rx_if;
    let config = tables.interface(rx_if);
    let checked = config.is_some_and(|c| c.source_check)
        && !src.is_unspecified()
        && !ipv6::is_link_local(src);
    if checked && !routes_back(tables.route6(src), rx_if) {
        cx.note(bi, || {
            format!("{src} does not route back out of the rx interface")
        });
        return Verdict::Drop(Drop::SpoofedSource);
    }
    if total_len < frame_len && !trim_to(cx.pool, bi, total_len) {
        return Verdict::Drop(Drop::TrailingData);
    }
    cx.note(bi, || {
        format!("{src} → {dst} {next_header} length {total_len}")
    });
    if ndp {
        return Verdict::Next(Next::Ndp);
    }
    if dst.is_multicast() {
        return Verdict::Drop(Drop::MulticastUnsupported);
    }
    if ipv6::is_link_local(dst) {
        return match config {
            Some(c) if c.has_ip6(dst) => Verdict::Next(Next::Local),
            _ => Verdict::Drop(Drop::LinkLocalNotForwarded),
        };
    }
    Verdict::Next(Next::NatIn)
}
