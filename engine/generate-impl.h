/*
 * generate-impl.h: the state of one engine_generate call, shared by
 * generate.c (greedy, sampling, stop rules, entry point) and generate-beam.c
 * (beam search). Nothing outside these two files includes it.
 */
#ifndef GENERATE_IMPL_H
#define GENERATE_IMPL_H

#include "engine-impl.h"

#define ENGINE_GEN_MAX_BEAMS 16
#define ENGINE_GEN_MAX_STOP 16
#define ENGINE_GEN_MAX_STOP_LEN 256
/* Bytes one engine_detok_push may write (engine.h: 256 always suffices). */
#define ENGINE_GEN_PIECE_MAX 256

typedef struct engine__rng { uint64_t s[4]; } engine__rng;
typedef struct engine__cand { float w; int32_t id; } engine__cand;
typedef struct engine__beams engine__beams;

typedef struct engine__gen {
	engine_ctx *c;
	const engine_model *m;
	const engine_gen_params *gp;
	const int32_t *prompt;
	size_t n_prompt;
	int32_t n_vocab, n_ctx, eos;
	int32_t max_gen;        /* min(max_tokens, room left in the context) */
	int ctx_bound;          /* max_gen is set by the context, not max_tokens */
	int32_t n_reused;       /* prompt tokens kept from the cache */
	engine__rng rng;

	size_t *stop_len;       /* n_stop */
	size_t stop_max;        /* longest stop string */

	float *logits;          /* n_beams rows of n_vocab */
	engine__cand *cand;     /* n_vocab: top-k / top-p candidates */
	uint32_t *stamp;        /* n_vocab: repetition penalty marks */
	uint32_t stamp_cur;

	int32_t *ids;           /* max_gen + 1: the answer */
	int32_t n_ids;
	char *text;             /* text_cap: its text */
	size_t text_len, text_cap;
	size_t emitted;         /* bytes of text handed to the callback */
	engine_detok detok;

	engine_stop_reason stop;
	double prompt_s, gen_s;
	engine__beams *beams;   /* beam search only */
} engine__gen;

void engine__rng_seed(engine__rng *r, uint64_t seed);
double engine__rng_uniform(engine__rng *r);

/* Allocates n zeroed elements of size sz into *p, adding the bytes to
 * *total; PT_ETOOLARGE on overflow, PT_ENOMEM. */
int engine__gen_alloc(void **p, size_t n, size_t sz, size_t *total);
void engine__gen_free(engine__gen *g);
int engine__gen_cancelled(const engine__gen *g);
/* Copies a finished generation's ids, text and figures into *res (its
 * own allocations); PT_ENOMEM. */
int engine__gen_result(const engine__gen *g, engine_gen_result *res, pt_err *e);

/* Checks generation parameters (n_seq: sequences of the context) and a
 * prompt against the context; the messages name the bad value. */
int engine__gen_check_params(const engine_gen_params *gp, int32_t n_seq,
			      int32_t n_vocab, pt_err *e);
int engine__gen_check_prompt(engine_ctx *c, const int32_t *prompt, size_t n_prompt,
			     const engine_gen_params *gp, pt_err *e);

int engine__stop_find(const engine__gen *g, const char *text, size_t len,
		      size_t old_len, size_t *pos);
/* Length of the longest suffix of text[0..len) that may start a stop
 * string (held back from the stream). */
size_t engine__stop_hold(const engine__gen *g, const char *text, size_t len);
void engine__rep_penalty(engine__gen *g, float *scores, const int32_t *gen,
			 int32_t n_gen);
int32_t engine__pick(engine__gen *g, float *logits, const int32_t *gen,
		     int32_t n_gen);

/* Beam search (generate-beam.c). */
int engine__beam_alloc(engine__gen *g, size_t *total);
void engine__beam_free(engine__gen *g);
int engine__beam_run(engine__gen *g, engine_text_cb cb, void *ud, pt_err *e);

#endif
