//! The reference: Debian's `bridge` CNI plugin with `host-local` IPAM, as a
//! Kubernetes node would configure it: each pod a veth pair whose host end
//! is a port of a Linux bridge, an address from the node's subnet, and a
//! default route via the bridge (`isGateway`), IPv4 like podwire's side.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::Context;

use super::plugin::Plugin;
use crate::bench::process;

/// Where Debian's `containernetworking-plugins` puts the plugins.
pub const CNI_PATH: &str = "/usr/lib/cni";
/// The reference pods' subnet: apart from podwire's and from every other
/// benchmark's; room for the largest run (`--iterations` pods at once).
pub const SUBNET: &str = "10.216.0.0/20";
/// The gateway makes the bridge plugin turn on IPv4 forwarding, a setting
/// of the whole host: it is put back as it was.
const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";
/// How long deleting the bridge may take.
const IP_LIMIT: Duration = Duration::from_secs(30);

/// The reference plugin with its network; on drop the bridge is deleted,
/// the host's forwarding setting restored and the IPAM directory removed.
pub struct Reference {
    plugin: Plugin,
    bridge: String,
    /// `ip_forward` before the run.
    ip_forward: Option<String>,
    /// The conflist and `host-local`'s `dataDir`.
    _dir: tempfile::TempDir,
}

impl Reference {
    /// Sets up the reference network; names carry `run`.
    pub fn create(run: u32) -> anyhow::Result<Reference> {
        let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
        let bridge = format!("pwcb{run}");
        let ipam_dir = dir.path().join("ipam");
        let conflist_file = dir.path().join("10-bridge.conflist");
        std::fs::write(
            &conflist_file,
            conflist(run, &bridge, &ipam_dir).to_string(),
        )
        .with_context(|| format!("cannot write {}", conflist_file.display()))?;
        let plugin = Plugin::from_conflist_file(&conflist_file, Path::new(CNI_PATH))?;
        Ok(Reference {
            plugin,
            bridge,
            ip_forward: std::fs::read_to_string(IP_FORWARD).ok(),
            _dir: dir,
        })
    }

    /// The plugin, for the measurements.
    pub fn plugin(&self) -> &Plugin {
        &self.plugin
    }

    /// The bridge's name, for the log.
    pub fn bridge(&self) -> &str {
        &self.bridge
    }
}

impl Drop for Reference {
    fn drop(&mut self) {
        // The first ADD makes the bridge and DEL leaves it.
        if Path::new("/sys/class/net").join(&self.bridge).exists() {
            let mut ip = Command::new("ip");
            ip.args(["link", "delete", &self.bridge]);
            if let Err(e) = process::run(ip, b"", IP_LIMIT) {
                println!("  warning: bridge {}: {e:#}", self.bridge);
            }
        }
        if let Some(before) = &self.ip_forward {
            let now = std::fs::read_to_string(IP_FORWARD).ok();
            if now.as_ref() != Some(before)
                && let Err(e) = std::fs::write(IP_FORWARD, before)
            {
                println!(
                    "  warning: cannot restore {IP_FORWARD} to {}: {e}",
                    before.trim()
                );
            }
        }
    }
}

/// The network config list a runtime would read: one plugin, no chained
/// ones (podwire's side has none either).
fn conflist(run: u32, bridge: &str, ipam_dir: &Path) -> serde_json::Value {
    serde_json::json!({
        "cniVersion": "1.0.0",
        "name": format!("pwcni-{run}-bridge"),
        "plugins": [{
            "type": "bridge",
            "bridge": bridge,
            "isGateway": true,
            "ipam": {
                "type": "host-local",
                "ranges": [[{"subnet": SUBNET}]],
                "routes": [{"dst": "0.0.0.0/0"}],
                "dataDir": ipam_dir,
            },
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_names_this_runs_bridge_and_ipam_dir() {
        let list = conflist(42, "pwcb42", Path::new("/tmp/x/ipam"));
        assert_eq!(list["cniVersion"], "1.0.0");
        let plugins = list["plugins"].as_array().unwrap();
        assert_eq!(plugins.len(), 1);
        let bridge = &plugins[0];
        assert_eq!(bridge["type"], "bridge");
        assert_eq!(bridge["bridge"], "pwcb42");
        assert_eq!(bridge["isGateway"], true);
        assert_eq!(bridge["ipam"]["type"], "host-local");
        assert_eq!(bridge["ipam"]["dataDir"], "/tmp/x/ipam");
        assert_eq!(bridge["ipam"]["ranges"][0][0]["subnet"], SUBNET);
    }
}
