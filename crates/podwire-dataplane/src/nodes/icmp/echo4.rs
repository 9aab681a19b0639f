//! `ip4-icmp-echo`: answers a ping to one of the switch's addresses. The
//! request becomes the reply in place: addresses swapped, TTL 64, type
//! echo reply; the ICMP checksum is updated for the one word that changed
//! (RFC 1624) once the request's own checksum has been verified, so a
//! 9000-byte ping costs one pass over its data. The reply is routed like
//! any packet, by `ip4-lookup`.

use podwire_wire::{checksum, icmpv4, ipv4};

use crate::buffer::BufferIndex;
use crate::graph::{Context, Dispatch, Node};
use crate::nodes::ip_common::sum_from;
use crate::nodes::ip4::header;

crate::next_nodes! {
    pub enum Next {
        Lookup => "ip4-lookup",
    }
}

crate::drop_reasons! {
    pub enum Drop {
        BadHeader => ("bad-header", "no whole IPv4 header: the packet skipped validation (a podwire bug)"),
        Truncated => ("truncated", "the echo request is shorter than an ICMP header"),
        BadChecksum => ("bad-checksum", "the echo request's ICMP checksum is wrong: it was corrupted"),
        NoReplyAddress => ("no-reply-address", "the echo request comes from 0.0.0.0: there is no one to answer"),
    }
}

/// TTL of the replies (the usual initial TTL, RFC 1700).
const REPLY_TTL: u8 = 64;

/// The `ip4-icmp-echo` node.
#[derive(Debug, Default)]
pub struct Ip4IcmpEcho;

impl Node for Ip4IcmpEcho {
    fn name(&self) -> &'static str {
        "ip4-icmp-echo"
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
                Ok(()) => out.send(Next::Lookup, bi),
                Err(reason) => out.drop(bi, reason),
            }
        }
    }
}

fn reply_in_place(cx: &mut Context<'_>, bi: BufferIndex) -> Result<(), Drop> {
    let data = cx.pool.data(bi);
    let ip = header(data).ok_or(Drop::BadHeader)?;
    let header_len = usize::from(ip.header_len());
    let icmp_end = header_len + icmpv4::HEADER_LEN;
    if usize::from(ip.total_len()) < icmp_end || data.len() < icmp_end {
        return Err(Drop::Truncated);
    }
    let (requester, us) = (ip.src_addr(), ip.dst_addr());
    if requester.is_unspecified() {
        return Err(Drop::NoReplyAddress);
    }
    // ip4-input cut the packet to its total length: the ICMP message is
    // everything after the IP header, across the chain.
    if sum_from(cx.pool, bi, header_len) != 0xffff {
        return Err(Drop::BadChecksum);
    }

    let (ip_bytes, icmp_bytes) = cx.pool.data_mut(bi).split_at_mut(header_len);
    let mut ip = ipv4::Packet::new_unchecked(ip_bytes);
    ip.set_src_addr(us);
    ip.set_dst_addr(requester);
    ip.set_ttl(REPLY_TTL);
    ip.fill_checksum();
    let mut icmp = icmpv4::Packet::new_unchecked(icmp_bytes);
    let code = icmp.msg_code();
    let old_word = u16::from_be_bytes([icmpv4::Message::ECHO_REQUEST.0, code]);
    let new_word = u16::from_be_bytes([icmpv4::Message::ECHO_REPLY.0, code]);
    icmp.set_msg_type(icmpv4::Message::ECHO_REPLY);
    icmp.set_checksum(checksum::update_u16(icmp.checksum(), old_word, new_word));
    let (ident, seq) = (icmp.echo_ident(), icmp.echo_seq_no());
    cx.pool.meta_mut(bi).originated = true;
    cx.note(bi, || {
        format!("echo reply to {requester} id {ident} seq {seq}")
    });
    Ok(())
}
