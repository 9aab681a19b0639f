//! IPv6 longest-prefix match: one hash table per prefix length present,
//! probed longest first (see the [parent module](super) for why).

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use super::{FibError, RouteMap, check_prefix, check_value, mask6};

/// The routes of one prefix length.
#[derive(Clone)]
struct LengthTable {
    len: u8,
    /// [`mask6`] of `len`, kept so that a lookup does not compute it.
    mask: u128,
    /// Network bits → value.
    routes: RouteMap<u128>,
}

/// An IPv6 route table whose lookup costs one hash probe per distinct prefix
/// length, whatever the number of routes. See the [module documentation](super).
#[derive(Clone, Default)]
pub struct Ip6Lpm {
    /// One table per length that has routes, longest first: the order a
    /// lookup probes them in. A length's table goes when its last route does.
    tables: Vec<LengthTable>,
}

impl Ip6Lpm {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts or replaces the route for `prefix/len`; returns the previous
    /// value for exactly this prefix.
    pub fn insert(
        &mut self,
        prefix: Ipv6Addr,
        len: u8,
        value: u32,
    ) -> Result<Option<u32>, FibError> {
        check_prefix(IpAddr::V6(prefix), len)?;
        check_value(value)?;
        let position = match self.position(len) {
            Ok(found) => found,
            Err(place) => {
                let table = LengthTable {
                    len,
                    mask: mask6(len),
                    routes: RouteMap::default(),
                };
                self.tables.insert(place, table);
                place
            }
        };
        Ok(self.tables[position]
            .routes
            .insert(u128::from(prefix), value))
    }

    /// Removes the route for exactly `prefix/len`; returns its value, or
    /// `None` if there was no such route.
    pub fn remove(&mut self, prefix: Ipv6Addr, len: u8) -> Result<Option<u32>, FibError> {
        check_prefix(IpAddr::V6(prefix), len)?;
        let Ok(position) = self.position(len) else {
            return Ok(None);
        };
        let table = &mut self.tables[position];
        let previous = table.routes.remove(&u128::from(prefix));
        if table.routes.is_empty() {
            self.tables.remove(position);
        }
        Ok(previous)
    }

    /// The value of the longest prefix that contains `addr`.
    #[inline]
    pub fn lookup(&self, addr: Ipv6Addr) -> Option<u32> {
        let addr = u128::from(addr);
        self.tables
            .iter()
            .find_map(|table| table.routes.get(&(addr & table.mask)).copied())
    }

    /// The value of the route for exactly `prefix/len` (no longest-prefix
    /// match); `None` also when the prefix is not valid.
    pub fn get(&self, prefix: Ipv6Addr, len: u8) -> Option<u32> {
        check_prefix(IpAddr::V6(prefix), len).ok()?;
        let position = self.position(len).ok()?;
        self.tables[position]
            .routes
            .get(&u128::from(prefix))
            .copied()
    }

    /// The number of routes.
    pub fn len(&self) -> usize {
        self.tables.iter().map(|table| table.routes.len()).sum()
    }

    /// Whether the table has no route.
    pub fn is_empty(&self) -> bool {
        // Empty length tables are dropped.
        self.tables.is_empty()
    }

    /// Every route as `(prefix, len, value)`, sorted by prefix then length.
    pub fn iter(&self) -> impl Iterator<Item = (Ipv6Addr, u8, u32)> + '_ {
        let mut all: Vec<_> = self
            .tables
            .iter()
            .flat_map(|table| {
                let len = table.len;
                table
                    .routes
                    .iter()
                    .map(move |(&addr, &value)| (Ipv6Addr::from(addr), len, value))
            })
            .collect();
        all.sort_unstable();
        all.into_iter()
    }

    /// The heap and inline bytes the table holds, the spare capacity of its
    /// vector and hash maps included.
    pub fn memory_bytes(&self) -> usize {
        size_of::<Self>()
            + self.tables.capacity() * size_of::<LengthTable>()
            + self
                .tables
                .iter()
                .map(|table| table.routes.allocation_size())
                .sum::<usize>()
    }

    /// Where the table for `len` is in `tables`, or where it would go.
    fn position(&self, len: u8) -> Result<usize, usize> {
        // Longest first: a longer table orders before `len`.
        self.tables.binary_search_by(|table| len.cmp(&table.len))
    }
}

impl fmt::Debug for Ip6Lpm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lengths: Vec<u8> = self.tables.iter().map(|table| table.len).collect();
        f.debug_struct("Ip6Lpm")
            .field("routes", &self.len())
            .field("lengths", &lengths)
            .field("memory_bytes", &self.memory_bytes())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;
    use crate::fib::{MAX_VALUE, TestRng};

    fn ip(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    /// The naive reference: every route, scanned for the longest match.
    #[derive(Default)]
    struct Reference(Vec<(u128, u8, u32)>);

    impl Reference {
        fn insert(&mut self, addr: u128, len: u8, value: u32) -> Option<u32> {
            let previous = self.remove(addr, len);
            self.0.push((addr, len, value));
            previous
        }

        fn remove(&mut self, addr: u128, len: u8) -> Option<u32> {
            let i = self.0.iter().position(|&(a, l, _)| (a, l) == (addr, len))?;
            Some(self.0.swap_remove(i).2)
        }

        fn lookup(&self, addr: u128) -> Option<u32> {
            self.0
                .iter()
                .filter(|&&(a, l, _)| addr & mask6(l) == a)
                .max_by_key(|&&(_, l, _)| l)
                .map(|&(_, _, v)| v)
        }

        /// Addresses at the edges of every route: first, last, and just outside.
        fn edges(&self) -> Vec<u128> {
            self.0
                .iter()
                .flat_map(|&(a, l, _)| {
                    let last = a | !mask6(l);
                    [a, last, a.wrapping_sub(1), last.wrapping_add(1)]
                })
                .collect()
        }
    }

    #[test]
    fn empty_table_routes_nothing() {
        let t = Ip6Lpm::new();
        assert!(t.is_empty());
        assert_eq!(t.len(), 0);
        assert_eq!(t.lookup(ip("2001:db8::1")), None);
    }

    #[test]
    fn default_route_matches_everything() {
        let mut t = Ip6Lpm::new();
        assert_eq!(t.insert(ip("::"), 0, 7), Ok(None));
        for a in [
            "::",
            "2001:db8::1",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ] {
            assert_eq!(t.lookup(ip(a)), Some(7), "{a}");
        }
        assert_eq!(t.insert(ip("::"), 0, 8), Ok(Some(7)));
        assert_eq!(t.lookup(ip("fe80::1")), Some(8));
    }

    #[test]
    fn host_routes_match_only_their_address() {
        let mut t = Ip6Lpm::new();
        t.insert(ip("fd00::1"), 128, 1).unwrap();
        t.insert(ip("fd00::2"), 128, 2).unwrap();
        assert_eq!(t.lookup(ip("fd00::1")), Some(1));
        assert_eq!(t.lookup(ip("fd00::2")), Some(2));
        assert_eq!(t.lookup(ip("fd00::3")), None);
        assert_eq!(t.lookup(ip("fd01::1")), None);
    }

    #[test]
    fn longest_of_overlapping_prefixes_wins() {
        let mut t = Ip6Lpm::new();
        t.insert(ip("::"), 0, 0).unwrap();
        t.insert(ip("fd00::"), 8, 8).unwrap();
        t.insert(ip("fd00:10::"), 64, 64).unwrap();
        t.insert(ip("fd00:10::1:0"), 112, 112).unwrap();
        t.insert(ip("fd00:10::1:5"), 128, 128).unwrap();
        assert_eq!(t.lookup(ip("2001:db8::1")), Some(0));
        assert_eq!(t.lookup(ip("fd01::1")), Some(8));
        assert_eq!(t.lookup(ip("fd00:10::2:1")), Some(64));
        assert_eq!(t.lookup(ip("fd00:10::1:6")), Some(112));
        assert_eq!(t.lookup(ip("fd00:10::1:5")), Some(128));
        assert_eq!(t.lookup(ip("fd00:11::1:5")), Some(8));
    }

    #[test]
    fn remove_restores_the_covering_prefix_and_drops_empty_lengths() {
        let mut t = Ip6Lpm::new();
        t.insert(ip("fd00::"), 48, 1).unwrap();
        t.insert(ip("fd00::"), 64, 2).unwrap();
        t.insert(ip("fd00::5"), 128, 3).unwrap();
        assert_eq!(t.remove(ip("fd00::"), 64), Ok(Some(2)));
        assert_eq!(t.lookup(ip("fd00::4")), Some(1));
        assert_eq!(t.lookup(ip("fd00::5")), Some(3));
        assert_eq!(t.remove(ip("fd00::5"), 128), Ok(Some(3)));
        assert_eq!(t.lookup(ip("fd00::5")), Some(1));
        assert_eq!(t.tables.len(), 1);
        assert_eq!(t.remove(ip("fd00::"), 48), Ok(Some(1)));
        assert!(t.is_empty());
        assert_eq!(t.lookup(ip("fd00::5")), None);
    }

    #[test]
    fn remove_of_absent_prefix_changes_nothing() {
        let mut t = Ip6Lpm::new();
        t.insert(ip("fd00::"), 64, 2).unwrap();
        assert_eq!(t.remove(ip("fd00::"), 65), Ok(None));
        assert_eq!(t.remove(ip("fd00:1::"), 64), Ok(None));
        assert_eq!(t.lookup(ip("fd00::1")), Some(2));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn bad_prefixes_and_values_are_refused_without_change() {
        let mut t = Ip6Lpm::new();
        assert!(matches!(
            t.insert(ip("fd00::"), 129, 1),
            Err(FibError::LengthTooLong {
                len: 129,
                max: 128,
                ..
            })
        ));
        assert_eq!(
            t.insert(ip("fd00::1"), 64, 1),
            Err(FibError::HostBitsSet {
                prefix: IpAddr::V6(ip("fd00::1")),
                len: 64,
                canonical: IpAddr::V6(ip("fd00::")),
            })
        );
        assert!(matches!(
            t.insert(ip("fd00::"), 64, MAX_VALUE + 1),
            Err(FibError::ValueTooLarge { .. })
        ));
        assert!(matches!(
            t.remove(ip("fd00::1"), 64),
            Err(FibError::HostBitsSet { .. })
        ));
        assert_eq!(t.get(ip("fd00::1"), 64), None);
        assert!(t.is_empty());
    }

    /// A prefix in one of a few small ranges, so that routes overlap.
    fn clustered_prefix() -> impl Strategy<Value = (u128, u8)> {
        let bases = prop::sample::select(vec![
            0xfd00_0000_0000_0000_0000_0000_0000_0000u128,
            0xfd00_0000_0000_0001_0000_0000_0000_0000,
            0x2001_0db8_0000_0000_0000_0000_0000_0000,
            0,
        ]);
        // A few bits set at the boundaries of the usual lengths.
        let spread = 0x0000_0003_0000_0001_0000_0000_0003_0103u128;
        (bases, any::<u128>(), 0u8..=128)
            .prop_map(move |(base, bits, len)| ((base | (bits & spread)) & mask6(len), len))
    }

    fn clustered_addr() -> impl Strategy<Value = u128> {
        clustered_prefix()
            .prop_map(|(a, _)| a)
            .boxed()
            .prop_union(any::<u128>().boxed())
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u128, u8, u32),
        /// Remove a prefix that may or may not be there.
        Remove(u128, u8),
        /// Remove one of the routes present, if any.
        RemovePresent(prop::sample::Index),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (clustered_prefix(), 0u32..8).prop_map(|((a, l), v)| Op::Insert(a, l, v)),
            1 => clustered_prefix().prop_map(|(a, l)| Op::Remove(a, l)),
            2 => any::<prop::sample::Index>().prop_map(Op::RemovePresent),
        ]
    }

    proptest! {
        #[test]
        fn agrees_with_a_naive_scan(
            ops in prop::collection::vec(op(), 1..120),
            probes in prop::collection::vec(clustered_addr(), 64),
        ) {
            let mut table = Ip6Lpm::new();
            let mut reference = Reference::default();
            for op in ops {
                let (addr, len, got, want) = match op {
                    Op::Insert(a, l, v) => (a, l, table.insert(a.into(), l, v), reference.insert(a, l, v)),
                    Op::Remove(a, l) => (a, l, table.remove(a.into(), l), reference.remove(a, l)),
                    Op::RemovePresent(i) => {
                        if reference.0.is_empty() {
                            continue;
                        }
                        let (a, l, _) = reference.0[i.index(reference.0.len())];
                        (a, l, table.remove(a.into(), l), reference.remove(a, l))
                    }
                };
                prop_assert_eq!(got, Ok(want), "{}/{}", Ipv6Addr::from(addr), len);
            }
            for addr in probes.iter().copied().chain(reference.edges()) {
                prop_assert_eq!(table.lookup(addr.into()), reference.lookup(addr), "lookup {}", Ipv6Addr::from(addr));
            }
            let mut expected: Vec<_> = reference.0.iter().map(|&(a, l, v)| (Ipv6Addr::from(a), l, v)).collect();
            expected.sort_unstable();
            prop_assert_eq!(table.iter().collect::<Vec<_>>(), expected.clone());
            prop_assert_eq!(table.len(), expected.len());
            for &(a, l, v) in &expected {
                prop_assert_eq!(table.get(a, l), Some(v));
            }
            // Lengths stay sorted longest first, and none is left empty.
            prop_assert!(table.tables.windows(2).all(|w| w[0].len > w[1].len));
            prop_assert!(table.tables.iter().all(|t| !t.routes.is_empty()));
        }
    }

    /// A random route of the 1M-route test: /32 to /128, under one of four /32s.
    fn random_route(rng: &mut TestRng) -> (u128, u8) {
        const BASES: [u128; 4] = [
            0xfd00_0000 << 96,
            0xfd00_0001 << 96,
            0x2001_0db8 << 96,
            0x2a00_1450 << 96,
        ];
        let len = 32 + rng.below(97) as u8;
        let bits = u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64());
        let base = BASES[rng.below(4) as usize];
        ((base | (bits & !mask6(32))) & mask6(len), len)
    }

    /// 1M random routes, then 100k lookups (half inside a route, half
    /// anywhere under the four /32s) checked against the exact-match view.
    #[test]
    fn million_routes_agree_with_the_exact_match_view() {
        let mut rng = TestRng(6);
        let mut table = Ip6Lpm::new();
        let mut inserted = Vec::with_capacity(1_000_000);
        for i in 0..1_000_000u32 {
            let (addr, len) = random_route(&mut rng);
            table.insert(addr.into(), len, i).unwrap();
            inserted.push((addr, len));
        }
        let expected: HashMap<_, _> = inserted.iter().zip(0u32..).map(|(&p, v)| (p, v)).collect();
        assert_eq!(table.len(), expected.len());
        for _ in 0..100_000 {
            let (a, l) = if rng.below(2) == 0 {
                inserted[rng.below(inserted.len() as u64) as usize]
            } else {
                random_route(&mut rng)
            };
            let host = u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64());
            let addr = a | (host & !mask6(l));
            let want = (0..=128u8)
                .rev()
                .find_map(|l| table.get(Ipv6Addr::from(addr & mask6(l)), l));
            assert_eq!(table.lookup(addr.into()), want, "{}", Ipv6Addr::from(addr));
        }
        for (&(a, l), &v) in expected.iter().take(10_000) {
            assert_eq!(table.get(a.into(), l), Some(v));
        }
    }

    /// Lookup cost and memory with 1M routes, over all 97 lengths and over
    /// the four lengths a cluster uses; run in release mode:
    /// `cargo test --release -p podwire-dataplane fib::ip6 -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, not a check; run it in release mode"]
    fn measure_million_routes() {
        // `None`: the random lengths of `random_route`.
        for cluster_lengths in [None, Some([0u8, 64, 80, 128])] {
            let mut rng = TestRng(7);
            let mut table = Ip6Lpm::new();
            let mut routes = Vec::with_capacity(1_000_000);
            for i in 0..1_000_000 {
                let (mut addr, mut len) = random_route(&mut rng);
                if let Some(lengths) = cluster_lengths {
                    len = lengths[rng.below(4) as usize];
                    addr &= mask6(len);
                }
                table.insert(addr.into(), len, i).unwrap();
                routes.push((addr, len));
            }
            // Half the addresses inside a route, half random under the same /32s.
            let addrs: Vec<Ipv6Addr> = (0..4_000_000)
                .map(|i| {
                    let (a, l) = if i % 2 == 0 {
                        routes[rng.below(routes.len() as u64) as usize]
                    } else {
                        random_route(&mut rng)
                    };
                    let host = u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64());
                    Ipv6Addr::from(a | (host & !mask6(l)))
                })
                .collect();
            let start = std::time::Instant::now();
            let hits = addrs
                .iter()
                .filter(|&&a| table.lookup(std::hint::black_box(a)).is_some())
                .count();
            let lookup = start.elapsed();
            let start = std::time::Instant::now();
            let copy = table.clone();
            let clone = start.elapsed();
            println!(
                "ip6 (lengths {cluster_lengths:?}): {} routes, {} MiB; {:.1} ns/lookup over {} addresses ({hits} hits); clone {clone:?}",
                copy.len(),
                copy.memory_bytes() >> 20,
                lookup.as_nanos() as f64 / addrs.len() as f64,
                addrs.len(),
            );
        }
    }
}
