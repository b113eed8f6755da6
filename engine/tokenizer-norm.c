/*
 * tokenizer-norm.c: SentencePiece's normalizer. The text is rewritten by
 * the model's precompiled charsmap (longest match at each position in a
 * Darts-clone double-array trie; no match copies one character as is),
 * then extra spaces are removed, the dummy-prefix space is added and
 * spaces are escaped as "▁". User-defined pieces are left untouched.
 * The order of these steps and their interplay (a replacement that starts
 * with spaces after a space, a character that normalizes to " " at the
 * start) follow normalizer.cc exactly, since the ids depend on them.
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer-impl.h"

int engine__tok_buf_reserve(tok_buf *b, size_t extra, pt_err *e)
{
	size_t need, cap;
	char *p;

	if (pt_add_size(b->n, extra, &need) != 0)
		return pt_err_set(e, PT_ETOOLARGE, "tokenizer: text too large");
	if (need <= b->cap)
		return 0;
	cap = b->cap < 256 ? 256 : b->cap;
	while (cap < need) {
		if (pt_mul_size(cap, 2, &cap) != 0)
			return pt_err_set(e, PT_ETOOLARGE,
					  "tokenizer: text too large");
	}
	p = realloc(b->p, cap);
	if (p == NULL)
		return pt_err_set(e, PT_ENOMEM,
				  "tokenizer: out of memory for %zu bytes", cap);
	b->p = p;
	b->cap = cap;
	return 0;
}

int engine__tok_charsmap_load(engine__tokenizer *t, const uint8_t *blob,
			      size_t n, pt_err *e)
{
	uint32_t trie_bytes;

	if (n <= 4)
		return pt_err_set(e, PT_EFORMAT,
				  "tokenizer.ggml.precompiled_charsmap: %zu bytes, "
				  "too short for its header", n);
	trie_bytes = (uint32_t)blob[0] | (uint32_t)blob[1] << 8 |
		     (uint32_t)blob[2] << 16 | (uint32_t)blob[3] << 24;
	/* The trie must fit the blob in whole units and not be empty (unit 0
	 * is read unconditionally). */
	if (trie_bytes > n - 4 || trie_bytes % 4 != 0 || trie_bytes == 0)
		return pt_err_set(e, PT_EFORMAT,
				  "tokenizer.ggml.precompiled_charsmap: trie of %u "
				  "bytes does not fit a blob of %zu bytes in whole "
				  "4-byte units", trie_bytes, n);
	t->n_trie = trie_bytes / 4;
	t->trie = malloc(trie_bytes);
	t->repl_len = n - 4 - trie_bytes;
	/* One more byte so every replacement string ends in a NUL, even a
	 * malformed last one. */
	t->repl = malloc(t->repl_len + 1);
	if (t->trie == NULL || t->repl == NULL)
		return pt_err_set(e, PT_ENOMEM,
				  "tokenizer: out of memory for the charsmap");
	for (size_t i = 0; i < t->n_trie; i++) {
		const uint8_t *u = blob + 4 + 4 * i;
		t->trie[i] = (uint32_t)u[0] | (uint32_t)u[1] << 8 |
			     (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
	}
	memcpy(t->repl, blob + 4 + trie_bytes, t->repl_len);
	t->repl[t->repl_len] = '\0';
	return 0;
}

/* Darts-clone unit fields. */
static inline uint32_t darts_offset(uint32_t u)
{
	return (u >> 10) << ((u & (1u << 9)) >> 6);
}
static inline int darts_has_leaf(uint32_t u) { return (u >> 8) & 1; }
static inline uint32_t darts_label(uint32_t u) { return u & ((1u << 31) | 0xff); }
static inline uint32_t darts_value(uint32_t u) { return u & 0x7fffffff; }

/*
 * Longest charsmap rule prefixing s[0..len): returns the matched length
 * (0 if none) and the replacement in *repl. Every node index is checked
 * against the array, so a corrupt trie ends the match instead of reading
 * out of bounds.
 */
static size_t charsmap_match(const engine__tokenizer *t, const char *s,
			     size_t len, const char **repl)
{
	const uint32_t *a = t->trie;
	size_t best = 0;
	uint32_t best_val = 0;
	size_t pos = darts_offset(a[0]);

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		uint32_t u;

		pos ^= c;
		if (pos >= t->n_trie)
			break;
		u = a[pos];
		if (darts_label(u) != c)
			break;
		pos ^= darts_offset(u);
		if (darts_has_leaf(u)) {
			if (pos >= t->n_trie)
				break;
			best = i + 1;
			best_val = darts_value(a[pos]);
		}
	}
	if (best == 0)
		return 0;
	if (best_val >= t->repl_len)
		*repl = "";
	else
		*repl = t->repl + best_val;
	return best;
}

/*
 * SentencePiece's NormalizePrefix: what the next piece of input becomes
 * (*out, *out_len) and how many input bytes it consumes (returned).
 */
static size_t norm_prefix(const engine__tokenizer *t, const char *s,
			  size_t len, const char **out, size_t *out_len)
{
	size_t n;
	int cl;

	n = engine__tok_user_match(t, s, len);
	if (n > 0) {
		*out = s;
		*out_len = n;
		return n;
	}
	if (t->trie != NULL) {
		const char *r;

		n = charsmap_match(t, s, len, &r);
		if (n > 0) {
			*out = r;
			*out_len = strlen(r);
			return n;
		}
	}
	/* The input was validated, so a lead byte and its length are sound;
	 * the clamp only guards a caller that skipped validation. */
	cl = pt_utf8_len((unsigned char)s[0]);
	n = cl <= 0 ? 1 : (size_t)cl;
	if (n > len)
		n = len;
	*out = s;
	*out_len = n;
	return n;
}

static int ends_with(const tok_buf *b, const char *s, size_t n)
{
	return b->n >= n && memcmp(b->p + b->n - n, s, n) == 0;
}

static int put_ws(const engine__tokenizer *t, tok_buf *out, pt_err *e)
{
	int rc = engine__tok_buf_reserve(out, TOK_WS_LEN, e);

	if (rc != 0)
		return rc;
	if (t->escape_ws) {
		memcpy(out->p + out->n, TOK_WS, TOK_WS_LEN);
		out->n += TOK_WS_LEN;
	} else {
		out->p[out->n++] = ' ';
	}
	return 0;
}

/* Appends sp[0..n) with spaces escaped. */
static int put_piece(const engine__tokenizer *t, const char *sp, size_t n,
		     tok_buf *out, pt_err *e)
{
	size_t need;
	int rc;

	if (pt_mul_size(n, TOK_WS_LEN, &need) != 0)
		return pt_err_set(e, PT_ETOOLARGE, "tokenizer: text too large");
	rc = engine__tok_buf_reserve(out, need, e);
	if (rc != 0)
		return rc;
	for (size_t k = 0; k < n; k++) {
		if (t->escape_ws && sp[k] == ' ') {
			memcpy(out->p + out->n, TOK_WS, TOK_WS_LEN);
			out->n += TOK_WS_LEN;
		} else {
			out->p[out->n++] = sp[k];
		}
	}
	return 0;
}

int engine__tok_normalize(const engine__tokenizer *t, const char *text,
			  size_t len, tok_buf *out, pt_err *e)
{
	const char *sp;
	size_t n, spn;
	bool prev_space;
	int rc;

	out->n = 0;
	/* Leading spaces: anything whose normalized form is exactly " ". */
	if (t->remove_extra_ws) {
		while (len > 0) {
			n = norm_prefix(t, text, len, &sp, &spn);
			if (spn != 1 || sp[0] != ' ')
				break;
			text += n;
			len -= n;
		}
	}
	/* SentencePiece adds the dummy prefix only to a text that still has
	 * something in it. */
	if (len == 0)
		return 0;
	rc = engine__tok_buf_reserve(out, len < SIZE_MAX / 4 ? len * 3 + 16 : len, e);
	if (rc != 0)
		return rc;
	if (!t->ws_suffix && t->add_dummy_prefix && (rc = put_ws(t, out, e)) != 0)
		return rc;

	prev_space = t->remove_extra_ws;
	while (len > 0) {
		n = norm_prefix(t, text, len, &sp, &spn);
		while (prev_space && spn > 0 && sp[0] == ' ') {
			sp++;
			spn--;
		}
		if (spn > 0) {
			if ((rc = put_piece(t, sp, spn, out, e)) != 0)
				return rc;
			prev_space = sp[spn - 1] == ' ';
		}
		text += n;
		len -= n;
		if (!t->remove_extra_ws)
			prev_space = false;
	}

	if (t->remove_extra_ws) {
		const char *ws = t->escape_ws ? TOK_WS : " ";
		size_t wsn = t->escape_ws ? TOK_WS_LEN : 1;

		while (ends_with(out, ws, wsn))
			out->n -= wsn;
	}
	if (t->ws_suffix && t->add_dummy_prefix && (rc = put_ws(t, out, e)) != 0)
		return rc;
	return 0;
}
