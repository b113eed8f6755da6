/*
 * fuzz-common.h: the body of the libFuzzer targets fuzz-<format>.c, each
 * of which defines FUZZ_FORMAT. An input must parse and round-trip byte
 * for byte, or be refused with an error; what parses is fake-translated
 * (placeholders protected and restored) and written again. A mismatch
 * traps, so the fuzzer keeps the input.
 *
 * Build with clang (meson does when cc is clang), then e.g.
 *     fuzz-formats-po -max_len=65536 NEW_DIR tests/formats/corpus
 * with the corpus files as seeds (NEW_DIR receives new inputs).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_translate(fmt_doc *d)
{
	for (size_t i = 0; i < fmt_doc_count(d); i++) {
		fmt_protected *p = NULL;
		size_t n, pl, rl;
		char *r = NULL;
		if (fmt_piece_kind(d, i) != FMT_TEXT)
			continue;
		const char *t = fmt_piece_text(d, i, &n);
		if (fmt_protect(t, n, FUZZ_FORMAT, &p, NULL) != 0)
			__builtin_trap();
		const char *pt = fmt_protected_text(p, &pl);
		if (fmt_restore(p, pt, pl, &r, &rl, NULL, NULL) != 0 ||
		    rl != n || memcmp(r, t, n) != 0)
			__builtin_trap();
		fmt_piece_set(d, i, r, rl, NULL);
		free(r);
		fmt_protected_free(p);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fmt_params pp = fmt_default_params();
	fmt_doc *d = NULL;
	char *out = NULL;
	size_t out_len;
	pp.format = FUZZ_FORMAT;
	if (fmt_parse((const char *)data, size, &pp, &d, NULL) != 0)
		return 0;
	if (fmt_doc_serialize(d, &out, &out_len, NULL) != 0 ||
	    out_len != size || memcmp(out, data, size) != 0)
		__builtin_trap();
	free(out);
	if (FUZZ_FORMAT == FMT_FORMAT_PO && size > 0 && data[0] & 1)
		fmt_doc_set_target(d, "ar", NULL);
	fuzz_translate(d);
	out = NULL;
	if (fmt_doc_serialize(d, &out, &out_len, NULL) != 0)
		__builtin_trap();
	free(out);
	fmt_doc_free(d);
	return 0;
}
