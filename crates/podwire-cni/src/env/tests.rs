use std::collections::HashMap;

use super::*;

/// An environment with `vars` set.
fn invoke(vars: &[(&str, &str)]) -> Result<Invocation, EnvError> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Invocation::from_vars(|name| vars.get(name).cloned())
}

const FULL: [(&str, &str); 4] = [
    ("CNI_CONTAINERID", "c0ffee"),
    ("CNI_NETNS", "/run/netns/pod1"),
    ("CNI_IFNAME", "eth0"),
    ("CNI_PATH", "/opt/cni/bin:/usr/lib/cni"),
];

fn with(command: &str, extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, String)> {
    let mut vars: Vec<(&str, String)> = vec![("CNI_COMMAND", command.to_owned())];
    vars.extend(FULL.iter().map(|&(k, v)| (k, v.to_owned())));
    for &(key, value) in extra {
        vars.retain(|(k, _)| *k != key);
        vars.push((key, value.to_owned()));
    }
    vars
}

fn invoke_owned(vars: &[(&str, String)]) -> Result<Invocation, EnvError> {
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    invoke(&vars)
}

fn target() -> Target {
    Target {
        container_id: "c0ffee".into(),
        ifname: "eth0".into(),
        pod: PodIdentity::default(),
    }
}

#[test]
fn add_check_and_del_read_their_target() {
    let add = invoke_owned(&with("ADD", &[])).unwrap();
    assert_eq!(
        add.command,
        Command::Add {
            target: target(),
            netns: "/run/netns/pod1".into()
        }
    );
    assert_eq!(
        add.cni_path,
        vec![PathBuf::from("/opt/cni/bin"), PathBuf::from("/usr/lib/cni")]
    );
    assert_eq!(
        invoke_owned(&with("CHECK", &[])).unwrap().command,
        Command::Check {
            target: target(),
            netns: "/run/netns/pod1".into()
        }
    );
    assert_eq!(
        invoke_owned(&with("DEL", &[])).unwrap().command,
        Command::Del {
            target: target(),
            netns: Some("/run/netns/pod1".into())
        }
    );
}

#[test]
fn del_needs_no_netns() {
    for vars in [
        vec![
            ("CNI_COMMAND", "DEL"),
            ("CNI_CONTAINERID", "c0ffee"),
            ("CNI_IFNAME", "eth0"),
        ],
        vec![
            ("CNI_COMMAND", "DEL"),
            ("CNI_CONTAINERID", "c0ffee"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_NETNS", ""),
        ],
    ] {
        assert_eq!(
            invoke(&vars).unwrap().command,
            Command::Del {
                target: target(),
                netns: None
            }
        );
    }
}

#[test]
fn add_names_every_missing_variable_at_once() {
    let error = invoke(&[("CNI_COMMAND", "ADD")]).unwrap_err();
    assert_eq!(
        error,
        EnvError::BadVars {
            verb: Verb::Add,
            problems: vec![
                VarProblem::Missing("CNI_CONTAINERID"),
                VarProblem::Missing("CNI_IFNAME"),
                VarProblem::Missing("CNI_NETNS"),
            ]
        }
    );
    let message = error.to_string();
    for var in ["CNI_CONTAINERID", "CNI_IFNAME", "CNI_NETNS"] {
        assert!(message.contains(&format!("{var} is missing")), "{message}");
    }
    assert!(message.starts_with("ADD needs"), "{message}");
}

#[test]
fn empty_variables_count_as_missing() {
    let error = invoke_owned(&with(
        "CHECK",
        &[("CNI_CONTAINERID", ""), ("CNI_NETNS", "")],
    ))
    .unwrap_err();
    assert_eq!(
        error,
        EnvError::BadVars {
            verb: Verb::Check,
            problems: vec![
                VarProblem::Missing("CNI_CONTAINERID"),
                VarProblem::Missing("CNI_NETNS"),
            ]
        }
    );
}

#[test]
fn invalid_values_are_named_with_the_reason() {
    let error = invoke_owned(&with(
        "ADD",
        &[
            ("CNI_CONTAINERID", "-bad"),
            ("CNI_IFNAME", "eth/0"),
            ("CNI_NETNS", "run/netns/x"),
        ],
    ))
    .unwrap_err();
    let EnvError::BadVars { problems, .. } = &error else {
        panic!("expected BadVars, got {error:?}");
    };
    let vars: Vec<&str> = problems
        .iter()
        .map(|problem| match problem {
            VarProblem::Invalid { var, .. } => *var,
            VarProblem::Missing(var) => panic!("{var} is set, not missing"),
        })
        .collect();
    assert_eq!(vars, ["CNI_CONTAINERID", "CNI_IFNAME", "CNI_NETNS"]);
    let message = error.to_string();
    assert!(
        message.contains("CNI_CONTAINERID=\"-bad\" is invalid: it starts with '-'"),
        "{message}"
    );
    assert!(
        message.contains("CNI_IFNAME=\"eth/0\" is invalid"),
        "{message}"
    );
    assert!(message.contains("absolute path"), "{message}");
}

#[test]
fn del_rejects_a_relative_netns_but_not_an_absent_one() {
    let error = invoke_owned(&with("DEL", &[("CNI_NETNS", "pod1")])).unwrap_err();
    assert!(matches!(
        &error,
        EnvError::BadVars { problems, .. }
            if matches!(problems.as_slice(), [VarProblem::Invalid { var: "CNI_NETNS", .. }])
    ));
}

#[test]
fn interface_names_over_15_bytes_are_refused() {
    let error = invoke_owned(&with("ADD", &[("CNI_IFNAME", "abcdefghijklmnop")])).unwrap_err();
    assert!(error.to_string().contains("at most 15"), "{error}");
}

#[test]
fn status_and_version_need_nothing_else() {
    assert_eq!(
        invoke(&[("CNI_COMMAND", "VERSION")]).unwrap(),
        Invocation {
            command: Command::Version,
            cni_path: vec![]
        }
    );
    assert_eq!(
        invoke(&[("CNI_COMMAND", "STATUS")]).unwrap().command,
        Command::Status
    );
}

#[test]
fn gc_needs_cni_path() {
    assert_eq!(
        invoke(&[("CNI_COMMAND", "GC")]).unwrap_err(),
        EnvError::BadVars {
            verb: Verb::Gc,
            problems: vec![VarProblem::Missing("CNI_PATH")]
        }
    );
    assert_eq!(
        invoke(&[("CNI_COMMAND", "GC"), ("CNI_PATH", "/opt/cni/bin")])
            .unwrap()
            .command,
        Command::Gc
    );
}

#[test]
fn unknown_or_missing_commands_are_refused() {
    assert_eq!(invoke(&[]).unwrap_err(), EnvError::NoCommand);
    assert_eq!(
        invoke(&[("CNI_COMMAND", "add")]).unwrap_err(),
        EnvError::UnknownCommand("add".into())
    );
    assert!(
        EnvError::UnknownCommand("UPDATE".into())
            .to_string()
            .contains("ADD, DEL, CHECK, STATUS, GC or VERSION")
    );
}

#[test]
fn env_errors_are_code_4() {
    let error: CniError = invoke(&[("CNI_COMMAND", "ADD")]).unwrap_err().into();
    assert_eq!(error.code, ErrorCode::InvalidEnvironment);
    assert!(error.msg.contains("CNI_NETNS is missing"), "{}", error.msg);
}

#[test]
fn cni_args_give_the_pod_identity() {
    let pod = parse_cni_args(
        "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=web-0;\
         K8S_POD_INFRA_CONTAINER_ID=abc123;K8S_POD_UID=u-1;",
    )
    .unwrap();
    assert_eq!(
        pod,
        PodIdentity {
            namespace: Some("ns1".into()),
            name: Some("web-0".into()),
            uid: Some("u-1".into()),
            sandbox_id: Some("abc123".into()),
        }
    );
    assert_eq!(parse_cni_args("").unwrap(), PodIdentity::default());
    assert_eq!(
        parse_cni_args("K8S_POD_NAME=").unwrap(),
        PodIdentity::default()
    );
}

#[test]
fn cni_args_flow_into_the_target() {
    let add = invoke_owned(&with(
        "ADD",
        &[("CNI_ARGS", "K8S_POD_NAMESPACE=kube-system;K8S_POD_NAME=dns")],
    ))
    .unwrap();
    let Command::Add { target, .. } = add.command else {
        panic!("expected ADD");
    };
    assert_eq!(target.pod.namespace.as_deref(), Some("kube-system"));
    assert_eq!(target.pod.name.as_deref(), Some("dns"));
}

#[test]
fn unknown_cni_args_need_ignore_unknown() {
    let error = parse_cni_args("FOO=1;K8S_POD_NAME=p;BAR=2").unwrap_err();
    assert!(error.contains("FOO, BAR"), "{error}");
    assert!(error.contains("IgnoreUnknown=1"), "{error}");
    // IgnoreUnknown may come after the unknown keys, and be spelled `true`.
    assert_eq!(
        parse_cni_args("FOO=1;K8S_POD_NAME=p;IgnoreUnknown=true")
            .unwrap()
            .name
            .as_deref(),
        Some("p")
    );
    assert!(parse_cni_args("FOO=1;IgnoreUnknown=0").is_err());
    assert!(
        parse_cni_args("IgnoreUnknown=maybe")
            .unwrap_err()
            .contains("not 1, 0, true or false")
    );
}

#[test]
fn malformed_cni_args_are_refused() {
    for bad in ["K8S_POD_NAME", "=x", "IgnoreUnknown=1;junk"] {
        let error = parse_cni_args(bad).unwrap_err();
        assert!(error.contains("is not KEY=VALUE"), "{bad}: {error}");
    }
    let error = invoke_owned(&with("DEL", &[("CNI_ARGS", "junk")])).unwrap_err();
    assert!(
        error.to_string().contains("CNI_ARGS=\"junk\" is invalid"),
        "{error}"
    );
}
