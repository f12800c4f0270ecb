#!/bin/sh
# SPDX-License-Identifier: MIT
#
# What the tracer's parts cost the runtime, in instructions: the same
# three builds as rtasync-threadcost's "runtime" topic (no counters;
# counters; counters and events recorded), each workload run under
# callgrind at two sizes, so that set-up and tear-down cancel:
#
#   instructions per op = (Ir(2N) - Ir(N)) / (6 N)
#
# (each run is a warm-up round and five measured rounds of N ops).
# Instruction counts repeat to the instruction under any machine load,
# where wall-clock ratios on a shared 2-vCPU VM move by more than these
# costs; the rtasync-threadcost rows are the wall-clock check.
#
#   bench/rtcost-callgrind.sh [-B BUILD_DIR] [-j JSON] [WORKLOAD[:N]...]
#
# WORKLOAD is yield (default N 200000), spawn (100000), timer (2000:
# a timer wait's instructions include the worker's idle polling, so its
# count moves by a few percent from run to run) or io (20000 round
# trips of two waits; like timer, it includes the idle worker's polling,
# and not what the kernel does).  Needs valgrind and a
# build with -Dbench=enabled.
set -eu

src=$(cd "$(dirname "$0")/.." && pwd)
build=$src/build
json=
while getopts B:j:h opt; do
	case $opt in
	B) build=$OPTARG ;;
	j) json=$OPTARG ;;
	h) sed -n '3,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || set -- yield spawn timer io

command -v valgrind >/dev/null || { echo "$0: needs valgrind" >&2; exit 1; }
wl_dir=$build/bench
[ -x "$wl_dir/rtasync-tracer-workload" ] ||
	{ echo "$0: no $wl_dir/rtasync-tracer-workload (meson -Dbench=enabled)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Ir of one run: variant (none|counters|events), workload, n.
ir() {
	exe=$wl_dir/rtasync-tracer-workload
	extra=
	case $1 in
	none) exe=$exe-nc ;;
	events) extra=events ;;
	esac
	echo g | valgrind --tool=callgrind --callgrind-out-file="$tmp/cg" \
		"$exe" "$2" "$3" $extra >/dev/null 2>"$tmp/log" ||
		{ cat "$tmp/log" >&2; exit 1; }
	sed -n 's/^summary: //p' "$tmp/cg"
}

default_n() {
	case $1 in
	yield) echo 200000 ;;
	spawn) echo 100000 ;;
	io) echo 20000 ;;
	*) echo 2000 ;;
	esac
}

printf '%-8s %10s %12s %12s %12s %10s %10s\n' WORKLOAD N none counters \
	events counters/none events/counters
[ -z "$json" ] || printf '{"benchmark":"rtcost-callgrind","rows":[' >"$json"
sep=
for arg; do
	wl=${arg%%:*}
	n=${arg#*:}
	[ "$n" != "$arg" ] || n=$(default_n "$wl")
	for v in none counters events; do
		a=$(ir $v "$wl" "$n")
		b=$(ir $v "$wl" $((2 * n)))
		eval "per_$v=\$(echo \"scale=2; ($b - $a) / (6 * $n)\" | bc)"
	done
	r1=$(echo "scale=4; $per_counters / $per_none" | bc)
	r2=$(echo "scale=4; $per_events / $per_counters" | bc)
	printf '%-8s %10s %12s %12s %12s %10s %10s\n' "$wl" "$n" \
		"$per_none" "$per_counters" "$per_events" "$r1" "$r2"
	[ -z "$json" ] || printf '%s{"workload":"%s","n":%s,"ir_per_op":{"none":%s,"counters":%s,"events":%s},"counters_ratio":%s,"events_ratio":%s}' \
		"$sep" "$wl" "$n" "$per_none" "$per_counters" "$per_events" "$r1" "$r2" >>"$json"
	sep=,
done
[ -z "$json" ] || printf ']}\n' >>"$json"
echo "instructions per op (callgrind Ir, (Ir(2N) - Ir(N)) / 6N)"
