//! Running a CNI plugin exactly as a container runtime does: the operation
//! and the pod in the environment, the network config on stdin, the result
//! (or an error object) on stdout. A call is timed from just before the
//! process is started until it has exited, which is what a runtime waits.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rustix::event::{PollFd, PollFlags};
use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags};
use serde::Deserialize;

/// How long one call may take before it is killed: far more than any ADD
/// takes (10–20 ms); only a hung plugin reaches it.
pub const CALL_LIMIT: Duration = Duration::from_secs(30);

/// Where a runtime's named network namespaces live.
const NETNS_DIR: &str = "/run/netns";

/// The interface name every pod gets (`CNI_IFNAME`).
const IFNAME: &str = "eth0";

/// The Kubernetes namespace the pods claim to be in (`K8S_POD_NAMESPACE`).
const POD_NAMESPACE: &str = "podwire-bench";

/// A CNI operation the benchmark times.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Operation {
    /// `ADD`: wire the pod.
    Add,
    /// `DEL`: unwire it.
    Del,
}

impl Operation {
    /// The value of `CNI_COMMAND`.
    fn command(self) -> &'static str {
        match self {
            Operation::Add => "ADD",
            Operation::Del => "DEL",
        }
    }
}

/// A pod as the runtime names it to the plugin.
#[derive(Clone, Debug)]
pub struct Pod {
    /// `CNI_CONTAINERID`: 64 hex digits, as runtimes make them.
    pub container_id: String,
    /// Its network namespace's name under `/run/netns`; also its pod name.
    pub netns: String,
    /// `K8S_POD_UID`.
    uid: String,
}

impl Pod {
    /// A pod whose network namespace is `/run/netns/NETNS`; its ids are
    /// unique within this process, and carry `run`.
    pub fn new(run: u32, netns: String) -> Pod {
        static SERIAL: AtomicU64 = AtomicU64::new(0);
        let serial = SERIAL.fetch_add(1, Ordering::Relaxed);
        Pod {
            container_id: format!("{run:016x}{serial:048x}"),
            uid: format!("{run:08x}-0000-4000-8000-{serial:012x}"),
            netns,
        }
    }

    /// `CNI_NETNS`.
    fn netns_path(&self) -> PathBuf {
        Path::new(NETNS_DIR).join(&self.netns)
    }

    /// `CNI_ARGS` as the Kubernetes runtimes (containerd, CRI-O) send them.
    fn cni_args(&self) -> String {
        format!(
            "IgnoreUnknown=1;K8S_POD_NAMESPACE={POD_NAMESPACE};K8S_POD_NAME={};\
             K8S_POD_INFRA_CONTAINER_ID={};K8S_POD_UID={}",
            self.netns, self.container_id, self.uid
        )
    }
}

/// One finished call.
#[derive(Debug)]
pub struct Call {
    /// Just before the process was started.
    pub started: Instant,
    /// When the process had exited.
    pub finished: Instant,
    /// What it printed on stdout (the result, for ADD).
    pub stdout: String,
}

impl Call {
    /// How long the runtime waited.
    pub fn elapsed(&self) -> Duration {
        self.finished - self.started
    }
}

/// A CNI plugin with the network config a runtime hands it.
#[derive(Debug)]
pub struct Plugin {
    /// Its `type`, for messages.
    pub name: String,
    program: PathBuf,
    /// Arguments: none for a real plugin (runtimes pass none).
    args: Vec<OsString>,
    /// `CNI_PATH`: where it finds the plugins it delegates to (IPAM).
    cni_path: PathBuf,
    /// Its stdin.
    config: Vec<u8>,
    /// How long a call may take.
    limit: Duration,
}

impl Plugin {
    /// The single plugin of the network config list in `conflist_file`,
    /// found by its `type` in `cni_path`, with the config a runtime derives
    /// for it (libcni's rule): the plugin's object plus the list's `name`
    /// and `cniVersion`.
    pub fn from_conflist_file(conflist_file: &Path, cni_path: &Path) -> anyhow::Result<Plugin> {
        let text = std::fs::read_to_string(conflist_file)
            .with_context(|| format!("cannot read {}", conflist_file.display()))?;
        let conflist: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", conflist_file.display()))?;
        let (name, config) =
            plugin_config(&conflist).with_context(|| format!("in {}", conflist_file.display()))?;
        let program = cni_path.join(&name);
        if !program.is_file() {
            bail!(
                "the CNI plugin {name} is not in {} (CNI_PATH)",
                cni_path.display()
            );
        }
        Ok(Plugin {
            name,
            program,
            args: Vec::new(),
            cni_path: cni_path.to_owned(),
            config,
            limit: CALL_LIMIT,
        })
    }

    /// Runs `operation` for `pod`. A plugin that fails (exit status, or an
    /// ADD result without an address) is an error quoting what it said.
    pub fn call(&self, operation: Operation, pod: &Pod) -> anyhow::Result<Call> {
        let what = format!(
            "CNI {} of pod {} with the {} plugin",
            operation.command(),
            pod.netns,
            self.name
        );
        let call = self.run(operation, pod).with_context(|| what.clone())?;
        if operation == Operation::Add {
            check_add_result(&call.stdout)
                .with_context(|| format!("{what}: the result is not usable"))?;
        }
        Ok(call)
    }

    fn run(&self, operation: Operation, pod: &Pod) -> anyhow::Result<Call> {
        // Files, not pipes: a plugin that prints much cannot block on a
        // pipe while this thread waits for it to exit.
        let mut stdout = tempfile::tempfile().context("cannot create a temporary file")?;
        let mut stderr = tempfile::tempfile().context("cannot create a temporary file")?;
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .env("CNI_COMMAND", operation.command())
            .env("CNI_CONTAINERID", &pod.container_id)
            .env("CNI_NETNS", pod.netns_path())
            .env("CNI_IFNAME", IFNAME)
            .env("CNI_ARGS", pod.cni_args())
            .env("CNI_PATH", &self.cni_path)
            .stdin(Stdio::piped())
            .stdout(stdout.try_clone()?)
            .stderr(stderr.try_clone()?);
        let started = Instant::now();
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {}", self.program.display()))?;
        // The config is far smaller than a pipe's buffer: this never blocks.
        // Dropping the handle closes stdin, so the plugin reads to the end.
        // A plugin that exits without reading it breaks the pipe; runtimes
        // (Go's os/exec) ignore that, and its exit status tells.
        let fed = child
            .stdin
            .take()
            .map_or(Ok(()), |mut input| input.write_all(&self.config))
            .or_else(|e| match e.kind() {
                std::io::ErrorKind::BrokenPipe => Ok(()),
                _ => Err(e),
            });
        let exited = wait_exit(&mut child, self.limit)?;
        let out = read_back(&mut stdout)?;
        let err = read_back(&mut stderr)?;
        match exited {
            Some((status, finished)) if status.success() => {
                fed.context("cannot write the network config to its stdin")?;
                Ok(Call {
                    started,
                    finished,
                    stdout: out,
                })
            }
            Some((status, _)) => bail!("{}", failure(status, &out, &err)),
            None => bail!(
                "it did not finish within {} s and was killed; it printed: {}",
                self.limit.as_secs(),
                printed(&out, &err)
            ),
        }
    }
}

/// The name (`type`) and the stdin of the only plugin of `conflist`.
fn plugin_config(conflist: &serde_json::Value) -> anyhow::Result<(String, Vec<u8>)> {
    let list_name = conflist.get("name").context("the list has no \"name\"")?;
    let version = conflist
        .get("cniVersion")
        .context("the list has no \"cniVersion\"")?;
    let plugins = conflist
        .get("plugins")
        .and_then(|p| p.as_array())
        .context("the list has no \"plugins\" array")?;
    let [plugin] = plugins.as_slice() else {
        bail!(
            "the benchmark times one plugin, the list has {}",
            plugins.len()
        );
    };
    let mut config = plugin
        .as_object()
        .context("the plugin is not a JSON object")?
        .clone();
    let name = config
        .get("type")
        .and_then(|t| t.as_str())
        .context("the plugin has no \"type\"")?
        .to_owned();
    config.insert("name".into(), list_name.clone());
    config.insert("cniVersion".into(), version.clone());
    Ok((name, serde_json::to_vec(&config)?))
}

/// Waits up to `limit` for `child` to exit, without polling on a timer (a
/// pidfd becomes readable the moment it exits): its status and when it
/// exited, or `None` after killing it when it overran.
fn wait_exit(child: &mut Child, limit: Duration) -> anyhow::Result<Option<(ExitStatus, Instant)>> {
    let deadline = Instant::now() + limit;
    let pidfd = match rustix::process::pidfd_open(Pid::from_child(child), PidfdFlags::empty()) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            bail!("cannot wait for the plugin: pidfd_open: {e} (Linux 5.3 or later is needed)");
        }
    };
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let timeout = rustix::time::Timespec::try_from(left).unwrap_or(rustix::time::Timespec {
            tv_sec: i64::MAX,
            tv_nsec: 0,
        });
        let mut fds = [PollFd::new(&pidfd, PollFlags::IN)];
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(0) => {
                let _ = child.kill();
                let _ = child.wait();
                return Ok(None);
            }
            Ok(_) => {
                let finished = Instant::now();
                return Ok(Some((child.wait()?, finished)));
            }
            Err(Errno::INTR) => continue,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("cannot wait for the plugin: poll: {e}");
            }
        }
    }
}

fn read_back(file: &mut File) -> anyhow::Result<String> {
    let mut text = String::new();
    file.rewind()?;
    file.read_to_string(&mut text)?;
    Ok(text)
}

/// A CNI error object (spec §"Error").
#[derive(Deserialize)]
struct CniError {
    code: u32,
    #[serde(default)]
    msg: String,
    #[serde(default)]
    details: String,
}

/// Why a plugin failed, in its own words: its CNI error object when it
/// printed one, else whatever it printed.
fn failure(status: ExitStatus, stdout: &str, stderr: &str) -> String {
    match serde_json::from_str::<CniError>(stdout) {
        Ok(e) if e.details.is_empty() => format!("it failed with CNI error {}: {}", e.code, e.msg),
        Ok(e) => format!(
            "it failed with CNI error {}: {} ({})",
            e.code, e.msg, e.details
        ),
        Err(_) => format!(
            "it failed ({status}) and printed: {}",
            printed(stdout, stderr)
        ),
    }
}

/// What a plugin printed, stdout then stderr, for a message.
fn printed(stdout: &str, stderr: &str) -> String {
    match (stdout.trim_end(), stderr.trim_end()) {
        ("", "") => "nothing".to_owned(),
        (out, "") => out.to_owned(),
        ("", err) => err.to_owned(),
        (out, err) => format!("{out}\n{err}"),
    }
}

/// The parts of a CNI result read here.
#[derive(Deserialize)]
struct CniResult {
    #[serde(default)]
    ips: Vec<serde_json::Value>,
}

/// An ADD that reports success must have given the pod an address: a
/// result without one would mean the benchmark timed a plugin doing less
/// than wiring a pod.
fn check_add_result(stdout: &str) -> anyhow::Result<()> {
    let result: CniResult = serde_json::from_str(stdout)
        .with_context(|| format!("it is not a CNI result: {}", stdout.trim_end()))?;
    if result.ips.is_empty() {
        bail!("it gives the pod no address: {}", stdout.trim_end());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in plugin: `sh -c SCRIPT` with the config on stdin.
    fn shell_plugin(script: &str, limit: Duration) -> Plugin {
        Plugin {
            name: "fake".into(),
            program: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
            cni_path: "/nonexistent/cni".into(),
            config: br#"{"cniVersion":"1.0.0","name":"n","type":"fake"}"#.to_vec(),
            limit,
        }
    }

    fn pod() -> Pod {
        Pod::new(42, "pwcni-42-test-0".into())
    }

    #[test]
    fn the_list_name_and_version_are_given_to_the_plugin() {
        let conflist = serde_json::json!({
            "cniVersion": "1.0.0",
            "name": "benchnet",
            "plugins": [{"type": "bridge", "bridge": "pwcb1"}],
        });
        let (name, config) = plugin_config(&conflist).unwrap();
        assert_eq!(name, "bridge");
        let config: serde_json::Value = serde_json::from_slice(&config).unwrap();
        assert_eq!(
            config,
            serde_json::json!({
                "cniVersion": "1.0.0",
                "name": "benchnet",
                "type": "bridge",
                "bridge": "pwcb1",
            })
        );
    }

    #[test]
    fn a_list_the_benchmark_cannot_time_is_refused_with_the_reason() {
        let two = serde_json::json!({
            "cniVersion": "1.0.0", "name": "n",
            "plugins": [{"type": "a"}, {"type": "b"}],
        });
        let err = plugin_config(&two).unwrap_err();
        assert!(format!("{err}").contains("has 2"), "{err}");
        let untyped = serde_json::json!({"cniVersion": "1.0.0", "name": "n", "plugins": [{}]});
        let err = plugin_config(&untyped).unwrap_err();
        assert!(format!("{err}").contains("\"type\""), "{err}");
        let unnamed = serde_json::json!({"cniVersion": "1.0.0", "plugins": [{"type": "a"}]});
        assert!(plugin_config(&unnamed).is_err());
    }

    #[test]
    fn the_runtime_environment_and_config_reach_the_plugin() {
        // The stand-in echoes what it got into the result's `ips`.
        let plugin = shell_plugin(
            r#"read -r config
printf '{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.2/32"}],"got":["%s","%s","%s","%s","%s","%s"],"config":%s}' \
  "$CNI_COMMAND" "$CNI_CONTAINERID" "$CNI_NETNS" "$CNI_IFNAME" "$CNI_ARGS" "$CNI_PATH" "$config""#,
            CALL_LIMIT,
        );
        let pod = pod();
        let call = plugin.call(Operation::Add, &pod).unwrap();
        assert!(call.finished >= call.started);
        let result: serde_json::Value = serde_json::from_str(&call.stdout).unwrap();
        let got: Vec<&str> = result["got"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let netns = format!("/run/netns/{}", pod.netns);
        assert_eq!(
            got[..4],
            ["ADD", pod.container_id.as_str(), netns.as_str(), "eth0"]
        );
        assert_eq!(pod.container_id.len(), 64);
        assert!(got[4].starts_with("IgnoreUnknown=1;K8S_POD_NAMESPACE="));
        assert!(got[4].contains(&format!("K8S_POD_NAME={}", pod.netns)));
        assert_eq!(got[5], "/nonexistent/cni");
        assert_eq!(result["config"]["type"], "fake");
    }

    #[test]
    fn a_cni_error_is_quoted_with_its_code() {
        let plugin = shell_plugin(
            r#"cat >/dev/null; echo '{"cniVersion":"1.0.0","code":7,"msg":"no network \"x\"","details":"see the config"}'; exit 1"#,
            CALL_LIMIT,
        );
        let err = format!("{:#}", plugin.call(Operation::Del, &pod()).unwrap_err());
        assert!(err.contains("CNI DEL of pod pwcni-42-test-0"), "{err}");
        assert!(
            err.contains("CNI error 7: no network \"x\" (see the config)"),
            "{err}"
        );
    }

    #[test]
    fn a_plugin_that_prints_no_error_object_is_quoted_as_it_is() {
        let plugin = shell_plugin("cat >/dev/null; echo broken >&2; exit 3", CALL_LIMIT);
        let err = format!("{:#}", plugin.call(Operation::Add, &pod()).unwrap_err());
        assert!(
            err.contains("broken") && err.contains("exit status: 3"),
            "{err}"
        );
    }

    #[test]
    fn an_add_that_gives_no_address_is_not_timed_as_a_success() {
        let plugin = shell_plugin(
            r#"cat >/dev/null; echo '{"cniVersion":"1.0.0","ips":[]}'"#,
            CALL_LIMIT,
        );
        let err = format!("{:#}", plugin.call(Operation::Add, &pod()).unwrap_err());
        assert!(err.contains("no address"), "{err}");
        // Whether or not it read its config: the output is what counts.
        let plugin = shell_plugin("echo not-json", CALL_LIMIT);
        assert!(plugin.call(Operation::Add, &pod()).is_err());
        // DEL prints nothing on success.
        let plugin = shell_plugin("cat >/dev/null", CALL_LIMIT);
        assert_eq!(plugin.call(Operation::Del, &pod()).unwrap().stdout, "");
    }

    #[test]
    fn a_hung_plugin_is_killed_and_reported() {
        let plugin = shell_plugin("exec sleep 30", Duration::from_millis(100));
        let err = format!("{:#}", plugin.call(Operation::Add, &pod()).unwrap_err());
        assert!(err.contains("was killed"), "{err}");
    }
}
