//! The network config the runtime passes on stdin: the standard keys, podwire's own
//! (`network`, `agentSocket`), and what the runtime injects (`runtimeConfig`, `prevResult`,
//! `cni.dev/valid-attachments`). Keys podwire does not know are accepted: runtimes and
//! Multus add their own.

use std::path::PathBuf;

use podwire_model::attach::{DEFAULT_NETWORK, ValidAttachment};
use podwire_model::config::DEFAULT_API_SOCKET;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{CniError, ErrorCode};
use crate::names::{self, NameError};
use crate::prev_result::{PrevResult, PrevResultError};
use crate::version::{SUPPORTED_VERSIONS, SpecVersion};

/// The GC key of spec 1.1.0 as later revised; libcni sends it and the legacy one.
pub const VALID_ATTACHMENTS_KEY: &str = "cni.dev/valid-attachments";
/// The GC key as spec 1.1.0 first named it.
pub const LEGACY_ATTACHMENTS_KEY: &str = "cni.dev/attachments";

/// A parsed and checked network config.
#[derive(Debug, Clone, PartialEq)]
pub struct NetConf {
    /// `cniVersion`: the version the runtime negotiated, which the answer is written in.
    pub cni_version: SpecVersion,
    /// `cniVersions`, if the runtime passed the list on (informational: `cniVersion` picks).
    pub cni_versions: Vec<String>,
    /// `name`: the CNI network's name.
    pub name: String,
    /// `type`: the plugin's binary name.
    pub plugin_type: Option<String>,
    /// `network`: the podwire network to attach to.
    pub network: String,
    /// `agentSocket`: where the agent's API listens.
    pub agent_socket: PathBuf,
    /// `dns`: copied into the ADD result.
    pub dns: Option<Dns>,
    /// `runtimeConfig.CNIDeviceInfoFile`: where to write a memif attachment's device info.
    pub device_info_file: Option<PathBuf>,
    /// `prevResult`: the result of the plugins before this one (ADD) or of the whole ADD
    /// (CHECK, DEL).
    pub prev_result: Option<PrevResult>,
    /// `cni.dev/valid-attachments` (or the legacy `cni.dev/attachments`): GC's list.
    pub valid_attachments: Option<Vec<ValidAttachment>>,
}

/// DNS settings, as the spec defines them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dns {
    /// Name servers, in order of preference.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    /// The local domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Search domains, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
    /// Resolver options.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

/// Why stdin is not a usable network config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Nothing on stdin.
    #[error("stdin is empty; the runtime must pass the network config as JSON on stdin")]
    Empty,
    /// Not JSON at all.
    #[error(
        "the network config on stdin is not JSON ({0}); the runtime must pass it as a JSON object"
    )]
    NotJson(String),
    /// JSON, but not an object.
    #[error("the network config on stdin is {0} in JSON, not an object")]
    NotAnObject(&'static str),
    /// No `cniVersion`.
    #[error(
        "the network config has no cniVersion; podwire speaks CNI {}: set \"cniVersion\": \"1.0.0\" (or newer) in the config",
        SUPPORTED_VERSIONS.join(" and ")
    )]
    NoVersion,
    /// A `cniVersion` podwire does not speak.
    #[error(
        "the network config's cniVersion {0:?} is not supported; podwire speaks CNI {supported}",
        supported = SUPPORTED_VERSIONS.join(" and ")
    )]
    UnsupportedVersion(String),
    /// No `name`.
    #[error("the network config has no \"name\"; the runtime must pass the network's name")]
    NoName,
    /// A `name` that breaks the spec's rules.
    #[error("the network config's name {name:?} is invalid: {source}")]
    BadName {
        /// The name.
        name: String,
        /// What is wrong with it.
        source: NameError,
    },
    /// Another field has the wrong type or value.
    #[error("the network config's {field} is invalid: {why}")]
    BadField {
        /// The field, as a path (`runtimeConfig.CNIDeviceInfoFile`).
        field: String,
        /// What is wrong with it and what it should be.
        why: String,
    },
    /// `prevResult` is not a result.
    #[error("the network config's prevResult is invalid: {0}")]
    BadPrevResult(#[from] PrevResultError),
}

impl ConfigError {
    /// The CNI error code for this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            ConfigError::Empty | ConfigError::NotJson(_) | ConfigError::NotAnObject(_) => {
                ErrorCode::Decode
            }
            ConfigError::NoVersion | ConfigError::UnsupportedVersion(_) => {
                ErrorCode::IncompatibleVersion
            }
            ConfigError::NoName
            | ConfigError::BadName { .. }
            | ConfigError::BadField { .. }
            | ConfigError::BadPrevResult(_) => ErrorCode::InvalidConfig,
        }
    }
}

impl From<ConfigError> for CniError {
    fn from(error: ConfigError) -> CniError {
        CniError::new(error.code(), error.to_string())
    }
}

/// The version the config on `stdin` asks for, if it is one podwire speaks: for writing
/// `cniVersion` into an error found before (or while) the config is parsed.
pub fn peek_version(stdin: &[u8]) -> Option<SpecVersion> {
    let config: Value = serde_json::from_slice(stdin).ok()?;
    SpecVersion::parse(config.get("cniVersion")?.as_str()?)
}

impl NetConf {
    /// Parses and checks the config on stdin.
    pub fn parse(stdin: &[u8]) -> Result<NetConf, ConfigError> {
        if stdin.iter().all(u8::is_ascii_whitespace) {
            return Err(ConfigError::Empty);
        }
        let config: Value =
            serde_json::from_slice(stdin).map_err(|e| ConfigError::NotJson(e.to_string()))?;
        let Value::Object(config) = config else {
            return Err(ConfigError::NotAnObject(json_kind(&config)));
        };

        let cni_version = match string(&config, "cniVersion")? {
            None => return Err(ConfigError::NoVersion),
            Some(version) => {
                SpecVersion::parse(&version).ok_or(ConfigError::UnsupportedVersion(version))?
            }
        };
        let name = string(&config, "name")?.ok_or(ConfigError::NoName)?;
        names::check_identifier(&name).map_err(|source| ConfigError::BadName {
            name: name.clone(),
            source,
        })?;
        let network = match string(&config, "network")? {
            Some(network) if network.is_empty() => {
                return Err(bad(
                    "network",
                    "it is empty; name a [[network]] of the agent's config, or leave the key out for \"default\"",
                ));
            }
            Some(network) => network,
            None => DEFAULT_NETWORK.to_owned(),
        };
        let agent_socket = match string(&config, "agentSocket")? {
            Some(socket) => absolute_path("agentSocket", socket)?,
            None => PathBuf::from(DEFAULT_API_SOCKET),
        };
        let dns = match object(&config, "dns")? {
            None => None,
            Some(dns) => Some(Dns::deserialize(dns).map_err(|e| {
                bad(
                    "dns",
                    format!("{e}; it holds nameservers, search and options (lists of strings) and domain (a string)"),
                )
            })?),
        };
        let device_info_file = match object(&config, "runtimeConfig")? {
            None => None,
            Some(runtime_config) => match runtime_config.get("CNIDeviceInfoFile") {
                None | Some(Value::Null) => None,
                Some(Value::String(path)) if path.is_empty() => None,
                Some(Value::String(path)) => Some(absolute_path(
                    "runtimeConfig.CNIDeviceInfoFile",
                    path.clone(),
                )?),
                Some(other) => {
                    return Err(bad(
                        "runtimeConfig.CNIDeviceInfoFile",
                        format!("it is {}, not a path", json_kind(other)),
                    ));
                }
            },
        };
        let prev_result = match config.get("prevResult") {
            None | Some(Value::Null) => None,
            Some(prev) => Some(PrevResult::parse(prev)?),
        };
        // libcni sends both keys with the same list; the newer one wins if they differ.
        let valid_attachments = match attachments(&config, VALID_ATTACHMENTS_KEY)? {
            Some(list) => Some(list),
            None => attachments(&config, LEGACY_ATTACHMENTS_KEY)?,
        };
        let cni_versions = match config.get("cniVersions") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(versions)) => versions
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| bad("cniVersions", "it must be a list of version strings"))?,
            Some(other) => {
                return Err(bad(
                    "cniVersions",
                    format!("it is {}, not a list of version strings", json_kind(other)),
                ));
            }
        };
        Ok(NetConf {
            cni_version,
            cni_versions,
            name,
            plugin_type: string(&config, "type")?,
            network,
            agent_socket,
            dns,
            device_info_file,
            prev_result,
            valid_attachments,
        })
    }
}

fn bad(field: &str, why: impl Into<String>) -> ConfigError {
    ConfigError::BadField {
        field: field.to_owned(),
        why: why.into(),
    }
}

/// A JSON value's type with its article ("a string", "an object"), for messages.
pub(crate) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A string field; absent or null: `None`.
fn string(config: &Map<String, Value>, key: &str) -> Result<Option<String>, ConfigError> {
    match config.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(other) => Err(bad(
            key,
            format!("it is {}, not a string", json_kind(other)),
        )),
    }
}

/// An object field; absent or null: `None`.
fn object<'a>(
    config: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a Map<String, Value>>, ConfigError> {
    match config.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(object)) => Ok(Some(object)),
        Some(other) => Err(bad(
            key,
            format!("it is {}, not an object", json_kind(other)),
        )),
    }
}

/// Paths the agent opens must be absolute: it does not share the plugin's directory.
fn absolute_path(field: &str, path: String) -> Result<PathBuf, ConfigError> {
    if path.starts_with('/') {
        Ok(PathBuf::from(path))
    } else {
        Err(bad(
            field,
            format!("{path:?} is not an absolute path; write it from /"),
        ))
    }
}

/// GC's list under `key`: `[{"containerID": ..., "ifname": ...}, ...]`.
fn attachments(
    config: &Map<String, Value>,
    key: &str,
) -> Result<Option<Vec<ValidAttachment>>, ConfigError> {
    let entries = match config.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(entries)) => entries,
        Some(other) => {
            return Err(bad(
                key,
                format!(
                    "it is {}, not a list of {{\"containerID\", \"ifname\"}} objects",
                    json_kind(other)
                ),
            ));
        }
    };
    let field = |i: usize, name: &str| -> Result<String, ConfigError> {
        if !entries[i].is_object() {
            return Err(bad(
                &format!("{key}[{i}]"),
                format!(
                    "it is {}, not a {{\"containerID\", \"ifname\"}} object",
                    json_kind(&entries[i])
                ),
            ));
        }
        match entries[i].get(name) {
            Some(Value::String(text)) => Ok(text.clone()),
            Some(other) => Err(bad(
                &format!("{key}[{i}].{name}"),
                format!("it is {}, not a string", json_kind(other)),
            )),
            None => Err(bad(&format!("{key}[{i}]"), format!("it has no {name}"))),
        }
    };
    (0..entries.len())
        .map(|i| {
            Ok(ValidAttachment {
                container_id: field(i, "containerID")?,
                ifname: field(i, "ifname")?,
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

#[cfg(test)]
mod tests;
