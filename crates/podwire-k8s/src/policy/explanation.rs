//! The verdict on one connection, with what decided it, for `podwire ctl explain`.
//!
//! The client's egress is judged against the server's address, the server's ingress
//! against the client's (the first pair of addresses of one family). Traffic between a pod
//! and its node, and from a pod to itself, is always allowed: Kubernetes exempts both.
//! When both directions decide, the egress side is named first: it is the one a packet
//! meets first.

use std::net::{IpAddr, Ipv4Addr};

use podwire_model::policy::{DirectionPolicy, Explanation, PodPolicy, PolicyDirection, Verdict};
use podwire_model::service::Protocol;

use super::{Party, evaluate};

/// See [`super::explain`].
pub(super) fn explain(
    from: Party<'_>,
    to: Party<'_>,
    protocol: Protocol,
    port: u16,
) -> Explanation {
    let (src, dst) = addresses(from, to);
    let same_pod = matches!((from, to), (Party::Pod(a), Party::Pod(b))
        if a.namespace == b.namespace && a.name == b.name);
    // The other end is the node, or the pod itself: exempt, whatever isolates the pod.
    let judge = |direction: &DirectionPolicy, remote: IpAddr, other: Party<'_>| match same_pod
        || matches!(other, Party::Node(_))
    {
        true => Verdict {
            allowed: true,
            rule: None,
            isolating: direction.policies.clone(),
        },
        false => evaluate(direction, remote, protocol, port),
    };
    let egress = match from {
        Party::Pod(pod) => Some(judge(&pod.egress, dst, to)),
        _ => None,
    };
    let ingress = match to {
        Party::Pod(pod) => Some(judge(&pod.ingress, src, from)),
        _ => None,
    };

    let allowed = [&egress, &ingress]
        .into_iter()
        .flatten()
        .all(|verdict| verdict.allowed);
    let (policy, rule) = decided_by(&egress, &ingress, allowed);
    let said = Said {
        from,
        to,
        src,
        dst,
        protocol,
        port,
        same_pod,
    };
    let reason = match allowed {
        true => said.allowed(&egress, &ingress),
        false => said.denied(&egress, &ingress),
    };
    Explanation {
        verdict: if allowed { "allow" } else { "deny" }.to_owned(),
        policy,
        rule,
        egress,
        ingress,
        reason,
    }
}

/// The client's and the server's addresses: the first pair of one family, else the first
/// of each.
fn addresses(from: Party<'_>, to: Party<'_>) -> (IpAddr, IpAddr) {
    let (from, to) = (party_addresses(&from), party_addresses(&to));
    let pair = from
        .iter()
        .flat_map(|a| to.iter().map(move |b| (*a, *b)))
        .find(|(a, b)| a.is_ipv6() == b.is_ipv6());
    let unknown = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    pair.unwrap_or_else(|| {
        (
            from.first().copied().unwrap_or(unknown),
            to.first().copied().unwrap_or(unknown),
        )
    })
}

fn party_addresses<'a>(party: &'a Party<'a>) -> &'a [IpAddr] {
    match party {
        Party::Pod(pod) => &pod.addresses,
        Party::Node(ip) | Party::Address(ip) => std::slice::from_ref(ip),
    }
}

/// The policy and rule of [`Explanation`]: the allowing rule (egress first), or for a
/// denial the first isolating policy of the direction that denied (egress first).
fn decided_by(
    egress: &Option<Verdict>,
    ingress: &Option<Verdict>,
    allowed: bool,
) -> (Option<String>, Option<String>) {
    let sides = [
        (egress, PolicyDirection::Egress),
        (ingress, PolicyDirection::Ingress),
    ];
    let mut sides = sides
        .into_iter()
        .filter_map(|(verdict, direction)| Some((verdict.as_ref()?, direction)));
    if allowed {
        let rule = sides.find_map(|(verdict, _)| verdict.rule.as_ref());
        return match rule {
            Some(rule) => (
                Some(rule.policy.to_string()),
                Some(format!("{}[{}]", list_name(rule.direction), rule.index)),
            ),
            None => (None, None),
        };
    }
    match sides.find(|(verdict, _)| !verdict.allowed) {
        Some((verdict, direction)) => (
            verdict.isolating.first().map(ToString::to_string),
            Some(list_name(direction).to_owned()),
        ),
        None => (None, None),
    }
}

fn list_name(direction: PolicyDirection) -> &'static str {
    match direction {
        PolicyDirection::Ingress => "ingress",
        PolicyDirection::Egress => "egress",
    }
}

/// What the reason line speaks of.
struct Said<'a> {
    from: Party<'a>,
    to: Party<'a>,
    src: IpAddr,
    dst: IpAddr,
    protocol: Protocol,
    port: u16,
    same_pod: bool,
}

impl Said<'_> {
    /// `denied: x/b's ingress is isolated by x/deny-all and no rule allows TCP 80 from
    /// 10.0.0.5` (both sides, `; `-separated, when both deny).
    fn denied(&self, egress: &Option<Verdict>, ingress: &Option<Verdict>) -> String {
        let (protocol, port) = (self.protocol, self.port);
        let mut parts = Vec::new();
        if let (Party::Pod(pod), Some(verdict)) = (self.from, egress)
            && !verdict.allowed
        {
            parts.push(format!(
                "{}'s egress is isolated by {} and no rule allows {protocol} {port} to {}",
                pod_name(pod),
                policy_list(verdict),
                self.dst
            ));
        }
        if let (Party::Pod(pod), Some(verdict)) = (self.to, ingress)
            && !verdict.allowed
        {
            parts.push(format!(
                "{}'s ingress is isolated by {} and no rule allows {protocol} {port} from {}",
                pod_name(pod),
                policy_list(verdict),
                self.src
            ));
        }
        format!("denied: {}", parts.join("; "))
    }

    /// `allowed: ` and what allowed each side: a rule, no isolation, or an exemption.
    fn allowed(&self, egress: &Option<Verdict>, ingress: &Option<Verdict>) -> String {
        if self.same_pod
            && let Party::Pod(pod) = self.from
        {
            return format!("allowed: {} always reaches itself", pod_name(pod));
        }
        let mut parts = Vec::new();
        if let (Party::Pod(pod), Some(verdict)) = (self.from, egress) {
            let name = pod_name(pod);
            parts.push(match (self.to, &verdict.rule) {
                (Party::Node(ip), _) => format!("{name} always reaches its node ({ip})"),
                (_, Some(rule)) => format!("{name}'s egress allows it by {rule}"),
                (_, None) => format!("no policy selects {name} for egress"),
            });
        }
        if let (Party::Pod(pod), Some(verdict)) = (self.to, ingress) {
            let name = pod_name(pod);
            parts.push(match (self.from, &verdict.rule) {
                (Party::Node(ip), _) => format!("{name} is always reachable from its node ({ip})"),
                (_, Some(rule)) => format!("{name}'s ingress allows it by {rule}"),
                (_, None) => format!("no policy selects {name} for ingress"),
            });
        }
        if parts.is_empty() {
            return format!(
                "allowed: neither {} nor {} is a pod of this node, so no policy applies",
                self.src, self.dst
            );
        }
        format!("allowed: {}", parts.join(" and "))
    }
}

fn pod_name(pod: &PodPolicy) -> String {
    format!("{}/{}", pod.namespace, pod.name)
}

fn policy_list(verdict: &Verdict) -> String {
    let names: Vec<String> = verdict.isolating.iter().map(ToString::to_string).collect();
    names.join(", ")
}
