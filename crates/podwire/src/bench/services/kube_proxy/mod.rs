//! The kernel's way, written as kube-proxy writes it: its `iptables` mode's `nat` table
//! ([`iptables`], loaded with `iptables-restore`) and its `nftables` mode's table
//! ([`nftables`], loaded with `nft -f`), for the same Service models podwire gets.
//!
//! Only ClusterIP frontends are written (the benchmark has no other kind), and only the
//! rules a new connection from a pod to a ClusterIP passes: the service dispatch, the
//! endpoint choice, the DNAT and the masquerade marks. kube-proxy's `filter` rules are left
//! out: with every Service having endpoints they are a few rules, or map lookups, that do
//! not grow with the number of Services.
//!
//! Chain names have kube-proxy's shape and length; the hash in them is FNV-1a instead of
//! kube-proxy's SHA-256 (only their uniqueness matters to the kernel).

pub mod iptables;
pub mod nftables;

use podwire_model::service::{Frontend, FrontendKind, ServiceModel};

/// A ruleset to load, and its size.
#[derive(Clone, Debug, Default)]
pub struct Ruleset {
    /// What the loader reads.
    pub text: String,
    /// Rules in it (for nftables, also the Services' map elements).
    pub rules: usize,
    /// Chains in it.
    pub chains: usize,
}

/// The ClusterIP frontends of `models`, each with its Service port's name as kube-proxy
/// spells it (`namespace/name:port`), and the protocol's name (`tcp`).
fn cluster_ip_frontends(
    models: &[ServiceModel],
) -> impl Iterator<Item = (String, String, &Frontend)> {
    models.iter().flat_map(|m| {
        m.frontends
            .iter()
            .filter(|f| f.kind == FrontendKind::ClusterIp && f.address.is_some())
            .map(move |f| {
                let name = format!("{}:{}", m.id, f.port_name);
                (name, f.protocol.to_string().to_lowercase(), f)
            })
    })
}

/// `len` characters of kube-proxy's base32 alphabet from a hash of `text`.
fn hashed(text: &str, len: usize) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let fnv = |seed: u64| {
        text.bytes().fold(seed, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    let mut bits =
        (u128::from(fnv(0xcbf2_9ce4_8422_2325)) << 64) | u128::from(fnv(0x8422_2325_cbf2_9ce4));
    (0..len.min(25))
        .map(|_| {
            let c = ALPHABET[(bits & 31) as usize] as char;
            bits >>= 5;
            c
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_stable_distinct_and_of_the_asked_length() {
        let a = hashed("bench/svc-1:http", 16);
        assert_eq!(a.len(), 16);
        assert_eq!(a, hashed("bench/svc-1:http", 16));
        assert_ne!(a, hashed("bench/svc-2:http", 16));
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_uppercase() || (b'2'..=b'7').contains(&c))
        );
        assert_eq!(hashed("x", 8).len(), 8);
    }
}
