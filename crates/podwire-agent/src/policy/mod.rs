//! NetworkPolicies in the data plane: the policies the cluster store compiles for this node's
//! pods ([`podwire_k8s::policy::compile`]) are rendered into the data plane's policy table
//! ([`render`]), each rule in a slot of its own that it keeps from table to table
//! ([`slots`]), so that its counters go on.

pub mod render;
pub mod slots;
#[cfg(test)]
mod tests;
