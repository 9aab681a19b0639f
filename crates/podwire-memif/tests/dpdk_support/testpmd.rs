//! One `dpdk-testpmd` process with memif ports, driven in interactive mode
//! through a pipe: commands go to its stdin one at a time, and a command is
//! done when testpmd prints its prompt again. Killed and reaped on drop.
//!
//! testpmd writes its prompt with write(2) but its output with printf, which
//! is fully buffered on a pipe: without `stdbuf -oL` the output of a command
//! would arrive after the next prompt, or never. Line buffering keeps both
//! in order.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::stats::{Counters, PortStats, Xstats};

/// The executable, from the Debian package `dpdk-dev`.
pub const TESTPMD: &str = "dpdk-testpmd";

/// What testpmd prints when it is ready for the next command.
const PROMPT: &str = "testpmd> ";

/// The longest any one step (startup, a command, a link change) may take
/// before the test fails; each is well under a second when all is well.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// How long testpmd gets to `quit` before it is killed.
const QUIT_TIMEOUT: Duration = Duration::from_secs(10);

/// How often a waiting caller gets to run its `idle` work (e.g. draining
/// its rings) while testpmd has not answered yet.
const IDLE_PERIOD: Duration = Duration::from_millis(1);

/// One memif port (`--vdev=net_memifN,...`) of a testpmd.
#[derive(Clone, Debug)]
pub struct MemifPort {
    /// `server` or `client`, DPDK's words.
    role: &'static str,
    id: u32,
    socket: PathBuf,
    secret: Option<String>,
    zero_copy: bool,
}

impl MemifPort {
    /// A DPDK server for interface `id` on the socket file `socket`.
    pub fn server(socket: &Path, id: u32) -> MemifPort {
        MemifPort::new("server", socket, id)
    }

    /// A DPDK client for interface `id` on the socket file `socket`. It
    /// connects once, when testpmd starts its port, and never again:
    /// our server must be listening by then.
    pub fn client(socket: &Path, id: u32) -> MemifPort {
        MemifPort::new("client", socket, id)
    }

    fn new(role: &'static str, socket: &Path, id: u32) -> MemifPort {
        MemifPort {
            role,
            id,
            socket: socket.to_owned(),
            secret: None,
            zero_copy: false,
        }
    }

    /// With the shared secret `secret`.
    pub fn secret(self, secret: &str) -> MemifPort {
        MemifPort {
            secret: Some(secret.to_owned()),
            ..self
        }
    }

    /// A zero-copy client: its packet buffers are DPDK's own memory, handed
    /// over as extra regions (needs `--single-file-segments`).
    pub fn zero_copy(self) -> MemifPort {
        MemifPort {
            zero_copy: true,
            ..self
        }
    }

    /// The `--vdev` argument for port number `port`. Filesystem sockets
    /// (`socket-abstract=no`): DPDK 22.11 defaults to abstract ones.
    fn vdev(&self, port: usize) -> String {
        let mut arg = format!(
            "--vdev=net_memif{port},role={},id={},socket={},socket-abstract=no",
            self.role,
            self.id,
            self.socket.display()
        );
        if let Some(secret) = &self.secret {
            arg += &format!(",secret={secret}");
        }
        if self.zero_copy {
            arg += ",zero-copy=yes";
        }
        arg
    }
}

/// How to run testpmd besides its ports.
#[derive(Clone, Debug)]
pub struct Options {
    /// Queue pairs of every port (`--rxq`, `--txq`).
    pub queues: u16,
    /// More EAL arguments (before `--`).
    pub eal: Vec<String>,
    /// More testpmd arguments (after `--`).
    pub app: Vec<String>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            queues: 1,
            eal: Vec::new(),
            app: Vec::new(),
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

/// A running testpmd in interactive mode.
pub struct Testpmd {
    child: Child,
    stdin: ChildStdin,
    output: Arc<Output>,
    reader: Option<JoinHandle<()>>,
    /// `--file-prefix`: its runtime directory under /var/run/dpdk.
    prefix: String,
}

impl Testpmd {
    /// Starts testpmd with `ports` and waits for its first prompt, running
    /// `idle` meanwhile (a DPDK client connects during startup: our server
    /// must answer). The forwarding mode is set later with commands.
    pub fn spawn(ports: &[MemifPort], options: &Options, idle: &mut dyn FnMut()) -> Testpmd {
        let prefix = unique_prefix();
        let queues = options.queues.to_string();
        let mut command = Command::new("stdbuf");
        command
            .arg("-oL")
            .arg(TESTPMD)
            // No hugepages, no PCI; a runtime directory of its own so that
            // tests can run several testpmds at once; both lcores (main and
            // forwarding) on CPU 1, leaving CPU 0 to us.
            .args(["--no-huge", "-m", "512", "--no-pci", "--lcores=0@1,1@1"])
            .arg(format!("--file-prefix={prefix}"))
            // Every control message and the peer's DISCONNECT reasons, for
            // failure messages (and the tests that check the reasons).
            .arg("--log-level=pmd.net.memif:debug")
            .args(ports.iter().enumerate().map(|(i, port)| port.vdev(i)))
            .args(&options.eal)
            .arg("--")
            .args(["-i", "--nb-cores=1", "--total-num-mbufs=32768"])
            .arg(format!("--rxq={queues}"))
            .arg(format!("--txq={queues}"))
            .args(&options.app);
        let (stdout, reader_pipe) = output_pipe();
        let stderr = stdout.try_clone().expect("cannot duplicate a pipe fd");
        command.stdin(Stdio::piped()).stdout(stdout).stderr(stderr);
        // SAFETY: the closure runs in the child between fork and exec and
        // only makes one system call (prctl), which is async-signal-safe.
        unsafe {
            command.pre_exec(|| {
                // If this test process dies without running Drop (killed by
                // a timeout), testpmd must not outlive it and spin on CPU 1.
                // (The signal follows the thread that spawned testpmd: a
                // test drops its testpmd on its own thread.)
                rustix::process::set_parent_process_death_signal(Some(
                    rustix::process::Signal::KILL,
                ))?;
                Ok(())
            });
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {TESTPMD} through stdbuf: {e}"));
        // The pipe's write ends now live in the child only: EOF when it exits.
        drop(command);
        let stdin = child.stdin.take().expect("stdin was piped");
        let output = Arc::new(Output::default());
        let reader = {
            let output = Arc::clone(&output);
            std::thread::spawn(move || read_output(reader_pipe, &output))
        };
        let mut testpmd = Testpmd {
            child,
            stdin,
            output,
            reader: Some(reader),
            prefix,
        };
        testpmd.wait_for_prompt(0, "startup", idle);
        testpmd
    }

    /// Runs one command and returns what it printed (up to the next
    /// prompt), running `idle` while waiting.
    pub fn command(&mut self, line: &str, idle: &mut dyn FnMut()) -> String {
        let from = self.output_len();
        writeln!(self.stdin, "{line}")
            .and_then(|()| self.stdin.flush())
            .unwrap_or_else(|e| panic!("cannot write {line:?} to testpmd: {e}{}", self.tail()));
        self.wait_for_prompt(from, line, idle)
    }

    /// `show port stats`: the port's totals.
    pub fn port_stats(&mut self, port: u16, idle: &mut dyn FnMut()) -> PortStats {
        let text = self.command(&format!("show port stats {port}"), idle);
        PortStats::parse(&text)
            .unwrap_or_else(|| panic!("no port statistics in {text:?}{}", self.tail()))
    }

    /// `show port stats` and `show port xstats`: totals and per queue.
    pub fn counters(&mut self, port: u16, idle: &mut dyn FnMut()) -> Counters {
        let port_stats = self.port_stats(port, idle);
        let xstats = self.command(&format!("show port xstats {port}"), idle);
        Counters {
            port: port_stats,
            queues: Xstats::parse(&xstats),
        }
    }

    /// Whether the port's link is up (memif: connected).
    pub fn link_up(&mut self, port: u16, idle: &mut dyn FnMut()) -> bool {
        let text = self.command(&format!("show port info {port}"), idle);
        match super::stats::link_status(&text) {
            Some(up) => up,
            None => panic!("no link status in {text:?}{}", self.tail()),
        }
    }

    /// Asks for the link status until it is `up` (bounded), running
    /// `idle` in between.
    pub fn wait_for_link(&mut self, port: u16, up: bool, idle: &mut dyn FnMut()) {
        let deadline = Instant::now() + STEP_TIMEOUT;
        while self.link_up(port, idle) != up {
            assert!(
                Instant::now() < deadline,
                "testpmd's port {port} did not go {} within {STEP_TIMEOUT:?}{}",
                if up { "up" } else { "down" },
                self.tail()
            );
            idle();
        }
    }

    /// Everything testpmd printed, for failure messages.
    pub fn output(&self) -> String {
        self.output.text.lock().unwrap().text.clone()
    }

    /// The end of the output, as a suffix for failure messages.
    pub fn tail(&self) -> String {
        let text = self.output();
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.len().saturating_sub(60);
        format!(
            "\n--- testpmd output (last lines) ---\n{}",
            lines[start..].join("\n")
        )
    }

    fn output_len(&self) -> usize {
        self.output.text.lock().unwrap().text.len()
    }

    /// Waits until a prompt appears after byte `from` of the output;
    /// returns what came before it.
    fn wait_for_prompt(&mut self, from: usize, what: &str, idle: &mut dyn FnMut()) -> String {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let closed = {
                let mut text = self.output.text.lock().unwrap();
                if prompt_after(&text.text, from).is_none() && !text.closed {
                    text = self.output.grew.wait_timeout(text, IDLE_PERIOD).unwrap().0;
                }
                if let Some(printed) = prompt_after(&text.text, from) {
                    return printed.to_owned();
                }
                text.closed
            };
            if closed {
                let status = self.child.wait();
                panic!("testpmd exited ({status:?}) during {what:?}{}", self.tail());
            }
            assert!(
                Instant::now() < deadline,
                "testpmd did not finish {what:?} within {STEP_TIMEOUT:?}{}",
                self.tail()
            );
            idle();
        }
    }
}

/// What `text` holds between byte `from` and the next prompt, once the
/// prompt is there.
fn prompt_after(text: &str, from: usize) -> Option<&str> {
    let new = text.get(from..)?;
    new.find(PROMPT).map(|end| &new[..end])
}

impl Drop for Testpmd {
    fn drop(&mut self) {
        // Politely first (it closes its ports, removing a server's socket),
        // then by force.
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        let deadline = Instant::now() + QUIT_TIMEOUT;
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
        let _ = std::fs::remove_dir_all(Path::new("/var/run/dpdk").join(&self.prefix));
    }
}

/// A `--file-prefix` no other testpmd of this or another test run uses.
fn unique_prefix() -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("podwire-memif-{}-{n}", std::process::id())
}

/// A pipe for testpmd's stdout and stderr: the write end for the child,
/// the read end for our reader thread.
fn output_pipe() -> (std::os::fd::OwnedFd, std::fs::File) {
    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .expect("cannot create a pipe for testpmd's output");
    (write, std::fs::File::from(read))
}

/// Appends everything testpmd prints to `output`, until it exits.
fn read_output(mut pipe: std::fs::File, output: &Output) {
    let mut buf = [0u8; 8192];
    loop {
        let n = pipe.read(&mut buf).unwrap_or(0);
        let mut text = output.text.lock().unwrap();
        if n == 0 {
            text.closed = true;
            output.grew.notify_all();
            return;
        }
        text.text.push_str(&String::from_utf8_lossy(&buf[..n]));
        output.grew.notify_all();
    }
}
