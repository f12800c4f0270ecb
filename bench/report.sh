#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Build the benchmarks, run them all (about two minutes on 2 cores), print
# the table, write the JSON report and draw the ratios as an SVG chart.
#
#   bench/report.sh [-B BUILD_DIR] [-o JSON] [-g SVG] [-- rtasync-bench options...]
#
# BUILD_DIR  a release build used only for benchmarks (default build-bench;
#            set up here when missing)
# JSON       default BUILD_DIR/bench-report.json
# SVG        default Documentation/bench-core.svg
# Arguments after -- go to rtasync-bench (e.g. -- -r 11 -s 0.2 spawn yield).
#
# Needs meson, ninja, a C compiler, liburing, and gnuplot for the chart
# (without gnuplot the chart is skipped with a message; nothing else is).
set -eu

src=$(cd "$(dirname "$0")/.." && pwd)
build=$src/build-bench
json=
svg=$src/Documentation/bench-core.svg

while getopts B:o:g:h opt; do
	case $opt in
	B) build=$OPTARG ;;
	o) json=$OPTARG ;;
	g) svg=$OPTARG ;;
	h) sed -n '3,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
json=${json:-$build/bench-report.json}

if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" "$src" --buildtype=release -Db_sanitize=none \
		-Dbench=enabled -Dtests=disabled -Dbpf=disabled >/dev/null
fi
ninja -C "$build" bench/rtasync-bench >/dev/null

chart=$build/bench-chart.tsv
"$build/bench/rtasync-bench" -j "$json" --chart-data "$chart" "$@"

if command -v gnuplot >/dev/null 2>&1; then
	mkdir -p "$(dirname "$svg")"
	gnuplot -e "data='$chart'; out='$svg'" "$src/bench/plot.gp"
	echo "chart: $svg"
else
	echo "chart: skipped, gnuplot is not installed (apt-get install gnuplot-nox)" >&2
fi
