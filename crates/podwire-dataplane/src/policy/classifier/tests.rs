//! The classifier against a brute-force model of the rules: the first rule, in add order,
//! whose peers and ports allow the traffic.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;

const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP: u8 = 1;
const SCTP: u8 = 132;

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    Ipv4Addr::new(a, b, c, d).into()
}

fn peer(prefix: (IpAddr, u8), except: &[(IpAddr, u8)]) -> PeerMatch {
    PeerMatch {
        prefix,
        except: except.to_vec(),
    }
}

fn tcp(first: u16, last: u16) -> PortMatch {
    PortMatch {
        protocol: TCP,
        ports: Some((first, last)),
    }
}

/// A rule as the model reads it.
#[derive(Clone, Debug)]
struct ModelRule {
    peers: Option<Vec<PeerMatch>>,
    ports: Option<Vec<PortMatch>>,
}

fn in_prefix(addr: IpAddr, (net, len): (IpAddr, u8)) -> bool {
    match (addr, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let len = u32::from(len.min(32));
            let m = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            u32::from(a) & m == u32::from(n) & m
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let len = u32::from(len.min(128));
            let m = u128::MAX.checked_shl(128 - len).unwrap_or(0);
            u128::from(a) & m == u128::from(n) & m
        }
        _ => false,
    }
}

/// The first rule allowing the traffic, straight from the definition.
fn model(rules: &[ModelRule], remote: IpAddr, protocol: u8, port: u16) -> Option<RuleSlot> {
    let allows = |r: &ModelRule| {
        let peer_ok = r.peers.as_ref().is_none_or(|peers| {
            peers.iter().any(|p| {
                in_prefix(remote, p.prefix) && !p.except.iter().any(|&e| in_prefix(remote, e))
            })
        });
        let port_ok = r.ports.as_ref().is_none_or(|ports| {
            ports.iter().any(|p| {
                p.protocol == protocol
                    && p.ports
                        .is_none_or(|(first, last)| first <= port && port <= last)
            })
        });
        peer_ok && port_ok
    };
    (0u32..)
        .zip(rules)
        .find(|(_, r)| allows(r))
        .map(|(i, _)| RuleSlot(100 + i))
}

fn build(rules: &[ModelRule]) -> Classifier {
    let mut b = ClassifierBuilder::new();
    for (i, r) in (0u32..).zip(rules) {
        b.add(RuleSlot(100 + i), r.peers.as_deref(), r.ports.as_deref());
    }
    b.build()
}

#[test]
fn an_empty_classifier_allows_nothing() {
    let c = ClassifierBuilder::new().build();
    assert_eq!(c.lookup(v4(10, 0, 0, 1), TCP, 80), None);
    assert_eq!(Classifier::default().lookup(v4(10, 0, 0, 1), TCP, 80), None);
}

#[test]
fn a_rule_for_everything_allows_every_protocol_and_address() {
    let mut b = ClassifierBuilder::new();
    b.add(RuleSlot(7), None, None);
    let c = b.build();
    assert_eq!(c.lookup(v4(1, 2, 3, 4), ICMP, 0), Some(RuleSlot(7)));
    assert_eq!(
        c.lookup(Ipv6Addr::LOCALHOST.into(), 58, 0),
        Some(RuleSlot(7))
    );
    assert_eq!(c.lookup(v4(1, 2, 3, 4), TCP, 65535), Some(RuleSlot(7)));
}

#[test]
fn exceptions_carve_holes_that_later_rules_may_fill() {
    let mut b = ClassifierBuilder::new();
    let block = peer((v4(10, 0, 0, 0), 8), &[(v4(10, 1, 0, 0), 16)]);
    b.add(RuleSlot(0), Some(&[block]), Some(&[tcp(80, 80)]));
    let host = peer((v4(10, 1, 2, 3), 32), &[]);
    b.add(RuleSlot(1), Some(&[host]), Some(&[tcp(1, 1000)]));
    let c = b.build();
    assert_eq!(c.lookup(v4(10, 2, 0, 1), TCP, 80), Some(RuleSlot(0)));
    assert_eq!(c.lookup(v4(10, 1, 0, 1), TCP, 80), None, "in the exception");
    assert_eq!(c.lookup(v4(10, 1, 2, 3), TCP, 80), Some(RuleSlot(1)));
    assert_eq!(c.lookup(v4(10, 1, 2, 3), TCP, 1001), None);
    assert_eq!(c.lookup(v4(10, 2, 0, 1), UDP, 80), None, "another protocol");
    assert_eq!(
        c.lookup(v4(11, 0, 0, 1), TCP, 80),
        None,
        "outside the block"
    );
}

#[test]
fn families_do_not_mix() {
    let mut b = ClassifierBuilder::new();
    b.add(RuleSlot(0), Some(&[peer((v4(0, 0, 0, 0), 0), &[])]), None);
    let c = b.build();
    assert_eq!(c.lookup(v4(8, 8, 8, 8), UDP, 53), Some(RuleSlot(0)));
    assert_eq!(c.lookup(Ipv6Addr::UNSPECIFIED.into(), UDP, 53), None);
}

#[test]
fn segments_touched_by_the_same_rules_share_a_table() {
    let mut b = ClassifierBuilder::new();
    let ports: Vec<PortMatch> = (0..1000).map(|i| tcp(2 * i, 2 * i)).collect();
    b.add(RuleSlot(0), None, Some(&ports));
    let c = b.build();
    // Even ports: the rule; odd ports: nothing. Two tables however many segments.
    assert_eq!(c.tables.len(), 2);
    assert_eq!(c.lookup(v4(1, 1, 1, 1), TCP, 998), Some(RuleSlot(0)));
    assert_eq!(c.lookup(v4(1, 1, 1, 1), TCP, 999), None);
}

#[test]
fn an_inverted_range_allows_no_port() {
    let mut b = ClassifierBuilder::new();
    b.add(RuleSlot(0), None, Some(&[tcp(90, 80)]));
    let c = b.build();
    assert_eq!(c.lookup(v4(1, 1, 1, 1), TCP, 85), None);
    assert_eq!(c.lookup(v4(1, 1, 1, 1), TCP, 90), None);
}

/// Addresses from a small space, so that rules, exceptions and lookups overlap.
fn address() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        (0u8..4, 0u8..4, any::<u8>()).prop_map(|(b, c, d)| v4(10, b, c, d)),
        (0u16..4, 0u16..4).prop_map(|(a, b)| Ipv6Addr::new(0xfd00, a, 0, 0, 0, 0, 0, b).into()),
    ]
}

fn prefix() -> impl Strategy<Value = (IpAddr, u8)> {
    (address(), any::<u8>()).prop_map(|(a, n)| {
        let lens: &[u8] = if a.is_ipv4() {
            &[0, 8, 14, 16, 24, 30, 32]
        } else {
            &[0, 16, 32, 64, 126, 128]
        };
        (a, lens[usize::from(n) % lens.len()])
    })
}

fn port() -> impl Strategy<Value = u16> {
    prop_oneof![
        Just(0u16),
        Just(79),
        Just(80),
        Just(81),
        Just(443),
        Just(65535),
        any::<u16>()
    ]
}

fn protocol() -> impl Strategy<Value = u8> {
    prop_oneof![Just(TCP), Just(UDP), Just(SCTP), Just(ICMP), Just(58)]
}

fn port_match() -> impl Strategy<Value = PortMatch> {
    (
        prop_oneof![Just(TCP), Just(UDP), Just(SCTP)],
        proptest::option::weighted(0.8, (port(), port())),
    )
        .prop_map(|(protocol, ports)| PortMatch { protocol, ports })
}

fn rule() -> impl Strategy<Value = ModelRule> {
    let peers = (prefix(), proptest::collection::vec(prefix(), 0..3))
        .prop_map(|(p, except)| PeerMatch { prefix: p, except });
    (
        proptest::option::weighted(0.85, proptest::collection::vec(peers, 0..4)),
        proptest::option::weighted(0.85, proptest::collection::vec(port_match(), 0..4)),
    )
        .prop_map(|(peers, ports)| ModelRule { peers, ports })
}

/// Builds a classifier of `rules` and checks that each lookup answers as the model.
fn agrees_with_the_model(
    rules: &[ModelRule],
    lookups: &[(IpAddr, u8, u16)],
) -> Result<(), proptest::test_runner::TestCaseError> {
    let c = build(rules);
    for &(remote, protocol, port) in lookups {
        prop_assert_eq!(
            c.lookup(remote, protocol, port),
            model(rules, remote, protocol, port),
            "{} protocol {} port {}",
            remote,
            protocol,
            port
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn the_first_allowing_rule_is_the_models(
        rules in proptest::collection::vec(rule(), 0..12),
        lookups in proptest::collection::vec((address(), protocol(), port()), 64),
    ) {
        agrees_with_the_model(&rules, &lookups)?;
    }

    #[test]
    fn many_rules_answer_as_the_model(
        rules in proptest::collection::vec(rule(), 100..300),
        lookups in proptest::collection::vec((address(), protocol(), port()), 256),
    ) {
        // Enough port ranges for a port map of many blocks.
        agrees_with_the_model(&rules, &lookups)?;
    }

    #[test]
    fn rule_boundaries_answer_as_the_model(rules in proptest::collection::vec(rule(), 1..8)) {
        // The lookups most likely to be wrong: the edges of every prefix and range.
        let c = build(&rules);
        let mut addrs = Vec::new();
        for r in &rules {
            for p in r.peers.iter().flatten() {
                addrs.push(p.prefix.0);
                addrs.extend(p.except.iter().map(|e| e.0));
            }
        }
        let mut ports = vec![0u16, 65535];
        for p in rules.iter().flat_map(|r| r.ports.iter().flatten()) {
            if let Some((first, last)) = p.ports {
                ports.extend([first.saturating_sub(1), first, last, last.saturating_add(1)]);
            }
        }
        for &remote in &addrs {
            for &port in &ports {
                for protocol in [TCP, UDP, SCTP, ICMP] {
                    prop_assert_eq!(
                        c.lookup(remote, protocol, port),
                        model(&rules, remote, protocol, port)
                    );
                }
            }
        }
    }
}

/// `n` rules each on a port of its own and `n` rules for every protocol, as many pods'
/// policies look: the classifier's bytes.
fn own_ports_and_every_protocol(n: u16) -> usize {
    let mut b = ClassifierBuilder::new();
    for i in 0..n {
        let host = peer((v4(10, 1, (i >> 8) as u8, i as u8), 32), &[]);
        b.add(
            RuleSlot(2 * u32::from(i)),
            Some(&[host]),
            Some(&[tcp(i, i)]),
        );
        let block = peer((v4(10, 2, (i >> 8) as u8, i as u8), 32), &[]);
        b.add(RuleSlot(2 * u32::from(i) + 1), Some(&[block]), None);
    }
    let c = b.build();
    // Every rule still answers for its traffic.
    assert_eq!(c.lookup(v4(10, 1, 0, 7), TCP, 7), Some(RuleSlot(14)));
    assert_eq!(c.lookup(v4(10, 1, 0, 7), TCP, 8), None);
    assert_eq!(c.lookup(v4(10, 2, 0, 7), UDP, 8), Some(RuleSlot(15)));
    c.heap_bytes()
}

#[test]
fn memory_grows_with_the_rules_not_their_square() {
    let small = own_ports_and_every_protocol(500);
    let large = own_ports_and_every_protocol(2000);
    // Four times the rules: about four times the bytes (sixteen if every port's table held
    // every rule for all protocols again).
    assert!(
        large < 6 * small,
        "{large} bytes for 4000 rules, {small} for 1000"
    );
}

#[test]
fn a_rule_for_every_port_of_a_protocol_and_a_range_take_the_first() {
    let mut b = ClassifierBuilder::new();
    let all_tcp = PortMatch {
        protocol: TCP,
        ports: None,
    };
    b.add(
        RuleSlot(0),
        Some(&[peer((v4(10, 0, 0, 0), 8), &[])]),
        Some(&[tcp(80, 80)]),
    );
    b.add(RuleSlot(1), None, Some(&[all_tcp]));
    b.add(RuleSlot(2), None, None);
    b.add(RuleSlot(3), None, Some(&[tcp(0, u16::MAX)]));
    let c = b.build();
    assert_eq!(c.lookup(v4(10, 0, 0, 1), TCP, 80), Some(RuleSlot(0)));
    assert_eq!(c.lookup(v4(11, 0, 0, 1), TCP, 80), Some(RuleSlot(1)));
    assert_eq!(c.lookup(v4(11, 0, 0, 1), UDP, 80), Some(RuleSlot(2)));
    assert_eq!(c.lookup(v4(10, 0, 0, 1), TCP, 81), Some(RuleSlot(1)));
}
