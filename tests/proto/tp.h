/* tp.h: small helpers shared by the proto tests. */
#ifndef TP_H
#define TP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

static int tp_fails;

#define CHECK(c)                                                              \
	do {                                                                  \
		if (!(c)) {                                                   \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, \
				__LINE__, #c);                                \
			tp_fails++;                                           \
		}                                                             \
	} while (0)

/* Fatal setup failures: the rest of the test cannot run. */
#define REQUIRE(c)                                                            \
	do {                                                                  \
		if (!(c)) {                                                   \
			fprintf(stderr, "%s:%d: REQUIRE failed: %s\n",        \
				__FILE__, __LINE__, #c);                      \
			exit(1);                                              \
		}                                                             \
	} while (0)

static inline int tp_str_is(proto_str s, const char *c)
{
	return proto_str_eq(s, c);
}

/* Feeds all of data and returns the first event (NONE if none). */
static inline proto_event tp_one_event(proto_decoder *d, const void *data, size_t len)
{
	proto_event ev;
	REQUIRE(proto_decoder_feed(d, data, len) == 0);
	REQUIRE(proto_decoder_next(d, &ev) == 0);
	return ev;
}

static inline int tp_finish(const char *name)
{
	if (tp_fails) {
		fprintf(stderr, "%s: %d check(s) failed\n", name, tp_fails);
		return 1;
	}
	printf("%s: all checks passed\n", name);
	return 0;
}

#endif
