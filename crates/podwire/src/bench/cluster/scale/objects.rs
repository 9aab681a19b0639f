//! The cluster a node of the scale measurement hears of, as the Kubernetes API server would
//! send it: Namespaces, Nodes, Pods, Services, their EndpointSlices and NetworkPolicies.
//!
//! The shape is that of Kubernetes' own load test (clusterloader2's `load` config: a
//! namespace per 100 nodes, 30 pods per node): every Service selects [`PODS_PER_SERVICE`]
//! pods of a Deployment (label `app: svc-<s>`), spread over the nodes, and the API server's
//! EndpointSlice controller has made one slice for it. The objects are written as the API
//! server writes them, `managedFields` included (the store drops them as they come in),
//! modelled on the recorded responses in `crates/podwire-k8s/tests/fixtures`.
//!
//! Addresses: Node `n` owns the pod CIDR `10.128.0.0/9 + n × 256` (a /24) and has the
//! tunnel (InternalIP) address `172.16.0.0/12 + n + 1`; its `k`-th pod has host `k + 2` of
//! its CIDR. Service `s` of the cluster has the ClusterIP `10.96.0.0 + s + 10`.

use std::net::Ipv4Addr;

use anyhow::Context;
use podwire_k8s::object::Object;
use serde_json::{Value, json};

/// Pods each Service selects (a Deployment's replicas).
pub const PODS_PER_SERVICE: usize = 15;
/// The port the pods serve on, and the Services' target port.
const TARGET_PORT: u16 = 8080;
/// Where the pod CIDRs of the nodes start: `10.128.0.0/9` holds 32,768 /24s.
const POD_CIDRS: Ipv4Addr = Ipv4Addr::new(10, 128, 0, 0);
/// Where the nodes' tunnel addresses start.
const UNDERLAY: Ipv4Addr = Ipv4Addr::new(172, 16, 0, 0);
/// Where the ClusterIPs start.
const SERVICE_CIDR: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 0);
/// The API server's timestamps: one instant for every object.
const TIME: &str = "2026-03-02T09:14:07Z";

/// How big the cluster is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Nodes; node 0 is the one measured.
    pub nodes: usize,
    /// Namespaces, each with the same numbers of Services, pods and policies.
    pub namespaces: usize,
    /// Services in each namespace; each selects [`PODS_PER_SERVICE`] pods.
    pub services_per_namespace: usize,
    /// NetworkPolicies in each namespace.
    pub policies_per_namespace: usize,
}

impl Shape {
    /// Pods in each namespace.
    pub fn pods_per_namespace(&self) -> usize {
        self.services_per_namespace * PODS_PER_SERVICE
    }

    /// Pods in the cluster.
    pub fn pods(&self) -> usize {
        self.namespaces * self.pods_per_namespace()
    }

    /// Services in the cluster.
    pub fn services(&self) -> usize {
        self.namespaces * self.services_per_namespace
    }

    /// NetworkPolicies in the cluster.
    pub fn policies(&self) -> usize {
        self.namespaces * self.policies_per_namespace
    }

    /// The most pods a node runs.
    pub fn pods_per_node(&self) -> usize {
        self.pods().div_ceil(self.nodes)
    }

    /// Whether the address plan holds it: a /24 per node, 253 pods per /24, and no policy
    /// selecting a Service that is not there.
    pub fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            (2..=32_768).contains(&self.nodes),
            "{} nodes: the address plan holds 2 to 32,768",
            self.nodes
        );
        anyhow::ensure!(
            self.namespaces >= 1 && self.services_per_namespace >= 2,
            "give at least one namespace with two Services"
        );
        anyhow::ensure!(
            self.pods_per_node() <= 253,
            "{} pods per node: a node's /24 holds 253",
            self.pods_per_node()
        );
        anyhow::ensure!(
            self.policies_per_namespace * 2 <= self.services_per_namespace,
            "{} policies per namespace: give at most one per two Services",
            self.policies_per_namespace
        );
        anyhow::ensure!(
            self.services() < 1 << 20,
            "{} Services do not fit the Service CIDR",
            self.services()
        );
        Ok(())
    }

    /// The Node that runs pod `index` (of the cluster), and its place among that node's pods.
    fn place(&self, index: usize) -> (usize, usize) {
        (index % self.nodes, index / self.nodes)
    }

    /// Pod `index`'s address.
    fn pod_ip(&self, index: usize) -> Ipv4Addr {
        let (node, k) = self.place(index);
        offset(POD_CIDRS, node * 256 + k + 2)
    }
}

/// The name of Node `n`.
pub fn node_name(n: usize) -> String {
    format!("node-{n}")
}

/// Node `n`'s pod CIDR, as address and prefix length.
pub fn node_cidr(n: usize) -> (Ipv4Addr, u8) {
    (offset(POD_CIDRS, n * 256), 24)
}

/// Node `n`'s tunnel address (its InternalIP).
pub fn tunnel_address(n: usize) -> Ipv4Addr {
    offset(UNDERLAY, n + 1)
}

fn offset(base: Ipv4Addr, n: usize) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(base) + n as u32)
}

/// A stable UID for object `n` of a kind (`tag` tells kinds apart).
fn uid(tag: u16, n: usize) -> String {
    format!("{n:08x}-{tag:04x}-4000-8000-{n:012x}")
}

/// The object `value` describes, as the store decodes it.
pub fn object(value: Value) -> anyhow::Result<Object> {
    Object::from_json(value).context("a generated object does not decode")
}

/// Namespace `k`.
pub fn namespace(k: usize) -> Value {
    let name = format!("ns-{k}");
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "uid": uid(1, k),
            "resourceVersion": "10",
            "creationTimestamp": TIME,
            "labels": {"kubernetes.io/metadata.name": name},
        },
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    })
}

/// Node `n`, as its kubelet and the controller-manager (pod CIDR) wrote it; `generation`
/// changes its heartbeat (a status update).
pub fn node(n: usize, generation: u64) -> Value {
    let name = node_name(n);
    let (cidr, len) = node_cidr(n);
    let images: Vec<Value> = [
        (
            "registry.k8s.io/e2e-test-images/agnhost",
            "2.53",
            51_234_567,
        ),
        ("registry.k8s.io/kube-proxy", "v1.35.1", 30_123_456),
        ("docker.io/library/nginx", "1.27", 71_234_567),
        ("registry.k8s.io/coredns/coredns", "v1.12.0", 21_345_678),
        ("registry.k8s.io/pause", "3.10", 320_368),
    ]
    .iter()
    .map(|(image, tag, size)| {
        json!({
            "names": [
                format!("{image}@sha256:{:064x}", size),
                format!("{image}:{tag}"),
            ],
            "sizeBytes": size,
        })
    })
    .collect();
    let condition = |kind: &str, status: &str, reason: &str, message: &str| {
        json!({
            "type": kind,
            "status": status,
            "lastHeartbeatTime": format!("2026-03-02T09:{:02}:00Z", generation % 60),
            "lastTransitionTime": TIME,
            "reason": reason,
            "message": message,
        })
    };
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "uid": uid(2, n),
            "resourceVersion": (1000 + generation).to_string(),
            "creationTimestamp": TIME,
            "labels": {
                "beta.kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "topology.kubernetes.io/zone": format!("zone-{}", n % 3),
            },
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
            "managedFields": [
                {
                    "manager": "kubelet", "operation": "Update", "apiVersion": "v1",
                    "time": TIME, "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:metadata": {"f:labels": {}}},
                },
                {
                    "manager": "kube-controller-manager", "operation": "Update",
                    "apiVersion": "v1", "time": TIME, "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:spec": {"f:podCIDR": {}, "f:podCIDRs": {}}},
                },
            ],
        },
        "spec": {
            "podCIDR": format!("{cidr}/{len}"),
            "podCIDRs": [format!("{cidr}/{len}")],
        },
        "status": {
            "capacity": {"cpu": "8", "memory": "32883020Ki", "pods": "110"},
            "allocatable": {"cpu": "8", "memory": "32780620Ki", "pods": "110"},
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory",
                    "kubelet has sufficient memory available"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure",
                    "kubelet has no disk pressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID",
                    "kubelet has sufficient PID available"),
                condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": [
                {"type": "InternalIP", "address": tunnel_address(n).to_string()},
                {"type": "Hostname", "address": name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": format!("{n:032x}"),
                "systemUUID": uid(3, n),
                "bootID": uid(4, n),
                "kernelVersion": "6.1.0-31-amd64",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "containerRuntimeVersion": "containerd://1.7.24",
                "kubeletVersion": "v1.35.1",
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
            "images": images,
        },
    })
}

/// Where object `index` of its kind in the cluster is: its namespace and its index there.
fn split(index: usize, per_namespace: usize) -> (usize, usize) {
    (index / per_namespace, index % per_namespace)
}

/// Pod `index` of the cluster, running and ready unless `generation` is odd (a readiness
/// probe failing, as a watch sees it).
pub fn pod(shape: &Shape, index: usize, generation: u64) -> Value {
    let (ns, j) = split(index, shape.pods_per_namespace());
    let service = j / PODS_PER_SERVICE;
    let (node, _) = shape.place(index);
    let ready = generation.is_multiple_of(2);
    let condition = if ready { "True" } else { "False" };
    let hash = format!("{:010x}", service * 7919 + 1);
    let app = format!("svc-{service}");
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": format!("{app}-{hash}-{j}"),
            "generateName": format!("{app}-{hash}-"),
            "namespace": format!("ns-{ns}"),
            "uid": uid(5, index),
            "resourceVersion": (2000 + generation).to_string(),
            "creationTimestamp": TIME,
            "labels": {"app": app, "pod-template-hash": hash},
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "name": format!("{app}-{hash}"), "uid": uid(6, ns * 100_000 + service),
                "controller": true, "blockOwnerDeletion": true,
            }],
            "managedFields": [
                {
                    "manager": "kube-controller-manager", "operation": "Update",
                    "apiVersion": "v1", "time": TIME, "fieldsType": "FieldsV1",
                    "fieldsV1": {
                        "f:metadata": {"f:generateName": {}, "f:labels": {".": {}, "f:app": {},
                            "f:pod-template-hash": {}}},
                        "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {".": {},
                            "f:image": {}, "f:name": {}, "f:ports": {}}}},
                    },
                },
                {
                    "manager": "kubelet", "operation": "Update", "apiVersion": "v1",
                    "time": TIME, "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:status": {"f:conditions": {}, "f:podIP": {},
                        "f:podIPs": {}}},
                    "subresource": "status",
                },
            ],
        },
        "spec": {
            "containers": [{
                "name": "web",
                "image": "registry.k8s.io/e2e-test-images/agnhost:2.53",
                "args": ["netexec", format!("--http-port={TARGET_PORT}")],
                "ports": [{"name": "http", "containerPort": TARGET_PORT, "protocol": "TCP"}],
                "resources": {"requests": {"cpu": "10m", "memory": "10M"}},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
                "imagePullPolicy": "IfNotPresent",
            }],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default",
            "serviceAccount": "default",
            "nodeName": node_name(node),
            "securityContext": {},
            "schedulerName": "default-scheduler",
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                    "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                    "effect": "NoExecute", "tolerationSeconds": 300},
            ],
            "priority": 0,
            "enableServiceLinks": true,
            "preemptionPolicy": "PreemptLowerPriority",
        },
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": "Initialized", "status": "True", "lastProbeTime": null,
                    "lastTransitionTime": TIME},
                {"type": "Ready", "status": condition, "lastProbeTime": null,
                    "lastTransitionTime": TIME},
                {"type": "ContainersReady", "status": condition, "lastProbeTime": null,
                    "lastTransitionTime": TIME},
                {"type": "PodScheduled", "status": "True", "lastProbeTime": null,
                    "lastTransitionTime": TIME},
            ],
            "hostIP": tunnel_address(node).to_string(),
            "hostIPs": [{"ip": tunnel_address(node).to_string()}],
            "podIP": shape.pod_ip(index).to_string(),
            "podIPs": [{"ip": shape.pod_ip(index).to_string()}],
            "startTime": TIME,
            "containerStatuses": [{
                "name": "web",
                "state": {"running": {"startedAt": TIME}},
                "lastState": {},
                "ready": ready,
                "restartCount": 0,
                "image": "registry.k8s.io/e2e-test-images/agnhost:2.53",
                "imageID": format!("registry.k8s.io/e2e-test-images/agnhost@sha256:{:064x}",
                    51_234_567),
                "containerID": format!("containerd://{index:064x}"),
                "started": true,
            }],
            "qosClass": "Burstable",
        },
    })
}

/// Service `index` of the cluster; `generation` moves its port (a Service change).
pub fn service(shape: &Shape, index: usize, generation: u64) -> Value {
    let (ns, s) = split(index, shape.services_per_namespace);
    let ip = offset(SERVICE_CIDR, index + 10).to_string();
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": format!("svc-{s}"),
            "namespace": format!("ns-{ns}"),
            "uid": uid(7, index),
            "resourceVersion": (3000 + generation).to_string(),
            "creationTimestamp": TIME,
            "labels": {"app": format!("svc-{s}")},
        },
        "spec": {
            "type": "ClusterIP",
            "selector": {"app": format!("svc-{s}")},
            "clusterIP": ip,
            "clusterIPs": [ip],
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "ports": [{
                "name": "http",
                "port": 80 + generation % 1000,
                "targetPort": TARGET_PORT,
                "protocol": "TCP",
            }],
            "sessionAffinity": "None",
            "internalTrafficPolicy": "Cluster",
        },
        "status": {"loadBalancer": {}},
    })
}

/// The EndpointSlice the API server's controller made for Service `index`: its pods, the
/// first of which is not ready when `generation` is odd (an EndpointSlice change).
pub fn endpoint_slice(shape: &Shape, index: usize, generation: u64) -> Value {
    let (ns, s) = split(index, shape.services_per_namespace);
    let first_pod = ns * shape.pods_per_namespace() + s * PODS_PER_SERVICE;
    let hash = format!("{:010x}", s * 7919 + 1);
    let endpoints: Vec<Value> = (0..PODS_PER_SERVICE)
        .map(|p| {
            let pod = first_pod + p;
            let ready = p != 0 || generation.is_multiple_of(2);
            json!({
                "addresses": [shape.pod_ip(pod).to_string()],
                "conditions": {"ready": ready, "serving": ready, "terminating": false},
                "nodeName": node_name(shape.place(pod).0),
                "targetRef": {
                    "kind": "Pod",
                    "namespace": format!("ns-{ns}"),
                    "name": format!("svc-{s}-{hash}-{}", s * PODS_PER_SERVICE + p),
                    "uid": uid(5, pod),
                },
            })
        })
        .collect();
    json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": format!("svc-{s}-{:05x}", index % 0xfffff),
            "generateName": format!("svc-{s}-"),
            "namespace": format!("ns-{ns}"),
            "uid": uid(8, index),
            "resourceVersion": (4000 + generation).to_string(),
            "creationTimestamp": TIME,
            "labels": {
                "kubernetes.io/service-name": format!("svc-{s}"),
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
            },
            "ownerReferences": [{
                "apiVersion": "v1", "kind": "Service", "name": format!("svc-{s}"),
                "uid": uid(7, index), "controller": true, "blockOwnerDeletion": true,
            }],
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": TARGET_PORT, "protocol": "TCP"}],
        "endpoints": endpoints,
    })
}

/// NetworkPolicy `index` of the cluster: the pods of one Service take connections on the
/// target port from those of the next Service, and from the next namespace.
pub fn network_policy(shape: &Shape, index: usize) -> Value {
    let (ns, p) = split(index, shape.policies_per_namespace);
    let target = p * 2;
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": format!("allow-{p}"),
            "namespace": format!("ns-{ns}"),
            "uid": uid(9, index),
            "resourceVersion": "5000",
            "creationTimestamp": TIME,
        },
        "spec": {
            "podSelector": {"matchLabels": {"app": format!("svc-{target}")}},
            "policyTypes": ["Ingress"],
            "ingress": [{
                "from": [
                    {"podSelector": {"matchLabels": {"app": format!("svc-{}", target + 1)}}},
                    {"namespaceSelector": {"matchLabels": {
                        "kubernetes.io/metadata.name":
                            format!("ns-{}", (ns + 1) % shape.namespaces)}}},
                ],
                "ports": [{"protocol": "TCP", "port": TARGET_PORT}],
            }],
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHAPE: Shape = Shape {
        nodes: 7,
        namespaces: 2,
        services_per_namespace: 4,
        policies_per_namespace: 2,
    };

    #[test]
    fn every_object_decodes_and_pods_are_where_their_slices_say() {
        SHAPE.check().unwrap();
        let pods: Vec<Value> = (0..SHAPE.pods()).map(|i| pod(&SHAPE, i, 0)).collect();
        for value in pods
            .iter()
            .cloned()
            .chain((0..SHAPE.nodes).map(|n| node(n, 0)))
            .chain((0..SHAPE.namespaces).map(namespace))
            .chain((0..SHAPE.services()).map(|s| service(&SHAPE, s, 0)))
            .chain((0..SHAPE.policies()).map(|p| network_policy(&SHAPE, p)))
        {
            object(value).unwrap();
        }
        // Service 5 is svc-1 of ns-1: its slice lists the pods labelled app=svc-1 there.
        let slice = endpoint_slice(&SHAPE, 5, 0);
        object(slice.clone()).unwrap();
        let listed: Vec<&Value> = slice["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["addresses"][0])
            .collect();
        let selected: Vec<&Value> = pods
            .iter()
            .filter(|p| p["metadata"]["namespace"] == "ns-1")
            .filter(|p| p["metadata"]["labels"]["app"] == "svc-1")
            .map(|p| &p["status"]["podIP"])
            .collect();
        assert_eq!(listed, selected);
        let names: Vec<&Value> = slice["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["targetRef"]["name"])
            .collect();
        let pod_names: Vec<&Value> = pods
            .iter()
            .filter(|p| p["metadata"]["namespace"] == "ns-1")
            .filter(|p| p["metadata"]["labels"]["app"] == "svc-1")
            .map(|p| &p["metadata"]["name"])
            .collect();
        assert_eq!(names, pod_names);
    }

    #[test]
    fn addresses_are_distinct_and_inside_their_node() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..SHAPE.pods() {
            let ip = SHAPE.pod_ip(i);
            assert!(seen.insert(ip), "{ip} given twice");
            let (node, _) = SHAPE.place(i);
            let (cidr, _) = node_cidr(node);
            assert_eq!(
                u32::from(ip) >> 8,
                u32::from(cidr) >> 8,
                "{ip} not in {cidr}/24"
            );
        }
    }

    #[test]
    fn shapes_the_address_plan_cannot_hold_are_refused() {
        let crowded = Shape { nodes: 2, ..SHAPE };
        assert!(crowded.check().is_ok());
        let too_many = Shape {
            nodes: 2,
            services_per_namespace: 40,
            ..SHAPE
        };
        assert!(
            too_many
                .check()
                .unwrap_err()
                .to_string()
                .contains("pods per node")
        );
        let policies = Shape {
            policies_per_namespace: 3,
            ..SHAPE
        };
        assert!(policies.check().is_err());
    }
}
