#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Build the benchmarks and the peer runtimes (bench/peers/build.sh: Tokio
# and Go from Debian's packages), run them all (about a minute on 2
# cores), print the tables, write the JSON reports and draw the ratios as
# an SVG chart.
#
#   bench/report.sh [-B BUILD_DIR] [-o JSON] [-g SVG] [-T] [-I] [-- rtasync-bench options...]
#
# BUILD_DIR  a release build used only for benchmarks (default build-bench;
#            set up here when missing)
# JSON       default BUILD_DIR/bench-report.json
# SVG        default Documentation/bench-core.svg
# -T         leave out the thread-cost table and the tracer's overhead
# -I         leave out the I/O servers (rtasync-iobench: HTTP and echo
#            against the baselines, nginx, Go and Tokio; about 2.25 min,
#            written to BUILD_DIR/iobench-report.json; needs wrk)
# Arguments after -- go to rtasync-bench (e.g. -- -r 11 -s 0.2 spawn yield).
#
# Needs meson, ninja, a C compiler, liburing, and gnuplot for the chart.
# The peers topic also wants cargo, rustc, librust-tokio-dev and
# golang-go (tools/setup-deps.sh --bench); a peer whose toolchain is
# missing is not built, and its rows say so.
# The thread-cost table (rtasync-threadcost, written to
# BUILD_DIR/threadcost-report.json) also needs the BPF side (clang,
# bpftool, libbpf-dev), root and kernel BTF. Whatever is missing skips
# only its own part, with a message; the report never fails for it.
set -eu

src=$(cd "$(dirname "$0")/.." && pwd)
build=$src/build-bench
json=
svg=$src/Documentation/bench-core.svg

threadcost=yes
iobench=yes

while getopts B:o:g:TIh opt; do
	case $opt in
	B) build=$OPTARG ;;
	o) json=$OPTARG ;;
	g) svg=$OPTARG ;;
	T) threadcost= ;;
	I) iobench= ;;
	h) sed -n '3,29p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
json=${json:-$build/bench-report.json}

# -Dbpf=auto: rtasync-threadcost links the eBPF observer; without clang,
# bpftool or libbpf meson leaves it out and says why (in its log).
if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" "$src" --buildtype=release -Db_sanitize=none \
		-Dbench=enabled -Dtests=disabled -Dbpf=auto >/dev/null
elif [ -n "$threadcost" ] &&
     meson configure "$build" 2>/dev/null | grep -Eq '^ *bpf +disabled'; then
	meson configure "$build" -Dbpf=auto >/dev/null	# an older build-bench
fi
ninja -C "$build" bench/rtasync-bench >/dev/null
# Never fails: a peer that cannot be built leaves its reason for the rows.
"$src/bench/peers/build.sh" "$build/bench/peers"

chart=$build/bench-chart.tsv
"$build/bench/rtasync-bench" -j "$json" --chart-data "$chart" "$@"

if command -v gnuplot >/dev/null 2>&1; then
	mkdir -p "$(dirname "$svg")"
	gnuplot -e "data='$chart'; out='$svg'" "$src/bench/plot.gp"
	echo "chart: $svg"
else
	echo "chart: skipped, gnuplot is not installed (apt-get install gnuplot-nox)" >&2
fi

# The I/O servers (issue 7): librtasync's HTTP and echo servers side by
# side with the baselines and the peers. Never fails the report.
if [ -n "$iobench" ]; then
	echo
	if ! command -v wrk >/dev/null 2>&1; then
		echo "I/O servers: skipped, wrk is not installed (apt-get install wrk)"
	elif ! ninja -C "$build" bench/rtasync-iobench bench/rtasync-httpd \
		bench/rtasync-echo bench/rtasync-baseline >/dev/null; then
		echo "I/O servers: skipped, they failed to build (ninja -C $build bench/rtasync-iobench)"
	else
		"$build/bench/rtasync-iobench" -j "$build/iobench-report.json" ||
			echo "I/O servers: rtasync-iobench exited with status $?"
	fi
fi

# The seeds' thread-cost claim measured by the eBPF observer, and the
# observer's own cost (issue 3). Never fails the report.
[ -n "$threadcost" ] || exit 0
tc_json=$build/threadcost-report.json
echo
if ! ninja -C "$build" -t query bench/rtasync-threadcost >/dev/null 2>&1; then
	why=$(grep -ho 'BPF parts not built.*' "$build/meson-logs/meson-log.txt" 2>/dev/null | tail -n 1)
	echo "thread cost: skipped, rtasync-threadcost is not built: ${why:-the BPF side is disabled in $build}"
	exit 0
fi
if ! ninja -C "$build" bench/rtasync-threadcost bench/sched-overhead \
	bench/rtasync-tracer-workload bench/rtasync-tracer-workload-nc >/dev/null; then
	echo "thread cost: skipped, rtasync-threadcost failed to build (ninja -C $build bench/rtasync-threadcost)"
	exit 0
fi
status=0
"$build/bench/rtasync-threadcost" -j "$tc_json" || status=$?
case $status in
0) ;;
3) echo "thread cost: skipped, loading the eBPF observer needs root (or CAP_BPF+CAP_PERFMON)" ;;
5) echo "thread cost: skipped, the kernel exports no BTF (/sys/kernel/btf/vmlinux)" ;;
*) echo "thread cost: rtasync-threadcost exited with status $status" ;;
esac
exit 0
