#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The unionblk command line itself: help, version, usage errors.
. "$(dirname "$0")/../lib/tap.sh"
U=${UNIONBLK:?set UNIONBLK to the unionblk binary}

t "--help lists every command" bash -c "'$U' --help | grep -q '^ check' && '$U' --help | grep -q '^ repair'"
t "--version prints the version" bash -c "'$U' --version | grep -Eq '^unionblk [0-9]+\.[0-9]+\.[0-9]+'"
t "help CMD shows the command's options" bash -c "'$U' help format | grep -q -- '--chunk-size'"
t "CMD --help shows the same" bash -c "diff <('$U' help check) <('$U' check --help)"
t "no command is a usage error (2)" expect_rc 2 "$U"
t "an unknown command is a usage error (2)" expect_rc 2 "$U" frobnicate
t "an unknown option is a usage error (2)" expect_rc 2 "$U" check --bogus x
t "a missing STORE is a usage error (2)" expect_rc 2 "$U" check
t "format without --base is a usage error (2)" expect_rc 2 "$U" format /nonexistent
t "a bad --chunk-size is a usage error (2)" expect_rc 2 "$U" format x --base y --chunk-size 3k
t "a missing store is a failure (3)" expect_rc 3 "$U" dump /nonexistent/store
t "usage errors point at --help" bash -c "'$U' check 2>&1 | grep -q \"Try 'unionblk check --help'\""
t_done
