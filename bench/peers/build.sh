#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Build the runtimes users would pick instead of librtasync, for the
# benchmark report: Tokio (bench/peers/tokio) and Go (bench/peers/go),
# and their HTTP servers for rtasync-iobench (bench/peers/tokio-http,
# bench/peers/go-http), from Debian 12's packages only, with no network:
#
#   Tokio  /usr/bin/cargo and /usr/bin/rustc (packages cargo, rustc) build
#          offline against /usr/share/cargo/registry (librust-tokio-dev)
#   Go     /usr/bin/go (golang-go), standard library only
#
#   bench/peers/build.sh OUT_DIR
#
# Writes OUT_DIR/rtasync-peer-tokio, OUT_DIR/rtasync-peer-go (and the
# -http ones), each with
# a .version file (line 1: the runtime's version, line 2: the toolchain's)
# for the report. A peer that cannot be built gets
# OUT_DIR/rtasync-peer-NAME.why instead (one line: why, and what to
# install); rtasync-bench prints it in the row.
# Everything else (cargo's and go's caches, the lock file) stays under
# OUT_DIR. Exits 0 whatever was built: the report goes on without a peer.
set -u

src=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUT_DIR}
mkdir -p "$out" && out=$(cd "$out" && pwd) || exit 0

# Record why NAME was not built, and drop a stale binary.
skip() {
	rm -f "$out/rtasync-peer-$1" "$out/rtasync-peer-$1.version"
	echo "$2" > "$out/rtasync-peer-$1.why"
	echo "peers: $1 not built: $2" >&2
}

update() {
	cmp -s "$1" "$2" || cp "$1" "$2"
}

# Debian's toolchain by absolute path: a rustup cargo, or another Go,
# earlier in PATH must not be what gets measured.
# build_tokio NAME: bench/peers/NAME into OUT_DIR/rtasync-peer-NAME
build_tokio() {
	name=$1
	dir=$out/$name
	reg=/usr/share/cargo/registry
	if [ ! -x /usr/bin/cargo ] || [ ! -x /usr/bin/rustc ]; then
		skip "$name" "no /usr/bin/cargo or /usr/bin/rustc (apt-get install cargo rustc librust-tokio-dev)"
		return
	fi
	if ! ls -d "$reg"/tokio-1.* >/dev/null 2>&1; then
		skip "$name" "Tokio's source is not in $reg (apt-get install librust-tokio-dev)"
		return
	fi
	# A copy of the sources, so Cargo.lock lands here, not in the tree;
	# copied only when changed, or cargo would rebuild on every run.
	mkdir -p "$dir/src" "$dir/cargo-home"
	update "$src/$name/Cargo.toml" "$dir/Cargo.toml"
	update "$src/$name/src/main.rs" "$dir/src/main.rs"
	cat > "$dir/cargo-home/config.toml" <<-EOF
	[source.crates-io]
	replace-with = "debian"

	[source.debian]
	directory = "$reg"

	[net]
	offline = true
	EOF
	if ! CARGO_HOME=$dir/cargo-home RUSTC=/usr/bin/rustc \
	     RUSTDOC=/usr/bin/rustdoc CARGO_TARGET_DIR=$dir/target \
	     /usr/bin/cargo build --quiet --release --offline \
	     --manifest-path "$dir/Cargo.toml" >"$dir/build.log" 2>&1; then
		skip "$name" "cargo build failed, see $dir/build.log"
		return
	fi
	cp "$dir/target/release/rtasync-peer-$name" "$out/"
	rm -f "$out/rtasync-peer-$name.why"
	{
		sed -n '/^name = "tokio"$/{n;s/^version = "\(.*\)"/\1/p;}' "$dir/Cargo.lock"
		echo "$(/usr/bin/rustc --version), Debian's crates"
	} > "$out/rtasync-peer-$name.version"
}

# build_go NAME: bench/peers/NAME into OUT_DIR/rtasync-peer-NAME
build_go() {
	name=$1
	dir=$out/$name
	if [ ! -x /usr/bin/go ]; then
		skip "$name" "no /usr/bin/go (apt-get install golang-go)"
		return
	fi
	mkdir -p "$dir"
	# GOPROXY=off: the program imports the standard library only, so
	# anything that would reach the network is an error.
	if ! (cd "$src/$name" && GOPATH=$dir/path GOCACHE=$dir/cache \
	      GOPROXY=off GOFLAGS='' GO111MODULE=on GOWORK=off \
	      /usr/bin/go build -trimpath -o "$out/rtasync-peer-$name" . \
	      >"$dir/build.log" 2>&1); then
		skip "$name" "go build failed, see $dir/build.log"
		return
	fi
	rm -f "$out/rtasync-peer-$name.why"
	v=$(/usr/bin/go env GOVERSION 2>/dev/null)
	printf '%s\n%s\n' "${v#go}" "$(/usr/bin/go version)" \
		> "$out/rtasync-peer-$name.version"
}

build_tokio tokio
build_tokio tokio-http
build_go go
build_go go-http
exit 0
