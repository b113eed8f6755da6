/*
 * quant-k.c: the K-quant weight types Q4_K and Q6_K (super-blocks of 256,
 * layouts in engine-impl.h, identical to llama.cpp's block_q4_K and
 * block_q6_K so that files written by either side load in the other):
 * dequantization to f32 (the SGEMM prefill path, quantize's conversions,
 * embedding rows) and quantizers.
 *
 * The quantizers follow the approach of llama.cpp's reference ones without
 * aiming at the same bits: each sub-block's scale (and for Q4_K its min)
 * is searched over a few candidate steps, each candidate's integer levels
 * are refitted by weighted least squares, and the best fit is kept; the
 * per-sub-block scales are then themselves quantized (6 bits for Q4_K,
 * int8 for Q6_K) against the super-block's f16 scale, and the levels are
 * recomputed with the scales as they will be decoded.
 */
#include <math.h>
#include <string.h>

#include "kernels.h"

/* ---- Dequantization ------------------------------------------------------ */

void engine__dequant_q4_K(const engine_block_q4_K *b, float *y, int64_t n)
{
	for (int64_t i = 0; i < n / ENGINE_QK_K; i++, y += ENGINE_QK_K) {
		float d = engine__fp16_to_f32(b[i].d);
		float dmin = engine__fp16_to_f32(b[i].dmin);
		for (int c = 0; c < 4; c++) {
			const uint8_t *q = b[i].qs + 32 * c;
			int sc0, m0, sc1, m1;
			engine__q4_K_scale_min(b[i].scales, 2 * c, &sc0, &m0);
			engine__q4_K_scale_min(b[i].scales, 2 * c + 1, &sc1, &m1);
			float d0 = d * (float)sc0, o0 = dmin * (float)m0;
			float d1 = d * (float)sc1, o1 = dmin * (float)m1;
			for (int l = 0; l < 32; l++) {
				y[64 * c + l] = d0 * (float)(q[l] & 0x0f) - o0;
				y[64 * c + 32 + l] = d1 * (float)(q[l] >> 4) - o1;
			}
		}
	}
}

/* Written per half and per byte position l, so that the compiler
 * vectorises the l loop (the SGEMM prefill path dequantizes every weight
 * row once per batch). */
void engine__dequant_q6_K_scalar(const engine_block_q6_K *b, float *y, int64_t n)
{
	for (int64_t i = 0; i < n / ENGINE_QK_K; i++, y += ENGINE_QK_K) {
		float d = engine__fp16_to_f32(b[i].d);
		for (int h = 0; h < 2; h++) {
			const uint8_t *ql = b[i].ql + 64 * h, *qh = b[i].qh + 32 * h;
			const int8_t *sc = b[i].scales + 8 * h;
			float *o = y + 128 * h;
			for (int l = 0; l < 32; l++) {
				int g = l / 16;
				int q0 = (ql[l] & 0x0f) | (qh[l] & 3) << 4;
				int q1 = (ql[l + 32] & 0x0f) | ((qh[l] >> 2) & 3) << 4;
				int q2 = (ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4;
				int q3 = (ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4;
				o[l] = d * (float)sc[g] * (float)(q0 - 32);
				o[l + 32] = d * (float)sc[g + 2] * (float)(q1 - 32);
				o[l + 64] = d * (float)sc[g + 4] * (float)(q2 - 32);
				o[l + 96] = d * (float)sc[g + 6] * (float)(q3 - 32);
			}
		}
	}
}

void engine__dequant_q6_K(const engine_block_q6_K *b, float *y, int64_t n)
{
	if (engine__isa_best() >= ENGINE_ISA_AVX512)
		engine__dequant_q6_K_avx512(b, y, n);
	else
		engine__dequant_q6_K_scalar(b, y, n);
}

/* ---- Sub-block fits -------------------------------------------------------- */

static inline int clampi(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/*
 * Asymmetric fit of n values to scale * L - min with L in [0, nmax] and
 * min >= 0 (a block whose values are all positive is fitted from 0, as
 * the format cannot add an offset). Tries inverse scales spread around
 * nmax / (max - min); for each, the levels are fixed and the scale and
 * min that minimise sum w (scale L - min - x)^2 are solved for. Returns
 * the scale, the min in *min_out and the levels in L.
 */
static float fit_min(int n, int nmax, const float *x, const float *w,
		     uint8_t *L, float *min_out)
{
	float lo = x[0], hi = x[0];
	for (int i = 1; i < n; i++) {
		lo = fminf(lo, x[i]);
		hi = fmaxf(hi, x[i]);
	}
	if (lo > 0.0f)
		lo = 0.0f;
	if (hi <= lo) {
		memset(L, 0, (size_t)n);
		*min_out = -lo;
		return 0.0f;
	}
	float sw = 0.0f, swx = 0.0f;
	for (int i = 0; i < n; i++) {
		sw += w[i];
		swx += w[i] * x[i];
	}
	/* the plain min-max fit is the starting point */
	float best_scale = (hi - lo) / (float)nmax, best_min = -lo, best_err = INFINITY;
	uint8_t La[32];
	for (int step = -10; step <= 10; step++) {
		float is = ((float)nmax + 0.1f * (float)step) / (hi - lo);
		float swl = 0.0f, swl2 = 0.0f, swlx = 0.0f;
		for (int i = 0; i < n; i++) {
			int l = clampi((int)lrintf(is * (x[i] - lo)), 0, nmax);
			La[i] = (uint8_t)l;
			swl += w[i] * (float)l;
			swl2 += w[i] * (float)(l * l);
			swlx += w[i] * (float)l * x[i];
		}
		/* normal equations for x ~ scale * l + off (off = -min) */
		float det = sw * swl2 - swl * swl;
		if (det <= 0.0f)
			continue;
		float scale = (sw * swlx - swl * swx) / det;
		float off = (swl2 * swx - swl * swlx) / det;
		if (off > 0.0f) { /* min must be >= 0: refit the scale alone */
			off = 0.0f;
			scale = swl2 > 0.0f ? swlx / swl2 : 0.0f;
		}
		float err = 0.0f;
		for (int i = 0; i < n; i++) {
			float dlt = scale * (float)La[i] + off - x[i];
			err += w[i] * dlt * dlt;
		}
		if (err < best_err && scale > 0.0f) {
			best_err = err;
			best_scale = scale;
			best_min = -off;
			memcpy(L, La, (size_t)n);
		}
	}
	if (best_err == INFINITY)
		for (int i = 0; i < n; i++)
			L[i] = (uint8_t)clampi((int)lrintf((x[i] - lo) / best_scale), 0, nmax);
	*min_out = best_min;
	return best_scale;
}

/*
 * Symmetric fit of n values to scale * L with L in [-nmax, nmax - 1]: the
 * value of largest magnitude sets the sign of the scale so that it lands
 * on -nmax (the extra negative level), and inverse scales around nmax /
 * max are tried, each with the least-squares scale for its levels
 * (weights x^2, which favours the large weights). Returns the scale.
 */
static float fit_sym(int n, int nmax, const float *x)
{
	float amax = 0.0f, max = 0.0f;
	for (int i = 0; i < n; i++) {
		if (fabsf(x[i]) > amax) {
			amax = fabsf(x[i]);
			max = x[i];
		}
	}
	if (amax < 1e-30f)
		return 0.0f;
	float best = -max / (float)nmax, best_q = -1.0f;
	for (int step = -9; step <= 9; step++) {
		float is = -((float)nmax + 0.1f * (float)step) / max;
		float slx = 0.0f, sl2 = 0.0f;
		for (int i = 0; i < n; i++) {
			float w = x[i] * x[i];
			int l = clampi((int)lrintf(is * x[i]), -nmax, nmax - 1);
			slx += w * (float)l * x[i];
			sl2 += w * (float)(l * l);
		}
		/* the error for the optimal scale is sum w x^2 - slx^2 / sl2 */
		if (sl2 > 0.0f && slx * slx / sl2 > best_q) {
			best_q = slx * slx / sl2;
			best = slx / sl2;
		}
	}
	return best;
}

/* ---- Quantizers ---------------------------------------------------------------- */

static void q4_K_block(const float *x, engine_block_q4_K *b)
{
	float scale[8], min[8], w[32], max_scale = 0.0f, max_min = 0.0f;
	uint8_t L[ENGINE_QK_K];

	for (int s = 0; s < 8; s++) {
		const float *xs = x + 32 * s;
		float sx2 = 0.0f;
		for (int l = 0; l < 32; l++)
			sx2 += xs[l] * xs[l];
		float av = sqrtf(sx2 / 32.0f);
		for (int l = 0; l < 32; l++)
			w[l] = av + fabsf(xs[l]);
		scale[s] = fit_min(32, 15, xs, w, L + 32 * s, &min[s]);
		max_scale = fmaxf(max_scale, scale[s]);
		max_min = fmaxf(max_min, min[s]);
	}
	float is = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
	float im = max_min > 0.0f ? 63.0f / max_min : 0.0f;
	memset(b->scales, 0, sizeof b->scales);
	for (int s = 0; s < 8; s++) {
		int ls = clampi((int)lrintf(is * scale[s]), 0, 63);
		int lm = clampi((int)lrintf(im * min[s]), 0, 63);
		if (s < 4) {
			b->scales[s] |= (uint8_t)ls;
			b->scales[s + 4] |= (uint8_t)lm;
		} else {
			b->scales[s + 4] = (uint8_t)((ls & 0x0f) | (lm & 0x0f) << 4);
			b->scales[s - 4] |= (uint8_t)((ls >> 4) << 6);
			b->scales[s] |= (uint8_t)((lm >> 4) << 6);
		}
	}
	b->d = engine__f32_to_fp16(max_scale / 63.0f);
	b->dmin = engine__f32_to_fp16(max_min / 63.0f);
	/* the levels again, against the scales as they decode */
	float d = engine__fp16_to_f32(b->d), dmin = engine__fp16_to_f32(b->dmin);
	for (int s = 0; s < 8; s++) {
		int sc, m;
		engine__q4_K_scale_min(b->scales, s, &sc, &m);
		float ds = d * (float)sc, ms = dmin * (float)m;
		for (int l = 0; l < 32; l++)
			L[32 * s + l] = ds > 0.0f ? (uint8_t)clampi(
				(int)lrintf((x[32 * s + l] + ms) / ds), 0, 15) : 0;
	}
	for (int c = 0; c < 4; c++)
		for (int l = 0; l < 32; l++)
			b->qs[32 * c + l] = (uint8_t)(L[64 * c + l] | L[64 * c + 32 + l] << 4);
}

void engine__quant_q4_K(const float *x, engine_block_q4_K *b, int64_t n)
{
	for (int64_t i = 0; i < n / ENGINE_QK_K; i++)
		q4_K_block(x + i * ENGINE_QK_K, &b[i]);
}

static void q6_K_block(const float *x, engine_block_q6_K *b)
{
	float scale[16], amax = 0.0f, max = 0.0f;
	uint8_t L[ENGINE_QK_K];

	for (int s = 0; s < 16; s++) {
		scale[s] = fit_sym(16, 32, x + 16 * s);
		if (fabsf(scale[s]) > amax) {
			amax = fabsf(scale[s]);
			max = scale[s];
		}
	}
	memset(b, 0, sizeof *b);
	if (amax < 1e-30f)
		return; /* d = 0: every value decodes to 0 */
	/* the largest scale maps to -128, the int8 level with no twin */
	float is = -128.0f / max;
	for (int s = 0; s < 16; s++)
		b->scales[s] = (int8_t)clampi((int)lrintf(is * scale[s]), -128, 127);
	b->d = engine__f32_to_fp16(1.0f / is);
	float d = engine__fp16_to_f32(b->d);
	for (int e = 0; e < ENGINE_QK_K; e++) {
		float ds = d * (float)b->scales[e / 16];
		L[e] = ds != 0.0f ? (uint8_t)(clampi((int)lrintf(x[e] / ds), -32, 31) + 32)
				  : 32;
	}
	for (int h = 0; h < 2; h++)
		for (int l = 0; l < 32; l++) {
			const uint8_t *q = L + 128 * h + l;
			b->ql[64 * h + l] = (uint8_t)((q[0] & 0x0f) | (q[64] & 0x0f) << 4);
			b->ql[64 * h + 32 + l] = (uint8_t)((q[32] & 0x0f) | (q[96] & 0x0f) << 4);
			b->qh[32 * h + l] = (uint8_t)(q[0] >> 4 | (q[32] >> 4) << 2 |
						      (q[64] >> 4) << 4 | (q[96] >> 4) << 6);
		}
}

void engine__quant_q6_K(const float *x, engine_block_q6_K *b, int64_t n)
{
	for (int64_t i = 0; i < n / ENGINE_QK_K; i++)
		q6_K_block(x + i * ENGINE_QK_K, &b[i]);
}
