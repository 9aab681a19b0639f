//! A classifier: the compiled rules of one pod in one direction. A lookup by (remote address,
//! protocol, port) answers the first rule, in the order they were added, whose peers and
//! ports allow the traffic. It costs about the same with 10 rules as with 10 000, and the
//! classifier's memory grows with the rules, not with their square: each rule lives in the
//! tables of the port segments it names, and a rule for every port (or every protocol) in
//! one table per protocol.
//!
//! # How rules are folded
//!
//! **Classes.** A rule allows some traffic for every port of a protocol, or for some ports
//! of it; a rule for every protocol allows every port of each. Each protocol some rule
//! names ports of has a *wide* table, of its rules for every port and the rules for every
//! protocol, and a table per port segment (below) of its rules for some ports; the other
//! protocols share the table of the rules for every protocol. A lookup asks the (at most
//! two) tables that apply to its protocol and port for their first rule allowing the
//! remote address, and takes the first of those: a rule's peers do not depend on how it
//! names the port, so the first rule allowing the traffic is the first one of some table.
//! A table that starts after the best answer so far is not asked. Rules for every protocol
//! are kept once per protocol named plus once (NetworkPolicy names TCP, UDP and SCTP): a
//! few times, not once per segment, which would cost rules times segments.
//!
//! **Ports.** For each protocol some rule names ports of, the port space is cut into
//! disjoint segments at every range's boundaries (a range `a..=b` cuts before `a` and after
//! `b`); inside a segment every range either holds every port or none. Neighbouring
//! segments of the same rules are one. A lookup finds its segment in the protocol's
//! `PortMap`: the segment holding the first port of the port's block of ports, then a
//! binary search over the few segments starting inside the block. Only rules that overlap
//! one another's ranges share segments, so those tables hold each rule about once (ranges
//! that overlap in a staircase, each cutting the others, still cost their square).
//!
//! **Addresses.** A table holds the *boundary prefixes* of its rules: every rule prefix,
//! every exception, and `0.0.0.0/0` and `::/0`. For an address, the longest boundary prefix
//! `P` that contains it decides: a rule prefix or exception contains the address exactly
//! when it contains `P` (it is a boundary too, no longer than `P`), so the first rule
//! allowing `P` (a prefix of it contains `P`, none of that prefix's exceptions does) is the
//! first rule allowing the address. An entry whose answer is its covering entry's is left
//! out.
//!
//! **Sharing.** Tables of the same rules are built once.
//!
//! The tables are [`Ip6Lpm`]s for both families (an IPv4 prefix is kept in the top 32 bits):
//! their cost is one hash probe per distinct prefix length, and their memory grows with
//! their entries. The probes do not wait for one another's loads: flattening a table into
//! sorted disjoint address ranges, searched by halving or in a tree of cache lines, was
//! measured at 1.5 to 2 times the cost of a lookup with 10 000 rules, each step waiting for
//! the one before. [`crate::fib::Ip4Lpm`], built for the FIB, starts at a 320 KiB root,
//! which a node with 110 pods, each with a few segments per direction, cannot pay per
//! table.

use core::net::{IpAddr, Ipv6Addr};
use std::collections::{BTreeMap, BTreeSet};

use hashbrown::{HashMap, HashSet};

use crate::fib::{Ip6Lpm, MAX_VALUE};

mod port_map;

use port_map::PortMap;

/// A compiled rule, by its position in the [`crate::policy::table::PolicyTable`]'s list of
/// rules: what per-rule counters are indexed by.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct RuleSlot(pub u32);

/// Remote addresses a rule allows: a prefix minus its exceptions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerMatch {
    /// The prefix (network, length).
    pub prefix: (IpAddr, u8),
    /// Prefixes inside it that are not allowed.
    pub except: Vec<(IpAddr, u8)>,
}

/// Ports a rule allows: a protocol number (6, 17, 132) and an inclusive range, `None` for
/// all its ports.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct PortMatch {
    /// IP protocol number.
    pub protocol: u8,
    /// First and last port; `None`: every port.
    pub ports: Option<(u16, u16)>,
}

/// The value of a table entry that no rule allows.
const DENIED: u32 = MAX_VALUE;

/// IPv4 or IPv6: the position of a family's table in [`PeerTable`].
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
enum Family {
    V4 = 0,
    V6 = 1,
}

/// A prefix of either family as the first `len` bits of a `u128` (IPv4 in the top 32 bits),
/// the bits after `len` cleared.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
struct Prefix {
    len: u8,
    bits: u128,
}

impl Prefix {
    /// `addr/len` in its family; a length longer than the family's addresses is the whole
    /// address, and host bits are cleared.
    fn new(addr: IpAddr, len: u8) -> (Family, Prefix) {
        let (family, bits) = bits_of(addr);
        let len = len.min(max_len(family));
        (family, Prefix::masked(bits, len))
    }

    fn masked(bits: u128, len: u8) -> Prefix {
        Prefix {
            len,
            bits: bits & mask(len),
        }
    }

    /// Every address of the family.
    const ANY: Prefix = Prefix { len: 0, bits: 0 };

    fn contains(&self, inner: &Prefix) -> bool {
        self.len <= inner.len && inner.bits & mask(self.len) == self.bits
    }
}

fn bits_of(addr: IpAddr) -> (Family, u128) {
    match addr {
        IpAddr::V4(a) => (Family::V4, u128::from(u32::from(a)) << 96),
        IpAddr::V6(a) => (Family::V6, u128::from(a)),
    }
}

fn max_len(family: Family) -> u8 {
    match family {
        Family::V4 => 32,
        Family::V6 => 128,
    }
}

fn mask(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

/// A peer of a rule in one family.
#[derive(Clone, Debug)]
struct Peer {
    prefix: Prefix,
    except: Vec<Prefix>,
}

/// A rule as the builder keeps it.
#[derive(Clone, Debug)]
struct Rule {
    slot: RuleSlot,
    /// Its peers, per [`Family`].
    peers: [Vec<Peer>; 2],
    /// `None`: every protocol and port.
    ports: Option<Vec<PortMatch>>,
}

/// Collects rules, then builds a [`Classifier`].
#[derive(Clone, Debug, Default)]
pub struct ClassifierBuilder {
    rules: Vec<Rule>,
}

impl ClassifierBuilder {
    /// An empty builder: its classifier allows nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds rule `slot`: it allows a remote address in one of `peers` (`None`: any) on a
    /// protocol and port in one of `ports` (`None`: any protocol, any port). Rules added
    /// first are reported first when several allow the same traffic. A prefix length
    /// longer than the address is the whole address; a port range whose first port is
    /// after its last allows no port.
    pub fn add(
        &mut self,
        slot: RuleSlot,
        peers: Option<&[PeerMatch]>,
        ports: Option<&[PortMatch]>,
    ) {
        let mut by_family: [Vec<Peer>; 2] = Default::default();
        match peers {
            None => {
                for family in &mut by_family {
                    family.push(Peer {
                        prefix: Prefix::ANY,
                        except: Vec::new(),
                    });
                }
            }
            Some(peers) => {
                for peer in peers {
                    let (family, prefix) = Prefix::new(peer.prefix.0, peer.prefix.1);
                    let except = peer
                        .except
                        .iter()
                        .map(|&(addr, len)| Prefix::new(addr, len))
                        .filter(|&(f, _)| f == family)
                        .map(|(_, p)| p)
                        .collect();
                    by_family[family as usize].push(Peer { prefix, except });
                }
            }
        }
        self.rules.push(Rule {
            slot,
            peers: by_family,
            ports: ports.map(<[PortMatch]>::to_vec),
        });
    }

    /// The classifier.
    pub fn build(self) -> Classifier {
        let mut tables = TableSet::new(&self.rules);
        let every_protocol: Vec<u32> = (0u32..)
            .zip(&self.rules)
            .filter(|(_, r)| r.ports.is_none())
            .map(|(i, _)| i)
            .collect();
        let named: BTreeSet<u8> = self
            .rules
            .iter()
            .filter_map(|r| r.ports.as_ref())
            .flatten()
            .map(|p| p.protocol)
            .collect();
        let protocols = named
            .into_iter()
            .map(|protocol| protocol_tables(&self.rules, protocol, &every_protocol, &mut tables))
            .collect();
        Classifier {
            slots: self.rules.iter().map(|r| r.slot).collect(),
            every_protocol: tables.table(&every_protocol),
            protocols,
            tables: tables.tables,
        }
    }
}

/// The ranges of `protocol` rule `rule` names: `None` for every port, else the first and
/// last port (u32, so that the port after 65535 fits); a range holding no port is left out.
fn ranges(rule: &Rule, protocol: u8) -> impl Iterator<Item = Option<(u32, u32)>> + '_ {
    rule.ports
        .iter()
        .flatten()
        .filter(move |p| p.protocol == protocol)
        .filter_map(|p| match p.ports {
            None | Some((0, u16::MAX)) => Some(None),
            Some((first, last)) if first <= last => Some(Some((first.into(), last.into()))),
            Some(_) => None,
        })
}

/// The tables of `protocol`: its wide table, of its rules for every port and the rules at
/// positions `every_protocol` (ascending), and its port segments (see the module's
/// documentation), neighbours with the same table merged.
fn protocol_tables(
    rules: &[Rule],
    protocol: u8,
    every_protocol: &[u32],
    tables: &mut TableSet<'_>,
) -> ProtocolTables {
    let mut every_port: Vec<u32> = every_protocol.to_vec();
    // (port, rule, +1 at a range's first port / -1 after its last).
    let mut events: Vec<(u32, u32, bool)> = Vec::new();
    for (i, rule) in (0u32..).zip(rules) {
        for range in ranges(rule, protocol) {
            match range {
                None => every_port.push(i),
                Some((first, last)) => {
                    events.push((first, i, true));
                    events.push((last + 1, i, false));
                }
            }
        }
    }
    every_port.sort_unstable();
    every_port.dedup();
    events.sort_unstable();
    let mut cuts: Vec<u32> = events.iter().map(|e| e.0).collect();
    cuts.push(0);
    cuts.sort_unstable();
    cuts.dedup();
    // Rule → how many of its ranges of this protocol cover the current segment.
    let mut active: BTreeMap<u32, u32> = BTreeMap::new();
    let mut pending = events.iter().peekable();
    // (first port, table) of each segment.
    let mut starts: Vec<(u16, u32)> = Vec::new();
    for start in cuts.into_iter().filter(|&c| c <= u32::from(u16::MAX)) {
        while let Some(&(_, rule, opens)) = pending.next_if(|e| e.0 <= start) {
            let count = active.entry(rule).or_default();
            if opens {
                *count += 1;
            } else {
                *count -= 1;
                if *count == 0 {
                    active.remove(&rule);
                }
            }
        }
        let touching: Vec<u32> = active.keys().copied().collect();
        let table = tables.table(&touching);
        if starts.last().is_none_or(|&(_, last)| last != table) {
            // `start` ≤ 65535: filtered above.
            starts.push((start as u16, table));
        }
    }
    ProtocolTables {
        protocol,
        every_port: tables.table(&every_port),
        segments: PortMap::new(starts),
    }
}

/// The tables of a classifier being built, one per distinct set of rules.
struct TableSet<'r> {
    rules: &'r [Rule],
    tables: Vec<PeerTable>,
    by_rules: HashMap<Vec<u32>, u32>,
}

impl<'r> TableSet<'r> {
    fn new(rules: &'r [Rule]) -> Self {
        TableSet {
            rules,
            tables: Vec::new(),
            by_rules: HashMap::new(),
        }
    }

    /// The table of the rules at positions `touching` (ascending), built if new.
    fn table(&mut self, touching: &[u32]) -> u32 {
        if let Some(&index) = self.by_rules.get(touching) {
            return index;
        }
        let table = PeerTable {
            first: touching.first().copied().unwrap_or(DENIED),
            families: [Family::V4, Family::V6].map(|f| family_table(self.rules, touching, f)),
        };
        let index = u32::try_from(self.tables.len()).unwrap_or(u32::MAX);
        self.tables.push(table);
        self.by_rules.insert(touching.to_vec(), index);
        index
    }
}

/// The longest-prefix-match table of one family for the rules at positions `touching`
/// (ascending): each boundary prefix → the position of the first rule allowing it, or
/// [`DENIED`]; entries that answer as their covering entry are left out.
fn family_table(rules: &[Rule], touching: &[u32], family: Family) -> Ip6Lpm {
    // Rule prefix → (rule position, its exceptions), in rule order.
    let mut by_prefix: HashMap<Prefix, Vec<(u32, &[Prefix])>> = HashMap::new();
    let mut boundaries: HashSet<Prefix> = HashSet::new();
    boundaries.insert(Prefix::ANY);
    for &i in touching {
        for peer in &rules[i as usize].peers[family as usize] {
            by_prefix
                .entry(peer.prefix)
                .or_default()
                .push((i, &peer.except));
            boundaries.insert(peer.prefix);
            boundaries.extend(peer.except.iter().copied());
        }
    }
    let rule_lengths: BTreeSet<u8> = by_prefix.keys().map(|p| p.len).collect();
    let mut boundaries: Vec<Prefix> = boundaries.into_iter().collect();
    // Shortest first: an entry's covering entries are decided before it.
    boundaries.sort_unstable();
    let mut boundary_lengths: Vec<u8> = boundaries.iter().map(|p| p.len).collect();
    boundary_lengths.dedup();
    let mut decided: HashMap<Prefix, u32> = HashMap::new();
    let mut table = Ip6Lpm::new();
    for prefix in boundaries {
        let mut first = DENIED;
        for &len in rule_lengths.range(..=prefix.len) {
            let Some(candidates) = by_prefix.get(&Prefix::masked(prefix.bits, len)) else {
                continue;
            };
            let allowing = candidates
                .iter()
                .take_while(|(i, _)| *i < first)
                .find(|(_, except)| !except.iter().any(|e| e.contains(&prefix)));
            if let Some(&(i, _)) = allowing {
                first = i;
            }
        }
        let covering = boundary_lengths
            .iter()
            .rev()
            .filter(|&&len| len < prefix.len)
            .find_map(|&len| decided.get(&Prefix::masked(prefix.bits, len)))
            .copied()
            .unwrap_or(DENIED);
        decided.insert(prefix, first);
        if first != covering {
            table
                .insert(Ipv6Addr::from(prefix.bits), prefix.len, first)
                .expect("a masked prefix of at most 128 bits and a rule position below MAX_VALUE");
        }
    }
    table
}

/// The address tables of some rules.
#[derive(Clone, Debug, Default)]
struct PeerTable {
    /// The position of its first rule, [`DENIED`] without rules: no answer of the table
    /// comes before it.
    first: u32,
    /// Per [`Family`].
    families: [Ip6Lpm; 2],
}

/// The tables of one protocol some rule names ports of.
#[derive(Clone, Debug)]
struct ProtocolTables {
    protocol: u8,
    /// The wide table, of its rules for every port and the rules for every protocol: an
    /// index into [`Classifier::tables`].
    every_port: u32,
    /// Port → the table of its segment's rules for some ports.
    segments: PortMap,
}

/// The compiled rules of one pod in one direction.
#[derive(Clone, Debug, Default)]
pub struct Classifier {
    /// The rules, by position (the values of the tables).
    slots: Vec<RuleSlot>,
    /// The table of the rules for every protocol: for the protocols no rule names ports of.
    every_protocol: u32,
    /// The protocols rules name ports of, each with its tables.
    protocols: Vec<ProtocolTables>,
    /// The tables, shared between segments and protocols.
    tables: Vec<PeerTable>,
}

impl Classifier {
    /// The first rule that allows traffic with the remote address `remote` (the source for
    /// ingress, the destination for egress), IP protocol `protocol` and destination port
    /// `port` (0 for protocols without ports); `None`: denied.
    #[inline]
    pub fn lookup(&self, remote: IpAddr, protocol: u8, port: u16) -> Option<RuleSlot> {
        let (family, bits) = bits_of(remote);
        let address = Ipv6Addr::from(bits);
        // A handful of protocols at most (TCP, UDP, SCTP): a scan beats any index.
        let first = match self.protocols.iter().find(|p| p.protocol == protocol) {
            Some(tables) => {
                let first = tables.segments.get(port).map_or(DENIED, |segment| {
                    self.first_in(segment, family, address, DENIED)
                });
                self.first_in(tables.every_port, family, address, first)
            }
            None => self.first_in(self.every_protocol, family, address, DENIED),
        };
        self.slots.get(first as usize).copied()
    }

    /// The first of `before` and the first rule of table `table` allowing `address`; the
    /// table is not searched when it has no rule before `before`.
    #[inline]
    fn first_in(&self, table: u32, family: Family, address: Ipv6Addr, before: u32) -> u32 {
        match self.tables.get(table as usize) {
            Some(table) if table.first < before => table.families[family as usize]
                .lookup(address)
                .map_or(before, |position| position.min(before)),
            _ => before,
        }
    }

    /// Bytes it takes besides itself.
    pub fn heap_bytes(&self) -> usize {
        let segments: usize = self.protocols.iter().map(|p| p.segments.heap_bytes()).sum();
        let tables: usize = self
            .tables
            .iter()
            .flat_map(|t| &t.families)
            .map(|lpm| lpm.memory_bytes() - size_of::<Ip6Lpm>())
            .sum();
        self.slots.capacity() * size_of::<RuleSlot>()
            + self.protocols.capacity() * size_of::<ProtocolTables>()
            + segments
            + self.tables.capacity() * size_of::<PeerTable>()
            + tables
    }
}

#[cfg(test)]
mod tests;
