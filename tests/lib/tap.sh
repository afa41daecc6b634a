# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# Minimal TAP for shell tests: source it, call `t NAME CMD...` or
# `t_ok NAME` / `t_fail NAME WHY`, end with `t_done`.
T_N=0
T_FAILED=0

t_ok() {
	T_N=$((T_N + 1))
	echo "ok $T_N - $1"
}

t_fail() {
	T_N=$((T_N + 1))
	T_FAILED=$((T_FAILED + 1))
	echo "not ok $T_N - $1"
	shift
	[ $# -gt 0 ] && echo "# $*"
	return 0
}

t_skip() {
	T_N=$((T_N + 1))
	echo "ok $T_N - $1 # SKIP ${2:-}"
}

# t NAME CMD...: passes when CMD exits 0; its output is shown on failure
t() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then
		t_ok "$name"
	else
		t_fail "$name" "command: $*"
		printf '%s\n' "$out" | sed 's/^/#   /'
	fi
}

# expect_rc RC CMD...: run CMD, succeed iff it exits with RC
expect_rc() {
	local want=$1 rc
	shift
	"$@" >/dev/null 2>&1
	rc=$?
	[ "$rc" -eq "$want" ] || { echo "exit $rc, expected $want: $*"; return 1; }
}

t_done() {
	echo "1..$T_N"
	[ "$T_FAILED" -eq 0 ]
}
