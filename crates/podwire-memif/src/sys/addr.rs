//! Where a memif socket lives: a file in the filesystem or a name in Linux's
//! abstract socket namespace, and the text forms people write them in.

use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::str::FromStr;

use rustix::io::Errno;
use rustix::net::SocketAddrUnix;

/// Longest path or abstract name, in bytes. `sun_path` has 108 bytes: a path
/// needs one of them for its terminating NUL (C peers copy it with one), an
/// abstract name needs the first one for its leading NUL.
pub const MAX_ADDR_LEN: usize = 107;

/// The address of a memif socket.
///
/// Parsed from text with [`str::parse`]: `@NAME` and `abstract:NAME` (VPP's
/// spelling) are abstract names, anything else is a path. Displayed as a
/// path or as `@NAME`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SocketAddr {
    /// A socket file (the default of VPP and libmemif, `/run/vpp/memif.sock`;
    /// DPDK with `socket-abstract=no`). File permissions control who may
    /// connect.
    Path(PathBuf),
    /// A name in the abstract namespace of the network namespace, without
    /// the leading NUL (DPDK's default is `/run/memif.sock`, shown as
    /// `@/run/memif.sock`). There is no file: anyone in the network namespace
    /// may connect.
    Abstract(Vec<u8>),
}

/// Why a text or a value is not a usable memif socket address.
#[derive(Debug, thiserror::Error)]
pub enum AddrError {
    /// Nothing to bind or connect to.
    #[error(
        "the memif socket address is empty: give a path, or @NAME or abstract:NAME for an \
         abstract socket"
    )]
    Empty,
    /// A NUL byte would cut the address short in C peers.
    #[error("the memif socket address {addr:?} contains a NUL byte: remove it")]
    ContainsNul {
        /// The address as given.
        addr: String,
    },
    /// Longer than `sun_path` can hold.
    #[error(
        "the memif socket address {addr} is {len} bytes long but a unix socket address holds at \
         most {MAX_ADDR_LEN}: choose a shorter path or name"
    )]
    TooLong {
        /// The address as given.
        addr: String,
        /// Its length in bytes.
        len: usize,
    },
    /// The kernel's address type refused it for another reason.
    #[error("the memif socket address {addr} cannot be used as a unix socket address: {source}")]
    Unrepresentable {
        /// The address as given.
        addr: String,
        /// What refused it.
        source: Errno,
    },
}

impl SocketAddr {
    /// The bytes the kernel sees: the path, or the abstract name.
    fn name_bytes(&self) -> &[u8] {
        match self {
            SocketAddr::Path(path) => path.as_os_str().as_bytes(),
            SocketAddr::Abstract(name) => name,
        }
    }

    /// Checks what any peer needs of an address: not empty, no NUL, fits.
    pub fn validate(&self) -> Result<(), AddrError> {
        let bytes = self.name_bytes();
        if bytes.is_empty() {
            return Err(AddrError::Empty);
        }
        if bytes.contains(&0) {
            return Err(AddrError::ContainsNul {
                addr: self.to_string(),
            });
        }
        if bytes.len() > MAX_ADDR_LEN {
            return Err(AddrError::TooLong {
                addr: self.to_string(),
                len: bytes.len(),
            });
        }
        Ok(())
    }

    /// The kernel's form. An abstract address is `sun_path[0] = 0` then the
    /// name, with `addrlen` covering exactly those bytes: trailing NULs would
    /// make it a different name than the one DPDK or VPP use.
    pub(crate) fn to_unix(&self) -> Result<SocketAddrUnix, AddrError> {
        self.validate()?;
        let unix = match self {
            SocketAddr::Path(path) => SocketAddrUnix::new(path.as_path()),
            SocketAddr::Abstract(name) => SocketAddrUnix::new_abstract_name(name),
        };
        unix.map_err(|source| AddrError::Unrepresentable {
            addr: self.to_string(),
            source,
        })
    }
}

impl FromStr for SocketAddr {
    type Err = AddrError;

    fn from_str(text: &str) -> Result<SocketAddr, AddrError> {
        let addr = match text
            .strip_prefix("abstract:")
            .or_else(|| text.strip_prefix('@'))
        {
            Some(name) => SocketAddr::Abstract(name.as_bytes().to_vec()),
            None => SocketAddr::Path(PathBuf::from(text)),
        };
        addr.validate()?;
        Ok(addr)
    }
}

impl fmt::Display for SocketAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SocketAddr::Path(path) => write!(f, "{}", path.display()),
            SocketAddr::Abstract(name) => write!(f, "@{}", String::from_utf8_lossy(name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(text: &str) -> Result<SocketAddr, AddrError> {
        text.parse()
    }

    #[test]
    fn both_abstract_spellings_give_the_dpdk_default_name() {
        let expected = SocketAddr::Abstract(b"/run/memif.sock".to_vec());
        assert_eq!(parse("@/run/memif.sock").unwrap(), expected);
        assert_eq!(parse("abstract:/run/memif.sock").unwrap(), expected);
        assert_eq!(expected.to_string(), "@/run/memif.sock");
    }

    #[test]
    fn other_text_is_a_path() {
        assert_eq!(
            parse("/run/vpp/memif.sock").unwrap(),
            SocketAddr::Path(PathBuf::from("/run/vpp/memif.sock"))
        );
        assert_eq!(
            parse("relative/memif.sock").unwrap(),
            SocketAddr::Path(PathBuf::from("relative/memif.sock"))
        );
    }

    #[test]
    fn the_limit_is_107_bytes_for_both_styles() {
        let longest = format!("/{}", "p".repeat(MAX_ADDR_LEN - 1));
        assert!(parse(&longest).is_ok());
        assert!(parse(&format!("@{}", "n".repeat(MAX_ADDR_LEN))).is_ok());

        let path_error = parse(&format!("{longest}x")).unwrap_err();
        assert!(
            matches!(path_error, AddrError::TooLong { len: 108, .. }),
            "{path_error}"
        );
        let name_error = parse(&format!("@{}", "n".repeat(MAX_ADDR_LEN + 1))).unwrap_err();
        assert!(
            matches!(name_error, AddrError::TooLong { len: 108, .. }),
            "{name_error}"
        );
        assert!(name_error.to_string().contains("at most 107"));
    }

    #[test]
    fn empty_and_nul_are_refused() {
        assert!(matches!(parse(""), Err(AddrError::Empty)));
        assert!(matches!(parse("@"), Err(AddrError::Empty)));
        assert!(matches!(parse("abstract:"), Err(AddrError::Empty)));
        assert!(matches!(
            parse("/tmp/a\0b"),
            Err(AddrError::ContainsNul { .. })
        ));
        assert!(matches!(
            SocketAddr::Abstract(b"a\0".to_vec()).to_unix(),
            Err(AddrError::ContainsNul { .. })
        ));
    }

    #[test]
    fn kernel_form_keeps_the_name_exact() {
        let unix = SocketAddr::Abstract(b"podwire".to_vec()).to_unix().unwrap();
        assert_eq!(unix.abstract_name(), Some(&b"podwire"[..]));
        let unix = SocketAddr::Path(PathBuf::from("/tmp/m.sock"))
            .to_unix()
            .unwrap();
        assert_eq!(unix.path_bytes(), Some(&b"/tmp/m.sock"[..]));
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_round_trips(text in ".{0,130}") {
            if let Ok(addr) = parse(&text) {
                prop_assert!(addr.to_unix().is_ok());
                prop_assert_eq!(parse(&addr.to_string()).unwrap(), addr);
            }
        }
    }
}
