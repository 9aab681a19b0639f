//! A black-box CNI harness: runs a plugin binary exactly as a container
//! runtime does (environment, stdin, stdout, exit status), chains plugins
//! the way libcni does (there is no `cnitool` in Debian), and reads what a
//! plugin left in a network namespace.
//!
//! It also builds the podwire side of a test: unique address blocks, a
//! daemon config with `[[network]]` sections and a private `state_dir`, and
//! the plugin's network config pointing at that daemon.

mod call;
mod chain;
mod lab;
mod netns;
mod result;

// Each test file uses its own part of the harness (see `dead_code` in
// support/mod.rs); the others would warn of unused imports.
#[allow(unused_imports)]
pub use call::*;
#[allow(unused_imports)]
pub use chain::*;
#[allow(unused_imports)]
pub use lab::*;
#[allow(unused_imports)]
pub use netns::*;
#[allow(unused_imports)]
pub use result::*;
