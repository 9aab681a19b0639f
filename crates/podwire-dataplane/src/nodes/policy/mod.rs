//! NetworkPolicies and ClusterNetworkPolicies for new connections, before the route lookup:
//! the check ([`check`]), and the `ip4-policy` / `ip6-policy` nodes.
//!
//! ```text
//! ip*-input → ip*-nat-in → ip*-policy → ip*-lookup → ip*-nat-out → ip*-rewrite
//! ```
//!
//! A packet `ip*-nat-in` tracked (a session's, or an ICMP error about one: related traffic)
//! was allowed when its session was made and goes by. A new flow is checked by `ip*-nat-in`
//! itself, where it is read once: a Service's after the endpoint is chosen (a policy sees
//! the backend pod and its port), any other as it is. The check
//! ([`PolicyTable::check`](crate::policy::table::PolicyTable::check)) asks the client's
//! egress, then the server's ingress:
//!
//! - Denied: dropped, for the direction that refused it and what did (a ClusterNetworkPolicy
//!   Deny rule of either tier, or NetworkPolicy isolation).
//! - Allowed with a pod with policies at either end: the first packet of a flow gets a
//!   session (without translation unless a Service's), so that the replies (and ICMP errors
//!   about the flow) are tracked and pass the other side's policies. A flow that
//!   `ip*-nat-out` will masquerade gets no session before the route lookup: the
//!   masquerade's carries its replies.
//! - Neither end a pod with policies: passes, nothing remembered.
//!
//! The rules that decided a connection (allowed or denied it) and the Pass rules it matched
//! on the way are counted per worker
//! ([`WorkerState::policy_hits`](crate::state::WorkerState::policy_hits)): a denied one when
//! it is refused, an allowed one once its session is made.
//!
//! The node itself is the client or the server when the packet came in by the host
//! interface or one side is a node address; it always reaches its pods, and they it. So
//! are IPv6 link-local and multicast addresses (neighbor discovery with the gateway).
//!
//! `ip*-policy` sees what `ip*-nat-in` has no flow of: a packet with no ports to read (a
//! protocol other than TCP, UDP, SCTP, a later fragment, an ICMP message other than echo,
//! an ICMP error about no session). It is checked with port 0 and passes or not on its own:
//! no session remembers it. A packet the switch made goes by. Policies change what new
//! connections may do; sessions made before a change live on.

#[cfg(test)]
mod tests;

use core::net::IpAddr;

use crate::buffer::BufferIndex;
use crate::graph::{Context, Dispatch, Node};
use crate::nodes::nat::{Headers, Transport, addresses};
use crate::policy::classifier::RuleSlot;
use crate::policy::table::{Action, Denied, DeniedBy, PolicyTable, PolicyVerdict};
use crate::policy::tier::Tier;
use crate::tables::Tables;

/// Where `ip*-policy` sends packets: a position in [`NEXT4`] / [`NEXT6`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Next {
    Lookup,
}

impl From<Next> for usize {
    fn from(next: Next) -> usize {
        next as usize
    }
}

const NEXT4: &[&str] = &["ip4-lookup"];
const NEXT6: &[&str] = &["ip6-lookup"];

crate::drop_reasons! {
    pub enum PolicyDrop {
        DeniedEgress => ("policy-denied-egress", "a new connection from a pod whose egress NetworkPolicies allow no such connection: add an egress rule for its destination and port if it should pass (`podwire ctl explain` says which policies isolate the pod)"),
        DeniedIngress => ("policy-denied-ingress", "a new connection to a pod whose ingress NetworkPolicies allow no such connection: add an ingress rule for its source and port if it should pass (`podwire ctl explain` says which policies isolate the pod)"),
        DeniedAdminEgress => ("policy-denied-admin-egress", "a new connection from a pod refused by an egress Deny rule of an Admin-tier ClusterNetworkPolicy, which no NetworkPolicy can override: change that rule, or put an Accept or Pass rule before it, if it should pass (`podwire ctl explain` names the rule)"),
        DeniedAdminIngress => ("policy-denied-admin-ingress", "a new connection to a pod refused by an ingress Deny rule of an Admin-tier ClusterNetworkPolicy, which no NetworkPolicy can override: change that rule, or put an Accept or Pass rule before it, if it should pass (`podwire ctl explain` names the rule)"),
        DeniedBaselineEgress => ("policy-denied-baseline-egress", "a new connection from a pod that no NetworkPolicy isolates for egress, refused by an egress Deny rule of a Baseline-tier ClusterNetworkPolicy: a NetworkPolicy allowing it, or an Accept rule before that one, lets it pass (`podwire ctl explain` names the rule)"),
        DeniedBaselineIngress => ("policy-denied-baseline-ingress", "a new connection to a pod that no NetworkPolicy isolates for ingress, refused by an ingress Deny rule of a Baseline-tier ClusterNetworkPolicy: a NetworkPolicy allowing it, or an Accept rule before that one, lets it pass (`podwire ctl explain` names the rule)"),
    }
}

impl PolicyDrop {
    /// The reason for a connection `side` refused, because of `by`.
    fn denied(side: Denied, by: DeniedBy) -> Self {
        match (side, by) {
            (Denied::Egress, DeniedBy::Isolation) => PolicyDrop::DeniedEgress,
            (Denied::Ingress, DeniedBy::Isolation) => PolicyDrop::DeniedIngress,
            (Denied::Egress, DeniedBy::Rule(Tier::Admin, _)) => PolicyDrop::DeniedAdminEgress,
            (Denied::Ingress, DeniedBy::Rule(Tier::Admin, _)) => PolicyDrop::DeniedAdminIngress,
            (Denied::Egress, DeniedBy::Rule(Tier::Baseline, _)) => PolicyDrop::DeniedBaselineEgress,
            (Denied::Ingress, DeniedBy::Rule(Tier::Baseline, _)) => {
                PolicyDrop::DeniedBaselineIngress
            }
        }
    }
}

/// The `ip4-policy` node (`V6 = false`) or the `ip6-policy` node.
#[derive(Debug, Default)]
pub struct PolicyNode<const V6: bool>;

/// The `ip4-policy` node.
pub type Ip4Policy = PolicyNode<false>;
/// The `ip6-policy` node.
pub type Ip6Policy = PolicyNode<true>;

impl<const V6: bool> Node for PolicyNode<V6> {
    fn name(&self) -> &'static str {
        if V6 { "ip6-policy" } else { "ip4-policy" }
    }

    fn next_nodes(&self) -> &'static [&'static str] {
        if V6 { NEXT6 } else { NEXT4 }
    }

    fn drop_reasons(&self) -> &'static [crate::counters::DropReason] {
        PolicyDrop::ALL
    }

    fn process(&mut self, cx: &mut Context<'_>, packets: &[BufferIndex], out: &mut Dispatch) {
        let tables = cx.tables;
        // No pod has a policy: asked once per vector.
        if tables.policies.is_empty() {
            for &bi in packets {
                out.send(Next::Lookup, bi);
            }
            return;
        }
        for &bi in packets {
            if cx.pool.meta(bi).originated {
                out.send(Next::Lookup, bi);
                continue;
            }
            match portless::<V6>(cx, tables, bi) {
                Ok(()) => out.send(Next::Lookup, bi),
                Err(reason) => out.drop(bi, reason),
            }
        }
    }
}

/// A packet without ports to read: checked with port 0, not tracked.
fn portless<const V6: bool>(
    cx: &mut Context<'_>,
    tables: &Tables,
    bi: BufferIndex,
) -> Result<(), PolicyDrop> {
    // No whole IP header: `ip*-lookup` drops it.
    let Ok((src, dst, protocol)) = addresses(cx.pool.data(bi), V6) else {
        return Ok(());
    };
    let connection = Connection {
        src,
        dst,
        protocol,
        port: 0,
    };
    match check(cx, tables, bi, &connection) {
        PolicyVerdict::Denied { side, by, .. } => Err(PolicyDrop::denied(side, by)),
        verdict => {
            count(cx, tables, bi, verdict);
            Ok(())
        }
    }
}

/// A new connection as the policies see it: after any Service translation.
pub(crate) struct Connection {
    /// The client.
    pub src: IpAddr,
    /// The server: a Service's endpoint, not its address.
    pub dst: IpAddr,
    /// The IP protocol.
    pub protocol: u8,
    /// The server's port; 0 for protocols without ports.
    pub port: u16,
}

impl Connection {
    /// The connection a parsed packet starts, as it is (no translation): ICMP echo has no
    /// port (0).
    pub(crate) fn of(headers: &Headers) -> Connection {
        let key = headers.key;
        Connection {
            src: key.src,
            dst: key.dst,
            protocol: key.protocol,
            port: match headers.transport {
                Transport::Echo => 0,
                _ => key.dst_port,
            },
        }
    }
}

/// The policies' verdict on `connection`, whose packet `bi` is. A denial is counted (the
/// rules that matched) and noted for the trace here: nothing comes after it.
pub(crate) fn check(
    cx: &mut Context<'_>,
    tables: &Tables,
    bi: BufferIndex,
    connection: &Connection,
) -> PolicyVerdict {
    let node = tables.services.node();
    let is_node = |addr: IpAddr| node.node_addresses.contains(&addr) || link_scoped(addr);
    let from_node = node.host_interface == Some(cx.pool.meta(bi).rx_if) || is_node(connection.src);
    let to_node = is_node(connection.dst);
    let c = connection;
    let policies = &*tables.policies;
    let verdict = policies.check(c.src, c.dst, c.protocol, c.port, from_node, to_node);
    if let PolicyVerdict::Denied { side, by, .. } = verdict {
        for slot in verdict.slots() {
            cx.state.policy_hits.count(policies, slot);
        }
        cx.note(bi, || {
            let (pod, direction, remote) = match side {
                Denied::Egress => (c.src, "egress", c.dst),
                Denied::Ingress => (c.dst, "ingress", c.src),
            };
            match by {
                DeniedBy::Isolation => {
                    let name = policies.pods.get(&pod).map(|p| p.name.clone());
                    format!(
                        "denied: no {direction} rule of {} allows protocol {} port {} with {remote}",
                        name.as_deref().unwrap_or("?"),
                        c.protocol,
                        c.port
                    )
                }
                DeniedBy::Rule(_, slot) => format!("denied by {}", describe(policies, slot)),
            }
        });
    }
    verdict
}

/// A rule for traces: `namespace/policy ingress[0] (namespace/pod)` for a NetworkPolicy
/// rule, with its tier and action before the pod for a ClusterNetworkPolicy's.
fn describe(policies: &PolicyTable, slot: RuleSlot) -> String {
    match policies.rules.get(slot.0 as usize) {
        Some(info) if info.action == Action::Allow => format!("{} ({})", info.rule, info.pod),
        Some(info) => format!("{} ({}, {})", info.rule, info.action, info.pod),
        None => format!("rule {}", slot.0),
    }
}

/// Whether an address is IPv6 link-local or multicast: the switch's neighbor discovery with
/// a pod, never a connection between pods.
fn link_scoped(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(_) => false,
        IpAddr::V6(a) => a.is_unicast_link_local() || a.is_multicast(),
    }
}

/// Counts the rules that decided the allowed connection packet `bi` starts and the Pass
/// rules it matched, and notes them; nothing for a verdict other than
/// [`PolicyVerdict::Allowed`].
pub(crate) fn count(
    cx: &mut Context<'_>,
    tables: &Tables,
    bi: BufferIndex,
    verdict: PolicyVerdict,
) {
    let PolicyVerdict::Allowed { egress, ingress } = verdict else {
        return;
    };
    let policies = &*tables.policies;
    for slot in verdict.slots() {
        cx.state.policy_hits.count(policies, slot);
    }
    cx.note(bi, || {
        let rules: Vec<String> = [egress.rule, ingress.rule]
            .into_iter()
            .flatten()
            .map(|slot| describe(policies, slot))
            .collect();
        let passed: Vec<String> = [egress, ingress]
            .iter()
            .flat_map(|d| d.passed.into_iter().flatten())
            .map(|slot| describe(policies, slot))
            .collect();
        let decided = match rules.is_empty() {
            true => "allowed: no rule decided it".to_owned(),
            false => format!("allowed by {}", rules.join(" and ")),
        };
        match passed.is_empty() {
            true => decided,
            false => format!("{decided}, after passing on {}", passed.join(" and ")),
        }
    });
}
