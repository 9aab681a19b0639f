//! The nodes of the cluster: each registers its Node object under a lease it keeps alive,
//! so that a node that stops or dies leaves the cluster by itself (its routes go with it).

use std::net::IpAddr;
use std::time::Duration;

use etcd_client::PutOptions;
use podwire_k8s::object::Object;
use podwire_model::Cidr;
use podwire_model::cluster::TUNNEL_ADDRESS_ANNOTATION;
use serde_json::json;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::backoff::Backoff;
use super::{EtcdError, EtcdStore, request};

/// What a node tells the others about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRegistration {
    /// The node's name (`metadata.name`).
    pub name: String,
    /// Its pod CIDRs (`spec.podCIDRs`), as claimed.
    pub pod_cidrs: Vec<Cidr>,
    /// Where the other nodes' tunnels to it end (`status.addresses` `InternalIP` and the
    /// annotation [`TUNNEL_ADDRESS_ANNOTATION`]).
    pub tunnel_address: IpAddr,
}

impl NodeRegistration {
    /// The Node object that says it.
    fn to_object(&self) -> Object {
        let address = self.tunnel_address.to_string();
        let cidrs: Vec<String> = self.pod_cidrs.iter().map(Cidr::to_string).collect();
        let mut spec = json!({"podCIDRs": cidrs});
        if let Some(first) = cidrs.first() {
            spec["podCIDR"] = json!(first);
        }
        Object::from_json(json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.name,
                "annotations": {TUNNEL_ADDRESS_ANNOTATION: address},
            },
            "spec": spec,
            "status": {"addresses": [{"type": "InternalIP", "address": address}]},
        }))
        .expect("a Node made of strings in the fields a Node has decodes")
    }
}

/// A node's registration, kept alive in the background until it is withdrawn or dropped.
#[derive(Debug)]
pub struct Registration {
    /// Dropping it stops the keep-alive.
    stop: oneshot::Sender<()>,
    /// The keep-alive; it returns the lease it holds when stopped.
    keeper: JoinHandle<i64>,
    store: EtcdStore,
}

impl Registration {
    /// Takes the node out of the cluster now: stops the keep-alive and revokes the lease,
    /// which deletes the Node.
    pub async fn withdraw(self) -> Result<(), EtcdError> {
        let mut lease_client = self.store.client.lease_client();
        let Some(lease) = self.release().await else {
            return Ok(());
        };
        request("revoke the node's lease", lease_client.revoke(lease)).await?;
        Ok(())
    }

    /// Stops the keep-alive and leaves the Node in place until its lease expires: for a
    /// restart, whose next agent takes the lease over ([`EtcdStore::register_node`] with
    /// the returned lease), so that the other nodes never see this one leave. `None` when
    /// the keep-alive ended abnormally.
    pub async fn release(self) -> Option<i64> {
        // The receiver is gone only when the keeper has ended already; it returns the same.
        let _ = self.stop.send(());
        match self.keeper.await {
            Ok(lease) => Some(lease),
            Err(_) => {
                tracing::warn!(
                    "the keep-alive of this node's registration ended abnormally; its Node goes away when the lease expires"
                );
                None
            }
        }
    }
}

/// Why a keep-alive stopped.
enum Lapse {
    /// etcd no longer knows the lease (it expired, e.g. while etcd was unreachable): the
    /// Node is gone and must be written again under a new lease.
    Expired,
    /// etcd could not be reached; the lease may still be alive.
    Failed(EtcdError),
}

impl EtcdStore {
    /// Registers `node`: writes its Node object under a lease of `ttl` (at least the
    /// minimum etcd grants, about 2 s), and keeps the lease alive in a background task,
    /// registering again under a new lease when it expired (e.g. after etcd was
    /// unreachable for longer than `ttl`). [`Registration::withdraw`] takes the Node away
    /// at once; dropping the [`Registration`] stops the keep-alive, and the Node goes away
    /// when the lease expires. `previous`, the lease a previous agent of this node released
    /// ([`Registration::release`]), is taken over when it is still alive: the Node never
    /// disappears across a restart.
    pub async fn register_node(
        &self,
        node: NodeRegistration,
        ttl: Duration,
        previous: Option<i64>,
    ) -> Result<Registration, EtcdError> {
        let object = node.to_object();
        let key = self.keys.object(&object.key())?;
        let value = object.to_json().to_string();
        // Whole seconds, rounded up: etcd's leases count in seconds.
        let ttl_s = i64::try_from(ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0))
            .unwrap_or(i64::MAX)
            .max(1);
        let taken_over = match previous {
            Some(lease) => self.write_under_live_lease(&key, &value, lease).await?,
            None => None,
        };
        let (lease, granted) = match taken_over {
            Some(held) => held,
            None => self.write_under_new_lease(&key, &value, ttl_s).await?,
        };
        let (stop, stopped) = oneshot::channel();
        let keeper = tokio::spawn(self.clone().keep_registered(
            key,
            value,
            ttl_s,
            (lease, granted),
            stopped,
        ));
        Ok(Registration {
            stop,
            keeper,
            store: self.clone(),
        })
    }

    /// Writes `value` at `key` under a new lease of `ttl_s` seconds; the lease and the TTL
    /// etcd granted (it may raise it to its minimum).
    async fn write_under_new_lease(
        &self,
        key: &str,
        value: &str,
        ttl_s: i64,
    ) -> Result<(i64, Duration), EtcdError> {
        let mut lease_client = self.client.lease_client();
        let grant = request("grant the node a lease", lease_client.grant(ttl_s, None)).await?;
        let options = PutOptions::new().with_lease(grant.id());
        let mut kv = self.kv();
        request("register the node", kv.put(key, value, Some(options))).await?;
        let granted = Duration::from_secs(u64::try_from(grant.ttl()).unwrap_or(1).max(1));
        Ok((grant.id(), granted))
    }

    /// Writes `value` at `key` under `lease` when etcd still has it; the lease and its TTL,
    /// or `None` when it expired.
    async fn write_under_live_lease(
        &self,
        key: &str,
        value: &str,
        lease: i64,
    ) -> Result<Option<(i64, Duration)>, EtcdError> {
        let mut lease_client = self.client.lease_client();
        let alive = request(
            "ask whether the previous lease lives",
            lease_client.time_to_live(lease, None),
        )
        .await?;
        if alive.ttl() <= 0 {
            return Ok(None);
        }
        let options = PutOptions::new().with_lease(lease);
        let mut kv = self.kv();
        request("register the node", kv.put(key, value, Some(options))).await?;
        let granted = Duration::from_secs(u64::try_from(alive.granted_ttl()).unwrap_or(1).max(1));
        Ok(Some((lease, granted)))
    }

    /// Keeps the registration alive until `stopped` fires or its sender is dropped; returns
    /// the lease it holds then.
    async fn keep_registered(
        self,
        key: String,
        value: String,
        ttl_s: i64,
        (mut lease, mut granted): (i64, Duration),
        mut stopped: oneshot::Receiver<()>,
    ) -> i64 {
        let mut backoff = Backoff::default();
        loop {
            let lapse = tokio::select! {
                _ = &mut stopped => return lease,
                lapse = self.keep_alive(lease, granted) => lapse,
            };
            match lapse {
                Lapse::Expired => {
                    // Not interrupted by a stop: the lease in hand is the one to revoke.
                    match self.write_under_new_lease(&key, &value, ttl_s).await {
                        Ok(renewed) => {
                            (lease, granted) = renewed;
                            tracing::info!(key, "the node's lease had expired: registered again");
                            backoff.reset();
                            continue;
                        }
                        Err(e) => tracing::warn!("{e}; trying again"),
                    }
                }
                Lapse::Failed(e) => tracing::warn!("{e}; keeping the node's lease alive again"),
            }
            tokio::select! {
                _ = &mut stopped => return lease,
                _ = tokio::time::sleep(backoff.next_delay()) => {}
            }
        }
    }

    /// Renews `lease` three times per `ttl` until that fails; why it stopped.
    async fn keep_alive(&self, lease: i64, ttl: Duration) -> Lapse {
        const WHAT: &str = "keep the node's lease alive";
        let mut lease_client = self.client.lease_client();
        let (mut keeper, mut answers) = match request(WHAT, lease_client.keep_alive(lease)).await {
            Ok(stream) => stream,
            // The client's way of saying that etcd answered "TTL 0": no such lease.
            Err(EtcdError::Request {
                source: etcd_client::Error::LeaseKeepAliveError(_),
                ..
            }) => return Lapse::Expired,
            Err(e) => return Lapse::Failed(e),
        };
        loop {
            tokio::time::sleep(ttl / 3).await;
            if let Err(source) = keeper.keep_alive().await {
                return Lapse::Failed(EtcdError::Request { what: WHAT, source });
            }
            // An answer later than the TTL comes too late anyway.
            match tokio::time::timeout(ttl, answers.message()).await {
                Ok(Ok(Some(answer))) if answer.ttl() > 0 => {}
                Ok(Ok(Some(_))) => return Lapse::Expired,
                Ok(Ok(None)) => return Lapse::Failed(EtcdError::StreamEnded { what: WHAT }),
                Ok(Err(source)) => return Lapse::Failed(EtcdError::Request { what: WHAT, source }),
                Err(_) => {
                    return Lapse::Failed(EtcdError::Timeout {
                        what: WHAT,
                        timeout: ttl,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use podwire_k8s::nodes::node_info;
    use podwire_model::cluster::NodeInfo;

    #[test]
    fn the_node_object_says_what_the_registration_says() {
        let registration = NodeRegistration {
            name: "n1".into(),
            pod_cidrs: vec![
                "10.244.3.0/24".parse().unwrap(),
                "fd44::/64".parse().unwrap(),
            ],
            tunnel_address: "192.168.60.1".parse().unwrap(),
        };
        let Object::Node(node) = registration.to_object() else {
            panic!("a registration is a Node");
        };
        assert_eq!(
            node_info(&node).unwrap(),
            NodeInfo {
                name: "n1".into(),
                pod_cidrs: registration.pod_cidrs.clone(),
                tunnel_address: Some(registration.tunnel_address),
            }
        );
        let spec = node.spec.unwrap();
        assert_eq!(spec.pod_cidr.as_deref(), Some("10.244.3.0/24"));
        let addresses = node.status.unwrap().addresses.unwrap();
        assert_eq!(addresses[0].type_, "InternalIP");
        assert_eq!(addresses[0].address, "192.168.60.1");
    }

    #[test]
    fn a_node_without_cidrs_yet_has_no_pod_cidr() {
        let registration = NodeRegistration {
            name: "n2".into(),
            pod_cidrs: vec![],
            tunnel_address: "fd60::2".parse().unwrap(),
        };
        let Object::Node(node) = registration.to_object() else {
            panic!("a registration is a Node");
        };
        assert_eq!(node.spec.unwrap().pod_cidr, None);
    }
}
