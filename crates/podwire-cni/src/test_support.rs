//! Attachments as the agent answers them, for the tests of every module.

use std::path::PathBuf;

use podwire_model::Cidr;
use podwire_model::attach::{
    Attachment, AttachmentKey, AttachmentKind, FailureKind, PodIdentity, PodRoute,
};

pub const NETNS: &str = "/run/netns/pod1";

pub fn cidr(text: &str) -> Cidr {
    text.parse().expect("test CIDR parses")
}

/// A routed, dual-stack tap attachment of `eth0` of container `c0ffee` on `default`.
pub fn tap() -> Attachment {
    Attachment {
        key: AttachmentKey {
            network: "default".into(),
            container_id: "c0ffee".into(),
            ifname: "eth0".into(),
        },
        netns: PathBuf::from(NETNS),
        pod: PodIdentity::default(),
        cni_network: "mynet".into(),
        kind: AttachmentKind::Tap,
        switch_interface: "pod-c0ffee-eth0".into(),
        host_interface: None,
        mac: Some("02:fe:00:00:00:02".into()),
        mtu: 1500,
        addresses: vec![cidr("10.251.0.2/32"), cidr("fd00:251::2/128")],
        gateways: vec!["169.254.1.1".parse().unwrap(), "fe80::1".parse().unwrap()],
        routes: vec![
            PodRoute {
                dst: cidr("0.0.0.0/0"),
                gateway: Some("169.254.1.1".parse().unwrap()),
            },
            PodRoute {
                dst: cidr("::/0"),
                gateway: Some("fe80::1".parse().unwrap()),
            },
        ],
        socket_path: None,
        device_info_file: None,
    }
}

/// The same pod on a veth, whose host end is `pwv-c0ffee`.
pub fn veth() -> Attachment {
    Attachment {
        kind: AttachmentKind::Veth,
        host_interface: Some("pwv-c0ffee".into()),
        ..tap()
    }
}

/// A memif attachment `net1` with no addresses.
pub fn memif() -> Attachment {
    let tap = tap();
    Attachment {
        key: AttachmentKey {
            ifname: "net1".into(),
            ..tap.key
        },
        kind: AttachmentKind::Memif,
        mac: None,
        mtu: 9000,
        addresses: vec![],
        gateways: vec![],
        routes: vec![],
        socket_path: Some("/run/podwire/memif/c0ffee-net1.sock".into()),
        ..tap
    }
}

/// The contract's CNI code for each kind of refusal the agent sends (none: 999).
pub const REFUSAL_CODES: [(Option<FailureKind>, u32); 8] = [
    (Some(FailureKind::Invalid), 7),
    (Some(FailureKind::UnknownContainer), 3),
    (Some(FailureKind::AlreadyExists), 100),
    (Some(FailureKind::NotAsAdded), 101),
    (Some(FailureKind::Exhausted), 102),
    (Some(FailureKind::Kernel), 103),
    (Some(FailureKind::Internal), 999),
    (None, 999),
];
