// SPDX-License-Identifier: GPL-2.0
/* CRC-32C: the known check vector, and hardware == table code. */
#include <stdlib.h>
#include <string.h>

#include "ubtest.h"

static void crc32c_known_vector(void **state)
{
	(void)state;
	assert_int_equal(ub_crc32c("123456789", 9), 0xE3069283);
	assert_int_equal(ub_crc32c_sw("123456789", 9), 0xE3069283);
}

static void crc32c_empty_is_zero(void **state)
{
	(void)state;
	assert_int_equal(ub_crc32c("", 0), 0);
}

/* RFC 3720 B.4: 32 bytes of zeroes, of 0xff, and ascending. */
static void crc32c_iscsi_vectors(void **state)
{
	uint8_t buf[32];
	int i;

	(void)state;
	memset(buf, 0, sizeof(buf));
	assert_int_equal(ub_crc32c(buf, 32), 0x8A9136AA);
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(ub_crc32c(buf, 32), 0x62A8AB43);
	for (i = 0; i < 32; i++)
		buf[i] = i;
	assert_int_equal(ub_crc32c(buf, 32), 0x46DD794E);
}

static void crc32c_hw_matches_table_any_alignment(void **state)
{
	uint8_t buf[5000];
	size_t i, off, len;

	(void)state;
	srand(42);
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = rand();
	for (off = 0; off < 9; off++)
		for (len = 0; len < 300; len += 7)
			assert_int_equal(ub_crc32c(buf + off, len),
					 ub_crc32c_sw(buf + off, len));
	assert_int_equal(ub_crc32c(buf, sizeof(buf)),
			 ub_crc32c_sw(buf, sizeof(buf)));
}

static void crc32c_update_chains(void **state)
{
	const char *s = "123456789";
	uint32_t c = ~0U;

	(void)state;
	c = ub_crc32c_update(c, s, 4);
	c = ub_crc32c_update(c, s + 4, 5);
	assert_int_equal(~c, 0xE3069283);
}

static void block_csum_covers_bytes_8_to_end(void **state)
{
	uint8_t blk[UB_BLOCK_SIZE];

	(void)state;
	memset(blk, 0xa5, sizeof(blk));
	ub_block_finish(blk, 7, 3, UB_BT_MAP);
	assert_int_equal(ub_le32(blk + 4), ub_crc32c(blk + 8, UB_BLOCK_SIZE - 8));
	blk[0] ^= 1;	/* magic is not covered */
	assert_int_equal(ub_le32(blk + 4), ub_block_csum(blk));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(crc32c_known_vector),
		cmocka_unit_test(crc32c_empty_is_zero),
		cmocka_unit_test(crc32c_iscsi_vectors),
		cmocka_unit_test(crc32c_hw_matches_table_any_alignment),
		cmocka_unit_test(crc32c_update_chains),
		cmocka_unit_test(block_csum_covers_bytes_8_to_end),
	};

	return cmocka_run_group_tests_name("crc32c", tests, NULL, NULL);
}
