//! `podwire install-cni`: the plugin lands in the bin dir as an executable that speaks CNI,
//! the conflist in the conf dir names the network. No root needed.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

const PODWIRE: &str = env!("CARGO_BIN_EXE_podwire");

fn install(args: &[&str]) -> Output {
    Command::new(PODWIRE)
        .arg("install-cni")
        .args(args)
        .env_remove("CNI_COMMAND")
        .output()
        .expect("run podwire install-cni")
}

/// Runs `plugin` as a runtime would: a clean environment with `vars`, `stdin` piped in.
fn run_plugin(plugin: &Path, vars: &[(&str, &str)], stdin: &str) -> (Option<i32>, Value) {
    let mut child = Command::new(plugin)
        .env_clear()
        .envs(vars.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", plugin.display()));
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin.as_bytes())
        .expect("write the config to the plugin");
    let output = child.wait_with_output().expect("wait for the plugin");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "the plugin's stdout is not JSON ({e}): {stdout:?}; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code(), json)
}

fn assert_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn installs_an_executable_plugin_and_a_conflist_naming_the_network() {
    let root = tempfile::tempdir().expect("make a temporary directory");
    // Directories that do not exist yet: install-cni makes them.
    let bin_dir = root.path().join("opt/cni/bin");
    let conf_dir = root.path().join("etc/cni/net.d");
    let socket = root.path().join("run/podwire.sock");
    let output = install(&[
        "--bin-dir",
        bin_dir.to_str().unwrap(),
        "--conf-dir",
        conf_dir.to_str().unwrap(),
        "--network",
        "cnf",
        "--agent-socket",
        socket.to_str().unwrap(),
        "--name",
        "pw-test",
    ]);
    assert_success(&output, "install-cni");
    let plugin = bin_dir.join("podwire");
    let conflist_path = conf_dir.join("10-podwire.conflist");
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.contains(plugin.to_str().unwrap()), "{printed}");
    assert!(
        printed.contains(conflist_path.to_str().unwrap()),
        "{printed}"
    );

    let mode = fs::metadata(&plugin)
        .expect("the plugin is installed")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755, "the plugin is executable: {mode:o}");
    assert_eq!(
        fs::read(&plugin).unwrap(),
        fs::read(PODWIRE).unwrap(),
        "the plugin is a copy of the binary"
    );

    let conflist: Value =
        serde_json::from_slice(&fs::read(&conflist_path).expect("the conflist is written"))
            .expect("the conflist is JSON");
    assert_eq!(conflist["cniVersion"], "1.0.0");
    assert_eq!(conflist["cniVersions"], json!(["1.0.0", "1.1.0"]));
    assert_eq!(conflist["name"], "pw-test");
    assert_eq!(conflist["plugins"][0]["type"], "podwire");
    assert_eq!(conflist["plugins"][0]["network"], "cnf");
    assert_eq!(
        conflist["plugins"][0]["agentSocket"],
        socket.to_str().unwrap()
    );
    assert_eq!(
        conflist["plugins"][1],
        json!({"type": "portmap", "capabilities": {"portMappings": true}})
    );

    let names: Vec<String> = fs::read_dir(&bin_dir)
        .unwrap()
        .chain(fs::read_dir(&conf_dir).unwrap())
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["podwire", "10-podwire.conflist"],
        "no temporary file is left"
    );
}

#[test]
fn the_installed_plugin_speaks_cni() {
    let root = tempfile::tempdir().expect("make a temporary directory");
    let absent_socket = root.path().join("no-agent.sock");
    let bin = root.path().join("bin");
    let conf = root.path().join("conf");
    assert_success(
        &install(&[
            "--bin-dir",
            bin.to_str().unwrap(),
            "--conf-dir",
            conf.to_str().unwrap(),
            "--agent-socket",
            absent_socket.to_str().unwrap(),
        ]),
        "install-cni",
    );
    let plugin = bin.join("podwire");

    for (stdin, echoed) in [(r#"{"cniVersion":"1.0.0"}"#, "1.0.0"), ("", "1.1.0")] {
        let (code, answer) = run_plugin(&plugin, &[("CNI_COMMAND", "VERSION")], stdin);
        assert_eq!(code, Some(0), "VERSION with stdin {stdin:?}: {answer}");
        assert_eq!(
            answer,
            json!({"cniVersion": echoed, "supportedVersions": ["1.0.0", "1.1.0"]})
        );
    }

    // The installed conflist's plugin object, as a runtime would pass it.
    let conflist: Value =
        serde_json::from_slice(&fs::read(conf.join("10-podwire.conflist")).unwrap()).unwrap();
    let mut config = conflist["plugins"][0].clone();
    config["cniVersion"] = json!("1.1.0");
    config["name"] = conflist["name"].clone();
    config.as_object_mut().unwrap().remove("capabilities");
    let config = config.to_string();

    let add = [
        ("CNI_COMMAND", "ADD"),
        ("CNI_CONTAINERID", "c0ffee"),
        ("CNI_NETNS", "/run/netns/none"),
        ("CNI_IFNAME", "eth0"),
        ("CNI_PATH", bin.to_str().unwrap()),
    ];
    let (code, error) = run_plugin(&plugin, &add, &config);
    assert_eq!(code, Some(1), "{error}");
    assert_eq!(
        error["code"], 11,
        "ADD with no agent: try again later: {error}"
    );
    assert_eq!(error["cniVersion"], "1.1.0");
    let msg = error["msg"].as_str().unwrap();
    assert!(msg.contains(absent_socket.to_str().unwrap()), "{msg}");

    let del = [
        ("CNI_COMMAND", "DEL"),
        ("CNI_CONTAINERID", "c0ffee"),
        ("CNI_IFNAME", "eth0"),
    ];
    let (code, error) = run_plugin(&plugin, &del, &config);
    assert_eq!((code, &error["code"]), (Some(1), &json!(11)), "{error}");

    let (code, error) = run_plugin(&plugin, &[("CNI_COMMAND", "STATUS")], &config);
    assert_eq!((code, &error["code"]), (Some(1), &json!(50)), "{error}");

    let (code, error) = run_plugin(&plugin, &[("CNI_COMMAND", "ADD")], &config);
    assert_eq!((code, &error["code"]), (Some(1), &json!(4)), "{error}");
}

#[test]
fn installing_again_replaces_both_files() {
    let root = tempfile::tempdir().expect("make a temporary directory");
    let bin = root.path().join("bin");
    let conf = root.path().join("conf");
    let dirs = [
        "--bin-dir",
        bin.to_str().unwrap(),
        "--conf-dir",
        conf.to_str().unwrap(),
    ];
    fs::create_dir_all(&bin).unwrap();
    fs::write(bin.join("podwire"), "old plugin").unwrap();
    assert_success(&install(&dirs), "the first install-cni");
    let mut again = dirs.to_vec();
    again.extend([
        "--network",
        "second",
        "--conflist-name",
        "20-other.conflist",
    ]);
    assert_success(&install(&again), "the second install-cni");
    assert_eq!(
        fs::read(bin.join("podwire")).unwrap(),
        fs::read(PODWIRE).unwrap()
    );
    let conflist: Value =
        serde_json::from_slice(&fs::read(conf.join("20-other.conflist")).unwrap()).unwrap();
    assert_eq!(conflist["plugins"][0]["network"], "second");
    assert_eq!(
        conflist["plugins"][0]["agentSocket"],
        "/run/podwire/podwire.sock"
    );
    assert_eq!(conflist["name"], "podwire");
}

#[test]
fn bad_arguments_are_refused_before_anything_is_written() {
    let root = tempfile::tempdir().expect("make a temporary directory");
    let bin = root.path().join("bin");
    let conf = root.path().join("conf");
    let dirs = [
        "--bin-dir",
        bin.to_str().unwrap(),
        "--conf-dir",
        conf.to_str().unwrap(),
    ];
    for (extra, named) in [
        (["--name", "bad name"], "--name"),
        (["--agent-socket", "relative.sock"], "--agent-socket"),
        (["--conflist-name", "../escape.conflist"], "--conflist-name"),
    ] {
        let mut args = dirs.to_vec();
        args.extend(extra);
        let output = install(&args);
        assert!(!output.status.success(), "{extra:?} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(named), "{extra:?}: {stderr}");
    }
    assert!(!bin.exists() && !conf.exists(), "nothing is written");
}
