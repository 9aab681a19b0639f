//! Policy enforcement: per pod and direction, classifiers compiled from the pod's rules
//! ([`classifier`]), one for each ClusterNetworkPolicy tier ([`tier`]) and one for its
//! NetworkPolicies, and the check a new connection goes through ([`table`]). The verdict of
//! an allowed connection is kept by its session, so replies and later packets are not
//! classified again.

pub mod classifier;
pub mod table;
pub mod tier;
