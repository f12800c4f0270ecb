#!/bin/sh
# SPDX-License-Identifier: MIT
#
# The test command: install what is missing, build, and run every suite.
#
#   tools/run-tests.sh
#
#   build/       release build: suites unit, stress, norseq (the same tests
#                with glibc's rseq registration off), bpf (real eBPF, root),
#                fuzz (rtasync-trace against hostile trace areas)
#   build-asan/  ASan+UBSan build: unit, stress, norseq
#   build-fuzz/  ASan+UBSan build of rtasync-trace: fuzz (hostile areas)
#   valgrind     memcheck over the single-worker and misuse tests (valgrind
#                has no rseq, so these run in the atomic fallback)
#
# Ends with one line "tests: N passed, N failed"; exits non-zero on failure.
set -u

src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src" || exit 1
"$src/tools/setup-deps.sh" || exit 1

# bpftrace (the USDT test's witness) wants tracefs
mountpoint -q /sys/kernel/tracing 2>/dev/null ||
	mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true

passed=0
failed=0

# meson test prints "Ok: N" and "Fail: N" (and "Timeout: N") at the end.
tally() {
	log=$1
	ok=$(sed -n 's/^Ok: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
	bad=$(sed -n 's/^\(Fail\|Timeout\|Unexpected Pass\): *\([0-9]*\).*/\2/p' \
		"$log" | awk '{ s += $1 } END { print s + 0 }')
	passed=$((passed + ${ok:-0}))
	failed=$((failed + bad))
	if [ -z "$ok" ] && [ "$bad" -eq 0 ]; then
		failed=$((failed + 1))	# meson did not even get to run
	fi
}

setup() {
	dir=$1
	shift
	# the tool's binary was $dir/tools/rtasync-trace before its sources
	# moved into tools/rtasync-trace/, which is now a build directory
	[ -f "$dir/tools/rtasync-trace" ] && rm -f "$dir/tools/rtasync-trace"
	if [ -f "$dir/build.ninja" ]; then
		meson setup --reconfigure "$dir" "$@" >/dev/null
	else
		meson setup "$dir" "$@" >/dev/null
	fi && ninja -C "$dir" >/dev/null
}

# run ENV... -- MESON_TEST_ARGS...
run() {
	envs=
	while [ "$1" != "--" ]; do
		envs="$envs $1"
		shift
	done
	shift
	log=$(mktemp)
	echo "==$envs meson test $*"
	# shellcheck disable=SC2086 # envs are words by design
	env $envs meson test --print-errorlogs "$@" 2>&1 | tee "$log" | grep -E \
		'^ *[0-9]+/[0-9]+ |^(Ok|Fail|Skipped|Timeout):|^-+ (stdout|stderr)|ERROR|FAILED|SKIPPED|skip'
	tally "$log"
	rm -f "$log"
}

if setup build; then
	run -- -C build
else
	echo "build/ failed to build"
	failed=$((failed + 1))
fi

if setup build-asan -Db_sanitize=address,undefined -Dbench=disabled \
	-Dbpf=disabled; then
	run ASAN_OPTIONS=detect_leaks=1 -- -C build-asan --suite unit \
		--suite stress
else
	echo "build-asan/ failed to build"
	failed=$((failed + 1))
fi

# rtasync-trace against hostile trace areas, under ASan+UBSan
if setup build-fuzz -Db_sanitize=address,undefined -Dbench=disabled; then
	run -- -C build-fuzz --suite fuzz
else
	echo "build-fuzz/ failed to build"
	failed=$((failed + 1))
fi

run GLIBC_TUNABLES=glibc.pthread.rseq=0 -- -C build --suite unit \
	--no-suite norseq \
	--wrap='valgrind -q --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite' \
	continuations misuse

echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
