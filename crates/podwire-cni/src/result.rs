//! The success result of ADD, built from the attachment the agent made, in the shape of the
//! negotiated spec version.

use std::net::IpAddr;
use std::path::Path;

use podwire_model::Cidr;
use podwire_model::attach::{Attachment, AttachmentKind};
use serde::Serialize;

use crate::config::Dns;
use crate::version::SpecVersion;

/// An ADD result (spec 1.0.0 or 1.1.0).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SuccessResult {
    /// The version the result is written in: the config's.
    pub cni_version: &'static str,
    /// The interfaces made: for a veth the host end first, then the pod's interface.
    pub interfaces: Vec<InterfaceEntry>,
    /// The pod interface's addresses.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<IpEntry>,
    /// The pod's routes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RouteEntry>,
    /// DNS settings from the config.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns: Option<Dns>,
}

/// One entry of `interfaces`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InterfaceEntry {
    /// The interface's name.
    pub name: String,
    /// Its MAC address, where it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// Its MTU (1.1.0 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// The network namespace it is in; none for an interface on the host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
    /// The memif socket the pod connects to (1.1.0 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socket_path: Option<String>,
}

/// One entry of `ips`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IpEntry {
    /// The address with the prefix length the interface has.
    pub address: Cidr,
    /// The default gateway of this family, if the network routes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    /// The index in `interfaces` of the interface that has the address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface: Option<usize>,
}

/// One entry of `routes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteEntry {
    /// The destination.
    pub dst: Cidr,
    /// The next hop, if not on the link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gw: Option<IpAddr>,
}

impl SuccessResult {
    /// The result for `attachment`, written in `version`. `sandbox` is `CNI_NETNS` as the
    /// runtime gave it, so that the runtime finds its own path in the result.
    pub fn from_attachment(
        attachment: &Attachment,
        version: SpecVersion,
        sandbox: &Path,
        dns: Option<&Dns>,
    ) -> SuccessResult {
        let mtu = version.is_1_1_or_later().then_some(attachment.mtu);
        let mut interfaces = Vec::new();
        if let Some(host_end) = &attachment.host_interface {
            interfaces.push(InterfaceEntry {
                name: host_end.clone(),
                mac: None,
                mtu,
                sandbox: None,
                socket_path: None,
            });
        }
        let socket_path = match (attachment.kind, &attachment.socket_path) {
            (AttachmentKind::Memif, Some(path)) if version.is_1_1_or_later() => {
                Some(path.to_string_lossy().into_owned())
            }
            _ => None,
        };
        interfaces.push(InterfaceEntry {
            name: attachment.key.ifname.clone(),
            mac: attachment.mac.clone(),
            mtu,
            sandbox: Some(sandbox.to_string_lossy().into_owned()),
            socket_path,
        });
        let pod_end = interfaces.len() - 1;

        let ips = attachment
            .addresses
            .iter()
            .map(|address| IpEntry {
                address: *address,
                gateway: attachment
                    .gateways
                    .iter()
                    .copied()
                    .find(|gateway| gateway.is_ipv4() == address.addr().is_ipv4()),
                interface: Some(pod_end),
            })
            .collect();
        let routes = attachment
            .routes
            .iter()
            .map(|route| RouteEntry {
                dst: route.dst,
                gw: route.gateway,
            })
            .collect();
        SuccessResult {
            cni_version: version.as_str(),
            interfaces,
            ips,
            routes,
            dns: dns.filter(|dns| **dns != Dns::default()).cloned(),
        }
    }

    /// The result as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("the result's types serialize to JSON without fail")
    }
}

#[cfg(test)]
mod tests;
