/*
 * kernels-k.c: scalar reference matrix x vector kernels for the K-quants
 * (Q4_K, Q6_K) against ENGINE_VEC_Q8 activations. They define what the
 * AVX2 and AVX-512 versions (kernels-k-avx2.c, kernels-k-avx512.c) must
 * compute, and are written for clarity.
 *
 * The activations come in blocks of 32 with their own scale, and both
 * K-quants divide their super-blocks of 256 into sub-blocks that never
 * straddle such a block (32 for Q4_K, 16 for Q6_K), so every product is an
 * exact integer dot over a sub-block, scaled once:
 *   Q4_K: sum w x = d sc dx sum(q a) - dmin m dsum   (dsum = dx sum(a))
 *   Q6_K: sum w x = d dx (sc0 sum((q - 32) a)_0..15 + sc1 sum(...)_16..31)
 */
#include "kernels.h"

static float ref_row_q4_K(const void *w, int64_t k, const void *x)
{
	const engine_block_q4_K *b = w;
	const int8_t *a = engine__q8_qs(x);
	const float *dx = engine__q8_d(x, k), *ds = engine__q8_dsum(x, k);
	float s = 0.0f;
	for (int64_t i = 0; i < k / ENGINE_QK_K; i++) {
		float d = engine__fp16_to_f32(b[i].d);
		float dmin = engine__fp16_to_f32(b[i].dmin);
		for (int sb = 0; sb < 8; sb++) {
			int64_t blk = i * 8 + sb;
			const int8_t *ab = a + blk * 32;
			const uint8_t *q = b[i].qs + 32 * (sb / 2);
			int shift = 4 * (sb & 1), sc, m;
			int32_t acc = 0;
			for (int l = 0; l < 32; l++)
				acc += ((q[l] >> shift) & 0x0f) * ab[l];
			engine__q4_K_scale_min(b[i].scales, sb, &sc, &m);
			s += d * (float)sc * dx[blk] * (float)acc -
			     dmin * (float)m * ds[blk];
		}
	}
	return s;
}

static float ref_row_q6_K(const void *w, int64_t k, const void *x)
{
	const engine_block_q6_K *b = w;
	const int8_t *a = engine__q8_qs(x);
	const float *dx = engine__q8_d(x, k);
	float s = 0.0f;
	for (int64_t i = 0; i < k / ENGINE_QK_K; i++) {
		float d = engine__fp16_to_f32(b[i].d);
		for (int blk = 0; blk < 8; blk++) {
			int32_t acc = 0;
			for (int g = 0; g < 2; g++) {
				int32_t dot = 0;
				for (int l = 0; l < 16; l++) {
					int e = 32 * blk + 16 * g + l;
					int h = e / 128, r = e % 128, j = r / 32, p = r % 32;
					uint8_t lo = b[i].ql[64 * h + p + 32 * (j & 1)];
					int q = (j < 2 ? lo & 0x0f : lo >> 4) |
						((b[i].qh[32 * h + p] >> (2 * j)) & 3) << 4;
					dot += (q - 32) * a[(i * 8 + blk) * 32 + 16 * g + l];
				}
				acc += b[i].scales[2 * blk + g] * dot;
			}
			s += d * dx[i * 8 + blk] * (float)acc;
		}
	}
	return s;
}

typedef float (*row_fn)(const void *w, int64_t k, const void *x);

static void ref_mv(row_fn row, const void *w, size_t ws, int64_t k,
		   const void *x, size_t xs, int n_x, float *y, size_t ys,
		   int64_t r0, int64_t r1)
{
	for (int64_t r = r0; r < r1; r++) {
		const char *wr = (const char *)w + (size_t)r * ws;
		for (int j = 0; j < n_x; j++)
			y[(size_t)j * ys + (size_t)r] =
				row(wr, k, (const char *)x + (size_t)j * xs);
	}
}

static void ref_mv_q4_K(const void *w, size_t ws, int64_t k, const void *x,
			size_t xs, int n_x, float *y, size_t ys, int64_t r0,
			int64_t r1)
{
	ref_mv(ref_row_q4_K, w, ws, k, x, xs, n_x, y, ys, r0, r1);
}

static void ref_mv_q6_K(const void *w, size_t ws, int64_t k, const void *x,
			size_t xs, int n_x, float *y, size_t ys, int64_t r0,
			int64_t r1)
{
	ref_mv(ref_row_q6_K, w, ws, k, x, xs, n_x, y, ys, r0, r1);
}

const engine__kern engine__kern_k_scalar[] = {
	{ ENGINE_TYPE_Q4_K, ENGINE_ISA_SCALAR, ENGINE_VEC_Q8, 0, "q4_k/scalar", ref_mv_q4_K },
	{ ENGINE_TYPE_Q6_K, ENGINE_ISA_SCALAR, ENGINE_VEC_Q8, 0, "q6_k/scalar", ref_mv_q6_K },
};
const int engine__n_kern_k_scalar =
	(int)(sizeof(engine__kern_k_scalar) / sizeof(engine__kern_k_scalar[0]));
