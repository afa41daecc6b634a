# SPDX-License-Identifier: GPL-2.0
#
# The benchmark (bench/run; docs/benchmarks.md says what it measures),
# included by the top Makefile:
#
#   make bench         the whole suite in the test VM, every configuration
#                      in one run (about 30 minutes under TCG)
#   make bench-quick   every part, small and with fewer configurations
#                      (under 5 minutes)
#
# The results go to bench/results/<date>-<mode>/ (results.md first).
# BENCH_KERNEL is the VM's kernel series (6.1 or 6.12, default 6.12);
# BENCH_ARGS passes more options to bench/run (e.g. --parts "101 104").
# On real disks, as root: bench/run --host BASE STORE AUX (it destroys
# their contents; see bench/run --help).

BENCH_KERNEL ?= 6.12
BENCH_ARGS ?=

.PHONY: bench bench-quick

bench: tools
	bash bench/run --full --kernel $(BENCH_KERNEL) $(BENCH_ARGS)

bench-quick: tools
	bash bench/run --quick --kernel $(BENCH_KERNEL) $(BENCH_ARGS)
