//! The switch of the switch figures: an in-process node, started from a
//! config as `podwire daemon` would start it, with two routed memif
//! interfaces whose server it is (sockets in a temporary directory), and
//! its one worker pinned to [`cpu::SWITCH`]. A pod on side A reaches a pod
//! on side B by an L3 lookup: memif → ip4-lookup → memif.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use podwire_agent::api::NodeControl;
use podwire_agent::node::Node;
use podwire_model::api::InterfaceView;
use podwire_model::config::Config;

use super::cpu;

/// How long the switch may take to learn a pod's MAC.
const NEIGHBOR_LIMIT: Duration = Duration::from_secs(30);
/// How often the neighbor table is looked at meanwhile.
const NEIGHBOR_POLL: Duration = Duration::from_millis(10);

/// One side of the switch: its memif interface, the switch's address on
/// it and the pod's.
#[derive(Copy, Clone, Debug)]
pub struct Side {
    /// The interface's name in the switch.
    pub name: &'static str,
    /// The switch's address, the pod's gateway.
    pub switch_ip: Ipv4Addr,
    /// The pod's address.
    pub pod_ip: Ipv4Addr,
    /// The pod's MAC.
    pub pod_mac: &'static str,
}

/// The sending pod's side.
pub const A: Side = Side {
    name: "memif-a",
    switch_ip: Ipv4Addr::new(10, 31, 1, 1),
    pod_ip: Ipv4Addr::new(10, 31, 1, 2),
    pod_mac: "02:00:00:00:00:01",
};
/// The receiving pod's side.
pub const B: Side = Side {
    name: "memif-b",
    switch_ip: Ipv4Addr::new(10, 31, 2, 1),
    pod_ip: Ipv4Addr::new(10, 31, 2, 2),
    pod_mac: "02:00:00:00:00:02",
};
/// The prefix length of both sides' subnets.
pub const PREFIX: u8 = 24;

/// A running switch; stopped on drop.
pub struct Switch {
    node: Option<Node>,
    /// Holds both sockets.
    dir: tempfile::TempDir,
}

impl Switch {
    /// Starts the switch; its node is named after `run` (unique to this run).
    pub fn start(run: &str) -> anyhow::Result<Switch> {
        let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
        let mut switch = Switch { node: None, dir };
        let text = config_text(run, &switch.socket(&A), &switch.socket(&B));
        let config = Config::parse(&text)
            .context("the benchmark's switch config is invalid (a podwire bug)")?;
        // The worker threads inherit the CPU of the thread that starts them.
        let node = cpu::on_cpu(cpu::SWITCH, || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime
                .block_on(Node::start(&config))
                .context("cannot start the benchmark's switch")
        })?;
        switch.node = Some(node);
        Ok(switch)
    }

    /// The socket of `side`'s memif interface.
    pub fn socket(&self, side: &Side) -> PathBuf {
        self.dir.path().join(format!("{}.sock", side.name))
    }

    /// The switch's MAC on `side`, where the pod sends its frames.
    pub fn mac(&self, side: &Side) -> anyhow::Result<String> {
        Ok(self.interface(side)?.mac)
    }

    /// `side`'s interface: its counters now.
    pub fn interface(&self, side: &Side) -> anyhow::Result<InterfaceView> {
        self.node()?
            .interfaces()
            .into_iter()
            .find(|i| i.name == side.name)
            .with_context(|| format!("the switch has no interface {}", side.name))
    }

    /// Waits (bounded) until the switch knows the MAC of `side`'s pod, so
    /// that no packet of the measurement waits for ARP.
    pub fn wait_for_neighbor(&self, side: &Side) -> anyhow::Result<()> {
        let deadline = Instant::now() + NEIGHBOR_LIMIT;
        let ip = side.pod_ip.to_string();
        loop {
            let known = self.node()?.neighbors().into_iter().any(|n| {
                n.interface == side.name && n.ip == ip && n.mac.eq_ignore_ascii_case(side.pod_mac)
            });
            if known {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "the switch did not learn {ip} at {} on {} within {} s: the pod did not \
                     connect, or did not answer ARP",
                    side.pod_mac,
                    side.name,
                    NEIGHBOR_LIMIT.as_secs()
                );
            }
            std::thread::sleep(NEIGHBOR_POLL);
        }
    }

    /// Packets the switch dropped so far, by node and reason.
    pub fn drops(&self) -> anyhow::Result<Vec<(String, u64)>> {
        Ok(self
            .node()?
            .errors()
            .into_iter()
            .map(|e| (format!("{}/{}", e.node, e.reason), e.count))
            .collect())
    }

    fn node(&self) -> anyhow::Result<&Node> {
        self.node.as_ref().context("the switch is not running")
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        if let Some(node) = self.node.take() {
            node.stop();
        }
    }
}

/// The node's config: one worker, two routed memif interfaces, the switch
/// the server of both.
fn config_text(run: &str, socket_a: &std::path::Path, socket_b: &std::path::Path) -> String {
    let mut text = format!("[node]\nname = \"membench-{run}\"\nworkers = 1\n");
    for (side, socket) in [(A, socket_a), (B, socket_b)] {
        text += &format!(
            "\n[[interface]]\nname = \"{}\"\nkind = \"memif\"\nsocket = \"{}\"\naddresses = [\"{}/{PREFIX}\"]\n",
            side.name,
            socket.display(),
            side.switch_ip,
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use podwire_model::config::{Device, MemifSocket};

    use super::*;

    #[test]
    fn the_config_gives_each_side_a_memif_server_and_its_subnet() {
        let text = config_text(
            "7",
            Path::new("/tmp/d/memif-a.sock"),
            Path::new("/tmp/d/b.sock"),
        );
        let config = Config::parse(&text).unwrap();
        assert_eq!(config.node.workers, 1);
        let sockets: Vec<(String, MemifSocket)> = config
            .interfaces
            .iter()
            .map(|i| match &i.device {
                Device::Memif(memif) => (i.name.clone(), memif.socket.clone()),
                other => panic!("{} is not memif: {other:?}", i.name),
            })
            .collect();
        assert_eq!(
            sockets,
            [
                (
                    "memif-a".into(),
                    MemifSocket::Path("/tmp/d/memif-a.sock".into())
                ),
                ("memif-b".into(), MemifSocket::Path("/tmp/d/b.sock".into())),
            ]
        );
        assert!(text.contains("addresses = [\"10.31.1.1/24\"]"), "{text}");
        assert!(text.contains("addresses = [\"10.31.2.1/24\"]"), "{text}");
    }
}
