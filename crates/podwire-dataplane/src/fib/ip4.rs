//! IPv4 longest-prefix match: a 16-8-8 multibit trie.
//!
//! All slots live in one flat vector: the root's 65536 slots first, then
//! every ply's 256. A slot holds 0 (no route), `value + 1` (a route: routes
//! are pushed down to every slot they cover), or [`PLY_FLAG`] and a ply
//! number. Beside each slot, a control-plane-only byte records the length of
//! the prefix the slot's route came from, so an insert only overwrites slots
//! whose route is no longer than its own, and a remove only rewrites the slots
//! that were its own. The exact set of routes is kept in one hash map per
//! length: it answers `get` and `iter`, and tells a remove what its slots fall
//! back to (the longest shorter route that covers it).
//!
//! Invariant: a ply exists only while some route longer than its parent slot
//! lies inside that slot. A remove frees the plies that stop being needed, so
//! the trie is the same whatever the order of the updates that built it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use super::{FibError, RouteMap, check_prefix, check_value, mask4};

/// Slots in the root: one per /16.
const ROOT_SLOTS: usize = 1 << 16;
/// Slots in a ply: one per value of the next address byte.
const PLY_SLOTS: usize = 1 << 8;
/// The content of a slot that no route covers.
const EMPTY: u32 = 0;
/// Marks a slot that points to a ply; the other 31 bits are the ply's number.
const PLY_FLAG: u32 = 1 << 31;
/// One exact-match map per prefix length, 0 to 32.
const LENGTHS: usize = 33;

/// One level of the trie.
#[derive(Clone, Copy)]
struct Level {
    /// How many leading address bits the level's slots have consumed.
    end: u8,
    /// How many address bits index a slot of this level.
    stride: u8,
}

impl Level {
    /// The index of the slot for `addr` within a table of this level.
    fn slot(self, addr: u32) -> usize {
        ((addr >> (32 - self.end)) & ((1 << self.stride) - 1)) as usize
    }
}

/// The root, the ply for the third byte, the ply for the fourth byte.
const LEVELS: [Level; 3] = [
    Level {
        end: 16,
        stride: 16,
    },
    Level { end: 24, stride: 8 },
    Level { end: 32, stride: 8 },
];

/// Where the slots of the ply a slot points to begin, if it points to one.
#[inline]
fn ply_base(slot: u32) -> Option<usize> {
    (slot & PLY_FLAG != 0).then(|| ROOT_SLOTS + (slot & !PLY_FLAG) as usize * PLY_SLOTS)
}

/// The route value a slot holds, if it holds one.
#[inline]
fn route_value(slot: u32) -> Option<u32> {
    if slot & PLY_FLAG != 0 {
        return None;
    }
    slot.checked_sub(1)
}

/// What a route update does to the leaf slots its prefix covers.
#[derive(Clone, Copy)]
enum Update {
    /// A route of length `len` was inserted or replaced: it takes every slot
    /// whose route is no longer than itself.
    Insert { len: u8, slot: u32 },
    /// The route of length `len` was removed: the slots that were its own fall
    /// back to `cover`, the longest shorter route covering it, of length `cover_len`.
    Remove { len: u8, cover: u32, cover_len: u8 },
}

impl Update {
    fn len(self) -> u8 {
        match self {
            Self::Insert { len, .. } | Self::Remove { len, .. } => len,
        }
    }

    /// The new content and prefix length of a covered leaf slot whose route
    /// has length `slot_len`, or `None` to leave it as it is.
    fn rewrite(self, slot_len: u8) -> Option<(u32, u8)> {
        match self {
            Self::Insert { len, slot } => (slot_len <= len).then_some((slot, len)),
            Self::Remove {
                len,
                cover,
                cover_len,
            } => (slot_len == len).then_some((cover, cover_len)),
        }
    }
}

/// An IPv4 route table with longest-prefix-match lookup in at most three
/// dependent memory loads. See the [module documentation](super).
#[derive(Clone)]
pub struct Ip4Lpm {
    /// The root's slots, then each ply's; the only field `lookup` reads.
    slots: Vec<u32>,
    /// For each leaf slot, the length of the prefix its route came from.
    /// Kept apart from `slots` so that lookups do not load it.
    slot_lens: Vec<u8>,
    /// Numbers of plies freed by removals, reused before the vector grows.
    free_plies: Vec<u32>,
    /// The routes, one map per prefix length: network bits → value.
    routes: Vec<RouteMap<u32>>,
}

impl Ip4Lpm {
    /// An empty table (it allocates the 320 KiB root).
    pub fn new() -> Self {
        Self {
            slots: vec![EMPTY; ROOT_SLOTS],
            slot_lens: vec![0; ROOT_SLOTS],
            free_plies: Vec::new(),
            routes: (0..LENGTHS).map(|_| RouteMap::default()).collect(),
        }
    }

    /// Inserts or replaces the route for `prefix/len`; returns the previous
    /// value for exactly this prefix.
    ///
    /// The cost is proportional to the slots the prefix covers, including
    /// those of the plies below it: a /8 over a full table touches up to
    /// 65536 of them.
    pub fn insert(
        &mut self,
        prefix: Ipv4Addr,
        len: u8,
        value: u32,
    ) -> Result<Option<u32>, FibError> {
        check_prefix(IpAddr::V4(prefix), len)?;
        check_value(value)?;
        let addr = u32::from(prefix);
        let previous = self.routes[usize::from(len)].insert(addr, value);
        if previous != Some(value) {
            let slot = value + 1;
            self.update(0, 0, addr, Update::Insert { len, slot });
        }
        Ok(previous)
    }

    /// Removes the route for exactly `prefix/len`; returns its value, or
    /// `None` if there was no such route. Addresses it covered fall back to
    /// the longest shorter route that covers them.
    pub fn remove(&mut self, prefix: Ipv4Addr, len: u8) -> Result<Option<u32>, FibError> {
        check_prefix(IpAddr::V4(prefix), len)?;
        let addr = u32::from(prefix);
        let Some(value) = self.routes[usize::from(len)].remove(&addr) else {
            return Ok(None);
        };
        let (cover, cover_len) = self.covering_route(addr, len);
        self.update(
            0,
            0,
            addr,
            Update::Remove {
                len,
                cover,
                cover_len,
            },
        );
        Ok(Some(value))
    }

    /// The value of the longest prefix that contains `addr`.
    #[inline]
    pub fn lookup(&self, addr: Ipv4Addr) -> Option<u32> {
        let addr = u32::from(addr);
        let mut slot = self.slot(LEVELS[0].slot(addr));
        for level in &LEVELS[1..] {
            let Some(base) = ply_base(slot) else { break };
            slot = self.slot(base + level.slot(addr));
        }
        route_value(slot)
    }

    /// Looks up every address of `addrs`, writing to `values` what
    /// [`lookup`](Self::lookup) returns for each; pairs past the end of the
    /// shorter slice are left alone.
    ///
    /// The trie is walked level by level across the addresses rather than
    /// address by address: the loads of one level do not depend on one
    /// another, so the processor overlaps their cache misses instead of
    /// waiting for each in turn. In a large table these misses are most of
    /// the cost of a lookup.
    pub fn lookup_many(&self, addrs: &[Ipv4Addr], values: &mut [Option<u32>]) {
        // Addresses walked together: enough misses in flight to keep the
        // memory system busy, few enough to keep the slots in registers and L1.
        const BATCH: usize = 64;
        for (addrs, values) in addrs.chunks(BATCH).zip(values.chunks_mut(BATCH)) {
            let mut slots = [EMPTY; BATCH];
            for (slot, &addr) in slots.iter_mut().zip(addrs) {
                *slot = self.slot(LEVELS[0].slot(u32::from(addr)));
            }
            for level in &LEVELS[1..] {
                for (slot, &addr) in slots.iter_mut().zip(addrs) {
                    // Without a branch that the mix of routes and plies
                    // would mispredict: a slot that holds a route reads the
                    // first root slot (always cached) and keeps its content.
                    let base = ply_base(*slot);
                    let below =
                        self.slot(base.map_or(0, |base| base + level.slot(u32::from(addr))));
                    *slot = if base.is_some() { below } else { *slot };
                }
            }
            for (value, &slot) in values.iter_mut().zip(&slots[..addrs.len()]) {
                *value = route_value(slot);
            }
        }
    }

    /// The value of the route for exactly `prefix/len` (no longest-prefix
    /// match); `None` also when the prefix is not valid.
    pub fn get(&self, prefix: Ipv4Addr, len: u8) -> Option<u32> {
        check_prefix(IpAddr::V4(prefix), len).ok()?;
        self.routes[usize::from(len)]
            .get(&u32::from(prefix))
            .copied()
    }

    /// The number of routes.
    pub fn len(&self) -> usize {
        self.routes.iter().map(RouteMap::len).sum()
    }

    /// Whether the table has no route.
    pub fn is_empty(&self) -> bool {
        self.routes.iter().all(RouteMap::is_empty)
    }

    /// Every route as `(prefix, len, value)`, sorted by prefix then length.
    pub fn iter(&self) -> impl Iterator<Item = (Ipv4Addr, u8, u32)> + '_ {
        let mut all: Vec<_> = (0u8..)
            .zip(&self.routes)
            .flat_map(|(len, routes)| {
                routes
                    .iter()
                    .map(move |(&addr, &value)| (Ipv4Addr::from(addr), len, value))
            })
            .collect();
        all.sort_unstable();
        all.into_iter()
    }

    /// The heap and inline bytes the table holds, the spare capacity of its
    /// vectors and hash maps included.
    pub fn memory_bytes(&self) -> usize {
        size_of::<Self>()
            + self.slots.capacity() * size_of::<u32>()
            + self.slot_lens.capacity()
            + self.free_plies.capacity() * size_of::<u32>()
            + self.routes.capacity() * size_of::<RouteMap<u32>>()
            + self
                .routes
                .iter()
                .map(RouteMap::allocation_size)
                .sum::<usize>()
    }

    /// Plies currently part of the trie (not freed).
    fn plies_in_use(&self) -> usize {
        (self.slots.len() - ROOT_SLOTS) / PLY_SLOTS - self.free_plies.len()
    }

    /// The slot at `index`. Indices come from the trie itself and are always
    /// in bounds; `get` keeps the lookup free of a panic path all the same.
    #[inline]
    fn slot(&self, index: usize) -> u32 {
        self.slots.get(index).copied().unwrap_or(EMPTY)
    }

    /// The slot content and length of the longest route shorter than `len`
    /// that covers `addr/len`, or an empty slot.
    fn covering_route(&self, addr: u32, len: u8) -> (u32, u8) {
        (0..len)
            .rev()
            .find_map(|l| {
                let value = self.routes[usize::from(l)].get(&(addr & mask4(l)))?;
                Some((value + 1, l))
            })
            .unwrap_or((EMPTY, 0))
    }

    /// Applies `update` for the prefix `addr/update.len()` to the table of
    /// level `level` whose slots start at `table`.
    fn update(&mut self, table: usize, level: usize, addr: u32, update: Update) {
        let Level { end, .. } = LEVELS[level];
        let slot = table + LEVELS[level].slot(addr);
        let len = update.len();
        if len <= end {
            // The prefix covers whole slots of this level.
            let span = 1 << (end - len);
            for covered in slot..slot + span {
                self.update_covered(covered, update);
            }
            return;
        }
        // The prefix lies inside one slot: go down to the next level.
        let child = match update {
            Update::Insert { .. } => Some(self.split(slot)),
            // No ply means no route longer than `end` in this slot: nothing to remove.
            Update::Remove { .. } => ply_base(self.slots[slot]),
        };
        if let Some(child) = child {
            self.update(child, level + 1, addr, update);
            self.collapse_if_uniform(slot, child, end);
        }
    }

    /// Applies `update` to a slot that its prefix covers whole, and to every
    /// slot of the plies below it.
    fn update_covered(&mut self, slot: usize, update: Update) {
        if let Some(child) = ply_base(self.slots[slot]) {
            for covered in child..child + PLY_SLOTS {
                self.update_covered(covered, update);
            }
        } else if let Some((content, len)) = update.rewrite(self.slot_lens[slot]) {
            self.slots[slot] = content;
            self.slot_lens[slot] = len;
        }
    }

    /// Makes the slot at `slot` point to a ply and returns where the ply's
    /// slots begin. A new ply starts with 256 copies of the route it replaces.
    fn split(&mut self, slot: usize) -> usize {
        if let Some(child) = ply_base(self.slots[slot]) {
            return child;
        }
        let number = self.free_plies.pop().unwrap_or_else(|| {
            let number = (self.slots.len() - ROOT_SLOTS) / PLY_SLOTS;
            // 2^31 plies would take 2 TiB of slots: allocation fails long before.
            assert!(
                number < PLY_FLAG as usize,
                "the IPv4 trie is out of ply numbers"
            );
            self.slots.resize(self.slots.len() + PLY_SLOTS, EMPTY);
            self.slot_lens.resize(self.slot_lens.len() + PLY_SLOTS, 0);
            number as u32
        });
        let child = ROOT_SLOTS + number as usize * PLY_SLOTS;
        let (content, len) = (self.slots[slot], self.slot_lens[slot]);
        self.slots[child..child + PLY_SLOTS].fill(content);
        self.slot_lens[child..child + PLY_SLOTS].fill(len);
        self.slots[slot] = PLY_FLAG | number;
        child
    }

    /// Frees the ply below `slot` (beginning at `child`) when no route longer
    /// than `end` bits remains in it, and puts its route back in `slot`. Every
    /// slot of such a ply holds the same route, the longest one covering the
    /// whole ply.
    fn collapse_if_uniform(&mut self, slot: usize, child: usize, end: u8) {
        let children = child..child + PLY_SLOTS;
        let has_ply = self.slots[children.clone()]
            .iter()
            .any(|&s| ply_base(s).is_some());
        let has_longer = self.slot_lens[children].iter().any(|&l| l > end);
        if has_ply || has_longer {
            return;
        }
        self.free_plies.push(self.slots[slot] & !PLY_FLAG);
        self.slots[slot] = self.slots[child];
        self.slot_lens[slot] = self.slot_lens[child];
    }
}

impl Default for Ip4Lpm {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Ip4Lpm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ip4Lpm")
            .field("routes", &self.len())
            .field("plies", &self.plies_in_use())
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

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    /// The naive reference: every route, scanned for the longest match.
    #[derive(Default)]
    struct Reference(Vec<(u32, u8, u32)>);

    impl Reference {
        fn insert(&mut self, addr: u32, len: u8, value: u32) -> Option<u32> {
            let previous = self.remove(addr, len);
            self.0.push((addr, len, value));
            previous
        }

        fn remove(&mut self, addr: u32, len: u8) -> Option<u32> {
            let i = self.0.iter().position(|&(a, l, _)| (a, l) == (addr, len))?;
            Some(self.0.swap_remove(i).2)
        }

        fn lookup(&self, addr: u32) -> Option<u32> {
            self.0
                .iter()
                .filter(|&&(a, l, _)| addr & mask4(l) == a)
                .max_by_key(|&&(_, l, _)| l)
                .map(|&(_, _, v)| v)
        }

        /// Addresses at the edges of every route: first, last, and just outside.
        fn edges(&self) -> Vec<u32> {
            self.0
                .iter()
                .flat_map(|&(a, l, _)| {
                    let last = a | !mask4(l);
                    [a, last, a.wrapping_sub(1), last.wrapping_add(1)]
                })
                .collect()
        }
    }

    /// Checks every read of `table` against `reference`.
    fn assert_agrees(table: &Ip4Lpm, reference: &Reference, probes: &[u32]) {
        for &addr in probes.iter().chain(&reference.edges()) {
            assert_eq!(
                table.lookup(Ipv4Addr::from(addr)),
                reference.lookup(addr),
                "lookup {}",
                Ipv4Addr::from(addr)
            );
        }
        assert_lookup_many_agrees(table, probes.iter().chain(&reference.edges()));

        let mut expected: Vec<_> = reference
            .0
            .iter()
            .map(|&(a, l, v)| (Ipv4Addr::from(a), l, v))
            .collect();
        expected.sort_unstable();
        assert_eq!(table.iter().collect::<Vec<_>>(), expected);
        assert_eq!(table.len(), expected.len());
        for &(a, l, v) in &expected {
            assert_eq!(table.get(a, l), Some(v));
        }
    }

    /// Checks that `lookup_many` over `addrs` (several batches of them)
    /// answers as `lookup` does, and leaves values past the addresses alone.
    fn assert_lookup_many_agrees<'a>(table: &Ip4Lpm, addrs: impl Iterator<Item = &'a u32>) {
        let addrs: Vec<Ipv4Addr> = addrs.map(|&a| Ipv4Addr::from(a)).collect();
        let untouched = Some(u32::MAX);
        let mut values = vec![untouched; addrs.len() + 3];
        table.lookup_many(&addrs, &mut values);
        for (addr, value) in addrs.iter().zip(&values) {
            assert_eq!(*value, table.lookup(*addr), "lookup_many {addr}");
        }
        assert_eq!(values[addrs.len()..], [untouched; 3]);
    }

    #[test]
    fn empty_table_routes_nothing() {
        let t = Ip4Lpm::new();
        assert!(t.is_empty());
        assert_eq!(t.lookup(ip("1.2.3.4")), None);
        assert_eq!(t.iter().count(), 0);
    }

    #[test]
    fn default_route_matches_everything() {
        let mut t = Ip4Lpm::new();
        assert_eq!(t.insert(ip("0.0.0.0"), 0, 7), Ok(None));
        for a in ["0.0.0.0", "10.1.2.3", "255.255.255.255"] {
            assert_eq!(t.lookup(ip(a)), Some(7), "{a}");
        }
        assert_eq!(t.insert(ip("0.0.0.0"), 0, 8), Ok(Some(7)));
        assert_eq!(t.lookup(ip("9.9.9.9")), Some(8));
    }

    #[test]
    fn host_routes_match_only_their_address() {
        let mut t = Ip4Lpm::new();
        t.insert(ip("10.0.0.1"), 32, 1).unwrap();
        t.insert(ip("10.0.0.2"), 32, 2).unwrap();
        t.insert(ip("255.255.255.255"), 32, 3).unwrap();
        assert_eq!(t.lookup(ip("10.0.0.1")), Some(1));
        assert_eq!(t.lookup(ip("10.0.0.2")), Some(2));
        assert_eq!(t.lookup(ip("255.255.255.255")), Some(3));
        assert_eq!(t.lookup(ip("10.0.0.3")), None);
        assert_eq!(t.lookup(ip("10.0.1.1")), None);
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn longest_of_overlapping_prefixes_wins_in_any_order() {
        let routes = [
            ("0.0.0.0", 0, 0),
            ("10.0.0.0", 8, 8),
            ("10.1.0.0", 16, 16),
            ("10.1.2.0", 23, 23),
            ("10.1.2.0", 24, 24),
            ("10.1.2.128", 25, 25),
            ("10.1.2.129", 32, 32),
        ];
        let expect = [
            ("11.0.0.0", 0),
            ("10.2.0.0", 8),
            ("10.1.4.0", 16),
            ("10.1.3.255", 23),
            ("10.1.2.127", 24),
            ("10.1.2.130", 25),
            ("10.1.2.129", 32),
        ];
        for order in [routes, {
            let mut r = routes;
            r.reverse();
            r
        }] {
            let mut t = Ip4Lpm::new();
            for (a, l, v) in order {
                t.insert(ip(a), l, v).unwrap();
            }
            for (a, v) in expect {
                assert_eq!(t.lookup(ip(a)), Some(v), "{a}");
            }
        }
    }

    #[test]
    fn remove_restores_the_covering_prefix() {
        let mut t = Ip4Lpm::new();
        t.insert(ip("10.0.0.0"), 8, 1).unwrap();
        t.insert(ip("10.1.0.0"), 16, 2).unwrap();
        t.insert(ip("10.1.2.0"), 24, 3).unwrap();
        t.insert(ip("10.1.2.3"), 32, 4).unwrap();
        assert_eq!(t.remove(ip("10.1.2.0"), 24), Ok(Some(3)));
        assert_eq!(t.lookup(ip("10.1.2.4")), Some(2));
        assert_eq!(t.lookup(ip("10.1.2.3")), Some(4));
        assert_eq!(t.remove(ip("10.1.0.0"), 16), Ok(Some(2)));
        assert_eq!(t.lookup(ip("10.1.2.4")), Some(1));
        assert_eq!(t.lookup(ip("10.1.2.3")), Some(4));
        assert_eq!(t.remove(ip("10.1.2.3"), 32), Ok(Some(4)));
        assert_eq!(t.lookup(ip("10.1.2.3")), Some(1));
        assert_eq!(t.remove(ip("10.0.0.0"), 8), Ok(Some(1)));
        assert_eq!(t.lookup(ip("10.1.2.3")), None);
        assert!(t.is_empty());
    }

    #[test]
    fn remove_of_absent_prefix_changes_nothing() {
        let mut t = Ip4Lpm::new();
        t.insert(ip("10.1.0.0"), 16, 2).unwrap();
        assert_eq!(t.remove(ip("10.1.0.0"), 17), Ok(None));
        assert_eq!(t.remove(ip("10.0.0.0"), 8), Ok(None));
        assert_eq!(t.remove(ip("10.1.2.3"), 32), Ok(None));
        assert_eq!(t.lookup(ip("10.1.2.3")), Some(2));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn removing_the_last_long_route_frees_its_plies() {
        let mut t = Ip4Lpm::new();
        t.insert(ip("10.1.0.0"), 16, 1).unwrap();
        t.insert(ip("10.1.2.3"), 32, 2).unwrap();
        t.insert(ip("10.1.2.4"), 32, 3).unwrap();
        assert_eq!(t.plies_in_use(), 2);
        t.remove(ip("10.1.2.3"), 32).unwrap();
        assert_eq!(t.plies_in_use(), 2);
        t.remove(ip("10.1.2.4"), 32).unwrap();
        assert_eq!(t.plies_in_use(), 0);
        assert_eq!(t.lookup(ip("10.1.2.4")), Some(1));
        // A freed ply is reused rather than grown.
        let size = t.slots.len();
        t.insert(ip("192.168.1.0"), 24, 4).unwrap();
        assert_eq!(t.slots.len(), size);
        assert_eq!(t.lookup(ip("192.168.1.77")), Some(4));
        assert_eq!(t.lookup(ip("192.168.2.1")), None);
    }

    #[test]
    fn bad_prefixes_and_values_are_refused_without_change() {
        let mut t = Ip4Lpm::new();
        assert!(matches!(
            t.insert(ip("10.0.0.0"), 33, 1),
            Err(FibError::LengthTooLong {
                len: 33,
                max: 32,
                ..
            })
        ));
        assert_eq!(
            t.insert(ip("10.1.2.3"), 24, 1),
            Err(FibError::HostBitsSet {
                prefix: IpAddr::V4(ip("10.1.2.3")),
                len: 24,
                canonical: IpAddr::V4(ip("10.1.2.0")),
            })
        );
        assert!(matches!(
            t.insert(ip("10.0.0.0"), 8, MAX_VALUE + 1),
            Err(FibError::ValueTooLarge { .. })
        ));
        assert!(matches!(
            t.remove(ip("10.1.2.3"), 24),
            Err(FibError::HostBitsSet { .. })
        ));
        assert!(matches!(
            t.remove(ip("10.0.0.0"), 40),
            Err(FibError::LengthTooLong { .. })
        ));
        assert_eq!(t.get(ip("10.1.2.3"), 24), None);
        assert_eq!(t.get(ip("10.0.0.0"), 33), None);
        assert!(t.is_empty());
        assert_eq!(t.lookup(ip("10.1.2.3")), None);
        assert_eq!(t.insert(ip("10.0.0.0"), 8, MAX_VALUE), Ok(None));
        assert_eq!(t.lookup(ip("10.1.2.3")), Some(MAX_VALUE));
    }

    #[test]
    fn a_clone_is_independent() {
        let mut t = Ip4Lpm::new();
        t.insert(ip("10.1.2.0"), 24, 1).unwrap();
        let snapshot = t.clone();
        t.insert(ip("10.1.2.0"), 25, 2).unwrap();
        assert_eq!(snapshot.lookup(ip("10.1.2.1")), Some(1));
        assert_eq!(t.lookup(ip("10.1.2.1")), Some(2));
    }

    /// A prefix in one of a few small ranges, so that routes overlap.
    fn clustered_prefix() -> impl Strategy<Value = (u32, u8)> {
        let bases = prop::sample::select(vec![
            0x0a00_0000u32,
            0x0a01_0000,
            0xc0a8_ff00,
            0xffff_0000,
            0,
        ]);
        (bases, any::<u32>(), 0u8..=32).prop_map(|(base, bits, len)| {
            // A few /16s, a few /24s in each, a few hosts in each.
            ((base | (bits & 0x0001_0303)) & mask4(len), len)
        })
    }

    fn clustered_addr() -> impl Strategy<Value = u32> {
        clustered_prefix()
            .prop_map(|(a, _)| a)
            .boxed()
            .prop_union(any::<u32>().boxed())
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u32, u8, u32),
        /// Remove a prefix that may or may not be there.
        Remove(u32, u8),
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
            let mut table = Ip4Lpm::new();
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
                prop_assert_eq!(got, Ok(want), "{}/{}", Ipv4Addr::from(addr), len);
            }
            assert_agrees(&table, &reference, &probes);

            // The trie does not depend on the order of the updates: rebuilt
            // from its final routes, it has as many plies.
            let mut rebuilt = Ip4Lpm::new();
            for (a, l, v) in table.iter() {
                rebuilt.insert(a, l, v).unwrap();
            }
            prop_assert_eq!(table.plies_in_use(), rebuilt.plies_in_use());

            // Removing every route frees every ply and leaves no route behind.
            for (a, l, _) in table.clone().iter() {
                table.remove(a, l).unwrap();
            }
            prop_assert_eq!(table.plies_in_use(), 0);
            prop_assert!(table.slots[..ROOT_SLOTS].iter().all(|&s| s == EMPTY));
        }
    }

    /// A random route of the 1M-route test: mostly /24, some /16 to /32, a few /8 to /15.
    fn random_route(rng: &mut TestRng) -> (u32, u8) {
        let len = match rng.below(1000) {
            0..=699 => 24,
            700..=849 => 16 + rng.below(8) as u8,
            850..=989 => 25 + rng.below(8) as u8,
            _ => 8 + rng.below(8) as u8,
        };
        (rng.next_u64() as u32 & mask4(len), len)
    }

    /// 1M random routes, then 100k lookups (half inside a route, half
    /// anywhere) checked against the exact-match view.
    #[test]
    fn million_routes_agree_with_the_exact_match_view() {
        let mut rng = TestRng(4);
        let mut table = Ip4Lpm::new();
        let mut inserted = Vec::with_capacity(1_000_000);
        for i in 0..1_000_000u32 {
            let (addr, len) = random_route(&mut rng);
            table.insert(addr.into(), len, i).unwrap();
            inserted.push((addr, len));
        }
        let expected: HashMap<_, _> = inserted.iter().zip(0u32..).map(|(&p, v)| (p, v)).collect();
        assert_eq!(table.len(), expected.len());
        let mut probes = Vec::with_capacity(100_000);
        for _ in 0..100_000 {
            let addr = if rng.below(2) == 0 {
                let (a, l) = inserted[rng.below(inserted.len() as u64) as usize];
                a | (rng.next_u64() as u32 & !mask4(l))
            } else {
                rng.next_u64() as u32
            };
            let want = (0..=32u8)
                .rev()
                .find_map(|l| table.get(Ipv4Addr::from(addr & mask4(l)), l));
            assert_eq!(table.lookup(addr.into()), want, "{}", Ipv4Addr::from(addr));
            probes.push(addr);
        }
        assert_lookup_many_agrees(&table, probes.iter());
        for (&(a, l), &v) in expected.iter().take(10_000) {
            assert_eq!(table.get(a.into(), l), Some(v));
        }
    }

    /// Lookup cost and memory with 1M routes; run in release mode:
    /// `cargo test --release -p podwire-dataplane fib::ip4 -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, not a check; run it in release mode"]
    fn measure_million_routes() {
        let mut rng = TestRng(5);
        let mut table = Ip4Lpm::new();
        let start = std::time::Instant::now();
        for i in 0..1_000_000 {
            let (addr, len) = random_route(&mut rng);
            table.insert(addr.into(), len, i).unwrap();
        }
        let build = start.elapsed();
        let addrs: Vec<Ipv4Addr> = (0..10_000_000)
            .map(|_| Ipv4Addr::from(rng.next_u64() as u32))
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
            "ip4: {:?}; built in {build:?}; {:.1} ns/lookup over {} random addresses ({hits} hits); clone {clone:?}",
            copy,
            lookup.as_nanos() as f64 / addrs.len() as f64,
            addrs.len(),
        );
    }
}
