//! Egress masquerade out of an uplink, and what it leaves alone.

use super::*;

#[test]
fn pods_leaving_by_a_masquerading_uplink_are_snated_and_answered() {
    let cases = [
        (sa(POD_IP4, 5000), sa(OUTSIDE4, 53), L4::Udp, L4::Udp),
        (sa(POD_IP6, 5000), sa(OUTSIDE6, 53), L4::Udp, L4::Udp),
        (sa(POD_IP4, 40000), sa(OUTSIDE4, 443), L4::Syn, L4::SynAck),
        (
            sa(POD_IP4, 0x1234),
            sa(OUTSIDE4, 0x1234),
            L4::Echo,
            L4::EchoReply,
        ),
        (
            sa(POD_IP6, 0x1234),
            sa(OUTSIDE6, 0x1234),
            L4::Echo,
            L4::EchoReply,
        ),
    ];
    for (client, server, first, answer) in cases {
        let mut h = harness(true);
        h.receive(POD_IF, &frame(from_pod(), client, server, first));
        h.run();
        let out = seen(&one_out(&mut h, UPLINK_IF));
        let uplink: IpAddr = if client.is_ipv4() {
            UPLINK_IP4.into()
        } else {
            UPLINK_IP6.into()
        };
        assert_eq!(
            (out.src, out.dst),
            (sa(uplink, client.port()), server),
            "{first:?}"
        );

        h.receive(UPLINK_IF, &frame(from_router(), server, out.src, answer));
        h.run();
        let back = seen(&one_out(&mut h, POD_IF));
        assert_eq!((back.src, back.dst), (server, client), "{answer:?}");
        assert_eq!(back.payload, PAYLOAD);
    }
}

#[test]
fn nothing_is_masqueraded_out_of_an_uplink_that_does_not_masquerade() {
    let mut h = harness(false);
    let (client, server) = (sa(POD_IP4, 5000), sa(OUTSIDE4, 53));
    h.receive(POD_IF, &frame(from_pod(), client, server, L4::Udp));
    h.run();
    assert_eq!(seen(&one_out(&mut h, UPLINK_IF)).src, client);
    assert_eq!(active(&h), 0);
}

#[test]
fn a_pods_answer_to_outside_leaves_unmasqueraded() {
    let mut h = harness(true);
    let (outside, pod) = (sa(OUTSIDE4, 50000), sa(POD_IP4, 80));
    h.receive(UPLINK_IF, &frame(from_router(), outside, pod, L4::Syn));
    h.run();
    assert_eq!(seen(&one_out(&mut h, POD_IF)).src, outside);
    h.receive(POD_IF, &frame(from_pod(), pod, outside, L4::SynAck));
    h.run();
    let out = seen(&one_out(&mut h, UPLINK_IF));
    assert_eq!(
        (out.src, out.dst),
        (pod, outside),
        "the connection's own addresses"
    );
}
