//! Longest-prefix-match route tables: the forwarding information base.
//!
//! [`Ip4Lpm`] and [`Ip6Lpm`] map a prefix to a `u32` value, an index into an
//! adjacency array that the caller owns. A worker looks up every packet
//! (`ip4-lookup` a vector at a time, with [`Ip4Lpm::lookup_many`]), so the
//! cost of a lookup must not grow with the number of routes (the target is
//! 1M routes at ≥15 Mpps per core for the whole forwarding path); `insert` and
//! `remove` are control-plane operations, done on a master copy that is then
//! cloned and published.
//!
//! # Why these two designs
//!
//! **IPv4: a 16-8-8 multibit trie** (FD.io VPP's "mtrie"). The root is a flat
//! array of 65536 slots indexed by the top 16 bits of the address, then plies
//! of 256 slots for the third and the fourth byte. Every slot holds either the
//! answer (routes are pushed down to the leaves when inserted) or the number
//! of a ply, so a lookup is at most three dependent loads whatever the table
//! holds, and the root (256 KiB) stays in the L2 cache. Memory grows with the
//! number of distinct /16s and /24s that hold longer routes: 256 slots per
//! ply.
//!
//! **IPv6: one hash table per prefix length present, probed longest first.**
//! A trie over 128 bits needs 14 or more levels, and each random /128 host
//! route would cost a ply per level. Binary search over the lengths with
//! markers (Waldvogel et al.) probes only about log2 of the lengths, but each
//! marker must carry the longest route that matches it: inserting a short
//! prefix must then rewrite every marker below it, which needs an ordered
//! index beside the hash tables to find them, memory for the markers (up to
//! seven per route), and updates that cost as much as the routes they cover.
//! A cluster uses few lengths (/128 for pods and nodes, /64 to /80 for node
//! pod CIDRs, /0 for the default route), so probing longest first costs one
//! to four hash lookups; the cost grows with the number of *distinct* lengths
//! (at most 129), never with the number of routes, and an update is one
//! hash-table operation. The price: a table with dozens of distinct lengths
//! makes a lookup probe dozens of hash tables.
//!
//! Hash tables are seeded per process ([`foldhash::fast::RandomState`]):
//! routes come from the cluster, and a predictable hash would let whoever
//! chooses them make some lengths slow.

mod ip4;
mod ip6;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use ip4::Ip4Lpm;
pub use ip6::Ip6Lpm;

/// The largest value a route can carry.
///
/// The IPv4 trie spends the top bit of a slot to tell a ply from a route and
/// stores `value + 1` so that 0 means "no route"; both tables accept the same
/// values so that one adjacency array can serve both families.
pub const MAX_VALUE: u32 = (1 << 31) - 2;

/// Why a route table refused a prefix or a value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FibError {
    /// The prefix length does not fit the address family.
    #[error(
        "{prefix}/{len}: the prefix length is longer than the {max} bits of the address; use a length from 0 to {max}"
    )]
    LengthTooLong {
        /// The prefix as given.
        prefix: IpAddr,
        /// The length as given.
        len: u8,
        /// The number of bits in an address of this family.
        max: u8,
    },
    /// The address has bits set after the prefix length.
    #[error(
        "{prefix}/{len} has host bits set after the first {len} bits; use the canonical prefix {canonical}/{len}"
    )]
    HostBitsSet {
        /// The prefix as given.
        prefix: IpAddr,
        /// The length as given.
        len: u8,
        /// The prefix with its host bits cleared.
        canonical: IpAddr,
    },
    /// The value does not fit the encoding of the tables.
    #[error(
        "route value {value} is larger than {max}, the largest value a route table stores; use a smaller adjacency index"
    )]
    ValueTooLarge {
        /// The value as given.
        value: u32,
        /// [`MAX_VALUE`].
        max: u32,
    },
}

/// An exact-match map from prefix bits to route value, seeded per process.
type RouteMap<K> = hashbrown::HashMap<K, u32, foldhash::fast::RandomState>;

/// The mask that keeps the first `len` bits of an IPv4 address (`len` ≤ 32).
fn mask4(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

/// The mask that keeps the first `len` bits of an IPv6 address (`len` ≤ 128).
fn mask6(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

/// Checks that `len` fits the family of `prefix` and that no bit after it is set.
fn check_prefix(prefix: IpAddr, len: u8) -> Result<(), FibError> {
    let max = match prefix {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    };
    if len > max {
        return Err(FibError::LengthTooLong { prefix, len, max });
    }
    let canonical = match prefix {
        IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask4(len))),
        IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask6(len))),
    };
    if canonical != prefix {
        return Err(FibError::HostBitsSet {
            prefix,
            len,
            canonical,
        });
    }
    Ok(())
}

/// Checks that a route value fits the tables' encoding.
fn check_value(value: u32) -> Result<(), FibError> {
    if value > MAX_VALUE {
        return Err(FibError::ValueTooLarge {
            value,
            max: MAX_VALUE,
        });
    }
    Ok(())
}

/// A small deterministic generator for the tests' random tables (SplitMix64).
#[cfg(test)]
struct TestRng(u64);

#[cfg(test)]
impl TestRng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `bound` (the tests use small bounds, where the bias of
    /// a modulo is negligible).
    fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_the_first_bits() {
        assert_eq!(mask4(0), 0);
        assert_eq!(mask4(8), 0xff00_0000);
        assert_eq!(mask4(32), u32::MAX);
        assert_eq!(mask6(0), 0);
        assert_eq!(mask6(1), 1 << 127);
        assert_eq!(mask6(128), u128::MAX);
    }

    #[test]
    fn host_bits_error_names_the_canonical_prefix() {
        let err = check_prefix("10.1.2.3".parse().unwrap(), 16).unwrap_err();
        assert_eq!(
            err,
            FibError::HostBitsSet {
                prefix: "10.1.2.3".parse().unwrap(),
                len: 16,
                canonical: "10.1.0.0".parse().unwrap(),
            }
        );
        assert!(err.to_string().contains("10.1.0.0/16"), "{err}");
    }

    #[test]
    fn length_error_gives_the_valid_range() {
        let err = check_prefix("::".parse().unwrap(), 129).unwrap_err();
        assert!(err.to_string().contains("from 0 to 128"), "{err}");
        assert!(check_prefix("0.0.0.0".parse().unwrap(), 33).is_err());
        assert!(check_prefix("0.0.0.0".parse().unwrap(), 32).is_ok());
    }

    #[test]
    fn values_above_the_limit_are_refused() {
        assert!(check_value(MAX_VALUE).is_ok());
        assert_eq!(
            check_value(MAX_VALUE + 1),
            Err(FibError::ValueTooLarge {
                value: MAX_VALUE + 1,
                max: MAX_VALUE
            })
        );
    }
}
