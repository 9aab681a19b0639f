//! The daemon's cluster source: before the node starts, where its pod CIDRs come from
//! (claimed in etcd, or the Node's `spec.podCIDRs` in Kubernetes) and, in Kubernetes, its
//! tunnel address published on its Node; once it runs, its registration in etcd (a lease)
//! and the watch whose changes the node takes.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use podwire_agent::node::{Node, ObjectStore};
use podwire_agent::source::etcd::{EtcdStore, NodeRegistration, Registration};
use podwire_k8s::register::Published;
use podwire_k8s::source::SourceEvent;
use podwire_model::Cidr;
use podwire_model::cluster::TUNNEL_ADDRESS_ANNOTATION;
use podwire_model::config::{ClusterJoin, ClusterSource, Config, EtcdSource, KubernetesSource};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long the daemon waits for its Node to get pod CIDRs from the controller-manager.
const NODE_CIDRS_WAIT: Duration = Duration::from_secs(120);

/// Batches of changes in flight between the source and the node: a slow node makes the
/// source wait instead of queueing without bound.
const BATCHES_IN_FLIGHT: usize = 64;

/// A source, connected, before the node starts.
pub enum Prepared {
    /// One machine: nothing to connect to.
    Local,
    /// etcd, with this node's pod CIDRs claimed.
    Etcd(Box<(EtcdStore, EtcdSource)>),
    /// The Kubernetes API.
    Kubernetes(kube::Client),
}

/// Connects to the source and fills in this node's pod CIDRs (the `[cluster]` network's
/// `pod_cidrs`, which the file leaves out).
pub async fn prepare(config: &mut Config) -> anyhow::Result<Prepared> {
    let Some(join) = config.cluster.join.clone() else {
        return Ok(Prepared::Local);
    };
    let name = config.node.name.clone();
    let (prepared, cidrs) = match config.cluster.source.clone() {
        ClusterSource::Local => return Ok(Prepared::Local),
        ClusterSource::Etcd(etcd) => {
            let store = EtcdStore::connect(&etcd.endpoints, &etcd.prefix)
                .await
                .with_context(|| format!("cannot reach etcd at {}", etcd.endpoints.join(", ")))?;
            let cidrs = store
                .claim_pod_cidrs(&name, &join.cidrs, etcd.node_cidr_len4, etcd.node_cidr_len6)
                .await
                .context("cannot claim this node's pod CIDRs in etcd")?;
            (Prepared::Etcd(Box::new((store, etcd))), cidrs)
        }
        ClusterSource::Kubernetes(KubernetesSource { kubeconfig }) => {
            let client = podwire_k8s::watch::client(kubeconfig.as_deref())
                .await
                .context("cannot reach the Kubernetes API")?;
            let cidrs = podwire_k8s::watch::node_pod_cidrs(&client, &name, NODE_CIDRS_WAIT)
                .await
                .with_context(|| format!("cannot read the pod CIDRs of Node {name}"))?;
            // Registered before the node touches anything on this machine: a daemon whose
            // service account may not patch its Node stops with nothing half set up.
            publish_tunnel_address(&client, &name, join.tunnel_address).await?;
            (Prepared::Kubernetes(client), cidrs)
        }
    };
    fill_pod_cidrs(config, &join, cidrs)?;
    Ok(prepared)
}

/// This node's tunnel address from its Node's annotation, read with the in-cluster
/// credentials (the DaemonSet's service account), the node being `$NODE_NAME`: where
/// `${PODWIRE_TUNNEL_ADDRESS}` comes from when the environment does not set it (an
/// administrator annotated the Node, or an earlier agent published the address).
pub async fn tunnel_address_from_node() -> anyhow::Result<String> {
    let name = std::env::var("NODE_NAME").context(
        "the config uses ${PODWIRE_TUNNEL_ADDRESS}, which comes from this node's annotation, but NODE_NAME is not set: set it from spec.nodeName, or set PODWIRE_TUNNEL_ADDRESS",
    )?;
    let client = podwire_k8s::watch::client(None)
        .await
        .context("cannot reach the Kubernetes API to read this node's tunnel address")?;
    let node = kube::Api::<k8s_openapi::api::core::v1::Node>::all(client)
        .get(&name)
        .await
        .with_context(|| format!("cannot read Node {name}"))?;
    node.metadata
        .annotations
        .and_then(|a| a.get(TUNNEL_ADDRESS_ANNOTATION).cloned())
        .with_context(|| {
            format!(
                "the config uses ${{PODWIRE_TUNNEL_ADDRESS}}, which is not set, and Node {name} has no annotation {TUNNEL_ADDRESS_ANNOTATION} to take it from: set PODWIRE_TUNNEL_ADDRESS in the daemon's environment (the DaemonSet's env; podwire then publishes it on the Node), or kubectl annotate node {name} {TUNNEL_ADDRESS_ANNOTATION}=ADDRESS (its address on podwire's uplink)"
            )
        })
}

/// Gives the cluster network the node's pod CIDRs.
fn fill_pod_cidrs(config: &mut Config, join: &ClusterJoin, cidrs: Vec<Cidr>) -> anyhow::Result<()> {
    let network = config
        .networks
        .iter_mut()
        .find(|n| n.name == join.network)
        .with_context(|| format!("the config has no [[network]] {:?}", join.network))?;
    tracing::info!(network = %network.name, pod_cidrs = ?cidrs, "this node's pod CIDRs");
    network.pod_cidrs = cidrs;
    Ok(())
}

/// The source running beside a started node.
pub struct Running {
    registration: Option<(Registration, LeaseFile)>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops the watch, saves the store's cache, and leaves this node's registration for
    /// the next agent to take over: a restart is invisible to the other nodes. A node that
    /// does not come back leaves the cluster when its lease expires (`lease_ttl_s`), and its
    /// routes with it. In Kubernetes nothing is withdrawn: the tunnel address published on
    /// the Node stays valid across a restart, and a deleted Node takes it with it.
    pub async fn stop(self, node: &Arc<Node>) {
        for task in self.tasks {
            task.abort();
            let _ = task.await;
        }
        let saving = node.clone();
        let _ = tokio::task::spawn_blocking(move || saving.save_cluster_cache()).await;
        if let Some((registration, file)) = self.registration
            && let Some(lease) = registration.release().await
        {
            file.save(lease);
        }
    }
}

/// Where an agent leaves its etcd lease for the next one (`<state_dir>/etcd-lease`): the
/// lease's id in decimal.
struct LeaseFile(std::path::PathBuf);

impl LeaseFile {
    fn new(config: &Config) -> LeaseFile {
        LeaseFile(config.node.state_dir.join("etcd-lease"))
    }

    /// The lease a previous agent left, taken (the file is removed: a lease is taken over
    /// once).
    fn take(&self) -> Option<i64> {
        let text = std::fs::read_to_string(&self.0).ok()?;
        let _ = std::fs::remove_file(&self.0);
        text.trim().parse().ok()
    }

    fn save(&self, lease: i64) {
        if let Err(e) = std::fs::write(&self.0, lease.to_string()) {
            tracing::warn!(
                "cannot leave the etcd lease in {} ({e}): the next agent registers anew",
                self.0.display()
            );
        }
    }
}

/// Registers the node (etcd), tells it where `ctl apply` writes, and starts the watch whose
/// changes it takes.
pub async fn start(
    prepared: Prepared,
    node: &Arc<Node>,
    config: &Config,
) -> anyhow::Result<Running> {
    let (events, batches) = mpsc::channel(BATCHES_IN_FLIGHT);
    let mut running = Running {
        registration: None,
        tasks: vec![
            tokio::spawn(take_batches(node.clone(), batches)),
            tokio::spawn(every(SAVE_EVERY, node.clone(), Node::save_cluster_cache)),
        ],
    };
    match prepared {
        Prepared::Local => {}
        Prepared::Etcd(etcd) => {
            let (store, etcd) = *etcd;
            node.set_object_store(ObjectStore::Etcd(Box::new(store.clone())));
            let join = config
                .cluster
                .join
                .as_ref()
                .context("etcd without [cluster] values")?;
            let registration = NodeRegistration {
                name: config.node.name.clone(),
                pod_cidrs: pod_cidrs(config, join),
                tunnel_address: join.tunnel_address,
            };
            let file = LeaseFile::new(config);
            let registered = store
                .register_node(registration, etcd.lease_ttl, file.take())
                .await
                .context("cannot register this node in etcd")?;
            running.registration = Some((registered, file));
            running.tasks.push(tokio::spawn(async move {
                if let Err(e) = store.watch(events).await {
                    tracing::error!("the etcd watch stopped: {e}");
                }
            }));
            running.tasks.push(tokio::spawn(every(
                RETRY_EVERY,
                node.clone(),
                Node::retry_failed,
            )));
        }
        Prepared::Kubernetes(client) => {
            node.set_object_store(ObjectStore::Kubernetes);
            running.tasks.push(tokio::spawn(async move {
                if let Err(e) = podwire_k8s::watch::watch(client, events).await {
                    tracing::error!("the Kubernetes watch stopped: {e}");
                }
            }));
        }
    }
    Ok(running)
}

/// Registers the node in Kubernetes: its tunnel address on its Node, where the other
/// nodes' tunnels learn where to end. The name and pod CIDRs are the Node's already.
async fn publish_tunnel_address(
    client: &kube::Client,
    name: &str,
    address: std::net::IpAddr,
) -> anyhow::Result<()> {
    let published = podwire_k8s::register::publish_tunnel_address(client, name, address)
        .await
        .context("cannot register this node's tunnel address")?;
    match published {
        Published::Written => tracing::info!(%address, "published this node's tunnel address"),
        Published::Unchanged => {
            tracing::debug!(%address, "this node's tunnel address is published")
        }
    }
    Ok(())
}

fn pod_cidrs(config: &Config, join: &ClusterJoin) -> Vec<Cidr> {
    config
        .networks
        .iter()
        .find(|n| n.name == join.network)
        .map(|n| n.pod_cidrs.clone())
        .unwrap_or_default()
}

/// How often what failed (a write to etcd) is tried again.
const RETRY_EVERY: Duration = Duration::from_secs(2);

/// How often the store's cache is saved, when the source changed it.
const SAVE_EVERY: Duration = Duration::from_secs(10);

/// Calls `chore` on the node every `period`, on the blocking pool (it takes the node's locks).
async fn every(period: Duration, node: Arc<Node>, chore: fn(&Node)) {
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let node = node.clone();
        let _ = tokio::task::spawn_blocking(move || chore(&node)).await;
    }
}

/// Hands the node every batch the source sends; what queued up while the node was busy
/// goes in as one batch, so a burst costs one render.
async fn take_batches(node: Arc<Node>, mut batches: mpsc::Receiver<Vec<SourceEvent>>) {
    while let Some(mut events) = batches.recv().await {
        while let Ok(more) = batches.try_recv() {
            events.extend(more);
        }
        let node = node.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || node.sync_cluster(events)).await {
            tracing::error!("taking the source's changes failed: {e}");
        }
    }
}
