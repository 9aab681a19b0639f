//! `podwire daemon`: the node agent of one machine.

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
    // Validated as a whole before anything is touched: a bad file
    // changes nothing on the machine.
    let config = Config::load(config_path)
        .with_context(|| format!("invalid config {}", config_path.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(config))
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let node = Node::start(&config)
        .await
        .with_context(|| format!("cannot start node {}", config.node.name))?;
    let node = Arc::new(node);
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
