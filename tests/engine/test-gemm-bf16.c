/*
 * test-gemm-bf16.c: the bf16 GEMM of prefill (engine/gemm-bf16.c).
 *
 * Each kernel set this CPU runs (the scalar reference always, AVX-512 BF16
 * where the CPU has it), with the activations in one and in two bf16
 * parts, on odd sizes (tokens that fill no whole tile, rows that fill no
 * whole panel, k of 2048, 8192 and small odd multiples of 32, and k that
 * is not a multiple of 32, nor of the panel's slice of k), against a double-precision product computed
 * here from the test's own rounding of the activations (only the order of
 * the f32 sums may differ) and against the exact product of the f32
 * activations (the rounding of the activations is all that may differ).
 * Also: bias and GELU, nothing written outside the output rows, token
 * blocks when the scratch holds fewer tokens than the call, the refusal
 * when it holds less than one tile, and engine__matmul's prefill path.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "gemm-bf16.h"
#include "kernels.h"
#include "tcheck.h"

static uint64_t rng = 0x2545f4914f6cdd1dull;

static float frand(void) /* uniform in [-1, 1) */
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (float)(rng >> 40) / 8388608.0f - 1.0f;
}

static void *xalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) {
		fprintf(stderr, "out of memory (%zu bytes)\n", n);
		exit(1);
	}
	return p;
}

/* The activation as the GEMM sees it: rounded to bf16 in `parts` parts
 * (the rounding written here again, from its definition). */
static double round_parts(float v, int parts)
{
	float hi = engine__bf16_to_f32(engine__f32_to_bf16(v));
	if (parts == 1)
		return hi;
	return (double)hi + engine__bf16_to_f32(engine__f32_to_bf16(v - hi));
}

typedef struct problem {
	int64_t n, k;
	int n_tok;
	uint16_t *w;  /* [n][k] bf16 */
	float *x;     /* [n_tok][ldx] */
	size_t ldx, ldy;
	float *bias;  /* [n] */
} problem;

static void problem_make(problem *p, int64_t n, int64_t k, int n_tok)
{
	p->n = n;
	p->k = k;
	p->n_tok = n_tok;
	p->ldx = (size_t)k + 5;
	p->ldy = (size_t)n + 7;
	p->w = xalloc((size_t)n * (size_t)k * 2);
	p->x = xalloc((size_t)n_tok * p->ldx * sizeof(float));
	p->bias = xalloc((size_t)n * sizeof(float));
	for (size_t i = 0; i < (size_t)n * (size_t)k; i++)
		p->w[i] = engine__f32_to_bf16(frand() * 0.5f);
	/* activations of mixed magnitudes, as after a LayerNorm */
	for (size_t i = 0; i < (size_t)n_tok * p->ldx; i++)
		p->x[i] = frand() * (i % 7 == 0 ? 8.0f : 1.0f);
	for (int64_t r = 0; r < n; r++)
		p->bias[r] = frand();
}

static void problem_free(problem *p)
{
	free(p->w);
	free(p->x);
	free(p->bias);
}

static double gelu(double v)
{
	return 0.5 * v * (1.0 + tanh(0.7978845608 * (v + 0.044715 * v * v * v)));
}

/*
 * Runs the GEMM (through engine__matmul if isa < 0) and checks every
 * output against the double products. Returns the largest error against
 * the f32 activations, relative to s = sum |w x|, through *worst_f32.
 */
static void check_case(engine__pool *pool, engine__mm_scratch *s,
		       const problem *p, int isa, int parts, int with_bias,
		       double *worst_f32)
{
	engine__mat m = { .data = p->w, .type = ENGINE_TYPE_BF16, .k = p->k,
			  .n = p->n, .row_bytes = (size_t)p->k * 2 };
	size_t ny = (size_t)p->n_tok * p->ldy;
	float *y = xalloc(ny * sizeof(float));
	for (size_t i = 0; i < ny; i++)
		y[i] = -12345.0f; /* sentinel: the gaps must keep it */
	const float *bias = with_bias ? p->bias : NULL;
	char what[160];
	snprintf(what, sizeof what, "%s parts %d n %lld k %lld tokens %d%s",
		 isa < 0 ? "engine__matmul" : isa == ENGINE_ISA_SCALAR ? "scalar" : "avx512",
		 parts, (long long)p->n, (long long)p->k, p->n_tok,
		 with_bias ? " bias+gelu" : "");
	if (isa < 0) {
		engine__matmul(pool, s, &m, bias, p->x, p->ldx, p->n_tok, y,
			       p->ldy, with_bias);
	} else {
		int rc = engine__gemm_bf16(pool, s, &m, bias, p->x, p->ldx,
					   p->n_tok, y, p->ldy, with_bias, isa, parts);
		CHECK(rc == 0, "%s: returned %d", what, rc);
	}
	double *xr = xalloc((size_t)p->k * sizeof(double));
	double worst = 0.0, worst_f = 0.0;
	int bad = 0, gaps = 0;
	for (int t = 0; t < p->n_tok; t++) {
		const float *xt = p->x + (size_t)t * p->ldx;
		for (int64_t e = 0; e < p->k; e++)
			xr[e] = round_parts(xt[e], parts);
		for (int64_t r = 0; r < p->n; r++) {
			const uint16_t *wr = p->w + (size_t)r * (size_t)p->k;
			double acc = 0.0, accf = 0.0, sum = 0.0;
			for (int64_t e = 0; e < p->k; e++) {
				double wv = engine__bf16_to_f32(wr[e]);
				acc += wv * xr[e];
				accf += wv * xt[e];
				sum += fabs(wv * xt[e]);
			}
			double got = y[(size_t)t * p->ldy + r];
			/* With GELU the error passes through a slope of at
			 * most 1.13. */
			double bb = bias ? p->bias[r] : 0.0;
			double d = fabs(got - (bias ? gelu(acc + bb) : acc));
			double df = fabs(got - (bias ? gelu(accf + bb) : accf));
			double rel = d / sum, relf = df / sum;
			if (rel > worst)
				worst = rel;
			if (relf > worst_f)
				worst_f = relf;
			if (!(rel <= 1e-5) && bad++ < 3)
				CHECK(0, "%s: y[%d][%lld] = %.7g, expected %.7g (s %.4g)",
				      what, t, (long long)r, got, acc + bb, sum);
		}
		for (size_t r = (size_t)p->n; r < p->ldy; r++)
			gaps += y[(size_t)t * p->ldy + r] != -12345.0f;
	}
	/* Rounding an activation to bf16 (8 significant bits) moves a product
	 * by at most 2^-8 of it; in two parts by 2^-8 of the low part, itself
	 * at most 2^-8 of the value. */
	double bound = parts == 1 ? 1.0 / 256 + 1e-5 : 1.0 / 65536 + 1e-5;
	CHECK(bad == 0, "%s: %d outputs off the rounded product (worst %.3g s)",
	      what, bad, worst);
	CHECK(worst_f <= bound, "%s: %.3g s from the f32 product, bound %.3g s",
	      what, worst_f, bound);
	CHECK(gaps == 0, "%s: %d floats written outside the output rows", what,
	      gaps);
	if (worst_f > *worst_f32)
		*worst_f32 = worst_f;
	free(xr);
	free(y);
}

int main(void)
{
	engine__pool *pool = NULL;
	engine__mm_scratch s;
	pt_err e = { 0 };
	if (engine__pool_new(3, &pool, &e) ||
	    engine__mm_scratch_init(&s, 8192, 3, &e)) {
		fprintf(stderr, "set-up: %s\n", e.msg);
		return 1;
	}
	int isas[2] = { ENGINE_ISA_SCALAR, ENGINE_ISA_AVX512 };
	int n_isa = engine__gemm_bf16_usable() ? 2 : 1;
	if (n_isa == 1)
		printf("this CPU has no AVX512_BF16: the scalar kernels only\n");

	/* {rows, k, tokens}: rows not a multiple of the 48-row panel, tokens
	 * not a multiple of the 8-token tile, k = 32 * odd, k % 32 != 0. */
	static const int64_t cases[][3] = {
		{ 37, 2048, 17 }, { 101, 96, 33 }, { 50, 8192, 17 },
		{ 97, 160, 100 }, { 49, 45, 33 }, { 16, 2048, 100 },
		{ 5, 3, 9 }, { 50, ENGINE_GB_KC + 76, 20 },
	};
	double worst[3] = { 0 };
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		problem p;
		problem_make(&p, cases[c][0], cases[c][1], (int)cases[c][2]);
		for (int i = 0; i < n_isa; i++)
			for (int parts = 1; parts <= 2; parts++)
				check_case(pool, &s, &p, isas[i], parts, c == 1,
					   &worst[parts]);
		problem_free(&p);
	}

	/* Token blocks: a scratch that holds the panels and 2 tiles of
	 * tokens runs 100 tokens in 7 blocks. */
	{
		problem p;
		problem_make(&p, 60, 224, 100);
		engine__mm_scratch small = s;
		size_t kp = 224, elems = kp * ENGINE_GB_MR * 3 +
					 ENGINE_GB_KQ(kp) * 2 * 2 * ENGINE_GB_NR;
		small.panel_floats = (elems + 2) / 2 / 3;
		for (int i = 0; i < n_isa; i++)
			check_case(pool, &small, &p, isas[i], 2, 1, &worst[2]);
		/* less than one tile: refused, y untouched */
		small.panel_floats = kp * ENGINE_GB_MR / 2;
		float y0 = 7.0f;
		engine__mat m = { .data = p.w, .type = ENGINE_TYPE_BF16, .k = p.k,
				  .n = 1, .row_bytes = (size_t)p.k * 2 };
		int rc = engine__gemm_bf16(pool, &small, &m, NULL, p.x, p.ldx, 1,
					   &y0, 1, 0, ENGINE_ISA_SCALAR, 1);
		CHECK(rc == PT_ETOOLARGE && y0 == 7.0f,
		      "scratch under one tile: rc %d, y %g", rc, y0);
		m.type = ENGINE_TYPE_F16;
		CHECK(engine__gemm_bf16(pool, &s, &m, NULL, p.x, p.ldx, 1, &y0, 1,
					0, ENGINE_ISA_SCALAR, 1) == PT_EUNSUPPORTED,
		      "F16 weights are not refused");
		problem_free(&p);
	}

	/* The engine's prefill path for BF16 weights (over 16 tokens): the
	 * AVX-512 kernel with the engine's parts where the CPU has it, SGEMM
	 * on the widened weights (parts 2 bound, tighter) elsewhere. */
	{
		problem p;
		problem_make(&p, 75, 2048, ENGINE_GEMV_MAX_TOK + 21);
		double w_mm = 0;
		check_case(pool, &s, &p, -1, engine__gemm_bf16_usable() ?
			   ENGINE_GEMM_BF16_PARTS : 2, 1, &w_mm);
		problem_free(&p);
	}
	printf("largest error against the f32 activations, relative to "
	       "sum |w x|: 1 part %.3g, 2 parts %.3g\n", worst[1], worst[2]);
	engine__mm_scratch_done(&s);
	engine__pool_free(pool);
	return tcheck_done();
}
