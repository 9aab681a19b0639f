//! `ip6-icmp-echo`: answers a ping to one of the switch's IPv6 addresses,
//! link-local ones included. The request becomes the reply in place:
//! addresses swapped, hop limit 64, type echo reply. The checksum covers
//! the pseudo-header, which swapping the addresses does not change, so
//! once the request's checksum has been verified it is updated for the
//! type alone (RFC 1624). A reply to a link-local address goes straight
//! back out of the link the request came in on; any other is routed by
//! `ip6-lookup`.

use podwire_wire::ip::IpProtocol;
use podwire_wire::{checksum, icmpv6, ipv6};

use crate::buffer::BufferIndex;
use crate::graph::{Context, Dispatch, Node};
use crate::nodes::ip_common::sum_from;
use crate::nodes::ip6::header;

use super::{ReplyRoute, reply_route6};

crate::next_nodes! {
    pub enum Next {
        Lookup => "ip6-lookup",
        Rewrite => "ip6-rewrite",
    }
}

crate::drop_reasons! {
    pub enum Drop {
        BadHeader => ("bad-header", "no whole IPv6 header: the packet skipped validation (a podwire bug)"),
        Truncated => ("truncated", "the echo request is shorter than an ICMPv6 header"),
        BadChecksum => ("bad-checksum", "the echo request's ICMPv6 checksum is wrong: it was corrupted"),
        NoReplyAddress => ("no-reply-address", "the echo request comes from :: (or from a link-local address on an interface that is gone): there is no one to answer"),
    }
}

/// Hop limit of the replies (RFC 4443 leaves it to the node; 64 as Linux).
const REPLY_HOP_LIMIT: u8 = 64;

/// The `ip6-icmp-echo` node.
#[derive(Debug, Default)]
pub struct Ip6IcmpEcho;

impl Node for Ip6IcmpEcho {
    fn name(&self) -> &'static str {
        "ip6-icmp-echo"
    }

    fn next_nodes(&self) -> &'static [&'static str] {
        Next::ALL
    }

    fn drop_reasons(&self) -> &'static [crate::counters::DropReason] {
        Drop::ALL
    }

    fn process(&mut self, cx: &mut Context<'_>, packets: &[BufferIndex], out: &mut Dispatch) {
        for &bi in packets {
            match reply_in_place(cx, bi) {
                Ok(next) => out.send(next, bi),
                Err(reason) => out.drop(bi, reason),
            }
        }
    }
}

fn reply_in_place(cx: &mut Context<'_>, bi: BufferIndex) -> Result<Next, Drop> {
    let data = cx.pool.data(bi);
    let ip = header(data).ok_or(Drop::BadHeader)?;
    let icmp_len = ip.payload_len();
    if usize::from(icmp_len) < icmpv6::HEADER_LEN
        || data.len() < ipv6::HEADER_LEN + icmpv6::HEADER_LEN
    {
        return Err(Drop::Truncated);
    }
    let (requester, us) = (ip.src_addr(), ip.dst_addr());
    if requester.is_unspecified() {
        return Err(Drop::NoReplyAddress);
    }
    // ip6-input cut the packet to its length: the ICMPv6 message is
    // everything after the fixed header, across the chain.
    let pseudo_header =
        checksum::pseudo_header_v6(requester, us, IpProtocol::ICMPV6, u32::from(icmp_len));
    let sum = checksum::combine(&[pseudo_header, sum_from(cx.pool, bi, ipv6::HEADER_LEN)]);
    if sum != 0xffff {
        return Err(Drop::BadChecksum);
    }
    let meta = cx.pool.meta(bi);
    let next = match reply_route6(cx.tables, meta.rx_if, requester) {
        Some(ReplyRoute::Lookup) => Next::Lookup,
        Some(ReplyRoute::SameLink(adjacency)) => {
            cx.pool.meta_mut(bi).next_index = adjacency;
            Next::Rewrite
        }
        None => return Err(Drop::NoReplyAddress),
    };

    let (ip_bytes, icmp_bytes) = cx.pool.data_mut(bi).split_at_mut(ipv6::HEADER_LEN);
    let mut ip = ipv6::Packet::new_unchecked(ip_bytes);
    ip.set_src_addr(us);
    ip.set_dst_addr(requester);
    ip.set_hop_limit(REPLY_HOP_LIMIT);
    let mut icmp = icmpv6::Packet::new_unchecked(icmp_bytes);
    let code = icmp.msg_code();
    let old_word = u16::from_be_bytes([icmpv6::Message::ECHO_REQUEST.0, code]);
    let new_word = u16::from_be_bytes([icmpv6::Message::ECHO_REPLY.0, code]);
    icmp.set_msg_type(icmpv6::Message::ECHO_REPLY);
    icmp.set_checksum(checksum::update_u16(icmp.checksum(), old_word, new_word));
    let (ident, seq) = (icmp.echo_ident(), icmp.echo_seq_no());
    cx.pool.meta_mut(bi).originated = true;
    cx.note(bi, || {
        format!("echo reply to {requester} id {ident} seq {seq}")
    });
    Ok(next)
}
