/*
 * kernels-avx512.c: AVX-512 kernels (F, BW, DQ, VL; VNNI and BF16 where
 * marked). Every function carries its own target attribute, so this file
 * is compiled for plain x86-64 and only called when kernels.c has checked
 * the CPU. Tails are handled with masked loads, so any k works for the
 * float types.
 */
#include <immintrin.h>
#include <math.h>

#include "kernels.h"

#define T512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma,f16c")))
#define T512VNNI __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma,f16c,avx512vnni")))
#define T512BF16 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma,f16c,avx512bf16")))

static inline T512 float hsum512(__m512 v)
{
	return _mm512_reduce_add_ps(v);
}

static inline T512 float hsum256(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v),
			      _mm256_extractf128_ps(v, 1));
	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

/* ---- Float weights ----------------------------------------------------- */

/* Loads 16 weights starting at element i as f32, masked. */
typedef __m512 (*load16_fn)(const void *w, int64_t i, __mmask16 m);

static inline T512 __m512 ld_f32(const void *w, int64_t i, __mmask16 m)
{
	return _mm512_maskz_loadu_ps(m, (const float *)w + i);
}

static inline T512 __m512 ld_f16(const void *w, int64_t i, __mmask16 m)
{
	__m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)w + i);
	return _mm512_cvtph_ps(h);
}

static inline T512 __m512 ld_bf16(const void *w, int64_t i, __mmask16 m)
{
	__m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)w + i);
	return _mm512_castsi512_ps(
		_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* The float kernels share one body; LOAD is inlined per type. */
#define FLOAT_ROW(NAME, LOAD)                                                 \
	static inline T512 float NAME(const void *w, int64_t k, const float *x) \
	{                                                                     \
		__m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();    \
		__m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();    \
		int64_t i = 0;                                                \
		for (; i + 64 <= k; i += 64) {                                \
			a0 = _mm512_fmadd_ps(LOAD(w, i, 0xffff),              \
					     _mm512_loadu_ps(x + i), a0);     \
			a1 = _mm512_fmadd_ps(LOAD(w, i + 16, 0xffff),         \
					     _mm512_loadu_ps(x + i + 16), a1); \
			a2 = _mm512_fmadd_ps(LOAD(w, i + 32, 0xffff),         \
					     _mm512_loadu_ps(x + i + 32), a2); \
			a3 = _mm512_fmadd_ps(LOAD(w, i + 48, 0xffff),         \
					     _mm512_loadu_ps(x + i + 48), a3); \
		}                                                             \
		for (; i < k; i += 16) {                                      \
			int64_t left = k - i;                                 \
			__mmask16 m = left >= 16 ? (__mmask16)0xffff           \
					: (__mmask16)((1u << left) - 1);      \
			a0 = _mm512_fmadd_ps(LOAD(w, i, m),                   \
					     _mm512_maskz_loadu_ps(m, x + i), a0); \
		}                                                             \
		return hsum512(_mm512_add_ps(_mm512_add_ps(a0, a1),           \
					     _mm512_add_ps(a2, a3)));         \
	}

FLOAT_ROW(row_f32, ld_f32)
FLOAT_ROW(row_f16, ld_f16)
FLOAT_ROW(row_bf16, ld_bf16)

#define MV_BODY(ROW, XT)                                                      \
	for (int64_t r = r0; r < r1; r++) {                                   \
		const char *wr = (const char *)w + (size_t)r * w_stride;      \
		for (int j = 0; j < n_x; j++)                                 \
			y[(size_t)j * y_stride + (size_t)r] = ROW(            \
				wr, k,                                        \
				(const XT *)((const char *)x +                \
					     (size_t)j * x_stride));          \
	}

#define MV_FN(NAME, ROW, XT, TGT)                                             \
	static TGT void NAME(const void *w, size_t w_stride, int64_t k,       \
			     const void *x, size_t x_stride, int n_x,         \
			     float *y, size_t y_stride, int64_t r0,           \
			     int64_t r1)                                      \
	{                                                                     \
		MV_BODY(ROW, XT)                                              \
	}

/* Four vectors at once: each 16 weights are loaded and widened once and
 * used four times, which is what batched decode and beam search need (the
 * row is read from memory once either way; this saves the widening and
 * half the loads). */
#define FLOAT_ROW4(NAME, LOAD)                                                \
	static inline T512 void NAME(const void *w, int64_t k, const char *x, \
				     size_t xs, float *y, size_t ys)          \
	{                                                                     \
		const float *x0 = (const float *)x;                           \
		const float *x1 = (const float *)(x + xs);                    \
		const float *x2 = (const float *)(x + 2 * xs);                \
		const float *x3 = (const float *)(x + 3 * xs);                \
		__m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;   \
		__m512 b0 = a0, b1 = a0, b2 = a0, b3 = a0;                    \
		int64_t i = 0;                                                \
		for (; i + 32 <= k; i += 32) {                                \
			__m512 w0 = LOAD(w, i, 0xffff);                       \
			__m512 w1 = LOAD(w, i + 16, 0xffff);                  \
			a0 = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x0 + i), a0); \
			a1 = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x1 + i), a1); \
			a2 = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x2 + i), a2); \
			a3 = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x3 + i), a3); \
			b0 = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x0 + i + 16), b0); \
			b1 = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x1 + i + 16), b1); \
			b2 = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x2 + i + 16), b2); \
			b3 = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x3 + i + 16), b3); \
		}                                                             \
		for (; i < k; i += 16) {                                      \
			int64_t left = k - i;                                 \
			__mmask16 m = left >= 16 ? (__mmask16)0xffff           \
					: (__mmask16)((1u << left) - 1);      \
			__m512 w0 = LOAD(w, i, m);                            \
			a0 = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(m, x0 + i), a0); \
			a1 = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(m, x1 + i), a1); \
			a2 = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(m, x2 + i), a2); \
			a3 = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(m, x3 + i), a3); \
		}                                                             \
		y[0] = hsum512(_mm512_add_ps(a0, b0));                        \
		y[ys] = hsum512(_mm512_add_ps(a1, b1));                       \
		y[2 * ys] = hsum512(_mm512_add_ps(a2, b2));                   \
		y[3 * ys] = hsum512(_mm512_add_ps(a3, b3));                   \
	}

FLOAT_ROW4(row4_f32, ld_f32)
FLOAT_ROW4(row4_f16, ld_f16)
FLOAT_ROW4(row4_bf16, ld_bf16)

#define MV4_FN(NAME, ROW, ROW4)                                               \
	static T512 void NAME(const void *w, size_t w_stride, int64_t k,      \
			      const void *x, size_t x_stride, int n_x,        \
			      float *y, size_t y_stride, int64_t r0,          \
			      int64_t r1)                                     \
	{                                                                     \
		for (int64_t r = r0; r < r1; r++) {                           \
			const char *wr = (const char *)w + (size_t)r * w_stride; \
			int j = 0;                                            \
			for (; j + 4 <= n_x; j += 4)                          \
				ROW4(wr, k, (const char *)x + (size_t)j * x_stride, \
				     x_stride, y + (size_t)j * y_stride + (size_t)r, \
				     y_stride);                               \
			for (; j < n_x; j++)                                  \
				y[(size_t)j * y_stride + (size_t)r] = ROW(    \
					wr, k,                                \
					(const float *)((const char *)x +     \
							(size_t)j * x_stride)); \
		}                                                             \
	}

MV4_FN(mv_f32, row_f32, row4_f32)
MV4_FN(mv_f16, row_f16, row4_f16)
MV4_FN(mv_bf16, row_bf16, row4_bf16)

/* BF16 weights x BF16 activations with VDPBF16PS: 32 products per
 * instruction, accumulated in f32. The activations were rounded to bf16
 * (relative error up to 2^-9 per element) and padded with zeros to a
 * multiple of 32; the weight row is read with a mask past k. */
static inline T512BF16 float row_bf16dp(const void *w, int64_t k,
					const uint16_t *x)
{
	const uint16_t *wb = w;
	__m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
	int64_t i = 0;
	for (; i + 64 <= k; i += 64) {
		__m512i w0 = _mm512_loadu_si512(wb + i);
		__m512i w1 = _mm512_loadu_si512(wb + i + 32);
		__m512i x0 = _mm512_loadu_si512(x + i);
		__m512i x1 = _mm512_loadu_si512(x + i + 32);
		a0 = _mm512_dpbf16_ps(a0, (__m512bh)w0, (__m512bh)x0);
		a1 = _mm512_dpbf16_ps(a1, (__m512bh)w1, (__m512bh)x1);
	}
	for (; i < k; i += 32) {
		int64_t left = k - i;
		__mmask32 m = left >= 32 ? (__mmask32)0xffffffffu
					 : (__mmask32)((1u << left) - 1);
		__m512i w0 = _mm512_maskz_loadu_epi16(m, wb + i);
		__m512i x0 = _mm512_loadu_si512(x + i);
		a0 = _mm512_dpbf16_ps(a0, (__m512bh)w0, (__m512bh)x0);
	}
	return hsum512(_mm512_add_ps(a0, a1));
}

MV_FN(mv_bf16dp, row_bf16dp, uint16_t, T512BF16)

/* ---- Quantized weights x Q8 activations (VNNI) ------------------------- */

/* Two blocks per step: the activations of blocks j and j+1 are one 64-byte
 * load; the products land in lanes 0-7 (block j) and 8-15 (block j+1). */
static inline T512VNNI __m512 scale2(float s0, float s1)
{
	return _mm512_insertf32x8(_mm512_set1_ps(s0), _mm256_set1_ps(s1), 1);
}

/* Q8_0 x Q8: VPDPBUSD wants unsigned x signed, so |w| times a with the
 * sign of w (exact, like llama.cpp's sign trick). */
static inline T512VNNI __m512 q8_dot2(const engine_block_q8_0 *b,
				      const int8_t *x, const float *d)
{
	__m512i wv = _mm512_inserti64x4(
		_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)b[0].qs)),
		_mm256_loadu_si256((const __m256i *)b[1].qs), 1);
	__m512i av = _mm512_loadu_si512(x);
	__mmask64 neg = _mm512_movepi8_mask(wv);
	av = _mm512_mask_sub_epi8(av, neg, _mm512_setzero_si512(), av);
	__m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(),
					  _mm512_abs_epi8(wv), av);
	return _mm512_mul_ps(_mm512_cvtepi32_ps(dot),
			     scale2(_cvtsh_ss(b[0].d) * d[0], _cvtsh_ss(b[1].d) * d[1]));
}

static inline T512VNNI float row_q8_0(const void *w, int64_t k, const int8_t *x)
{
	const engine_block_q8_0 *b = w;
	const float *d = engine__q8_d(x, k);
	int64_t nb = k / 32, j = 0;
	/* two accumulators: four blocks per step hide the FMA latency */
	__m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
	for (; j + 4 <= nb; j += 4) {
		a0 = _mm512_add_ps(a0, q8_dot2(b + j, x + 32 * j, d + j));
		a1 = _mm512_add_ps(a1, q8_dot2(b + j + 2, x + 32 * j + 64, d + j + 2));
	}
	for (; j + 2 <= nb; j += 2)
		a0 = _mm512_add_ps(a0, q8_dot2(b + j, x + 32 * j, d + j));
	float s = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
	for (; j < nb; j++) {
		__m256i wv = _mm256_loadu_si256((const __m256i *)b[j].qs);
		__m256i av = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(x + 32 * j)), wv);
		__m256i dot = _mm256_dpbusd_epi32(_mm256_setzero_si256(),
						  _mm256_sign_epi8(wv, wv), av);
		s += hsum256(_mm256_cvtepi32_ps(dot)) * _cvtsh_ss(b[j].d) * d[j];
	}
	return s;
}

/* Q4_0 x Q8: the raw nibbles (0..15) are already unsigned; the -8 is
 * applied afterwards through the blocks' d * sum(a). */
static inline T512VNNI __m512i q4_unpack2(const uint8_t *q0, const uint8_t *q1)
{
	__m256i t = _mm256_inserti128_si256(
		_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)q0)),
		_mm_loadu_si128((const __m128i *)q1), 1);
	__m256i lo = _mm256_and_si256(t, _mm256_set1_epi8(0x0f));
	__m256i hi = _mm256_and_si256(_mm256_srli_epi16(t, 4), _mm256_set1_epi8(0x0f));
	/* [j lo, j+1 lo, j hi, j+1 hi] -> [j lo, j hi, j+1 lo, j+1 hi] */
	__m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
	return _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0));
}

/* Two blocks: their products scaled, and their d_w * d * sum(a) added to
 * *corr. */
static inline T512VNNI __m512 q4_dot2(const engine_block_q4_0 *b,
				      const int8_t *x, const float *d,
				      const float *ds, float *corr)
{
	__m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(),
					  q4_unpack2(b[0].qs, b[1].qs),
					  _mm512_loadu_si512(x));
	float d0 = _cvtsh_ss(b[0].d), d1 = _cvtsh_ss(b[1].d);
	*corr += d0 * ds[0] + d1 * ds[1];
	return _mm512_mul_ps(_mm512_cvtepi32_ps(dot), scale2(d0 * d[0], d1 * d[1]));
}

static inline T512VNNI float row_q4_0(const void *w, int64_t k, const int8_t *x)
{
	const engine_block_q4_0 *b = w;
	const float *d = engine__q8_d(x, k), *ds = engine__q8_dsum(x, k);
	int64_t nb = k / 32, j = 0;
	__m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
	float c0 = 0.0f, c1 = 0.0f, s = 0.0f;
	for (; j + 4 <= nb; j += 4) {
		a0 = _mm512_add_ps(a0, q4_dot2(b + j, x + 32 * j, d + j, ds + j, &c0));
		a1 = _mm512_add_ps(a1, q4_dot2(b + j + 2, x + 32 * j + 64, d + j + 2,
					       ds + j + 2, &c1));
	}
	for (; j + 2 <= nb; j += 2)
		a0 = _mm512_add_ps(a0, q4_dot2(b + j, x + 32 * j, d + j, ds + j, &c0));
	for (; j < nb; j++) {
		__m128i q = _mm_loadu_si128((const __m128i *)b[j].qs);
		__m256i v = _mm256_set_m128i(
			_mm_and_si128(_mm_srli_epi16(q, 4), _mm_set1_epi8(0x0f)),
			_mm_and_si128(q, _mm_set1_epi8(0x0f)));
		__m256i dot = _mm256_dpbusd_epi32(_mm256_setzero_si256(), v,
						  _mm256_loadu_si256((const __m256i *)(x + 32 * j)));
		float dw = _cvtsh_ss(b[j].d);
		s += hsum256(_mm256_cvtepi32_ps(dot)) * dw * d[j];
		c0 += dw * ds[j];
	}
	return s + _mm512_reduce_add_ps(_mm512_add_ps(a0, a1)) - 8.0f * (c0 + c1);
}

MV_FN(mv_q8_0, row_q8_0, int8_t, T512VNNI)
MV_FN(mv_q4_0, row_q4_0, int8_t, T512VNNI)

const engine__kern engine__kern_avx512[] = {
	{ ENGINE_TYPE_F32, ENGINE_ISA_AVX512, ENGINE_VEC_F32, 0, "f32/avx512", mv_f32 },
	{ ENGINE_TYPE_F16, ENGINE_ISA_AVX512, ENGINE_VEC_F32, 0, "f16/avx512", mv_f16 },
	{ ENGINE_TYPE_BF16, ENGINE_ISA_AVX512, ENGINE_VEC_BF16, ENGINE_CPU_BF16,
	  "bf16/avx512-dpbf16", mv_bf16dp },
	{ ENGINE_TYPE_BF16, ENGINE_ISA_AVX512, ENGINE_VEC_F32, 0, "bf16/avx512-fma", mv_bf16 },
	{ ENGINE_TYPE_Q8_0, ENGINE_ISA_AVX512, ENGINE_VEC_Q8, ENGINE_CPU_VNNI,
	  "q8_0/avx512-vnni", mv_q8_0 },
	{ ENGINE_TYPE_Q4_0, ENGINE_ISA_AVX512, ENGINE_VEC_Q8, ENGINE_CPU_VNNI,
	  "q4_0/avx512-vnni", mv_q4_0 },
};
const int engine__n_kern_avx512 =
	(int)(sizeof(engine__kern_avx512) / sizeof(engine__kern_avx512[0]));

/* ---- Element-wise ------------------------------------------------------- */

static inline __mmask16 tail16(int64_t left)
{
	return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
}

/* exp(x) with Cephes' polynomial (relative error about 2e-7); scalef
 * applies 2^n and handles underflow to 0 and overflow to inf. */
static inline T512 __m512 exp512(__m512 x)
{
	x = _mm512_max_ps(x, _mm512_set1_ps(-104.0f));
	x = _mm512_min_ps(x, _mm512_set1_ps(89.0f));
	__m512 n = _mm512_roundscale_ps(
		_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
		_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	__m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
	r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
	__m512 p = _mm512_set1_ps(1.9875691500E-4f);
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507E-3f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073E-3f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894E-2f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459E-1f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201E-1f));
	p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
	return _mm512_scalef_ps(p, n);
}

static T512 void v_gelu(float *x, int64_t n)
{
	/* 0.5 v (1 + tanh(u)) = v / (1 + exp(-2u)) */
	for (int64_t i = 0; i < n; i += 16) {
		__mmask16 m = tail16(n - i);
		__m512 v = _mm512_maskz_loadu_ps(m, x + i);
		__m512 v3 = _mm512_mul_ps(_mm512_mul_ps(v, v), v);
		__m512 u = _mm512_mul_ps(_mm512_set1_ps(0.7978845608f),
					 _mm512_fmadd_ps(v3, _mm512_set1_ps(0.044715f), v));
		__m512 e = exp512(_mm512_mul_ps(u, _mm512_set1_ps(-2.0f)));
		__m512 g = _mm512_div_ps(v, _mm512_add_ps(e, _mm512_set1_ps(1.0f)));
		_mm512_mask_storeu_ps(x + i, m, g);
	}
}

static T512 void v_softmax(float *x, int64_t n)
{
	__m512 mx = _mm512_set1_ps(-INFINITY);
	for (int64_t i = 0; i < n; i += 16)
		mx = _mm512_max_ps(mx, _mm512_mask_loadu_ps(
				       _mm512_set1_ps(-INFINITY), tail16(n - i), x + i));
	__m512 vmax = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
	__m512 sum = _mm512_setzero_ps();
	for (int64_t i = 0; i < n; i += 16) {
		__mmask16 m = tail16(n - i);
		__m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vmax));
		e = _mm512_maskz_mov_ps(m, e);
		sum = _mm512_add_ps(sum, e);
		_mm512_mask_storeu_ps(x + i, m, e);
	}
	__m512 inv = _mm512_set1_ps(1.0f / hsum512(sum));
	for (int64_t i = 0; i < n; i += 16) {
		__mmask16 m = tail16(n - i);
		_mm512_mask_storeu_ps(x + i, m,
				      _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), inv));
	}
}

static T512 float v_dot(const float *a, const float *b, int64_t n)
{
	return row_f32(a, n, b);
}

static T512 void v_axpy(float *y, float a, const float *x, int64_t n)
{
	__m512 va = _mm512_set1_ps(a);
	for (int64_t i = 0; i < n; i += 16) {
		__mmask16 m = tail16(n - i);
		__m512 r = _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + i),
					   _mm512_maskz_loadu_ps(m, y + i));
		_mm512_mask_storeu_ps(y + i, m, r);
	}
}

static T512 void v_add(float *x, const float *b, int64_t n)
{
	for (int64_t i = 0; i < n; i += 16) {
		__mmask16 m = tail16(n - i);
		_mm512_mask_storeu_ps(x + i, m,
				      _mm512_add_ps(_mm512_maskz_loadu_ps(m, x + i),
						    _mm512_maskz_loadu_ps(m, b + i)));
	}
}

static T512 void v_layernorm(float *y, const float *x, const float *w,
			     const float *b, int64_t n, float eps)
{
	__m512 s = _mm512_setzero_ps();
	for (int64_t i = 0; i < n; i += 16)
		s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(tail16(n - i), x + i));
	float mean = hsum512(s) / (float)n;
	__m512 vm = _mm512_set1_ps(mean);
	__m512 q = _mm512_setzero_ps();
	for (int64_t i = 0; i < n; i += 16) {
		__mmask16 m = tail16(n - i);
		__m512 d = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, x + i), vm);
		q = _mm512_fmadd_ps(d, d, q);
	}
	float inv = 1.0f / sqrtf(hsum512(q) / (float)n + eps);
	__m512 vi = _mm512_set1_ps(inv);
	for (int64_t i = 0; i < n; i += 16) {
		__mmask16 m = tail16(n - i);
		__m512 d = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vm), vi);
		__m512 r = _mm512_fmadd_ps(d, _mm512_maskz_loadu_ps(m, w + i),
					   _mm512_maskz_loadu_ps(m, b + i));
		_mm512_mask_storeu_ps(y + i, m, r);
	}
}

static T512 void v_bf16_to_f32(float *y, const uint16_t *x, int64_t n)
{
	for (int64_t i = 0; i < n; i += 16) {
		__mmask16 m = tail16(n - i);
		_mm512_mask_storeu_ps(y + i, m, ld_bf16(x, i, m));
	}
}

static T512 void v_f16_to_f32(float *y, const uint16_t *x, int64_t n)
{
	for (int64_t i = 0; i < n; i += 16) {
		__mmask16 m = tail16(n - i);
		_mm512_mask_storeu_ps(y + i, m, ld_f16(x, i, m));
	}
}

const engine__ops engine__ops_avx512 = {
	v_layernorm, v_gelu, v_softmax, v_dot, v_axpy, v_add,
	v_bf16_to_f32, v_f16_to_f32,
};
