//! The kernel anchor of the switch figures: two pods (network namespaces)
//! joined by a veth pair, `eth0` in each, the shortest kernel path between
//! two pods. Measured with the same sockperf runs as the pod-to-pod
//! figures of `podwire bench forwarding`.

use std::net::Ipv4Addr;
use std::time::Duration;

use anyhow::Context;
use podwire_io::netns::NetNs;

use crate::bench::pods::traffic::PodPair;
use crate::bench::process;

/// The pods' subnet: apart from every other benchmark's.
const SENDER_IP: &str = "10.32.0.1/24";
const RECEIVER_IP: Ipv4Addr = Ipv4Addr::new(10, 32, 0, 2);
/// How long one `ip` command may take.
const IP_LIMIT: Duration = Duration::from_secs(30);

/// Two pods on a veth pair; the namespaces (and the pair with them) are
/// deleted on drop, also after a failure half way.
pub struct VethPods {
    pods: PodPair,
    namespaces: Vec<String>,
}

impl VethPods {
    /// Creates the pods; names carry `run` (unique to this run).
    pub fn create(run: &str) -> anyhow::Result<VethPods> {
        let mut pods = VethPods {
            pods: PodPair {
                path: "veth",
                sender: format!("pwbench-{run}-veth-tx"),
                receiver: format!("pwbench-{run}-veth-rx"),
                receiver_ip: RECEIVER_IP,
            },
            namespaces: Vec::new(),
        };
        for netns in [pods.pods.sender.clone(), pods.pods.receiver.clone()] {
            NetNs::create_named(&netns)
                .with_context(|| format!("cannot create network namespace {netns}"))?;
            pods.namespaces.push(netns);
        }
        let (tx, rx) = (pods.pods.sender.as_str(), pods.pods.receiver.as_str());
        let receiver_ip = format!("{RECEIVER_IP}/24");
        for args in [
            &[
                "-n", tx, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns",
                rx,
            ][..],
            &["-n", tx, "address", "add", SENDER_IP, "dev", "eth0"],
            &["-n", rx, "address", "add", &receiver_ip, "dev", "eth0"],
            &["-n", tx, "link", "set", "eth0", "up"],
            &["-n", rx, "link", "set", "eth0", "up"],
        ] {
            let mut ip = std::process::Command::new("ip");
            ip.args(args);
            process::run(ip, b"", IP_LIMIT).context("wiring the veth pods")?;
        }
        println!(
            "veth path: pods {tx} ({SENDER_IP}) and {rx} ({receiver_ip}) joined by a veth pair"
        );
        Ok(pods)
    }

    /// The pods, for the measurements.
    pub fn pods(&self) -> &PodPair {
        &self.pods
    }
}

impl Drop for VethPods {
    fn drop(&mut self) {
        for netns in self.namespaces.drain(..) {
            if let Err(e) = NetNs::delete_named(&netns) {
                println!("  warning: {e}");
            }
        }
        println!("veth path: pods deleted");
    }
}
