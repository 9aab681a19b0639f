//! The Kubernetes objects the lab's users apply, written as people write them.

use std::fmt::Write as _;
use std::net::IpAddr;

use super::pod::POD_NAMESPACE;

/// The port a pod's server listens on, which its Pod declares as `http` (TCP) and `udp`
/// (UDP).
pub const SERVER_PORT: u16 = 8080;
/// The port of the lab's Services.
pub const SERVICE_PORT: u16 = 80;

/// The Pod `name` as the scheduler leaves it, placed on `node` (`spec.nodeName`), with
/// `labels`; its node fills in its addresses once it has attached it.
pub fn pod(name: &str, node: &str, labels: &[(&str, &str)]) -> String {
    let mut yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: \"{name}\"\n  namespace: {POD_NAMESPACE}\n"
    );
    if !labels.is_empty() {
        yaml += "  labels:\n";
        for (key, value) in labels {
            let _ = writeln!(yaml, "    {key}: \"{value}\"");
        }
    }
    let _ = write!(
        yaml,
        "spec:\n  nodeName: {node}\n  containers:\n  - name: app\n    image: registry.k8s.io/e2e-test-images/agnhost:2.53\n    ports:\n    - name: http\n      containerPort: {SERVER_PORT}\n      protocol: TCP\n    - name: udp\n      containerPort: {SERVER_PORT}\n      protocol: UDP\n"
    );
    yaml
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

/// One manifest of several documents.
pub fn documents(docs: &[String]) -> String {
    docs.join("---\n")
}
