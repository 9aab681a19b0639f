//! End-to-end with a real container runtime: podman (runc, CNI backend)
//! runs two containers on a podwire network chained with Debian's
//! `portmap`; they reach each other, the host, and a published port
//! reaches a server in a container.
//!
//! podman runs on files of the test's own (CONTAINERS_CONF, storage, state,
//! network config directory); nothing under /etc is read or changed. No
//! image registry is reachable, so containers run a busybox-static root
//! filesystem (test-peers.md).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};
use support::cni::*;
use support::*;

/// A private podman: its config, storage and state in a temporary
/// directory; the containers it started are removed on drop.
struct Podman {
    dir: tempfile::TempDir,
    containers: Vec<String>,
}

impl Podman {
    /// A podman that finds CNI plugins in `plugin_dirs` and network
    /// configs in its own directory.
    fn new(plugin_dirs: &[&Path]) -> Podman {
        let dir = tempfile::Builder::new()
            .prefix("podwire-podman")
            .tempdir()
            .unwrap();
        let p = dir.path();
        for sub in ["net", "root", "runroot", "tmp", "rootfs/bin"] {
            std::fs::create_dir_all(p.join(sub)).unwrap();
        }
        let busybox = Path::new("/bin/busybox");
        assert!(
            busybox.exists(),
            "{} is missing: install busybox-static (scripts/install-deps.sh does)",
            busybox.display()
        );
        std::fs::copy(busybox, p.join("rootfs/bin/busybox")).unwrap();
        for tool in ["sh", "ip", "ping", "nc", "sleep", "echo", "cat"] {
            std::os::unix::fs::symlink("busybox", p.join("rootfs/bin").join(tool)).unwrap();
        }
        let dirs: Vec<String> = plugin_dirs
            .iter()
            .map(|d| format!("\"{}\"", d.display()))
            .collect();
        // This machine class has hybrid cgroups and no CAP_SYS_RESOURCE:
        // no ulimits, cgroupfs, runc (test-peers.md).
        let conf = format!(
            "[containers]\ndefault_ulimits = []\n\n\
             [engine]\nevents_logger = \"file\"\ncgroup_manager = \"cgroupfs\"\n\n\
             [network]\nnetwork_backend = \"cni\"\ncni_plugin_dirs = [{}]\nnetwork_config_dir = \"{}\"\n",
            dirs.join(", "),
            p.join("net").display()
        );
        std::fs::write(p.join("containers.conf"), conf).unwrap();
        Podman {
            dir,
            containers: Vec::new(),
        }
    }

    /// The directory podman reads network configs (conflists) from.
    fn network_dir(&self) -> PathBuf {
        self.dir.path().join("net")
    }

    fn rootfs(&self) -> String {
        self.dir.path().join("rootfs").display().to_string()
    }

    /// Runs `podman ARGS` with this podman's config, storage and state.
    fn run(&self, args: &[&str]) -> Output {
        let p = self.dir.path();
        Command::new("podman")
            .env("CONTAINERS_CONF", p.join("containers.conf"))
            .arg("--root")
            .arg(p.join("root"))
            .arg("--runroot")
            .arg(p.join("runroot"))
            .arg("--tmpdir")
            .arg(p.join("tmp"))
            .arg("--network-config-dir")
            .arg(self.network_dir())
            .args(["--storage-driver", "vfs"])
            .args([
                "--runtime",
                "/usr/sbin/runc",
                "--cgroup-manager",
                "cgroupfs",
            ])
            .args(args)
            .output()
            .expect("run podman (is it installed? scripts/install-deps.sh installs it)")
    }

    /// `podman ARGS`, which must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "podman {} failed ({}):\n{}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts a detached container `name` on `network` running `command`.
    fn start(&mut self, name: &str, network: &str, extra: &[&str], command: &[&str]) {
        // Registered first: a failed `run` may still leave a container.
        self.containers.push(name.to_owned());
        let rootfs = self.rootfs();
        let mut args = vec![
            "run",
            "-d",
            "--name",
            name,
            "--cap-add",
            "NET_RAW",
            "--network",
            network,
        ];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--rootfs", &rootfs]);
        args.extend_from_slice(command);
        self.ok(&args);
    }

    /// `podman exec NAME COMMAND...`
    fn exec(&self, name: &str, command: &[&str]) -> Output {
        let mut args = vec!["exec", name];
        args.extend_from_slice(command);
        self.run(&args)
    }

    /// The container's network settings on `network`, as `podman inspect` shows them.
    fn network_settings(&self, name: &str, network: &str) -> Value {
        let out = self.ok(&["inspect", name]);
        let all: Value = serde_json::from_str(&out).expect("podman inspect prints JSON");
        all[0]["NetworkSettings"]["Networks"][network].clone()
    }

    /// Removes the containers now (podman runs CNI DEL for each).
    fn remove_all(&mut self) {
        if self.containers.is_empty() {
            return;
        }
        let mut args = vec!["rm", "-f", "-t", "0"];
        let names = std::mem::take(&mut self.containers);
        args.extend(names.iter().map(String::as_str));
        self.ok(&args);
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        if !self.containers.is_empty() {
            let mut args = vec!["rm", "-f", "-t", "0"];
            args.extend(self.containers.iter().map(String::as_str));
            let _ = self.run(&args);
        }
    }
}

/// Pings `addr` from container `name` and fails the test unless it answers.
fn assert_container_pings(podman: &Podman, name: &str, addr: &str) {
    let out = podman.exec(name, &["ping", "-c", "2", "-W", "2", addr]);
    assert!(
        out.status.success(),
        "ping {addr} from container {name} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn podman_containers_on_podwire_reach_each_other_the_host_and_a_published_port() {
    if !root_or_skip() {
        return;
    }
    let lab = Lab::start(vec![NetSpec::new("default")]);
    let host = lab.host.clone().unwrap();
    let debian = Path::new(DEBIAN_CNI_DIR);
    let mut podman = Podman::new(&[lab.plugins.path(), debian]);
    let portmap = json!({"type": "portmap", "capabilities": {"portMappings": true}});
    let list = lab.conflist("default", "1.0.0", &[portmap]);
    let network = list["name"].as_str().unwrap().to_owned();
    std::fs::write(
        podman.network_dir().join(format!("{network}.conflist")),
        serde_json::to_string_pretty(&list).unwrap(),
    )
    .unwrap();

    let (a, b) = (unique("pwa"), unique("pwb"));
    let host_port = free_port();
    podman.start(&a, &network, &[], &["/bin/sleep", "300"]);
    podman.start(
        &b,
        &network,
        &["-p", &format!("{host_port}:80")],
        &[
            "/bin/sh",
            "-c",
            "while true; do echo hello-from-container | nc -l -p 80; done",
        ],
    );

    let settings = podman.network_settings(&b, &network);
    let b4 = settings["IPAddress"].as_str().unwrap_or("").to_owned();
    let b6 = settings["GlobalIPv6Address"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let block = &lab.net("default").block;
    assert!(
        in_cidr(&b4, &block.v4),
        "container {b} should have an address from {} (podwire's pool): {settings:#}",
        block.v4
    );
    assert!(
        !b6.is_empty(),
        "container {b} has no IPv6 address: {settings:#}"
    );
    assert_eq!(lab.attachments().len(), 2, "{:?}", lab.attachments());

    assert_container_pings(&podman, &a, &b4);
    assert_container_pings(&podman, &a, &b6);
    assert_container_pings(&podman, &a, &host.address4);
    assert_container_pings(&podman, &b, &host.address6);
    assert_ping_from_host(&b4);

    // The server in the container may not listen yet: try a bounded number
    // of times, keeping the last answer for the message.
    let mut out = fetch_from_host(&host.address4, host_port);
    for _ in 0..50 {
        if String::from_utf8_lossy(&out.stdout).trim() == "hello-from-container" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        out = fetch_from_host(&host.address4, host_port);
    }
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "hello-from-container",
        "{}:{host_port} (published with -p {host_port}:80) did not reach container {b}: {}",
        host.address4,
        String::from_utf8_lossy(&out.stderr)
    );

    podman.remove_all();
    assert!(
        lab.attachments().is_empty(),
        "podman rm (CNI DEL) left attachments: {:?}",
        lab.attachments()
    );
    assert_eq!(lab.used("default"), 0, "podman rm left addresses taken");
    let nat = ok("iptables-save", &["-t", "nat"]);
    assert!(
        !nat.contains(&format!("dport {host_port} ")),
        "podman rm left portmap's rules for port {host_port}"
    );
}
