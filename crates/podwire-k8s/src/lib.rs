//! Kubernetes semantics, as pure functions: Kubernetes objects (k8s-openapi types) in,
//! podwire's model out. The local store (`podwire ctl apply`), and later a live cluster or
//! etcd, feed the same functions, so what a Service means is decided in one place.
//!
//! - [`object`]: the kinds podwire keeps ([`object::Object`]) and their keys.
//! - [`manifest`]: YAML or JSON text (one or more documents) into checked objects.
//! - [`validate`]: each object's fields, and conflicts between objects (ClusterIPs,
//!   NodePorts), with the field path and the reason.
//! - [`cnp`]: the network-policy-api's ClusterNetworkPolicy (Admin and Baseline tiers) as
//!   a Rust type.
//! - [`endpoints`]: EndpointSlice semantics: which endpoints traffic may use
//!   (kube-proxy's `CategorizeEndpoints`), and slices derived from Pods for Services with a
//!   selector when no controller makes them (one machine).
//! - [`services`]: a Service and its slices into the frontends the data plane implements.
//! - [`policy`]: NetworkPolicies compiled per pod of this node, and verdicts explained.
//! - [`views`]: what `podwire ctl get` shows.
//! - [`nodes`]: a Node's pod CIDRs and tunnel address.
//! - [`register`]: this node's tunnel address, published on its Node.
//! - [`source`]: the events a source of objects (etcd, the Kubernetes API) hands the store.
//! - [`watch`]: the Kubernetes API watched with kube-rs, as [`source::SourceEvent`]s.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cnp;
pub mod endpoints;
pub mod manifest;
pub mod nodes;
pub mod object;
pub mod policy;
pub mod register;
pub mod services;
pub mod source;
pub mod validate;
pub mod views;
pub mod watch;

#[cfg(test)]
mod test_support;
