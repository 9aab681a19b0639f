//! Bulk copies between shared memory and private buffers with volatile
//! accesses only.
//!
//! The peer may write the shared side at any moment, so the compiler must
//! neither assume its contents stay put nor fold two reads into one: every
//! shared byte is touched through `read_volatile`/`write_volatile`, never
//! through a reference. The private side is ordinary memory. Words of eight
//! bytes are moved where the shared side is aligned, so a 64-byte frame costs
//! eight loads and eight stores rather than sixty-four.

use std::mem::size_of;

const WORD: usize = size_of::<u64>();

/// How many leading bytes to move one at a time before `addr` is aligned
/// for a `u64`, capped at `len`.
fn unaligned_prefix(addr: usize, len: usize) -> usize {
    addr.wrapping_neg().rem_euclid(WORD).min(len)
}

/// Copies `dst.len()` bytes starting at `src` (shared memory) into `dst`.
///
/// # Safety
/// `src .. src + dst.len()` must lie inside one live mapping that stays
/// mapped for the duration of the call.
pub(super) unsafe fn copy_from_shared(src: *const u8, dst: &mut [u8]) {
    let len = dst.len();
    let out = dst.as_mut_ptr();
    let head = unaligned_prefix(src as usize, len);
    let mut i = 0;
    while i < head {
        // SAFETY: i < len, so src + i is inside the caller's range; out + i
        // is inside `dst`.
        unsafe { out.add(i).write(src.add(i).read_volatile()) };
        i += 1;
    }
    while i + WORD <= len {
        // SAFETY: src + i is 8-byte aligned (the prefix loop aligned it) and
        // the 8 bytes are inside the caller's range; the private side may be
        // unaligned, hence `write_unaligned`.
        unsafe {
            let word = src.add(i).cast::<u64>().read_volatile();
            out.add(i).cast::<u64>().write_unaligned(word);
        }
        i += WORD;
    }
    while i < len {
        // SAFETY: as in the first loop.
        unsafe { out.add(i).write(src.add(i).read_volatile()) };
        i += 1;
    }
}

/// Copies all of `src` to `dst` (shared memory).
///
/// # Safety
/// `dst .. dst + src.len()` must lie inside one live, writable mapping that
/// stays mapped for the duration of the call.
pub(super) unsafe fn copy_to_shared(src: &[u8], dst: *mut u8) {
    let len = src.len();
    let from = src.as_ptr();
    let head = unaligned_prefix(dst as usize, len);
    let mut i = 0;
    while i < head {
        // SAFETY: i < len: inside `src` and inside the caller's range.
        unsafe { dst.add(i).write_volatile(from.add(i).read()) };
        i += 1;
    }
    while i + WORD <= len {
        // SAFETY: dst + i is 8-byte aligned and the 8 bytes are inside the
        // caller's range; the private side may be unaligned.
        unsafe {
            let word = from.add(i).cast::<u64>().read_unaligned();
            dst.add(i).cast::<u64>().write_volatile(word);
        }
        i += WORD;
    }
    while i < len {
        // SAFETY: as in the first loop.
        unsafe { dst.add(i).write_volatile(from.add(i).read()) };
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every alignment of source and destination and every short length,
    /// so the prefix, word and tail loops are all exercised together.
    #[test]
    fn copies_are_exact_at_every_alignment() {
        let pattern: Vec<u8> = (0..64u8)
            .map(|b| b.wrapping_mul(37).wrapping_add(1))
            .collect();
        for src_off in 0..WORD {
            for len in 0..40 {
                let mut shared = [0u8; 64];
                // SAFETY: src_off + len <= 48 < 64: inside `shared`.
                unsafe { copy_to_shared(&pattern[..len], shared.as_mut_ptr().add(src_off)) };
                assert_eq!(&shared[src_off..src_off + len], &pattern[..len]);
                assert!(
                    shared[..src_off].iter().all(|&b| b == 0),
                    "wrote before the range"
                );
                assert!(
                    shared[src_off + len..].iter().all(|&b| b == 0),
                    "wrote past the range"
                );

                let mut back = vec![0u8; len + 1];
                // SAFETY: as above.
                unsafe { copy_from_shared(shared.as_ptr().add(src_off), &mut back[1..]) };
                assert_eq!(&back[1..], &pattern[..len]);
            }
        }
    }
}
