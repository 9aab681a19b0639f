//! The reconciler's bookkeeping: what the agent changed in the data plane, batch by batch.
//!
//! - [`transactions`]: the log of recent change batches (transactions), what started each,
//!   what it did to each object and whether it succeeded, for `podwire ctl show
//!   transactions`.

pub mod transactions;
