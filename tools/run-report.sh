#!/bin/sh
# SPDX-License-Identifier: MIT
#
# The main job: install what is missing, build, and print librtasync's
# benchmark report side by side with its peers (about a minute on 2 cores).
# Writes build-bench/bench-report.json and Documentation/bench-core.svg.
#
#   tools/run-report.sh [-- rtasync-bench options]
set -eu

src=$(cd "$(dirname "$0")/.." && pwd)
"$src/tools/setup-deps.sh"
exec "$src/bench/report.sh" "$@"
