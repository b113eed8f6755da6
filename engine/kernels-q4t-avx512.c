/*
 * kernels-q4t-avx512.c: Q4_0 weights x ENGINE_VEC_Q8T activations with
 * AVX-512 VNNI and VBMI, for batched decode.
 *
 * Why another Q4_0 kernel: on a core that retires one 512-bit multiply
 * per cycle (Zen 4), what a vector costs is the instructions it adds per
 * weight block, and with the four-block order (ENGINE_VEC_Q8H) each vector
 * spends two VPDPBUSD and three float operations (convert, scale, FMA) on
 * 128 weights. Here sixteen blocks are transposed so that one int32 lane
 * holds one whole block: eight VPDPBUSD then cover 512 weights and the
 * three float operations are paid once per 512, not per 128. The
 * transpose (VPERMT2B per four blocks, then a 4 x 4 dword transpose) is
 * paid once per row and shared by the vectors. Measured per CPU second on
 * one core of the development machine (Zen 4, k = 2048, rows in memory, a
 * loaded machine), in products per second: eight vectors 72 G with the
 * four-block kernel, 115 G with this one; one vector 29 and 32 G (both at
 * memory speed).
 *
 * Each function carries its target attribute; kernels.c calls them only
 * on a CPU with AVX-512 F/BW/DQ/VL, VNNI and VBMI.
 */
#include <immintrin.h>

#include "kernels.h"

#define TQ __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma,f16c,avx512vnni,avx512vbmi")))
#define INL inline __attribute__((always_inline))

/* VPERMT2B indices into a four-block group read as bytes [0, 64) and
 * [8, 72): the 16 nibble bytes of block o / 16 in lane o / 16, and the d
 * of block (o / 2) / 4 in word o / 2 (kept by a mask for one group). */
#define PIDX(b) ((b) < 64 ? (b) : 64 + (b) - 8)
#define R16(M, o) M(o), M(o + 1), M(o + 2), M(o + 3), M(o + 4), M(o + 5),   \
		  M(o + 6), M(o + 7), M(o + 8), M(o + 9), M(o + 10), M(o + 11), \
		  M(o + 12), M(o + 13), M(o + 14), M(o + 15)
#define R64(M) R16(M, 0), R16(M, 16), R16(M, 32), R16(M, 48)
#define T_QS(o) PIDX(18 * ((o) / 16) + 2 + (o) % 16)
#define T_D(o) PIDX(18 * ((o) / 8) + (o) % 2)
static const uint8_t t_idx_qs[64] = { R64(T_QS) };
static const uint8_t t_idx_d[64] = { R64(T_D) };

/* Word 4 l + g of the super-group's scales comes from group g: bytes
 * 8 l + 2 g and + 1. */
static const uint64_t t_dmask[4] = { 0x0303030303030303ull, 0x0c0c0c0c0c0c0c0cull,
				     0x3030303030303030ull, 0xc0c0c0c0c0c0c0c0ull };

/* Sixteen blocks at p (288 bytes) as eight vectors of unsigned nibbles in
 * the Q8T order, and their scales per lane. */
static INL TQ void t_unpack(const uint8_t *p, __m512i iq, __m512i id, __m512i w[8],
			    __m512 *sw)
{
	__m512i q[4], dd = _mm512_setzero_si512(), m4 = _mm512_set1_epi8(0x0f);
#pragma GCC unroll 4
	for (int g = 0; g < 4; g++) {
		__m512i a = _mm512_loadu_si512(p + 72 * g);
		__m512i b = _mm512_loadu_si512(p + 72 * g + 8);
		q[g] = _mm512_permutex2var_epi8(a, iq, b);
		dd = _mm512_or_si512(dd, _mm512_maskz_permutex2var_epi8(t_dmask[g], a, id, b));
	}
	/* lane l of q[g] holds block 4 g + l as dwords c = 0..3 (its nibble
	 * bytes 4c..4c+3); transposed, dword 4 l + g of t[c] holds them */
	__m512i t0 = _mm512_unpacklo_epi32(q[0], q[1]), t1 = _mm512_unpackhi_epi32(q[0], q[1]);
	__m512i t2 = _mm512_unpacklo_epi32(q[2], q[3]), t3 = _mm512_unpackhi_epi32(q[2], q[3]);
	__m512i c[4] = { _mm512_unpacklo_epi64(t0, t2), _mm512_unpackhi_epi64(t0, t2),
			 _mm512_unpacklo_epi64(t1, t3), _mm512_unpackhi_epi64(t1, t3) };
#pragma GCC unroll 4
	for (int s = 0; s < 4; s++) {
		w[s] = _mm512_and_si512(c[s], m4);
		w[s + 4] = _mm512_and_si512(_mm512_srli_epi16(c[s], 4), m4);
	}
	*sw = _mm512_cvtph_ps(_mm512_castsi512_si256(dd));
}

/* The blocks after the last whole super-group, one at a time (none in
 * PolyLM's matrices; small models have them). */
static INL TQ float t_tail(const engine_block_q4_0 *b, int64_t nt, const int8_t *x)
{
	const float *d = engine__q8_d(x, 32 * nt), *ds = engine__q8_dsum(x, 32 * nt);
	float s = 0.0f;
	for (int64_t j = 0; j < nt; j++) {
		__m128i q = _mm_loadu_si128((const __m128i *)b[j].qs);
		__m256i v = _mm256_set_m128i(
			_mm_and_si128(_mm_srli_epi16(q, 4), _mm_set1_epi8(0x0f)),
			_mm_and_si128(q, _mm_set1_epi8(0x0f)));
		__m256i dot = _mm256_dpbusd_epi32(_mm256_setzero_si256(), v,
						  _mm256_loadu_si256((const __m256i *)(x + 32 * j)));
		float dw = _cvtsh_ss(b[j].d);
		s += (float)_mm512_reduce_add_epi32(_mm512_zextsi256_si512(dot)) * dw * d[j] -
		     8.0f * dw * ds[j];
	}
	return s;
}

/* y[j * ys + r] = row r . vector j for j < NX (a constant once inlined). */
static INL TQ void t_row(const uint8_t *wr, size_t ws, int64_t k, const char *x,
			 size_t xs, float *y, size_t ys, int64_t r, const int NX)
{
	const __m512i iq = _mm512_loadu_si512(t_idx_qs), id = _mm512_loadu_si512(t_idx_d);
	int64_t ns = k / 512, nt = k % 512 / 32;
	__m512 acc[8];
#pragma GCC unroll 8
	for (int j = 0; j < NX; j++)
		acc[j] = _mm512_setzero_ps();
	for (int64_t sg = 0; sg < ns; sg++) {
		const uint8_t *p = wr + (size_t)sg * 288;
		/* the next row, which the next call reads */
#pragma GCC unroll 5
		for (int o = 0; o < 288; o += 64)
			_mm_prefetch((const char *)p + ws + o, _MM_HINT_T0);
		__m512i w[8];
		__m512 sw;
		t_unpack(p, iq, id, w, &sw);
#pragma GCC unroll 8
		for (int j = 0; j < NX; j++) {
			const char *xg = x + (size_t)j * xs + (size_t)sg * ENGINE_Q8T_SUPER_BYTES;
			/* two chains, so the VPDPBUSD latency overlaps */
			__m512i a = _mm512_loadu_si512(xg + 576), b = _mm512_setzero_si512();
#pragma GCC unroll 4
			for (int s = 0; s < 8; s += 2) {
				a = _mm512_dpbusd_epi32(a, w[s], _mm512_loadu_si512(xg + 64 * s));
				b = _mm512_dpbusd_epi32(b, w[s + 1], _mm512_loadu_si512(xg + 64 * s + 64));
			}
			__m512 dx = _mm512_loadu_ps((const float *)(xg + 512));
			acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(a, b)),
						 _mm512_mul_ps(sw, dx), acc[j]);
		}
	}
#pragma GCC unroll 8
	for (int j = 0; j < NX; j++) {
		float s = _mm512_reduce_add_ps(acc[j]);
		if (nt)
			s += t_tail((const engine_block_q4_0 *)(wr + (size_t)ns * 288), nt,
				    (const int8_t *)(x + (size_t)j * xs +
						     (size_t)ns * ENGINE_Q8T_SUPER_BYTES));
		y[(size_t)j * ys + (size_t)r] = s;
	}
}

#define T_FN(NAME, NX)                                                          \
	static TQ void NAME(const uint8_t *w, size_t ws, int64_t k, const char *x, \
			    size_t xs, float *y, size_t ys, int64_t r0, int64_t r1) \
	{                                                                       \
		for (int64_t r = r0; r < r1; r++)                               \
			t_row(w + (size_t)r * ws, ws, k, x, xs, y, ys, r, NX);    \
	}
T_FN(t_rows1, 1)
T_FN(t_rows2, 2)
T_FN(t_rows4, 4)
T_FN(t_rows8, 8)

/* Vectors in chunks of 8, 4, 2, 1; each chunk runs over the rows (a
 * matmul unit of rows is ~32 KiB: still in cache for the next chunk). */
static TQ void mv_q4_0t(const void *w, size_t ws, int64_t k, const void *x,
			size_t xs, int n_x, float *y, size_t ys, int64_t r0, int64_t r1)
{
	for (int j = 0; j < n_x;) {
		const char *xj = (const char *)x + (size_t)j * xs;
		float *yj = y + (size_t)j * ys;
		int left = n_x - j;
		if (left >= 8) {
			t_rows8(w, ws, k, xj, xs, yj, ys, r0, r1);
			j += 8;
		} else if (left >= 4) {
			t_rows4(w, ws, k, xj, xs, yj, ys, r0, r1);
			j += 4;
		} else if (left >= 2) {
			t_rows2(w, ws, k, xj, xs, yj, ys, r0, r1);
			j += 2;
		} else {
			t_rows1(w, ws, k, xj, xs, yj, ys, r0, r1);
			j += 1;
		}
	}
}

const engine__kern engine__kern_q4t_avx512[] = {
	{ ENGINE_TYPE_Q4_0, ENGINE_ISA_AVX512, ENGINE_VEC_Q8T,
	  ENGINE_CPU_VNNI | ENGINE_CPU_VBMI, "q4_0/avx512-vbmi-16b", mv_q4_0t },
};
const int engine__n_kern_q4t_avx512 =
	(int)(sizeof(engine__kern_q4t_avx512) / sizeof(engine__kern_q4t_avx512[0]));
