//! Pod CIDRs: each node claims a subnet of each cluster CIDR, atomically, so that no two
//! nodes ever get the same one, also when they start together.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etcd_client::{Compare, CompareOp, GetOptions, Txn, TxnOp};
use podwire_model::Cidr;
use podwire_model::cidr::max_prefix_len;

use super::{EtcdError, EtcdStore, request};

/// The `/len` subnets of `cluster`, in address order. An error when `len` is shorter than
/// `cluster`'s prefix or longer than its family's addresses.
pub(super) fn subnets(cluster: Cidr, len: u8) -> Result<impl Iterator<Item = Cidr>, EtcdError> {
    let bits = max_prefix_len(cluster.addr());
    if len < cluster.prefix_len() || len > bits {
        return Err(EtcdError::SubnetLength {
            cidr: cluster,
            len,
            max: bits,
        });
    }
    let network = cluster.network().addr();
    let base = match network {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    };
    let count_bits = u32::from(len - cluster.prefix_len());
    let step_bits = u32::from(bits - len);
    // The index of the last subnet: 2^count_bits - 1, which fits even for count_bits = 128.
    let last = u128::MAX.checked_shr(128 - count_bits).unwrap_or(0);
    Ok((0..=last).map(move |i| {
        // i < 2^count_bits and count_bits + step_bits <= bits: the sum stays in the family.
        let start = base + i.checked_shl(step_bits).unwrap_or(0);
        let addr = match network {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(start as u32)),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(start)),
        };
        Cidr::new(addr, len).expect("len was checked against the family's length above")
    }))
}

/// Whether two prefixes share an address.
fn overlap(a: Cidr, b: Cidr) -> bool {
    a.contains(b.network().addr()) || b.contains(a.network().addr())
}

impl EtcdStore {
    /// Claims `node`'s pod CIDRs: for each of `cluster_cidrs` (one per family), the node's
    /// claim when it has one already, else the first free `/len4` (IPv4) or `/len6` (IPv6)
    /// subnet, claimed with a transaction that succeeds only if nobody claimed it first. An
    /// error when a cluster CIDR is full; the claims this call made are then given back.
    pub async fn claim_pod_cidrs(
        &self,
        node: &str,
        cluster_cidrs: &[Cidr],
        len4: u8,
        len6: u8,
    ) -> Result<Vec<Cidr>, EtcdError> {
        let mut claims = self.claims().await?;
        let mut mine = Vec::new();
        let mut made = Vec::new();
        for &cluster in cluster_cidrs {
            let len = if cluster.addr().is_ipv4() { len4 } else { len6 };
            let own = claims
                .iter()
                .find(|(cidr, owner)| owner == node && cluster.contains(cidr.addr()));
            if let Some(&(cidr, _)) = own {
                mine.push(cidr);
                continue;
            }
            match self.claim_one(node, cluster, len, &mut claims).await {
                Ok(cidr) => {
                    made.push(cidr);
                    mine.push(cidr);
                }
                Err(e) => {
                    self.give_back(node, &made).await;
                    return Err(e);
                }
            }
        }
        Ok(mine)
    }

    /// Claims the first `/len` of `cluster` that no claim in `claims` overlaps, learning of
    /// the claims others made meanwhile from each lost race.
    async fn claim_one(
        &self,
        node: &str,
        cluster: Cidr,
        len: u8,
        claims: &mut Vec<(Cidr, String)>,
    ) -> Result<Cidr, EtcdError> {
        loop {
            let free = subnets(cluster, len)?
                .find(|candidate| !claims.iter().any(|(c, _)| overlap(*c, *candidate)));
            let Some(candidate) = free else {
                return Err(EtcdError::ClusterCidrFull {
                    cidr: cluster,
                    len,
                    claimed: claims.iter().filter(|(c, _)| overlap(*c, cluster)).count(),
                    claims_key: self.keys.cidrs(),
                });
            };
            let key = self.keys.cidr(candidate);
            let txn = Txn::new()
                .when([Compare::create_revision(key.as_str(), CompareOp::Equal, 0)])
                .and_then([TxnOp::put(key.as_str(), node, None)]);
            let response = request("claim a pod CIDR", self.kv().txn(txn)).await?;
            if response.succeeded() {
                return Ok(candidate);
            }
            // Another node was first; its name does not matter here, only that it is taken.
            claims.push((candidate, String::new()));
        }
    }

    /// Every claim: its CIDR and the node that made it.
    async fn claims(&self) -> Result<Vec<(Cidr, String)>, EtcdError> {
        let options = GetOptions::new().with_prefix();
        let response = request(
            "list the pod CIDR claims",
            self.kv().get(self.keys.cidrs(), Some(options)),
        )
        .await?;
        let mut claims = Vec::new();
        for kv in response.kvs() {
            match self.keys.parse_cidr(kv.key()) {
                Some(cidr) => claims.push((cidr, String::from_utf8_lossy(kv.value()).into())),
                None => tracing::warn!(
                    key = %String::from_utf8_lossy(kv.key()),
                    "ignoring a key among the pod CIDR claims that names no CIDR"
                ),
            }
        }
        Ok(claims)
    }

    /// Deletes `node`'s claims on `cidrs` (each only if it is still `node`'s). Best effort:
    /// a claim left behind is the node's own again next time.
    async fn give_back(&self, node: &str, cidrs: &[Cidr]) {
        for &cidr in cidrs {
            let key = self.keys.cidr(cidr);
            let txn = Txn::new()
                .when([Compare::value(key.as_str(), CompareOp::Equal, node)])
                .and_then([TxnOp::delete(key.as_str(), None)]);
            if let Err(e) = request("give a pod CIDR back", self.kv().txn(txn)).await {
                tracing::warn!("{e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(text: &str) -> Cidr {
        text.parse().unwrap()
    }

    fn texts(cluster: &str, len: u8, n: usize) -> Vec<String> {
        subnets(cidr(cluster), len)
            .unwrap()
            .take(n)
            .map(|c| c.to_string())
            .collect()
    }

    #[test]
    fn an_ipv4_16_splits_into_24s_in_order() {
        assert_eq!(
            texts("10.244.0.0/16", 24, 3),
            ["10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24"]
        );
        let all: Vec<Cidr> = subnets(cidr("10.244.0.0/16"), 24).unwrap().collect();
        assert_eq!(all.len(), 256);
        assert_eq!(all[255], cidr("10.244.255.0/24"));
    }

    #[test]
    fn an_ipv6_56_splits_into_64s_in_order() {
        assert_eq!(texts("fd44::/56", 64, 2), ["fd44::/64", "fd44:0:0:1::/64"]);
        let all: Vec<Cidr> = subnets(cidr("fd44::/56"), 64).unwrap().collect();
        assert_eq!(all.len(), 256);
        assert_eq!(all[255], cidr("fd44:0:0:ff::/64"));
    }

    #[test]
    fn host_bits_of_the_cluster_cidr_are_ignored() {
        assert_eq!(texts("10.244.7.9/16", 24, 1), ["10.244.0.0/24"]);
    }

    #[test]
    fn the_whole_cidr_and_the_widest_splits_work() {
        assert_eq!(texts("10.1.0.0/24", 24, 2), ["10.1.0.0/24"]);
        assert_eq!(texts("0.0.0.0/0", 32, 2), ["0.0.0.0/32", "0.0.0.1/32"]);
        assert_eq!(texts("::/0", 128, 2), ["::/128", "::1/128"]);
        assert_eq!(
            subnets(cidr("10.1.0.0/24"), 32).unwrap().last(),
            Some(cidr("10.1.0.255/32"))
        );
    }

    #[test]
    fn a_length_shorter_than_the_cluster_cidr_or_the_family_is_an_error() {
        assert!(matches!(
            subnets(cidr("10.244.0.0/16"), 8),
            Err(EtcdError::SubnetLength {
                len: 8,
                max: 32,
                ..
            })
        ));
        assert!(matches!(
            subnets(cidr("10.244.0.0/16"), 33),
            Err(EtcdError::SubnetLength { len: 33, .. })
        ));
        let message = subnets(cidr("fd44::/56"), 48).err().unwrap().to_string();
        assert!(message.contains("between 56 and 128"), "{message}");
    }

    #[test]
    fn overlap_is_shared_addresses() {
        assert!(overlap(cidr("10.0.0.0/16"), cidr("10.0.3.0/24")));
        assert!(overlap(cidr("10.0.3.0/24"), cidr("10.0.0.0/16")));
        assert!(!overlap(cidr("10.0.3.0/24"), cidr("10.0.4.0/24")));
        assert!(!overlap(cidr("10.0.3.0/24"), cidr("fd00::/64")));
    }
}
