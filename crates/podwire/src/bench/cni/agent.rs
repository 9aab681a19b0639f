//! podwire's side: a `podwire daemon` with one routed tap network, started
//! from this very binary, and the same binary installed as the CNI plugin
//! `podwire` in a directory of its own (the runtime's `CNI_PATH`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use podwire_agent::api::client::Client;
use podwire_model::config::Config;

use super::plugin::Plugin;

/// The podwire network the pods attach to.
const NETWORK: &str = "bench";
/// podwire's pods' subnet: apart from the reference's and from every other
/// benchmark's; as large as the reference's.
pub const SUBNET: &str = "10.217.0.0/20";
/// How long the daemon may take to serve the network.
const START_LIMIT: Duration = Duration::from_secs(30);
/// How long it may take to stop on SIGTERM before it is killed.
const STOP_LIMIT: Duration = Duration::from_secs(10);
/// How often a waiting loop looks again.
const POLL: Duration = Duration::from_millis(20);

/// A running daemon and the plugin that talks to it; on drop the daemon is
/// stopped and its directory (config, state, socket, log) removed.
pub struct Agent {
    plugin: Plugin,
    daemon: Option<Child>,
    log: PathBuf,
    /// Config, state, socket, log and the plugin's directory.
    _dir: tempfile::TempDir,
}

impl Agent {
    /// Starts the daemon and waits until its network takes pods; names
    /// carry `run`.
    pub fn start(run: u32) -> anyhow::Result<Agent> {
        // Under /run, as the daemon's default state_dir: state on tmpfs, which outlives the
        // agent but not the machine (and whose durable writes cost no disk flush).
        let dir = tempfile::Builder::new()
            .prefix("podwire-bench-cni-")
            .tempdir_in("/run")
            .context("cannot create a temporary directory in /run")?;
        let socket = dir.path().join("api.sock");
        let config_text = daemon_config(run, &socket, &dir.path().join("state"));
        Config::parse(&config_text)
            .context("the benchmark's daemon config is invalid (a podwire bug)")?;
        let config_file = dir.path().join("podwire.toml");
        fs::write(&config_file, &config_text)
            .with_context(|| format!("cannot write {}", config_file.display()))?;

        let exe = std::env::current_exe().context("cannot find the running podwire binary")?;
        let cni_bin = dir.path().join("bin");
        fs::create_dir(&cni_bin)?;
        std::os::unix::fs::symlink(&exe, cni_bin.join("podwire"))
            .context("cannot install the podwire plugin in the benchmark's CNI_PATH")?;
        let conflist_file = dir.path().join("10-podwire.conflist");
        fs::write(&conflist_file, conflist(run, &socket).to_string())
            .with_context(|| format!("cannot write {}", conflist_file.display()))?;
        let plugin = Plugin::from_conflist_file(&conflist_file, &cni_bin)?;

        let log = dir.path().join("daemon.log");
        let log_file =
            fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        let daemon = Command::new(&exe)
            .arg("daemon")
            .arg("--config")
            .arg(&config_file)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("cannot start `{} daemon`", exe.display()))?;
        let mut agent = Agent {
            plugin,
            daemon: Some(daemon),
            log,
            _dir: dir,
        };
        agent.wait_ready(&socket)?;
        Ok(agent)
    }

    /// The plugin, for the measurements.
    pub fn plugin(&self) -> &Plugin {
        &self.plugin
    }

    /// Waits until the daemon's API says the network can take a pod.
    fn wait_ready(&mut self, socket: &Path) -> anyhow::Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let client = Client::new(socket).with_timeout(Duration::from_secs(2));
        let deadline = Instant::now() + START_LIMIT;
        loop {
            if let Some(daemon) = self.daemon.as_mut()
                && let Some(status) = daemon.try_wait()?
            {
                bail!(
                    "podwire daemon exited ({status}) before it served network {NETWORK}; its log:\n{}",
                    self.log_text()
                );
            }
            let why = if socket.exists() {
                match runtime.block_on(client.networks()) {
                    Ok(networks) => match networks.iter().find(|n| n.name == NETWORK) {
                        Some(n) if n.ready => return Ok(()),
                        Some(n) => n.reason.clone().unwrap_or_else(|| "not ready".into()),
                        None => format!("it has no network {NETWORK}"),
                    },
                    Err(e) => e.to_string(),
                }
            } else {
                "its API socket is not there yet".into()
            };
            if Instant::now() >= deadline {
                bail!(
                    "podwire daemon did not serve network {NETWORK} within {} s ({why}); its log:\n{}",
                    START_LIMIT.as_secs(),
                    self.log_text()
                );
            }
            thread::sleep(POLL);
        }
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the daemon with SIGTERM, or kills it when it does not stop in
    /// time; says which.
    fn stop(&mut self) {
        let Some(mut daemon) = self.daemon.take() else {
            return;
        };
        let pid = i32::try_from(daemon.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw);
        if let Some(pid) = pid {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let deadline = Instant::now() + STOP_LIMIT;
        while Instant::now() < deadline {
            match daemon.try_wait() {
                Ok(Some(status)) if status.success() => return,
                Ok(Some(status)) => {
                    println!(
                        "  warning: podwire daemon exited with {status}; its log:\n{}",
                        self.log_text()
                    );
                    return;
                }
                Ok(None) => thread::sleep(POLL),
                Err(_) => break,
            }
        }
        let _ = daemon.kill();
        let _ = daemon.wait();
        println!(
            "  warning: podwire daemon did not stop within {} s and was killed; its log:\n{}",
            STOP_LIMIT.as_secs(),
            self.log_text()
        );
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // The directory goes after this, with the field.
        self.stop();
    }
}

/// The daemon's config: a routed tap network (the defaults) over IPv4, its
/// state in the benchmark's directory.
fn daemon_config(run: u32, socket: &Path, state_dir: &Path) -> String {
    // A JSON string is a valid TOML basic string, whatever the path holds.
    let quoted = |path: &Path| serde_json::Value::from(path.to_string_lossy()).to_string();
    format!(
        "[node]\n\
         name = \"pwcni-{run}\"\n\
         api_socket = {}\n\
         metrics_listen = \"127.0.0.1:0\"\n\
         state_dir = {}\n\
         \n\
         [[network]]\n\
         name = \"{NETWORK}\"\n\
         pod_cidrs = [\"{SUBNET}\"]\n",
        quoted(socket),
        quoted(state_dir)
    )
}

/// The network config list a runtime would read: the podwire plugin alone
/// (no chained `portmap`: the reference has none either).
fn conflist(run: u32, socket: &Path) -> serde_json::Value {
    serde_json::json!({
        "cniVersion": "1.0.0",
        "name": format!("pwcni-{run}-podwire"),
        "plugins": [{
            "type": "podwire",
            "network": NETWORK,
            "agentSocket": socket,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daemon_config_is_valid_and_has_the_network() {
        let text = daemon_config(42, Path::new("/tmp/x/api.sock"), Path::new("/tmp/x/state"));
        let config = Config::parse(&text).unwrap();
        assert_eq!(config.node.api_socket, Path::new("/tmp/x/api.sock"));
        assert_eq!(config.node.state_dir, Path::new("/tmp/x/state"));
        assert_eq!(config.networks.len(), 1);
        assert_eq!(config.networks[0].name, NETWORK);
        assert_eq!(config.networks[0].pod_cidrs[0].to_string(), SUBNET);
    }

    #[test]
    fn the_list_points_the_plugin_at_the_daemon() {
        let list = conflist(42, Path::new("/tmp/x/api.sock"));
        assert_eq!(list["cniVersion"], "1.0.0");
        let plugins = list["plugins"].as_array().unwrap();
        assert_eq!(plugins.len(), 1);
        assert_eq!(plugins[0]["type"], "podwire");
        assert_eq!(plugins[0]["network"], NETWORK);
        assert_eq!(plugins[0]["agentSocket"], "/tmp/x/api.sock");
    }
}
