//! Steering: frames read as the sessions key them, both directions of translated flows
//! reaching one owner, keys released when their sessions end.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use etherparse::PacketBuilder;
use proptest::prelude::*;

use super::*;
use crate::nat::flow::{ICMP, TCP, UDP};
use crate::nat::service::ServiceTable;
use crate::nat::session::{SessionConfig, SessionTable, Timeouts};

const MACS: ([u8; 6], [u8; 6]) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);

fn key(protocol: u8, src: SocketAddr, dst: SocketAddr) -> FlowKey {
    FlowKey {
        src: src.ip(),
        dst: dst.ip(),
        protocol,
        src_port: src.port(),
        dst_port: dst.port(),
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("a socket address")
}

/// A frame of `key` (TCP or UDP), built by etherparse.
fn frame(key: &FlowKey) -> Vec<u8> {
    let builder = PacketBuilder::ethernet2(MACS.0, MACS.1);
    let ip = match (key.src, key.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => builder.ipv4(s.octets(), d.octets(), 64),
        (IpAddr::V6(s), IpAddr::V6(d)) => builder.ipv6(s.octets(), d.octets(), 64),
        _ => unreachable!("one family"),
    };
    let mut out = Vec::new();
    let result = match key.protocol {
        TCP => ip
            .tcp(key.src_port, key.dst_port, 1, 1000)
            .write(&mut out, b"payload"),
        _ => ip
            .udp(key.src_port, key.dst_port)
            .write(&mut out, b"payload"),
    };
    result.expect("the frame builds");
    out
}

fn sessions() -> SessionTable {
    SessionTable::new(SessionConfig {
        capacity: 1024,
        timeouts: Timeouts::default(),
    })
}

/// When the tests' flows start.
const NOW: Instant = Instant::from_nanos(1_000);

/// Steering among `workers` workers with room for `keys` owned keys, an empty session
/// table, and what was published of it.
struct Fixture {
    steering: Steering,
    table: SessionTable,
    published: Published,
}

impl Fixture {
    fn new(workers: usize, keys: usize) -> Self {
        Fixture {
            steering: Steering::new(workers, keys, vec![]),
            table: sessions(),
            published: Published::default(),
        }
    }

    /// Makes the session a ClusterIP's first packet makes on the worker rule 2 gives it,
    /// and publishes; returns the worker.
    fn dnat(&mut self, original: FlowKey, translated: FlowKey, now: Instant) -> usize {
        let me = self.steering.owner(&original, None);
        self.table
            .insert(original, translated, None, 0x02, now)
            .expect("a new session");
        self.steering.publish(
            me,
            &mut self.table,
            &[original],
            &mut self.published,
            None,
            now,
        );
        me
    }
}

#[test]
fn a_frame_gives_the_key_its_session_is_found_by() {
    let tcp = key(TCP, addr("10.1.0.2:40000"), addr("10.96.0.10:80"));
    assert_eq!(flow_of(&frame(&tcp), &[]), Some(tcp));
    let udp6 = key(UDP, addr("[fd00::2]:5353"), addr("[fd00:96::a]:53"));
    assert_eq!(flow_of(&frame(&udp6), &[]), Some(udp6));

    let mut echo = Vec::new();
    PacketBuilder::ethernet2(MACS.0, MACS.1)
        .ipv4([10, 1, 0, 2], [10, 1, 0, 3], 64)
        .icmpv4_echo_request(0x1234, 1)
        .write(&mut echo, b"ping")
        .expect("an echo request builds");
    let got = flow_of(&echo, &[]).expect("an echo has a flow");
    assert_eq!(
        (got.protocol, got.src_port, got.dst_port),
        (ICMP, 0x1234, 0x1234)
    );

    let arp = [0u8; 60];
    assert_eq!(flow_of(&arp, &[]), None, "not IP");
    assert_eq!(
        flow_of(&frame(&tcp)[..20], &[]),
        None,
        "cut before the addresses"
    );
}

#[test]
fn an_icmp_error_goes_with_the_flow_it_quotes() {
    // A backend's port unreachable about C→B: steered as a reply B→C would be.
    let about = key(UDP, addr("10.1.0.2:40000"), addr("10.1.0.9:53"));
    let quoted = &frame(&about)[14..];
    let mut error = Vec::new();
    PacketBuilder::ethernet2(MACS.1, MACS.0)
        .ipv4([10, 1, 0, 9], [10, 1, 0, 2], 64)
        .icmpv4_raw(3, 3, [0; 4])
        .write(&mut error, quoted)
        .expect("an ICMP error builds");
    assert_eq!(flow_of(&error, &[]), Some(about.reversed()));
}

#[test]
fn a_vxlan_frame_is_steered_by_the_packet_inside() {
    let inner_key = key(TCP, addr("10.2.0.5:33000"), addr("10.1.0.2:8080"));
    let inner = frame(&inner_key);
    let mut payload = vec![0x08, 0, 0, 0, 0, 0, 1, 0];
    payload.extend_from_slice(&inner);
    let mut outer = Vec::new();
    PacketBuilder::ethernet2(MACS.0, MACS.1)
        .ipv4([192, 168, 0, 2], [192, 168, 0, 1], 64)
        .udp(51234, 4789)
        .write(&mut outer, &payload)
        .expect("a VXLAN frame builds");
    assert_eq!(flow_of(&outer, &[4789]), Some(inner_key));
    let as_udp = flow_of(&outer, &[]).expect("the outer flow");
    assert_eq!(as_udp.dst_port, 4789, "not a VXLAN port: the outer flow");
}

#[test]
fn an_untranslated_flow_meets_its_reply_without_the_table() {
    let steering = Steering::new(4, 64, vec![]);
    let forward = key(TCP, addr("10.1.0.2:40000"), addr("10.1.0.3:5201"));
    assert_eq!(
        steering.owner(&forward, None),
        steering.owner(&forward.reversed(), None)
    );
    assert!(steering.owners().is_empty());
}

#[test]
fn both_directions_of_a_dnated_flow_reach_one_worker() {
    let mut f = Fixture::new(8, 1024);
    let mut moved = 0;
    for client_port in 40000..40064 {
        let original = key(
            TCP,
            addr(&format!("10.1.0.2:{client_port}")),
            addr("10.96.0.10:80"),
        );
        let translated = FlowKey {
            dst: "10.1.0.7".parse().unwrap(),
            dst_port: 8080,
            ..original
        };
        let me = f.dnat(original, translated, NOW);
        let reply = translated.reversed();
        assert_eq!(f.steering.owner(&reply, None), me, "reply of {original:?}");
        assert_eq!(
            f.steering.owner(&original, None),
            me,
            "later packets of {original:?}"
        );
        moved += usize::from(f.steering.by_hash(&reply) != me);
    }
    assert!(
        moved > 0,
        "some replies hash elsewhere: the table brought them back"
    );
    assert_eq!(
        f.published.len(),
        moved,
        "only the replies that needed it are published"
    );
}

#[test]
fn a_released_key_goes_back_to_its_hash() {
    let mut f = Fixture::new(8, 1024);
    // A masqueraded hairpin: C:cp→VIP:vp leaves as M:mp→C:bp.
    let (original, translated) = (0..64)
        .map(|port| {
            let original = key(
                UDP,
                addr(&format!("10.1.0.2:{}", 40000 + port)),
                addr("10.96.0.10:53"),
            );
            let translated = key(
                UDP,
                addr(&format!("10.1.0.1:{}", 50000 + port)),
                addr("10.1.0.2:5353"),
            );
            (original, translated)
        })
        .find(|(o, t)| f.steering.by_hash(&t.reversed()) != f.steering.by_hash(o))
        .expect("a reply that hashes elsewhere");
    let me = f.dnat(original, translated, NOW);
    assert_eq!(f.steering.owner(&translated.reversed(), None), me);

    // Alive: the sweep keeps it.
    assert_eq!(f.published.sweep(&f.steering, me, &mut f.table, NOW, 16), 0);
    // Expired (UDP, no reply): released.
    let later = NOW.after(Timeouts::default().udp + Duration::from_secs(1));
    assert_eq!(
        f.published.sweep(&f.steering, me, &mut f.table, later, 16),
        1
    );
    assert!(f.steering.owners().is_empty());
    assert_ne!(f.steering.owner(&translated.reversed(), None), me);
}

#[test]
fn a_session_made_earlier_is_not_published_again() {
    let mut f = Fixture::new(4, 64);
    let original = key(TCP, addr("10.1.0.2:40000"), addr("10.96.0.10:80"));
    let translated = FlowKey {
        dst: "10.1.0.7".parse().unwrap(),
        ..original
    };
    f.table
        .insert(original, translated, None, 0x02, NOW)
        .unwrap();
    let later = NOW.after(Duration::from_millis(1));
    let counts = f
        .steering
        .publish(0, &mut f.table, &[original], &mut f.published, None, later);
    assert_eq!(counts, PublishCounts::default());
    assert!(f.published.is_empty());
}

#[test]
fn owners_claim_and_release_as_the_owner_says() {
    let owners = FlowOwners::new(16);
    let k = key(UDP, addr("10.0.0.1:1"), addr("10.0.0.2:2"));
    assert_eq!(owners.lookup(&k), None);
    assert_eq!(owners.claim(&k, 3), Claim::Claimed);
    assert_eq!(owners.lookup(&k), Some(3));
    assert_eq!(owners.claim(&k, 5), Claim::TakenFrom(3));
    owners.release(&k, 3);
    assert_eq!(owners.lookup(&k), Some(5), "only its owner releases a key");
    owners.release(&k, 5);
    assert_eq!(owners.lookup(&k), None);
}

#[test]
fn a_claim_of_an_unowned_key_leaves_another_workers_key_alone() {
    let owners = FlowOwners::new(16);
    let k = key(UDP, addr("10.0.0.1:1"), addr("10.0.0.2:2"));
    assert_eq!(owners.claim_unowned(&k, 1), Unowned::Claimed);
    assert_eq!(
        owners.claim_unowned(&k, 1),
        Unowned::Claimed,
        "already its own"
    );
    assert_eq!(owners.claim_unowned(&k, 2), Unowned::Owned(1));
    assert_eq!(owners.lookup(&k), Some(1));
    assert_eq!(owners.len(), 1);
    owners.release(&k, 1);
    assert_eq!(owners.claim_unowned(&k, 2), Unowned::Claimed);

    let full = FlowOwners::new(1);
    let outcomes: Vec<Unowned> = (0..16u16)
        .map(|p| {
            full.claim_unowned(
                &key(UDP, addr("10.0.0.1:1"), addr(&format!("10.0.0.2:{p}"))),
                0,
            )
        })
        .collect();
    assert_eq!(
        outcomes.iter().filter(|&&o| o == Unowned::Claimed).count(),
        8
    );
    assert!(outcomes.contains(&Unowned::Full));
}

#[test]
fn of_workers_racing_for_a_key_at_most_one_wins() {
    use std::sync::Barrier;
    const WORKERS: usize = 4;
    let owners = Arc::new(FlowOwners::new(4096));
    let keys: Vec<FlowKey> = (0..1024u16)
        .map(|p| {
            key(
                TCP,
                addr("1.1.1.1:443"),
                addr(&format!("192.168.77.1:{}", 32768 + p)),
            )
        })
        .collect();
    let start = Arc::new(Barrier::new(WORKERS));
    let threads: Vec<_> = (0..WORKERS)
        .map(|me| {
            let (owners, keys, start) = (owners.clone(), keys.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                keys.iter()
                    .map(|k| owners.claim_unowned(k, me) == Unowned::Claimed)
                    .collect::<Vec<bool>>()
            })
        })
        .collect();
    let won: Vec<Vec<bool>> = threads
        .into_iter()
        .map(|t| t.join().expect("a worker thread"))
        .collect();
    for (i, k) in keys.iter().enumerate() {
        let winners: Vec<usize> = (0..WORKERS).filter(|&w| won[w][i]).collect();
        assert!(winners.len() <= 1, "{k:?} won by {winners:?}");
        assert_eq!(
            owners.lookup(k),
            winners.first().copied(),
            "{k:?}: the table names the winner"
        );
    }
}

#[test]
fn a_reply_key_claimed_with_its_port_is_released_with_its_session() {
    let mut f = Fixture::new(2, 64);
    // A pod's flow masqueraded by worker `me`, whose reply key it claimed as it chose the
    // port, whatever the reply's hash.
    let original = key(UDP, addr("10.1.0.2:40000"), addr("1.1.1.1:53"));
    let translated = FlowKey {
        src: "192.168.77.1".parse().unwrap(),
        ..original
    };
    let me = f.steering.by_hash(&original);
    assert!(f.steering.snat_claims(me).claim(&translated.reversed()));
    f.table
        .insert(original, translated, None, 0x02, NOW)
        .unwrap();
    let counts = f
        .steering
        .publish(me, &mut f.table, &[original], &mut f.published, None, NOW);
    assert_eq!((counts.claimed, counts.conflicts), (1, 0));
    assert_eq!(f.published.len(), 1, "recorded, to release");
    let later = NOW.after(Timeouts::default().udp + Duration::from_secs(1));
    assert_eq!(
        f.published.sweep(&f.steering, me, &mut f.table, later, 16),
        1
    );
    assert!(f.steering.owners().is_empty());
}

#[test]
fn a_full_table_says_so() {
    let owners = FlowOwners::new(1);
    let claims: Vec<Claim> = (0..64u16)
        .map(|p| {
            owners.claim(
                &key(
                    UDP,
                    addr("10.0.0.1:1"),
                    SocketAddr::new(Ipv4Addr::LOCALHOST.into(), p),
                ),
                0,
            )
        })
        .collect();
    assert!(claims.contains(&Claim::Full));
    assert_eq!(owners.len(), 8, "one bucket, both choices the same");
}

/// An address and port of IPv6 if `v6`, else IPv4.
fn endpoint(v6: bool) -> impl Strategy<Value = SocketAddr> {
    (any::<u128>(), any::<u16>()).prop_map(move |(a, p)| match v6 {
        true => SocketAddr::new(Ipv6Addr::from(a).into(), p),
        false => SocketAddr::new(Ipv4Addr::from(a as u32).into(), p),
    })
}

/// Four ends of one family: client, server, backend, masquerade.
fn ends() -> impl Strategy<Value = (SocketAddr, SocketAddr, SocketAddr, SocketAddr)> {
    any::<bool>().prop_flat_map(|v6| (endpoint(v6), endpoint(v6), endpoint(v6), endpoint(v6)))
}

proptest! {
    /// Any flow, translated at either end or both (DNAT, SNAT, hairpin), over any number of
    /// workers: once its first packet's worker publishes, its frames in both directions are
    /// read as the session's keys and steered to that worker.
    #[test]
    fn both_directions_of_any_flow_reach_one_owner(
        (client, server, backend, masquerade) in ends(),
        tcp in any::<bool>(),
        dnat_it in any::<bool>(),
        snat_it in any::<bool>(),
        workers in 1usize..16,
    ) {
        let protocol = if tcp { TCP } else { UDP };
        let original = key(protocol, client, server);
        let mut translated = original;
        if dnat_it {
            translated.dst = backend.ip();
            translated.dst_port = backend.port();
        }
        if snat_it {
            translated.src = masquerade.ip();
            translated.src_port = masquerade.port();
        }
        let reply = translated.reversed();
        prop_assume!(reply != original);
        let mut f = Fixture::new(workers, 64);
        let now = Instant::from_nanos(5);
        let forward_frame = frame(&original);
        let read = f.steering.flow_of(&forward_frame).expect("a flow");
        prop_assert_eq!(read, original);
        let me = f.dnat(read, translated, now);
        let reply_read = f.steering.flow_of(&frame(&reply)).expect("a flow");
        prop_assert_eq!(reply_read, reply);
        prop_assert_eq!(f.steering.owner(&reply_read, None), me);
        prop_assert_eq!(f.steering.owner(&read, None), me);
        prop_assert!(me < workers);
    }
}

/// A Service table with one ClusterIP frontend, 10.96.0.10:80/TCP, with `ClientIP` affinity
/// if `affinity`.
fn services(affinity: bool) -> ServiceTable {
    use crate::nat::service::{EndpointSet, Frontend, FrontendKey, Scope, ServicePortId};
    let mut table = ServiceTable::default();
    let endpoints = EndpointSet::new(vec![addr("10.1.0.7:8080"), addr("10.1.0.8:8080")]);
    table.insert(
        FrontendKey {
            address: Some("10.96.0.10".parse().unwrap()),
            protocol: TCP,
            port: 80,
        },
        Frontend {
            name: "default/web:80".into(),
            service_port: ServicePortId(1),
            scope: Scope::Internal,
            local_policy: false,
            cluster: endpoints.clone(),
            local: endpoints,
            affinity: affinity.then_some(Duration::from_secs(10_800)),
            source_ranges: Vec::new(),
        },
    );
    table
}

#[test]
fn a_client_of_a_frontend_with_affinity_keeps_to_one_worker() {
    let steering = Steering::new(8, 64, vec![]);
    let owners = |table: &ServiceTable| -> std::collections::BTreeSet<usize> {
        let affinity = has_affinity(table).then_some(table);
        (40000..40064)
            .map(|port| {
                let flow = key(
                    TCP,
                    addr(&format!("10.1.0.2:{port}")),
                    addr("10.96.0.10:80"),
                );
                steering.owner(&flow, affinity)
            })
            .collect()
    };
    assert_eq!(
        owners(&services(true)).len(),
        1,
        "one worker for all of a client's flows"
    );
    assert!(
        owners(&services(false)).len() > 1,
        "without affinity, flows spread"
    );
}
