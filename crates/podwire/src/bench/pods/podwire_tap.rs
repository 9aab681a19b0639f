//! The measured path: two pods wired through podwire's data plane by an
//! in-process node, as `podwire demo` does: each pod's `eth0` is the
//! kernel end of a tap whose other end the node's worker reads and writes,
//! and the pods are routed (L3) through it.

use std::net::Ipv4Addr;

use anyhow::Context;
use podwire_agent::node::Node;
use podwire_io::netns::NetNs;
use podwire_model::config::Config;

use super::traffic::PodPair;

/// The pods' addresses on this path: apart from the anchor's subnet.
const SENDER_IP: Ipv4Addr = Ipv4Addr::new(10, 211, 0, 2);
const RECEIVER_IP: Ipv4Addr = Ipv4Addr::new(10, 211, 0, 3);

/// Two pods wired through a running node; the node is stopped (its taps
/// go with it) and the namespaces deleted on drop.
pub struct PodwirePods {
    pods: PodPair,
    node: Option<Node>,
    namespaces: Vec<String>,
}

impl PodwirePods {
    /// Creates the pods and starts a node of `workers` workers wiring them; names carry
    /// `run` (unique to this run).
    pub fn start(run: &str, workers: u32) -> anyhow::Result<PodwirePods> {
        let mut pods = PodwirePods {
            pods: PodPair {
                path: "podwire",
                sender: format!("pwbench-{run}-podwire-tx"),
                receiver: format!("pwbench-{run}-podwire-rx"),
                receiver_ip: RECEIVER_IP,
            },
            node: None,
            namespaces: Vec::new(),
        };
        for netns in [pods.pods.sender.clone(), pods.pods.receiver.clone()] {
            NetNs::create_named(&netns)
                .with_context(|| format!("cannot create network namespace {netns}"))?;
            pods.namespaces.push(netns);
        }
        let text = config_text(run, workers, &pods.pods);
        let config = Config::parse(&text)
            .context("the benchmark's node config is invalid (a podwire bug)")?;
        println!(
            "podwire path: a node wiring pods {} ({SENDER_IP}) and {} ({RECEIVER_IP}) with taps, {} worker(s)",
            pods.pods.sender, pods.pods.receiver, config.node.workers
        );
        // Netlink, used while wiring, needs a runtime; the node's workers
        // are threads of their own and outlive it.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let node = runtime
            .block_on(Node::start(&config))
            .context("cannot start the benchmark's podwire node")?;
        pods.node = Some(node);
        Ok(pods)
    }

    /// The pods, for the measurements.
    pub fn pods(&self) -> &PodPair {
        &self.pods
    }
}

impl Drop for PodwirePods {
    fn drop(&mut self) {
        if let Some(node) = self.node.take() {
            node.stop();
        }
        for netns in self.namespaces.drain(..) {
            if let Err(e) = NetNs::delete_named(&netns) {
                println!("  warning: {e}");
            }
        }
        println!("podwire path: node stopped, pods deleted");
    }
}

fn config_text(run: &str, workers: u32, pods: &PodPair) -> String {
    let mut text = format!("[node]\nname = \"bench-{run}\"\nworkers = {workers}\n");
    for (role, netns, ip) in [
        ("tx", &pods.sender, SENDER_IP),
        ("rx", &pods.receiver, RECEIVER_IP),
    ] {
        text += &format!(
            "\n[[pod]]\nname = \"{role}-{run}\"\nnetns = \"{netns}\"\naddresses = [\"{ip}\"]\n"
        );
    }
    text
}
