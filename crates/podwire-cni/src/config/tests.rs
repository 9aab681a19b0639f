use serde_json::{Value, json};

use super::*;

fn parse(config: Value) -> Result<NetConf, ConfigError> {
    NetConf::parse(config.to_string().as_bytes())
}

fn minimal() -> Value {
    json!({"cniVersion": "1.0.0", "name": "mynet", "type": "podwire"})
}

fn with(key: &str, value: Value) -> Value {
    let mut config = minimal();
    config[key] = value;
    config
}

/// The error's code number and message.
fn failure(config: Value) -> (u32, String) {
    let error = parse(config).expect_err("the config is refused");
    (error.code().number(), error.to_string())
}

#[test]
fn a_minimal_config_gets_the_defaults() {
    let conf = parse(minimal()).unwrap();
    assert_eq!(
        conf,
        NetConf {
            cni_version: SpecVersion::V1_0_0,
            cni_versions: vec![],
            name: "mynet".into(),
            plugin_type: Some("podwire".into()),
            network: "default".into(),
            agent_socket: "/run/podwire/podwire.sock".into(),
            dns: None,
            device_info_file: None,
            prev_result: None,
            valid_attachments: None,
        }
    );
}

#[test]
fn podwire_keys_and_injected_keys_are_read() {
    let conf = parse(json!({
        "cniVersion": "1.1.0",
        "cniVersions": ["1.0.0", "1.1.0"],
        "name": "mynet",
        "type": "podwire",
        "network": "cnf",
        "agentSocket": "/run/podwire-x/api.sock",
        "dns": {"nameservers": ["10.96.0.10"], "domain": "cluster.local",
                "search": ["svc.cluster.local"], "options": ["ndots:5"]},
        "runtimeConfig": {"CNIDeviceInfoFile": "/var/run/k8s.cni.cncf.io/devinfo/x.json",
                          "portMappings": []},
        "prevResult": {"cniVersion": "1.1.0", "interfaces": [{"name": "eth0"}]},
        "cni.dev/valid-attachments": [{"containerID": "a1", "ifname": "eth0"}],
        "unknownRuntimeKey": {"anything": [1, 2]},
    }))
    .unwrap();
    assert_eq!(conf.cni_version, SpecVersion::V1_1_0);
    assert_eq!(conf.cni_versions, ["1.0.0", "1.1.0"]);
    assert_eq!(conf.network, "cnf");
    assert_eq!(conf.agent_socket, PathBuf::from("/run/podwire-x/api.sock"));
    assert_eq!(
        conf.dns,
        Some(Dns {
            nameservers: vec!["10.96.0.10".into()],
            domain: Some("cluster.local".into()),
            search: vec!["svc.cluster.local".into()],
            options: vec!["ndots:5".into()],
        })
    );
    assert_eq!(
        conf.device_info_file,
        Some(PathBuf::from("/var/run/k8s.cni.cncf.io/devinfo/x.json"))
    );
    assert_eq!(conf.prev_result.unwrap().interfaces()[0].name, "eth0");
    assert_eq!(
        conf.valid_attachments,
        Some(vec![ValidAttachment {
            container_id: "a1".into(),
            ifname: "eth0".into()
        }])
    );
}

#[test]
fn gc_lists_under_either_key_the_new_one_winning() {
    let legacy = parse(with(
        "cni.dev/attachments",
        json!([{"containerID": "old", "ifname": "eth0"}]),
    ))
    .unwrap();
    assert_eq!(legacy.valid_attachments.unwrap()[0].container_id, "old");

    let mut both = with(
        "cni.dev/attachments",
        json!([{"containerID": "old", "ifname": "eth0"}]),
    );
    both["cni.dev/valid-attachments"] = json!([{"containerID": "new", "ifname": "eth0"}]);
    let both = parse(both).unwrap();
    assert_eq!(both.valid_attachments.unwrap()[0].container_id, "new");

    let empty = parse(with("cni.dev/valid-attachments", json!([]))).unwrap();
    assert_eq!(empty.valid_attachments, Some(vec![]));
}

#[test]
fn bad_gc_lists_name_the_entry() {
    let cases = [
        (
            json!({}),
            "cni.dev/valid-attachments is invalid: it is an object, not a list",
        ),
        (
            json!(["a1"]),
            "cni.dev/valid-attachments[0] is invalid: it is a string, not a",
        ),
        (
            json!([{"ifname": "eth0"}]),
            "cni.dev/valid-attachments[0] is invalid: it has no containerID",
        ),
        (
            json!([{"containerID": "a", "ifname": 0}]),
            "cni.dev/valid-attachments[0].ifname is invalid: it is a number",
        ),
    ];
    for (list, expected) in cases {
        let (code, message) = failure(with("cni.dev/valid-attachments", list.clone()));
        assert_eq!(code, 7, "{list}");
        assert!(message.contains(expected), "{list}: {message}");
    }
}

#[test]
fn stdin_that_is_not_a_json_object_is_code_6() {
    for stdin in ["", "  \n", "{", "not json", "[1]", "\"text\"", "null"] {
        let error = NetConf::parse(stdin.as_bytes()).unwrap_err();
        assert_eq!(error.code(), ErrorCode::Decode, "{stdin:?}: {error}");
    }
    assert_eq!(
        NetConf::parse(b"[1]").unwrap_err().to_string(),
        "the network config on stdin is a list in JSON, not an object"
    );
    assert!(
        NetConf::parse(b"")
            .unwrap_err()
            .to_string()
            .contains("stdin is empty")
    );
}

#[test]
fn versions_other_than_1_0_and_1_1_are_code_1() {
    for version in ["0.4.0", "0.3.1", "1.2.0", "1.0"] {
        let (code, message) = failure(with("cniVersion", json!(version)));
        assert_eq!(code, 1, "{version}");
        assert!(
            message.contains(&format!("{version:?} is not supported")),
            "{message}"
        );
        assert!(message.contains("1.0.0 and 1.1.0"), "{message}");
    }
    let mut unversioned = minimal();
    unversioned.as_object_mut().unwrap().remove("cniVersion");
    let (code, message) = failure(unversioned);
    assert_eq!(code, 1);
    assert!(message.contains("has no cniVersion"), "{message}");
    // A version that is not a string is a bad field, not a version podwire lacks.
    assert_eq!(failure(with("cniVersion", json!(1))).0, 7);
}

#[test]
fn the_name_is_required_and_checked() {
    let mut nameless = minimal();
    nameless.as_object_mut().unwrap().remove("name");
    assert_eq!(failure(nameless), (7, ConfigError::NoName.to_string()));
    let (code, message) = failure(with("name", json!("my net")));
    assert_eq!(code, 7);
    assert!(
        message.contains("name \"my net\" is invalid: it contains ' '"),
        "{message}"
    );
    assert_eq!(failure(with("name", json!(["x"]))).0, 7);
}

#[test]
fn bad_fields_are_code_7_and_named() {
    let cases = [
        (
            "network",
            json!(3),
            "network is invalid: it is a number, not a string",
        ),
        ("network", json!(""), "network is invalid: it is empty"),
        (
            "agentSocket",
            json!("run/podwire.sock"),
            "agentSocket is invalid: \"run/podwire.sock\" is not an absolute path",
        ),
        ("type", json!(false), "type is invalid: it is a boolean"),
        ("dns", json!({"nameservers": "10.0.0.1"}), "dns is invalid"),
        ("dns", json!([]), "dns is invalid"),
        (
            "runtimeConfig",
            json!("x"),
            "runtimeConfig is invalid: it is a string, not an object",
        ),
        (
            "cniVersions",
            json!("1.1.0"),
            "cniVersions is invalid: it is a string",
        ),
        (
            "cniVersions",
            json!([1]),
            "cniVersions is invalid: it must be a list of version strings",
        ),
        (
            "prevResult",
            json!([]),
            "prevResult is invalid: it is a list, not an object",
        ),
        (
            "prevResult",
            json!({"ips": [{"address": "x"}]}),
            "prevResult is invalid: ips[0].address",
        ),
    ];
    for (key, value, expected) in cases {
        let (code, message) = failure(with(key, value.clone()));
        assert_eq!(code, 7, "{key}={value}: {message}");
        assert!(message.contains(expected), "{key}={value}: {message}");
    }
}

#[test]
fn the_device_info_file_must_be_absolute() {
    let (code, message) = failure(with(
        "runtimeConfig",
        json!({"CNIDeviceInfoFile": "devinfo.json"}),
    ));
    assert_eq!(code, 7);
    assert!(
        message.contains("runtimeConfig.CNIDeviceInfoFile"),
        "{message}"
    );
    assert_eq!(
        failure(with("runtimeConfig", json!({"CNIDeviceInfoFile": 1}))).0,
        7
    );
    let empty = parse(with("runtimeConfig", json!({"CNIDeviceInfoFile": ""}))).unwrap();
    assert_eq!(empty.device_info_file, None);
}

#[test]
fn nulls_count_as_absent() {
    let conf = parse(json!({
        "cniVersion": "1.0.0", "name": "n", "type": null, "network": null,
        "agentSocket": null, "dns": null, "runtimeConfig": null, "prevResult": null,
        "cni.dev/valid-attachments": null, "cniVersions": null,
    }))
    .unwrap();
    assert_eq!(conf.network, "default");
    assert_eq!(conf.prev_result, None);
    assert_eq!(conf.valid_attachments, None);
}

#[test]
fn peek_finds_only_versions_podwire_speaks() {
    assert_eq!(
        peek_version(br#"{"cniVersion":"1.1.0"}"#),
        Some(SpecVersion::V1_1_0)
    );
    assert_eq!(peek_version(br#"{"cniVersion":"0.4.0"}"#), None);
    assert_eq!(peek_version(b"garbage"), None);
    assert_eq!(peek_version(b""), None);
}

#[test]
fn config_errors_become_cni_errors_with_their_code() {
    let error: CniError = ConfigError::NoName.into();
    assert_eq!(error.code, ErrorCode::InvalidConfig);
    let error: CniError = ConfigError::UnsupportedVersion("0.4.0".into()).into();
    assert_eq!(error.code, ErrorCode::IncompatibleVersion);
}
