//! What the IPv4 and IPv6 nodes share: what a route decides, where a
//! forwarded packet leaves and to which neighbor, the strict reverse-path
//! check, and the few operations on a whole packet (a buffer chain) that
//! checksums, padding and ICMP quotes need.
//!
//! A packet's IP header is always in its first buffer; a jumbo packet's
//! payload continues in chained buffers, so the functions here that look
//! past the header walk the chain.

#[cfg(test)]
pub(crate) mod harness;
mod next_hop;

pub(crate) use next_hop::{Framed, NextHops, frame_for_next_hop};

use podwire_wire::checksum;

use crate::buffer::{BufferIndex, BufferPool, PacketMeta};
use crate::icmp_error::IcmpError;
use crate::interface::IfIndex;
use crate::tables::Adjacency;

/// Where `ip4-lookup` / `ip6-lookup` send a packet, by its route.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Routed {
    /// For the switch itself: to `ip*-local`.
    Local,
    /// Out of an interface: to `ip*-rewrite`.
    Rewrite,
    /// To `ip*-icmp-error`, to tell the sender.
    IcmpError,
    /// A blackhole route: drop without a word.
    Blackhole,
}

/// Applies `route`, the route found for a packet's destination: records in
/// `meta.next_index` what the next node needs (the adjacency for
/// `ip*-rewrite`, the error for `ip*-icmp-error`) and says where the packet
/// goes. No route at all is "net unreachable".
#[inline]
pub(crate) fn apply_route(meta: &mut PacketMeta, route: Option<(u32, Adjacency)>) -> Routed {
    let (index, adjacency) = match route {
        Some(found) => found,
        None => {
            meta.next_index = IcmpError::NoRoute.encode();
            return Routed::IcmpError;
        }
    };
    meta.next_index = index;
    match adjacency {
        Adjacency::Local => Routed::Local,
        Adjacency::Attached { .. } | Adjacency::Via { .. } | Adjacency::Tunnel { .. } => {
            Routed::Rewrite
        }
        Adjacency::Drop => Routed::Blackhole,
        Adjacency::Unreachable => {
            meta.next_index = IcmpError::HostUnreachable.encode();
            Routed::IcmpError
        }
    }
}

/// The strict reverse-path check (RFC 3704): whether `route`, the route to
/// a packet's source, leaves by `rx_if`, the interface the packet came in
/// on. On a pod's interface this means the pod sends only from its own
/// addresses.
#[inline]
pub(crate) fn routes_back(route: Option<(u32, Adjacency)>, rx_if: IfIndex) -> bool {
    matches!(
        route,
        Some((
            _,
            Adjacency::Attached { interface }
                | Adjacency::Via { interface, .. }
                | Adjacency::Tunnel { interface, .. }
        )) if interface == rx_if
    )
}

/// Cuts the packet to its first `len` bytes: the Ethernet padding of a
/// short frame goes. Returns false, changing nothing, when it cannot: the
/// bytes past `len` would fill whole chained buffers, which no padding
/// does (the caller drops such a packet).
#[inline]
pub(crate) fn trim_to(pool: &mut BufferPool, head: BufferIndex, len: usize) -> bool {
    let mut before = 0;
    let mut current = Some(head);
    while let Some(bi) = current {
        let here = pool.data(bi).len();
        current = pool.meta(bi).next();
        if before + here >= len {
            if current.is_some() {
                return false;
            }
            pool.truncate(bi, len - before);
            return true;
        }
        before += here;
    }
    false
}

/// The one's-complement sum (see [`checksum`]) of a packet's bytes from
/// `offset` of its first buffer to its end, across its chain.
pub(crate) fn sum_from(pool: &BufferPool, head: BufferIndex, offset: usize) -> u16 {
    let mut sum = 0;
    // A piece that starts at an odd position of the whole contributes its
    // sum byte-swapped (RFC 1071 §2(B)).
    let mut odd = false;
    for (n, bi) in pool.chain(head).enumerate() {
        let data = pool.data(bi);
        let piece = if n == 0 {
            data.get(offset..).unwrap_or_default()
        } else {
            data
        };
        let piece_sum = checksum::data(piece);
        sum = checksum::combine(&[
            sum,
            if odd {
                piece_sum.swap_bytes()
            } else {
                piece_sum
            },
        ]);
        odd ^= piece.len() % 2 == 1;
    }
    sum
}

/// Copies the first bytes of a packet, across its chain, into `out`, as
/// many as fit; returns how many.
pub(crate) fn copy_prefix(pool: &BufferPool, head: BufferIndex, out: &mut [u8]) -> usize {
    let mut copied = 0;
    for bi in pool.chain(head) {
        let rest = &mut out[copied..];
        if rest.is_empty() {
            break;
        }
        let data = pool.data(bi);
        let n = data.len().min(rest.len());
        rest[..n].copy_from_slice(&data[..n]);
        copied += n;
    }
    copied
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffer::BUFFER_DATA_SIZE;

    #[test]
    fn the_sum_across_a_chain_equals_the_sum_of_the_bytes() {
        let mut pool = BufferPool::new(4);
        let bytes: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        let head = pool.alloc_from(&bytes).unwrap();
        // An odd-length middle piece, so that a piece starts at an odd offset.
        let second = pool.chain(head).nth(1).unwrap();
        pool.truncate(second, BUFFER_DATA_SIZE - 1);
        let mut whole = Vec::new();
        pool.copy_to_vec(head, &mut whole);
        assert_eq!(sum_from(&pool, head, 3), checksum::data(&whole[3..]));
    }

    #[test]
    fn trimming_cuts_padding_and_refuses_whole_trailing_buffers() {
        let mut pool = BufferPool::new(4);
        let bi = pool.alloc_from(&[1; 60]).unwrap();
        assert!(trim_to(&mut pool, bi, 46));
        assert_eq!(pool.data(bi).len(), 46);

        let chain = pool.alloc_from(&[1; 3000]).unwrap();
        assert!(trim_to(&mut pool, chain, 2900));
        assert_eq!(pool.total_length(chain), 2900);
        assert!(
            !trim_to(&mut pool, chain, 1000),
            "a whole buffer of padding"
        );
        assert_eq!(pool.total_length(chain), 2900);
    }

    #[test]
    fn copy_prefix_stops_at_the_end_of_either() {
        let mut pool = BufferPool::new(4);
        let bytes: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        let head = pool.alloc_from(&bytes).unwrap();
        let mut out = [0u8; 2500];
        assert_eq!(copy_prefix(&pool, head, &mut out), 2500);
        assert_eq!(&out[..], &bytes[..2500]);
        let mut big = vec![0u8; 4000];
        assert_eq!(copy_prefix(&pool, head, &mut big), 3000);
    }

    #[test]
    fn reverse_path_check_wants_the_route_back_out_of_the_rx_interface() {
        let attached = Adjacency::Attached {
            interface: IfIndex(1),
        };
        assert!(routes_back(Some((0, attached)), IfIndex(1)));
        assert!(!routes_back(Some((0, attached)), IfIndex(2)));
        assert!(!routes_back(Some((0, Adjacency::Local)), IfIndex(1)));
        let tunnel = Adjacency::Tunnel {
            interface: IfIndex(3),
            remote: "192.168.60.2".parse().unwrap(),
        };
        assert!(routes_back(Some((0, tunnel)), IfIndex(3)));
        assert!(!routes_back(None, IfIndex(1)));
    }
}
