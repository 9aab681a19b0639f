//! What a Service's translation is made from, found in the store: the EndpointSlices
//! labelled with its name, the Pods its selector picks with their addresses, and which
//! Services a change of one object touches. The Pods with their addresses are also what
//! NetworkPolicies are compiled against.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use podwire_k8s::endpoints::{PodInfo, derive_slices};
use podwire_k8s::object::Object;
use podwire_k8s::services::NodeContext;
use podwire_k8s::validate::SERVICE_NAME_LABEL;
use podwire_model::cluster::{ObjectKey, ObjectKind};

use super::PodAddresses;

/// The store's objects, by key: ordered by kind, then namespace, then name, so that the
/// objects of one kind in one namespace are a range. Each is shared, so that the cache can
/// be saved from a copy of the map made under the store's lock in pointer copies, and
/// written with the lock released.
pub type Objects = BTreeMap<ObjectKey, Arc<Object>>;

/// The objects of `kind` in `namespace`, or in every namespace when it is `None`.
pub fn of_kind<'a>(
    objects: &'a Objects,
    kind: ObjectKind,
    namespace: Option<&str>,
) -> impl Iterator<Item = (&'a ObjectKey, &'a Object)> + 'a {
    let namespace = namespace.map(str::to_owned);
    let start = ObjectKey {
        kind,
        namespace: namespace.clone().unwrap_or_default(),
        name: String::new(),
    };
    objects
        .range(start..)
        .take_while(move |(key, _)| {
            key.kind == kind && namespace.as_ref().is_none_or(|ns| *ns == key.namespace)
        })
        .map(|(key, object)| (key, &**object))
}

/// An object's labels.
fn labels(object: &Object) -> Option<&BTreeMap<String, String>> {
    object.metadata().labels.as_ref()
}

/// A Service's selector, when it has one. An empty selector selects nothing: as in
/// Kubernetes, the Service's endpoints are then managed by hand (EndpointSlices).
fn selector(object: &Object) -> Option<&BTreeMap<String, String>> {
    match object {
        Object::Service(service) => service
            .spec
            .as_ref()?
            .selector
            .as_ref()
            .filter(|s| !s.is_empty()),
        _ => None,
    }
}

/// Whether `service` has a selector that picks an object labelled `labels`.
fn selects(service: &Object, labels: Option<&BTreeMap<String, String>>) -> bool {
    selector(service).is_some_and(|selector| {
        selector
            .iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
    })
}

/// Whether `service` derives its endpoints from Pods.
pub fn has_selector(service: &Object) -> bool {
    selector(service).is_some()
}

/// The Service an EndpointSlice is labelled with.
fn slice_service(slice: &Object, namespace: &str) -> Option<ObjectKey> {
    labels(slice)?
        .get(SERVICE_NAME_LABEL)
        .map(|name| service_key(namespace, name))
}

/// The key of Service `namespace/name`.
pub fn service_key(namespace: &str, name: &str) -> ObjectKey {
    ObjectKey {
        kind: ObjectKind::Service,
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    }
}

/// The Services whose translation may change when the object at `key` goes from `old` to
/// `new` (either may be absent), looked up in `objects` as they are after the change.
pub fn touched(
    objects: &Objects,
    key: &ObjectKey,
    old: Option<&Object>,
    new: Option<&Object>,
) -> Vec<ObjectKey> {
    match key.kind {
        ObjectKind::Service => vec![key.clone()],
        ObjectKind::EndpointSlice => [old, new]
            .into_iter()
            .flatten()
            .filter_map(|slice| slice_service(slice, &key.namespace))
            .collect(),
        ObjectKind::Pod => {
            let (old, new) = (old.and_then(labels), new.and_then(labels));
            of_kind(objects, ObjectKind::Service, Some(&key.namespace))
                .filter(|(_, service)| selects(service, old) || selects(service, new))
                .map(|(key, _)| key.clone())
                .collect()
        }
        ObjectKind::Namespace
        | ObjectKind::NetworkPolicy
        | ObjectKind::ClusterNetworkPolicy
        | ObjectKind::Node => Vec::new(),
    }
}

/// Where a Pod is, as far as podwire knows.
pub struct PodPlace {
    /// Its addresses: from its attachments on this node, else from its `status.podIPs`.
    pub ips: Vec<IpAddr>,
    /// Its node: this one when it is attached here, else its `spec.nodeName`.
    pub node: Option<String>,
}

/// Where the Pod `object` (at `key`) is.
pub fn pod_place(
    key: &ObjectKey,
    object: &Object,
    node: &NodeContext,
    pods: &dyn PodAddresses,
) -> PodPlace {
    let attached = pods.addresses(&key.namespace, &key.name);
    if !attached.is_empty() {
        return PodPlace {
            ips: attached,
            node: Some(node.node_name.clone()),
        };
    }
    let Object::Pod(pod) = object else {
        return PodPlace {
            ips: Vec::new(),
            node: None,
        };
    };
    PodPlace {
        ips: status_ips(pod),
        node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
    }
}

/// The addresses a Pod's status gives: `status.podIPs`, else `status.podIP`.
pub fn status_ips(pod: &k8s_openapi::api::core::v1::Pod) -> Vec<IpAddr> {
    let status = pod.status.as_ref();
    match status.and_then(|s| s.pod_ips.as_ref()) {
        Some(ips) => ips.iter().filter_map(|ip| ip.ip.parse().ok()).collect(),
        None => status
            .and_then(|s| s.pod_ip.as_ref())
            .and_then(|ip| ip.parse().ok())
            .into_iter()
            .collect(),
    }
}

/// The Pods in `namespace` (every namespace when `None`), each with where it is.
pub fn pod_infos<'a>(
    objects: &'a Objects,
    namespace: Option<&str>,
    node: &NodeContext,
    pods: &dyn PodAddresses,
) -> Vec<PodInfo<'a>> {
    of_kind(objects, ObjectKind::Pod, namespace)
        .filter_map(|(key, object)| match object {
            Object::Pod(pod) => {
                let place = pod_place(key, object, node, pods);
                Some(PodInfo {
                    pod,
                    ips: place.ips,
                    node: place.node,
                })
            }
            _ => None,
        })
        .collect()
}

/// The stored EndpointSlices labelled with the name of the Service at `key`.
pub fn stored_slices<'a>(
    objects: &'a Objects,
    key: &'a ObjectKey,
) -> impl Iterator<Item = &'a Object> {
    of_kind(objects, ObjectKind::EndpointSlice, Some(&key.namespace))
        .filter(move |(_, slice)| slice_service(slice, &key.namespace).as_ref() == Some(key))
        .map(|(_, slice)| slice)
}

/// The EndpointSlices the controller would make for the Service at `key` from the Pods its
/// selector picks (none without a selector), as objects.
pub fn derived_slices(
    objects: &Objects,
    key: &ObjectKey,
    node: &NodeContext,
    pods: &dyn PodAddresses,
) -> Vec<Object> {
    let Some(service @ Object::Service(k8s_service)) = objects.get(key).map(|o| &**o) else {
        return Vec::new();
    };
    if !has_selector(service) {
        return Vec::new();
    }
    let infos = pod_infos(objects, Some(&key.namespace), node, pods);
    derive_slices(k8s_service, &infos)
        .into_iter()
        .map(Object::EndpointSlice)
        .collect()
}
