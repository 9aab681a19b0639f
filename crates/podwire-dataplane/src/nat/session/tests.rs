use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::nat::flow::{ICMP, ICMP6, SCTP, TCP, UDP};

const SYN_ACK: u8 = SYN | ACK;
const FIN_ACK: u8 = FIN | ACK;

fn at(ms: u64) -> Instant {
    Instant::from_nanos(ms * 1_000_000)
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

fn v4(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
}

fn flow(protocol: u8, src: IpAddr, src_port: u16, dst: IpAddr, dst_port: u16) -> FlowKey {
    FlowKey {
        src,
        dst,
        protocol,
        src_port,
        dst_port,
    }
}

/// A client's flow to a VIP and its DNAT to an endpoint.
fn dnat(protocol: u8, client_port: u16) -> (FlowKey, FlowKey) {
    let vip = IpAddr::V4(Ipv4Addr::new(10, 96, 0, 10));
    let original = flow(protocol, v4(1), client_port, vip, 80);
    let translated = flow(protocol, v4(1), client_port, v4(2), 8080);
    (original, translated)
}

/// Timeouts all different, so that using the wrong one shows.
fn distinct_timeouts() -> Timeouts {
    let s = Duration::from_secs;
    Timeouts {
        tcp_syn_sent: s(11),
        tcp_syn_received: s(12),
        tcp_established: s(13),
        tcp_fin_wait: s(14),
        tcp_close_wait: s(15),
        tcp_time_wait: s(16),
        tcp_closed: s(17),
        udp: s(18),
        udp_stream: s(19),
        icmp: s(20),
        other: s(21),
    }
}

fn table(capacity: u32) -> SessionTable {
    SessionTable::new(SessionConfig {
        capacity,
        timeouts: distinct_timeouts(),
    })
}

/// Makes a session with its first packet at t=0 and plays `packets` (direction, flags), one
/// per millisecond; returns the table, the session and when its last packet was seen.
fn play(
    protocol: u8,
    first_flags: u8,
    packets: &[(Direction, u8)],
) -> (SessionTable, SessionId, u64) {
    let mut t = table(16);
    let (original, translated) = dnat(protocol, 40_000);
    let id = t
        .insert(original, translated, None, first_flags, at(0))
        .unwrap();
    let mut now = 0;
    for &(dir, flags) in packets {
        now += 1;
        t.observe(id, dir, flags, at(now));
    }
    (t, id, now)
}

use Direction::{Original as O, Reply as R};

/// A row of the timeouts' table: name, protocol, the first packet's flags, the packets
/// after it, the state they lead to, its timeout.
type Case = (
    &'static str,
    u8,
    u8,
    &'static [(Direction, u8)],
    TcpState,
    Duration,
);

#[test]
fn each_state_lives_for_its_own_timeout() {
    let to = distinct_timeouts();
    let cases: &[Case] = &[
        (
            "syn sent",
            TCP,
            SYN,
            &[],
            TcpState::SynSent,
            to.tcp_syn_sent,
        ),
        (
            "syn received",
            TCP,
            SYN,
            &[(R, SYN_ACK)],
            TcpState::SynReceived,
            to.tcp_syn_received,
        ),
        (
            "established",
            TCP,
            SYN,
            &[(R, SYN_ACK), (O, ACK)],
            TcpState::Established,
            to.tcp_established,
        ),
        (
            "fin wait",
            TCP,
            SYN,
            &[(R, SYN_ACK), (O, ACK), (O, FIN_ACK)],
            TcpState::FinWait,
            to.tcp_fin_wait,
        ),
        (
            "close wait",
            TCP,
            SYN,
            &[(R, SYN_ACK), (O, ACK), (R, FIN_ACK)],
            TcpState::CloseWait,
            to.tcp_close_wait,
        ),
        (
            "time wait",
            TCP,
            SYN,
            &[(R, SYN_ACK), (O, ACK), (O, FIN_ACK), (R, FIN_ACK)],
            TcpState::TimeWait,
            to.tcp_time_wait,
        ),
        (
            "closed",
            TCP,
            SYN,
            &[(R, SYN_ACK), (O, ACK), (R, RST)],
            TcpState::Closed,
            to.tcp_closed,
        ),
        ("udp one way", UDP, 0, &[(O, 0)], TcpState::SynSent, to.udp),
        (
            "udp both ways",
            UDP,
            0,
            &[(R, 0)],
            TcpState::Established,
            to.udp_stream,
        ),
        ("icmp", ICMP, 0, &[], TcpState::SynSent, to.icmp),
        (
            "icmpv6",
            ICMP6,
            0,
            &[(R, 0)],
            TcpState::Established,
            to.icmp,
        ),
        ("sctp", SCTP, 0, &[(R, 0)], TcpState::Established, to.other),
    ];
    for &(name, protocol, first, packets, state, timeout) in cases {
        let (mut t, id, last) = play(protocol, first, packets);
        let session = t.get(id).clone();
        assert_eq!(session.state, state, "{name}");
        assert_eq!(session.expires, at(last).after(timeout), "{name}");
        let key = session.original;
        assert!(
            t.lookup(&key, at(last + ms(timeout) - 1)).is_some(),
            "{name}: gone early"
        );
        assert!(
            t.lookup(&key, at(last + ms(timeout) + 1)).is_none(),
            "{name}: not gone"
        );
        assert!(
            t.lookup(&session.translated.reversed(), at(0)).is_none(),
            "{name}: reply key left"
        );
        assert_eq!(t.counters().active, 0, "{name}");
        assert_eq!(t.counters().expired, 1, "{name}");
    }
}

#[test]
fn tcp_walks_through_handshake_and_teardown() {
    let (mut t, id, _) = play(TCP, SYN, &[]);
    let steps: &[(Direction, u8, TcpState)] = &[
        (O, SYN, TcpState::SynSent),         // retransmitted SYN
        (R, SYN_ACK, TcpState::SynReceived), // answered
        (R, SYN_ACK, TcpState::SynReceived), // retransmitted SYN-ACK
        (O, ACK, TcpState::Established),     // handshake done
        (R, ACK, TcpState::Established),     // data
        (O, FIN_ACK, TcpState::FinWait),     // client closes first
        (O, FIN_ACK, TcpState::FinWait),     // retransmitted FIN
        (R, ACK, TcpState::FinWait),         // server still sending
        (R, FIN_ACK, TcpState::TimeWait),    // server closes
        (O, ACK, TcpState::TimeWait),        // last ACK
        (O, SYN, TcpState::SynSent),         // client reuses its port
        (R, RST, TcpState::Closed),          // nobody listens any more
        (O, SYN, TcpState::SynSent),         // and tries again
    ];
    for (n, &(dir, flags, state)) in steps.iter().enumerate() {
        t.observe(id, dir, flags, at(n as u64 + 1));
        assert_eq!(t.get(id).state, state, "step {n}: {dir:?} {flags:#x}");
    }
    let s = t.get(id);
    assert_eq!(s.packets_original, 8);
    assert_eq!(s.packets_reply, 6);
    assert_eq!(s.last_seen, at(steps.len() as u64));
    assert_eq!(s.created, at(0));
}

#[test]
fn server_closing_first_is_close_wait_until_the_client_closes() {
    let (mut t, id, _) = play(TCP, SYN, &[(R, SYN_ACK), (O, ACK), (R, FIN_ACK)]);
    assert_eq!(t.get(id).state, TcpState::CloseWait);
    t.observe(id, R, FIN_ACK, at(10));
    assert_eq!(
        t.get(id).state,
        TcpState::CloseWait,
        "the server's FIN again"
    );
    t.observe(id, O, ACK, at(11));
    assert_eq!(t.get(id).state, TcpState::CloseWait, "the client's data");
    t.observe(id, O, FIN_ACK, at(12));
    assert_eq!(t.get(id).state, TcpState::TimeWait);
}

#[test]
fn a_connection_picked_up_midway_is_established_once_answered() {
    let (mut t, id, _) = play(TCP, ACK, &[(O, ACK)]);
    assert_eq!(t.get(id).state, TcpState::SynSent, "unanswered");
    t.observe(id, R, ACK, at(5));
    assert_eq!(t.get(id).state, TcpState::Established);
    let (t, id, _) = play(TCP, SYN, &[(R, RST)]);
    assert_eq!(t.get(id).state, TcpState::Closed, "a refused SYN");
}

#[test]
fn replies_are_found_by_the_reversed_translation() {
    let mut t = table(16);
    let (original, translated) = dnat(TCP, 40_000);
    let binding = ServiceBinding {
        service_port: ServicePortId(7),
        endpoint: SocketAddr::new(translated.dst, translated.dst_port),
    };
    let id = t
        .insert(original, translated, Some(binding), SYN, at(0))
        .unwrap();
    assert_eq!(t.lookup(&original, at(1)), Some((id, O)));
    assert_eq!(t.lookup(&translated.reversed(), at(1)), Some((id, R)));
    assert_eq!(
        t.lookup(&translated, at(1)),
        None,
        "the translated key is not the reply"
    );
    assert_eq!(t.lookup(&original.reversed(), at(1)), None);
    let s = t.get(id);
    assert_eq!(s.service, Some(binding));
    // Original packets leave as the translation; replies get the VIP back as source.
    assert_eq!(s.rewrite(O), ((v4(1), 40_000), (v4(2), 8080)));
    assert_eq!(s.rewrite(R), ((original.dst, 80), (v4(1), 40_000)));
}

#[test]
fn a_key_in_use_is_refused_until_its_session_expires() {
    let mut t = table(16);
    let (original, translated) = dnat(UDP, 40_000);
    t.insert(original, translated, None, 0, at(0)).unwrap();
    assert_eq!(
        t.insert(original, translated, None, 0, at(1)),
        Err(SessionError::Exists)
    );
    // Another client flow translated onto the same reply key (an SNAT port clash).
    let other = flow(UDP, v4(9), 1, v4(8), 2);
    assert_eq!(
        t.insert(other, translated, None, 0, at(1)),
        Err(SessionError::Exists)
    );
    assert!(!t.reply_key_free(&translated.reversed(), at(1)));
    assert!(t.reply_key_free(&other.reversed(), at(1)));
    let later = at(ms(distinct_timeouts().udp) + 1);
    assert!(t.reply_key_free(&translated.reversed(), later), "expired");
    let id = t.insert(other, translated, None, 0, later).unwrap();
    assert_eq!(t.lookup(&translated.reversed(), later), Some((id, R)));
    assert_eq!(t.lookup(&original, later), None);
    let c = t.counters();
    assert_eq!((c.active, c.created, c.expired), (1, 2, 1));
}

#[test]
fn a_flow_that_is_its_own_reply_has_one_session() {
    let mut t = table(4);
    let key = flow(UDP, v4(1), 53, v4(1), 53);
    let id = t.insert(key, key, None, 0, at(0)).unwrap();
    assert_eq!(t.lookup(&key, at(1)), Some((id, O)));
    assert_eq!(t.retain(|_| false), 1);
    assert_eq!(t.lookup(&key, at(1)), None);
    assert_eq!(t.counters().active, 0);
}

fn establish(t: &mut SessionTable, port: u16, now: Instant) -> FlowKey {
    let (original, translated) = dnat(TCP, port);
    let id = t.insert(original, translated, None, SYN, now).unwrap();
    t.observe(id, R, SYN_ACK, now);
    t.observe(id, O, ACK, now);
    original
}

#[test]
fn a_syn_flood_evicts_unanswered_sessions_never_established_ones() {
    const CAPACITY: u32 = 64;
    let mut t = table(CAPACITY);
    // Established connections interleaved with unanswered ones fill the table.
    let mut established = Vec::new();
    for port in 0..CAPACITY as u16 / 2 {
        established.push(establish(&mut t, port, at(0)));
        let (original, translated) = dnat(UDP, port);
        t.insert(original, translated, None, 0, at(0)).unwrap();
    }
    assert_eq!(t.counters().active, u64::from(CAPACITY));
    let (mut accepted, mut refused) = (0u64, 0u64);
    for n in 0..1000u64 {
        let attacker = flow(TCP, v4(200), n as u16, v4(10), 80);
        match t.insert(attacker, attacker, None, SYN, at(1 + n)) {
            Ok(_) => accepted += 1,
            Err(e) => {
                assert_eq!(e, SessionError::Full { capacity: CAPACITY });
                refused += 1;
            }
        }
        assert!(t.counters().active <= u64::from(CAPACITY));
    }
    for key in &established {
        let (id, _) = t
            .lookup(key, at(2000))
            .expect("an established session survives");
        assert_eq!(t.get(id).state, TcpState::Established);
    }
    let c = t.counters();
    assert!(
        accepted > 900,
        "the flood takes unanswered slots: {accepted}"
    );
    assert_eq!(c.evicted, accepted, "each accepted flow evicted one");
    assert_eq!(c.refused_full, refused);
    assert_eq!(c.created, u64::from(CAPACITY) + accepted);
}

#[test]
fn a_table_full_of_established_sessions_refuses_new_flows() {
    let mut t = table(8);
    for port in 0..8 {
        establish(&mut t, port, at(0));
    }
    let newcomer = flow(UDP, v4(200), 1, v4(10), 53);
    let err = t.insert(newcomer, newcomer, None, 0, at(1)).unwrap_err();
    assert_eq!(err, SessionError::Full { capacity: 8 });
    assert!(err.to_string().contains("sessions_per_worker"));
    assert_eq!(t.counters().refused_full, 1);
    assert_eq!(t.counters().evicted, 0);
    // Once they expire, there is room again.
    let later = at(ms(distinct_timeouts().tcp_established) + 1);
    t.insert(newcomer, newcomer, None, 0, later).unwrap();
    assert_eq!(t.counters().expired, 1);
}

#[test]
fn expire_removes_at_most_its_budget_and_only_expired_sessions() {
    let mut t = table(256);
    for port in 0..100 {
        let (original, translated) = dnat(UDP, port);
        t.insert(original, translated, None, 0, at(0)).unwrap();
    }
    // Established at 10 s, they live past the UDP sessions.
    let keep: Vec<FlowKey> = (1000..1010)
        .map(|port| establish(&mut t, port, at(10_000)))
        .collect();
    let after_udp = at(ms(distinct_timeouts().udp) + 1);
    assert_eq!(t.expire(at(0), 1000), 0, "nothing expired yet");
    assert_eq!(t.expire(after_udp, 10), 10);
    assert_eq!(t.counters().active, 100);
    assert_eq!(t.expire(after_udp, 0), 0);
    let mut rounds = 0;
    while t.counters().active > 10 {
        let removed = t.expire(after_udp, 7);
        assert!(removed <= 7);
        rounds += 1;
        assert!(rounds < 100, "the sweep goes round the table");
    }
    assert_eq!(t.expire(after_udp, 1000), 0);
    for key in &keep {
        assert!(t.lookup(key, after_udp).is_some());
    }
    assert_eq!(t.counters().expired, 100);
}

#[test]
fn retain_removes_and_counts_cleared_sessions() {
    let mut t = table(16);
    let gone = SocketAddr::new(v4(2), 8080);
    let stays = SocketAddr::new(v4(3), 8080);
    let mut keys = Vec::new();
    for (port, endpoint) in [(1, gone), (2, stays), (3, gone)] {
        let (original, mut translated) = dnat(UDP, port);
        translated.dst = endpoint.ip();
        let binding = ServiceBinding {
            service_port: ServicePortId(1),
            endpoint,
        };
        t.insert(original, translated, Some(binding), 0, at(0))
            .unwrap();
        keys.push((original, translated, endpoint));
    }
    let removed = t.retain(|s| s.service.is_none_or(|b| b.endpoint != gone));
    assert_eq!(removed, 2);
    for (original, translated, endpoint) in keys {
        let present = endpoint == stays;
        assert_eq!(t.lookup(&original, at(1)).is_some(), present);
        assert_eq!(t.lookup(&translated.reversed(), at(1)).is_some(), present);
    }
    let c = t.counters();
    assert_eq!((c.active, c.cleared, c.expired), (1, 2, 0));
    assert_eq!(t.iter().count(), 1);
}

/// The index grows many times over (from empty) and rehashes by the hashes it keeps: every
/// key must still lead to its own session and direction, before and after removals.
#[test]
fn both_keys_of_every_session_are_found_as_the_index_grows() {
    const SESSIONS: u16 = 5000;
    let mut t = table(u32::from(SESSIONS));
    let mut made = Vec::new();
    for port in 0..SESSIONS {
        let (original, translated) = dnat(TCP, 10_000 + port);
        let id = t.insert(original, translated, None, SYN, at(0)).unwrap();
        made.push((id, original, translated.reversed()));
    }
    let odd_port = |s: &Session| s.original.src_port % 2 == 1;
    assert_eq!(t.retain(|s| !odd_port(s)), usize::from(SESSIONS / 2));
    for (id, original, reply) in made {
        let kept = original.src_port % 2 == 0;
        let expect = |dir| kept.then_some((id, dir));
        assert_eq!(t.lookup(&original, at(1)), expect(O), "{original:?}");
        assert_eq!(t.lookup(&reply, at(1)), expect(R), "{reply:?}");
        assert_eq!(t.reply_key_free(&reply, at(1)), !kept);
    }
}

#[test]
fn reset_empties_the_table_as_if_new() {
    let mut t = table(4);
    let flows: Vec<_> = (1..=4).map(|port| dnat(UDP, port)).collect();
    for &(original, translated) in &flows {
        t.insert(original, translated, None, 0, at(0)).unwrap();
    }
    t.reset();
    assert_eq!(t.counters(), SessionCounters::default());
    assert_eq!(t.iter().count(), 0);
    for &(original, translated) in &flows {
        assert_eq!(t.lookup(&original, at(1)), None);
        assert!(t.reply_key_free(&translated.reversed(), at(1)));
    }
    // Its whole capacity again, and the keys lead to the new sessions.
    for &(original, translated) in &flows {
        let id = t.insert(original, translated, None, 0, at(2)).unwrap();
        assert_eq!(t.lookup(&translated.reversed(), at(3)), Some((id, R)));
    }
    assert_eq!(t.counters().active, 4);
}

#[test]
fn ipv6_sessions_work_alike() {
    let mut t = table(4);
    let a = IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1));
    let vip = IpAddr::V6(Ipv6Addr::new(0xfd00, 0x96, 0, 0, 0, 0, 0, 10));
    let ep = IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2));
    let original = flow(TCP, a, 1234, vip, 443);
    let translated = flow(TCP, a, 1234, ep, 8443);
    let id = t.insert(original, translated, None, SYN, at(0)).unwrap();
    assert_eq!(t.lookup(&translated.reversed(), at(1)), Some((id, R)));
}

/// What the proptest does to the table.
#[derive(Clone, Debug)]
enum Op {
    Insert {
        client: u8,
        endpoint: u8,
        tcp: bool,
    },
    Lookup {
        client: u8,
        endpoint: u8,
        reply: bool,
    },
    Reply {
        client: u8,
    },
    Expire {
        budget: usize,
    },
    Advance {
        ms: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..12u8, 0..3u8, any::<bool>()).prop_map(|(client, endpoint, tcp)| Op::Insert { client, endpoint, tcp }),
        3 => (0..12u8, 0..3u8, any::<bool>()).prop_map(|(client, endpoint, reply)| Op::Lookup { client, endpoint, reply }),
        6 => (0..12u8).prop_map(|client| Op::Reply { client }),
        1 => (0..4usize).prop_map(|budget| Op::Expire { budget }),
        2 => (0..700u64).prop_map(|ms| Op::Advance { ms }),
    ]
}

/// The model's view of a session: keys, expiry, whether it was answered.
#[derive(Clone, Debug)]
struct Modeled {
    original: FlowKey,
    reply: FlowKey,
    expires: Instant,
    answered: bool,
}

fn keys_of(client: u8, endpoint: u8, tcp: bool) -> (FlowKey, FlowKey) {
    let protocol = if tcp { TCP } else { UDP };
    let original = flow(
        protocol,
        v4(100 + client % 4),
        1000 + u16::from(client),
        v4(50),
        80,
    );
    let translated = flow(
        protocol,
        original.src,
        original.src_port,
        v4(60 + endpoint),
        8080,
    );
    (original, translated)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// With one timeout for every state, a Vec of sessions predicts the table exactly: which
    /// lookups hit, which inserts are refused, and what may be evicted. The capacity is below
    /// the eviction scan, so a full table's scan sees every session.
    #[test]
    fn the_table_agrees_with_a_simple_model(ops in proptest::collection::vec(op(), 1..120)) {
        const CAPACITY: usize = 6;
        const TIMEOUT_MS: u64 = 1000;
        let one = Duration::from_millis(TIMEOUT_MS);
        let timeouts = Timeouts {
            tcp_syn_sent: one, tcp_syn_received: one, tcp_established: one, tcp_fin_wait: one,
            tcp_close_wait: one, tcp_time_wait: one, tcp_closed: one, udp: one,
            udp_stream: one, icmp: one, other: one,
        };
        let mut t = SessionTable::new(SessionConfig { capacity: CAPACITY as u32, timeouts });
        let mut model: Vec<Modeled> = Vec::new();
        let mut now = at(0);
        for op in ops {
            match op {
                Op::Insert { client, endpoint, tcp } => {
                    let (original, translated) = keys_of(client, endpoint, tcp);
                    let reply = translated.reversed();
                    let live = |m: &Modeled| now < m.expires;
                    let clash = model.iter().any(|m| live(m) && [m.original, m.reply].iter().any(|k| *k == original || *k == reply));
                    let result = t.insert(original, translated, None, SYN, now);
                    if clash {
                        prop_assert_eq!(result, Err(SessionError::Exists));
                        continue;
                    }
                    // Expired sessions holding the keys are replaced.
                    model.retain(|m| live(m) || ![m.original, m.reply].iter().any(|k| *k == original || *k == reply));
                    if model.len() < CAPACITY {
                        prop_assert!(result.is_ok());
                    } else {
                        let any_expired = model.iter().any(|m| !live(m));
                        let soonest_unanswered = model.iter().filter(|m| !m.answered).map(|m| m.expires).min();
                        match result {
                            Err(e) => {
                                prop_assert_eq!(e, SessionError::Full { capacity: CAPACITY as u32 });
                                prop_assert!(!any_expired && soonest_unanswered.is_none());
                                continue;
                            }
                            Ok(_) => {
                                let victim = model.iter().position(|m| t.lookup_unchanged(&m.original).is_none()).expect("a session made room");
                                let v = model.remove(victim);
                                if any_expired {
                                    prop_assert!(!live(&v), "an expired session goes first");
                                } else {
                                    prop_assert!(!v.answered, "an answered session was evicted");
                                    prop_assert_eq!(Some(v.expires), soonest_unanswered);
                                }
                            }
                        }
                    }
                    model.push(Modeled { original, reply, expires: now.after(one), answered: false });
                }
                Op::Lookup { client, endpoint, reply } => {
                    let (original, translated) = keys_of(client, endpoint, client % 2 == 0);
                    let key = if reply { translated.reversed() } else { original };
                    let found = model.iter().position(|m| m.original == key || m.reply == key);
                    let got = t.lookup(&key, now);
                    match found {
                        Some(i) if now < model[i].expires => {
                            let (id, dir) = got.expect("a live session is found");
                            prop_assert_eq!(dir, if model[i].original == key { O } else { R });
                            prop_assert_eq!(t.get(id).original, model[i].original);
                        }
                        Some(i) => {
                            prop_assert!(got.is_none());
                            model.remove(i);
                        }
                        None => prop_assert!(got.is_none()),
                    }
                }
                Op::Reply { client } => {
                    let Some(i) = model.iter().position(|m| m.original.src_port == 1000 + u16::from(client)) else { continue };
                    let reply = model[i].reply;
                    match t.lookup(&reply, now) {
                        Some((id, dir)) => {
                            prop_assert_eq!(dir, R);
                            t.observe(id, dir, SYN_ACK, now);
                            model[i].answered = true;
                            model[i].expires = now.after(one);
                        }
                        None => {
                            prop_assert!(now >= model[i].expires);
                            model.remove(i);
                        }
                    }
                }
                Op::Expire { budget } => {
                    let expired = model.iter().filter(|m| now >= m.expires).count();
                    let removed = t.expire(now, budget);
                    prop_assert!(removed <= budget.min(expired));
                    model.retain(|m| t.lookup_unchanged(&m.original).is_some() || now < m.expires);
                    prop_assert_eq!(model.iter().filter(|m| now >= m.expires).count(), expired - removed);
                }
                Op::Advance { ms } => now = at(now.as_nanos() / 1_000_000 + ms),
            }
            prop_assert_eq!(t.counters().active as usize, model.len());
            prop_assert!(model.len() <= CAPACITY);
            prop_assert_eq!(t.iter().count(), model.len());
        }
    }
}

impl SessionTable {
    /// Whether a session holds `key`, expired or not, without removing it.
    fn lookup_unchanged(&self, key: &FlowKey) -> Option<(u32, Direction)> {
        self.find(key, self.hash(key)).map(|r| (r.slot, r.dir))
    }
}
