//! kube-proxy's `iptables` mode: the `nat` table as its full sync writes it for
//! `iptables-restore`. A new connection walks `KUBE-SERVICES`, one rule per Service port,
//! until its ClusterIP and port match; the Service's `KUBE-SVC-` chain picks an endpoint
//! with cascaded `statistic --mode random` rules (1/n, 1/(n-1), …); the endpoint's
//! `KUBE-SEP-` chain DNATs. Above 1000 endpoints kube-proxy runs in "large cluster mode"
//! and leaves out the endpoint rules' comments; so does this.

use std::fmt::Write;

use podwire_model::service::ServiceModel;

use super::{Ruleset, cluster_ip_frontends, hashed};

/// Endpoints above which kube-proxy drops the endpoint rules' comments.
const LARGE_CLUSTER_ENDPOINTS: usize = 1000;

/// The `iptables-restore` input for `models`; `cluster_cidr` is the pods' range (sources
/// outside it are marked for masquerade).
pub fn restore_input(models: &[ServiceModel], cluster_cidr: &str) -> Ruleset {
    let endpoints: usize = cluster_ip_frontends(models)
        .map(|(_, _, f)| f.cluster_endpoints.len())
        .sum();
    let large = endpoints > LARGE_CLUSTER_ENDPOINTS;
    let mut chains = String::from(
        "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
         :POSTROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-NODEPORTS - [0:0]\n\
         :KUBE-MARK-MASQ - [0:0]\n:KUBE-POSTROUTING - [0:0]\n",
    );
    let mut rules = String::from(
        "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n\
         -A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n\
         -A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING\n\
         -A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n\
         -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n\
         -A KUBE-POSTROUTING -j MARK --xor-mark 0x4000\n\
         -A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" \
         -j MASQUERADE --random-fully\n",
    );
    let mut count = Ruleset {
        rules: 7,
        chains: 4,
        ..Ruleset::default()
    };
    for (name, proto, frontend) in cluster_ip_frontends(models) {
        let Some(ip) = frontend.address else { continue };
        let port = frontend.port;
        let svc = format!("KUBE-SVC-{}", hashed(&format!("{name}{proto}"), 16));
        let matches = format!(
            "-m comment --comment \"{name} cluster IP\" -m {proto} -p {proto} -d {ip} \
             --dport {port}"
        );
        let _ = writeln!(chains, ":{svc} - [0:0]");
        let _ = writeln!(rules, "-A KUBE-SERVICES {matches} -j {svc}");
        let _ = writeln!(
            rules,
            "-A {svc} {matches} ! -s {cluster_cidr} -j KUBE-MARK-MASQ"
        );
        count.chains += 1;
        count.rules += 2;
        let n = frontend.cluster_endpoints.len();
        for (i, endpoint) in frontend.cluster_endpoints.iter().enumerate() {
            let sep = format!(
                "KUBE-SEP-{}",
                hashed(&format!("{name}{proto}{endpoint}"), 16)
            );
            let _ = writeln!(chains, ":{sep} - [0:0]");
            let comment = |text: &str| {
                if large {
                    String::new()
                } else {
                    format!(" -m comment --comment \"{text}\"")
                }
            };
            let pick = if i + 1 < n {
                format!(
                    " -m statistic --mode random --probability {:.10}",
                    1.0 / (n - i) as f64
                )
            } else {
                String::new()
            };
            let _ = writeln!(
                rules,
                "-A {svc}{}{pick} -j {sep}",
                comment(&format!("{name} -> {endpoint}"))
            );
            let _ = writeln!(
                rules,
                "-A {sep}{} -s {} -j KUBE-MARK-MASQ",
                comment(&name),
                endpoint.ip()
            );
            let _ = writeln!(
                rules,
                "-A {sep}{} -m {proto} -p {proto} -j DNAT --to-destination {endpoint}",
                comment(&name)
            );
            count.chains += 1;
            count.rules += 3;
        }
    }
    rules.push_str(
        "-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must \
         be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\nCOMMIT\n",
    );
    count.rules += 1;
    count.text = chains + &rules;
    count
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::services::workload;

    #[test]
    fn each_service_is_a_dispatch_rule_a_service_chain_and_endpoint_chains() {
        let models = workload::services(2);
        let r = restore_input(&models, "10.128.0.0/9");
        let lines: Vec<&str> = r.text.lines().collect();
        assert_eq!(lines.first(), Some(&"*nat"));
        assert_eq!(lines.last(), Some(&"COMMIT"));
        let dispatch: Vec<&&str> = lines
            .iter()
            .filter(|l| l.starts_with("-A KUBE-SERVICES") && l.contains("cluster IP"))
            .collect();
        assert_eq!(dispatch.len(), 2);
        assert!(dispatch[0].contains("-m tcp -p tcp -d 10.96.0.1 --dport 80 -j KUBE-SVC-"));
        // Service 0 has 4 endpoints: probabilities 1/4, 1/3, 1/2, then the last one always.
        let svc0 = dispatch[0].rsplit(' ').next().unwrap();
        let picks: Vec<&&str> = lines
            .iter()
            .filter(|l| l.starts_with(&format!("-A {svc0} ")) && l.contains("KUBE-SEP-"))
            .collect();
        assert_eq!(picks.len(), 4);
        assert!(picks[0].contains("--probability 0.2500000000"));
        assert!(picks[1].contains("--probability 0.3333333333"));
        assert!(picks[2].contains("--probability 0.5000000000"));
        assert!(!picks[3].contains("statistic"));
        // Few endpoints: not large cluster mode, the endpoint rules have their comments.
        assert!(picks[0].contains("--comment \"bench/svc-0:http -> 10.128.0.0:8080\""));
        let dnat: Vec<&&str> = lines.iter().filter(|l| l.contains("-j DNAT")).collect();
        assert_eq!(dnat.len(), 7);
        assert!(dnat[0].ends_with("-m tcp -p tcp -j DNAT --to-destination 10.128.0.0:8080"));
        let declared = lines.iter().filter(|l| l.starts_with(':')).count();
        assert_eq!(
            declared,
            r.chains + 4,
            "the built-in chains are declared too"
        );
        let appended = lines.iter().filter(|l| l.starts_with("-A ")).count();
        assert_eq!(appended, r.rules);
        // The last rule of KUBE-SERVICES is the NodePort catch-all.
        let last = lines
            .iter()
            .rev()
            .find(|l| l.starts_with("-A KUBE-SERVICES"));
        assert!(last.unwrap().ends_with("-j KUBE-NODEPORTS"));
    }

    #[test]
    fn many_endpoints_leave_out_the_endpoint_comments() {
        let r = restore_input(&workload::services(400), "10.128.0.0/9");
        let pick = r
            .text
            .lines()
            .find(|l| l.starts_with("-A KUBE-SVC-") && l.contains("statistic"))
            .unwrap();
        assert!(!pick.contains("comment"), "{pick}");
    }
}
