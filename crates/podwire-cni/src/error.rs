//! The CNI error: a code the runtime acts on, a short message and optional details, printed
//! as JSON on stdout with exit status 1.

use serde::Serialize;

use crate::version::SpecVersion;

/// The error codes podwire's plugin uses: the spec's well-known ones (below 100) and its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 1: the config's `cniVersion` is not one podwire speaks, or is too old for the verb.
    IncompatibleVersion,
    /// 3: the container (its network namespace) does not exist.
    UnknownContainer,
    /// 4: `CNI_*` environment variables are missing or invalid.
    InvalidEnvironment,
    /// 5: reading stdin failed.
    Io,
    /// 6: stdin is not a JSON object.
    Decode,
    /// 7: the network config is invalid (a bad field, an unknown podwire network).
    InvalidConfig,
    /// 11: the agent cannot be reached now; the runtime should try again later.
    TryAgainLater,
    /// 50: STATUS: the plugin cannot serve ADD now.
    CannotServeAdd,
    /// 100: the attachment exists already (a second ADD without DEL).
    AlreadyExists,
    /// 101: CHECK found the attachment not as ADD left it.
    CheckFailed,
    /// 102: the network has no free address.
    PoolExhausted,
    /// 103: the kernel refused a change.
    KernelRefused,
    /// 999: anything else.
    Internal,
}

impl ErrorCode {
    /// The number written in the error JSON.
    pub fn number(self) -> u32 {
        match self {
            ErrorCode::IncompatibleVersion => 1,
            ErrorCode::UnknownContainer => 3,
            ErrorCode::InvalidEnvironment => 4,
            ErrorCode::Io => 5,
            ErrorCode::Decode => 6,
            ErrorCode::InvalidConfig => 7,
            ErrorCode::TryAgainLater => 11,
            ErrorCode::CannotServeAdd => 50,
            ErrorCode::AlreadyExists => 100,
            ErrorCode::CheckFailed => 101,
            ErrorCode::PoolExhausted => 102,
            ErrorCode::KernelRefused => 103,
            ErrorCode::Internal => 999,
        }
    }
}

/// A failed invocation, as the runtime is told about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{msg} (CNI error {})", code.number())]
pub struct CniError {
    /// What kind of failure.
    pub code: ErrorCode,
    /// What went wrong and what to do, in a sentence.
    pub msg: String,
    /// More about it (the underlying error), if there is more.
    pub details: Option<String>,
}

/// The JSON the spec defines for errors.
#[derive(Serialize)]
struct ErrorJson<'a> {
    #[serde(rename = "cniVersion", skip_serializing_if = "Option::is_none")]
    cni_version: Option<&'static str>,
    code: u32,
    msg: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a str>,
}

impl CniError {
    /// An error with a message and no details.
    pub fn new(code: ErrorCode, msg: impl Into<String>) -> CniError {
        CniError {
            code,
            msg: msg.into(),
            details: None,
        }
    }

    /// The same error with `details`.
    pub fn with_details(self, details: impl Into<String>) -> CniError {
        CniError {
            details: Some(details.into()),
            ..self
        }
    }

    /// Reading stdin failed; `reason` is what the system said.
    pub fn stdin_unreadable(reason: impl std::fmt::Display) -> CniError {
        CniError::new(
            ErrorCode::Io,
            format!("cannot read the network config from stdin: {reason}"),
        )
    }

    /// The error as JSON. `cniVersion` is written only when known: when the config names a
    /// version podwire speaks (as the reference plugins do).
    pub fn to_json(&self, cni_version: Option<SpecVersion>) -> String {
        let json = ErrorJson {
            cni_version: cni_version.map(SpecVersion::as_str),
            code: self.code.number(),
            msg: &self.msg,
            details: self.details.as_deref(),
        };
        serde_json::to_string(&json).expect("a struct of strings and a number serializes")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn parsed(text: &str) -> Value {
        serde_json::from_str(text).expect("error JSON parses")
    }

    #[test]
    fn codes_are_the_contracts() {
        let codes = [
            (ErrorCode::IncompatibleVersion, 1),
            (ErrorCode::UnknownContainer, 3),
            (ErrorCode::InvalidEnvironment, 4),
            (ErrorCode::Io, 5),
            (ErrorCode::Decode, 6),
            (ErrorCode::InvalidConfig, 7),
            (ErrorCode::TryAgainLater, 11),
            (ErrorCode::CannotServeAdd, 50),
            (ErrorCode::AlreadyExists, 100),
            (ErrorCode::CheckFailed, 101),
            (ErrorCode::PoolExhausted, 102),
            (ErrorCode::KernelRefused, 103),
            (ErrorCode::Internal, 999),
        ];
        for (code, number) in codes {
            assert_eq!(code.number(), number, "{code:?}");
        }
    }

    #[test]
    fn json_has_the_version_only_when_known() {
        let error = CniError::new(ErrorCode::InvalidConfig, "bad name");
        assert_eq!(
            parsed(&error.to_json(Some(SpecVersion::V1_0_0))),
            json!({"cniVersion": "1.0.0", "code": 7, "msg": "bad name"})
        );
        assert_eq!(
            parsed(&error.to_json(None)),
            json!({"code": 7, "msg": "bad name"})
        );
    }

    #[test]
    fn json_carries_details() {
        let error = CniError::new(ErrorCode::TryAgainLater, "agent down")
            .with_details("connection refused");
        assert_eq!(
            parsed(&error.to_json(Some(SpecVersion::V1_1_0))),
            json!({"cniVersion": "1.1.0", "code": 11, "msg": "agent down",
                   "details": "connection refused"})
        );
    }

    #[test]
    fn stdin_failures_are_code_5() {
        let error = CniError::stdin_unreadable("Input/output error");
        assert_eq!(error.code.number(), 5);
        assert!(error.msg.contains("Input/output error"), "{}", error.msg);
        assert_eq!(
            error.to_string(),
            "cannot read the network config from stdin: Input/output error (CNI error 5)"
        );
    }
}
