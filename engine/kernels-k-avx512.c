/*
 * kernels-k-avx512.c: Q4_K and Q6_K x Q8 activations with AVX-512 VNNI
 * (VPDPBUSD: 64 unsigned x signed byte products per instruction). Each
 * function carries its target attribute; kernels.c calls them only on a
 * CPU with AVX-512 F/BW/DQ/VL and VNNI.
 *
 * A row is read once for up to four activation vectors: the weights are
 * unpacked to bytes once per super-block and each vector only adds its
 * dot products, which is what batched decode needs.
 *
 * Both kernels work on 64 weights at a time that cover two activation
 * blocks of 32, so the 16 int32 lanes of one VPDPBUSD hold block 2c in
 * lanes 0-7 and block 2c + 1 in lanes 8-15; the per-lane scale vectors are
 * built with one permute from the super-block's 8 (or 16) scales.
 */
#include <immintrin.h>
#include <string.h>

#include "kernels.h"

#define TK __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma,f16c,avx512vnni")))
#define INL inline __attribute__((always_inline))

/* Lane l of chunk c (64 weights) belongs to activation block 2c + l / 8. */
static INL TK __m512i blk_idx(int c)
{
	return _mm512_add_epi32(_mm512_set1_epi32(2 * c),
				_mm512_srli_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8,
								   7, 6, 5, 4, 3, 2, 1, 0), 3));
}

/* The 8 6-bit scales (*sc) and mins (*m) of a Q4_K super-block as bytes,
 * from the packing described in engine-impl.h, four at a time. */
static INL void q4_K_unpack_scales(const uint8_t *p, uint64_t *sc, uint64_t *m)
{
	uint32_t u0, u1, u2;
	memcpy(&u0, p, 4);
	memcpy(&u1, p + 4, 4);
	memcpy(&u2, p + 8, 4);
	uint32_t s03 = u0 & 0x3f3f3f3fu, m03 = u1 & 0x3f3f3f3fu;
	uint32_t s47 = (u2 & 0x0f0f0f0fu) | ((u0 >> 6) & 0x03030303u) << 4;
	uint32_t m47 = ((u2 >> 4) & 0x0f0f0f0fu) | ((u1 >> 6) & 0x03030303u) << 4;
	*sc = s03 | (uint64_t)s47 << 32;
	*m = m03 | (uint64_t)m47 << 32;
}

static INL TK __m256 bytes8_ps(uint64_t v)
{
	return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)v)));
}

/* ---- Q4_K ------------------------------------------------------------------ */

/* out[j] = row . vector j for j < nx (nx <= 4, a constant once inlined). */
static INL TK void q4_K_row(const engine_block_q4_K *b, int64_t k,
			    const char *x, size_t xs, int nx, float *out,
			    size_t ys)
{
	const __m256i m4 = _mm256_set1_epi8(0x0f);
	__m512 acc0[4], acc1[4];
	__m256 accm[4];
	for (int j = 0; j < nx; j++) {
		acc0[j] = acc1[j] = _mm512_setzero_ps();
		accm[j] = _mm256_setzero_ps();
	}
	for (int64_t i = 0; i < k / ENGINE_QK_K; i++) {
		uint64_t sc, mn;
		q4_K_unpack_scales(b[i].scales, &sc, &mn);
		__m256 d8 = _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(b[i].d)), bytes8_ps(sc));
		__m256 m8 = _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(b[i].dmin)), bytes8_ps(mn));
		__m512i w[4];
		for (int c = 0; c < 4; c++) {
			__m256i t = _mm256_loadu_si256((const __m256i *)(b[i].qs + 32 * c));
			__m256i lo = _mm256_and_si256(t, m4);
			__m256i hi = _mm256_and_si256(_mm256_srli_epi16(t, 4), m4);
			w[c] = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
		}
		for (int j = 0; j < nx; j++) {
			const char *xj = x + (size_t)j * xs;
			const int8_t *a = engine__q8_qs(xj) + i * ENGINE_QK_K;
			const float *dx = engine__q8_d(xj, k) + 8 * i;
			const float *ds = engine__q8_dsum(xj, k) + 8 * i;
			__m512 f = _mm512_castps256_ps512(_mm256_mul_ps(d8, _mm256_loadu_ps(dx)));
			accm[j] = _mm256_fmadd_ps(m8, _mm256_loadu_ps(ds), accm[j]);
			for (int c = 0; c < 4; c += 2) {
				__m512i p0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w[c],
								 _mm512_loadu_si512(a + 64 * c));
				__m512i p1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w[c + 1],
								 _mm512_loadu_si512(a + 64 * c + 64));
				acc0[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p0),
							  _mm512_permutexvar_ps(blk_idx(c), f), acc0[j]);
				acc1[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p1),
							  _mm512_permutexvar_ps(blk_idx(c + 1), f), acc1[j]);
			}
		}
	}
	for (int j = 0; j < nx; j++) {
		__m256 mm = accm[j];
		__m128 s = _mm_add_ps(_mm256_castps256_ps128(mm), _mm256_extractf128_ps(mm, 1));
		s = _mm_add_ps(s, _mm_movehl_ps(s, s));
		s = _mm_add_ss(s, _mm_movehdup_ps(s));
		out[(size_t)j * ys] = _mm512_reduce_add_ps(_mm512_add_ps(acc0[j], acc1[j])) -
				      _mm_cvtss_f32(s);
	}
}

/* ---- Q6_K ------------------------------------------------------------------ */

/* Lane l of chunk c holds 16-element group 4c + l / 4. */
static INL TK __m512i grp_idx(int c)
{
	return _mm512_add_epi32(_mm512_set1_epi32(4 * c),
				_mm512_srli_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8,
								   7, 6, 5, 4, 3, 2, 1, 0), 2));
}

static INL TK void q6_K_row(const engine_block_q6_K *b, int64_t k,
			    const char *x, size_t xs, int nx, float *out,
			    size_t ys)
{
	const __m512i m4 = _mm512_set1_epi8(0x0f), m30 = _mm512_set1_epi8(0x30);
	const __m512i c32 = _mm512_set1_epi8(32);
	/* high bits of elements i = 0, 1 (in the 4-bit chunk vector built from
	 * the low nibbles) sit at bits 0-1 and 2-3 of qh; of i = 2, 3 at 4-5
	 * and 6-7: move each to bits 4-5 of its byte */
	const __m512i sh_lo = _mm512_set_epi64(2, 2, 2, 2, 4, 4, 4, 4);
	const __m512i sh_hi = _mm512_set_epi64(2, 2, 2, 2, 0, 0, 0, 0);
	__m512 acc0[4], acc1[4];
	for (int j = 0; j < nx; j++)
		acc0[j] = acc1[j] = _mm512_setzero_ps();
	for (int64_t i = 0; i < k / ENGINE_QK_K; i++) {
		__m512 scf = _mm512_mul_ps(_mm512_set1_ps(_cvtsh_ss(b[i].d)),
					   _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(
						   _mm_loadu_si128((const __m128i *)b[i].scales))));
		__m512i aw[4];
		__mmask64 neg[4];
		for (int h = 0; h < 2; h++) {
			__m512i ql = _mm512_loadu_si512(b[i].ql + 64 * h);
			__m512i qh = _mm512_broadcast_i64x4(
				_mm256_loadu_si256((const __m256i *)(b[i].qh + 32 * h)));
			__m512i l0 = _mm512_and_si512(ql, m4);
			__m512i l1 = _mm512_and_si512(_mm512_srli_epi16(ql, 4), m4);
			__m512i h0 = _mm512_and_si512(_mm512_sllv_epi64(qh, sh_lo), m30);
			__m512i h1 = _mm512_and_si512(_mm512_srlv_epi64(qh, sh_hi), m30);
			__m512i w0 = _mm512_sub_epi8(_mm512_or_si512(l0, h0), c32);
			__m512i w1 = _mm512_sub_epi8(_mm512_or_si512(l1, h1), c32);
			aw[2 * h] = _mm512_abs_epi8(w0);
			aw[2 * h + 1] = _mm512_abs_epi8(w1);
			neg[2 * h] = _mm512_movepi8_mask(w0);
			neg[2 * h + 1] = _mm512_movepi8_mask(w1);
		}
		for (int j = 0; j < nx; j++) {
			const char *xj = x + (size_t)j * xs;
			const int8_t *a = engine__q8_qs(xj) + i * ENGINE_QK_K;
			__m512 dx = _mm512_castps256_ps512(
				_mm256_loadu_ps(engine__q8_d(xj, k) + 8 * i));
			for (int c = 0; c < 4; c++) {
				__m512i av = _mm512_loadu_si512(a + 64 * c);
				av = _mm512_mask_sub_epi8(av, neg[c], _mm512_setzero_si512(), av);
				__m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), aw[c], av);
				__m512 f = _mm512_mul_ps(_mm512_permutexvar_ps(grp_idx(c), scf),
							 _mm512_permutexvar_ps(blk_idx(c), dx));
				if (c & 1)
					acc1[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), f, acc1[j]);
				else
					acc0[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), f, acc0[j]);
			}
		}
	}
	for (int j = 0; j < nx; j++)
		out[(size_t)j * ys] = _mm512_reduce_add_ps(_mm512_add_ps(acc0[j], acc1[j]));
}

/* ---- Dequantization (the SGEMM prefill path) ----------------------------------- */

/* Q6_K rows to f32 with the kernel's unpacking: 64 levels per step, then
 * widened 16 at a time (one group, one scale). */
TK void engine__dequant_q6_K_avx512(const engine_block_q6_K *b, float *y, int64_t n)
{
	const __m512i m4 = _mm512_set1_epi8(0x0f), m30 = _mm512_set1_epi8(0x30);
	const __m512i c32 = _mm512_set1_epi8(32);
	const __m512i sh_lo = _mm512_set_epi64(2, 2, 2, 2, 4, 4, 4, 4);
	const __m512i sh_hi = _mm512_set_epi64(2, 2, 2, 2, 0, 0, 0, 0);
	int8_t lv[ENGINE_QK_K] __attribute__((aligned(64)));
	for (int64_t i = 0; i < n / ENGINE_QK_K; i++, y += ENGINE_QK_K) {
		for (int h = 0; h < 2; h++) {
			__m512i ql = _mm512_loadu_si512(b[i].ql + 64 * h);
			__m512i qh = _mm512_broadcast_i64x4(
				_mm256_loadu_si256((const __m256i *)(b[i].qh + 32 * h)));
			__m512i w0 = _mm512_or_si512(_mm512_and_si512(ql, m4),
						     _mm512_and_si512(_mm512_sllv_epi64(qh, sh_lo), m30));
			__m512i w1 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
						     _mm512_and_si512(_mm512_srlv_epi64(qh, sh_hi), m30));
			_mm512_store_si512(lv + 128 * h, _mm512_sub_epi8(w0, c32));
			_mm512_store_si512(lv + 128 * h + 64, _mm512_sub_epi8(w1, c32));
		}
		float d = _cvtsh_ss(b[i].d);
		for (int g = 0; g < 16; g++) {
			__m512 v = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(
				_mm_load_si128((const __m128i *)(lv + 16 * g))));
			_mm512_storeu_ps(y + 16 * g,
					 _mm512_mul_ps(_mm512_set1_ps(d * (float)b[i].scales[g]), v));
		}
	}
}

/* ---- Matrix x vectors -------------------------------------------------------- */

#define MV_K(NAME, ROW, BLK)                                                        \
	static TK void NAME(const void *w, size_t ws, int64_t k, const void *x,     \
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

const engine__kern engine__kern_k_avx512[] = {
	{ ENGINE_TYPE_Q4_K, ENGINE_ISA_AVX512, ENGINE_VEC_Q8, ENGINE_CPU_VNNI,
	  "q4_k/avx512-vnni", mv_q4_K },
	{ ENGINE_TYPE_Q6_K, ENGINE_ISA_AVX512, ENGINE_VEC_Q8, ENGINE_CPU_VNNI,
	  "q6_k/avx512-vnni", mv_q6_K },
};
const int engine__n_kern_k_avx512 =
	(int)(sizeof(engine__kern_k_avx512) / sizeof(engine__kern_k_avx512[0]));
