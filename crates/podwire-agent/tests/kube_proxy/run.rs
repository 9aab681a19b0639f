//! Running ported tests: each state's objects go the way the agent's go (translated by
//! `podwire_k8s::services::translate`, rendered by `ServiceRenderer`, published in the
//! tables), then each case's packet is sent through the data plane and what comes out is
//! compared with what kube-proxy does.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};

use podwire_agent::services::ServiceUpdate;
use podwire_agent::services::render::ServiceRenderer;
use podwire_dataplane::interface::IfIndex;
use podwire_dataplane::nat::flow::FlowKey;
use podwire_dataplane::tables::Tables;
use podwire_k8s::services::{NodeContext, service_id, translate};
use podwire_model::service::ServiceId;
use podwire_wire::{icmpv4, icmpv6};
use serde_json::Value;

use crate::flows::{Expect, Flow};
use crate::network::{self, Outcome};
use crate::objects;
use crate::suite::Suite;

/// Flows sent for a case whose packet may reach several endpoints: every one must reach one
/// of them, and more than one must be reached.
const SPREAD_TRIES: u16 = 64;
/// Flows sent for any other case: they must all come to the same end.
const TRIES: u16 = 8;
/// The first client port; each try uses the next.
const FIRST_PORT: u16 = 40000;

/// Runs the subtests of one upstream test; fails naming every case podwire got wrong, with
/// what was expected and what it did.
pub fn check(suites: &[Suite]) {
    let mut report = Report::default();
    for suite in suites {
        run(suite, &mut report);
    }
    println!(
        "{} cases passed, {} failed, {} skipped",
        report.passed,
        report.failed.len(),
        report.skipped.len()
    );
    for skipped in &report.skipped {
        println!("skipped: {skipped}");
    }
    assert!(
        report.failed.is_empty(),
        "{} of {} cases differ from kube-proxy:\n\n{}",
        report.failed.len(),
        report.failed.len() + report.passed,
        report.failed.join("\n\n")
    );
}

#[derive(Default)]
struct Report {
    passed: usize,
    failed: Vec<String>,
    skipped: Vec<String>,
}

fn run(suite: &Suite, report: &mut Report) {
    let label = suite.label();
    if let Some(reason) = suite.skip {
        let cases: usize = suite.phases.iter().map(|p| p.flows.len()).sum();
        report
            .skipped
            .push(format!("{label} ({cases} cases): {reason}"));
        return;
    }
    let mut renderer = ServiceRenderer::new(network::node_nat());
    let mut applied = Vec::new();
    for (n, phase) in suite.phases.iter().enumerate() {
        let statuses = match apply(&mut renderer, &phase.objects, suite.node_name, &mut applied) {
            Ok(statuses) => statuses,
            Err(e) => {
                report.failed.push(format!("{label}, state {n}: {e}"));
                return;
            }
        };
        let tables = network::tables(
            renderer.table(),
            &pod_addresses(&phase.objects, &phase.flows),
        );
        for flow in &phase.flows {
            let case = format!(
                "{label}: {:?} ({} -> {}:{}/{})",
                flow.name, flow.source, flow.dest, flow.port, flow.protocol
            );
            if let Some(reason) = flow.skip {
                report.skipped.push(format!("{case}: {reason}"));
                continue;
            }
            match check_flow(&tables, flow) {
                Ok(()) => report.passed += 1,
                Err(e) => report
                    .failed
                    .push(format!("{case}\n  {e}\n  services: {statuses}")),
            }
        }
    }
}

/// Puts `objects` in force: translates every Service with its slices, applies it, and
/// deletes the Services of the previous state that are gone. Returns each Service's status.
fn apply(
    renderer: &mut ServiceRenderer,
    objects: &[Value],
    node_name: &str,
    applied: &mut Vec<ServiceId>,
) -> Result<String, String> {
    let node = NodeContext {
        node_name: node_name.to_string(),
    };
    let mut ids = Vec::new();
    let mut statuses = Vec::new();
    for object in objects.iter().filter(|o| o["kind"] == "Service") {
        let namespace = object["metadata"]["namespace"].as_str().unwrap_or_default();
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        let service = serde_json::from_value(object.clone())
            .map_err(|e| format!("Service {namespace}/{name} is not a v1 Service: {e}"))?;
        let slices = objects
            .iter()
            .filter(|o| objects::is_slice_of(o, namespace, name))
            .map(|o| serde_json::from_value(o.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("an EndpointSlice of {namespace}/{name} is not one: {e}"))?;
        let slices: Vec<&_> = slices.iter().collect();
        let translation = translate(&service, slices.as_slice(), &node);
        let id = service_id(&service);
        statuses.push(format!("{id} {}", translation.status));
        renderer.apply(&ServiceUpdate {
            id: id.clone(),
            model: translation.model,
        });
        ids.push(id);
    }
    for gone in applied.iter().filter(|id| !ids.contains(id)) {
        renderer.apply(&ServiceUpdate {
            id: gone.clone(),
            model: None,
        });
    }
    *applied = ids;
    Ok(statuses.join("; "))
}

/// The addresses on the pods' link the switch must know the MAC of: every endpoint, and
/// every client that is a pod.
fn pod_addresses(objects: &[Value], flows: &[Flow]) -> Vec<IpAddr> {
    objects::endpoint_addresses(objects)
        .chain(flows.iter().map(|f| f.source))
        .filter_map(|a| a.parse::<IpAddr>().ok())
        .filter(|a| network::on_pods_link(*a))
        .collect()
}

/// Sends the case's packet from several client ports and checks each comes to the expected
/// end.
fn check_flow(tables: &Tables, flow: &Flow) -> Result<(), String> {
    let expect = Expect::parse(flow.output)?;
    let parse = |what: &str, a: &str| {
        a.parse::<IpAddr>()
            .map_err(|e| format!("the case's {what} {a:?}: {e}"))
    };
    let (src, dst) = (
        parse("source", flow.source)?,
        parse("destination", flow.dest)?,
    );
    let rx = network::rx_interface(src);
    let tries = match &expect {
        Expect::Endpoints(e) if e.len() > 1 => SPREAD_TRIES,
        _ => TRIES,
    };
    let mut reached = BTreeSet::new();
    for n in 0..tries {
        let key = FlowKey {
            src,
            dst,
            protocol: flow.protocol.number(),
            src_port: FIRST_PORT + n,
            dst_port: flow.port,
        };
        let seen = network::send(tables, &key, rx);
        if let Err(got) = judge(&expect, flow.masq, &seen.outcome, tables, &key, rx) {
            let masq = match expect {
                Expect::Endpoints(_) if flow.masq => ", masqueraded",
                Expect::Endpoints(_) => ", not masqueraded",
                _ => "",
            };
            return Err(format!(
                "expected: {expect}{masq}\n  got:      {got} (client port {}, in on {}, try {} of \
                 {tries})\n  path:     {}",
                key.src_port,
                network::interface_name(rx),
                n + 1,
                seen.path
            ));
        }
        if let Outcome::Forwarded { to, .. } = seen.outcome {
            reached.insert(to);
        }
    }
    match &expect {
        Expect::Endpoints(e) if e.len() > 1 && reached.len() < 2 => Err(format!(
            "expected: {expect}, spread over them\n  got:      all {tries} flows sent to {}",
            reached
                .iter()
                .map(SocketAddr::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )),
        _ => Ok(()),
    }
}

/// Whether `outcome` is what `expect` (and `masq`) say; else what it was, in words.
fn judge(
    expect: &Expect,
    masq: bool,
    outcome: &Outcome,
    tables: &Tables,
    key: &FlowKey,
    rx: IfIndex,
) -> Result<(), String> {
    let client = SocketAddr::new(key.src, key.src_port);
    match (expect, outcome) {
        (Expect::Endpoints(endpoints), Outcome::Forwarded { from, to, .. }) => {
            if !endpoints.contains(to) {
                return Err(format!("{outcome}: not an endpoint of the case"));
            }
            // A source that is the masquerade address already looks the same masqueraded
            // or not: ask the service table what it decided.
            let (masqueraded, by) = if *from != client {
                (true, "")
            } else if network::is_masquerade_address(key.src) {
                let decided = network::table_masquerades(tables, key, rx).unwrap_or(false);
                (
                    decided,
                    " (as the service table decides: the client is the masquerade address)",
                )
            } else {
                (false, "")
            };
            if masqueraded == masq {
                Ok(())
            } else {
                let how = if masqueraded { "" } else { "not " };
                Err(format!("{outcome}, {how}masqueraded{by}"))
            }
        }
        (Expect::Reject, Outcome::Refused { code }) => {
            let port_unreachable = match key.src {
                IpAddr::V4(_) => icmpv4::dst_unreachable::PORT_UNREACHABLE,
                IpAddr::V6(_) => icmpv6::dst_unreachable::PORT_UNREACHABLE,
            };
            if *code == port_unreachable {
                Ok(())
            } else {
                Err(format!("{outcome}, not port unreachable"))
            }
        }
        (Expect::Drop, Outcome::Dropped { .. }) | (Expect::Untouched, Outcome::Local) => Ok(()),
        (Expect::Untouched, Outcome::Forwarded { to, .. })
            if *to == SocketAddr::new(key.dst, key.dst_port) =>
        {
            Ok(())
        }
        _ => Err(outcome.to_string()),
    }
}
