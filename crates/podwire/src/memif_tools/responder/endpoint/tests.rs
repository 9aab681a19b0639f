//! Requests built with etherparse, replies read back with etherparse: the
//! responder's frames are checked by a parser that is not podwire's own.

use etherparse::{
    ArpHardwareId, ArpOperation, ArpPacket, EtherType as EpEtherType, IcmpEchoHeader, Icmpv4Header,
    Icmpv4Type, Icmpv6Slice, Icmpv6Type, LinkSlice, NetSlice, PacketBuilder, SlicedPacket,
    TransportSlice,
};

use super::*;

const ME: [u8; 6] = [2, 0, 0, 0, 0, 2];
const PEER: [u8; 6] = [2, 0, 0, 0, 0, 0x99];
const GATEWAY_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xfe];
const MY_IP: [u8; 4] = [10, 1, 0, 2];
const PEER_IP: [u8; 4] = [10, 1, 0, 9];
const GATEWAY_IP: [u8; 4] = [10, 1, 0, 1];
const MY_IP6: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
const PEER_IP6: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9];

fn endpoint(mode: Mode) -> Endpoint {
    Endpoint::new(EndpointConfig {
        mode,
        mac: EthernetAddress(ME),
        ip: Some(Ipv4Cidr::new(MY_IP.into(), 24).unwrap()),
        ip6: Some(Ipv6Cidr::new(MY_IP6.into(), 64).unwrap()),
        gateway: Some(GATEWAY_IP.into()),
        udp_echo_port: Some(7),
    })
}

/// The endpoint's reply to `request`, if any.
fn reply(endpoint: &mut Endpoint, request: &[u8]) -> Option<Vec<u8>> {
    let mut out = vec![0; request.len().max(128)];
    let len = endpoint.answer(request, &mut out)?;
    out.truncate(len);
    Some(out)
}

fn arp(operation: ArpOperation, sender: ([u8; 6], [u8; 4]), target: [u8; 4]) -> Vec<u8> {
    let packet = ArpPacket::new(
        ArpHardwareId::ETHERNET,
        EpEtherType::IPV4,
        operation,
        &sender.0,
        &sender.1,
        &[0; 6],
        &target,
    )
    .unwrap();
    let mut frame = Vec::new();
    PacketBuilder::ethernet2(sender.0, [0xff; 6])
        .arp(packet)
        .write(&mut frame)
        .unwrap();
    frame
}

fn ethernet_of(frame: &[u8]) -> ([u8; 6], [u8; 6]) {
    let sliced = SlicedPacket::from_ethernet(frame).unwrap();
    let Some(LinkSlice::Ethernet2(ethernet)) = sliced.link else {
        panic!("not Ethernet II");
    };
    (ethernet.source(), ethernet.destination())
}

#[test]
fn an_arp_request_for_our_address_is_answered_to_its_sender() {
    let mut endpoint = endpoint(Mode::Ethernet);
    let request = arp(ArpOperation::REQUEST, (PEER, PEER_IP), MY_IP);
    let answer = reply(&mut endpoint, &request).expect("an ARP reply");
    assert_eq!(ethernet_of(&answer), (ME, PEER));
    let sliced = SlicedPacket::from_ethernet(&answer).unwrap();
    let Some(NetSlice::Arp(arp)) = sliced.net else {
        panic!("not ARP");
    };
    let arp = arp.to_packet().try_eth_ipv4().unwrap();
    assert_eq!(arp.operation, ArpOperation::REPLY);
    assert_eq!((arp.sender_mac, arp.sender_ipv4), (ME, MY_IP));
    assert_eq!((arp.target_mac, arp.target_ipv4), (PEER, PEER_IP));
    assert_eq!(endpoint.counters().arp_replies, 1);
}

#[test]
fn arp_for_other_addresses_and_replies_get_no_answer() {
    let mut endpoint = endpoint(Mode::Ethernet);
    let other = arp(ArpOperation::REQUEST, (PEER, PEER_IP), [10, 1, 0, 3]);
    assert_eq!(reply(&mut endpoint, &other), None);
    let unsolicited = arp(ArpOperation::REPLY, (PEER, PEER_IP), MY_IP);
    assert_eq!(reply(&mut endpoint, &unsolicited), None);
    assert_eq!(endpoint.counters().ignored, 2);
}

#[test]
fn the_gateway_is_asked_for_until_it_answers_or_asks_itself() {
    let mut endpoint = endpoint(Mode::Ethernet);
    assert!(endpoint.needs_gateway());
    let mut out = [0; 128];
    let len = endpoint.gateway_request(&mut out).expect("a request");
    assert_eq!(ethernet_of(&out[..len]), (ME, [0xff; 6]));
    let sliced = SlicedPacket::from_ethernet(&out[..len]).unwrap();
    let Some(NetSlice::Arp(request)) = sliced.net else {
        panic!("not ARP");
    };
    let request = request.to_packet().try_eth_ipv4().unwrap();
    assert_eq!(request.operation, ArpOperation::REQUEST);
    assert_eq!((request.sender_mac, request.sender_ipv4), (ME, MY_IP));
    assert_eq!(request.target_ipv4, GATEWAY_IP);

    // The gateway asks for us: learned, and answered.
    let from_gateway = arp(ArpOperation::REQUEST, (GATEWAY_MAC, GATEWAY_IP), MY_IP);
    let answer = reply(&mut endpoint, &from_gateway).expect("an ARP reply");
    assert_eq!(ethernet_of(&answer).1, GATEWAY_MAC);
    assert!(!endpoint.needs_gateway());
    assert_eq!(endpoint.gateway_request(&mut [0; 128]), None);
    let counters = endpoint.counters();
    assert_eq!(counters.gateway_mac.as_deref(), Some("02:00:00:00:00:fe"));
    assert_eq!(counters.arp_requests, 1);
}

#[test]
fn the_gateway_is_learned_from_its_reply() {
    let mut endpoint = endpoint(Mode::Ethernet);
    let from_gateway = arp(ArpOperation::REPLY, (GATEWAY_MAC, GATEWAY_IP), MY_IP);
    assert_eq!(reply(&mut endpoint, &from_gateway), None);
    assert!(!endpoint.needs_gateway());
}

#[test]
fn an_echo_request_is_answered_with_the_same_data() {
    let mut endpoint = endpoint(Mode::Ethernet);
    let mut request = Vec::new();
    PacketBuilder::ethernet2(PEER, ME)
        .ipv4(PEER_IP, MY_IP, 32)
        .icmpv4_echo_request(0x1234, 7)
        .write(&mut request, b"ping data")
        .unwrap();
    let answer = reply(&mut endpoint, &request).expect("an echo reply");
    assert_eq!(ethernet_of(&answer), (ME, PEER));
    let sliced = SlicedPacket::from_ethernet(&answer).unwrap();
    let Some(NetSlice::Ipv4(ip)) = &sliced.net else {
        panic!("not IPv4");
    };
    let header = ip.header().to_header();
    assert_eq!((header.source, header.destination), (MY_IP, PEER_IP));
    assert_eq!(header.header_checksum, header.calc_header_checksum());
    let Some(TransportSlice::Icmpv4(icmp)) = sliced.transport else {
        panic!("not ICMP");
    };
    assert_eq!(
        icmp.icmp_type(),
        Icmpv4Type::EchoReply(IcmpEchoHeader { id: 0x1234, seq: 7 })
    );
    assert_eq!(icmp.payload(), b"ping data");
    let mut recomputed: Icmpv4Header = icmp.header();
    recomputed.update_checksum(icmp.payload());
    assert_eq!(icmp.checksum(), recomputed.checksum);
    assert_eq!(endpoint.counters().echo_replies, 1);
}

#[test]
fn a_request_with_a_bad_checksum_is_malformed_not_answered() {
    let mut endpoint = endpoint(Mode::Ethernet);
    let mut request = Vec::new();
    PacketBuilder::ethernet2(PEER, ME)
        .ipv4(PEER_IP, MY_IP, 32)
        .icmpv4_echo_request(1, 1)
        .write(&mut request, b"abc")
        .unwrap();
    let last = request.len() - 1;
    request[last] ^= 0xff;
    assert_eq!(reply(&mut endpoint, &request), None);
    assert_eq!(endpoint.counters().malformed, 1);
}

#[test]
fn pings_to_other_hosts_or_other_macs_are_ignored() {
    let mut endpoint = endpoint(Mode::Ethernet);
    for (dst_mac, dst_ip) in [(ME, [10, 1, 0, 3]), ([2, 0, 0, 0, 0, 5], MY_IP)] {
        let mut request = Vec::new();
        PacketBuilder::ethernet2(PEER, dst_mac)
            .ipv4(PEER_IP, dst_ip, 32)
            .icmpv4_echo_request(1, 1)
            .write(&mut request, b"x")
            .unwrap();
        assert_eq!(reply(&mut endpoint, &request), None);
    }
    assert_eq!(endpoint.counters().ignored, 2);
}

#[test]
fn udp_to_the_echo_port_comes_back_with_ports_swapped() {
    let mut endpoint = endpoint(Mode::Ethernet);
    let mut request = Vec::new();
    PacketBuilder::ethernet2(PEER, ME)
        .ipv4(PEER_IP, MY_IP, 32)
        .udp(40_000, 7)
        .write(&mut request, b"echo me")
        .unwrap();
    let answer = reply(&mut endpoint, &request).expect("an echo");
    assert_eq!(ethernet_of(&answer), (ME, PEER));
    let sliced = SlicedPacket::from_ethernet(&answer).unwrap();
    let Some(NetSlice::Ipv4(ip)) = &sliced.net else {
        panic!("not IPv4");
    };
    let header = ip.header().to_header();
    let Some(TransportSlice::Udp(udp)) = sliced.transport else {
        panic!("not UDP");
    };
    assert_eq!((udp.source_port(), udp.destination_port()), (7, 40_000));
    assert_eq!(udp.payload(), b"echo me");
    let expected = udp
        .to_header()
        .calc_checksum_ipv4(&header, udp.payload())
        .unwrap();
    assert_eq!(udp.checksum(), expected);

    let mut other_port = Vec::new();
    PacketBuilder::ethernet2(PEER, ME)
        .ipv4(PEER_IP, MY_IP, 32)
        .udp(40_000, 9)
        .write(&mut other_port, b"x")
        .unwrap();
    assert_eq!(reply(&mut endpoint, &other_port), None);
    assert_eq!(endpoint.counters().udp_echoes, 1);
}

/// A neighbor solicitation for `target` from `src` to `dst`.
fn solicitation(src: [u8; 16], dst: [u8; 16], hop_limit: u8, target: [u8; 16]) -> Vec<u8> {
    let mut body = target.to_vec();
    if src != [0; 16] {
        body.extend_from_slice(&[1, 1]); // source link-layer address option
        body.extend_from_slice(&PEER);
    }
    let dst_mac = multicast_mac(dst.into()).0;
    let mut frame = Vec::new();
    PacketBuilder::ethernet2(PEER, dst_mac)
        .ipv6(src, dst, hop_limit)
        .icmpv6(Icmpv6Type::NeighborSolicitation)
        .write(&mut frame, &body)
        .unwrap();
    frame
}

/// The advertisement in `frame`: IPv6 source and destination, flags
/// (solicited, override), target, target link-layer address.
fn advertisement(frame: &[u8]) -> ([u8; 16], [u8; 16], (bool, bool), Vec<u8>) {
    let sliced = SlicedPacket::from_ethernet(frame).unwrap();
    let Some(NetSlice::Ipv6(ip)) = &sliced.net else {
        panic!("not IPv6");
    };
    let header = ip.header().to_header();
    assert_eq!(header.hop_limit, 255);
    let Some(TransportSlice::Icmpv6(icmp)) = sliced.transport else {
        panic!("not ICMPv6");
    };
    let icmp: Icmpv6Slice<'_> = icmp;
    assert!(icmp.is_checksum_valid(header.source, header.destination));
    let Icmpv6Type::NeighborAdvertisement(flags) = icmp.icmp_type() else {
        panic!("not an advertisement: {:?}", icmp.icmp_type());
    };
    assert!(!flags.router);
    (
        header.source,
        header.destination,
        (flags.solicited, flags.r#override),
        icmp.payload().to_vec(),
    )
}

#[test]
fn a_neighbor_solicitation_for_our_address_gets_a_solicited_advertisement() {
    let mut endpoint = endpoint(Mode::Ethernet);
    let snm = solicited_node_multicast(MY_IP6.into()).octets();
    let request = solicitation(PEER_IP6, snm, 255, MY_IP6);
    let answer = reply(&mut endpoint, &request).expect("an advertisement");
    assert_eq!(ethernet_of(&answer), (ME, PEER));
    let (src, dst, flags, body) = advertisement(&answer);
    assert_eq!((src, dst, flags), (MY_IP6, PEER_IP6, (true, true)));
    assert_eq!(body[..16], MY_IP6);
    assert_eq!(body[16..], [[2, 1].as_slice(), &ME].concat());
    assert_eq!(endpoint.counters().neighbor_adverts, 1);
}

#[test]
fn duplicate_address_detection_is_answered_to_all_nodes() {
    let mut endpoint = endpoint(Mode::Ethernet);
    let snm = solicited_node_multicast(MY_IP6.into()).octets();
    let answer = reply(&mut endpoint, &solicitation([0; 16], snm, 255, MY_IP6)).unwrap();
    assert_eq!(ethernet_of(&answer), (ME, [0x33, 0x33, 0, 0, 0, 1]));
    let (_, dst, flags, _) = advertisement(&answer);
    assert_eq!((dst, flags), (LINK_LOCAL_ALL_NODES.octets(), (false, true)));
}

#[test]
fn solicitations_off_link_or_for_others_get_no_answer() {
    let mut endpoint = endpoint(Mode::Ethernet);
    let snm = solicited_node_multicast(MY_IP6.into()).octets();
    // A hop limit below 255 means the sender is not on the link.
    assert_eq!(
        reply(&mut endpoint, &solicitation(PEER_IP6, snm, 64, MY_IP6)),
        None
    );
    assert_eq!(endpoint.counters().malformed, 1);
    assert_eq!(
        reply(&mut endpoint, &solicitation(PEER_IP6, snm, 255, PEER_IP6)),
        None
    );
    assert_eq!(endpoint.counters().ignored, 1);
}

#[test]
fn an_icmpv6_echo_request_is_answered() {
    let mut endpoint = endpoint(Mode::Ethernet);
    let mut request = Vec::new();
    PacketBuilder::ethernet2(PEER, ME)
        .ipv6(PEER_IP6, MY_IP6, 64)
        .icmpv6_echo_request(9, 10)
        .write(&mut request, b"ping6")
        .unwrap();
    let answer = reply(&mut endpoint, &request).expect("an echo reply");
    assert_eq!(ethernet_of(&answer), (ME, PEER));
    let sliced = SlicedPacket::from_ethernet(&answer).unwrap();
    let Some(NetSlice::Ipv6(ip)) = &sliced.net else {
        panic!("not IPv6");
    };
    let header = ip.header().to_header();
    assert_eq!((header.source, header.destination), (MY_IP6, PEER_IP6));
    let Some(TransportSlice::Icmpv6(icmp)) = sliced.transport else {
        panic!("not ICMPv6");
    };
    assert!(icmp.is_checksum_valid(MY_IP6, PEER_IP6));
    assert_eq!(
        icmp.icmp_type(),
        Icmpv6Type::EchoReply(IcmpEchoHeader { id: 9, seq: 10 })
    );
    assert_eq!(icmp.payload(), b"ping6");
    assert_eq!(endpoint.counters().echo6_replies, 1);
}

#[test]
fn ip_mode_answers_pings_and_udp_without_ethernet_headers() {
    let mut endpoint = endpoint(Mode::Ip);
    let mut request = Vec::new();
    PacketBuilder::ipv4(PEER_IP, MY_IP, 32)
        .icmpv4_echo_request(1, 2)
        .write(&mut request, b"ip mode")
        .unwrap();
    let answer = reply(&mut endpoint, &request).expect("an echo reply");
    let sliced = SlicedPacket::from_ip(&answer).unwrap();
    let Some(TransportSlice::Icmpv4(icmp)) = sliced.transport else {
        panic!("not ICMP");
    };
    assert_eq!(icmp.payload(), b"ip mode");

    let mut datagram = Vec::new();
    PacketBuilder::ipv6(PEER_IP6, MY_IP6, 64)
        .udp(5000, 7)
        .write(&mut datagram, b"six")
        .unwrap();
    let answer = reply(&mut endpoint, &datagram).expect("a UDP echo");
    let sliced = SlicedPacket::from_ip(&answer).unwrap();
    let Some(TransportSlice::Udp(udp)) = sliced.transport else {
        panic!("not UDP");
    };
    assert_eq!(
        (udp.destination_port(), udp.payload()),
        (5000, b"six".as_slice())
    );
    // No ARP in ip mode, and no gateway to ask for.
    assert!(!endpoint.needs_gateway());
}

#[test]
fn garbage_never_panics_and_is_counted() {
    let mut endpoint = endpoint(Mode::Ethernet);
    let mut good = Vec::new();
    PacketBuilder::ethernet2(PEER, ME)
        .ipv4(PEER_IP, MY_IP, 32)
        .udp(1, 7)
        .write(&mut good, b"0123456789")
        .unwrap();
    for len in 0..good.len() {
        assert_eq!(reply(&mut endpoint, &good[..len]), None, "cut to {len}");
    }
    let counters = endpoint.counters();
    assert_eq!(counters.received, good.len() as u64);
    assert_eq!(counters.malformed + counters.ignored, good.len() as u64);
    // A reply that does not fit the room given is not written.
    let mut small = [0; 20];
    assert_eq!(endpoint.answer(&good, &mut small), None);
}
