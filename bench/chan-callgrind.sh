#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Instructions per channel round trip on one worker (the sync topic's
# "channel round trip, 1 worker" row, run alone as rtasync-bench's
# chan-rtt topic), counted by callgrind at two sizes so that set-up and
# tear-down cancel:
#
#   instructions per round trip = (Ir(2N) - Ir(N)) / (2 N)
#
# (each run is a warm-up and one measured sample of N round trips).
# Instruction counts repeat under any machine load, where the clock on a
# shared VM does not.
#
#   bench/chan-callgrind.sh [-B BUILD_DIR] [-a] [N]
#
# BUILD_DIR  a build with -Dbench=enabled (default build-bench)
# -a         also print the per-function inclusive profile of the 2N run
# N          round trips per sample (default 20000)
set -eu

src=$(cd "$(dirname "$0")/.." && pwd)
build=$src/build-bench
annotate=
while getopts B:ah opt; do
	case $opt in
	B) build=$OPTARG ;;
	a) annotate=yes ;;
	h) sed -n '3,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
n=${1:-20000}

command -v valgrind >/dev/null || { echo "$0: needs valgrind" >&2; exit 1; }
exe=$build/bench/rtasync-bench
[ -x "$exe" ] || { echo "$0: no $exe (meson -Dbench=enabled)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Ir of one run of n round trips per sample; the profile stays in $tmp/cg.$1
ir() {
	scale=$(echo "scale=6; $1 / 200000" | bc)
	valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$1" \
		"$exe" --no-fork -r 1 -s "$scale" -j '' chan-rtt \
		>/dev/null 2>"$tmp/log" || { cat "$tmp/log" >&2; exit 1; }
	sed -n 's/^summary: //p' "$tmp/cg.$1"
}

a=$(ir "$n")
b=$(ir $((2 * n)))
echo "instructions per round trip: $(echo "scale=1; ($b - $a) / (2 * $n)" | bc)" \
	"(callgrind Ir, (Ir(2N) - Ir(N)) / 2N, N = $n)"
if [ -n "$annotate" ]; then
	callgrind_annotate --inclusive=yes "$tmp/cg.$((2 * n))" | head -60
fi
