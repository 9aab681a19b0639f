//! Where a forwarded packet leaves and to which neighbor, and the Ethernet
//! header that takes it there: what `ip4-rewrite` and `ip6-rewrite` share.
//!
//! Resolving an adjacency costs two table reads and a hash lookup of the
//! neighbor's MAC, and the packets of a vector mostly share one (a route
//! via a gateway), so a rewrite node resolves through [`NextHops`], which
//! remembers the last adjacency it resolved for the rest of the vector.

use core::net::IpAddr;

use podwire_wire::ethernet::{self, EtherType, EthernetAddress};

use crate::buffer::{BufferIndex, BufferPool};
use crate::clock::Instant;
use crate::interface::{IfIndex, InterfaceConfig};
use crate::neighbor::NeighborTable;
use crate::nodes::vxlan::inner_mac;
use crate::tables::{Adjacency, Tables};

/// Where a forwarded packet leaves. For a VXLAN tunnel interface, the frame is the inner
/// one, to the remote end's [`inner_mac`].
#[derive(Copy, Clone, Debug)]
pub(crate) struct Egress<'t> {
    /// The outgoing interface.
    pub interface: IfIndex,
    /// Its configuration (MAC, MTU).
    pub config: &'t InterfaceConfig,
    /// The neighbor whose MAC the frame goes to: the destination itself on
    /// an attached route, the gateway on a route via a router, the remote end
    /// of a tunnel.
    pub next_hop: IpAddr,
    /// The interface is a VXLAN tunnel: the frame goes on to `vxlan-encap`.
    pub tunnel: bool,
    /// The Ethernet header that takes a packet to the next hop, when the
    /// neighbor table knows the next hop's MAC.
    pub ethernet: Option<[u8; ethernet::HEADER_LEN]>,
}

/// The adjacencies one rewrite node resolves during one vector.
///
/// It lives for one `process` call only: the tables, the time and the
/// neighbor table cannot change during it, so a remembered resolution is
/// the one that resolving again would give.
pub(crate) struct NextHops<'t> {
    tables: &'t Tables,
    /// The EtherType of the packets resolved for.
    ethertype: EtherType,
    /// The last adjacency resolved.
    last: Option<Resolved<'t>>,
}

/// An adjacency resolved for a packet.
struct Resolved<'t> {
    /// The adjacency's index.
    adjacency: u32,
    /// Whether the next hop is the packet's destination (an attached
    /// route): the egress then holds for that destination only.
    to_destination: bool,
    egress: Egress<'t>,
}

impl<'t> NextHops<'t> {
    /// Nothing resolved yet, for packets of `ethertype`.
    #[inline]
    pub fn new(tables: &'t Tables, ethertype: EtherType) -> Self {
        NextHops {
            tables,
            ethertype,
            last: None,
        }
    }

    /// The egress of adjacency `adjacency` (the index `ip*-lookup` stored)
    /// for a packet to `dst`, with the Ethernet header to the next hop if
    /// `neighbors` knows its MAC `now`; `None` when the index names no
    /// forwarding adjacency or an interface that is gone (the tables
    /// changed under the packet).
    #[inline]
    pub fn egress(
        &mut self,
        adjacency: u32,
        dst: IpAddr,
        neighbors: &NeighborTable,
        now: Instant,
    ) -> Option<&Egress<'t>> {
        let remembered = self.last.as_ref().is_some_and(|last| {
            last.adjacency == adjacency && (!last.to_destination || last.egress.next_hop == dst)
        });
        if !remembered {
            self.last = Some(self.resolve(adjacency, dst, neighbors, now)?);
        }
        self.last.as_ref().map(|last| &last.egress)
    }

    /// Resolves adjacency `adjacency` for a packet to `dst`.
    fn resolve(
        &self,
        adjacency: u32,
        dst: IpAddr,
        neighbors: &NeighborTable,
        now: Instant,
    ) -> Option<Resolved<'t>> {
        let (interface, next_hop, to_destination, tunnel) =
            match self.tables.adjacency(adjacency)? {
                Adjacency::Attached { interface } => (interface, dst, true, false),
                Adjacency::Via { interface, gateway } => (interface, gateway, false, false),
                Adjacency::Tunnel { interface, remote } => (interface, remote, false, true),
                Adjacency::Local | Adjacency::Drop | Adjacency::Unreachable => return None,
            };
        let config = self.tables.interface(interface)?;
        // The remote end of a tunnel has a MAC derived from its address: no neighbor to
        // resolve.
        let next_hop_mac = match tunnel {
            true => Some(inner_mac(next_hop)),
            false => neighbors.resolve(self.tables, interface, next_hop, now),
        };
        let egress = Egress {
            interface,
            config,
            next_hop,
            tunnel,
            ethernet: next_hop_mac.map(|mac| ethernet_header(config.mac, mac, self.ethertype)),
        };
        Some(Resolved {
            adjacency,
            to_destination,
            egress,
        })
    }
}

/// What became of a packet handed to [`frame_for_next_hop`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Framed {
    /// The Ethernet header is in front and `meta.tx_if` is set: to
    /// `interface-output`.
    Ready,
    /// The next hop's MAC is not known: `meta.tx_if` is set, to
    /// `ip*-glean`, which asks for it.
    Unresolved,
    /// No room in front of the packet for the Ethernet header.
    NoHeadroom,
}

/// Puts the Ethernet header for `egress` in front of the IP packet `bi`
/// and sets `meta.tx_if`.
#[inline]
pub(crate) fn frame_for_next_hop(
    pool: &mut BufferPool,
    bi: BufferIndex,
    egress: &Egress<'_>,
) -> Framed {
    pool.meta_mut(bi).tx_if = egress.interface;
    let Some(header) = egress.ethernet else {
        return Framed::Unresolved;
    };
    match pool.prepend(bi, ethernet::HEADER_LEN) {
        Ok(bytes) => {
            // `prepend` returns the packet, which starts with the room it made.
            if let Some(front) = bytes.first_chunk_mut() {
                *front = header;
            }
            Framed::Ready
        }
        Err(_) => Framed::NoHeadroom,
    }
}

/// An Ethernet header from `src` to `dst` carrying `ethertype`.
fn ethernet_header(
    src: EthernetAddress,
    dst: EthernetAddress,
    ethertype: EtherType,
) -> [u8; ethernet::HEADER_LEN] {
    let mut header = [0; ethernet::HEADER_LEN];
    let mut frame = ethernet::Frame::new_unchecked(&mut header[..]);
    frame.set_dst_addr(dst);
    frame.set_src_addr(src);
    frame.set_ethertype(ethertype);
    header
}
