//! The underlay: a Linux bridge in a network namespace of its own, which every node's uplink
//! is plugged into, and etcd, running in that namespace on the bridge's address.

use std::fs::File;
use std::net::Ipv4Addr;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rustix::process::Signal;

use super::namespace::{Namespace, checked};
use super::{POLL, log_tail, stop_child};

/// The bridge's name inside the underlay namespace.
const BRIDGE: &str = "br0";
/// The underlay's prefix length.
pub const UNDERLAY_PREFIX: u8 = 24;
/// The bridge's address, where etcd listens.
pub const ETCD_ADDRESS: Ipv4Addr = Ipv4Addr::new(192, 168, 60, 254);
/// etcd's client port. The namespace, and so every port in it, is the lab's own: no other
/// etcd can hold it.
const ETCD_CLIENT_PORT: u16 = 2379;
/// etcd's peer port, on the namespace's loopback (a one-member cluster).
const ETCD_PEER_PORT: u16 = 2380;
/// How long etcd may take to answer its health check.
const ETCD_START_LIMIT: Duration = Duration::from_secs(30);

/// Node `index`'s switch address on the underlay (its VXLAN tunnels end there).
pub fn switch_address(index: usize) -> Ipv4Addr {
    Ipv4Addr::new(192, 168, 60, 1 + index as u8)
}

/// Node `index`'s kernel address on the underlay (its daemon reaches etcd from there).
pub fn kernel_address(index: usize) -> Ipv4Addr {
    Ipv4Addr::new(192, 168, 60, 11 + index as u8)
}

/// The bridge and etcd; on drop etcd is stopped, then the namespace (with the bridge and the
/// nodes' veth ends) deleted.
pub struct Underlay {
    etcd: Option<Child>,
    log: PathBuf,
    namespace: Namespace,
}

impl Underlay {
    /// Makes the namespace `name` with the bridge, and starts etcd with its data and log in
    /// `dir`.
    pub fn create(name: String, dir: &Path) -> anyhow::Result<Underlay> {
        let namespace = Namespace::create(name)?;
        namespace.ip(&["link", "add", BRIDGE, "type", "bridge"])?;
        let address = format!("{ETCD_ADDRESS}/{UNDERLAY_PREFIX}");
        namespace.ip(&["addr", "add", &address, "dev", BRIDGE])?;
        namespace.ip(&["link", "set", BRIDGE, "up"])?;
        let log = dir.join("etcd.log");
        let mut underlay = Underlay {
            etcd: None,
            log,
            namespace,
        };
        underlay.start_etcd(&dir.join("etcd"))?;
        Ok(underlay)
    }

    /// etcd's client URL.
    pub fn endpoint(&self) -> String {
        format!("http://{ETCD_ADDRESS}:{ETCD_CLIENT_PORT}")
    }

    /// Plugs a node in: a veth whose end `port` is a bridge port here and whose end `inside`
    /// is in `node`.
    pub fn plug(&self, node: &Namespace, port: &str, inside: &str) -> anyhow::Result<()> {
        let ns = &self.namespace;
        ns.ip(&[
            "link",
            "add",
            port,
            "type",
            "veth",
            "peer",
            "name",
            inside,
            "netns",
            node.name(),
        ])?;
        ns.ip(&["link", "set", port, "master", BRIDGE])?;
        ns.ip(&["link", "set", port, "up"])?;
        Ok(())
    }

    /// The end of etcd's log, for failure messages.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log)
    }

    fn start_etcd(&mut self, data: &Path) -> anyhow::Result<()> {
        let client = self.endpoint();
        let peer = format!("http://127.0.0.1:{ETCD_PEER_PORT}");
        let data = data.to_str().context("the lab's directory is not UTF-8")?;
        let log = File::create(&self.log)
            .with_context(|| format!("cannot create {}", self.log.display()))?;
        let args = [
            "--name",
            "lab",
            "--data-dir",
            data,
            "--listen-client-urls",
            &client,
            "--advertise-client-urls",
            &client,
            "--listen-peer-urls",
            &peer,
            "--initial-advertise-peer-urls",
            &peer,
            "--initial-cluster",
            &format!("lab={peer}"),
        ];
        let child = self
            .namespace
            .command("etcd", &args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("cannot start etcd (install etcd-server: scripts/install-deps.sh)")?;
        self.etcd = Some(child);
        self.wait_healthy(&client)
    }

    /// Waits until `etcdctl endpoint health` says etcd serves.
    fn wait_healthy(&mut self, client: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + ETCD_START_LIMIT;
        loop {
            if let Some(etcd) = self.etcd.as_mut()
                && let Some(status) = etcd.try_wait()?
            {
                bail!(
                    "etcd exited ({status}) before it served; its log:\n{}",
                    self.log_tail()
                );
            }
            let health = self.namespace.command(
                "etcdctl",
                &[
                    "--endpoints",
                    client,
                    "--dial-timeout",
                    "1s",
                    "endpoint",
                    "health",
                ],
            );
            let why = match checked(health) {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                bail!(
                    "etcd did not serve on {client} within {ETCD_START_LIMIT:?} ({why:#}); its log:\n{}",
                    self.log_tail()
                );
            }
            thread::sleep(POLL);
        }
    }
}

impl Drop for Underlay {
    fn drop(&mut self) {
        if let Some(etcd) = self.etcd.take() {
            match stop_child(etcd, "etcd") {
                // etcd ends by the signal itself.
                Ok(status)
                    if status.success() || status.signal() == Some(Signal::TERM.as_raw()) => {}
                Ok(status) => eprintln!("warning: etcd exited with {status} on SIGTERM"),
                Err(e) => eprintln!("warning: {e:#}"),
            }
        }
    }
}
