//! Maglev consistent hashing (Eisenbud et al., NSDI 2016): a lookup table of a prime size
//! `M` in which each endpoint fills slots in the order of its own permutation, taking turns.
//! A flow's hash picks a slot. Adding or removing one endpoint changes only few slots beyond
//! those it gains or loses, so few flows move that did not have to.
//!
//! The table size is the smallest prime of [`TABLE_SIZES`] at least 100 times the number of
//! endpoints (the paper's M ≥ 100·N keeps the spread within about 1 %), at most 65521.
//! Endpoints take turns, so each gets the same number of slots, give or take one.
//!
//! Slots hold endpoint indices as `u16`: only the first 65535 endpoints are used, and past
//! 65521 endpoints (the largest table) the last ones get no slot. Kubernetes caps a Service
//! far below that (a few thousand endpoints is already large).
//!
//! The permutations come from fixed hashes of the endpoints' seeds, so that a table built
//! again from the same endpoints is the same table, in this process and in the next one.

/// The table sizes used: primes, each about twice the one before.
pub const TABLE_SIZES: &[usize] = &[251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521];

/// The most endpoints a table uses (slots are `u16`).
pub const MAX_ENDPOINTS: usize = u16::MAX as usize;

/// A Maglev lookup table over endpoints `0..n`.
/// The default is the empty table.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Maglev {
    /// Slot to endpoint index; empty without endpoints.
    slots: Box<[u16]>,
}

impl Maglev {
    /// The table for endpoints identified by `seeds` (one per endpoint, stable for an
    /// endpoint across rebuilds: a hash of its address and port). Endpoint `i` of the result
    /// is `seeds[i]`. No endpoints, an empty table.
    pub fn new(seeds: &[u64]) -> Maglev {
        let seeds = &seeds[..seeds.len().min(MAX_ENDPOINTS)];
        if seeds.is_empty() {
            return Maglev {
                slots: Box::new([]),
            };
        }
        let size = table_size_for(seeds.len());
        // Each endpoint's permutation: slot (offset + j·skip) mod M for its j-th turn. M is
        // prime and 1 ≤ skip < M, so a permutation visits every slot.
        let permutations: Vec<(usize, usize)> = seeds
            .iter()
            .map(|&seed| {
                let offset = fixed_hash(OFFSET_SEED, seed) % size as u64;
                let skip = fixed_hash(SKIP_SEED, seed) % (size as u64 - 1) + 1;
                (offset as usize, skip as usize)
            })
            .collect();
        let mut next = vec![0usize; seeds.len()];
        let mut slots = vec![u16::MAX; size];
        let mut filled = 0;
        'turns: loop {
            for (endpoint, &(offset, skip)) in permutations.iter().enumerate() {
                let mut slot = (offset + next[endpoint] * skip) % size;
                while slots[slot] != u16::MAX {
                    next[endpoint] += 1;
                    slot = (offset + next[endpoint] * skip) % size;
                }
                slots[slot] = endpoint as u16;
                next[endpoint] += 1;
                filled += 1;
                if filled == size {
                    break 'turns;
                }
            }
        }
        Maglev {
            slots: slots.into_boxed_slice(),
        }
    }

    /// The endpoint (an index into the seeds it was built from) for a flow's hash; `None`
    /// when there are no endpoints.
    #[inline]
    pub fn pick(&self, hash: u64) -> Option<usize> {
        let size = self.slots.len() as u64;
        if size == 0 {
            return None;
        }
        Some(usize::from(self.slots[(hash % size) as usize]))
    }

    /// Slots in the table (0 without endpoints).
    pub fn table_size(&self) -> usize {
        self.slots.len()
    }

    /// Bytes the table takes (for `svc_bytes_per_service`).
    pub fn heap_bytes(&self) -> usize {
        core::mem::size_of_val(&*self.slots)
    }
}

/// Seeds of the two fixed hashes a permutation is made of (any constants; they must not
/// change between runs, or rebuilt tables would move flows).
const OFFSET_SEED: u64 = 0x6d61_676c_6576_0001;
const SKIP_SEED: u64 = 0x6d61_676c_6576_0002;

fn fixed_hash(key: u64, value: u64) -> u64 {
    use core::hash::BuildHasher;
    foldhash::fast::FixedState::with_seed(key).hash_one(value)
}

/// The smallest table size at least 100 times `endpoints`, else the largest.
fn table_size_for(endpoints: usize) -> usize {
    let wanted = endpoints.saturating_mul(100);
    TABLE_SIZES
        .iter()
        .copied()
        .find(|&size| size >= wanted)
        .unwrap_or(TABLE_SIZES[TABLE_SIZES.len() - 1])
}

#[cfg(test)]
mod tests;
