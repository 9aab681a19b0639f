//! The Kubernetes API watched with kube-rs: Namespaces, Pods, Services, EndpointSlices,
//! NetworkPolicies, ClusterNetworkPolicies and Nodes, as [`SourceEvent`]s.

mod kinds;

use std::future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, DynamicObject};
use kube::config::{InferConfigError, KubeConfigOptions, Kubeconfig, KubeconfigError};
use kube::runtime::{WatchStreamExt, watcher};
use podwire_model::Cidr;
use podwire_model::config::FieldErrors;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::nodes::node_info;
use crate::source::SourceEvent;

/// At most this many events go to the store in one batch.
const BATCH: usize = 1024;

/// How often [`node_pod_cidrs`] asks for the Node again while it waits.
const NODE_POLL: Duration = Duration::from_secs(1);

/// Why the Kubernetes API could not be used.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The kubeconfig named in the configuration could not be read or used.
    #[error(
        "cannot use kubeconfig {path}: {source}; check the path (cluster.kubeconfig), that the \
         file is readable, and its current-context"
    )]
    Kubeconfig {
        /// The file.
        path: PathBuf,
        /// Why.
        source: KubeconfigError,
    },
    /// No kubeconfig was named and none could be found.
    #[error(
        "cannot find the Kubernetes API: {0}; run podwire in a pod with its service account \
         token mounted, set $KUBECONFIG, or set cluster.kubeconfig"
    )]
    Infer(#[source] InferConfigError),
    /// The configuration found could not make a client.
    #[error(
        "cannot make a client for the API server: {0}; check the kubeconfig's server URL and \
         certificates"
    )]
    Client(#[source] kube::Error),
    /// The API server refused to give the Node, or could not be reached until the timeout.
    #[error(
        "cannot read Node {node}: {source}; check that the API server is reachable and that \
         podwire's service account may get nodes"
    )]
    NodeUnreadable {
        /// The node's name.
        node: String,
        /// Why.
        source: kube::Error,
    },
    /// The Node never appeared.
    #[error(
        "Node {node} does not exist after {waited:?}: is the kubelet registered under this \
         name (the daemon's node name must be the Node's name)?"
    )]
    NoNode {
        /// The node's name.
        node: String,
        /// How long podwire waited.
        waited: Duration,
    },
    /// The Node exists but was never given pod CIDRs.
    #[error(
        "Node {node} has no spec.podCIDRs after {waited:?}: is the controller-manager \
         allocating node CIDRs (--allocate-node-cidrs with --cluster-cidr)?"
    )]
    NoPodCidrs {
        /// The node's name.
        node: String,
        /// How long podwire waited.
        waited: Duration,
    },
    /// The Node has values podwire cannot read.
    #[error("Node {node} cannot be used:\n{problems}")]
    BadNode {
        /// The node's name.
        node: String,
        /// Each field that does not parse.
        problems: FieldErrors,
    },
}

/// A client for the API server: from `kubeconfig` when given, else kube-rs' inference
/// (in-cluster service account, then `$KUBECONFIG`, then `~/.kube/config`).
pub async fn client(kubeconfig: Option<&Path>) -> Result<kube::Client, WatchError> {
    let config = match kubeconfig {
        Some(path) => {
            let unusable = |source| WatchError::Kubeconfig {
                path: path.to_owned(),
                source,
            };
            let file = Kubeconfig::read_from(path).map_err(unusable)?;
            kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
                .await
                .map_err(unusable)?
        }
        None => kube::Config::infer().await.map_err(WatchError::Infer)?,
    };
    kube::Client::try_from(config).map_err(WatchError::Client)
}

/// Lists then watches every kind podwire keeps, sending each batch of changes to `events`
/// (a [`SourceEvent::Listed`] per kind after each list or relist, then `Applied` and
/// `Deleted`). Relists when a watch expires (410 Gone) or the connection is lost, with
/// backoff. Returns when `events` is closed.
///
/// A kind the API server does not serve (the ClusterNetworkPolicy CRD not installed) is
/// listed as empty, once, and asked for again with backoff; the other kinds go on.
pub async fn watch(
    client: kube::Client,
    events: mpsc::Sender<Vec<SourceEvent>>,
) -> Result<(), WatchError> {
    let streams = kinds::watched_kinds().into_iter().map(|watched| {
        let api = Api::<DynamicObject>::all_with(client.clone(), &watched.resource);
        let mut kind_events = kinds::KindEvents::new(watched);
        watcher(api, watcher::Config::default())
            .default_backoff()
            .filter_map(move |event| future::ready(kind_events.on(event)))
            .boxed()
    });
    // Everything ready at once goes in one batch, so a burst costs the store one update.
    let mut batches = futures::stream::select_all(streams).ready_chunks(BATCH);
    loop {
        let batch = tokio::select! {
            batch = batches.next() => batch,
            () = events.closed() => return Ok(()),
        };
        // The watchers retry forever: their streams do not end.
        let Some(batch) = batch else { return Ok(()) };
        if events.send(batch).await.is_err() {
            return Ok(());
        }
    }
}

/// What [`node_pod_cidrs`] last found.
enum NodeSeen {
    Absent,
    WithoutCidrs,
    Unreachable(kube::Error),
}

/// The pod CIDRs of Node `name` (`spec.podCIDRs`), waiting up to `timeout` for the node to
/// exist and have some.
pub async fn node_pod_cidrs(
    client: &kube::Client,
    name: &str,
    timeout: Duration,
) -> Result<Vec<Cidr>, WatchError> {
    let nodes: Api<Node> = Api::all(client.clone());
    let deadline = Instant::now() + timeout;
    loop {
        let seen = match nodes.get_opt(name).await {
            Ok(Some(node)) => {
                let info = node_info(&node).map_err(|problems| WatchError::BadNode {
                    node: name.to_owned(),
                    problems: FieldErrors(problems),
                })?;
                if !info.pod_cidrs.is_empty() {
                    return Ok(info.pod_cidrs);
                }
                NodeSeen::WithoutCidrs
            }
            Ok(None) => NodeSeen::Absent,
            // The API server answered (403, ...): waiting will not change its mind.
            Err(source @ kube::Error::Api(_)) => {
                return Err(WatchError::NodeUnreadable {
                    node: name.to_owned(),
                    source,
                });
            }
            Err(error) => NodeSeen::Unreachable(error),
        };
        let now = Instant::now();
        if now >= deadline {
            let node = name.to_owned();
            return Err(match seen {
                NodeSeen::Absent => WatchError::NoNode {
                    node,
                    waited: timeout,
                },
                NodeSeen::WithoutCidrs => WatchError::NoPodCidrs {
                    node,
                    waited: timeout,
                },
                NodeSeen::Unreachable(source) => WatchError::NodeUnreadable { node, source },
            });
        }
        tokio::time::sleep(NODE_POLL.min(deadline - now)).await;
    }
}
