//! Connection tracking and NAT: what Services (and, next, policies) are built on.
//!
//! - [`flow`]: the 5-tuple a packet belongs to.
//! - [`session`]: a worker's bounded session table with state-aware timeouts.
//! - [`maglev`]: consistent hashing of flows onto endpoints.
//! - [`affinity`]: a worker's `ClientIP` affinity entries.
//! - [`service`]: the published service table (frontends and their endpoints) and the
//!   decision it makes for a new flow, which the `ip*-nat-in` nodes apply.
//! - [`housekeeping`]: what a worker does with them each round (expiry, stale UDP sessions).
//!
//! Tables published by the control plane are immutable; sessions and affinity entries
//! belong to one worker and are changed by it alone, so the hot path takes no lock.

pub mod affinity;
pub mod flow;
pub mod housekeeping;
pub mod maglev;
pub mod service;
pub mod session;
