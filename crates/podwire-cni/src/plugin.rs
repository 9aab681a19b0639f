//! One invocation of the plugin, from the environment and stdin to stdout and an exit code.

use std::path::Path;

use podwire_model::attach::{AddRequest, AttachmentKey, CheckRequest, DelRequest, GcRequest};

use crate::agent::{Agent, AgentFailure};
use crate::check;
use crate::config::{self, LEGACY_ATTACHMENTS_KEY, NetConf, VALID_ATTACHMENTS_KEY};
use crate::env::{Command, Invocation, Target, Verb};
use crate::error::{CniError, ErrorCode};
use crate::result::SuccessResult;
use crate::version::{self, SpecVersion};

/// What the process prints on stdout and exits with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The result or error JSON (with a final newline), or nothing.
    pub stdout: String,
    /// 0 on success, 1 on failure.
    pub exit_code: u8,
}

impl Outcome {
    fn success(json: String) -> Outcome {
        let stdout = if json.is_empty() { json } else { json + "\n" };
        Outcome {
            stdout,
            exit_code: 0,
        }
    }

    /// A failure: the error as JSON, exit status 1. `cni_version` is the config's, if known.
    pub fn failure(error: &CniError, cni_version: Option<SpecVersion>) -> Outcome {
        Outcome {
            stdout: error.to_json(cni_version) + "\n",
            exit_code: 1,
        }
    }
}

/// Runs one invocation: `var` looks up environment variables, `stdin` is the network
/// config, and `connect` gives the agent listening on the socket the config names (called
/// at most once, and not for VERSION or for invalid input).
pub fn run<A: Agent>(
    var: impl Fn(&str) -> Option<String>,
    stdin: &[u8],
    connect: impl FnOnce(&Path) -> A,
) -> Outcome {
    let invocation = match Invocation::from_vars(var) {
        Ok(invocation) => invocation,
        Err(error) => return Outcome::failure(&error.into(), config::peek_version(stdin)),
    };
    if invocation.command == Command::Version {
        return Outcome::success(version::version_answer(stdin));
    }
    let conf = match NetConf::parse(stdin) {
        Ok(conf) => conf,
        Err(error) => return Outcome::failure(&error.into(), config::peek_version(stdin)),
    };
    match execute(invocation.command, &conf, connect) {
        Ok(stdout) => Outcome::success(stdout),
        Err(error) => Outcome::failure(&error, Some(conf.cni_version)),
    }
}

/// Runs a verb other than VERSION; the text to print on success.
fn execute<A: Agent>(
    command: Command,
    conf: &NetConf,
    connect: impl FnOnce(&Path) -> A,
) -> Result<String, CniError> {
    let verb = command.verb();
    if matches!(verb, Verb::Status | Verb::Gc) && !conf.cni_version.is_1_1_or_later() {
        return Err(CniError::new(
            ErrorCode::IncompatibleVersion,
            format!(
                "{} needs CNI 1.1.0, but the config's cniVersion is {}; set \"cniVersion\": \"1.1.0\" (or list it in \"cniVersions\")",
                verb.as_str(),
                conf.cni_version
            ),
        ));
    }
    let socket = conf.agent_socket.as_path();
    let failed = |failure: AgentFailure| failure.into_cni_error(socket);
    // Connected in each arm, so that VERSION never connects.
    let connect = || connect(socket);
    match command {
        Command::Add { target, netns } => {
            let request = AddRequest {
                key: key(conf, &target),
                netns: netns.clone(),
                pod: target.pod,
                cni_network: conf.name.clone(),
                device_info_file: conf.device_info_file.clone(),
            };
            let attachment = connect().add(&request).map_err(failed)?;
            let ours = SuccessResult::from_attachment(
                &attachment,
                conf.cni_version,
                &netns,
                conf.dns.as_ref(),
            );
            Ok(match &conf.prev_result {
                Some(prev) => prev.chain(&ours),
                None => ours.to_json(),
            })
        }
        Command::Del { target, netns } => {
            // An absent agent fails DEL with 11 rather than succeeding: the agent still
            // holds the attachment's addresses and wiring, and only a DEL it hears releases
            // them. The runtime retries a failed DEL; a DEL reported done would leak them.
            let request = DelRequest {
                key: key(conf, &target),
                netns,
            };
            // `existed: false` is a success too: DEL must be repeatable.
            connect().del(&request).map_err(failed)?;
            Ok(String::new())
        }
        Command::Check { target, netns } => {
            let request = CheckRequest {
                key: key(conf, &target),
                netns: netns.clone(),
            };
            let attachment = connect().check(&request).map_err(failed)?;
            if let Some(prev) = &conf.prev_result {
                check::verify(prev, &target.ifname, &netns, &attachment)?;
            }
            Ok(String::new())
        }
        Command::Gc => gc(conf, &mut connect(), socket),
        Command::Status => status(conf, &mut connect(), socket),
        Command::Version => Ok(version::answer(Some(conf.cni_version.as_str()))),
    }
}

fn key(conf: &NetConf, target: &Target) -> AttachmentKey {
    AttachmentKey {
        network: conf.network.clone(),
        container_id: target.container_id.clone(),
        ifname: target.ifname.clone(),
    }
}

/// GC: removes the network's attachments not in the runtime's list.
fn gc(conf: &NetConf, agent: &mut impl Agent, socket: &Path) -> Result<String, CniError> {
    // Without the list every attachment would look stale: refuse rather than remove all.
    let valid = conf.valid_attachments.clone().ok_or_else(|| {
        CniError::new(
            ErrorCode::InvalidConfig,
            format!(
                "GC needs the list of attachments to keep in \"{VALID_ATTACHMENTS_KEY}\" (or \"{LEGACY_ATTACHMENTS_KEY}\"); the config has neither, so nothing was removed"
            ),
        )
    })?;
    let request = GcRequest {
        network: conf.network.clone(),
        cni_network: conf.name.clone(),
        valid,
    };
    let report = agent
        .gc(&request)
        .map_err(|failure| failure.into_cni_error(socket))?;
    if report.errors.is_empty() {
        return Ok(String::new());
    }
    Err(CniError::new(
        ErrorCode::Internal,
        format!(
            "GC removed {} stale attachment(s) of network {} and released their addresses, but could not clean up {} completely; see details and the agent's log",
            report.removed.len(),
            conf.network,
            report.errors.len()
        ),
    )
    .with_details(report.errors.join("; ")))
}

/// STATUS: whether the network can take a pod now. Every failure is code 50: whatever the
/// cause, ADD cannot be served.
fn status(conf: &NetConf, agent: &mut impl Agent, socket: &Path) -> Result<String, CniError> {
    let unavailable = |msg: String| CniError::new(ErrorCode::CannotServeAdd, msg);
    let networks = agent.networks().map_err(|failure| match failure {
        AgentFailure::Unreachable(why) => unavailable(format!(
            "the podwire agent at {} is not running, so no pod can be added; start it (`podwire daemon --config /etc/podwire/podwire.toml`, or its DaemonSet on Kubernetes)",
            socket.display()
        ))
        .with_details(why),
        other => {
            let error = other.into_cni_error(socket);
            CniError {
                details: error.details,
                ..unavailable(format!(
                    "cannot learn from the podwire agent at {} whether network {} is ready: {}",
                    socket.display(),
                    conf.network,
                    error.msg
                ))
            }
        }
    })?;
    let Some(network) = networks.iter().find(|n| n.name == conf.network) else {
        let names: Vec<&str> = networks.iter().map(|n| n.name.as_str()).collect();
        return Err(unavailable(format!(
            "the podwire agent at {} has no network {:?} (it has: {}); add a [[network]] named {:?} to its config, or set \"network\" in the CNI config to one it has",
            socket.display(),
            conf.network,
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            },
            conf.network
        )));
    };
    if network.ready {
        return Ok(String::new());
    }
    Err(unavailable(format!(
        "network {} cannot take a pod now: {}",
        network.name,
        network
            .reason
            .as_deref()
            .unwrap_or("the agent gives no reason; see its log")
    )))
}

#[cfg(test)]
mod tests;
