//! NetworkPolicies in the data plane: the policies the cluster store compiles for this node's
//! pods ([`podwire_k8s::policy::compile`]) are rendered into the data plane's policy table
//! ([`render`]).

pub mod render;
#[cfg(test)]
mod tests;
