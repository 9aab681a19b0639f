//! CHECK's comparison of the runtime's `prevResult` (the final ADD result) with the
//! attachment as the agent finds it.

use std::fmt;
use std::path::Path;

use podwire_model::Cidr;
use podwire_model::attach::Attachment;

use crate::error::{CniError, ErrorCode};
use crate::prev_result::PrevResult;

/// How the `prevResult` and the attachment disagree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckMismatch {
    /// The result lists no interface of that name in that namespace.
    #[error("the ADD result (prevResult) lists no interface {ifname} in {sandbox}")]
    NoInterface {
        /// `CNI_IFNAME`
        ifname: String,
        /// `CNI_NETNS`
        sandbox: String,
    },
    /// The addresses differ.
    #[error(
        "the ADD result (prevResult) gives {ifname} the addresses [{}], but the attachment has [{}]",
        Addresses(listed),
        Addresses(actual)
    )]
    Addresses {
        /// `CNI_IFNAME`
        ifname: String,
        /// The addresses in the result.
        listed: Vec<Cidr>,
        /// The attachment's addresses.
        actual: Vec<Cidr>,
    },
    /// The MAC addresses differ: the interface was made again since.
    #[error("the ADD result (prevResult) gives {ifname} the MAC {listed}, but it has {actual} now")]
    Mac {
        /// `CNI_IFNAME`
        ifname: String,
        /// The MAC in the result.
        listed: String,
        /// The attachment's MAC.
        actual: String,
    },
}

impl From<CheckMismatch> for CniError {
    fn from(mismatch: CheckMismatch) -> CniError {
        CniError::new(ErrorCode::CheckFailed, mismatch.to_string())
    }
}

/// Addresses joined with ", ".
struct Addresses<'a>(&'a [Cidr]);

impl fmt::Display for Addresses<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, address) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{address}")?;
        }
        Ok(())
    }
}

/// Checks that `prev` lists `ifname` in `sandbox` with exactly the attachment's addresses
/// (in any order) and, where both know one, its MAC.
pub fn verify(
    prev: &PrevResult,
    ifname: &str,
    sandbox: &Path,
    attachment: &Attachment,
) -> Result<(), CheckMismatch> {
    let sandbox = sandbox.to_string_lossy();
    let index = prev
        .interfaces()
        .iter()
        .position(|entry| entry.name == ifname && entry.sandbox.as_deref() == Some(&*sandbox))
        .ok_or_else(|| CheckMismatch::NoInterface {
            ifname: ifname.to_owned(),
            sandbox: sandbox.clone().into_owned(),
        })?;
    let listed: Vec<Cidr> = prev
        .ips()
        .iter()
        .filter(|ip| ip.interface == Some(index))
        .map(|ip| ip.address)
        .collect();
    let actual = &attachment.addresses;
    let same = listed.len() == actual.len() && listed.iter().all(|a| actual.contains(a));
    if !same {
        return Err(CheckMismatch::Addresses {
            ifname: ifname.to_owned(),
            listed,
            actual: actual.clone(),
        });
    }
    match (&prev.interfaces()[index].mac, &attachment.mac) {
        (Some(listed), Some(actual)) if !listed.eq_ignore_ascii_case(actual) => {
            Err(CheckMismatch::Mac {
                ifname: ifname.to_owned(),
                listed: listed.clone(),
                actual: actual.clone(),
            })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
