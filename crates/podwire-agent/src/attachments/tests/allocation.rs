//! Which addresses are handed out, in which order, and when there are none left.

use std::cell::Cell;

use podwire_model::attach::{FailureKind, ValidAttachment};

use super::super::ipam::Pool;
use super::super::{AddError, RegistryError};
use super::*;

#[test]
fn ipv4_pool_skips_network_and_broadcast_in_order() {
    let mut pool = Pool::new(cidr("10.0.0.0/29"));
    assert_eq!(pool.capacity(), 6);
    let mut given = Vec::new();
    while let Some(next) = pool.next_free() {
        pool.take(next, true);
        given.push(next);
    }
    let expected: Vec<IpAddr> = (1..=6).map(|i| ip(&format!("10.0.0.{i}"))).collect();
    assert_eq!(given, expected);
    assert_eq!(pool.used(), 6);
    assert!(pool.is_full());
    assert!(!pool.is_usable(ip("10.0.0.0")));
    assert!(!pool.is_usable(ip("10.0.0.7")));
    assert!(!pool.is_usable(ip("10.0.0.8")));
    assert!(!pool.is_usable(ip("fd00::1")));
}

#[test]
fn ipv4_point_to_point_and_host_pools_use_every_address() {
    let pool = Pool::new(cidr("10.0.0.2/31"));
    assert_eq!(pool.capacity(), 2);
    assert_eq!(pool.next_free(), Some(ip("10.0.0.2")));
    let pool = Pool::new(cidr("10.0.0.9/32"));
    assert_eq!(pool.capacity(), 1);
    assert_eq!(pool.next_free(), Some(ip("10.0.0.9")));
}

#[test]
fn pool_ignores_host_bits_of_its_cidr() {
    let pool = Pool::new(cidr("10.0.0.77/24"));
    assert_eq!(pool.cidr(), cidr("10.0.0.0/24"));
    assert_eq!(pool.next_free(), Some(ip("10.0.0.1")));
}

#[test]
fn ipv6_pool_skips_only_the_subnet_router_anycast() {
    let mut pool = Pool::new(cidr("fd00:9::/125"));
    assert_eq!(pool.capacity(), 7);
    let mut given = Vec::new();
    while let Some(next) = pool.next_free() {
        pool.take(next, true);
        given.push(next);
    }
    let expected: Vec<IpAddr> = (1..=7).map(|i| ip(&format!("fd00:9::{i}"))).collect();
    assert_eq!(given, expected);
    assert!(!pool.is_usable(ip("fd00:9::")));
    assert_eq!(Pool::new(cidr("fd00::/127")).capacity(), 2);
    assert_eq!(Pool::new(cidr("fd00::5/128")).capacity(), 1);
}

#[test]
fn capacities_of_the_widest_pools_do_not_overflow() {
    assert_eq!(Pool::new(cidr("0.0.0.0/0")).capacity(), (1u128 << 32) - 2);
    assert_eq!(Pool::new(cidr("::/0")).capacity(), u128::MAX);
    assert_eq!(Pool::new(cidr("fd00::/64")).capacity(), (1u128 << 64) - 1);
}

#[test]
fn ipv6_slash_64_wraps_without_walking_the_pool() {
    // Were the pool enumerated, this would not finish.
    let mut pool = Pool::new(cidr("fd00:1::/64"));
    let last = ip("fd00:1::ffff:ffff:ffff:ffff");
    assert!(pool.set_cursor(Some(ip("fd00:1::ffff:ffff:ffff:fffe"))));
    assert_eq!(pool.next_free(), Some(last));
    pool.take(last, true);
    assert_eq!(pool.next_free(), Some(ip("fd00:1::1")));
    for _ in 0..1000 {
        let next = pool.next_free().expect("a /64 has room");
        pool.take(next, true);
    }
    assert_eq!(pool.used(), 1001);
    assert_eq!(pool.cursor(), Some(ip("fd00:1::3e8")));
    // A cursor right before a long run of taken addresses skips the run.
    assert!(pool.set_cursor(Some(last)));
    assert_eq!(pool.next_free(), Some(ip("fd00:1::3e9")));
}

#[test]
fn ipv6_slash_0_at_the_top_wraps_to_the_bottom() {
    let mut pool = Pool::new(cidr("::/0"));
    let top = ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    assert!(pool.set_cursor(Some(top)));
    assert_eq!(pool.next_free(), Some(ip("::1")));
    pool.take(ip("::1"), false);
    assert_eq!(pool.next_free(), Some(ip("::2")));
}

#[test]
fn a_cursor_outside_the_pool_is_refused() {
    let mut pool = Pool::new(cidr("10.0.0.0/29"));
    assert!(!pool.set_cursor(Some(ip("10.0.0.7"))));
    assert!(!pool.set_cursor(Some(ip("fd00::1"))));
    assert_eq!(pool.cursor(), None);
}

#[test]
fn dual_stack_gives_one_address_of_each_family_ipv4_first() {
    // Listed IPv6 first: the allocation is still IPv4 first.
    let (_dir, mut registry) =
        open_new(&[network("default", &["fd00:251::/112", "10.251.0.0/24"])]);
    let first = add_ok(&mut registry, &key("default", "c1", "eth0"));
    assert_eq!(first, vec![ip("10.251.0.1"), ip("fd00:251::1")]);
    let second = add_ok(&mut registry, &key("default", "c2", "eth0"));
    assert_eq!(second, vec![ip("10.251.0.2"), ip("fd00:251::2")]);
}

#[test]
fn single_stack_networks_give_one_address() {
    let (_dir, mut registry) = open_new(&[
        network("v4", &["10.1.0.0/24"]),
        network("v6", &["fd00:1::/64"]),
    ]);
    assert_eq!(
        add_ok(&mut registry, &key("v4", "c1", "eth0")),
        vec![ip("10.1.0.1")]
    );
    assert_eq!(
        add_ok(&mut registry, &key("v6", "c1", "net1")),
        vec![ip("fd00:1::1")]
    );
}

#[test]
fn a_network_without_pools_attaches_without_addresses() {
    let (_dir, mut registry) = open_new(&[network("memif", &[])]);
    assert_eq!(
        add_ok(&mut registry, &key("memif", "c1", "memif0")),
        Vec::<IpAddr>::new()
    );
    assert!(registry.status()[0].ready);
}

#[test]
fn adding_an_existing_key_is_refused_without_calling_plan() {
    let (_dir, mut registry) = open_new(&[network("default", &["10.0.0.0/24"])]);
    let k = key("default", "c1", "eth0");
    add_ok(&mut registry, &k);
    let planned = Cell::new(false);
    let err = registry
        .add(&k, |a| {
            planned.set(true);
            Ok::<_, Infallible>(attachment(&k, a))
        })
        .expect_err("second ADD is refused");
    assert!(!planned.get());
    assert!(matches!(
        err,
        AddError::Registry(RegistryError::AlreadyExists { .. })
    ));
    assert_eq!(err.failure_kind(), Some(FailureKind::AlreadyExists));
    assert!(
        err.to_string()
            .contains("eth0 of container c1 on network default exists already"),
        "{err}"
    );
    assert_eq!(registry.len(), 1);
}

#[test]
fn an_unknown_network_is_refused_naming_the_known_ones() {
    let (_dir, mut registry) = open_new(&[
        network("a", &["10.0.0.0/24"]),
        network("b", &["10.0.1.0/24"]),
    ]);
    let err = add(&mut registry, &key("c", "c1", "eth0")).expect_err("no network c");
    assert_eq!(err.failure_kind(), Some(FailureKind::Invalid));
    let message = err.to_string();
    assert!(
        message.contains("\"c\"") && message.contains("a, b"),
        "{message}"
    );
    assert!(registry.is_empty());
}

#[test]
fn a_slash_30_is_exhausted_after_two_adds() {
    let (_dir, mut registry) = open_new(&[network("default", &["10.0.0.0/30", "fd00::/120"])]);
    assert_eq!(
        add_ok(&mut registry, &key("default", "c1", "eth0"))[0],
        ip("10.0.0.1")
    );
    assert_eq!(
        add_ok(&mut registry, &key("default", "c2", "eth0"))[0],
        ip("10.0.0.2")
    );
    let err = add(&mut registry, &key("default", "c3", "eth0")).expect_err("a /30 holds two");
    match &err {
        AddError::Registry(RegistryError::Exhausted {
            cidr: full,
            used,
            capacity,
            ..
        }) => {
            assert_eq!(*full, cidr("10.0.0.0/30"));
            assert_eq!((*used, *capacity), (2, 2));
        }
        other => panic!("expected Exhausted, got {other:?}"),
    }
    assert_eq!(err.failure_kind(), Some(FailureKind::Exhausted));
    let message = err.to_string();
    assert!(
        message.contains("10.0.0.0/30") && message.contains("2 of 2"),
        "{message}"
    );
    assert!(
        message.contains("DEL or GC") && message.contains("widen pod_cidrs"),
        "{message}"
    );
    // Nothing of the failed ADD is left, not even its IPv6 address.
    assert_eq!(registry.len(), 2);
    let v6 = &registry.status()[0].pools[1];
    assert_eq!(v6.used, 2);
}

#[test]
fn remove_frees_but_round_robin_reuses_only_after_wrapping() {
    let (_dir, mut registry) = open_new(&[network("default", &["10.0.0.0/29"])]);
    let a = key("default", "a", "eth0");
    assert_eq!(add_ok(&mut registry, &a), vec![ip("10.0.0.1")]);
    assert_eq!(
        add_ok(&mut registry, &key("default", "b", "eth0")),
        vec![ip("10.0.0.2")]
    );
    let removed = registry.remove(&a).expect("remove").expect("a existed");
    assert_eq!(removed.key, a);
    assert!(registry.get(&a).is_none());
    // .1 is free, but not handed out again before the pool wraps.
    let mut next = Vec::new();
    for c in ["c", "d", "e", "f", "g"] {
        next.extend(add_ok(&mut registry, &key("default", c, "eth0")));
    }
    let expected: Vec<IpAddr> = ["10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6", "10.0.0.1"]
        .iter()
        .map(|a| ip(a))
        .collect();
    assert_eq!(next, expected);
    assert!(add(&mut registry, &key("default", "h", "eth0")).is_err());
}

#[test]
fn the_address_handed_out_last_is_the_last_candidate() {
    let (_dir, mut registry) = open_new(&[network("default", &["10.0.0.0/30"])]);
    let a = key("default", "a", "eth0");
    let b = key("default", "b", "eth0");
    add_ok(&mut registry, &a);
    assert_eq!(add_ok(&mut registry, &b), vec![ip("10.0.0.2")]);
    registry.remove(&b).expect("remove b");
    // Only .2 (the cursor itself) is free: it is found after wrapping.
    assert_eq!(add_ok(&mut registry, &b), vec![ip("10.0.0.2")]);
}

#[test]
fn remove_is_idempotent() {
    let (_dir, mut registry) = open_new(&[network("default", &["10.0.0.0/24"])]);
    let k = key("default", "c1", "eth0");
    assert!(registry.remove(&k).expect("remove").is_none());
    add_ok(&mut registry, &k);
    assert!(registry.remove(&k).expect("remove").is_some());
    assert!(registry.remove(&k).expect("remove").is_none());
}

#[test]
fn a_failing_plan_keeps_nothing() {
    let (dir, mut registry) = open_new(&[network("default", &["10.0.0.0/24", "fd00::/64"])]);
    let k = key("default", "c1", "eth0");
    let err = registry
        .add(&k, |_| Err::<Attachment, _>("no tap for you"))
        .expect_err("plan fails");
    assert!(matches!(err, AddError::Plan("no tap for you")));
    assert_eq!(err.failure_kind(), None);
    assert!(registry.get(&k).is_none());
    assert!(
        !dir.path().join(super::super::STATE_FILE).exists(),
        "nothing was saved"
    );
    assert!(registry.status()[0].pools.iter().all(|p| p.used == 0));
    // The addresses it would have had are still the next ones.
    assert_eq!(
        add_ok(&mut registry, &k),
        vec![ip("10.0.0.1"), ip("fd00::1")]
    );
    // Once a file exists, a failing plan leaves it as it was.
    let before = std::fs::read(registry.state_file()).expect("state file");
    let other = key("default", "c2", "eth0");
    assert!(
        registry
            .add(&other, |_| Err::<Attachment, _>("no"))
            .is_err()
    );
    assert_eq!(
        std::fs::read(registry.state_file()).expect("state file"),
        before
    );
}

#[test]
fn a_plan_with_other_addresses_is_refused() {
    let (_dir, mut registry) = open_new(&[network("default", &["10.0.0.0/24"])]);
    let k = key("default", "c1", "eth0");
    let err = registry
        .add(&k, |_| {
            Ok::<_, Infallible>(attachment(&k, &[ip("10.0.0.200")]))
        })
        .expect_err("addresses differ");
    assert!(matches!(
        err,
        AddError::Registry(RegistryError::PlanMismatch { .. })
    ));
    assert!(
        err.to_string().contains("10.0.0.200") && err.to_string().contains("10.0.0.1"),
        "{err}"
    );
    assert!(registry.is_empty());
    assert_eq!(add_ok(&mut registry, &k), vec![ip("10.0.0.1")]);
}

#[test]
fn plan_may_choose_prefix_lengths_and_the_key_is_the_registrys() {
    let (_dir, mut registry) = open_new(&[network("default", &["10.0.0.0/24"])]);
    let k = key("default", "c1", "eth0");
    let added = registry
        .add(&k, |a| {
            let mut bridged = attachment(&key("default", "other", "x"), a);
            bridged.addresses = vec![Cidr::new(a[0], 24).expect("valid")];
            Ok::<_, Infallible>(bridged)
        })
        .expect("add");
    assert_eq!(added.key, k);
    assert_eq!(added.addresses, vec![cidr("10.0.0.1/24")]);
}

#[test]
fn stale_lists_the_networks_other_attachments_in_order() {
    let (_dir, mut registry) = open_new(&[
        network("a", &["10.0.0.0/24"]),
        network("b", &["10.0.1.0/24"]),
    ]);
    for k in [
        key("a", "c2", "net1"),
        key("a", "c1", "eth0"),
        key("a", "c2", "eth0"),
        key("b", "c3", "eth0"),
    ] {
        add_ok(&mut registry, &k);
    }
    let valid = [ValidAttachment {
        container_id: "c2".into(),
        ifname: "eth0".into(),
    }];
    assert_eq!(
        registry.stale("a", "", &valid),
        vec![key("a", "c1", "eth0"), key("a", "c2", "net1")]
    );
    assert_eq!(
        registry.stale("b", "", &valid),
        vec![key("b", "c3", "eth0")]
    );
    assert_eq!(
        registry.stale(
            "b",
            "",
            &[ValidAttachment {
                container_id: "c3".into(),
                ifname: "eth0".into()
            }]
        ),
        vec![]
    );
    assert_eq!(registry.stale("nope", "", &[]), vec![]);
}

#[test]
fn iter_is_ordered_by_key() {
    let (_dir, mut registry) = open_new(&[
        network("a", &["10.0.0.0/24"]),
        network("b", &["10.0.1.0/24"]),
    ]);
    let keys = [
        key("b", "c1", "eth0"),
        key("a", "c9", "eth0"),
        key("a", "c1", "net1"),
        key("a", "c1", "eth0"),
    ];
    for k in &keys {
        add_ok(&mut registry, k);
    }
    let mut sorted = keys.to_vec();
    sorted.sort();
    let listed: Vec<_> = registry.iter().map(|a| a.key.clone()).collect();
    assert_eq!(listed, sorted);
}

#[test]
fn status_counts_pools_and_attachments_and_says_when_full() {
    let (_dir, mut registry) = open_new(&[
        network("a", &["10.0.0.0/30", "fd00::/64"]),
        network("b", &[]),
    ]);
    let status = registry.status();
    assert_eq!(status.len(), 2);
    assert_eq!(
        (status[0].name.as_str(), status[1].name.as_str()),
        ("a", "b")
    );
    assert!(status[0].ready && status[0].reason.is_none());
    assert_eq!(status[0].pools[0].capacity, 2);
    assert_eq!(status[0].pools[1].capacity, (1u128 << 64) - 1);
    add_ok(&mut registry, &key("a", "c1", "eth0"));
    let status = registry.status();
    assert!(status[0].ready);
    assert_eq!(status[0].attachments, 1);
    assert_eq!(status[0].pools[0].used, 1);
    assert_eq!(status[0].pools[1].used, 1);
    add_ok(&mut registry, &key("a", "c2", "eth0"));
    let status = registry.status();
    assert!(!status[0].ready);
    let reason = status[0]
        .reason
        .as_deref()
        .expect("a reason when not ready");
    assert!(
        reason.contains("10.0.0.0/30") && !reason.contains("fd00"),
        "{reason}"
    );
    assert_eq!(status[0].attachments, 2);
    assert!(status[1].ready);
    assert_eq!(status[1].attachments, 0);
}

#[test]
fn gc_of_one_network_config_leaves_another_configs_attachments_alone() {
    let (_dir, mut registry) = open_new(&[network("a", &["10.0.0.0/24"])]);
    for (cni_network, id, ifname) in [("first", "c1", "eth0"), ("second", "c1", "net1")] {
        let k = key("a", id, ifname);
        registry
            .add(&k, |addresses| {
                Ok::<_, Infallible>(Attachment {
                    cni_network: cni_network.to_owned(),
                    ..attachment(&k, addresses)
                })
            })
            .unwrap_or_else(|e| panic!("adding {k} failed: {e}"));
    }
    // The runtime's GC for config "first" lists only its own attachments; "second"'s net1
    // is not stale for it.
    assert_eq!(
        registry.stale("a", "first", &[]),
        vec![key("a", "c1", "eth0")]
    );
    assert_eq!(
        registry.stale("a", "second", &[]),
        vec![key("a", "c1", "net1")]
    );
}
