/*
 * tokenizer.c: the SentencePiece BPE tokenizer, built from the vocabulary
 * in the GGUF file. It reproduces the ids of the SentencePiece library
 * (sp.encode) for BPE models: normalization (tokenizer-norm.c), user-
 * defined pieces as unbreakable symbols, merges of the adjacent pair with
 * the best score (leftmost on ties) through a priority queue, unused
 * pieces split back into their parts, unknown characters as byte pieces
 * (byte fallback) or one <unk> per run. On top of that, like Hugging
 * Face's slow LlamaTokenizer, the literal strings of <s>, </s> and <unk>
 * in the text become their ids unless ENGINE_TOK_NO_SPECIAL.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer-impl.h"

/* ---- Piece lookup ------------------------------------------------------ */

#define MASK_NORMAL ((1u << TOK_NORMAL) | (1u << TOK_USER) | (1u << TOK_UNUSED))
#define MASK_RESERVED ((1u << TOK_UNKNOWN) | (1u << TOK_CONTROL) | (1u << TOK_BYTE))

static uint64_t tok_hash(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;
	}
	return h ^ (h >> 29);
}

/* The id of piece s[0..n) whose type is in mask, or -1. */
static int32_t find_typed(const engine__tokenizer *t, const char *s, size_t n,
			  unsigned mask)
{
	uint64_t h;
	uint32_t tag;
	size_t i;

	if (n == 0 || n > t->max_len)
		return -1;
	h = tok_hash(s, n);
	tag = (uint32_t)(h >> 32);
	for (i = h & t->slot_mask;; i = (i + 1) & t->slot_mask) {
		int32_t id = t->slots[i].id;

		if (id < 0)
			return -1;
		if (t->slots[i].tag == tag && t->len[id] == n && (mask >> t->type[id] & 1) &&
		    memcmp(t->arena + t->off[id], s, n) == 0)
			return id;
	}
}

int32_t engine__tok_find_normal(const engine__tokenizer *t, const char *s,
				size_t len)
{
	return find_typed(t, s, len, MASK_NORMAL);
}

int32_t engine__tok_find_any(const engine__tokenizer *t, const char *s,
			     size_t len)
{
	int32_t id = find_typed(t, s, len, MASK_RESERVED);

	return id >= 0 ? id : find_typed(t, s, len, MASK_NORMAL);
}

size_t engine__tok_user_match(const engine__tokenizer *t, const char *s,
			      size_t len)
{
	if (t->n_user_lens == 0 || len == 0 || !t->user_first[(unsigned char)s[0]])
		return 0;
	for (int k = 0; k < t->n_user_lens; k++) {
		size_t n = t->user_lens[k];

		if (n <= len && find_typed(t, s, n, 1u << TOK_USER) >= 0)
			return n;
	}
	return 0;
}

/* ---- Loading ------------------------------------------------------------ */

void engine__tok_free(engine__tokenizer *t)
{
	if (t == NULL)
		return;
	free(t->arena);
	free(t->off);
	free(t->len);
	free(t->score);
	free(t->type);
	free(t->slots);
	free(t->trie);
	free(t->repl);
	free(t);
}

/* Optional keys: absent gives the default; a wrong type is an error. */
static int opt_bool(const engine__gguf *g, const char *key, bool def, bool *v,
		    pt_err *e)
{
	pt_err le;
	int rc = engine__gguf_get_bool(g, key, v, &le);

	if (rc == PT_ENOTFOUND) {
		*v = def;
		return 0;
	}
	if (rc != 0 && e != NULL)
		*e = le;
	return rc;
}

static int opt_id(const engine__gguf *g, const engine__tokenizer *t,
		  const char *key, int32_t *v, pt_err *e)
{
	pt_err le;
	uint32_t u;
	int rc = engine__gguf_get_u32(g, key, &u, &le);

	*v = -1;
	if (rc == PT_ENOTFOUND)
		return 0;
	if (rc != 0) {
		if (e != NULL)
			*e = le;
		return rc;
	}
	if (u >= (uint32_t)t->n)
		return pt_err_set(e, PT_EFORMAT, "%s = %u is not below the "
				  "vocabulary size %d", key, u, t->n);
	*v = (int32_t)u;
	return 0;
}

/* Reads tokens, scores and types into the arena and arrays. */
static int load_pieces(const engine__gguf *g, engine__tokenizer *t, pt_err *e)
{
	int et_tok, et_sc, et_ty;
	uint64_t n, n_sc, n_ty;
	const void *d_tok, *d_sc, *d_ty;
	size_t arena = 0, pos = 0;
	int rc;

	if ((rc = engine__gguf_get_arr(g, "tokenizer.ggml.tokens", &et_tok, &n, &d_tok, e)) != 0 ||
	    (rc = engine__gguf_get_arr(g, "tokenizer.ggml.scores", &et_sc, &n_sc, &d_sc, e)) != 0 ||
	    (rc = engine__gguf_get_arr(g, "tokenizer.ggml.token_type", &et_ty, &n_ty, &d_ty, e)) != 0)
		return rc;
	if (et_tok != GGUF_T_STRING || et_sc != GGUF_T_FLOAT32 ||
	    (et_ty != GGUF_T_INT32 && et_ty != GGUF_T_UINT32))
		return pt_err_set(e, PT_EFORMAT, "tokenizer.ggml.tokens/scores/"
				  "token_type: element types %d/%d/%d, expected "
				  "string/f32/i32", et_tok, et_sc, et_ty);
	if (n == 0 || n > INT32_MAX / 2 || n_sc != n || n_ty != n)
		return pt_err_set(e, PT_EFORMAT, "tokenizer.ggml.tokens has %llu "
				  "entries, scores %llu, token_type %llu: they must "
				  "be equal and between 1 and %d",
				  (unsigned long long)n, (unsigned long long)n_sc,
				  (unsigned long long)n_ty, INT32_MAX / 2);
	t->n = (int32_t)n;
	t->off = malloc(n * sizeof *t->off);
	t->len = malloc(n * sizeof *t->len);
	t->score = malloc(n * sizeof *t->score);
	t->type = malloc(n);
	if (!t->off || !t->len || !t->score || !t->type)
		return pt_err_set(e, PT_ENOMEM, "tokenizer: out of memory for "
				  "%llu pieces", (unsigned long long)n);
	for (int32_t i = 0; i < t->n; i++) {
		const char *s;
		size_t len;
		int32_t ty;

		if ((rc = engine__gguf_get_arr_str(g, "tokenizer.ggml.tokens", (uint64_t)i, &s, &len, e)) != 0)
			return rc;
		if (len == 0)
			return pt_err_set(e, PT_EFORMAT, "tokenizer.ggml.tokens[%d]: "
					  "empty (pieces must not be empty)", i);
		/* engine.h promises that 256 bytes hold what one token adds
		 * to a stream (the piece and three held-back bytes as U+FFFD). */
		if (len > TOK_MAX_PIECE)
			return pt_err_set(e, PT_EUNSUPPORTED, "tokenizer.ggml.tokens[%d]: "
					  "a piece of %zu bytes; at most %d are supported",
					  i, len, TOK_MAX_PIECE);
		if (pt_add_size(arena, len + 1, &arena) != 0 || arena > UINT32_MAX)
			return pt_err_set(e, PT_ETOOLARGE, "tokenizer.ggml.tokens: "
					  "more than 4 GiB of piece text");
		t->len[i] = (uint32_t)len;
		memcpy(&t->score[i], (const char *)d_sc + 4 * (size_t)i, 4);
		memcpy(&ty, (const char *)d_ty + 4 * (size_t)i, 4);
		if (ty < TOK_NORMAL || ty > TOK_BYTE)
			return pt_err_set(e, PT_EFORMAT, "tokenizer.ggml.token_type[%d] "
					  "= %d: not a SentencePiece piece type (1..6)", i, ty);
		t->type[i] = (uint8_t)ty;
		if (len > t->max_len)
			t->max_len = (uint32_t)len;
	}
	if ((t->arena = malloc(arena)) == NULL)
		return pt_err_set(e, PT_ENOMEM, "tokenizer: out of memory for "
				  "%zu bytes of pieces", arena);
	for (int32_t i = 0; i < t->n; i++) {
		const char *s;
		size_t len;

		if ((rc = engine__gguf_get_arr_str(g, "tokenizer.ggml.tokens", (uint64_t)i, &s, &len, e)) != 0)
			return rc;
		t->off[i] = (uint32_t)pos;
		memcpy(t->arena + pos, s, len);
		t->arena[pos + len] = '\0';
		pos += len + 1;
	}
	return 0;
}

/* Builds the hash; like SentencePiece, a piece defined twice within the
 * normal (or within the reserved) pieces is an error. */
static int build_hash(engine__tokenizer *t, pt_err *e)
{
	size_t cap = 16;

	while (cap < (size_t)t->n * 2)
		cap *= 2;
	t->slots = malloc(cap * sizeof *t->slots);
	if (t->slots == NULL)
		return pt_err_set(e, PT_ENOMEM, "tokenizer: out of memory for "
				  "the piece table");
	memset(t->slots, 0xff, cap * sizeof *t->slots);
	t->slot_mask = cap - 1;
	for (int32_t i = 0; i < t->n; i++) {
		const char *s = t->arena + t->off[i];
		unsigned mask = (MASK_NORMAL >> t->type[i] & 1) ? MASK_NORMAL : MASK_RESERVED;
		int32_t dup = find_typed(t, s, t->len[i], mask);
		size_t k;

		if (dup >= 0)
			return pt_err_set(e, PT_EFORMAT, "tokenizer.ggml.tokens: piece "
					  "\"%.64s\" is defined twice (ids %d and %d)",
					  s, dup, i);
		uint64_t h = tok_hash(s, t->len[i]);

		for (k = h & t->slot_mask; t->slots[k].id >= 0; k = (k + 1) & t->slot_mask)
			;
		t->slots[k].id = i;
		t->slots[k].tag = (uint32_t)(h >> 32);
	}
	return 0;
}

/* Parses "<0xXX>" (SentencePiece writes upper-case hex) into 0..255. */
static int piece_byte(const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	const char *a, *b;

	if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>' || s[3] == 0 || s[4] == 0)
		return -1;
	a = strchr(hex, s[3]);
	b = strchr(hex, s[4]);
	if (a == NULL || b == NULL)
		return -1;
	return (int)((a - hex) * 16 + (b - hex));
}

/* The unknown piece, byte pieces and user-defined pieces, checked as
 * SentencePiece checks them when it loads a model. */
static int scan_types(engine__tokenizer *t, bool byte_fallback_key,
		      bool have_key, pt_err *e)
{
	int n_bytes = 0;
	bool seen[256] = { false };

	t->unk = -1;
	for (int32_t i = 0; i < t->n; i++) {
		const char *s = t->arena + t->off[i];

		if (t->type[i] == TOK_UNKNOWN) {
			if (t->unk >= 0)
				return pt_err_set(e, PT_EFORMAT, "tokenizer: two unknown "
						  "pieces (ids %d and %d)", t->unk, i);
			t->unk = i;
		} else if (t->type[i] == TOK_BYTE) {
			int b = piece_byte(s, t->len[i]);

			if (b < 0)
				return pt_err_set(e, PT_EFORMAT, "tokenizer: byte piece "
						  "%d \"%.32s\" is not of the form <0xXX>", i, s);
			if (!seen[b])
				n_bytes++;
			seen[b] = true;
			t->byte_id[b] = i;
		} else if (t->type[i] == TOK_USER) {
			int k;

			t->user_first[(unsigned char)s[0]] = 1;
			for (k = 0; k < t->n_user_lens && t->user_lens[k] != t->len[i]; k++)
				;
			if (k == t->n_user_lens) {
				if (k == TOK_MAX_USER_LENS)
					return pt_err_set(e, PT_EUNSUPPORTED, "tokenizer: "
							  "user-defined pieces of more than "
							  "%d distinct lengths", TOK_MAX_USER_LENS);
				t->user_lens[t->n_user_lens++] = t->len[i];
			}
		}
	}
	if (t->unk < 0)
		return pt_err_set(e, PT_EFORMAT, "tokenizer: the vocabulary has no "
				  "unknown piece (token_type 2)");
	for (int b = 0; b < 256; b++)
		if (!seen[b])
			t->byte_id[b] = t->unk;
	/* Longest first: the match is the longest user-defined prefix. */
	for (int a = 1; a < t->n_user_lens; a++)
		for (int k = a; k > 0 && t->user_lens[k] > t->user_lens[k - 1]; k--) {
			uint32_t x = t->user_lens[k];

			t->user_lens[k] = t->user_lens[k - 1];
			t->user_lens[k - 1] = x;
		}
	t->byte_fallback = have_key ? byte_fallback_key : n_bytes > 0;
	if (t->byte_fallback && n_bytes != 256)
		return pt_err_set(e, PT_EFORMAT, "tokenizer: byte fallback is on but "
				  "only %d of the 256 byte pieces exist", n_bytes);
	return 0;
}

static int is_ws(const char *s)
{
	return memcmp(s, TOK_WS, TOK_WS_LEN) == 0;
}

/* Whether piece s[0..len) has a "▁" outside its leading (lead != 0) or
 * trailing run of "▁". */
static bool ws_inside(const char *s, uint32_t len, int lead)
{
	uint32_t a = 0, b = len;

	if (lead)
		while (b - a >= TOK_WS_LEN && is_ws(s + a))
			a += TOK_WS_LEN;
	else
		while (b - a >= TOK_WS_LEN && is_ws(s + b - TOK_WS_LEN))
			b -= TOK_WS_LEN;
	for (uint32_t k = a; k + TOK_WS_LEN <= b; k++)
		if (is_ws(s + k))
			return true;
	return false;
}

/* Finds whether the merges may run word by word (chunk_mode): when every
 * piece that can merge holds "▁" only in its leading run (SentencePiece's
 * split_by_whitespace), no piece spans a non-"▁" symbol followed by a "▁"
 * one; likewise for a trailing run with treat_whitespace_as_suffix. */
static void scan_chunking(engine__tokenizer *t)
{
	bool bad_lead = false, bad_trail = false;

	t->chunk_mode = 0;
	if (!t->escape_ws)
		return;
	for (int32_t i = 0; i < t->n; i++) {
		const char *s = t->arena + t->off[i];

		if (t->type[i] == TOK_UNUSED)
			return;
		if (!(MASK_NORMAL >> t->type[i] & 1) || t->len[i] < TOK_WS_LEN)
			continue;
		bad_lead = bad_lead || ws_inside(s, t->len[i], 1);
		bad_trail = bad_trail || ws_inside(s, t->len[i], 0);
	}
	t->chunk_mode = !bad_lead ? 1 : !bad_trail ? 2 : 0;
}

static int load_settings(const engine__gguf *g, engine__tokenizer *t, pt_err *e)
{
	const char *s;
	size_t n;
	int rc, et;
	uint64_t cn;
	const void *cd;
	pt_err le;

	rc = engine__gguf_get_str(g, "tokenizer.ggml.model", &s, &n, e);
	if (rc != 0)
		return rc;
	if (n != 5 || memcmp(s, "llama", 5) != 0)
		return pt_err_set(e, PT_EUNSUPPORTED, "tokenizer.ggml.model is "
				  "\"%.*s\"; only \"llama\" (SentencePiece) is supported",
				  (int)(n < 64 ? n : 64), s);
	if ((rc = opt_bool(g, "tokenizer.ggml.add_space_prefix", true, &t->add_dummy_prefix, e)) != 0 ||
	    (rc = opt_bool(g, "tokenizer.ggml.remove_extra_whitespaces", true, &t->remove_extra_ws, e)) != 0 ||
	    (rc = opt_bool(g, "polytrans.tokenizer.escape_whitespaces", true, &t->escape_ws, e)) != 0 ||
	    (rc = opt_bool(g, "polytrans.tokenizer.treat_whitespace_as_suffix", false, &t->ws_suffix, e)) != 0)
		return rc;
	rc = engine__gguf_get_arr(g, "tokenizer.ggml.precompiled_charsmap", &et, &cn, &cd, &le);
	if (rc == PT_ENOTFOUND)
		return 0;
	if (rc != 0) {
		if (e != NULL)
			*e = le;
		return rc;
	}
	if (et != GGUF_T_UINT8 && et != GGUF_T_INT8)
		return pt_err_set(e, PT_EFORMAT, "tokenizer.ggml.precompiled_charsmap: "
				  "element type %d, expected u8", et);
	if (cn == 0)
		return 0;
	if (cn > SIZE_MAX / 2)
		return pt_err_set(e, PT_ETOOLARGE, "tokenizer.ggml.precompiled_charsmap: "
				  "%llu bytes", (unsigned long long)cn);
	return engine__tok_charsmap_load(t, cd, (size_t)cn, e);
}

int engine__tok_load(const engine__gguf *g, engine__tokenizer **out, pt_err *e)
{
	engine__tokenizer *t = calloc(1, sizeof *t);
	bool bf = false, have_bf = true;
	pt_err le;
	int rc;

	if (t == NULL)
		return pt_err_set(e, PT_ENOMEM, "tokenizer: out of memory");
	if ((rc = load_settings(g, t, e)) != 0 || (rc = load_pieces(g, t, e)) != 0 ||
	    (rc = build_hash(t, e)) != 0)
		goto fail;
	rc = engine__gguf_get_bool(g, "polytrans.tokenizer.byte_fallback", &bf, &le);
	if (rc == PT_ENOTFOUND) {
		have_bf = false;
	} else if (rc != 0) {
		if (e != NULL)
			*e = le;
		goto fail;
	}
	if ((rc = scan_types(t, bf, have_bf, e)) != 0 ||
	    (rc = opt_id(g, t, "tokenizer.ggml.bos_token_id", &t->bos, e)) != 0 ||
	    (rc = opt_id(g, t, "tokenizer.ggml.eos_token_id", &t->eos, e)) != 0 ||
	    (rc = opt_id(g, t, "tokenizer.ggml.padding_token_id", &t->pad, e)) != 0)
		goto fail;
	scan_chunking(t);
	/* HF's slow tokenizer splits out the special tokens' strings. */
	{
		int32_t sp[4] = { t->bos, t->eos, t->unk, t->pad };

		for (int k = 0; k < 4; k++)
			if (sp[k] >= 0)
				t->special[t->n_special++] = sp[k];
	}
	*out = t;
	return 0;
fail:
	engine__tok_free(t);
	return rc;
}

/* ---- Public accessors ---------------------------------------------------- */

const char *engine_token_piece(const engine_model *m, int32_t id)
{
	const engine__tokenizer *t = m != NULL ? m->tok : NULL;

	if (t == NULL || id < 0 || id >= t->n)
		return NULL;
	return t->arena + t->off[id];
}

int32_t engine_n_vocab(const engine_model *m)
{
	if (m == NULL)
		return 0;
	return m->tok != NULL ? m->tok->n : m->info.n_vocab;
}
