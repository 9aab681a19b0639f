//! The Kubernetes objects of the Service tests, written as people write them: YAML
//! documents, joined with `---` into one manifest.

use std::fmt::Write as _;
use std::net::IpAddr;

// The lab's Pods, as `podwire bench cluster` writes them.
// The cluster tests load it a second time, with the whole lab (support/cluster.rs).
#[allow(clippy::duplicate_mod)]
#[path = "../../../src/bench/cluster/lab/manifest/document.rs"]
mod document;

/// The namespace the tests' objects live in.
pub const NAMESPACE: &str = "default";

/// The port every backend listens on, TCP and UDP.
pub const BACKEND_PORT: u16 = document::SERVER_PORT;

/// The Service port of the tests' Services, TCP and UDP (the same number on purpose: a
/// Service port is its number *and* protocol).
pub const SERVICE_PORT: u16 = 80;

pub use document::documents;

/// A Pod called `name` with `labels`, whose container declares the backend's ports as
/// `http` (TCP) and `udp` (UDP).
pub fn pod(name: &str, labels: &[(&str, &str)]) -> String {
    pod_in(NAMESPACE, name, labels)
}

/// [`pod`] in namespace `namespace`.
pub fn pod_in(namespace: &str, name: &str, labels: &[(&str, &str)]) -> String {
    document::pod(namespace, name, None, labels)
}

/// A Namespace called `name` with `labels` (Kubernetes adds `kubernetes.io/metadata.name`
/// itself; people do not write it). Its name is quoted, like the Pods': YAML 1.1 reads a bare
/// `y` as `true`.
pub fn namespace(name: &str, labels: &[(&str, &str)]) -> String {
    let mut yaml = format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: \"{name}\"\n");
    document::write_labels(&mut yaml, labels);
    yaml
}

/// One port of a [`Service`].
#[derive(Debug, Clone)]
pub struct Port {
    /// Its name.
    pub name: &'static str,
    /// `TCP` or `UDP`.
    pub protocol: &'static str,
    /// The Service port.
    pub port: u16,
    /// `targetPort`: a number or a container port's name.
    pub target_port: String,
    /// `nodePort`, for NodePort Services.
    pub node_port: Option<u16>,
}

/// A Service, built up field by field.
#[derive(Debug, Clone)]
pub struct Service {
    /// Its name.
    pub name: String,
    /// `spec.type`.
    pub kind: &'static str,
    /// `spec.clusterIP`.
    pub cluster_ip: IpAddr,
    /// `spec.selector`; none when empty (endpoints from EndpointSlices).
    pub selector: Vec<(String, String)>,
    /// `spec.ports`.
    pub ports: Vec<Port>,
    /// `spec.sessionAffinity: ClientIP` (else `None`, written out).
    pub client_ip_affinity: bool,
    /// `spec.externalTrafficPolicy`, when given.
    pub external_traffic_policy: Option<&'static str>,
}

impl Service {
    /// A ClusterIP Service `name` on `cluster_ip` selecting `app: APP`, with two ports
    /// numbered [`SERVICE_PORT`]: `http` (TCP, to the named container port `http`) and `udp`
    /// (UDP, to [`BACKEND_PORT`] by number).
    pub fn new(name: &str, cluster_ip: IpAddr, app: &str) -> Service {
        Service {
            name: name.to_owned(),
            kind: "ClusterIP",
            cluster_ip,
            selector: vec![("app".to_owned(), app.to_owned())],
            ports: vec![
                Port {
                    name: "http",
                    protocol: "TCP",
                    port: SERVICE_PORT,
                    target_port: "http".to_owned(),
                    node_port: None,
                },
                Port {
                    name: "udp",
                    protocol: "UDP",
                    port: SERVICE_PORT,
                    target_port: BACKEND_PORT.to_string(),
                    node_port: None,
                },
            ],
            client_ip_affinity: false,
            external_traffic_policy: None,
        }
    }

    /// Without a selector: its endpoints come from EndpointSlices.
    pub fn without_selector(self) -> Service {
        Service {
            selector: Vec::new(),
            ..self
        }
    }

    /// With `sessionAffinity: ClientIP` (`true`) or `None` (`false`).
    pub fn affinity(self, client_ip: bool) -> Service {
        Service {
            client_ip_affinity: client_ip,
            ..self
        }
    }

    /// `type: NodePort`, the TCP port on `tcp` and the UDP port on `udp`.
    pub fn node_ports(mut self, tcp: u16, udp: u16) -> Service {
        for port in &mut self.ports {
            port.node_port = Some(if port.protocol == "TCP" { tcp } else { udp });
        }
        Service {
            kind: "NodePort",
            ..self
        }
    }

    /// With `externalTrafficPolicy: POLICY`.
    pub fn external_traffic_policy(self, policy: &'static str) -> Service {
        Service {
            external_traffic_policy: Some(policy),
            ..self
        }
    }

    /// The YAML document.
    pub fn yaml(&self) -> String {
        let mut yaml = format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: {}\n  namespace: {NAMESPACE}\nspec:\n  type: {}\n  clusterIP: {}\n",
            self.name, self.kind, self.cluster_ip
        );
        if !self.selector.is_empty() {
            yaml += "  selector:\n";
            for (key, value) in &self.selector {
                let _ = writeln!(yaml, "    {key}: \"{value}\"");
            }
        }
        let affinity = if self.client_ip_affinity {
            "ClientIP"
        } else {
            "None"
        };
        let _ = writeln!(yaml, "  sessionAffinity: {affinity}");
        if let Some(policy) = self.external_traffic_policy {
            let _ = writeln!(yaml, "  externalTrafficPolicy: {policy}");
        }
        yaml += "  ports:\n";
        for p in &self.ports {
            let _ = write!(
                yaml,
                "  - name: {}\n    protocol: {}\n    port: {}\n    targetPort: {}\n",
                p.name, p.protocol, p.port, p.target_port
            );
            if let Some(node_port) = p.node_port {
                let _ = writeln!(yaml, "    nodePort: {node_port}");
            }
        }
        yaml
    }
}

/// An EndpointSlice `name` of Service `service` with the ready endpoints `addresses`, on the
/// Service ports `http` (TCP) and `udp` (UDP), both to [`BACKEND_PORT`].
pub fn endpoint_slice(name: &str, service: &str, addresses: &[IpAddr]) -> String {
    let mut yaml = format!(
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: {name}\n  namespace: {NAMESPACE}\n  labels:\n    kubernetes.io/service-name: {service}\naddressType: IPv4\nports:\n- name: http\n  protocol: TCP\n  port: {BACKEND_PORT}\n- name: udp\n  protocol: UDP\n  port: {BACKEND_PORT}\nendpoints:\n"
    );
    for address in addresses {
        let _ = write!(
            yaml,
            "- addresses:\n  - \"{address}\"\n  conditions:\n    ready: true\n"
        );
    }
    yaml
}
