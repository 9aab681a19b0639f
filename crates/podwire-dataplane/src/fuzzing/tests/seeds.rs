//! The seed corpus of the `input_nodes` fuzz target, and the frames it
//! is made of.

use core::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use etherparse::icmpv6::NeighborAdvertisementHeader;
use etherparse::{ArpHardwareId, ArpOperation, ArpPacket, Icmpv6Type, PacketBuilder};
use podwire_wire::ethernet::EthernetAddress;
use podwire_wire::ipv4;

use crate::fuzzing::network::*;
use crate::fuzzing::{Fill, Record, Step, Then};
use crate::interface::IfIndex;
use crate::nodes::glean::Solicit;
use crate::nodes::ndp::Nd6;

/// A host behind the first bridge port.
pub(super) const HOST_1_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0xc, 1]);
/// A host behind the second bridge port.
pub(super) const HOST_2_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0xc, 2]);
/// Somewhere only the default routes lead.
const INTERNET4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
const INTERNET6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7);
/// Behind the router with a static MAC.
const BEHIND_ROUTER4: Ipv4Addr = Ipv4Addr::new(10, 20, 3, 4);
const BEHIND_ROUTER6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x20, 0, 0, 0, 0, 0, 5);

/// Where the seed corpus of the `input_nodes` fuzz target lives.
pub(super) fn seed_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/input_nodes")
}

/// An input of one record per frame: each received on its interface, then
/// the graph runs and the devices are handed what it queued. Every
/// checksum is filled: no change to a valid frame, and the fuzzer's changes
/// to these records' frames keep right checksums.
fn input(frames: &[(IfIndex, Step, Vec<u8>)]) -> Vec<u8> {
    let mut data = Vec::new();
    for (rx_if, step, frame) in frames {
        Record {
            rx_if: *rx_if,
            traced: true,
            step: *step,
            then: Then::RunAndSend,
            fill: Fill {
                ip4_header: true,
                icmp: true,
            },
            frame,
        }
        .encode(&mut data);
    }
    data
}

pub(super) fn udp4(
    macs: (EthernetAddress, EthernetAddress),
    src: Ipv4Addr,
    dst: Ipv4Addr,
) -> Vec<u8> {
    sized_udp4(macs, (src, dst), 64, b"fuzz seed".len())
}

/// A UDP datagram of `payload_len` bytes, with time to live `ttl` and
/// don't-fragment set.
fn sized_udp4(
    macs: (EthernetAddress, EthernetAddress),
    (src, dst): (Ipv4Addr, Ipv4Addr),
    ttl: u8,
    payload_len: usize,
) -> Vec<u8> {
    let mut frame = Vec::new();
    PacketBuilder::ethernet2(macs.0.0, macs.1.0)
        .ipv4(src.octets(), dst.octets(), ttl)
        .udp(40000, 53)
        .write(&mut frame, &vec![0x5a; payload_len])
        .expect("a UDP frame builds");
    frame[14 + 6] |= DONT_FRAGMENT;
    ipv4::Packet::new_unchecked(&mut frame[14..]).fill_checksum();
    frame
}

fn udp6(
    macs: (EthernetAddress, EthernetAddress),
    (src, dst): (Ipv6Addr, Ipv6Addr),
    payload_len: usize,
) -> Vec<u8> {
    let mut frame = Vec::new();
    PacketBuilder::ethernet2(macs.0.0, macs.1.0)
        .ipv6(src.octets(), dst.octets(), 64)
        .udp(40000, 53)
        .write(&mut frame, &vec![0x5a; payload_len])
        .expect("a UDP frame builds");
    frame
}

/// The don't-fragment bit, in the byte of the IPv4 header's flags.
const DONT_FRAGMENT: u8 = 0x40;

pub(super) fn echo4(
    macs: (EthernetAddress, EthernetAddress),
    src: Ipv4Addr,
    dst: Ipv4Addr,
) -> Vec<u8> {
    let mut frame = Vec::new();
    PacketBuilder::ethernet2(macs.0.0, macs.1.0)
        .ipv4(src.octets(), dst.octets(), 64)
        .icmpv4_echo_request(0x1234, 1)
        .write(&mut frame, b"ping payload")
        .expect("an echo request builds");
    frame
}

pub(super) fn echo6(
    macs: (EthernetAddress, EthernetAddress),
    src: Ipv6Addr,
    dst: Ipv6Addr,
) -> Vec<u8> {
    let mut frame = Vec::new();
    PacketBuilder::ethernet2(macs.0.0, macs.1.0)
        .ipv6(src.octets(), dst.octets(), 64)
        .icmpv6_echo_request(0x4321, 1)
        .write(&mut frame, b"ping payload")
        .expect("an echo request builds");
    frame
}

/// An ARP frame from `sender`, padded to the Ethernet minimum as a NIC does.
fn arp(
    dst: EthernetAddress,
    op: ArpOperation,
    sender: (EthernetAddress, Ipv4Addr),
    target: (EthernetAddress, Ipv4Addr),
) -> Vec<u8> {
    let packet = ArpPacket::new(
        ArpHardwareId::ETHERNET,
        etherparse::EtherType::IPV4,
        op,
        &sender.0.0,
        &sender.1.octets(),
        &target.0.0,
        &target.1.octets(),
    )
    .expect("an Ethernet/IPv4 ARP packet");
    let mut frame = Vec::new();
    PacketBuilder::ethernet2(sender.0.0, dst.0)
        .arp(packet)
        .write(&mut frame)
        .expect("an ARP frame builds");
    frame.resize(60, 0);
    frame
}

/// `frame`, an IPv4 one, with don't-fragment cleared.
fn may_fragment(mut frame: Vec<u8>) -> Vec<u8> {
    frame[14 + 6] &= !DONT_FRAGMENT;
    ipv4::Packet::new_unchecked(&mut frame[14..]).fill_checksum();
    frame
}

/// A neighbor solicitation for `target` from `source` at `mac`, as a host
/// sends it: to the target's solicited-node group, with its MAC in an option.
fn solicit(mac: EthernetAddress, source: Ipv6Addr, target: Ipv6Addr) -> Vec<u8> {
    let mut frame = vec![0; 128];
    let len = Nd6::write_request(&mut frame, mac, source, target).expect("128 bytes hold it");
    frame.truncate(len);
    frame
}

/// The solicited advertisement of `target`, at `mac`, to the switch's
/// `solicitor` address on the uplink.
fn advert(mac: EthernetAddress, target: Ipv6Addr, solicitor: Ipv6Addr) -> Vec<u8> {
    let flags = NeighborAdvertisementHeader {
        router: true,
        solicited: true,
        r#override: true,
    };
    let mut body = target.octets().to_vec();
    // The target link-layer address option: type 2, one unit of 8 bytes.
    body.extend_from_slice(&[2, 1]);
    body.extend_from_slice(&mac.0);
    let mut frame = Vec::new();
    PacketBuilder::ethernet2(mac.0, switch_mac(UPLINK).0)
        .ipv6(target.octets(), solicitor.octets(), 255)
        .icmpv6(Icmpv6Type::NeighborAdvertisement(flags))
        .write(&mut frame, &body)
        .expect("an advertisement builds");
    frame
}

/// The seed corpus: a few valid exchanges that reach deep into the graph,
/// for the fuzzer to start from. Each is named for what it shows.
pub(super) fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let pod_a = (POD_A_MAC, switch_mac(POD_A));
    let pod_b = (POD_B_MAC, switch_mac(POD_B));
    let unknown = EthernetAddress([0; 6]);
    vec![
        (
            "arp-request",
            input(&[(
                UPLINK,
                Step::None,
                arp(
                    EthernetAddress::BROADCAST,
                    ArpOperation::REQUEST,
                    (GATEWAY_MAC, GATEWAY_IP4),
                    (unknown, UPLINK_IP4),
                ),
            )]),
        ),
        (
            "ping4",
            input(&[
                (POD_A, Step::None, echo4(pod_a, POD_A_IP4, POD_GATEWAY4)),
                (POD_A, Step::None, echo4(pod_a, POD_A_IP4, BEHIND_ROUTER4)),
            ]),
        ),
        (
            "ping6",
            input(&[
                (POD_A, Step::None, echo6(pod_a, POD_A_LL6, POD_GATEWAY6)),
                (POD_A, Step::None, echo6(pod_a, POD_A_IP6, BEHIND_ROUTER6)),
            ]),
        ),
        (
            // The gateway asks for the uplink's address and so is learned:
            // a packet to the default route then goes straight to it.
            "neighbor-solicit",
            input(&[
                (
                    UPLINK,
                    Step::None,
                    solicit(GATEWAY_MAC, GATEWAY_IP6, UPLINK_IP6),
                ),
                (POD_A, Step::None, echo6(pod_a, POD_A_IP6, INTERNET6)),
            ]),
        ),
        (
            // The first packet to the default gateway asks for its MAC and
            // waits; the answer is learned and sends it, and the
            // retransmission goes straight through.
            "glean4",
            input(&[
                (POD_B, Step::None, udp4(pod_b, POD_B_IP4, INTERNET4)),
                (
                    UPLINK,
                    Step::Short,
                    arp(
                        switch_mac(UPLINK),
                        ArpOperation::REPLY,
                        (GATEWAY_MAC, GATEWAY_IP4),
                        (switch_mac(UPLINK), UPLINK_IP4),
                    ),
                ),
                (POD_B, Step::Short, udp4(pod_b, POD_B_IP4, INTERNET4)),
            ]),
        ),
        (
            // The same over IPv6: a solicitation, the gateway's
            // advertisement (which sends the packet that waited), the
            // retransmission.
            "glean6",
            input(&[
                (POD_B, Step::None, udp6(pod_b, (POD_B_IP6, INTERNET6), 8)),
                (
                    UPLINK,
                    Step::Short,
                    advert(GATEWAY_MAC, GATEWAY_IP6, UPLINK_LL6),
                ),
                (POD_B, Step::Short, udp6(pod_b, (POD_B_IP6, INTERNET6), 8)),
            ]),
        ),
        (
            // Each kind of route, and packets that do not fit or expire:
            // all but the blackholed ones and the one that may be
            // fragmented are answered with an ICMP error.
            "routes",
            input(&[
                (POD_A, Step::None, udp4(pod_a, POD_A_IP4, BLACKHOLE4.0)),
                (POD_A, Step::None, udp4(pod_a, POD_A_IP4, UNREACHABLE4.0)),
                (
                    POD_A,
                    Step::None,
                    sized_udp4(pod_a, (POD_A_IP4, BEHIND_ROUTER4), 1, 8),
                ),
                (
                    POD_A,
                    Step::None,
                    sized_udp4(pod_a, (POD_A_IP4, BEHIND_ROUTER4), 64, 1450),
                ),
                (
                    POD_A,
                    Step::None,
                    may_fragment(sized_udp4(pod_a, (POD_A_IP4, BEHIND_ROUTER4), 64, 1450)),
                ),
                (POD_A, Step::None, udp4(pod_a, POD_A_IP4, POD_GATEWAY4)),
                (POD_A, Step::None, udp6(pod_a, (POD_A_IP6, BLACKHOLE6.0), 8)),
                (
                    POD_A,
                    Step::None,
                    udp6(pod_a, (POD_A_IP6, UNREACHABLE6.0), 8),
                ),
                (
                    POD_A,
                    Step::None,
                    udp6(pod_a, (POD_A_IP6, BEHIND_ROUTER6), 1450),
                ),
            ]),
        ),
        (
            // Flooded to the other two ports while host 2 is unknown, then
            // switched to host 1 only.
            "bridged",
            input(&[
                (
                    BRIDGE_PORT_1,
                    Step::None,
                    udp4((HOST_1_MAC, HOST_2_MAC), POD_A_IP4, POD_B_IP4),
                ),
                (
                    BRIDGE_PORT_2,
                    Step::None,
                    udp4((HOST_2_MAC, HOST_1_MAC), POD_B_IP4, POD_A_IP4),
                ),
            ]),
        ),
        (
            "xconnect",
            input(&[(
                XCONNECT_A,
                Step::None,
                udp4((HOST_1_MAC, HOST_2_MAC), POD_A_IP4, POD_B_IP4),
            )]),
        ),
        ("exhausted", exhausted()),
    ]
}

/// Broadcasts on the first bridge port in [`exhausted`].
pub(super) const EXHAUSTED_BROADCASTS: usize = 64;
/// Packets to an unreachable destination in [`exhausted`].
pub(super) const EXHAUSTED_UNREACHABLE: usize = 40;

/// The pool runs out: frames wait, unprocessed, until few buffers are
/// free, then go through the graph in one vector. The floods get copies
/// while buffers last, then lose them; the unreachable packets get no
/// ICMP error.
fn exhausted() -> Vec<u8> {
    let broadcast = udp4(
        (HOST_1_MAC, EthernetAddress::BROADCAST),
        POD_A_IP4,
        POD_B_IP4,
    );
    let unreachable = udp4((POD_A_MAC, switch_mac(POD_A)), POD_A_IP4, UNREACHABLE4.0);
    let frames = std::iter::repeat_n((BRIDGE_PORT_1, &broadcast), EXHAUSTED_BROADCASTS).chain(
        std::iter::repeat_n((POD_A, &unreachable), EXHAUSTED_UNREACHABLE),
    );
    let mut data = Vec::new();
    for (rx_if, frame) in frames {
        Record {
            rx_if,
            traced: false,
            step: Step::None,
            // The graph runs once the input ends.
            then: Then::Wait,
            fill: Fill::default(),
            frame,
        }
        .encode(&mut data);
    }
    data
}
