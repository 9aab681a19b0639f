//! kube-proxy's `nftables` mode: its `ip kube-proxy` table, as `nft -f` input. A new
//! connection is dispatched by one lookup in the `service-ips` verdict map (address,
//! protocol, port) to the Service's chain, which picks an endpoint chain with
//! `numgen random mod n vmap`; the endpoint chain DNATs. A change of one Service is one
//! transaction that writes only what changed, as kube-proxy's partial syncs do.

use std::fmt::Write;
use std::net::SocketAddr;

use podwire_model::service::{Frontend, ServiceModel};

use super::{Ruleset, cluster_ip_frontends, hashed};

/// The table kube-proxy owns.
const TABLE: &str = "ip kube-proxy";

/// The table with its base chains and maps, and every Service of `models`; `cluster_cidr`
/// is the pods' range (sources outside it are marked for masquerade).
pub fn ruleset(models: &[ServiceModel], cluster_cidr: &str) -> Ruleset {
    let mut r = Ruleset {
        text: format!(
            "add table {TABLE} {{ comment \"rules for kube-proxy\" ; }}\n\
             add chain {TABLE} mark-for-masquerade\n\
             add rule {TABLE} mark-for-masquerade mark set mark or 0x4000\n\
             add chain {TABLE} masquerading\n\
             add rule {TABLE} masquerading mark and 0x4000 == 0 return\n\
             add rule {TABLE} masquerading mark set mark xor 0x4000\n\
             add rule {TABLE} masquerading masquerade fully-random\n\
             add map {TABLE} service-ips {{ type ipv4_addr . inet_proto . inet_service : verdict ; \
             comment \"ClusterIP, ExternalIP and LoadBalancer IP traffic\" ; }}\n\
             add map {TABLE} service-nodeports {{ type inet_proto . inet_service : verdict ; \
             comment \"NodePort traffic\" ; }}\n\
             add chain {TABLE} services\n\
             add rule {TABLE} services ip daddr . meta l4proto . th dport vmap @service-ips\n\
             add rule {TABLE} services fib daddr type local ip daddr != 127.0.0.0/8 \
             meta l4proto . th dport vmap @service-nodeports\n\
             add chain {TABLE} nat-prerouting {{ type nat hook prerouting priority dstnat ; }}\n\
             add rule {TABLE} nat-prerouting jump services\n\
             add chain {TABLE} nat-output {{ type nat hook output priority -100 ; }}\n\
             add rule {TABLE} nat-output jump services\n\
             add chain {TABLE} nat-postrouting {{ type nat hook postrouting priority srcnat ; }}\n\
             add rule {TABLE} nat-postrouting jump masquerading\n"
        ),
        rules: 9,
        chains: 6,
    };
    for (name, proto, frontend) in cluster_ip_frontends(models) {
        let service = ServiceChains::new(&name, &proto, frontend, cluster_cidr);
        for endpoint in &frontend.cluster_endpoints {
            service.add_endpoint(&mut r, *endpoint);
        }
        service.add_service(&mut r, &frontend.cluster_endpoints);
        service.add_element(&mut r);
    }
    r
}

/// One transaction that changes a Service from `before` to `after` (the same Service with
/// other endpoints): the new endpoints' chains, the Service's chain rewritten, the old
/// endpoints' chains flushed and deleted.
pub fn change(before: &ServiceModel, after: &ServiceModel, cluster_cidr: &str) -> String {
    let mut r = Ruleset::default();
    let old: Vec<_> = cluster_ip_frontends(std::slice::from_ref(before)).collect();
    for (name, proto, frontend) in cluster_ip_frontends(std::slice::from_ref(after)) {
        let service = ServiceChains::new(&name, &proto, frontend, cluster_cidr);
        let was = old
            .iter()
            .find(|(n, p, _)| *n == name && *p == proto)
            .map_or(&[][..], |(_, _, f)| &f.cluster_endpoints[..]);
        let now = &frontend.cluster_endpoints;
        for endpoint in now.iter().filter(|e| !was.contains(e)) {
            service.add_endpoint(&mut r, *endpoint);
        }
        let _ = writeln!(r.text, "flush chain {TABLE} {}", service.chain);
        service.add_service_rules(&mut r, now);
        for endpoint in was.iter().filter(|e| !now.contains(e)) {
            let chain = service.endpoint_chain(*endpoint);
            let _ = writeln!(r.text, "flush chain {TABLE} {chain}");
            let _ = writeln!(r.text, "delete chain {TABLE} {chain}");
        }
    }
    r.text
}

/// The names and matches of one Service port's chains.
struct ServiceChains<'a> {
    /// `namespace/name/protocol/port`, as in kube-proxy's chain names.
    base: String,
    /// The Service port's chain.
    chain: String,
    proto: &'a str,
    frontend: &'a Frontend,
    cluster_cidr: &'a str,
}

impl<'a> ServiceChains<'a> {
    fn new(
        name: &str,
        proto: &'a str,
        frontend: &'a Frontend,
        cluster_cidr: &'a str,
    ) -> ServiceChains<'a> {
        // `namespace/name:port` → `namespace/name/tcp/port`.
        let base = match name.rsplit_once(':') {
            Some((service, port)) => format!("{service}/{proto}/{port}"),
            None => format!("{name}/{proto}"),
        };
        ServiceChains {
            chain: format!("service-{}-{base}", hashed(&base, 8)),
            base,
            proto,
            frontend,
            cluster_cidr,
        }
    }

    fn endpoint_chain(&self, endpoint: SocketAddr) -> String {
        let id = format!("{}__{}/{}", self.base, endpoint.ip(), endpoint.port());
        format!("endpoint-{}-{id}", hashed(&id, 8))
    }

    fn add_endpoint(&self, r: &mut Ruleset, endpoint: SocketAddr) {
        let chain = self.endpoint_chain(endpoint);
        let _ = writeln!(r.text, "add chain {TABLE} {chain}");
        let _ = writeln!(
            r.text,
            "add rule {TABLE} {chain} ip saddr {} jump mark-for-masquerade",
            endpoint.ip()
        );
        let _ = writeln!(
            r.text,
            "add rule {TABLE} {chain} meta l4proto {} dnat to {endpoint}",
            self.proto
        );
        r.chains += 1;
        r.rules += 2;
    }

    fn add_service(&self, r: &mut Ruleset, endpoints: &[SocketAddr]) {
        let _ = writeln!(r.text, "add chain {TABLE} {}", self.chain);
        r.chains += 1;
        self.add_service_rules(r, endpoints);
    }

    fn add_service_rules(&self, r: &mut Ruleset, endpoints: &[SocketAddr]) {
        let Some(ip) = self.frontend.address else {
            return;
        };
        let _ = writeln!(
            r.text,
            "add rule {TABLE} {} ip daddr {ip} {} dport {} ip saddr != {} jump mark-for-masquerade",
            self.chain, self.proto, self.frontend.port, self.cluster_cidr
        );
        let verdicts: Vec<String> = endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| format!("{i} : goto {}", self.endpoint_chain(*e)))
            .collect();
        let _ = writeln!(
            r.text,
            "add rule {TABLE} {} numgen random mod {} vmap {{ {} }}",
            self.chain,
            endpoints.len(),
            verdicts.join(" , ")
        );
        r.rules += 2;
    }

    fn add_element(&self, r: &mut Ruleset) {
        let Some(ip) = self.frontend.address else {
            return;
        };
        let _ = writeln!(
            r.text,
            "add element {TABLE} service-ips {{ {ip} . {} . {} : goto {} }}",
            self.proto, self.frontend.port, self.chain
        );
        r.rules += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::services::workload;

    #[test]
    fn a_service_is_a_map_element_a_service_chain_and_endpoint_chains() {
        let models = workload::services(2);
        let r = ruleset(&models, "10.128.0.0/9");
        let lines: Vec<&str> = r.text.lines().collect();
        let element = lines
            .iter()
            .find(|l| l.contains("service-ips { 10.96.0.1 . tcp . 80 : goto service-"))
            .expect("the first Service's map element");
        let chain = element
            .split("goto ")
            .nth(1)
            .unwrap()
            .trim_end_matches(" }");
        assert!(chain.ends_with("-bench/svc-0/tcp/http"), "{chain}");
        let pick = lines
            .iter()
            .find(|l| l.starts_with(&format!("add rule ip kube-proxy {chain} numgen")))
            .unwrap();
        assert!(pick.contains("numgen random mod 4 vmap { 0 : goto endpoint-"));
        assert_eq!(pick.matches("goto endpoint-").count(), 4);
        // Every chain a verdict names is added before it.
        for (i, line) in lines.iter().enumerate() {
            for target in line.split("goto ").skip(1) {
                let target = target.split([' ', ',']).next().unwrap();
                let added = format!("add chain ip kube-proxy {target}");
                assert!(
                    lines[..i].iter().any(|l| *l == added),
                    "{target} used before it is added"
                );
            }
        }
        assert!(lines.iter().any(|l| l.ends_with(
            "-bench/svc-0/tcp/http__10.128.0.0/8080 meta l4proto tcp dnat to 10.128.0.0:8080"
        )));
        let adds = lines.iter().filter(|l| l.starts_with("add chain")).count();
        assert_eq!(adds, r.chains);
        let rules = lines
            .iter()
            .filter(|l| l.starts_with("add rule") || l.starts_with("add element"))
            .count();
        assert_eq!(rules, r.rules);
    }

    #[test]
    fn a_change_writes_only_that_service() {
        let models = workload::services(3);
        let before = &models[1];
        let mut endpoints = workload::endpoints(before).to_vec();
        let old = endpoints[0];
        endpoints[0] = workload::spare_endpoint(0);
        let after = workload::model(1, endpoints);
        let text = change(before, &after, "10.128.0.0/9");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines.iter().filter(|l| l.starts_with("add chain")).count(),
            1
        );
        assert!(lines[0].contains("__10.136.0.0/8080"), "{}", lines[0]);
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("flush chain ip kube-proxy service-"))
        );
        assert!(lines.iter().any(|l| l.contains("numgen random mod 3 vmap")));
        let gone = format!("__{}/{}", old.ip(), old.port());
        assert!(
            lines
                .last()
                .is_some_and(|l| l.starts_with("delete chain") && l.ends_with(&gone))
        );
        assert!(
            lines
                .iter()
                .all(|l| !l.contains("svc-0/") && !l.contains("svc-2/"))
        );
    }
}
