//! The CNI protocol as podwire's plugin speaks it (spec 1.0.0 and 1.1.0), without I/O.
//!
//! Everything comes in as values (the environment as a lookup function, stdin as bytes, the
//! agent behind the [`Agent`] trait) and goes out as an [`Outcome`] (stdout text and an exit
//! code), so that every verb, every error code and every result shape is tested in memory.
//! The `podwire` binary supplies the process around it.
//!
//! - [`mod@env`]: the `CNI_*` environment variables, checked per verb.
//! - [`config`]: the network config on stdin and the version it asks for.
//! - [`names`]: the rules for container ids, interface names and network names.
//! - [`result`]: the success result built from an attachment.
//! - [`prev_result`]: a `prevResult` to chain onto (ADD) or to check against (CHECK).
//! - [`check`]: CHECK's comparison of the `prevResult` with the attachment.
//! - [`version`]: the versions podwire speaks and the answer to `VERSION`.
//! - [`error`]: the CNI error and its codes.
//! - [`agent`]: what the plugin asks of the agent, and how its failures map to error codes.
//! - [`plugin`]: one invocation from start to finish.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod agent;
pub mod check;
pub mod config;
pub mod env;
pub mod error;
pub mod names;
pub mod plugin;
pub mod prev_result;
pub mod result;
pub mod version;

#[cfg(test)]
mod test_support;

pub use agent::{Agent, AgentFailure};
pub use error::{CniError, ErrorCode};
pub use plugin::{Outcome, run};
pub use version::{SUPPORTED_VERSIONS, SpecVersion};
