//! MAC addresses podwire gives the interfaces it makes.

use podwire_wire::ethernet::EthernetAddress;

/// A locally administered unicast MAC derived from `parts` (the node's name,
/// the interface's name, which end): stable across restarts, so neighbors'
/// caches stay right, and distinct for distinct inputs in practice.
pub fn derived_mac(parts: &[&str]) -> EthernetAddress {
    let b = stable_hash(parts).to_be_bytes();
    // 0x02: locally administered, unicast.
    EthernetAddress([0x02, b[1], b[2], b[3], b[4], b[5]])
}

/// A hash of `parts` that is the same in every release and on every machine (unlike std's
/// hasher): for names and MACs a restarted agent must derive again.
pub fn stable_hash(parts: &[&str]) -> u64 {
    // FNV-1a, 64 bit: small and stable. Each part ends with 0xff, which no UTF-8 text
    // contains, so ["ab", "c"] and ["a", "bc"] differ.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in part.as_bytes().iter().chain(&[0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_macs_are_stable_local_unicast_and_distinct() {
        let a = derived_mac(&["node1", "pod-a", "switch"]);
        assert_eq!(a, derived_mac(&["node1", "pod-a", "switch"]));
        assert_ne!(a, derived_mac(&["node1", "pod-a", "pod"]));
        assert_ne!(a, derived_mac(&["node1", "pod-b", "switch"]));
        assert_eq!(a.0[0] & 0x03, 0x02, "locally administered unicast");
    }
}
