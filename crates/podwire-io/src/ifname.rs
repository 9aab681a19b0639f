//! Validation of Linux network interface names, shared by everything that passes a name to the
//! kernel in a fixed-size buffer or a path.

/// The longest interface name Linux accepts, in bytes (`IFNAMSIZ` minus the terminating NUL).
pub const MAX_LEN: usize = libc::IFNAMSIZ - 1;

/// An interface name the kernel would reject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{name:?} is not a valid interface name: Linux accepts 1 to {MAX_LEN} bytes without '/', ':', \
     whitespace or NUL, other than \".\" and \"..\""
)]
pub struct InvalidIfName {
    /// The rejected name.
    pub name: String,
}

/// Checks `name` with the kernel's rules (`dev_valid_name`), so that a bad name is reported by
/// name here instead of as a bare `EINVAL`, and can never escape a `/proc/sys` path.
pub fn validate(name: &str) -> Result<(), InvalidIfName> {
    let valid = !name.is_empty()
        && name.len() <= MAX_LEN
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b == 0 || is_kernel_space(b));
    if valid {
        Ok(())
    } else {
        Err(InvalidIfName {
            name: name.to_owned(),
        })
    }
}

/// `isspace` of the kernel's ctype table, which also counts vertical tab and 0xa0.
fn is_kernel_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0xa0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for name in ["eth0", "veth-pod.1", "a", "fifteen-chars-x"] {
            assert_eq!(validate(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn rejects_what_the_kernel_rejects() {
        for name in [
            "",
            ".",
            "..",
            "sixteen-chars-xx",
            "a/b",
            "../../x",
            "a:1",
            "a b",
            "tab\t",
            "vtab\x0b",
            "nul\0",
        ] {
            assert!(validate(name).is_err(), "{name:?} should be rejected");
        }
    }
}
