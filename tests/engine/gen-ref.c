/*
 * gen-ref.c: plain decoders test-generate checks engine_generate against,
 * written on top of engine_eval only (no batching, no cache reuse, full
 * sorts), plus the helpers the test shares.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen-ref.h"

engine_model *model;
int32_t n_vocab, n_ctx_model;

/* A fresh context of n_seq sequences. */
engine_ctx *ctx_new(int32_t n_seq)
{
	engine_ctx_params cp = engine_ctx_default_params();
	engine_ctx *c = NULL;
	pt_err e;

	cp.n_seq = n_seq;
	cp.n_threads = 1;
	if (engine_ctx_new(model, &cp, &c, &e) != 0) {
		fprintf(stderr, "engine_ctx_new: %s\n", e.msg);
		exit(1);
	}
	return c;
}

size_t tok(const char *text, int32_t *ids, size_t cap)
{
	size_t n = 0;
	pt_err e;

	if (engine_tokenize(model, text, strlen(text), ENGINE_TOK_ADD_BOS, ids, cap,
			    &n, &e) != 0) {
		fprintf(stderr, "tokenize: %s\n", e.msg);
		exit(1);
	}
	return n;
}

/* Runs engine_generate on a fresh context; exits on failure. */
engine_gen_result gen(const int32_t *p, size_t n, const engine_gen_params *gp)
{
	engine_ctx *c = ctx_new(gp->n_beams);
	engine_gen_result r;
	pt_err e;
	int rc = engine_generate(c, p, n, gp, NULL, NULL, &r, &e);

	if (rc != 0) {
		fprintf(stderr, "engine_generate: %s\n", e.msg);
		exit(1);
	}
	engine_ctx_free(c);
	return r;
}

int same_ids(const engine_gen_result *a, const engine_gen_result *b)
{
	return a->n_ids == b->n_ids &&
	       memcmp(a->ids, b->ids, (size_t)a->n_ids * sizeof *a->ids) == 0;
}

/*
 * Reference decoder for the checks: greedy with the Hugging Face
 * repetition penalty, one engine_eval per token. Returns the ids.
 */
int32_t ref_greedy(const int32_t *p, size_t n, int32_t max, float pen,
			  int32_t *out)
{
	engine_ctx *c = ctx_new(1);
	float *lg = malloc((size_t)n_vocab * sizeof *lg);
	int32_t hist[MAXT * 2], nh = 0, k = 0;
	pt_err e;

	memcpy(hist, p, n * sizeof *p);
	nh = (int32_t)n;
	if (engine_eval(c, 0, p, n, lg, &e) != 0)
		exit(1);
	for (k = 0; k < max; k++) {
		int32_t best = 0;

		for (int32_t t = 0; t < n_vocab && pen != 1.0f; t++) {
			int seen = 0;

			for (int32_t i = 0; i < nh && !seen; i++)
				seen = hist[i] == t;
			if (seen)
				lg[t] = lg[t] > 0 ? lg[t] / pen : lg[t] * pen;
		}
		for (int32_t t = 1; t < n_vocab; t++)
			if (lg[t] > lg[best])
				best = t;
		out[k] = best;
		hist[nh++] = best;
		if (k + 1 < max && engine_eval(c, 0, &best, 1, lg, &e) != 0)
			exit(1);
	}
	free(lg);
	engine_ctx_free(c);
	return k;
}

/* Sum of log-probabilities of ids following the prompt, by engine_eval. */
double logprob(const int32_t *p, size_t n, const int32_t *ids, int32_t m)
{
	engine_ctx *c = ctx_new(1);
	float *lg = malloc((size_t)n_vocab * sizeof *lg);
	double sum = 0;
	pt_err e;

	if (engine_eval(c, 0, p, n, lg, &e) != 0)
		exit(1);
	for (int32_t i = 0; i < m; i++) {
		double mx = lg[0], z = 0;

		for (int32_t t = 1; t < n_vocab; t++)
			if (lg[t] > mx)
				mx = lg[t];
		for (int32_t t = 0; t < n_vocab; t++)
			z += exp(lg[t] - mx);
		sum += lg[ids[i]] - mx - log(z);
		if (i + 1 < m && engine_eval(c, 0, &ids[i], 1, lg, &e) != 0)
			exit(1);
	}
	free(lg);
	engine_ctx_free(c);
	return sum;
}

/*
 * Reference beam search with Hugging Face's semantics (num_beams,
 * early_stopping=True, length_penalty), written plainly: every beam's
 * logits come from evaluating its whole sequence in a fresh context, and
 * the candidates of a step are fully sorted. A token that completes the
 * stop string (in the text of the generated tokens) finishes a hypothesis
 * like EOS does, keeping the token. Returns the best hypothesis.
 */

typedef struct rcand {
	double s;
	int32_t k, t;
} rcand;

static int rcand_cmp(const void *a, const void *b)
{
	const rcand *x = a, *y = b;

	if (x->s != y->s)
		return x->s > y->s ? -1 : 1;
	if (x->k != y->k)
		return x->k - y->k;
	return x->t - y->t;
}

static void ref_logprobs(const int32_t *p, size_t n, const int32_t *g, int32_t ng, double *lp)
{
	engine_ctx *c = ctx_new(1);
	float *lg = malloc((size_t)n_vocab * sizeof *lg);
	int32_t seq[256];
	double mx, z = 0;
	pt_err e;

	memcpy(seq, p, n * 4);
	memcpy(seq + n, g, (size_t)ng * 4);
	if (engine_eval(c, 0, seq, n + (size_t)ng, lg, &e) != 0)
		exit(1);
	mx = lg[0];
	for (int32_t t = 1; t < n_vocab; t++)
		mx = lg[t] > mx ? lg[t] : mx;
	for (int32_t t = 0; t < n_vocab; t++)
		z += exp(lg[t] - mx);
	for (int32_t t = 0; t < n_vocab; t++)
		lp[t] = lg[t] - mx - log(z);
	free(lg);
	engine_ctx_free(c);
}

static void ref_hyp_add(rhyp *h, int *nh, int nb, const int32_t *toks, int32_t n,
			double sum, int32_t len, double lpen)
{
	double sc = sum / pow(len, lpen);
	int w = 0;

	if (*nh == nb) {
		for (int i = 1; i < *nh; i++)
			if (h[i].score < h[w].score)
				w = i;
		if (!(sc > h[w].score))
			return;
	} else {
		w = (*nh)++;
	}
	memcpy(h[w].toks, toks, (size_t)n * 4);
	h[w].n = n;
	h[w].score = sc;
}

rhyp ref_beam(const int32_t *p, size_t n, int nb, int32_t max, double lpen,
		     const char *stop)
{
	rhyp run[8], nxt[8], hyp[8];
	int nrun = 1, nh = 0, best = 0;
	double *lp = malloc((size_t)n_vocab * sizeof *lp);
	rcand *cd = malloc((size_t)nb * (size_t)n_vocab * sizeof *cd);
	int32_t eos = 2;
	engine_model_info in;

	engine_model_get_info(model, &in);
	eos = in.eos_id;
	run[0].n = 0;
	run[0].score = 0;
	for (int32_t step = 0; step < max; step++) {
		int m = 0, nn = 0;

		for (int k = 0; k < nrun; k++) {
			ref_logprobs(p, n, run[k].toks, run[k].n, lp);
			for (int32_t t = 0; t < n_vocab; t++)
				cd[m++] = (rcand){ run[k].score + lp[t], k, t };
		}
		qsort(cd, (size_t)m, sizeof *cd, rcand_cmp);
		for (int r = 0; r < 2 * nb && nn < nb; r++) {
			rhyp h = run[cd[r].k];
			char txt[4096];
			size_t len = 0;
			int fin_eos = cd[r].t == eos, fin_stop = 0;

			h.toks[h.n++] = cd[r].t;
			h.score = cd[r].s;
			if (!fin_eos && stop != NULL) {
				engine_detokenize(model, h.toks, (size_t)h.n, txt, sizeof txt, &len, NULL);
				fin_stop = strstr(txt, stop) != NULL;
			}
			if (fin_eos || fin_stop) {
				if (r < nb)
					ref_hyp_add(hyp, &nh, nb, h.toks, h.n - fin_eos, h.score,
						    step + 1, lpen);
				continue;
			}
			nxt[nn++] = h;
		}
		if (nh >= nb || nn == 0) {
			nrun = 0;
			break;
		}
		memcpy(run, nxt, sizeof nxt);
		nrun = nn;
	}
	for (int k = 0; k < nrun; k++)
		ref_hyp_add(hyp, &nh, nb, run[k].toks, run[k].n, run[k].score, run[k].n, lpen);
	for (int i = 1; i < nh; i++)
		if (hyp[i].score > hyp[best].score)
			best = i;
	free(lp);
	free(cd);
	return hyp[best];
}
