//! Random ADD / DEL / GC / restart sequences against a model that enumerates its pools.

use std::collections::{BTreeMap, HashSet};

use podwire_model::attach::ValidAttachment;
use proptest::prelude::*;

use super::super::RegistryError;
use super::*;

/// A pool as a plain list of its addresses, searched one by one from after the cursor.
struct ModelPool {
    addresses: Vec<IpAddr>,
    used: HashSet<IpAddr>,
    cursor: Option<usize>,
}

impl ModelPool {
    fn new(addresses: Vec<IpAddr>) -> ModelPool {
        ModelPool {
            addresses,
            used: HashSet::new(),
            cursor: None,
        }
    }

    fn next_free(&self) -> Option<usize> {
        let n = self.addresses.len();
        let start = self.cursor.map_or(0, |c| c + 1);
        (0..n)
            .map(|i| (start + i) % n)
            .find(|&i| !self.used.contains(&self.addresses[i]))
    }
}

struct Model {
    /// Network name → its pools, IPv4 first.
    pools: BTreeMap<String, Vec<ModelPool>>,
    attachments: BTreeMap<AttachmentKey, Vec<IpAddr>>,
}

impl Model {
    fn new() -> Model {
        let range = |prefix: &str, hosts: std::ops::RangeInclusive<u8>| -> Vec<IpAddr> {
            hosts.map(|h| ip(&format!("{prefix}{h}"))).collect()
        };
        let mut pools = BTreeMap::new();
        // The model's own idea of the pools below: no network, broadcast or anycast address.
        pools.insert(
            "n".to_owned(),
            vec![
                ModelPool::new(range("10.9.0.", 1..=6)),
                ModelPool::new(range("fd00:9::", 1..=7)),
            ],
        );
        pools.insert(
            "m".to_owned(),
            vec![ModelPool::new(range("fd00:1::", 1..=3))],
        );
        Model {
            pools,
            attachments: BTreeMap::new(),
        }
    }

    /// What ADD must give: the addresses, or `None` when the key exists or a pool is full.
    fn add(&mut self, key: &AttachmentKey) -> Option<Vec<IpAddr>> {
        if self.attachments.contains_key(key) {
            return None;
        }
        let pools = self.pools.get_mut(&key.network).expect("model network");
        let picks: Vec<usize> = pools
            .iter()
            .map(ModelPool::next_free)
            .collect::<Option<_>>()?;
        let mut addresses = Vec::new();
        for (pool, pick) in pools.iter_mut().zip(picks) {
            pool.cursor = Some(pick);
            pool.used.insert(pool.addresses[pick]);
            addresses.push(pool.addresses[pick]);
        }
        self.attachments.insert(key.clone(), addresses.clone());
        Some(addresses)
    }

    fn remove(&mut self, key: &AttachmentKey) -> bool {
        let Some(addresses) = self.attachments.remove(key) else {
            return false;
        };
        for pool in self.pools.get_mut(&key.network).expect("model network") {
            for address in &addresses {
                pool.used.remove(address);
            }
        }
        true
    }
}

fn networks() -> Vec<NetworkConfig> {
    vec![
        network("n", &["fd00:9::/125", "10.9.0.0/29"]),
        network("m", &["fd00:1::/126"]),
    ]
}

#[derive(Debug, Clone)]
enum Op {
    Add { network: bool, container: u8 },
    Remove { network: bool, container: u8 },
    Gc { network: bool, keep: Vec<u8> },
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (any::<bool>(), 0u8..9).prop_map(|(network, container)| Op::Add { network, container }),
        3 => (any::<bool>(), 0u8..9).prop_map(|(network, container)| Op::Remove { network, container }),
        1 => (any::<bool>(), prop::collection::vec(0u8..9, 0..6)).prop_map(|(network, keep)| Op::Gc { network, keep }),
        1 => Just(Op::Restart),
    ]
}

fn op_key(network: bool, container: u8) -> AttachmentKey {
    key(
        if network { "n" } else { "m" },
        &format!("c{container}"),
        "eth0",
    )
}

/// The registry agrees with the model, and no address is held twice.
fn check(registry: &Registry, model: &Model) -> Result<(), TestCaseError> {
    let held: BTreeMap<AttachmentKey, Vec<IpAddr>> = registry
        .iter()
        .map(|a| (a.key.clone(), a.addresses.iter().map(Cidr::addr).collect()))
        .collect();
    prop_assert_eq!(&held, &model.attachments);
    let mut seen = HashSet::new();
    for address in held.values().flatten() {
        prop_assert!(seen.insert(*address), "{} is held twice", address);
    }
    for status in registry.status() {
        let pools = &model.pools[&status.name];
        let used: Vec<u128> = pools.iter().map(|p| p.used.len() as u128).collect();
        prop_assert_eq!(
            status.pools.iter().map(|p| p.used).collect::<Vec<_>>(),
            used
        );
        prop_assert_eq!(
            status.ready,
            pools.iter().all(|p| p.used.len() < p.addresses.len())
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_sequences_match_the_model(ops in prop::collection::vec(op(), 1..40)) {
        let networks = networks();
        let (dir, mut registry) = open_new(&networks);
        let mut model = Model::new();
        for op in ops {
            match op {
                Op::Add { network, container } => {
                    let k = op_key(network, container);
                    let expected = model.add(&k);
                    match (add(&mut registry, &k), expected) {
                        (Ok(got), Some(expected)) => prop_assert_eq!(got, expected),
                        (Err(AddError::Registry(RegistryError::AlreadyExists { .. } | RegistryError::Exhausted { .. })), None) => {}
                        (got, expected) => prop_assert!(false, "ADD {}: got {:?}, model says {:?}", k, got, expected),
                    }
                }
                Op::Remove { network, container } => {
                    let k = op_key(network, container);
                    let existed = registry.remove(&k).expect("remove").is_some();
                    prop_assert_eq!(existed, model.remove(&k));
                }
                Op::Gc { network, keep } => {
                    let name = if network { "n" } else { "m" };
                    let valid: Vec<ValidAttachment> = keep
                        .iter()
                        .map(|c| ValidAttachment { container_id: format!("c{c}"), ifname: "eth0".into() })
                        .collect();
                    let stale = registry.stale(name, "", &valid);
                    let expected: Vec<AttachmentKey> = model
                        .attachments
                        .keys()
                        .filter(|k| k.network == name && !keep.iter().any(|c| k.container_id == format!("c{c}")))
                        .cloned()
                        .collect();
                    prop_assert_eq!(&stale, &expected);
                    for k in stale {
                        prop_assert!(registry.remove(&k).expect("remove").is_some());
                        model.remove(&k);
                    }
                }
                Op::Restart => {
                    drop(registry);
                    registry = Registry::open(dir.path(), &networks).expect("reopen");
                    prop_assert!(registry.load_warnings().is_empty());
                }
            }
            check(&registry, &model)?;
        }
    }
}
