/*
 * generate.c: text generation on top of engine_decode. Greedy decoding,
 * sampling (temperature, top-k, top-p, a seeded PRNG of our own so a seed
 * reproduces across libc versions), the repetition penalty, stop rules and
 * streaming. Beam search lives in generate-beam.c; both share the state
 * declared in generate-impl.h.
 *
 * Every buffer a call needs is sized once at its start (gen__state_init):
 * nothing is allocated in the per-token loop.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "generate-impl.h"

/* Tokens handed to one engine_eval call during prefill: between two calls
 * the cancel flag is checked, so a long prompt can be abandoned. */
#define GEN_PREFILL_CHUNK 256

engine_gen_params engine_gen_default_params(void)
{
	engine_gen_params p;

	memset(&p, 0, sizeof p);
	p.max_tokens = 256;
	p.n_beams = 1;
	p.temperature = 0.0f;
	p.top_p = 1.0f;
	p.top_k = 0;
	p.seed = 0;
	p.repetition_penalty = 1.0f;
	p.length_penalty = 1.0f;
	p.stop = NULL;
	p.n_stop = 0;
	p.stop_at_eos = 1;
	p.cancel = NULL;
	return p;
}

void engine_gen_result_done(engine_gen_result *res)
{
	if (res == NULL)
		return;
	free(res->ids);
	free(res->text);
	memset(res, 0, sizeof *res);
}

/* ---- PRNG: xoshiro256** seeded through splitmix64 ---------------------- */

static uint64_t gen__splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void engine__rng_seed(engine__rng *r, uint64_t seed)
{
	uint64_t x = seed;

	for (int i = 0; i < 4; i++)
		r->s[i] = gen__splitmix64(&x);
}

static inline uint64_t gen__rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t gen__rng_next(engine__rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = gen__rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = gen__rotl(s[3], 45);
	return result;
}

/* Uniform in [0, 1) with 53 random bits. */
double engine__rng_uniform(engine__rng *r)
{
	return (double)(gen__rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* ---- Stop strings ------------------------------------------------------ */

/*
 * Finds the earliest stop string in text[0..len) that ends after byte
 * old_len (earlier ones were looked for when the text was shorter).
 * Returns 1 and its offset in *pos, or 0.
 */
int engine__stop_find(const engine__gen *g, const char *text, size_t len,
		      size_t old_len, size_t *pos)
{
	const engine_gen_params *gp = g->gp;
	size_t from = old_len + 1 > g->stop_max ? old_len + 1 - g->stop_max : 0;
	int found = 0;

	for (int32_t i = 0; i < gp->n_stop; i++) {
		size_t sl = g->stop_len[i];
		const char *hit;

		if (len - from < sl)
			continue;
		hit = memmem(text + from, len - from, gp->stop[i], sl);
		if (hit != NULL && (!found || (size_t)(hit - text) < *pos)) {
			*pos = (size_t)(hit - text);
			found = 1;
		}
	}
	return found;
}

/* Length of the longest suffix of text[0..len) that is a proper prefix of
 * some stop string: text that must be held back from the stream until the
 * next tokens show whether it starts a stop string. */
size_t engine__stop_hold(const engine__gen *g, const char *text, size_t len)
{
	const engine_gen_params *gp = g->gp;
	size_t best = 0;

	for (int32_t i = 0; i < gp->n_stop; i++) {
		size_t sl = g->stop_len[i];

		for (size_t k = sl - 1 < len ? sl - 1 : len; k > best; k--) {
			if (memcmp(text + len - k, gp->stop[i], k) == 0) {
				best = k;
				break;
			}
		}
	}
	return best;
}

/* ---- Logit processors -------------------------------------------------- */

/*
 * The repetition penalty as Hugging Face applies it: each distinct token of
 * the prompt and of the generated text (gen[0..n_gen)) has its score
 * divided by the penalty if positive, multiplied if not. A stamp array
 * marks the tokens already penalised in this call so repeats count once.
 */
void engine__rep_penalty(engine__gen *g, float *scores, const int32_t *gen,
			 int32_t n_gen)
{
	float p = g->gp->repetition_penalty;
	uint32_t cur;

	if (p == 1.0f)
		return;
	if (++g->stamp_cur == 0) {
		memset(g->stamp, 0, (size_t)g->n_vocab * sizeof *g->stamp);
		g->stamp_cur = 1;
	}
	cur = g->stamp_cur;
	for (size_t i = 0; i < g->n_prompt + (size_t)n_gen; i++) {
		int32_t t = i < g->n_prompt ? g->prompt[i] : gen[i - g->n_prompt];

		if (t < 0 || t >= g->n_vocab || g->stamp[t] == cur)
			continue;
		g->stamp[t] = cur;
		scores[t] = scores[t] > 0 ? scores[t] / p : scores[t] * p;
	}
}

static int32_t gen__argmax(const float *x, int32_t n)
{
	int32_t best = 0;

	for (int32_t i = 1; i < n; i++)
		if (x[i] > x[best])
			best = i;
	return best;
}

/* Descending by weight, then ascending by id, so that the order (and the
 * sample a seed gives) does not depend on the sort algorithm. */
static int gen__cand_cmp(const void *a, const void *b)
{
	const engine__cand *x = a, *y = b;

	if (x->w != y->w)
		return x->w > y->w ? -1 : 1;
	return (x->id > y->id) - (x->id < y->id);
}

/* Sift-down in a heap whose root is the worst candidate (by
 * gen__cand_cmp), used to keep the k best of a long list. */
static void gen__heap_down(engine__cand *h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, w = i;
		engine__cand t;

		if (l < n && gen__cand_cmp(&h[l], &h[w]) > 0)
			w = l;
		if (r < n && gen__cand_cmp(&h[r], &h[w]) > 0)
			w = r;
		if (w == i)
			return;
		t = h[i];
		h[i] = h[w];
		h[w] = t;
		i = w;
	}
}

/* Given a heap with the worst at the root, moves the worst to the end
 * repeatedly, which leaves c[0..n) sorted best first (heapsort: glibc's
 * qsort may allocate, and this runs once per token). */
static void gen__sort_heap(engine__cand *c, size_t n)
{
	for (size_t end = n; end > 1; end--) {
		engine__cand t = c[0];

		c[0] = c[end - 1];
		c[end - 1] = t;
		gen__heap_down(c, end - 1, 0);
	}
}

/* Puts the k largest weights of w[0..n) into c[0..k), sorted. */
static void gen__top_k(engine__cand *c, const float *w, int32_t n, size_t k)
{
	size_t m = 0;

	for (int32_t i = 0; i < n; i++) {
		engine__cand x = { w[i], i };

		if (m < k) {
			/* Sift up. */
			size_t j = m++;

			c[j] = x;
			while (j > 0 && gen__cand_cmp(&c[(j - 1) / 2], &c[j]) < 0) {
				engine__cand t = c[j];

				c[j] = c[(j - 1) / 2];
				c[(j - 1) / 2] = t;
				j = (j - 1) / 2;
			}
		} else if (gen__cand_cmp(&x, &c[0]) < 0) {
			c[0] = x;
			gen__heap_down(c, m, 0);
		}
	}
	gen__sort_heap(c, m);
}

/*
 * Moves the nucleus of c[0..m) (the fewest best candidates whose weights
 * reach need) to its front, in no particular order, and returns its size:
 * a quickselect that partitions by gen__cand_cmp and keeps the part where
 * the cumulative weight crosses need. Expected O(m), where a sort would be
 * O(m log m) for the flat distributions that make the nucleus large.
 */
static size_t gen__nucleus_select(engine__cand *c, size_t m, double need)
{
	size_t lo = 0, hi = m;
	double acc = 0;

	/* Invariant: c[0..lo) are in the nucleus with weight acc < need, and
	 * the nucleus ends inside c[lo..hi). */
	while (hi > lo) {
		size_t mid = lo + (hi - lo) / 2, p = lo;
		double upper = 0;
		engine__cand t = c[mid];

		c[mid] = c[hi - 1];
		c[hi - 1] = t;
		for (size_t j = lo; j + 1 < hi; j++) {
			if (gen__cand_cmp(&c[j], &c[hi - 1]) < 0) {
				upper += c[j].w;
				t = c[p];
				c[p++] = c[j];
				c[j] = t;
			}
		}
		t = c[p];
		c[p] = c[hi - 1];
		c[hi - 1] = t;
		if (acc + upper >= need) {
			hi = p;
		} else if (acc + upper + c[p].w >= need) {
			return p + 1;
		} else {
			acc += upper + c[p].w;
			lo = p + 1;
		}
	}
	/* Only rounding gets here: everything up to lo is the nucleus. */
	return lo > 0 ? lo : 1;
}

/*
 * Gathers the nucleus of top-p into g->cand[0..return) and its weight
 * into *mass. Tokens below a threshold are left out as long as those above
 * it carry top_p of the mass (the nucleus is then among them), which keeps
 * the selection to a few candidates for a peaked distribution.
 */
static size_t gen__nucleus(engine__gen *g, const float *w, double total, double *mass)
{
	int32_t n = g->n_vocab;
	double need = (double)g->gp->top_p * total;

	for (float th = 1e-2f;; th *= 1e-2f) {
		double sum = 0;
		size_t m = 0, k;

		if (th < 1e-30f)
			th = 0;
		for (int32_t i = 0; i < n; i++) {
			if (w[i] >= th && w[i] > 0) {
				g->cand[m].w = w[i];
				g->cand[m].id = i;
				sum += w[i];
				m++;
			}
		}
		if (sum >= need || th == 0) {
			k = gen__nucleus_select(g->cand, m, need);
			*mass = 0;
			for (size_t i = 0; i < k; i++)
				*mass += g->cand[i].w;
			return k;
		}
	}
}

/*
 * Picks the next token from one row of logits (modified in place): the
 * repetition penalty, then greedy argmax, or temperature, top-k, top-p
 * (in Hugging Face's order) and a draw from the PRNG.
 */
int32_t engine__pick(engine__gen *g, float *logits, const int32_t *gen,
		     int32_t n_gen)
{
	const engine_gen_params *gp = g->gp;
	int32_t n = g->n_vocab, k = gp->top_k;
	float *w = logits, mx;
	double total = 0, cum, u;
	size_t m;
	int nucleus_done = 0;

	engine__rep_penalty(g, logits, gen, n_gen);
	if (gp->temperature <= 0)
		return gen__argmax(logits, n);

	/* Weights exp((l - max) / T): the largest is 1, the rest in (0, 1]. */
	mx = logits[gen__argmax(logits, n)];
	for (int32_t i = 0; i < n; i++) {
		w[i] = expf((logits[i] - mx) / gp->temperature);
		total += w[i];
	}
	if (k > 0 && k < n) {
		gen__top_k(g->cand, w, n, (size_t)k);
		m = (size_t)k;
		total = 0;
		for (size_t i = 0; i < m; i++)
			total += g->cand[i].w;
	} else if (gp->top_p < 1.0f) {
		m = gen__nucleus(g, w, total, &total);
		nucleus_done = 1;
	} else {
		/* Plain sampling over the whole vocabulary: no sort needed. */
		u = engine__rng_uniform(&g->rng) * total;
		cum = 0;
		for (int32_t i = 0; i < n; i++) {
			cum += w[i];
			if (u < cum)
				return i;
		}
		return gen__argmax(w, n);
	}
	if (gp->top_p < 1.0f && !nucleus_done) {
		/* The smallest prefix whose mass reaches top_p; at least one. */
		double need = (double)gp->top_p * total;
		size_t keep = 0;

		cum = 0;
		while (keep < m && (keep == 0 || cum < need))
			cum += g->cand[keep++].w;
		m = keep;
		total = cum;
	}
	u = engine__rng_uniform(&g->rng) * total;
	cum = 0;
	for (size_t i = 0; i < m; i++) {
		cum += g->cand[i].w;
		if (u < cum)
			return g->cand[i].id;
	}
	return g->cand[m - 1].id;
}

/* ---- State of one call ------------------------------------------------- */

int engine__gen_check_params(const engine_gen_params *gp, int32_t n_seq,
			      int32_t n_vocab, pt_err *e)
{
	if (gp->max_tokens < 0)
		return pt_err_set(e, PT_EINVAL, "max_tokens is %d: must be 0 or more",
				  (int)gp->max_tokens);
	if (gp->n_beams < 1 || gp->n_beams > ENGINE_GEN_MAX_BEAMS)
		return pt_err_set(e, PT_EINVAL, "n_beams is %d: must be 1 to %d",
				  (int)gp->n_beams, ENGINE_GEN_MAX_BEAMS);
	if (gp->n_beams > n_seq)
		return pt_err_set(e, PT_EINVAL,
				  "%d beams need a context holding %d sequences; it holds %d",
				  (int)gp->n_beams, (int)gp->n_beams, (int)n_seq);
	if (2 * gp->n_beams > n_vocab)
		return pt_err_set(e, PT_EINVAL, "%d beams need a vocabulary of at least %d tokens",
				  (int)gp->n_beams, 2 * (int)gp->n_beams);
	if (!(gp->temperature >= 0 && gp->temperature <= 1e6f))
		return pt_err_set(e, PT_EINVAL, "temperature %g: must be 0 (greedy) or positive",
				  (double)gp->temperature);
	if (!(gp->top_p > 0 && gp->top_p <= 1))
		return pt_err_set(e, PT_EINVAL, "top_p %g: must be in (0, 1]", (double)gp->top_p);
	if (gp->top_k < 0)
		return pt_err_set(e, PT_EINVAL, "top_k %d: must be 0 (off) or more", (int)gp->top_k);
	if (!(gp->repetition_penalty > 0 && gp->repetition_penalty <= 1e6f))
		return pt_err_set(e, PT_EINVAL, "repetition penalty %g: must be positive",
				  (double)gp->repetition_penalty);
	if (!isfinite(gp->length_penalty))
		return pt_err_set(e, PT_EINVAL, "length penalty is not a finite number");
	if (gp->n_stop < 0 || gp->n_stop > ENGINE_GEN_MAX_STOP ||
	    (gp->n_stop > 0 && gp->stop == NULL))
		return pt_err_set(e, PT_EINVAL, "%d stop strings: at most %d",
				  (int)gp->n_stop, ENGINE_GEN_MAX_STOP);
	for (int32_t i = 0; i < gp->n_stop; i++) {
		size_t sl = gp->stop[i] ? strlen(gp->stop[i]) : 0;

		if (sl == 0)
			return pt_err_set(e, PT_EINVAL, "stop string %d is empty", (int)i + 1);
		if (sl > ENGINE_GEN_MAX_STOP_LEN)
			return pt_err_set(e, PT_EINVAL, "stop string %d is %zu bytes: at most %d",
					  (int)i + 1, sl, ENGINE_GEN_MAX_STOP_LEN);
		if (pt_utf8_check(gp->stop[i], sl, NULL) != 0)
			return pt_err_set(e, PT_EUTF8, "stop string %d is not valid UTF-8", (int)i + 1);
	}
	return 0;
}

/* Allocates n elements of size sz, overflow-checked, into *p. */
int engine__gen_alloc(void **p, size_t n, size_t sz, size_t *total)
{
	size_t bytes;

	if (pt_mul_size(n, sz, &bytes) != 0 || pt_add_size(*total, bytes, total) != 0)
		return PT_ETOOLARGE;
	*p = calloc(n ? n : 1, sz);
	return *p ? 0 : PT_ENOMEM;
}

void engine__gen_free(engine__gen *g)
{
	free(g->logits);
	free(g->cand);
	free(g->stamp);
	free(g->ids);
	free(g->text);
	free(g->stop_len);
	engine__beam_free(g);
	memset(g, 0, sizeof *g);
}

static int gen__init(engine__gen *g, engine_ctx *c, const int32_t *prompt,
		     size_t n_prompt, const engine_gen_params *gp, pt_err *e)
{
	const engine_model *m = engine_ctx_model(c);
	engine_model_info mi;
	size_t total = 0, room, text_cap = 0;
	int32_t nb = gp->n_beams;
	int rc = 0;

	engine_model_get_info(m, &mi);
	memset(g, 0, sizeof *g);
	g->c = c;
	g->m = m;
	g->gp = gp;
	g->prompt = prompt;
	g->n_prompt = n_prompt;
	g->n_vocab = mi.n_vocab;
	g->n_ctx = engine__ctx_n_ctx(c);
	g->eos = mi.eos_id;
	room = (size_t)g->n_ctx - n_prompt;
	g->max_gen = room < (size_t)gp->max_tokens ? (int32_t)room : gp->max_tokens;
	g->ctx_bound = room < (size_t)gp->max_tokens;
	engine__rng_seed(&g->rng, gp->seed);

	if (gp->n_stop > 0)
		rc = engine__gen_alloc((void **)&g->stop_len, (size_t)gp->n_stop, sizeof *g->stop_len, &total);
	for (int32_t i = 0; rc == 0 && i < gp->n_stop; i++) {
		g->stop_len[i] = strlen(gp->stop[i]);
		if (g->stop_len[i] > g->stop_max)
			g->stop_max = g->stop_len[i];
	}
	/* Text: at most ENGINE_GEN_PIECE_MAX bytes per token plus the bytes
	 * a final flush of the streaming detokenizer may add. */
	if (rc == 0 && (pt_mul_size((size_t)g->max_gen, ENGINE_GEN_PIECE_MAX, &text_cap) != 0 ||
			pt_add_size(text_cap, 2 * ENGINE_GEN_PIECE_MAX, &text_cap) != 0))
		rc = PT_ETOOLARGE;
	if (rc == 0)
		rc = engine__gen_alloc((void **)&g->logits, (size_t)nb * (size_t)g->n_vocab,
				sizeof *g->logits, &total);
	if (rc == 0)
		rc = engine__gen_alloc((void **)&g->cand, (size_t)g->n_vocab, sizeof *g->cand, &total);
	if (rc == 0)
		rc = engine__gen_alloc((void **)&g->stamp, (size_t)g->n_vocab, sizeof *g->stamp, &total);
	if (rc == 0)
		rc = engine__gen_alloc((void **)&g->ids, (size_t)g->max_gen + 1, sizeof *g->ids, &total);
	if (rc == 0)
		rc = engine__gen_alloc((void **)&g->text, text_cap, 1, &total);
	g->text_cap = text_cap;
	if (rc == 0 && nb > 1)
		rc = engine__beam_alloc(g, &total);
	if (rc != 0) {
		engine__gen_free(g);
		return pt_err_set(e, rc, "generation buffers (%zu bytes so far, %d beams, "
				  "%d tokens): %s", total, (int)nb, (int)gp->max_tokens,
				  pt_strerror(rc));
	}
	return 0;
}

/* ---- Prefill with prefix reuse ------------------------------------------ */

/*
 * Makes sequence 0 hold the prompt and leaves the logits of its last token
 * in g->logits. What sequence 0 already holds is kept as far as it agrees
 * with the prompt; the last prompt token is always evaluated again since
 * its logits are needed. Returns 1 if the cancel flag stopped it.
 */
static int gen__prefill(engine__gen *g, pt_err *e)
{
	engine_ctx *c = g->c;
	int32_t have = engine_kv_len(c, 0);
	const int32_t *held = engine__ctx_tokens(c, 0);
	size_t keep = 0, off;
	int rc;

	while (keep < (size_t)have && keep < g->n_prompt && held != NULL &&
	       held[keep] == g->prompt[keep])
		keep++;
	if (keep == g->n_prompt)
		keep--;
	engine_kv_truncate(c, 0, (int32_t)keep);
	g->n_reused = (int32_t)keep;
	for (off = keep; off < g->n_prompt; off += GEN_PREFILL_CHUNK) {
		size_t n = g->n_prompt - off;
		int last = n <= GEN_PREFILL_CHUNK;

		if (off > keep && engine__gen_cancelled(g))
			return 1;
		if (!last)
			n = GEN_PREFILL_CHUNK;
		rc = engine_eval(c, 0, g->prompt + off, n, last ? g->logits : NULL, e);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* ---- Greedy and sampling ------------------------------------------------ */

/* Appends the text of tok and looks for a stop string in what is new.
 * Returns 1 (text cut before it) when one is found. */
static int gen__text_push(engine__gen *g, int32_t tok)
{
	size_t old = g->text_len, pos;

	g->text_len += engine_detok_push(&g->detok, tok, g->text + g->text_len,
					 g->text_cap - g->text_len);
	if (g->gp->n_stop > 0 && engine__stop_find(g, g->text, g->text_len, old, &pos)) {
		g->text_len = pos;
		return 1;
	}
	return 0;
}

/* Hands text[emitted..upto) to the callback; returns its verdict. */
static int gen__emit(engine__gen *g, size_t upto, engine_text_cb cb, void *ud)
{
	int r = 0;

	if (cb != NULL && upto > g->emitted)
		r = cb(ud, g->text + g->emitted, upto - g->emitted);
	if (upto > g->emitted)
		g->emitted = upto;
	return r;
}

/* Decodes tok for sequence 0 at the next position into g->logits. */
static int gen__step(engine__gen *g, int32_t tok, pt_err *e)
{
	int32_t pos = (int32_t)g->n_prompt + g->n_ids - 1, seq = 0;
	int8_t want = 1;
	engine_batch b = { 1, &tok, &pos, &seq, &want };

	return engine_decode(g->c, &b, g->logits, e);
}

static int gen__run_single(engine__gen *g, engine_text_cb cb, void *ud, pt_err *e)
{
	const engine_gen_params *gp = g->gp;
	int rc;

	for (;;) {
		int32_t tok;

		if (g->n_ids == g->max_gen) {
			g->stop = g->ctx_bound ? ENGINE_STOP_CONTEXT : ENGINE_STOP_MAX_TOKENS;
			break;
		}
		if (engine__gen_cancelled(g)) {
			g->stop = ENGINE_STOP_CANCELLED;
			break;
		}
		if (g->n_ids > 0 && (rc = gen__step(g, g->ids[g->n_ids - 1], e)) != 0)
			return rc;
		tok = engine__pick(g, g->logits, g->ids, g->n_ids);
		if (gp->stop_at_eos && tok == g->eos) {
			g->stop = ENGINE_STOP_EOS;
			break;
		}
		g->ids[g->n_ids++] = tok;
		if (gen__text_push(g, tok)) {
			g->stop = ENGINE_STOP_STRING;
			gen__emit(g, g->text_len, cb, ud);
			return 0;
		}
		if (gen__emit(g, g->text_len - engine__stop_hold(g, g->text, g->text_len),
			      cb, ud) != 0) {
			g->stop = ENGINE_STOP_CALLBACK;
			return 0;
		}
	}
	/* Flush the detokenizer's held-back bytes; they too could complete a
	 * stop string. Then the held-back text goes out. */
	{
		size_t old = g->text_len, pos;

		g->text_len += engine_detok_flush(&g->detok, g->text + g->text_len,
						  g->text_cap - g->text_len);
		if (gp->n_stop > 0 && engine__stop_find(g, g->text, g->text_len, old, &pos)) {
			g->text_len = pos;
			g->stop = ENGINE_STOP_STRING;
		}
	}
	gen__emit(g, g->text_len, cb, ud);
	return 0;
}

int engine__gen_cancelled(const engine__gen *g)
{
	return g->gp->cancel != NULL && *g->gp->cancel != 0;
}

/* ---- Entry point -------------------------------------------------------- */

int engine__gen_check_prompt(engine_ctx *c, const int32_t *prompt, size_t n_prompt,
			     const engine_gen_params *gp, pt_err *e)
{
	int32_t n_ctx = engine__ctx_n_ctx(c), n_vocab = engine_n_vocab(engine_ctx_model(c));

	if (n_prompt == 0 || prompt == NULL)
		return pt_err_set(e, PT_EINVAL, "the prompt is empty: at least one token "
				  "(usually <s>) is needed");
	if (n_prompt > (size_t)n_ctx)
		return pt_err_set(e, PT_ECONTEXT, "prompt is %zu tokens, the model's context is %d",
				  n_prompt, (int)n_ctx);
	if (n_prompt == (size_t)n_ctx && gp->max_tokens > 0)
		return pt_err_set(e, PT_ECONTEXT, "prompt is %zu tokens, the model's context is %d: "
				  "no room left to generate", n_prompt, (int)n_ctx);
	for (size_t i = 0; i < n_prompt; i++)
		if (prompt[i] < 0 || prompt[i] >= n_vocab)
			return pt_err_set(e, PT_EINVAL, "prompt token %zu is id %d, outside the "
					  "vocabulary (0..%d)", i, (int)prompt[i], (int)n_vocab - 1);
	return 0;
}

int engine__gen_result(const engine__gen *g, engine_gen_result *res, pt_err *e)
{
	engine_gen_result r;

	memset(&r, 0, sizeof r);
	r.ids = malloc(((size_t)g->n_ids + 1) * sizeof *r.ids);
	r.text = malloc(g->text_len + 1);
	if (r.ids == NULL || r.text == NULL) {
		free(r.ids);
		free(r.text);
		return pt_err_set(e, PT_ENOMEM, "generation result (%d tokens): out of memory",
				  (int)g->n_ids);
	}
	memcpy(r.ids, g->ids, (size_t)g->n_ids * sizeof *r.ids);
	memcpy(r.text, g->text, g->text_len);
	r.text[g->text_len] = '\0';
	r.n_ids = g->n_ids;
	r.text_len = g->text_len;
	r.stop = g->stop;
	r.n_prompt = (int32_t)g->n_prompt;
	r.prompt_s = g->prompt_s;
	r.gen_s = g->gen_s;
	*res = r;
	return 0;
}

int engine_generate(engine_ctx *c, const int32_t *prompt, size_t n_prompt,
		    const engine_gen_params *gp, engine_text_cb cb, void *ud,
		    engine_gen_result *res, pt_err *e)
{
	engine_gen_params defaults = engine_gen_default_params();
	engine__gen g;
	double t0, t1;
	int rc;

	if (c == NULL || res == NULL)
		return pt_err_set(e, PT_EINVAL, "engine_generate: no context or result");
	if (gp == NULL)
		gp = &defaults;
	rc = engine__gen_check_params(gp, engine__ctx_n_seq(c), engine_n_vocab(engine_ctx_model(c)), e);
	if (rc == 0)
		rc = engine__gen_check_prompt(c, prompt, n_prompt, gp, e);
	if (rc == 0)
		rc = gen__init(&g, c, prompt, n_prompt, gp, e);
	if (rc != 0)
		return rc;
	engine_detok_init(&g.detok, g.m);

	t0 = pt_now();
	rc = gen__prefill(&g, e);
	t1 = pt_now();
	g.prompt_s = t1 - t0;
	if (rc == 1) {
		g.stop = ENGINE_STOP_CANCELLED;
		rc = 0;
	} else if (rc == 0 && gp->n_beams > 1) {
		rc = engine__beam_run(&g, cb, ud, e);
	} else if (rc == 0) {
		rc = gen__run_single(&g, cb, ud, e);
	}
	g.gen_s = pt_now() - t1;
	if (rc == 0)
		rc = engine__gen_result(&g, res, e);
	if (rc == 0)
		pt_log(PT_LOG_DEBUG, "generate: prompt %zu tokens (%d reused from the cache) "
		       "in %.3f s, %d tokens in %.3f s, stop reason %d", g.n_prompt,
		       (int)g.n_reused, g.prompt_s, (int)g.n_ids, g.gen_s, (int)g.stop);
	engine__gen_free(&g);
	return rc;
}
