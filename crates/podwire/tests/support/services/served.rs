//! A Service applied with its backends ready behind it, set up in one call.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};

use super::lab::{BackendPod, SvcLab};
use super::manifest::{SERVICE_PORT, Service};

/// A Service and the backend pods it selects, all of them its ready endpoints.
pub struct Served {
    /// The Service, as applied.
    pub service: Service,
    /// Its backends.
    pub backends: Vec<BackendPod>,
}

impl Served {
    /// The Service's ClusterIP and port.
    pub fn vip(&self) -> SocketAddr {
        SocketAddr::new(self.service.cluster_ip, SERVICE_PORT)
    }

    /// The names of its backends.
    pub fn names(&self) -> BTreeSet<String> {
        self.backends.iter().map(|b| b.pod.name.clone()).collect()
    }

    /// The addresses of its backends.
    pub fn addresses(&self) -> Vec<IpAddr> {
        self.backends.iter().map(|b| b.pod.ip).collect()
    }
}

impl SvcLab {
    /// `count` backends for `service` (pods `APP-0`, `APP-1` ... where APP is the `app` its
    /// selector names), then `service` applied; returns once the backends are its ready
    /// endpoints.
    pub fn serve(&self, service: Service, count: usize) -> Served {
        let app = service
            .selector
            .iter()
            .find(|(key, _)| key == "app")
            .map(|(_, app)| app.clone())
            .unwrap_or_else(|| panic!("Service {} selects no app", service.name));
        let backends = self.backends(&app, count);
        self.apply(&service.yaml());
        let served = Served { service, backends };
        self.wait_endpoints(&served.service.name, &served.addresses());
        served
    }
}
