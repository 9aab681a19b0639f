//! A real etcd for one test: on free ports of 127.0.0.1, with its own data directory, gone
//! (process and directory) when the test ends, also when it panics.

use std::fs::OpenOptions;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

/// How long etcd may take to answer after it starts.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// An etcd process; killed on drop.
pub struct EtcdServer {
    child: Option<Child>,
    dir: TempDir,
    client_port: u16,
    peer_port: u16,
}

impl EtcdServer {
    /// Starts etcd and waits until it answers.
    pub async fn start() -> EtcdServer {
        let dir = tempfile::Builder::new()
            .prefix("podwire-etcd-test-")
            .tempdir()
            .expect("a temporary directory for etcd's data");
        let mut server = EtcdServer {
            child: None,
            dir,
            client_port: free_port(),
            peer_port: free_port(),
        };
        server.run().await;
        server
    }

    /// The client URL.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    /// The client URL, as a list for `EtcdStore::connect`.
    pub fn endpoints(&self) -> Vec<String> {
        vec![self.endpoint()]
    }

    /// Kills etcd (SIGKILL: as if the machine lost it) and waits until it is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts etcd again on the same ports and data, and waits until it answers.
    pub async fn restart(&mut self) {
        self.kill();
        self.run().await;
    }

    /// A client of its own, for what the store does not do (compaction, leases).
    pub async fn client(&self) -> etcd_client::Client {
        etcd_client::Client::connect([self.endpoint()], None)
            .await
            .expect("a client for the test's etcd")
    }

    async fn run(&mut self) {
        let log_path = self.log_path();
        // Appended to: a restart keeps what the first run said.
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("etcd's log file");
        let name = "podwire-test";
        let client = self.endpoint();
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let spawned = Command::new("etcd")
            .arg("--name")
            .arg(name)
            .arg("--data-dir")
            .arg(self.dir.path().join("data"))
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &format!("{name}={peer}")])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("etcd's log file"))
            .stderr(log)
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "etcd is not installed: these tests need the etcd server (apt-get install etcd-server, or scripts/install-deps.sh)"
            ),
            Err(e) => panic!("cannot start etcd: {e}"),
        };
        self.child = Some(child);
        self.wait_ready().await;
    }

    async fn wait_ready(&mut self) {
        let ready = async {
            loop {
                if let Some(child) = self.child.as_mut()
                    && let Ok(Some(status)) = child.try_wait()
                {
                    return Err(format!("etcd exited with {status}"));
                }
                if let Ok(Ok(mut client)) = tokio::time::timeout(
                    Duration::from_secs(1),
                    etcd_client::Client::connect([self.endpoint()], None),
                )
                .await
                    && let Ok(Ok(_)) =
                        tokio::time::timeout(Duration::from_secs(1), client.status()).await
                {
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        let outcome = tokio::time::timeout(READY_WITHIN, ready)
            .await
            .unwrap_or_else(|_| Err(format!("etcd did not answer within {READY_WITHIN:?}")));
        if let Err(why) = outcome {
            let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
            panic!("{why}; its log:\n{log}");
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("etcd.log")
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port on 127.0.0.1")
        .port()
}
