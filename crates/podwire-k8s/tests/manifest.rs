//! The example manifest `tests/data/shop.yaml` through the crate: parsed, checked, slices
//! derived from its Pods, Services translated as node `node-a` sees them.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use podwire_k8s::endpoints::{PodInfo, derive_slices};
use podwire_k8s::manifest::parse;
use podwire_k8s::object::Object;
use podwire_k8s::services::{NodeContext, Translation, translate};
use podwire_k8s::validate::conflicts;
use podwire_model::cluster::{ObjectKind, ObjectStatus};
use podwire_model::service::{FrontendKind, TrafficPolicy};

const SHOP: &str = include_str!("data/shop.yaml");

struct Shop {
    objects: Vec<Object>,
}

impl Shop {
    fn load() -> Shop {
        Shop {
            objects: parse(SHOP).expect("the example manifest is valid"),
        }
    }

    fn pods(&self) -> Vec<PodInfo<'_>> {
        self.objects
            .iter()
            .filter_map(|o| match o {
                Object::Pod(pod) => Some(pod_info(pod)),
                _ => None,
            })
            .collect()
    }

    fn service(&self, name: &str) -> &Service {
        self.objects
            .iter()
            .find_map(|o| match o {
                Object::Service(s) if s.metadata.name.as_deref() == Some(name) => Some(s),
                _ => None,
            })
            .expect("service in the example")
    }

    fn stored_slices(&self, service: &str) -> Vec<&EndpointSlice> {
        self.objects
            .iter()
            .filter_map(|o| match o {
                Object::EndpointSlice(s) => Some(s),
                _ => None,
            })
            .filter(|s| {
                s.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("kubernetes.io/service-name"))
                    .map(String::as_str)
                    == Some(service)
            })
            .collect()
    }

    /// What the agent does: stored slices plus slices derived from the Pods.
    fn translate(&self, name: &str) -> Translation {
        let service = self.service(name);
        let derived = derive_slices(service, &self.pods());
        let mut slices = self.stored_slices(name);
        slices.extend(derived.iter());
        let node = NodeContext {
            node_name: "node-a".into(),
        };
        translate(service, &slices, &node)
    }
}

fn pod_info(pod: &Pod) -> PodInfo<'_> {
    let status = pod.status.as_ref();
    PodInfo {
        pod,
        ips: status
            .and_then(|s| s.pod_ips.as_ref())
            .into_iter()
            .flatten()
            .map(|ip| ip.ip.parse().expect("valid pod IP"))
            .collect(),
        node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
    }
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

#[test]
fn the_example_parses_into_every_kind() {
    let shop = Shop::load();
    let kinds: Vec<ObjectKind> = shop.objects.iter().map(Object::kind).collect();
    use ObjectKind::*;
    assert_eq!(
        kinds,
        [
            Namespace,
            Pod,
            Pod,
            Service,
            Service,
            Service,
            EndpointSlice,
            Service,
            Service
        ]
    );
    assert!(
        shop.objects
            .iter()
            .skip(1)
            .all(|o| o.key().namespace == "shop")
    );
    assert_eq!(conflicts(&shop.objects, &[]), []);
    // What the store writes reads back the same.
    for object in &shop.objects {
        assert_eq!(&Object::from_json(object.to_json()).unwrap(), object);
    }
}

#[test]
fn the_selector_service_sends_to_the_ready_pod_on_each_family() {
    let t = Shop::load().translate("web");
    assert_eq!(t.status, ObjectStatus::Applied);
    let model = t.model.unwrap();
    let frontends: Vec<_> = model
        .frontends
        .iter()
        .map(|f| (f.address, f.port))
        .collect();
    let v4: IpAddr = "10.96.0.10".parse().unwrap();
    let v6: IpAddr = "fd00:96::10".parse().unwrap();
    assert_eq!(frontends, [(Some(v4), 80), (Some(v6), 80)]);
    // web-1 is terminating and not ready: web-0 alone, on its named port.
    assert_eq!(
        model.frontends[0].cluster_endpoints,
        [addr("10.244.0.10:8080")]
    );
    assert_eq!(
        model.frontends[1].cluster_endpoints,
        [addr("[fd00:244::10]:8080")]
    );
    assert_eq!(
        model.frontends[0].affinity_timeout,
        Some(Duration::from_secs(600))
    );
}

#[test]
fn the_load_balancer_answers_on_its_ingress_ip_and_node_port() {
    let t = Shop::load().translate("web-public");
    let model = t.model.unwrap();
    let kinds: Vec<_> = model
        .frontends
        .iter()
        .map(|f| (f.kind, f.traffic_policy))
        .collect();
    assert_eq!(
        kinds,
        [
            (FrontendKind::ClusterIp, TrafficPolicy::Cluster),
            (FrontendKind::NodePort, TrafficPolicy::Local),
            (FrontendKind::LoadBalancer, TrafficPolicy::Local),
        ]
    );
    assert_eq!(model.frontends[2].source_ranges.len(), 1);
    assert_eq!(
        model.frontends[2].local_endpoints,
        [addr("10.244.0.10:8080")]
    );
    assert_eq!(model.health_check_node_port, Some(32100));
    assert_eq!(model.local_ready_endpoints, 1);
}

#[test]
fn the_selectorless_service_uses_its_written_slice() {
    let model = Shop::load().translate("db").model.unwrap();
    assert_eq!(
        model.frontends[0].cluster_endpoints,
        [addr("192.168.50.20:5432")]
    );
}

#[test]
fn headless_and_external_name_services_are_not_proxied() {
    let shop = Shop::load();
    for name in ["web-headless", "search"] {
        let t = shop.translate(name);
        assert_eq!(t.model, None, "{name}");
        assert_eq!(t.status, ObjectStatus::Applied, "{name}");
    }
}
