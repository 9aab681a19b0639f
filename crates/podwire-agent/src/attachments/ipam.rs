//! One address pool: the usable addresses of a pod CIDR, those in use, and where the next
//! allocation starts.
//!
//! Allocation is round robin, as the reference `host-local` IPAM plugin does it: it starts
//! after the address handed out last and wraps once around the pool, so that an address just
//! freed is reused as late as possible (a new pod must not inherit the old one's conntrack
//! entries or the neighbors' ARP/ND caches). The pool never enumerates its addresses: it keeps
//! the addresses in use in an ordered map and skips runs of them, so an IPv6 /64 costs no
//! more than an IPv4 /24.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use podwire_model::Cidr;

/// The usable addresses of one pod CIDR and their state.
///
/// Addresses are handled as numbers (an IPv4 address widened to `u128`), in the pool's
/// family only.
#[derive(Debug, Clone)]
pub struct Pool {
    /// The pod CIDR, host bits cleared.
    cidr: Cidr,
    /// The first usable address.
    first: u128,
    /// The last usable address.
    last: u128,
    /// Usable addresses in use → how many attachments hold each. More than one only when a
    /// state file written by hand (or by a config that changed) gives one address twice; the
    /// address stays taken until every holder is gone.
    in_use: BTreeMap<u128, u32>,
    /// The address handed out last, where the next search starts.
    cursor: Option<u128>,
}

impl Pool {
    /// The pool of `cidr` (host bits, if any, are ignored), with nothing in use.
    ///
    /// IPv4 pools skip the network and broadcast addresses (except a /31 and a /32, which
    /// have none); IPv6 pools skip the subnet-router anycast address, whose host part is all
    /// zeros (except a /127 and a /128, as RFC 6164 does for point-to-point links).
    pub fn new(cidr: Cidr) -> Pool {
        let cidr = cidr.network();
        let prefix_len = u32::from(cidr.prefix_len());
        let (base, host_mask, point_to_point) = match cidr.addr() {
            IpAddr::V4(net) => (
                u128::from(u32::from(net)),
                u128::from(u32::MAX.checked_shr(prefix_len).unwrap_or(0)),
                prefix_len >= 31,
            ),
            IpAddr::V6(net) => (
                u128::from(net),
                u128::MAX.checked_shr(prefix_len).unwrap_or(0),
                prefix_len >= 127,
            ),
        };
        let top = base | host_mask;
        let (first, last) = match (cidr.addr(), point_to_point) {
            (_, true) => (base, top),
            (IpAddr::V4(_), false) => (base + 1, top - 1),
            (IpAddr::V6(_), false) => (base + 1, top),
        };
        Pool {
            cidr,
            first,
            last,
            in_use: BTreeMap::new(),
            cursor: None,
        }
    }

    /// The pod CIDR (host bits cleared).
    pub fn cidr(&self) -> Cidr {
        self.cidr
    }

    /// How many addresses the pool can hand out in all.
    pub fn capacity(&self) -> u128 {
        // At most 2^128 - 1 (an IPv6 /0 without its anycast address): no overflow.
        self.last - self.first + 1
    }

    /// How many of its addresses are in use.
    pub fn used(&self) -> u128 {
        self.in_use.len() as u128
    }

    /// Whether every address is in use.
    pub fn is_full(&self) -> bool {
        self.used() == self.capacity()
    }

    /// Whether `ip` is one of the addresses this pool hands out (inside the CIDR, not a
    /// skipped one).
    pub fn is_usable(&self, ip: IpAddr) -> bool {
        self.number(ip)
            .is_some_and(|n| (self.first..=self.last).contains(&n))
    }

    /// The address handed out last, if any.
    pub fn cursor(&self) -> Option<IpAddr> {
        self.cursor.map(|n| self.address(n))
    }

    /// Moves the cursor to `ip`, as if it had been handed out last. Returns false, changing
    /// nothing, when `ip` is not usable here (a cursor saved for another CIDR).
    pub fn set_cursor(&mut self, ip: Option<IpAddr>) -> bool {
        match ip {
            None => {
                self.cursor = None;
                true
            }
            Some(ip) if self.is_usable(ip) => {
                self.cursor = self.number(ip);
                true
            }
            Some(_) => false,
        }
    }

    /// The address the next allocation gives: the first free one after the cursor, wrapping
    /// once around the pool (the cursor itself is the last candidate). `None` when every
    /// address is in use. Changes nothing: [`Pool::take`] commits it.
    pub fn next_free(&self) -> Option<IpAddr> {
        let start = match self.cursor {
            Some(cursor) if cursor < self.last => cursor + 1,
            _ => self.first,
        };
        let found = self.first_free_in(start, self.last).or_else(|| {
            // `start > first` makes `start - 1` safe and the range non-empty.
            (start > self.first)
                .then(|| self.first_free_in(self.first, start - 1))
                .flatten()
        });
        found.map(|n| self.address(n))
    }

    /// Marks `ip` in use by one more holder. With `advance`, `ip` becomes the cursor (it was
    /// handed out by this pool); without, it is only reserved (held by an attachment loaded
    /// from the state file, or allocated by an overlapping pool). Addresses this pool does
    /// not hand out are ignored.
    pub fn take(&mut self, ip: IpAddr, advance: bool) {
        let Some(n) = self.usable_number(ip) else {
            return;
        };
        *self.in_use.entry(n).or_insert(0) += 1;
        if advance {
            self.cursor = Some(n);
        }
    }

    /// Drops one holder of `ip`; the address is free when none is left. The cursor does not
    /// move back, so the address is not handed out again until the pool wraps around.
    pub fn release(&mut self, ip: IpAddr) {
        let Some(n) = self.usable_number(ip) else {
            return;
        };
        if let Some(holders) = self.in_use.get_mut(&n) {
            *holders -= 1;
            if *holders == 0 {
                self.in_use.remove(&n);
            }
        }
    }

    /// The first address in `lo..=hi` not in use. Walks only the run of used addresses that
    /// starts at `lo`, never the free ones.
    fn first_free_in(&self, lo: u128, hi: u128) -> Option<u128> {
        let mut candidate = lo;
        for &used in self.in_use.range(lo..=hi).map(|(n, _)| n) {
            if used != candidate {
                break;
            }
            if candidate == hi {
                return None;
            }
            candidate += 1;
        }
        Some(candidate)
    }

    fn usable_number(&self, ip: IpAddr) -> Option<u128> {
        self.number(ip)
            .filter(|n| (self.first..=self.last).contains(n))
    }

    /// `ip` as a number, if it is of the pool's family.
    fn number(&self, ip: IpAddr) -> Option<u128> {
        match (self.cidr.addr(), ip) {
            (IpAddr::V4(_), IpAddr::V4(ip)) => Some(u128::from(u32::from(ip))),
            (IpAddr::V6(_), IpAddr::V6(ip)) => Some(u128::from(ip)),
            _ => None,
        }
    }

    /// The address numbered `n` in the pool's family (`n` is one of the pool's).
    fn address(&self, n: u128) -> IpAddr {
        match self.cidr.addr() {
            // The pool's numbers of an IPv4 pool fit in 32 bits by construction.
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(n as u32)),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(n)),
        }
    }
}
