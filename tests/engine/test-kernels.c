/*
 * test-kernels.c: the compute layer and the forward pass.
 *
 * - every matrix x vector kernel this CPU runs, against the scalar
 *   reference and against a double-precision dot of the dequantized
 *   weights, on odd sizes;
 * - every element-wise kernel against the scalar one;
 * - the thread pool under repeated use;
 * - the matmul driver on both paths (few tokens, SGEMM);
 * - the arithmetic peak loops (a rate, or a refusal naming the
 *   instruction; bad arguments refused);
 * - engine_decode on a tiny random model: prefill equals token-by-token
 *   decode, a two-sequence batch equals each sequence alone, truncating
 *   and re-evaluating reproduces logits, positions past n_ctx fail.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "gemm-bf16.h"
#include "gemm-q8.h"
#include "kernels.h"
#include "tcheck.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

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

/* ---- Matrix x vector kernels --------------------------------------------- */

#define KR 37 /* rows: not a multiple of any thread count used */
#define NX 16 /* vectors at most (batched decode); each kernel is also run
		 with fewer, see nx_list */

/*
 * Tolerances, relative to s = sum |w_i x_i| of the row (the scale of the
 * rounding error of any summation order):
 *   f32/f16/bf16 kernels with f32 activations: 2e-5 s (k = 203 terms)
 *   bf16 with VDPBF16PS (activations rounded to bf16): 8e-3 s
 *   q8_0/q4_0 (activations quantized to int8 per block of 32): against the
 *     scalar reference with the same activations, 2e-5 s (integer dots
 *     are exact); against f32 activations, 2e-2 s.
 */
static void test_kernels_type(int type, int64_t k)
{
	int nk;
	const engine__kern *const *ks = engine__kern_list(type, &nk);
	size_t rb = engine__row_bytes(type, k);
	CHECK(nk >= 1 && rb > 0, "type %s: %d kernels, row bytes %zu",
	      engine_type_name(type), nk, rb);
	if (nk < 1 || rb == 0)
		return;
	CHECK(ks[0]->isa == ENGINE_ISA_SCALAR, "first kernel is the reference");
	char *w = malloc(rb * KR);
	float *wf = malloc(sizeof(float) * (size_t)k * KR);
	float *x = malloc(sizeof(float) * (size_t)k * NX);
	float *row = malloc(sizeof(float) * (size_t)k);
	size_t vb = engine__vec_bytes(ENGINE_VEC_F32, k);
	char *xq = aligned_alloc(64, vb * NX);
	float ref[NX * KR], y[NX * KR], scale[NX * KR];
	double exact[NX * KR];

	for (int r = 0; r < KR; r++) {
		fill(row, (size_t)k, 1.0f);
		engine__quant_row(type, row, w + (size_t)r * rb, k);
		engine__dequant_row(type, w + (size_t)r * rb, wf + (size_t)r * k, k);
	}
	fill(x, (size_t)k * NX, 2.0f);
	for (int j = 0; j < NX; j++)
		for (int r = 0; r < KR; r++) {
			double s = 0, a = 0;
			for (int64_t i = 0; i < k; i++) {
				double p = (double)wf[(size_t)r * k + i] * x[(size_t)j * k + i];
				s += p;
				a += fabs(p);
			}
			exact[j * KR + r] = s;
			scale[j * KR + r] = (float)a;
		}

	for (int v = 0; v < nk; v++) {
		const engine__kern *kn = ks[v];
		size_t xs = engine__vec_bytes(kn->vec, k);
		for (int j = 0; j < NX; j++)
			engine__vec_prepare(kn->vec, x + (size_t)j * k, k, xq + (size_t)j * xs);
		/* every count of vectors the kernels take in one pass (1, 2, 4,
		 * 8, 16) and ones that leave remainders */
		static const int nx_list[] = { NX, 1, 2, 3, 4, 5, 7, 8, 9, 13 };
		int quant = kn->vec == ENGINE_VEC_Q8 || kn->vec == ENGINE_VEC_Q8H ||
			    kn->vec == ENGINE_VEC_Q8T;
		float tol_ref = kn->vec == ENGINE_VEC_BF16 ? 8e-3f : 2e-5f;
		float tol_exact = quant ? 2e-2f : kn->vec == ENGINE_VEC_BF16 ? 8e-3f : 2e-5f;
		int bad = 0;
		for (size_t c = 0; c < sizeof nx_list / sizeof nx_list[0]; c++) {
			int nx = nx_list[c];
			/* two calls with an odd split check the row range */
			memset(y, 0xff, sizeof y);
			kn->mv(w, rb, k, xq, xs, nx, y, KR, 0, 17);
			kn->mv(w, rb, k, xq, xs, nx, y, KR, 17, KR);
			if (v == 0 && c == 0)
				memcpy(ref, y, sizeof y);
			for (int i = 0; i < NX * KR && bad < 3; i++) {
				float dr = fabsf(y[i] - ref[i]), de = fabsf(y[i] - (float)exact[i]);
				int ok = i < nx * KR ? dr <= tol_ref * scale[i] + 1e-6f &&
						       de <= tol_exact * scale[i] + 1e-6f
						     : isnan(y[i]); /* the 0xff fill: not written */
				CHECK(ok, "%s k=%lld n_x=%d out %d: %g, reference %g, exact %g (scale %g)",
				      kn->name, (long long)k, nx, i, y[i], ref[i], exact[i], scale[i]);
				bad += !ok;
			}
		}
		printf("kernel %-20s k=%-4lld checked\n", kn->name, (long long)k);
	}
	free(w);
	free(wf);
	free(x);
	free(row);
	free(xq);
}

static void test_kernels(void)
{
	printf("CPU instruction set level: %d (0 scalar, 1 avx2, 2 avx512)\n",
	       engine__isa_best());
	test_kernels_type(ENGINE_TYPE_F32, 203);
	test_kernels_type(ENGINE_TYPE_F32, 7);
	test_kernels_type(ENGINE_TYPE_F16, 203);
	test_kernels_type(ENGINE_TYPE_BF16, 203);
	test_kernels_type(ENGINE_TYPE_BF16, 97);
	/* q8_0/q4_0 kernels take groups of four blocks: one group and one
	 * block over, a short group alone, whole groups, and a long row */
	test_kernels_type(ENGINE_TYPE_Q8_0, 160);
	test_kernels_type(ENGINE_TYPE_Q8_0, 32);
	test_kernels_type(ENGINE_TYPE_Q8_0, 256);
	test_kernels_type(ENGINE_TYPE_Q8_0, 1120);
	test_kernels_type(ENGINE_TYPE_Q4_0, 160);
	test_kernels_type(ENGINE_TYPE_Q4_0, 96);
	test_kernels_type(ENGINE_TYPE_Q4_0, 64);
	test_kernels_type(ENGINE_TYPE_Q4_0, 512);
	test_kernels_type(ENGINE_TYPE_Q4_0, 1184);
}

/* ---- Element-wise kernels ------------------------------------------------ */

static int close_to(float a, float b, float rel, float abs_)
{
	return fabsf(a - b) <= abs_ + rel * fabsf(b);
}

static void test_ops_isa(int isa, const engine__ops *ref, const engine__ops *o)
{
	enum { N = 203 };
	float x[N], w[N], b[N], y0[N], y1[N], g0[N], g1[N];
	fill(x, N, 3.0f);
	fill(w, N, 1.0f);
	fill(b, N, 0.5f);
	x[5] += 40.0f; /* a large mean and an outlier */

	ref->layernorm(y0, x, w, b, N, 1e-5f);
	o->layernorm(y1, x, w, b, N, 1e-5f);
	for (int i = 0; i < N; i++)
		CHECK(close_to(y1[i], y0[i], 1e-4f, 1e-5f), "isa %d layernorm[%d] %g vs %g",
		      isa, i, y1[i], y0[i]);

	/* GELU from -12 to 12 (both tails) plus odd lengths */
	for (int i = 0; i < N; i++)
		g0[i] = g1[i] = -12.0f + 24.0f * (float)i / (N - 1);
	ref->gelu(g0, N);
	o->gelu(g1, N);
	for (int i = 0; i < N; i++)
		CHECK(close_to(g1[i], g0[i], 1e-5f, 2e-6f), "isa %d gelu(%g) %g vs %g",
		      isa, -12.0f + 24.0f * (float)i / (N - 1), g1[i], g0[i]);

	for (int n = 1; n <= N; n += 101) {
		memcpy(y0, x, sizeof x);
		memcpy(y1, x, sizeof x);
		ref->softmax(y0, n);
		o->softmax(y1, n);
		float sum = 0;
		for (int i = 0; i < n; i++) {
			CHECK(close_to(y1[i], y0[i], 1e-5f, 1e-7f), "isa %d softmax n=%d [%d] %g vs %g",
			      isa, n, i, y1[i], y0[i]);
			sum += y1[i];
		}
		CHECK(fabsf(sum - 1.0f) < 1e-5f, "isa %d softmax sums to %g", isa, sum);
	}
	float d0 = ref->dot(x, w, N), d1 = o->dot(x, w, N);
	CHECK(close_to(d1, d0, 1e-5f, 1e-4f), "isa %d dot %g vs %g", isa, d1, d0);
	memcpy(y0, b, sizeof b);
	memcpy(y1, b, sizeof b);
	ref->axpy(y0, 0.37f, x, N);
	o->axpy(y1, 0.37f, x, N);
	ref->add(y0, w, N - 2);
	o->add(y1, w, N - 2);
	for (int i = 0; i < N; i++)
		CHECK(close_to(y1[i], y0[i], 1e-6f, 1e-6f), "isa %d axpy/add [%d]", isa, i);

	/* widening is exact: every bit pattern of a few hundred */
	uint16_t h[N];
	for (int i = 0; i < N; i++)
		h[i] = (uint16_t)(i * 317 + 11);
	ref->bf16_to_f32(y0, h, N);
	o->bf16_to_f32(y1, h, N);
	CHECK(memcmp(y0, y1, sizeof y0) == 0, "isa %d bf16 widening", isa);
	for (int i = 0; i < N; i++)
		h[i] &= 0x7bff; /* no inf/NaN */
	ref->f16_to_f32(y0, h, N);
	o->f16_to_f32(y1, h, N);
	CHECK(memcmp(y0, y1, sizeof y0) == 0, "isa %d f16 widening", isa);
}

static void test_ops(void)
{
	const engine__ops *ref = engine__ops_for(ENGINE_ISA_SCALAR);
	CHECK(ref != NULL, "scalar ops");
	/* the scalar GELU itself, at points worked out by hand */
	float g[3] = { 0.0f, 1.0f, -3.0f };
	ref->gelu(g, 3);
	CHECK(g[0] == 0.0f && fabsf(g[1] - 0.8411920f) < 1e-6f &&
	      fabsf(g[2] + 0.0036373f) < 1e-6f, "gelu(0, 1, -3) = %g %g %g", g[0],
	      g[1], g[2]);
	for (int isa = ENGINE_ISA_AVX2; isa < ENGINE_ISA_COUNT_; isa++) {
		const engine__ops *o = engine__ops_for(isa);
		if (!o) {
			printf("ops isa %d: not on this CPU, skipped\n", isa);
			continue;
		}
		test_ops_isa(isa, ref, o);
	}
}

/* ---- Thread pool ------------------------------------------------------------ */

typedef struct pool_job {
	_Atomic int next;
	int n_units;
	_Atomic int *hits;
	_Atomic int bad_ith;
} pool_job;

static void pool_fn(void *arg, int ith, int nth)
{
	pool_job *j = arg;
	if (ith < 0 || ith >= nth)
		atomic_fetch_add(&j->bad_ith, 1);
	for (;;) {
		int u = atomic_fetch_add(&j->next, 1);
		if (u >= j->n_units)
			break;
		atomic_fetch_add(&j->hits[u], 1);
	}
}

static void test_pool(void)
{
	for (int nt = 1; nt <= 3; nt++) {
		engine__pool *p = NULL;
		pt_err e = { 0 };
		CHECK(engine__pool_new(nt, &p, &e) == 0, "pool of %d: %s", nt, e.msg);
		if (!p)
			continue;
		CHECK(engine__pool_size(p) == nt, "pool size %d", engine__pool_size(p));
		enum { UNITS = 97, RUNS = 3000 };
		_Atomic int hits[UNITS];
		int wrong = 0;
		for (int r = 0; r < RUNS; r++) {
			pool_job j = { .n_units = r % 2 ? UNITS : 5, .hits = hits };
			atomic_init(&j.next, 0);
			atomic_init(&j.bad_ith, 0);
			for (int u = 0; u < UNITS; u++)
				atomic_init(&hits[u], 0);
			engine__pool_run(p, pool_fn, &j);
			for (int u = 0; u < UNITS; u++)
				wrong += atomic_load(&hits[u]) != (u < j.n_units);
			wrong += atomic_load(&j.bad_ith);
		}
		CHECK(wrong == 0, "pool of %d: %d units done not exactly once", nt, wrong);
		engine__pool_free(p);
	}
	engine__pool_free(NULL);
}

/* ---- Matmul driver ------------------------------------------------------------ */

static void test_matmul_type(engine__pool *pool, engine__mm_scratch *s, int type)
{
	enum { N = 45, K = 96, T = 40 };
	size_t rb = engine__row_bytes(type, K);
	char *w = malloc(rb * N);
	float *wf = malloc(sizeof(float) * N * K), *x = malloc(sizeof(float) * T * K);
	float *y = malloc(sizeof(float) * T * (N + 3)), bias[N], row[K];
	for (int r = 0; r < N; r++) {
		fill(row, K, 0.3f);
		engine__quant_row(type, row, w + (size_t)r * rb, K);
		engine__dequant_row(type, w + (size_t)r * rb, wf + (size_t)r * K, K);
	}
	fill(x, (size_t)T * K, 1.0f);
	fill(bias, N, 0.5f);
	engine__mat m = { w, type, K, N, rb };
	const int ntoks[3] = { 1, 5, T };
	for (int c = 0; c < 3; c++) {
		/* decode kernels and the int8 GEMM quantize the activations,
		 * the bf16 GEMM rounds them to bf16 */
		int nt = ntoks[c], quant_act = nt <= ENGINE_GEMV_MAX_TOK ?
			engine__kern_best(type)->vec != ENGINE_VEC_F32 :
			engine__gq8_best(type) != NULL ||
			(type == ENGINE_TYPE_BF16 && engine__gemm_bf16_usable());
		for (int gelu = 0; gelu < 2; gelu++) {
			engine__matmul(pool, s, &m, bias, x, K, nt, y, N + 3, gelu);
			int bad = 0;
			for (int t = 0; t < nt && bad < 3; t++)
				for (int r = 0; r < N && bad < 3; r++) {
					double v = bias[r], a = fabs(bias[r]);
					for (int i = 0; i < K; i++) {
						v += (double)wf[r * K + i] * x[t * K + i];
						a += fabs((double)wf[r * K + i] * x[t * K + i]);
					}
					if (gelu)
						v = 0.5 * v * (1 + tanh(0.7978845608 * (v + 0.044715 * v * v * v)));
					double tol = (quant_act ? 2e-2 : 1e-5) * a + 1e-5;
					float got = y[(size_t)t * (N + 3) + r];
					int ok = fabs(got - v) <= tol;
					CHECK(ok, "matmul %s tokens %d gelu %d [%d][%d]: %g vs %g",
					      engine_type_name(type), nt, gelu, t, r, got, v);
					bad += !ok;
				}
		}
	}
	free(w);
	free(wf);
	free(x);
	free(y);
}

static void test_matmul(void)
{
	engine__pool *p;
	engine__mm_scratch s;
	pt_err e = { 0 };
	if (engine__pool_new(3, &p, &e) || engine__mm_scratch_init(&s, 96, 3, &e)) {
		CHECK(0, "set-up: %s", e.msg);
		return;
	}
	const int types[5] = { ENGINE_TYPE_F32, ENGINE_TYPE_F16, ENGINE_TYPE_BF16,
			       ENGINE_TYPE_Q8_0, ENGINE_TYPE_Q4_0 };
	for (int i = 0; i < 5; i++)
		test_matmul_type(p, &s, types[i]);
	engine__mm_scratch_done(&s);
	engine__pool_free(p);
}

/* ---- Arithmetic peaks -------------------------------------------------------- */

static void test_peaks(void)
{
	for (int kd = 0; kd < ENGINE_PEAK_COUNT_; kd++) {
		double g = -1.0;
		pt_err e = { 0 };
		int rc = engine_peak_measure(kd, 1, 0.05, &g, &e);
		if (rc == PT_EUNSUPPORTED) {
			CHECK(strstr(e.msg, "VDPBF16PS") || strstr(e.msg, "VPDPBUSD") ||
			      strstr(e.msg, "FMA"), "peak %d refused without the reason: %s",
			      kd, e.msg);
			printf("peak %s: %s\n", engine_peak_name(kd), e.msg);
			continue;
		}
		/* any real CPU does more than 1 GFLOP/s, and none 100 TFLOP/s per core */
		CHECK(rc == 0 && g > 1.0 && g < 1e5, "peak %s: rc %d, %g G/s: %s",
		      engine_peak_name(kd), rc, g, e.msg);
		printf("peak %s: %.1f G/s on one thread\n", engine_peak_name(kd), g);
	}
	double g = 7.0;
	pt_err e = { 0 };
	CHECK(engine_peak_measure(ENGINE_PEAK_COUNT_, 1, 0.05, &g, &e) == PT_EINVAL && g == 7.0,
	      "unknown peak kind accepted");
	CHECK(engine_peak_measure(ENGINE_PEAK_FMA32, 1, 0.0, &g, &e) == PT_EINVAL && g == 7.0,
	      "zero seconds accepted");
	CHECK(strcmp(engine_peak_name(-1), "?") == 0, "name of an unknown peak");
}

/* ---- Forward pass on a tiny random model ------------------------------------- */

/* Largest |a - b| over n, relative to the largest |b|. */
static double rel_diff(const float *a, const float *b, size_t n)
{
	double d = 0, mx = 1e-30;
	for (size_t i = 0; i < n; i++) {
		d = fmax(d, fabs((double)a[i] - b[i]));
		mx = fmax(mx, fabs((double)b[i]));
	}
	return d / mx;
}

static engine_ctx *new_ctx(engine_model *m, int n_seq, int n_ctx, int threads)
{
	engine_ctx_params cp = engine_ctx_default_params();
	cp.n_seq = n_seq;
	cp.n_ctx = n_ctx;
	cp.n_batch = 64;
	cp.n_threads = threads;
	engine_ctx *c = NULL;
	pt_err e = { 0 };
	CHECK(engine_ctx_new(m, &cp, &c, &e) == 0, "context: %s", e.msg);
	return c;
}

/* (i) a prefill of N tokens at once gives the logits of N single steps. */
static void test_prefill_vs_steps(engine_model *m, const int32_t *tok, int n, int nv,
				  double tol)
{
	engine_ctx *c = new_ctx(m, 1, 64, 3);
	if (!c)
		return;
	float *all = malloc(sizeof(float) * (size_t)n * nv);
	float *one = malloc(sizeof(float) * (size_t)nv);
	int32_t pos[64], seq[64];
	int8_t want[64];
	for (int i = 0; i < n; i++) {
		pos[i] = i;
		seq[i] = 0;
		want[i] = 1;
	}
	engine_batch b = { n, tok, pos, seq, want };
	pt_err e = { 0 };
	CHECK(engine_decode(c, &b, all, &e) == 0, "prefill: %s", e.msg);
	CHECK(engine_kv_len(c, 0) == n, "kv_len %d after %d", engine_kv_len(c, 0), n);
	engine_kv_truncate(c, 0, 0);
	double worst = 0;
	for (int i = 0; i < n; i++) {
		engine_batch s1 = { 1, tok + i, pos + i, seq, want };
		CHECK(engine_decode(c, &s1, one, &e) == 0, "step %d: %s", i, e.msg);
		worst = fmax(worst, rel_diff(one, all + (size_t)i * nv, (size_t)nv));
	}
	CHECK(worst < tol, "prefill of %d vs single steps: relative difference %g", n, worst);
	printf("prefill %d tokens vs steps: max relative difference %.2g\n", n, worst);
	free(all);
	free(one);
	engine_ctx_free(c);
}

/* (ii) two sequences in one batch (interleaved and in blocks) give the
 * logits each gives alone. */
static void test_two_seqs(engine_model *m, const int32_t *tok, int nv)
{
	enum { NA = 9, NB = 6 };
	const int32_t *ta = tok, *tb = tok + 20;
	engine_ctx *c = new_ctx(m, 2, 64, 2);
	if (!c)
		return;
	float *alone = malloc(sizeof(float) * (NA + NB) * (size_t)nv);
	float *both = malloc(sizeof(float) * (NA + NB) * (size_t)nv);
	pt_err e = { 0 };
	int32_t pos[NA + NB], seq[NA + NB], t[NA + NB];
	int8_t want[NA + NB];
	memset(want, 1, sizeof want);
	for (int i = 0; i < NA; i++) {
		pos[i] = i;
		seq[i] = 0;
	}
	engine_batch ba = { NA, ta, pos, seq, want };
	CHECK(engine_decode(c, &ba, alone, &e) == 0, "seq A alone: %s", e.msg);
	for (int i = 0; i < NB; i++) {
		pos[i] = i;
		seq[i] = 1;
	}
	engine_batch bb = { NB, tb, pos, seq, want };
	CHECK(engine_decode(c, &bb, alone + (size_t)NA * nv, &e) == 0, "seq B alone: %s", e.msg);

	for (int layout = 0; layout < 2; layout++) {
		engine_kv_truncate(c, 0, 0);
		engine_kv_truncate(c, 1, 0);
		/* layout 0: A then B (runs, SGEMM attention); 1: interleaved */
		int ia = 0, ib = 0, map[NA + NB];
		for (int i = 0; i < NA + NB; i++) {
			int take_a = layout == 0 ? i < NA : (i % 2 == 0 && ia < NA) || ib >= NB;
			if (take_a) {
				t[i] = ta[ia]; pos[i] = ia; seq[i] = 0; map[i] = ia++;
			} else {
				t[i] = tb[ib]; pos[i] = ib; seq[i] = 1; map[i] = NA + ib++;
			}
		}
		engine_batch b2 = { NA + NB, t, pos, seq, want };
		CHECK(engine_decode(c, &b2, both, &e) == 0, "two seqs: %s", e.msg);
		double worst = 0;
		for (int i = 0; i < NA + NB; i++)
			worst = fmax(worst, rel_diff(both + (size_t)i * nv,
						     alone + (size_t)map[i] * nv, (size_t)nv));
		CHECK(worst < 1e-4, "layout %d: two sequences vs alone: %g", layout, worst);
		CHECK(engine_kv_len(c, 0) == NA && engine_kv_len(c, 1) == NB, "kv lens %d %d",
		      engine_kv_len(c, 0), engine_kv_len(c, 1));
	}
	free(alone);
	free(both);
	engine_ctx_free(c);
}

/* (iii) truncate + re-eval, and kv_copy, reproduce the logits. */
static void test_truncate(engine_model *m, const int32_t *tok, int nv)
{
	engine_ctx *c = new_ctx(m, 2, 64, 2);
	if (!c)
		return;
	float *a = malloc(sizeof(float) * (size_t)nv), *b = malloc(sizeof(float) * (size_t)nv);
	pt_err e = { 0 };
	CHECK(engine_eval(c, 0, tok, 12, a, &e) == 0, "eval: %s", e.msg);
	engine_kv_truncate(c, 0, 6);
	CHECK(engine_kv_len(c, 0) == 6, "truncated to %d", engine_kv_len(c, 0));
	CHECK(engine_eval(c, 0, tok + 6, 6, b, &e) == 0, "re-eval: %s", e.msg);
	CHECK(rel_diff(b, a, (size_t)nv) < 1e-5, "truncate+re-eval: %g", rel_diff(b, a, (size_t)nv));
	engine_kv_copy(c, 0, 1, 6);
	CHECK(engine_kv_len(c, 1) == 6, "copied %d", engine_kv_len(c, 1));
	CHECK(engine_eval(c, 1, tok + 6, 6, b, &e) == 0, "eval on the copy: %s", e.msg);
	CHECK(rel_diff(b, a, (size_t)nv) < 1e-5, "kv_copy+eval: %g", rel_diff(b, a, (size_t)nv));
	/* a different continuation gives different logits (the test can fail) */
	int32_t other[6];
	for (int i = 0; i < 6; i++)
		other[i] = (tok[6 + i] + 7) % nv;
	engine_kv_truncate(c, 1, 6);
	CHECK(engine_eval(c, 1, other, 6, b, &e) == 0, "other: %s", e.msg);
	CHECK(rel_diff(b, a, (size_t)nv) > 1e-3, "different tokens, same logits");
	free(a);
	free(b);
	engine_ctx_free(c);
}

/* (iv) positions past n_ctx, and bad batches, fail and change nothing. */
static void test_errors(engine_model *m, const int32_t *tok, int nv)
{
	engine_ctx *c = new_ctx(m, 1, 16, 2);
	if (!c)
		return;
	float *l = malloc(sizeof(float) * (size_t)nv);
	pt_err e = { 0 };
	CHECK(engine_eval(c, 0, tok, 16, l, &e) == 0, "fill the context: %s", e.msg);
	int32_t pos = 16, seq = 0, t = tok[0];
	int8_t want = 1;
	engine_batch b = { 1, &t, &pos, &seq, &want };
	CHECK(engine_decode(c, &b, l, &e) == PT_ECONTEXT, "past n_ctx: %d", e.code);
	CHECK(engine_kv_len(c, 0) == 16, "kv_len changed to %d", engine_kv_len(c, 0));
	engine_kv_truncate(c, 0, 10);
	CHECK(engine_eval(c, 0, tok, 7, l, &e) == PT_ECONTEXT, "eval past n_ctx: %d", e.code);
	CHECK(engine_kv_len(c, 0) == 10, "kv_len after refused eval %d", engine_kv_len(c, 0));
	pos = 3;
	CHECK(engine_decode(c, &b, l, &e) == PT_EINVAL, "wrong position: %d", e.code);
	pos = 10;
	t = nv;
	CHECK(engine_decode(c, &b, l, &e) == PT_EINVAL, "token id out of range: %d", e.code);
	t = 1;
	seq = 1;
	CHECK(engine_decode(c, &b, l, &e) == PT_EINVAL, "sequence out of range: %d", e.code);
	seq = 0;
	CHECK(engine_decode(c, &b, NULL, &e) == PT_EINVAL, "logits without a buffer: %d", e.code);
	CHECK(engine_kv_len(c, 0) == 10, "kv_len after refused batches %d", engine_kv_len(c, 0));
	free(l);
	engine_ctx_free(c);
}

static void test_forward(int type)
{
	engine_shape sh;
	engine_model *m = NULL;
	pt_err e = { 0 };
	CHECK(engine_shape_by_name("tiny", &sh, &e) == 0, "shape: %s", e.msg);
	CHECK(engine_shape_by_name("huge", &sh, &e) == PT_EINVAL, "unknown shape accepted");
	engine_shape_by_name("tiny", &sh, &e);
	if (engine_model_new_random(&sh, type, 42, &m, &e)) {
		CHECK(0, "random model: %s", e.msg);
		return;
	}
	printf("forward pass, tiny model, %s weights\n", engine_type_name(type));
	int nv = sh.n_vocab;
	int32_t tok[40];
	for (int i = 0; i < 40; i++)
		tok[i] = (int32_t)((uint64_t)(i * 7919 + 13) % (uint64_t)nv);
	/* 20 > ENGINE_GEMV_MAX_TOK: prefill takes the SGEMM paths (f32
	 * activations), single steps the int8 kernels for quantized weights
	 * (activations quantized per block of 32): 1e-4 for f32 weights, 3e-2
	 * for q8_0. */
	test_prefill_vs_steps(m, tok, 20, nv, type == ENGINE_TYPE_F32 ? 1e-4 : 3e-2);
	test_two_seqs(m, tok, nv);
	test_truncate(m, tok, nv);
	test_errors(m, tok, nv);
	/* no tokenizer: tokenizing fails cleanly */
	int32_t ids[4];
	size_t n = 0;
	CHECK(engine_tokenize(m, "a", 1, 0, ids, 4, &n, &e) != 0, "tokenize without a tokenizer");
	engine_model_free(m);
}

int main(void)
{
	test_kernels();
	test_ops();
	test_pool();
	test_matmul();
	test_peaks();
	test_forward(ENGINE_TYPE_F32);
	test_forward(ENGINE_TYPE_Q8_0);
	/* the tiny shape's rows of 64 fall back to q8_0; ffn_down (rows of
	 * 256) is the K-quant matrix */
	test_forward(ENGINE_TYPE_Q4_K);
	test_forward(ENGINE_TYPE_Q6_K);
	return tcheck_done();
}
