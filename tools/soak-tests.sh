#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Flake hunting, not CI: run the unit and stress suites N times in a row
# while busy loops keep every CPU loaded, and report each run that failed
# and which tests failed in it.
#
#   tools/soak-tests.sh [-n N] [-b BUSY] [-C BUILDDIR] [-- MESON_TEST_ARGS...]
#
#   -n N        runs (default 20)
#   -b BUSY     busy-loop processes (default: one per online CPU)
#   -C DIR      build directory (default build/, built if needed)
#   MESON_TEST_ARGS replace the default "--suite unit --suite stress"
#
# A test that depends on timing shows up here: the busy loops take the
# CPU away from workers and from the test's own thread at any moment.
# Logs of failed runs are kept in DIR/soak/run-K.log.
# Ends with "soak: N runs, N failed" and exits non-zero if any failed.
set -u

src=$(cd "$(dirname "$0")/.." && pwd)
runs=20
busy=$(nproc)
dir=build

while getopts n:b:C: opt; do
	case $opt in
	n) runs=$OPTARG ;;
	b) busy=$OPTARG ;;
	C) dir=$OPTARG ;;
	*) sed -n '5,11s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ "${1:-}" = "--" ] && shift
if [ $# -eq 0 ]; then
	set -- --suite unit --suite stress
fi

cd "$src" || exit 1
if [ ! -f "$dir/build.ninja" ]; then
	meson setup "$dir" >/dev/null || exit 1
fi
ninja -C "$dir" >/dev/null || exit 1
mkdir -p "$dir/soak"

pids=
stop_busy() {
	for p in $pids; do
		kill "$p" 2>/dev/null
	done
	wait 2>/dev/null
}
trap 'stop_busy; exit 130' INT TERM
trap stop_busy EXIT

# Plain shell loops: no package needed, and each keeps one CPU busy at
# the normal priority, competing with workers and the test thread alike.
i=0
while [ "$i" -lt "$busy" ]; do
	sh -c 'while :; do :; done' &
	pids="$pids $!"
	i=$((i + 1))
done
echo "soak: $runs runs of meson test $* with $busy busy loops"

failed=0
k=1
while [ "$k" -le "$runs" ]; do
	log="$dir/soak/run-$k.log"
	start=$(date +%s)
	if meson test -C "$dir" --print-errorlogs "$@" >"$log" 2>&1; then
		echo "run $k: ok ($(($(date +%s) - start)) s)"
		rm -f "$log"
	else
		failed=$((failed + 1))
		bad=$(sed -n 's/^ *[0-9]*\/[0-9]* \([^ ]* \/ [^ ]*\) *\(FAIL\|TIMEOUT\).*/\1 \2/p' \
			"$log" | sort -u | tr '\n' ',' | sed 's/,$//; s/,/, /g')
		echo "run $k: FAILED: ${bad:-see log} (log: $log)"
	fi
	k=$((k + 1))
done

echo "soak: $runs runs, $failed failed"
[ "$failed" -eq 0 ]
