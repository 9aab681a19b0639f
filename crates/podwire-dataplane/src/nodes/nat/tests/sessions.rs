//! Sessions over time: expiry, a full table, housekeeping after a Service change.

use super::*;

#[test]
fn sessions_expire_with_the_clock_and_the_next_packet_is_decided_anew() {
    let mut h = harness(false);
    let (client, vip, endpoint) = (sa(POD_IP4, 40001), sa(VIP4, 53), sa(POD_B_IP4, 5353));
    h.receive(POD_IF, &frame(from_pod(), client, vip, L4::Udp));
    h.run();
    one_out(&mut h, POD_B_IF);
    // Unanswered UDP lives 30 s.
    h.now = h.now.after(Duration::from_secs(31));
    h.receive(POD_B_IF, &frame(from_pod_b(), endpoint, client, L4::Udp));
    h.run();
    let late = seen(&one_out(&mut h, POD_IF));
    assert_eq!(
        late.src, endpoint,
        "the session is gone: the answer is not translated"
    );

    h.receive(POD_IF, &frame(from_pod(), client, vip, L4::Udp));
    h.run();
    assert_eq!(seen(&one_out(&mut h, POD_B_IF)).dst, endpoint);
    let counters = h.state.sessions.counters();
    assert_eq!(
        (counters.created, counters.expired, counters.active),
        (2, 1, 1)
    );
}

#[test]
fn housekeeping_expires_sessions_nobody_looks_up() {
    let mut h = harness(false);
    h.receive(
        POD_IF,
        &frame(from_pod(), sa(POD_IP4, 40001), sa(VIP4, 53), L4::Udp),
    );
    h.run();
    assert_eq!(active(&h), 1);
    let mut keeper = NatHousekeeping::new();
    assert_eq!(
        keeper.run(&mut h.state, &h.tables, h.now).sessions_expired,
        0
    );
    let later = h.now.after(Duration::from_secs(31));
    assert_eq!(
        keeper.run(&mut h.state, &h.tables, later).sessions_expired,
        1
    );
    assert_eq!(active(&h), 0);
}

#[test]
fn a_full_table_refuses_new_flows_and_counts_them() {
    let mut h = harness(false);
    h.state.sessions = SessionTable::new(SessionConfig {
        capacity: 1,
        ..SessionConfig::default()
    });
    let (first, vip, endpoint) = (sa(POD_IP4, 40000), sa(VIP4, 80), sa(POD_B_IP4, 8080));
    h.receive(POD_IF, &frame(from_pod(), first, vip, L4::Syn));
    h.run();
    one_out(&mut h, POD_B_IF);
    // Answered, so it may not be evicted.
    h.receive(POD_B_IF, &frame(from_pod_b(), endpoint, first, L4::SynAck));
    h.run();
    one_out(&mut h, POD_IF);

    h.receive(POD_IF, &frame(from_pod(), sa(POD_IP4, 40002), vip, L4::Syn));
    h.run();
    assert_eq!(h.drops("ip4-nat-in", "session-table-full"), 1);
    assert_eq!(h.state.sessions.counters().refused_full, 1);
    assert_eq!(h.queued(), 0);
}

#[test]
fn stale_udp_sessions_are_cleared_when_their_endpoint_stops_serving() {
    let mut h = harness(false);
    let mut keeper = NatHousekeeping::new();
    keeper.run(&mut h.state, &h.tables, h.now);
    let client = sa(POD_IP4, 40001);
    h.receive(POD_IF, &frame(from_pod(), client, sa(VIP4, 53), L4::Udp));
    h.receive(POD_IF, &frame(from_pod(), client, sa(VIP4, 80), L4::Syn));
    h.run();
    assert_eq!(h.sent(POD_B_IF).len(), 2);
    assert_eq!(active(&h), 2);
    let same = keeper.run(&mut h.state, &h.tables, h.now);
    assert_eq!(same.stale_udp_cleared, 0, "the Services did not change");

    // Pod B no longer serves either port: a new version of the Services.
    let mut changed = services();
    changed.set_serving(DNS, Vec::new());
    changed.set_serving(WEB, Vec::new());
    h.tables = network(changed, false);
    let report = keeper.run(&mut h.state, &h.tables, h.now);
    assert_eq!(report.stale_udp_cleared, 1, "the UDP session goes");
    assert_eq!(active(&h), 1, "the TCP connection stays until it ends");
    assert_eq!(h.state.sessions.counters().cleared, 1);
}
