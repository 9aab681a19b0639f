//! The verdict on one connection, with what decided it, for `podwire ctl explain`.
//!
//! The client's egress is judged against the server's address, the server's ingress
//! against the client's (the first pair of addresses of one family), each through the
//! Admin tier, NetworkPolicies and the Baseline tier: an egress Accept does not bypass the
//! server's ingress. Traffic between a pod and its node, and from a pod to itself, is always
//! allowed: Kubernetes exempts both. When both directions decide, the egress side is named
//! first: it is the one a packet meets first.

use std::net::{IpAddr, Ipv4Addr};

use podwire_model::policy::{
    DirectionPolicy, Explanation, PodPolicy, PolicyDirection, RuleId, Tier, Verdict,
};
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
            tier: None,
            passed: Vec::new(),
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

/// The policy and rule of [`Explanation`]: the rule that allowed (egress first), or for a
/// denial, on the direction that denied (egress first), its Deny rule, else its first
/// isolating NetworkPolicy and the direction.
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
    let named = |rule: &RuleId| {
        (
            Some(rule.policy.to_string()),
            Some(format!("{}[{}]", list_name(rule.direction), rule.index)),
        )
    };
    if allowed {
        return match sides.find_map(|(verdict, _)| verdict.rule.as_ref()) {
            Some(rule) => named(rule),
            None => (None, None),
        };
    }
    match sides.find(|(verdict, _)| !verdict.allowed) {
        Some((verdict, direction)) => match &verdict.rule {
            Some(rule) => named(rule),
            None => (
                verdict.isolating.first().map(ToString::to_string),
                Some(list_name(direction).to_owned()),
            ),
        },
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

/// One judged direction of a pod of this node.
struct Side<'a> {
    pod: &'a PodPolicy,
    direction: PolicyDirection,
    verdict: &'a Verdict,
    /// The other end is the node: exempt.
    node: Option<IpAddr>,
}

impl Side<'_> {
    fn policy(&self) -> &DirectionPolicy {
        match self.direction {
            PolicyDirection::Ingress => &self.pod.ingress,
            PolicyDirection::Egress => &self.pod.egress,
        }
    }

    /// `x/b's ingress`.
    fn subject(&self) -> String {
        format!("{}'s {}", pod_name(self.pod), list_name(self.direction))
    }

    /// The Pass rule of `tier` that matched on the way.
    fn passed(&self, tier: Tier) -> Option<&RuleId> {
        let rules = match tier {
            Tier::Admin => &self.policy().admin,
            Tier::Baseline => &self.policy().baseline,
        };
        let in_tier = |id: &&RuleId| rules.iter().any(|rule| rule.rule.id == **id);
        self.verdict.passed.iter().find(in_tier)
    }

    /// `, after <rule> passed it to NetworkPolicies` when an Admin Pass rule matched.
    fn after_admin_pass(&self) -> String {
        self.passed(Tier::Admin)
            .map(|rule| format!(", after {rule} passed it to NetworkPolicies"))
            .unwrap_or_default()
    }

    /// Why nothing decided, tier by tier.
    fn undecided(&self) -> String {
        let name = pod_name(self.pod);
        let direction = list_name(self.direction);
        let policy = self.policy();
        if !policy.restricted() {
            return format!("no policy selects {name} for {direction}");
        }
        let mut parts = Vec::new();
        match self.passed(Tier::Admin) {
            Some(rule) => parts.push(format!(
                "{rule} passed {} to NetworkPolicies",
                self.subject()
            )),
            None if !policy.admin.is_empty() => {
                parts.push(format!("no Admin rule matches {}", self.subject()));
            }
            None => {}
        }
        parts.push(match parts.is_empty() {
            true => format!("no NetworkPolicy isolates {name} for {direction}"),
            false => "no NetworkPolicy isolates it".to_owned(),
        });
        match self.passed(Tier::Baseline) {
            Some(rule) => parts.push(format!("{rule} passed the rest of the Baseline tier")),
            None if !policy.baseline.is_empty() => parts.push("no Baseline rule matches".into()),
            None => {}
        }
        parts.join(", ")
    }
}

impl<'a> Said<'a> {
    /// The directions judged: the client's egress, then the server's ingress.
    fn sides(&self, egress: &'a Option<Verdict>, ingress: &'a Option<Verdict>) -> Vec<Side<'a>> {
        let node = |party: Party<'_>| match party {
            Party::Node(ip) => Some(ip),
            _ => None,
        };
        let mut sides = Vec::new();
        if let (Party::Pod(pod), Some(verdict)) = (self.from, egress) {
            sides.push(Side {
                pod,
                direction: PolicyDirection::Egress,
                verdict,
                node: node(self.to),
            });
        }
        if let (Party::Pod(pod), Some(verdict)) = (self.to, ingress) {
            sides.push(Side {
                pod,
                direction: PolicyDirection::Ingress,
                verdict,
                node: node(self.from),
            });
        }
        sides
    }

    /// `TCP 80 to 10.0.0.5` (egress) or `TCP 80 from 10.0.0.5` (ingress): the traffic as
    /// `side` sees it.
    fn traffic(&self, side: &Side<'_>) -> String {
        let (protocol, port) = (self.protocol, self.port);
        match side.direction {
            PolicyDirection::Egress => format!("{protocol} {port} to {}", self.dst),
            PolicyDirection::Ingress => format!("{protocol} {port} from {}", self.src),
        }
    }

    /// `TCP 80 from x/a to 10.0.0.5`: the traffic between `side`'s pod and the other end.
    fn flow(&self, side: &Side<'_>) -> String {
        let (protocol, port, pod) = (self.protocol, self.port, pod_name(side.pod));
        match side.direction {
            PolicyDirection::Egress => format!("{protocol} {port} from {pod} to {}", self.dst),
            PolicyDirection::Ingress => format!("{protocol} {port} from {} to {pod}", self.src),
        }
    }

    /// `denied: x/b's ingress is isolated by x/deny-all and no rule allows TCP 80 from
    /// 10.0.0.5`, or `denied by the Admin tier: ClusterNetworkPolicy/deny-x ingress[0]
    /// (Deny) matches TCP 80 from 10.0.0.5 to x/b` (both sides, `; `-separated, when both
    /// deny).
    fn denied(&self, egress: &'a Option<Verdict>, ingress: &'a Option<Verdict>) -> String {
        let mut reason = String::new();
        for side in self.sides(egress, ingress) {
            if side.verdict.allowed {
                continue;
            }
            if !reason.is_empty() {
                reason.push_str("; ");
            }
            match (&side.verdict.rule, side.verdict.tier) {
                (Some(rule), Some(tier)) => reason.push_str(&format!(
                    "denied by the {tier} tier: {rule} (Deny) matches {}{}",
                    self.flow(&side),
                    side.after_admin_pass()
                )),
                _ => {
                    if reason.is_empty() {
                        reason.push_str("denied: ");
                    }
                    reason.push_str(&format!(
                        "{} is isolated by {} and no rule allows {}{}",
                        side.subject(),
                        policy_list(side.verdict),
                        self.traffic(&side),
                        side.after_admin_pass()
                    ));
                }
            }
        }
        reason
    }

    /// `allowed: ` and what allowed each side: a rule, no isolation, or an exemption.
    fn allowed(&self, egress: &'a Option<Verdict>, ingress: &'a Option<Verdict>) -> String {
        if self.same_pod
            && let Party::Pod(pod) = self.from
        {
            return format!("allowed: {} always reaches itself", pod_name(pod));
        }
        let parts: Vec<String> = self
            .sides(egress, ingress)
            .iter()
            .map(|side| {
                let name = pod_name(side.pod);
                match (side.node, &side.verdict.rule, side.verdict.tier) {
                    (Some(ip), _, _) => match side.direction {
                        PolicyDirection::Egress => format!("{name} always reaches its node ({ip})"),
                        PolicyDirection::Ingress => {
                            format!("{name} is always reachable from its node ({ip})")
                        }
                    },
                    (None, Some(rule), Some(tier)) => format!(
                        "{} is accepted by {rule} ({tier} tier, Accept){}",
                        side.subject(),
                        side.after_admin_pass()
                    ),
                    (None, Some(rule), None) => format!(
                        "{} allows it by {rule}{}",
                        side.subject(),
                        side.after_admin_pass()
                    ),
                    (None, None, _) => side.undecided(),
                }
            })
            .collect();
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
