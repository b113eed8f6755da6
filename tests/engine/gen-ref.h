/*
 * gen-ref.h: the model under test and the plain reference decoders of
 * gen-ref.c, shared with test-generate.c.
 */
#ifndef GEN_REF_H
#define GEN_REF_H

#include <stddef.h>
#include <stdint.h>

#include "engine-impl.h"

#define MAXT 128

extern engine_model *model;
extern int32_t n_vocab, n_ctx_model;

/* A fresh context of n_seq sequences (1 thread); exits on failure. */
engine_ctx *ctx_new(int32_t n_seq);
/* Tokens of text with <s> first. */
size_t tok(const char *text, int32_t *ids, size_t cap);
/* engine_generate on a fresh context; exits on failure. */
engine_gen_result gen(const int32_t *p, size_t n, const engine_gen_params *gp);
int same_ids(const engine_gen_result *a, const engine_gen_result *b);

/* Greedy with the Hugging Face repetition penalty pen, one engine_eval
 * per token; writes max ids to out and returns max. */
int32_t ref_greedy(const int32_t *p, size_t n, int32_t max, float pen, int32_t *out);
/* Sum of log-probabilities of ids[0..m) after the prompt. */
double logprob(const int32_t *p, size_t n, const int32_t *ids, int32_t m);

/* Beam search with Hugging Face's semantics (num_beams up to 8,
 * early_stopping=True, length_penalty lpen); a token completing stop (if
 * not NULL) finishes a hypothesis like EOS, keeping the token. Returns the
 * best hypothesis. */
typedef struct rhyp {
	int32_t toks[64];
	int32_t n;
	double score;
} rhyp;
rhyp ref_beam(const int32_t *p, size_t n, int nb, int32_t max, double lpen,
	      const char *stop);

#endif
