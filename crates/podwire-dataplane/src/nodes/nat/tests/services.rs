//! Services: DNAT and its reply, REJECT, DROP, hairpin and masquerade, SCTP.

use super::*;

#[test]
fn cluster_ip_flows_are_dnated_and_their_replies_undone() {
    let cases = [
        (
            sa(POD_IP4, 40000),
            sa(VIP4, 80),
            sa(POD_B_IP4, 8080),
            L4::Syn,
            L4::SynAck,
        ),
        (
            sa(POD_IP4, 40001),
            sa(VIP4, 53),
            sa(POD_B_IP4, 5353),
            L4::Udp,
            L4::Udp,
        ),
        (
            sa(POD_IP6, 40000),
            sa(VIP6, 80),
            sa(POD_B_IP6, 8080),
            L4::Syn,
            L4::SynAck,
        ),
        (
            sa(POD_IP6, 40001),
            sa(VIP6, 53),
            sa(POD_B_IP6, 5353),
            L4::Udp,
            L4::Udp,
        ),
    ];
    for (client, vip, endpoint, first, answer) in cases {
        let mut h = harness(false);
        let id = h.receive(POD_IF, &frame(from_pod(), client, vip, first));
        h.run();
        let out = seen(&one_out(&mut h, POD_B_IF));
        assert_eq!(
            (out.src, out.dst),
            (client, endpoint),
            "DNAT, the client's source kept"
        );
        assert_eq!(out.payload, PAYLOAD);
        let nat = if vip.is_ipv4() {
            "ip4-nat-in"
        } else {
            "ip6-nat-in"
        };
        assert!(noted(&h, id, nat).contains("default/"), "{:?}", h.steps(id));

        h.receive(POD_B_IF, &frame(from_pod_b(), endpoint, client, answer));
        h.run();
        let back = seen(&one_out(&mut h, POD_IF));
        assert_eq!(
            (back.src, back.dst),
            (vip, client),
            "the reply comes from the Service"
        );
        assert_eq!(back.payload, PAYLOAD);
        assert_eq!(active(&h), 1, "one session for both ways");
        assert_eq!(h.total_drops(), 0);
    }
}

#[test]
fn a_service_without_endpoints_or_port_is_rejected_with_port_unreachable() {
    let cases = [
        (sa(POD_IP4, 40000), sa(EMPTY4, 80)),
        (sa(POD_IP6, 40000), sa(EMPTY6, 80)),
        (sa(POD_IP4, 40000), sa(VIP4, 81)),
    ];
    for (client, vip) in cases {
        let mut h = harness(false);
        h.receive(POD_IF, &frame(from_pod(), client, vip, L4::Syn));
        h.run();
        let error = seen(&one_out(&mut h, POD_IF));
        assert!(error.port_unreachable, "{vip}: port unreachable");
        assert_eq!(error.dst.ip(), client.ip());
        assert_eq!(
            quoted(&error.payload),
            (client, vip),
            "about the client's packet"
        );
        assert_eq!(active(&h), 0, "no session");
    }
}

#[test]
fn drops_are_counted_by_cause() {
    let mut h = harness(false);
    let client = sa(POD_IP4, 40000);
    h.receive(
        POD_IF,
        &frame(from_pod(), client, sa(LOCAL_ONLY4, 80), L4::Syn),
    );
    h.receive(
        POD_IF,
        &frame(from_pod(), client, sa(UNALLOCATED4, 80), L4::Udp),
    );
    h.run();
    assert_eq!(h.drops("ip4-nat-in", "no-local-endpoint"), 1);
    assert_eq!(h.drops("ip4-nat-in", "unallocated-service-ip"), 1);
    assert_eq!(h.queued(), 0);
    assert_eq!(active(&h), 0);
    assert_eq!(h.pool.available(), HARNESS_BUFFERS as usize);
}

#[test]
fn a_ping_to_a_service_address_is_not_load_balanced() {
    let mut h = harness(false);
    let id = h.receive(
        POD_IF,
        &frame(from_pod(), sa(POD_IP4, 7), sa(VIP4, 7), L4::Echo),
    );
    h.run();
    assert_eq!(active(&h), 0);
    assert!(h.sent(POD_B_IF).is_empty(), "not sent to the endpoint");
    assert!(h.path(id).contains(&"ip4-lookup"), "{:?}", h.steps(id));
}

#[test]
fn a_pod_reaching_itself_through_its_service_is_masqueraded() {
    let mut h = harness(false);
    let client = sa(POD_B_IP4, 41000);
    h.receive(
        POD_B_IF,
        &frame(from_pod_b(), client, sa(VIP4, 80), L4::Syn),
    );
    h.run();
    let out = seen(&one_out(&mut h, POD_B_IF));
    assert_eq!(out.dst, sa(POD_B_IP4, 8080));
    assert_eq!(
        out.src,
        sa(UPLINK_IP4, 41000),
        "from the masquerade address"
    );

    h.receive(POD_B_IF, &frame(from_pod_b(), out.dst, out.src, L4::SynAck));
    h.run();
    let back = seen(&one_out(&mut h, POD_B_IF));
    assert_eq!((back.src, back.dst), (sa(VIP4, 80), client));
}

#[test]
fn masqueraded_clients_on_one_port_get_distinct_ports() {
    let mut h = harness(false);
    let clients = [sa(OUTSIDE4, 40000), sa(OTHER_OUTSIDE4, 40000)];
    for client in clients {
        h.receive(
            UPLINK_IF,
            &frame(from_router(), client, sa(VIP4, 80), L4::Syn),
        );
    }
    h.run();
    let outs: Vec<Seen> = h.sent(POD_B_IF).iter().map(|f| seen(f)).collect();
    assert_eq!(outs.len(), 2, "{:?}", h.graph.drop_counts());
    for out in &outs {
        assert_eq!(
            out.src.ip(),
            IpAddr::from(UPLINK_IP4),
            "external: masqueraded"
        );
        assert_eq!(out.dst, sa(POD_B_IP4, 8080));
    }
    let ports = [outs[0].src.port(), outs[1].src.port()];
    assert_ne!(ports[0], ports[1]);
    assert!(ports.contains(&40000), "the first keeps its port");
    let moved = ports.iter().find(|&&p| p != 40000).unwrap();
    assert!(PORTS.contains(moved));

    for out in &outs {
        h.receive(POD_B_IF, &frame(from_pod_b(), out.dst, out.src, L4::SynAck));
    }
    h.run();
    let mut back: Vec<(SocketAddr, SocketAddr)> = h
        .sent(UPLINK_IF)
        .iter()
        .map(|f| seen(f))
        .map(|s| (s.src, s.dst))
        .collect();
    back.sort();
    let mut expected = clients.map(|c| (sa(VIP4, 80), c)).to_vec();
    expected.sort();
    assert_eq!(back, expected, "each reply to its own client");
}

#[test]
fn sctp_ports_are_rewritten_with_a_fresh_crc32c() {
    let (client, vip, endpoint) = (sa(POD_IP4, 40000), sa(VIP4, 9000), sa(POD_B_IP4, 9001));
    for chunk_len in [16, 3000] {
        let mut h = harness(false);
        let out = one_sctp(&mut h, POD_IF, from_pod(), client, vip, chunk_len, POD_B_IF);
        assert_eq!(out, (client, endpoint));
        let back = one_sctp(
            &mut h,
            POD_B_IF,
            from_pod_b(),
            endpoint,
            client,
            chunk_len,
            POD_IF,
        );
        assert_eq!(back, (vip, client), "{chunk_len}-byte chunk");
    }
}

/// Sends an SCTP packet with a chunk of `chunk_len` bytes from `src` to `dst` and returns
/// the source and destination of what leaves by `out_if`, its CRC32c checked.
fn one_sctp(
    h: &mut Harness,
    rx_if: IfIndex,
    macs: (EthernetAddress, EthernetAddress),
    src: SocketAddr,
    dst: SocketAddr,
    chunk_len: usize,
    out_if: IfIndex,
) -> (SocketAddr, SocketAddr) {
    let mut packet = vec![0u8; sctp::HEADER_LEN + chunk_len];
    packet[12..16].copy_from_slice(&[0, 3, (chunk_len >> 8) as u8, chunk_len as u8]);
    for (i, b) in packet[16..].iter_mut().enumerate() {
        *b = i as u8;
    }
    let mut view = sctp::Packet::new_unchecked(&mut packet[..]);
    view.set_src_port(src.port());
    view.set_dst_port(dst.port());
    view.fill_checksum();
    let (IpAddr::V4(s), IpAddr::V4(d)) = (src.ip(), dst.ip()) else {
        panic!("IPv4");
    };
    let mut f = Vec::new();
    PacketBuilder::ethernet2(macs.0.0, macs.1.0)
        .ipv4(s.octets(), d.octets(), 64)
        .write(&mut f, IpNumber(SCTP), &packet)
        .unwrap();
    h.receive(rx_if, &f);
    h.run();
    let out = one_out(h, out_if);
    let ip = Ipv4HeaderSlice::from_slice(&out[14..]).unwrap();
    assert_eq!(ip.header_checksum(), ip.to_header().calc_header_checksum());
    let sctp = sctp::Packet::new_checked(&out[34..]).unwrap();
    assert!(sctp.verify_checksum(), "the CRC32c");
    assert_eq!(&out[34 + 12..], &packet[12..], "the chunks untouched");
    (
        sa(ip.source_addr(), sctp.src_port()),
        sa(ip.destination_addr(), sctp.dst_port()),
    )
}
