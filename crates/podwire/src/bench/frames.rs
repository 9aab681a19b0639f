//! The frames of the in-memory measurements: TCP segments between client pods and
//! endpoints as the switch's two interfaces receive them, and a reader of the 4-tuple of a
//! frame the switch sent.

use std::net::{Ipv4Addr, SocketAddrV4};

use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
use podwire_wire::ethernet::EthernetAddress;

/// The switch's interface towards the client pods.
pub const CLIENT_IF_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0x5c, 1]);
/// The switch's interface towards the endpoints.
pub const SERVER_IF_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0x5c, 2]);
/// The router the client pods are behind.
pub const CLIENT_PEER_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0x5c, 0x10]);
/// The router the endpoints are behind.
pub const SERVER_PEER_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0x5c, 0x20]);
/// The client side's router.
pub const CLIENT_PEER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
/// The server side's router.
pub const SERVER_PEER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
/// Payload of a data segment: the frame is 64 bytes.
const DATA_LEN: usize = 10;

/// Which of the switch's interfaces a frame comes in on.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Side {
    /// From the client pods.
    Client,
    /// From the endpoints.
    Server,
}

/// A TCP segment of a connection's life.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// The first packet of a connection.
    Syn,
    /// The server's answer.
    SynAck,
    /// The handshake's last packet.
    Ack,
    /// Data on an established connection (ACK and PSH, 10 bytes).
    Data,
}

/// A segment from `src` to `dst` arriving on `side`.
pub fn tcp(side: Side, src: SocketAddrV4, dst: SocketAddrV4, segment: Segment) -> Vec<u8> {
    let (from, to) = match side {
        Side::Client => (CLIENT_PEER_MAC, CLIENT_IF_MAC),
        Side::Server => (SERVER_PEER_MAC, SERVER_IF_MAC),
    };
    let ip = PacketBuilder::ethernet2(from.0, to.0).ipv4(src.ip().octets(), dst.ip().octets(), 64);
    let tcp = ip.tcp(src.port(), dst.port(), 1000, 64_240);
    let (tcp, payload): (_, &[u8]) = match segment {
        Segment::Syn => (tcp.syn(), &[]),
        Segment::SynAck => (tcp.syn().ack(1001), &[]),
        Segment::Ack => (tcp.ack(1001), &[]),
        Segment::Data => (tcp.ack(1001).psh(), &[0x5a; DATA_LEN]),
    };
    let mut out = Vec::with_capacity(64);
    tcp.write(&mut out, payload)
        .expect("writing to a Vec does not fail");
    out
}

/// The source and destination of a TCP-over-IPv4 frame.
pub fn endpoints(frame: &[u8]) -> Option<(SocketAddrV4, SocketAddrV4)> {
    let packet = SlicedPacket::from_ethernet(frame).ok()?;
    let (Some(NetSlice::Ipv4(ip)), Some(TransportSlice::Tcp(tcp))) = (packet.net, packet.transport)
    else {
        return None;
    };
    let header = ip.header();
    Some((
        SocketAddrV4::new(header.source_addr(), tcp.source_port()),
        SocketAddrV4::new(header.destination_addr(), tcp.destination_port()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_reads_back_as_written() {
        let a = SocketAddrV4::new(Ipv4Addr::new(10, 200, 0, 2), 40_000);
        let b = SocketAddrV4::new(Ipv4Addr::new(10, 96, 0, 1), 80);
        for segment in [Segment::Syn, Segment::SynAck, Segment::Ack, Segment::Data] {
            let frame = tcp(Side::Client, a, b, segment);
            assert_eq!(endpoints(&frame), Some((a, b)), "{segment:?}");
            assert_eq!(&frame[..6], &CLIENT_IF_MAC.0);
        }
        assert_eq!(tcp(Side::Server, b, a, Segment::Data).len(), 64);
        assert_eq!(endpoints(&[0u8; 20]), None);
    }
}
