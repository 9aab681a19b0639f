//! IPv6 forwarding through the nodes, checked with etherparse.

use core::net::Ipv6Addr;

use etherparse::{
    Ethernet2HeaderSlice, Icmpv6Slice, Icmpv6Type, Ipv6HeaderSlice, PacketBuilder, icmpv6,
};
use proptest::prelude::*;

use crate::interface::IfIndex;
use crate::nodes::ip_common::harness::frames::{echo6, from_pod, from_router, raw, udp6};
use crate::nodes::ip_common::harness::*;

const REMOTE6: Ipv6Addr = Ipv6Addr::new(0xfd20, 0, 0, 0, 0, 0, 0, 5);

/// A frame the switch sent, taken apart: Ethernet, IPv6 header, payload.
fn parse(frame: &[u8]) -> (Ethernet2HeaderSlice<'_>, Ipv6HeaderSlice<'_>, &[u8]) {
    let eth = Ethernet2HeaderSlice::from_slice(frame).expect("an Ethernet frame");
    assert_eq!(eth.ether_type(), etherparse::EtherType::IPV6);
    let ip = Ipv6HeaderSlice::from_slice(&frame[14..]).expect("an IPv6 header");
    assert_eq!(
        usize::from(ip.payload_length()),
        frame.len() - 54,
        "no padding, no loss"
    );
    (eth, ip, &frame[54..])
}

/// An ICMPv6 message the switch sent, its checksum checked.
fn icmp<'a>(ip: &Ipv6HeaderSlice<'_>, payload: &'a [u8]) -> Icmpv6Slice<'a> {
    assert_eq!(ip.next_header(), etherparse::IpNumber::IPV6_ICMP);
    let icmp = Icmpv6Slice::from_slice(payload).expect("an ICMPv6 message");
    assert!(
        icmp.is_checksum_valid(ip.source(), ip.destination()),
        "the ICMPv6 checksum is right"
    );
    icmp
}

/// The only frame sent, on `interface`; nothing anywhere else.
fn only_frame(h: &mut Harness, interface: IfIndex) -> Vec<u8> {
    let mut frames = h.sent(interface);
    assert_eq!(frames.len(), 1, "one frame out of {interface:?}");
    assert_eq!(h.queued(), 0, "and nothing else");
    frames.pop().unwrap()
}

/// Receives `frame` on `rx_if` and checks that `node` dropped it for
/// `reason`, with nothing sent.
fn assert_dropped(rx_if: IfIndex, frame: &[u8], node: &str, reason: &str) {
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
fn forwards_from_a_pod_to_a_link_local_router() {
    let mut h = Harness::new();
    let frame = udp6(from_pod(), POD_IP6, REMOTE6, 64, 100);
    h.receive(POD_IF, &frame);
    h.run();
    let out = only_frame(&mut h, UPLINK_IF);
    let (eth, ip, payload) = parse(&out);
    assert_eq!(eth.source(), UPLINK_IF_MAC.0);
    assert_eq!(
        eth.destination(),
        ROUTER_A_MAC.0,
        "the gateway fe80::a's MAC"
    );
    assert_eq!(ip.hop_limit(), 63);
    assert_eq!(
        (ip.source_addr(), ip.destination_addr()),
        (POD_IP6, REMOTE6)
    );
    // Only the hop limit changed.
    let mut expected = frame[14..].to_vec();
    expected[7] = 63;
    assert_eq!(&out[14..], &expected[..]);
    assert_eq!(payload, &frame[54..]);
    assert_eq!(h.pool.available(), HARNESS_BUFFERS as usize);
}

#[test]
fn forwards_from_the_uplink_to_a_pod() {
    let mut h = Harness::new();
    h.receive(UPLINK_IF, &udp6(from_router(), REMOTE6, POD_IP6, 9, 10));
    h.run();
    let out = only_frame(&mut h, POD_IF);
    let (eth, ip, _) = parse(&out);
    assert_eq!((eth.source(), eth.destination()), (POD_IF_MAC.0, POD_MAC.0));
    assert_eq!(ip.hop_limit(), 8);
}

#[test]
fn ethernet_padding_is_trimmed() {
    let mut h = Harness::new();
    let mut frame = udp6(from_pod(), POD_IP6, REMOTE6, 64, 0);
    frame.extend_from_slice(&[0xee; 6]);
    h.receive(POD_IF, &frame);
    h.run();
    assert_eq!(only_frame(&mut h, UPLINK_IF).len(), 14 + 40 + 8);
}

fn valid() -> Vec<u8> {
    udp6(from_pod(), POD_IP6, REMOTE6, 64, 20)
}

#[test]
fn malformed_headers_are_dropped_each_with_its_reason() {
    let input = "ip6-input";
    assert_dropped(POD_IF, &valid()[..14 + 39], input, "truncated");
    let mut bad_version = valid();
    bad_version[14] = 0x40;
    // Through a frame that says IPv6: the harness sorts by EtherType.
    assert_dropped(POD_IF, &bad_version, input, "bad-version");
    let mut over_frame = valid();
    over_frame[18..20].copy_from_slice(&29u16.to_be_bytes());
    assert_dropped(POD_IF, &over_frame, input, "length-over-frame");
}

#[test]
fn sources_and_destinations_that_are_not_routed() {
    let input = "ip6-input";
    let multicast_source = udp6(from_router(), "ff02::5".parse().unwrap(), POD_IP6, 64, 8);
    assert_dropped(UPLINK_IF, &multicast_source, input, "bad-source");
    let multicast = udp6(from_pod(), POD_IP6, "ff05::1:3".parse().unwrap(), 64, 8);
    assert_dropped(POD_IF, &multicast, input, "multicast-unsupported");
    let someone_elses_link_local = udp6(from_pod(), POD_LL6, "fe80::99".parse().unwrap(), 64, 8);
    assert_dropped(
        POD_IF,
        &someone_elses_link_local,
        input,
        "link-local-not-forwarded",
    );
    // The uplink's link-local router, addressed from the pod's link.
    let across = udp6(from_pod(), POD_LL6, ROUTER_A6, 64, 8);
    assert_dropped(POD_IF, &across, input, "link-local-not-forwarded");
    // A link-local source does not leave its link.
    let leaving = udp6(from_pod(), POD_LL6, REMOTE6, 64, 8);
    assert_dropped(POD_IF, &leaving, "ip6-rewrite", "link-local-source");
}

#[test]
fn a_pod_may_send_only_from_its_own_address() {
    let spoofed = udp6(from_pod(), "fd10::99".parse().unwrap(), REMOTE6, 64, 8);
    assert_dropped(POD_IF, &spoofed, "ip6-input", "spoofed-source");
    // Link-local and unspecified sources pass: neighbor discovery needs them.
    let mut h = Harness::new();
    let ping = h.receive(POD_IF, &echo6(from_pod(), POD_LL6, GATEWAY6, 8));
    let dad = h.receive(
        POD_IF,
        &neighbor_solicitation(Ipv6Addr::UNSPECIFIED, POD_IP6),
    );
    h.run();
    assert!(
        h.path(ping).contains(&"ip6-icmp-echo"),
        "{:?}",
        h.steps(ping)
    );
    assert_eq!(
        h.path(dad)[..2],
        ["ip6-input", "ip6-ndp"],
        "{:?}",
        h.steps(dad)
    );
}

/// A neighbor solicitation for `target`, from `src` to the target's
/// solicited-node address.
fn neighbor_solicitation(src: Ipv6Addr, target: Ipv6Addr) -> Vec<u8> {
    let dst = podwire_wire::ipv6::solicited_node_multicast(target);
    let mut frame = Vec::new();
    PacketBuilder::ethernet2(POD_MAC.0, podwire_wire::ipv6::multicast_mac(dst).0)
        .ipv6(src.octets(), dst.octets(), 255)
        .icmpv6_raw(135, 0, [0; 4])
        .write(&mut frame, &target.octets())
        .unwrap();
    frame
}

#[test]
fn neighbor_discovery_goes_to_ip6_ndp() {
    let mut h = Harness::new();
    let multicast = h.receive(POD_IF, &neighbor_solicitation(POD_LL6, GATEWAY6));
    h.run();
    assert_eq!(h.path(multicast)[..2], ["ip6-input", "ip6-ndp"]);
}

/// Sends `frame` from the pod and returns the ICMPv6 error the pod got
/// back: its source address, type, and what it quotes.
fn error_to_pod(frame: &[u8]) -> (Ipv6Addr, Icmpv6Type, Vec<u8>) {
    let mut h = Harness::new();
    h.receive(POD_IF, frame);
    h.run();
    let out = only_frame(&mut h, POD_IF);
    let (eth, ip, payload) = parse(&out);
    assert_eq!((eth.source(), eth.destination()), (POD_IF_MAC.0, POD_MAC.0));
    let sender = Ipv6HeaderSlice::from_slice(&frame[14..])
        .unwrap()
        .source_addr();
    assert_eq!(ip.destination_addr(), sender);
    let icmp = icmp(&ip, payload);
    (ip.source_addr(), icmp.icmp_type(), icmp.payload().to_vec())
}

#[test]
fn hop_limit_1_gets_time_exceeded_quoting_the_packet() {
    let frame = udp6(from_pod(), POD_IP6, REMOTE6, 1, 100);
    let (from, icmp_type, quote) = error_to_pod(&frame);
    assert_eq!(
        icmp_type,
        Icmpv6Type::TimeExceeded(icmpv6::TimeExceededCode::HopLimitExceeded)
    );
    assert_eq!(quote, &frame[14..]);
    // The pod's link has only fe80::1: a global address of the switch.
    assert_eq!(from, UPLINK_IP6);
}

#[test]
fn an_error_to_a_link_local_sender_comes_from_the_link_local_gateway() {
    let mut h = Harness::new();
    h.receive(POD_IF, &udp6(from_pod(), POD_LL6, GATEWAY6, 64, 4));
    h.run();
    let out = only_frame(&mut h, POD_IF);
    let (_, ip, payload) = parse(&out);
    assert_eq!(
        (ip.source_addr(), ip.destination_addr()),
        (GATEWAY6, POD_LL6)
    );
    assert_eq!(
        icmp(&ip, payload).icmp_type(),
        Icmpv6Type::DestinationUnreachable(icmpv6::DestUnreachableCode::Port)
    );
}

#[test]
fn a_large_packet_is_quoted_up_to_1280_bytes() {
    let mut tables = network();
    tables.interfaces[POD_IF.as_usize()].mtu = 9000;
    let mut h = Harness::with_tables(tables);
    let frame = udp6(from_pod(), POD_IP6, REMOTE6, 1, 3000);
    h.receive(POD_IF, &frame);
    h.run();
    let out = only_frame(&mut h, POD_IF);
    let (_, ip, payload) = parse(&out);
    assert_eq!(usize::from(ip.payload_length()) + 40, 1280);
    assert_eq!(icmp(&ip, payload).payload(), &frame[14..14 + 1232]);
}

#[test]
fn no_route_gets_destination_unreachable() {
    let frame = udp6(from_pod(), POD_IP6, "2001:db8::1".parse().unwrap(), 64, 10);
    let (_, icmp_type, quote) = error_to_pod(&frame);
    assert_eq!(
        icmp_type,
        Icmpv6Type::DestinationUnreachable(icmpv6::DestUnreachableCode::NoRoute)
    );
    assert_eq!(quote, &frame[14..]);
}

#[test]
fn too_big_gets_packet_too_big_with_the_mtu() {
    let frame = udp6(from_pod(), POD_IP6, REMOTE6, 64, 1401 - 48);
    let (_, icmp_type, _) = error_to_pod(&frame);
    assert_eq!(icmp_type, Icmpv6Type::PacketTooBig { mtu: 1400 });
    let mut h = Harness::new();
    h.receive(POD_IF, &udp6(from_pod(), POD_IP6, REMOTE6, 64, 1400 - 48));
    h.run();
    assert_eq!(h.sent(UPLINK_IF).len(), 1, "exactly the MTU passes");
}

#[test]
fn unknown_protocols_to_the_switch_get_a_parameter_problem() {
    let mut frame = udp6(from_pod(), POD_IP6, UPLINK_IP6, 64, 10);
    frame[20] = 47;
    let (from, icmp_type, _) = error_to_pod(&frame);
    assert_eq!(from, UPLINK_IP6);
    assert_eq!(
        icmp_type,
        Icmpv6Type::ParameterProblem(icmpv6::ParameterProblemHeader {
            code: icmpv6::ParameterProblemCode::UnrecognizedNextHeader,
            pointer: 6,
        })
    );
}

#[test]
fn no_error_about_an_icmpv6_error() {
    let mut frame = Vec::new();
    PacketBuilder::ethernet2(POD_MAC.0, POD_IF_MAC.0)
        .ipv6(POD_IP6.octets(), REMOTE6.octets(), 1)
        .icmpv6(Icmpv6Type::DestinationUnreachable(
            icmpv6::DestUnreachableCode::Port,
        ))
        .write(&mut frame, &[0x60; 48])
        .unwrap();
    assert_dropped(POD_IF, &frame, "ip6-icmp-error", "ttl-expired");
}

#[test]
fn the_switch_answers_pings_to_its_addresses_link_local_too() {
    for (rx_if, macs, src, dst) in [
        (POD_IF, from_pod(), POD_LL6, GATEWAY6),
        (POD_IF, from_pod(), POD_IP6, UPLINK_IP6),
        (UPLINK_IF, from_router(), ROUTER_A6, UPLINK_IP6),
        (UPLINK_IF, from_router(), REMOTE6, UPLINK_IP6),
    ] {
        let mut h = Harness::new();
        let request = echo6(macs, src, dst, 56);
        h.receive(rx_if, &request);
        h.run();
        let out = only_frame(&mut h, rx_if);
        let (eth, ip, payload) = parse(&out);
        assert_eq!(
            (eth.source(), eth.destination()),
            (macs.1.0, macs.0.0),
            "{src} → {dst}"
        );
        assert_eq!((ip.source_addr(), ip.destination_addr()), (dst, src));
        assert_eq!(
            ip.hop_limit(),
            64,
            "the switch's own packets are not counted down"
        );
        let icmp = icmp(&ip, payload);
        let Icmpv6Type::EchoReply(echo) = icmp.icmp_type() else {
            panic!("an echo reply, not {:?}", icmp.icmp_type());
        };
        assert_eq!((echo.id, echo.seq), (0x4321, 9));
        assert_eq!(icmp.payload(), &request[62..]);
    }
}

#[test]
fn a_ping_with_a_bad_checksum_is_not_answered() {
    let mut request = echo6(from_pod(), POD_LL6, GATEWAY6, 8);
    request[60] ^= 0x80;
    assert_dropped(POD_IF, &request, "ip6-icmp-echo", "bad-checksum");
}

#[test]
fn a_fragment_to_the_switch_is_dropped() {
    let mut frame = udp6(from_pod(), POD_IP6, UPLINK_IP6, 64, 10);
    frame[20] = 44;
    assert_dropped(POD_IF, &frame, "ip6-local", "reassembly-unsupported");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever arrives, each packet is forwarded, answered or dropped
    /// with a counted reason, and no buffer leaks.
    #[test]
    fn any_bytes_are_forwarded_or_dropped_counted(
        packets in proptest::collection::vec(arbitrary_ip6(), 1..8),
    ) {
        let mut h = Harness::new();
        for (from_uplink, bytes) in &packets {
            let (rx_if, macs) = if *from_uplink { (UPLINK_IF, from_router()) } else { (POD_IF, from_pod()) };
            let mut frame = raw(macs, bytes);
            frame[12..14].copy_from_slice(&[0x86, 0xdd]);
            h.receive_and_account(rx_if, &frame).map_err(TestCaseError::fail)?;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A vector is routed as its packets are one by one: the same frames
    /// leave by the same interfaces and the same drops are counted (the
    /// rewrite node remembers the last next hop, and must not mix packets
    /// up). Neighbor discovery, which teaches the switch between packets,
    /// is left out.
    #[test]
    fn a_vector_is_routed_as_its_packets_one_by_one(
        packets in proptest::collection::vec(mutated_ip6(routed_ip6()), 1..40),
    ) {
        let mut together = Harness::new();
        let mut alone = Harness::new();
        for (from_uplink, bytes) in &packets {
            let (rx_if, macs) = if *from_uplink { (UPLINK_IF, from_router()) } else { (POD_IF, from_pod()) };
            let mut frame = raw(macs, bytes);
            frame[12..14].copy_from_slice(&[0x86, 0xdd]);
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

/// IPv6 packets worth feeding: valid ones with a few bytes changed (they
/// reach deep into the graph), and plain noise.
fn arbitrary_ip6() -> impl Strategy<Value = (bool, Vec<u8>)> {
    let mut packets = routed_ip6();
    packets.push(neighbor_solicitation(POD_LL6, GATEWAY6)[14..].to_vec());
    mutated_ip6(packets)
}

/// Valid IPv6 packets (without Ethernet) to next hops of every kind and to
/// the switch.
fn routed_ip6() -> Vec<Vec<u8>> {
    vec![
        udp6(from_pod(), POD_IP6, REMOTE6, 64, 30)[14..].to_vec(),
        udp6(from_pod(), POD_IP6, UPLINK_IP6, 64, 30)[14..].to_vec(),
        udp6(from_pod(), POD_IP6, "fd00:50::7".parse().unwrap(), 64, 30)[14..].to_vec(),
        udp6(from_pod(), POD_IP6, "fd99::1".parse().unwrap(), 64, 30)[14..].to_vec(),
        udp6(from_router(), REMOTE6, POD_IP6, 64, 30)[14..].to_vec(),
        udp6(from_pod(), POD_LL6, GATEWAY6, 2, 30)[14..].to_vec(),
        echo6(from_pod(), POD_LL6, GATEWAY6, 30)[14..].to_vec(),
        echo6(from_router(), REMOTE6, POD_IP6, 3000)[14..].to_vec(),
    ]
}

/// One of `packets` with a few bytes changed, or plain noise; and whether
/// it comes from the uplink.
fn mutated_ip6(packets: Vec<Vec<u8>>) -> impl Strategy<Value = (bool, Vec<u8>)> {
    let valid = (
        prop::sample::select(packets),
        proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    )
        .prop_map(|(mut bytes, changes)| {
            for (at, value) in changes {
                let i = at.index(bytes.len());
                bytes[i] = value;
            }
            bytes
        });
    let noise = proptest::collection::vec(any::<u8>(), 0..120);
    (any::<bool>(), prop_oneof![3 => valid, 1 => noise])
}
