#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Install the Debian 12 packages librtasync needs to build, test, trace and
# benchmark, if any is missing. Run as root; does nothing when all are there.
#
#   tools/setup-deps.sh
set -eu

# build: compiler, meson, the libraries the runtime links
pkgs="build-essential pkg-config meson ninja-build liburing-dev"
# tests: cmocka, and valgrind for the memcheck run (ASan/UBSan come with gcc)
pkgs="$pkgs libcmocka-dev valgrind python3"
# USDT probes
pkgs="$pkgs systemtap-sdt-dev"
# eBPF observers and rtasync-trace: clang + llvm-strip, bpftool, libbpf
pkgs="$pkgs clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev"
# independent witnesses for the tracer tests (perf, bpftrace for the USDT
# probes), and setpriv for the not-root test
pkgs="$pkgs linux-perf bpftrace util-linux procps"
# the report's chart
pkgs="$pkgs gnuplot-nox"
# the model checks of the wake and join protocols (tests/model)
pkgs="$pkgs spin"

missing=
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
	     grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "setup-deps: missing Debian packages:$missing" >&2
	echo "setup-deps: run as root, or: apt-get install$missing" >&2
	exit 1
fi
echo "setup-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086 # word splitting is the point
apt-get install -y -qq --no-install-recommends $missing >/dev/null
