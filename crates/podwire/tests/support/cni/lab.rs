//! The podwire side of a test: unique address blocks, a daemon with
//! `[[network]]` sections and a private `state_dir`, the plugin's network
//! config for it, and the agent's view through its API client.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use podwire_model::attach::{Attachment, NetworkStatus};
use serde_json::{Value, json};

use super::super::{Daemon, unique};
use super::call::{Plugin, PluginDir, plugin_dir};
use super::chain::Runtime;

/// Address space of one test's network, unique per process and call so
/// that tests (and test processes) run in parallel. Each block is a /25 of
/// 100.64.0.0/10, a range no other podwire test uses: pods get its lower
/// /26, the host tap an address of its upper half (outside the pool);
/// IPv6 likewise in fd77:PID:N::/112 with the host on fd77:PID:N::1:1.
#[derive(Debug, Clone)]
pub struct Block {
    /// The IPv4 pod CIDR.
    pub v4: String,
    /// The IPv6 pod CIDR.
    pub v6: String,
    /// An IPv4 address for the host end, outside the pool.
    pub host4: String,
    /// An IPv6 address for the host end, outside the pool.
    pub host6: String,
}

impl Block {
    /// Blocks a process may take (64 per process, 500 process slots: 32000
    /// of the 32768 /25s in 100.64.0.0/10).
    const PER_PROCESS: u32 = 64;

    /// A fresh block.
    pub fn unique() -> Block {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let pid = std::process::id();
        let n = NEXT.fetch_add(1, Ordering::Relaxed) % Self::PER_PROCESS;
        let index = (pid % 500) * Self::PER_PROCESS + n;
        let base = u32::from(std::net::Ipv4Addr::new(100, 64, 0, 0)) + index * 128;
        let v4 = std::net::Ipv4Addr::from(base);
        let host4 = std::net::Ipv4Addr::from(base + 100);
        let p = pid % 0x1_0000;
        Block {
            v4: format!("{v4}/26"),
            v6: format!("fd77:{p:x}:{n:x}::/112"),
            host4: host4.to_string(),
            host6: format!("fd77:{p:x}:{n:x}::1:1"),
        }
    }

    /// The prefix length of the IPv4 pool.
    pub fn v4_prefix(&self) -> &str {
        self.v4.split('/').nth(1).unwrap_or("")
    }

    /// The prefix length of the IPv6 pool.
    pub fn v6_prefix(&self) -> &str {
        self.v6.split('/').nth(1).unwrap_or("")
    }
}

/// One `[[network]]` of a test daemon.
#[derive(Debug, Clone)]
pub struct NetSpec {
    /// Its name (the plugin config's `network`).
    pub name: String,
    /// Its addresses.
    pub block: Block,
    /// "tap", "veth" or "memif".
    pub interface: &'static str,
    /// "routed" or "bridged".
    pub forwarding: &'static str,
    /// `mtu`, when not the default.
    pub mtu: Option<u32>,
    /// `pod_routes`, when not the default.
    pub pod_routes: Option<Vec<String>>,
}

impl NetSpec {
    /// A routed tap network with a fresh block.
    pub fn new(name: &str) -> NetSpec {
        NetSpec {
            name: name.to_owned(),
            block: Block::unique(),
            interface: "tap",
            forwarding: "routed",
            mtu: None,
            pod_routes: None,
        }
    }

    /// With `interface = kind`.
    pub fn interface(self, kind: &'static str) -> NetSpec {
        NetSpec {
            interface: kind,
            ..self
        }
    }

    /// With `forwarding = "bridged"`.
    pub fn bridged(self) -> NetSpec {
        NetSpec {
            forwarding: "bridged",
            ..self
        }
    }

    /// With `mtu`.
    pub fn mtu(self, mtu: u32) -> NetSpec {
        NetSpec {
            mtu: Some(mtu),
            ..self
        }
    }

    /// With `pod_routes`.
    pub fn pod_routes(self, routes: &[&str]) -> NetSpec {
        NetSpec {
            pod_routes: Some(routes.iter().map(|r| r.to_string()).collect()),
            ..self
        }
    }

    fn toml(&self) -> String {
        let mut s = format!(
            "[[network]]\nname = \"{}\"\npod_cidrs = [\"{}\", \"{}\"]\ninterface = \"{}\"\nforwarding = \"{}\"\n",
            self.name, self.block.v4, self.block.v6, self.interface, self.forwarding
        );
        if let Some(mtu) = self.mtu {
            s += &format!("mtu = {mtu}\n");
        }
        if let Some(routes) = &self.pod_routes {
            let list: Vec<String> = routes.iter().map(|r| format!("\"{r}\"")).collect();
            s += &format!("pod_routes = [{}]\n", list.join(", "));
        }
        s + "\n"
    }
}

/// The host's tap of a test daemon.
#[derive(Debug, Clone)]
pub struct HostSide {
    /// Its kernel name.
    pub interface: String,
    /// Its IPv4 address.
    pub address4: String,
    /// Its IPv6 address.
    pub address6: String,
}

/// A podwire daemon with CNI networks, its plugin directory and its state
/// directory (which outlives a restart).
pub struct Lab {
    /// The running daemon (stop it with `daemon.stop()`).
    pub daemon: Daemon,
    /// The plugin directory.
    pub plugins: PluginDir,
    /// The networks, as configured.
    pub nets: Vec<NetSpec>,
    /// The host tap, when the lab has one.
    pub host: Option<HostSide>,
    body: String,
    // Declared last: dropped after the daemon has stopped.
    state: tempfile::TempDir,
}

impl Lab {
    /// A daemon with `nets` and a host tap routing the routed networks.
    pub fn start(nets: Vec<NetSpec>) -> Lab {
        Lab::start_with(nets, true)
    }

    /// A daemon with `nets`, with or without a host tap.
    pub fn start_with(nets: Vec<NetSpec>, with_host: bool) -> Lab {
        let state = tempfile::Builder::new()
            .prefix("podwire-state")
            .tempdir()
            .expect("create a state directory");
        // The support Daemon writes the [node] table itself and appends the
        // body to it: keys before the body's first table header land in
        // [node], which is how a test gets its own state_dir.
        let mut body = format!("state_dir = \"{}\"\n\n", state.path().display());
        let host = with_host.then(|| {
            let first = &nets[0].block;
            HostSide {
                interface: unique("pwh"),
                address4: first.host4.clone(),
                address6: first.host6.clone(),
            }
        });
        if let Some(h) = &host {
            let routes: Vec<String> = nets
                .iter()
                .filter(|n| n.forwarding == "routed" && n.interface != "memif")
                .flat_map(|n| [format!("\"{}\"", n.block.v4), format!("\"{}\"", n.block.v6)])
                .collect();
            body += &format!(
                "[host]\ninterface = \"{}\"\naddress4 = \"{}\"\naddress6 = \"{}\"\nroutes = [{}]\n\n",
                h.interface,
                h.address4,
                h.address6,
                routes.join(", ")
            );
        }
        for n in &nets {
            body += &n.toml();
        }
        let daemon = Daemon::start(&body);
        Lab {
            daemon,
            plugins: plugin_dir(),
            nets,
            host,
            body,
            state,
        }
    }

    /// Stops the daemon and starts it again on the same config and state.
    pub fn restart(&mut self) {
        assert!(
            self.daemon.stop(),
            "the daemon did not stop cleanly on SIGTERM:\n{}",
            self.daemon.log()
        );
        self.daemon = Daemon::start(&self.body);
    }

    /// The state directory.
    pub fn state_dir(&self) -> &Path {
        self.state.path()
    }

    /// The podwire plugin.
    pub fn plugin(&self) -> Plugin {
        Plugin::podwire(&self.plugins)
    }

    /// A runtime finding podwire and Debian's plugins.
    pub fn runtime(&self) -> Runtime {
        Runtime::new(&self.plugins)
    }

    /// The network spec called `name`.
    pub fn net(&self, name: &str) -> &NetSpec {
        self.nets
            .iter()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("the lab has no network {name}"))
    }

    /// The plugin's network config (one plugin, as a runtime derives it from
    /// a conflist) for podwire network `network` in CNI version `version`.
    pub fn conf(&self, network: &str, version: &str) -> Value {
        json!({
            "cniVersion": version,
            "name": format!("cni-{network}"),
            "type": "podwire",
            "network": network,
            "agentSocket": self.daemon.socket,
            "dns": {"nameservers": ["10.96.0.10"], "search": ["svc.cluster.local"]},
        })
    }

    /// A conflist: podwire on `network` followed by `chained` plugin objects.
    pub fn conflist(&self, network: &str, version: &str, chained: &[Value]) -> Value {
        let mut podwire = self.conf(network, version);
        let obj = podwire.as_object_mut().unwrap();
        obj.remove("cniVersion");
        obj.remove("name");
        let mut plugins = vec![podwire];
        plugins.extend_from_slice(chained);
        json!({
            "cniVersion": version,
            "name": unique("list"),
            "plugins": plugins,
        })
    }

    /// `GET /v1/networks`
    pub fn networks(&self) -> Vec<NetworkStatus> {
        let client = podwire_agent::api::client::Client::new(&self.daemon.socket);
        block_on(client.networks()).expect("GET /v1/networks")
    }

    /// `GET /v1/attachments`
    pub fn attachments(&self) -> Vec<Attachment> {
        let client = podwire_agent::api::client::Client::new(&self.daemon.socket);
        block_on(client.attachments()).expect("GET /v1/attachments")
    }

    /// Addresses in use on `network`, over its pools.
    pub fn used(&self, network: &str) -> u128 {
        let networks = self.networks();
        let status = networks
            .iter()
            .find(|n| n.name == network)
            .unwrap_or_else(|| panic!("GET /v1/networks has no {network}: {networks:?}"));
        status.pools.iter().map(|p| p.used).sum()
    }
}

/// Runs a future of the API client to completion.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(future)
}
