// SPDX-License-Identifier: GPL-2.0
/*
 * Diagnostics: the reason a call failed (diag->err) and the list of
 * problems found in a store, bounded so that a store with millions of
 * bad entries cannot exhaust memory.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libunionblk.h"

void ub_diag_init(struct ub_diag *d)
{
	memset(d, 0, sizeof(*d));
}

void ub_diag_free(struct ub_diag *d)
{
	size_t i;

	for (i = 0; i < d->nr; i++)
		free(d->p[i].msg);
	free(d->p);
	d->p = NULL;
	d->nr = d->alloc = 0;
}

void ub_diag_clear_err(struct ub_diag *d)
{
	if (d)
		d->err[0] = '\0';
}

int ub_fail(struct ub_diag *d, int err, const char *fmt, ...)
{
	va_list ap;

	if (d) {
		va_start(ap, fmt);
		vsnprintf(d->err, sizeof(d->err), fmt, ap);
		va_end(ap);
	}
	return err < 0 ? err : -EINVAL;
}

const char *ub_sev_name(enum ub_sev sev)
{
	switch (sev) {
	case UB_WARN:
		return "warning";
	case UB_ERR:
		return "error";
	case UB_INFO:
		return "info";
	}
	return "?";
}

void ub_problem(struct ub_diag *d, enum ub_sev sev, const char *fmt, ...)
{
	char buf[512];
	size_t limit;
	va_list ap;
	char *msg;

	if (!d)
		return;
	if (sev == UB_ERR)
		d->errors++;
	else if (sev == UB_WARN)
		d->warnings++;
	else
		d->infos++;

	limit = d->limit ? d->limit : UB_DIAG_DEFAULT_LIMIT;
	if (d->nr >= limit) {
		d->dropped++;
		return;
	}
	if (d->nr == d->alloc) {
		size_t n = d->alloc ? d->alloc * 2 : 16;
		struct ub_problem *p = realloc(d->p, n * sizeof(*p));

		if (!p) {
			d->dropped++;
			return;
		}
		d->p = p;
		d->alloc = n;
	}
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	msg = strdup(buf);
	if (!msg) {
		d->dropped++;
		return;
	}
	d->p[d->nr].sev = sev;
	d->p[d->nr].msg = msg;
	d->nr++;
}
