//! The Kubernetes objects the lab's users apply, written as people write them.

use std::fmt::Write as _;
use std::net::IpAddr;

use super::pod::POD_NAMESPACE;

mod document;

// The cluster tests, which include the lab by its path, use only part of it.
#[allow(unused_imports)]
pub use document::{SERVER_PORT, documents};

/// The port of the lab's Services.
pub const SERVICE_PORT: u16 = 80;

/// The Pod `name` as the scheduler leaves it, placed on `node` (`spec.nodeName`), with
/// `labels`; its node fills in its addresses once it has attached it.
pub fn pod(name: &str, node: &str, labels: &[(&str, &str)]) -> String {
    document::pod(POD_NAMESPACE, name, Some(node), labels)
}

/// A ClusterIP Service `name` on `cluster_ip`, TCP [`SERVICE_PORT`] to the pods' `http`
/// port, selecting `selector`.
pub fn service(name: &str, cluster_ip: IpAddr, selector: &[(&str, &str)]) -> String {
    let mut yaml = format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: {POD_NAMESPACE}\nspec:\n  type: ClusterIP\n  clusterIP: {cluster_ip}\n  ports:\n  - name: http\n    protocol: TCP\n    port: {SERVICE_PORT}\n    targetPort: http\n  selector:\n"
    );
    for (key, value) in selector {
        let _ = writeln!(yaml, "    {key}: \"{value}\"");
    }
    yaml
}
