//! The harness of the Service tests: a daemon with a pod network, a host tap, Service CIDRs
//! of its own and optionally an AF_PACKET uplink to an "outside" namespace; pods attached by
//! the real CNI plugin; Kubernetes manifests applied with `podwire ctl apply`; and small
//! servers and clients that say which backend answered and what source it saw.

mod answers;
mod lab;
pub mod manifest;
mod policies;
mod served;
mod traffic;

// Each test file uses its own part of the harness (see `dead_code` in support/mod.rs).
#[allow(unused_imports)]
pub use answers::*;
#[allow(unused_imports)]
pub use lab::*;
#[allow(unused_imports)]
pub use manifest::{SERVICE_PORT, Service};
#[allow(unused_imports)]
pub use policies::*;
#[allow(unused_imports)]
pub use served::*;
#[allow(unused_imports)]
pub use traffic::*;
