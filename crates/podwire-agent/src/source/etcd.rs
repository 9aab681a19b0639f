//! etcd as the store of a cluster without Kubernetes: `podwire ctl apply` writes the objects
//! there, every node watches them, and each node claims its pod CIDRs and registers itself
//! there.
//!
//! The layout under the prefix `P` (default `/podwire/`):
//! - `P objects/<Kind>/<namespace>/<name>`: an object as JSON (`_` is the namespace of
//!   cluster-scoped kinds). A Node's key is attached to the node's lease, so it goes away
//!   when the node stops renewing it ([`registry`]).
//! - `P cidrs/<cidr with '/' as '_'>`: the name of the node that claimed that pod CIDR
//!   ([`claims`]); no lease, so a restarted node gets its own back.
//!
//! Writes that must not lose a concurrent change (the Pod status a node records, the status
//! an apply keeps) are compare-and-swap transactions on the key's revision, retried.

mod backoff;
mod claims;
mod keys;
mod pods;
mod registry;
mod watch;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use etcd_client::{Client, Compare, CompareOp, ConnectOptions, GetOptions, Txn, TxnOp};
use etcd_client::{KeyValue, KvClient, ResponseHeader, TxnOpResponse, WatchClient};
use podwire_k8s::object::Object;
use podwire_model::cluster::ObjectKey;

use keys::Keys;
pub use registry::{NodeRegistration, Registration};

/// How long connecting to etcd may take before [`EtcdStore::connect`] gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one request may take: an etcd that does not answer is an error, not a hang.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// HTTP/2 pings on open streams (watches, lease keep-alives), so that a peer that vanished
/// without closing the connection is noticed. etcd refuses pings more often than every 5 s.
const PING_INTERVAL: Duration = Duration::from_secs(10);
/// How long a ping may go unanswered before the connection counts as lost.
const PING_TIMEOUT: Duration = Duration::from_secs(5);
/// How many times a compare-and-swap is tried before giving up on a key that keeps changing.
const CAS_ATTEMPTS: usize = 16;
/// How many keys one page of a list holds (a large store is listed in pages, at one revision).
const LIST_PAGE: i64 = 100;
/// The largest answer read from etcd: a page of objects as large as etcd allows (1.5 MiB
/// each by default), or a watch response of a watcher catching up on many revisions.
const MAX_ANSWER_BYTES: usize = 256 << 20;

/// The cluster's objects, pod CIDR claims and node registrations in etcd. Cheap to clone
/// (clones share the connection).
#[derive(Clone)]
pub struct EtcdStore {
    client: Client,
    keys: Keys,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("prefix", &self.keys)
            .finish_non_exhaustive()
    }
}

/// Why etcd could not be used, or refused a change.
#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    /// The client could not be set up or etcd refused the first request.
    #[error(
        "cannot connect to etcd at {endpoints}: {source}; check cluster.etcd_endpoints and that etcd runs there"
    )]
    Connect {
        /// The endpoints, comma-separated.
        endpoints: String,
        /// Why.
        source: etcd_client::Error,
    },
    /// etcd did not answer in time when connecting.
    #[error(
        "etcd at {endpoints} did not answer within {timeout:?}: check cluster.etcd_endpoints, that etcd runs there and that this node can reach it"
    )]
    ConnectTimeout {
        /// The endpoints, comma-separated.
        endpoints: String,
        /// How long we waited.
        timeout: Duration,
    },
    /// A request failed.
    #[error(
        "etcd could not {what}: {source}; check that etcd is running and healthy (etcdctl endpoint health)"
    )]
    Request {
        /// What was asked, as a verb phrase.
        what: &'static str,
        /// Why.
        source: etcd_client::Error,
    },
    /// etcd refused a request over one of its size limits.
    #[error(
        "etcd refused to {what}: {reason}; apply fewer or smaller objects at once, or raise etcd's --max-txn-ops (128 by default) or --max-request-bytes (1.5 MiB by default)"
    )]
    TooLarge {
        /// What was asked, as a verb phrase.
        what: &'static str,
        /// etcd's words.
        reason: String,
    },
    /// A request got no answer in time.
    #[error(
        "etcd did not answer in {timeout:?} when asked to {what}: check that etcd is running and reachable"
    )]
    Timeout {
        /// What was asked, as a verb phrase.
        what: &'static str,
        /// How long we waited.
        timeout: Duration,
    },
    /// An answer without the response header that carries the store's revision.
    #[error(
        "etcd answered without a revision when asked to {what}: is the endpoint an etcd v3 server?"
    )]
    NoRevision {
        /// What was asked, as a verb phrase.
        what: &'static str,
    },
    /// An object whose name or namespace cannot be part of a key.
    #[error(
        "{key} cannot be stored: {problem}; give it a name (and namespace) without '/' and not empty"
    )]
    BadKey {
        /// The object.
        key: ObjectKey,
        /// What is wrong.
        problem: &'static str,
    },
    /// A stored value is not an object podwire keeps, or not the one its key names.
    #[error(
        "the value at {key} is not a valid podwire object ({problem}): apply the object again with podwire ctl apply, or delete the key"
    )]
    Undecodable {
        /// The etcd key.
        key: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A key kept changing between our read and our write.
    #[error(
        "{key} changed under every one of {attempts} attempts to update it: another writer updates it in a loop; try again later"
    )]
    Conflict {
        /// The etcd key.
        key: String,
        /// How many times we tried.
        attempts: usize,
    },
    /// A cluster CIDR cannot be split into subnets of the configured length.
    #[error(
        "cluster CIDR {cidr} cannot be split into /{len} subnets: set node_cidr_len4/node_cidr_len6 between {} and {max}",
        cidr.prefix_len()
    )]
    SubnetLength {
        /// The cluster CIDR.
        cidr: podwire_model::Cidr,
        /// The subnet length asked for.
        len: u8,
        /// The family's address length.
        max: u8,
    },
    /// Every subnet of a cluster CIDR is claimed.
    #[error(
        "every /{len} of cluster CIDR {cidr} is claimed ({claimed} claims): give the cluster a larger CIDR or a longer node_cidr_len, or delete the claims of nodes that left (etcdctl del {claims_key} --prefix)"
    )]
    ClusterCidrFull {
        /// The cluster CIDR.
        cidr: podwire_model::Cidr,
        /// The subnet length.
        len: u8,
        /// How many claims lie in it.
        claimed: usize,
        /// Where the claims are kept.
        claims_key: String,
    },
    /// The watch was cancelled because the revision it needed is compacted away.
    #[error("the etcd watch fell behind the compaction at revision {revision}")]
    Compacted {
        /// The compacted revision.
        revision: i64,
    },
    /// etcd cancelled the watch.
    #[error("etcd cancelled the watch: {reason}")]
    WatchCancelled {
        /// etcd's reason, maybe empty.
        reason: String,
    },
    /// etcd ended a stream (a watch, a lease keep-alive) that it keeps open otherwise.
    #[error("etcd ended the stream used to {what}")]
    StreamEnded {
        /// What the stream was for, as a verb phrase.
        what: &'static str,
    },
}

impl EtcdStore {
    /// Connects to `endpoints` (client URLs) and checks, within a bounded time, that etcd
    /// answers. Every key this store reads or writes starts with `prefix` (a `/` is added
    /// when it does not end with one).
    pub async fn connect(endpoints: &[String], prefix: &str) -> Result<EtcdStore, EtcdError> {
        let options = ConnectOptions::new()
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_keep_alive(PING_INTERVAL, PING_TIMEOUT);
        let connecting = async {
            // The client connects lazily: a status request proves etcd is there.
            let mut client = Client::connect(endpoints, Some(options)).await?;
            client.status().await?;
            Ok::<_, etcd_client::Error>(client)
        };
        let endpoints_text = endpoints.join(",");
        match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
            Ok(Ok(client)) => Ok(EtcdStore {
                client,
                keys: Keys::new(prefix),
            }),
            Ok(Err(source)) => Err(EtcdError::Connect {
                endpoints: endpoints_text,
                source,
            }),
            Err(_) => Err(EtcdError::ConnectTimeout {
                endpoints: endpoints_text,
                timeout: CONNECT_TIMEOUT,
            }),
        }
    }

    /// Writes `objects` in one transaction: all of them or none. A Pod that comes without a
    /// `status` keeps the stored one's status and `spec.nodeName` (as a Pod's status
    /// subresource survives `kubectl apply`); that merge is a compare-and-swap, so a status a
    /// node records meanwhile is not lost. When an object appears twice, the last one wins.
    pub async fn put(&self, objects: &[Object]) -> Result<(), EtcdError> {
        let mut latest: BTreeMap<String, &Object> = BTreeMap::new();
        for object in objects {
            latest.insert(self.keys.object(&object.key())?, object);
        }
        let merged: Vec<&str> = latest
            .iter()
            .filter(|(_, object)| pods::keeps_stored_status(object))
            .map(|(key, _)| key.as_str())
            .collect();
        for _ in 0..CAS_ATTEMPTS {
            let stored = self.get_many(&merged).await?;
            let mut compares = Vec::new();
            let mut writes = Vec::new();
            for (key, object) in &latest {
                let mut value = object.to_json();
                if let Some(stored) = stored.get(key.as_str()) {
                    let revision = stored.as_ref().map_or(0, KeyValue::mod_revision);
                    compares.push(Compare::mod_revision(
                        key.as_str(),
                        CompareOp::Equal,
                        revision,
                    ));
                    if let Some(stored) = stored.as_ref().and_then(|kv| self.decode(kv).ok()) {
                        pods::keep_stored_status(&mut value, &stored.to_json());
                    }
                }
                writes.push(TxnOp::put(key.as_str(), value.to_string(), None));
            }
            let txn = Txn::new().when(compares).and_then(writes);
            let response = request("write the objects", self.kv().txn(txn)).await?;
            if response.succeeded() {
                return Ok(());
            }
        }
        Err(EtcdError::Conflict {
            key: merged.join(", "),
            attempts: CAS_ATTEMPTS,
        })
    }

    /// Deletes `keys` in one transaction; for each, whether it existed.
    pub async fn delete(&self, keys: &[ObjectKey]) -> Result<Vec<bool>, EtcdError> {
        let etcd_keys = keys
            .iter()
            .map(|key| self.keys.object(key))
            .collect::<Result<Vec<_>, _>>()?;
        // etcd refuses a transaction that names a key twice.
        let mut unique = etcd_keys.clone();
        unique.sort();
        unique.dedup();
        let deletes: Vec<TxnOp> = unique
            .iter()
            .map(|key| TxnOp::delete(key.as_str(), None))
            .collect();
        let txn = Txn::new().and_then(deletes);
        let response = request("delete the objects", self.kv().txn(txn)).await?;
        let existed: BTreeMap<&str, bool> = unique
            .iter()
            .zip(response.op_responses())
            .map(|(key, op)| {
                let deleted = matches!(op, TxnOpResponse::Delete(d) if d.deleted() > 0);
                (key.as_str(), deleted)
            })
            .collect();
        Ok(etcd_keys
            .iter()
            .map(|key| existed.get(key.as_str()).copied().unwrap_or(false))
            .collect())
    }

    /// The objects stored now. A value that is not a valid object is logged and left out.
    pub async fn list(&self) -> Result<Vec<Object>, EtcdError> {
        Ok(self.list_at().await?.1)
    }

    /// The objects stored now and the store's revision they were read at, listed in pages.
    async fn list_at(&self) -> Result<(i64, Vec<Object>), EtcdError> {
        const WHAT: &str = "list the objects";
        let prefix = self.keys.objects();
        let end = keys::prefix_end(&prefix);
        let mut from = prefix.into_bytes();
        let mut revision: Option<i64> = None;
        let mut objects = Vec::new();
        loop {
            let mut options = GetOptions::new()
                .with_range(end.clone())
                .with_limit(LIST_PAGE);
            if let Some(revision) = revision {
                options = options.with_revision(revision);
            }
            let response = request(WHAT, self.kv().get(from, Some(options))).await?;
            // Every page is read at the first page's revision: one consistent snapshot.
            let at = match revision {
                Some(at) => at,
                None => header_revision(WHAT, response.header())?,
            };
            revision = Some(at);
            for kv in response.kvs() {
                match self.decode(kv) {
                    Ok(object) => objects.push(object),
                    Err(e) => tracing::warn!("{e}; leaving it out"),
                }
            }
            match response.kvs().last() {
                Some(last) if response.more() => {
                    from = last.key().to_vec();
                    // The next page starts just after the last key.
                    from.push(0);
                }
                _ => return Ok((at, objects)),
            }
        }
    }

    /// The KV API, with room for the largest answer.
    fn kv(&self) -> KvClient {
        self.client
            .kv_client()
            .max_decoding_message_size(MAX_ANSWER_BYTES)
    }

    /// The watch API, with room for the largest answer.
    fn watcher(&self) -> WatchClient {
        self.client
            .watch_client()
            .max_decoding_message_size(MAX_ANSWER_BYTES)
    }

    /// The stored value of each of `keys` (`None` when absent), read in one transaction.
    async fn get_many<'a>(
        &self,
        keys: &[&'a str],
    ) -> Result<BTreeMap<&'a str, Option<KeyValue>>, EtcdError> {
        if keys.is_empty() {
            return Ok(BTreeMap::new());
        }
        let gets: Vec<TxnOp> = keys.iter().map(|key| TxnOp::get(*key, None)).collect();
        let response = request(
            "read the stored objects",
            self.kv().txn(Txn::new().and_then(gets)),
        )
        .await?;
        Ok(keys
            .iter()
            .zip(response.op_responses())
            .map(|(key, op)| {
                let kv = match op {
                    TxnOpResponse::Get(get) => get.kvs().first().cloned(),
                    _ => None,
                };
                (*key, kv)
            })
            .collect())
    }

    /// The object stored in `kv`, which must be the one its key names.
    fn decode(&self, kv: &KeyValue) -> Result<Object, EtcdError> {
        let key = String::from_utf8_lossy(kv.key()).into_owned();
        let undecodable = |problem: String| EtcdError::Undecodable {
            key: key.clone(),
            problem,
        };
        let value: serde_json::Value =
            serde_json::from_slice(kv.value()).map_err(|e| undecodable(e.to_string()))?;
        let object = Object::from_json(value).map_err(|e| undecodable(e.to_string()))?;
        match self.keys.parse_object(kv.key()) {
            Some(named) if named == object.key() => Ok(object),
            _ => Err(undecodable(format!(
                "it holds {}, which belongs at {}",
                object.key(),
                self.keys
                    .object(&object.key())
                    .unwrap_or_else(|_| "no key".into())
            ))),
        }
    }
}

/// `request`, bounded by [`REQUEST_TIMEOUT`], its error saying `what` was asked.
async fn request<T>(
    what: &'static str,
    request: impl Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T, EtcdError> {
    match tokio::time::timeout(REQUEST_TIMEOUT, request).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(etcd_client::Error::GRpcStatus(status))) if over_a_limit(status.message()) => {
            Err(EtcdError::TooLarge {
                what,
                reason: status.message().to_owned(),
            })
        }
        Ok(Err(source)) => Err(EtcdError::Request { what, source }),
        Err(_) => Err(EtcdError::Timeout {
            what,
            timeout: REQUEST_TIMEOUT,
        }),
    }
}

/// Whether etcd's message says a request is over its transaction or request size limit.
fn over_a_limit(message: &str) -> bool {
    ["too many operations in txn request", "request is too large"]
        .iter()
        .any(|limit| message.contains(limit))
}

/// The store's revision an answer was given at.
fn header_revision(what: &'static str, header: Option<&ResponseHeader>) -> Result<i64, EtcdError> {
    header
        .map(ResponseHeader::revision)
        .ok_or(EtcdError::NoRevision { what })
}
