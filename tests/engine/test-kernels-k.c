/*
 * test-kernels-k.c: the K-quant weight types Q4_K and Q6_K.
 *
 * - the block layouts: blocks packed by hand from the layout ggml documents
 *   (block_q4_K with get_scale_min_k4's 6-bit packing, block_q6_K's ql/qh
 *   split) decode to the values its formulas give, exactly;
 * - the quantizers: round trips within a measured error, all-zero,
 *   constant and outlier blocks;
 * - every matrix x vector kernel this CPU runs against the scalar
 *   reference, on 37 rows (split 17 + 20), rows of 256 and 768, and 1 to
 *   16 activation vectors; the scalar reference against double-precision
 *   math on the decoded weights and the decoded int8 activations.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
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

/* ---- Layouts ------------------------------------------------------------- */

static void test_q4_K_layout(void)
{
	engine_block_q4_K b;
	int sc[8], m[8];
	float y[256];

	memset(&b, 0, sizeof b);
	b.d = 0x3800;    /* 0.5 */
	b.dmin = 0x3400; /* 0.25 */
	for (int s = 0; s < 8; s++) {
		sc[s] = 10 + 7 * s; /* 38..59 for s >= 4: the high bits matter */
		m[s] = 63 - 5 * s;
	}
	for (int s = 0; s < 4; s++) {
		b.scales[s] = (uint8_t)(sc[s] | (sc[s + 4] >> 4) << 6);
		b.scales[s + 4] = (uint8_t)(m[s] | (m[s + 4] >> 4) << 6);
		b.scales[s + 8] = (uint8_t)((sc[s + 4] & 15) | (m[s + 4] & 15) << 4);
	}
	for (int c = 0; c < 4; c++)
		for (int l = 0; l < 32; l++)
			b.qs[32 * c + l] = (uint8_t)((l % 16) | (15 - l % 16) << 4);
	for (int s = 0; s < 8; s++) {
		int gs, gm;
		engine__q4_K_scale_min(b.scales, s, &gs, &gm);
		CHECK(gs == sc[s] && gm == m[s], "q4_K sub-block %d: scale %d min %d, want %d %d",
		      s, gs, gm, sc[s], m[s]);
	}
	engine__dequant_row(ENGINE_TYPE_Q4_K, &b, y, 256);
	int bad = 0;
	for (int c = 0; c < 4; c++)
		for (int l = 0; l < 32; l++) {
			float lo = 0.5f * (float)(sc[2 * c] * (l % 16)) - 0.25f * (float)m[2 * c];
			float hi = 0.5f * (float)(sc[2 * c + 1] * (15 - l % 16)) -
				   0.25f * (float)m[2 * c + 1];
			bad += y[64 * c + l] != lo || y[64 * c + 32 + l] != hi;
		}
	CHECK(bad == 0, "q4_K: %d of 256 elements decode to other values", bad);
}

static void test_q6_K_layout(void)
{
	engine_block_q6_K b;
	int L[256];
	float y[256];

	memset(&b, 0, sizeof b);
	b.d = 0x3000; /* 0.125 */
	for (int g = 0; g < 16; g++)
		b.scales[g] = (int8_t)(g * 9 - 70);
	for (int e = 0; e < 256; e++)
		L[e] = (e * 7 + e / 64) % 64;
	for (int h = 0; h < 2; h++)
		for (int l = 0; l < 32; l++)
			for (int i = 0; i < 4; i++) {
				int v = L[128 * h + 32 * i + l];
				b.ql[64 * h + l + 32 * (i & 1)] |= (uint8_t)((v & 15) << (i < 2 ? 0 : 4));
				b.qh[32 * h + l] |= (uint8_t)((v >> 4) << (2 * i));
			}
	engine__dequant_row(ENGINE_TYPE_Q6_K, &b, y, 256);
	int bad = 0;
	for (int e = 0; e < 256; e++)
		bad += y[e] != 0.125f * (float)(b.scales[e / 16] * (L[e] - 32));
	CHECK(bad == 0, "q6_K: %d of 256 elements decode to other values", bad);
}

/* Both Q6_K decoders (portable and AVX-512) on random bytes: bit for bit. */
static void test_q6_K_decoders(void)
{
	enum { NB = 7 };
	static engine_block_q6_K b[NB];
	static float y0[NB * 256], y1[NB * 256];
	uint8_t *p = (uint8_t *)b;
	for (size_t i = 0; i < sizeof b; i++)
		p[i] = (uint8_t)(frand() * 128.0f + 128.0f);
	for (int i = 0; i < NB; i++)
		b[i].d = (engine_fp16)(0x2000 + i * 0x400); /* finite halves */
	engine__dequant_q6_K_scalar(b, y0, NB * 256);
	if (engine__isa_best() < ENGINE_ISA_AVX512) {
		printf("q6_k decoders: no AVX-512 on this CPU, portable one only\n");
		return;
	}
	engine__dequant_q6_K_avx512(b, y1, NB * 256);
	CHECK(memcmp(y0, y1, sizeof y0) == 0, "q6_k AVX-512 decoder differs from the portable one");
}

/* ---- Quantizers ------------------------------------------------------------ */

/* rms(dequant(quant(x)) - x) / rms(x) over n values. */
static double roundtrip(int type, const float *x, int64_t n, float *y)
{
	void *q = malloc(engine__row_bytes(type, n));
	engine__quant_row(type, x, q, n);
	engine__dequant_row(type, q, y, n);
	free(q);
	double e2 = 0, x2 = 0;
	for (int64_t i = 0; i < n; i++) {
		e2 += ((double)y[i] - x[i]) * ((double)y[i] - x[i]);
		x2 += (double)x[i] * x[i];
	}
	return x2 > 0 ? sqrt(e2 / x2) : sqrt(e2);
}

/*
 * Bounds on the relative RMS error, from measurement. For uniform data a
 * uniform grid gives about 1 / (levels - 1) of the range: Q4_K 1/15 =
 * 0.067 (its min and scale search do better), Q6_K with 64 symmetric
 * levels about 0.016. Measured here: uniform Q4_K 0.0539, Q6_K 0.0133;
 * bell-shaped with outliers Q4_K 0.0925, Q6_K 0.0268. The bounds are 1.2x
 * those, so a packing or scale bug (errors of 0.3 and more) fails.
 */
static void test_quantizers(void)
{
	enum { N = 256 * 16 };
	static float x[N], y[N];
	for (int i = 0; i < N; i++)
		x[i] = frand() * 0.05f + (i / 256 == 3 ? 0.02f : 0.0f); /* one shifted block */
	double e4 = roundtrip(ENGINE_TYPE_Q4_K, x, N, y);
	double e6 = roundtrip(ENGINE_TYPE_Q6_K, x, N, y);
	printf("round trip, uniform data: q4_k relative rms error %.4f, q6_k %.4f\n", e4, e6);
	CHECK(e4 < 0.065, "q4_k round-trip error %.4f", e4);
	CHECK(e6 < 0.016, "q6_k round-trip error %.4f", e6);

	/* Gaussian-like data with outliers (sum of uniforms, 1% x 10) */
	for (int i = 0; i < N; i++) {
		float g = frand() + frand() + frand() + frand();
		x[i] = g * 0.02f * (i % 97 == 0 ? 10.0f : 1.0f);
	}
	e4 = roundtrip(ENGINE_TYPE_Q4_K, x, N, y);
	e6 = roundtrip(ENGINE_TYPE_Q6_K, x, N, y);
	printf("round trip, bell-shaped data with outliers: q4_k %.4f, q6_k %.4f\n", e4, e6);
	CHECK(e4 < 0.11, "q4_k round-trip error with outliers %.4f", e4);
	CHECK(e6 < 0.032, "q6_k round-trip error with outliers %.4f", e6);

	const int types[2] = { ENGINE_TYPE_Q4_K, ENGINE_TYPE_Q6_K };
	for (int t = 0; t < 2; t++) {
		const char *nm = engine_type_name(types[t]);
		memset(x, 0, 256 * sizeof(float));
		roundtrip(types[t], x, 256, y);
		int nz = 0;
		for (int i = 0; i < 256; i++)
			nz += y[i] != 0.0f;
		CHECK(nz == 0, "%s: all-zero block decodes to %d nonzero values", nm, nz);
		for (int i = 0; i < 256; i++)
			x[i] = 0.3f;
		double e = roundtrip(types[t], x, 256, y);
		CHECK(e < 0.01, "%s: constant block error %.4f (y[0] = %g)", nm, e, y[0]);
		for (int i = 0; i < 256; i++)
			x[i] = -0.3f;
		e = roundtrip(types[t], x, 256, y);
		CHECK(e < 0.01, "%s: negative constant block error %.4f (y[0] = %g)", nm, e, y[0]);
		/* one large value among small ones keeps its size and sign */
		for (int i = 0; i < 256; i++)
			x[i] = frand() * 0.01f;
		x[77] = -3.0f;
		roundtrip(types[t], x, 256, y);
		CHECK(fabsf(y[77] + 3.0f) < 0.1f, "%s: outlier -3 decodes to %g", nm, y[77]);
	}
	CHECK(engine__row_bytes(ENGINE_TYPE_Q4_K, 64) == 0 &&
	      engine__row_bytes(ENGINE_TYPE_Q6_K, 2048 + 32) == 0 &&
	      engine__row_bytes(ENGINE_TYPE_Q4_K, 2048) == 8 * 144 &&
	      engine__row_bytes(ENGINE_TYPE_Q6_K, 8192) == 32 * 210,
	      "K-quant rows are whole super-blocks of 256");
}

/* ---- Kernels ---------------------------------------------------------------- */

#define KR 37 /* rows */
#define MAXX 16

/*
 * Tolerances relative to s = sum |w_i a_i| of each output (the scale of
 * any summation-order rounding): every kernel against the scalar one with
 * the same int8 activations 2e-5 s (the integer dots are exact; only the
 * f32 scaling and summation order differ); the scalar one against the
 * double-precision dot of decoded weights and decoded activations 1e-5 s;
 * against the f32 activations before int8 rounding 2e-2 s.
 */
static void test_kernels_type(int type, int64_t k)
{
	int nk;
	const engine__kern *const *ks = engine__kern_list(type, &nk);
	size_t rb = engine__row_bytes(type, k), vb = engine__vec_bytes(ENGINE_VEC_Q8, k);
	CHECK(nk >= 1 && rb > 0 && vb > 0, "%s: %d kernels", engine_type_name(type), nk);
	if (nk < 1 || rb == 0 || vb == 0)
		return;
	CHECK(ks[0]->isa == ENGINE_ISA_SCALAR, "first kernel is the reference");
	char *w = malloc(rb * KR);
	double *wf = malloc(sizeof(double) * (size_t)k * KR);
	float *row = malloc(sizeof(float) * (size_t)k), *x = malloc(sizeof(float) * (size_t)k * MAXX);
	char *xq = aligned_alloc(64, vb * MAXX);
	static float ref[MAXX * KR], y[MAXX * KR], scale[MAXX * KR];
	static double exact[MAXX * KR], exact_f[MAXX * KR];

	for (int r = 0; r < KR; r++) {
		for (int64_t i = 0; i < k; i++)
			row[i] = frand() * (r % 5 == 0 ? 0.3f : 0.05f) + (r % 7 == 1 ? 0.02f : 0.0f);
		engine__quant_row(type, row, w + (size_t)r * rb, k);
		engine__dequant_row(type, w + (size_t)r * rb, row, k);
		for (int64_t i = 0; i < k; i++)
			wf[(size_t)r * k + i] = row[i];
	}
	for (int64_t i = 0; i < k * MAXX; i++)
		x[i] = frand() * 2.0f;
	for (int j = 0; j < MAXX; j++)
		engine__vec_prepare(ENGINE_VEC_Q8, x + (size_t)j * k, k, xq + (size_t)j * vb);
	for (int j = 0; j < MAXX; j++) {
		const char *v = xq + (size_t)j * vb;
		const int8_t *a = engine__q8_qs(v);
		const float *d = engine__q8_d(v, k);
		for (int r = 0; r < KR; r++) {
			double s = 0, sf = 0, sa = 0;
			for (int64_t i = 0; i < k; i++) {
				double wi = wf[(size_t)r * k + i], ai = (double)a[i] * d[i / 32];
				s += wi * ai;
				sa += fabs(wi * ai);
				sf += wi * x[(size_t)j * k + i];
			}
			exact[j * KR + r] = s;
			exact_f[j * KR + r] = sf;
			scale[j * KR + r] = (float)sa;
		}
	}
	for (int v = 0; v < nk; v++) {
		const engine__kern *kn = ks[v];
		CHECK(kn->vec == ENGINE_VEC_Q8, "%s takes Q8 activations", kn->name);
		int bad = 0;
		/* the scalar reference against double precision */
		for (int nx = 1; nx <= MAXX && v == 0; nx++) {
			memset(y, 0xff, sizeof y);
			kn->mv(w, rb, k, xq, vb, nx, y, KR, 0, 17);
			kn->mv(w, rb, k, xq, vb, nx, y, KR, 17, KR);
			if (nx == MAXX)
				memcpy(ref, y, sizeof y);
			for (int i = 0; i < nx * KR && bad < 3; i++) {
				int ok = fabs(y[i] - exact[i]) <= 1e-5 * scale[i] + 1e-6 &&
					 fabs(y[i] - exact_f[i]) <= 2e-2 * scale[i] + 1e-6;
				CHECK(ok, "%s k=%lld n_x=%d out %d: %g, exact %g, f32 activations %g",
				      kn->name, (long long)k, nx, i, y[i], exact[i], exact_f[i]);
				bad += !ok;
			}
		}
		/* the ISA kernels against the scalar one, all 16 vectors */
		for (int nx = 1; nx <= MAXX && v > 0; nx++) {
			memset(y, 0xff, sizeof y);
			kn->mv(w, rb, k, xq, vb, nx, y, KR, 0, 17);
			kn->mv(w, rb, k, xq, vb, nx, y, KR, 17, KR);
			for (int i = 0; i < nx * KR && bad < 3; i++) {
				int ok = fabsf(y[i] - ref[i]) <= 2e-5f * scale[i] + 1e-6f;
				CHECK(ok, "%s k=%lld n_x=%d out %d: %g, scalar %g (scale %g)", kn->name,
				      (long long)k, nx, i, y[i], ref[i], scale[i]);
				bad += !ok;
			}
			/* nothing written past the n_x vectors asked for */
			int over = 0;
			for (int i = nx * KR; i < MAXX * KR; i++) {
				uint32_t u;
				memcpy(&u, &y[i], 4);
				over += u != 0xffffffffu;
			}
			CHECK(over == 0, "%s n_x=%d wrote %d outputs of other vectors", kn->name, nx, over);
		}
		printf("kernel %-20s k=%-4lld n_x 1..16 checked\n", kn->name, (long long)k);
	}
	free(w);
	free(wf);
	free(row);
	free(x);
	free(xq);
}

int main(void)
{
	printf("CPU instruction set level: %d (0 scalar, 1 avx2, 2 avx512)\n",
	       engine__isa_best());
	test_q4_K_layout();
	test_q6_K_layout();
	test_q6_K_decoders();
	test_quantizers();
	const int types[2] = { ENGINE_TYPE_Q4_K, ENGINE_TYPE_Q6_K };
	for (int t = 0; t < 2; t++) {
		test_kernels_type(types[t], 256);
		test_kernels_type(types[t], 768);
		const engine__kern *best = engine__kern_best(types[t]);
		CHECK(best != NULL, "%s has a kernel", engine_type_name(types[t]));
		if (best)
			printf("%s: the engine uses %s\n", engine_type_name(types[t]), best->name);
		if (best && engine__isa_best() > ENGINE_ISA_SCALAR)
			CHECK(best->isa != ENGINE_ISA_SCALAR, "%s: a vector kernel is used",
			      engine_type_name(types[t]));
	}
	return tcheck_done();
}
