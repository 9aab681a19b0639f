//! What the NetworkPolicy tests write and read besides Pods and Services: ClusterNetworkPolicy
//! manifests, and what the agent shows of policies as people read it (`ctl show errors`,
//! `ctl show policies`, labelled metric lines).

use super::lab::SvcLab;

/// A `policy.networking.k8s.io/v1alpha2` ClusterNetworkPolicy `name` in tier `tier` (`Admin`
/// or `Baseline`) with `priority`, and the rest of its spec (`subject`, `ingress`, `egress`:
/// YAML indented by two spaces). Label values in `rest` must be quoted wherever they may be
/// `y`, which YAML 1.1 reads as `true`.
pub fn cluster_network_policy(name: &str, tier: &str, priority: u16, rest: &str) -> String {
    format!(
        "apiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\nmetadata:\n  name: \"{name}\"\nspec:\n  tier: {tier}\n  priority: {priority}\n{rest}"
    )
}

/// The value of the metric line of `lines` (Prometheus text) named `name` whose labels
/// include every one of `labels` (others may be there too), if there is one.
pub fn metric_value(lines: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    lines.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix('{')?;
        let (set, value) = rest.rsplit_once("} ")?;
        let wanted = labels.iter().all(|(key, value)| set_has(set, key, value));
        if !wanted {
            return None;
        }
        value.trim().parse().ok()
    })
}

/// Whether the label set `set` (`a="1",b="2"`) has `key="value"`; the tests' label values
/// have no commas.
fn set_has(set: &str, key: &str, value: &str) -> bool {
    let pair = format!("{key}=\"{value}\"");
    set.split(',').any(|p| p == pair)
}

impl SvcLab {
    /// `podwire ctl show errors` as people read it, which must succeed.
    pub fn shown_errors(&self) -> String {
        self.daemon.ctl_ok(&["show", "errors"])
    }

    /// `podwire ctl show policies` as people read it, which must succeed.
    pub fn shown_policies(&self) -> String {
        self.daemon.ctl_ok(&["show", "policies"])
    }
}
