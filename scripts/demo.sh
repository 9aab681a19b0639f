#!/usr/bin/env bash
# podwire's demo on one machine: installs what it needs, builds podwire, and runs
# `podwire demo` (pods as network namespaces wired through podwire's data plane).
# Needs root. Extra arguments go to `podwire demo` (e.g. --check).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install-deps.sh
cargo build --release --locked -p podwire
exec ./target/release/podwire demo "$@"
