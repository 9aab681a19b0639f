//! The endpoint `responder` plays, with no I/O: a frame in, a reply out.
//! It answers ARP and IPv6 neighbor solicitations for its addresses, ICMP
//! and ICMPv6 echo requests, and UDP datagrams to its echo port; it learns
//! its gateway's MAC from the gateway's ARP. Replies go to the MAC address
//! the request came from. Every header is read and written with
//! podwire-wire's views, and every checksum is verified before answering.

use podwire_memif::types::Mode;
use podwire_wire::arp::Operation;
use podwire_wire::icmpv6::NeighborFlags;
use podwire_wire::ipv6::{LINK_LOCAL_ALL_NODES, multicast_mac, solicited_node_multicast};
use podwire_wire::{
    ArpRepr, EtherType, EthernetAddress, Icmpv4Repr, Icmpv6Repr, IpProtocol, Ipv4Addr, Ipv4Cidr,
    Ipv4Repr, Ipv6Addr, Ipv6Cidr, Ipv6Repr, NdiscRepr, arp, ethernet, icmpv4, icmpv6, ipv4, ipv6,
    udp,
};
use serde::Serialize;

use super::emit::{LinkDst, ReplyWriter, udp_echo};

/// Hop limit of neighbor discovery messages (RFC 4861: proof of being on
/// the link).
const ND_HOP_LIMIT: u8 = 255;
/// TTL / hop limit of the replies we originate.
const TTL: u8 = 64;

/// Who the endpoint is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointConfig {
    /// Ethernet frames or bare IP packets.
    pub mode: Mode,
    /// Our MAC address (ethernet mode).
    pub mac: EthernetAddress,
    /// Our IPv4 address and prefix.
    pub ip: Option<Ipv4Cidr>,
    /// Our IPv6 address and prefix.
    pub ip6: Option<Ipv6Cidr>,
    /// The gateway whose MAC we learn (ethernet mode, with `ip`).
    pub gateway: Option<Ipv4Addr>,
    /// The UDP port whose datagrams are echoed, if any.
    pub udp_echo_port: Option<u16>,
}

/// What the endpoint counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EndpointCounters {
    /// Frames received.
    pub received: u64,
    /// ARP requests for our address answered.
    pub arp_replies: u64,
    /// ARP requests we sent for the gateway.
    pub arp_requests: u64,
    /// ICMP echo requests answered.
    pub echo_replies: u64,
    /// Neighbor solicitations for our IPv6 address answered.
    pub neighbor_adverts: u64,
    /// ICMPv6 echo requests answered.
    pub echo6_replies: u64,
    /// UDP datagrams echoed.
    pub udp_echoes: u64,
    /// Frames not for us or of a kind we do not answer.
    pub ignored: u64,
    /// Frames that are broken: cut short, bad checksums, invalid fields.
    pub malformed: u64,
    /// The gateway's MAC address, once learned.
    pub gateway_mac: Option<String>,
}

impl EndpointCounters {
    /// Replies of every kind.
    pub fn replies(&self) -> u64 {
        self.arp_replies
            + self.echo_replies
            + self.neighbor_adverts
            + self.echo6_replies
            + self.udp_echoes
    }
}

/// Which reply was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reply {
    Arp,
    Echo,
    NeighborAdvert,
    Echo6,
    UdpEcho,
}

/// What a received frame came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// A reply of this kind and length was written.
    Replied(Reply, usize),
    /// Nothing to answer.
    Ignored,
}

/// The endpoint.
#[derive(Debug, Clone)]
pub struct Endpoint {
    config: EndpointConfig,
    gateway_mac: Option<EthernetAddress>,
    counters: EndpointCounters,
}

impl Endpoint {
    /// An endpoint as `config` says.
    pub fn new(config: EndpointConfig) -> Endpoint {
        Endpoint {
            config,
            gateway_mac: None,
            counters: EndpointCounters::default(),
        }
    }

    /// Writes our replies.
    fn writer(&self) -> ReplyWriter {
        ReplyWriter {
            mac: self.config.mac,
        }
    }

    /// What was counted so far.
    pub fn counters(&self) -> &EndpointCounters {
        &self.counters
    }

    /// Whether the gateway's MAC is still to be asked for.
    pub fn needs_gateway(&self) -> bool {
        self.config.mode == Mode::Ethernet
            && self.config.ip.is_some()
            && self.config.gateway.is_some()
            && self.gateway_mac.is_none()
    }

    /// Answers the frame `frame`: writes the reply into `out` and returns
    /// its length, or `None` when there is nothing to answer (counted).
    pub fn answer(&mut self, frame: &[u8], out: &mut [u8]) -> Option<usize> {
        self.counters.received += 1;
        let outcome = match self.config.mode {
            Mode::Ethernet => self.answer_frame(frame, out),
            Mode::Ip | Mode::PuntInject => self.answer_ip(frame, out, None),
        };
        match outcome {
            Ok(Outcome::Replied(reply, len)) => {
                let counter = match reply {
                    Reply::Arp => &mut self.counters.arp_replies,
                    Reply::Echo => &mut self.counters.echo_replies,
                    Reply::NeighborAdvert => &mut self.counters.neighbor_adverts,
                    Reply::Echo6 => &mut self.counters.echo6_replies,
                    Reply::UdpEcho => &mut self.counters.udp_echoes,
                };
                *counter += 1;
                Some(len)
            }
            Ok(Outcome::Ignored) => {
                self.counters.ignored += 1;
                None
            }
            Err(_) => {
                self.counters.malformed += 1;
                None
            }
        }
    }

    /// Writes an ARP request for the gateway into `out` (broadcast); its
    /// length, or `None` when there is nothing to ask.
    pub fn gateway_request(&mut self, out: &mut [u8]) -> Option<usize> {
        let (Some(me), Some(gateway)) = (self.config.ip, self.config.gateway) else {
            return None;
        };
        if !self.needs_gateway() {
            return None;
        }
        let request = ArpRepr::EthernetIpv4 {
            operation: Operation::Request,
            source_hardware_addr: self.config.mac,
            source_protocol_addr: me.address(),
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: gateway,
        };
        let len = self
            .writer()
            .arp(EthernetAddress::BROADCAST, &request, out)
            .ok()?;
        self.counters.arp_requests += 1;
        Some(len)
    }

    /// An Ethernet frame: ARP, or IP for us.
    fn answer_frame(&mut self, bytes: &[u8], out: &mut [u8]) -> podwire_wire::Result<Outcome> {
        let frame = ethernet::Frame::new_checked(bytes)?;
        let dst = frame.dst_addr();
        // Ours, broadcast (ARP) or multicast (solicited-node, for ND).
        if dst != self.config.mac && !dst.is_multicast() {
            return Ok(Outcome::Ignored);
        }
        let from = Some(frame.src_addr());
        match frame.ethertype() {
            EtherType::ARP => self.answer_arp(frame.payload(), frame.src_addr(), out),
            EtherType::IPV4 | EtherType::IPV6 => self.answer_ip(frame.payload(), out, from),
            _ => Ok(Outcome::Ignored),
        }
    }

    /// ARP: learns the gateway from what it sends; answers requests for
    /// our address, to the MAC address the request came from.
    fn answer_arp(
        &mut self,
        bytes: &[u8],
        from: EthernetAddress,
        out: &mut [u8],
    ) -> podwire_wire::Result<Outcome> {
        let ArpRepr::EthernetIpv4 {
            operation,
            source_hardware_addr,
            source_protocol_addr,
            target_protocol_addr,
            ..
        } = ArpRepr::parse(&arp::Packet::new_checked(bytes)?)?;
        if Some(source_protocol_addr) == self.config.gateway && source_hardware_addr.is_unicast() {
            self.gateway_mac = Some(source_hardware_addr);
            self.counters.gateway_mac = Some(source_hardware_addr.to_string());
        }
        let Some(me) = self.config.ip else {
            return Ok(Outcome::Ignored);
        };
        if operation != Operation::Request || target_protocol_addr != me.address() {
            return Ok(Outcome::Ignored);
        }
        let reply = ArpRepr::EthernetIpv4 {
            operation: Operation::Reply,
            source_hardware_addr: self.config.mac,
            source_protocol_addr: me.address(),
            target_hardware_addr: source_hardware_addr,
            target_protocol_addr: source_protocol_addr,
        };
        let len = self.writer().arp(from, &reply, out)?;
        Ok(Outcome::Replied(Reply::Arp, len))
    }

    /// An IPv4 or IPv6 packet, told apart by its version.
    fn answer_ip(
        &self,
        bytes: &[u8],
        out: &mut [u8],
        from: LinkDst,
    ) -> podwire_wire::Result<Outcome> {
        match bytes.first().map(|byte| byte >> 4) {
            Some(4) => self.answer_ipv4(bytes, out, from),
            Some(6) => self.answer_ipv6(bytes, out, from),
            _ => Err(podwire_wire::Error::Malformed),
        }
    }

    /// IPv4 to our address: ICMP echo, UDP echo.
    fn answer_ipv4(
        &self,
        bytes: &[u8],
        out: &mut [u8],
        from: LinkDst,
    ) -> podwire_wire::Result<Outcome> {
        let packet = ipv4::Packet::new_checked(bytes)?;
        let request = Ipv4Repr::parse(&packet)?;
        let Some(me) = self.config.ip.map(|cidr| cidr.address()) else {
            return Ok(Outcome::Ignored);
        };
        if request.dst_addr != me || packet.is_fragment() {
            return Ok(Outcome::Ignored);
        }
        let header = |protocol, payload_len| Ipv4Repr {
            src_addr: me,
            dst_addr: request.src_addr,
            protocol,
            payload_len,
            ttl: TTL,
            dscp_ecn: 0,
        };
        match request.protocol {
            IpProtocol::ICMP => {
                let Icmpv4Repr::EchoRequest {
                    ident,
                    seq_no,
                    data,
                } = Icmpv4Repr::parse(&icmpv4::Packet::new_checked(packet.payload())?)?
                else {
                    return Ok(Outcome::Ignored);
                };
                let reply = Icmpv4Repr::EchoReply {
                    ident,
                    seq_no,
                    data,
                };
                let ip = header(IpProtocol::ICMP, reply.buffer_len());
                let len = self.writer().ipv4(from, &ip, out, |payload| {
                    reply.emit(&mut icmpv4::Packet::new_unchecked(payload))
                })?;
                Ok(Outcome::Replied(Reply::Echo, len))
            }
            IpProtocol::UDP => {
                let datagram = udp::Packet::new_checked(packet.payload())?;
                if Some(datagram.dst_port()) != self.config.udp_echo_port {
                    return Ok(Outcome::Ignored);
                }
                if !datagram.verify_checksum_v4(request.src_addr, me) {
                    return Err(podwire_wire::Error::Checksum);
                }
                let ip = header(IpProtocol::UDP, usize::from(datagram.len()));
                let len = self.writer().ipv4(from, &ip, out, |payload| {
                    let mut echo = udp_echo(&datagram, payload)?;
                    echo.fill_checksum_v4(me, request.src_addr);
                    Ok(())
                })?;
                Ok(Outcome::Replied(Reply::UdpEcho, len))
            }
            _ => Ok(Outcome::Ignored),
        }
    }

    /// IPv6: neighbor solicitations for our address, ICMPv6 echo, UDP echo.
    fn answer_ipv6(
        &self,
        bytes: &[u8],
        out: &mut [u8],
        from: LinkDst,
    ) -> podwire_wire::Result<Outcome> {
        let packet = ipv6::Packet::new_checked(bytes)?;
        let request = Ipv6Repr::parse(&packet)?;
        let Some(me) = self.config.ip6.map(|cidr| cidr.address()) else {
            return Ok(Outcome::Ignored);
        };
        let header = |dst_addr, next_header, payload_len, hop_limit| Ipv6Repr {
            src_addr: me,
            dst_addr,
            next_header,
            payload_len,
            hop_limit,
            traffic_class: 0,
        };
        match request.next_header {
            IpProtocol::ICMPV6 => {
                let message = icmpv6::Packet::new_checked(packet.payload())?;
                match Icmpv6Repr::parse(request.src_addr, request.dst_addr, &message)? {
                    Icmpv6Repr::EchoRequest {
                        ident,
                        seq_no,
                        data,
                    } if request.dst_addr == me => {
                        let reply = Icmpv6Repr::EchoReply {
                            ident,
                            seq_no,
                            data,
                        };
                        let ip = header(
                            request.src_addr,
                            IpProtocol::ICMPV6,
                            reply.buffer_len(),
                            TTL,
                        );
                        let len = self.writer().ipv6(from, &ip, out, |payload| {
                            reply.emit(
                                me,
                                request.src_addr,
                                &mut icmpv6::Packet::new_unchecked(payload),
                            )
                        })?;
                        Ok(Outcome::Replied(Reply::Echo6, len))
                    }
                    Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit { target_addr, .. })
                        if target_addr == me && from.is_some() =>
                    {
                        self.answer_solicitation(&request, me, out, from)
                    }
                    _ => Ok(Outcome::Ignored),
                }
            }
            IpProtocol::UDP if request.dst_addr == me => {
                let datagram = udp::Packet::new_checked(packet.payload())?;
                if Some(datagram.dst_port()) != self.config.udp_echo_port {
                    return Ok(Outcome::Ignored);
                }
                if !datagram.verify_checksum_v6(request.src_addr, me) {
                    return Err(podwire_wire::Error::Checksum);
                }
                let ip = header(
                    request.src_addr,
                    IpProtocol::UDP,
                    usize::from(datagram.len()),
                    TTL,
                );
                let len = self.writer().ipv6(from, &ip, out, |payload| {
                    let mut echo = udp_echo(&datagram, payload)?;
                    echo.fill_checksum_v6(me, request.src_addr);
                    Ok(())
                })?;
                Ok(Outcome::Replied(Reply::UdpEcho, len))
            }
            _ => Ok(Outcome::Ignored),
        }
    }

    /// A neighbor solicitation for `me` (RFC 4861 §7.2.4): a solicited
    /// advertisement back to the asker, or, for duplicate address detection
    /// (from the unspecified address), an unsolicited one to all nodes.
    fn answer_solicitation(
        &self,
        request: &Ipv6Repr,
        me: Ipv6Addr,
        out: &mut [u8],
        from: LinkDst,
    ) -> podwire_wire::Result<Outcome> {
        if request.hop_limit != ND_HOP_LIMIT {
            return Err(podwire_wire::Error::Malformed);
        }
        if request.dst_addr != me && request.dst_addr != solicited_node_multicast(me) {
            return Ok(Outcome::Ignored);
        }
        let detecting = request.src_addr.is_unspecified();
        let (dst_addr, link_dst) = if detecting {
            (
                LINK_LOCAL_ALL_NODES,
                Some(multicast_mac(LINK_LOCAL_ALL_NODES)),
            )
        } else {
            (request.src_addr, from)
        };
        let advert = Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert {
            flags: NeighborFlags {
                router: false,
                solicited: !detecting,
                override_flag: true,
            },
            target_addr: me,
            lladdr: Some(self.config.mac),
        });
        let ip = Ipv6Repr {
            src_addr: me,
            dst_addr,
            next_header: IpProtocol::ICMPV6,
            payload_len: advert.buffer_len(),
            hop_limit: ND_HOP_LIMIT,
            traffic_class: 0,
        };
        let len = self.writer().ipv6(link_dst, &ip, out, |payload| {
            advert.emit(me, dst_addr, &mut icmpv6::Packet::new_unchecked(payload))
        })?;
        Ok(Outcome::Replied(Reply::NeighborAdvert, len))
    }
}

#[cfg(test)]
mod tests;
