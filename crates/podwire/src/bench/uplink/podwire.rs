//! podwire as the forwarder: `podwire daemon` in the forwarder's namespace, pinned to one
//! CPU as testpmd is, with `in0` and `out0` attached as routed ports of one kind (the
//! uplink's), one worker. A frame for the sink comes in on `in0`, is looked up (IPv4 FIB),
//! rewritten (TTL, checksum, MACs) and sent on `out0`. Stopped with SIGTERM on drop.

use std::fs::{File, OpenOptions};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use podwire_agent::api::client::Client;
use podwire_model::api::InterfaceView;

use super::pinned;
use super::wires::{IN, OUT, PREFIX};

/// podwire's names for the two ports.
const PORT_IN: &str = "ul-in";
/// See [`PORT_IN`].
const PORT_OUT: &str = "ul-out";
/// podwire's addresses on them: the generator's and the sink's gateways.
const IN_IP: Ipv4Addr = Ipv4Addr::new(10, 214, 1, 1);
/// See [`IN_IP`].
const OUT_IP: Ipv4Addr = Ipv4Addr::new(10, 214, 2, 1);
/// How long the daemon may take to serve its API, and to stop.
const STEP_LIMIT: Duration = Duration::from_secs(30);
/// How often its API is asked meanwhile.
const POLL: Duration = Duration::from_millis(20);
/// Lines of its log quoted in an error.
const LOG_LINES: usize = 40;

/// A running daemon; stopped on drop.
pub struct PodwireForwarder {
    daemon: Option<Child>,
    socket: PathBuf,
    log: PathBuf,
    label: String,
    _dir: tempfile::TempDir,
}

/// What podwire's ports counted in a window.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct PortCounts {
    /// Frames `ul-in` received.
    pub received: u64,
    /// Frames `ul-out` sent.
    pub sent: u64,
    /// Frames lost on either port (ring full, driver errors).
    pub dropped: u64,
}

impl PodwireForwarder {
    /// Starts `exe` as the daemon in `netns` on `cpu`, with ports of `kind` (the config's
    /// `kind` value); returns once it serves its API.
    pub fn start(exe: &Path, netns: &str, cpu: usize, kind: &str) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("podwire-bench-uplink-")
            .tempdir_in("/run")
            .context("cannot create a temporary directory in /run")?;
        let socket = dir.path().join("api.sock");
        let config = dir.path().join("podwire.toml");
        std::fs::write(&config, config_text(dir.path(), &socket, kind))
            .with_context(|| format!("cannot write {}", config.display()))?;
        let log = dir.path().join("daemon.log");
        let output = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("cannot open {}", log.display()))?;
        let mut command = pinned(netns, cpu, exe);
        command.arg("daemon").arg("--config").arg(&config);
        let daemon = command
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(output.try_clone()?)
            .stderr(output)
            .spawn()
            .with_context(|| format!("cannot start {} daemon", exe.display()))?;
        let mut forwarder = PodwireForwarder {
            daemon: Some(daemon),
            socket,
            log,
            label: String::new(),
            _dir: dir,
        };
        forwarder.wait_serving()?;
        // The driver the ports really got (`af-xdp native`), rather than the config's kind.
        let [driver, _] = forwarder.drivers()?;
        forwarder.label =
            format!("podwire daemon, {driver} ports {IN} and {OUT}, 1 worker (CPU {cpu})");
        Ok(forwarder)
    }

    /// `podwire daemon, af-xdp native ports in0 and out0, 1 worker (CPU 1)`.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The driver each of its two ports really got, as `show interfaces` says it
    /// (`af-xdp native`, `af-packet`, …).
    pub fn drivers(&self) -> anyhow::Result<[String; 2]> {
        Ok(self.ports()?.map(|port| port.kind))
    }

    /// What its ports have counted so far.
    pub fn counts(&self) -> anyhow::Result<PortCounts> {
        let [port_in, port_out] = self.ports()?;
        Ok(PortCounts {
            received: port_in.rx_packets,
            sent: port_out.tx_packets,
            dropped: port_in.drops + port_out.drops,
        })
    }

    /// Stops it with SIGTERM (bounded); an error when it does not exit cleanly.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.terminate()
    }

    /// Its two ports as `show interfaces` has them: `ul-in`, `ul-out`.
    fn ports(&self) -> anyhow::Result<[InterfaceView; 2]> {
        let interfaces = self.interfaces()?;
        let port = |name: &str| {
            interfaces
                .iter()
                .find(|i| i.name == name)
                .cloned()
                .with_context(|| format!("the forwarder has no port {name}"))
        };
        Ok([port(PORT_IN)?, port(PORT_OUT)?])
    }

    fn interfaces(&self) -> anyhow::Result<Vec<InterfaceView>> {
        let client = Client::new(&self.socket).with_timeout(Duration::from_secs(5));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start an async runtime")?;
        runtime
            .block_on(client.interfaces())
            .context("asking the forwarding daemon for its interfaces")
    }

    fn wait_serving(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + STEP_LIMIT;
        loop {
            let why = match self.interfaces() {
                Ok(_) => return Ok(()),
                Err(e) => format!("{e:#}"),
            };
            if let Some(daemon) = self.daemon.as_mut()
                && let Some(status) = daemon.try_wait()?
            {
                self.daemon = None;
                bail!(
                    "the forwarding daemon exited ({status}) as it started; its log:\n{}",
                    self.log_tail()
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "the forwarding daemon did not serve its API within {} s ({why}); its log:\n{}",
                    STEP_LIMIT.as_secs(),
                    self.log_tail()
                );
            }
            std::thread::sleep(POLL);
        }
    }

    fn terminate(&mut self) -> anyhow::Result<()> {
        let Some(mut daemon) = self.daemon.take() else {
            return Ok(());
        };
        if let Some(pid) = i32::try_from(daemon.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        {
            // It may have exited already: then there is nothing to signal.
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let deadline = Instant::now() + STEP_LIMIT;
        while Instant::now() < deadline {
            if let Some(status) = daemon.try_wait()? {
                if status.success() {
                    return Ok(());
                }
                bail!(
                    "the forwarding daemon exited with {status} on SIGTERM; its log:\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(POLL);
        }
        let _ = daemon.kill();
        let _ = daemon.wait();
        bail!(
            "the forwarding daemon did not exit within {} s of SIGTERM and was killed",
            STEP_LIMIT.as_secs()
        )
    }

    fn log_tail(&self) -> String {
        let text = File::open(&self.log)
            .and_then(|mut f| {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut f, &mut text).map(|_| text)
            })
            .unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(LOG_LINES)..].join("\n")
    }
}

impl Drop for PodwireForwarder {
    fn drop(&mut self) {
        if let Err(e) = self.terminate() {
            println!("  warning: {e:#}");
        }
    }
}

/// Two routed ports of `kind` on the forwarder's veths, and nothing the measurement does
/// not use: no masquerading (the frames are routed, as testpmd forwards them, unchanged
/// but for the rewrite routing needs).
fn config_text(dir: &Path, socket: &Path, kind: &str) -> String {
    let mut text = format!(
        "[node]\nname = \"bench-uplink\"\napi_socket = \"{}\"\nstate_dir = \"{}\"\nworkers = 1\n",
        socket.display(),
        dir.join("state").display()
    );
    for (name, device, ip) in [(PORT_IN, IN, IN_IP), (PORT_OUT, OUT, OUT_IP)] {
        text += &format!(
            "\n[[interface]]\nname = \"{name}\"\nkind = \"{kind}\"\nhost_interface = \"{device}\"\n\
             addresses = [\"{ip}/{PREFIX}\"]\n"
        );
    }
    text + "\n[services]\nmasquerade_interfaces = []\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::uplink::PortKind;
    use crate::bench::uplink::wires::SINK_IP;
    use podwire_model::config::Config;

    #[test]
    fn the_config_routes_between_two_ports_of_the_kind() {
        for kind in PortKind::ALL.map(PortKind::config_kind) {
            let text = config_text(Path::new("/run/x"), Path::new("/run/x/api.sock"), kind);
            let config = Config::parse(&text).unwrap();
            let ports: Vec<(&str, String)> = config
                .interfaces
                .iter()
                .map(|i| (i.name.as_str(), i.kind().to_string()))
                .collect();
            assert_eq!(ports, [(PORT_IN, kind.into()), (PORT_OUT, kind.into())]);
            assert!(config.services.masquerade_interfaces.is_empty());
            // The sink is on the out port's subnet: the frames are routed there.
            assert!(text.contains(&format!("\"{OUT_IP}/{PREFIX}\"")));
            assert_eq!(SINK_IP.octets()[..3], OUT_IP.octets()[..3]);
        }
    }
}
