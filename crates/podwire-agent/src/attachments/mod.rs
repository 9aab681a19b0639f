//! Pod attachments and their addresses, kept across agent restarts.
//!
//! The [`Registry`] holds every attachment the CNI plugin asked for, allocates each one an
//! address from every pod CIDR of its network (round robin, see `ipam`), and saves the whole
//! state to `<state_dir>/attachments.json` (atomically, see `store`) before a change counts
//! as made. It makes no kernel calls: the agent wires interfaces around it, and keeps it
//! behind a mutex.
//!
//! An attachment loaded from the state file is never dropped for not fitting the config any
//! more (its network was removed, its pod CIDRs changed): the pod still has the addresses
//! until the runtime deletes it, so the registry keeps the record, keeps its addresses out of
//! every pool, and says so in [`Registry::load_warnings`].

mod ipam;
mod store;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use podwire_model::Cidr;
use podwire_model::attach::{
    Attachment, AttachmentKey, FailureKind, NetworkMtu, NetworkStatus, PoolStatus, ValidAttachment,
};
use podwire_model::config::NetworkConfig;

use ipam::Pool;
pub use store::{STATE_FILE, StoreError};

/// Why the registry could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The state file could not be loaded; the agent must not start.
    #[error(transparent)]
    Open(StoreError),
    /// The request names a network the config does not have.
    #[error(
        "there is no podwire network {network:?} on this node (it has: {known}); name one of them in the CNI config's \"network\" key, or add a [[network]] to the daemon's config"
    )]
    UnknownNetwork {
        /// The name asked for.
        network: String,
        /// The networks there are, comma-separated.
        known: String,
    },
    /// ADD for an attachment that exists.
    #[error("{key} exists already (ADD twice without DEL); DEL it first")]
    AlreadyExists {
        /// Which.
        key: AttachmentKey,
    },
    /// The network's pods cannot work with the MTU the node decided for them.
    #[error("network {network} cannot take pods: {problem}")]
    MtuUnusable {
        /// The network.
        network: String,
        /// What is wrong and what to do, as [`Registry::set_mtu`] was told.
        problem: String,
    },
    /// A pool of the network has no free address.
    #[error(
        "network {network}: pod CIDR {cidr} has no free address ({used} of {capacity} in use); free addresses with DEL or GC, or widen pod_cidrs"
    )]
    Exhausted {
        /// The network.
        network: String,
        /// The full pool.
        cidr: Cidr,
        /// Addresses in use.
        used: u128,
        /// Addresses it has.
        capacity: u128,
    },
    /// The attachment built for the allocated addresses carries other addresses.
    #[error(
        "the attachment built for {key} has the addresses [{}], not the ones allocated to it ([{}]); this is a bug in the agent, please report it",
        join(.planned.iter()),
        join(.allocated.iter())
    )]
    PlanMismatch {
        /// Which attachment (as its key displays).
        key: String,
        /// What the registry allocated.
        allocated: Vec<IpAddr>,
        /// What the attachment has.
        planned: Vec<IpAddr>,
    },
    /// The change could not be saved, so it was not made.
    #[error(transparent)]
    Persist(StoreError),
}

impl RegistryError {
    /// What the CNI plugin should tell the runtime.
    pub fn failure_kind(&self) -> FailureKind {
        match self {
            RegistryError::UnknownNetwork { .. } | RegistryError::MtuUnusable { .. } => {
                FailureKind::Invalid
            }
            RegistryError::AlreadyExists { .. } => FailureKind::AlreadyExists,
            RegistryError::Exhausted { .. } => FailureKind::Exhausted,
            RegistryError::Open(_)
            | RegistryError::PlanMismatch { .. }
            | RegistryError::Persist(_) => FailureKind::Internal,
        }
    }
}

/// Why [`Registry::add`] failed. Nothing was kept either way.
#[derive(Debug, thiserror::Error)]
pub enum AddError<E> {
    /// The registry refused or could not save.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The caller's `plan` failed.
    #[error("{0}")]
    Plan(E),
}

impl<E> AddError<E> {
    /// What the CNI plugin should tell the runtime; `None` for the caller's own error, whose
    /// kind only the caller knows.
    pub fn failure_kind(&self) -> Option<FailureKind> {
        match self {
            AddError::Registry(e) => Some(e.failure_kind()),
            AddError::Plan(_) => None,
        }
    }
}

/// A configured network, its address pools (IPv4 first) and its pods' MTU.
#[derive(Debug)]
struct Network {
    name: String,
    pools: Vec<Pool>,
    /// As the node decided it ([`Registry::set_mtu`]).
    mtu: Option<NetworkMtu>,
    /// Why no pod can work with that MTU, when none can.
    mtu_problem: Option<String>,
}

/// An attachment with its line in the state file.
#[derive(Debug)]
struct Record {
    attachment: Attachment,
    json: Box<str>,
}

/// Every pod attachment of this node, with the addresses it holds, saved in the state
/// directory.
#[derive(Debug)]
pub struct Registry {
    state_dir: PathBuf,
    /// In config order.
    networks: Vec<Network>,
    attachments: BTreeMap<AttachmentKey, Record>,
    warnings: Vec<String>,
}

impl Registry {
    /// Loads `<state_dir>/attachments.json` (creating `state_dir` if missing; an absent file
    /// is an empty registry) for the networks of the config.
    ///
    /// Records whose network no longer exists, or whose addresses fall outside the network's
    /// pools now, are kept (the runtime will DEL them), their addresses stay taken in every
    /// pool that holds them, and each is reported in [`Registry::load_warnings`]. A cursor
    /// saved for a pod CIDR the config no longer has is dropped. An unreadable, corrupt or
    /// newer file is an error naming it: handing out addresses without knowing which are
    /// taken would give two pods the same one.
    pub fn open(state_dir: &Path, networks: &[NetworkConfig]) -> Result<Registry, RegistryError> {
        store::create_dir(state_dir).map_err(RegistryError::Open)?;
        let state = store::load(state_dir).map_err(RegistryError::Open)?;
        let mut registry = Registry {
            state_dir: state_dir.to_owned(),
            networks: networks.iter().map(Network::new).collect(),
            attachments: BTreeMap::new(),
            warnings: Vec::new(),
        };
        registry.restore_cursors(&state.cursors);
        let mut holders: HashMap<IpAddr, AttachmentKey> = HashMap::new();
        for attachment in state.attachments {
            registry.check_loaded(&attachment, &mut holders);
            for cidr in &attachment.addresses {
                registry.take(cidr.addr(), None);
            }
            let json = store::encode_record(&attachment).map_err(RegistryError::Open)?;
            registry
                .attachments
                .insert(attachment.key.clone(), Record { attachment, json });
        }
        Ok(registry)
    }

    /// What [`Registry::open`] found that does not fit the config, one sentence each, for the
    /// caller to log.
    pub fn load_warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The state file.
    pub fn state_file(&self) -> PathBuf {
        self.state_dir.join(STATE_FILE)
    }

    /// The attachment `key`, if there is one.
    pub fn get(&self, key: &AttachmentKey) -> Option<&Attachment> {
        self.attachments.get(key).map(|record| &record.attachment)
    }

    /// Every attachment, ordered by key.
    pub fn iter(&self) -> impl Iterator<Item = &Attachment> {
        self.attachments.values().map(|record| &record.attachment)
    }

    /// How many attachments there are.
    pub fn len(&self) -> usize {
        self.attachments.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.attachments.is_empty()
    }

    /// Allocates one address from every pool of `key.network` (IPv4 first), has `plan` build
    /// the attachment for them, then keeps and saves it, all or nothing: on any error (also
    /// `plan`'s) nothing is kept and no address is used up. The attachment's key is set to
    /// `key`; its addresses must be the ones given to `plan` (prefix lengths are `plan`'s to
    /// choose).
    pub fn add<E>(
        &mut self,
        key: &AttachmentKey,
        plan: impl FnOnce(&[IpAddr]) -> Result<Attachment, E>,
    ) -> Result<&Attachment, AddError<E>> {
        let index = self.network_index(&key.network)?;
        if self.attachments.contains_key(key) {
            return Err(RegistryError::AlreadyExists { key: key.clone() }.into());
        }
        let network = &self.networks[index];
        if let Some(problem) = &network.mtu_problem {
            return Err(RegistryError::MtuUnusable {
                network: network.name.clone(),
                problem: problem.clone(),
            }
            .into());
        }
        let addresses = network
            .pools
            .iter()
            .map(|pool| {
                pool.next_free().ok_or_else(|| RegistryError::Exhausted {
                    network: network.name.clone(),
                    cidr: pool.cidr(),
                    used: pool.used(),
                    capacity: pool.capacity(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;

        let mut attachment = plan(&addresses).map_err(AddError::Plan)?;
        attachment.key = key.clone();
        check_planned(&attachment, &addresses)?;
        let json = store::encode_record(&attachment).map_err(RegistryError::Persist)?;

        let cursors_before: Vec<_> = network.pools.iter().map(Pool::cursor).collect();
        for &ip in &addresses {
            self.take(ip, Some(index));
        }
        self.attachments
            .insert(key.clone(), Record { attachment, json });
        if let Err(e) = self.persist() {
            self.attachments.remove(key);
            for &ip in &addresses {
                self.release(ip);
            }
            for (pool, cursor) in self.networks[index].pools.iter_mut().zip(cursors_before) {
                pool.set_cursor(cursor);
            }
            return Err(RegistryError::Persist(e).into());
        }
        Ok(&self.attachments[key].attachment)
    }

    /// Removes the attachment `key`, frees its addresses and saves; `Ok(None)` when there was
    /// none (DEL is idempotent). When the save fails, the attachment stays.
    pub fn remove(&mut self, key: &AttachmentKey) -> Result<Option<Attachment>, RegistryError> {
        let Some(record) = self.attachments.remove(key) else {
            return Ok(None);
        };
        for cidr in &record.attachment.addresses {
            self.release(cidr.addr());
        }
        if let Err(e) = self.persist() {
            for cidr in &record.attachment.addresses {
                self.take(cidr.addr(), None);
            }
            self.attachments.insert(key.clone(), record);
            return Err(RegistryError::Persist(e));
        }
        Ok(Some(record.attachment))
    }

    /// The attachments of `network` that are not in `valid` (what GC removes), ordered.
    pub fn stale(
        &self,
        network: &str,
        cni_network: &str,
        valid: &[ValidAttachment],
    ) -> Vec<AttachmentKey> {
        let valid: HashSet<(&str, &str)> = valid
            .iter()
            .map(|v| (v.container_id.as_str(), v.ifname.as_str()))
            .collect();
        self.iter()
            .filter(|a| a.key.network == network && a.cni_network == cni_network)
            .map(|a| &a.key)
            .filter(|key| !valid.contains(&(key.container_id.as_str(), key.ifname.as_str())))
            .cloned()
            .collect()
    }

    /// Records the pods' MTU the node decided for `network`, as status reports it; with a
    /// `problem` (what is wrong and what to do), no pod can work with it and every ADD on
    /// the network is refused with it. A network the config does not have is ignored.
    pub fn set_mtu(&mut self, network: &str, mtu: NetworkMtu, problem: Option<String>) {
        if let Some(network) = self.networks.iter_mut().find(|n| n.name == network) {
            network.mtu = Some(mtu);
            network.mtu_problem = problem;
        }
    }

    /// Every configured network, in config order: its pools with their capacity and use, how
    /// many attachments it has, its pods' MTU, and whether an ADD can be served (its MTU
    /// works and every pool has a free address).
    pub fn status(&self) -> Vec<NetworkStatus> {
        self.networks
            .iter()
            .map(|network| {
                let full: Vec<String> = network
                    .pools
                    .iter()
                    .filter(|pool| pool.is_full())
                    .map(|pool| pool.cidr().to_string())
                    .collect();
                let full = (!full.is_empty()).then(|| {
                    format!(
                        "no free address in {}; free addresses with DEL or GC, or widen pod_cidrs",
                        full.join(" and ")
                    )
                });
                let reasons: Vec<String> =
                    network.mtu_problem.iter().cloned().chain(full).collect();
                NetworkStatus {
                    name: network.name.clone(),
                    ready: reasons.is_empty(),
                    reason: (!reasons.is_empty()).then(|| reasons.join("; also, ")),
                    pools: network
                        .pools
                        .iter()
                        .map(|pool| PoolStatus {
                            cidr: pool.cidr(),
                            capacity: pool.capacity(),
                            used: pool.used(),
                        })
                        .collect(),
                    attachments: self
                        .attachments
                        .keys()
                        .filter(|key| key.network == network.name)
                        .count(),
                    mtu: network.mtu.clone(),
                }
            })
            .collect()
    }

    fn network_index(&self, name: &str) -> Result<usize, RegistryError> {
        self.networks
            .iter()
            .position(|network| network.name == name)
            .ok_or_else(|| RegistryError::UnknownNetwork {
                network: name.to_owned(),
                known: match self.networks.len() {
                    0 => "none".to_owned(),
                    _ => self
                        .networks
                        .iter()
                        .map(|network| network.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                },
            })
    }

    /// Marks `ip` taken in every pool that hands it out, so that no pool gives an address
    /// twice even if two pools overlap; the pools of network `owner` (the one that allocated
    /// it) move their cursor to it.
    fn take(&mut self, ip: IpAddr, owner: Option<usize>) {
        for (index, network) in self.networks.iter_mut().enumerate() {
            for pool in &mut network.pools {
                pool.take(ip, owner == Some(index));
            }
        }
    }

    /// Undoes one [`Registry::take`] of `ip`.
    fn release(&mut self, ip: IpAddr) {
        for pool in self.networks.iter_mut().flat_map(|n| n.pools.iter_mut()) {
            pool.release(ip);
        }
    }

    fn restore_cursors(&mut self, cursors: &store::Cursors) {
        for network in &mut self.networks {
            let Some(saved) = cursors.get(&network.name) else {
                continue;
            };
            for pool in &mut network.pools {
                let Some(&cursor) = saved.get(&pool.cidr().to_string()) else {
                    continue;
                };
                if !pool.set_cursor(Some(cursor)) {
                    self.warnings.push(format!(
                        "network {}: the saved allocation cursor {cursor} of pod CIDR {} is not one of its addresses; allocation restarts at the beginning of the pool",
                        network.name,
                        pool.cidr()
                    ));
                }
            }
        }
    }

    /// Records what does not fit the config about a loaded attachment: its network is gone,
    /// an address is outside the network's pools, or another attachment holds the same
    /// address.
    fn check_loaded(
        &mut self,
        attachment: &Attachment,
        holders: &mut HashMap<IpAddr, AttachmentKey>,
    ) {
        let key = &attachment.key;
        match self.networks.iter().find(|n| n.name == key.network) {
            None => self.warnings.push(format!(
                "{key}: network {} is no longer in the config; the attachment is kept, with its addresses [{}], until the runtime deletes it (CNI DEL or GC)",
                key.network,
                join(attachment.addresses.iter().map(Cidr::addr))
            )),
            Some(network) => {
                for cidr in &attachment.addresses {
                    let ip = cidr.addr();
                    if !network.pools.iter().any(|pool| pool.is_usable(ip)) {
                        self.warnings.push(format!(
                            "{key}: address {ip} is outside the pod CIDRs of network {} now ([{}]); the attachment is kept until the runtime deletes it (CNI DEL or GC)",
                            key.network,
                            join(network.pools.iter().map(Pool::cidr))
                        ));
                    }
                }
            }
        }
        for cidr in &attachment.addresses {
            if let Some(first) = holders.insert(cidr.addr(), key.clone()) {
                self.warnings.push(format!(
                    "{key}: address {} is also held by {first}; it stays taken until both are deleted",
                    cidr.addr()
                ));
            }
        }
    }

    /// Writes the whole state to the state file.
    fn persist(&self) -> Result<(), StoreError> {
        let mut cursors = store::Cursors::new();
        for network in &self.networks {
            let saved: BTreeMap<String, IpAddr> = network
                .pools
                .iter()
                .filter_map(|pool| Some((pool.cidr().to_string(), pool.cursor()?)))
                .collect();
            if !saved.is_empty() {
                cursors.insert(network.name.clone(), saved);
            }
        }
        let records = self.attachments.values().map(|record| &*record.json);
        store::save(&self.state_dir, records, &cursors)
    }
}

impl Network {
    fn new(config: &NetworkConfig) -> Network {
        let mut pools: Vec<Pool> = config.pod_cidrs.iter().copied().map(Pool::new).collect();
        // Stable: IPv4 first, otherwise in config order.
        pools.sort_by_key(|pool| pool.cidr().addr().is_ipv6());
        Network {
            name: config.name.clone(),
            pools,
            mtu: None,
            mtu_problem: None,
        }
    }
}

/// Checks that `attachment` carries exactly the addresses allocated to it.
fn check_planned(attachment: &Attachment, allocated: &[IpAddr]) -> Result<(), RegistryError> {
    let mut planned: Vec<IpAddr> = attachment.addresses.iter().map(Cidr::addr).collect();
    let mut expected = allocated.to_vec();
    planned.sort_unstable();
    expected.sort_unstable();
    if planned == expected {
        return Ok(());
    }
    Err(RegistryError::PlanMismatch {
        key: attachment.key.to_string(),
        allocated: allocated.to_vec(),
        planned: attachment.addresses.iter().map(Cidr::addr).collect(),
    })
}

fn join<T: std::fmt::Display>(items: impl Iterator<Item = T>) -> String {
    items
        .map(|item| item.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
