//! What the plugin asks of the agent, and how the agent's failures become CNI errors.

use std::path::Path;

use podwire_model::attach::{
    AddRequest, Attachment, CheckRequest, DelReport, DelRequest, FailureKind, GcReport, GcRequest,
    NetworkStatus,
};

use crate::error::{CniError, ErrorCode};

/// The agent's attachment API, one blocking call per request. The binary implements it with
/// the API client; the tests with a fake.
pub trait Agent {
    /// Wire a pod interface.
    fn add(&mut self, request: &AddRequest) -> Result<Attachment, AgentFailure>;
    /// Unwire a pod interface; a success when it is already gone.
    fn del(&mut self, request: &DelRequest) -> Result<DelReport, AgentFailure>;
    /// The attachment, if it is as ADD left it.
    fn check(&mut self, request: &CheckRequest) -> Result<Attachment, AgentFailure>;
    /// Remove the network's attachments the runtime no longer has.
    fn gc(&mut self, request: &GcRequest) -> Result<GcReport, AgentFailure>;
    /// Every network and whether it can take a pod.
    fn networks(&mut self) -> Result<Vec<NetworkStatus>, AgentFailure>;
}

impl<A: Agent + ?Sized> Agent for &mut A {
    fn add(&mut self, request: &AddRequest) -> Result<Attachment, AgentFailure> {
        (**self).add(request)
    }
    fn del(&mut self, request: &DelRequest) -> Result<DelReport, AgentFailure> {
        (**self).del(request)
    }
    fn check(&mut self, request: &CheckRequest) -> Result<Attachment, AgentFailure> {
        (**self).check(request)
    }
    fn gc(&mut self, request: &GcRequest) -> Result<GcReport, AgentFailure> {
        (**self).gc(request)
    }
    fn networks(&mut self) -> Result<Vec<NetworkStatus>, AgentFailure> {
        (**self).networks()
    }
}

/// Why a call to the agent failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentFailure {
    /// Nothing answers on the socket: the agent is not running. The text is the client's.
    Unreachable(String),
    /// The agent did not answer in time: it is overloaded or stuck. The text is the client's.
    TimedOut(String),
    /// The agent answered with an error.
    Refused {
        /// What kind of failure, if the agent said.
        kind: Option<FailureKind>,
        /// The agent's explanation.
        message: String,
    },
    /// The exchange broke off, or the answer was not understood.
    Other(String),
}

impl AgentFailure {
    /// The CNI error for a failed ADD, DEL, CHECK or GC, the agent listening on `socket`.
    pub fn into_cni_error(self, socket: &Path) -> CniError {
        match self {
            AgentFailure::Unreachable(why) => CniError::new(
                ErrorCode::TryAgainLater,
                format!(
                    "the podwire agent at {} is not running; start it (`podwire daemon --config /etc/podwire/podwire.toml`, or its DaemonSet on Kubernetes), then the runtime's retry will succeed",
                    socket.display()
                ),
            )
            .with_details(why),
            AgentFailure::TimedOut(why) => CniError::new(
                ErrorCode::TryAgainLater,
                format!(
                    "the podwire agent at {} did not answer in time; try again later, and check its log if this persists",
                    socket.display()
                ),
            )
            .with_details(why),
            AgentFailure::Refused { kind, message } => {
                let code = match kind {
                    Some(FailureKind::Invalid) => ErrorCode::InvalidConfig,
                    Some(FailureKind::UnknownContainer) => ErrorCode::UnknownContainer,
                    Some(FailureKind::AlreadyExists) => ErrorCode::AlreadyExists,
                    Some(FailureKind::NotAsAdded) => ErrorCode::CheckFailed,
                    Some(FailureKind::Exhausted) => ErrorCode::PoolExhausted,
                    Some(FailureKind::Kernel) => ErrorCode::KernelRefused,
                    Some(FailureKind::Internal) | None => ErrorCode::Internal,
                };
                CniError::new(code, message)
            }
            AgentFailure::Other(why) => CniError::new(
                ErrorCode::Internal,
                format!(
                    "the exchange with the podwire agent at {} failed: {why}",
                    socket.display()
                ),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(kind: Option<FailureKind>) -> AgentFailure {
        AgentFailure::Refused {
            kind,
            message: "the agent's words".into(),
        }
    }

    #[test]
    fn refusals_map_to_the_contracts_codes() {
        let socket = Path::new("/run/p.sock");
        for (kind, code) in crate::test_support::REFUSAL_CODES {
            let error = refused(kind).into_cni_error(socket);
            assert_eq!(error.code.number(), code, "{kind:?}");
            assert_eq!(error.msg, "the agent's words");
        }
    }

    #[test]
    fn an_absent_agent_is_try_again_later_and_says_how_to_start_it() {
        let error = AgentFailure::Unreachable("no socket file".into())
            .into_cni_error(Path::new("/run/p.sock"));
        assert_eq!(error.code, ErrorCode::TryAgainLater);
        assert!(
            error.msg.contains("/run/p.sock is not running"),
            "{}",
            error.msg
        );
        assert!(error.msg.contains("podwire daemon"), "{}", error.msg);
        assert_eq!(error.details.as_deref(), Some("no socket file"));
    }

    #[test]
    fn a_slow_agent_is_try_again_later() {
        let error = AgentFailure::TimedOut("30 s".into()).into_cni_error(Path::new("/run/p.sock"));
        assert_eq!(error.code, ErrorCode::TryAgainLater);
        assert!(
            error.msg.contains("did not answer in time"),
            "{}",
            error.msg
        );
    }

    #[test]
    fn broken_exchanges_are_internal() {
        let error = AgentFailure::Other("bad JSON".into()).into_cni_error(Path::new("/s"));
        assert_eq!(error.code, ErrorCode::Internal);
        assert!(error.msg.ends_with("bad JSON"), "{}", error.msg);
    }
}
