//! The declarative model and the API types.
//!
//! - [`config`]: the daemon's TOML config file, parsed and validated into a [`config::Config`].
//! - [`api`]: the views the agent's API serves and the CLI and metrics read.
//! - [`attach`]: pod attachments, between the CNI plugin and the agent.
//! - [`cluster`]: the cluster objects the agent keeps, as the API shows them.
//! - [`policy`]: NetworkPolicies as the data plane enforces them (per pod, compiled).
//! - [`service`]: Services as the data plane implements them (frontends and endpoints).
//! - [`cidr`]: an IP address with a prefix length, used by both.
#![forbid(unsafe_code)]

pub mod api;
pub mod attach;
pub mod cidr;
pub mod cluster;
pub mod config;
pub mod policy;
pub mod service;

pub use cidr::{Cidr, CidrError};
