//! ICMP errors about translated packets, translated back.

use super::*;

#[test]
fn an_icmp_error_about_a_masqueraded_packet_reaches_the_pod() {
    let mut h = harness(true);
    let (client, server) = (sa(POD_IP4, 5000), sa(OUTSIDE4, 53));
    h.receive(POD_IF, &frame(from_pod(), client, server, L4::Udp));
    h.run();
    let left = one_out(&mut h, UPLINK_IF);
    let error = port_unreachable(
        from_router(),
        OUTSIDE4.into(),
        UPLINK_IP4.into(),
        &left[14..],
    );
    h.receive(UPLINK_IF, &error);
    h.run();
    let back = seen(&one_out(&mut h, POD_IF));
    assert!(back.port_unreachable);
    assert_eq!((back.src.ip(), back.dst.ip()), (server.ip(), client.ip()));
    let inner = seen_ip(&back.payload);
    assert_eq!(
        (inner.src, inner.dst),
        (client, server),
        "the packet as the pod sent it"
    );
}

#[test]
fn an_icmp_error_from_an_endpoint_comes_back_from_the_service() {
    let cases = [
        (sa(POD_IP4, 40001), sa(VIP4, 53)),
        (sa(POD_IP6, 40001), sa(VIP6, 53)),
    ];
    for (client, vip) in cases {
        let mut h = harness(false);
        h.receive(POD_IF, &frame(from_pod(), client, vip, L4::Udp));
        h.run();
        let left = one_out(&mut h, POD_B_IF);
        let endpoint = seen(&left).dst;
        let error = port_unreachable(from_pod_b(), endpoint.ip(), client.ip(), &left[14..]);
        h.receive(POD_B_IF, &error);
        h.run();
        let back = seen(&one_out(&mut h, POD_IF));
        assert!(back.port_unreachable);
        assert_eq!(
            (back.src.ip(), back.dst.ip()),
            (vip.ip(), client.ip()),
            "from the Service, to the client"
        );
        let inner = seen_ip(&back.payload);
        assert_eq!(
            (inner.src, inner.dst),
            (client, vip),
            "the packet as the client sent it"
        );
    }
}

#[test]
fn an_icmp_error_about_an_untracked_flow_passes_untouched() {
    let mut h = harness(false);
    let about = frame(from_pod(), sa(POD_IP4, 5000), sa(OUTSIDE4, 53), L4::Udp);
    let error = port_unreachable(from_router(), OUTSIDE4.into(), POD_IP4.into(), &about[14..]);
    h.receive(UPLINK_IF, &error);
    h.run();
    let back = seen(&one_out(&mut h, POD_IF));
    assert_eq!(back.payload, &about[14..]);
}
