/*
 * pipeline-batch.c: batched decoding for the pipeline (pipeline.h): the
 * slots, in which segments of any requests advance together through one
 * engine_bgen, and the per-pair cache of the prompt's fixed prefix.
 *
 * The prefix cache: a segment's prompt starts with text that depends only
 * on the language pair (for the base prompt kind, the one-shot
 * demonstration). Its keys and values are computed once per pair into a
 * cache sequence of the context and copied into a slot's sequence when a
 * segment of that pair starts there, the prompt's tokens compared with the
 * cached ones first: SentencePiece may tokenize across the boundary
 * differently in the full prompt, and only the agreeing tokens are copied
 * (the engine evaluates the rest). The least recently used pair makes room
 * for a new one.
 */
#include <stdlib.h>
#include <string.h>

#include "pipeline-impl.h"

struct ptd__pcache {
	int from, to;                /* the pair (langid indexes); from -1: empty */
	int32_t seq;                 /* the context sequence holding it */
	int32_t *ids;                /* n_ctx: the prefix's tokens */
	size_t n;                    /* tokens computed in seq */
	uint64_t used;               /* pl->cache_clock at the last use */
};

int ptd__batch_init(ptd_pipeline *pl, pt_err *e)
{
	int32_t *seqs = calloc((size_t)pl->n_slots, sizeof *seqs);
	int rc;

	if (seqs == NULL)
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	for (int i = 0; i < pl->n_slots; i++)
		seqs[i] = pl->n_seq + i;
	rc = engine_bgen_new(pl->ctx, seqs, pl->n_slots, &pl->bgen, e);
	free(seqs);
	if (rc != 0)
		return rc;
	pl->slot_seg = calloc((size_t)pl->n_slots, sizeof *pl->slot_seg);
	if (pl->slot_seg == NULL)
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	if (pl->n_cache > 0 &&
	    (pl->cache = calloc((size_t)pl->n_cache, sizeof *pl->cache)) == NULL)
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	for (int i = 0; i < pl->n_cache; i++) {
		pl->cache[i].from = -1;
		pl->cache[i].seq = pl->n_seq + pl->n_slots + i;
		if ((pl->cache[i].ids = calloc((size_t)pl->n_ctx, sizeof(int32_t))) == NULL)
			return pt_err_set(e, PT_ENOMEM, "out of memory");
	}
	return 0;
}

void ptd__batch_done(ptd_pipeline *pl)
{
	for (int i = 0; pl->cache != NULL && i < pl->n_cache; i++)
		free(pl->cache[i].ids);
	free(pl->cache);
	free(pl->slot_seg);
	engine_bgen_free(pl->bgen);
	pl->cache = NULL;
	pl->slot_seg = NULL;
	pl->bgen = NULL;
}

int ptd_pipeline_n_slots(const ptd_pipeline *pl) { return pl->n_slots; }

int ptd_pipeline_busy_slots(const ptd_pipeline *pl)
{
	int n = 0;

	for (int i = 0; i < pl->n_slots; i++)
		n += pl->slot_seg[i] != NULL;
	return n;
}

int ptd_pipeline_free_slots(const ptd_pipeline *pl)
{
	return pl->n_slots - ptd_pipeline_busy_slots(pl);
}

void ptd_pipeline_prefix_stats(const ptd_pipeline *pl, uint64_t *hits, uint64_t *tokens)
{
	*hits = pl->prefix_hits;
	*tokens = pl->prefix_tokens;
}

int ptd_tr_batched(const ptd_tr *t)
{
	return t->pl->n_slots > 0 && t->beams == 1;
}

/* ---- The prefix cache ------------------------------------------------------ */

/* Tokenizes the fixed prefix of the pair's prompts into c->ids; 0 tokens
 * when the prompt has none (its text comes first). */
static int ptd__pcache_tokens(ptd_pipeline *pl, ptd__pcache *c, int from, int to, pt_err *e)
{
	unsigned flags = (pl->info.add_bos ? ENGINE_TOK_ADD_BOS : 0) | ENGINE_TOK_NO_SPECIAL;
	char *prompt = NULL;
	size_t fixed = 0, n = 0;
	int rc;

	c->n = 0;
	rc = ptd_prompt_build(pl->tpl, langid_lang_code(from), langid_lang_code(to), "", 0,
			      &prompt, &fixed, e);
	if (rc != 0)
		return rc;
	rc = engine_tokenize(pl->model, prompt, fixed, flags, c->ids, (size_t)pl->n_ctx, &n, e);
	free(prompt);
	if (rc == PT_ETOOLARGE)
		return 0; /* a prefix longer than the context: nothing to keep */
	if (rc == 0)
		c->n = n;
	return rc;
}

/*
 * The cache entry of seg's pair, computed now if the pair is not cached
 * (in the least recently used entry). *out is NULL when there is no cache
 * or the prompt has no prefix worth keeping.
 */
static int ptd__pcache_get(ptd_pipeline *pl, const ptd_seg *seg, ptd__pcache **out, pt_err *e)
{
	int from = seg->from_lang, to = seg->t->p.to, rc;
	ptd__pcache *c = NULL;

	*out = NULL;
	if (pl->n_cache == 0)
		return 0;
	for (int i = 0; i < pl->n_cache; i++) {
		ptd__pcache *x = &pl->cache[i];

		if (x->from == from && x->to == to) {
			x->used = ++pl->cache_clock;
			*out = x->n > 1 ? x : NULL;
			return 0;
		}
		if (c == NULL || x->from < 0 || (c->from >= 0 && x->used < c->used))
			c = x;
	}
	c->from = -1;
	if ((rc = ptd__pcache_tokens(pl, c, from, to, e)) != 0)
		return rc;
	engine_kv_truncate(pl->ctx, c->seq, 0);
	/* A prefix of one token (<s> alone) is not worth a copy; the pair is
	 * remembered anyway so the prompt is not tokenized again. */
	if (c->n > 1 && (rc = engine_eval(pl->ctx, c->seq, c->ids, c->n, NULL, e)) != 0) {
		c->n = 0;
		return rc;
	}
	c->from = from;
	c->to = to;
	c->used = ++pl->cache_clock;
	pt_log(PT_LOG_DEBUG, "prefix cache: %s->%s, %zu tokens computed into sequence %d",
	       langid_lang_code(from), langid_lang_code(to), c->n, (int)c->seq);
	*out = c->n > 1 ? c : NULL;
	return 0;
}

/* Copies the cached prefix of seg's pair into slot's sequence, as far as
 * its tokens agree with seg's prompt (at least one prompt token is left
 * for the engine to evaluate: its logits are needed). */
static int ptd__pcache_use(ptd_pipeline *pl, const ptd_seg *seg, int slot, pt_err *e)
{
	ptd__pcache *c;
	size_t k = 0;
	int rc;

	if ((rc = ptd__pcache_get(pl, seg, &c, e)) != 0 || c == NULL)
		return rc;
	while (k < c->n && k < seg->n_ids && c->ids[k] == seg->ids[k])
		k++;
	if (k >= seg->n_ids)
		k = seg->n_ids - 1;
	if (k < c->n && pt_log_enabled(PT_LOG_DEBUG))
		pt_log(PT_LOG_DEBUG, "prefix cache: %zu of %zu prefix tokens agree with the prompt",
		       k, c->n);
	if (k == 0)
		return 0;
	engine_kv_copy(pl->ctx, c->seq, engine_bgen_seq(pl->bgen, slot), (int32_t)k);
	pl->prefix_hits++;
	pl->prefix_tokens += k;
	return 0;
}

/* ---- Slots ------------------------------------------------------------------- */

/* Takes the result of a finished slot to its segment and judges it. */
static void ptd__slot_finish(ptd_pipeline *pl, int slot)
{
	ptd_seg *seg = pl->slot_seg[slot];
	engine_gen_result res;

	pl->slot_seg[slot] = NULL;
	seg->slot = -1;
	memset(&res, 0, sizeof res);
	if ((seg->rc = engine_bgen_take(pl->bgen, slot, &res, &seg->err)) != 0) {
		seg->state = PTD__SEG_DONE;
		return;
	}
	seg->t->tokens += (uint64_t)res.n_ids;
	ptd__seg_answer(seg->t, seg, &res);
}

static int ptd__slot_start(ptd_pipeline *pl, ptd_seg *seg, int slot, pt_err *e)
{
	ptd_tr *t = seg->t;
	double t0 = pt_now();
	int rc;

	rc = ptd__pcache_use(pl, seg, slot, e);
	if (rc == 0)
		rc = engine_bgen_start(pl->bgen, slot, seg->ids, seg->n_ids, &seg->gp, NULL, NULL,
				       e);
	t->gen_s += pt_now() - t0;
	if (rc != 0)
		return rc;
	seg->state = PTD__SEG_RUN;
	seg->slot = slot;
	pl->slot_seg[slot] = seg;
	if (engine_bgen_state(pl->bgen, slot) == ENGINE_BGEN_DONE)
		ptd__slot_finish(pl, slot);
	return 1;
}

int ptd_tr_feed(ptd_tr *t, pt_err *e)
{
	ptd_pipeline *pl = t->pl;
	ptd_seg *seg = NULL;
	int slot = 0, rc;

	if (!ptd_tr_batched(t))
		return pt_err_set(e, PT_EINTERNAL, "a request with %d beams fed to the slots",
				  t->beams);
	while (slot < pl->n_slots && pl->slot_seg[slot] != NULL)
		slot++;
	if (slot == pl->n_slots)
		return 0;
	do {
		if (t->p.cancel != NULL && *t->p.cancel)
			return pt_err_set(e, PT_ECANCELLED, "cancelled");
		if ((rc = ptd__tr_issue(t, &seg, e)) != 0)
			return rc;
		if (seg == NULL)
			return 0;
	} while (seg->state != PTD__SEG_WAIT);
	return ptd__slot_start(pl, seg, slot, e);
}

int ptd_pipeline_step(ptd_pipeline *pl, pt_err *e)
{
	int n = engine_bgen_n_running(pl->bgen), rc;
	double t0 = pt_now(), dt;

	if (n > 0 && (rc = engine_bgen_step(pl->bgen, e)) != 0) {
		for (int i = 0; i < pl->n_slots; i++) {
			ptd_seg *seg = pl->slot_seg[i];

			if (seg == NULL)
				continue;
			engine_bgen_take(pl->bgen, i, NULL, NULL);
			pl->slot_seg[i] = NULL;
			seg->slot = -1;
			seg->state = PTD__SEG_DONE;
			seg->rc = rc;
			if (e != NULL)
				seg->err = *e;
		}
		return rc;
	}
	dt = pt_now() - t0;
	pl->n_steps++;
	/* The step's time counts once for every request it advanced. */
	for (int i = 0; i < pl->n_slots; i++) {
		ptd_tr *t = pl->slot_seg[i] != NULL ? pl->slot_seg[i]->t : NULL;

		if (t != NULL && t->last_step != pl->n_steps) {
			t->gen_s += dt;
			t->last_step = pl->n_steps;
		}
	}
	for (int i = 0; i < pl->n_slots; i++)
		if (pl->slot_seg[i] != NULL && engine_bgen_state(pl->bgen, i) == ENGINE_BGEN_DONE)
			ptd__slot_finish(pl, i);
	return n;
}

int ptd_tr_running(const ptd_tr *t)
{
	int n = 0;

	for (const ptd_seg *seg = t->seg_head; seg != NULL; seg = seg->next)
		n += seg->state == PTD__SEG_RUN;
	return n;
}

void ptd_tr_abort(ptd_tr *t)
{
	ptd_pipeline *pl = t->pl;

	for (ptd_seg *seg = t->seg_head; seg != NULL; seg = seg->next) {
		if (seg->state != PTD__SEG_RUN)
			continue;
		engine_bgen_take(pl->bgen, seg->slot, NULL, NULL);
		pl->slot_seg[seg->slot] = NULL;
		seg->slot = -1;
		seg->state = PTD__SEG_DONE;
		seg->rc = pt_err_set(&seg->err, PT_ECANCELLED, "cancelled");
	}
}
