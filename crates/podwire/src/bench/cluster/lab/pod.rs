//! A pod: a network namespace attached through the CNI plugin (this very binary, run as a
//! container runtime runs a plugin) against its node's API socket, with its Kubernetes
//! identity in `CNI_ARGS`. On drop it is DELeted, then its namespace deleted.

use std::io::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::MEMIF_NETWORK;
use super::namespace::Namespace;

/// The Kubernetes namespace of every pod of the lab.
pub const POD_NAMESPACE: &str = "default";
/// The pod's interface on the pod network.
const IFNAME: &str = "eth0";
/// The pod's interface on the memif network.
const MEMIF_IFNAME: &str = "memif0";
/// The `PATH` a plugin runs with: the runtime's.
const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A pod of the lab.
pub struct Pod {
    /// Its Kubernetes name (in [`POD_NAMESPACE`]).
    pub name: String,
    /// The index of the node it is on.
    pub node: usize,
    /// Its addresses, from the ADD result (empty until attached).
    pub ips: Vec<IpAddr>,
    /// Its memif socket, when attached to a memif network.
    pub memif_socket: Option<PathBuf>,
    exe: PathBuf,
    socket: PathBuf,
    container_id: String,
    /// The network it is attached to and its interface there, until DEL.
    attached: Option<(String, &'static str)>,
    /// Its network namespace; declared last: deleted after the DEL.
    pub namespace: Namespace,
}

impl Pod {
    /// A pod `name` in a fresh namespace `netns`, to be attached through node `node`'s
    /// `socket` by the plugin `exe`.
    pub fn create(
        name: &str,
        netns: String,
        node: usize,
        socket: &Path,
        exe: &Path,
    ) -> anyhow::Result<Pod> {
        static SERIAL: AtomicU64 = AtomicU64::new(0);
        let serial = SERIAL.fetch_add(1, Ordering::Relaxed);
        Ok(Pod {
            name: name.to_owned(),
            node,
            ips: Vec::new(),
            memif_socket: None,
            exe: exe.to_owned(),
            socket: socket.to_owned(),
            container_id: format!("{:016x}{serial:048x}", std::process::id()),
            attached: None,
            namespace: Namespace::create(netns)?,
        })
    }

    /// Its first address of the family `v6` says.
    pub fn ip(&self, v6: bool) -> anyhow::Result<IpAddr> {
        self.ips
            .iter()
            .copied()
            .find(|ip| ip.is_ipv6() == v6)
            .with_context(|| {
                format!(
                    "pod {} has no IPv{} address: {:?}",
                    self.name,
                    if v6 { 6 } else { 4 },
                    self.ips
                )
            })
    }

    /// Runs `f` on a thread inside the pod's namespace.
    pub fn run_in<R: Send>(&self, f: impl FnOnce() -> R + Send) -> anyhow::Result<R> {
        self.namespace.run_in(f)
    }

    /// CNI ADD on `network`; reads its addresses (and memif socket) from the result.
    pub fn add(&mut self, network: &str) -> anyhow::Result<()> {
        if let Some((on, _)) = &self.attached {
            bail!("pod {} is attached to {on} already", self.name);
        }
        let ifname = if network == MEMIF_NETWORK {
            MEMIF_IFNAME
        } else {
            IFNAME
        };
        // Set before the call: a failed ADD is followed by DEL, as the CNI spec asks of
        // runtimes, so nothing it made half way stays.
        self.attached = Some((network.to_owned(), ifname));
        let result = self.call("ADD", network, ifname)?;
        let ips = result["ips"].as_array().cloned().unwrap_or_default();
        self.ips = ips
            .iter()
            .filter_map(|ip| ip["address"].as_str()?.split('/').next()?.parse().ok())
            .collect();
        self.memif_socket = result["interfaces"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|i| i["socketPath"].as_str().map(PathBuf::from));
        if self.ips.is_empty() {
            bail!(
                "the ADD result of pod {} has no address: {result}",
                self.name
            );
        }
        Ok(())
    }

    /// CNI DEL, when attached.
    pub fn del(&mut self) -> anyhow::Result<()> {
        if let Some((network, ifname)) = self.attached.clone() {
            self.call("DEL", &network, ifname)?;
            self.attached = None;
        }
        Ok(())
    }

    /// Runs the plugin with `verb` as a runtime does; the result it printed. The plugin
    /// bounds its own wait for the agent, so this call ends even if the daemon hangs.
    fn call(&self, verb: &str, network: &str, ifname: &str) -> anyhow::Result<Value> {
        let config = json!({
            "cniVersion": "1.1.0",
            "name": format!("podwire-{network}"),
            "type": "podwire",
            "network": network,
            "agentSocket": self.socket,
        });
        let cni_path = self.exe.parent().unwrap_or(Path::new("/"));
        let mut child = Command::new(&self.exe)
            .env_clear()
            .env("PATH", SYSTEM_PATH)
            .env("CNI_COMMAND", verb)
            .env("CNI_CONTAINERID", &self.container_id)
            .env("CNI_NETNS", self.namespace.path())
            .env("CNI_IFNAME", ifname)
            .env(
                "CNI_ARGS",
                format!(
                    "IgnoreUnknown=1;K8S_POD_NAMESPACE={POD_NAMESPACE};K8S_POD_NAME={};\
                     K8S_POD_INFRA_CONTAINER_ID={}",
                    self.name, self.container_id
                ),
            )
            .env("CNI_PATH", cni_path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run the CNI plugin {}", self.exe.display()))?;
        let mut stdin = child.stdin.take().context("no stdin")?;
        // A plugin may exit without reading its input; its exit status then tells.
        let _ = stdin.write_all(config.to_string().as_bytes());
        drop(stdin);
        let out = child.wait_with_output()?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            bail!(
                "CNI {verb} of pod {} on network {network} failed ({}): {stdout}{}",
                self.name,
                out.status,
                String::from_utf8_lossy(&out.stderr).trim_end()
            );
        }
        if verb == "DEL" {
            return Ok(Value::Null);
        }
        serde_json::from_str(stdout.trim()).with_context(|| {
            format!(
                "the CNI {verb} result of pod {} is not JSON: {stdout}",
                self.name
            )
        })
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        if let Err(e) = self.del() {
            eprintln!("warning: {e:#}");
        }
    }
}
