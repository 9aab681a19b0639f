//! Manifests: YAML (or JSON, which is YAML) text with one or more documents separated by
//! `---`, each a Kubernetes object, into [`Object`]s. A `kind: List` document's `items` are
//! taken one by one. Every document is parsed and checked ([`crate::validate::object`])
//! before any is returned: the error lists every problem, each with its place
//! (`document 2 (Service default/web): spec.ports[0].port: ...`; an item of a List is
//! `document 2, items[0] (...)`). Documents are numbered from 1 and empty documents are
//! not counted. A field the object's type does not have is a problem (strict, like
//! `kubectl apply`), and so is a document of a kind podwire does not keep (it keeps
//! Namespaces, Pods, Services, EndpointSlices, NetworkPolicies and ClusterNetworkPolicies).

use podwire_model::config::FieldError;
use serde_json::Value;

use crate::object::{self, Object};

/// Why a manifest was refused: every problem found, each with its place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"))]
pub struct ManifestError {
    /// The problems, in document order.
    pub problems: Vec<FieldError>,
}

/// The objects of a manifest, checked, in document order. Empty documents are skipped; a
/// manifest with no object at all is an error (an empty file is a mistake, not a no-op).
pub fn parse(text: &str) -> Result<Vec<Object>, ManifestError> {
    let documents: Vec<Value> =
        serde_saphyr::from_multiple_with_options(text, options()).map_err(syntax_error)?;
    let mut objects = Vec::new();
    let mut problems = Vec::new();
    for (n, document) in documents.into_iter().enumerate() {
        let place = format!("document {}", n + 1);
        match list_items(document) {
            Ok(items) => {
                for (i, item) in items.into_iter().enumerate() {
                    let place = format!("{place}, items[{i}]");
                    check(&place, item, &mut objects, &mut problems);
                }
            }
            Err(document) => check(&place, document, &mut objects, &mut problems),
        }
    }
    if problems.is_empty() && objects.is_empty() {
        problems.push(FieldError {
            field: "manifest".into(),
            problem: "has no object: write at least one document with apiVersion, kind and \
                      metadata"
                .into(),
        });
    }
    match problems.is_empty() {
        true => Ok(objects),
        false => Err(ManifestError { problems }),
    }
}

/// The parser's limits. Its defaults (1024 documents, 250 000 nodes) are for config files;
/// a manifest of a cluster at Kubernetes' scale limits (10 000 Services, 150 000 Pods) is
/// larger. Without aliases the counts grow with the text's length, so raising them costs
/// no more than the text does; the alias limits, which guard against expansion bombs, stay.
fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_documents: 1_000_000,
            max_nodes: 100_000_000,
            max_events: 400_000_000,
            max_total_scalar_bytes: 1 << 30,
        },
        with_snippet: false,
    }
}

/// The items of a `v1 List` document, or the document itself when it is not one.
fn list_items(document: Value) -> Result<Vec<Value>, Value> {
    let is_list = document.get("kind").and_then(Value::as_str) == Some("List")
        && document.get("apiVersion").and_then(Value::as_str) == Some("v1");
    if !is_list {
        return Err(document);
    }
    match document.get("items") {
        Some(Value::Array(items)) => Ok(items.clone()),
        // A List with no items is empty, like an empty document.
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(_) => Err(document),
    }
}

/// Decodes and validates one object, adding it or its problems.
fn check(place: &str, value: Value, objects: &mut Vec<Object>, problems: &mut Vec<FieldError>) {
    let label = object::describe(&value);
    let found = match object::decode(value) {
        Ok(object) => {
            let found = crate::validate::object(&object);
            if found.is_empty() {
                objects.push(object);
            }
            found
        }
        Err(found) => found,
    };
    problems.extend(found.into_iter().map(|p| FieldError {
        field: format!("{place} ({label}): {}", p.field),
        problem: p.problem,
    }));
}

/// A YAML syntax error as a problem, naming the line and column when the parser knows them.
fn syntax_error(error: serde_saphyr::Error) -> ManifestError {
    let at = error.location().filter(|at| at.line() > 0);
    let field = match at {
        Some(at) => format!("manifest line {}, column {}", at.line(), at.column()),
        None => "manifest".to_owned(),
    };
    let text = error.without_snippet().to_string();
    let first_line = text.lines().next().unwrap_or_default().trim();
    // The parser's text ends with the position the field already says.
    let message = match at {
        Some(at) => {
            let suffix = format!(" at line {}, column {}", at.line(), at.column());
            first_line.strip_suffix(&suffix).unwrap_or(first_line)
        }
        None => first_line,
    };
    ManifestError {
        problems: vec![FieldError {
            field,
            problem: format!("is not valid YAML: {message}"),
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use podwire_model::cluster::ObjectKind;

    const ALL_KINDS: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: Pod
metadata:
  name: web-0
  namespace: shop
  labels: {app: web}
spec:
  containers:
    - name: web
      image: nginx
      ports: [{name: http, containerPort: 8080}]
status:
  podIPs: [{ip: 10.244.0.5}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  clusterIP: 10.96.0.10
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
---
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-manual
  namespace: shop
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
ports: [{name: "", port: 8080, protocol: TCP}]
endpoints:
  - addresses: [10.244.1.7]
    conditions: {ready: true}
    nodeName: node-b
"#;

    #[test]
    fn multi_document_yaml_with_all_four_kinds() {
        let objects = parse(ALL_KINDS).unwrap();
        let kinds: Vec<_> = objects.iter().map(Object::kind).collect();
        assert_eq!(
            kinds,
            [
                ObjectKind::Namespace,
                ObjectKind::Pod,
                ObjectKind::Service,
                ObjectKind::EndpointSlice
            ]
        );
        let Object::Service(service) = &objects[2] else {
            panic!("not a service: {:?}", objects[2]);
        };
        let port = &service.spec.as_ref().unwrap().ports.as_ref().unwrap()[0];
        assert_eq!(port.port, 80);
        assert_eq!(
            port.target_port,
            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String("http".into()))
        );
        assert_eq!(objects[3].key().name, "web-manual");
    }

    const POLICY: &str = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
    - from: [{namespaceSelector: {matchLabels: {team: ops}}, podSelector: {}}]
      ports: [{port: http}, {protocol: UDP, port: 53, endPort: 60}]
"#;

    #[test]
    fn a_network_policy_is_kept_and_round_trips() {
        let objects = parse(POLICY).unwrap();
        assert_eq!(objects.len(), 1);
        let key = objects[0].key();
        assert_eq!(key.kind, ObjectKind::NetworkPolicy);
        assert_eq!(
            (key.namespace.as_str(), key.name.as_str()),
            ("shop", "allow-web")
        );
        let value = objects[0].to_json();
        assert_eq!(value["apiVersion"], "networking.k8s.io/v1");
        assert_eq!(value["kind"], "NetworkPolicy");
        assert_eq!(Object::from_json(value).unwrap(), objects[0]);
    }

    #[test]
    fn a_network_policy_is_checked() {
        let text = POLICY
            .replace("- from:", "- form:")
            .replace("endPort: 60", "endPort: 50");
        let err = parse(&text).unwrap_err();
        let fields: Vec<_> = err.problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            ["document 1 (NetworkPolicy shop/allow-web): spec.ingress[0].form"]
        );
        let err = parse(&POLICY.replace("endPort: 60", "endPort: 50")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "document 1 (NetworkPolicy shop/allow-web): spec.ingress[0].ports[1].endPort: 50 \
             is less than port 53: endPort is the last port of the range"
        );
        let err = parse(&POLICY.replace("networking.k8s.io/v1", "extensions/v1beta1")).unwrap_err();
        assert_eq!(
            err.problems[0].problem,
            "NetworkPolicy is apiVersion networking.k8s.io/v1, not extensions/v1beta1"
        );
    }

    const CLUSTER_POLICY: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: sensitive, labels: {team: x}}
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: guard-sensitive}
spec:
  tier: Admin
  priority: 10
  subject:
    namespaces: {matchLabels: {team: x}}
  ingress:
    - name: monitoring
      action: Accept
      from: [{namespaces: {matchLabels: {team: ops}}}]
      protocols: [{tcp: {destinationPort: {number: 9090}}}]
    - name: same-team
      action: Pass
      from: [{pods: {namespaceSelector: {matchLabels: {team: x}}, podSelector: {}}}]
    - name: others
      action: Deny
      from: [{namespaces: {}}]
  egress:
    - action: Deny
      to: [{networks: [10.0.0.0/8, "fd00::/8"]}]
      protocols: [{udp: {destinationPort: {range: {start: 5000, end: 5010}}}}]
"#;

    #[test]
    fn a_cluster_network_policy_is_kept_without_a_namespace() {
        use podwire_model::policy::{RuleAction, Tier};

        let objects = parse(CLUSTER_POLICY).unwrap();
        assert_eq!(objects.len(), 2);
        let key = objects[1].key();
        assert_eq!(key.kind, ObjectKind::ClusterNetworkPolicy);
        assert_eq!(
            (key.namespace.as_str(), key.name.as_str()),
            ("", "guard-sensitive")
        );
        let Object::ClusterNetworkPolicy(policy) = &objects[1] else {
            panic!("not a ClusterNetworkPolicy: {:?}", objects[1]);
        };
        assert_eq!(policy.spec.tier, Tier::Admin);
        assert_eq!(policy.spec.priority, 10);
        let actions: Vec<_> = policy.spec.ingress.iter().map(|r| r.action).collect();
        assert_eq!(
            actions,
            [RuleAction::Accept, RuleAction::Pass, RuleAction::Deny]
        );
        let networks = policy.spec.egress[0].to[0].networks.as_deref();
        assert_eq!(
            networks,
            Some(&["10.0.0.0/8".to_owned(), "fd00::/8".to_owned()][..])
        );
        let value = objects[1].to_json();
        assert_eq!(value["apiVersion"], "policy.networking.k8s.io/v1alpha2");
        assert_eq!(Object::from_json(value).unwrap(), objects[1]);
    }

    #[test]
    fn a_cluster_network_policy_is_checked() {
        let place = "document 2 (ClusterNetworkPolicy guard-sensitive)";
        let err = parse(&CLUSTER_POLICY.replace("  subject:", "  subjet:")).unwrap_err();
        let fields: Vec<_> = err.problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, [format!("{place}: spec.subjet")]);

        let err = parse(&CLUSTER_POLICY.replace("tier: Admin", "tier: Developer")).unwrap_err();
        assert_eq!(err.problems.len(), 1, "{err}");
        assert_eq!(err.problems[0].field, format!("{place}: spec.tier"));
        assert!(
            err.problems[0].problem.contains("Admin")
                && err.problems[0].problem.contains("Baseline"),
            "{err}"
        );

        let text = CLUSTER_POLICY.replace("number: 9090", "number: 0").replace(
            "metadata: {name: guard-sensitive}",
            "metadata: {name: guard-sensitive, namespace: x}",
        );
        let err = parse(&text).unwrap_err();
        let fields: Vec<_> = err.problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                format!("{place}: metadata.namespace"),
                format!("{place}: spec.ingress[0].protocols[0].tcp.destinationPort.number"),
            ]
        );
    }

    #[test]
    fn json_is_a_manifest_too() {
        let objects =
            parse(r#"{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}}"#)
                .unwrap();
        assert_eq!(objects[0].key().name, "a");
    }

    #[test]
    fn a_list_gives_its_items() {
        let text = r#"
apiVersion: v1
kind: List
items:
  - {apiVersion: v1, kind: Namespace, metadata: {name: a}}
  - {apiVersion: v1, kind: Namespace, metadata: {name: b}}
"#;
        let names: Vec<_> = parse(text).unwrap().iter().map(|o| o.key().name).collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn a_bad_list_item_is_named_by_its_index() {
        let text = r#"
apiVersion: v1
kind: List
items:
  - {apiVersion: v1, kind: Namespace, metadata: {name: a}}
  - {apiVersion: v1, kind: Namespace, metadata: {name: Bad_Name}}
"#;
        let err = parse(text).unwrap_err();
        assert_eq!(err.problems.len(), 1);
        assert_eq!(
            err.problems[0].field,
            "document 1, items[1] (Namespace Bad_Name): metadata.name"
        );
    }

    #[test]
    fn every_problem_of_every_document_is_listed() {
        let text = r#"
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  clusterIP: 10.96.0.10
  ports: [{port: 0}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec:
  ports: [{port: "eighty"}]
---
apiVersion: v1
kind: Namespace
metadata: {name: ok}
"#;
        let err = parse(text).unwrap_err();
        let fields: Vec<_> = err.problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "document 1 (Service default/web): spec.ports[0].port",
                "document 2 (Deployment default/web): kind",
                "document 3 (Service shop/api): spec.ports[0].port",
            ]
        );
        assert!(
            err.problems[1]
                .problem
                .contains("kind Deployment is not one podwire keeps")
        );
        assert!(err.to_string().lines().count() == 3, "{err}");
    }

    #[test]
    fn unknown_fields_are_problems() {
        let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\nspce: {}\n";
        let err = parse(text).unwrap_err();
        assert_eq!(err.problems[0].field, "document 1 (Namespace a): spce");
    }

    #[test]
    fn an_empty_manifest_is_an_error() {
        for text in ["", "\n", "---\n---\n", "# only a comment\n"] {
            let err = parse(text).unwrap_err();
            assert_eq!(err.problems[0].field, "manifest", "{text:?}");
        }
    }

    #[test]
    fn a_syntax_error_names_its_line() {
        let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a\n";
        let err = parse(text).unwrap_err();
        assert_eq!(err.problems.len(), 1);
        assert_eq!(err.problems[0].field, "manifest line 3, column 11");
        assert_eq!(
            err.problems[0].problem,
            "is not valid YAML: unclosed bracket '{'"
        );
    }

    #[test]
    fn a_manifest_may_have_more_documents_than_a_config_file() {
        let text: String = (0..2000)
            .map(|i| format!("---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: ns-{i}}}\n"))
            .collect();
        assert_eq!(parse(&text).unwrap().len(), 2000);
    }

    #[test]
    fn a_scalar_document_is_not_an_object() {
        let err = parse("hello\n").unwrap_err();
        assert_eq!(
            err.problems[0].field,
            "document 1 (<no kind> default/<no name>): document"
        );
    }
}
