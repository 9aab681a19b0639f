#!/usr/bin/env bash
# Installs what podwire's build, demo and tests need on a fresh Debian 12 machine.
# Idempotent: installs only what is missing. Needs root (apt-get).
set -euo pipefail

packages=(
    # build
    build-essential pkg-config
    # the demo and the end-to-end tests: namespaces, links, traffic
    iproute2 iputils-ping traceroute netcat-openbsd ethtool procps kmod
    # peers and anchors the tests and benchmarks compare podwire with
    iperf3 sockperf containernetworking-plugins
    # DPDK's testpmd: the third-party memif peer (and an AF_PACKET baseline)
    dpdk-dev
    # a real container runtime calling the CNI plugin (podman with runc, a busybox root
    # filesystem for its containers) and what the chained portmap plugin drives
    podman runc catatonit busybox-static iptables
    # kube-proxy's nftables rules, the anchor of `podwire bench services`
    nftables
    # etcd, the cluster store without Kubernetes (the multi-node tests run it), and what
    # the etcd-client crate builds its gRPC code with (protoc and the well-known types)
    etcd-server etcd-client protobuf-compiler libprotobuf-dev
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
    for d in "$HOME/.cargo/bin" /root/.cargo/bin /usr/local/cargo/bin; do
        [ -x "$d/cargo" ] && export PATH="$d:$PATH" && break
    done
fi
if ! command -v cargo >/dev/null 2>&1; then
    echo "error: no Rust toolchain found. podwire needs Rust 1.85 or newer (edition 2024):" >&2
    echo "       install it with rustup (https://rustup.rs), then run this again." >&2
    exit 1
fi
# The tun device the taps are made from.
[ -e /dev/net/tun ] || { mkdir -p /dev/net && mknod /dev/net/tun c 10 200; }
