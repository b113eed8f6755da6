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
#define T512VBMI __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma,f16c,avx512vnni,avx512vbmi")))
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

/* ---- Quantized weights x Q8H activations: four blocks per step ---------- */

/*
 * A group of four weight blocks is unpacked once into the Q8H order (lo:
 * elements 0-15 of each block, hi: 16-31, as unsigned bytes, and the 16
 * lane scales), with VPERMT2B gathering the bytes out of the 18- or 34-byte
 * blocks; every vector then adds two VPDPBUSD, a conversion and one FMA
 * (its accumulator starts from the Q8H sum correction, so the offset of
 * the unsigned weights costs nothing), and the scales are built per lane
 * with one permute instead of scalar work per block. Measured per CPU
 * second on one core of the development machine (Zen 4, k = 2048, rows in
 * memory, a loaded machine): Q4_0 one vector 12.6 -> 18.0 GB/s of
 * weights, eight vectors 24 -> 76 G products/s; Q8_0 one vector 21 -> 21
 * GB/s (memory-bound either way), eight vectors 27 -> 61 G products/s.
 */
#define INL inline __attribute__((always_inline))

/* VPERMT2B indices: byte b of a group, read from two 64-byte loads at
 * offsets t0 and t1 of the group (table 1 starts at index 64). */
#define PIDX(b, t1) ((b) < 64 ? (b) : 64 + (b) - (t1))
#define R16(M, o) M(o), M(o + 1), M(o + 2), M(o + 3), M(o + 4), M(o + 5),   \
		  M(o + 6), M(o + 7), M(o + 8), M(o + 9), M(o + 10), M(o + 11), \
		  M(o + 12), M(o + 13), M(o + 14), M(o + 15)
#define R64(M) R16(M, 0), R16(M, 16), R16(M, 32), R16(M, 48)
/* Q4_0 (18-byte blocks; loads at 0 and 8): output byte o is byte j = o % 16
 * of block o / 16's nibbles; output fp16 m is the d of block m / 4. */
#define Q4_QS(o) PIDX(18 * ((o) / 16) + 2 + (o) % 16, 8)
#define Q4_D(o) ((o) < 32 ? PIDX(18 * ((o) / 8) + (o) % 2, 8) : 0)
/* Q8_0 (34-byte blocks): lo halves and d from loads at 0 and 64 (index b),
 * hi halves from loads at 8 and 72 (index b - 8 from either). */
#define Q8_LO(o) (34 * ((o) / 16) + 2 + (o) % 16)
#define Q8_HI(o) (34 * ((o) / 16) + 18 + (o) % 16 - 8)
#define Q8_D(o) ((o) < 32 ? 34 * ((o) / 8) + (o) % 2 : 0)
static const uint8_t q4_idx_qs[64] = { R64(Q4_QS) };
static const uint8_t q4_idx_d[64] = { R64(Q4_D) };
static const uint8_t q8_idx_lo[64] = { R64(Q8_LO) };
static const uint8_t q8_idx_hi[64] = { R64(Q8_HI) };
static const uint8_t q8_idx_d[64] = { R64(Q8_D) };

/* The first n bits set (all 64 from n = 64 on; none for n <= 0). */
static inline uint64_t qh_mask(int n)
{
	return n <= 0 ? 0 : n >= 64 ? ~0ull : (1ull << n) - 1;
}

typedef struct qh_idx {
	__m512i a, b, c;   /* Q4_0: qs, d; Q8_0: lo, hi, d */
} qh_idx;

/* Unsigned weight bytes (lo, hi) and lane scales of one group; a partial
 * last group (nbt blocks < 4) is read with masks, its missing blocks as
 * zeros. */
static INL T512VBMI void q4h_unpack(const uint8_t *p, const qh_idx *ix, int nbt,
				    __m512i *lo, __m512i *hi, __m512 *sw)
{
	__m512i a, b;
	if (nbt == 4) {
		a = _mm512_loadu_si512(p);
		b = _mm512_loadu_si512(p + 8);
	} else {
		int n = 18 * nbt;
		a = _mm512_maskz_loadu_epi8(qh_mask(n), p);
		b = _mm512_maskz_loadu_epi8(qh_mask(n - 8), p + 8);
	}
	__m512i q = _mm512_permutex2var_epi8(a, ix->a, b), m4 = _mm512_set1_epi8(0x0f);
	*lo = _mm512_and_si512(q, m4);
	*hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
	*sw = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutex2var_epi8(a, ix->b, b)));
}

static INL T512VBMI void q8h_unpack(const uint8_t *p, const qh_idx *ix, int nbt,
				    __m512i *lo, __m512i *hi, __m512 *sw)
{
	__m512i a, b, c, d;
	if (nbt == 4) {
		a = _mm512_loadu_si512(p);
		b = _mm512_loadu_si512(p + 64);
		c = _mm512_loadu_si512(p + 8);
		d = _mm512_loadu_si512(p + 72);
	} else {
		int n = 34 * nbt;
		a = _mm512_maskz_loadu_epi8(qh_mask(n), p);
		b = _mm512_maskz_loadu_epi8(qh_mask(n - 64), p + 64);
		c = _mm512_maskz_loadu_epi8(qh_mask(n - 8), p + 8);
		d = _mm512_maskz_loadu_epi8(qh_mask(n - 72), p + 72);
	}
	__m512i flip = _mm512_set1_epi8((char)0x80);
	*lo = _mm512_xor_si512(_mm512_permutex2var_epi8(a, ix->a, b), flip);
	*hi = _mm512_xor_si512(_mm512_permutex2var_epi8(c, ix->b, d), flip);
	*sw = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutex2var_epi8(a, ix->c, b)));
}

/*
 * y[j * ys + r + i] = row r + i . vector j for i < R, j < NX (constants
 * once inlined). Q8 selects Q8_0 (34-byte blocks, weights + 128, the
 * correction times 16) or Q4_0 (18-byte blocks, nibbles + 0).
 */
static INL T512VBMI void qh_rows(const char *w, size_t ws, int64_t k,
				 const char *x, size_t xs, float *y, size_t ys,
				 int64_t r, const qh_idx *ix, const int Q8,
				 const int R, const int NX)
{
	const size_t gb = Q8 ? 4 * sizeof(engine_block_q8_0) : 4 * sizeof(engine_block_q4_0);
	int64_t nb = k / 32;
	__m512 acc[2][8];
#pragma GCC unroll 2
	for (int i = 0; i < R; i++)
#pragma GCC unroll 8
		for (int j = 0; j < NX; j++)
			acc[i][j] = _mm512_setzero_ps();
	for (int64_t g = 0; g * 4 < nb; g++) {
		int nbt = nb - g * 4 >= 4 ? 4 : (int)(nb - g * 4);
		__m512i lo[2], hi[2];
		__m512 sw[2];
#pragma GCC unroll 2
		for (int i = 0; i < R; i++) {
			const uint8_t *p = (const uint8_t *)w + (size_t)(r + i) * ws + (size_t)g * gb;
			/* The same place R rows on, which the next call reads:
			 * short row streams (R of them at once) are more than
			 * the hardware prefetcher starts on its own in time
			 * (measured: four vectors over rows in memory, 40 ->
			 * 79 G products per CPU second). */
			_mm_prefetch((const char *)p + R * ws, _MM_HINT_T0);
			_mm_prefetch((const char *)p + R * ws + 64, _MM_HINT_T0);
			if (Q8)
				q8h_unpack(p, ix, nbt, &lo[i], &hi[i], &sw[i]);
			else
				q4h_unpack(p, ix, nbt, &lo[i], &hi[i], &sw[i]);
		}
#pragma GCC unroll 8
		for (int j = 0; j < NX; j++) {
			const char *xg = x + (size_t)j * xs + (size_t)g * ENGINE_Q8H_GROUP_BYTES;
			__m512i xl, xh, c0;
			__m512 dx;
			if (nbt == 4) {
				xl = _mm512_loadu_si512(xg);
				xh = _mm512_loadu_si512(xg + 64);
				dx = _mm512_loadu_ps((const float *)(xg + 128));
				c0 = _mm512_loadu_si512(xg + 192);
			} else { /* a short last group: see ENGINE_VEC_Q8H */
				__mmask64 mb = qh_mask(16 * nbt);
				__mmask16 ml = (__mmask16)qh_mask(4 * nbt);
				xl = _mm512_maskz_loadu_epi8(mb, xg);
				xh = _mm512_maskz_loadu_epi8(mb, xg + 16 * nbt);
				dx = _mm512_maskz_loadu_ps(ml, xg + 32 * nbt);
				c0 = _mm512_maskz_loadu_epi32(ml, xg + 48 * nbt);
			}
			if (Q8)
				c0 = _mm512_slli_epi32(c0, 4);
#pragma GCC unroll 2
			for (int i = 0; i < R; i++) {
				__m512i dot = _mm512_dpbusd_epi32(c0, lo[i], xl);
				dot = _mm512_dpbusd_epi32(dot, hi[i], xh);
				acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot),
							    _mm512_mul_ps(sw[i], dx), acc[i][j]);
			}
		}
	}
#pragma GCC unroll 2
	for (int i = 0; i < R; i++)
#pragma GCC unroll 8
		for (int j = 0; j < NX; j++)
			y[(size_t)j * ys + (size_t)(r + i)] = _mm512_reduce_add_ps(acc[i][j]);
}

/* One instance per (type, rows, vectors) so that every loop above is
 * unrolled with its accumulators in registers. */
#define QH_FN(NAME, Q8, R, NX)                                                \
	static T512VBMI void NAME(const char *w, size_t ws, int64_t k,        \
				  const char *x, size_t xs, float *y, size_t ys, \
				  int64_t r, const qh_idx *ix)                 \
	{                                                                     \
		qh_rows(w, ws, k, x, xs, y, ys, r, ix, Q8, R, NX);             \
	}
typedef void (*qh_fn)(const char *w, size_t ws, int64_t k, const char *x,
		      size_t xs, float *y, size_t ys, int64_t r, const qh_idx *ix);
QH_FN(q4h_1x1, 0, 1, 1)
QH_FN(q4h_2x2, 0, 2, 2)
QH_FN(q4h_2x4, 0, 2, 4)
QH_FN(q4h_1x8, 0, 1, 8)
QH_FN(q8h_1x1, 1, 1, 1)
QH_FN(q8h_2x2, 1, 2, 2)
QH_FN(q8h_2x4, 1, 2, 4)
QH_FN(q8h_1x8, 1, 1, 8)

/*
 * fns[0..3]: 1, 2, 4, 8 vectors at a time (rows 1, 2, 2, 1 at a time;
 * measured per CPU second on this development machine, Zen 4: one vector
 * over rows in memory streams best one row after the other, and sixteen
 * accumulators spill); one1: a single row for one vector. Vectors are
 * taken in the largest chunks that fit, and each chunk runs over the rows
 * (a matmul unit of rows is ~32 KiB: it is still in cache for the next
 * chunk of vectors).
 */
static INL T512VBMI void qh_mv(const qh_fn fns[4], qh_fn one1, const void *w,
			       size_t ws, int64_t k, const void *x, size_t xs,
			       int n_x, float *y, size_t ys, int64_t r0, int64_t r1,
			       const qh_idx *ix)
{
	static const int sizes[4] = { 1, 2, 4, 8 }, rows[4] = { 1, 2, 2, 1 };
	for (int j = 0; j < n_x;) {
		int c = 3;
		while (sizes[c] > n_x - j)
			c--;
		const char *xj = (const char *)x + (size_t)j * xs;
		float *yj = y + (size_t)j * ys;
		int64_t r = r0;
		for (; r + rows[c] <= r1; r += rows[c])
			fns[c](w, ws, k, xj, xs, yj, ys, r, ix);
		for (; r < r1; r++) {
			if (c == 0)
				one1(w, ws, k, xj, xs, yj, ys, r, ix);
			else /* a row or so left over: one vector at a time */
				for (int v = 0; v < sizes[c]; v++)
					one1(w, ws, k, xj + (size_t)v * xs, xs,
					     yj + (size_t)v * ys, ys, r, ix);
		}
		j += sizes[c];
	}
}

static T512VBMI void mv_q4_0h(const void *w, size_t ws, int64_t k, const void *x,
			      size_t xs, int n_x, float *y, size_t ys, int64_t r0,
			      int64_t r1)
{
	static const qh_fn fns[4] = { q4h_1x1, q4h_2x2, q4h_2x4, q4h_1x8 };
	qh_idx ix = { _mm512_loadu_si512(q4_idx_qs), _mm512_loadu_si512(q4_idx_d),
		      _mm512_setzero_si512() };
	qh_mv(fns, q4h_1x1, w, ws, k, x, xs, n_x, y, ys, r0, r1, &ix);
}

static T512VBMI void mv_q8_0h(const void *w, size_t ws, int64_t k, const void *x,
			      size_t xs, int n_x, float *y, size_t ys, int64_t r0,
			      int64_t r1)
{
	static const qh_fn fns[4] = { q8h_1x1, q8h_2x2, q8h_2x4, q8h_1x8 };
	qh_idx ix = { _mm512_loadu_si512(q8_idx_lo), _mm512_loadu_si512(q8_idx_hi),
		      _mm512_loadu_si512(q8_idx_d) };
	qh_mv(fns, q8h_1x1, w, ws, k, x, xs, n_x, y, ys, r0, r1, &ix);
}

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
	/* last for their types, so the ones used where the CPU has them */
	{ ENGINE_TYPE_Q8_0, ENGINE_ISA_AVX512, ENGINE_VEC_Q8H, ENGINE_CPU_VNNI | ENGINE_CPU_VBMI,
	  "q8_0/avx512-vbmi-4b", mv_q8_0h },
	{ ENGINE_TYPE_Q4_0, ENGINE_ISA_AVX512, ENGINE_VEC_Q8H, ENGINE_CPU_VNNI | ENGINE_CPU_VBMI,
	  "q4_0/avx512-vbmi-4b", mv_q4_0h },
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
