#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs what it needs,
# builds, runs every test (the end-to-end ones need root: run as root), then the
# demo's own check. Exits non-zero when anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install-deps.sh

if [ "$(id -u)" != 0 ] && [ "${PODWIRE_SKIP_ROOT_TESTS:-}" != 1 ]; then
    echo "error: the end-to-end tests create network namespaces and need root." >&2
    echo "       run: sudo $0   (or set PODWIRE_SKIP_ROOT_TESTS=1 to run only the in-memory tests)" >&2
    exit 1
fi

# CI builds once from a clean clone: incremental state would only take disk.
export CARGO_INCREMENTAL=0

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo build --workspace --all-targets --locked
cargo test --workspace --locked
# The fuzz targets are a crate of their own (cargo-fuzz); keep them building.
cargo check --manifest-path fuzz/Cargo.toml --locked
cargo build --release --locked -p podwire
./target/release/podwire demo --check
