//! The `podwire` binary as a CNI plugin: what the runtime runs (with `CNI_COMMAND` set) to
//! attach a pod. The protocol lives in `podwire_cni`; this is the process around it: stdin,
//! the environment, the agent's API client, stdout and the exit status.
//!
//! It runs once per pod and verb, so it stays light: no logging set-up, and a single-threaded
//! async runtime made only when the agent is asked.

use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use podwire_agent::api::client::{Client, ClientError};
use podwire_cni::{Agent, AgentFailure, CniError, Outcome};
use podwire_model::attach::{
    AddRequest, Attachment, CheckRequest, DelReport, DelRequest, GcReport, GcRequest, NetworkStatus,
};

/// How long one call may wait for the agent. An ADD under load (many pods at once on a small
/// node) can take seconds; an absent agent fails at once, since connecting to a socket that
/// is not there does not wait.
const AGENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs one CNI invocation from the process's environment and stdin.
pub fn main() -> ExitCode {
    let outcome = match read_stdin() {
        Ok(stdin) => podwire_cni::run(|name| std::env::var(name).ok(), &stdin, ClientAgent::new),
        Err(error) => Outcome::failure(&CniError::stdin_unreadable(error), None),
    };
    let mut stdout = std::io::stdout().lock();
    // Nothing useful is left to do if the runtime closed our stdout: the exit code still says
    // how it went.
    let _ = stdout
        .write_all(outcome.stdout.as_bytes())
        .and_then(|()| stdout.flush());
    ExitCode::from(outcome.exit_code)
}

/// The network config. A terminal counts as empty, so that `CNI_COMMAND=VERSION podwire`
/// typed at a shell answers instead of waiting for input.
fn read_stdin() -> std::io::Result<Vec<u8>> {
    let mut stdin = std::io::stdin().lock();
    let mut config = Vec::new();
    if !stdin.is_terminal() {
        stdin.read_to_end(&mut config)?;
    }
    Ok(config)
}

/// The agent behind its API socket, asked synchronously.
struct ClientAgent {
    client: Client,
    /// The runtime the client's futures run on, or why it could not be made.
    runtime: Result<tokio::runtime::Runtime, String>,
}

impl ClientAgent {
    fn new(socket: &Path) -> ClientAgent {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| format!("cannot start the async runtime: {error}"));
        ClientAgent {
            client: Client::new(socket).with_timeout(AGENT_TIMEOUT),
            runtime,
        }
    }

    /// Runs one call of the client to completion.
    fn call<T>(
        &self,
        call: impl AsyncFnOnce(&Client) -> Result<T, ClientError>,
    ) -> Result<T, AgentFailure> {
        let runtime = self
            .runtime
            .as_ref()
            .map_err(|why| AgentFailure::Other(why.clone()))?;
        runtime.block_on(call(&self.client)).map_err(failure)
    }
}

/// The plugin's view of a client error.
fn failure(error: ClientError) -> AgentFailure {
    match error {
        ClientError::Unreachable { .. } => AgentFailure::Unreachable(error.to_string()),
        ClientError::Timeout { .. } => AgentFailure::TimedOut(error.to_string()),
        ClientError::Refused { kind, message, .. } => AgentFailure::Refused { kind, message },
        ClientError::Connection { .. } | ClientError::Decode { .. } => {
            AgentFailure::Other(error.to_string())
        }
    }
}

impl Agent for ClientAgent {
    fn add(&mut self, request: &AddRequest) -> Result<Attachment, AgentFailure> {
        self.call(async |client| client.attach_add(request).await)
    }

    fn del(&mut self, request: &DelRequest) -> Result<DelReport, AgentFailure> {
        self.call(async |client| client.attach_del(request).await)
    }

    fn check(&mut self, request: &CheckRequest) -> Result<Attachment, AgentFailure> {
        self.call(async |client| client.attach_check(request).await)
    }

    fn gc(&mut self, request: &GcRequest) -> Result<GcReport, AgentFailure> {
        self.call(async |client| client.attach_gc(request).await)
    }

    fn networks(&mut self) -> Result<Vec<NetworkStatus>, AgentFailure> {
        self.call(async |client| client.networks().await)
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn client_errors_map_to_agent_failures() {
        let socket = PathBuf::from("/run/x.sock");
        assert!(matches!(
            failure(ClientError::Unreachable {
                socket: socket.clone(),
                error: io::Error::from(io::ErrorKind::NotFound),
            }),
            AgentFailure::Unreachable(why) if why.contains("/run/x.sock")
        ));
        assert!(matches!(
            failure(ClientError::Timeout {
                socket,
                after: AGENT_TIMEOUT,
            }),
            AgentFailure::TimedOut(_)
        ));
        let decode = serde_json::from_str::<u8>("x").unwrap_err();
        assert!(matches!(
            failure(ClientError::Decode {
                path: "/v1/networks".into(),
                source: decode,
            }),
            AgentFailure::Other(_)
        ));
    }

    #[test]
    fn an_absent_socket_fails_at_once_as_unreachable() {
        let dir = tempfile::tempdir().expect("make a temporary directory");
        let mut agent = ClientAgent::new(&dir.path().join("absent.sock"));
        let result = agent.networks();
        assert!(
            matches!(&result, Err(AgentFailure::Unreachable(why)) if why.contains("absent.sock")),
            "{result:?}"
        );
    }
}
