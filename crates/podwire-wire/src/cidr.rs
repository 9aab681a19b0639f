//! The text form `address/prefix_len` that [`Ipv4Cidr`](crate::Ipv4Cidr) and
//! [`Ipv6Cidr`](crate::Ipv6Cidr) share.

use crate::ParseError;
use core::str::FromStr;

/// Splits `address/prefix_len` and parses both halves; the prefix length must be at most `max`.
pub(crate) fn parse<A: FromStr>(text: &str, max: u8) -> Result<(A, u8), ParseError> {
    let (address, prefix_len) = text
        .split_once('/')
        .ok_or(ParseError::CidrWithoutPrefixLen)?;
    let address = address.parse().map_err(|_| ParseError::CidrAddress)?;
    let bad_prefix_len = ParseError::CidrPrefixLen { max };
    if prefix_len.is_empty() || !prefix_len.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad_prefix_len);
    }
    match prefix_len.parse::<u8>() {
        Ok(prefix_len) if prefix_len <= max => Ok((address, prefix_len)),
        _ => Err(bad_prefix_len),
    }
}
