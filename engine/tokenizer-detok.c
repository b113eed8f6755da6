/*
 * tokenizer-detok.c: ids back to text, as SentencePiece decodes them:
 * "▁" becomes a space, the first piece's leading "▁" (the dummy prefix)
 * is dropped, control and unknown tokens are skipped, runs of byte pieces
 * are reassembled and every byte that does not belong to a valid UTF-8
 * sequence becomes U+FFFD.
 *
 * engine_detokenize is the streaming decoder run over all the ids, so the
 * two give the same text by construction: the stream only ever holds back
 * the bytes of a UTF-8 sequence that is valid so far and incomplete.
 */
#include <string.h>

#include "tokenizer-impl.h"

#define REPLACEMENT "\xef\xbf\xbd"

/* Output that keeps what fits in cap bytes and counts everything. */
typedef struct detok_sink {
	char *p;
	size_t cap, n;
} detok_sink;

static void sink_put(detok_sink *o, const char *s, size_t n)
{
	if (o->n < o->cap) {
		size_t k = o->cap - o->n < n ? o->cap - o->n : n;

		memcpy(o->p + o->n, s, k);
	}
	o->n += n;
}

/* How far pend[0..n) is a valid start of one UTF-8 sequence: returns its
 * full length if the bytes so far are valid (complete or not), 0 if
 * pend[0] cannot start one, or -k if byte k is the first that breaks it. */
static int utf8_prefix(const unsigned char *p, int n)
{
	int len = pt_utf8_len(p[0]);
	unsigned char lo = 0x80, hi = 0xbf;

	if (len == 0)
		return 0;
	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	for (int k = 1; k < n && k < len; k++) {
		unsigned char a = k == 1 ? lo : 0x80, b = k == 1 ? hi : 0xbf;

		if (p[k] < a || p[k] > b)
			return -k;
	}
	return len;
}

static void drop_front(engine_detok *d, int k)
{
	memmove(d->pend, d->pend + k, (size_t)(d->npend - k));
	d->npend -= k;
}

/* Adds one byte to the pending sequence and emits what is settled. */
static void feed_byte(engine_detok *d, unsigned char c, detok_sink *o)
{
	if (d->npend == 0 && c < 0x80) {
		sink_put(o, (const char *)&c, 1);
		return;
	}
	d->pend[d->npend++] = c;
	while (d->npend > 0) {
		int r = utf8_prefix(d->pend, d->npend);

		if (r <= 0) {
			/* pend[0] starts no valid sequence: it alone becomes
			 * U+FFFD and the rest is looked at again. */
			sink_put(o, REPLACEMENT, 3);
			drop_front(d, 1);
		} else if (r <= d->npend) {
			sink_put(o, (const char *)d->pend, (size_t)r);
			drop_front(d, r);
		} else {
			break;  /* valid so far, waiting for more bytes */
		}
	}
}

static void feed(engine_detok *d, const char *s, size_t n, detok_sink *o)
{
	/* The common case: nothing pending and a piece of valid UTF-8. */
	if (d->npend == 0) {
		sink_put(o, s, n);
		return;
	}
	for (size_t i = 0; i < n; i++)
		feed_byte(d, (unsigned char)s[i], o);
}

/* A byte piece's value ("<0x0A>" -> 10); the loader checked the form. */
static unsigned char piece_byte_value(const char *s)
{
	unsigned v = 0;

	for (int k = 3; k < 5; k++)
		v = v * 16 + (unsigned)(s[k] <= '9' ? s[k] - '0' : s[k] - 'A' + 10);
	return (unsigned char)v;
}

static void detok_step(engine_detok *d, int32_t id, detok_sink *o)
{
	const engine__tokenizer *t = d->m != NULL ? d->m->tok : NULL;
	const char *s;
	size_t len, start, before;
	bool bos_ws = false;

	if (t == NULL || id < 0 || id >= t->n)
		return;
	s = t->arena + t->off[id];
	len = t->len[id];
	switch (t->type[id]) {
	case TOK_CONTROL:
	case TOK_UNKNOWN:
		return;
	case TOK_BYTE:
		feed_byte(d, piece_byte_value(s), o);
		d->first = 0;
		return;
	default:
		break;
	}
	/* SentencePiece drops the dummy prefix of the first piece; with
	 * remove_extra_whitespaces it keeps dropping while the text is
	 * still empty. */
	if (d->first && (t->add_dummy_prefix || t->remove_extra_ws) &&
	    len >= TOK_WS_LEN && memcmp(s, TOK_WS, TOK_WS_LEN) == 0) {
		s += TOK_WS_LEN;
		len -= TOK_WS_LEN;
		bos_ws = !t->remove_extra_ws;
	}
	before = o->n;
	start = 0;
	for (size_t i = 0; i + TOK_WS_LEN <= len; i++) {
		if (memcmp(s + i, TOK_WS, TOK_WS_LEN) != 0)
			continue;
		feed(d, s + start, i - start, o);
		feed(d, " ", 1, o);
		start = i + TOK_WS_LEN;
		i += TOK_WS_LEN - 1;
	}
	feed(d, s + start, len - start, o);
	if (o->n != before || d->npend > 0 || bos_ws)
		d->first = 0;
}

static void detok_flush(engine_detok *d, detok_sink *o)
{
	/* At the end an incomplete sequence is invalid: each of its bytes
	 * becomes U+FFFD (its continuation bytes cannot start a sequence). */
	for (int k = 0; k < d->npend; k++)
		sink_put(o, REPLACEMENT, 3);
	d->npend = 0;
}

void engine_detok_init(engine_detok *d, const engine_model *m)
{
	memset(d, 0, sizeof *d);
	d->m = m;
	d->first = 1;
}

size_t engine_detok_push(engine_detok *d, int32_t id, char *out, size_t cap)
{
	detok_sink o = { out, out != NULL ? cap : 0, 0 };

	detok_step(d, id, &o);
	return o.n < o.cap ? o.n : o.cap;
}

size_t engine_detok_flush(engine_detok *d, char *out, size_t cap)
{
	detok_sink o = { out, out != NULL ? cap : 0, 0 };

	detok_flush(d, &o);
	return o.n < o.cap ? o.n : o.cap;
}

int engine_detokenize(const engine_model *m, const int32_t *ids, size_t n,
		      char *out, size_t cap, size_t *len_out, pt_err *e)
{
	engine_detok d;
	detok_sink o = { out, 0, 0 };
	int32_t nv;

	if (m == NULL || m->tok == NULL)
		return pt_err_set(e, PT_EINVAL, "detokenize: the model has no "
				  "tokenizer");
	nv = m->tok->n;
	for (size_t i = 0; i < n; i++)
		if (ids[i] < 0 || ids[i] >= nv)
			return pt_err_set(e, PT_EINVAL, "detokenize: id %d at "
					  "position %zu is outside the vocabulary "
					  "(0..%d)", ids[i], i, nv - 1);
	if (out != NULL && cap > 0)
		o.cap = cap - 1;
	engine_detok_init(&d, m);
	for (size_t i = 0; i < n; i++)
		detok_step(&d, ids[i], &o);
	detok_flush(&d, &o);
	if (out != NULL && cap > 0)
		out[o.n < o.cap ? o.n : o.cap] = '\0';
	if (len_out != NULL)
		*len_out = o.n;
	return 0;
}
