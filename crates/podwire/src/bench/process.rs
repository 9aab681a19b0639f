//! The benchmark's child processes, each bounded in time: commands that run
//! to completion (a traffic client, a CNI plugin, a counter read), commands
//! that run in the background until they end or are interrupted (a memif
//! tool), and servers that run until dropped. Commands run inside a pod with
//! `ip netns exec`, which enters the namespace and then execs the command,
//! so a server's pid is the tool's own.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// How often a waiting loop looks again.
const POLL: Duration = Duration::from_millis(10);

/// Whether `tool` is a file in one of `$PATH`'s directories.
pub fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
}

/// A command that runs `args` inside the named network namespace.
pub fn in_netns(netns: &str, args: &[&str]) -> Command {
    let mut command = Command::new("ip");
    command.args(["netns", "exec", netns]).args(args);
    command
}

/// Runs `command` to completion, feeding it `stdin`, and returns its
/// standard output. It is killed when it runs longer than `limit`; that,
/// and an exit other than success, are errors that quote its output.
pub fn run(command: Command, stdin: &[u8], limit: Duration) -> anyhow::Result<String> {
    Running::start(command, stdin)?.finish(limit)
}

/// A command running in the background while the benchmark does other
/// things, its output kept; killed when dropped unfinished.
pub struct Running {
    child: Child,
    what: String,
    stdout: File,
    stderr: File,
    /// Whether its input could be written.
    fed: std::io::Result<()>,
    finished: bool,
}

impl Running {
    /// Starts `command`, feeding it `stdin` (then closing it).
    pub fn start(mut command: Command, stdin: &[u8]) -> anyhow::Result<Running> {
        let what = describe(&command);
        // Files, not pipes: a child that writes much cannot block on a pipe
        // nobody reads while this thread waits for it.
        let stdout = tempfile::tempfile().context("cannot create a temporary file")?;
        let stderr = tempfile::tempfile().context("cannot create a temporary file")?;
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(stdout.try_clone()?)
            .stderr(stderr.try_clone()?)
            .spawn()
            .with_context(|| format!("cannot start `{what}`"))?;
        // Dropping the handle closes the child's stdin: it reads to the end.
        let fed = child
            .stdin
            .take()
            .map_or(Ok(()), |mut input| input.write_all(stdin));
        Ok(Running {
            child,
            what,
            stdout,
            stderr,
            fed,
            finished: false,
        })
    }

    /// Asks it to end as on Ctrl-C (SIGINT): a tool then prints its summary.
    pub fn interrupt(&self) -> anyhow::Result<()> {
        let pid = i32::try_from(self.child.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw)
            .with_context(|| format!("`{}` has no valid pid", self.what))?;
        rustix::process::kill_process(pid, rustix::process::Signal::INT)
            .with_context(|| format!("cannot interrupt `{}`", self.what))
    }

    /// Waits up to `limit` for it to end and returns its standard output.
    /// It is killed when it runs longer; that, and an exit other than
    /// success, are errors that quote its output.
    pub fn finish(mut self, limit: Duration) -> anyhow::Result<String> {
        let status = wait_bounded(&mut self.child, limit);
        self.finished = true;
        let out = read_back(&mut self.stdout)?;
        let err = read_back(&mut self.stderr)?;
        let what = &self.what;
        match status? {
            Some(status) if status.success() => {
                std::mem::replace(&mut self.fed, Ok(()))
                    .with_context(|| format!("cannot write the input of `{what}`"))?;
                Ok(out)
            }
            Some(status) => bail!(
                "`{what}` failed ({status}):\n{}{}",
                out.trim_end(),
                err.trim_end()
            ),
            None => bail!(
                "`{what}` did not finish within {} s and was killed:\n{}{}",
                limit.as_secs(),
                out.trim_end(),
                err.trim_end()
            ),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits up to `limit` for `child` to exit; kills it when it does not
/// (`Ok(None)`).
fn wait_bounded(child: &mut Child, limit: Duration) -> anyhow::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        thread::sleep(POLL);
    }
}

fn read_back(file: &mut File) -> anyhow::Result<String> {
    let mut text = String::new();
    file.rewind()?;
    file.read_to_string(&mut text)?;
    Ok(text)
}

fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The transport a server listens on.
#[derive(Copy, Clone, Debug)]
pub enum Transport {
    /// A listening TCP socket.
    Tcp,
    /// A bound UDP socket.
    Udp,
}

/// A server process, killed when dropped.
pub struct Server {
    child: Child,
    what: String,
}

impl Server {
    /// Starts `command` as a server; its output is discarded.
    pub fn start(mut command: Command) -> anyhow::Result<Server> {
        let what = describe(&command);
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start `{what}`"))?;
        Ok(Server { child, what })
    }

    /// The server's pid: `/proc/PID/net` shows its namespace's sockets and
    /// counters.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until the server has a socket on `port`, so a client started
    /// next finds it; fails when it exits or takes longer than `limit`.
    pub fn wait_listening(
        &mut self,
        transport: Transport,
        port: u16,
        limit: Duration,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        let (tables, state) = match transport {
            Transport::Tcp => (["tcp", "tcp6"], LISTEN),
            Transport::Udp => (["udp", "udp6"], UNCONNECTED),
        };
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("`{}` exited ({status}) before it listened", self.what);
            }
            for table in tables {
                let path = format!("/proc/{}/net/{table}", self.pid());
                // A table may be missing (no IPv6): it has no socket then.
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                if has_socket(&text, port, state) {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                bail!(
                    "`{}` did not listen on port {port} within {} s",
                    self.what,
                    limit.as_secs()
                );
            }
            thread::sleep(POLL);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // It may have exited already (`iperf3 -s -1` does after one test).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Socket state of a listening TCP socket in `/proc/net/tcp`.
const LISTEN: &str = "0A";
/// Socket state of a bound, unconnected UDP socket in `/proc/net/udp`.
const UNCONNECTED: &str = "07";

/// Whether a `/proc/net/{tcp,udp}[6]` table has a socket on local `port`
/// in `state` (the kernel's state number, in hex).
fn has_socket(table: &str, port: u16, state: &str) -> bool {
    let port = format!(":{port:04X}");
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        matches!(fields.as_slice(), [_sl, local, _remote, st, ..] if local.ends_with(&port) && *st == state)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `/proc/PID/net/tcp6` of `iperf3 -s` (port 5201 = 0x1451), with a
    /// connection on another port.
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1451 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 912345 1 0000000000000000 100 0 0 10 0
   1: 0000000000000000FFFF0000020DD50A:D1F4 0000000000000000FFFF0000030DD50A:2B67 01 00000000:00000000 00:00000000 00000000     0        0 912346 1 0000000000000000 20 4 30 10 -1
";
    /// `/proc/PID/net/udp` of `sockperf sr -i 10.213.0.3` (port 11111 = 0x2B67).
    const UDP: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  512: 030DD50A:2B67 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 913001 2 0000000000000000 0
";

    #[test]
    fn finds_the_listening_socket_by_port_and_state() {
        assert!(has_socket(TCP6, 5201, LISTEN));
        assert!(has_socket(UDP, 11111, UNCONNECTED));
        // A connection's remote port is not a local socket.
        assert!(!has_socket(TCP6, 11111, LISTEN));
        assert!(!has_socket(UDP, 5201, UNCONNECTED));
        // The header line is no socket, nor is an empty table.
        assert!(!has_socket("", 5201, LISTEN));
    }

    #[test]
    fn an_interrupted_command_ends_by_the_signal_not_the_time_limit() {
        let mut command = Command::new("sleep");
        command.arg("30");
        let running = Running::start(command, b"").unwrap();
        running.interrupt().unwrap();
        let err = running.finish(Duration::from_secs(20)).unwrap_err();
        let err = format!("{err}");
        assert!(
            err.contains("SIGINT") && !err.contains("was killed"),
            "{err}"
        );
    }

    #[test]
    fn a_command_that_overruns_is_killed_and_reported() {
        let mut command = Command::new("sleep");
        command.arg("5");
        let err = run(command, b"", Duration::from_millis(50)).unwrap_err();
        assert!(format!("{err}").contains("was killed"), "{err}");
    }

    #[test]
    fn output_is_returned_and_failure_quotes_it() {
        let mut cat = Command::new("cat");
        cat.arg("-");
        assert_eq!(run(cat, b"in", Duration::from_secs(5)).unwrap(), "in");
        let mut fail = Command::new("sh");
        fail.args(["-c", "echo why >&2; exit 3"]);
        let err = run(fail, b"", Duration::from_secs(5)).unwrap_err();
        assert!(format!("{err}").contains("why"), "{err}");
    }
}
