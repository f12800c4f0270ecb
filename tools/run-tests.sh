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
#   build-tsan/  ThreadSanitizer build: unit, stress, with glibc's rseq off
#                (TSan cannot follow an rseq critical section: the kernel
#                restarts it behind TSan's back). A report fails the run
#                unless tools/tsan-open-races.txt lists it as a known open
#                race, which is printed, loudly, every time.
#   valgrind     memcheck over the single-worker, misuse, fiber and I/O tests
#                (valgrind has no rseq, so these run in the atomic fallback)
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
	# meson configure, not setup --reconfigure: meson 1.0 ignores a
	# changed c_args on --reconfigure
	if [ -f "$dir/build.ninja" ]; then
		meson configure "$dir" "$@" >/dev/null
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
	# allocator_may_return_null: tests ask for absurd sizes (a 1 TiB
	# frame) and expect -ENOMEM, as glibc's malloc gives
	run ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
		-- -C build-asan --suite unit \
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

# Reports go to files, not to the tests' exit status: each is matched
# against the open races, and any other one counts as a failure.
tsan_reports() {
	logs=$1
	cat "$logs"/report.* 2>/dev/null >"$logs/all"
	# one line per distinct report: how often, and its SUMMARY
	grep '^SUMMARY: ThreadSanitizer' "$logs/all" | sort | uniq -c |
		sort -rn >"$logs/summaries"
	grep -v '^#' "$src/tools/tsan-open-races.txt" | cut -f1 |
		grep -v '^$' >"$logs/open"
	known=0
	while read -r count summary; do
		if echo "$summary" | grep -qEf "$logs/open"; then
			known=$((known + 1))
			echo "TSAN OPEN RACE (known, not failing) x$count: $summary"
		else
			failed=$((failed + 1))
			echo "TSAN REPORT (fails the run) x$count: $summary"
		fi
	done <"$logs/summaries"
	if [ "$known" -gt 0 ]; then
		echo "TSAN: $known distinct report(s) of open races listed in" \
			"tools/tsan-open-races.txt: real races, not fixed yet"
	fi
	if [ -s "$logs/summaries" ]; then
		cp "$logs/all" "$src/build-tsan/tsan-reports.txt"
		echo "TSAN: full reports in build-tsan/tsan-reports.txt"
	fi
}

# gcc warns that TSan does not model atomic_thread_fence. The fences are
# the trace ring's release fence (runtime/trace_step.h, read by another
# process) and its in-process reader in tests/test_trace.c, which reads
# after a join; and the wake-up pairs' fences (rt_fence_fast() and
# rt_fence_slow(), internal.h and park.c).
if setup build-tsan -Db_sanitize=thread -Dbuildtype=debugoptimized \
	-Dc_args=-Wno-tsan -Dbench=disabled -Dbpf=disabled; then
	logs=$(mktemp -d)
	run GLIBC_TUNABLES=glibc.pthread.rseq=0 \
		"TSAN_OPTIONS=exitcode=0:allocator_may_return_null=1:log_path=$logs/report:suppressions=$src/tools/tsan.supp" \
		-- -C build-tsan --suite unit --suite stress --no-suite norseq \
		--no-suite eventfd
	tsan_reports "$logs"
	rm -rf "$logs"
else
	echo "build-tsan/ failed to build"
	failed=$((failed + 1))
fi

run GLIBC_TUNABLES=glibc.pthread.rseq=0 -- -C build --suite unit \
	--no-suite norseq \
	--wrap='valgrind -q --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite' \
	continuations misuse fiber fiber_sync io source

echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
