//! A small harness for testing podwire-memif against DPDK's `dpdk-testpmd`
//! (memif.md §8): testpmd driven in interactive mode through a pipe
//! ([`testpmd`]), its counters read back ([`stats`]), and our side with
//! the traffic it moves ([`ours`]).
//!
//! Every testpmd gets its own `--file-prefix` (runtime directory) and every
//! test its own socket directory, so the tests run in parallel. All
//! testpmds share CPU 1 (`--lcores=0@1,1@1`); a forwarding testpmd spins
//! on it, which slows the others but changes no count.

pub mod ours;
pub mod stats;
pub mod testpmd;

use std::path::Path;

/// Whether the DPDK tests run here. `false` (with a note) when the
/// environment says to skip them; a failure with the reason when they
/// cannot run, so that a machine without DPDK never passes silently.
pub fn required() -> bool {
    for (var, why) in [
        ("PODWIRE_SKIP_DPDK_TESTS", "the DPDK interop tests"),
        ("PODWIRE_SKIP_ROOT_TESTS", "tests needing root"),
    ] {
        if std::env::var_os(var).is_some_and(|v| v == "1") {
            eprintln!("skipped: {var}=1 skips {why}");
            return false;
        }
    }
    assert!(
        rustix::process::getuid().is_root(),
        "the DPDK interop tests need root: testpmd keeps its runtime files in /var/run/dpdk. \
         Run them as root, or set PODWIRE_SKIP_ROOT_TESTS=1 to skip them"
    );
    for (program, package) in [(testpmd::TESTPMD, "dpdk-dev"), ("stdbuf", "coreutils")] {
        assert!(
            in_path(program),
            "{program} is not installed: install {package} (scripts/install-deps.sh), or set \
             PODWIRE_SKIP_DPDK_TESTS=1 to skip the DPDK interop tests"
        );
    }
    true
}

/// Whether `program` is an executable file in one of `$PATH`'s directories.
fn in_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|dir| {
        Path::new(&dir)
            .join(program)
            .metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}
