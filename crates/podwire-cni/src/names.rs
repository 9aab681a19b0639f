//! The naming rules of the CNI spec: container ids and network names (a letter or digit,
//! then letters, digits, `_`, `.` and `-`) and kernel interface names.

/// Why a name breaks the rules. The messages say "it", so that the caller can name the thing
/// first ("CNI_CONTAINERID \"-x\" is invalid: it starts with ...").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Nothing at all.
    #[error("it is empty")]
    Empty,
    /// The first character is not an ASCII letter or digit.
    #[error("it starts with {0:?}; the first character must be a letter or a digit")]
    BadStart(char),
    /// A later character is outside the allowed set.
    #[error(
        "it contains {0:?}; after the first character only letters, digits, '_', '.' and '-' are allowed"
    )]
    BadChar(char),
    /// Longer than the kernel's limit for interface names.
    #[error("it is {0} bytes long; a Linux interface name has at most 15")]
    TooLong(usize),
    /// `.` or `..`, which the kernel refuses as interface names.
    #[error("{0:?} is not usable as an interface name")]
    DotName(String),
    /// A character the kernel refuses in interface names.
    #[error(
        "it contains {0:?}, which an interface name cannot contain ('/', ':' and whitespace are refused)"
    )]
    BadInterfaceChar(char),
}

/// The longest interface name Linux accepts, in bytes (`IFNAMSIZ` minus the NUL).
pub const MAX_INTERFACE_NAME_LEN: usize = 15;

/// Checks a container id (`CNI_CONTAINERID`) or a network name (`name` in the config).
pub fn check_identifier(text: &str) -> Result<(), NameError> {
    let mut chars = text.chars();
    let first = chars.next().ok_or(NameError::Empty)?;
    if !first.is_ascii_alphanumeric() {
        return Err(NameError::BadStart(first));
    }
    match chars.find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))) {
        Some(bad) => Err(NameError::BadChar(bad)),
        None => Ok(()),
    }
}

/// Checks an interface name (`CNI_IFNAME`) as the kernel and the reference plugins do.
pub fn check_interface_name(text: &str) -> Result<(), NameError> {
    if text.is_empty() {
        return Err(NameError::Empty);
    }
    if text.len() > MAX_INTERFACE_NAME_LEN {
        return Err(NameError::TooLong(text.len()));
    }
    if text == "." || text == ".." {
        return Err(NameError::DotName(text.to_owned()));
    }
    // ':' is refused too: the kernel's alias syntax (`eth0:1`) makes such names ambiguous.
    match text
        .chars()
        .find(|&c| c == '/' || c == ':' || c.is_whitespace())
    {
        Some(bad) => Err(NameError::BadInterfaceChar(bad)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_follow_the_spec_pattern() {
        for good in ["a", "0", "abc-DEF_1.2", "9f3e2a1b", "cnitool-0123abcd"] {
            assert_eq!(check_identifier(good), Ok(()), "{good}");
        }
        assert_eq!(check_identifier(""), Err(NameError::Empty));
        assert_eq!(check_identifier("-a"), Err(NameError::BadStart('-')));
        assert_eq!(check_identifier("_a"), Err(NameError::BadStart('_')));
        assert_eq!(check_identifier("é"), Err(NameError::BadStart('é')));
        assert_eq!(check_identifier("a b"), Err(NameError::BadChar(' ')));
        assert_eq!(check_identifier("a/b"), Err(NameError::BadChar('/')));
        assert_eq!(check_identifier("ab:"), Err(NameError::BadChar(':')));
    }

    #[test]
    fn interface_names_follow_the_kernel_rules() {
        for good in ["eth0", "net1", "a", "x".repeat(15).as_str(), "-odd_but.ok"] {
            assert_eq!(check_interface_name(good), Ok(()), "{good}");
        }
        assert_eq!(check_interface_name(""), Err(NameError::Empty));
        assert_eq!(
            check_interface_name(&"x".repeat(16)),
            Err(NameError::TooLong(16))
        );
        // Bytes, not characters: 8 two-byte characters are 16 bytes.
        assert_eq!(
            check_interface_name(&"é".repeat(8)),
            Err(NameError::TooLong(16))
        );
        assert_eq!(
            check_interface_name("."),
            Err(NameError::DotName(".".into()))
        );
        assert_eq!(
            check_interface_name(".."),
            Err(NameError::DotName("..".into()))
        );
        assert_eq!(
            check_interface_name("a/b"),
            Err(NameError::BadInterfaceChar('/'))
        );
        assert_eq!(
            check_interface_name("eth0:1"),
            Err(NameError::BadInterfaceChar(':'))
        );
        assert_eq!(
            check_interface_name("a\tb"),
            Err(NameError::BadInterfaceChar('\t'))
        );
    }

    #[test]
    fn messages_say_what_to_do() {
        assert_eq!(
            NameError::BadStart('-').to_string(),
            "it starts with '-'; the first character must be a letter or a digit"
        );
        assert!(NameError::TooLong(16).to_string().contains("at most 15"));
    }
}
