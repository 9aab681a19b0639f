use super::*;
use crate::ethernet::EthernetAddress;
use crate::ipv6::solicited_node_multicast;
use etherparse::icmpv6::{
    Icmpv6PayloadSlice, NdpOptionSlice, NeighborAdvertisementHeader, NeighborSolicitationPayload,
    RouterAdvertisementHeader,
};
use etherparse::{IcmpEchoHeader, Icmpv6Slice, Icmpv6Type, PacketBuilder};
use proptest::prelude::*;

const MAC: EthernetAddress = EthernetAddress([0x02, 0xfe, 0, 0, 0, 0x01]);

fn addr(text: &str) -> Ipv6Addr {
    text.parse().unwrap()
}

fn pod() -> Ipv6Addr {
    addr("fd00:10:244::5")
}

fn gateway() -> Ipv6Addr {
    addr("fe80::1")
}

/// An ICMPv6 message built by etherparse, without its IPv6 header.
fn etherparse_message(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    icmp_type: Icmpv6Type,
    payload: &[u8],
) -> Vec<u8> {
    let mut bytes = Vec::new();
    PacketBuilder::ipv6(src.octets(), dst.octets(), 255)
        .icmpv6(icmp_type)
        .write(&mut bytes, payload)
        .unwrap();
    bytes.split_off(40)
}

fn emit(repr: &Icmpv6Repr<'_>, src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
    let mut bytes = vec![0xa5; repr.buffer_len()];
    repr.emit(src, dst, &mut Packet::new_unchecked(&mut bytes[..]))
        .unwrap();
    bytes
}

fn parse(src: Ipv6Addr, dst: Ipv6Addr, bytes: &[u8]) -> Result<Icmpv6Repr<'_>> {
    Icmpv6Repr::parse(src, dst, &Packet::new_checked(bytes)?)
}

/// Rewrites the checksum of `bytes` (after a test broke something else on purpose) and parses.
fn refill_and_parse(src: Ipv6Addr, dst: Ipv6Addr, bytes: &mut [u8]) -> Result<()> {
    Packet::new_unchecked(&mut *bytes).fill_checksum(src, dst);
    parse(src, dst, bytes).map(|_| ())
}

#[test]
fn reads_an_echo_request_built_by_etherparse() {
    let echo = IcmpEchoHeader { id: 77, seq: 3 };
    let bytes = etherparse_message(pod(), gateway(), Icmpv6Type::EchoRequest(echo), b"ping!");
    let packet = Packet::new_checked(&bytes[..]).unwrap();
    assert_eq!(packet.msg_type(), Message::ECHO_REQUEST);
    assert_eq!((packet.echo_ident(), packet.echo_seq_no()), (77, 3));
    assert!(packet.verify_checksum(pod(), gateway()));
    assert!(!packet.verify_checksum(pod(), addr("fe80::2")));
    assert_eq!(
        Icmpv6Repr::parse(pod(), gateway(), &packet),
        Ok(Icmpv6Repr::EchoRequest {
            ident: 77,
            seq_no: 3,
            data: b"ping!"
        })
    );
    assert_eq!(
        Icmpv6Repr::parse(gateway(), gateway(), &packet),
        Err(Error::Checksum)
    );
}

#[test]
fn emitted_echo_reply_is_read_back_by_etherparse() {
    let reply = Icmpv6Repr::EchoReply {
        ident: 1,
        seq_no: 2,
        data: b"pong",
    };
    let bytes = emit(&reply, gateway(), pod());
    let theirs = Icmpv6Slice::from_slice(&bytes).unwrap();
    assert_eq!(
        theirs.icmp_type(),
        Icmpv6Type::EchoReply(IcmpEchoHeader { id: 1, seq: 2 })
    );
    assert!(theirs.is_checksum_valid(gateway().octets(), pod().octets()));
    assert_eq!(parse(gateway(), pod(), &bytes), Ok(reply));
}

#[test]
fn reads_a_neighbor_solicitation_built_by_etherparse() {
    let target = addr("fd00:10:244::1");
    let mut payload = NeighborSolicitationPayload {
        target_address: target,
    }
    .to_bytes()
    .to_vec();
    payload.extend_from_slice(&[99, 1, 0, 0, 0, 0, 0, 0]); // an unknown option is skipped
    payload.extend_from_slice(&[1, 1, 0x02, 0xfe, 0, 0, 0, 0x01]); // source link-layer address
    let dst = solicited_node_multicast(target);
    let bytes = etherparse_message(pod(), dst, Icmpv6Type::NeighborSolicitation, &payload);
    let expected = NdiscRepr::NeighborSolicit {
        target_addr: target,
        lladdr: Some(MAC),
    };
    assert_eq!(parse(pod(), dst, &bytes), Ok(Icmpv6Repr::Ndisc(expected)));

    let packet = Packet::new_checked(&bytes[..]).unwrap();
    let options: Vec<_> = packet.ndisc_options().collect();
    assert_eq!(
        options,
        [
            Ok(NdiscOption::Other {
                kind: 99,
                data: &[0; 6]
            }),
            Ok(NdiscOption::SourceLinkLayerAddr(MAC))
        ]
    );
}

#[test]
fn emitted_neighbor_advert_is_read_back_by_etherparse() {
    let target = addr("fd00:10:244::1");
    let advert = NdiscRepr::NeighborAdvert {
        flags: NeighborFlags {
            router: true,
            solicited: true,
            override_flag: false,
        },
        target_addr: target,
        lladdr: Some(MAC),
    };
    let bytes = emit(&Icmpv6Repr::Ndisc(advert), target, pod());
    assert_eq!(bytes.len(), 32);
    let theirs = Icmpv6Slice::from_slice(&bytes).unwrap();
    assert!(theirs.is_checksum_valid(target.octets(), pod().octets()));
    assert_eq!(
        theirs.icmp_type(),
        Icmpv6Type::NeighborAdvertisement(NeighborAdvertisementHeader {
            router: true,
            solicited: true,
            r#override: false
        })
    );
    let Icmpv6PayloadSlice::NeighborAdvertisement(payload) = theirs.payload_slice().unwrap() else {
        panic!("not a neighbor advertisement")
    };
    assert_eq!(payload.target_address(), target);
    let options: Vec<_> = payload
        .options_iterator()
        .collect::<std::result::Result<_, _>>()
        .unwrap();
    let [NdpOptionSlice::TargetLinkLayerAddress(option)] = &options[..] else {
        panic!("expected one target link-layer address option, got {options:?}")
    };
    assert_eq!(option.link_layer_address(), &MAC.0);
    assert_eq!(parse(target, pod(), &bytes), Ok(Icmpv6Repr::Ndisc(advert)));
}

#[test]
fn emitted_router_advert_is_read_back_by_etherparse() {
    let prefix_info = PrefixInfo {
        prefix: addr("2001:db8:1::"),
        prefix_len: 64,
        on_link: true,
        autonomous: false,
        valid_lifetime: u32::MAX,
        preferred_lifetime: 3600,
    };
    let advert = NdiscRepr::RouterAdvert {
        hop_limit: 64,
        flags: RouterFlags {
            managed: false,
            other: true,
        },
        router_lifetime: 1800,
        reachable_time: 30_000,
        retrans_time: 1000,
        lladdr: Some(MAC),
        mtu: Some(1450),
        prefix_info: Some(prefix_info),
    };
    let all_nodes = crate::ipv6::LINK_LOCAL_ALL_NODES;
    let bytes = emit(&Icmpv6Repr::Ndisc(advert), gateway(), all_nodes);
    assert_eq!(bytes.len(), 16 + 8 + 8 + 32);
    let theirs = Icmpv6Slice::from_slice(&bytes).unwrap();
    assert!(theirs.is_checksum_valid(gateway().octets(), all_nodes.octets()));
    assert_eq!(
        theirs.icmp_type(),
        Icmpv6Type::RouterAdvertisement(RouterAdvertisementHeader {
            cur_hop_limit: 64,
            managed_address_config: false,
            other_config: true,
            router_lifetime: 1800,
        })
    );
    let Icmpv6PayloadSlice::RouterAdvertisement(payload) = theirs.payload_slice().unwrap() else {
        panic!("not a router advertisement")
    };
    assert_eq!(
        (payload.reachable_time(), payload.retrans_timer()),
        (30_000, 1000)
    );
    let mut seen = 0;
    for option in payload.options_iterator() {
        match option.unwrap() {
            NdpOptionSlice::Mtu(mtu) => assert_eq!(mtu.mtu(), 1450),
            NdpOptionSlice::PrefixInformation(info) => {
                assert_eq!(info.prefix(), prefix_info.prefix.octets());
                assert_eq!(info.prefix_length(), 64);
                assert!(info.on_link() && !info.autonomous_address_configuration());
                assert_eq!(
                    (info.valid_lifetime(), info.preferred_lifetime()),
                    (u32::MAX, 3600)
                );
            }
            NdpOptionSlice::SourceLinkLayerAddress(option) => {
                assert_eq!(option.link_layer_address(), &MAC.0)
            }
            other => panic!("unexpected option {other:?}"),
        }
        seen += 1;
    }
    assert_eq!(seen, 3);
    assert_eq!(
        parse(gateway(), all_nodes, &bytes),
        Ok(Icmpv6Repr::Ndisc(advert))
    );
}

#[test]
fn router_solicitation_round_trips() {
    for lladdr in [None, Some(MAC)] {
        let solicit = Icmpv6Repr::Ndisc(NdiscRepr::RouterSolicit { lladdr });
        let bytes = emit(&solicit, pod(), crate::ipv6::LINK_LOCAL_ALL_ROUTERS);
        let theirs = Icmpv6Slice::from_slice(&bytes).unwrap();
        assert_eq!(theirs.icmp_type(), Icmpv6Type::RouterSolicitation);
        assert_eq!(
            parse(pod(), crate::ipv6::LINK_LOCAL_ALL_ROUTERS, &bytes),
            Ok(solicit)
        );
    }
}

#[test]
fn errors_quote_the_invoking_packet() {
    let mut original = Vec::new();
    PacketBuilder::ipv6(pod().octets(), addr("2001:db8::9").octets(), 1)
        .udp(33434, 33435)
        .write(&mut original, &[0; 100])
        .unwrap();
    let quoted = &original[..48];
    let bytes = etherparse_message(
        gateway(),
        pod(),
        Icmpv6Type::PacketTooBig { mtu: 1280 },
        quoted,
    );
    let Ok(Icmpv6Repr::PacketTooBig { mtu, header, data }) = parse(gateway(), pod(), &bytes) else {
        panic!("not a packet too big")
    };
    assert_eq!(mtu, 1280);
    assert_eq!(
        (header.src_addr, header.next_header, header.payload_len),
        (pod(), IpProtocol::UDP, 108)
    );
    assert_eq!(data, &original[40..48]);

    let expired = Icmpv6Repr::TimeExceeded {
        code: time_exceeded::HOP_LIMIT_EXCEEDED,
        header,
        data,
    };
    let bytes = emit(&expired, gateway(), pod());
    let theirs = Icmpv6Slice::from_slice(&bytes).unwrap();
    assert_eq!(
        theirs.icmp_type(),
        Icmpv6Type::TimeExceeded(etherparse::icmpv6::TimeExceededCode::HopLimitExceeded)
    );
    assert!(theirs.is_checksum_valid(gateway().octets(), pod().octets()));
    assert_eq!(parse(gateway(), pod(), &bytes), Ok(expired));

    let unreachable = Icmpv6Repr::DstUnreachable {
        code: dst_unreachable::PORT_UNREACHABLE,
        header,
        data,
    };
    let bytes = emit(&unreachable, gateway(), pod());
    let theirs = Icmpv6Slice::from_slice(&bytes).unwrap();
    assert_eq!(
        theirs.icmp_type(),
        Icmpv6Type::DestinationUnreachable(etherparse::icmpv6::DestUnreachableCode::Port)
    );
    assert_eq!(parse(gateway(), pod(), &bytes), Ok(unreachable));
}

#[test]
fn invalid_neighbor_discovery_is_rejected() {
    let target = addr("fd00::1");
    let solicit = Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit {
        target_addr: target,
        lladdr: Some(MAC),
    });
    let good = emit(&solicit, pod(), target);
    let broken = |at: usize, value: u8| {
        let mut bytes = good.clone();
        bytes[at] = value;
        refill_and_parse(pod(), target, &mut bytes)
    };
    assert_eq!(broken(1, 1), Err(Error::Malformed), "non-zero code");
    assert_eq!(broken(25, 0), Err(Error::Malformed), "zero-length option");
    assert_eq!(broken(25, 2), Err(Error::Truncated), "option past the end");
    assert_eq!(broken(8, 0xff), Err(Error::Malformed), "multicast target");
    assert_eq!(broken(0, Message::REDIRECT.0), Err(Error::Unsupported));
    assert_eq!(broken(0, Message::MLD_QUERY.0), Err(Error::Unsupported));

    let mut long_lladdr = good.clone();
    long_lladdr.extend_from_slice(&[0; 8]);
    long_lladdr[25] = 2; // a 16-byte link-layer address: not Ethernet
    assert_eq!(
        refill_and_parse(pod(), target, &mut long_lladdr),
        Err(Error::Unsupported)
    );
    let mut short = good[..20].to_vec();
    assert_eq!(
        refill_and_parse(pod(), target, &mut short),
        Err(Error::Truncated)
    );

    // A router advertisement whose MTU option has the wrong size.
    let advert = NdiscRepr::RouterAdvert {
        hop_limit: 0,
        flags: RouterFlags::default(),
        router_lifetime: 0,
        reachable_time: 0,
        retrans_time: 0,
        lladdr: None,
        mtu: Some(1500),
        prefix_info: None,
    };
    let mut bytes = emit(&Icmpv6Repr::Ndisc(advert), gateway(), pod());
    bytes[17] = 2;
    bytes.extend_from_slice(&[0; 8]);
    assert_eq!(
        refill_and_parse(gateway(), pod(), &mut bytes),
        Err(Error::Malformed)
    );
}

#[test]
fn other_errors_name_what_is_wrong() {
    assert_eq!(Packet::new_checked(&[0u8; 7][..]), Err(Error::Truncated));
    let echo = emit(
        &Icmpv6Repr::EchoRequest {
            ident: 0,
            seq_no: 0,
            data: &[],
        },
        pod(),
        pod(),
    );
    let mut bad_code = echo.clone();
    bad_code[1] = 3;
    assert_eq!(
        refill_and_parse(pod(), pod(), &mut bad_code),
        Err(Error::Malformed)
    );
    let mut cut_quote = echo.clone();
    cut_quote[0] = Message::TIME_EXCEEDED.0;
    cut_quote.extend_from_slice(&[0x60; 39]);
    assert_eq!(
        refill_and_parse(pod(), pod(), &mut cut_quote),
        Err(Error::Truncated)
    );
    cut_quote.push(0);
    cut_quote[8] = 0x40; // quoted version 4
    assert_eq!(
        refill_and_parse(pod(), pod(), &mut cut_quote),
        Err(Error::Malformed)
    );
    let mut short = [0u8; 11];
    let reply = Icmpv6Repr::EchoReply {
        ident: 0,
        seq_no: 0,
        data: b"four",
    };
    assert_eq!(
        reply.emit(pod(), pod(), &mut Packet::new_unchecked(&mut short[..])),
        Err(Error::Truncated)
    );
    assert!(Message::PKT_TOO_BIG.is_error() && !Message::NEIGHBOR_SOLICIT.is_error());
}

#[test]
fn non_ndisc_messages_have_no_options() {
    let echo = emit(
        &Icmpv6Repr::EchoRequest {
            ident: 0,
            seq_no: 0,
            data: &[1; 16],
        },
        pod(),
        pod(),
    );
    assert_eq!(
        Packet::new_checked(&echo[..])
            .unwrap()
            .ndisc_options()
            .count(),
        0
    );
}

fn arbitrary_lladdr() -> impl Strategy<Value = Option<EthernetAddress>> {
    proptest::option::of(any::<[u8; 6]>().prop_map(EthernetAddress))
}

fn arbitrary_unicast() -> impl Strategy<Value = Ipv6Addr> {
    any::<[u8; 16]>().prop_map(|mut octets| {
        octets[0] &= 0xfe; // not ff00::/8
        Ipv6Addr::from(octets)
    })
}

fn arbitrary_ndisc() -> impl Strategy<Value = NdiscRepr> {
    let prefix_info = (
        any::<[u8; 16]>(),
        0u8..=128,
        any::<(bool, bool, u32, u32)>(),
    )
        .prop_map(
            |(prefix, prefix_len, (on_link, autonomous, valid_lifetime, preferred_lifetime))| {
                PrefixInfo {
                    prefix: prefix.into(),
                    prefix_len,
                    on_link,
                    autonomous,
                    valid_lifetime,
                    preferred_lifetime,
                }
            },
        );
    prop_oneof![
        arbitrary_lladdr().prop_map(|lladdr| NdiscRepr::RouterSolicit { lladdr }),
        (
            any::<(u8, bool, bool, u16, u32, u32)>(),
            arbitrary_lladdr(),
            proptest::option::of(any::<u32>()),
            proptest::option::of(prefix_info),
        )
            .prop_map(
                |(
                    (hop_limit, managed, other, router_lifetime, reachable_time, retrans_time),
                    lladdr,
                    mtu,
                    prefix_info,
                )| {
                    NdiscRepr::RouterAdvert {
                        hop_limit,
                        flags: RouterFlags { managed, other },
                        router_lifetime,
                        reachable_time,
                        retrans_time,
                        lladdr,
                        mtu,
                        prefix_info,
                    }
                }
            ),
        (arbitrary_unicast(), arbitrary_lladdr()).prop_map(|(target_addr, lladdr)| {
            NdiscRepr::NeighborSolicit {
                target_addr,
                lladdr,
            }
        }),
        (
            arbitrary_unicast(),
            arbitrary_lladdr(),
            any::<(bool, bool, bool)>()
        )
            .prop_map(
                |(target_addr, lladdr, (router, solicited, override_flag))| {
                    NdiscRepr::NeighborAdvert {
                        flags: NeighborFlags {
                            router,
                            solicited,
                            override_flag,
                        },
                        target_addr,
                        lladdr,
                    }
                }
            ),
    ]
}

proptest! {
    #[test]
    fn accessors_and_parse_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
        if let Ok(packet) = Packet::new_checked(&bytes[..]) {
            let _ = (packet.msg_type(), packet.msg_code(), packet.checksum(), packet.data());
            let _ = (packet.echo_ident(), packet.echo_seq_no(), packet.pkt_too_big_mtu());
            let _ = packet.ndisc_options().count();
            let _ = NdiscRepr::parse(&packet);
            let mut fixed = bytes.clone();
            Packet::new_unchecked(&mut fixed[..]).fill_checksum(pod(), gateway());
            let _ = parse(pod(), gateway(), &fixed);
        }
    }

    #[test]
    fn option_walk_never_panics_and_ends(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
        // Every step consumes at least 8 bytes or stops: at most len / 8 + 1 items.
        prop_assert!(NdiscOptions::new(&bytes).count() <= bytes.len() / 8 + 1);
    }

    #[test]
    fn ndisc_parse_inverts_emit(ndisc in arbitrary_ndisc()) {
        let repr = Icmpv6Repr::Ndisc(ndisc);
        let bytes = emit(&repr, gateway(), pod());
        prop_assert_eq!(parse(gateway(), pod(), &bytes), Ok(repr));
    }

    #[test]
    fn parse_inverts_emit(
        kind in 0u8..5, code in any::<u8>(), ident in any::<u16>(), seq_no in any::<u16>(),
        mtu in any::<u32>(), data in proptest::collection::vec(any::<u8>(), 0..32),
        payload_extra in 0usize..1000,
    ) {
        let header = Ipv6Repr {
            src_addr: pod(),
            dst_addr: addr("2001:db8::1"),
            next_header: IpProtocol::TCP,
            payload_len: data.len() + payload_extra,
            hop_limit: 1,
            traffic_class: 0,
        };
        let repr = match kind {
            0 => Icmpv6Repr::EchoRequest { ident, seq_no, data: &data },
            1 => Icmpv6Repr::EchoReply { ident, seq_no, data: &data },
            2 => Icmpv6Repr::DstUnreachable { code, header, data: &data },
            3 => Icmpv6Repr::PacketTooBig { mtu, header, data: &data },
            _ => Icmpv6Repr::TimeExceeded { code, header, data: &data },
        };
        let bytes = emit(&repr, gateway(), pod());
        prop_assert_eq!(parse(gateway(), pod(), &bytes), Ok(repr));
    }
}
