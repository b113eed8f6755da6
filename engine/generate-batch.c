/*
 * generate-batch.c: greedy and sampling generation for many sequences at
 * once (engine_bgen, engine.h). Each slot runs its own generation with the
 * same rules as engine_generate (generate.c: the pick, stop strings, the
 * streaming hold-back, the budget), but the slots' next tokens go through
 * one engine_decode call per step, so the weights are read once for all
 * of them. Slots start and finish independently, between steps.
 *
 * Every buffer is sized for the longest answer the context allows when the
 * generator is created; starting a slot and stepping allocate nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "generate-impl.h"

/* Tokens handed to one engine_eval call while a slot prefills; the cancel
 * flag is checked between two calls (as generate.c does). */
#define BGEN_PREFILL_CHUNK 256

typedef struct bgen_slot {
	engine__gen g;          /* the slot's generation (g.logits: a row of b->out) */
	int32_t seq;            /* the context sequence it decodes in */
	int state;              /* ENGINE_BGEN_* */
	engine_text_cb cb;
	void *ud;
	double t_start;
} bgen_slot;

struct engine_bgen {
	engine_ctx *c;
	int32_t n_slots, n_vocab, n_ctx;
	bgen_slot *slot;
	float *out;             /* n_slots rows of n_vocab: a step's logits */
	int32_t *b_tok, *b_pos, *b_seq, *b_slot; /* n_slots: a step's batch */
	int8_t *b_want;
};

static void bgen__slot_free(bgen_slot *s)
{
	free(s->g.cand);
	free(s->g.stamp);
	free(s->g.ids);
	free(s->g.text);
	free(s->g.stop_len);
}

/* Buffers of one slot, sized for an answer filling the whole context. */
static int bgen__slot_alloc(engine_bgen *b, bgen_slot *s, size_t *total)
{
	engine__gen *g = &s->g;
	size_t text_cap;
	int rc;

	if (pt_mul_size((size_t)b->n_ctx, ENGINE_GEN_PIECE_MAX, &text_cap) != 0 ||
	    pt_add_size(text_cap, 2 * ENGINE_GEN_PIECE_MAX, &text_cap) != 0)
		return PT_ETOOLARGE;
	rc = engine__gen_alloc((void **)&g->cand, (size_t)b->n_vocab, sizeof *g->cand, total);
	if (rc == 0)
		rc = engine__gen_alloc((void **)&g->stamp, (size_t)b->n_vocab, sizeof *g->stamp,
				       total);
	if (rc == 0)
		rc = engine__gen_alloc((void **)&g->ids, (size_t)b->n_ctx + 1, sizeof *g->ids, total);
	if (rc == 0)
		rc = engine__gen_alloc((void **)&g->text, text_cap, 1, total);
	if (rc == 0)
		rc = engine__gen_alloc((void **)&g->stop_len, ENGINE_GEN_MAX_STOP,
				       sizeof *g->stop_len, total);
	g->text_cap = text_cap;
	return rc;
}

int engine_bgen_new(engine_ctx *c, const int32_t *seqs, int32_t n_slots, engine_bgen **out,
		    pt_err *e)
{
	const engine_model *m = engine_ctx_model(c);
	engine_model_info mi;
	size_t total = 0, rows;
	engine_bgen *b;
	int rc;

	if (n_slots < 1 || n_slots > engine__ctx_n_seq(c))
		return pt_err_set(e, PT_EINVAL, "batched generation: %d slots for a context of "
				  "%d sequences", (int)n_slots, (int)engine__ctx_n_seq(c));
	for (int32_t i = 0; i < n_slots; i++) {
		if (seqs[i] < 0 || seqs[i] >= engine__ctx_n_seq(c))
			return pt_err_set(e, PT_EINVAL, "batched generation: slot %d names "
					  "sequence %d of %d", (int)i, (int)seqs[i],
					  (int)engine__ctx_n_seq(c));
		for (int32_t j = 0; j < i; j++)
			if (seqs[j] == seqs[i])
				return pt_err_set(e, PT_EINVAL, "batched generation: slots %d and "
						  "%d share sequence %d", (int)j, (int)i,
						  (int)seqs[i]);
	}
	engine_model_get_info(m, &mi);
	if ((b = calloc(1, sizeof *b)) == NULL)
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	b->c = c;
	b->n_slots = n_slots;
	b->n_vocab = mi.n_vocab;
	b->n_ctx = engine__ctx_n_ctx(c);
	rc = engine__gen_alloc((void **)&b->slot, (size_t)n_slots, sizeof *b->slot, &total);
	if (rc == 0)
		rc = pt_mul_size((size_t)n_slots, (size_t)b->n_vocab, &rows) != 0 ? PT_ETOOLARGE :
			engine__gen_alloc((void **)&b->out, rows, sizeof *b->out, &total);
	if (rc == 0)
		rc = engine__gen_alloc((void **)&b->b_tok, (size_t)n_slots, sizeof(int32_t), &total);
	if (rc == 0)
		rc = engine__gen_alloc((void **)&b->b_pos, (size_t)n_slots, sizeof(int32_t), &total);
	if (rc == 0)
		rc = engine__gen_alloc((void **)&b->b_seq, (size_t)n_slots, sizeof(int32_t), &total);
	if (rc == 0)
		rc = engine__gen_alloc((void **)&b->b_slot, (size_t)n_slots, sizeof(int32_t), &total);
	if (rc == 0)
		rc = engine__gen_alloc((void **)&b->b_want, (size_t)n_slots, sizeof(int8_t), &total);
	for (int32_t i = 0; rc == 0 && i < n_slots; i++) {
		b->slot[i].seq = seqs[i];
		b->slot[i].state = ENGINE_BGEN_IDLE;
		rc = bgen__slot_alloc(b, &b->slot[i], &total);
	}
	if (rc != 0) {
		engine_bgen_free(b);
		return pt_err_set(e, rc, "batched generation buffers (%zu bytes so far, %d slots "
				  "of %d tokens): %s", total, (int)n_slots, (int)b->n_ctx,
				  pt_strerror(rc));
	}
	*out = b;
	return 0;
}

void engine_bgen_free(engine_bgen *b)
{
	if (b == NULL)
		return;
	for (int32_t i = 0; b->slot != NULL && i < b->n_slots; i++)
		bgen__slot_free(&b->slot[i]);
	free(b->slot);
	free(b->out);
	free(b->b_tok);
	free(b->b_pos);
	free(b->b_seq);
	free(b->b_slot);
	free(b->b_want);
	free(b);
}

int32_t engine_bgen_n_slots(const engine_bgen *b)
{
	return b->n_slots;
}

int engine_bgen_state(const engine_bgen *b, int32_t slot)
{
	return slot >= 0 && slot < b->n_slots ? b->slot[slot].state : ENGINE_BGEN_IDLE;
}

int32_t engine_bgen_seq(const engine_bgen *b, int32_t slot)
{
	return slot >= 0 && slot < b->n_slots ? b->slot[slot].seq : -1;
}

int32_t engine_bgen_n_running(const engine_bgen *b)
{
	int32_t n = 0;

	for (int32_t i = 0; i < b->n_slots; i++)
		n += b->slot[i].state == ENGINE_BGEN_RUNNING;
	return n;
}

/* ---- One slot's generation ------------------------------------------------ */

/* Ends a slot's generation: the detokenizer's held-back bytes (which may
 * complete a stop string), then the rest of the text to the callback. */
static void bgen__finish(bgen_slot *s, engine_stop_reason why)
{
	engine__gen *g = &s->g;
	size_t old = g->text_len, pos;

	g->stop = why;
	if (why != ENGINE_STOP_STRING && why != ENGINE_STOP_CALLBACK) {
		g->text_len += engine_detok_flush(&g->detok, g->text + g->text_len,
						  g->text_cap - g->text_len);
		if (g->gp->n_stop > 0 && engine__stop_find(g, g->text, g->text_len, old, &pos)) {
			g->text_len = pos;
			g->stop = ENGINE_STOP_STRING;
		}
	}
	if (why != ENGINE_STOP_CALLBACK && s->cb != NULL && g->text_len > g->emitted)
		s->cb(s->ud, g->text + g->emitted, g->text_len - g->emitted);
	if (g->text_len > g->emitted)
		g->emitted = g->text_len;
	g->gen_s = pt_now() - s->t_start - g->prompt_s;
	s->state = ENGINE_BGEN_DONE;
}

/*
 * Picks the slot's next token from g->logits and appends it, with the
 * rules of generate.c's loop: EOS, stop strings, the streaming hold-back,
 * the callback's verdict, the token budget.
 */
static void bgen__advance(bgen_slot *s)
{
	engine__gen *g = &s->g;
	size_t old, pos, upto;
	int32_t tok;

	if (g->n_ids >= g->max_gen) {
		bgen__finish(s, g->ctx_bound ? ENGINE_STOP_CONTEXT : ENGINE_STOP_MAX_TOKENS);
		return;
	}
	tok = engine__pick(g, g->logits, g->ids, g->n_ids);
	if (g->gp->stop_at_eos && tok == g->eos) {
		bgen__finish(s, ENGINE_STOP_EOS);
		return;
	}
	g->ids[g->n_ids++] = tok;
	old = g->text_len;
	g->text_len += engine_detok_push(&g->detok, tok, g->text + g->text_len,
					 g->text_cap - g->text_len);
	if (g->gp->n_stop > 0 && engine__stop_find(g, g->text, g->text_len, old, &pos)) {
		g->text_len = pos;
		bgen__finish(s, ENGINE_STOP_STRING);
		return;
	}
	upto = g->text_len - engine__stop_hold(g, g->text, g->text_len);
	if (s->cb != NULL && upto > g->emitted &&
	    s->cb(s->ud, g->text + g->emitted, upto - g->emitted) != 0) {
		g->emitted = upto;
		bgen__finish(s, ENGINE_STOP_CALLBACK);
		return;
	}
	if (upto > g->emitted)
		g->emitted = upto;
	if (g->n_ids == g->max_gen)
		bgen__finish(s, g->ctx_bound ? ENGINE_STOP_CONTEXT : ENGINE_STOP_MAX_TOKENS);
}

/* Sets up slot s's state for a new prompt (no allocation). */
static void bgen__reset(engine_bgen *b, bgen_slot *s, const int32_t *prompt, size_t n_prompt,
			const engine_gen_params *gp)
{
	engine__gen *g = &s->g;
	const engine_model *m = engine_ctx_model(b->c);
	engine_model_info mi;
	size_t room = (size_t)b->n_ctx - n_prompt;

	engine_model_get_info(m, &mi);
	g->c = b->c;
	g->m = m;
	g->gp = gp;
	g->prompt = prompt;
	g->n_prompt = n_prompt;
	g->n_vocab = b->n_vocab;
	g->n_ctx = b->n_ctx;
	g->eos = mi.eos_id;
	g->max_gen = room < (size_t)gp->max_tokens ? (int32_t)room : gp->max_tokens;
	g->ctx_bound = room < (size_t)gp->max_tokens;
	g->n_reused = 0;
	engine__rng_seed(&g->rng, gp->seed);
	g->stop_max = 0;
	for (int32_t i = 0; i < gp->n_stop; i++) {
		g->stop_len[i] = strlen(gp->stop[i]);
		if (g->stop_len[i] > g->stop_max)
			g->stop_max = g->stop_len[i];
	}
	g->n_ids = 0;
	g->text_len = 0;
	g->emitted = 0;
	g->stop = ENGINE_STOP_EOS;
	g->prompt_s = g->gen_s = 0;
	g->beams = NULL;
	engine_detok_init(&g->detok, m);
}

/*
 * Makes the slot's sequence hold the prompt, keeping what it caches as far
 * as it agrees (a prefix copied in, or the previous prompt of the slot);
 * the last prompt token is evaluated again for its logits, into row 0 of
 * b->out. Returns 1 if the cancel flag stopped it.
 */
static int bgen__prefill(engine_bgen *b, bgen_slot *s, pt_err *e)
{
	engine__gen *g = &s->g;
	int32_t have = engine_kv_len(b->c, s->seq);
	const int32_t *held = engine__ctx_tokens(b->c, s->seq);
	size_t keep = 0;

	while (keep < (size_t)have && keep < g->n_prompt && held != NULL &&
	       held[keep] == g->prompt[keep])
		keep++;
	if (keep == g->n_prompt)
		keep--;
	engine_kv_truncate(b->c, s->seq, (int32_t)keep);
	g->n_reused = (int32_t)keep;
	g->logits = b->out;
	for (size_t off = keep; off < g->n_prompt; off += BGEN_PREFILL_CHUNK) {
		size_t n = g->n_prompt - off;
		int last = n <= BGEN_PREFILL_CHUNK, rc;

		if (off > keep && engine__gen_cancelled(g))
			return 1;
		if (!last)
			n = BGEN_PREFILL_CHUNK;
		rc = engine_eval(b->c, s->seq, g->prompt + off, n, last ? g->logits : NULL, e);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int engine_bgen_start(engine_bgen *b, int32_t slot, const int32_t *prompt, size_t n_prompt,
		      const engine_gen_params *gp, engine_text_cb cb, void *ud, pt_err *e)
{
	bgen_slot *s;
	int rc;

	if (slot < 0 || slot >= b->n_slots || b->slot[slot].state != ENGINE_BGEN_IDLE)
		return pt_err_set(e, PT_EINVAL, "batched generation: slot %d is not free",
				  (int)slot);
	if (gp == NULL || gp->n_beams != 1)
		return pt_err_set(e, PT_EINVAL, "batched generation is greedy or sampling: "
				  "n_beams must be 1");
	rc = engine__gen_check_params(gp, engine__ctx_n_seq(b->c), b->n_vocab, e);
	if (rc == 0)
		rc = engine__gen_check_prompt(b->c, prompt, n_prompt, gp, e);
	if (rc != 0)
		return rc;
	s = &b->slot[slot];
	bgen__reset(b, s, prompt, n_prompt, gp);
	s->cb = cb;
	s->ud = ud;
	s->t_start = pt_now();
	s->state = ENGINE_BGEN_RUNNING;
	rc = bgen__prefill(b, s, e);
	s->g.prompt_s = pt_now() - s->t_start;
	if (rc < 0) {
		s->state = ENGINE_BGEN_IDLE;
		return rc;
	}
	if (rc == 1 || engine__gen_cancelled(&s->g))
		bgen__finish(s, ENGINE_STOP_CANCELLED);
	else
		bgen__advance(s);
	return 0;
}

int engine_bgen_step(engine_bgen *b, pt_err *e)
{
	int32_t n = 0;
	engine_batch bt;
	int rc;

	for (int32_t i = 0; i < b->n_slots; i++) {
		bgen_slot *s = &b->slot[i];
		engine__gen *g = &s->g;

		if (s->state != ENGINE_BGEN_RUNNING)
			continue;
		if (engine__gen_cancelled(g)) {
			bgen__finish(s, ENGINE_STOP_CANCELLED);
			continue;
		}
		b->b_tok[n] = g->ids[g->n_ids - 1];
		b->b_pos[n] = (int32_t)g->n_prompt + g->n_ids - 1;
		b->b_seq[n] = s->seq;
		b->b_want[n] = 1;
		b->b_slot[n] = i;
		n++;
	}
	if (n == 0)
		return 0;
	bt.n = n;
	bt.token = b->b_tok;
	bt.pos = b->b_pos;
	bt.seq = b->b_seq;
	bt.logits = b->b_want;
	if ((rc = engine_decode(b->c, &bt, b->out, e)) != 0)
		return rc;
	for (int32_t r = 0; r < n; r++) {
		bgen_slot *s = &b->slot[b->b_slot[r]];

		s->g.logits = b->out + (size_t)r * (size_t)b->n_vocab;
		bgen__advance(s);
	}
	return 0;
}

int engine_bgen_take(engine_bgen *b, int32_t slot, engine_gen_result *res, pt_err *e)
{
	bgen_slot *s;
	engine__gen *g;

	if (slot < 0 || slot >= b->n_slots || b->slot[slot].state == ENGINE_BGEN_IDLE)
		return pt_err_set(e, PT_EINVAL, "batched generation: slot %d holds nothing",
				  (int)slot);
	s = &b->slot[slot];
	g = &s->g;
	if (s->state == ENGINE_BGEN_RUNNING)
		bgen__finish(s, ENGINE_STOP_CANCELLED);
	s->state = ENGINE_BGEN_IDLE;
	if (res == NULL)
		return 0;
	int rc = engine__gen_result(g, res, e);
	if (rc != 0)
		return rc;
	pt_log(PT_LOG_DEBUG, "batched generate: slot %d, prompt %zu tokens (%d reused from "
	       "the cache) in %.3f s, %d tokens in %.3f s, stop reason %d", (int)slot,
	       g->n_prompt, (int)g->n_reused, g->prompt_s, (int)g->n_ids, g->gen_s,
	       (int)g->stop);
	return 0;
}
