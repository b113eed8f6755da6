/*
 * kernels-avx2.c: AVX2 + FMA + F16C kernels. Every function carries its
 * own target attribute, so this file is compiled for plain x86-64 and only
 * called when kernels.c has checked the CPU. Float kernels finish the last
 * k % 8 elements with scalar code.
 */
#include <immintrin.h>
#include <math.h>

#include "kernels.h"

#define T2 __attribute__((target("avx2,fma,f16c")))

static inline T2 float hsum256(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v),
			      _mm256_extractf128_ps(v, 1));
	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

/* ---- Float weights ----------------------------------------------------- */

static inline T2 __m256 ld_f32(const void *w, int64_t i)
{
	return _mm256_loadu_ps((const float *)w + i);
}

static inline T2 __m256 ld_f16(const void *w, int64_t i)
{
	return _mm256_cvtph_ps(_mm_loadu_si128(
		(const __m128i *)((const uint16_t *)w + i)));
}

static inline T2 __m256 ld_bf16(const void *w, int64_t i)
{
	__m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)w + i));
	return _mm256_castsi256_ps(
		_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

static inline float sc_f32(const void *w, int64_t i)
{
	return ((const float *)w)[i];
}

static inline T2 float sc_f16(const void *w, int64_t i)
{
	return _cvtsh_ss(((const uint16_t *)w)[i]);
}

static inline float sc_bf16(const void *w, int64_t i)
{
	return engine__bf16_to_f32(((const uint16_t *)w)[i]);
}

#define FLOAT_ROW(NAME, LOAD, SC)                                            \
	static inline T2 float NAME(const void *w, int64_t k, const float *x) \
	{                                                                    \
		__m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();   \
		__m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();   \
		int64_t i = 0;                                               \
		for (; i + 32 <= k; i += 32) {                               \
			a0 = _mm256_fmadd_ps(LOAD(w, i), _mm256_loadu_ps(x + i), a0); \
			a1 = _mm256_fmadd_ps(LOAD(w, i + 8), _mm256_loadu_ps(x + i + 8), a1); \
			a2 = _mm256_fmadd_ps(LOAD(w, i + 16), _mm256_loadu_ps(x + i + 16), a2); \
			a3 = _mm256_fmadd_ps(LOAD(w, i + 24), _mm256_loadu_ps(x + i + 24), a3); \
		}                                                            \
		for (; i + 8 <= k; i += 8)                                   \
			a0 = _mm256_fmadd_ps(LOAD(w, i), _mm256_loadu_ps(x + i), a0); \
		float s = hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1),       \
						_mm256_add_ps(a2, a3)));     \
		for (; i < k; i++)                                           \
			s += SC(w, i) * x[i];                                \
		return s;                                                    \
	}

FLOAT_ROW(row_f32, ld_f32, sc_f32)
FLOAT_ROW(row_f16, ld_f16, sc_f16)
FLOAT_ROW(row_bf16, ld_bf16, sc_bf16)

#define MV_FN(NAME, ROW, XT)                                                  \
	static T2 void NAME(const void *w, size_t w_stride, int64_t k,        \
			    const void *x, size_t x_stride, int n_x,          \
			    float *y, size_t y_stride, int64_t r0, int64_t r1) \
	{                                                                     \
		for (int64_t r = r0; r < r1; r++) {                           \
			const char *wr = (const char *)w + (size_t)r * w_stride; \
			for (int j = 0; j < n_x; j++)                         \
				y[(size_t)j * y_stride + (size_t)r] = ROW(    \
					wr, k,                                \
					(const XT *)((const char *)x +        \
						     (size_t)j * x_stride));  \
		}                                                             \
	}

MV_FN(mv_f32, row_f32, float)
MV_FN(mv_f16, row_f16, float)
MV_FN(mv_bf16, row_bf16, float)

/* ---- Quantized weights x Q8 activations -------------------------------- */

/* Sum of products of 32 signed bytes in 8 lanes: maddubs wants unsigned x
 * signed, so the sign of w moves onto a (|w| <= 127 keeps the int16 pair
 * sums from saturating). */
static inline T2 __m256 mul_sum_i8(__m256i w, __m256i a)
{
	__m256i aw = _mm256_sign_epi8(w, w);
	__m256i sa = _mm256_sign_epi8(a, w);
	__m256i p16 = _mm256_maddubs_epi16(aw, sa);
	__m256i p32 = _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
	return _mm256_cvtepi32_ps(p32);
}

static inline T2 float row_q8_0(const void *w, int64_t k, const int8_t *x)
{
	const engine_block_q8_0 *b = w;
	const float *d = engine__q8_d(x, k);
	__m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
	int64_t nb = k / 32, j = 0;
	for (; j + 2 <= nb; j += 2) {
		__m256 p0 = mul_sum_i8(_mm256_loadu_si256((const __m256i *)b[j].qs),
				       _mm256_loadu_si256((const __m256i *)(x + 32 * j)));
		__m256 p1 = mul_sum_i8(_mm256_loadu_si256((const __m256i *)b[j + 1].qs),
				       _mm256_loadu_si256((const __m256i *)(x + 32 * j + 32)));
		a0 = _mm256_fmadd_ps(p0, _mm256_set1_ps(_cvtsh_ss(b[j].d) * d[j]), a0);
		a1 = _mm256_fmadd_ps(p1, _mm256_set1_ps(_cvtsh_ss(b[j + 1].d) * d[j + 1]), a1);
	}
	for (; j < nb; j++) {
		__m256 p0 = mul_sum_i8(_mm256_loadu_si256((const __m256i *)b[j].qs),
				       _mm256_loadu_si256((const __m256i *)(x + 32 * j)));
		a0 = _mm256_fmadd_ps(p0, _mm256_set1_ps(_cvtsh_ss(b[j].d) * d[j]), a0);
	}
	return hsum256(_mm256_add_ps(a0, a1));
}

/* Q4_0: the raw nibbles (0..15) times a, minus 8 * sum(a) afterwards
 * (dsum), which saves re-centring the weights; 15 * 127 * 2 cannot
 * saturate maddubs. */
static inline T2 float row_q4_0(const void *w, int64_t k, const int8_t *x)
{
	const engine_block_q4_0 *b = w;
	const float *d = engine__q8_d(x, k), *ds = engine__q8_dsum(x, k);
	__m256 acc = _mm256_setzero_ps();
	float corr = 0.0f;
	for (int64_t j = 0; j < k / 32; j++) {
		__m128i q = _mm_loadu_si128((const __m128i *)b[j].qs);
		__m128i lo = _mm_and_si128(q, _mm_set1_epi8(0x0f));
		__m128i hi = _mm_and_si128(_mm_srli_epi16(q, 4), _mm_set1_epi8(0x0f));
		__m256i p16 = _mm256_maddubs_epi16(_mm256_set_m128i(hi, lo),
						   _mm256_loadu_si256((const __m256i *)(x + 32 * j)));
		__m256 p = _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
		float dw = _cvtsh_ss(b[j].d);
		acc = _mm256_fmadd_ps(p, _mm256_set1_ps(dw * d[j]), acc);
		corr += dw * ds[j];
	}
	return hsum256(acc) - 8.0f * corr;
}

MV_FN(mv_q8_0, row_q8_0, int8_t)
MV_FN(mv_q4_0, row_q4_0, int8_t)

const engine__kern engine__kern_avx2[] = {
	{ ENGINE_TYPE_F32, ENGINE_ISA_AVX2, ENGINE_VEC_F32, 0, "f32/avx2", mv_f32 },
	{ ENGINE_TYPE_F16, ENGINE_ISA_AVX2, ENGINE_VEC_F32, 0, "f16/avx2", mv_f16 },
	{ ENGINE_TYPE_BF16, ENGINE_ISA_AVX2, ENGINE_VEC_F32, 0, "bf16/avx2", mv_bf16 },
	{ ENGINE_TYPE_Q8_0, ENGINE_ISA_AVX2, ENGINE_VEC_Q8, 0, "q8_0/avx2", mv_q8_0 },
	{ ENGINE_TYPE_Q4_0, ENGINE_ISA_AVX2, ENGINE_VEC_Q8, 0, "q4_0/avx2", mv_q4_0 },
};
const int engine__n_kern_avx2 =
	(int)(sizeof(engine__kern_avx2) / sizeof(engine__kern_avx2[0]));

/* ---- Element-wise ------------------------------------------------------- */

/* exp(x), Cephes polynomial; 2^n built in the exponent bits. */
static inline T2 __m256 exp256(__m256 x)
{
	x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
	x = _mm256_min_ps(x, _mm256_set1_ps(88.0f));
	__m256 n = _mm256_round_ps(
		_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
		_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	__m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
	r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
	__m256 p = _mm256_set1_ps(1.9875691500E-4f);
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507E-3f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073E-3f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894E-2f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459E-1f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201E-1f));
	p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
	__m256i e = _mm256_slli_epi32(
		_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
	return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

static T2 void v_gelu(float *x, int64_t n)
{
	int64_t i = 0;
	for (; i + 8 <= n; i += 8) {
		__m256 v = _mm256_loadu_ps(x + i);
		__m256 v3 = _mm256_mul_ps(_mm256_mul_ps(v, v), v);
		__m256 u = _mm256_mul_ps(_mm256_set1_ps(0.7978845608f),
					 _mm256_fmadd_ps(v3, _mm256_set1_ps(0.044715f), v));
		__m256 e = exp256(_mm256_mul_ps(u, _mm256_set1_ps(-2.0f)));
		_mm256_storeu_ps(x + i, _mm256_div_ps(v, _mm256_add_ps(e, _mm256_set1_ps(1.0f))));
	}
	for (; i < n; i++) {
		float v = x[i];
		x[i] = 0.5f * v * (1.0f + tanhf(0.7978845608f * (v + 0.044715f * v * v * v)));
	}
}

static T2 void v_softmax(float *x, int64_t n)
{
	float mx = -INFINITY;
	for (int64_t i = 0; i < n; i++)
		mx = fmaxf(mx, x[i]);
	__m256 vmax = _mm256_set1_ps(mx), sum = _mm256_setzero_ps();
	int64_t i = 0;
	for (; i + 8 <= n; i += 8) {
		__m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmax));
		sum = _mm256_add_ps(sum, e);
		_mm256_storeu_ps(x + i, e);
	}
	float s = hsum256(sum);
	for (; i < n; i++) {
		x[i] = expf(x[i] - mx);
		s += x[i];
	}
	float inv = 1.0f / s;
	for (i = 0; i < n; i++)
		x[i] *= inv;
}

static T2 float v_dot(const float *a, const float *b, int64_t n)
{
	return row_f32(a, n, b);
}

static T2 void v_axpy(float *y, float a, const float *x, int64_t n)
{
	__m256 va = _mm256_set1_ps(a);
	int64_t i = 0;
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i),
							_mm256_loadu_ps(y + i)));
	for (; i < n; i++)
		y[i] += a * x[i];
}

static T2 void v_add(float *x, const float *b, int64_t n)
{
	int64_t i = 0;
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(x + i, _mm256_add_ps(_mm256_loadu_ps(x + i),
						      _mm256_loadu_ps(b + i)));
	for (; i < n; i++)
		x[i] += b[i];
}

static T2 void v_layernorm(float *y, const float *x, const float *w,
			   const float *b, int64_t n, float eps)
{
	float mean = 0.0f, var = 0.0f;
	{
		__m256 s = _mm256_setzero_ps();
		int64_t i = 0;
		for (; i + 8 <= n; i += 8)
			s = _mm256_add_ps(s, _mm256_loadu_ps(x + i));
		mean = hsum256(s);
		for (; i < n; i++)
			mean += x[i];
		mean /= (float)n;
	}
	__m256 vm = _mm256_set1_ps(mean), q = _mm256_setzero_ps();
	int64_t i = 0;
	for (; i + 8 <= n; i += 8) {
		__m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + i), vm);
		q = _mm256_fmadd_ps(d, d, q);
	}
	var = hsum256(q);
	for (; i < n; i++)
		var += (x[i] - mean) * (x[i] - mean);
	float inv = 1.0f / sqrtf(var / (float)n + eps);
	__m256 vi = _mm256_set1_ps(inv);
	for (i = 0; i + 8 <= n; i += 8) {
		__m256 d = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm), vi);
		_mm256_storeu_ps(y + i, _mm256_fmadd_ps(d, _mm256_loadu_ps(w + i),
							_mm256_loadu_ps(b + i)));
	}
	for (; i < n; i++)
		y[i] = (x[i] - mean) * inv * w[i] + b[i];
}

static T2 void v_bf16_to_f32(float *y, const uint16_t *x, int64_t n)
{
	int64_t i = 0;
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(y + i, ld_bf16(x, i));
	for (; i < n; i++)
		y[i] = sc_bf16(x, i);
}

static T2 void v_f16_to_f32(float *y, const uint16_t *x, int64_t n)
{
	int64_t i = 0;
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(y + i, ld_f16(x, i));
	for (; i < n; i++)
		y[i] = sc_f16(x, i);
}

const engine__ops engine__ops_avx2 = {
	v_layernorm, v_gelu, v_softmax, v_dot, v_axpy, v_add,
	v_bf16_to_f32, v_f16_to_f32,
};
