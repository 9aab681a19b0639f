//! A node: a network namespace whose uplink is a veth to the underlay, running its own
//! `podwire daemon` with etcd as the source of cluster objects. The node's kernel has an
//! address on the uplink (the daemon reaches etcd with it); the switch attaches the same veth
//! with AF_PACKET and owns another address on it: they share the veth's MAC address, which is
//! fine because their IP addresses differ.

use std::fmt::Write as _;
use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use podwire_agent::api::client::Client;
use podwire_model::Cidr;
use podwire_model::attach::NetworkStatus;

use super::namespace::{Namespace, checked, describe, stdout_of};
use super::snapshot::Snapshot;
use super::underlay::{self, UNDERLAY_PREFIX, Underlay};
use super::{CLUSTER_CIDRS, MEMIF_NETWORK, POD_NETWORK, POLL, followed_by, log_tail, stop_child};

/// The uplink veth's name inside a node's namespace.
pub const UPLINK_DEVICE: &str = "ul0";
/// podwire's name for the uplink.
pub const UPLINK: &str = "uplink0";
/// The host tap's name inside a node's namespace.
const HOST_TAP: &str = "pwhost";
/// How long a daemon may take to serve its pod network (it claims its pod CIDR first).
const START_LIMIT: Duration = Duration::from_secs(30);

/// What every node has in common: what its config says of the cluster, and its uplink.
pub struct ClusterSettings {
    /// etcd's client URL.
    pub etcd_endpoint: String,
    /// Where the lab's keys live in etcd.
    pub etcd_prefix: String,
    /// How long a node's registration outlives it.
    pub lease_ttl_s: u64,
    /// Whether nodes have the memif network too.
    pub memif_network: bool,
    /// The MTU of each uplink veth, both ends.
    pub uplink_mtu: u32,
    /// The underlay's namespace, where each uplink's peer is a port of the bridge.
    pub underlay_netns: String,
}

/// One node of the lab.
pub struct Node {
    /// Its name, as in its config and in etcd: `node1`, `node2` ...
    pub name: String,
    /// Its index in the lab, from 0.
    pub index: usize,
    exe: PathBuf,
    config: PathBuf,
    socket: PathBuf,
    log: PathBuf,
    daemon: Option<Child>,
    /// Its network namespace; declared last: deleted after the daemon has stopped.
    pub namespace: Namespace,
}

impl Node {
    /// Makes node `index`'s namespace `netns`, plugs it into `underlay` and writes its config
    /// in `dir`; its daemon is not started.
    pub fn create(
        index: usize,
        netns: String,
        underlay: &Underlay,
        dir: &Path,
        exe: &Path,
        cluster: &ClusterSettings,
    ) -> anyhow::Result<Node> {
        let name = format!("node{}", index + 1);
        let namespace = Namespace::create(netns)?;
        let port = format!("n{}", index + 1);
        underlay.plug(&namespace, &port, UPLINK_DEVICE)?;
        // Both ends: a veth drops what arrives larger than its receiving end's MTU.
        let mtu = cluster.uplink_mtu.to_string();
        let mut bridge_port = Command::new("ip");
        bridge_port.args([
            "-n",
            &cluster.underlay_netns,
            "link",
            "set",
            &port,
            "mtu",
            &mtu,
        ]);
        checked(bridge_port)?;
        namespace.ip(&["link", "set", UPLINK_DEVICE, "mtu", &mtu])?;
        let kernel = format!("{}/{UNDERLAY_PREFIX}", underlay::kernel_address(index));
        namespace.ip(&["addr", "add", &kernel, "dev", UPLINK_DEVICE])?;
        namespace.ip(&["link", "set", UPLINK_DEVICE, "up"])?;
        let dir = dir.join(&name);
        fs::create_dir(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let socket = dir.join("api.sock");
        let text = config(index, &name, &dir, &socket, cluster);
        let config = dir.join("podwire.toml");
        fs::write(&config, text).with_context(|| format!("cannot write {}", config.display()))?;
        Ok(Node {
            name,
            index,
            exe: exe.to_owned(),
            config,
            socket,
            log: dir.join("daemon.log"),
            daemon: None,
            namespace,
        })
    }

    /// Its daemon's API socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Whether its daemon runs (it may have exited since).
    pub fn running(&self) -> bool {
        self.daemon.is_some()
    }

    /// Starts its daemon, without waiting for it.
    pub fn spawn(&mut self) -> anyhow::Result<()> {
        if self.daemon.is_some() {
            bail!("the daemon of {} runs already", self.name);
        }
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("cannot open {}", self.log.display()))?;
        let exe = self
            .exe
            .to_str()
            .context("the podwire binary's path is not UTF-8")?;
        let config = self
            .config
            .to_str()
            .context("the lab's path is not UTF-8")?;
        let mut command = self.namespace.command(exe, &["daemon", "--config", config]);
        writeln!(log, "--- {} ---", describe(&command))?;
        let child = command
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start the daemon of {}", self.name))?;
        self.daemon = Some(child);
        Ok(())
    }

    /// Starts its daemon and waits until it serves its pod network.
    pub fn start(&mut self) -> anyhow::Result<()> {
        self.spawn()?;
        self.wait_ready()
    }

    /// Waits until the daemon serves its pod network (which it can only once it has its pod
    /// CIDR).
    pub fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_LIMIT;
        loop {
            let Some(daemon) = self.daemon.as_mut() else {
                bail!("the daemon of {} is not running", self.name);
            };
            if let Some(status) = daemon.try_wait()? {
                self.daemon = None;
                bail!(
                    "the daemon of {} exited ({status}) before it served network {POD_NETWORK}; its log:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            let why = match self.network(POD_NETWORK) {
                Ok(n) if n.ready => return Ok(()),
                Ok(n) => n.reason.unwrap_or_else(|| "not ready".into()),
                Err(e) => format!("{e:#}"),
            };
            if Instant::now() >= deadline {
                bail!(
                    "the daemon of {} did not serve network {POD_NETWORK} within {START_LIMIT:?} ({why}); its log:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            thread::sleep(POLL);
        }
    }

    /// Stops its daemon with SIGTERM; an error when it does not exit cleanly in time.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        match self.daemon.take() {
            Some(daemon) => {
                let what = format!("the daemon of {}", self.name);
                let log = || format!("its log:\n{}", self.log_tail());
                match stop_child(daemon, &what) {
                    Ok(status) if status.success() => Ok(()),
                    Ok(status) => Err(anyhow::anyhow!(
                        "{what} exited with {status} on SIGTERM\n{}",
                        log()
                    )),
                    Err(e) => Err(followed_by(e, &log())),
                }
            }
            None => Ok(()),
        }
    }

    /// `podwire ctl --socket SOCKET ARGS` with `stdin`, which must succeed; its output.
    pub fn ctl(&self, args: &[&str], stdin: &str) -> anyhow::Result<String> {
        let mut command = Command::new(&self.exe);
        command
            .arg("ctl")
            .arg("--socket")
            .arg(&self.socket)
            .args(args);
        let what = describe(&command);
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run `{what}`"))?;
        let mut input = child.stdin.take().context("no stdin")?;
        input.write_all(stdin.as_bytes())?;
        drop(input);
        stdout_of(&what, child.wait_with_output()?)
    }

    /// `podwire ctl apply -f -` of `manifest` on this node (it writes to etcd).
    pub fn apply(&self, manifest: &str) -> anyhow::Result<String> {
        self.ctl(&["apply", "-f", "-"], manifest)
    }

    /// The daemon's API client.
    pub fn client(&self) -> Client {
        Client::new(&self.socket).with_timeout(Duration::from_secs(5))
    }

    /// The pod network `name` as `GET /v1/networks` shows it.
    pub fn network(&self, name: &str) -> anyhow::Result<NetworkStatus> {
        let networks = block_on(self.client().networks())?
            .with_context(|| format!("GET /v1/networks of {}", self.name))?;
        networks
            .into_iter()
            .find(|n| n.name == name)
            .with_context(|| format!("{} has no network {name}", self.name))
    }

    /// The pod CIDRs it claimed.
    pub fn pod_cidrs(&self) -> anyhow::Result<Vec<Cidr>> {
        Ok(self
            .network(POD_NETWORK)?
            .pools
            .into_iter()
            .map(|p| p.cidr)
            .collect())
    }

    /// What its kernel has: links, addresses and routes.
    pub fn snapshot(&self) -> anyhow::Result<Snapshot> {
        Snapshot::take(&self.namespace)
    }

    /// The end of its daemon's log (all its runs), for failure messages.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("warning: {e:#}");
        }
    }
}

/// Runs a future of the API client to completion.
pub fn block_on<F: std::future::Future>(future: F) -> anyhow::Result<F::Output> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start an async runtime")?
        .block_on(future))
}

/// The config of node `index`: an AF_PACKET uplink with its switch address, a host tap, the
/// pod network without pod CIDRs (claimed from etcd), the memif network when asked for, and
/// the etcd source.
fn config(
    index: usize,
    name: &str,
    dir: &Path,
    socket: &Path,
    cluster: &ClusterSettings,
) -> String {
    let n = index + 1;
    let quoted = |items: &[&str]| {
        items
            .iter()
            .map(|i| format!("\"{i}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let cidrs = quoted(&CLUSTER_CIDRS);
    let mut text = format!(
        "[node]\nname = \"{name}\"\napi_socket = \"{}\"\nmetrics_listen = \"127.0.0.1:9464\"\n\
         state_dir = \"{}\"\nworkers = 1\nbuffers_per_worker = 4096\n\n\
         [[interface]]\nname = \"{UPLINK}\"\nkind = \"af-packet\"\nhost_interface = \"{UPLINK_DEVICE}\"\n\
         addresses = [\"{}/{UNDERLAY_PREFIX}\"]\n\n\
         [host]\ninterface = \"{HOST_TAP}\"\naddress4 = \"192.168.61.{n}\"\naddress6 = \"fd61::{n}\"\n\
         routes = [{cidrs}]\n\n\
         [[network]]\nname = \"{POD_NETWORK}\"\n\n",
        socket.display(),
        dir.join("state").display(),
        underlay::switch_address(index),
    );
    if cluster.memif_network {
        let _ = write!(
            text,
            "[[network]]\nname = \"{MEMIF_NETWORK}\"\ninterface = \"memif\"\npod_cidrs = [\"{}\"]\n\n",
            memif_cidr(index)
        );
    }
    let _ = write!(
        text,
        "[cluster]\nsource = \"etcd\"\ncidrs = [{cidrs}]\nnetwork = \"{POD_NETWORK}\"\n\
         uplink = \"{UPLINK}\"\netcd_endpoints = [\"{}\"]\netcd_prefix = \"{}\"\n\
         lease_ttl_s = {}\n",
        cluster.etcd_endpoint, cluster.etcd_prefix, cluster.lease_ttl_s
    );
    text
}

/// Node `index`'s pod CIDR on the memif network, given in its config: only the cluster's
/// pod network is claimed from etcd and routed between nodes, so memif pods talk to pods of
/// their own node.
pub fn memif_cidr(index: usize) -> String {
    format!("10.245.{}.0/24", index + 1)
}
