/*
 * tokenizer-bpe.c: engine_tokenize. The text is split at the literal
 * special-token strings (as HF's slow LlamaTokenizer does), each part is
 * normalized and segmented by BPE exactly as SentencePiece's bpe::Model
 * does, and the pieces become ids with byte fallback for unknown ones.
 *
 * BPE: symbols start as UTF-8 characters (or whole user-defined pieces,
 * which never merge). A max-heap holds every adjacent pair whose
 * concatenation is a piece, ordered by the piece's score and then by the
 * left symbol's position; popping the best pair merges it and queues the
 * two pairs it creates. Entries made stale by an earlier merge are
 * recognised by their size and skipped. Each merge costs O(log n), so the
 * whole text is O(n log n).
 */
#include <stdlib.h>
#include <string.h>

#include "tokenizer-impl.h"

typedef struct tok_sym {
	int32_t prev, next;     /* -1 at the ends */
	uint32_t off, len;      /* bytes of the normalized text; len 0 = merged away */
	uint8_t freeze;         /* a user-defined piece */
} tok_sym;

typedef struct tok_pair {
	float score;
	int32_t left, right;
	uint32_t size;          /* bytes of the merged piece when queued */
} tok_pair;

/* The last queued split of an unused piece (SentencePiece's rev_merge). */
typedef struct tok_split {
	int32_t id;
	uint32_t seq, off, llen, tlen;
} tok_split;

typedef struct tok_work {
	const engine__tokenizer *t;
	tok_buf norm;
	tok_sym *sym;
	size_t sym_cap;
	tok_pair *heap;
	size_t heap_n, heap_cap;
	tok_split *split;
	size_t n_split, split_cap;
	int32_t *out;           /* the caller's ids: written while n < cap */
	size_t cap, n;
	bool prev_unk;
	bool oom;               /* a queue or split record could not grow */
} tok_work;

/* ---- Priority queue ----------------------------------------------------- */

static inline int pair_before(const tok_pair *a, const tok_pair *b)
{
	return a->score > b->score || (a->score == b->score && a->left < b->left);
}

/* Queues p; the queue grows by doubling (never past the 3n bound), and a
 * failed allocation is remembered in w->oom. */
static void heap_push(tok_work *w, tok_pair p)
{
	size_t i;

	if (w->heap_n == w->heap_cap) {
		size_t cap = w->heap_cap * 2 + 64;
		tok_pair *h = realloc(w->heap, cap * sizeof *h);

		if (h == NULL) {
			w->oom = true;
			return;
		}
		w->heap = h;
		w->heap_cap = cap;
	}
	i = w->heap_n++;
	while (i > 0) {
		size_t up = (i - 1) / 2;

		if (!pair_before(&p, &w->heap[up]))
			break;
		w->heap[i] = w->heap[up];
		i = up;
	}
	w->heap[i] = p;
}

static tok_pair heap_pop(tok_work *w)
{
	tok_pair top = w->heap[0], last = w->heap[--w->heap_n];
	size_t i = 0, n = w->heap_n;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && pair_before(&w->heap[c + 1], &w->heap[c]))
			c++;
		if (!pair_before(&w->heap[c], &last))
			break;
		w->heap[i] = w->heap[c];
		i = c;
	}
	if (n > 0)
		w->heap[i] = last;
	return top;
}

/* ---- Output --------------------------------------------------------------- */

static void put_id(tok_work *w, int32_t id)
{
	if (w->n < w->cap)
		w->out[w->n] = id;
	w->n++;
}

/* SentencePiece's PopulateSentencePieceText: an unknown piece becomes its
 * bytes (byte fallback) or joins a preceding unknown one. */
static void emit(tok_work *w, const char *s, size_t len, int32_t id)
{
	const engine__tokenizer *t = w->t;
	bool unk = t->type[id] == TOK_UNKNOWN;

	if (unk && t->byte_fallback) {
		for (size_t i = 0; i < len; i++)
			put_id(w, t->byte_id[(unsigned char)s[i]]);
	} else if (!(unk && w->prev_unk)) {
		put_id(w, id);
	}
	w->prev_unk = unk;
}

static const tok_split *find_split(const tok_work *w, int32_t id)
{
	size_t lo = 0, hi = w->n_split;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (w->split[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < w->n_split && w->split[lo].id == id ? &w->split[lo] : NULL;
}

/* Emits the piece at norm[off..+len), splitting an unused piece back into
 * the two parts it was last queued from. Each split is shorter, so the
 * depth is bounded by the piece length; the cap only guards a hostile
 * vocabulary. */
static void resegment(tok_work *w, uint32_t off, uint32_t len, int depth)
{
	const engine__tokenizer *t = w->t;
	const char *s = w->norm.p + off;
	int32_t id = engine__tok_find_any(t, s, len);
	const tok_split *sp;

	if (id < 0)
		id = t->unk;
	if (t->type[id] != TOK_UNUSED || depth > 64 ||
	    (sp = find_split(w, id)) == NULL) {
		emit(w, s, len, id);
		return;
	}
	resegment(w, sp->off, sp->llen, depth + 1);
	resegment(w, sp->off + sp->llen, sp->tlen - sp->llen, depth + 1);
}

/* ---- BPE ------------------------------------------------------------------ */

static void maybe_queue(tok_work *w, int32_t l, int32_t r)
{
	const engine__tokenizer *t = w->t;
	const tok_sym *a, *b;
	int32_t id;
	tok_pair p;

	if (l < 0 || r < 0)
		return;
	a = &w->sym[l];
	b = &w->sym[r];
	if (a->freeze || b->freeze)
		return;
	id = engine__tok_find_normal(t, w->norm.p + a->off, (size_t)a->len + b->len);
	if (id < 0)
		return;
	p.score = t->score[id];
	p.left = l;
	p.right = r;
	p.size = a->len + b->len;
	heap_push(w, p);
	if (t->type[id] == TOK_UNUSED) {
		tok_split *s;

		if (w->n_split == w->split_cap) {
			size_t cap = w->split_cap * 2 + 16;

			s = realloc(w->split, cap * sizeof *s);
			if (s == NULL) {
				w->oom = true;
				return;
			}
			w->split = s;
			w->split_cap = cap;
		}
		s = &w->split[w->n_split];
		s->id = id;
		s->seq = (uint32_t)w->n_split;
		s->off = a->off;
		s->llen = a->len;
		s->tlen = p.size;
		w->n_split++;
	}
}

static int split_cmp(const void *pa, const void *pb)
{
	const tok_split *a = pa, *b = pb;

	if (a->id != b->id)
		return a->id < b->id ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Keeps, for each unused piece, only its last queued split. */
static void settle_splits(tok_work *w)
{
	size_t k = 0;

	if (w->n_split == 0)
		return;
	qsort(w->split, w->n_split, sizeof *w->split, split_cmp);
	for (size_t i = 0; i < w->n_split; i++) {
		if (i + 1 < w->n_split && w->split[i + 1].id == w->split[i].id)
			continue;
		w->split[k++] = w->split[i];
	}
	w->n_split = k;
}

/* Grows the symbol array for a normalized text of n bytes (at most n
 * symbols). The pair queue and the split records grow as they fill: at
 * most 3n pairs are ever queued (n - 1 at first, two per merge), so their
 * sizes stay within size_t once n is. */
static int work_reserve(tok_work *w, size_t n, pt_err *e)
{
	size_t bytes;
	tok_sym *s;

	if (n > INT32_MAX / 4 || pt_mul_size(n, sizeof *w->sym, &bytes) != 0)
		return pt_err_set(e, PT_ETOOLARGE, "tokenizer: the normalized text "
				  "has %zu bytes, over the limit of %d", n, INT32_MAX / 4);
	if (n <= w->sym_cap)
		return 0;
	if ((s = realloc(w->sym, bytes)) == NULL)
		return pt_err_set(e, PT_ENOMEM, "tokenizer: out of memory for "
				  "%zu symbols", n);
	w->sym = s;
	w->sym_cap = n;
	return 0;
}

/* Splits the normalized text into symbols: UTF-8 characters, or whole
 * user-defined pieces (frozen). Returns their number. */
static size_t split_symbols(tok_work *w)
{
	const engine__tokenizer *t = w->t;
	size_t n = 0, pos = 0;

	while (pos < w->norm.n) {
		size_t rest = w->norm.n - pos, ml = engine__tok_user_match(t, w->norm.p + pos, rest);
		tok_sym *s = &w->sym[n];

		s->freeze = ml > 0;
		if (ml == 0) {
			int cl = pt_utf8_len((unsigned char)w->norm.p[pos]);

			ml = cl <= 0 ? 1 : (size_t)cl;
			if (ml > rest)
				ml = rest;
		}
		s->off = (uint32_t)pos;
		s->len = (uint32_t)ml;
		s->prev = (int32_t)n - 1;
		pos += ml;
		s->next = pos < w->norm.n ? (int32_t)n + 1 : -1;
		n++;
	}
	return n;
}

/* Runs the merges of symbols [a, b) until no pair is left. */
static void merge_range(tok_work *w, size_t a, size_t b)
{
	w->heap_n = 0;
	for (size_t i = a + 1; i < b; i++)
		maybe_queue(w, (int32_t)i - 1, (int32_t)i);
	while (w->heap_n > 0 && !w->oom) {
		tok_pair p = heap_pop(w);
		tok_sym *l = &w->sym[p.left], *r = &w->sym[p.right];

		if (l->len == 0 || r->len == 0 || l->len + r->len != p.size)
			continue;
		l->len += r->len;
		l->next = r->next;
		if (r->next >= 0)
			w->sym[r->next].prev = p.left;
		r->len = 0;
		maybe_queue(w, l->prev, p.left);
		maybe_queue(w, p.left, l->next);
	}
}

static int sym_starts_ws(const tok_work *w, size_t i)
{
	const tok_sym *s = &w->sym[i];

	return s->len >= TOK_WS_LEN && memcmp(w->norm.p + s->off, TOK_WS, TOK_WS_LEN) == 0;
}

static int sym_ends_ws(const tok_work *w, size_t i)
{
	const tok_sym *s = &w->sym[i];

	return s->len >= TOK_WS_LEN &&
	       memcmp(w->norm.p + s->off + s->len - TOK_WS_LEN, TOK_WS, TOK_WS_LEN) == 0;
}

/* Whether a chunk ends between symbols i - 1 and i (see chunk_mode): at a
 * non-"▁" symbol followed by a "▁" one (mode 1), or the reverse (mode 2). */
static int chunk_cut(const tok_work *w, size_t i)
{
	if (w->t->chunk_mode == 1)
		return sym_starts_ws(w, i) && !sym_ends_ws(w, i - 1);
	return sym_ends_ws(w, i - 1) && !sym_starts_ws(w, i);
}

/* sp.encode of one part of the text. When no piece can span a word
 * boundary (chunk_mode), the merges run word by word: the result is the
 * same, since no pair crosses a boundary, and the queue stays small and
 * in cache instead of holding the pairs of the whole text. */
static int encode_part(tok_work *w, const char *text, size_t len, pt_err *e)
{
	size_t n, a = 0;
	int rc;

	if ((rc = engine__tok_normalize(w->t, text, len, &w->norm, e)) != 0)
		return rc;
	if (w->norm.n == 0)
		return 0;
	if ((rc = work_reserve(w, w->norm.n, e)) != 0)
		return rc;
	n = split_symbols(w);
	w->n_split = 0;
	if (w->t->chunk_mode != 0) {
		for (size_t i = 1; i < n; i++) {
			if (chunk_cut(w, i)) {
				merge_range(w, a, i);
				a = i;
			}
		}
	}
	merge_range(w, a, n);
	if (w->oom)
		return pt_err_set(e, PT_ENOMEM, "tokenizer: out of memory for the "
				  "merge queue");
	settle_splits(w);
	w->prev_unk = false;
	for (int32_t i = 0; i >= 0; i = w->sym[i].next)
		resegment(w, w->sym[i].off, w->sym[i].len, 0);
	return 0;
}

/* The special token whose string starts text[0..len) (longest), or -1;
 * *n gets its length. */
static int32_t special_at(const engine__tokenizer *t, const char *s, size_t len,
			  size_t *n)
{
	int32_t best = -1;

	*n = 0;
	for (int k = 0; k < t->n_special; k++) {
		int32_t id = t->special[k];
		size_t l = t->len[id];

		if (l <= len && l > *n && memcmp(s, t->arena + t->off[id], l) == 0) {
			best = id;
			*n = l;
		}
	}
	return best;
}

static int tokenize_all(tok_work *w, const char *text, size_t len,
			unsigned flags, pt_err *e)
{
	const engine__tokenizer *t = w->t;
	size_t start = 0, i = 0, sn;
	int rc;

	if (flags & ENGINE_TOK_ADD_BOS && t->bos >= 0)
		put_id(w, t->bos);
	if (flags & ENGINE_TOK_NO_SPECIAL || t->n_special == 0)
		return encode_part(w, text, len, e);
	while (i < len) {
		int32_t id = special_at(t, text + i, len - i, &sn);

		if (id < 0) {
			i++;
			continue;
		}
		if (i > start && (rc = encode_part(w, text + start, i - start, e)) != 0)
			return rc;
		put_id(w, id);
		i += sn;
		start = i;
	}
	if (len > start)
		return encode_part(w, text + start, len - start, e);
	return 0;
}

int engine_tokenize(const engine_model *m, const char *text, size_t len,
		    unsigned flags, int32_t *ids, size_t cap, size_t *n_out,
		    pt_err *e)
{
	tok_work w = { 0 };
	size_t bad;
	int rc;

	if (m == NULL || m->tok == NULL)
		return pt_err_set(e, PT_EINVAL, "tokenize: the model has no tokenizer");
	if (text == NULL && len > 0)
		return pt_err_set(e, PT_EINVAL, "tokenize: NULL text");
	if (len > 0 && pt_utf8_check(text, len, &bad) != 0)
		return pt_err_set(e, PT_EUTF8, "tokenize: invalid UTF-8 at byte "
				  "offset %zu (byte 0x%02x)", bad,
				  (unsigned)(unsigned char)text[bad]);
	w.t = m->tok;
	w.out = ids;
	w.cap = ids != NULL ? cap : 0;
	rc = tokenize_all(&w, text, len, flags, e);
	free(w.norm.p);
	free(w.sym);
	free(w.heap);
	free(w.split);
	if (rc != 0)
		return rc;
	if (n_out != NULL)
		*n_out = w.n;
	if (w.n > w.cap)
		return pt_err_set(e, PT_ETOOLARGE, "tokenize: the text needs %zu "
				  "ids, room for %zu", w.n, w.cap);
	return 0;
}
