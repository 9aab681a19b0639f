//! This node's registration in the Kubernetes API: the address its VXLAN tunnels end on,
//! published as the annotation [`TUNNEL_ADDRESS_ANNOTATION`] of its own Node, where the
//! other nodes read it (as Flannel's `flannel.alpha.coreos.com/public-ip` and Calico's
//! `projectcalico.org/IPv4Address`). The name and pod CIDRs are the Node's own (the kubelet
//! and the controller manager write them); the tunnel address is what only podwire knows.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};
use podwire_model::cluster::TUNNEL_ADDRESS_ANNOTATION;

/// The field manager podwire's writes are recorded under (the Node's `managedFields`).
const FIELD_MANAGER: &str = "podwire";

/// Why the tunnel address could not be published.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// The Node could not be read.
    #[error(
        "cannot read Node {node} to publish its tunnel address: {source}; check that the API \
         server is reachable and that podwire's service account may get nodes"
    )]
    NodeUnreadable {
        /// The node's name.
        node: String,
        /// Why.
        source: kube::Error,
    },
    /// The API server refused the write.
    #[error(
        "cannot annotate Node {node} with {TUNNEL_ADDRESS_ANNOTATION}={address}: {source}; \
         the service account needs patch on nodes: apply deploy/10-rbac.yaml"
    )]
    Forbidden {
        /// The node's name.
        node: String,
        /// The address podwire tried to publish.
        address: IpAddr,
        /// The API server's refusal.
        source: kube::Error,
    },
    /// The write failed otherwise (the Node is gone, the API server is unreachable).
    #[error(
        "cannot annotate Node {node} with {TUNNEL_ADDRESS_ANNOTATION}={address}: {source}; \
         check that the API server is reachable and that the Node exists (the daemon's node \
         name must be the Node's name)"
    )]
    Unwritable {
        /// The node's name.
        node: String,
        /// The address podwire tried to publish.
        address: IpAddr,
        /// Why.
        source: kube::Error,
    },
}

/// What [`publish_tunnel_address`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// The annotation was missing or had another address: it now has this one.
    Written,
    /// The annotation already had this address (a restart): nothing was written.
    Unchanged,
}

/// Publishes `address` as the tunnel address of Node `node`: a JSON merge patch of the
/// annotation [`TUNNEL_ADDRESS_ANNOTATION`] alone, so that no other field of the Node (the
/// kubelet's, the controller manager's) is touched. Reads the Node first and writes only
/// when the annotation does not already name `address`, so a restart writes nothing.
///
/// Nothing withdraws the annotation when podwire stops: the address stays valid across a
/// restart, and a Node that is deleted takes it with it.
pub async fn publish_tunnel_address(
    client: &kube::Client,
    node: &str,
    address: IpAddr,
) -> Result<Published, RegisterError> {
    let nodes: Api<Node> = Api::all(client.clone());
    let current = nodes
        .get(node)
        .await
        .map_err(|source| RegisterError::NodeUnreadable {
            node: node.to_owned(),
            source,
        })?;
    let published = current
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(TUNNEL_ADDRESS_ANNOTATION))
        .and_then(|value| value.parse::<IpAddr>().ok());
    if published == Some(address) {
        return Ok(Published::Unchanged);
    }
    let patch = serde_json::json!({
        "metadata": {"annotations": {TUNNEL_ADDRESS_ANNOTATION: address.to_string()}}
    });
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    match nodes.patch(node, &params, &Patch::Merge(&patch)).await {
        Ok(_) => Ok(Published::Written),
        Err(kube::Error::Api(status)) if status.is_forbidden() => Err(RegisterError::Forbidden {
            node: node.to_owned(),
            address,
            source: kube::Error::Api(status),
        }),
        Err(source) => Err(RegisterError::Unwritable {
            node: node.to_owned(),
            address,
            source,
        }),
    }
}
