//! The lab's named network namespaces, and the commands and sockets it runs inside them.

use std::path::PathBuf;
use std::process::{Command, Output};

use anyhow::{Context, bail};
use podwire_io::netns::NetNs;

/// A network namespace named under `/run/netns` (as `ip netns add` names one), with its
/// loopback up; deleted on drop, which also removes every interface still in it.
pub struct Namespace {
    name: String,
}

impl Namespace {
    /// Makes the namespace `name`.
    pub fn create(name: String) -> anyhow::Result<Namespace> {
        NetNs::create_named(&name)
            .with_context(|| format!("cannot create network namespace {name}"))?;
        let namespace = Namespace { name };
        namespace.ip(&["link", "set", "lo", "up"])?;
        Ok(namespace)
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its file, as a runtime passes it in `CNI_NETNS`.
    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// `ip -n NAME ARGS`, which must succeed; its standard output.
    pub fn ip(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut command = Command::new("ip");
        command.arg("-n").arg(&self.name).args(args);
        checked(command)
    }

    /// `ip -j -n NAME ARGS`, parsed.
    pub fn ip_json(&self, args: &[&str]) -> anyhow::Result<serde_json::Value> {
        let mut all = vec!["-j"];
        all.extend_from_slice(args);
        let text = self.ip(&all)?;
        serde_json::from_str(&text)
            .with_context(|| format!("ip -j {} printed no JSON: {text}", args.join(" ")))
    }

    /// A command that runs `program ARGS` inside the namespace (`ip netns exec` enters it,
    /// then execs the program: the child's pid is the program's).
    pub fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.name, program])
            .args(args);
        command
    }

    /// Runs `f` on a thread inside the namespace: sockets it opens live there and keep
    /// working when handed back.
    pub fn run_in<R: Send>(&self, f: impl FnOnce() -> R + Send) -> anyhow::Result<R> {
        NetNs::open_named(&self.name)
            .and_then(|ns| ns.run_in(f))
            .with_context(|| format!("cannot work inside network namespace {}", self.name))
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        if let Err(e) = NetNs::delete_named(&self.name) {
            eprintln!("warning: {e}");
        }
    }
}

/// Runs `command` to completion; its standard output, or an error quoting what it said.
pub fn checked(mut command: Command) -> anyhow::Result<String> {
    let what = describe(&command);
    let out = command
        .output()
        .with_context(|| format!("cannot run `{what}` (is it installed?)"))?;
    stdout_of(&what, out)
}

/// The standard output of the finished command `what`, or an error quoting what it said.
pub fn stdout_of(what: &str, out: Output) -> anyhow::Result<String> {
    if !out.status.success() {
        bail!(
            "`{what}` failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The command line, for messages.
pub fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}
