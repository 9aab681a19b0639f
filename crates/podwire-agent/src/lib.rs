//! The node agent.
//!
//! - [`api`]: the local API on a unix socket (for `podwire ctl` and the CNI plugin), the
//!   `/metrics` and `/healthz` listener, and a client for the socket.
//! - [`attachments`]: pod attachments (CNI) and their addresses, persisted.
//! - [`node`]: the data plane built from the config, its interfaces wired to the kernel.
#![forbid(unsafe_code)]

pub mod api;
pub mod attachments;
pub mod cluster;
pub mod node;
pub mod services;
pub mod state_file;
