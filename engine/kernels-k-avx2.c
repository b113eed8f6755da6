/*
 * kernels-k-avx2.c: Q4_K and Q6_K x Q8 activations with AVX2. Products go
 * through VPMADDUBSW (unsigned weight bytes x signed activation bytes,
 * pairs summed to int16: at most 2 * 63 * 127, no saturation) and
 * VPMADDWD to int32. Each function carries its target attribute; kernels.c
 * calls them only on a CPU with AVX2, FMA and F16C.
 *
 * One activation block of 32 is one ymm of bytes, so every step below
 * works on one block: Q4_K's sub-block of 32, or two of Q6_K's groups of
 * 16 (their scales go in as the int16 factors of VPMADDWD). A row is read
 * once for up to four activation vectors.
 */
#include <immintrin.h>
#include <string.h>

#include "kernels.h"

#define T2 __attribute__((target("avx2,fma,f16c")))
#define INL inline __attribute__((always_inline))

static INL T2 float hsum8(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

/* As in kernels-k-avx512.c: the 8 scales and mins of a Q4_K super-block
 * as bytes. */
static INL void q4_K_unpack_scales(const uint8_t *p, uint8_t sc[8], uint8_t m[8])
{
	uint32_t u0, u1, u2, v[4];
	memcpy(&u0, p, 4);
	memcpy(&u1, p + 4, 4);
	memcpy(&u2, p + 8, 4);
	v[0] = u0 & 0x3f3f3f3fu;
	v[1] = (u2 & 0x0f0f0f0fu) | ((u0 >> 6) & 0x03030303u) << 4;
	v[2] = u1 & 0x3f3f3f3fu;
	v[3] = ((u2 >> 4) & 0x0f0f0f0fu) | ((u1 >> 6) & 0x03030303u) << 4;
	memcpy(sc, v, 8);
	memcpy(m, v + 2, 8);
}

static INL T2 __m256i dot32(__m256i w, __m256i a)
{
	return _mm256_madd_epi16(_mm256_maddubs_epi16(w, a), _mm256_set1_epi16(1));
}

static INL T2 void q4_K_row(const engine_block_q4_K *b, int64_t k,
			    const char *x, size_t xs, int nx, float *out,
			    size_t ys)
{
	const __m256i m4 = _mm256_set1_epi8(0x0f);
	__m256 acc[4], accm[4];
	for (int j = 0; j < nx; j++)
		acc[j] = accm[j] = _mm256_setzero_ps();
	for (int64_t i = 0; i < k / ENGINE_QK_K; i++) {
		uint8_t sc[8], mn[8];
		q4_K_unpack_scales(b[i].scales, sc, mn);
		float d = _cvtsh_ss(b[i].d), dmin = _cvtsh_ss(b[i].dmin);
		__m256 m8 = _mm256_mul_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(
			_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)mn))));
		for (int c = 0; c < 4; c++) {
			__m256i t = _mm256_loadu_si256((const __m256i *)(b[i].qs + 32 * c));
			__m256i lo = _mm256_and_si256(t, m4);
			__m256i hi = _mm256_and_si256(_mm256_srli_epi16(t, 4), m4);
			float f0 = d * (float)sc[2 * c], f1 = d * (float)sc[2 * c + 1];
			for (int j = 0; j < nx; j++) {
				const char *xj = x + (size_t)j * xs;
				const int8_t *a = engine__q8_qs(xj) + i * ENGINE_QK_K + 64 * c;
				const float *dx = engine__q8_d(xj, k) + 8 * i + 2 * c;
				__m256i p0 = dot32(lo, _mm256_loadu_si256((const __m256i *)a));
				__m256i p1 = dot32(hi, _mm256_loadu_si256((const __m256i *)(a + 32)));
				acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p0),
							 _mm256_set1_ps(f0 * dx[0]), acc[j]);
				acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p1),
							 _mm256_set1_ps(f1 * dx[1]), acc[j]);
			}
		}
		for (int j = 0; j < nx; j++) {
			const char *xj = x + (size_t)j * xs;
			accm[j] = _mm256_fmadd_ps(m8, _mm256_loadu_ps(engine__q8_dsum(xj, k) + 8 * i),
						  accm[j]);
		}
	}
	for (int j = 0; j < nx; j++)
		out[(size_t)j * ys] = hsum8(acc[j]) - hsum8(accm[j]);
}

static INL T2 void q6_K_row(const engine_block_q6_K *b, int64_t k,
			    const char *x, size_t xs, int nx, float *out,
			    size_t ys)
{
	const __m256i m4 = _mm256_set1_epi8(0x0f), m3 = _mm256_set1_epi8(3);
	const __m256i c32 = _mm256_set1_epi8(32);
	__m256 acc[4];
	for (int j = 0; j < nx; j++)
		acc[j] = _mm256_setzero_ps();
	for (int64_t i = 0; i < k / ENGINE_QK_K; i++) {
		float d = _cvtsh_ss(b[i].d);
		for (int h = 0; h < 2; h++) {
			__m256i ql0 = _mm256_loadu_si256((const __m256i *)(b[i].ql + 64 * h));
			__m256i ql1 = _mm256_loadu_si256((const __m256i *)(b[i].ql + 64 * h + 32));
			__m256i qh = _mm256_loadu_si256((const __m256i *)(b[i].qh + 32 * h));
			__m256i q[4];
			q[0] = _mm256_or_si256(_mm256_and_si256(ql0, m4),
					       _mm256_slli_epi16(_mm256_and_si256(qh, m3), 4));
			q[1] = _mm256_or_si256(_mm256_and_si256(ql1, m4),
					       _mm256_slli_epi16(_mm256_and_si256(
						       _mm256_srli_epi16(qh, 2), m3), 4));
			q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
					       _mm256_slli_epi16(_mm256_and_si256(
						       _mm256_srli_epi16(qh, 4), m3), 4));
			q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
					       _mm256_slli_epi16(_mm256_and_si256(
						       _mm256_srli_epi16(qh, 6), m3), 4));
			for (int c = 0; c < 4; c++) {
				int blk = 4 * h + c; /* activation block within the super-block */
				__m256i scv = _mm256_set_m128i(
					_mm_set1_epi16(b[i].scales[2 * blk + 1]),
					_mm_set1_epi16(b[i].scales[2 * blk]));
				for (int j = 0; j < nx; j++) {
					const char *xj = x + (size_t)j * xs;
					__m256i av = _mm256_loadu_si256((const __m256i *)(
						engine__q8_qs(xj) + i * ENGINE_QK_K + 32 * blk));
					/* sum (q - 32) a over pairs, then x scale */
					__m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(q[c], av),
								     _mm256_maddubs_epi16(c32, av));
					__m256i s = _mm256_madd_epi16(p, scv);
					float f = d * engine__q8_d(xj, k)[8 * i + blk];
					acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s),
								 _mm256_set1_ps(f), acc[j]);
				}
			}
		}
	}
	for (int j = 0; j < nx; j++)
		out[(size_t)j * ys] = hsum8(acc[j]);
}

#define MV_K(NAME, ROW, BLK)                                                        \
	static T2 void NAME(const void *w, size_t ws, int64_t k, const void *x,     \
			    size_t xs, int n_x, float *y, size_t ys, int64_t r0,     \
			    int64_t r1)                                              \
	{                                                                           \
		for (int64_t r = r0; r < r1; r++) {                                 \
			const BLK *b = (const BLK *)((const char *)w + (size_t)r * ws); \
			const char *xc = x;                                         \
			float *yr = y + r;                                          \
			int j = 0;                                                  \
			for (; j + 4 <= n_x; j += 4)                                \
				ROW(b, k, xc + (size_t)j * xs, xs, 4, yr + (size_t)j * ys, ys); \
			switch (n_x - j) {                                          \
			case 3: ROW(b, k, xc + (size_t)j * xs, xs, 3, yr + (size_t)j * ys, ys); break; \
			case 2: ROW(b, k, xc + (size_t)j * xs, xs, 2, yr + (size_t)j * ys, ys); break; \
			case 1: ROW(b, k, xc + (size_t)j * xs, xs, 1, yr + (size_t)j * ys, ys); break; \
			default: break;                                             \
			}                                                           \
		}                                                                   \
	}

MV_K(mv_q4_K, q4_K_row, engine_block_q4_K)
MV_K(mv_q6_K, q6_K_row, engine_block_q6_K)

const engine__kern engine__kern_k_avx2[] = {
	{ ENGINE_TYPE_Q4_K, ENGINE_ISA_AVX2, ENGINE_VEC_Q8, 0, "q4_k/avx2", mv_q4_K },
	{ ENGINE_TYPE_Q6_K, ENGINE_ISA_AVX2, ENGINE_VEC_Q8, 0, "q6_k/avx2", mv_q6_K },
};
const int engine__n_kern_k_avx2 =
	(int)(sizeof(engine__kern_k_avx2) / sizeof(engine__kern_k_avx2[0]));
