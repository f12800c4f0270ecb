#!/bin/sh
# SPDX-License-Identifier: MIT
#
# The main job: install what is missing (the peer runtimes too), build,
# and print librtasync's benchmark report side by side with its peers
# (about a minute on 2 cores, then about 2 more for the I/O servers
# against nginx, Go and Tokio; the first run also compiles the Tokio
# peers, a minute more).
# Writes build-bench/bench-report.json, build-bench/iobench-report.json
# and Documentation/bench-core.svg.
#
#   tools/run-report.sh [-- rtasync-bench options]
set -eu

src=$(cd "$(dirname "$0")/.." && pwd)
"$src/tools/setup-deps.sh" --bench	# also the peers: Tokio, Go
exec "$src/bench/report.sh" "$@"
