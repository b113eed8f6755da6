/*
 * gemm-bf16-avx512.c: the AVX-512 BF16 kernels of the bf16 GEMM (see
 * gemm-bf16.h for the layouts). Every function carries its own target
 * attribute; gemm-bf16.c calls them only when the CPU has AVX512_BF16.
 *
 * The tile is an outer product: for each pair of k, one 64-byte load gives
 * that pair for 16 weight rows, one 32-bit broadcast gives it for one
 * token, and VDPBF16PS adds both products to the 16 rows' accumulators of
 * that token. The accumulators are whole output rows, so nothing is
 * reduced horizontally and the tile stores them directly.
 */
#include <immintrin.h>

#include "gemm-bf16.h"

#define TBF16 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16")))

#define MR ENGINE_GB_MR
#define NR ENGINE_GB_NR
#define MRV (MR / 16)

/* ---- Weight panel -------------------------------------------------------- */

/*
 * Transposes 16 x 16 32-bit elements: on entry a[i] holds the 16 pairs
 * of row i, on return a[j] holds pair j of the 16 rows. Stage 1 and 2
 * transpose 4 x 4 blocks inside each 128-bit lane, stage 3 moves the
 * lanes.
 */
static inline TBF16 void tr16x16(__m512i a[16])
{
	__m512i t[16], u[16];

	for (int i = 0; i < 16; i += 4) {
		t[i] = _mm512_unpacklo_epi32(a[i], a[i + 1]);
		t[i + 1] = _mm512_unpackhi_epi32(a[i], a[i + 1]);
		t[i + 2] = _mm512_unpacklo_epi32(a[i + 2], a[i + 3]);
		t[i + 3] = _mm512_unpackhi_epi32(a[i + 2], a[i + 3]);
		/* u[i + j], lane L: rows i..i+3 of element 4L + j */
		u[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
		u[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
		u[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
		u[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
	}
	for (int j = 0; j < 4; j++) {
		__m512i s0 = _mm512_shuffle_i32x4(u[j], u[4 + j], 0x44);
		__m512i s1 = _mm512_shuffle_i32x4(u[j], u[4 + j], 0xee);
		__m512i s2 = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0x44);
		__m512i s3 = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0xee);
		a[j] = _mm512_shuffle_i32x4(s0, s2, 0x88);      /* lane 0 */
		a[4 + j] = _mm512_shuffle_i32x4(s0, s2, 0xdd);  /* lane 1 */
		a[8 + j] = _mm512_shuffle_i32x4(s1, s3, 0x88);  /* lane 2 */
		a[12 + j] = _mm512_shuffle_i32x4(s1, s3, 0xdd); /* lane 3 */
	}
}

/* Rows are read 16 at a time along k, so the hardware prefetcher follows
 * 16 streams rather than MR. */
static TBF16 void pack_w(uint16_t *panel, const uint16_t *w, size_t w_stride,
			 int64_t k, int64_t kp, int nr)
{
	for (int b = 0; b < MRV; b++) {
		for (int64_t e0 = 0; e0 < kp; e0 += 32) {
			int64_t left = k - e0;
			__mmask32 m = left >= 32 ? (__mmask32)0xffffffffu
				    : left <= 0 ? 0 : (__mmask32)((1u << left) - 1);
			__m512i a[16];
			for (int i = 0; i < 16; i++) {
				int r = b * 16 + i;
				a[i] = r < nr ? _mm512_maskz_loadu_epi16(m,
					(const char *)w + (size_t)r * w_stride +
					(size_t)e0 * 2) : _mm512_setzero_si512();
			}
			tr16x16(a);
			uint16_t *dst = panel + (size_t)e0 * MR + (size_t)b * 32;
			for (int j = 0; j < 16; j++)
				_mm512_storeu_si512(dst + (size_t)j * MR * 2, a[j]);
		}
	}
}

/* ---- Activations --------------------------------------------------------- */

static TBF16 void pack_x(uint16_t *out, const float *x, int64_t k, int64_t kp,
			 int parts)
{
	uint16_t *lo = out + ENGINE_GB_KQ(kp);
	for (int64_t i = 0; i < kp; i += 16) {
		int64_t left = k - i;
		__mmask16 m = left >= 16 ? (__mmask16)0xffff
			    : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
		__m512 v = _mm512_maskz_loadu_ps(m, x + i);
		__m256bh h = _mm512_cvtneps_pbh(v);
		_mm256_storeu_si256((__m256i *)(out + i), (__m256i)h);
		if (parts == 2) {
			/* x - hi is exact in f32; rounding it gives the next
			 * 8 bits. */
			__m512 hf = _mm512_castsi512_ps(_mm512_slli_epi32(
				_mm512_cvtepu16_epi32((__m256i)h), 16));
			__m256bh l = _mm512_cvtneps_pbh(_mm512_sub_ps(v, hf));
			_mm256_storeu_si256((__m256i *)(lo + i), (__m256i)l);
		}
	}
}

/* ---- Tile ---------------------------------------------------------------- */

static inline TBF16 __m512bh bcast(const uint16_t *p, int64_t e)
{
	uint32_t v;
	__builtin_memcpy(&v, p + e, 4);
	return (__m512bh)_mm512_set1_epi32((int)v);
}

/* The body for a fixed number of parts, so the compiler keeps all 24
 * accumulators in registers. */
static inline __attribute__((always_inline)) TBF16 void
tile_body(const uint16_t *panel, const uint16_t *const *xt, int64_t k,
	  int64_t kq, const int parts, float *y, size_t ldy, int nt, int nr,
	  int add)
{
	__m512 acc[NR][MRV];
	const uint16_t *xp[NR];
	__mmask16 m[MRV];

	for (int v = 0; v < MRV; v++) {
		int left = nr - v * 16;
		m[v] = left >= 16 ? (__mmask16)0xffff
		     : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
	}
#pragma GCC unroll 8
	for (int t = 0; t < NR; t++) {
		xp[t] = xt[t];
#pragma GCC unroll 4
		for (int v = 0; v < MRV; v++)
			acc[t][v] = add && t < nt ? _mm512_maskz_loadu_ps(m[v],
					y + (size_t)t * ldy + v * 16)
				  : _mm512_setzero_ps();
	}
	for (int64_t e = 0; e < k; e += 2) {
		const uint16_t *wp = panel + (size_t)e * MR;
		__m512bh w[MRV];
#pragma GCC unroll 4
		for (int v = 0; v < MRV; v++)
			w[v] = (__m512bh)_mm512_loadu_si512(wp + v * 32);
#pragma GCC unroll 8
		for (int t = 0; t < NR; t++) {
			__m512bh b = bcast(xp[t], e);
#pragma GCC unroll 4
			for (int v = 0; v < MRV; v++)
				acc[t][v] = _mm512_dpbf16_ps(acc[t][v], w[v], b);
			if (parts == 2) {
				__m512bh bl = bcast(xp[t] + kq, e);
#pragma GCC unroll 4
				for (int v = 0; v < MRV; v++)
					acc[t][v] = _mm512_dpbf16_ps(acc[t][v],
								     w[v], bl);
			}
		}
	}
#pragma GCC unroll 8
	for (int t = 0; t < NR; t++) {
		if (t >= nt)
			break;
#pragma GCC unroll 4
		for (int v = 0; v < MRV; v++)
			_mm512_mask_storeu_ps(y + (size_t)t * ldy + v * 16, m[v],
					      acc[t][v]);
	}
}

static TBF16 void tile(const uint16_t *panel, const uint16_t *const *xt,
		       int64_t k, int64_t kq, int parts, float *y, size_t ldy,
		       int nt, int nr, int add)
{
	if (parts == 2)
		tile_body(panel, xt, k, kq, 2, y, ldy, nt, nr, add);
	else
		tile_body(panel, xt, k, kq, 1, y, ldy, nt, nr, add);
}

const engine__gb_kern engine__gb_avx512 = { pack_w, pack_x, tile };
