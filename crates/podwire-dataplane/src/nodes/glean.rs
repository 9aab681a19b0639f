//! `ip4-glean` and `ip6-glean`: packets whose next hop has no known MAC.
//!
//! The rewrite node found no neighbor entry for the next hop and sent the
//! packet here with `meta.tx_if` = the outgoing interface and
//! `meta.next_index` = the adjacency. Glean asks the link for the next hop's
//! MAC (an ARP request, a neighbor solicitation: see [`Solicit`]), at most
//! once a second per next hop however many packets wait, and holds the
//! packet in the worker's [`PendingTable`](crate::neighbor::pending::PendingTable) (as Linux does, within bounds; see
//! [`crate::neighbor::pending`]) rather than dropping it: the first packet of
//! a flow to a new neighbor then costs a round trip, not the sender's
//! retransmission timeout.
//!
//! A held packet comes back here when it is due: `arp-input` or `ip6-ndp`
//! learned its next hop, or [`release_due`] (between vectors) found the next
//! hop learned by another worker, its interface gone, or its time up. Glean
//! then puts the Ethernet header in front, as the rewrite node would have,
//! and sends it out of the interface it was routed to, or drops it counted.
//! Only the next hop and the interface are kept with a held packet: the
//! tables may be published anew while it waits, and the adjacency index the
//! rewrite node saw may mean another adjacency by then.

use core::fmt::Display;
use core::marker::PhantomData;
use core::net::IpAddr;

use podwire_wire::ethernet::{EtherType, EthernetAddress};

use crate::buffer::{BUFFER_HEADROOM, BufferIndex};
use crate::clock::Instant;
use crate::engine::Engine;
use crate::graph::{Context, Dispatch, Node};
use crate::interface::InterfaceConfig;
use crate::neighbor::pending::{Family, HOLD_TIME, NextHop};
use crate::nodes::arp::Arp4;
use crate::nodes::ip_common::{Framed, NextHops, frame_for_next_hop};
use crate::nodes::ndp::Nd6;
use crate::tables::{Adjacency, Tables};

crate::drop_reasons! {
    pub enum Drop {
        NeighborUnresolved => ("neighbor-unresolved", "the next hop's MAC was asked for (at most once a second) and did not come within a second: the packets held for it are dropped; the sender retransmits"),
        NeighborQueueFull => ("neighbor-queue-full", "the next hop's MAC is being asked for and as many packets as may wait for it already do (3 per next hop, 256 next hops, an eighth of the buffers): the sender retransmits"),
        NoNextHop => ("no-next-hop", "the packet's route names no next hop of its address family (a podwire bug)"),
        NoInterface => ("no-interface", "the outgoing interface does not exist (it was removed, also while the packet waited for its next hop)"),
        NoSourceAddress => ("no-source-address", "the outgoing interface has no address of this family to ask for the next hop's MAC from: give it one"),
        NoBuffer => ("no-buffer", "no buffer was free to build the request for the next hop's MAC in (the pool is exhausted)"),
        NoHeadroom => ("no-headroom", "no room in front of a packet that waited for its next hop for the Ethernet header (a podwire bug)"),
    }
}

crate::next_nodes! {
    pub enum Next {
        InterfaceOutput => "interface-output",
    }
}

/// An address family's way of asking a link for a neighbor's MAC.
pub trait Solicit {
    /// The glean node's name for this family.
    const NODE: &'static str;
    /// The address family.
    const FAMILY: Family;
    /// The EtherType of this family's packets.
    const ETHERTYPE: EtherType;
    /// An address of this family.
    type Addr: Copy + Into<IpAddr> + Display;

    /// The next hop of `packet` (starting at its IP header) sent by
    /// `adjacency`: its destination when the adjacency is attached, the
    /// gateway when it is a route via one. `None` when the header cannot
    /// be read or the adjacency has no next hop of this family.
    fn next_hop(packet: &[u8], adjacency: Adjacency) -> Option<Self::Addr>;

    /// The switch's address to ask from on `interface`.
    fn source(interface: &InterfaceConfig) -> Option<Self::Addr>;

    /// Writes the whole request frame asking for `target`'s MAC, Ethernet
    /// header first, at the start of `frame`; returns its length, or
    /// `None` when `frame` cannot hold it.
    fn write_request(
        frame: &mut [u8],
        mac: EthernetAddress,
        source: Self::Addr,
        target: Self::Addr,
    ) -> Option<usize>;
}

/// The glean node of the address family `S`.
pub struct Glean<S>(PhantomData<fn() -> S>);

impl<S> Default for Glean<S> {
    fn default() -> Self {
        Glean(PhantomData)
    }
}

impl<S: Solicit> Node for Glean<S> {
    fn name(&self) -> &'static str {
        S::NODE
    }

    fn next_nodes(&self) -> &'static [&'static str] {
        Next::ALL
    }

    fn drop_reasons(&self) -> &'static [crate::counters::DropReason] {
        Drop::ALL
    }

    /// Every packet handed in is sent, dropped, or held in
    /// [`WorkerState::pending`](crate::state::WorkerState::pending), which
    /// owns it until it comes back here.
    fn process(&mut self, cx: &mut Context<'_>, packets: &[BufferIndex], out: &mut Dispatch) {
        let mut next_hops = NextHops::new(cx.tables, S::ETHERTYPE);
        for &bi in packets {
            if let Some(next_hop) = cx.state.pending.take_handed_back(S::FAMILY, bi) {
                release(cx, &mut next_hops, bi, next_hop, out);
                continue;
            }
            match solicit::<S>(cx, bi) {
                Ok((target, request)) => {
                    if let Some(request) = request {
                        out.send(Next::InterfaceOutput, request);
                    }
                    let tx_if = cx.pool.meta(bi).tx_if;
                    hold(cx, bi, (tx_if, target.into()), out);
                }
                Err(reason) => out.drop(bi, reason),
            }
        }
    }
}

/// Builds the request for the next hop of waiting packet `bi`, unless one
/// was sent less than a second ago; returns the next hop and the request.
fn solicit<S: Solicit>(
    cx: &mut Context<'_>,
    bi: BufferIndex,
) -> Result<(S::Addr, Option<BufferIndex>), Drop> {
    let meta = *cx.pool.meta(bi);
    let adjacency = cx
        .tables
        .adjacency(meta.next_index)
        .ok_or(Drop::NoNextHop)?;
    let target = S::next_hop(cx.pool.data(bi), adjacency).ok_or(Drop::NoNextHop)?;
    let interface = cx.tables.interface(meta.tx_if).ok_or(Drop::NoInterface)?;
    let source = S::source(interface).ok_or(Drop::NoSourceAddress)?;
    let mac = interface.mac;
    if !cx
        .state
        .neighbors
        .should_solicit(meta.tx_if, target.into(), cx.now)
    {
        cx.note(bi, || format!("{target} asked for less than a second ago"));
        return Ok((target, None));
    }
    let request = cx.pool.alloc().map_err(|_| Drop::NoBuffer)?;
    let Some(len) = S::write_request(
        &mut cx.pool.raw_mut(request)[BUFFER_HEADROOM..],
        mac,
        source,
        target,
    ) else {
        cx.pool.free(request);
        return Err(Drop::NoBuffer);
    };
    cx.pool.set_data(request, BUFFER_HEADROOM, len);
    cx.pool.meta_mut(request).tx_if = meta.tx_if;
    cx.note(bi, || format!("asking who has {target}, from {source}"));
    Ok((target, Some(request)))
}

/// Holds `bi` until `next_hop` answers, or drops it when as many packets
/// as may wait already do. Packets that waited for `next_hop` past their
/// time are dropped first: this one starts a new wait.
fn hold(cx: &mut Context<'_>, bi: BufferIndex, next_hop: NextHop, out: &mut Dispatch) {
    for expired in cx.state.pending.take_expired(next_hop, cx.now) {
        out.drop(expired, Drop::NeighborUnresolved);
    }
    match cx.state.pending.hold(next_hop, bi, cx.pool, cx.now) {
        Ok(waiting) => cx.note(bi, || {
            format!("held for {}'s MAC ({waiting} waiting)", next_hop.1)
        }),
        Err(e) => {
            cx.note(bi, || e.to_string());
            out.drop(bi, Drop::NeighborQueueFull);
        }
    }
}

/// Sends packet `bi`, handed back after waiting for `next_hop`, out of the
/// interface it was routed to with the Ethernet header the rewrite node
/// would have given it; drops it when the next hop is still unknown (its
/// time is up) or the interface is gone.
fn release(
    cx: &mut Context<'_>,
    next_hops: &mut NextHops<'_>,
    bi: BufferIndex,
    (interface, ip): NextHop,
    out: &mut Dispatch,
) {
    // The adjacency to the next hop itself on its link: the egress a
    // packet to `ip` routed there has, whatever route sent the packet.
    let egress = cx
        .tables
        .attached_adjacency(interface)
        .and_then(|adjacency| {
            next_hops
                .egress(adjacency, ip, &cx.state.neighbors, cx.now)
                .copied()
        });
    // A tunnel has no neighbors: its index was reused for one.
    let Some(egress) = egress.filter(|e| e.config.vxlan.is_none()) else {
        out.drop(bi, Drop::NoInterface);
        return;
    };
    match frame_for_next_hop(cx.pool, bi, &egress) {
        Framed::Ready => {
            cx.note(bi, || format!("{ip} answered: released"));
            out.send(Next::InterfaceOutput, bi);
        }
        Framed::Unresolved => {
            cx.note(bi, || format!("{ip} did not answer within {HOLD_TIME:?}"));
            out.drop(bi, Drop::NeighborUnresolved);
        }
        Framed::NoHeadroom => out.drop(bi, Drop::NoHeadroom),
    }
}

/// The loop of `arp-input` and `ip6-ndp` over `packets`: each message is
/// `read`, then `answer`ed in place (sent to the next node `to_output`) or
/// dropped with why. If the message made the MAC of the neighbor it tells
/// of (`heard`, on the interface it came in on) known, the packets held for
/// that neighbor go back to the glean node (the next node `to_glean`),
/// which sends them at once.
pub(crate) fn answer_and_release<M, D: Into<u16>>(
    cx: &mut Context<'_>,
    packets: &[BufferIndex],
    out: &mut Dispatch,
    (to_output, to_glean): (impl Into<usize> + Copy, impl Into<usize> + Copy),
    read: impl Fn(&mut Context<'_>, BufferIndex) -> Result<M, D>,
    answer: impl Fn(&mut Context<'_>, BufferIndex, &M) -> Result<(), D>,
    heard: impl Fn(&M) -> IpAddr,
) {
    for &bi in packets {
        let rx_if = cx.pool.meta(bi).rx_if;
        let msg = match read(cx, bi) {
            Ok(msg) => msg,
            Err(reason) => {
                out.drop(bi, reason);
                continue;
            }
        };
        match answer(cx, bi, &msg) {
            Ok(()) => out.send(to_output, bi),
            Err(reason) => out.drop(bi, reason),
        }
        release_learned(cx, out, to_glean, (rx_if, heard(&msg)));
    }
}

/// If the MAC of `ip` on `interface` is known, the packets held for it go
/// back to the glean node (their next node `to_glean`).
fn release_learned(
    cx: &mut Context<'_>,
    out: &mut Dispatch,
    to_glean: impl Into<usize> + Copy,
    (interface, ip): NextHop,
) {
    if !cx.state.pending.is_waiting((interface, ip))
        || cx
            .state
            .neighbors
            .resolve(cx.tables, interface, ip, cx.now)
            .is_none()
    {
        return;
    }
    for bi in cx.state.pending.hand_back((interface, ip)) {
        out.send(to_glean, bi);
    }
}

/// Queues for their glean node the held packets that are due: their next
/// hop's MAC is known (learned by another worker, or given by the control
/// plane), their interface is gone, or their time is up. The next
/// [`Engine::run`] sends or drops them, counted. Returns how many were
/// queued.
///
/// A worker calls it between vectors: after [`NeighborTable::sync`] (what
/// other workers learned), and at least about once a second even when idle
/// (so that held packets do not outlive their time). It costs a few
/// comparisons when nothing can have become due.
///
/// [`NeighborTable::sync`]: crate::neighbor::NeighborTable::sync
pub fn release_due(engine: &mut Engine, tables: &Tables, now: Instant) -> usize {
    let Engine { state, graph, .. } = engine;
    let mut queued = 0;
    for next_hop in state.pending.due(&state.neighbors, tables, now) {
        let node = match Family::of(next_hop.1) {
            Family::V4 => Arp4::NODE,
            Family::V6 => Nd6::NODE,
        };
        // Without its glean node (a graph built without it), a packet stays held.
        let Some(node) = graph.node(node) else {
            continue;
        };
        let packets = state.pending.hand_back(next_hop);
        graph.enqueue(node, &packets);
        queued += packets.len();
    }
    queued
}

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
