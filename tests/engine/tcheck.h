/*
 * tcheck.h: the few assertion helpers the engine's C tests share. A failed
 * check prints where and why and is counted; tcheck_done prints the closing
 * "N passed, N failed" line and gives the exit status.
 */
#ifndef TCHECK_H
#define TCHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tcheck_pass, tcheck_fail;

#define CHECK(cond, ...)                                                      \
	do {                                                                  \
		if (cond) {                                                   \
			tcheck_pass++;                                        \
		} else {                                                      \
			tcheck_fail++;                                        \
			fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, \
				__LINE__, #cond);                             \
			fprintf(stderr, __VA_ARGS__);                         \
			fputc('\n', stderr);                                  \
		}                                                             \
	} while (0)

static inline int tcheck_done(void)
{
	printf("%d passed, %d failed\n", tcheck_pass, tcheck_fail);
	return tcheck_fail ? 1 : 0;
}

/* A scratch folder for test files: $TEST_TMPDIR (set by meson to the build
 * folder), else $TMPDIR, else /tmp; a fresh subfolder of it. */
static inline const char *tcheck_tmpdir(const char *tag)
{
	static char dir[4096];
	const char *base = getenv("TEST_TMPDIR");

	if (!base || !*base)
		base = getenv("TMPDIR");
	if (!base || !*base)
		base = "/tmp";
	snprintf(dir, sizeof dir, "%s/%s-XXXXXX", base, tag);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(1);
	}
	return dir;
}

#endif
