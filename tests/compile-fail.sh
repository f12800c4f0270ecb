#!/bin/sh
# SPDX-License-Identifier: MIT
#
# compile-fail.sh INCLUDE_DIR SOURCE MESSAGE CC...
#
# SOURCE must fail to compile with MESSAGE among the errors, and compile
# with -DFRAME_FIRST (the control: the failure is the check, not a typo).
set -u
inc=$1
src=$2
msg=$3
shift 3

if ! "$@" -std=gnu11 -fsyntax-only -DFRAME_FIRST -I"$inc" "$src"; then
	echo "the control (-DFRAME_FIRST) does not compile"
	exit 1
fi
if out=$("$@" -std=gnu11 -fsyntax-only -I"$inc" "$src" 2>&1); then
	echo "$src compiled; it must not"
	exit 1
fi
if ! printf '%s\n' "$out" | grep -qF "$msg"; then
	printf 'failed, but not with "%s":\n%s\n' "$msg" "$out"
	exit 1
fi
echo "rejected: $msg"
