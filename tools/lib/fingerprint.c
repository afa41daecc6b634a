// SPDX-License-Identifier: GPL-2.0
/*
 * The base fingerprint: standard CRC-32C of UB_FP_SAMPLES samples of
 * min(UB_FP_SAMPLE_SIZE, size) bytes at ub_fp_sample_offset(), in order.
 * It tells a store's base from a different or modified one cheaply.
 */
#include <errno.h>
#include <string.h>

#include "libunionblk.h"

int ub_fingerprint(int fd, uint64_t bytes, uint32_t *fp, struct ub_diag *d)
{
	uint8_t buf[UB_FP_SAMPLE_SIZE];
	size_t len = bytes < UB_FP_SAMPLE_SIZE ? bytes : UB_FP_SAMPLE_SIZE;
	uint32_t crc = ~0U;
	unsigned int i;
	int r;

	for (i = 0; i < UB_FP_SAMPLES; i++) {
		uint64_t off = ub_fp_sample_offset(bytes, i);

		r = ub_pread(fd, buf, len, off);
		if (r)
			return ub_fail(d, r, "reading base fingerprint sample %u: %s",
				       i, strerror(-r));
		crc = ub_crc32c_update(crc, buf, len);
	}
	*fp = ~crc;
	return 0;
}
