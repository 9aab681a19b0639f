//! One plugin call as a runtime makes it: the plugin directory, the
//! environment, stdin, and what came back.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Where Debian's `containernetworking-plugins` installs the reference plugins.
pub const DEBIAN_CNI_DIR: &str = "/usr/lib/cni";

/// How long one plugin invocation may take before the harness kills it. An
/// ADD may wait for a busy agent (the plugin allows it 30 s); a hang beyond
/// that is a bug, and the harness reports it instead of hanging the test.
pub const INVOCATION_LIMIT: Duration = Duration::from_secs(60);

/// The `PATH` plugins run with: the runtime's, so that chained plugins find
/// `iptables`, `tc` and `ip`.
const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A temporary directory holding the built binary under the name `podwire`
/// (runtimes find a plugin by its `type`), removed on drop.
pub struct PluginDir {
    dir: tempfile::TempDir,
}

impl PluginDir {
    /// The directory the podwire plugin is in.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The plugin binary in it.
    pub fn podwire(&self) -> PathBuf {
        self.dir.path().join("podwire")
    }

    /// `CNI_PATH` for a runtime: this directory, then Debian's plugins.
    pub fn cni_path(&self) -> String {
        format!("{}:{DEBIAN_CNI_DIR}", self.dir.path().display())
    }
}

/// Makes a [`PluginDir`]. The binary is hard-linked when it can be (it is
/// large, and a link also keeps this test's copy if cargo rebuilds the
/// original meanwhile), copied otherwise.
pub fn plugin_dir() -> PluginDir {
    let dir = tempfile::Builder::new()
        .prefix("podwire-cni-bin")
        .tempdir()
        .expect("create a temporary plugin directory");
    let target = dir.path().join("podwire");
    let built = Path::new(super::super::podwire());
    if fs::hard_link(built, &target).is_err() {
        fs::copy(built, &target).unwrap_or_else(|e| {
            panic!(
                "cannot copy {} to {}: {e}",
                built.display(),
                target.display()
            )
        });
    }
    PluginDir { dir }
}

/// One CNI plugin executable and the `CNI_PATH` it runs with.
#[derive(Debug, Clone)]
pub struct Plugin {
    /// The executable.
    pub path: PathBuf,
    /// `CNI_PATH` unless the [`CniEnv`] of a call says otherwise.
    pub cni_path: String,
}

impl Plugin {
    /// The podwire plugin of `dir`.
    pub fn podwire(dir: &PluginDir) -> Plugin {
        Plugin {
            path: dir.podwire(),
            cni_path: dir.cni_path(),
        }
    }

    /// A Debian reference plugin (`bridge`, `host-local`, `portmap` ...).
    pub fn debian(name: &str) -> Plugin {
        let path = Path::new(DEBIAN_CNI_DIR).join(name);
        assert!(
            path.exists(),
            "{} is missing: install Debian's containernetworking-plugins \
             (scripts/install-deps.sh does)",
            path.display()
        );
        Plugin {
            path,
            cni_path: DEBIAN_CNI_DIR.to_owned(),
        }
    }

    /// Runs `CNI_COMMAND=verb` with `env` and `stdin` as the network config.
    pub fn invoke(&self, verb: &str, env: &CniEnv, stdin: &Value) -> Invocation {
        self.invoke_raw(verb, env, stdin.to_string().as_bytes())
    }

    /// [`Plugin::invoke`] with stdin given as bytes (for input that is not JSON).
    pub fn invoke_raw(&self, verb: &str, env: &CniEnv, stdin: &[u8]) -> Invocation {
        self.invoke_within(verb, env, stdin, INVOCATION_LIMIT)
    }

    /// [`Plugin::invoke_raw`], killing the plugin and failing the test when
    /// it has not exited after `limit`.
    pub fn invoke_within(
        &self,
        verb: &str,
        env: &CniEnv,
        stdin: &[u8],
        limit: Duration,
    ) -> Invocation {
        let mut vars = BTreeMap::new();
        vars.insert("PATH".to_owned(), SYSTEM_PATH.to_owned());
        vars.insert("CNI_COMMAND".to_owned(), verb.to_owned());
        vars.insert("CNI_PATH".to_owned(), self.cni_path.clone());
        for (key, value) in &env.vars {
            match value {
                Some(v) => vars.insert(key.clone(), v.clone()),
                None => vars.remove(key),
            };
        }
        let mut child = Command::new(&self.path)
            // The runtime passes only what it means to: nothing of the test's
            // own environment (a stray CNI_* would change the answer).
            .env_clear()
            .envs(&vars)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run the plugin {}: {e}", self.path.display()));
        let mut input = child.stdin.take().expect("piped stdin");
        let data = stdin.to_vec();
        // A plugin may exit without reading stdin; a broken pipe is then fine.
        let writer = std::thread::spawn(move || {
            let _ = input.write_all(&data);
        });
        let stdout = drain(child.stdout.take().expect("piped stdout"));
        let stderr = drain(child.stderr.take().expect("piped stderr"));
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for the plugin") {
                break status;
            }
            if start.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{} {verb} did not exit within {limit:?} (env {vars:?}); killed it",
                    self.path.display()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let _ = writer.join();
        let stdout = stdout.join().expect("stdout reader");
        let stderr = stderr.join().expect("stderr reader");
        let json = serde_json::from_str(stdout.trim()).ok();
        Invocation {
            plugin: self.path.clone(),
            verb: verb.to_owned(),
            env: vars,
            stdin: String::from_utf8_lossy(stdin).into_owned(),
            status,
            stdout,
            stderr,
            json,
        }
    }
}

/// Reads a pipe to its end on a thread of its own, so that a full pipe
/// never blocks the plugin.
fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// The `CNI_*` variables of one call, beyond `CNI_COMMAND`. A variable set to
/// `None` is removed (to test that it is missing).
#[derive(Debug, Clone, Default)]
pub struct CniEnv {
    vars: BTreeMap<String, Option<String>>,
}

impl CniEnv {
    /// No variables (besides `CNI_COMMAND` and the plugin's `CNI_PATH`).
    pub fn new() -> CniEnv {
        CniEnv::default()
    }

    /// The usual three for ADD, CHECK and DEL.
    pub fn pod(containerid: &str, netns: &str, ifname: &str) -> CniEnv {
        CniEnv::new()
            .containerid(containerid)
            .netns(netns)
            .ifname(ifname)
    }

    /// `CNI_CONTAINERID`
    pub fn containerid(self, value: &str) -> CniEnv {
        self.set("CNI_CONTAINERID", value)
    }

    /// `CNI_NETNS`
    pub fn netns(self, value: &str) -> CniEnv {
        self.set("CNI_NETNS", value)
    }

    /// `CNI_IFNAME`
    pub fn ifname(self, value: &str) -> CniEnv {
        self.set("CNI_IFNAME", value)
    }

    /// `CNI_ARGS`
    pub fn args(self, value: &str) -> CniEnv {
        self.set("CNI_ARGS", value)
    }

    /// `CNI_PATH` (instead of the plugin's)
    pub fn path(self, value: &str) -> CniEnv {
        self.set("CNI_PATH", value)
    }

    /// Any variable.
    pub fn set(mut self, key: &str, value: &str) -> CniEnv {
        self.vars.insert(key.to_owned(), Some(value.to_owned()));
        self
    }

    /// Removes a variable, including `CNI_PATH`, which is otherwise set.
    pub fn unset(mut self, key: &str) -> CniEnv {
        self.vars.insert(key.to_owned(), None);
        self
    }

    /// The value set for `key`, if any.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars.get(key).and_then(|v| v.as_deref())
    }
}

/// One finished plugin call.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The executable.
    pub plugin: PathBuf,
    /// `CNI_COMMAND`
    pub verb: String,
    /// The whole environment it ran with.
    pub env: BTreeMap<String, String>,
    /// What it read.
    pub stdin: String,
    /// How it exited.
    pub status: ExitStatus,
    /// Its standard output (the result or the error JSON).
    pub stdout: String,
    /// Its standard error (logs).
    pub stderr: String,
    /// `stdout` parsed, when it is JSON.
    pub json: Option<Value>,
}

impl Invocation {
    /// Whether it exited 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// The `code` of the error JSON, if stdout holds one.
    pub fn code(&self) -> Option<u64> {
        self.json.as_ref()?.get("code")?.as_u64()
    }

    /// The `msg` of the error JSON (empty when there is none).
    pub fn msg(&self) -> String {
        let field = |k: &str| {
            self.json
                .as_ref()
                .and_then(|j| j.get(k))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        format!("{} {}", field("msg"), field("details"))
            .trim()
            .to_owned()
    }

    /// The result JSON of a successful call; fails the test with everything
    /// about the call otherwise.
    pub fn expect_ok(&self, what: &str) -> Value {
        assert!(self.success(), "{what}: expected success\n{self}");
        self.json.clone().unwrap_or(Value::Null)
    }

    /// Asserts the call failed as the spec says a plugin fails: exit status
    /// 1 and an error JSON on stdout with `code`.
    pub fn expect_code(&self, code: u64, what: &str) {
        assert_eq!(
            self.status.code(),
            Some(1),
            "{what}: expected exit status 1 with error code {code}\n{self}"
        );
        assert_eq!(
            self.code(),
            Some(code),
            "{what}: expected error code {code} on stdout\n{self}"
        );
        assert!(
            !self.msg().is_empty(),
            "{what}: the error has no msg saying what is wrong\n{self}"
        );
    }
}

impl fmt::Display for Invocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env: Vec<String> = self
            .env
            .iter()
            .filter(|(k, _)| k.as_str() != "PATH")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        write!(
            f,
            "  command: {} {}\n  stdin:   {}\n  exit:    {}\n  stdout:  {}\n  stderr:  {}",
            env.join(" "),
            self.plugin.display(),
            self.stdin,
            self.status,
            self.stdout.trim(),
            self.stderr.trim()
        )
    }
}
