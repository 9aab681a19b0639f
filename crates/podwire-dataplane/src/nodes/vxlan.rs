//! VXLAN (RFC 7348) between nodes: pods of one node reach the pods of another through a
//! tunnel interface, whose frames travel in UDP over the uplink.
//!
//! ```text
//! ip*-lookup → ip*-rewrite ──(tunnel)──→ vxlan-encap → ip4-rewrite / ip6-rewrite → interface-output
//!                                         (outer IPv4 or IPv6, routed as the switch's own)
//! ip*-local ──(UDP to a tunnel's port)──→ vxlan-input → ethernet-input (received on the tunnel)
//! ```
//!
//! **Out.** A route whose adjacency is [`Adjacency::Tunnel`](crate::tables::Adjacency::Tunnel)
//! is rewritten like any other: TTL or hop limit counted down, the tunnel's MTU checked (an
//! ICMP error with that MTU when the packet does not fit), an Ethernet header from the
//! tunnel's MAC to the remote end's [`inner_mac`] put in front. Then `vxlan-encap` puts the
//! outer IP, UDP and VXLAN headers in front of that frame and routes the outer packet as
//! one the switch made: it looks up the remote end itself (no NAT, no policy, no
//! anti-spoofing: the inner packet had those) and hands it to the rewrite node of the outer
//! family, which resolves the next hop on the uplink (ARP or neighbor discovery when its
//! MAC is not known yet) and sends it.
//!
//! **In.** `ip4-local` / `ip6-local` hand UDP datagrams to a port some tunnel listens on to
//! `vxlan-input`, which finds the tunnel by the outer destination address and port, checks
//! that the sender is one of its peers and the header is its VNI's, strips the outer
//! headers and hands the inner frame to `ethernet-input` as received on the tunnel
//! interface. From there the packet is routed like any received one: NAT sees replies to
//! its sessions, policy sees the remote pod's address.
//!
//! A tunnel interface has no device: this module counts what it receives and sends in
//! [`WorkerState::tunnels`](crate::state::WorkerState::tunnels).

mod decap;
mod encap;

#[cfg(test)]
mod tests;

use core::net::IpAddr;

use podwire_wire::ethernet::{self, EtherType, EthernetAddress, Frame};
use podwire_wire::ip::IpProtocol;
use podwire_wire::{ipv4, ipv6};

use crate::tables::Tables;

pub use decap::{Drop as InputDrop, VxlanInput};
pub use encap::{Drop as EncapDrop, VxlanEncap};

/// The bytes a tunnel over IPv4 adds to an IP packet (50: outer IPv4, UDP and VXLAN
/// headers, inner Ethernet header): a tunnel's MTU is its uplink's less this.
pub const OVERHEAD4: usize = OUTER4_LEN + ethernet::HEADER_LEN;
/// The bytes a tunnel over IPv6 adds to an IP packet (70: outer IPv6, UDP and VXLAN
/// headers, inner Ethernet header): a tunnel's MTU is its uplink's less this.
pub const OVERHEAD6: usize = OUTER6_LEN + ethernet::HEADER_LEN;
/// The headers in front of the inner frame over IPv4.
const OUTER4_LEN: usize = ipv4::HEADER_LEN + UDP_VXLAN_LEN;
/// The headers in front of the inner frame over IPv6.
const OUTER6_LEN: usize = ipv6::HEADER_LEN + UDP_VXLAN_LEN;
/// The UDP and VXLAN headers.
const UDP_VXLAN_LEN: usize = podwire_wire::udp::HEADER_LEN + podwire_wire::vxlan::HEADER_LEN;

/// The inner Ethernet address of the tunnel interface that ends on `endpoint`.
///
/// A tunnel carries frames between routed interfaces, so each end needs a MAC; deriving it
/// from the endpoint's address lets a node address a frame to a remote end without ARP or
/// neighbor discovery over the tunnel. Locally administered and unicast: `02:00` then the
/// IPv4 address, or `02:06` then the four 32-bit words of the IPv6 address folded by XOR.
pub fn inner_mac(endpoint: IpAddr) -> EthernetAddress {
    let (kind, tail) = match endpoint {
        IpAddr::V4(a) => (0x00, a.octets()),
        IpAddr::V6(a) => {
            let bits = a.to_bits();
            let folded = (bits ^ (bits >> 32) ^ (bits >> 64) ^ (bits >> 96)) as u32;
            (0x06, folded.to_be_bytes())
        }
    };
    EthernetAddress([0x02, kind, tail[0], tail[1], tail[2], tail[3]])
}

/// Whether a UDP datagram (`udp`, from its header on) goes to a port a VXLAN tunnel of
/// `tables` listens on.
#[inline]
pub(crate) fn is_vxlan(tables: &Tables, udp: &[u8]) -> bool {
    !tables.tunnels.is_empty()
        && udp
            .get(2..4)
            .is_some_and(|port| tables.is_vxlan_port(u16::from_be_bytes([port[0], port[1]])))
}

/// A hash of the flow of the inner frame `frame` (its addresses, its protocol and, for TCP,
/// UDP and SCTP, its ports): the entropy of the outer UDP source port and IPv6 flow label
/// (RFC 7348 §5, RFC 6438), so that the routers between nodes spread flows over their
/// paths while the packets of one flow keep to one. Not seeded: whoever chooses flows only
/// chooses a path, and every node and restart agrees.
fn flow_entropy(frame: &[u8]) -> u64 {
    let Ok(eth) = Frame::new_checked(frame) else {
        return 0;
    };
    let (addresses, protocol, ports) = match eth.ethertype() {
        EtherType::IPV4 => {
            let Ok(ip) = ipv4::Packet::new_quoted(eth.payload()) else {
                return 0;
            };
            let (src, dst) = (ip.src_addr().to_bits(), ip.dst_addr().to_bits());
            // Only a first fragment holds the ports.
            let ports = match ip.frag_offset() {
                0 => ports(ip.protocol(), ip.payload()),
                _ => 0,
            };
            (
                mix(u64::from(src) << 32 | u64::from(dst)),
                ip.protocol(),
                ports,
            )
        }
        EtherType::IPV6 => {
            let Ok(ip) = ipv6::Packet::new_quoted(eth.payload()) else {
                return 0;
            };
            let (src, dst) = (ip.src_addr().to_bits(), ip.dst_addr().to_bits());
            let words = [
                (src >> 64) as u64,
                src as u64,
                (dst >> 64) as u64,
                dst as u64,
            ];
            let h = words.iter().fold(0, |h, &w| mix(h ^ w));
            (h, ip.next_header(), ports(ip.next_header(), ip.payload()))
        }
        _ => return 0,
    };
    mix(addresses ^ (u64::from(protocol.0) << 32 | u64::from(ports)))
}

/// The two ports at the start of `l4` as one number, for the transports that have them.
fn ports(protocol: IpProtocol, l4: &[u8]) -> u32 {
    match protocol {
        IpProtocol::TCP | IpProtocol::UDP | IpProtocol::SCTP => {
            l4.first_chunk::<4>().map_or(0, |p| u32::from_be_bytes(*p))
        }
        _ => 0,
    }
}

/// SplitMix64's finalizer: every bit of the input reaches every bit of the output.
#[inline]
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The outer UDP source port for a flow's `entropy`: one of the dynamic ports, 49152 to
/// 65535, as RFC 7348 §5 recommends.
#[inline]
fn source_port(entropy: u64) -> u16 {
    49152 + (entropy % 16384) as u16
}
