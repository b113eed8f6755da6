/*
 * generate-beam.c: beam search with Hugging Face's semantics for
 * num_beams, early_stopping=True and length_penalty (BeamSearchScorer):
 *
 *   - each step, every running beam's logits go through log-softmax and the
 *     repetition penalty, the beam's score is added, and the best 2 * n_beams
 *     (beam, token) pairs over all beams are walked in order;
 *   - a pair ending in EOS (or, our addition, completing a stop string)
 *     becomes a finished hypothesis if it ranks among the first n_beams,
 *     scored sum_logprob / generated_len ^ length_penalty (the length counts
 *     the EOS); other pairs become the next beams until n_beams are found;
 *   - with n_beams finished hypotheses the search is done (early stopping);
 *     at the token budget the running beams are added as hypotheses too, and
 *     the best-scored hypothesis is the answer.
 *
 * The running beams are decoded together, one engine_decode batch of
 * n_beams tokens per step. A beam's cache lives in a sequence slot; after
 * a step the first child of a beam keeps its parent's slot, so a cache is
 * copied (engine_kv_copy) only into the slots of beams that had no child.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "generate-impl.h"

typedef struct beam_cand {
	float score;   /* beam score + token log-prob */
	int32_t k;     /* running beam it extends */
	int32_t tok;
} beam_cand;

struct engine__beams {
	int32_t n;              /* n_beams */
	int32_t n_run;          /* running beams (at most n) */
	int cur;                /* which half of the double buffers is current */
	/* Running beams, by index k < n_run, double-buffered. */
	int32_t *toks[2];       /* n rows of max_gen: generated tokens */
	float *score[2];        /* n: sum of (processed) log-probs */
	int32_t *slot[2];       /* n: the sequence holding its cache */
	engine_detok *dt[2];    /* n: streaming detokenizer (stop strings) */
	char *tail[2];          /* n rows of stop_max: last bytes of its text */
	size_t *tail_len[2];

	/* Candidates of a step and what the next beams take from them. */
	beam_cand *cand;        /* 2n, best first */
	int32_t n_cand;
	int32_t *pick;          /* n: candidate index of next beam j */
	engine_detok *cand_dt;  /* 2n */
	char *cand_piece;       /* 2n rows of ENGINE_GEN_PIECE_MAX */
	size_t *cand_piece_len; /* 2n */
	char *scratch;          /* stop_max + ENGINE_GEN_PIECE_MAX */

	/* Finished hypotheses (at most n). */
	int32_t n_hyp;
	float *hyp_score;
	int32_t *hyp_len;
	int32_t *hyp_toks;      /* n rows of max_gen */
	engine_stop_reason *hyp_stop;

	/* The batch of a step. */
	int32_t *b_tok, *b_pos, *b_seq;
	int8_t *b_want;
	uint8_t *slot_used;     /* n */
	int32_t n_copies;       /* caches copied (for the debug log) */
};

int engine__beam_alloc(engine__gen *g, size_t *total)
{
	size_t n = (size_t)g->gp->n_beams, mg = (size_t)g->max_gen + 1;
	size_t sm = g->stop_max + 1, nm;
	engine__beams *b;
	int rc;

	if (pt_mul_size(n, mg, &nm) != 0)
		return PT_ETOOLARGE;
	rc = engine__gen_alloc((void **)&b, 1, sizeof *b, total);
	if (rc != 0)
		return rc;
	g->beams = b;
	b->n = (int32_t)n;
	for (int h = 0; h < 2 && rc == 0; h++) {
		rc = engine__gen_alloc((void **)&b->toks[h], nm, sizeof(int32_t), total);
		if (rc == 0)
			rc = engine__gen_alloc((void **)&b->score[h], n, sizeof(float), total);
		if (rc == 0)
			rc = engine__gen_alloc((void **)&b->slot[h], n, sizeof(int32_t), total);
		if (rc == 0)
			rc = engine__gen_alloc((void **)&b->dt[h], n, sizeof(engine_detok), total);
		if (rc == 0)
			rc = engine__gen_alloc((void **)&b->tail[h], n * sm, 1, total);
		if (rc == 0)
			rc = engine__gen_alloc((void **)&b->tail_len[h], n, sizeof(size_t), total);
	}
	if (rc == 0)
		rc = engine__gen_alloc((void **)&b->cand, 2 * n, sizeof *b->cand, total);
	if (rc == 0)
		rc = engine__gen_alloc((void **)&b->pick, n, sizeof *b->pick, total);
	if (rc == 0)
		rc = engine__gen_alloc((void **)&b->cand_dt, 2 * n, sizeof *b->cand_dt, total);
	if (rc == 0)
		rc = engine__gen_alloc((void **)&b->cand_piece, 2 * n, ENGINE_GEN_PIECE_MAX, total);
	if (rc == 0)
		rc = engine__gen_alloc((void **)&b->cand_piece_len, 2 * n, sizeof(size_t), total);
	if (rc == 0)
		rc = engine__gen_alloc((void **)&b->scratch, sm + ENGINE_GEN_PIECE_MAX, 1, total);
	if (rc == 0)
		rc = engine__gen_alloc((void **)&b->hyp_score, n, sizeof(float), total);
	if (rc == 0)
		rc = engine__gen_alloc((void **)&b->hyp_len, n, sizeof(int32_t), total);
	if (rc == 0)
		rc = engine__gen_alloc((void **)&b->hyp_toks, nm, sizeof(int32_t), total);
	if (rc == 0)
		rc = engine__gen_alloc((void **)&b->hyp_stop, n, sizeof(engine_stop_reason), total);
	if (rc == 0)
		rc = engine__gen_alloc((void **)&b->b_tok, n, sizeof(int32_t), total);
	if (rc == 0)
		rc = engine__gen_alloc((void **)&b->b_pos, n, sizeof(int32_t), total);
	if (rc == 0)
		rc = engine__gen_alloc((void **)&b->b_seq, n, sizeof(int32_t), total);
	if (rc == 0)
		rc = engine__gen_alloc((void **)&b->b_want, n, sizeof(int8_t), total);
	if (rc == 0)
		rc = engine__gen_alloc((void **)&b->slot_used, n, 1, total);
	return rc;
}

void engine__beam_free(engine__gen *g)
{
	engine__beams *b = g->beams;

	if (b == NULL)
		return;
	for (int h = 0; h < 2; h++) {
		free(b->toks[h]);
		free(b->score[h]);
		free(b->slot[h]);
		free(b->dt[h]);
		free(b->tail[h]);
		free(b->tail_len[h]);
	}
	free(b->cand);
	free(b->pick);
	free(b->cand_dt);
	free(b->cand_piece);
	free(b->cand_piece_len);
	free(b->scratch);
	free(b->hyp_score);
	free(b->hyp_len);
	free(b->hyp_toks);
	free(b->hyp_stop);
	free(b->b_tok);
	free(b->b_pos);
	free(b->b_seq);
	free(b->b_want);
	free(b->slot_used);
	free(b);
	g->beams = NULL;
}

/* In place: x[i] -= log(sum(exp(x))). */
static void beam__log_softmax(float *x, int32_t n)
{
	float mx = x[0];
	double sum = 0;
	float lz;

	for (int32_t i = 1; i < n; i++)
		if (x[i] > mx)
			mx = x[i];
	for (int32_t i = 0; i < n; i++)
		sum += expf(x[i] - mx);
	lz = mx + (float)log(sum);
	for (int32_t i = 0; i < n; i++)
		x[i] -= lz;
}

/* The best 2n (beam, token) pairs over the running beams, best first; ties
 * go to the lower beam, then the lower token. */
static void beam__top(engine__gen *g)
{
	engine__beams *b = g->beams;
	const float *score = b->score[b->cur];
	int32_t want = 2 * b->n, m = 0, V = g->n_vocab;

	for (int32_t k = 0; k < b->n_run; k++) {
		const float *row = g->logits + (size_t)k * (size_t)V;

		for (int32_t t = 0; t < V; t++) {
			float s = row[t] + score[k];
			int32_t j;

			if (m == want && !(s > b->cand[m - 1].score))
				continue;
			j = m < want ? m++ : m - 1;
			while (j > 0 && s > b->cand[j - 1].score) {
				b->cand[j] = b->cand[j - 1];
				j--;
			}
			b->cand[j] = (beam_cand){ s, k, t };
		}
	}
	b->n_cand = m;
}

/* Adds a finished hypothesis: prefix[0..n_prefix) then tok if tok >= 0.
 * Kept if fewer than n are held or it beats the worst, which it replaces. */
static void beam__hyp_add(engine__gen *g, const int32_t *prefix, int32_t n_prefix,
			  int32_t tok, float sum, int32_t gen_len,
			  engine_stop_reason why)
{
	engine__beams *b = g->beams;
	float lp = g->gp->length_penalty;
	float score = sum / powf((float)(gen_len > 0 ? gen_len : 1), lp);
	size_t row = (size_t)g->max_gen + 1;
	int32_t i = b->n_hyp, n = n_prefix + (tok >= 0);

	if (b->n_hyp == b->n) {
		i = 0;
		for (int32_t j = 1; j < b->n_hyp; j++)
			if (b->hyp_score[j] < b->hyp_score[i])
				i = j;
		if (!(score > b->hyp_score[i]))
			return;
	} else {
		b->n_hyp++;
	}
	memcpy(b->hyp_toks + (size_t)i * row, prefix, (size_t)n_prefix * sizeof *prefix);
	if (tok >= 0)
		b->hyp_toks[(size_t)i * row + (size_t)n_prefix] = tok;
	b->hyp_len[i] = n;
	b->hyp_score[i] = score;
	b->hyp_stop[i] = why;
}

/*
 * Would candidate r complete a stop string? Runs the parent's streaming
 * detokenizer on a copy and looks at the parent's last bytes plus the new
 * piece; keeps the detokenizer and piece for the beam it may become.
 */
static int beam__cand_stops(engine__gen *g, int32_t r)
{
	engine__beams *b = g->beams;
	int32_t k = b->cand[r].k;
	char *piece = b->cand_piece + (size_t)r * ENGINE_GEN_PIECE_MAX;
	size_t sm = g->stop_max + 1, tl = b->tail_len[b->cur][k], pl, pos;

	b->cand_dt[r] = b->dt[b->cur][k];
	pl = engine_detok_push(&b->cand_dt[r], b->cand[r].tok, piece, ENGINE_GEN_PIECE_MAX);
	b->cand_piece_len[r] = pl;
	memcpy(b->scratch, b->tail[b->cur] + (size_t)k * sm, tl);
	memcpy(b->scratch + tl, piece, pl);
	return engine__stop_find(g, b->scratch, tl + pl, tl, &pos);
}

/* Walks the candidates of a step: finished hypotheses and the next beams
 * (b->pick). Returns the number of next beams. */
static int32_t beam__walk(engine__gen *g, int32_t step)
{
	engine__beams *b = g->beams;
	const engine_gen_params *gp = g->gp;
	size_t row = (size_t)g->max_gen + 1;
	int32_t n_new = 0;

	for (int32_t r = 0; r < b->n_cand && n_new < b->n; r++) {
		const beam_cand *cd = &b->cand[r];
		const int32_t *toks = b->toks[b->cur] + (size_t)cd->k * row;
		int eos = gp->stop_at_eos && cd->tok == g->eos;
		int stop = !eos && gp->n_stop > 0 && beam__cand_stops(g, r);

		if (eos || stop) {
			if (r < b->n)
				beam__hyp_add(g, toks, step, stop ? cd->tok : -1, cd->score,
					      step + 1, stop ? ENGINE_STOP_STRING : ENGINE_STOP_EOS);
			continue;
		}
		b->pick[n_new++] = r;
	}
	return n_new;
}

/* Moves the picked candidates into the next beams: slots (first child
 * keeps its parent's slot, others get a copy of the parent's cache in a
 * slot nobody continues), tokens, detokenizers, text tails. */
static void beam__advance(engine__gen *g, int32_t n_new, int32_t step)
{
	engine__beams *b = g->beams;
	int cur = b->cur, nxt = !cur;
	size_t row = (size_t)g->max_gen + 1, sm = g->stop_max + 1;

	memset(b->slot_used, 0, (size_t)b->n);
	for (int32_t j = 0; j < n_new; j++) {
		int32_t s = b->slot[cur][b->cand[b->pick[j]].k];

		b->slot[nxt][j] = b->slot_used[s] ? -1 : s;
		b->slot_used[s] = 1;
	}
	for (int32_t j = 0; j < n_new; j++) {
		int32_t src = b->slot[cur][b->cand[b->pick[j]].k], s = 0;

		if (b->slot[nxt][j] >= 0)
			continue;
		while (b->slot_used[s])
			s++;
		b->slot_used[s] = 1;
		b->slot[nxt][j] = s;
		engine_kv_copy(g->c, src, s, engine_kv_len(g->c, src));
		b->n_copies++;
	}
	for (int32_t j = 0; j < n_new; j++) {
		int32_t r = b->pick[j], k = b->cand[r].k;
		int32_t *to = b->toks[nxt] + (size_t)j * row;

		memcpy(to, b->toks[cur] + (size_t)k * row, (size_t)step * sizeof *to);
		to[step] = b->cand[r].tok;
		b->score[nxt][j] = b->cand[r].score;
		if (g->gp->n_stop > 0) {
			/* New tail: the last stop_max - 1 bytes of tail + piece. */
			size_t tl = b->tail_len[cur][k], pl = b->cand_piece_len[r];
			size_t keep = g->stop_max - 1, all = tl + pl, from;

			memcpy(b->scratch, b->tail[cur] + (size_t)k * sm, tl);
			memcpy(b->scratch + tl, b->cand_piece + (size_t)r * ENGINE_GEN_PIECE_MAX, pl);
			from = all > keep ? all - keep : 0;
			memcpy(b->tail[nxt] + (size_t)j * sm, b->scratch + from, all - from);
			b->tail_len[nxt][j] = all - from;
			b->dt[nxt][j] = b->cand_dt[r];
		}
	}
	b->cur = nxt;
	b->n_run = n_new;
}

/* Decodes the last token of every running beam in one batch; row k of
 * g->logits gets beam k's logits. */
static int beam__decode(engine__gen *g, int32_t step, pt_err *e)
{
	engine__beams *b = g->beams;
	size_t row = (size_t)g->max_gen + 1;
	engine_batch bt;

	for (int32_t k = 0; k < b->n_run; k++) {
		b->b_tok[k] = b->toks[b->cur][(size_t)k * row + (size_t)step - 1];
		b->b_pos[k] = (int32_t)g->n_prompt + step - 1;
		b->b_seq[k] = b->slot[b->cur][k];
		b->b_want[k] = 1;
	}
	bt.n = b->n_run;
	bt.token = b->b_tok;
	bt.pos = b->b_pos;
	bt.seq = b->b_seq;
	bt.logits = b->b_want;
	return engine_decode(g->c, &bt, g->logits, e);
}

/* The best hypothesis becomes the answer: ids, text (cut before a stop
 * string), stop reason; the callback gets the whole text once. */
static void beam__answer(engine__gen *g, engine_text_cb cb, void *ud)
{
	engine__beams *b = g->beams;
	size_t row = (size_t)g->max_gen + 1, len = 0, pos;
	int32_t best = 0;

	for (int32_t i = 1; i < b->n_hyp; i++)
		if (b->hyp_score[i] > b->hyp_score[best])
			best = i;
	g->n_ids = b->n_hyp > 0 ? b->hyp_len[best] : 0;
	memcpy(g->ids, b->hyp_toks + (size_t)best * row, (size_t)g->n_ids * sizeof *g->ids);
	if (g->stop != ENGINE_STOP_CANCELLED && b->n_hyp > 0)
		g->stop = b->hyp_stop[best];
	if (engine_detokenize(g->m, g->ids, (size_t)g->n_ids, g->text, g->text_cap,
			      &len, NULL) != 0)
		len = 0;
	g->text_len = len < g->text_cap ? len : g->text_cap - 1;
	if (g->gp->n_stop > 0 && engine__stop_find(g, g->text, g->text_len, 0, &pos))
		g->text_len = pos;
	g->text[g->text_len] = '\0';
	if (cb != NULL && g->text_len > 0)
		cb(ud, g->text, g->text_len);
	g->emitted = g->text_len;
}

int engine__beam_run(engine__gen *g, engine_text_cb cb, void *ud, pt_err *e)
{
	engine__beams *b = g->beams;
	size_t row = (size_t)g->max_gen + 1;
	int32_t step = 0;
	int rc;

	/* One beam to start from: the prompt, in sequence 0. */
	b->cur = 0;
	b->n_run = 1;
	b->n_hyp = 0;
	b->n_copies = 0;
	b->score[0][0] = 0;
	b->slot[0][0] = 0;
	b->tail_len[0][0] = 0;
	engine_detok_init(&b->dt[0][0], g->m);

	while (step < g->max_gen && !engine__gen_cancelled(g)) {
		int32_t n_new;

		for (int32_t k = 0; k < b->n_run; k++) {
			float *lr = g->logits + (size_t)k * (size_t)g->n_vocab;

			beam__log_softmax(lr, g->n_vocab);
			engine__rep_penalty(g, lr, b->toks[b->cur] + (size_t)k * row, step);
		}
		beam__top(g);
		n_new = beam__walk(g, step);
		if (b->n_hyp >= b->n || n_new == 0) {
			b->n_run = 0;
			break;
		}
		beam__advance(g, n_new, step);
		step++;
		if (step == g->max_gen || engine__gen_cancelled(g))
			break;
		if ((rc = beam__decode(g, step, e)) != 0)
			return rc;
	}
	pt_log(PT_LOG_DEBUG, "beam search: %d beams, %d steps, %d finished hypotheses, "
	       "%d cache copies", (int)b->n, (int)step, (int)b->n_hyp, (int)b->n_copies);
	/* Running beams at the budget (or at a cancel) are hypotheses too. */
	if (engine__gen_cancelled(g))
		g->stop = ENGINE_STOP_CANCELLED;
	for (int32_t k = 0; k < b->n_run; k++)
		beam__hyp_add(g, b->toks[b->cur] + (size_t)k * row, step, -1,
			      b->score[b->cur][k], step,
			      g->ctx_bound ? ENGINE_STOP_CONTEXT : ENGINE_STOP_MAX_TOKENS);
	beam__answer(g, cb, ud);
	return 0;
}
