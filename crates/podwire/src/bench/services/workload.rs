//! The Services every side is measured with, and the address plan they live in. podwire
//! gets them as `ServiceModel`s; the kernel's rules are written from the same models, so
//! both sides hold the same ClusterIPs and the same endpoints.
//!
//! Service `i` has ClusterIP `10.96.0.0 + 1 + i` (the default Service CIDR, a /12) on TCP
//! port 80, and 4 endpoints when `i` is a multiple of 3, else 3: 30 000 Services have
//! 100 000 endpoints, the figure. Endpoints are pod addresses from `10.128.0.0` on,
//! target port 8080; clients are pods in `10.200.0.0/16`; both are in the cluster CIDR, so
//! no flow is masqueraded (pod to Service, the common case).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};

use podwire_model::service::{
    Frontend, FrontendKind, Protocol, ServiceId, ServiceModel, TrafficPolicy,
};

use crate::bench::rng::Rng;

/// The Service CIDR the ClusterIPs come from.
pub const SERVICE_CIDR: (Ipv4Addr, u8) = (Ipv4Addr::new(10, 96, 0, 0), 12);
/// The pods' addresses: endpoints and clients.
pub const CLUSTER_CIDR: (Ipv4Addr, u8) = (Ipv4Addr::new(10, 128, 0, 0), 9);
/// Where endpoints live (and the spare addresses changes move endpoints to): behind the
/// server side.
pub const ENDPOINT_NET: (Ipv4Addr, u8) = (Ipv4Addr::new(10, 128, 0, 0), 12);
/// Where clients live: behind the client side.
pub const CLIENT_NET: (Ipv4Addr, u8) = (Ipv4Addr::new(10, 200, 0, 0), 16);
/// The Services' port.
pub const SERVICE_PORT: u16 = 80;
/// The endpoints' port.
pub const TARGET_PORT: u16 = 8080;
/// The Services' namespace.
pub const NAMESPACE: &str = "bench";
/// The most Services the address plan holds (their endpoints must stay below the spares).
pub const MAX_SERVICES: usize = 150_000;

/// The first endpoint address; endpoint `k` is this plus `k`.
const FIRST_ENDPOINT: Ipv4Addr = Ipv4Addr::new(10, 128, 0, 0);
/// The first spare address, for endpoints that changes bring in: above every endpoint.
const FIRST_SPARE: Ipv4Addr = Ipv4Addr::new(10, 136, 0, 0);

/// Service `i`'s ClusterIP.
pub fn cluster_ip(i: usize) -> Ipv4Addr {
    offset(SERVICE_CIDR.0, 1 + i)
}

/// How many endpoints Service `i` has.
pub fn endpoint_count(i: usize) -> usize {
    if i.is_multiple_of(3) { 4 } else { 3 }
}

/// Endpoints of `n` Services in all.
pub fn total_endpoints(n: usize) -> usize {
    3 * n + n.div_ceil(3)
}

/// The `k`-th spare endpoint (what the `k`-th change brings in).
pub fn spare_endpoint(k: usize) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(offset(FIRST_SPARE, k), TARGET_PORT))
}

/// The `n` Services, in order.
pub fn services(n: usize) -> Vec<ServiceModel> {
    let mut next_endpoint = 0;
    (0..n)
        .map(|i| {
            let count = endpoint_count(i);
            let endpoints = (next_endpoint..next_endpoint + count)
                .map(|k| SocketAddr::V4(SocketAddrV4::new(offset(FIRST_ENDPOINT, k), TARGET_PORT)))
                .collect();
            next_endpoint += count;
            model(i, endpoints)
        })
        .collect()
}

/// Service `i` with `endpoints`: one ClusterIP frontend, TCP, Cluster traffic policy, no
/// affinity; every endpoint ready (and on this node, for the Local set).
pub fn model(i: usize, endpoints: Vec<SocketAddr>) -> ServiceModel {
    let id = ServiceId {
        namespace: NAMESPACE.to_owned(),
        name: format!("svc-{i}"),
    };
    let frontend = Frontend {
        service: id.clone(),
        port_name: "http".to_owned(),
        kind: FrontendKind::ClusterIp,
        address: Some(IpAddr::V4(cluster_ip(i))),
        protocol: Protocol::Tcp,
        port: SERVICE_PORT,
        traffic_policy: TrafficPolicy::Cluster,
        serving_endpoints: endpoints.iter().map(SocketAddr::ip).collect(),
        local_endpoints: endpoints.clone(),
        cluster_endpoints: endpoints,
        affinity_timeout: None,
        source_ranges: Vec::new(),
    };
    ServiceModel {
        local_ready_endpoints: frontend.local_endpoints.len(),
        id,
        frontends: vec![frontend],
        health_check_node_port: None,
    }
}

/// The endpoints of a model made by [`model`].
pub fn endpoints(model: &ServiceModel) -> &[SocketAddr] {
    model
        .frontends
        .first()
        .map_or(&[], |f| f.cluster_endpoints.as_slice())
}

/// One of the endpoints of a model made by [`model`], chosen by `rng` (IPv4: the plan has
/// no other).
pub fn pick_endpoint(model: &ServiceModel, rng: &mut Rng) -> Option<SocketAddrV4> {
    let all = endpoints(model);
    match all.get(rng.below(all.len().max(1)))? {
        SocketAddr::V4(endpoint) => Some(*endpoint),
        SocketAddr::V6(_) => None,
    }
}

/// One Service change: an endpoint replaced by another (a pod rescheduled).
#[derive(Clone, Debug)]
pub struct Change {
    /// Which Service.
    pub service: usize,
    /// The Service before.
    pub before: ServiceModel,
    /// The Service after.
    pub after: ServiceModel,
    /// The endpoint it brought in.
    pub brought: SocketAddr,
}

/// `count` changes of Services chosen at random among `models`, one after the other: the
/// `k`-th replaces its Service's first endpoint with the `k`-th spare one.
pub fn changes(models: &[ServiceModel], count: usize, rng: &mut Rng) -> Vec<Change> {
    let mut current: std::collections::HashMap<usize, ServiceModel> = Default::default();
    (0..count)
        .filter(|_| !models.is_empty())
        .map(|k| {
            let service = rng.below(models.len());
            let before = current.get(&service).unwrap_or(&models[service]).clone();
            let mut now = endpoints(&before).to_vec();
            let brought = spare_endpoint(k);
            match now.first_mut() {
                Some(first) => *first = brought,
                None => now.push(brought),
            }
            let after = model(service, now);
            current.insert(service, after.clone());
            Change {
                service,
                before,
                after,
                brought,
            }
        })
        .collect()
}

/// `base` plus `k`.
fn offset(base: Ipv4Addr, k: usize) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(base).wrapping_add(k as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_net(ip: IpAddr, (net, len): (Ipv4Addr, u8)) -> bool {
        let IpAddr::V4(ip) = ip else { return false };
        let mask = u32::MAX << (32 - len);
        u32::from(ip) & mask == u32::from(net) & mask
    }

    #[test]
    fn thirty_thousand_services_have_a_hundred_thousand_endpoints() {
        assert_eq!(total_endpoints(30_000), 100_000);
        let models = services(300);
        let all: usize = models.iter().map(|m| endpoints(m).len()).sum();
        assert_eq!(all, total_endpoints(300));
        let mut seen = std::collections::HashSet::new();
        for m in &models {
            for e in endpoints(m) {
                assert!(seen.insert(*e), "{e} twice");
                assert!(in_net(e.ip(), ENDPOINT_NET) && in_net(e.ip(), CLUSTER_CIDR));
            }
        }
    }

    #[test]
    fn the_largest_plan_fits_its_ranges() {
        let last = MAX_SERVICES - 1;
        assert!(in_net(IpAddr::V4(cluster_ip(last)), SERVICE_CIDR));
        let last_endpoint = offset(FIRST_ENDPOINT, total_endpoints(MAX_SERVICES) - 1);
        assert!(last_endpoint < FIRST_SPARE);
        assert!(in_net(spare_endpoint(100_000).ip(), ENDPOINT_NET));
        assert!(!in_net(IpAddr::V4(CLIENT_NET.0), ENDPOINT_NET));
        assert!(in_net(IpAddr::V4(CLIENT_NET.0), CLUSTER_CIDR));
    }

    #[test]
    fn a_model_is_one_clusterip_frontend_with_its_endpoints() {
        let m = &services(2)[1];
        assert_eq!(m.id.name, "svc-1");
        let f = &m.frontends[0];
        assert_eq!(f.address, Some(IpAddr::V4(Ipv4Addr::new(10, 96, 0, 2))));
        assert_eq!((f.protocol, f.port), (Protocol::Tcp, SERVICE_PORT));
        assert_eq!(f.cluster_endpoints.len(), 3);
        assert_eq!(f.cluster_endpoints, f.local_endpoints);
        assert_eq!(f.serving_endpoints.len(), 3);
        assert!(f.has_endpoints());
    }

    #[test]
    fn changes_follow_each_other() {
        let models = services(2);
        let changes = changes(&models, 4, &mut Rng::new(7));
        assert_eq!(changes.len(), 4);
        for (k, c) in changes.iter().enumerate() {
            assert_eq!(c.brought, spare_endpoint(k));
            assert_eq!(endpoints(&c.after)[0], c.brought);
            assert_eq!(endpoints(&c.after)[1..], endpoints(&c.before)[1..]);
            assert_eq!(c.after.id, models[c.service].id);
            // A Service changed before starts from its changed state.
            if let Some(prev) = changes[..k].iter().rev().find(|p| p.service == c.service) {
                assert_eq!(c.before, prev.after);
            } else {
                assert_eq!(c.before, models[c.service]);
            }
        }
    }
}
