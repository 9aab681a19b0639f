//! The kinds of object podwire keeps, as the real Kubernetes types.
//!
//! Decoding ([`Object::from_json`], and [`crate::manifest::parse`] for each document) is
//! strict like `kubectl apply`'s server-side field validation: a field the type does not have
//! (a typo such as `selecter`, or a field indented one level too deep) is an error naming
//! its path, not something silently dropped.

use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::{Metadata, Resource};
use podwire_model::cluster::{ObjectKey, ObjectKind};
use podwire_model::config::FieldError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cnp::ClusterNetworkPolicy;
use crate::manifest::ManifestError;

/// The namespace of a namespaced object that names none.
pub const DEFAULT_NAMESPACE: &str = "default";

/// What a document must say in `apiVersion` and `kind` for podwire to keep it.
pub(crate) const KEPT: [(&str, &str); 7] = [
    (Namespace::API_VERSION, Namespace::KIND),
    (Pod::API_VERSION, Pod::KIND),
    (Service::API_VERSION, Service::KIND),
    (EndpointSlice::API_VERSION, EndpointSlice::KIND),
    (NetworkPolicy::API_VERSION, NetworkPolicy::KIND),
    (
        ClusterNetworkPolicy::API_VERSION,
        ClusterNetworkPolicy::KIND,
    ),
    (Node::API_VERSION, Node::KIND),
];

/// The list of kept kinds, for messages.
pub(crate) const KEPT_TEXT: &str = "v1 Namespace, v1 Pod, v1 Service, discovery.k8s.io/v1 \
                                    EndpointSlice, networking.k8s.io/v1 NetworkPolicy, \
                                    policy.networking.k8s.io/v1alpha2 ClusterNetworkPolicy \
                                    and v1 Node";

/// One object of a kind podwire keeps.
// Unboxed on purpose: Pods, the largest variant, are also the most numerous objects of a
// store, so boxing would save little and make every match and constructor clumsier.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Object {
    /// `v1/Namespace`.
    Namespace(Namespace),
    /// `v1/Pod`.
    Pod(Pod),
    /// `v1/Service`.
    Service(Service),
    /// `discovery.k8s.io/v1/EndpointSlice`.
    EndpointSlice(EndpointSlice),
    /// `networking.k8s.io/v1/NetworkPolicy`.
    NetworkPolicy(NetworkPolicy),
    /// `policy.networking.k8s.io/v1alpha2/ClusterNetworkPolicy` (cluster-scoped).
    ClusterNetworkPolicy(ClusterNetworkPolicy),
    /// `v1/Node` (cluster-scoped).
    Node(Node),
}

impl Object {
    /// Its kind.
    pub fn kind(&self) -> ObjectKind {
        match self {
            Object::Namespace(_) => ObjectKind::Namespace,
            Object::Pod(_) => ObjectKind::Pod,
            Object::Service(_) => ObjectKind::Service,
            Object::EndpointSlice(_) => ObjectKind::EndpointSlice,
            Object::NetworkPolicy(_) => ObjectKind::NetworkPolicy,
            Object::ClusterNetworkPolicy(_) => ObjectKind::ClusterNetworkPolicy,
            Object::Node(_) => ObjectKind::Node,
        }
    }

    /// Its metadata.
    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Object::Namespace(o) => o.metadata(),
            Object::Pod(o) => o.metadata(),
            Object::Service(o) => o.metadata(),
            Object::EndpointSlice(o) => o.metadata(),
            Object::NetworkPolicy(o) => o.metadata(),
            Object::ClusterNetworkPolicy(o) => o.metadata(),
            Object::Node(o) => o.metadata(),
        }
    }

    /// Its metadata, to change.
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        match self {
            Object::Namespace(o) => o.metadata_mut(),
            Object::Pod(o) => o.metadata_mut(),
            Object::Service(o) => o.metadata_mut(),
            Object::EndpointSlice(o) => o.metadata_mut(),
            Object::NetworkPolicy(o) => o.metadata_mut(),
            Object::ClusterNetworkPolicy(o) => o.metadata_mut(),
            Object::Node(o) => o.metadata_mut(),
        }
    }

    /// The object without `metadata.managedFields`: the API server's record of which
    /// client set which field. Nothing in podwire reads it, and it is most of a Pod's bytes
    /// (a store at Kubernetes' limits holds it 150,000 times), so the store drops it as an
    /// object comes in.
    pub fn without_managed_fields(mut self) -> Object {
        self.metadata_mut().managed_fields = None;
        self
    }

    /// Its key: kind, namespace (`default` when a namespaced object names none; empty for a
    /// cluster-scoped one: a Namespace, a ClusterNetworkPolicy) and name.
    pub fn key(&self) -> ObjectKey {
        let meta = self.metadata();
        let namespace = match self {
            Object::Namespace(_) | Object::ClusterNetworkPolicy(_) | Object::Node(_) => {
                String::new()
            }
            _ => namespace_of(meta).to_owned(),
        };
        ObjectKey {
            kind: self.kind(),
            namespace,
            name: meta.name.clone().unwrap_or_default(),
        }
    }

    /// The object as JSON with its `apiVersion` and `kind` (how the store persists it).
    pub fn to_json(&self) -> serde_json::Value {
        // k8s-openapi's resource types write their own apiVersion and kind; serializing
        // them cannot fail (string keys, no non-finite floats).
        let value = match self {
            Object::Namespace(o) => serde_json::to_value(o),
            Object::Pod(o) => serde_json::to_value(o),
            Object::Service(o) => serde_json::to_value(o),
            Object::EndpointSlice(o) => serde_json::to_value(o),
            Object::NetworkPolicy(o) => serde_json::to_value(o),
            Object::ClusterNetworkPolicy(o) => serde_json::to_value(o),
            Object::Node(o) => serde_json::to_value(o),
        };
        value.unwrap_or(Value::Null)
    }

    /// An object from JSON with `apiVersion` and `kind` (the store's file; a manifest goes
    /// through [`crate::manifest::parse`], which also checks it).
    pub fn from_json(value: serde_json::Value) -> Result<Object, crate::manifest::ManifestError> {
        decode(value).map_err(|problems| ManifestError { problems })
    }
}

/// The namespace an object's metadata puts it in (`default` when it names none).
pub fn namespace_of(meta: &ObjectMeta) -> &str {
    match meta.namespace.as_deref() {
        Some(namespace) if !namespace.is_empty() => namespace,
        _ => DEFAULT_NAMESPACE,
    }
}

/// `kind` and `namespace/name` of a document, for messages, as far as it says them.
pub(crate) fn describe(value: &Value) -> String {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_owned();
    let kind = text(value.get("kind"));
    let meta = value.get("metadata");
    let mut name = text(meta.and_then(|m| m.get("name")));
    if name.is_empty() {
        name = "<no name>".to_owned();
    }
    let kind = if kind.is_empty() { "<no kind>" } else { &kind };
    if kind == Namespace::KIND || kind == ClusterNetworkPolicy::KIND {
        return format!("{kind} {name}");
    }
    let namespace = text(meta.and_then(|m| m.get("namespace")));
    let namespace = if namespace.is_empty() {
        DEFAULT_NAMESPACE
    } else {
        &namespace
    };
    format!("{kind} {namespace}/{name}")
}

/// A document into an [`Object`]: its `apiVersion` and `kind` say which type, and every
/// field must be one the type has. Problems name their path inside the document.
pub(crate) fn decode(value: Value) -> Result<Object, Vec<FieldError>> {
    let problem = |field: &str, problem: String| {
        vec![FieldError {
            field: field.to_owned(),
            problem,
        }]
    };
    if !value.is_object() {
        return Err(problem(
            "document",
            "is not a Kubernetes object: write a mapping with apiVersion, kind, metadata".into(),
        ));
    }
    let api_version = value.get("apiVersion").and_then(Value::as_str);
    let kind = value.get("kind").and_then(Value::as_str);
    let (Some(api_version), Some(kind)) = (api_version, kind) else {
        let missing = if api_version.is_none() {
            "apiVersion"
        } else {
            "kind"
        };
        return Err(problem(
            missing,
            format!(
                "is missing or not a string: every object needs apiVersion and kind ({KEPT_TEXT})"
            ),
        ));
    };
    let Some(&(expected_version, _)) = KEPT.iter().find(|(_, k)| *k == kind) else {
        return Err(problem(
            "kind",
            format!("kind {kind} is not one podwire keeps: use {KEPT_TEXT}"),
        ));
    };
    if api_version != expected_version {
        return Err(problem(
            "apiVersion",
            format!("{kind} is apiVersion {expected_version}, not {api_version}"),
        ));
    }
    let object = match kind {
        "Namespace" => typed(&value).map(Object::Namespace),
        "Pod" => typed(&value).map(Object::Pod),
        "Service" => typed(&value).map(Object::Service),
        "NetworkPolicy" => typed(&value).map(Object::NetworkPolicy),
        "ClusterNetworkPolicy" => typed(&value).map(Object::ClusterNetworkPolicy),
        "Node" => typed(&value).map(Object::Node),
        _ => typed(&value).map(Object::EndpointSlice),
    }?;
    let unknown = unknown_fields(&value, &object.to_json());
    match unknown.is_empty() {
        true => Ok(object),
        false => Err(unknown),
    }
}

/// A typed object from a document, with the path of a field of the wrong type or shape.
fn typed<T: serde::de::DeserializeOwned>(value: &Value) -> Result<T, Vec<FieldError>> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        vec![FieldError {
            field: if path == "." { "document".into() } else { path },
            problem: format!("has the wrong type or shape: {}", error.inner()),
        }]
    })
}

/// The fields of `input` (a document) that `decoded` (the typed object written back as JSON)
/// lost: fields its type does not have, which k8s-openapi's types ignore when they decode.
/// Null fields are absent fields, not unknown ones.
pub fn unknown_fields(input: &Value, decoded: &Value) -> Vec<FieldError> {
    let mut unknown = Vec::new();
    lost_fields(input, decoded, &mut String::new(), &mut unknown);
    unknown
}

fn lost_fields(input: &Value, decoded: &Value, path: &mut String, out: &mut Vec<FieldError>) {
    match (input, decoded) {
        (Value::Object(fields), Value::Object(kept)) => {
            for (name, value) in fields {
                if value.is_null() {
                    continue;
                }
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(name);
                match kept.get(name) {
                    Some(kept) => lost_fields(value, kept, path, out),
                    None => out.push(FieldError {
                        field: path.clone(),
                        problem: "is not a field of this kind of object: check its spelling \
                                  and indentation"
                            .into(),
                    }),
                }
                path.truncate(len);
            }
        }
        (Value::Array(items), Value::Array(kept)) => {
            for (i, (item, kept)) in items.iter().zip(kept).enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                lost_fields(item, kept, path, out);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service_json() -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 80}]}
        })
    }

    #[test]
    fn key_defaults_the_namespace_of_namespaced_kinds_only() {
        let service = Object::from_json(service_json()).unwrap();
        assert_eq!(
            service.key(),
            ObjectKey {
                kind: ObjectKind::Service,
                namespace: "default".into(),
                name: "web".into()
            }
        );
        let namespace = Object::from_json(json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "shop", "namespace": "ignored"}
        }))
        .unwrap();
        assert_eq!(namespace.key().namespace, "");
        assert_eq!(namespace.key().name, "shop");
        let slice = Object::from_json(json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "web-1", "namespace": "shop"}, "addressType": "IPv4"
        }))
        .unwrap();
        assert_eq!(slice.key().namespace, "shop");
        assert_eq!(slice.kind(), ObjectKind::EndpointSlice);
    }

    #[test]
    fn to_json_carries_api_version_and_kind_and_round_trips() {
        let object = Object::from_json(service_json()).unwrap();
        let value = object.to_json();
        assert_eq!(value["apiVersion"], "v1");
        assert_eq!(value["kind"], "Service");
        assert_eq!(Object::from_json(value).unwrap(), object);
        let slice = Object::from_json(json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "web-1"}, "addressType": "IPv6"
        }))
        .unwrap();
        assert_eq!(slice.to_json()["apiVersion"], "discovery.k8s.io/v1");
        assert_eq!(slice.to_json()["kind"], "EndpointSlice");
    }

    #[test]
    fn from_json_refuses_other_kinds_and_versions() {
        let err =
            Object::from_json(json!({"apiVersion": "apps/v1", "kind": "Deployment"})).unwrap_err();
        assert_eq!(err.problems[0].field, "kind");
        assert!(
            err.problems[0]
                .problem
                .contains("Deployment is not one podwire keeps")
        );
        let err = Object::from_json(json!({"apiVersion": "v2", "kind": "Service"})).unwrap_err();
        assert_eq!(err.problems[0].field, "apiVersion");
        let err = Object::from_json(json!({"kind": "Service"})).unwrap_err();
        assert_eq!(err.problems[0].field, "apiVersion");
        let err = Object::from_json(json!(["a"])).unwrap_err();
        assert_eq!(err.problems[0].field, "document");
    }

    #[test]
    fn from_json_names_the_path_of_a_wrong_type() {
        let mut value = service_json();
        value["spec"]["ports"][0]["port"] = json!("eighty");
        let err = Object::from_json(value).unwrap_err();
        assert_eq!(err.problems[0].field, "spec.ports[0].port");
    }

    #[test]
    fn from_json_names_every_unknown_field() {
        let mut value = service_json();
        value["spec"]["selecter"] = json!({"app": "web"});
        value["spec"]["ports"][0]["prot"] = json!(80);
        value["spec"]["type"] = Value::Null;
        let err = Object::from_json(value).unwrap_err();
        let fields: Vec<_> = err.problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["spec.ports[0].prot", "spec.selecter"]);
    }

    #[test]
    fn without_managed_fields_drops_them_and_nothing_else() {
        let mut value = service_json();
        value["metadata"]["labels"] = json!({"app": "web"});
        let plain = Object::from_json(value.clone()).unwrap();
        value["metadata"]["managedFields"] = json!([{
            "manager": "kubectl-client-side-apply", "operation": "Update",
            "apiVersion": "v1", "time": "2026-03-02T09:14:07Z", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {"f:ports": {}}}
        }]);
        let managed = Object::from_json(value).unwrap();
        assert!(managed.metadata().managed_fields.is_some());
        assert_ne!(managed, plain);
        let stripped = managed.without_managed_fields();
        assert_eq!(stripped.metadata().managed_fields, None);
        assert_eq!(stripped, plain);
        assert!(
            stripped.to_json()["metadata"]
                .get("managedFields")
                .is_none()
        );
    }

    #[test]
    fn describe_names_kind_namespace_and_name() {
        assert_eq!(describe(&service_json()), "Service default/web");
        assert_eq!(
            describe(&json!({"kind": "Namespace", "metadata": {"name": "a"}})),
            "Namespace a"
        );
        assert_eq!(describe(&json!({})), "<no kind> default/<no name>");
    }
}
