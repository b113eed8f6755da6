/*
 * check.h: what the formats tests share: the assertion macro (report the
 * file, line and expression, count the failure, go on), reading a file,
 * and the deterministic fake translator.
 */
#ifndef FORMATS_TEST_CHECK_H
#define FORMATS_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats.h"

static int check_failures;

#define CHECK(cond, ...)                                                    \
	do {                                                                \
		if (!(cond)) {                                              \
			check_failures++;                                   \
			fprintf(stderr, "%s:%d: FAILED %s: ", __FILE__,     \
				__LINE__, #cond);                           \
			fprintf(stderr, __VA_ARGS__);                       \
			fputc('\n', stderr);                                \
		}                                                           \
	} while (0)

/* Reads a whole file; NULL on failure (with a message). */
static inline char *test_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, r;
	if (f == NULL) {
		perror(path);
		return NULL;
	}
	do {
		if (n + 4096 + 1 > cap) {
			cap = (n + 4096 + 1) * 2;
			char *nb = realloc(buf, cap);
			if (nb == NULL) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
	} while (r > 0);
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/*
 * The fake translator: protects the placeholders, upper-cases ASCII
 * letters and wraps the text in « », then restores. Deterministic, and it
 * changes every piece, so a test sees what moved. Returns a malloc'd
 * string, NULL on failure; *ok is 0 if the restore reported damage.
 */
static inline char *test_fake_translate(const char *text, size_t len,
					int format, size_t *out_len, int *ok)
{
	fmt_protected *p = NULL;
	fmt_report r;
	size_t pl, n = 0, rl;
	char *restored = NULL;
	*ok = 0;
	if (fmt_protect(text, len, format, &p, NULL) != 0)
		return NULL;
	const char *pt = fmt_protected_text(p, &pl);
	char *t = malloc(pl + 5);
	if (t == NULL) {
		fmt_protected_free(p);
		return NULL;
	}
	memcpy(t + n, "\xC2\xAB", 2);
	n += 2;
	for (size_t i = 0; i < pl; i++) {
		char c = pt[i];
		t[n++] = c >= 'a' && c <= 'z' ? (char)(c - 32) : c;
	}
	memcpy(t + n, "\xC2\xBB", 2);
	n += 2;
	if (fmt_restore(p, t, n, &restored, &rl, &r, NULL) == 0) {
		*ok = fmt_report_ok(&r);
		*out_len = rl;
	}
	free(t);
	fmt_protected_free(p);
	return restored;
}

#endif
