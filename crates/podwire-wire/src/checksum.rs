//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! Vocabulary: a *sum* is the one's-complement sum of the big-endian 16-bit words of some bytes,
//! folded to 16 bits (an odd trailing byte counts as if followed by a zero byte). A checksum
//! *field* holds [`finish`] of the sum of everything it covers, so that the sum over the covered
//! bytes, field included, is `0xffff` when they are intact.
//!
//! To build a checksum over several pieces, [`combine`] their sums (every piece but the last must
//! have an even length, as they do in every header) and [`finish`] the result.

use crate::ip::IpProtocol;
use core::net::{Ipv4Addr, Ipv6Addr};

/// The folded one's-complement sum of `bytes`.
///
/// Sums 32-bit native-endian words into a 64-bit accumulator (which the compiler vectorizes),
/// then folds and converts to network order: the one's-complement sum does not depend on byte
/// order apart from that final swap (RFC 1071 §2(B)).
#[inline]
pub fn data(bytes: &[u8]) -> u16 {
    let mut acc: u64 = 0;
    let mut words = bytes.chunks_exact(4);
    for word in &mut words {
        acc += u64::from(u32::from_ne_bytes([word[0], word[1], word[2], word[3]]));
    }
    let rest = words.remainder();
    let mut tail = [0u8; 4];
    tail[..rest.len()].copy_from_slice(rest);
    acc += u64::from(u32::from_ne_bytes(tail));
    u16::from_be(fold(acc))
}

/// The one's-complement sum of partial sums.
#[inline]
pub fn combine(sums: &[u16]) -> u16 {
    fold(sums.iter().map(|&sum| u64::from(sum)).sum())
}

/// The value of a checksum field whose covered bytes sum to `sum`.
#[inline]
pub const fn finish(sum: u16) -> u16 {
    !sum
}

/// The sum of the IPv4 pseudo-header that UDP and TCP checksums cover (RFC 768, RFC 9293).
///
/// `len` is the length of the transport header and its payload (at most 65535 in a real
/// IPv4 packet; it is a `u32` like [`pseudo_header_v6`]'s so that no caller has to narrow it).
#[inline]
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: IpProtocol, len: u32) -> u16 {
    let acc = u64::from(src.to_bits())
        + u64::from(dst.to_bits())
        + u64::from(protocol.0)
        + u64::from(len);
    fold(acc)
}

/// The sum of the IPv6 pseudo-header that upper-layer checksums cover (RFC 8200 §8.1).
///
/// `len` is the upper-layer packet length; `next_header` is the upper-layer protocol (not the
/// first extension header).
#[inline]
pub fn pseudo_header_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: IpProtocol, len: u32) -> u16 {
    let halves = |addr: Ipv6Addr| {
        let bits = addr.to_bits();
        [
            (bits >> 96) as u32,
            (bits >> 64) as u32,
            (bits >> 32) as u32,
            bits as u32,
        ]
    };
    let mut acc = u64::from(next_header.0) + u64::from(len);
    for word in halves(src).into_iter().chain(halves(dst)) {
        acc += u64::from(word);
    }
    fold(acc)
}

/// The checksum field after a covered 16-bit word changed from `old` to `new`
/// (RFC 1624 equation 3, which never yields the `0xffff` the older equation could).
#[inline]
pub const fn update_u16(checksum: u16, old: u16, new: u16) -> u16 {
    let acc = (!checksum) as u64 + (!old) as u64 + new as u64;
    !fold(acc)
}

/// The checksum field after a covered 32-bit word (an IPv4 address, say) changed from `old` to
/// `new`; the word must start at an even offset of the covered bytes.
#[inline]
pub const fn update_u32(checksum: u16, old: u32, new: u32) -> u16 {
    let old = !old;
    let acc = (!checksum) as u64
        + (old >> 16) as u64
        + (old & 0xffff) as u64
        + (new >> 16) as u64
        + (new & 0xffff) as u64;
    !fold(acc)
}

/// The checksum field after covered bytes changed from `old` to `new` (an IPv6 address, or an
/// address and a port rewritten together by NAT).
///
/// The bytes must start at an even offset of the covered bytes; `old` and `new` are normally
/// the same length (any odd tail counts as padded with a zero byte).
#[inline]
pub fn update_bytes(checksum: u16, old: &[u8], new: &[u8]) -> u16 {
    let acc = u64::from(!checksum) + u64::from(!data(old)) + u64::from(data(new));
    !fold(acc)
}

/// How the sum of some covered bytes changes when they change from `old` to `new`: one
/// difference serves every checksum that covers them (a NAT's address change is in the IPv4
/// header checksum and in the TCP/UDP pseudo-header), and differences add up with
/// [`combine`]. Apply it with [`adjust`]; the same rules as [`update_bytes`] hold.
#[inline]
pub fn difference(old: &[u8], new: &[u8]) -> u16 {
    fold(u64::from(!data(old)) + u64::from(data(new)))
}

/// The checksum field after the bytes it covers changed by `difference` (see
/// [`difference`]); never `0xffff`, as [`update_u16`].
#[inline]
pub const fn adjust(checksum: u16, difference: u16) -> u16 {
    !fold((!checksum) as u64 + difference as u64)
}

/// Folds a sum of 16-bit (or 32-bit) words to 16 bits with end-around carries
/// (2^32 and 2^16 are both 1 modulo 0xffff).
#[inline(always)]
const fn fold(mut acc: u64) -> u16 {
    acc = (acc & 0xffff_ffff) + (acc >> 32);
    acc = (acc & 0xffff_ffff) + (acc >> 32);
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    acc as u16
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The textbook RFC 1071 loop, one 16-bit word at a time: the reference for the fast sum.
    fn reference_sum(bytes: &[u8]) -> u16 {
        let mut acc: u32 = 0;
        for pair in bytes.chunks(2) {
            let word = u16::from_be_bytes([pair[0], pair.get(1).copied().unwrap_or(0)]);
            acc += u32::from(word);
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc as u16
    }

    #[test]
    fn rfc1071_example_sums_to_ddf2() {
        // RFC 1071 §3: the bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2.
        assert_eq!(
            data(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0xddf2
        );
    }

    #[test]
    fn odd_tail_is_padded_with_zero() {
        assert_eq!(data(&[0x12]), 0x1200);
        assert_eq!(data(&[0x00, 0x01, 0x02]), 0x0201);
        assert_eq!(data(&[]), 0);
    }

    #[test]
    fn pseudo_header_v4_matches_the_bytes_it_stands_for() {
        let src = Ipv4Addr::new(10, 0, 0, 1);
        let dst = Ipv4Addr::new(192, 168, 7, 250);
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&src.octets());
        bytes.extend_from_slice(&dst.octets());
        bytes.extend_from_slice(&[0, 17, 0x05, 0xdc]);
        assert_eq!(
            pseudo_header_v4(src, dst, IpProtocol::UDP, 1500),
            data(&bytes)
        );
    }

    #[test]
    fn pseudo_header_v6_matches_the_bytes_it_stands_for() {
        let src: Ipv6Addr = "fd00::1".parse().unwrap();
        let dst: Ipv6Addr = "fe80::ffff:1234:5678:9abc".parse().unwrap();
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&src.octets());
        bytes.extend_from_slice(&dst.octets());
        bytes.extend_from_slice(&70_000u32.to_be_bytes());
        bytes.extend_from_slice(&[0, 0, 0, 58]);
        assert_eq!(
            pseudo_header_v6(src, dst, IpProtocol::ICMPV6, 70_000),
            data(&bytes)
        );
    }

    proptest! {
        #[test]
        fn fast_sum_equals_the_reference(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            prop_assert_eq!(data(&bytes), reference_sum(&bytes));
        }

        #[test]
        fn combine_of_even_pieces_equals_the_sum_of_the_whole(
            a in proptest::collection::vec(any::<u16>(), 0..40),
            b in proptest::collection::vec(any::<u8>(), 0..80),
        ) {
            let a: Vec<u8> = a.iter().flat_map(|w| w.to_be_bytes()).collect();
            let whole: Vec<u8> = a.iter().chain(&b).copied().collect();
            // Equal modulo 0xffff: 0 and 0xffff are the two zeros of one's complement.
            let (combined, direct) = (combine(&[data(&a), data(&b)]), data(&whole));
            prop_assert_eq!(combined % 0xffff, direct % 0xffff);
        }

        #[test]
        fn incremental_updates_equal_full_recomputation(
            mut words in proptest::collection::vec(any::<u16>(), 4..40),
            index in any::<prop::sample::Index>(),
            new16 in any::<u16>(),
            new32 in any::<u32>(),
        ) {
            // A realistic header never sums to zero: pin one word to be non-zero.
            words[0] |= 1;
            let bytes = |words: &[u16]| -> Vec<u8> { words.iter().flat_map(|w| w.to_be_bytes()).collect() };
            let checksum = finish(data(&bytes(&words)));

            let i = 1 + index.index(words.len() - 2);
            let old16 = words[i];
            words[i] = new16;
            prop_assert_eq!(update_u16(checksum, old16, new16), finish(data(&bytes(&words))));
            words[i] = old16;

            let old32 = (u32::from(words[i]) << 16) | u32::from(words[i + 1]);
            let old_bytes = old32.to_be_bytes();
            words[i] = (new32 >> 16) as u16;
            words[i + 1] = new32 as u16;
            let expected = finish(data(&bytes(&words)));
            prop_assert_eq!(update_u32(checksum, old32, new32), expected);
            prop_assert_eq!(update_bytes(checksum, &old_bytes, &new32.to_be_bytes()), expected);
            let change = difference(&old_bytes, &new32.to_be_bytes());
            prop_assert_eq!(adjust(checksum, change), expected);
        }
    }
}
