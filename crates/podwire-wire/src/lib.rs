//! Zero-copy views and builders for packet headers.
//!
//! Every protocol module follows the same shape (after smoltcp's `wire`):
//!
//! * a view, `Packet<T>` (or `Frame<T>`), over any `T: AsRef<[u8]>`. `new_checked` validates the
//!   lengths and the fields that other accessors rely on, once; after that every accessor is
//!   infallible and cannot panic. `new_unchecked` skips validation for buffers the caller is
//!   about to fill (its accessors panic if the buffer cannot hold the fixed header).
//!   Setters exist when `T: AsMut<[u8]>` too.
//! * a `Repr`, a plain value with the meaning of a header: `parse` reads one from a view,
//!   `emit` writes one into a view, `buffer_len` says how many bytes `emit` needs.
//!
//! ```
//! use podwire_wire::{EtherType, IpProtocol, ethernet, ipv4, udp};
//!
//! /// The destination port of a UDP-in-IPv4 frame; `Ok(None)` for other traffic.
//! fn udp_dst_port(frame: &[u8]) -> podwire_wire::Result<Option<u16>> {
//!     let frame = ethernet::Frame::new_checked(frame)?;
//!     if frame.ethertype() != EtherType::IPV4 {
//!         return Ok(None);
//!     }
//!     let ip = ipv4::Packet::new_checked(frame.payload())?;
//!     // Only the first fragment carries the UDP header.
//!     if ip.protocol() != IpProtocol::UDP || ip.frag_offset() != 0 {
//!         return Ok(None);
//!     }
//!     Ok(Some(udp::Packet::new_checked(ip.payload())?.dst_port()))
//! }
//!
//! /// Forwards an IPv4 packet in place: `false` if it expired and must be answered with an
//! /// ICMP Time Exceeded instead.
//! fn forward(packet: &mut [u8]) -> podwire_wire::Result<bool> {
//!     let mut ip = ipv4::Packet::new_checked(packet)?;
//!     Ok(ip.decrement_ttl())
//! }
//! # let mut bytes = [0u8; 14 + 28];
//! # bytes[12] = 0x08;
//! # bytes[14..18].copy_from_slice(&[0x45, 0, 0, 28]);
//! # bytes[22..24].copy_from_slice(&[64, 17]);
//! # bytes[36..40].copy_from_slice(&[0, 8, 0, 8]);
//! # assert_eq!(udp_dst_port(&bytes), Ok(Some(8)));
//! # assert_eq!(forward(&mut bytes[14..]), Ok(true));
//! ```
//!
//! The crate does no I/O, allocates nothing and has no dependencies; it is `no_std`.
//! Checksums are never verified implicitly by views (that is a separate call, so that the fast
//! path can skip it when a NIC already did); the `Repr::parse` functions do verify them.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod bytes;
mod cidr;

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmpv4;
pub mod icmpv6;
pub mod ip;
pub mod ipv4;
pub mod ipv6;
pub mod sctp;
pub mod tcp;
pub mod udp;
pub mod vlan;
pub mod vxlan;

pub use core::net::{Ipv4Addr, Ipv6Addr};

pub use arp::ArpRepr;
pub use ethernet::{EtherType, EthernetAddress, EthernetRepr};
pub use icmpv4::Icmpv4Repr;
pub use icmpv6::{Icmpv6Repr, NdiscRepr};
pub use ip::IpProtocol;
pub use ipv4::{Ipv4Cidr, Ipv4Repr};
pub use ipv6::{Ipv6Cidr, Ipv6Repr};
pub use vxlan::VxlanRepr;

use core::fmt;

/// Why a packet could not be read or written.
///
/// Packet parsing is on the data path: a packet that yields one of these is counted and
/// dropped, never a reason to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// The buffer is shorter than the headers say it should be.
    Truncated,
    /// A header field has a value the protocol forbids.
    Malformed,
    /// A checksum does not match the bytes it covers.
    Checksum,
    /// The packet is valid but uses a variant this crate does not handle.
    Unsupported,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Truncated => {
                "packet is shorter than its headers say: it was cut short, or the buffer given \
                 is too small for the headers to be written"
            }
            Error::Malformed => {
                "packet has a header field the protocol forbids (version, length or option): \
                 drop it"
            }
            Error::Checksum => {
                "packet checksum does not match its contents: it was corrupted, drop it"
            }
            Error::Unsupported => {
                "packet uses a protocol variant podwire does not handle (for example ARP for \
                 another link or network type): drop it or hand it to the host"
            }
        })
    }
}

impl core::error::Error for Error {}

/// The result of reading or writing a packet.
pub type Result<T> = core::result::Result<T, Error>;

/// Why a text form of an address or a CIDR could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParseError {
    /// The text is not six two-digit hex bytes separated by `:`.
    EthernetAddress,
    /// A CIDR has no `/` between the address and the prefix length.
    CidrWithoutPrefixLen,
    /// The part of a CIDR before the `/` is not an address of the expected family.
    CidrAddress,
    /// The prefix length of a CIDR is not a number from 0 to `max`.
    CidrPrefixLen {
        /// The longest prefix the address family allows (32 or 128).
        max: u8,
    },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::EthernetAddress => f.write_str(
                "invalid Ethernet address: write six two-digit hex bytes separated by ':', \
                 for example 02:00:00:00:00:01",
            ),
            ParseError::CidrWithoutPrefixLen => f.write_str(
                "CIDR has no prefix length: write the address, '/', then the prefix length, \
                 for example 10.0.0.0/8 or fd00::/64",
            ),
            ParseError::CidrAddress => f.write_str(
                "the address before the '/' of the CIDR is not a valid address of its family \
                 (IPv4 like 10.0.0.0, IPv6 like fd00::)",
            ),
            ParseError::CidrPrefixLen { max } => {
                write!(f, "the CIDR prefix length must be a number from 0 to {max}")
            }
        }
    }
}

impl core::error::Error for ParseError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_say_what_happened() {
        assert!(Error::Truncated.to_string().contains("shorter"));
        assert!(Error::Checksum.to_string().contains("checksum"));
        assert!(
            ParseError::CidrPrefixLen { max: 32 }
                .to_string()
                .contains("0 to 32")
        );
    }
}
