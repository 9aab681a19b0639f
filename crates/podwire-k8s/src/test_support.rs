//! Objects for tests, from JSON.

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::Value;

/// A typed object from JSON, which must fit the type.
pub fn typed<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("test object fits its type")
}

/// A Service with `spec`, named `web` in `default`.
pub fn service(spec: Value) -> Service {
    typed(serde_json::json!({"metadata": {"name": "web"}, "spec": spec}))
}

/// A Pod from its JSON.
pub fn pod(value: Value) -> Pod {
    typed(value)
}

/// An EndpointSlice of Service `web` from its `addressType`, `ports` and `endpoints`.
pub fn slice(name: &str, address_type: &str, ports: Value, endpoints: Value) -> EndpointSlice {
    typed(serde_json::json!({
        "metadata": {"name": name, "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": address_type,
        "ports": ports,
        "endpoints": endpoints,
    }))
}

/// Merges `patch` into `base` (objects recursively; anything else replaces).
pub fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(base), Value::Object(patch)) => {
            for (k, v) in patch {
                merge(base.entry(k).or_insert(Value::Null), v);
            }
        }
        (base, patch) => *base = patch,
    }
}
