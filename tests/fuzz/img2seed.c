// SPDX-License-Identifier: GPL-2.0
/*
 * Turn a store image into a fuzz-store input (see fuzz-store.c), or
 * write the harness's base:
 *   img2seed CTRL < store.img > seed      (CTRL: the control byte, 0-255)
 *   img2seed --base > base.img
 *   img2seed --text CTRL < dump > seed    (control bit 5 is set for you)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK	4096
#define BASE_BYTES (256u << 10)

int main(int argc, char **argv)
{
	static uint8_t img[1u << 20];
	size_t n, b;

	if (argc == 2 && !strcmp(argv[1], "--base")) {
		uint64_t i;

		for (i = 0; i < BASE_BYTES; i++)
			putchar((uint8_t)(i * 131 + (i >> 9)));
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "--text")) {
		int c;

		putchar((atoi(argv[2]) | 0x20) & 0xff);
		while ((c = getchar()) != EOF)
			putchar(c);
		return 0;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: img2seed CTRL < image > seed | --base | --text CTRL\n");
		return 2;
	}
	n = fread(img, 1, sizeof(img), stdin);
	putchar(atoi(argv[1]) & 0xdf);
	for (b = 0; b * BLOCK < n && b < 256; b++) {
		const uint8_t *p = img + b * BLOCK;
		size_t first = 0, last = BLOCK, len, off;

		while (first < BLOCK && !p[first])
			first++;
		if (first == BLOCK)
			continue;
		while (last > first && !p[last - 1])
			last--;
		off = first / 16 * 16;
		len = last - off;
		putchar(b);
		putchar(off / 16);
		putchar(len & 0xff);
		putchar(len >> 8);
		fwrite(p + off, 1, len, stdout);
	}
	return 0;
}
