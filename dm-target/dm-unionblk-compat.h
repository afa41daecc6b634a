/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm-unionblk kernel compatibility: every API difference between the
 * kernels we build for (Debian 12's 6.1 and Debian 13's 6.12) is handled
 * here, from the results compat-probe.sh wrote to compat-probed.h.
 */
#ifndef DM_UNIONBLK_COMPAT_H
#define DM_UNIONBLK_COMPAT_H

#include <linux/blkdev.h>
#include <linux/device-mapper.h>
#include <linux/dm-io.h>

#include "compat-probed.h"

/* The write bit of a table's open mode: fmode_t before 6.5 */
#ifdef UB_HAVE_BLK_OPEN_WRITE
#define UB_OPEN_WRITE	BLK_OPEN_WRITE
#else
#define UB_OPEN_WRITE	FMODE_WRITE
#endif

/*
 * Ask dm core to split discards on max_discard_sectors boundaries where it
 * can (6.3 on); the worker handles a discard spanning many chunks anyway.
 */
static inline void ub_compat_split_discards(struct dm_target *ti)
{
#ifdef UB_HAVE_TI_MAX_DISCARD_GRANULARITY
	ti->max_discard_granularity = true;
#endif
}

/* dm_io() grew an I/O priority argument */
static inline int ub_compat_dm_io(struct dm_io_request *req,
				  unsigned int num_regions,
				  struct dm_io_region *where,
				  unsigned long *error_bits)
{
#ifdef UB_HAVE_DM_IO_IOPRIO
	return dm_io(req, num_regions, where, error_bits, 0);
#else
	return dm_io(req, num_regions, where, error_bits);
#endif
}

#endif /* DM_UNIONBLK_COMPAT_H */
