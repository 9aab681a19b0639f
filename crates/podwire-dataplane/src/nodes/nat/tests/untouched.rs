//! What passes untouched, and the rewriting itself.

use super::*;

#[test]
fn a_non_first_fragment_passes_untouched() {
    let mut h = harness(false);
    let mut f = frame(from_pod(), sa(POD_IP4, 40001), sa(VIP4, 53), L4::Udp);
    f[14 + 6..14 + 8].copy_from_slice(&[0, 16]);
    refill_ip4_checksum(&mut f);
    let id = h.receive(POD_IF, &f);

    // IPv6: a fragment header (offset 16 × 8 bytes) and 8 bytes of a datagram's middle.
    let mut ip6 = vec![0x60, 0, 0, 0, 0, 16, 44, 64];
    ip6.extend_from_slice(&POD_IP6.octets());
    ip6.extend_from_slice(&VIP6.octets());
    ip6.extend_from_slice(&[UDP, 0, 0, 0x80, 0, 0, 0, 1]);
    ip6.extend_from_slice(&[0xab; 8]);
    let id6 = h.receive(POD_IF, &raw(from_pod(), &ip6));
    h.run();
    assert!(
        noted(&h, id, "ip4-nat-in").contains("fragment"),
        "{:?}",
        h.steps(id)
    );
    assert!(
        noted(&h, id6, "ip6-nat-in").contains("fragment"),
        "{:?}",
        h.steps(id6)
    );
    assert!(h.sent(POD_B_IF).is_empty());
    assert_eq!(active(&h), 0);
}

#[test]
fn truncated_transport_headers_pass_untouched() {
    let mut h = harness(false);
    // A TCP header cut to 10 bytes.
    let mut ip = vec![0x45, 0, 0, 30, 0, 0, 0, 0, 64, TCP, 0, 0];
    ip.extend_from_slice(&POD_IP4.octets());
    ip.extend_from_slice(&VIP4.octets());
    ip.extend_from_slice(&[0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0]);
    let mut f = raw(from_pod(), &ip);
    refill_ip4_checksum(&mut f);
    let id = h.receive(POD_IF, &f);
    // An ICMP error quoting only 4 bytes of its packet's UDP header.
    let about = frame(from_pod(), sa(POD_IP4, 5000), sa(OUTSIDE4, 53), L4::Udp);
    let error = port_unreachable(
        from_router(),
        OUTSIDE4.into(),
        POD_IP4.into(),
        &about[14..38],
    );
    let id_error = h.receive(UPLINK_IF, &error);
    h.run();
    assert!(
        noted(&h, id, "ip4-nat-in").contains("cut short"),
        "{:?}",
        h.steps(id)
    );
    assert!(noted(&h, id_error, "ip4-nat-in").contains("too little"));
    assert!(h.sent(POD_B_IF).is_empty());
    assert_eq!(active(&h), 0);
}

#[test]
fn a_partial_checksum_keeps_only_the_pseudo_header_change() {
    let f = frame(from_pod(), sa(POD_IP4, 40000), sa(VIP4, 80), L4::Syn);
    let mut ip = f[14..].to_vec();
    let tcp_len = ip.len() - 20;
    // What a sender that leaves the checksum to a device writes: the pseudo-header's sum.
    let pseudo = checksum::pseudo_header_v4(POD_IP4, VIP4, IpProtocol::TCP, tcp_len as u32);
    ip[20 + 16..20 + 18].copy_from_slice(&pseudo.to_be_bytes());
    let Parsed::Packet { headers, .. } = parse(&ip, false) else {
        panic!("a TCP packet");
    };
    let to = (
        (IpAddr::from(POD_IP4), 40000),
        (IpAddr::from(POD_B_IP4), 8080),
    );
    translate(&mut ip, &headers, to, true).unwrap();
    // The device completes it.
    let sum = checksum::data(&ip[20..]);
    ip[20 + 16..20 + 18].copy_from_slice(&checksum::finish(sum).to_be_bytes());
    let out = seen_ip(&ip);
    assert_eq!(
        (out.src, out.dst),
        (sa(POD_IP4, 40000), sa(POD_B_IP4, 8080))
    );
}

#[test]
fn a_translation_to_the_other_ip_version_changes_nothing() {
    let f = frame(from_pod(), sa(POD_IP4, 40000), sa(VIP4, 80), L4::Syn);
    let mut ip = f[14..].to_vec();
    let Parsed::Packet { headers, .. } = parse(&ip, false) else {
        panic!("a TCP packet");
    };
    let to = (
        (IpAddr::from(POD_IP4), 40000),
        (IpAddr::from(POD_B_IP6), 8080),
    );
    assert!(translate(&mut ip, &headers, to, false).is_err());
    assert_eq!(ip, &f[14..]);
}
