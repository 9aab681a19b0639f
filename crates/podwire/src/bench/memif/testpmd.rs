//! One `dpdk-testpmd` (Debian's DPDK 22.11) with one memif port, driven in
//! interactive mode through a pipe (memif.md §8): commands go to its stdin
//! one at a time, and a command is done when testpmd prints its prompt
//! again. Quit and then killed on drop.
//!
//! testpmd writes its prompt with write(2) but its output with printf,
//! which is fully buffered on a pipe: without `stdbuf -oL` the output of a
//! command would arrive after the next prompt, or never.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::cpu;
use super::stats::{self, PortStats};

/// The executable, from the Debian package `dpdk-dev`.
pub const TESTPMD: &str = "dpdk-testpmd";
/// What testpmd prints when it is ready for the next command.
const PROMPT: &str = "testpmd> ";
/// The longest any one step (startup, a command, a link coming up) may
/// take; each takes well under a second when all is well.
const STEP_LIMIT: Duration = Duration::from_secs(30);
/// How long testpmd gets to `quit` before it is killed.
const QUIT_LIMIT: Duration = Duration::from_secs(10);
/// How often the link is asked for while it is down.
const LINK_POLL: Duration = Duration::from_millis(2);
/// Lines of output quoted in an error.
const TAIL_LINES: usize = 40;

/// Which end of the memif connection testpmd plays.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// It listens (DPDK `role=server`).
    Server,
    /// It connects, once, when its port starts (DPDK `role=client`).
    Client,
}

/// What testpmd's forwarding core does.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Forwarding {
    /// Sends 64-byte UDP frames as fast as the ring takes them.
    TxOnly,
    /// Receives and frees every packet.
    RxOnly,
}

impl Forwarding {
    fn mode(self) -> &'static str {
        match self {
            Forwarding::TxOnly => "txonly",
            Forwarding::RxOnly => "rxonly",
        }
    }
}

/// What testpmd printed so far, filled by a reader thread.
#[derive(Default)]
struct Output {
    text: Mutex<OutputText>,
    grew: Condvar,
}

#[derive(Default)]
struct OutputText {
    text: String,
    /// testpmd closed its output: it exited.
    closed: bool,
}

/// A running testpmd with memif port 0.
pub struct Testpmd {
    child: Child,
    stdin: ChildStdin,
    output: Arc<Output>,
    reader: Option<JoinHandle<()>>,
    /// `--file-prefix`: its runtime directory under /var/run/dpdk.
    prefix: String,
    /// `testpmd server txonly`, for messages.
    label: String,
}

impl Testpmd {
    /// Starts testpmd on `cpu` (both its lcores) as the memif `role` on the
    /// socket file `socket`, interface id 0, ready to forward as
    /// `forwarding` once [`start_forwarding`](Self::start_forwarding) is
    /// called. A client connects during startup: the server must listen.
    pub fn start(
        role: Role,
        socket: &Path,
        cpu: usize,
        forwarding: Forwarding,
    ) -> anyhow::Result<Testpmd> {
        let prefix = unique_prefix();
        let role_word = match role {
            Role::Server => "server",
            Role::Client => "client",
        };
        let label = format!("testpmd {role_word} {}", forwarding.mode());
        let mut command = cpu::pinned(cpu, "stdbuf");
        command
            .args(["-oL", TESTPMD])
            // No hugepages, no PCI, a runtime directory of its own (two
            // testpmds run at once), both lcores (main and forwarding) on
            // `cpu`.
            .args(["--no-huge", "-m", "512", "--no-pci"])
            .arg(format!("--lcores=0@{cpu},1@{cpu}"))
            .arg(format!("--file-prefix={prefix}"))
            .arg(vdev(role_word, socket))
            .args(["--", "-i", "--nb-cores=1", "--total-num-mbufs=32768"])
            .arg("--txpkts=64");
        let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .context("cannot create a pipe for testpmd's output")?;
        let stderr = write
            .try_clone()
            .context("cannot duplicate testpmd's output pipe")?;
        command.stdin(Stdio::piped()).stdout(write).stderr(stderr);
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {TESTPMD} (setpriv, taskset, stdbuf)"))?;
        // The pipe's write ends now live in the child only: EOF when it exits.
        drop(command);
        let stdin = child.stdin.take().context("testpmd's stdin is not piped")?;
        let output = Arc::new(Output::default());
        let reader = {
            let output = Arc::clone(&output);
            std::thread::spawn(move || read_output(std::fs::File::from(read), &output))
        };
        let mut testpmd = Testpmd {
            child,
            stdin,
            output,
            reader: Some(reader),
            prefix,
            label,
        };
        testpmd.wait_for_prompt(0, "startup")?;
        testpmd.command(&format!("set fwd {}", forwarding.mode()))?;
        Ok(testpmd)
    }

    /// Starts the forwarding core. A txonly server must start only once
    /// its client is connected: started before, DPDK 22.11 sends the first
    /// two rings' worth and then no more.
    pub fn start_forwarding(&mut self) -> anyhow::Result<()> {
        self.command("start").map(drop)
    }

    /// `show port stats 0`.
    pub fn port_stats(&mut self) -> anyhow::Result<PortStats> {
        let text = self.command("show port stats 0")?;
        match PortStats::parse(&text) {
            Some(stats) => Ok(stats),
            None => bail!("{}: no port statistics in {text:?}", self.label),
        }
    }

    /// Waits (bounded) until the memif port is connected.
    pub fn wait_for_link(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + STEP_LIMIT;
        loop {
            let text = self.command("show port info 0")?;
            match stats::link_up(&text) {
                Some(true) => return Ok(()),
                Some(false) if Instant::now() < deadline => std::thread::sleep(LINK_POLL),
                Some(false) => bail!(
                    "{}: its memif port did not connect within {} s{}",
                    self.label,
                    STEP_LIMIT.as_secs(),
                    self.tail()
                ),
                None => bail!("{}: no link status in {text:?}", self.label),
            }
        }
    }

    /// `testpmd server txonly`.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Runs one command and returns what it printed before the next prompt.
    fn command(&mut self, line: &str) -> anyhow::Result<String> {
        let from = self.output.text.lock().map_or(0, |t| t.text.len());
        writeln!(self.stdin, "{line}")
            .and_then(|()| self.stdin.flush())
            .with_context(|| format!("cannot write {line:?} to {}{}", self.label, self.tail()))?;
        self.wait_for_prompt(from, line)
    }

    /// Waits until a prompt appears after byte `from` of the output;
    /// returns what came before it.
    fn wait_for_prompt(&mut self, from: usize, what: &str) -> anyhow::Result<String> {
        let deadline = Instant::now() + STEP_LIMIT;
        let mut text = self
            .output
            .text
            .lock()
            .map_err(|_| anyhow::anyhow!("testpmd's output reader panicked"))?;
        loop {
            if let Some(printed) = prompt_after(&text.text, from) {
                return Ok(printed.to_owned());
            }
            let now = Instant::now();
            if text.closed || now >= deadline {
                drop(text);
                let why = if self.child.try_wait().ok().flatten().is_some() {
                    "exited"
                } else {
                    "did not answer in time"
                };
                bail!("{} {why} during {what:?}{}", self.label, self.tail());
            }
            text = self
                .output
                .grew
                .wait_timeout(text, deadline - now)
                .map_err(|_| anyhow::anyhow!("testpmd's output reader panicked"))?
                .0;
        }
    }

    /// The end of the output, as a suffix for error messages.
    fn tail(&self) -> String {
        let text = self
            .output
            .text
            .lock()
            .map(|t| t.text.clone())
            .unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.len().saturating_sub(TAIL_LINES);
        format!(
            "\n--- {} output (last lines) ---\n{}",
            self.label,
            lines.get(start..).unwrap_or_default().join("\n")
        )
    }
}

impl Drop for Testpmd {
    fn drop(&mut self) {
        // Politely first (it closes its port, removing a server's socket),
        // then by force.
        let _ = writeln!(self.stdin, "quit").and_then(|()| self.stdin.flush());
        let deadline = Instant::now() + QUIT_LIMIT;
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let _ = std::fs::remove_dir_all(PathBuf::from("/var/run/dpdk").join(&self.prefix));
    }
}

/// The `--vdev` of memif port 0 in `role` on the socket file `socket`
/// (DPDK 22.11 defaults to abstract sockets).
fn vdev(role: &str, socket: &Path) -> String {
    format!(
        "--vdev=net_memif0,role={role},id=0,socket={},socket-abstract=no",
        socket.display()
    )
}

/// What `text` holds between byte `from` and the next prompt, once the
/// prompt is there.
fn prompt_after(text: &str, from: usize) -> Option<&str> {
    let new = text.get(from..)?;
    new.find(PROMPT).and_then(|end| new.get(..end))
}

/// A `--file-prefix` no other testpmd of this or another run uses.
fn unique_prefix() -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("podwire-bench-{}-{n}", std::process::id())
}

/// Appends everything testpmd prints to `output`, until it exits.
fn read_output(mut pipe: std::fs::File, output: &Output) {
    let mut buf = [0u8; 8192];
    loop {
        let n = pipe.read(&mut buf).unwrap_or(0);
        let Ok(mut text) = output.text.lock() else {
            return;
        };
        match buf.get(..n) {
            Some(bytes) if n > 0 => text.text.push_str(&String::from_utf8_lossy(bytes)),
            _ => {
                text.closed = true;
                output.grew.notify_all();
                return;
            }
        }
        output.grew.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_is_what_comes_before_the_next_prompt() {
        let text = "testpmd> show port stats 0\nRX-packets: 1\ntestpmd> ";
        let from = "testpmd> ".len();
        assert_eq!(
            prompt_after(text, from),
            Some("show port stats 0\nRX-packets: 1\n")
        );
        // The prompt is not printed yet.
        assert_eq!(prompt_after("testpmd> start\nDone\n", from), None);
        assert_eq!(prompt_after("short", 100), None);
    }

    #[test]
    fn the_port_is_a_memif_on_a_socket_file() {
        assert_eq!(
            vdev("server", Path::new("/tmp/x/a.sock")),
            "--vdev=net_memif0,role=server,id=0,socket=/tmp/x/a.sock,socket-abstract=no"
        );
    }
}
