/* fuzz-util.c: see fuzz.h. Test code: a harness failure aborts. */
#include "fuzz.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fuzz_fail(const char *file, int line, const char *cond,
	       const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%d: invariant failed: %s: ", file, line, cond);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	abort();
}

int fuzz_ref_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp)
{
	static const uint32_t min_cp[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	uint32_t v;
	int len;

	if (n == 0)
		return 0;
	if ((s[0] & 0x80) == 0x00) {
		len = 1, v = s[0];
	} else if ((s[0] & 0xe0) == 0xc0) {
		len = 2, v = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3, v = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4, v = s[0] & 0x07;
	} else {
		return 0;   /* a continuation byte or 0xf8..0xff */
	}
	if ((size_t)len > n)
		return 0;
	for (int k = 1; k < len; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (s[k] & 0x3f);
	}
	/* Overlong forms, UTF-16 surrogates and values past Unicode. */
	if (v < min_cp[len] || (v >= 0xd800 && v <= 0xdfff) || v > 0x10ffff)
		return 0;
	*cp = v;
	return len;
}

int fuzz_ref_utf8_valid(const uint8_t *s, size_t n, size_t *bad)
{
	size_t i = 0;
	uint32_t cp;

	while (i < n) {
		int len = fuzz_ref_utf8_decode(s + i, n - i, &cp);

		if (len == 0) {
			if (bad != NULL)
				*bad = i;
			return 0;
		}
		i += (size_t)len;
	}
	return 1;
}

long long fuzz_msg_number(const char *msg, const char *key)
{
	const char *p = strstr(msg, key);
	char *end;
	long long v;

	if (p == NULL)
		return -1;
	p += strlen(key);
	if (*p < '0' || *p > '9')
		return -1;
	v = strtoll(p, &end, 10);
	return end == p ? -1 : v;
}
