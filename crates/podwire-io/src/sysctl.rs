//! The few per-interface settings that live in `/proc/sys/net` rather than in netlink.
//!
//! `/proc/sys/net` shows the network namespace of the thread that opens a file in it, so each
//! write happens on a thread inside the target namespace ([`NetNs::run_in`]).

use std::fs;
use std::io;
use std::path::PathBuf;

use crate::ifname::{self, InvalidIfName};
use crate::netns::{self, NetNs};

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The interface name is not valid (and so cannot be part of a sysctl path).
    #[error(transparent)]
    InvalidName(#[from] InvalidIfName),
    /// The target namespace could not be entered.
    #[error(transparent)]
    Namespace(#[from] netns::Error),
    /// The sysctl file could not be written.
    #[error(
        "cannot write {value:?} to {}: {source}; check that the interface exists in that \
         namespace (and, for IPv6 settings, that IPv6 is enabled)",
        path.display()
    )]
    Write {
        /// The sysctl file.
        path: PathBuf,
        /// The value written.
        value: String,
        /// Why the write failed.
        source: io::Error,
    },
}

/// Result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Turns off IPv6 duplicate address detection on interface `ifname` in `ns`
/// (`net.ipv6.conf.IFNAME.accept_dad = 0`), so an IPv6 address added afterwards is usable at
/// once instead of "tentative" for a second or more. Pod addresses are allocated by IPAM and
/// cannot be duplicates. Call it before adding the address.
pub fn disable_ipv6_dad(ns: &NetNs, ifname: &str) -> Result<()> {
    ifname::validate(ifname)?;
    write(ns, &format!("ipv6/conf/{ifname}/accept_dad"), "0")
}

/// Turns IPv6 off on interface `ifname` in `ns` (`net.ipv6.conf.IFNAME.disable_ipv6 = 1`):
/// for an interface the switch attaches to with AF_PACKET, whose kernel end must stay silent
/// (no link-local address, no router solicitations into the switch).
pub fn disable_ipv6(ns: &NetNs, ifname: &str) -> Result<()> {
    ifname::validate(ifname)?;
    write(ns, &format!("ipv6/conf/{ifname}/disable_ipv6"), "1")
}

/// Writes `value` to `/proc/sys/net/KEY` as seen from network namespace `ns`. `key` is built by
/// this module from validated parts, never taken from outside.
fn write(ns: &NetNs, key: &str, value: &str) -> Result<()> {
    let path = PathBuf::from("/proc/sys/net").join(key);
    ns.run_in(|| fs::write(&path, value))?
        .map_err(|source| Error::Write {
            path: path.clone(),
            value: value.to_owned(),
            source,
        })
}
