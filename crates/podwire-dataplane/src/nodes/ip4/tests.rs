//! IPv4 forwarding through the nodes, checked with etherparse.

use core::net::Ipv4Addr;

use etherparse::{
    Ethernet2HeaderSlice, Icmpv4Header, Icmpv4Slice, Icmpv4Type, Ipv4HeaderSlice, icmpv4,
};
use proptest::prelude::*;

use crate::nodes::ip_common::harness::frames::{
    echo4, from_pod, from_router, raw, refill_ip4_checksum, udp4,
};
use crate::nodes::ip_common::harness::*;

/// A frame the switch sent, taken apart: Ethernet, IPv4 header, IP payload.
fn parse(frame: &[u8]) -> (Ethernet2HeaderSlice<'_>, Ipv4HeaderSlice<'_>, &[u8]) {
    let eth = Ethernet2HeaderSlice::from_slice(frame).expect("an Ethernet frame");
    assert_eq!(eth.ether_type(), etherparse::EtherType::IPV4);
    let ip = Ipv4HeaderSlice::from_slice(&frame[14..]).expect("an IPv4 header");
    assert_eq!(
        ip.to_header().calc_header_checksum(),
        ip.header_checksum(),
        "the IPv4 header checksum is right"
    );
    assert_eq!(
        usize::from(ip.total_len()),
        frame.len() - 14,
        "no padding, no loss"
    );
    let payload = &frame[14 + ip.slice().len()..];
    (eth, ip, payload)
}

/// An ICMP message the switch sent, its checksum checked.
fn icmp(payload: &[u8]) -> Icmpv4Slice<'_> {
    let icmp = Icmpv4Slice::from_slice(payload).expect("an ICMP message");
    let expected = Icmpv4Header::with_checksum(icmp.icmp_type(), icmp.payload()).checksum;
    assert_eq!(icmp.checksum(), expected, "the ICMP checksum is right");
    icmp
}

/// The only frame sent, on `interface`; nothing anywhere else.
fn only_frame(h: &mut Harness, interface: crate::interface::IfIndex) -> Vec<u8> {
    let mut frames = h.sent(interface);
    assert_eq!(frames.len(), 1, "one frame out of {interface:?}");
    assert_eq!(h.queued(), 0, "and nothing else");
    frames.pop().unwrap()
}

/// The IPv4 packet of a frame (without its Ethernet header).
fn ip_of(frame: &[u8]) -> &[u8] {
    &frame[14..]
}

#[test]
fn forwards_from_a_pod_to_a_router_rewriting_macs_and_ttl() {
    let mut h = Harness::new();
    let frame = udp4(from_pod(), POD_IP4, Ipv4Addr::new(10, 9, 1, 5), 64, 100);
    h.receive(POD_IF, &frame);
    h.run();

    let out = only_frame(&mut h, UPLINK_IF);
    let (eth, ip, payload) = parse(&out);
    assert_eq!(eth.source(), UPLINK_IF_MAC.0, "from the uplink's MAC");
    assert_eq!(
        eth.destination(),
        ROUTER_B_MAC.0,
        "to the router of the /24"
    );
    assert_eq!(ip.ttl(), 63);
    assert_eq!(ip.source_addr(), POD_IP4);
    assert_eq!(ip.destination_addr(), Ipv4Addr::new(10, 9, 1, 5));
    assert_eq!(payload, &frame[34..], "the UDP datagram is untouched");
    // Only the TTL and the checksum changed.
    let mut expected = frame[14..].to_vec();
    expected[8] = 63;
    expected[10..12].copy_from_slice(&out[24..26]);
    assert_eq!(ip_of(&out), &expected[..]);
    assert_eq!(
        h.pool.available(),
        HARNESS_BUFFERS as usize,
        "no buffer leaked"
    );
}

#[test]
fn forwards_from_the_uplink_to_a_pod() {
    let mut h = Harness::new();
    let frame = udp4(from_router(), Ipv4Addr::new(10, 9, 0, 5), POD_IP4, 20, 10);
    h.receive(UPLINK_IF, &frame);
    h.run();
    let out = only_frame(&mut h, POD_IF);
    let (eth, ip, _) = parse(&out);
    assert_eq!(eth.source(), POD_IF_MAC.0);
    assert_eq!(eth.destination(), POD_MAC.0);
    assert_eq!(ip.ttl(), 19);
}

#[test]
fn the_longest_prefix_wins() {
    let mut h = Harness::new();
    for (dst, router) in [
        (Ipv4Addr::new(10, 9, 1, 200), ROUTER_B_MAC),
        (Ipv4Addr::new(10, 9, 2, 1), ROUTER_A_MAC),
        (Ipv4Addr::new(10, 9, 0, 255), ROUTER_A_MAC),
    ] {
        h.receive(POD_IF, &udp4(from_pod(), POD_IP4, dst, 64, 8));
        h.run();
        let out = only_frame(&mut h, UPLINK_IF);
        assert_eq!(parse(&out).0.destination(), router.0, "{dst}");
    }
}

#[test]
fn ethernet_padding_is_trimmed() {
    let mut h = Harness::new();
    let mut frame = udp4(from_pod(), POD_IP4, Ipv4Addr::new(10, 9, 0, 1), 64, 2);
    assert!(frame.len() < 60);
    frame.resize(60, 0xee);
    h.receive(POD_IF, &frame);
    h.run();
    let out = only_frame(&mut h, UPLINK_IF);
    assert_eq!(out.len(), 14 + 20 + 8 + 2, "the padding did not travel");
}

/// A valid UDP packet from the pod, for the malformed cases to spoil.
fn valid() -> Vec<u8> {
    udp4(from_pod(), POD_IP4, Ipv4Addr::new(10, 9, 0, 1), 64, 40)
}

/// Receives `frame` on `rx_if` and checks that `node` dropped it for
/// `reason`, with nothing sent.
fn assert_dropped(rx_if: crate::interface::IfIndex, frame: &[u8], node: &str, reason: &str) {
    let mut h = Harness::new();
    let id = h.receive(rx_if, frame);
    h.run();
    assert_eq!(
        h.drops(node, reason),
        1,
        "{node} counts {reason}; path {:?}",
        h.steps(id)
    );
    assert_eq!(h.total_drops(), 1, "dropped once");
    assert_eq!(h.queued(), 0, "nothing sent");
    assert_eq!(h.pool.available(), HARNESS_BUFFERS as usize);
}

#[test]
fn malformed_headers_are_dropped_each_with_its_reason() {
    let input = "ip4-input";
    assert_dropped(POD_IF, &valid()[..14 + 19], input, "truncated");

    let mut bad_version = valid();
    bad_version[14] = 0x65;
    refill_ip4_checksum(&mut bad_version);
    assert_dropped(POD_IF, &bad_version, input, "bad-version");

    let mut short_ihl = valid();
    short_ihl[14] = 0x44;
    assert_dropped(POD_IF, &short_ihl, input, "bad-ihl");

    let mut long_ihl = valid();
    long_ihl[14] = 0x4f; // 60 bytes of header, in a 48-byte packet
    assert_dropped(POD_IF, &long_ihl[..14 + 48], input, "truncated");

    let mut total_below_header = valid();
    total_below_header[16..18].copy_from_slice(&19u16.to_be_bytes());
    refill_ip4_checksum(&mut total_below_header);
    assert_dropped(POD_IF, &total_below_header, input, "bad-total-length");

    let mut total_over_frame = valid();
    total_over_frame[16..18].copy_from_slice(&200u16.to_be_bytes());
    refill_ip4_checksum(&mut total_over_frame);
    assert_dropped(POD_IF, &total_over_frame, input, "length-over-frame");

    let mut bad_checksum = valid();
    bad_checksum[24] ^= 0x01;
    assert_dropped(POD_IF, &bad_checksum, input, "bad-checksum");
}

#[test]
fn impossible_sources_and_multicast_are_dropped() {
    let input = "ip4-input";
    let multicast_source = udp4(from_router(), Ipv4Addr::new(224, 0, 0, 5), POD_IP4, 64, 8);
    assert_dropped(UPLINK_IF, &multicast_source, input, "bad-source");
    let broadcast_source = udp4(from_router(), Ipv4Addr::BROADCAST, POD_IP4, 64, 8);
    assert_dropped(UPLINK_IF, &broadcast_source, input, "bad-source");
    let multicast_dst = udp4(from_router(), ROUTER_A4, Ipv4Addr::new(239, 1, 1, 1), 64, 8);
    assert_dropped(UPLINK_IF, &multicast_dst, input, "multicast-unsupported");
}

#[test]
fn a_pod_may_send_only_from_its_own_address() {
    let spoofed = udp4(
        from_pod(),
        Ipv4Addr::new(10, 0, 0, 99),
        Ipv4Addr::new(10, 9, 0, 1),
        64,
        8,
    );
    assert_dropped(POD_IF, &spoofed, "ip4-input", "spoofed-source");
    // An address routed elsewhere (out of the uplink) is spoofed too.
    let elsewhere = udp4(from_pod(), Ipv4Addr::new(10, 9, 0, 7), POD_IP4, 64, 8);
    assert_dropped(POD_IF, &elsewhere, "ip4-input", "spoofed-source");
    // The uplink does not check: traffic from anywhere comes in there.
    let mut h = Harness::new();
    h.receive(
        UPLINK_IF,
        &udp4(from_router(), Ipv4Addr::new(8, 8, 8, 8), POD_IP4, 64, 8),
    );
    h.run();
    assert_eq!(h.sent(POD_IF).len(), 1);
}

#[test]
fn broadcasts_are_not_forwarded() {
    let lookup = "ip4-lookup";
    let limited = udp4(from_router(), ROUTER_A4, Ipv4Addr::BROADCAST, 64, 8);
    assert_dropped(UPLINK_IF, &limited, lookup, "broadcast");
    let directed = udp4(from_pod(), POD_IP4, Ipv4Addr::new(192, 168, 50, 255), 64, 8);
    assert_dropped(POD_IF, &directed, lookup, "broadcast");
}

#[test]
fn blackhole_routes_drop_silently() {
    let frame = udp4(from_pod(), POD_IP4, Ipv4Addr::new(10, 66, 3, 3), 64, 8);
    assert_dropped(POD_IF, &frame, "ip4-lookup", "blackhole");
}

/// Sends `frame` from the pod and returns the ICMP error the pod got
/// back: its IP header, type, and the bytes it quotes.
fn error_to_pod(frame: &[u8]) -> (Ipv4HeaderSlice<'static>, Icmpv4Type, Vec<u8>) {
    let mut h = Harness::new();
    h.receive(POD_IF, frame);
    h.run();
    let out: &'static [u8] = only_frame(&mut h, POD_IF).leak();
    let (eth, ip, payload) = parse(out);
    assert_eq!(eth.destination(), POD_MAC.0);
    assert_eq!(eth.source(), POD_IF_MAC.0);
    assert_eq!(ip.source_addr(), GATEWAY4, "from the pod's gateway address");
    assert_eq!(ip.destination_addr(), POD_IP4);
    assert_eq!(ip.protocol(), etherparse::IpNumber::ICMP);
    let icmp = icmp(payload);
    (ip, icmp.icmp_type(), icmp.payload().to_vec())
}

#[test]
fn ttl_1_gets_time_exceeded_quoting_the_packet() {
    let frame = udp4(from_pod(), POD_IP4, Ipv4Addr::new(10, 9, 0, 1), 1, 100);
    let (_, icmp_type, quote) = error_to_pod(&frame);
    assert_eq!(
        icmp_type,
        Icmpv4Type::TimeExceeded(icmpv4::TimeExceededCode::TtlExceededInTransit)
    );
    assert_eq!(quote, ip_of(&frame), "the whole packet, as it arrived");
}

#[test]
fn a_large_packet_is_quoted_up_to_576_bytes() {
    let frame = udp4(from_pod(), POD_IP4, Ipv4Addr::new(10, 9, 0, 1), 1, 1000);
    let (ip, _, quote) = error_to_pod(&frame);
    assert_eq!(ip.total_len(), 576);
    assert_eq!(quote, ip_of(&frame)[..548]);
}

#[test]
fn no_route_gets_net_unreachable() {
    let frame = udp4(from_pod(), POD_IP4, Ipv4Addr::new(172, 16, 0, 1), 64, 20);
    let (_, icmp_type, quote) = error_to_pod(&frame);
    assert_eq!(
        icmp_type,
        Icmpv4Type::DestinationUnreachable(icmpv4::DestUnreachableHeader::Network)
    );
    assert_eq!(quote, ip_of(&frame));
}

#[test]
fn an_unreachable_route_gets_host_unreachable() {
    let frame = udp4(from_pod(), POD_IP4, Ipv4Addr::new(10, 77, 0, 1), 64, 20);
    let (_, icmp_type, _) = error_to_pod(&frame);
    assert_eq!(
        icmp_type,
        Icmpv4Type::DestinationUnreachable(icmpv4::DestUnreachableHeader::Host)
    );
}

/// A UDP packet from the pod to the uplink side, `len` bytes of IP, with
/// or without don't-fragment.
fn big(len: usize, dont_frag: bool) -> Vec<u8> {
    let mut frame = udp4(
        from_pod(),
        POD_IP4,
        Ipv4Addr::new(10, 9, 0, 1),
        64,
        len - 28,
    );
    frame[20] = if dont_frag { 0x40 } else { 0 };
    refill_ip4_checksum(&mut frame);
    frame
}

#[test]
fn too_big_with_dont_fragment_gets_fragmentation_needed_with_the_mtu() {
    let (_, icmp_type, _) = error_to_pod(&big(1401, true));
    assert_eq!(
        icmp_type,
        Icmpv4Type::DestinationUnreachable(icmpv4::DestUnreachableHeader::FragmentationNeeded {
            next_hop_mtu: 1400
        })
    );
    let mut h = Harness::new();
    h.receive(POD_IF, &big(1400, true));
    h.run();
    assert_eq!(h.sent(UPLINK_IF).len(), 1, "exactly the MTU passes");
}

#[test]
fn too_big_without_dont_fragment_is_dropped() {
    assert_dropped(
        POD_IF,
        &big(1401, false),
        "ip4-rewrite",
        "fragmentation-unsupported",
    );
}

#[test]
fn the_original_is_counted_with_the_reason_of_its_error() {
    let mut h = Harness::new();
    h.receive(
        POD_IF,
        &udp4(from_pod(), POD_IP4, Ipv4Addr::new(10, 9, 0, 1), 1, 8),
    );
    h.receive(
        POD_IF,
        &udp4(from_pod(), POD_IP4, Ipv4Addr::new(172, 16, 0, 1), 9, 8),
    );
    h.receive(POD_IF, &big(1500, true));
    h.run();
    assert_eq!(h.drops("ip4-icmp-error", "ttl-expired"), 1);
    assert_eq!(h.drops("ip4-icmp-error", "no-route"), 1);
    assert_eq!(h.drops("ip4-icmp-error", "too-big"), 1);
    assert_eq!(h.sent(POD_IF).len(), 3, "three errors");
}

#[test]
fn no_error_about_an_icmp_error() {
    // A time exceeded from somewhere, itself about to expire.
    let mut frame = Vec::new();
    etherparse::PacketBuilder::ethernet2(POD_MAC.0, POD_IF_MAC.0)
        .ipv4(POD_IP4.octets(), [10, 9, 0, 1], 1)
        .icmpv4(Icmpv4Type::TimeExceeded(
            icmpv4::TimeExceededCode::TtlExceededInTransit,
        ))
        .write(&mut frame, &[0x45; 28])
        .unwrap();
    assert_dropped(POD_IF, &frame, "ip4-icmp-error", "ttl-expired");
    // An echo request is not an error: it gets one.
    let mut echo = echo4(from_pod(), POD_IP4, Ipv4Addr::new(10, 9, 0, 1), 8);
    echo[22] = 1;
    refill_ip4_checksum(&mut echo);
    let (_, icmp_type, _) = error_to_pod(&echo);
    assert!(matches!(icmp_type, Icmpv4Type::TimeExceeded(_)));
}

#[test]
fn no_error_about_a_later_fragment() {
    let mut frame = udp4(from_pod(), POD_IP4, Ipv4Addr::new(10, 9, 0, 1), 1, 40);
    frame[20..22].copy_from_slice(&(0x2000u16 | 10).to_be_bytes()); // MF, offset 80
    refill_ip4_checksum(&mut frame);
    assert_dropped(POD_IF, &frame, "ip4-icmp-error", "ttl-expired");
}

#[test]
fn errors_are_rate_limited_and_the_budget_refills_with_time() {
    use crate::nodes::icmp::rate_limit::ICMP_ERROR_BURST;
    let mut h = Harness::new();
    let expired = udp4(from_pod(), POD_IP4, Ipv4Addr::new(10, 9, 0, 1), 1, 8);
    for _ in 0..150 {
        h.receive_untraced(POD_IF, &expired);
    }
    h.run();
    assert_eq!(h.sent(POD_IF).len() as u64, ICMP_ERROR_BURST);
    assert_eq!(
        h.drops("ip4-icmp-error", "rate-limited"),
        150 - ICMP_ERROR_BURST
    );
    assert_eq!(h.drops("ip4-icmp-error", "ttl-expired"), ICMP_ERROR_BURST);

    // 5 ms later: 5 more (1000 a second).
    h.now = h.now.after(std::time::Duration::from_millis(5));
    for _ in 0..20 {
        h.receive_untraced(POD_IF, &expired);
    }
    h.run();
    assert_eq!(h.sent(POD_IF).len(), 5);
    assert_eq!(h.pool.available(), HARNESS_BUFFERS as usize);
}

#[test]
fn the_switch_answers_pings_to_its_addresses() {
    for (rx_if, macs, src, dst) in [
        (POD_IF, from_pod(), POD_IP4, GATEWAY4),
        (UPLINK_IF, from_router(), ROUTER_A4, UPLINK_IP4),
        // The uplink address, from the pod: replies come from where asked.
        (POD_IF, from_pod(), POD_IP4, UPLINK_IP4),
    ] {
        let mut h = Harness::new();
        let request = echo4(macs, src, dst, 56);
        h.receive(rx_if, &request);
        h.run();
        let out = only_frame(&mut h, rx_if);
        let (eth, ip, payload) = parse(&out);
        assert_eq!(eth.destination(), macs.0.0);
        assert_eq!(eth.source(), macs.1.0);
        assert_eq!((ip.source_addr(), ip.destination_addr()), (dst, src));
        assert_eq!(
            ip.ttl(),
            64,
            "the switch's own packets are not counted down"
        );
        let icmp = icmp(payload);
        let Icmpv4Type::EchoReply(echo) = icmp.icmp_type() else {
            panic!("an echo reply, not {:?}", icmp.icmp_type());
        };
        assert_eq!((echo.id, echo.seq), (0x1234, 7));
        assert_eq!(icmp.payload(), &request[42..], "the data comes back");
    }
}

#[test]
fn a_jumbo_ping_over_a_buffer_chain_is_answered() {
    let mut tables = network();
    tables.interfaces[POD_IF.as_usize()].mtu = 9000;
    let mut h = Harness::with_tables(tables);
    let request = echo4(from_pod(), POD_IP4, GATEWAY4, 5000);
    h.receive(POD_IF, &request);
    h.run();
    let out = only_frame(&mut h, POD_IF);
    let (_, _, payload) = parse(&out);
    let icmp = icmp(payload);
    assert!(matches!(icmp.icmp_type(), Icmpv4Type::EchoReply(_)));
    assert_eq!(icmp.payload(), &request[42..]);
}

#[test]
fn a_ping_with_a_bad_checksum_is_not_answered() {
    let mut request = echo4(from_pod(), POD_IP4, GATEWAY4, 20);
    request[40] ^= 0xff;
    assert_dropped(POD_IF, &request, "ip4-icmp-echo", "bad-checksum");
}

#[test]
fn udp_and_unknown_protocols_to_the_switch_are_refused() {
    let udp = udp4(from_pod(), POD_IP4, GATEWAY4, 64, 12);
    let (_, icmp_type, quote) = error_to_pod(&udp);
    assert_eq!(
        icmp_type,
        Icmpv4Type::DestinationUnreachable(icmpv4::DestUnreachableHeader::Port)
    );
    assert_eq!(quote, ip_of(&udp));

    let mut gre = udp;
    gre[23] = 47;
    refill_ip4_checksum(&mut gre);
    let (_, icmp_type, _) = error_to_pod(&gre);
    assert_eq!(
        icmp_type,
        Icmpv4Type::DestinationUnreachable(icmpv4::DestUnreachableHeader::Protocol)
    );
}

#[test]
fn fragments_and_replies_to_the_switch_are_dropped() {
    let mut fragment = echo4(from_pod(), POD_IP4, GATEWAY4, 20);
    fragment[20] = 0x20; // more fragments
    refill_ip4_checksum(&mut fragment);
    assert_dropped(POD_IF, &fragment, "ip4-local", "reassembly-unsupported");

    let mut reply = Vec::new();
    etherparse::PacketBuilder::ethernet2(POD_MAC.0, POD_IF_MAC.0)
        .ipv4(POD_IP4.octets(), GATEWAY4.octets(), 64)
        .icmpv4_echo_reply(1, 1)
        .write(&mut reply, &[])
        .unwrap();
    assert_dropped(POD_IF, &reply, "ip4-local", "icmp-ignored");
}

#[test]
fn an_unknown_next_hop_goes_to_glean() {
    let mut h = Harness::new();
    let id = h.receive(POD_IF, &udp4(from_pod(), POD_IP4, UNKNOWN_HOST4, 64, 8));
    h.run();
    assert_eq!(
        h.path(id)[..6],
        [
            "ip4-input",
            "ip4-nat-in",
            "ip4-lookup",
            "ip4-nat-out",
            "ip4-rewrite",
            "ip4-glean"
        ],
        "{:?}",
        h.steps(id)
    );
}

/// Packets to several next hops in one vector: `ip4-rewrite` remembers the
/// adjacency it resolved last, and must not send a packet to the previous
/// packet's next hop (an attached route's next hop is each destination).
#[test]
fn a_vector_mixing_next_hops_sends_each_packet_to_its_own() {
    let mut h = Harness::new();
    let to = [
        (Ipv4Addr::new(10, 9, 0, 1), ROUTER_A_MAC),
        (Ipv4Addr::new(10, 9, 1, 1), ROUTER_B_MAC),
        (Ipv4Addr::new(10, 9, 0, 2), ROUTER_A_MAC),
        (Ipv4Addr::new(10, 9, 0, 3), ROUTER_A_MAC),
        // On the uplink's subnet: the same attached adjacency, three MACs.
        (ROUTER_B4, ROUTER_B_MAC),
        (ROUTER_A4, ROUTER_A_MAC),
        (UNKNOWN_HOST4, ROUTER_A_MAC),
        (ROUTER_B4, ROUTER_B_MAC),
        (Ipv4Addr::new(10, 9, 1, 2), ROUTER_B_MAC),
    ];
    for (dst, _) in to {
        h.receive_untraced(POD_IF, &udp4(from_pod(), POD_IP4, dst, 64, 8));
    }
    h.run();
    let sent: Vec<(Ipv4Addr, [u8; 6])> = h
        .sent(UPLINK_IF)
        .iter()
        .filter(|frame| frame[12..14] == [0x08, 0x00])
        .map(|frame| {
            let (eth, ip, _) = parse(frame);
            (ip.destination_addr(), eth.destination())
        })
        .collect();
    let expected: Vec<(Ipv4Addr, [u8; 6])> = to
        .iter()
        .filter(|(dst, _)| *dst != UNKNOWN_HOST4)
        .map(|(dst, mac)| (*dst, mac.0))
        .collect();
    assert_eq!(sent, expected, "in order, each to its next hop");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever arrives, each packet is forwarded, answered or dropped
    /// with a counted reason, and no buffer leaks.
    #[test]
    fn any_bytes_are_forwarded_or_dropped_counted(
        packets in proptest::collection::vec(arbitrary_ip4(), 1..8),
    ) {
        let mut h = Harness::new();
        for (from_uplink, bytes) in &packets {
            let (rx_if, macs) = if *from_uplink { (UPLINK_IF, from_router()) } else { (POD_IF, from_pod()) };
            // Noise starting with a 6 would go to ip6-input: keep it IPv4.
            let mut frame = raw(macs, bytes);
            frame[12..14].copy_from_slice(&[0x08, 0x00]);
            h.receive_and_account(rx_if, &frame).map_err(TestCaseError::fail)?;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A vector is routed as its packets are one by one: the same frames
    /// leave by the same interfaces and the same drops are counted. (The
    /// lookup node routes a vector's packets together and the rewrite node
    /// remembers the last next hop: neither may mix packets up.)
    #[test]
    fn a_vector_is_routed_as_its_packets_one_by_one(
        packets in proptest::collection::vec(arbitrary_ip4(), 1..40),
    ) {
        let mut together = Harness::new();
        let mut alone = Harness::new();
        for (from_uplink, bytes) in &packets {
            let (rx_if, macs) = if *from_uplink { (UPLINK_IF, from_router()) } else { (POD_IF, from_pod()) };
            let mut frame = raw(macs, bytes);
            frame[12..14].copy_from_slice(&[0x08, 0x00]);
            together.receive_untraced(rx_if, &frame);
            alone.receive_untraced(rx_if, &frame);
            alone.run();
        }
        together.run();
        for interface in [POD_IF, UPLINK_IF] {
            let mut vector = together.sent(interface);
            let mut single = alone.sent(interface);
            vector.sort();
            single.sort();
            prop_assert_eq!(vector, single, "out of {:?}", interface);
        }
        prop_assert_eq!(together.graph.drop_counts(), alone.graph.drop_counts());
    }
}

/// IPv4 packets worth feeding: valid ones with a few bytes changed (they
/// reach deep into the graph), and plain noise.
fn arbitrary_ip4() -> impl Strategy<Value = (bool, Vec<u8>)> {
    let valid = (
        prop::sample::select(vec![
            udp4(from_pod(), POD_IP4, Ipv4Addr::new(10, 9, 0, 1), 64, 30)[14..].to_vec(),
            udp4(from_pod(), POD_IP4, Ipv4Addr::new(10, 9, 1, 7), 64, 30)[14..].to_vec(),
            udp4(from_pod(), POD_IP4, ROUTER_B4, 64, 30)[14..].to_vec(),
            udp4(from_pod(), POD_IP4, UNKNOWN_HOST4, 64, 30)[14..].to_vec(),
            udp4(from_pod(), POD_IP4, Ipv4Addr::new(172, 16, 0, 1), 64, 30)[14..].to_vec(),
            udp4(from_router(), ROUTER_A4, POD_IP4, 64, 30)[14..].to_vec(),
            udp4(from_pod(), POD_IP4, GATEWAY4, 2, 30)[14..].to_vec(),
            echo4(from_pod(), POD_IP4, GATEWAY4, 30)[14..].to_vec(),
            echo4(from_router(), ROUTER_A4, POD_IP4, 3000)[14..].to_vec(),
        ]),
        proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        any::<bool>(),
    )
        .prop_map(|(mut bytes, changes, refill)| {
            for (at, value) in changes {
                let i = at.index(bytes.len());
                bytes[i] = value;
            }
            if refill && bytes.len() >= 20 {
                let ihl = (usize::from(bytes[0] & 0x0f) * 4).clamp(20, bytes.len());
                bytes[10..12].fill(0);
                let sum = podwire_wire::checksum::data(&bytes[..ihl]);
                bytes[10..12].copy_from_slice(&podwire_wire::checksum::finish(sum).to_be_bytes());
            }
            bytes
        });
    let noise = proptest::collection::vec(any::<u8>(), 0..120);
    (any::<bool>(), prop_oneof![3 => valid, 1 => noise])
}

#[test]
fn the_engine_routes_frames_from_ethernet_input_and_answers_pings() {
    use crate::clock::Instant;
    use crate::engine::Engine;
    let tables = network();
    let mut engine = Engine::new(64, None).expect("the standard graph wires");
    let now = Instant::from_nanos(1);
    let forwarded = engine
        .pool
        .alloc_from(&udp4(
            from_pod(),
            POD_IP4,
            Ipv4Addr::new(10, 9, 0, 1),
            64,
            10,
        ))
        .unwrap();
    let ping = engine
        .pool
        .alloc_from(&echo4(from_pod(), POD_IP4, GATEWAY4, 10))
        .unwrap();
    engine.receive(POD_IF, &[forwarded, ping], now);
    engine.run(&tables, now);
    let sent = |engine: &mut Engine, interface| {
        let queue = std::mem::take(engine.tx.queue_mut(interface).expect("a queue"));
        let frames: Vec<Vec<u8>> = queue
            .iter()
            .map(|&bi| {
                let mut bytes = Vec::new();
                engine.pool.copy_to_vec(bi, &mut bytes);
                engine.pool.free(bi);
                bytes
            })
            .collect();
        frames
    };
    let up = sent(&mut engine, UPLINK_IF);
    assert_eq!(up.len(), 1);
    assert_eq!(parse(&up[0]).0.destination(), ROUTER_A_MAC.0);
    let back = sent(&mut engine, POD_IF);
    assert_eq!(back.len(), 1);
    let (_, _, payload) = parse(&back[0]);
    assert!(matches!(
        icmp(payload).icmp_type(),
        Icmpv4Type::EchoReply(_)
    ));
    assert_eq!(engine.pool.available(), 64);
}
