#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Install the Debian 12 packages librtasync needs to build, test, trace and
# benchmark, if any is missing. Run as root; does nothing when all are there.
#
#   tools/setup-deps.sh [--bench]
#
# --bench  also the peer runtimes the benchmark report measures librtasync
#          against (bench/peers/): Tokio built offline from Debian's crates,
#          Go, nginx, and wrk to load the HTTP servers. tools/run-report.sh
#          asks for them, tools/run-tests.sh does not: no test needs them,
#          and they are large (a Rust toolchain, a Go toolchain). Failing
#          to install them is reported, not fatal: the report then says
#          which peer rows are missing and why.
set -eu

bench=
case ${1-} in
--bench) bench=yes ;;
"") ;;
*) echo "usage: setup-deps.sh [--bench]" >&2; exit 2 ;;
esac

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
# the Prometheus project's own parser, witness of `task top -o prometheus`
pkgs="$pkgs python3-prometheus-client"
# the report's chart
pkgs="$pkgs gnuplot-nox"
# the model checks of the wake and join protocols (tests/model)
pkgs="$pkgs spin"
# man_render: the generated man pages through groff and man(1)
pkgs="$pkgs groff-base man-db"

# bench only: Tokio (1.24, its crates in /usr/share/cargo/registry; built
# with Debian's cargo and rustc 1.63) and Go 1.19 (standard library only)
bench_pkgs="cargo rustc librust-tokio-dev golang-go"
# and Boost.Context (fcontext), the fiber switch's peer (bench/fiber.c)
bench_pkgs="$bench_pkgs libboost-context-dev"
# rtasync-iobench: nginx as an HTTP peer, wrk as the load generator
bench_pkgs="$bench_pkgs nginx wrk"

# The packages of the list given that are not installed.
missing_of() {
	for p in "$@"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		     grep -q 'install ok installed'; then
			printf ' %s' "$p"
		fi
	done
}

# shellcheck disable=SC2086 # word splitting is the point
missing=$(missing_of $pkgs)
bench_missing=
if [ -n "$bench" ]; then
	# shellcheck disable=SC2086
	bench_missing=$(missing_of $bench_pkgs)
fi

if [ -z "$missing$bench_missing" ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	if [ -n "$bench_missing" ]; then
		echo "setup-deps: the peer runtimes' packages are missing:$bench_missing (their report rows will say so)" >&2
	fi
	[ -z "$missing" ] && exit 0
	echo "setup-deps: missing Debian packages:$missing" >&2
	echo "setup-deps: run as root, or: apt-get install$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
if [ -n "$missing" ]; then
	echo "setup-deps: installing:$missing"
	# shellcheck disable=SC2086 # word splitting is the point
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
if [ -n "$bench_missing" ]; then
	echo "setup-deps: installing the peer runtimes:$bench_missing"
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $bench_missing >/dev/null ||
		echo "setup-deps: could not install$bench_missing; the report goes on without those peers" >&2
fi
exit 0
