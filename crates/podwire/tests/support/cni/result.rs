//! Reading addresses out of CNI results.

use serde_json::Value;

/// The address part of "ADDRESS/PREFIX".
pub fn addr_of(cidr: &str) -> &str {
    cidr.split('/').next().unwrap_or(cidr)
}

/// Whether `addr` (no prefix) is inside `cidr`.
pub fn in_cidr(addr: &str, cidr: &str) -> bool {
    use std::net::IpAddr;
    let Some((net, len)) = cidr.split_once('/') else {
        return false;
    };
    let Ok(len) = len.parse::<u32>() else {
        return false;
    };
    match (addr.parse::<IpAddr>(), net.parse::<IpAddr>()) {
        (Ok(IpAddr::V4(a)), Ok(IpAddr::V4(n))) if len <= 32 => {
            let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            u32::from(a) & mask == u32::from(n)
        }
        (Ok(IpAddr::V6(a)), Ok(IpAddr::V6(n))) if len <= 128 => {
            let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
            u128::from(a) & mask == u128::from(n)
        }
        _ => false,
    }
}

/// The addresses of a result's `ips`, as "ADDRESS/PREFIX".
pub fn result_ips(result: &Value) -> Vec<String> {
    result["ips"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|ip| ip["address"].as_str().map(str::to_owned))
        .collect()
}

/// The result's IPv4 and IPv6 address (without prefix), failing the test
/// unless it has one of each.
pub fn result_v4_v6(result: &Value) -> (String, String) {
    let ips = result_ips(result);
    let v4 = ips.iter().find(|a| !a.contains(':'));
    let v6 = ips.iter().find(|a| a.contains(':'));
    match (v4, v6) {
        (Some(v4), Some(v6)) => (addr_of(v4).to_owned(), addr_of(v6).to_owned()),
        _ => panic!("the result should have an IPv4 and an IPv6 address: {result}"),
    }
}
