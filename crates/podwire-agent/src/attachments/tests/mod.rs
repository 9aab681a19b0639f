//! Tests of the registry: in memory and in temporary directories, no root needed.

mod allocation;
mod concurrency;
mod persistence;
mod property;
mod timing;

use std::convert::Infallible;
use std::net::IpAddr;
use std::path::PathBuf;

use podwire_model::Cidr;
use podwire_model::attach::{Attachment, AttachmentKey, AttachmentKind, PodIdentity};
use podwire_model::config::{NetworkConfig, NetworkForwarding};
use tempfile::TempDir;

use super::{AddError, Registry};

fn cidr(text: &str) -> Cidr {
    text.parse().expect("test CIDR parses")
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("test address parses")
}

/// A routed tap network with `cidrs`.
fn network(name: &str, cidrs: &[&str]) -> NetworkConfig {
    NetworkConfig {
        name: name.to_owned(),
        pod_cidrs: cidrs.iter().map(|c| cidr(c)).collect(),
        interface: AttachmentKind::Tap,
        forwarding: NetworkForwarding::Routed,
        mtu: None,
        pod_routes: Vec::new(),
    }
}

fn key(network: &str, container: &str, ifname: &str) -> AttachmentKey {
    AttachmentKey {
        network: network.to_owned(),
        container_id: container.to_owned(),
        ifname: ifname.to_owned(),
    }
}

/// What the agent's plan would build for `addresses`, reduced to what the registry keeps.
fn attachment(key: &AttachmentKey, addresses: &[IpAddr]) -> Attachment {
    Attachment {
        key: key.clone(),
        netns: PathBuf::from(format!("/run/netns/{}", key.container_id)),
        pod: PodIdentity {
            namespace: Some("default".to_owned()),
            name: Some(format!("pod-{}", key.container_id)),
            uid: None,
            sandbox_id: Some(key.container_id.clone()),
        },
        cni_network: String::new(),
        kind: AttachmentKind::Tap,
        switch_interface: format!("pw-{}", key.container_id),
        host_interface: None,
        mac: Some("02:00:00:00:00:01".to_owned()),
        mtu: 1500,
        addresses: addresses.iter().map(|&a| Cidr::host(a)).collect(),
        gateways: vec![ip("169.254.1.1")],
        routes: Vec::new(),
        socket_path: None,
        device_info_file: None,
    }
}

/// Adds `key` with an ordinary plan; the addresses it got.
fn add(registry: &mut Registry, key: &AttachmentKey) -> Result<Vec<IpAddr>, AddError<Infallible>> {
    let added = registry.add(key, |addresses| Ok(attachment(key, addresses)))?;
    Ok(added.addresses.iter().map(Cidr::addr).collect())
}

/// Adds `key`, which must succeed.
fn add_ok(registry: &mut Registry, key: &AttachmentKey) -> Vec<IpAddr> {
    add(registry, key).unwrap_or_else(|e| panic!("adding {key} failed: {e}"))
}

/// A fresh state directory and a registry in it.
fn open_new(networks: &[NetworkConfig]) -> (TempDir, Registry) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let registry = Registry::open(dir.path(), networks).expect("registry opens");
    (dir, registry)
}
