//! `podwire daemon`: the node agent of one machine, or of one node of a cluster.

mod cluster;
mod env;

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use podwire_agent::api;
use podwire_agent::node::Node;
use podwire_model::config::Config;
use tokio::signal::unix::{SignalKind, signal};

/// Loads the config, builds the node, serves the API until SIGINT or
/// SIGTERM, then takes the node down (its interfaces go with it).
pub fn run(config_path: &Path) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let config = load(config_path)
            .await
            .with_context(|| format!("invalid config {}", config_path.display()))?;
        serve(config).await
    })
}

/// Reads the config, fills in its `${NAME}` placeholders from the environment, and
/// validates it as a whole: a bad file changes nothing on the machine.
async fn load(path: &Path) -> anyhow::Result<Config> {
    let text = std::fs::read_to_string(path).context("cannot read it")?;
    // Set per node by the DaemonSet when it can; else the Node's annotation, which an
    // administrator set or an earlier agent published (see the README, "Running on
    // Kubernetes").
    let annotated = match text.contains(TUNNEL_ADDRESS_PLACEHOLDER)
        && std::env::var(TUNNEL_ADDRESS_VAR).is_err()
    {
        true => Some(cluster::tunnel_address_from_node().await?),
        false => None,
    };
    let text = env::expand(&text, |name| match (name, &annotated) {
        (TUNNEL_ADDRESS_VAR, Some(address)) => Some(address.clone()),
        _ => std::env::var(name).ok(),
    })?;
    Ok(Config::parse(&text)?)
}

/// The placeholder of this node's tunnel address, filled from the environment or else from
/// the Node's annotation.
const TUNNEL_ADDRESS_VAR: &str = "PODWIRE_TUNNEL_ADDRESS";
const TUNNEL_ADDRESS_PLACEHOLDER: &str = "${PODWIRE_TUNNEL_ADDRESS}";

async fn serve(mut config: Config) -> anyhow::Result<()> {
    let prepared = cluster::prepare(&mut config).await?;
    let node = Node::start(&config)
        .await
        .with_context(|| format!("cannot start node {}", config.node.name))?;
    let node = Arc::new(node);
    let source = cluster::start(prepared, &node, &config).await?;
    tracing::info!(
        node = %config.node.name,
        api = %config.node.api_socket.display(),
        metrics = %config.node.metrics_listen,
        "podwire is forwarding"
    );
    let served = api::serve(
        node.clone(),
        &config.node.api_socket,
        config.node.metrics_listen,
        stop_signal(),
    )
    .await;
    tracing::info!("stopping");
    source.stop(&node).await;
    if let Ok(node) = Arc::try_unwrap(node) {
        node.stop();
    }
    served.context("the API server failed")
}

/// Resolves on SIGINT or SIGTERM.
pub async fn stop_signal() {
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot watch SIGTERM; stop with Ctrl-C");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
