//! Binding both listeners and serving them until shutdown.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;

use super::socket::{self, SocketError, SocketFile};
use super::{NodeControl, routes};

/// Why the API could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The unix socket could not be set up.
    #[error(transparent)]
    Socket(#[from] SocketError),
    /// The metrics address could not be bound.
    #[error(
        "cannot listen for metrics on {addr}: {source}; is another process using the port? set another node.metrics_listen"
    )]
    MetricsListen {
        /// The address asked for.
        addr: SocketAddr,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// A listener failed while serving.
    #[error("the {listener} listener stopped: {source}")]
    Serve {
        /// `API` or `metrics`.
        listener: &'static str,
        /// What the system said.
        #[source]
        source: io::Error,
    },
}

/// Both listeners, bound and not yet serving.
///
/// Binding apart from serving lets the daemon fail before it starts the data plane, and lets
/// a test learn the port it got for `127.0.0.1:0`.
pub struct Server {
    control: Arc<dyn NodeControl>,
    api: UnixListener,
    api_file: SocketFile,
    metrics: TcpListener,
    metrics_addr: SocketAddr,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("api_socket", &self.api_file)
            .field("metrics_addr", &self.metrics_addr)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds the API socket at `api_socket` (see the module docs of `socket`) and the metrics
    /// listener at `metrics`.
    pub async fn bind(
        control: Arc<dyn NodeControl>,
        api_socket: &Path,
        metrics: SocketAddr,
    ) -> Result<Server, ServeError> {
        let (api, api_file) = socket::bind(api_socket).await?;
        let metrics_error = |source| ServeError::MetricsListen {
            addr: metrics,
            source,
        };
        let metrics = TcpListener::bind(metrics).await.map_err(metrics_error)?;
        let metrics_addr = metrics.local_addr().map_err(metrics_error)?;
        Ok(Server {
            control,
            api,
            api_file,
            metrics,
            metrics_addr,
        })
    }

    /// The address the metrics listener is bound to.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_addr
    }

    /// Serves both listeners until `shutdown` completes, then lets open requests finish and
    /// removes the socket file.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ServeError> {
        let (stop, stopped) = watch::channel(false);
        let signal = |mut stopped: watch::Receiver<bool>| async move {
            // An error means the sender is gone, which also means: stop.
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        let api = axum::serve(self.api, routes::api_router(Arc::clone(&self.control)))
            .with_graceful_shutdown(signal(stopped.clone()));
        let metrics = axum::serve(self.metrics, routes::metrics_router(self.control))
            .with_graceful_shutdown(signal(stopped));
        let trigger = async {
            shutdown.await;
            tracing::info!("API server shutting down");
            let _ = stop.send(true);
        };
        tracing::info!(metrics = %self.metrics_addr, "API server running");
        let (api, metrics, ()) = tokio::join!(api.into_future(), metrics.into_future(), trigger);
        drop(self.api_file);
        api.map_err(|source| ServeError::Serve {
            listener: "API",
            source,
        })?;
        metrics.map_err(|source| ServeError::Serve {
            listener: "metrics",
            source,
        })
    }
}

/// Binds both listeners and serves them until `shutdown` completes.
///
/// The future does not borrow `api_socket`, so it can be spawned.
pub fn serve<S: Future<Output = ()>>(
    control: Arc<dyn NodeControl>,
    api_socket: &Path,
    metrics: SocketAddr,
    shutdown: S,
) -> impl Future<Output = Result<(), ServeError>> + use<S> {
    let api_socket = api_socket.to_owned();
    async move {
        Server::bind(control, &api_socket, metrics)
            .await?
            .run(shutdown)
            .await
    }
}
