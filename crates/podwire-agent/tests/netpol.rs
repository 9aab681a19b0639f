//! NetworkPolicy and ClusterNetworkPolicy truth tables, run against podwire's data plane in
//! memory.
//!
//! Upstream's netpol e2e suite (kubernetes/kubernetes `test/e2e/network/netpol`) builds
//! namespaces x, y, z with pods a, b, c, applies NetworkPolicies, and checks the whole 9×9
//! reachability matrix against the one it expects. Its tests are ported here as data
//! (`netpol/upstream.rs`: same names, same policies, same expected matrices), and so are the
//! network-policy-api conformance tests of the Admin and Baseline tiers
//! (`netpol/tiers.rs`, mapped onto the same model). They run through podwire's real path:
//! the objects are compiled by `podwire_k8s::policy::compile`, rendered by the agent's
//! policy renderer, published in the data plane's tables, and every cell is probed with a
//! connection's first packet (and its answer) through an `Engine`. The same tables are also
//! checked against an oracle written independently from the APIs' semantics
//! (`netpol/oracle.rs`), which is itself checked against the cases' matrices, and
//! thousands of cyclonus-style generated scenarios (NetworkPolicies and ClusterNetworkPolicies
//! of both tiers together) are run against that oracle.
//!
//! `NETPOL_SEED` and `NETPOL_SCENARIOS` change the generated run (to search further, or to
//! rerun one seed).

// A test crate's root looks for its modules beside it: these live in netpol/.
#[path = "netpol/case.rs"]
mod case;
#[path = "netpol/dataplane.rs"]
mod dataplane;
#[path = "netpol/generator.rs"]
mod generator;
#[path = "netpol/model.rs"]
mod model;
#[path = "netpol/oracle.rs"]
mod oracle;
// Shared with the Services truth tables (kube_proxy.rs).
#[path = "common/packets.rs"]
mod packets;
#[path = "netpol/reachability.rs"]
mod reachability;
#[path = "netpol/run.rs"]
mod run;
#[path = "netpol/tiers.rs"]
mod tiers;
#[path = "netpol/upstream.rs"]
mod upstream;
#[path = "netpol/yaml.rs"]
mod yaml;

use dataplane::Target;
use model::Family;
use run::{Judge, check_cases, check_generated};
use tiers::TIER_CASES;
use upstream::{SCTP_CASES, TCP_CASES, UDP_CASES};

/// The generated run's seed, unless `NETPOL_SEED` says otherwise.
const SEED: u64 = 0x6e65_7470_6f6c;
/// Scenarios probed at the pods' addresses, unless `NETPOL_SCENARIOS` says otherwise; a
/// fifth as many are probed at the pods' Services.
const SCENARIOS: u64 = 1000;

/// A number from the environment, or `default`.
fn setting(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => {
            let text = text.trim();
            let parsed = match text.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => text.parse(),
            };
            parsed.unwrap_or_else(|e| panic!("{name}={text:?} is not a number: {e}"))
        }
        Err(_) => default,
    }
}

#[test]
fn the_oracle_agrees_with_upstream() {
    for family in [Family::V4, Family::V6] {
        for cases in [TCP_CASES, UDP_CASES, SCTP_CASES] {
            check_cases(cases, family, Judge::Oracle);
        }
    }
}

#[test]
fn upstream_tcp() {
    check_cases(TCP_CASES, Family::V4, Judge::DataPlane(Target::Pod));
}

#[test]
fn upstream_udp() {
    check_cases(UDP_CASES, Family::V4, Judge::DataPlane(Target::Pod));
}

#[test]
fn upstream_sctp() {
    check_cases(SCTP_CASES, Family::V4, Judge::DataPlane(Target::Pod));
}

#[test]
fn upstream_ipv6() {
    for cases in [TCP_CASES, UDP_CASES, SCTP_CASES] {
        check_cases(cases, Family::V6, Judge::DataPlane(Target::Pod));
    }
}

#[test]
fn upstream_through_services() {
    for cases in [TCP_CASES, UDP_CASES, SCTP_CASES] {
        check_cases(cases, Family::V4, Judge::DataPlane(Target::Service));
    }
}

#[test]
fn the_oracle_agrees_with_the_tier_cases() {
    for family in [Family::V4, Family::V6] {
        check_cases(TIER_CASES, family, Judge::Oracle);
    }
}

#[test]
fn tier_cases() {
    for family in [Family::V4, Family::V6] {
        check_cases(TIER_CASES, family, Judge::DataPlane(Target::Pod));
    }
}

#[test]
fn tier_cases_through_services() {
    check_cases(TIER_CASES, Family::V4, Judge::DataPlane(Target::Service));
}

#[test]
fn generated_policies_agree_with_the_oracle() {
    check_generated(
        setting("NETPOL_SEED", SEED),
        setting("NETPOL_SCENARIOS", SCENARIOS),
        Target::Pod,
    );
}

#[test]
fn generated_policies_through_services() {
    check_generated(
        setting("NETPOL_SEED", SEED) ^ 0x5e7,
        setting("NETPOL_SCENARIOS", SCENARIOS) / 5,
        Target::Service,
    );
}
