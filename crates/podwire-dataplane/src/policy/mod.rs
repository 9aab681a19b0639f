//! NetworkPolicy enforcement: per pod and direction, a classifier compiled from the pod's
//! rules ([`classifier`]), and the check a new connection goes through ([`table`]). The
//! verdict of an allowed connection is kept by its session, so replies and later packets are
//! not classified again.

pub mod classifier;
pub mod table;
