#!/bin/sh
# SPDX-License-Identifier: MIT
#
# The peer runtimes alone: build them if needed, run every configuration
# (Tokio current_thread and multi_thread with 2 workers, Go GOMAXPROCS 1
# and 2) on the shapes asked for, print a table and the JSON lines.
# librtasync's side of the same shapes: rtasync-bench fanout (1 vs 2
# workers) or rtasync-bench peers (everything side by side, interleaved).
#
#   bench/peers/run.sh [-B BUILD_DIR] [-r REPS] [-s SCALE] [-j FILE] [SHAPE...]
#
# BUILD_DIR  default build-bench (the peers live in BUILD_DIR/bench/peers)
# REPS       samples per value after a warm-up, median kept (default 5)
# FILE       also write the JSON lines there
# SHAPE      spawn yield fanout fanout-overflow fanout-one memory
#            (default: the three fan-outs)
set -eu

src=$(cd "$(dirname "$0")/../.." && pwd)
build=$src/build-bench
reps=5
scale=1
json=

while getopts B:r:s:j:h opt; do
	case $opt in
	B) build=$OPTARG ;;
	r) reps=$OPTARG ;;
	s) scale=$OPTARG ;;
	j) json=$OPTARG ;;
	h) sed -n '3,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || set -- fanout fanout-overflow fanout-one

dir=$build/bench/peers
"$src/bench/peers/build.sh" "$dir"
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# run PROGRAM WORKERS-OPTION N SHAPE...: memory runs alone, in its own process
run() {
	prog=$1 opt=$2 n=$3
	shift 3
	if [ ! -x "$dir/$prog" ]; then
		echo "$prog: not built: $(cat "$dir/$prog.why" 2>/dev/null)" >&2
		return
	fi
	for s in "$@"; do
		[ "$s" = memory ] || continue
		"$dir/$prog" "$opt" "$n" memory >> "$out" || echo "$prog $opt $n memory failed" >&2
	done
	# shellcheck disable=SC2046 # shape names are single words
	set -- $(printf '%s\n' "$@" | grep -vx memory || true)
	[ $# -gt 0 ] || return 0
	"$dir/$prog" -r "$reps" -s "$scale" "$opt" "$n" "$@" >> "$out" ||
		echo "$prog $opt $n failed" >&2
}

run rtasync-peer-tokio -w 1 "$@"
run rtasync-peer-tokio -w 2 "$@"
run rtasync-peer-go -p 1 "$@"
run rtasync-peer-go -p 2 "$@"

# The lines are ours, one object each: pick fields by name.
awk 'function f(k,   m) {
	if (match($0, "\"" k "\": \"?[^\",]*")) {
		m = substr($0, RSTART, RLENGTH); sub(/^[^:]*: "?/, "", m); return m
	}
	return "-"
}
BEGIN { printf "%-6s %-16s %-16s %10s %10s %10s %-9s %s\n", "peer", "runtime",
	"shape", "median", "min", "max", "metric", "tasks" }
{ printf "%-6s %-16s %-16s %10s %10s %10s %-9s %s\n", f("peer"), f("runtime"),
	f("shape"), f("median"), f("min"), f("max"), f("metric"), f("tasks") }' "$out"
[ -z "$json" ] || cp "$out" "$json"
