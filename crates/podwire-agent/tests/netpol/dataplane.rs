//! The model's pods behind a podwire switch, in memory, the way the agent wires them: each
//! pod on a routed interface of its own (the link-local gateway, the source check, a host
//! route to the pod), the node on a host interface. The cluster's objects go the agent's way:
//! ClusterNetworkPolicies read and checked as a manifest's are, then everything compiled by
//! `podwire_k8s::policy::compile`, rendered by the agent's `policy::render::render`,
//! published in the tables. A probe sends the first packet of a
//! connection in from the client's interface and looks for it at the server's, then sends
//! the server's answer and looks for it back at the client's.
//!
//! Probes go to the server pod's address, or, like upstream's prober in 1.2x-1.3x, to the
//! ClusterIP of the pod's own Service (`s-<ns>-<pod>`, one port per container port), where
//! the policy must judge the backend pod and its target port.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use podwire_agent::policy::render::render;
use podwire_agent::services::ServiceUpdate;
use podwire_agent::services::render::ServiceRenderer;
use podwire_dataplane::clock::Instant;
use podwire_dataplane::engine::Engine;
use podwire_dataplane::interface::{IfIndex, InterfaceConfig};
use podwire_dataplane::nat::service::NodeNat;
use podwire_dataplane::tables::{Adjacency, Tables, TablesBuilder};
use podwire_k8s::cnp::ClusterNetworkPolicy;
use podwire_k8s::endpoints::PodInfo;
use podwire_k8s::object::Object;
use podwire_k8s::policy::compile;
use podwire_k8s::services::{NodeContext, service_id, translate};
use podwire_k8s::validate;
use podwire_model::policy::PodPolicy;
use podwire_model::service::Protocol;
use podwire_wire::ethernet::EthernetAddress;
use serde_json::{Value, json};

use crate::model::{Cluster, Family, NAMESPACES, NODE, POD_COUNT, PodId};
use crate::oracle::Cell;
use crate::packets::{self, Flow, Kind};

/// Where a probe is addressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The server pod's address.
    Pod,
    /// The ClusterIP of the server pod's Service.
    Service,
}

/// What became of one probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The first packet reached the server and the answer reached the client.
    Connected,
    /// The first packet did not reach the server.
    Blocked,
    /// The first packet reached the server, its answer did not come back.
    NoAnswer,
}

/// What a round of probes saw.
pub struct Probed {
    /// Each probe's outcome, in order.
    pub outcomes: Vec<Outcome>,
    /// Packets the switch sent that no probe explains.
    pub strays: Vec<String>,
}

/// The host interface's index: after the pods'.
const HOST: IfIndex = IfIndex(POD_COUNT as u16);
/// The time every packet is sent at.
const NOW: Instant = Instant::from_nanos(1_000_000_000);
/// Buffers of a probing engine: every probe's packet and answer in flight at once.
const BUFFERS: u32 = 1024;
/// Client ports: the n-th probe of a round uses `FIRST_PORT + n`.
const FIRST_PORT: u16 = 20000;

/// The switch's MAC on interface `i`.
fn switch_mac(i: IfIndex) -> EthernetAddress {
    EthernetAddress([0x02, 0, 0, 0, 0x01, i.0 as u8])
}

/// The MAC of whatever is at the other end of interface `i` (a pod, the host).
fn peer_mac(i: IfIndex) -> EthernetAddress {
    EthernetAddress([0x0a, 0, 0, 0, 0x02, i.0 as u8])
}

/// A pod's interface.
fn interface(pod: PodId) -> IfIndex {
    IfIndex(pod.0 as u16)
}

/// What is at the other end of interface `i`, for reports.
fn interface_name(i: IfIndex) -> String {
    match i {
        HOST => "the host".into(),
        _ => format!("pod {}", PodId(usize::from(i.0))),
    }
}

/// The node's own IPv4 address (on the host's side of the host interface).
const NODE4: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 2);
/// The node's own IPv6 address.
const NODE6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);

/// The node's address of `family`.
fn node_address(family: Family) -> IpAddr {
    match family {
        Family::V4 => NODE4.into(),
        Family::V6 => NODE6.into(),
    }
}

/// The ClusterIP of `pod`'s Service.
fn cluster_ip(family: Family, pod: PodId) -> IpAddr {
    let host = 10 + pod.0 as u8;
    match family {
        Family::V4 => Ipv4Addr::new(10, 96, 0, host).into(),
        Family::V6 => Ipv6Addr::new(0xfd00, 0x10, 0x96, 0, 0, 0, 0, u16::from(host)).into(),
    }
}

/// The node's facts for the Service table: its addresses (which its own flows to Services
/// are masqueraded to), the host interface, the CIDRs.
fn node_nat() -> NodeNat {
    NodeNat {
        service_cidrs: vec![
            (Ipv4Addr::new(10, 96, 0, 0).into(), 16),
            (Ipv6Addr::new(0xfd00, 0x10, 0x96, 0, 0, 0, 0, 0).into(), 112),
        ],
        cluster_cidrs: vec![
            (Ipv4Addr::new(10, 244, 0, 0).into(), 16),
            (Ipv6Addr::new(0xfd00, 0x10, 0x244, 0, 0, 0, 0, 0).into(), 64),
        ],
        node_addresses: vec![NODE4.into(), NODE6.into()],
        masquerade4: Some(NODE4),
        masquerade6: Some(NODE6),
        host_interface: Some(HOST),
    }
}

/// The pods' switch with `cluster`'s policies (and the pods' Services when probes go to
/// them).
pub struct Switch {
    tables: Tables,
    cluster: Cluster,
    target: Target,
    /// The compiled policies, for reports.
    pub compiled: Vec<PodPolicy>,
}

impl Switch {
    /// Compiles and renders `cluster`'s policies (as the table of `generation`) and wires the
    /// switch; an error says what the objects could not be made into.
    pub fn new(cluster: &Cluster, target: Target, generation: u64) -> Result<Switch, String> {
        let compiled = compile_policies(cluster)?;
        let slots = &mut podwire_agent::policy::slots::RuleSlots::default();
        let policies = Arc::new(render(&compiled, slots, generation));
        let mut services = ServiceRenderer::new(node_nat());
        if target == Target::Service {
            for pod in PodId::all() {
                services.apply(&pod_service(cluster, pod)?);
            }
        }
        let mut b = TablesBuilder::new();
        for pod in PodId::all() {
            let mut config = InterfaceConfig::l3(pod.to_string(), switch_mac(interface(pod)));
            config.ip4.push((Ipv4Addr::new(169, 254, 1, 1), 32));
            config
                .ip6
                .push((Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1), 64));
            config.source_check = true;
            let index = b.add_interface(config).map_err(|e| e.to_string())?;
            add_host_route(&mut b, index, cluster.address(pod))?;
        }
        let host = b
            .add_interface(InterfaceConfig::l3("host", switch_mac(HOST)))
            .map_err(|e| e.to_string())?;
        assert_eq!(
            host, HOST,
            "interfaces are numbered in the order they are added"
        );
        add_host_route(&mut b, HOST, node_address(cluster.family))?;
        b.set_services(services.table());
        b.set_policies(policies);
        Ok(Switch {
            tables: b.build(generation),
            cluster: cluster.clone(),
            target,
            compiled,
        })
    }

    /// Where probes to `pod` are addressed.
    fn server_address(&self, pod: PodId) -> IpAddr {
        match self.target {
            Target::Pod => self.cluster.address(pod),
            Target::Service => cluster_ip(self.cluster.family, pod),
        }
    }

    /// The probe of `cell` as its client sends it (the `n`-th of its round), the interface
    /// it comes in on, and the flow the server should see.
    fn probe_flows(&self, cell: &Cell, n: usize) -> (IfIndex, Flow, Flow) {
        let sent = Flow {
            src: self.cluster.address(cell.from),
            dst: self.server_address(cell.to),
            protocol: cell.protocol.number(),
            src_port: FIRST_PORT + n as u16,
            dst_port: cell.port,
        };
        let seen = Flow {
            dst: self.cluster.address(cell.to),
            ..sent
        };
        (interface(cell.from), sent, seen)
    }

    /// Probes every cell, all in one engine: every first packet at once, then the answers
    /// of those that reached their server.
    pub fn probe(&self, cells: &[Cell]) -> Probed {
        let mut engine = Engine::new(BUFFERS, None).expect("the standard graph wires");
        let mut strays = Vec::new();
        let mut opens = Vec::new();
        let mut awaited = HashMap::new();
        for (n, cell) in cells.iter().enumerate() {
            let (rx, sent, seen) = self.probe_flows(cell, n);
            opens.push((
                rx,
                packets::frame(&sent, Kind::Open, peer_mac(rx), switch_mac(rx)),
            ));
            awaited.insert((interface(cell.to), seen), n);
        }
        let sent = exchange(&mut engine, &self.tables, &opens);
        let reached = arrivals(&sent, &awaited, cells.len(), &mut strays);
        // The answers come back to the client from the address it sent to.
        let mut answers = Vec::new();
        let mut awaited = HashMap::new();
        for (n, cell) in cells.iter().enumerate().filter(|(n, _)| reached[*n]) {
            let (rx, sent, seen) = self.probe_flows(cell, n);
            let server = interface(cell.to);
            let answer = packets::frame(
                &seen.reversed(),
                Kind::Answer,
                peer_mac(server),
                switch_mac(server),
            );
            answers.push((server, answer));
            awaited.insert((rx, sent.reversed()), n);
        }
        let sent = exchange(&mut engine, &self.tables, &answers);
        let answered = arrivals(&sent, &awaited, cells.len(), &mut strays);
        let outcomes = (0..cells.len())
            .map(|n| match (reached[n], answered[n]) {
                (true, true) => Outcome::Connected,
                (true, false) => Outcome::NoAnswer,
                (false, _) => Outcome::Blocked,
            })
            .collect();
        Probed { outcomes, strays }
    }

    /// Probes from the node (its address, in on the host interface) to every pod on
    /// `protocol`/`port`: the node always reaches its pods, whatever their policies.
    pub fn probe_from_node(&self, protocol: Protocol, port: u16) -> Vec<(PodId, bool)> {
        let mut engine = Engine::new(BUFFERS, None).expect("the standard graph wires");
        PodId::all()
            .enumerate()
            .map(|(n, pod)| {
                let sent = Flow {
                    src: node_address(self.cluster.family),
                    dst: self.server_address(pod),
                    protocol: protocol.number(),
                    src_port: FIRST_PORT + n as u16,
                    dst_port: port,
                };
                // The pod may see the node's flow masqueraded (to a Service, it is).
                let to_pod = |f: &Flow| {
                    f.dst == self.cluster.address(pod)
                        && f.dst_port == port
                        && f.protocol == sent.protocol
                };
                (
                    pod,
                    self.connect(&mut engine, HOST, &sent, interface(pod), to_pod),
                )
            })
            .collect()
    }

    /// One connection in `engine`: `sent` in on `rx`, the packet out of `server` that
    /// `arrived` accepts, its answer; whether the answer came back out of `rx`.
    fn connect(
        &self,
        engine: &mut Engine,
        rx: IfIndex,
        sent: &Flow,
        server: IfIndex,
        arrived: impl Fn(&Flow) -> bool,
    ) -> bool {
        let open = packets::frame(sent, Kind::Open, peer_mac(rx), switch_mac(rx));
        let seen = exchange(engine, &self.tables, &[(rx, open)])
            .iter()
            .filter(|(out, _)| *out == server)
            .filter_map(|(_, frame)| packets::read(frame).ok())
            .find(|flow| arrived(flow));
        seen.is_some_and(|seen| {
            let answer = packets::frame(
                &seen.reversed(),
                Kind::Answer,
                peer_mac(server),
                switch_mac(server),
            );
            exchange(engine, &self.tables, &[(server, answer)])
                .iter()
                .any(|(out, frame)| *out == rx && packets::read(frame) == Ok(sent.reversed()))
        })
    }

    /// The path of `cell`'s probe through the switch, alone in a fresh engine: the nodes its
    /// packet (and its answer, if it got through) went through, and the drops counted.
    pub fn trace(&self, cell: &Cell) -> String {
        let mut engine = Engine::new(BUFFERS, None).expect("the standard graph wires");
        engine.trace.arm(8);
        let (rx, sent, seen) = self.probe_flows(cell, 0);
        self.connect(&mut engine, rx, &sent, interface(cell.to), |f| *f == seen);
        let path: Vec<String> = engine
            .trace
            .packets()
            .iter()
            .map(|p| {
                let steps: Vec<String> = p
                    .steps
                    .iter()
                    .map(|s| match s.detail.is_empty() {
                        true => s.node.to_string(),
                        false => format!("{} ({})", s.node, s.detail),
                    })
                    .collect();
                format!("from {}: {}", interface_name(p.rx_if), steps.join(" → "))
            })
            .collect();
        let drops: Vec<String> = engine
            .graph
            .drop_counts()
            .iter()
            .map(|d| format!("{}: {}", d.node, d.reason.name))
            .collect();
        format!("{}; drops: [{}]", path.join(" | "), drops.join(", "))
    }
}

/// Sends `frames` in (each on its interface), runs `engine` on `tables`, and returns what
/// it sent (interface, frame).
fn exchange(
    engine: &mut Engine,
    tables: &Tables,
    frames: &[(IfIndex, Vec<u8>)],
) -> Vec<(IfIndex, Vec<u8>)> {
    for (rx, frame) in frames {
        let bi = engine
            .pool
            .alloc_from(frame)
            .expect("the probing engine has a buffer for every probe");
        engine.receive(*rx, &[bi], NOW);
    }
    engine.run(tables, NOW);
    packets::sent_frames(engine)
}

/// Which of `count` probes arrived among the packets the switch `sent`, as `awaited` says
/// where (interface, flow) each should; what arrived that no probe explains goes to
/// `strays`.
fn arrivals(
    sent: &[(IfIndex, Vec<u8>)],
    awaited: &HashMap<(IfIndex, Flow), usize>,
    count: usize,
    strays: &mut Vec<String>,
) -> Vec<bool> {
    let mut arrived = vec![false; count];
    for (out, frame) in sent {
        match packets::read(frame).map(|flow| awaited.get(&(*out, flow))) {
            Ok(Some(&n)) => arrived[n] = true,
            _ => strays.push(stray(*out, frame)),
        }
    }
    arrived
}

/// A packet no probe explains, in words.
fn stray(out: IfIndex, frame: &[u8]) -> String {
    match packets::read(frame) {
        Ok(flow) => format!("{flow} to {}", interface_name(out)),
        Err(what) => format!("{what} to {}", interface_name(out)),
    }
}

/// Adds a host route for `addr` to `interface`, and the MAC of whatever has it.
fn add_host_route(b: &mut TablesBuilder, interface: IfIndex, addr: IpAddr) -> Result<(), String> {
    let adjacency = Adjacency::Attached { interface };
    match addr {
        IpAddr::V4(a) => b.add_route4(a, 32, adjacency),
        IpAddr::V6(a) => b.add_route6(a, 128, adjacency),
    }
    .map_err(|e| e.to_string())?;
    b.add_neighbor(interface, addr, peer_mac(interface));
    Ok(())
}

/// `podwire_k8s::policy::compile` over `cluster`'s objects, all its pods on this node.
fn compile_policies(cluster: &Cluster) -> Result<Vec<PodPolicy>, String> {
    let policies = cluster
        .policies
        .iter()
        .map(|p| serde_json::from_value(p.clone()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("a policy is not a networking.k8s.io/v1 NetworkPolicy: {e}"))?;
    let cluster_policies = cluster
        .cluster_policies
        .iter()
        .map(checked_cluster_policy)
        .collect::<Result<Vec<_>, _>>()?;
    let pods = PodId::all()
        .map(|p| serde_json::from_value(cluster.pod_object(p)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("a pod of the model is not a v1 Pod: {e}"))?;
    let namespaces = (0..NAMESPACES.len())
        .map(|i| serde_json::from_value(cluster.namespace_object(i)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("a namespace of the model is not a v1 Namespace: {e}"))?;
    let infos: Vec<PodInfo<'_>> = pods
        .iter()
        .zip(PodId::all())
        .map(|(pod, id)| PodInfo {
            pod,
            ips: vec![cluster.address(id)],
            node: Some(NODE.to_string()),
        })
        .collect();
    let policies: Vec<&_> = policies.iter().collect();
    let cluster_policies: Vec<&_> = cluster_policies.iter().collect();
    let namespaces: Vec<&_> = namespaces.iter().collect();
    let node = NodeContext {
        node_name: NODE.to_string(),
    };
    Ok(compile(
        policies.as_slice(),
        cluster_policies.as_slice(),
        infos.as_slice(),
        namespaces.as_slice(),
        &node,
    ))
}

/// A ClusterNetworkPolicy from its JSON, read strictly (no unknown field) and validated as
/// the agent does a manifest's objects: what podwire would refuse never reaches compile,
/// so a case or a generated scenario that writes one is wrong.
fn checked_cluster_policy(policy: &Value) -> Result<ClusterNetworkPolicy, String> {
    let name = policy["metadata"]["name"].as_str().unwrap_or("?");
    let object = Object::from_json(policy.clone())
        .map_err(|e| format!("ClusterNetworkPolicy {name} does not read: {e}"))?;
    let problems = validate::object(&object);
    if !problems.is_empty() {
        let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
        return Err(format!(
            "ClusterNetworkPolicy {name} is refused by validation: {}",
            problems.join("; ")
        ));
    }
    match object {
        Object::ClusterNetworkPolicy(policy) => Ok(policy),
        other => Err(format!(
            "ClusterNetworkPolicy {name} reads as a {:?}",
            other.kind()
        )),
    }
}

/// `pod`'s Service (upstream's `s-<ns>-<pod>`: selector `pod=<name>`, a port per container
/// port, `service-port-<proto>-<port>`, target port the same number) with its
/// EndpointSlice, translated.
fn pod_service(cluster: &Cluster, pod: PodId) -> Result<ServiceUpdate, String> {
    let name = format!("s-{}-{}", pod.namespace(), pod.name());
    let ip = cluster_ip(cluster.family, pod).to_string();
    let family = match cluster.family {
        Family::V4 => "IPv4",
        Family::V6 => "IPv6",
    };
    let port_name = |port: u16, protocol: Protocol| {
        format!(
            "service-port-{}-{port}",
            protocol.to_string().to_lowercase()
        )
    };
    let service_ports: Vec<Value> = cluster
        .containers
        .iter()
        .map(|&(port, protocol)| {
            json!({
                "name": port_name(port, protocol),
                "protocol": protocol.to_string(),
                "port": port,
                "targetPort": port,
            })
        })
        .collect();
    let slice_ports: Vec<Value> = cluster
        .containers
        .iter()
        .map(|&(port, protocol)| {
            json!({ "name": port_name(port, protocol), "protocol": protocol.to_string(), "port": port })
        })
        .collect();
    let service = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": { "namespace": pod.namespace(), "name": name },
        "spec": {
            "type": "ClusterIP",
            "clusterIP": ip,
            "clusterIPs": [ip],
            "ipFamilies": [family],
            "selector": { "pod": pod.name() },
            "ports": service_ports,
        },
    }))
    .map_err(|e| format!("Service {name} is not a v1 Service: {e}"))?;
    let slice = serde_json::from_value(json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "namespace": pod.namespace(),
            "name": format!("{name}-1"),
            "labels": { "kubernetes.io/service-name": name },
        },
        "addressType": family,
        "endpoints": [{
            "addresses": [cluster.address(pod).to_string()],
            "conditions": { "ready": true },
            "nodeName": NODE,
        }],
        "ports": slice_ports,
    }))
    .map_err(|e| format!("the EndpointSlice of {name} is not one: {e}"))?;
    let translation = translate(
        &service,
        &[&slice],
        &NodeContext {
            node_name: NODE.to_string(),
        },
    );
    Ok(ServiceUpdate {
        id: service_id(&service),
        model: translation.model,
    })
}
