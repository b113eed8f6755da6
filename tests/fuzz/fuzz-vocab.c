/* fuzz-vocab.c: see fuzz-vocab.h. Test code: out of memory aborts. */
#include "fuzz-vocab.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "pt.h"

#define WS "\xe2\x96\x81"   /* "▁" */

const fz_rule fz_rules[] = {
	{ "\xef\xbc\xa1", "A" },              /* fullwidth A */
	{ "\xef\xac\x81", "fi" },             /* ligature fi */
	{ "\xe3\x80\x80", " " },              /* ideographic space */
	{ "\t", " " },
	{ "x", "" },                          /* deleted */
	{ "\xe2\x80\x8b", "" },               /* zero width space, deleted */
	{ "q", "Q" },
	{ "qq", "k" },                        /* longest match wins over "q" */
	{ "z", " z" },                        /* a replacement that starts with a space */
	{ "\xc3\xa9", "e\xcc\x81" },          /* é decomposed */
	{ "ab", "a b" },
};
const int fz_n_rules = (int)(sizeof fz_rules / sizeof fz_rules[0]);

const char *const fz_user_pieces[] = { "<sep>", "@@" };
const int fz_n_user_pieces = 2;

static const char *const normal_pieces[] = {
	WS, "e", "t", "h", "a", "n", "d", "s", "o", "i", "th", "he", "the",
	WS "t", WS "the", WS "a", "an", "and", WS "and", "in", WS "in",
	"\xc3\xa9", WS "\xc3\xa9", "\xe4\xb8\xad", "\xe6\x96\x87",
	"\xe4\xb8\xad\xe6\x96\x87", WS "\xe4\xb8\xad", "\xc3\xbc", WS "\xc3\xbc",
	WS WS, "A", "fi", "Q", "k",
};
#define N_NORMAL (int)(sizeof normal_pieces / sizeof normal_pieces[0])

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL) {
		fprintf(stderr, "fuzz-vocab: out of memory\n");
		abort();
	}
	return p;
}

/* ---- The charsmap: a trie laid out as a Darts-clone double array ------- */

/* Units are placed as in a double array: each node gets the smallest base
 * b no other node has whose slots b ^ label (its children) and b ^ 0 (its
 * leaf: the rule's value) are all free; unused units carry bit 31, a
 * label no byte has. Bases are unique so that no node can reach another
 * node's children. */
#define CM_MAX_NODES 64
#define CM_MAX_UNITS 4096

typedef struct cm_trie {
	int n;
	int parent[CM_MAX_NODES];
	uint8_t label[CM_MAX_NODES];
	int64_t value[CM_MAX_NODES];   /* -1: no rule ends here */
	uint32_t pos[CM_MAX_NODES], base[CM_MAX_NODES];
} cm_trie;

static int cm_child(cm_trie *t, int node, uint8_t c, int create)
{
	for (int i = 1; i < t->n; i++)
		if (t->parent[i] == node && t->label[i] == c)
			return i;
	if (!create)
		return -1;
	if (t->n == CM_MAX_NODES)
		abort();
	t->parent[t->n] = node;
	t->label[t->n] = c;
	t->value[t->n] = -1;
	return t->n++;
}

/* Whether base b fits node's children and leaf into free units. */
static int cm_fits(const cm_trie *t, const uint8_t *used, int node, uint32_t b)
{
	for (int i = 0; i < node; i++)
		if (t->base[i] == b)
			return 0;
	if (t->value[node] >= 0 && (b >= CM_MAX_UNITS || used[b]))
		return 0;
	for (int i = 1; i < t->n; i++)
		if (t->parent[i] == node &&
		    ((b ^ t->label[i]) >= CM_MAX_UNITS || used[b ^ t->label[i]]))
			return 0;
	return 1;
}

/* Places every node (parents before children: nodes are numbered in
 * insertion order, so a parent always has the smaller number). */
static uint32_t cm_place(cm_trie *t, uint8_t *used)
{
	uint32_t n_units = 1;

	used[0] = 1;
	t->pos[0] = 0;
	for (int node = 0; node < t->n; node++) {
		uint32_t b = 1;

		while (!cm_fits(t, used, node, b))
			if (++b >= CM_MAX_UNITS)
				abort();
		t->base[node] = b;
		if (t->value[node] >= 0)
			used[b] = 1;
		for (int i = 1; i < t->n; i++)
			if (t->parent[i] == node) {
				t->pos[i] = b ^ t->label[i];
				used[t->pos[i]] = 1;
				if (t->pos[i] + 1 > n_units)
					n_units = t->pos[i] + 1;
			}
		if (t->value[node] >= 0 && b + 1 > n_units)
			n_units = b + 1;
	}
	return n_units;
}

uint8_t *fz_charsmap(size_t *len)
{
	static cm_trie t;
	static uint8_t used[CM_MAX_UNITS];
	static uint32_t a[CM_MAX_UNITS];
	size_t strings = 0, trie_bytes, pos = 0;
	uint32_t units;
	uint8_t *blob;

	memset(&t, 0, sizeof t);
	memset(used, 0, sizeof used);
	t.n = 1;
	t.value[0] = -1;
	for (int r = 0; r < fz_n_rules; r++) {
		const char *s = fz_rules[r].from;
		int node = 0;

		for (size_t k = 0; s[k] != '\0'; k++)
			node = cm_child(&t, node, (uint8_t)s[k], 1);
		t.value[node] = (int64_t)strings;
		strings += strlen(fz_rules[r].to) + 1;
	}
	units = cm_place(&t, used);
	for (uint32_t i = 0; i < units; i++)
		a[i] = 1u << 31;
	/* A unit's offset leads from its own position to its base. */
	a[0] = t.base[0] << 10;
	for (int i = 1; i < t.n; i++) {
		a[t.pos[i]] = t.label[i] | (t.value[i] >= 0 ? 1u << 8 : 0) |
			      (t.pos[i] ^ t.base[i]) << 10;
		if (t.value[i] >= 0)
			a[t.base[i]] = 1u << 31 | (uint32_t)t.value[i];
	}
	trie_bytes = (size_t)units * 4;
	*len = 4 + trie_bytes + strings;
	blob = xmalloc(*len);
	for (int k = 0; k < 4; k++)
		blob[k] = (uint8_t)(trie_bytes >> (8 * k));
	for (uint32_t i = 0; i < units; i++)
		for (int k = 0; k < 4; k++)
			blob[4 + 4 * (size_t)i + k] = (uint8_t)(a[i] >> (8 * k));
	for (int r = 0; r < fz_n_rules; r++) {
		size_t n = strlen(fz_rules[r].to) + 1;

		memcpy(blob + 4 + trie_bytes + pos, fz_rules[r].to, n);
		pos += n;
	}
	return blob;
}

/* ---- The model ---------------------------------------------------------- */

static void vocab(tb_file *f, const fz_vocab_opts *o)
{
	int n = 3 + 256 + N_NORMAL + fz_n_user_pieces + 2;
	const char **tok = xmalloc((size_t)n * sizeof *tok);
	char (*bytes)[8] = xmalloc(256 * sizeof *bytes);
	float *score = xmalloc((size_t)n * sizeof *score);
	int32_t *type = xmalloc((size_t)n * sizeof *type);
	int k = 0;

	tok[k] = "<unk>", type[k] = 2, score[k++] = 0;
	tok[k] = "<s>", type[k] = 3, score[k++] = 0;
	tok[k] = "</s>", type[k] = 3, score[k++] = 0;
	for (int b = 0; b < 256; b++) {
		snprintf(bytes[b], sizeof bytes[b], "<0x%02X>", b);
		tok[k] = bytes[b], type[k] = 6, score[k++] = 0;
	}
	for (int w = 0; w < N_NORMAL; w++)
		tok[k] = normal_pieces[w], type[k] = 1, score[k++] = -(float)w;
	for (int u = 0; u < fz_n_user_pieces; u++)
		tok[k] = fz_user_pieces[u], type[k] = 4, score[k++] = 0;
	if (o->unused_piece)
		tok[k] = "nd", type[k] = 5, score[k++] = 1;
	if (o->ws_inside_piece)
		tok[k] = "e" WS, type[k] = 1, score[k++] = -0.5f;
	tb_kv_str(f, "tokenizer.ggml.model", "llama");
	tb_kv_arr_str(f, "tokenizer.ggml.tokens", tok, (uint64_t)k);
	tb_kv_arr(f, "tokenizer.ggml.scores", 6, score, (uint64_t)k, 4);
	tb_kv_arr(f, "tokenizer.ggml.token_type", 5, type, (uint64_t)k, 4);
	tb_kv_u32(f, "tokenizer.ggml.bos_token_id", 1);
	tb_kv_u32(f, "tokenizer.ggml.eos_token_id", 2);
	tb_kv_u32(f, "tokenizer.ggml.unknown_token_id", 0);
	tb_kv_bool(f, "tokenizer.ggml.add_bos_token", 1);
	tb_kv_bool(f, "tokenizer.ggml.add_eos_token", 0);
	tb_kv_bool(f, "tokenizer.ggml.add_space_prefix", o->add_space_prefix);
	tb_kv_bool(f, "tokenizer.ggml.remove_extra_whitespaces", o->remove_extra_ws);
	tb_kv_bool(f, "polytrans.tokenizer.byte_fallback", 1);
	if (o->charsmap) {
		size_t len;
		uint8_t *cm = fz_charsmap(&len);

		tb_kv_arr(f, "tokenizer.ggml.precompiled_charsmap", 0, cm, len, 1);
		free(cm);
	}
	/* The embedding has one row per piece. */
	{
		unsigned seed = 7;

		tb_tensor_remove(f, "token_embd.weight");
		tb_tensor_f32(f, "token_embd.weight", 2, 8, k, &seed);
	}
	free(tok);
	free(bytes);
	free(score);
	free(type);
}

void fz_build_model(tb_file *f, const fz_vocab_opts *o)
{
	static const char *const tok_keys[] = {
		"tokenizer.ggml.model", "tokenizer.ggml.tokens", "tokenizer.ggml.scores",
		"tokenizer.ggml.token_type", "tokenizer.ggml.bos_token_id",
		"tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id",
		"tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token",
		"tokenizer.ggml.add_space_prefix", "tokenizer.ggml.remove_extra_whitespaces",
		"polytrans.tokenizer.byte_fallback",
	};
	tb_model p = { .d = 8, .n_head = 2, .n_layer = 1, .ff = 16, .n_ctx = 8,
		       .with_output = 0, .seed = 1 };

	tb_tiny_model(f, &p);
	for (size_t i = 0; i < sizeof tok_keys / sizeof tok_keys[0]; i++)
		tb_kv_remove(f, tok_keys[i]);
	vocab(f, o);
}

/* ---- The expected text --------------------------------------------------- */

static size_t match_user(const char *s, size_t len)
{
	size_t best = 0;

	for (int u = 0; u < fz_n_user_pieces; u++) {
		size_t n = strlen(fz_user_pieces[u]);

		if (n <= len && n > best && memcmp(s, fz_user_pieces[u], n) == 0)
			best = n;
	}
	return best;
}

static const fz_rule *match_rule(const char *s, size_t len, size_t *n_out)
{
	const fz_rule *best = NULL;
	size_t best_n = 0;

	for (int r = 0; r < fz_n_rules; r++) {
		size_t n = strlen(fz_rules[r].from);

		if (n <= len && n > best_n && memcmp(s, fz_rules[r].from, n) == 0)
			best = &fz_rules[r], best_n = n;
	}
	*n_out = best_n;
	return best;
}

/* Trims spaces at both ends and makes every run of spaces one space. */
static size_t collapse_spaces(char *s, size_t n)
{
	size_t w = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == ' ' && (w == 0 || s[w - 1] == ' '))
			continue;
		s[w++] = s[i];
	}
	while (w > 0 && s[w - 1] == ' ')
		w--;
	return w;
}

char *fz_expected_text(const fz_vocab_opts *o, const char *text, size_t len,
		       size_t *out_len)
{
	/* The longest replacement is 3 bytes for a 1-byte input ("z"). */
	char *out = xmalloc(len * 3 + 1);
	size_t i = 0, w = 0, k = 0, n;

	while (i < len) {
		const fz_rule *r;

		if ((n = match_user(text + i, len - i)) > 0) {
			memcpy(out + w, text + i, n);
		} else if (o->charsmap && (r = match_rule(text + i, len - i, &n)) != NULL) {
			memcpy(out + w, r->to, strlen(r->to));
			w += strlen(r->to);
			i += n;
			continue;
		} else {
			int cl = pt_utf8_len((unsigned char)text[i]);

			n = cl > 0 && (size_t)cl <= len - i ? (size_t)cl : 1;
			memcpy(out + w, text + i, n);
		}
		w += n;
		i += n;
	}
	if (o->remove_extra_ws)
		w = collapse_spaces(out, w);
	/* A "▁" in the text itself comes back as a space (SentencePiece's
	 * escape character is not escaped). */
	for (size_t r = 0; r < w;) {
		if (r + 3 <= w && memcmp(out + r, WS, 3) == 0) {
			out[k++] = ' ';
			r += 3;
		} else {
			out[k++] = out[r++];
		}
	}
	w = k;
	out[w] = '\0';
	*out_len = w;
	return out;
}

/* ---- Loading from bytes ------------------------------------------------- */

static int memfd = -1;

int fuzz_model_from_bytes(const void *data, size_t size, int use_mmap,
			  struct engine_model **out, pt_err *e)
{
	engine_model_params p = engine_model_default_params();
	const char *s = data;
	char path[64];
	size_t done = 0;

	if (memfd < 0 && (memfd = memfd_create("fuzz-model", MFD_CLOEXEC)) < 0) {
		perror("fuzz: memfd_create");
		abort();
	}
	if (ftruncate(memfd, 0) != 0) {
		perror("fuzz: ftruncate");
		abort();
	}
	while (done < size) {
		ssize_t n = pwrite(memfd, s + done, size - done, (off_t)done);

		if (n <= 0) {
			perror("fuzz: pwrite");
			abort();
		}
		done += (size_t)n;
	}
	snprintf(path, sizeof path, "/proc/self/fd/%d", memfd);
	p.use_mmap = use_mmap;
	return engine_model_load(path, &p, out, e);
}
