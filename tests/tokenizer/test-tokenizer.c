/*
 * test-tokenizer: the tokenizer's own invariants, on both fixture models.
 *
 *   test-tokenizer FIXTURE_DIR CORPUS
 *
 * - invalid UTF-8 fails with PT_EUTF8 naming the right byte offset;
 * - a too small id buffer fails with PT_ETOOLARGE and the needed count;
 * - literal special-token strings map to their ids unless NO_SPECIAL;
 * - the streaming detokenizer gives exactly the text of the whole one, on
 *   every corpus item and on random id sequences heavy in byte pieces
 *   (whose text must still be valid UTF-8);
 * - decode(encode(x)) == x for the identity-normalized model, modulo the
 *   whitespace rules (spaces stripped at the ends and collapsed, a literal
 *   "▁" read back as a space);
 * - detokenize's truncation and id checks.
 * It also prints the time to tokenize 1 MiB of corpus text (not asserted).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "corpus.h"
#include "engine.h"

static int failures;

#define CHECK(cond, ...)                                                     \
	do {                                                                 \
		if (!(cond)) {                                               \
			failures++;                                          \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                        \
			fputc('\n', stderr);                                 \
		}                                                            \
	} while (0)

/* Tokenizes into a malloc'ed array; *n gets the count. */
static int32_t *tokenize(const engine_model *m, const char *s, size_t len,
			 unsigned flags, size_t *n)
{
	size_t need = 0;
	int32_t *ids;
	pt_err e;
	int rc = engine_tokenize(m, s, len, flags, NULL, 0, &need, &e);

	if (rc != 0 && rc != PT_ETOOLARGE) {
		fprintf(stderr, "tokenize failed: %s\n", e.msg);
		exit(1);
	}
	ids = malloc((need + 1) * sizeof *ids);
	if (ids == NULL)
		exit(1);
	rc = engine_tokenize(m, s, len, flags, ids, need, n, &e);
	if (rc != 0 || *n != need) {
		fprintf(stderr, "tokenize failed on retry: %s\n", e.msg);
		exit(1);
	}
	return ids;
}

static char *detok_whole(const engine_model *m, const int32_t *ids, size_t n,
			 size_t *len)
{
	size_t full = 0;
	char *out;
	pt_err e;

	if (engine_detokenize(m, ids, n, NULL, 0, &full, &e) != 0) {
		fprintf(stderr, "detokenize failed: %s\n", e.msg);
		exit(1);
	}
	out = malloc(full + 1);
	if (out == NULL || engine_detokenize(m, ids, n, out, full + 1, len, &e) != 0)
		exit(1);
	return out;
}

static char *detok_stream(const engine_model *m, const int32_t *ids, size_t n,
			  size_t *len)
{
	engine_detok d;
	size_t cap = 64, used = 0;
	char *out = malloc(cap), piece[256];

	engine_detok_init(&d, m);
	for (size_t i = 0; i <= n; i++) {
		size_t k = i < n ? engine_detok_push(&d, ids[i], piece, sizeof piece)
				 : engine_detok_flush(&d, piece, sizeof piece);

		while (used + k + 1 > cap)
			out = realloc(out, cap *= 2);
		if (out == NULL)
			exit(1);
		memcpy(out + used, piece, k);
		used += k;
	}
	out[used] = '\0';
	*len = used;
	return out;
}

static void test_utf8_errors(const engine_model *m)
{
	static const struct { const char *s; size_t len, off; } cases[] = {
		{ "abc\x80", 4, 3 },              /* lone continuation byte */
		{ "ab\xc3", 3, 2 },               /* truncated at the end */
		{ "\xc0\x80x", 3, 0 },            /* overlong NUL */
		{ "ok \xed\xa0\x80", 6, 3 },      /* surrogate */
		{ "\xe2\x82\xac\xf5\x80", 5, 3 }, /* beyond U+10FFFF */
		{ "h\xe4llo", 5, 1 },             /* Latin-1, not UTF-8 */
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int32_t ids[64];
		size_t n = 12345;
		char want[64];
		pt_err e = { 0 };
		int rc = engine_tokenize(m, cases[i].s, cases[i].len, 0, ids, 64, &n, &e);

		snprintf(want, sizeof want, "offset %zu", cases[i].off);
		CHECK(rc == PT_EUTF8, "utf8 case %zu: rc %d, want PT_EUTF8", i, rc);
		CHECK(strstr(e.msg, want) != NULL, "utf8 case %zu: message \"%s\" "
		      "does not name %s", i, e.msg, want);
		CHECK(n == 12345, "utf8 case %zu: n_out changed on failure", i);
	}
}

static void test_sizes_and_specials(const engine_model *m)
{
	const char *s = "Hello world, this is a test.";
	int32_t ids[256], bos = -1;
	size_t need = 0, n = 0;
	pt_err e;
	int rc;

	rc = engine_tokenize(m, s, strlen(s), 0, NULL, 0, &need, &e);
	CHECK(rc == PT_ETOOLARGE && need > 2, "cap 0: rc %d need %zu", rc, need);
	CHECK(strstr(e.msg, "needs") != NULL, "cap 0: message \"%s\"", e.msg);
	rc = engine_tokenize(m, s, strlen(s), 0, ids, need - 1, &n, &e);
	CHECK(rc == PT_ETOOLARGE && n == need, "cap need-1: rc %d n %zu", rc, n);
	rc = engine_tokenize(m, s, strlen(s), 0, ids, need, &n, &e);
	CHECK(rc == 0 && n == need, "cap need: rc %d n %zu", rc, n);
	rc = engine_tokenize(m, s, strlen(s), ENGINE_TOK_ADD_BOS, ids, 256, &n, &e);
	CHECK(rc == 0 && n == need + 1, "with BOS: rc %d n %zu", rc, n);
	bos = ids[0];
	CHECK(engine_token_piece(m, bos) != NULL &&
	      strcmp(engine_token_piece(m, bos), "<s>") == 0, "BOS is not <s>");
	rc = engine_tokenize(m, "", 0, 0, ids, 256, &n, &e);
	CHECK(rc == 0 && n == 0, "empty text: rc %d n %zu", rc, n);

	/* Literal special strings: ids unless NO_SPECIAL. */
	{
		const char *t = "a<s>b</s> <unk>";
		size_t n1, n2, hits = 0;
		int32_t *a = tokenize(m, t, strlen(t), 0, &n1);
		int32_t *b = tokenize(m, t, strlen(t), ENGINE_TOK_NO_SPECIAL, &n2);

		for (size_t i = 0; i < n1; i++) {
			const char *p = engine_token_piece(m, a[i]);

			hits += strcmp(p, "<s>") == 0 || strcmp(p, "</s>") == 0 ||
				strcmp(p, "<unk>") == 0;
		}
		CHECK(hits == 3, "special strings: %zu of 3 mapped to ids", hits);
		for (size_t i = 0; i < n2; i++)
			CHECK(b[i] != bos, "NO_SPECIAL: <s> became its id");
		CHECK(n2 > n1, "NO_SPECIAL: %zu ids, not more than %zu", n2, n1);
		free(a);
		free(b);
	}
	CHECK(engine_token_piece(m, -1) == NULL, "piece(-1) not NULL");
	CHECK(engine_token_piece(m, engine_n_vocab(m)) == NULL, "piece(n) not NULL");
}

static void test_detok_api(const engine_model *m)
{
	const char *s = "Streaming text, with an ending.";
	char small[8];
	size_t n, len = 0, full = 0;
	int32_t *ids = tokenize(m, s, strlen(s), ENGINE_TOK_ADD_BOS, &n);
	int32_t bad[2] = { 5, engine_n_vocab(m) };
	pt_err e;
	int rc;

	rc = engine_detokenize(m, ids, n, small, sizeof small, &len, &e);
	CHECK(rc == 0 && len == strlen(s), "truncated detok: rc %d len %zu", rc, len);
	CHECK(strlen(small) == sizeof small - 1 && memcmp(small, s, 7) == 0,
	      "truncated detok: \"%s\"", small);
	free(detok_whole(m, ids, n, &full));
	CHECK(full == strlen(s), "detok length %zu, want %zu", full, strlen(s));
	rc = engine_detokenize(m, bad, 2, small, sizeof small, &len, &e);
	CHECK(rc == PT_EINVAL && strstr(e.msg, "position 1") != NULL,
	      "out-of-range id: rc %d \"%s\"", rc, e.msg);
	free(ids);
}

/* What identity normalization + decoding gives back for s: with
 * remove_extra_whitespaces, spaces stripped at both ends and runs
 * collapsed; then every "▁" a space. */
static size_t expected_roundtrip(const char *s, size_t len, int rm_extra,
				 char *out)
{
	size_t o = 0, i = 0;

	while (rm_extra && i < len && s[i] == ' ')
		i++;
	for (; i < len; i++) {
		if (rm_extra && s[i] == ' ' && o > 0 && out[o - 1] == ' ')
			continue;
		out[o++] = s[i];
	}
	while (rm_extra && o > 0 && out[o - 1] == ' ')
		o--;
	/* Now each "▁" reads back as a space. */
	{
		size_t w = 0;

		for (size_t r = 0; r < o; r++) {
			if (r + 2 < o && memcmp(out + r, "\xe2\x96\x81", 3) == 0) {
				out[w++] = ' ';
				r += 2;
			} else {
				out[w++] = out[r];
			}
		}
		o = w;
	}
	return o;
}

static void test_corpus(const engine_model *m, const char *name,
			const corpus_item *items, int n_items, int identity)
{
	int stream_bad = 0, rt_bad = 0;
	engine_model_info info;

	engine_model_get_info(m, &info);
	printf("%s: add_space_prefix %d, remove_extra_whitespaces %d, charsmap %d\n",
	       name, info.add_space_prefix, info.remove_extra_whitespaces,
	       info.has_charsmap);

	for (int i = 0; i < n_items; i++) {
		size_t n, lw, ls;
		int32_t *ids = tokenize(m, items[i].s, items[i].len,
					ENGINE_TOK_NO_SPECIAL, &n);
		char *w = detok_whole(m, ids, n, &lw);
		char *st = detok_stream(m, ids, n, &ls);

		if (lw != ls || memcmp(w, st, lw) != 0) {
			if (stream_bad++ < 5)
				fprintf(stderr, "%s: corpus line %d: stream \"%s\" != "
					"whole \"%s\"\n", name, items[i].line, st, w);
		}
		if (identity) {
			char *want = malloc(items[i].len + 1);
			size_t lx = expected_roundtrip(items[i].s, items[i].len,
							info.remove_extra_whitespaces, want);
			const char *pw = want, *pd = w;
			size_t ld = lw;

			/* A text that starts with a literal "▁" may lose it:
			 * SentencePiece strips the leading "▁" of pieces until
			 * some text is out, however the pieces fall. */
			if (lx > 0 && want[0] == ' ') {
				while (lx > 0 && *pw == ' ')
					pw++, lx--;
				while (ld > 0 && *pd == ' ')
					pd++, ld--;
			}
			if (lx != ld || memcmp(pw, pd, lx) != 0) {
				if (rt_bad++ < 5)
					fprintf(stderr, "%s: corpus line %d: round trip "
						"\"%.*s\" != \"%.*s\"\n", name, items[i].line,
						(int)ld, pd, (int)lx, pw);
			}
			free(want);
		}
		free(ids);
		free(w);
		free(st);
	}
	CHECK(stream_bad == 0, "%s: %d corpus items stream != whole", name, stream_bad);
	CHECK(rt_bad == 0, "%s: %d corpus items fail the round trip", name, rt_bad);
}

/* Random ids, a third of them byte pieces, so that incomplete and invalid
 * UTF-8 sequences meet pieces, controls and the end of the text. */
static void test_random_ids(const engine_model *m, const char *name)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;
	int32_t nv = engine_n_vocab(m), bytes[256], nb = 0, ids[48];
	int bad = 0;

	for (int32_t id = 0; id < nv && nb < 256; id++) {
		const char *p = engine_token_piece(m, id);

		if (strlen(p) == 6 && strncmp(p, "<0x", 3) == 0 && p[5] == '>')
			bytes[nb++] = id;
	}
	CHECK(nb == 256, "%s: %d byte pieces, want 256", name, nb);
	for (int round = 0; round < 3000 && nb > 0; round++) {
		size_t n, lw, ls;
		char *w, *st;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		n = 1 + x % 48;
		for (size_t i = 0; i < n; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			ids[i] = (x >> 8) % 3 == 0 ? bytes[(x >> 16) % (uint64_t)nb]
						   : (int32_t)((x >> 20) % (uint64_t)nv);
		}
		w = detok_whole(m, ids, n, &lw);
		st = detok_stream(m, ids, n, &ls);
		if (lw != ls || memcmp(w, st, lw) != 0 || pt_utf8_check(w, lw, NULL) != 0)
			bad++;
		free(w);
		free(st);
	}
	CHECK(bad == 0, "%s: %d random id sequences: stream != whole or "
	      "invalid UTF-8", name, bad);
}

static void time_megabyte(const engine_model *m, const char *name,
			  const corpus_item *items, int n_items)
{
	size_t len = 0, n;
	char *big = malloc((1u << 20) + 4096);
	int32_t *ids;
	double t0;
	clock_t c0;

	while (n_items > 0 && len < (1u << 20)) {
		for (int i = 0; i < n_items && len < (1u << 20); i++) {
			memcpy(big + len, items[i].s, items[i].len);
			len += items[i].len;
			big[len++] = '\n';
		}
	}
	t0 = pt_now();
	c0 = clock();
	ids = tokenize(m, big, len, 0, &n);
	printf("%s: tokenized %zu bytes into %zu ids twice (size, then ids): "
	       "%.3f s CPU, %.3f s wall\n", name, len, n,
	       (double)(clock() - c0) / CLOCKS_PER_SEC, pt_now() - t0);
	free(ids);
	free(big);
}

int main(int argc, char **argv)
{
	static const char *models[2][2] = {
		{ "tiny-f32.gguf", "identity" }, { "tok-nfkc.gguf", "nmt_nfkc" },
	};
	engine_model_params mp = engine_model_default_params();
	corpus_item *items;
	int n_items;

	if (argc != 3) {
		fprintf(stderr, "usage: test-tokenizer FIXTURE_DIR CORPUS\n");
		return 2;
	}
	n_items = corpus_load(argv[2], &items);
	if (n_items < 0)
		return 1;
	for (int k = 0; k < 2; k++) {
		char path[4096];
		engine_model *m;
		pt_err e;

		snprintf(path, sizeof path, "%s/%s", argv[1], models[k][0]);
		if (engine_model_load(path, &mp, &m, &e) != 0) {
			fprintf(stderr, "%s\n", e.msg);
			return 1;
		}
		test_utf8_errors(m);
		test_sizes_and_specials(m);
		test_detok_api(m);
		test_corpus(m, models[k][1], items, n_items, k == 0);
		test_random_ids(m, models[k][1]);
		time_megabyte(m, models[k][1], items, n_items);
		engine_model_free(m);
	}
	corpus_free(items, n_items);
	if (failures > 0) {
		fprintf(stderr, "%d checks failed\n", failures);
		return 1;
	}
	printf("all tokenizer checks passed on %d corpus items\n", n_items);
	return 0;
}
