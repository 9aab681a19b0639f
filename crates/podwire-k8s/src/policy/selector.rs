//! Label selectors, as the API server and every controller evaluate them: `matchLabels` AND
//! every `matchExpressions` requirement; an empty selector selects everything.
//!
//! A requirement the API server would refuse (an unknown operator, `In` or `NotIn` without
//! values) selects nothing here: a selector that cannot be understood must not widen what a
//! policy allows.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

/// Labels of an object (`metadata.labels`; absent is none).
pub type Labels = BTreeMap<String, String>;

/// Whether `selector` selects an object with `labels`.
pub fn matches(selector: &LabelSelector, labels: Option<&Labels>) -> bool {
    let wanted = selector.match_labels.as_ref();
    wanted.is_none_or(|wanted| matches_labels(wanted, labels))
        && selector
            .match_expressions
            .iter()
            .flatten()
            .all(|requirement| requirement_holds(requirement, labels))
}

/// Whether an object with `labels` has every label of `wanted` with its value (the
/// equality-based selector of a Service, and a selector's `matchLabels`).
pub fn matches_labels(wanted: &Labels, labels: Option<&Labels>) -> bool {
    wanted
        .iter()
        .all(|(key, value)| labels.and_then(|l| l.get(key)) == Some(value))
}

fn requirement_holds(requirement: &LabelSelectorRequirement, labels: Option<&Labels>) -> bool {
    let value = labels.and_then(|l| l.get(&requirement.key));
    let values = requirement.values.as_deref().unwrap_or_default();
    match requirement.operator.as_str() {
        "In" => value.is_some_and(|v| values.contains(v)),
        // NotIn also holds when the label is absent, as in Kubernetes.
        "NotIn" => !values.is_empty() && value.is_none_or(|v| !values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        _ => false,
    }
}
