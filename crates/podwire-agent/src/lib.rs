//! The node agent.
//!
//! - [`api`]: the local API on a unix socket (for `podwire ctl` and the CNI plugin), the
//!   `/metrics` and `/healthz` listener, and a client for the socket.
//! - [`attachments`]: pod attachments (CNI) and their addresses, persisted.
//! - [`node`]: the data plane built from the config, its interfaces wired to the kernel.
//! - [`policy`]: NetworkPolicies compiled for this node's pods, rendered for the data plane.
#![forbid(unsafe_code)]

pub mod api;
pub mod attachments;
pub mod cluster;
pub mod node;
pub mod policy;
pub mod reconcile;
pub mod services;
pub mod source;
pub mod state_file;
