//! MAC learning for bridge domains, per worker.
//!
//! A bridge domain learns on which port each MAC address was last seen,
//! from the source address of the frames its ports receive
//! ([`MacTables::learn`]), and `l2-input` sends frames to a learned
//! address out of that port only ([`MacTables::lookup`]).
//!
//! **Aging.** An entry not seen again for its domain's
//! [`BridgeDomainConfig::mac_age`] is stale: `lookup` ignores it, so frames
//! to it flood again, as to an unknown address. Stale entries still take
//! room until the worker calls [`MacTables::age`], which removes them and
//! the entries of ports that left their domain; the worker calls it between
//! vectors, about once a second (the hot path never sweeps).
//!
//! **Bounded.** A domain learns at most a fixed number of addresses
//! ([`MAC_TABLE_CAPACITY`] by default): past it, new addresses are refused
//! and counted ([`MacTables::refused`]), and frames to them flood. A port
//! sending from random source addresses must not eat the node's memory.
//!
//! Each worker learns on its own: an address one worker learned floods from
//! another worker until that one sees a frame from it too.

use std::time::Duration;

use hashbrown::HashMap;
use podwire_wire::ethernet::EthernetAddress;

use crate::clock::Instant;
use crate::interface::{BridgeDomainId, IfIndex, InterfaceMode};
use crate::tables::{BridgeDomainConfig, Tables};

/// The most addresses a bridge domain learns, per worker, by default.
pub const MAC_TABLE_CAPACITY: usize = 65_536;

/// Where a MAC address was last seen.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct MacEntry {
    /// The port it sent from.
    pub port: IfIndex,
    /// When.
    pub seen: Instant,
}

/// What [`MacTables::learn`] did with a source address.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Learned {
    /// The address is new: it is now known on the port.
    New,
    /// The address was known on this port: it is seen again now.
    Refreshed,
    /// The address was known on another port (the station moved): it is
    /// now known on this one.
    Moved {
        /// The port it was known on.
        from: IfIndex,
    },
    /// The address is new and the domain's table is full: not learned.
    Refused,
}

/// The learned addresses of one bridge domain.
#[derive(Debug, Default)]
struct DomainTable {
    /// By [`mac_key`]: a `u64` hashes in one step, six bytes in several.
    entries: HashMap<u64, MacEntry>,
    /// New addresses refused because the table was full.
    refused: u64,
}

/// A worker's learned MAC addresses, per bridge domain.
#[derive(Debug)]
pub struct MacTables {
    /// By [`BridgeDomainId`]; grown when a domain first learns.
    domains: Vec<DomainTable>,
    /// The most addresses one domain learns.
    capacity: usize,
}

impl Default for MacTables {
    fn default() -> Self {
        Self::with_capacity(MAC_TABLE_CAPACITY)
    }
}

impl MacTables {
    /// Tables in which each domain learns at most `per_domain` addresses.
    pub fn with_capacity(per_domain: usize) -> Self {
        MacTables {
            domains: Vec::new(),
            capacity: per_domain,
        }
    }

    /// Records that `mac` sent a frame from `port` of `bd` at `now`.
    pub fn learn(
        &mut self,
        bd: BridgeDomainId,
        mac: EthernetAddress,
        port: IfIndex,
        now: Instant,
    ) -> Learned {
        let i = usize::from(bd.0);
        if i >= self.domains.len() {
            self.domains.resize_with(i + 1, DomainTable::default);
        }
        let table = &mut self.domains[i];
        let full = table.entries.len() >= self.capacity;
        match table.entries.get_mut(&mac_key(mac)) {
            Some(entry) => {
                let from = entry.port;
                *entry = MacEntry { port, seen: now };
                if from == port {
                    Learned::Refreshed
                } else {
                    Learned::Moved { from }
                }
            }
            None if full => {
                table.refused += 1;
                Learned::Refused
            }
            None => {
                table
                    .entries
                    .insert(mac_key(mac), MacEntry { port, seen: now });
                Learned::New
            }
        }
    }

    /// The port `mac` was seen on in `bd`, unless it was not seen for
    /// `max_age` (the domain's `mac_age`) or never.
    #[inline]
    pub fn lookup(
        &self,
        bd: BridgeDomainId,
        mac: EthernetAddress,
        now: Instant,
        max_age: Duration,
    ) -> Option<IfIndex> {
        let entry = self
            .domains
            .get(usize::from(bd.0))?
            .entries
            .get(&mac_key(mac))?;
        (now.saturating_since(entry.seen) < max_age).then_some(entry.port)
    }

    /// Removes the entries that are stale at `now` by their domain's
    /// `mac_age`, the entries of ports that are no longer ports of their
    /// domain, and the tables of domains that no longer exist. The worker
    /// calls it between vectors, about once a second, with the tables in
    /// force.
    pub fn age(&mut self, now: Instant, tables: &Tables) {
        self.domains.truncate(tables.bridge_domains.len());
        for (i, (table, config)) in self
            .domains
            .iter_mut()
            .zip(&tables.bridge_domains)
            .enumerate()
        {
            let bd = BridgeDomainId(i as u16);
            table.entries.retain(|_, e| {
                now.saturating_since(e.seen) < config.mac_age && is_bridge_port(tables, e.port, bd)
            });
        }
    }

    /// How many new addresses `bd` refused because its table was full.
    pub fn refused(&self, bd: BridgeDomainId) -> u64 {
        self.domains.get(usize::from(bd.0)).map_or(0, |t| t.refused)
    }

    /// The entries of `bd`, stale ones included, for `show bridge`.
    pub fn iter(
        &self,
        bd: BridgeDomainId,
    ) -> impl Iterator<Item = (EthernetAddress, MacEntry)> + '_ {
        self.domains
            .get(usize::from(bd.0))
            .into_iter()
            .flat_map(|t| t.entries.iter().map(|(&key, &e)| (mac_of_key(key), e)))
    }
}

/// Whether `port` is, as of `tables`, a port of `bd`: an interface in
/// `Bridged(bd)` mode. A port the control plane moved out of the domain
/// gets neither floods nor frames to addresses learned on it before.
#[inline]
pub fn is_bridge_port(tables: &Tables, port: IfIndex, bd: BridgeDomainId) -> bool {
    tables
        .interface(port)
        .is_some_and(|c| c.mode == InterfaceMode::Bridged(bd))
}

/// The configuration of `bd`, if it exists.
#[inline]
pub fn bridge_domain(tables: &Tables, bd: BridgeDomainId) -> Option<&BridgeDomainConfig> {
    tables.bridge_domains.get(usize::from(bd.0))
}

fn mac_key(mac: EthernetAddress) -> u64 {
    let [a, b, c, d, e, f] = mac.0;
    u64::from_be_bytes([0, 0, a, b, c, d, e, f])
}

fn mac_of_key(key: u64) -> EthernetAddress {
    let [_, _, a, b, c, d, e, f] = key.to_be_bytes();
    EthernetAddress([a, b, c, d, e, f])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interface::InterfaceConfig;
    use crate::tables::TablesBuilder;

    const BD: BridgeDomainId = BridgeDomainId(0);
    const AGE: Duration = Duration::from_secs(300);

    fn mac(n: u8) -> EthernetAddress {
        EthernetAddress([2, 0, 0, 0, 0, n])
    }

    fn at(secs: u64) -> Instant {
        Instant::from_nanos(secs * 1_000_000_000)
    }

    /// Two ports, 0 and 1, in domain 0; interface 2 is routed.
    fn tables() -> Tables {
        let mut b = TablesBuilder::new();
        b.add_bridge_domain(BridgeDomainConfig {
            name: "bd0".into(),
            ports: vec![IfIndex(0), IfIndex(1)],
            learn: true,
            flood: true,
            mac_age: AGE,
        });
        for n in 0..3u8 {
            let mut cfg = InterfaceConfig::l3(format!("if{n}"), mac(100 + n));
            if n < 2 {
                cfg.mode = InterfaceMode::Bridged(BD);
            }
            b.add_interface(cfg).unwrap();
        }
        b.build(1)
    }

    #[test]
    fn keys_round_trip() {
        let m = EthernetAddress([0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54]);
        assert_eq!(mac_of_key(mac_key(m)), m);
        assert_ne!(mac_key(mac(1)), mac_key(mac(2)));
    }

    #[test]
    fn learns_refreshes_and_follows_a_station_move() {
        let mut t = MacTables::default();
        assert_eq!(t.lookup(BD, mac(1), at(0), AGE), None);
        assert_eq!(t.learn(BD, mac(1), IfIndex(0), at(0)), Learned::New);
        assert_eq!(t.lookup(BD, mac(1), at(1), AGE), Some(IfIndex(0)));
        assert_eq!(
            t.lookup(BridgeDomainId(1), mac(1), at(1), AGE),
            None,
            "domains are apart"
        );
        assert_eq!(t.learn(BD, mac(1), IfIndex(0), at(2)), Learned::Refreshed);
        assert_eq!(
            t.learn(BD, mac(1), IfIndex(1), at(3)),
            Learned::Moved { from: IfIndex(0) }
        );
        assert_eq!(t.lookup(BD, mac(1), at(3), AGE), Some(IfIndex(1)));
        assert_eq!(t.iter(BD).count(), 1);
    }

    #[test]
    fn entries_go_stale_after_mac_age_unless_seen_again() {
        let mut t = MacTables::default();
        t.learn(BD, mac(1), IfIndex(0), at(0));
        t.learn(BD, mac(2), IfIndex(1), at(0));
        t.learn(BD, mac(2), IfIndex(1), at(200));
        assert_eq!(t.lookup(BD, mac(1), at(299), AGE), Some(IfIndex(0)));
        assert_eq!(t.lookup(BD, mac(1), at(300), AGE), None);
        assert_eq!(t.iter(BD).count(), 2, "lookup only ignores stale entries");
        t.age(at(300), &tables());
        let left: Vec<_> = t.iter(BD).map(|(m, e)| (m, e.port)).collect();
        assert_eq!(
            left,
            vec![(mac(2), IfIndex(1))],
            "the refreshed entry stays"
        );
    }

    #[test]
    fn age_forgets_ports_that_left_and_domains_that_are_gone() {
        let mut t = MacTables::default();
        t.learn(BD, mac(1), IfIndex(0), at(0));
        t.learn(BD, mac(2), IfIndex(2), at(0));
        t.learn(BridgeDomainId(5), mac(3), IfIndex(0), at(0));
        t.age(at(1), &tables());
        let left: Vec<_> = t.iter(BD).map(|(m, _)| m).collect();
        assert_eq!(
            left,
            vec![mac(1)],
            "interface 2 is not a port of the domain"
        );
        assert_eq!(t.iter(BridgeDomainId(5)).count(), 0);
    }

    #[test]
    fn a_full_domain_refuses_new_addresses_but_keeps_the_known_ones() {
        let mut t = MacTables::with_capacity(2);
        assert_eq!(t.learn(BD, mac(1), IfIndex(0), at(0)), Learned::New);
        assert_eq!(t.learn(BD, mac(2), IfIndex(0), at(0)), Learned::New);
        assert_eq!(t.learn(BD, mac(3), IfIndex(0), at(0)), Learned::Refused);
        assert_eq!(t.learn(BD, mac(4), IfIndex(1), at(0)), Learned::Refused);
        assert_eq!(t.refused(BD), 2);
        assert_eq!(
            t.learn(BD, mac(1), IfIndex(1), at(1)),
            Learned::Moved { from: IfIndex(0) },
            "known addresses still move"
        );
        assert_eq!(t.lookup(BD, mac(3), at(1), AGE), None);
        assert_eq!(t.iter(BD).count(), 2);
        let other = BridgeDomainId(1);
        assert_eq!(
            t.learn(other, mac(3), IfIndex(0), at(0)),
            Learned::New,
            "the bound is per domain"
        );
        assert_eq!(t.refused(other), 0);
    }

    #[test]
    fn is_bridge_port_follows_the_interface_mode() {
        let t = tables();
        assert!(is_bridge_port(&t, IfIndex(0), BD));
        assert!(!is_bridge_port(&t, IfIndex(0), BridgeDomainId(1)));
        assert!(!is_bridge_port(&t, IfIndex(2), BD));
        assert!(!is_bridge_port(&t, IfIndex(9), BD));
        assert!(bridge_domain(&t, BD).is_some());
        assert!(bridge_domain(&t, BridgeDomainId(1)).is_none());
    }
}
