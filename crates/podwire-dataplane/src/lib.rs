//! podwire's vector data plane: buffers, the node graph, the nodes and their
//! tables. It makes no system call and reads no clock: a worker (or a test,
//! or a benchmark) hands it packets and the time, and takes packets out of
//! its output queues.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bridge;
pub mod buffer;
pub mod clock;
pub mod counters;
pub mod engine;
pub mod fib;
pub mod fuzzing;
pub mod graph;
pub mod icmp_error;
pub mod interface;
pub mod nat;
pub mod neighbor;
pub mod nodes;
pub mod offload;
pub mod policy;
pub mod publish;
pub mod state;
pub mod steer;
pub mod tables;
pub mod trace;
pub mod tx;
