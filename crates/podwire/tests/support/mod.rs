//! What the end-to-end tests share: root checks, unique names, network
//! namespaces and a running `podwire daemon`, each removed on drop so a
//! failing test leaves nothing behind.

#![allow(dead_code)] // each test file uses its own part of this module

pub mod bench;
pub mod cni;
pub mod services;
pub mod tcp;

use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Whether this test may run: true as root. When not root it fails with
/// the reason, unless PODWIRE_SKIP_ROOT_TESTS=1 asks to skip.
pub fn root_or_skip() -> bool {
    if std::env::var("PODWIRE_SKIP_ROOT_TESTS").as_deref() == Ok("1") {
        eprintln!("skipped: PODWIRE_SKIP_ROOT_TESTS=1");
        return false;
    }
    // SAFETY-free: geteuid through the id command keeps this crate free of unsafe.
    let uid = Command::new("id").arg("-u").output().expect("run id -u");
    assert_eq!(
        String::from_utf8_lossy(&uid.stdout).trim(),
        "0",
        "this end-to-end test creates network namespaces and needs root; \
         run it as root, or set PODWIRE_SKIP_ROOT_TESTS=1 to skip it"
    );
    true
}

/// A short name unique to this process and call: fits in an interface
/// name (15 bytes) with a prefix of up to 6.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{}{n}", std::process::id() % 100_000)
}

/// Runs a command, returning its output; panics if it cannot start.
pub fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {program}: {e} (is it installed? scripts/install-deps.sh installs it)"
            )
        })
}

/// Runs a command and panics with its output unless it succeeds.
pub fn ok(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "{program} {} failed: {}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A network namespace made with `ip netns add`, deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(prefix: &str) -> Netns {
        let name = unique(prefix);
        ok("ip", &["netns", "add", &name]);
        ok("ip", &["-n", &name, "link", "set", "lo", "up"]);
        Netns { name }
    }

    /// Runs a command inside the namespace.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut all = vec!["netns", "exec", &self.name];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// Runs a command inside the namespace and panics unless it succeeds.
    pub fn ok(&self, args: &[&str]) -> String {
        let mut all = vec!["netns", "exec", &self.name];
        all.extend_from_slice(args);
        ok("ip", &all)
    }

    /// Starts a command inside the namespace in the background.
    pub fn spawn(&self, args: &[&str]) -> KillOnDrop {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn in netns");
        KillOnDrop(Some(child))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = run("ip", &["netns", "delete", &self.name]);
    }
}

/// A veth pair, deleted on drop (deleting one end deletes both).
pub struct Veth {
    pub a: String,
    pub b: String,
}

impl Veth {
    pub fn new(prefix: &str) -> Veth {
        let a = unique(prefix);
        let b = format!("{a}p");
        ok(
            "ip",
            &["link", "add", &a, "type", "veth", "peer", "name", &b],
        );
        Veth { a, b }
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = run("ip", &["link", "delete", &self.a]);
    }
}

/// A child process killed (and reaped) on drop.
pub struct KillOnDrop(pub Option<Child>);

impl KillOnDrop {
    /// Waits for the process to end and returns its output.
    pub fn wait(mut self) -> Output {
        self.0
            .take()
            .expect("child")
            .wait_with_output()
            .expect("wait")
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The podwire binary under test.
pub fn podwire() -> &'static str {
    env!("CARGO_BIN_EXE_podwire")
}

/// A free TCP port on 127.0.0.1 (for the daemon's metrics listener).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `podwire daemon`, stopped with SIGTERM on drop. Its log is
/// printed when the test fails, to say why.
pub struct Daemon {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub metrics: String,
    log: PathBuf,
}

impl Daemon {
    /// Writes `config` (a TOML body without the [node] table) and starts
    /// the daemon on it; waits until its API answers.
    pub fn start(body: &str) -> Daemon {
        Daemon::start_with_workers(1, body)
    }

    /// Like [`Daemon::start`], with `workers` data-plane workers.
    pub fn start_with_workers(workers: u32, body: &str) -> Daemon {
        Daemon::launch(None, workers, body)
    }

    /// Like [`Daemon::start`], the daemon running in `node` as on a machine of its own: its
    /// host tap, the routes into it and the processes that use them stay in `node`.
    pub fn start_in(node: &Netns, body: &str) -> Daemon {
        Daemon::launch(Some(node), 1, body)
    }

    fn launch(node: Option<&Netns>, workers: u32, body: &str) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("api.sock");
        let metrics = format!("127.0.0.1:{}", free_port());
        let config = format!(
            "[node]\nname = \"{}\"\napi_socket = \"{}\"\nmetrics_listen = \"{metrics}\"\nbuffers_per_worker = 4096\nworkers = {workers}\n\n{body}",
            unique("n"),
            socket.display()
        );
        let path = dir.path().join("podwire.toml");
        fs::write(&path, &config).unwrap();
        let log = dir.path().join("daemon.log");
        // `ip netns exec` execs the daemon in place: the child is the daemon itself, which
        // SIGTERM stops.
        let mut command = match node {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", &ns.name, podwire()]);
                c
            }
            None => Command::new(podwire()),
        };
        let child = command
            .args(["daemon", "--config"])
            .arg(&path)
            .env("RUST_LOG", "info")
            .stdout(fs::File::create(&log).unwrap())
            .stderr(fs::OpenOptions::new().append(true).open(&log).unwrap())
            .spawn()
            .expect("start podwire daemon");
        let mut d = Daemon {
            child: Some(child),
            dir,
            socket,
            metrics,
            log,
        };
        d.wait_ready(Duration::from_secs(20));
        d
    }

    fn wait_ready(&mut self, limit: Duration) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "podwire daemon exited with {status} before it was ready:\n{}",
                    self.log()
                );
            }
            if self.socket.exists() && self.ctl(&["show", "interfaces"]).status.success() {
                return;
            }
            assert!(
                start.elapsed() < limit,
                "podwire daemon not ready after {limit:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `podwire ctl ARGS` against this daemon.
    pub fn ctl(&self, args: &[&str]) -> Output {
        Command::new(podwire())
            .arg("ctl")
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run podwire ctl")
    }

    /// `podwire ctl ARGS`, which must succeed; its standard output.
    pub fn ctl_ok(&self, args: &[&str]) -> String {
        let out = self.ctl(args);
        assert!(
            out.status.success(),
            "podwire ctl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The interface named `name` in `show interfaces --json`.
    pub fn interface(&self, name: &str) -> serde_json::Value {
        let all: serde_json::Value =
            serde_json::from_str(&self.ctl_ok(&["--json", "show", "interfaces"])).unwrap();
        all.as_array()
            .and_then(|list| list.iter().find(|i| i["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("no interface {name} in {all}"))
    }

    /// Fails unless `show interfaces` says the kernel took checksums and TCP segmentation over
    /// both families for the interface named `name`.
    pub fn assert_tcp_offloads(&self, name: &str) {
        let offloads = self.interface(name)["offloads"].clone();
        for offload in ["csum", "tso4", "tso6"] {
            assert!(
                offloads
                    .as_array()
                    .is_some_and(|l| l.iter().any(|o| o == offload)),
                "{offload} offered to {name}: {offloads}"
            );
        }
    }

    /// Fails unless the packets the interface named `name` received and sent so far average
    /// more than a full Ethernet frame (1514 bytes): TCP crossed it as large segments.
    pub fn assert_large_segments(&self, name: &str) {
        let i = self.interface(name);
        for way in ["rx", "tx"] {
            let count = |what: &str| i[format!("{way}_{what}")].as_u64().unwrap();
            let (packets, bytes) = (count("packets"), count("bytes"));
            assert!(
                packets > 0 && bytes / packets > 1514,
                "{name} {way}: {bytes} bytes in {packets} packets: no large segments"
            );
        }
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the daemon with SIGTERM and waits for it; returns whether it
    /// exited cleanly.
    pub fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        let _ = run("kill", &["-TERM", &child.id().to_string()]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().unwrap() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let clean = self.stop();
        if std::thread::panicking() || !clean {
            let mut err = std::io::stderr();
            let _ = writeln!(
                err,
                "--- podwire daemon log ({}) ---\n{}",
                if clean {
                    "stopped"
                } else {
                    "did not stop cleanly"
                },
                self.log()
            );
        }
    }
}

/// The pod section of a config for a pod in `ns` with the given addresses.
pub fn pod(name: &str, ns: &Netns, addrs: &[&str]) -> String {
    let list = addrs
        .iter()
        .map(|a| format!("\"{a}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "[[pod]]\nname = \"{name}\"\nnetns = \"{}\"\naddresses = [{list}]\n\n",
        ns.name
    )
}

/// Whether `path` is gone (a socket the daemon should remove).
pub fn gone(path: &Path) -> bool {
    !path.exists()
}

/// Runs a socket call again while it fails with `Interrupted`. A socket with a timeout is
/// not restarted by the kernel after a signal, nor after the process was stopped and
/// continued (signal(7)), which a CI machine may do to a test at any moment.
pub fn again_if_interrupted<T>(mut call: impl FnMut() -> std::io::Result<T>) -> std::io::Result<T> {
    loop {
        match call() {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            done => return done,
        }
    }
}
