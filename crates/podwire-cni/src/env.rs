//! The `CNI_*` environment variables: which verb, which container and interface, which
//! namespace, and who the pod is (`CNI_ARGS`), checked per verb as the spec's table says.

use std::fmt;
use std::path::PathBuf;

use podwire_model::attach::PodIdentity;

use crate::error::{CniError, ErrorCode};
use crate::names::{self, NameError};

/// One invocation of the plugin, as its environment describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The verb and what it applies to.
    pub command: Command,
    /// `CNI_PATH`, split at `:`. podwire delegates to no other plugin, so it only checks
    /// that GC has it, as the spec requires.
    pub cni_path: Vec<PathBuf>,
}

/// A verb with what it applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Attach the interface.
    Add {
        /// The container and interface.
        target: Target,
        /// `CNI_NETNS`.
        netns: PathBuf,
    },
    /// Detach the interface; the namespace may already be gone.
    Del {
        /// The container and interface.
        target: Target,
        /// `CNI_NETNS`, when the runtime still has one (unset or empty: none).
        netns: Option<PathBuf>,
    },
    /// Check the interface is as ADD left it.
    Check {
        /// The container and interface.
        target: Target,
        /// `CNI_NETNS`.
        netns: PathBuf,
    },
    /// Whether the plugin can serve ADD.
    Status,
    /// Remove the network's attachments the runtime no longer has.
    Gc,
    /// Which versions the plugin speaks.
    Version,
}

/// The container and interface an ADD, DEL or CHECK is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `CNI_CONTAINERID`.
    pub container_id: String,
    /// `CNI_IFNAME`.
    pub ifname: String,
    /// Who the pod is, from `CNI_ARGS`.
    pub pod: PodIdentity,
}

/// The verbs, for messages and for the requirements table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// `ADD`
    Add,
    /// `DEL`
    Del,
    /// `CHECK`
    Check,
    /// `STATUS`
    Status,
    /// `GC`
    Gc,
    /// `VERSION`
    Version,
}

impl Verb {
    /// The verb named by `CNI_COMMAND` (exactly, in capitals).
    pub fn parse(text: &str) -> Option<Verb> {
        Some(match text {
            "ADD" => Verb::Add,
            "DEL" => Verb::Del,
            "CHECK" => Verb::Check,
            "STATUS" => Verb::Status,
            "GC" => Verb::Gc,
            "VERSION" => Verb::Version,
            _ => return None,
        })
    }

    /// The verb as `CNI_COMMAND` says it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Add => "ADD",
            Verb::Del => "DEL",
            Verb::Check => "CHECK",
            Verb::Status => "STATUS",
            Verb::Gc => "GC",
            Verb::Version => "VERSION",
        }
    }
}

impl Command {
    /// The command's verb.
    pub fn verb(&self) -> Verb {
        match self {
            Command::Add { .. } => Verb::Add,
            Command::Del { .. } => Verb::Del,
            Command::Check { .. } => Verb::Check,
            Command::Status => Verb::Status,
            Command::Gc => Verb::Gc,
            Command::Version => Verb::Version,
        }
    }
}

/// Why the environment does not describe a usable invocation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    /// `CNI_COMMAND` is unset or empty.
    #[error("CNI_COMMAND is not set; a runtime sets it to ADD, DEL, CHECK, STATUS, GC or VERSION")]
    NoCommand,
    /// `CNI_COMMAND` names no verb.
    #[error(
        "CNI_COMMAND {0:?} is not a CNI command; it must be ADD, DEL, CHECK, STATUS, GC or VERSION"
    )]
    UnknownCommand(String),
    /// Variables the verb needs are missing or invalid; all of them are listed.
    #[error("{} needs {}, but {}", verb.as_str(), needs(*verb), ListOf(problems))]
    BadVars {
        /// The verb.
        verb: Verb,
        /// Every missing or invalid variable.
        problems: Vec<VarProblem>,
    },
}

/// One missing or invalid variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarProblem {
    /// Unset or empty.
    Missing(&'static str),
    /// Set, but unusable.
    Invalid {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// Why it is unusable.
        why: String,
    },
}

impl fmt::Display for VarProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VarProblem::Missing(var) => write!(f, "{var} is missing"),
            VarProblem::Invalid { var, value, why } => {
                write!(f, "{var}={value:?} is invalid: {why}")
            }
        }
    }
}

/// Problems joined with "; ".
struct ListOf<'a>(&'a [VarProblem]);

impl fmt::Display for ListOf<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

/// What a verb needs, for the message.
fn needs(verb: Verb) -> &'static str {
    match verb {
        Verb::Add | Verb::Check => "CNI_CONTAINERID, CNI_NETNS and CNI_IFNAME",
        Verb::Del => "CNI_CONTAINERID and CNI_IFNAME",
        Verb::Gc => "CNI_PATH",
        Verb::Status | Verb::Version => "nothing more",
    }
}

impl From<EnvError> for CniError {
    fn from(error: EnvError) -> CniError {
        CniError::new(ErrorCode::InvalidEnvironment, error.to_string())
    }
}

/// The keys of `CNI_ARGS` podwire reads; others are refused unless `IgnoreUnknown` is true.
const KNOWN_ARGS: [&str; 5] = [
    "IgnoreUnknown",
    "K8S_POD_NAMESPACE",
    "K8S_POD_NAME",
    "K8S_POD_UID",
    "K8S_POD_INFRA_CONTAINER_ID",
];

impl Invocation {
    /// Reads the invocation from the environment, `var` looking a variable up. An empty
    /// variable counts as unset, as in the reference plugins.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Invocation, EnvError> {
        let var = |name: &str| var(name).filter(|value| !value.is_empty());
        let command = var("CNI_COMMAND").ok_or(EnvError::NoCommand)?;
        let verb = Verb::parse(&command).ok_or(EnvError::UnknownCommand(command))?;
        let cni_path: Vec<PathBuf> = var("CNI_PATH")
            .map(|path| {
                path.split(':')
                    .filter(|dir| !dir.is_empty())
                    .map(PathBuf::from)
                    .collect()
            })
            .unwrap_or_default();

        let mut problems = Vec::new();
        let command = match verb {
            Verb::Version => Command::Version,
            Verb::Status => Command::Status,
            Verb::Gc if cni_path.is_empty() => {
                problems.push(VarProblem::Missing("CNI_PATH"));
                return Err(EnvError::BadVars { verb, problems });
            }
            Verb::Gc => Command::Gc,
            Verb::Add | Verb::Check => {
                let target = read_target(&var, &mut problems);
                let netns = match var("CNI_NETNS") {
                    Some(netns) => check_netns(netns, &mut problems),
                    None => {
                        problems.push(VarProblem::Missing("CNI_NETNS"));
                        None
                    }
                };
                match (target, netns) {
                    (Some(target), Some(netns)) if verb == Verb::Add => {
                        Command::Add { target, netns }
                    }
                    (Some(target), Some(netns)) => Command::Check { target, netns },
                    _ => return Err(EnvError::BadVars { verb, problems }),
                }
            }
            Verb::Del => {
                let target = read_target(&var, &mut problems);
                let netns = var("CNI_NETNS").and_then(|netns| check_netns(netns, &mut problems));
                match target {
                    Some(target) if problems.is_empty() => Command::Del { target, netns },
                    _ => return Err(EnvError::BadVars { verb, problems }),
                }
            }
        };
        Ok(Invocation { command, cni_path })
    }
}

/// Reads `CNI_CONTAINERID`, `CNI_IFNAME` and `CNI_ARGS`; records every problem and gives
/// `None` if there was one.
fn read_target(
    var: &impl Fn(&str) -> Option<String>,
    problems: &mut Vec<VarProblem>,
) -> Option<Target> {
    let container_id = checked(var, "CNI_CONTAINERID", problems, names::check_identifier);
    let ifname = checked(var, "CNI_IFNAME", problems, names::check_interface_name);
    let pod = match var("CNI_ARGS") {
        None => Some(PodIdentity::default()),
        Some(args) => match parse_cni_args(&args) {
            Ok(pod) => Some(pod),
            Err(why) => {
                problems.push(VarProblem::Invalid {
                    var: "CNI_ARGS",
                    value: args,
                    why,
                });
                None
            }
        },
    };
    Some(Target {
        container_id: container_id?,
        ifname: ifname?,
        pod: pod?,
    })
}

/// A required variable, checked by `check`; records the problem and gives `None` if it is
/// missing or invalid.
fn checked(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    problems: &mut Vec<VarProblem>,
    check: fn(&str) -> Result<(), NameError>,
) -> Option<String> {
    let Some(value) = var(name) else {
        problems.push(VarProblem::Missing(name));
        return None;
    };
    match check(&value) {
        Ok(()) => Some(value),
        Err(error) => {
            problems.push(VarProblem::Invalid {
                var: name,
                value,
                why: error.to_string(),
            });
            None
        }
    }
}

/// `CNI_NETNS` must be absolute: the agent opens it, and it does not share the plugin's
/// working directory.
fn check_netns(netns: String, problems: &mut Vec<VarProblem>) -> Option<PathBuf> {
    if netns.starts_with('/') {
        Some(PathBuf::from(netns))
    } else {
        problems.push(VarProblem::Invalid {
            var: "CNI_NETNS",
            value: netns,
            why: "it must be an absolute path to a network namespace, e.g. /run/netns/pod1"
                .to_owned(),
        });
        None
    }
}

/// Parses `CNI_ARGS` (`K=V;K=V`) into the pod's identity. Keys other than the pod's are
/// refused unless `IgnoreUnknown` is `1` or `true`, the convention runtimes follow
/// (Kubernetes runtimes always send it). Empty segments (a trailing `;`) are skipped.
pub fn parse_cni_args(args: &str) -> Result<PodIdentity, String> {
    let mut pairs = Vec::new();
    for pair in args.split(';').filter(|pair| !pair.is_empty()) {
        match pair.split_once('=') {
            Some((key, value)) if !key.is_empty() => pairs.push((key, value)),
            _ => return Err(format!("{pair:?} is not KEY=VALUE")),
        }
    }
    let mut ignore_unknown = false;
    for &(key, value) in &pairs {
        if key == "IgnoreUnknown" {
            ignore_unknown = match value.to_ascii_lowercase().as_str() {
                "1" | "true" => true,
                "0" | "false" => false,
                _ => {
                    return Err(format!(
                        "IgnoreUnknown={value:?} is not 1, 0, true or false"
                    ));
                }
            };
        }
    }
    let unknown: Vec<&str> = pairs
        .iter()
        .map(|&(key, _)| key)
        .filter(|key| !KNOWN_ARGS.contains(key))
        .collect();
    if !unknown.is_empty() && !ignore_unknown {
        return Err(format!(
            "podwire does not know the key(s) {}; it reads {}; add IgnoreUnknown=1 to pass others",
            unknown.join(", "),
            KNOWN_ARGS[1..].join(", ")
        ));
    }
    let mut pod = PodIdentity::default();
    for (key, value) in pairs {
        let value = (!value.is_empty()).then(|| value.to_owned());
        match key {
            "K8S_POD_NAMESPACE" => pod.namespace = value,
            "K8S_POD_NAME" => pod.name = value,
            "K8S_POD_UID" => pod.uid = value,
            "K8S_POD_INFRA_CONTAINER_ID" => pod.sandbox_id = value,
            _ => {}
        }
    }
    Ok(pod)
}

#[cfg(test)]
mod tests;
