//! The packets of a probe, as frames: a connection's first packet (TCP SYN, UDP datagram,
//! SCTP INIT) and its answer (SYN-ACK, datagram, INIT-ACK), what a frame the switch sent
//! carries, and the frames an in-memory switch sent.

use std::net::IpAddr;

use podwire_dataplane::engine::Engine;
use podwire_dataplane::interface::IfIndex;

use podwire_wire::ethernet::{self, EtherType, EthernetAddress, EthernetRepr};
use podwire_wire::ip::IpProtocol;
use podwire_wire::{ipv4, ipv6, sctp, tcp, udp};

/// A transport flow in one direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Flow {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub protocol: u8,
    pub src_port: u16,
    pub dst_port: u16,
}

impl Flow {
    /// The flow of the answers.
    pub fn reversed(&self) -> Flow {
        Flow {
            src: self.dst,
            dst: self.src,
            protocol: self.protocol,
            src_port: self.dst_port,
            dst_port: self.src_port,
        }
    }
}

impl std::fmt::Display for Flow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let end = |ip: IpAddr, port: u16| match ip {
            IpAddr::V4(a) => format!("{a}:{port}"),
            IpAddr::V6(a) => format!("[{a}]:{port}"),
        };
        write!(
            f,
            "{} -> {} (IP protocol {})",
            end(self.src, self.src_port),
            end(self.dst, self.dst_port),
            self.protocol
        )
    }
}

/// Which packet of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The client's first.
    Open,
    /// The server's answer to it.
    Answer,
}

/// The frame carrying packet `kind` of `flow`, from `src_mac` to `dst_mac`.
pub fn frame(
    flow: &Flow,
    kind: Kind,
    src_mac: EthernetAddress,
    dst_mac: EthernetAddress,
) -> Vec<u8> {
    let l4 = transport(flow, kind);
    let (ethertype, ip_len) = match flow.src {
        IpAddr::V4(_) => (EtherType::IPV4, 20),
        IpAddr::V6(_) => (EtherType::IPV6, 40),
    };
    let mut frame = vec![0u8; ethernet::HEADER_LEN + ip_len + l4.len()];
    EthernetRepr {
        src_addr: src_mac,
        dst_addr: dst_mac,
        ethertype,
    }
    .emit(&mut ethernet::Frame::new_unchecked(&mut frame[..]))
    .expect("room for the Ethernet header");
    let ip = &mut frame[ethernet::HEADER_LEN..];
    let protocol = IpProtocol(flow.protocol);
    match (flow.src, flow.dst) {
        (IpAddr::V4(src_addr), IpAddr::V4(dst_addr)) => ipv4::Ipv4Repr {
            src_addr,
            dst_addr,
            protocol,
            payload_len: l4.len(),
            ttl: 64,
            dscp_ecn: 0,
        }
        .emit(&mut ipv4::Packet::new_unchecked(&mut ip[..]))
        .expect("room for the IPv4 header"),
        (IpAddr::V6(src_addr), IpAddr::V6(dst_addr)) => ipv6::Ipv6Repr {
            src_addr,
            dst_addr,
            next_header: protocol,
            payload_len: l4.len(),
            hop_limit: 64,
            traffic_class: 0,
        }
        .emit(&mut ipv6::Packet::new_unchecked(&mut ip[..]))
        .expect("room for the IPv6 header"),
        _ => panic!("{flow} mixes IPv4 and IPv6"),
    }
    ip[ip_len..].copy_from_slice(&l4);
    frame
}

/// The client's initial sequence number (TCP) or initiate tag (SCTP) for `flow`.
fn client_tag(flow: &Flow, kind: Kind) -> u32 {
    let client_port = match kind {
        Kind::Open => flow.src_port,
        Kind::Answer => flow.dst_port,
    };
    0x5eed_0000 | u32::from(client_port)
}

/// The transport header (and a little payload) of packet `kind` of `flow`, checksummed.
fn transport(flow: &Flow, kind: Kind) -> Vec<u8> {
    let tag = client_tag(flow, kind);
    match IpProtocol(flow.protocol) {
        IpProtocol::TCP => {
            let mut bytes = vec![0u8; 20];
            let mut segment = tcp::Packet::new_unchecked(&mut bytes[..]);
            segment.set_src_port(flow.src_port);
            segment.set_dst_port(flow.dst_port);
            segment.set_header_len(20);
            segment.set_syn(true);
            segment.set_window_len(64240);
            match kind {
                Kind::Open => segment.set_seq_number(tag),
                Kind::Answer => {
                    segment.set_seq_number(0x0a05_0000);
                    segment.set_ack_number(tag.wrapping_add(1));
                    segment.set_ack(true);
                }
            }
            match (flow.src, flow.dst) {
                (IpAddr::V4(s), IpAddr::V4(d)) => segment.fill_checksum_v4(s, d),
                (IpAddr::V6(s), IpAddr::V6(d)) => segment.fill_checksum_v6(s, d),
                _ => panic!("{flow} mixes IPv4 and IPv6"),
            }
            bytes
        }
        IpProtocol::UDP => {
            let mut bytes = vec![0u8; udp::HEADER_LEN + 6];
            bytes[udp::HEADER_LEN..].copy_from_slice(match kind {
                Kind::Open => b"netpol",
                Kind::Answer => b"x-a-ok",
            });
            let mut datagram = udp::Packet::new_unchecked(&mut bytes[..]);
            datagram.set_src_port(flow.src_port);
            datagram.set_dst_port(flow.dst_port);
            datagram.set_len((udp::HEADER_LEN + 6) as u16);
            match (flow.src, flow.dst) {
                (IpAddr::V4(s), IpAddr::V4(d)) => datagram.fill_checksum_v4(s, d),
                (IpAddr::V6(s), IpAddr::V6(d)) => datagram.fill_checksum_v6(s, d),
                _ => panic!("{flow} mixes IPv4 and IPv6"),
            }
            bytes
        }
        IpProtocol(SCTP) => {
            // The common header, then an INIT (type 1, verification tag 0) or an INIT-ACK
            // (type 2, tagged with the INIT's initiate tag): flags, length 20, initiate tag,
            // a_rwnd, outbound and inbound streams, initial TSN.
            let mut bytes = vec![0u8; sctp::HEADER_LEN + 20];
            let (chunk, verification, initiate) = match kind {
                Kind::Open => (1, 0, tag),
                Kind::Answer => (2, tag, 0x0a05_0000),
            };
            bytes[4..8].copy_from_slice(&u32::to_be_bytes(verification));
            bytes[12..16].copy_from_slice(&[chunk, 0, 0, 20]);
            bytes[16..20].copy_from_slice(&u32::to_be_bytes(initiate));
            bytes[20..24].copy_from_slice(&65535u32.to_be_bytes());
            bytes[24..28].copy_from_slice(&[0, 10, 0, 10]);
            bytes[28..32].copy_from_slice(&1u32.to_be_bytes());
            let mut packet = sctp::Packet::new_unchecked(&mut bytes[..]);
            packet.set_src_port(flow.src_port);
            packet.set_dst_port(flow.dst_port);
            packet.fill_checksum();
            bytes
        }
        other => panic!("no probe sends IP protocol {}", other.0),
    }
}

/// IP protocol number of SCTP.
const SCTP: u8 = 132;

/// The flow of the transport packet in `frame`, or what the frame is instead.
pub fn read(frame: &[u8]) -> Result<Flow, String> {
    let Ok(eth) = ethernet::Frame::new_checked(frame) else {
        return Err("a runt frame".into());
    };
    let ip = eth.payload();
    let (src, dst, protocol, l4) = match eth.ethertype() {
        EtherType::IPV4 => match ipv4::Packet::new_checked(ip) {
            Ok(p) => (
                IpAddr::from(p.src_addr()),
                IpAddr::from(p.dst_addr()),
                p.protocol(),
                &ip[usize::from(p.header_len())..usize::from(p.total_len())],
            ),
            Err(e) => return Err(format!("a bad IPv4 packet: {e:?}")),
        },
        EtherType::IPV6 => match ipv6::Packet::new_checked(ip) {
            Ok(p) => (
                IpAddr::from(p.src_addr()),
                IpAddr::from(p.dst_addr()),
                p.next_header(),
                &ip[40..40 + usize::from(p.payload_len())],
            ),
            Err(e) => return Err(format!("a bad IPv6 packet: {e:?}")),
        },
        other => return Err(format!("a frame of EtherType {other}")),
    };
    match (protocol, l4) {
        (IpProtocol::TCP | IpProtocol::UDP | IpProtocol(SCTP), [a, b, c, d, ..]) => Ok(Flow {
            src,
            dst,
            protocol: protocol.0,
            src_port: u16::from_be_bytes([*a, *b]),
            dst_port: u16::from_be_bytes([*c, *d]),
        }),
        _ => Err(format!(
            "a packet of IP protocol {} from {src} to {dst}",
            protocol.0
        )),
    }
}

/// Every frame `engine` queued for sending, with its interface, taken out of the queues
/// (their buffers freed).
pub fn sent_frames(engine: &mut Engine) -> Vec<(IfIndex, Vec<u8>)> {
    let mut sent = Vec::new();
    let interfaces: Vec<IfIndex> = engine.tx.pending().collect();
    for interface in interfaces {
        let Some(queue) = engine.tx.queue_mut(interface) else {
            continue;
        };
        for bi in std::mem::take(queue) {
            let mut bytes = Vec::new();
            engine.pool.copy_to_vec(bi, &mut bytes);
            engine.pool.free(bi);
            sent.push((interface, bytes));
        }
    }
    sent
}
