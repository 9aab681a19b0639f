//! The API server's rules for names, label keys and values, and IP addresses: each check
//! gives the problem's text (what is wrong and what is allowed), or `None`.

use std::net::IpAddr;

/// An IP address as the API server parses it; leading zeros in IPv4 are refused (they are
/// octal to some parsers, CVE-2021-29923).
pub(super) fn parse_ip(text: &str) -> Result<IpAddr, String> {
    text.parse::<IpAddr>()
        .map_err(|_| format!("{text:?} is not an IP address: write an IPv4 or IPv6 address"))
}

/// An address a Service or endpoint may use: not unspecified, loopback, link-local or
/// link-local multicast (the API server's `ValidateNonSpecialIP`).
pub(super) fn non_special_ip(text: &str) -> Option<String> {
    let ip = match parse_ip(text) {
        Ok(ip) => ip,
        Err(problem) => return Some(problem),
    };
    let why = match ip {
        _ if ip.is_unspecified() => "unspecified",
        _ if ip.is_loopback() => "a loopback address",
        IpAddr::V4(v4) if v4.is_link_local() => "link-local",
        IpAddr::V4(v4) if v4.octets()[..3] == [224, 0, 0] => "link-local multicast",
        IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80 => "link-local",
        IpAddr::V6(v6) if v6.segments()[0] & 0xff0f == 0xff02 => "link-local multicast",
        _ => return None,
    };
    Some(format!(
        "{ip} is {why}: use an address other hosts can reach"
    ))
}

/// Whether `text` is lowercase letters, digits and '-', starting with a letter (or, unless
/// `first_letter`, a digit) and ending with a letter or digit.
fn dns_label_chars(text: &str, first_letter: bool) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = text.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    let first_ok = match first_letter {
        true => first.is_ascii_lowercase(),
        false => alnum(first),
    };
    first_ok && alnum(last) && bytes.iter().all(|&b| alnum(b) || b == b'-')
}

/// A Namespace name, a port name, a label's name part.
pub(super) fn dns1123_label(text: &str) -> Option<String> {
    if text.len() > 63 || !dns_label_chars(text, false) {
        return Some(format!(
            "{text:?} is not a DNS-1123 label: use at most 63 lowercase letters, digits and '-', \
             starting and ending with a letter or digit"
        ));
    }
    None
}

/// A Service name: a DNS label that starts with a letter.
pub(super) fn dns1035_label(text: &str) -> Option<String> {
    if text.len() > 63 || !dns_label_chars(text, true) {
        return Some(format!(
            "{text:?} is not a DNS-1035 label: use at most 63 lowercase letters, digits and '-', \
             starting with a letter and ending with a letter or digit"
        ));
    }
    None
}

/// A Pod, EndpointSlice or node name: dot-separated DNS labels.
pub(super) fn dns1123_subdomain(text: &str) -> Option<String> {
    if text.len() > 253 || !text.split('.').all(|label| dns_label_chars(label, false)) {
        return Some(format!(
            "{text:?} is not a DNS-1123 subdomain: use at most 253 lowercase letters, digits, \
             '-' and '.', each part starting and ending with a letter or digit"
        ));
    }
    None
}

/// A port name a targetPort may refer to (`IANA_SVC_NAME`).
pub(super) fn iana_svc_name(text: &str) -> Option<String> {
    let valid = !text.is_empty()
        && text.len() <= 15
        && dns_label_chars(text, false)
        && !text.contains("--")
        && text.bytes().any(|b| b.is_ascii_lowercase());
    (!valid).then(|| {
        format!(
            "{text:?} is not a port name: use at most 15 lowercase letters, digits and '-' \
             (at least one letter, no '--', not starting or ending with '-')"
        )
    })
}

/// A label key: `[prefix/]name`, the prefix a DNS subdomain.
pub(super) fn label_key(key: &str) -> Option<String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(problem) = prefix.and_then(dns1123_subdomain) {
        return Some(format!("label key prefix {problem}"));
    }
    if name.is_empty() || label_value(name).is_some() {
        return Some(format!(
            "{key:?} is not a label key: [prefix/]name, the name at most 63 letters, digits, \
             '-', '_' and '.', starting and ending with a letter or digit"
        ));
    }
    None
}

/// A label value: empty, or up to 63 letters, digits, '-', '_' and '.', alphanumeric at both
/// ends.
pub(super) fn label_value(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let inner = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    let valid = value.is_empty()
        || (value.len() <= 63
            && bytes.iter().all(inner)
            && bytes[0].is_ascii_alphanumeric()
            && bytes[bytes.len() - 1].is_ascii_alphanumeric());
    (!valid).then(|| {
        format!(
            "{value:?} is not a label value: at most 63 letters, digits, '-', '_' and '.', \
             starting and ending with a letter or digit"
        )
    })
}
