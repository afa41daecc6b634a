#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# udev/60-unionblk.rules, run by a real udevd after device-mapper's own
# rules, links a dm device whose UUID starts with "UNIONBLK-" as
# /dev/unionblk/<name>, keeps the link across suspend and resume, removes
# it with the device, and leaves other dm devices alone.  A plain zero
# target stands in for a tenant: the rule looks only at the UUID.

. /tests/lib/guest.sh

require_cmd udevadm
[ -x /usr/lib/systemd/systemd-udevd ] || skip "no systemd-udevd in the guest"
[ -e /usr/lib/udev/rules.d/60-unionblk.rules ] || fail "the rule is not installed"

# With udev running, dmsetup waits for it instead of making nodes itself.
unset DM_DISABLE_UDEV
run /usr/lib/systemd/systemd-udevd --daemon
trap 'udevadm control --exit' EXIT
udevadm settle

run dmsetup create tenant1 --uuid UNIONBLK-tenant1 --table "0 8 zero"
run dmsetup create other --uuid OTHER-other --table "0 8 zero"
udevadm settle
run ls -l /dev/unionblk/
[ "$(readlink -f /dev/unionblk/tenant1)" = "$(readlink -f /dev/mapper/tenant1)" ] ||
	fail "/dev/unionblk/tenant1 does not lead to the device"
[ ! -e /dev/unionblk/other ] || fail "a device without the UUID prefix got a link"

run dmsetup suspend tenant1
run dmsetup resume tenant1
udevadm settle
[ -L /dev/unionblk/tenant1 ] || fail "the link is gone after suspend and resume"

run dmsetup remove tenant1
run dmsetup remove other
udevadm settle
[ ! -e /dev/unionblk/tenant1 ] || fail "the link outlived the device"
