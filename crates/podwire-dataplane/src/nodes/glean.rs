//! `ip4-glean` and `ip6-glean`: packets whose next hop has no known MAC.
//!
//! The rewrite node found no neighbor entry for the next hop and sent the
//! packet here with `meta.tx_if` = the outgoing interface and
//! `meta.next_index` = the adjacency. Glean asks the link for the next hop's
//! MAC (an ARP request, a neighbor solicitation: see [`Solicit`]), at most
//! once a second per next hop however many packets wait, and drops the
//! waiting packet. That is what VPP does: the sender retransmits, and by
//! then the answer has been learned. There is no hold queue to bound.

use core::fmt::Display;
use core::marker::PhantomData;
use core::net::IpAddr;

use podwire_wire::ethernet::EthernetAddress;

use crate::buffer::{BUFFER_HEADROOM, BufferIndex};
use crate::graph::{Context, Dispatch, Node};
use crate::interface::InterfaceConfig;
use crate::tables::Adjacency;

crate::drop_reasons! {
    pub enum Drop {
        NeighborUnresolved => ("neighbor-unresolved", "the next hop's MAC is not known yet: it was asked for (at most once a second) and the packet dropped; the sender retransmits"),
        NoNextHop => ("no-next-hop", "the packet's route names no next hop of its address family (a podwire bug)"),
        NoInterface => ("no-interface", "the outgoing interface does not exist (it was removed)"),
        NoSourceAddress => ("no-source-address", "the outgoing interface has no address of this family to ask for the next hop's MAC from: give it one"),
        NoBuffer => ("no-buffer", "no buffer was free to build the request for the next hop's MAC in (the pool is exhausted)"),
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

    fn process(&mut self, cx: &mut Context<'_>, packets: &[BufferIndex], out: &mut Dispatch) {
        for &bi in packets {
            let reason = match solicit::<S>(cx, bi) {
                Ok(Some(request)) => {
                    out.send(Next::InterfaceOutput, request);
                    Drop::NeighborUnresolved
                }
                Ok(None) => Drop::NeighborUnresolved,
                Err(reason) => reason,
            };
            out.drop(bi, reason);
        }
    }
}

/// Builds the request for the next hop of waiting packet `bi`, unless one
/// was sent less than a second ago.
fn solicit<S: Solicit>(cx: &mut Context<'_>, bi: BufferIndex) -> Result<Option<BufferIndex>, Drop> {
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
        return Ok(None);
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
    Ok(Some(request))
}
