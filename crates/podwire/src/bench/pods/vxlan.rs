//! Pod to pod across two nodes over VXLAN: the cluster benchmark's lab with two nodes on
//! this machine (each a network namespace running `podwire daemon`, its uplink an AF_PACKET
//! port on a veth of a shared underlay bridge, etcd as the source), one pod on each,
//! attached through podwire's CNI plugin. The nodes learn each other's pod CIDRs from etcd
//! and carry the pods' traffic in VXLAN between their uplinks.

use std::net::IpAddr;
use std::path::Path;

use anyhow::{Context, bail};

use super::traffic::PodPair;

use crate::bench::cluster::lab::{ClusterLab, LabOptions, POD_NETWORK, Pod, manifest};

/// The lab's two nodes with a pod on each; the pods are deleted (CNI DEL), then the
/// daemons stopped and the namespaces and etcd removed, on drop.
pub struct VxlanPods {
    pods: PodPair,
    // Fields drop in order: the pods before the lab that serves them.
    _sender: Pod,
    _receiver: Pod,
    _lab: ClusterLab,
}

impl VxlanPods {
    /// Starts two nodes with `exe` as the daemon and the CNI plugin, and a pod on each;
    /// names carry `run` (unique to this run).
    pub fn start(exe: &Path, run: &str) -> anyhow::Result<VxlanPods> {
        let options = LabOptions {
            nodes: 2,
            ..LabOptions::default()
        };
        let tag = format!("pwfw{run}");
        println!(
            "vxlan path: two nodes ({tag}-n1, {tag}-n2), each running `podwire daemon` with its \
             uplink an AF_PACKET port on a veth of a shared bridge, etcd as the source"
        );
        let lab = ClusterLab::start(exe, &tag, &options)?;
        let mut objects = Vec::new();
        let mut pods = Vec::new();
        for node in lab.nodes() {
            let name = format!("fwd-{}", node.index + 1);
            objects.push(manifest::pod(&name, &node.name, &[("bench", "forwarding")]));
            pods.push(lab.pod(node.index, &name)?);
        }
        lab.apply(&manifest::documents(&objects))
            .context("applying the pods of the vxlan path")?;
        for pod in &mut pods {
            pod.add(POD_NETWORK)
                .with_context(|| format!("attaching pod {} of the vxlan path", pod.name))?;
        }
        let [sender, receiver]: [Pod; 2] = match pods.try_into() {
            Ok(pair) => pair,
            Err(_) => bail!("the vxlan path needs exactly two pods"),
        };
        let IpAddr::V4(receiver_ip) = receiver.ip(false)? else {
            bail!("pod {}'s IPv4 address is not IPv4", receiver.name);
        };
        println!(
            "  pod {} on {} to pod {} ({receiver_ip}) on {}",
            sender.name,
            lab.node(sender.node).name,
            receiver.name,
            lab.node(receiver.node).name
        );
        Ok(VxlanPods {
            pods: PodPair {
                path: "podwire vxlan",
                sender: sender.namespace.name().to_owned(),
                receiver: receiver.namespace.name().to_owned(),
                receiver_ip,
            },
            _sender: sender,
            _receiver: receiver,
            _lab: lab,
        })
    }

    /// The pods, for the measurements.
    pub fn pods(&self) -> &PodPair {
        &self.pods
    }
}
