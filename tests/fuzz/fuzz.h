/*
 * fuzz.h: what the fuzz targets of tests/fuzz share: a check that names
 * the broken invariant before it aborts (libFuzzer and the replay driver
 * both report an abort as a crash), a reference UTF-8 decoder written
 * independently of common/pt.c, and loading a model from bytes in memory
 * (fuzz-vocab.h).
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "pt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Prints "file:line: invariant failed: cond: message" and aborts. */
void fuzz_fail(const char *file, int line, const char *cond,
	       const char *fmt, ...) PT_PRINTF(4, 5);

#define FUZZ_CHECK(cond, ...) \
	do { \
		if (!(cond)) \
			fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__); \
	} while (0)

/*
 * Reference UTF-8 validation, decoding code point by code point from the
 * bit patterns (RFC 3629) rather than by byte ranges as pt_utf8_check
 * does. Returns 1 if s[0..n) is valid, else 0 with *bad (if not NULL) at
 * the start of the first sequence that is not a valid code point.
 */
int fuzz_ref_utf8_valid(const uint8_t *s, size_t n, size_t *bad);
/* Decodes the sequence at s[0..n): its length (1..4) and *cp, or 0 if
 * no valid code point starts there. */
int fuzz_ref_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp);

/* The number after `key` in msg ("... at byte offset 17" with key
 * "offset "), or -1 if msg has no such number. */
long long fuzz_msg_number(const char *msg, const char *key);

#endif
