use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::*;

const TIMEOUT: Duration = Duration::from_secs(10_800);

fn at(secs: u64) -> Instant {
    Instant::from_nanos(secs * 1_000_000_000)
}

fn client(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n))
}

fn endpoint(n: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 1, 0, n)), 8080)
}

const PORT: ServicePortId = ServicePortId(1);

#[test]
fn a_client_sticks_to_its_endpoint_while_it_keeps_coming_back() {
    let mut t = AffinityTable::new(16);
    assert_eq!(t.lookup(PORT, client(1), TIMEOUT, at(0), |_| true), None);
    t.record(PORT, client(1), endpoint(1), at(0));
    // Each use refreshes the entry: it lives TIMEOUT from the last use, not the first.
    let mut now = 0;
    for _ in 0..5 {
        now += TIMEOUT.as_secs() - 1;
        assert_eq!(
            t.lookup(PORT, client(1), TIMEOUT, at(now), |_| true),
            Some(endpoint(1))
        );
    }
    assert_eq!(
        t.lookup(PORT, client(2), TIMEOUT, at(now), |_| true),
        None,
        "another client"
    );
    assert_eq!(
        t.lookup(ServicePortId(2), client(1), TIMEOUT, at(now), |_| true),
        None,
        "another port"
    );
    now += TIMEOUT.as_secs();
    assert_eq!(
        t.lookup(PORT, client(1), TIMEOUT, at(now), |_| true),
        None,
        "expired"
    );
    assert!(t.is_empty(), "an expired entry found is removed");
}

#[test]
fn an_endpoint_no_longer_usable_is_not_returned() {
    let mut t = AffinityTable::new(16);
    t.record(PORT, client(1), endpoint(1), at(0));
    assert_eq!(
        t.lookup(PORT, client(1), TIMEOUT, at(1), |e| e != endpoint(1)),
        None
    );
    // The caller picks another endpoint and records it.
    t.record(PORT, client(1), endpoint(2), at(1));
    assert_eq!(
        t.lookup(PORT, client(1), TIMEOUT, at(2), |_| true),
        Some(endpoint(2))
    );
    assert_eq!(t.len(), 1);
}

#[test]
fn a_full_table_gives_way_to_the_entry_used_longest_ago() {
    let mut t = AffinityTable::new(8);
    for n in 0..8 {
        t.record(PORT, client(n), endpoint(n as u8), at(u64::from(n) + 1));
    }
    // Client 0, used first, is used again last: client 1 is now the oldest.
    assert!(
        t.lookup(PORT, client(0), TIMEOUT, at(100), |_| true)
            .is_some()
    );
    t.record(PORT, client(100), endpoint(100), at(101));
    assert_eq!(t.len(), 8);
    assert_eq!(t.lookup(PORT, client(1), TIMEOUT, at(102), |_| true), None);
    for n in [0, 2, 3, 4, 5, 6, 7, 100] {
        assert!(
            t.lookup(PORT, client(n), TIMEOUT, at(102), |_| true)
                .is_some(),
            "client {n}"
        );
    }
}

#[test]
fn a_flood_of_clients_never_grows_the_table_past_its_capacity() {
    let mut t = AffinityTable::new(100);
    for n in 0..10_000 {
        t.record(PORT, client(n), endpoint(1), at(u64::from(n)));
        assert!(t.len() <= 100);
    }
    // Every entry still left is found where the index says.
    let found = (0..10_000)
        .filter(|&n| {
            t.lookup(PORT, client(n), TIMEOUT, at(10_000), |_| true)
                .is_some()
        })
        .count();
    assert_eq!(found, 100);
}

#[test]
fn a_zero_capacity_table_holds_nothing() {
    let mut t = AffinityTable::new(0);
    t.record(PORT, client(1), endpoint(1), at(0));
    assert!(t.is_empty());
}

#[test]
fn expire_removes_old_entries_within_its_budget() {
    let mut t = AffinityTable::new(1000);
    for n in 0..100 {
        t.record(PORT, client(n), endpoint(1), at(0));
    }
    for n in 100..150 {
        t.record(PORT, client(n), endpoint(2), at(50));
    }
    let max = Duration::from_secs(60);
    assert_eq!(t.expire(at(59), max, 1000), 0, "nothing old enough");
    assert_eq!(t.expire(at(60), max, 10), 10);
    assert_eq!(t.len(), 140);
    let mut rounds = 0;
    while t.len() > 50 {
        assert!(t.expire(at(60), max, 7) <= 7);
        rounds += 1;
        assert!(rounds < 100, "the sweep goes round the table");
    }
    assert_eq!(t.expire(at(60), max, 1000), 0);
    for n in 100..150 {
        assert_eq!(
            t.lookup(PORT, client(n), max, at(60), |_| true),
            Some(endpoint(2))
        );
    }
}
