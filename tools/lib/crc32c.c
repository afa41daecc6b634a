// SPDX-License-Identifier: GPL-2.0
/*
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of
 * every dm-unionblk metadata block and of the base fingerprint.  A
 * slicing-by-8 table implementation, and the SSE4.2 crc32 instruction
 * where the CPU has it; both give the same result.
 */
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "libunionblk.h"

#define CRC32C_POLY	0x82F63B78U

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static bool have_sse42;

static void crc_init(void)
{
	uint32_t i, j, c;

	for (i = 0; i < 256; i++) {
		c = i;
		for (j = 0; j < 8; j++)
			c = (c >> 1) ^ ((c & 1) ? CRC32C_POLY : 0);
		crc_table[0][i] = c;
	}
	for (i = 0; i < 256; i++) {
		c = crc_table[0][i];
		for (j = 1; j < 8; j++) {
			c = crc_table[0][c & 0xff] ^ (c >> 8);
			crc_table[j][i] = c;
		}
	}
#if defined(__x86_64__)
	__builtin_cpu_init();
	have_sse42 = __builtin_cpu_supports("sse4.2");
#endif
}

static uint32_t crc_sw(uint32_t crc, const uint8_t *p, size_t len)
{
	while (len && ((uintptr_t)p & 7)) {
		crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
		len--;
	}
	while (len >= 8) {
		uint32_t lo = ub_le32(p) ^ crc;
		uint32_t hi = ub_le32(p + 4);

		crc = crc_table[7][lo & 0xff] ^
		      crc_table[6][(lo >> 8) & 0xff] ^
		      crc_table[5][(lo >> 16) & 0xff] ^
		      crc_table[4][lo >> 24] ^
		      crc_table[3][hi & 0xff] ^
		      crc_table[2][(hi >> 8) & 0xff] ^
		      crc_table[1][(hi >> 16) & 0xff] ^
		      crc_table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t crc_hw(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = crc;

	while (len && ((uintptr_t)p & 7)) {
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
		len--;
	}
	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return (uint32_t)c;
}
#endif

uint32_t ub_crc32c_update(uint32_t crc, const void *p, size_t len)
{
	pthread_once(&crc_once, crc_init);
#if defined(__x86_64__)
	if (have_sse42)
		return crc_hw(crc, p, len);
#endif
	return crc_sw(crc, p, len);
}

uint32_t ub_crc32c(const void *p, size_t len)
{
	return ~ub_crc32c_update(~0U, p, len);
}

uint32_t ub_crc32c_sw(const void *p, size_t len)
{
	pthread_once(&crc_once, crc_init);
	return ~crc_sw(~0U, p, len);
}
