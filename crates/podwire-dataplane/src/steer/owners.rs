//! Which worker owns the flows whose owner is not the one their hash gives: the reply keys
//! of translated sessions. Shared by every worker; read without a lock.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::nat::flow::FlowKey;

/// Slots per bucket: 8 of 8 bytes, one cache line.
const BUCKET: usize = 8;
/// The low bits of an entry: its owner plus one (0 is an empty slot).
const OWNER_BITS: u64 = 0xff;
/// The most workers an entry can name.
pub const MAX_WORKERS: usize = OWNER_BITS as usize - 1;

/// What [`FlowOwners::claim`] did.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The key is the claimer's now (it was no one's, or already the claimer's).
    Claimed,
    /// The key was another worker's (`.0`): a session of it that has ended, or a flow that
    /// two workers translated to the same reply (counted, see the module documentation);
    /// it is the claimer's now.
    TakenFrom(usize),
    /// Both buckets of the key are full: its packets keep going where their hash says.
    Full,
}

/// What [`FlowOwners::claim_unowned`] did.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Unowned {
    /// The key is the claimer's now (it was no one's, or already the claimer's).
    Claimed,
    /// Another worker (`.0`) owns the key, or was claiming it at the same moment; the key was
    /// left to it.
    Owned(usize),
    /// Both buckets of the key are full: no one owns it, and the claimer does not either.
    Full,
}

/// A table of flow keys and the worker that owns each, made of atomic words: a look-up
/// reads at most two cache lines and takes no lock; a claim is a compare-and-swap.
///
/// An entry is a key's 64-bit hash with its low 8 bits replaced by the owner plus one; the
/// key itself is not kept. A key lives in one of two buckets its hash chooses (two choices
/// keep the buckets even), so two keys are confused only when they share a bucket and 56
/// bits of hash less the bucket's bits: with 2^20 slots, about one chance in 2^40 for a
/// key against each entry of its buckets.
#[derive(Debug)]
pub struct FlowOwners {
    slots: Box<[AtomicU64]>,
    /// Buckets minus one (their number is a power of two).
    mask: usize,
}

impl FlowOwners {
    /// A table with room for about `keys` keys (twice as many slots, at least one bucket).
    pub fn new(keys: usize) -> Self {
        let slots = keys
            .saturating_mul(2)
            .next_power_of_two()
            .clamp(BUCKET, 1 << 30);
        FlowOwners {
            slots: (0..slots).map(|_| AtomicU64::new(0)).collect(),
            mask: slots / BUCKET - 1,
        }
    }

    /// The worker that owns `key`, if one claimed it.
    #[inline]
    pub fn lookup(&self, key: &FlowKey) -> Option<usize> {
        let hash = key.hash();
        let tag = hash & !OWNER_BITS;
        self.buckets(hash).into_iter().find_map(|bucket| {
            self.bucket(bucket).iter().find_map(|slot| {
                let entry = slot.load(Ordering::Acquire);
                (entry != 0 && entry & !OWNER_BITS == tag).then(|| owner(entry))
            })
        })
    }

    /// Makes `worker` (below [`MAX_WORKERS`]) the owner of `key`.
    pub fn claim(&self, key: &FlowKey, worker: usize) -> Claim {
        debug_assert!(worker < MAX_WORKERS);
        let hash = key.hash();
        let tag = hash & !OWNER_BITS;
        let mine = tag | (worker as u64 + 1);
        // A few rounds: another claim may take the empty slot this one chose.
        for _ in 0..4 {
            match self.find(hash, tag, None) {
                Found::Entry(slot, entry) => {
                    slot.store(mine, Ordering::SeqCst);
                    return match owner(entry) {
                        before if before == worker => Claim::Claimed,
                        before => Claim::TakenFrom(before),
                    };
                }
                Found::Empty(None) => return Claim::Full,
                Found::Empty(Some(slot)) => {
                    if slot
                        .compare_exchange(0, mine, Ordering::SeqCst, Ordering::SeqCst)
                        .is_ok()
                    {
                        return Claim::Claimed;
                    }
                }
            }
        }
        Claim::Full
    }

    /// Makes `worker` (below [`MAX_WORKERS`]) the owner of `key` unless another worker owns
    /// it, in one step: of two workers that race to claim one key, at most one wins.
    ///
    /// The key may land in any empty slot of its two buckets, so two claimers may each take
    /// a different one. Each therefore looks at both buckets again after its swap; all of it
    /// sequentially consistent, so that of two racing claimers at least one sees the other's
    /// entry (the store-buffer pattern), and whichever sees a rival gives way (both may: then
    /// neither has the key, and each tries another).
    pub fn claim_unowned(&self, key: &FlowKey, worker: usize) -> Unowned {
        debug_assert!(worker < MAX_WORKERS);
        let hash = key.hash();
        let tag = hash & !OWNER_BITS;
        let mine = tag | (worker as u64 + 1);
        // A few rounds: another claim (of any key) may take the empty slot this one chose.
        for _ in 0..4 {
            let empty = match self.find(hash, tag, None) {
                Found::Entry(_, entry) if owner(entry) == worker => return Unowned::Claimed,
                Found::Entry(_, entry) => return Unowned::Owned(owner(entry)),
                Found::Empty(Some(slot)) => slot,
                Found::Empty(None) => return Unowned::Full,
            };
            if empty
                .compare_exchange(0, mine, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
            {
                continue;
            }
            return match self.find(hash, tag, Some(empty)) {
                Found::Entry(_, rival) => {
                    // Unless a plain claim of the same key took the slot meanwhile.
                    let _ = empty.compare_exchange(mine, 0, Ordering::SeqCst, Ordering::SeqCst);
                    match owner(rival) {
                        // Its own (another thread claiming for the same worker): one will do.
                        rival if rival == worker => Unowned::Claimed,
                        rival => Unowned::Owned(rival),
                    }
                }
                Found::Empty(_) => Unowned::Claimed,
            };
        }
        Unowned::Full
    }

    /// The entry tagged `tag` in the buckets of `hash`, other than `except`; else the first
    /// empty slot, if any. Sequentially consistent: see [`FlowOwners::claim_unowned`].
    fn find(&self, hash: u64, tag: u64, except: Option<&AtomicU64>) -> Found<'_> {
        let mut empty = None;
        for bucket in self.buckets(hash) {
            for slot in self.bucket(bucket) {
                if except.is_some_and(|except| core::ptr::eq(slot, except)) {
                    continue;
                }
                match slot.load(Ordering::SeqCst) {
                    0 => empty = empty.or(Some(slot)),
                    entry if entry & !OWNER_BITS == tag => return Found::Entry(slot, entry),
                    _ => {}
                }
            }
        }
        Found::Empty(empty)
    }

    /// Forgets `key` if `worker` owns it (its session ended); a key another worker claimed
    /// since stays theirs.
    pub fn release(&self, key: &FlowKey, worker: usize) {
        let hash = key.hash();
        let mine = (hash & !OWNER_BITS) | (worker as u64 + 1);
        for bucket in self.buckets(hash) {
            for slot in self.bucket(bucket) {
                if slot
                    .compare_exchange(mine, 0, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
                {
                    return;
                }
            }
        }
    }

    /// How many keys have an owner (a walk of the table: for tests and views).
    pub fn len(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.load(Ordering::Relaxed) != 0)
            .count()
    }

    /// Whether no key has an owner.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The two buckets a key of hash `hash` may live in (the bits above the owner's).
    #[inline]
    fn buckets(&self, hash: u64) -> [usize; 2] {
        let first = (hash >> 8) as usize & self.mask;
        let second = (hash >> 36) as usize & self.mask;
        [first, second]
    }

    #[inline]
    fn bucket(&self, bucket: usize) -> &[AtomicU64] {
        &self.slots[bucket * BUCKET..(bucket + 1) * BUCKET]
    }
}

/// What [`FlowOwners::find`] found.
enum Found<'a> {
    /// The key's slot and entry.
    Entry(&'a AtomicU64, u64),
    /// No entry for the key; an empty slot of its buckets, if one is.
    Empty(Option<&'a AtomicU64>),
}

fn owner(entry: u64) -> usize {
    (entry & OWNER_BITS) as usize - 1
}
