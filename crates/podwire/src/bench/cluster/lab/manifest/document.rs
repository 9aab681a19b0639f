//! YAML documents of the objects anyone applies, with nothing of the lab in them: the
//! Service tests include this file by its path and write their Pods with it too.

use std::fmt::Write as _;

/// The port a pod's server listens on, which its Pod declares as `http` (TCP) and `udp`
/// (UDP).
pub const SERVER_PORT: u16 = 8080;

/// The Pod `name` in `namespace` with `labels`, whose container declares [`SERVER_PORT`]
/// as `http` (TCP) and `udp` (UDP); placed on `node` (`spec.nodeName`) when given, as the
/// scheduler leaves it. The names are quoted: YAML 1.1 reads a bare `y` as `true`.
pub fn pod(namespace: &str, name: &str, node: Option<&str>, labels: &[(&str, &str)]) -> String {
    let mut yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: \"{name}\"\n  namespace: \"{namespace}\"\n"
    );
    write_labels(&mut yaml, labels);
    yaml += "spec:\n";
    if let Some(node) = node {
        let _ = writeln!(yaml, "  nodeName: {node}");
    }
    let _ = write!(
        yaml,
        "  containers:\n  - name: app\n    image: registry.k8s.io/e2e-test-images/agnhost:2.53\n    ports:\n    - name: http\n      containerPort: {SERVER_PORT}\n      protocol: TCP\n    - name: udp\n      containerPort: {SERVER_PORT}\n      protocol: UDP\n"
    );
    yaml
}

/// Writes `metadata.labels` (nothing when there are none), after the other fields of
/// `metadata`.
pub fn write_labels(yaml: &mut String, labels: &[(&str, &str)]) {
    if labels.is_empty() {
        return;
    }
    *yaml += "  labels:\n";
    for (key, value) in labels {
        let _ = writeln!(yaml, "    {key}: \"{value}\"");
    }
}

/// One manifest of several documents.
pub fn documents(docs: &[String]) -> String {
    docs.join("---\n")
}
