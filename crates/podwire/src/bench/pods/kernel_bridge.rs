//! The anchor path: two pods wired by Debian's reference `bridge` CNI
//! plugin with `host-local` IPAM, invoked as a container runtime invokes
//! it (environment, config on stdin, result on stdout): each pod gets a
//! veth pair whose host end is a port of a Linux bridge.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use podwire_io::netns::NetNs;
use serde::Deserialize;

use super::traffic::PodPair;
use crate::bench::process;

/// Where Debian's `containernetworking-plugins` puts the plugins.
pub const CNI_PATH: &str = "/usr/lib/cni";
/// The anchor's pods' subnet: apart from the podwire path's addresses.
const SUBNET: &str = "10.212.0.0/24";
/// How long one plugin call may take (ADD takes 10–20 ms).
const PLUGIN_LIMIT: Duration = Duration::from_secs(30);

/// Two pods on a Linux bridge; DEL, the bridge and the namespaces are
/// removed on drop, also after a failure half way.
pub struct BridgePods {
    pods: PodPair,
    bridge: String,
    /// The CNI config, also given to DEL.
    config: String,
    /// The pods a plugin ADD was run for: DEL is run for each.
    added: Vec<String>,
    /// The namespaces made so far.
    namespaces: Vec<String>,
    /// `host-local`'s `dataDir`.
    _ipam: tempfile::TempDir,
}

impl BridgePods {
    /// Creates the sender and receiver pods; names carry `run` (unique to
    /// this run).
    pub fn create(run: &str) -> anyhow::Result<BridgePods> {
        let ipam = tempfile::tempdir().context("cannot create a temporary directory")?;
        let bridge = format!("pwbr{run}");
        let config = cni_config(&bridge, ipam.path());
        let mut pods = BridgePods {
            pods: PodPair {
                path: "kernel bridge",
                sender: format!("pwbench-{run}-bridge-tx"),
                receiver: format!("pwbench-{run}-bridge-rx"),
                receiver_ip: Ipv4Addr::UNSPECIFIED,
            },
            bridge,
            config,
            added: Vec::new(),
            namespaces: Vec::new(),
            _ipam: ipam,
        };
        println!(
            "kernel path: /usr/lib/cni/bridge ADD for pods {} and {} (bridge {}, host-local IPAM in {SUBNET})",
            pods.pods.sender, pods.pods.receiver, pods.bridge
        );
        for netns in [pods.pods.sender.clone(), pods.pods.receiver.clone()] {
            NetNs::create_named(&netns)
                .with_context(|| format!("cannot create network namespace {netns}"))?;
            pods.namespaces.push(netns.clone());
            // Before ADD: a failed ADD is followed by DEL, as the CNI
            // spec asks of runtimes, so nothing it made half way stays.
            pods.added.push(netns.clone());
            let result = pods.plugin("ADD", &netns)?;
            let ip = pod_ipv4(&result)
                .with_context(|| format!("reading the bridge plugin's result:\n{result}"))?;
            println!("  {netns}: eth0 {ip}");
            pods.pods.receiver_ip = ip;
        }
        Ok(pods)
    }

    /// The pods, for the measurements.
    pub fn pods(&self) -> &PodPair {
        &self.pods
    }

    /// Runs the bridge plugin for `netns`'s pod: the container id is the
    /// namespace's name, the interface `eth0`.
    fn plugin(&self, command: &str, netns: &str) -> anyhow::Result<String> {
        let mut plugin = Command::new(Path::new(CNI_PATH).join("bridge"));
        plugin
            .env("CNI_COMMAND", command)
            .env("CNI_CONTAINERID", netns)
            .env("CNI_NETNS", format!("/var/run/netns/{netns}"))
            .env("CNI_IFNAME", "eth0")
            .env("CNI_PATH", CNI_PATH);
        process::run(plugin, self.config.as_bytes(), PLUGIN_LIMIT)
            .with_context(|| format!("CNI {command} of {netns} with the bridge plugin"))
    }
}

impl Drop for BridgePods {
    fn drop(&mut self) {
        for netns in std::mem::take(&mut self.added) {
            if let Err(e) = self.plugin("DEL", &netns) {
                println!("  warning: {e:#}");
            }
        }
        // The plugin makes the bridge and DEL leaves it.
        let mut ip = Command::new("ip");
        ip.args(["link", "delete", &self.bridge]);
        if let Err(e) = process::run(ip, b"", PLUGIN_LIMIT) {
            // Absent when the first ADD failed before making it.
            println!("  note: bridge {}: {e:#}", self.bridge);
        }
        for netns in self.namespaces.drain(..) {
            if let Err(e) = NetNs::delete_named(&netns) {
                println!("  warning: {e}");
            }
        }
        println!(
            "kernel path: pods deleted (CNI DEL), bridge {} removed",
            self.bridge
        );
    }
}

/// The network config a runtime would hand the plugin. No `isGateway`: the
/// pods talk within their subnet, and a gateway would give the host an
/// address (and turn on its forwarding) that the measurement does not use.
fn cni_config(bridge: &str, ipam_dir: &Path) -> String {
    serde_json::json!({
        "cniVersion": "1.0.0",
        "name": format!("{bridge}-net"),
        "type": "bridge",
        "bridge": bridge,
        "ipam": {
            "type": "host-local",
            "subnet": SUBNET,
            "dataDir": ipam_dir,
        },
    })
    .to_string()
}

/// The parts of a CNI 1.0 result read here.
#[derive(Deserialize)]
struct CniResult {
    #[serde(default)]
    ips: Vec<CniIp>,
}

#[derive(Deserialize)]
struct CniIp {
    /// An address with its prefix length, `10.212.0.2/24`.
    address: String,
}

/// The pod's IPv4 address from a plugin's result.
fn pod_ipv4(result: &str) -> anyhow::Result<Ipv4Addr> {
    let result: CniResult = serde_json::from_str(result).context("not a CNI result")?;
    for ip in &result.ips {
        let address = ip.address.split_once('/').map_or(&*ip.address, |(a, _)| a);
        if let Ok(v4) = address.parse::<Ipv4Addr>() {
            return Ok(v4);
        }
    }
    bail!("the result has no IPv4 address")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pods_address_comes_from_the_result() {
        let ip = pod_ipv4(include_str!("testdata/cni-bridge-add.json")).unwrap();
        assert_eq!(ip, Ipv4Addr::new(10, 212, 0, 3));
        assert!(pod_ipv4(r#"{"cniVersion":"1.0.0","ips":[{"address":"fd00::2/64"}]}"#).is_err());
        assert!(pod_ipv4(r#"{"code":7,"msg":"no"}"#).is_err());
    }

    #[test]
    fn the_config_names_the_runs_bridge_and_ipam_dir() {
        let config: serde_json::Value =
            serde_json::from_str(&cni_config("pwbr42", Path::new("/tmp/x"))).unwrap();
        assert_eq!(config["bridge"], "pwbr42");
        assert_eq!(config["ipam"]["dataDir"], "/tmp/x");
        assert_eq!(config["ipam"]["subnet"], SUBNET);
        assert_eq!(config["cniVersion"], "1.0.0");
    }
}
