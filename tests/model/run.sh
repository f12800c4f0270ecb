#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Exhaustive model checks of the wake and join protocols (tests/model/*.pml)
# with spin: each case is generated, compiled and verified to the end of
# its state space. A case expected to pass must report "errors: 0"; a bug
# injected on purpose must be caught, or the check proves nothing.
#
# usage: tests/model/run.sh [-v]    (exit 0 pass, 77 skip, 1 fail)
set -u

here=$(cd "$(dirname "$0")" && pwd)
verbose=${1:-}

if ! command -v spin >/dev/null 2>&1; then
	echo "model: SKIP: spin is not installed (apt-get install spin)"
	exit 77
fi
cc=${CC:-gcc}
if ! command -v "$cc" >/dev/null 2>&1; then
	echo "model: SKIP: no C compiler ($cc) to build spin's verifier"
	exit 77
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

pass=0
fail=0

# case NAME MODEL EXPECT DEFINES...
#   EXPECT: pass (no error), fail (an injected bug, must be found) or
#   known (a problem found in the code and not fixed yet: reported, and
#   the run says so when it stops reproducing).
check() {
	name=$1 model=$2 expect=$3
	shift 3
	dir=$work/$name
	mkdir -p "$dir"
	cp "$here/$model.pml" "$dir/"
	start=$(date +%s.%N)
	if ! (cd "$dir" && spin "$@" -a "$model.pml" >spin.log 2>&1 &&
	      "$cc" -w -O2 -DSAFETY -o pan pan.c >cc.log 2>&1); then
		echo "model: FAIL $name: spin or $cc failed (see below)"
		cat "$dir/spin.log" "$dir/cc.log" 2>/dev/null | tail -5
		fail=$((fail + 1))
		return
	fi
	# -m: depth bound well above any run of these models; pan says
	# "errors: N" at the end of the whole exploration.
	(cd "$dir" && ./pan -m200000 >pan.log 2>&1)
	end=$(date +%s.%N)
	errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$dir/pan.log")
	states=$(awk '/states, stored/ { print $1; exit }' "$dir/pan.log")
	secs=$(echo "$end $start" | awk '{ printf "%.1f", $1 - $2 }')
	if grep -q "depth too small" "$dir/pan.log"; then
		errors=""	# truncated search: no verdict
	fi
	what="states=${states:-?} errors=${errors:-?} ${secs}s"
	case $expect:${errors:-x} in
	pass:0)
		verdict=ok ;;
	fail:0 | known:0)
		verdict="FAIL ($expect expected, spin found nothing)" ;;
	fail:[1-9]* | known:[1-9]*)
		verdict="ok ($expect: caught)" ;;
	*)
		verdict=FAIL ;;
	esac
	case $verdict in
	ok*)	pass=$((pass + 1)) ;;
	*)	fail=$((fail + 1)) ;;
	esac
	echo "model: $name: $what: $verdict"
	if [ -n "$verbose" ] || [ "${verdict%% *}" = FAIL ]; then
		grep -E "pan:[0-9]|violated|invalid end" "$dir/pan.log" | head -3
	fi
}

# park/wake: runtime/park.c, balance.c, worker.c (see park_wake.pml).
# The code clears wake_pending on entering a park (CLEAR_AT_PARK) since
# spin found the lost wake-up of park_wake_before_fix.
check park_wake           park_wake pass -DCLEAR_AT_PARK
check park_wake_msgfail   park_wake pass -DCLEAR_AT_PARK -DFAULT_MSG_RING
check park_wake_nosqe     park_wake pass -DCLEAR_AT_PARK -DFAULT_NO_SQE
check park_wake_before_fix   park_wake fail
check park_wake_bug_recheck  park_wake fail -DCLEAR_AT_PARK -DBUG_NO_RECHECK
check park_wake_bug_fallback park_wake fail -DCLEAR_AT_PARK \
	-DFAULT_MSG_RING -DBUG_NO_FALLBACK

# join/cancel/complete: runtime/task.c (see join_cancel.pml). The code
# has the commit's reference and RT_TF_COMMITTING (FIX_COMMITTING) since
# spin found the late CAS and the leak of the *_before_fix cases.
check join_cancel         join_cancel pass -DFIX_COMMITTING
check join_cancel_norejoin join_cancel pass -DFIX_COMMITTING -DNO_REJOIN
check join_cancel_rejoin_before_fix join_cancel fail -DFIX_COMMIT_UNREF
check join_cancel_leak_before_fix   join_cancel fail -DNO_REJOIN
check join_cancel_bug_wake join_cancel fail -DFIX_COMMIT_UNREF -DNO_REJOIN \
	-DBUG_WAKE_NO_CLEAR

# a wait on a wait queue vs its waker, deadline and cancel:
# runtime/waitq.c (see wait_claim.pml)
check wait_claim        wait_claim pass
check wait_claim_nodeadline wait_claim pass -DNO_TIMER
check wait_claim_bug_flag wait_claim fail -DNO_TIMER -DBUG_FLAG_BEFORE_ARM
check wait_claim_bug_handshake wait_claim fail -DBUG_NO_HANDSHAKE
check wait_claim_bug_unclaimed wait_claim fail -DBUG_GIVE_UNCLAIMED
check wait_claim_bug_owned wait_claim fail -DBUG_OWNED_EARLY
check wait_claim_held   wait_claim pass -DNO_TIMER -DHELD
check wait_claim_held_bug_flag wait_claim fail -DNO_TIMER -DHELD \
	-DBUG_HELD_FLAG_FIRST

# a select with an I/O arm vs the kernel, its ring's owner, a waker, the
# deadline and a cancel: runtime/waitq.c, io.c (see select_io.pml)
check select_io           select_io pass
check select_io_nodeadline select_io pass -DNO_TIMER
check select_io_bug_count select_io fail -DBUG_NO_IO_COUNT
check select_io_bug_kick  select_io fail -DBUG_NO_KICK

# a pusher that counted on a spinner vs that spinner finding other work:
# runtime/balance.c, stop_spinning() (see spin_watch.pml)
check spin_watch         spin_watch pass
check spin_watch_bug_no_baton spin_watch fail -DBUG_NO_BATON

# the same with four workers and two pushes: a worker back from a park
# spins until it finds work (see baton4.pml)
check baton4             baton4 pass
check baton4_bug_no_woken_spin baton4 fail -DBUG_NO_WOKEN_SPIN

echo "model: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
