//! Merging consecutive TCP segments of a flow into one large segment for a device that takes
//! TSO (what Linux's GRO and VPP's `gro` node do), so that a stream that reached the switch
//! as MTU-sized segments (over VXLAN, from an uplink) leaves for a pod's tap as 64 KiB
//! segments: one write instead of forty.
//!
//! Within one vector, a segment is appended to the packet of its flow already queued on the
//! same interface when it continues it exactly: the next sequence number, the same headers
//! but for the IP length, IPv4 identification and checksums, only ACK (and PSH on the
//! last) set, a payload of at most the first segment's (the segment size). No copy: the
//! segment's buffers join the chain, its headers skipped. A segment that cannot be merged
//! ends its flow's merge (a later one would otherwise pass it); a merge ends at a short
//! segment or PSH, at 64 KiB, and at the end of the vector, when the large segment's headers
//! are written: its lengths, and its checksum left to the device (CHECKSUM_PARTIAL).
//!
//! Segments whose checksum is filled in are checked first, as Linux does: the large segment
//! is trusted by the receiving kernel, so a segment damaged on the way must not hide in it.

use podwire_wire::checksum;
use podwire_wire::tcp::{self, flags};
use podwire_wire::{ipv4, ipv6};

use super::headers::{Layout, Transport};
use crate::buffer::{BufferIndex, BufferPool, GsoKind, OffloadInfo};
use crate::graph::Context;
use crate::interface::{IfIndex, TxOffloads};
use crate::nodes::ip_common::sum_from;

/// The most flows merged at once in one vector; a segment of another flow goes alone.
const FLOWS: usize = 16;

/// The most buffers a merged packet's chain holds: well within what a device gathers in one
/// write (a tap: 63 buffers).
pub const GRO_MAX_BUFFERS: usize = 48;

/// Where the checksum is in a TCP header.
const TCP_CHECKSUM_AT: u16 = 16;

/// Whether a device that takes `device` gets merged segments: it must cut them again (TSO)
/// and checksum them.
#[inline]
pub fn merges_for(device: TxOffloads) -> bool {
    device.csum && (device.tso4 || device.tso6)
}

/// The merges open in one vector of an output node.
#[derive(Debug, Default)]
pub struct Gro {
    flows: Vec<Flow>,
}

/// What became of a packet offered to [`Gro::offer`].
#[derive(Debug)]
pub enum Offer {
    /// It joined a queued packet: it must not be queued itself.
    Merged,
    /// Queue it, then call [`Gro::start`]: later segments may join it.
    Start(Segment),
    /// Queue it as any packet.
    Alone,
}

/// The identity of a TCP flow leaving by one interface.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct FlowKey {
    tx_if: IfIndex,
    v6: bool,
    /// Source then destination address (IPv4 in the first 8 bytes).
    addresses: [u8; 32],
    ports: [u8; 4],
}

/// A TCP segment that may start or continue a merge.
#[derive(Copy, Clone, Debug)]
pub struct Segment {
    key: FlowKey,
    layout: Layout,
    seq: u32,
    payload: usize,
    push: bool,
    buffers: usize,
    last: BufferIndex,
}

/// What a packet is to the merging.
enum Seen {
    /// A segment that may be merged or start a merge.
    Segment(Segment),
    /// A TCP packet of a flow, not to be merged: it ends the flow's merge.
    Flow(FlowKey),
    /// An IP packet whose transport cannot be read (a fragment, IPv6 extension headers):
    /// it ends the merges between its addresses.
    Addresses(FlowKey),
    /// Nothing a merge is concerned with.
    Unrelated,
}

/// A merge in progress: a queued packet and what continues it.
#[derive(Copy, Clone, Debug)]
struct Flow {
    key: FlowKey,
    head: BufferIndex,
    /// The last buffer of the head's chain, to append to.
    last: BufferIndex,
    layout: Layout,
    next_seq: u32,
    /// The segment size: the first segment's payload.
    mss: usize,
    /// Payload bytes merged, the first segment's included.
    payload: usize,
    segments: usize,
    buffers: usize,
    /// The last segment merged carried PSH.
    push: bool,
    /// The head's checksum was checked (when a second segment came).
    checked: bool,
}

impl Gro {
    /// Looks at packet `bi`, leaving by `tx_if` whose device takes `device` (for which
    /// [`merges_for`] holds), and merges it into the packet its flow queued when it
    /// continues it.
    pub fn offer(
        &mut self,
        cx: &mut Context<'_>,
        bi: BufferIndex,
        tx_if: IfIndex,
        device: TxOffloads,
    ) -> Offer {
        match classify(cx.pool, bi, tx_if, device) {
            Seen::Unrelated => Offer::Alone,
            Seen::Flow(key) => {
                self.close_where(cx, |f| f.key == key);
                Offer::Alone
            }
            Seen::Addresses(key) => {
                self.close_where(cx, |f| {
                    f.key.tx_if == key.tx_if && f.key.addresses == key.addresses
                });
                Offer::Alone
            }
            Seen::Segment(segment) => {
                if let Some(i) = self.flows.iter().position(|f| f.key == segment.key) {
                    if self.merge(cx, i, bi, &segment) {
                        return Offer::Merged;
                    }
                    self.close(cx, i);
                }
                if self.flows.len() < FLOWS && !segment.push {
                    Offer::Start(segment)
                } else {
                    Offer::Alone
                }
            }
        }
    }

    /// Opens a merge on packet `bi`, queued after [`Offer::Start`] said so.
    pub fn start(&mut self, bi: BufferIndex, segment: Segment) {
        self.flows.push(Flow {
            key: segment.key,
            head: bi,
            last: segment.last,
            layout: segment.layout,
            next_seq: segment.seq.wrapping_add(segment.payload as u32),
            mss: segment.payload,
            payload: segment.payload,
            segments: 1,
            buffers: segment.buffers,
            push: false,
            checked: false,
        });
    }

    /// Ends every merge: the end of the vector.
    pub fn flush(&mut self, cx: &mut Context<'_>) {
        while let Some(flow) = self.flows.pop() {
            finish(cx, &flow);
        }
    }

    fn close(&mut self, cx: &mut Context<'_>, i: usize) {
        let flow = self.flows.swap_remove(i);
        finish(cx, &flow);
    }

    fn close_where(&mut self, cx: &mut Context<'_>, ends: impl Fn(&Flow) -> bool) {
        let mut i = 0;
        while i < self.flows.len() {
            if ends(&self.flows[i]) {
                self.close(cx, i);
            } else {
                i += 1;
            }
        }
    }

    /// Appends segment `bi` to flow `i` if it continues it; ends the flow when the segment
    /// is its last.
    fn merge(
        &mut self,
        cx: &mut Context<'_>,
        i: usize,
        bi: BufferIndex,
        segment: &Segment,
    ) -> bool {
        let flow = &mut self.flows[i];
        let pool = &mut *cx.pool;
        let continues = segment.seq == flow.next_seq
            && segment.payload <= flow.mss
            && Layout {
                end: flow.layout.end,
                ..segment.layout
            } == flow.layout
            && flow.buffers + segment.buffers <= GRO_MAX_BUFFERS
            && ip_len(&flow.layout, flow.payload + segment.payload) <= usize::from(u16::MAX)
            && same_headers(pool.data(flow.head), pool.data(bi), &flow.layout);
        if !continues {
            return false;
        }
        if !flow.checked {
            if !checksum_ok(pool, flow.head, &flow.layout) {
                return false;
            }
            flow.checked = true;
        }
        if !checksum_ok(pool, bi, &segment.layout) {
            return false;
        }
        cx.note(bi, || "merged into the segment before it (GRO)".to_owned());
        let pool = &mut *cx.pool;
        if pool.advance(bi, segment.layout.payload).is_err() {
            // Layout::parse found the headers in the first buffer: cannot happen.
            return false;
        }
        pool.append(flow.last, bi);
        flow.last = segment.last;
        flow.next_seq = flow.next_seq.wrapping_add(segment.payload as u32);
        flow.payload += segment.payload;
        flow.segments += 1;
        flow.buffers += segment.buffers;
        flow.push = segment.push;
        if segment.payload < flow.mss || segment.push {
            self.close(cx, i);
        }
        true
    }
}

/// What the IP length field says of a packet of layout `layout` with `payload` bytes of
/// TCP payload.
fn ip_len(layout: &Layout, payload: usize) -> usize {
    let from = match layout.v6 {
        true => layout.l4,
        false => layout.l3,
    };
    layout.payload - from + payload
}

/// Writes the headers of a merged packet and says what it asks of its device; nothing for
/// a packet nothing joined.
fn finish(cx: &mut Context<'_>, flow: &Flow) {
    if flow.segments < 2 {
        return;
    }
    let layout = &flow.layout;
    let pool = &mut *cx.pool;
    let headers = &mut pool.data_mut(flow.head)[..layout.payload];
    // At most 65535: `merge` checked.
    let len = ip_len(layout, flow.payload) as u16;
    if layout.v6 {
        ipv6::Packet::new_unchecked(&mut headers[layout.l3..]).set_payload_len(len);
    } else {
        let mut ip = ipv4::Packet::new_unchecked(&mut headers[layout.l3..]);
        ip.set_total_len(len);
        ip.fill_checksum();
    }
    let pseudo = layout.pseudo_header(headers, layout.payload - layout.l4 + flow.payload);
    let mut t = tcp::Packet::new_unchecked(&mut headers[layout.l4..]);
    if flow.push {
        t.set_flags(t.flags() | flags::PSH);
    }
    t.set_checksum(pseudo);
    // Header offsets and the segment size are within one buffer.
    pool.meta_mut(flow.head).offload = OffloadInfo {
        needs_csum: true,
        csum_start: layout.l4 as u16,
        csum_offset: TCP_CHECKSUM_AT,
        gso: if layout.v6 {
            GsoKind::Tcp6
        } else {
            GsoKind::Tcp4
        },
        gso_size: flow.mss as u16,
        hdr_len: layout.payload as u16,
    };
    cx.state.offload.count_merged(flow.segments);
    let n = flow.segments;
    cx.note(flow.head, || format!("{n} segments merged into one (GRO)"));
}

/// Whether the TCP checksum of packet `bi` is right, or left to a device (checked by none
/// of the switch's nodes: it covers only what the sender wrote).
fn checksum_ok(pool: &BufferPool, bi: BufferIndex, layout: &Layout) -> bool {
    if pool.meta(bi).offload.needs_csum {
        return true;
    }
    let head = pool.data(bi);
    let pseudo = layout.pseudo_header(head, layout.end - layout.l4);
    checksum::combine(&[pseudo, sum_from(pool, bi, layout.l4)]) == 0xffff
}

/// Whether the headers of `segment` are those of `head` but for what differs between the
/// segments of one large one: the IP length, the IPv4 identification and header checksum,
/// the sequence number, PSH and the TCP checksum. Both are of layout `layout`.
fn same_headers(head: &[u8], segment: &[u8], layout: &Layout) -> bool {
    let (l3, l4) = (layout.l3, layout.l4);
    let same = |from: usize, to: usize| head[from..to] == segment[from..to];
    let ip = match layout.v6 {
        // Version, traffic class, flow label; next header, hop limit, addresses.
        true => same(l3, l3 + 4) && same(l3 + 6, l4),
        // Version, header length, TOS; flags, fragment offset, TTL, protocol; addresses,
        // options.
        false => same(l3, l3 + 2) && same(l3 + 6, l3 + 10) && same(l3 + 12, l4),
    };
    // Ports; acknowledgment, data offset; window; urgent pointer, options. The flags were
    // checked by `classify`: ACK, and PSH only on a last segment.
    ip && same(0, l3)
        && same(l4, l4 + 4)
        && same(l4 + 8, l4 + 13)
        && same(l4 + 14, l4 + 16)
        && same(l4 + 18, layout.payload)
}

/// What packet `bi` leaving by `tx_if` (whose device takes `device`) is to the merging.
fn classify(pool: &BufferPool, bi: BufferIndex, tx_if: IfIndex, device: TxOffloads) -> Seen {
    let head = pool.data(bi);
    let len = pool.total_length(bi);
    let layout = match Layout::parse(head, len) {
        Ok(layout) if layout.transport == Transport::Tcp => layout,
        Ok(_) => return Seen::Unrelated,
        Err(_) => return unreadable(head, tx_if),
    };
    let mut key = FlowKey {
        tx_if,
        v6: layout.v6,
        addresses: [0; 32],
        ports: [0; 4],
    };
    let addresses = match layout.v6 {
        true => &head[layout.l3 + 8..layout.l3 + 40],
        false => &head[layout.l3 + 12..layout.l3 + 20],
    };
    key.addresses[..addresses.len()].copy_from_slice(addresses);
    key.ports.copy_from_slice(&head[layout.l4..layout.l4 + 4]);
    let t = tcp::Packet::new_unchecked(&head[layout.l4..]);
    let info = &pool.meta(bi).offload;
    let payload = layout.end - layout.payload;
    let kind_taken = if layout.v6 { device.tso6 } else { device.tso4 };
    let partial_at_tcp = !info.needs_csum
        || (usize::from(info.csum_start) == layout.l4 && info.csum_offset == TCP_CHECKSUM_AT);
    let mergeable = kind_taken
        && info.gso == GsoKind::None
        && partial_at_tcp
        && layout.end == len
        && payload > 0
        && t.flags() & !flags::PSH == flags::ACK;
    if !mergeable {
        return Seen::Flow(key);
    }
    let (buffers, last) = pool
        .chain(bi)
        .fold((0, bi), |(n, _), buffer| (n + 1, buffer));
    Seen::Segment(Segment {
        key,
        layout,
        seq: t.seq_number(),
        payload,
        push: t.flags() & flags::PSH != 0,
        buffers,
        last,
    })
}

/// What an IP packet whose TCP or UDP header cannot be read is to the merging: one that may
/// carry a TCP flow's bytes (a fragment, IPv6 extension headers, a damaged header) ends the
/// merges between its addresses.
fn unreadable(head: &[u8], tx_if: IfIndex) -> Seen {
    const TCP: u8 = 6;
    const UDP: u8 = 17;
    const ICMPV6: u8 = 58;
    let l3 = podwire_wire::ethernet::HEADER_LEN;
    let (v6, addresses, may_be_tcp) = match head.get(12..14) {
        Some([0x08, 0x00]) if head.len() >= l3 + ipv4::HEADER_LEN => {
            let ip = ipv4::Packet::new_unchecked(&head[l3..]);
            let tcp = ip.protocol().0 == TCP || ip.is_fragment();
            (false, &head[l3 + 12..l3 + 20], tcp)
        }
        Some([0x86, 0xdd]) if head.len() >= l3 + ipv6::HEADER_LEN => {
            let next = head[l3 + 6];
            (true, &head[l3 + 8..l3 + 40], !matches!(next, UDP | ICMPV6))
        }
        _ => return Seen::Unrelated,
    };
    if !may_be_tcp {
        return Seen::Unrelated;
    }
    let mut key = FlowKey {
        tx_if,
        v6,
        addresses: [0; 32],
        ports: [0; 4],
    };
    key.addresses[..addresses.len()].copy_from_slice(addresses);
    Seen::Addresses(key)
}

#[cfg(test)]
mod tests;
