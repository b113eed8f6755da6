/*
 * fuzz-tokenizer: engine_tokenize, engine_detokenize and the streaming
 * detokenizer on arbitrary bytes, with four vocabularies built in memory
 * (fuzz-vocab.c), checking what must hold for every input:
 *
 *   - invalid UTF-8 fails with PT_EUTF8 naming the first bad byte (as the
 *     reference decoder finds it), and nothing else fails;
 *   - the id count needed is reported with too small a buffer, and what
 *     fits is the same prefix;
 *   - detokenize(tokenize(x)) is x under identity normalization, and
 *     exactly the rules' output under the charsmap (fz_expected_text);
 *   - the streaming detokenizer gives the whole text, in pieces of valid
 *     UTF-8 that each fit the 256 bytes engine.h promises;
 *   - any ids detokenize to valid UTF-8.
 *
 * Input: byte 0 chooses the setup, the rest is the text (or, in ids mode,
 * little-endian 16-bit ids taken modulo the vocabulary size).
 *   bits 0-1  vocabulary: 0 identity with an unused piece; 1 charsmap and
 *             a piece "e▁"; 2 charsmap with extra whitespace removed;
 *             3 identity without the dummy prefix
 *   bit 2     split out the literal "<s>", "</s>", "<unk>" (no exact text
 *             check then)
 *   bit 3     ENGINE_TOK_ADD_BOS
 *   bit 4     ids mode
 */
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "fuzz-vocab.h"
#include "fuzz.h"

#define N_SETUPS 4

static const fz_vocab_opts setups[N_SETUPS] = {
	{ .charsmap = 0, .remove_extra_ws = 0, .add_space_prefix = 1, .unused_piece = 1 },
	{ .charsmap = 1, .remove_extra_ws = 0, .add_space_prefix = 1, .ws_inside_piece = 1 },
	{ .charsmap = 1, .remove_extra_ws = 1, .add_space_prefix = 1 },
	{ .charsmap = 0, .remove_extra_ws = 0, .add_space_prefix = 0 },
};
static engine_model *models[N_SETUPS];

static void load_models(void)
{
	for (int i = 0; i < N_SETUPS; i++) {
		tb_file *f = malloc(sizeof *f);
		uint8_t *bytes;
		size_t len;
		pt_err e;
		int rc;

		FUZZ_CHECK(f != NULL, "out of memory");
		fz_build_model(f, &setups[i]);
		bytes = tb_build(f, &len);
		/* Read into memory: the memfd is reused, a mapping would not
		 * survive that. */
		rc = fuzz_model_from_bytes(bytes, len, 0, &models[i], &e);
		FUZZ_CHECK(rc == 0, "setup %d does not load: %s", i, e.msg);
		free(bytes);
		tb_free(f);
		free(f);
	}
}

/* Valid UTF-8 by the reference decoder. */
static int utf8_ok(const char *s, size_t n)
{
	return fuzz_ref_utf8_valid((const uint8_t *)s, n, NULL);
}

/* Detokenizes ids whole and as a stream; checks they agree and returns
 * the whole text (malloc'd, NUL-terminated). */
static char *detok_both(const engine_model *m, const int32_t *ids, size_t n,
			size_t *len_out)
{
	size_t len = 0, len2 = 0, pos = 0, k;
	char *whole, *stream, piece[256];
	engine_detok d;
	pt_err e;
	int rc;

	rc = engine_detokenize(m, ids, n, NULL, 0, &len, &e);
	FUZZ_CHECK(rc == 0, "detokenize (size): %s", e.msg);
	whole = malloc(len + 1);
	stream = malloc(len + 1);
	FUZZ_CHECK(whole != NULL && stream != NULL, "out of memory");
	rc = engine_detokenize(m, ids, n, whole, len + 1, &len2, &e);
	FUZZ_CHECK(rc == 0 && len2 == len && whole[len] == '\0',
		   "detokenize: rc %d, %zu bytes then %zu", rc, len, len2);
	FUZZ_CHECK(utf8_ok(whole, len), "detokenized text is not valid UTF-8");
	if (len > 1) {
		/* A short buffer keeps a NUL-terminated prefix and tells the
		 * full length. */
		size_t cap = len / 2 + 1;

		rc = engine_detokenize(m, ids, n, stream, cap, &len2, &e);
		FUZZ_CHECK(rc == 0 && len2 == len && stream[cap - 1] == '\0' &&
			   memcmp(stream, whole, cap - 1) == 0,
			   "detokenize into %zu bytes: rc %d, length %zu of %zu", cap,
			   rc, len2, len);
	}
	engine_detok_init(&d, m);
	for (size_t i = 0; i <= n; i++) {
		k = i < n ? engine_detok_push(&d, ids[i], piece, sizeof piece)
			  : engine_detok_flush(&d, piece, sizeof piece);
		FUZZ_CHECK(k < sizeof piece, "one step gave %zu bytes", k);
		FUZZ_CHECK(utf8_ok(piece, k), "step %zu gave invalid UTF-8", i);
		FUZZ_CHECK(pos + k <= len,
			   "the stream is longer than the text (%zu > %zu)", pos + k, len);
		memcpy(stream + pos, piece, k);
		pos += k;
	}
	FUZZ_CHECK(pos == len && memcmp(stream, whole, len) == 0,
		   "the stream (%zu bytes) differs from the whole text (%zu)", pos, len);
	free(stream);
	*len_out = len;
	return whole;
}

static void check_ids(const engine_model *m, const uint8_t *p, size_t n)
{
	int32_t nv = engine_n_vocab(m), *ids;
	size_t count = n / 2, len;
	char *text;

	ids = malloc((count ? count : 1) * sizeof *ids);
	FUZZ_CHECK(ids != NULL, "out of memory");
	for (size_t i = 0; i < count; i++)
		ids[i] = (int32_t)((p[2 * i] | p[2 * i + 1] << 8) % nv);
	text = detok_both(m, ids, count, &len);
	free(text);
	/* An id outside the vocabulary is refused, not read. */
	if (count > 0) {
		pt_err e;

		ids[count - 1] = nv + (p[0] & 7);
		FUZZ_CHECK(engine_detokenize(m, ids, count, NULL, 0, &len, &e) == PT_EINVAL,
			   "id %d accepted", ids[count - 1]);
	}
	free(ids);
}

/* Tokenizes text; returns the ids (malloc'd) and their count. */
static int32_t *tokenize(const engine_model *m, const char *text, size_t len,
			 unsigned flags, size_t *n_out)
{
	size_t n = 0, n2 = 0;
	int32_t *ids;
	pt_err e;
	int rc;

	rc = engine_tokenize(m, text, len, flags, NULL, 0, &n, &e);
	FUZZ_CHECK(rc == 0 || rc == PT_ETOOLARGE, "tokenize: %s", e.msg);
	FUZZ_CHECK((rc == 0) == (n == 0), "rc %d with %zu ids needed", rc, n);
	ids = malloc((n ? n : 1) * sizeof *ids);
	FUZZ_CHECK(ids != NULL, "out of memory");
	rc = engine_tokenize(m, text, len, flags, ids, n, &n2, &e);
	FUZZ_CHECK(rc == 0 && n2 == n, "tokenize with room for %zu: rc %d, %zu ids",
		   n, rc, n2);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(ids[i] >= 0 && ids[i] < engine_n_vocab(m), "id %d", ids[i]);
	if (n > 1) {
		int32_t *part = malloc((n - 1) * sizeof *part);

		FUZZ_CHECK(part != NULL, "out of memory");
		rc = engine_tokenize(m, text, len, flags, part, n - 1, &n2, &e);
		FUZZ_CHECK(rc == PT_ETOOLARGE && n2 == n &&
			   memcmp(part, ids, (n - 1) * sizeof *ids) == 0,
			   "room for %zu of %zu ids: rc %d, needs %zu", n - 1, n, rc, n2);
		free(part);
	}
	*n_out = n;
	return ids;
}

static void check_text(int setup, const engine_model *m, const char *text,
		       size_t len, unsigned flags)
{
	size_t bad = 0, n, out_len, want_len;
	int32_t *ids;
	char *out, *want;
	pt_err e;

	if (!fuzz_ref_utf8_valid((const uint8_t *)text, len, &bad)) {
		int rc = engine_tokenize(m, text, len, flags, NULL, 0, &n, &e);

		FUZZ_CHECK(rc == PT_EUTF8, "invalid UTF-8 (byte %zu) gave %d", bad, rc);
		FUZZ_CHECK(fuzz_msg_number(e.msg, "offset ") == (long long)bad,
			   "message \"%s\" does not name offset %zu", e.msg, bad);
		return;
	}
	ids = tokenize(m, text, len, flags, &n);
	if (flags & ENGINE_TOK_ADD_BOS)
		FUZZ_CHECK(n >= 1 && ids[0] == 1, "no <s> first");
	out = detok_both(m, ids, n, &out_len);
	if ((flags & ENGINE_TOK_NO_SPECIAL) &&
	    !(setups[setup].remove_extra_ws && memmem(text, len, "\xe2\x96\x81", 3))) {
		want = fz_expected_text(&setups[setup], text, len, &want_len);
		FUZZ_CHECK(out_len == want_len && memcmp(out, want, out_len) == 0,
			   "setup %d: round trip gave \"%.80s\" (%zu bytes), expected "
			   "\"%.80s\" (%zu bytes)", setup, out, out_len, want, want_len);
		free(want);
	}
	free(out);
	free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned flags = 0;
	int setup;

	if (models[0] == NULL)
		load_models();
	if (size < 1)
		return 0;
	setup = data[0] & 3;
	if (data[0] & 0x10) {
		check_ids(models[setup], data + 1, size - 1);
		return 0;
	}
	if (!(data[0] & 4))
		flags |= ENGINE_TOK_NO_SPECIAL;
	if (data[0] & 8)
		flags |= ENGINE_TOK_ADD_BOS;
	check_text(setup, models[setup], (const char *)data + 1, size - 1, flags);
	return 0;
}
