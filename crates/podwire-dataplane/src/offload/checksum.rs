//! Completing a TCP or UDP checksum that a sender left to an offload.

use podwire_wire::ethernet::{EtherType, Frame};
use podwire_wire::ip::IpProtocol;
use podwire_wire::{ipv4, ipv6, tcp, udp};

/// Fills in the TCP or UDP checksum of an Ethernet frame carrying IPv4 or
/// IPv6. Returns false, leaving the frame as it was, when the frame is not
/// TCP or UDP over IP or its headers do not parse: such a frame is passed
/// on and the data plane's own checks judge it.
pub fn complete_l4_checksum(frame: &mut [u8]) -> bool {
    let Ok(mut eth) = Frame::new_checked(frame) else {
        return false;
    };
    match eth.ethertype() {
        EtherType::IPV4 => {
            let Ok(mut ip) = ipv4::Packet::new_checked(eth.payload_mut()) else {
                return false;
            };
            let (src, dst, protocol) = (ip.src_addr(), ip.dst_addr(), ip.protocol());
            // A fragment's L4 header is not in every piece: leave it.
            if ip.more_frags() || ip.frag_offset() != 0 {
                return false;
            }
            fill(
                protocol,
                ip.payload_mut(),
                |t| t.fill_checksum_v4(src, dst),
                |u| u.fill_checksum_v4(src, dst),
            )
        }
        EtherType::IPV6 => {
            let Ok(mut ip) = ipv6::Packet::new_checked(eth.payload_mut()) else {
                return false;
            };
            let (src, dst, next) = (ip.src_addr(), ip.dst_addr(), ip.next_header());
            fill(
                next,
                ip.payload_mut(),
                |t| t.fill_checksum_v6(src, dst),
                |u| u.fill_checksum_v6(src, dst),
            )
        }
        _ => false,
    }
}

fn fill(
    protocol: IpProtocol,
    l4: &mut [u8],
    tcp_fill: impl FnOnce(&mut tcp::Packet<&mut [u8]>),
    udp_fill: impl FnOnce(&mut udp::Packet<&mut [u8]>),
) -> bool {
    match protocol {
        IpProtocol::TCP => match tcp::Packet::new_checked(l4) {
            Ok(mut t) => {
                tcp_fill(&mut t);
                true
            }
            Err(_) => false,
        },
        IpProtocol::UDP => match udp::Packet::new_checked(l4) {
            Ok(mut u) => {
                udp_fill(&mut u);
                true
            }
            Err(_) => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn frame_v4_tcp() -> Vec<u8> {
        let mut out = Vec::new();
        PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(1000, 80, 7, 1024)
            .write(&mut out, b"hello, checksum")
            .unwrap();
        out
    }

    fn frame_v6_udp() -> Vec<u8> {
        let mut out = Vec::new();
        PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv6([0xfd; 16], [0xfe; 16], 64)
            .udp(53, 5353)
            .write(&mut out, b"payload")
            .unwrap();
        out
    }

    #[test]
    fn a_missing_tcp_checksum_over_ipv4_is_filled_in() {
        let good = frame_v4_tcp();
        let mut partial = good.clone();
        // What a sender leaves for the offload: any value, here zero.
        let at = 14 + 20 + 16;
        partial[at] = 0;
        partial[at + 1] = 0;
        assert!(complete_l4_checksum(&mut partial));
        assert_eq!(partial, good);
    }

    #[test]
    fn a_missing_udp_checksum_over_ipv6_is_filled_in() {
        let good = frame_v6_udp();
        let mut partial = good.clone();
        let at = 14 + 40 + 6;
        partial[at] = 0x12;
        partial[at + 1] = 0x34;
        assert!(complete_l4_checksum(&mut partial));
        assert_eq!(partial, good);
    }

    #[test]
    fn other_frames_are_left_alone() {
        let mut arp = vec![0xffu8; 14 + 28];
        arp[12] = 0x08;
        arp[13] = 0x06;
        let before = arp.clone();
        assert!(!complete_l4_checksum(&mut arp));
        assert_eq!(arp, before);
        assert!(!complete_l4_checksum(&mut [0u8; 10]));
        let mut cut = frame_v4_tcp();
        cut.truncate(14 + 20 + 10);
        assert!(!complete_l4_checksum(&mut cut));
    }
}
