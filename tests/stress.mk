# SPDX-License-Identifier: GPL-2.0
#
# The long runs; the top Makefile includes this file:
#
#   make stress        the reliability tests (tests/vm/050-069) and the
#                      1,000-tenant test (tests/vm/020) in their long
#                      versions, and the power-cut test ten times
#                      (tests/stress.sh): hours
#   make check-debug   the VM tests on a debug kernel with KASAN, lockdep,
#                      DEBUG_ATOMIC_SLEEP and kmemleak, built from
#                      Debian's linux-source-6.1 and cached under
#                      ~/.cache/unionblk/debug-kernel (tests/debug-kernel.sh):
#                      hours the first time
#
# Variables: KERNELS, STRESS_TESTS, UNIONBLK_POWER_CUT_RUNS (stress);
# TESTS (check-debug); docs/testing.md and docs/reliability.md.

.PHONY: stress check-debug

stress:
	bash tests/stress.sh

check-debug: tools
	@if [ -f tests/helpers/Makefile ]; then $(MAKE) -C tests/helpers; fi
	bash tests/debug-kernel.sh run
