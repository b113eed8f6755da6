/*
 * test-gemm-q8.c: the int8 GEMM for prefill (engine/gemm-q8.h) and the
 * matmul driver's use of it.
 *
 * - every activation quantizer this CPU runs gives the same bytes as the
 *   scalar one (int8 values, scales, corrections) on awkward inputs;
 * - every GEMM kernel, on Q8_0 and Q4_0 weights of odd shapes (rows not a
 *   multiple of the 32-row panel, token counts that leave every remainder
 *   of the 6-token tile, k from one block to 8192), against the scalar
 *   reference with the same activations (integer dots are exact: 2e-5 of
 *   sum |w x|) and against double-precision math on the dequantized
 *   weights and the unquantized activations (2e-2 of sum |w x|, the
 *   activations' 8-bit rounding); it must write its rows and only them;
 * - engine__matmul with more tokens than ENGINE_GEMV_MAX_TOK and than
 *   ENGINE_GQ8_TOK, with bias and GELU: the kernel's products plus the
 *   bias, through GELU (1e-5 relative).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "gemm-q8.h"
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

static void fill(float *x, size_t n, float scale)
{
	for (size_t i = 0; i < n; i++)
		x[i] = frand() * scale;
}

/* Random weights of a type, and their dequantized values. */
static char *make_weights(int type, int64_t n, int64_t k, float *wf)
{
	size_t rb = engine__row_bytes(type, k);
	char *w = malloc(rb * (size_t)n);
	float *row = malloc(sizeof(float) * (size_t)k);
	for (int64_t r = 0; r < n; r++) {
		/* rows of different magnitudes, so the scales matter */
		fill(row, (size_t)k, 0.1f + (float)(r % 7));
		engine__quant_row(type, row, w + (size_t)r * rb, k);
		engine__dequant_row(type, w + (size_t)r * rb, wf + (size_t)r * k, k);
	}
	free(row);
	return w;
}

/* ---- Activation quantizers ----------------------------------------------- */

static void test_quant(int type)
{
	enum { K = 320 };
	int n;
	const engine__gq8 *const *l = engine__gq8_list(type, &n);
	size_t ab = engine__gq8_act_bytes(K);
	float x[K];
	fill(x, K, 3.0f);
	for (int i = 32; i < 64; i++)
		x[i] = 0.0f;            /* an all-zero block: d = 0 */
	x[70] = 1e4f;                   /* one outlier: the rest round to 0 */
	for (int i = 96; i < 128; i++)  /* exact halves: ties to even */
		x[i] = (float)(i - 112) + 0.5f;
	x[127] = 127.0f;
	char *ref = aligned_alloc(64, ab), *got = aligned_alloc(64, ab);
	memset(ref, 0, ab);
	l[0]->quant(x, K, l[0]->off, ref);
	const int32_t *corr = (const int32_t *)(ref + K) + K / 32;
	int32_t s = 0;
	for (int i = 0; i < 32; i++)
		s += ((const int8_t *)ref)[i];
	CHECK(corr[0] == -l[0]->off * s, "%s: corr %d for sum %d", l[0]->name,
	      corr[0], s);
	CHECK(((const int8_t *)ref)[127] == 127 && engine__q8_d(ref, K)[1] == 0.0f,
	      "%s: amax maps to 127, a zero block to d = 0", l[0]->name);
	for (int v = 1; v < n; v++) {
		/* the reference with this kernel's offset */
		l[0]->quant(x, K, l[v]->off, ref);
		memset(got, 0, ab);
		l[v]->quant(x, K, l[v]->off, got);
		CHECK(memcmp(ref, got, (size_t)K + (size_t)K / 32 * 8) == 0,
		      "%s: quantized activations differ from %s", l[v]->name,
		      l[0]->name);
	}
	free(ref);
	free(got);
}

/* ---- GEMM kernels ------------------------------------------------------------ */

static void test_gemm(int type, int64_t n, int64_t k, int n_tok)
{
	int nk;
	const engine__gq8 *const *ks = engine__gq8_list(type, &nk);
	size_t rb = engine__row_bytes(type, k), ab = engine__gq8_act_bytes(k);
	float *wf = malloc(sizeof(float) * (size_t)(n * k));
	char *w = make_weights(type, n, k, wf);
	float *x = malloc(sizeof(float) * (size_t)k * (size_t)n_tok);
	size_t ny = (size_t)n_tok * (size_t)n;
	float *y = malloc(sizeof(float) * ny), *ref = malloc(sizeof(float) * ny);
	double *exact = malloc(sizeof(double) * ny), *scale = malloc(sizeof(double) * ny);
	char *xa = aligned_alloc(64, ab * (size_t)n_tok);
	void *pack = aligned_alloc(64, engine__gq8_pack_bytes(k));
	fill(x, (size_t)k * (size_t)n_tok, 2.0f);
	for (int t = 0; t < n_tok; t++)
		for (int64_t r = 0; r < n; r++) {
			double s = 0, a = 0;
			for (int64_t i = 0; i < k; i++) {
				double p = (double)wf[r * k + i] * x[(size_t)t * k + i];
				s += p;
				a += fabs(p);
			}
			exact[(size_t)t * n + r] = s;
			scale[(size_t)t * n + r] = a;
		}
	for (int v = 0; v < nk; v++) {
		const engine__gq8 *g = ks[v];
		for (int t = 0; t < n_tok; t++)
			g->quant(x + (size_t)t * k, k, g->off, xa + (size_t)t * ab);
		/* NaN everywhere, then rows in panels of 32 and odd pieces */
		for (size_t i = 0; i < ny; i++)
			y[i] = NAN;
		int64_t r = 0;
		for (int step = 0; r < n; step++) {
			int64_t len = step % 2 ? ENGINE_GQ8_ROWS : 1 + step % ENGINE_GQ8_ROWS;
			int64_t r1 = r + len < n ? r + len : n;
			g->gemm(w, rb, k, xa, ab, n_tok, y, (size_t)n, r, r1, pack,
				r1 < n ? w + (size_t)r1 * rb : NULL, (size_t)(n - r1) * rb);
			r = r1;
		}
		if (v == 0)
			memcpy(ref, y, sizeof(float) * ny);
		int bad = 0;
		for (size_t i = 0; i < ny && bad < 3; i++) {
			double dr = fabs(y[i] - ref[i]), de = fabs(y[i] - exact[i]);
			int ok = dr <= 2e-5 * scale[i] + 1e-6 && de <= 2e-2 * scale[i] + 1e-6;
			CHECK(ok, "%s n=%lld k=%lld tokens %d: out %zu = %g, reference %g, exact %g (scale %g)",
			      g->name, (long long)n, (long long)k, n_tok, i, y[i],
			      ref[i], exact[i], scale[i]);
			bad += !ok;
		}
		/* one panel in the middle: nothing outside its rows written */
		for (size_t i = 0; i < ny; i++)
			y[i] = NAN;
		int64_t p0 = n > 40 ? 7 : 0, p1 = p0 + (n - p0 < 30 ? n - p0 : 30);
		g->gemm(w, rb, k, xa, ab, n_tok, y, (size_t)n, p0, p1, pack, NULL, 0);
		int outside = 0, inside = 0;
		for (int t = 0; t < n_tok; t++)
			for (int64_t q = 0; q < n; q++) {
				int written = !isnan(y[(size_t)t * n + q]);
				if (q >= p0 && q < p1)
					inside += written;
				else
					outside += written;
			}
		CHECK(outside == 0 && inside == n_tok * (int)(p1 - p0),
		      "%s: rows [%lld, %lld): %d outputs inside written of %d, %d outside",
		      g->name, (long long)p0, (long long)p1, inside,
		      n_tok * (int)(p1 - p0), outside);
		printf("gemm %-24s rows %-4lld k %-5lld tokens %-3d checked\n", g->name,
		       (long long)n, (long long)k, n_tok);
	}
	free(w);
	free(wf);
	free(x);
	free(y);
	free(ref);
	free(exact);
	free(scale);
	free(xa);
	free(pack);
}

/* ---- The matmul driver ------------------------------------------------------- */

static float gelu(float v)
{
	return 0.5f * v * (1.0f + tanhf(0.7978845608f * (v + 0.044715f * v * v * v)));
}

static void test_driver(int type, engine__pool *pool, engine__mm_scratch *s,
			int64_t n, int64_t k, int n_tok)
{
	/* the driver must give what its kernel gives (tested above), plus
	 * the bias and GELU */
	const engine__gq8 *ref = engine__gq8_best(type);
	if (!ref) {
		printf("matmul %s: no int8 GEMM on this CPU, the driver uses SGEMM "
		       "(test-kernels checks it)\n", engine_type_name(type));
		return;
	}
	size_t rb = engine__row_bytes(type, k), ab = engine__gq8_act_bytes(k);
	float *wf = malloc(sizeof(float) * (size_t)(n * k));
	char *w = make_weights(type, n, k, wf);
	size_t ldx = (size_t)k + 3, ldy = (size_t)n + 5, ny = (size_t)n_tok * ldy;
	float *x = malloc(sizeof(float) * ldx * (size_t)n_tok);
	float *y = malloc(sizeof(float) * ny), *want = malloc(sizeof(float) * ny);
	float *bias = malloc(sizeof(float) * (size_t)n);
	char *xa = aligned_alloc(64, ab * (size_t)n_tok);
	fill(x, ldx * (size_t)n_tok, 1.5f);
	fill(bias, (size_t)n, 0.5f);
	for (int t = 0; t < n_tok; t++)
		ref->quant(x + (size_t)t * ldx, k, ref->off, xa + (size_t)t * ab);
	void *pack = aligned_alloc(64, engine__gq8_pack_bytes(k));
	for (int64_t r = 0; r < n; r += ENGINE_GQ8_ROWS)
		ref->gemm(w, rb, k, xa, ab, n_tok, want, ldy, r,
			  r + ENGINE_GQ8_ROWS < n ? r + ENGINE_GQ8_ROWS : n, pack,
			  NULL, 0);
	free(pack);
	engine__mat m = { w, type, k, n, rb };
	for (int g = 0; g < 2; g++) {
		engine__matmul(pool, s, &m, bias, x, ldx, n_tok, y, ldy, g);
		int bad = 0;
		for (int t = 0; t < n_tok && bad < 3; t++)
			for (int64_t r = 0; r < n && bad < 3; r++) {
				float v = want[(size_t)t * ldy + r] + bias[r];
				if (g)
					v = gelu(v);
				float got = y[(size_t)t * ldy + r];
				int ok = fabsf(got - v) <= 1e-5f * (1.0f + fabsf(v));
				CHECK(ok, "matmul %s n=%lld k=%lld tokens %d gelu %d [%d][%lld]: %g, want %g",
				      engine_type_name(type), (long long)n, (long long)k,
				      n_tok, g, t, (long long)r, got, v);
				bad += !ok;
			}
	}
	printf("matmul %s rows %lld k %lld tokens %d (bias, GELU) checked\n",
	       engine_type_name(type), (long long)n, (long long)k, n_tok);
	free(w);
	free(wf);
	free(x);
	free(y);
	free(want);
	free(bias);
	free(xa);
}

int main(void)
{
	const int types[2] = { ENGINE_TYPE_Q8_0, ENGINE_TYPE_Q4_0 };
	for (int i = 0; i < 2; i++) {
		int n;
		const engine__gq8 *const *l = engine__gq8_list(types[i], &n);
		CHECK(n >= 1 && l[0]->isa == ENGINE_ISA_SCALAR,
		      "%s: %d int8 GEMM kernels, the scalar reference first",
		      engine_type_name(types[i]), n);
		const engine__gq8 *b = engine__gq8_best(types[i]);
		printf("%s: %d kernels, prefill uses %s\n", engine_type_name(types[i]),
		       n, b ? b->name : "SGEMM (no vectorised int8 GEMM on this CPU)");
	}
	int n_f32;
	engine__gq8_list(ENGINE_TYPE_F32, &n_f32);
	CHECK(n_f32 == 0 && !engine__gq8_best(ENGINE_TYPE_F32), "no int8 GEMM for f32");

	for (int i = 0; i < 2; i++) {
		test_quant(types[i]);
		test_gemm(types[i], 37, 32, 17);
		test_gemm(types[i], 33, 96, 7);
		test_gemm(types[i], 64, 160, 2);
		test_gemm(types[i], 70, 2048, 33);
		test_gemm(types[i], 45, 8192, 100);
	}

	engine__pool *pool = NULL;
	engine__mm_scratch s;
	pt_err e = { 0 };
	if (engine__pool_new(2, &pool, &e) || engine__mm_scratch_init(&s, 2048, 2, &e)) {
		fprintf(stderr, "pool or scratch: %s\n", e.msg);
		return 1;
	}
	for (int i = 0; i < 2; i++) {
		test_driver(types[i], pool, &s, 77, 2048, 17);
		test_driver(types[i], pool, &s, 100, 64, ENGINE_GQ8_TOK + 45);
	}
	engine__mm_scratch_done(&s);
	engine__pool_free(pool);
	return tcheck_done();
}
