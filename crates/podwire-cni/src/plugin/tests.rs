//! Every verb end to end against a fake agent.

use std::collections::HashMap;
use std::path::PathBuf;

use podwire_model::attach::{
    Attachment, DelReport, FailureKind, GcReport, NetworkStatus, PodIdentity, ValidAttachment,
};
use serde_json::{Value, json};

use super::*;
use crate::test_support::{NETNS, tap};

/// What the fake was asked.
#[derive(Debug, Clone, PartialEq)]
enum Call {
    Add(AddRequest),
    Del(DelRequest),
    Check(CheckRequest),
    Gc(GcRequest),
    Networks,
}

/// An agent that answers as scripted and records what it was asked.
struct FakeAgent {
    connected_to: Vec<PathBuf>,
    calls: Vec<Call>,
    add: Result<Attachment, AgentFailure>,
    del: Result<DelReport, AgentFailure>,
    check: Result<Attachment, AgentFailure>,
    gc: Result<GcReport, AgentFailure>,
    networks: Result<Vec<NetworkStatus>, AgentFailure>,
}

impl FakeAgent {
    fn new() -> FakeAgent {
        FakeAgent {
            connected_to: vec![],
            calls: vec![],
            add: Ok(tap()),
            del: Ok(DelReport { existed: true }),
            check: Ok(tap()),
            gc: Ok(GcReport::default()),
            networks: Ok(vec![network("default", true, None)]),
        }
    }

    /// Every call fails with `failure`.
    fn failing(failure: AgentFailure) -> FakeAgent {
        FakeAgent {
            add: Err(failure.clone()),
            del: Err(failure.clone()),
            check: Err(failure.clone()),
            gc: Err(failure.clone()),
            networks: Err(failure),
            ..FakeAgent::new()
        }
    }

    /// Runs the plugin with `vars` and `stdin` against this agent.
    fn run(&mut self, vars: &[(&str, &str)], stdin: &str) -> Outcome {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        run(
            |name| vars.get(name).cloned(),
            stdin.as_bytes(),
            |socket: &Path| {
                self.connected_to.push(socket.to_owned());
                &mut *self
            },
        )
    }
}

impl Agent for FakeAgent {
    fn add(&mut self, request: &AddRequest) -> Result<Attachment, AgentFailure> {
        self.calls.push(Call::Add(request.clone()));
        self.add.clone()
    }
    fn del(&mut self, request: &DelRequest) -> Result<DelReport, AgentFailure> {
        self.calls.push(Call::Del(request.clone()));
        self.del.clone()
    }
    fn check(&mut self, request: &CheckRequest) -> Result<Attachment, AgentFailure> {
        self.calls.push(Call::Check(request.clone()));
        self.check.clone()
    }
    fn gc(&mut self, request: &GcRequest) -> Result<GcReport, AgentFailure> {
        self.calls.push(Call::Gc(request.clone()));
        self.gc.clone()
    }
    fn networks(&mut self) -> Result<Vec<NetworkStatus>, AgentFailure> {
        self.calls.push(Call::Networks);
        self.networks.clone()
    }
}

fn network(name: &str, ready: bool, reason: Option<&str>) -> NetworkStatus {
    NetworkStatus {
        name: name.into(),
        ready,
        reason: reason.map(str::to_owned),
        pools: vec![],
        attachments: 0,
        mtu: None,
    }
}

const SOCKET: &str = "/run/podwire-test/api.sock";

fn config(version: &str) -> Value {
    json!({"cniVersion": version, "name": "mynet", "type": "podwire", "agentSocket": SOCKET})
}

fn stdin(config: &Value) -> String {
    config.to_string()
}

fn env(command: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("CNI_COMMAND", command),
        ("CNI_CONTAINERID", "c0ffee"),
        ("CNI_NETNS", NETNS),
        ("CNI_IFNAME", "eth0"),
        ("CNI_PATH", "/opt/cni/bin"),
    ]
}

fn key() -> AttachmentKey {
    AttachmentKey {
        network: "default".into(),
        container_id: "c0ffee".into(),
        ifname: "eth0".into(),
    }
}

fn json_out(outcome: &Outcome) -> Value {
    serde_json::from_str(&outcome.stdout)
        .unwrap_or_else(|e| panic!("stdout {:?} is not JSON: {e}", outcome.stdout))
}

/// Asserts a failure with `code` and gives its JSON.
fn failed_with(outcome: &Outcome, code: u32) -> Value {
    assert_eq!(outcome.exit_code, 1, "{}", outcome.stdout);
    let error = json_out(outcome);
    assert_eq!(error["code"], code, "{error}");
    assert!(
        error["msg"].as_str().is_some_and(|m| !m.is_empty()),
        "{error}"
    );
    error
}

fn succeeded_silently(outcome: &Outcome) {
    assert_eq!(
        (outcome.exit_code, outcome.stdout.as_str()),
        (0, ""),
        "{}",
        outcome.stdout
    );
}

// VERSION

#[test]
fn version_answers_any_version_without_asking_the_agent() {
    let mut agent = FakeAgent::new();
    for asked in ["0.3.1", "1.0.0", "1.1.0", "9.9.9"] {
        let outcome = agent.run(
            &[("CNI_COMMAND", "VERSION")],
            &format!(r#"{{"cniVersion":"{asked}"}}"#),
        );
        assert_eq!(outcome.exit_code, 0);
        assert_eq!(
            json_out(&outcome),
            json!({"cniVersion": asked, "supportedVersions": ["1.0.0", "1.1.0"]})
        );
    }
    let outcome = agent.run(&[("CNI_COMMAND", "VERSION")], "");
    assert_eq!(
        json_out(&outcome)["supportedVersions"],
        json!(["1.0.0", "1.1.0"])
    );
    assert!(agent.connected_to.is_empty() && agent.calls.is_empty());
}

// ADD

#[test]
fn add_asks_the_agent_and_answers_in_1_0_0() {
    let mut agent = FakeAgent::new();
    let mut vars = env("ADD");
    vars.push((
        "CNI_ARGS",
        "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=web;K8S_POD_UID=u1;K8S_POD_INFRA_CONTAINER_ID=c0ffee",
    ));
    let mut conf = config("1.0.0");
    conf["dns"] = json!({"nameservers": ["10.96.0.10"]});
    let outcome = agent.run(&vars, &stdin(&conf));
    assert_eq!(outcome.exit_code, 0, "{}", outcome.stdout);
    assert_eq!(
        json_out(&outcome),
        json!({
            "cniVersion": "1.0.0",
            "interfaces": [{"name": "eth0", "mac": "02:fe:00:00:00:02", "sandbox": NETNS}],
            "ips": [
                {"address": "10.251.0.2/32", "gateway": "169.254.1.1", "interface": 0},
                {"address": "fd00:251::2/128", "gateway": "fe80::1", "interface": 0},
            ],
            "routes": [
                {"dst": "0.0.0.0/0", "gw": "169.254.1.1"},
                {"dst": "::/0", "gw": "fe80::1"},
            ],
            "dns": {"nameservers": ["10.96.0.10"]},
        })
    );
    assert_eq!(agent.connected_to, [PathBuf::from(SOCKET)]);
    assert_eq!(
        agent.calls,
        [Call::Add(AddRequest {
            key: key(),
            netns: NETNS.into(),
            pod: PodIdentity {
                namespace: Some("ns1".into()),
                name: Some("web".into()),
                uid: Some("u1".into()),
                sandbox_id: Some("c0ffee".into()),
            },
            cni_network: "mynet".into(),
            device_info_file: None,
        })]
    );
}

#[test]
fn add_in_1_1_0_reports_the_mtu_and_passes_the_device_info_file() {
    let mut agent = FakeAgent::new();
    let mut conf = config("1.1.0");
    conf["network"] = json!("cnf");
    conf["runtimeConfig"] = json!({"CNIDeviceInfoFile": "/run/devinfo/x.json"});
    let outcome = agent.run(&env("ADD"), &stdin(&conf));
    let result = json_out(&outcome);
    assert_eq!(result["cniVersion"], "1.1.0");
    assert_eq!(result["interfaces"][0]["mtu"], 1500);
    let [Call::Add(request)] = agent.calls.as_slice() else {
        panic!("expected one ADD, got {:?}", agent.calls);
    };
    assert_eq!(request.key.network, "cnf");
    assert_eq!(request.device_info_file, Some("/run/devinfo/x.json".into()));
}

#[test]
fn add_chains_onto_a_prev_result() {
    let mut agent = FakeAgent::new();
    let mut conf = config("1.0.0");
    conf["prevResult"] = json!({
        "cniVersion": "1.0.0",
        "interfaces": [{"name": "lo", "sandbox": NETNS}],
        "ips": [{"address": "127.0.0.1/8", "interface": 0}],
    });
    let result = json_out(&agent.run(&env("ADD"), &stdin(&conf)));
    assert_eq!(result["interfaces"][0]["name"], "lo");
    assert_eq!(result["interfaces"][1]["name"], "eth0");
    assert_eq!(
        result["ips"][0],
        json!({"address": "127.0.0.1/8", "interface": 0})
    );
    assert_eq!(result["ips"][1]["interface"], 1);
    assert_eq!(result["ips"][2]["interface"], 1);
    assert_eq!(result["routes"].as_array().unwrap().len(), 2);
}

#[test]
fn add_failures_map_to_the_contracts_codes() {
    for (kind, code) in crate::test_support::REFUSAL_CODES {
        let mut agent = FakeAgent::failing(AgentFailure::Refused {
            kind,
            message: format!("refused as {kind:?}"),
        });
        let error = failed_with(&agent.run(&env("ADD"), &stdin(&config("1.1.0"))), code);
        assert_eq!(error["cniVersion"], "1.1.0");
        assert_eq!(error["msg"], format!("refused as {kind:?}"));
    }
}

#[test]
fn add_without_an_agent_is_try_again_later_naming_the_socket() {
    let mut agent = FakeAgent::failing(AgentFailure::Unreachable("no socket file".into()));
    let error = failed_with(&agent.run(&env("ADD"), &stdin(&config("1.0.0"))), 11);
    let msg = error["msg"].as_str().unwrap();
    assert!(msg.contains(&format!("{SOCKET} is not running")), "{msg}");
    assert!(msg.contains("podwire daemon"), "{msg}");
    assert_eq!(error["details"], "no socket file");
}

#[test]
fn add_with_a_timed_out_or_broken_agent() {
    let mut slow = FakeAgent::failing(AgentFailure::TimedOut("after 30 s".into()));
    failed_with(&slow.run(&env("ADD"), &stdin(&config("1.0.0"))), 11);
    let mut broken = FakeAgent::failing(AgentFailure::Other("bad answer".into()));
    failed_with(&broken.run(&env("ADD"), &stdin(&config("1.0.0"))), 999);
}

// Input errors: no agent is contacted.

#[test]
fn bad_environment_is_code_4_with_the_configs_version() {
    let mut agent = FakeAgent::new();
    let error = failed_with(
        &agent.run(&[("CNI_COMMAND", "ADD")], &stdin(&config("1.1.0"))),
        4,
    );
    assert_eq!(error["cniVersion"], "1.1.0");
    let msg = error["msg"].as_str().unwrap();
    for var in ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"] {
        assert!(msg.contains(var), "{msg}");
    }
    // With an unknown version the error says none.
    let error = failed_with(&agent.run(&[("CNI_COMMAND", "ADD")], "{}"), 4);
    assert!(error.get("cniVersion").is_none(), "{error}");
    let error = failed_with(&agent.run(&[("CNI_COMMAND", "BOGUS")], ""), 4);
    assert!(
        error["msg"].as_str().unwrap().contains("\"BOGUS\""),
        "{error}"
    );
    assert!(agent.connected_to.is_empty());
}

#[test]
fn bad_stdin_is_code_6_and_a_bad_config_7_and_a_bad_version_1() {
    let mut agent = FakeAgent::new();
    for verb in ["ADD", "DEL", "CHECK"] {
        failed_with(&agent.run(&env(verb), "not json"), 6);
        failed_with(&agent.run(&env(verb), ""), 6);
        let mut nameless = config("1.0.0");
        nameless.as_object_mut().unwrap().remove("name");
        let error = failed_with(&agent.run(&env(verb), &stdin(&nameless)), 7);
        assert_eq!(error["cniVersion"], "1.0.0");
        let error = failed_with(&agent.run(&env(verb), &stdin(&config("0.4.0"))), 1);
        assert!(error.get("cniVersion").is_none(), "{error}");
    }
    assert!(agent.connected_to.is_empty());
}

// DEL

#[test]
fn del_succeeds_whether_or_not_the_attachment_existed() {
    for existed in [true, false] {
        let mut agent = FakeAgent::new();
        agent.del = Ok(DelReport { existed });
        succeeded_silently(&agent.run(&env("DEL"), &stdin(&config("1.0.0"))));
        assert_eq!(
            agent.calls,
            [Call::Del(DelRequest {
                key: key(),
                netns: Some(NETNS.into())
            })]
        );
    }
}

#[test]
fn del_without_a_netns_twice() {
    let mut agent = FakeAgent::new();
    agent.del = Ok(DelReport { existed: false });
    let vars = [
        ("CNI_COMMAND", "DEL"),
        ("CNI_CONTAINERID", "c0ffee"),
        ("CNI_IFNAME", "eth0"),
    ];
    succeeded_silently(&agent.run(&vars, &stdin(&config("1.1.0"))));
    succeeded_silently(&agent.run(&vars, &stdin(&config("1.1.0"))));
    let expected = Call::Del(DelRequest {
        key: key(),
        netns: None,
    });
    assert_eq!(agent.calls, [expected.clone(), expected]);
}

#[test]
fn del_with_a_prev_result_succeeds() {
    let mut agent = FakeAgent::new();
    let mut conf = config("1.0.0");
    conf["prevResult"] =
        json!({"cniVersion": "1.0.0", "interfaces": [{"name": "eth0", "sandbox": NETNS}]});
    succeeded_silently(&agent.run(&env("DEL"), &stdin(&conf)));
}

#[test]
fn del_without_an_agent_fails_so_the_runtime_retries() {
    let mut agent = FakeAgent::failing(AgentFailure::Unreachable("connection refused".into()));
    let error = failed_with(&agent.run(&env("DEL"), &stdin(&config("1.0.0"))), 11);
    assert!(error["msg"].as_str().unwrap().contains(SOCKET), "{error}");
}

#[test]
fn del_refused_by_the_kernel_is_103() {
    let mut agent = FakeAgent::failing(AgentFailure::Refused {
        kind: Some(FailureKind::Kernel),
        message: "cannot delete tap".into(),
    });
    failed_with(&agent.run(&env("DEL"), &stdin(&config("1.0.0"))), 103);
}

// CHECK

#[test]
fn check_asks_the_agent_and_is_silent_when_all_is_well() {
    let mut agent = FakeAgent::new();
    succeeded_silently(&agent.run(&env("CHECK"), &stdin(&config("1.0.0"))));
    assert_eq!(
        agent.calls,
        [Call::Check(CheckRequest {
            key: key(),
            netns: NETNS.into()
        })]
    );
}

/// The ADD result podwire gave for `tap()`, as the runtime would pass it back.
fn added_result(version: &str) -> Value {
    let mut agent = FakeAgent::new();
    let outcome = agent.run(&env("ADD"), &stdin(&config(version)));
    json_out(&outcome)
}

#[test]
fn check_compares_the_prev_result_with_the_attachment() {
    for version in ["1.0.0", "1.1.0"] {
        let mut conf = config(version);
        conf["prevResult"] = added_result(version);
        succeeded_silently(&FakeAgent::new().run(&env("CHECK"), &stdin(&conf)));

        let mut moved = FakeAgent::new();
        let mut attachment = tap();
        attachment.addresses[0] = crate::test_support::cidr("10.251.0.9/32");
        moved.check = Ok(attachment);
        let error = failed_with(&moved.run(&env("CHECK"), &stdin(&conf)), 101);
        assert!(
            error["msg"].as_str().unwrap().contains("10.251.0.9/32"),
            "{error}"
        );
    }
}

#[test]
fn check_fails_when_the_prev_result_lacks_the_interface() {
    let mut conf = config("1.0.0");
    conf["prevResult"] =
        json!({"cniVersion": "1.0.0", "interfaces": [{"name": "eth1", "sandbox": NETNS}]});
    let error = failed_with(&FakeAgent::new().run(&env("CHECK"), &stdin(&conf)), 101);
    assert!(
        error["msg"].as_str().unwrap().contains("no interface eth0"),
        "{error}"
    );
}

#[test]
fn check_failures_from_the_agent() {
    let cases = [
        (Some(FailureKind::NotAsAdded), 101),
        (Some(FailureKind::UnknownContainer), 3),
    ];
    for (kind, code) in cases {
        let mut agent = FakeAgent::failing(AgentFailure::Refused {
            kind,
            message: "eth0 is gone".into(),
        });
        failed_with(&agent.run(&env("CHECK"), &stdin(&config("1.0.0"))), code);
    }
    let mut absent = FakeAgent::failing(AgentFailure::Unreachable("x".into()));
    failed_with(&absent.run(&env("CHECK"), &stdin(&config("1.0.0"))), 11);
}

// GC

fn gc_env() -> Vec<(&'static str, &'static str)> {
    vec![("CNI_COMMAND", "GC"), ("CNI_PATH", "/opt/cni/bin")]
}

#[test]
fn gc_passes_the_valid_attachments_under_either_key() {
    for key in ["cni.dev/valid-attachments", "cni.dev/attachments"] {
        let mut agent = FakeAgent::new();
        let mut conf = config("1.1.0");
        conf["network"] = json!("cnf");
        conf[key] = json!([{"containerID": "a1", "ifname": "eth0"}, {"containerID": "b2", "ifname": "net1"}]);
        succeeded_silently(&agent.run(&gc_env(), &stdin(&conf)));
        assert_eq!(
            agent.calls,
            [Call::Gc(GcRequest {
                network: "cnf".into(),
                cni_network: "mynet".into(),
                valid: vec![
                    ValidAttachment {
                        container_id: "a1".into(),
                        ifname: "eth0".into()
                    },
                    ValidAttachment {
                        container_id: "b2".into(),
                        ifname: "net1".into()
                    },
                ]
            })],
            "{key}"
        );
    }
}

#[test]
fn gc_without_a_list_removes_nothing() {
    let mut agent = FakeAgent::new();
    let error = failed_with(&agent.run(&gc_env(), &stdin(&config("1.1.0"))), 7);
    assert!(
        error["msg"]
            .as_str()
            .unwrap()
            .contains("cni.dev/valid-attachments"),
        "{error}"
    );
    assert!(agent.calls.is_empty());
}

#[test]
fn gc_and_status_need_1_1_0() {
    let mut agent = FakeAgent::new();
    let mut conf = config("1.0.0");
    conf["cni.dev/valid-attachments"] = json!([]);
    let error = failed_with(&agent.run(&gc_env(), &stdin(&conf)), 1);
    assert!(
        error["msg"]
            .as_str()
            .unwrap()
            .starts_with("GC needs CNI 1.1.0"),
        "{error}"
    );
    let error = failed_with(&agent.run(&[("CNI_COMMAND", "STATUS")], &stdin(&conf)), 1);
    assert!(
        error["msg"]
            .as_str()
            .unwrap()
            .starts_with("STATUS needs CNI 1.1.0"),
        "{error}"
    );
    assert!(agent.connected_to.is_empty());
}

#[test]
fn gc_reports_what_it_could_not_clean() {
    let mut agent = FakeAgent::new();
    agent.gc = Ok(GcReport {
        removed: vec![key()],
        errors: vec!["cannot delete tap pw1: busy".into()],
    });
    let mut conf = config("1.1.0");
    conf["cni.dev/valid-attachments"] = json!([]);
    let error = failed_with(&agent.run(&gc_env(), &stdin(&conf)), 999);
    assert!(
        error["msg"].as_str().unwrap().contains("removed 1"),
        "{error}"
    );
    assert_eq!(error["details"], "cannot delete tap pw1: busy");
}

#[test]
fn gc_without_an_agent_is_11() {
    let mut agent = FakeAgent::failing(AgentFailure::Unreachable("x".into()));
    let mut conf = config("1.1.0");
    conf["cni.dev/valid-attachments"] = json!([]);
    failed_with(&agent.run(&gc_env(), &stdin(&conf)), 11);
}

// STATUS

const STATUS: [(&str, &str); 1] = [("CNI_COMMAND", "STATUS")];

#[test]
fn status_is_silent_when_the_network_is_ready() {
    let mut agent = FakeAgent::new();
    succeeded_silently(&agent.run(&STATUS, &stdin(&config("1.1.0"))));
    assert_eq!(agent.calls, [Call::Networks]);
}

#[test]
fn status_is_50_with_the_reason_when_not_ready() {
    let mut agent = FakeAgent::new();
    agent.networks = Ok(vec![network(
        "default",
        false,
        Some("no free address in 10.251.0.0/24"),
    )]);
    let error = failed_with(&agent.run(&STATUS, &stdin(&config("1.1.0"))), 50);
    assert_eq!(
        error["msg"],
        "network default cannot take a pod now: no free address in 10.251.0.0/24"
    );
}

#[test]
fn status_is_50_for_a_network_the_agent_lacks() {
    let mut agent = FakeAgent::new();
    agent.networks = Ok(vec![
        network("default", true, None),
        network("cnf", true, None),
    ]);
    let mut conf = config("1.1.0");
    conf["network"] = json!("storage");
    let error = failed_with(&agent.run(&STATUS, &stdin(&conf)), 50);
    let msg = error["msg"].as_str().unwrap();
    assert!(
        msg.contains("no network \"storage\" (it has: default, cnf)"),
        "{msg}"
    );
}

#[test]
fn status_is_50_when_the_agent_is_down_or_fails() {
    let mut absent = FakeAgent::failing(AgentFailure::Unreachable("no socket".into()));
    let error = failed_with(&absent.run(&STATUS, &stdin(&config("1.1.0"))), 50);
    assert!(
        error["msg"].as_str().unwrap().contains("is not running"),
        "{error}"
    );
    assert_eq!(error["details"], "no socket");
    for failure in [
        AgentFailure::TimedOut("slow".into()),
        AgentFailure::Other("broken".into()),
        AgentFailure::Refused {
            kind: None,
            message: "nope".into(),
        },
    ] {
        let mut agent = FakeAgent::failing(failure.clone());
        failed_with(&agent.run(&STATUS, &stdin(&config("1.1.0"))), 50);
    }
}

#[test]
fn outcomes_end_with_a_newline_and_exit_1_on_failure() {
    let outcome = Outcome::failure(&CniError::new(ErrorCode::Io, "x"), None);
    assert_eq!(outcome.stdout, "{\"code\":5,\"msg\":\"x\"}\n");
    assert_eq!(outcome.exit_code, 1);
}
