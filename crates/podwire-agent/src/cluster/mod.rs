//! The cluster objects this node knows (Namespaces, Pods, Services, EndpointSlices,
//! NetworkPolicies): kept, persisted, and turned into the Services and the policies the data
//! plane implements.
//!
//! [`Cluster`] keeps the objects that `podwire ctl apply` gave it, in
//! `<state_dir>/cluster.json` ([`file`]), and answers each change with the
//! [`ServiceUpdate`](crate::services::ServiceUpdate)s of the Services it touched: what a
//! Service means is decided by `podwire_k8s` ([`inputs`] gathers what it needs). On one
//! machine no EndpointSlice controller runs, so the slices of a Service with a selector are
//! derived here from the stored Pods and their addresses, which come from the pods'
//! attachments on this node ([`PodAddresses`]) or else from their `status.podIPs`. The
//! NetworkPolicies are compiled, for this node's pods, against the same Pods and addresses
//! ([`Cluster::pod_policies`]).

pub mod file;
pub mod inputs;
mod store;
#[cfg(test)]
mod tests;

use std::io;
use std::net::IpAddr;
use std::path::PathBuf;

use podwire_k8s::manifest::ManifestError;

pub use store::{CacheSnapshot, Cluster};

/// The addresses of the Pods attached on this node.
pub trait PodAddresses {
    /// The addresses of Pod `namespace/name` from its attachments on this node; empty when it
    /// has none here.
    fn addresses(&self, namespace: &str, name: &str) -> Vec<IpAddr>;
}

/// Why the cluster store refused a request or could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The manifest has problems, or conflicts with the store: every problem, one a line.
    #[error("the manifest was refused, nothing was changed:\n{0}")]
    Refused(#[from] ManifestError),
    /// The state directory is missing and cannot be made.
    #[error(
        "cannot create the state directory {path}: {source}; create it, or set node.state_dir to a writable directory"
    )]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The file exists but cannot be read.
    #[error(
        "cannot read the cluster store {path}: {source}; fix its permissions, or move it away and apply the manifests again"
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The file is not what this agent writes.
    #[error(
        "the cluster store {path} is corrupt: {detail}; restore it from a backup, or move it away and apply the manifests again"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong, and where.
        detail: String,
    },
    /// The file was written by a newer agent.
    #[error(
        "the cluster store {path} has format version {found}, newer than this agent's {supported}: run the podwire version that wrote it, or a newer one"
    )]
    NewerVersion {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: u32,
        /// The version this agent writes.
        supported: u32,
    },
    /// The store could not be saved; the change was not made.
    #[error(
        "cannot save the cluster store to {path}: {source}; nothing was changed: make room on its file system or fix the state directory's permissions"
    )]
    Write {
        /// The file being written.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}
