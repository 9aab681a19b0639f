//! `ip4-nat-in` / `ip6-nat-in`: sessions and Service decisions, before the route lookup (see
//! the module's documentation).

use core::net::SocketAddr;

use crate::buffer::BufferIndex;
use crate::graph::{Context, Dispatch, Node};
use crate::icmp_error::IcmpError;
use crate::interface::IfIndex;
use crate::nat::flow::FlowKey;
use crate::nat::service::{Decision, DropCause, Frontend, cidrs_contain};
use crate::nat::session::{Direction, ServiceBinding, SessionError, SessionId};
use crate::nodes::policy::{self, Connection};
use crate::policy::table::{Denied, DeniedBy, PolicyVerdict};
use crate::policy::tier::Tier;
use crate::state::WorkerState;
use crate::tables::Tables;

use super::nat_out::will_masquerade;
use super::packet::{self, Headers, Parsed, Transport};
use super::rewrite::{rewrite_packet, show, translate_error};
use super::snat::{unclaim, with_free_port};

/// Where `ip*-nat-in` sends packets: a position in [`NEXT4`] / [`NEXT6`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Next {
    /// Tracked: allowed when its session was made.
    Lookup,
    IcmpError,
    /// No flow to read (no ports, an ICMP error about no session): the policies decide on
    /// its addresses.
    Policy,
}

impl From<Next> for usize {
    fn from(next: Next) -> usize {
        next as usize
    }
}

const NEXT4: &[&str] = &["ip4-lookup", "ip4-icmp-error", "ip4-policy"];
const NEXT6: &[&str] = &["ip6-lookup", "ip6-icmp-error", "ip6-policy"];

crate::drop_reasons! {
    pub enum InDrop {
        SourceRange => ("source-range", "a new flow to a LoadBalancer address from a source outside the Service's loadBalancerSourceRanges: add the source's range there if it should get in"),
        NoLocalEndpoint => ("no-local-endpoint", "a new flow to a Service whose traffic policy is Local (internalTrafficPolicy or externalTrafficPolicy) and which has no endpoint on this node: send it to a node that has one"),
        UnallocatedServiceIp => ("unallocated-service-ip", "to an address in a Service CIDR that no Service has: check the Service's clusterIP, or services.cidrs"),
        NoMasqueradeAddress => ("no-masquerade-address", "a new flow to a Service must be masqueraded (hairpin, from the node, from outside) and the node has no masquerade address of its IP version: set services.node_addresses"),
        NoFreePort => ("no-free-port", "no free source port to masquerade a new flow with (128 of 32768-60999 tried): too many flows from one masquerade address to one endpoint"),
        SessionTableFull => ("session-table-full", "a new flow needs a session and the table is full of live ones: raise services.sessions_per_worker"),
        SessionClash => ("session-clash", "a new flow's translation is tracked by another session already (a podwire bug)"),
        BadTranslation => ("bad-translation", "a session or a Service translates to an address of the other IP version (a podwire bug)"),
        PolicyDeniedEgress => ("policy-denied-egress", "a new flow from a pod whose egress NetworkPolicies allow no such connection (to a Service: checked with the endpoint chosen): add an egress rule for its destination (a Service's endpoint pod) and port if it should pass (`podwire ctl explain` says which policies isolate the pod)"),
        PolicyDeniedIngress => ("policy-denied-ingress", "a new flow to a pod (a Service's endpoint chosen) whose ingress NetworkPolicies allow no such connection: add an ingress rule for its source and port (a Service's target port) if it should pass (`podwire ctl explain` says which policies isolate the pod)"),
        PolicyDeniedAdminEgress => ("policy-denied-admin-egress", "a new flow from a pod refused by an egress Deny rule of an Admin-tier ClusterNetworkPolicy (to a Service: checked with the endpoint chosen), which no NetworkPolicy can override: change that rule, or put an Accept or Pass rule before it, if it should pass (`podwire ctl explain` names the rule)"),
        PolicyDeniedAdminIngress => ("policy-denied-admin-ingress", "a new flow to a pod (a Service's endpoint chosen) refused by an ingress Deny rule of an Admin-tier ClusterNetworkPolicy, which no NetworkPolicy can override: change that rule, or put an Accept or Pass rule before it, if it should pass (`podwire ctl explain` names the rule)"),
        PolicyDeniedBaselineEgress => ("policy-denied-baseline-egress", "a new flow from a pod that no NetworkPolicy isolates for egress, refused by an egress Deny rule of a Baseline-tier ClusterNetworkPolicy (to a Service: checked with the endpoint chosen): a NetworkPolicy allowing it, or an Accept rule before that one, lets it pass (`podwire ctl explain` names the rule)"),
        PolicyDeniedBaselineIngress => ("policy-denied-baseline-ingress", "a new flow to a pod (a Service's endpoint chosen) that no NetworkPolicy isolates for ingress, refused by an ingress Deny rule of a Baseline-tier ClusterNetworkPolicy: a NetworkPolicy allowing it, or an Accept rule before that one, lets it pass (`podwire ctl explain` names the rule)"),
    }
}

/// The `ip4-nat-in` node (`V6 = false`) or the `ip6-nat-in` node.
#[derive(Debug, Default)]
pub struct NatIn<const V6: bool>;

/// The `ip4-nat-in` node.
pub type Ip4NatIn = NatIn<false>;
/// The `ip6-nat-in` node.
pub type Ip6NatIn = NatIn<true>;

/// What becomes of a packet.
enum Verdict {
    Next(Next),
    Drop(InDrop),
}

impl<const V6: bool> Node for NatIn<V6> {
    fn name(&self) -> &'static str {
        if V6 { "ip6-nat-in" } else { "ip4-nat-in" }
    }

    fn next_nodes(&self) -> &'static [&'static str] {
        if V6 { NEXT6 } else { NEXT4 }
    }

    fn drop_reasons(&self) -> &'static [crate::counters::DropReason] {
        InDrop::ALL
    }

    fn process(&mut self, cx: &mut Context<'_>, packets: &[BufferIndex], out: &mut Dispatch) {
        let tables = cx.tables;
        if idle(cx.state, tables) {
            for &bi in packets {
                out.send(Next::Lookup, bi);
            }
            return;
        }
        for &bi in packets {
            match inbound::<V6>(cx, tables, bi) {
                Verdict::Next(next) => out.send(next, bi),
                Verdict::Drop(reason) => out.drop(bi, reason),
            }
        }
    }
}

/// Where a packet with no flow to read goes on to: the policy check, unless no pod has a
/// policy.
fn untracked(tables: &Tables) -> Next {
    if tables.policies.is_empty() {
        Next::Lookup
    } else {
        Next::Policy
    }
}

/// Whether no packet can have anything to do here: no session to find, no Service address
/// to decide on, no masquerading interface to track flows in from, no pod with policies to
/// check new flows for. Nothing in the vector can change that, so it is asked once per
/// vector.
fn idle(state: &WorkerState, tables: &Tables) -> bool {
    let services = &*tables.services;
    state.sessions.counters().active == 0
        && services.is_empty()
        && services.node().service_cidrs.is_empty()
        && !tables.interfaces.iter().any(|i| i.masquerade)
        && tables.policies.is_empty()
}

fn inbound<const V6: bool>(cx: &mut Context<'_>, tables: &Tables, bi: BufferIndex) -> Verdict {
    match packet::parse(cx.pool.data(bi), V6) {
        Parsed::Opaque(why) => {
            cx.note(bi, || format!("untouched: {why}"));
            Verdict::Next(untracked(tables))
        }
        Parsed::Error {
            icmp,
            quoted_at,
            quoted,
        } => error::<V6>(cx, tables, bi, icmp, quoted_at, &quoted),
        Parsed::Packet {
            headers,
            tcp_flags,
            starts_flow,
        } => match cx.state.sessions.lookup(&headers.key, cx.now) {
            Some((id, dir)) => tracked(cx, bi, &headers, id, dir, tcp_flags),
            None => new_flow::<V6>(cx, tables, bi, &headers, tcp_flags, starts_flow),
        },
    }
}

/// A packet of session `id`, going `dir`: translated as the session says.
fn tracked(
    cx: &mut Context<'_>,
    bi: BufferIndex,
    headers: &Headers,
    id: SessionId,
    dir: Direction,
    tcp_flags: u8,
) -> Verdict {
    let endpoints = cx.state.sessions.get(id).rewrite(dir);
    if rewrite_packet(cx.pool, bi, headers, endpoints).is_err() {
        return Verdict::Drop(InDrop::BadTranslation);
    }
    cx.state.sessions.observe(id, dir, tcp_flags, cx.now);
    cx.pool.meta_mut(bi).tracked = true;
    cx.note(bi, || {
        format!("session {}, {dir:?}: {}", id.0, show(endpoints))
    });
    Verdict::Next(Next::Lookup)
}

/// An ICMP error about the quoted packet `quoted`: if the quoted packet is of a session (it
/// left translated), the error goes back to that packet's sender, translated back.
fn error<const V6: bool>(
    cx: &mut Context<'_>,
    tables: &Tables,
    bi: BufferIndex,
    icmp: usize,
    quoted_at: usize,
    quoted: &Headers,
) -> Verdict {
    // The error travels the way the answers to the quoted packet do.
    let Some((id, dir)) = cx.state.sessions.lookup(&quoted.key.reversed(), cx.now) else {
        cx.note(bi, || {
            "ICMP error about an untracked flow: untouched".into()
        });
        return Verdict::Next(untracked(tables));
    };
    let reply = cx.state.sessions.get(id).rewrite(dir);
    let data = cx.pool.data_mut(bi);
    if translate_error(data, V6, icmp, quoted_at, quoted, reply).is_err() {
        return Verdict::Drop(InDrop::BadTranslation);
    }
    cx.pool.meta_mut(bi).tracked = true;
    cx.note(bi, || {
        format!(
            "ICMP error about session {}: to {}, quoting {}:{} → {}:{}",
            id.0, reply.1.0, reply.1.0, reply.1.1, reply.0.0, reply.0.1
        )
    });
    Verdict::Next(Next::Lookup)
}

/// The first packet of a flow: what the Services say of it.
fn new_flow<const V6: bool>(
    cx: &mut Context<'_>,
    tables: &Tables,
    bi: BufferIndex,
    headers: &Headers,
    tcp_flags: u8,
    starts_flow: bool,
) -> Verdict {
    let services = &*tables.services;
    // kube-proxy does not load-balance ICMP: a ping to a Service address is nobody's.
    if headers.transport == Transport::Echo {
        return untranslated(cx, tables, bi, headers, tcp_flags, starts_flow);
    }
    let rx_if = cx.pool.meta(bi).rx_if;
    let decision = services.decide(&headers.key, rx_if, &mut cx.state.affinity, cx.now);
    match decision {
        Decision::NotAService => untranslated(cx, tables, bi, headers, tcp_flags, starts_flow),
        Decision::Forward {
            frontend,
            endpoint,
            masquerade,
        } => {
            let to = Forward {
                frontend,
                endpoint,
                masquerade,
            };
            forward::<V6>(cx, tables, bi, headers, tcp_flags, to)
        }
        Decision::Reject(cause) => {
            cx.note(bi, || format!("rejected: {cause:?}"));
            cx.pool.meta_mut(bi).next_index = IcmpError::PortUnreachable.encode();
            Verdict::Next(Next::IcmpError)
        }
        Decision::Drop(cause) => {
            cx.note(bi, || format!("dropped: {cause:?}"));
            Verdict::Drop(match cause {
                DropCause::SourceRange => InDrop::SourceRange,
                DropCause::NoLocalEndpoint => InDrop::NoLocalEndpoint,
                DropCause::Unallocated => InDrop::UnallocatedServiceIp,
            })
        }
    }
}

/// Where a Service sends a new flow.
struct Forward<'t> {
    frontend: &'t Frontend,
    endpoint: SocketAddr,
    masquerade: bool,
}

/// DNATs the first packet of a flow to its endpoint, masquerading it if asked, and makes
/// its session.
fn forward<const V6: bool>(
    cx: &mut Context<'_>,
    tables: &Tables,
    bi: BufferIndex,
    headers: &Headers,
    tcp_flags: u8,
    to: Forward<'_>,
) -> Verdict {
    let services = &*tables.services;
    let key = headers.key;
    let src = if to.masquerade {
        match services.masquerade_address(V6) {
            Some(address) => address,
            None => return Verdict::Drop(InDrop::NoMasqueradeAddress),
        }
    } else {
        key.src
    };
    if to.endpoint.is_ipv6() != V6 || src.is_ipv6() != V6 {
        return Verdict::Drop(InDrop::BadTranslation);
    }
    let wanted = FlowKey {
        src,
        dst: to.endpoint.ip(),
        src_port: key.src_port,
        dst_port: to.endpoint.port(),
        ..key
    };
    // Policies see the endpoint, and the client as it is (before any masquerade).
    let connection = Connection {
        src: key.src,
        dst: to.endpoint.ip(),
        protocol: key.protocol,
        port: to.endpoint.port(),
    };
    let allowed = match allowed(cx, tables, bi, &connection) {
        Ok(allowed) => allowed,
        Err(reason) => return Verdict::Drop(reason),
    };
    let state = &mut *cx.state;
    let Some(translated) = with_free_port(
        &state.sessions,
        state.snat_claims.as_ref(),
        &key,
        wanted,
        cx.now,
    ) else {
        return Verdict::Drop(InDrop::NoFreePort);
    };
    let binding = ServiceBinding {
        service_port: to.frontend.service_port,
        endpoint: to.endpoint,
    };
    if let Err(e) = state
        .sessions
        .insert(key, translated, Some(binding), tcp_flags, cx.now)
    {
        unclaim(state, &translated);
        return Verdict::Drop(session_refused(e));
    }
    policy::count(cx, tables, bi, allowed);
    let endpoints = (
        (translated.src, translated.src_port),
        (translated.dst, translated.dst_port),
    );
    if rewrite_packet(cx.pool, bi, headers, endpoints).is_err() {
        return Verdict::Drop(InDrop::BadTranslation);
    }
    cx.pool.meta_mut(bi).tracked = true;
    cx.note(bi, || {
        let masquerade = if to.masquerade { ", masqueraded" } else { "" };
        format!("{}: {}{masquerade}", to.frontend.name, show(endpoints))
    });
    Verdict::Next(Next::Lookup)
}

/// A flow no Service translates: checked against the policies, and tracked (as it is) when
/// its replies need a session: when a pod with policies is at either end (unless
/// `ip*-nat-out` will masquerade it: the masquerade's session carries its replies), and
/// when it comes in by a masquerading interface from outside the cluster to a pod (so that
/// `ip*-nat-out` recognizes the pod's answers and does not masquerade them).
fn untranslated(
    cx: &mut Context<'_>,
    tables: &Tables,
    bi: BufferIndex,
    headers: &Headers,
    tcp_flags: u8,
    starts_flow: bool,
) -> Verdict {
    let key = headers.key;
    let from_outside = starts_flow && enters_from_outside(tables, cx.pool.meta(bi).rx_if, &key);
    if !from_outside && tables.policies.is_empty() {
        return Verdict::Next(Next::Lookup);
    }
    let verdict = match allowed(cx, tables, bi, &Connection::of(headers)) {
        Ok(verdict) => verdict,
        Err(reason) => return Verdict::Drop(reason),
    };
    let restricted = verdict != PolicyVerdict::Unrestricted;
    if from_outside || (restricted && starts_flow && !will_masquerade(tables, &key)) {
        if let Err(e) = cx.state.sessions.insert(key, key, None, tcp_flags, cx.now) {
            return Verdict::Drop(session_refused(e));
        }
        cx.pool.meta_mut(bi).tracked = true;
    }
    policy::count(cx, tables, bi, verdict);
    if from_outside {
        cx.note(bi, || "from outside to a pod: tracked untranslated".into());
    }
    Verdict::Next(Next::Lookup)
}

/// Whether a new flow `key` in by interface `rx_if` comes from outside the cluster to a pod
/// through a masquerading interface.
fn enters_from_outside(tables: &Tables, rx_if: IfIndex, key: &FlowKey) -> bool {
    let masquerading = tables.interface(rx_if).is_some_and(|c| c.masquerade);
    let cluster = &tables.services.node().cluster_cidrs;
    masquerading && cidrs_contain(cluster, key.dst) && !cidrs_contain(cluster, key.src)
}

/// The policies' verdict on a new flow, unless it is denied: then the drop reason. The rules
/// that allowed it are counted once its session is made.
fn allowed(
    cx: &mut Context<'_>,
    tables: &Tables,
    bi: BufferIndex,
    connection: &Connection,
) -> Result<PolicyVerdict, InDrop> {
    if tables.policies.is_empty() {
        return Ok(PolicyVerdict::Unrestricted);
    }
    match policy::check(cx, tables, bi, connection) {
        PolicyVerdict::Denied { side, by, .. } => Err(policy_denied(side, by)),
        verdict => Ok(verdict),
    }
}

/// The drop reason of a new flow `side` refused, because of `by`.
fn policy_denied(side: Denied, by: DeniedBy) -> InDrop {
    match (side, by) {
        (Denied::Egress, DeniedBy::Isolation) => InDrop::PolicyDeniedEgress,
        (Denied::Ingress, DeniedBy::Isolation) => InDrop::PolicyDeniedIngress,
        (Denied::Egress, DeniedBy::Rule(Tier::Admin, _)) => InDrop::PolicyDeniedAdminEgress,
        (Denied::Ingress, DeniedBy::Rule(Tier::Admin, _)) => InDrop::PolicyDeniedAdminIngress,
        (Denied::Egress, DeniedBy::Rule(Tier::Baseline, _)) => InDrop::PolicyDeniedBaselineEgress,
        (Denied::Ingress, DeniedBy::Rule(Tier::Baseline, _)) => InDrop::PolicyDeniedBaselineIngress,
    }
}

/// The drop reason of a session the table refused.
fn session_refused(e: SessionError) -> InDrop {
    match e {
        SessionError::Full { .. } => InDrop::SessionTableFull,
        SessionError::Exists => InDrop::SessionClash,
    }
}
