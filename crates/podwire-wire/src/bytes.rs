//! Fixed-size reads and writes shared by the views.
//!
//! A view borrows its fixed header as an array (`&[u8; N]`) with one length check; every field
//! is then read at a constant offset of that array, so the compiler emits no further bounds
//! checks. The check itself cannot fail for a view built with `new_checked`.

use core::net::{Ipv4Addr, Ipv6Addr};

/// The first `N` bytes of `data` as an array.
///
/// # Panics
/// If `data` is shorter than `N`, which only a view built with `new_unchecked` over a too short
/// buffer can cause.
#[inline(always)]
#[track_caller]
pub(crate) fn head<const N: usize>(data: &[u8]) -> &[u8; N] {
    match data.first_chunk::<N>() {
        Some(head) => head,
        None => shorter_than_header(data.len(), N),
    }
}

/// The first `N` bytes of `data` as a mutable array; panics like [`head`].
#[inline(always)]
#[track_caller]
pub(crate) fn head_mut<const N: usize>(data: &mut [u8]) -> &mut [u8; N] {
    let len = data.len();
    match data.first_chunk_mut::<N>() {
        Some(head) => head,
        None => shorter_than_header(len, N),
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn shorter_than_header(len: usize, header_len: usize) -> ! {
    panic!(
        "a {len}-byte buffer cannot hold a {header_len}-byte header: build the view with \
         new_checked, or give new_unchecked a buffer that holds the whole header"
    )
}

/// `data[start..end]`, with both bounds clamped to the buffer so that it never panics.
///
/// Variable-length parts (options, payloads) are bounded by length fields; `new_checked`
/// guarantees they fit, and clamping keeps the accessors panic-free even after a setter wrote a
/// length that does not.
#[inline(always)]
pub(crate) fn clamped(data: &[u8], start: usize, end: usize) -> &[u8] {
    let end = end.min(data.len());
    data.get(start.min(end)..end).unwrap_or_default()
}

/// Mutable twin of [`clamped`].
#[inline(always)]
pub(crate) fn clamped_mut(data: &mut [u8], start: usize, end: usize) -> &mut [u8] {
    let end = end.min(data.len());
    data.get_mut(start.min(end)..end).unwrap_or_default()
}

#[inline(always)]
pub(crate) fn get_u16<const N: usize>(h: &[u8; N], at: usize) -> u16 {
    u16::from_be_bytes([h[at], h[at + 1]])
}

#[inline(always)]
pub(crate) fn get_u32<const N: usize>(h: &[u8; N], at: usize) -> u32 {
    u32::from_be_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]])
}

#[inline(always)]
pub(crate) fn get_array<const N: usize, const M: usize>(h: &[u8; N], at: usize) -> [u8; M] {
    let mut out = [0; M];
    out.copy_from_slice(&h[at..at + M]);
    out
}

#[inline(always)]
pub(crate) fn get_ipv4<const N: usize>(h: &[u8; N], at: usize) -> Ipv4Addr {
    Ipv4Addr::from(get_array::<N, 4>(h, at))
}

#[inline(always)]
pub(crate) fn get_ipv6<const N: usize>(h: &[u8; N], at: usize) -> Ipv6Addr {
    Ipv6Addr::from(get_array::<N, 16>(h, at))
}

#[inline(always)]
pub(crate) fn set_u16<const N: usize>(h: &mut [u8; N], at: usize, value: u16) {
    h[at..at + 2].copy_from_slice(&value.to_be_bytes());
}

#[inline(always)]
pub(crate) fn set_u32<const N: usize>(h: &mut [u8; N], at: usize, value: u32) {
    h[at..at + 4].copy_from_slice(&value.to_be_bytes());
}

#[inline(always)]
pub(crate) fn set_bytes<const N: usize>(h: &mut [u8; N], at: usize, value: &[u8]) {
    h[at..at + value.len()].copy_from_slice(value);
}

/// Sets or clears the bits of `mask` in `byte`.
#[inline(always)]
pub(crate) fn set_bit(byte: &mut u8, mask: u8, on: bool) {
    if on {
        *byte |= mask;
    } else {
        *byte &= !mask;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamped_never_panics_and_bounds_to_the_buffer() {
        let data = [1u8, 2, 3, 4];
        assert_eq!(clamped(&data, 1, 3), &[2, 3]);
        assert_eq!(clamped(&data, 2, 100), &[3, 4]);
        assert_eq!(clamped(&data, 3, 1), &[] as &[u8]);
        assert_eq!(clamped(&data, 9, 12), &[] as &[u8]);
    }

    #[test]
    #[should_panic(expected = "cannot hold a 4-byte header")]
    fn head_of_a_short_buffer_panics_with_a_reason() {
        let _ = head::<4>(&[0u8; 3]);
    }
}
