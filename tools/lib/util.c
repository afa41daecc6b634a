// SPDX-License-Identifier: GPL-2.0
/* Small helpers shared by the library and the tools. */
#include <stdio.h>
#include <string.h>

#include "libunionblk.h"

void ub_uuid_unparse(const uint8_t u[16], char out[37])
{
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9],
		 u[10], u[11], u[12], u[13], u[14], u[15]);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int ub_uuid_parse(const char *in, uint8_t u[16])
{
	int i = 0;

	while (*in && i < 32) {
		int h;

		if (*in == '-' && (i == 8 || i == 12 || i == 16 || i == 20)) {
			in++;
			continue;
		}
		h = hexval(*in++);
		if (h < 0)
			return -1;
		if (i & 1)
			u[i / 2] |= h;
		else
			u[i / 2] = h << 4;
		i++;
	}
	return (i == 32 && !*in) ? 0 : -1;
}

void ub_name_get(const char name[UB_NAME_LEN], char out[UB_NAME_LEN + 1])
{
	memcpy(out, name, UB_NAME_LEN);
	out[UB_NAME_LEN] = '\0';
}
