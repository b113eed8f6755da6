/*
 * check.h: the assertion macro of the langid tests: report the file,
 * line and expression, count the failure, go on.
 */
#ifndef LANGID_TEST_CHECK_H
#define LANGID_TEST_CHECK_H

#include <stdio.h>

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

#endif
