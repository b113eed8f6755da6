/*
 * types.c: the GGML tensor types the loader may meet (sizes of every block
 * layout, so that a file with a type the engine does not compute with is
 * refused as "unsupported" instead of misparsed), half-precision
 * conversions, and row conversion to and from f32 for the types the engine
 * computes with. The Q8_0 and Q4_0 quantizers reproduce llama.cpp's
 * reference quantizers bit for bit, so files written here and there agree;
 * the K-quants (Q4_K, Q6_K) are in quant-k.c.
 */
#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#endif
#include <assert.h>
#include <math.h>
#include <string.h>

#include "engine-impl.h"

/* Block sizes and bytes as in ggml's type_traits (QK_K = 256). */
static const engine_type_traits types[ENGINE_TYPE_COUNT_] = {
	[ENGINE_TYPE_F32] = { "f32", 1, 4, true },
	[ENGINE_TYPE_F16] = { "f16", 1, 2, true },
	[ENGINE_TYPE_Q4_0] = { "q4_0", 32, 18, true },
	[ENGINE_TYPE_Q4_1] = { "q4_1", 32, 20, false },
	[ENGINE_TYPE_Q5_0] = { "q5_0", 32, 22, false },
	[ENGINE_TYPE_Q5_1] = { "q5_1", 32, 24, false },
	[ENGINE_TYPE_Q8_0] = { "q8_0", 32, 34, true },
	[ENGINE_TYPE_Q8_1] = { "q8_1", 32, 36, false },
	[ENGINE_TYPE_Q2_K] = { "q2_k", 256, 84, false },
	[ENGINE_TYPE_Q3_K] = { "q3_k", 256, 110, false },
	[ENGINE_TYPE_Q4_K] = { "q4_k", 256, 144, true },
	[ENGINE_TYPE_Q5_K] = { "q5_k", 256, 176, false },
	[ENGINE_TYPE_Q6_K] = { "q6_k", 256, 210, true },
	[ENGINE_TYPE_Q8_K] = { "q8_k", 256, 292, false },
	[16] = { "iq2_xxs", 256, 66, false },
	[17] = { "iq2_xs", 256, 74, false },
	[18] = { "iq3_xxs", 256, 98, false },
	[19] = { "iq1_s", 256, 50, false },
	[20] = { "iq4_nl", 32, 18, false },
	[21] = { "iq3_s", 256, 110, false },
	[22] = { "iq2_s", 256, 82, false },
	[23] = { "iq4_xs", 256, 136, false },
	[24] = { "i8", 1, 1, false },
	[25] = { "i16", 1, 2, false },
	[26] = { "i32", 1, 4, false },
	[27] = { "i64", 1, 8, false },
	[28] = { "f64", 1, 8, false },
	[29] = { "iq1_m", 256, 56, false },
	[ENGINE_TYPE_BF16] = { "bf16", 1, 2, true },
	[34] = { "tq1_0", 256, 54, false },
	[35] = { "tq2_0", 256, 66, false },
	[39] = { "mxfp4", 32, 17, false },
};

const engine_type_traits *engine__type(int type)
{
	if (type < 0 || type >= ENGINE_TYPE_COUNT_ || !types[type].name)
		return NULL;
	return &types[type];
}

size_t engine__row_bytes(int type, int64_t n)
{
	const engine_type_traits *t = engine__type(type);
	size_t bytes;

	if (!t || n < 0 || n % t->block)
		return 0;
	if (pt_mul_size((size_t)(n / t->block), (size_t)t->block_bytes, &bytes))
		return 0;
	return bytes;
}

int engine_type_from_name(const char *name)
{
	static const int user_types[] = { ENGINE_TYPE_F32, ENGINE_TYPE_F16,
		ENGINE_TYPE_BF16, ENGINE_TYPE_Q8_0, ENGINE_TYPE_Q4_0,
		ENGINE_TYPE_Q4_K, ENGINE_TYPE_Q6_K };

	if (!name)
		return -1;
	for (size_t i = 0; i < sizeof(user_types) / sizeof(user_types[0]); i++)
		if (strcmp(name, types[user_types[i]].name) == 0)
			return user_types[i];
	return -1;
}

const char *engine_type_name(int type)
{
	const engine_type_traits *t = engine__type(type);

	return t ? t->name : "unknown";
}

/* ---- Half precision ------------------------------------------------------ */

static inline uint32_t f32_bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	return u;
}

static inline float bits_f32(uint32_t u)
{
	float f;

	memcpy(&f, &u, 4);
	return f;
}

/* Branch-free so that row loops vectorize: normal halves (and inf/nan,
 * whose exponent moves on to 255) are a shift and an exponent rebias;
 * subnormals are 0.5 + m * 2^-24 built in the mantissa of 0.5, minus 0.5,
 * which is exact. */
static inline float half_to_float(engine_fp16 h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t em = h & 0x7fffu;
	uint32_t norm = (em << 13) + (112u << 23) + (em >= 0x7c00u ? 112u << 23 : 0);
	uint32_t sub = f32_bits(bits_f32(em | (126u << 23)) - 0.5f);

	return bits_f32(sign | (em < 0x0400u ? sub : norm));
}

float engine__fp16_to_f32(engine_fp16 h)
{
	return half_to_float(h);
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/* The F16C instruction converts 8 halves at once, exactly. */
__attribute__((target("avx,f16c")))
static void f16_row_f16c(const engine_fp16 *h, float *y, int64_t n)
{
	int64_t i = 0;

	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))));
	for (; i < n; i++)
		y[i] = half_to_float(h[i]);
}
#endif

/*
 * F16C, asked of CPUID directly: clang 14's __builtin_cpu_supports does not
 * know the name "f16c". F16C instructions use the AVX register state, so the
 * OS must have enabled it (OSXSAVE, and XCR0 bits 1 and 2).
 */
int engine__cpu_f16c(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
	static int known = -1;
	unsigned a, b, c, d, lo, hi;

	if (known >= 0)
		return known;
	known = 0;
	if (__get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29)) && (c & (1u << 27))) {
		__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
		known = (lo & 6u) == 6u;
	}
	return known;
#else
	return 0;
#endif
}

static void f16_row(const engine_fp16 *h, float *y, int64_t n)
{
#if defined(__x86_64__) && defined(__GNUC__)
	if (engine__cpu_f16c())
		return f16_row_f16c(h, y, n);
#endif
	for (int64_t i = 0; i < n; i++)
		y[i] = half_to_float(h[i]);
}

engine_fp16 engine__f32_to_fp16(float f)
{
	uint32_t u = f32_bits(f);
	uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
	uint32_t a = u & 0x7fffffffu;

	if (a > 0x7f800000u) /* nan: a quiet nan keeping the top payload bits */
		return (engine_fp16)(sign | 0x7e00 | ((a >> 13) & 0x3ff));
	if (a >= 0x477ff000u) /* rounds to 65536 or more: inf */
		return (engine_fp16)(sign | 0x7c00);
	if (a < 0x38800000u) {
		/* Below the smallest normal half (2^-14): the result is a
		 * multiple of 2^-24. Adding 0.5 makes the FPU round the
		 * mantissa at that position, to nearest even. */
		float v = bits_f32(a) + 0.5f;
		return (engine_fp16)(sign | (uint16_t)(f32_bits(v) - 0x3f000000u));
	}
	/* Normal: rebias the exponent and round the 13 dropped bits to
	 * nearest even; a carry into the exponent is what we want. */
	uint32_t odd = (a >> 13) & 1;
	a += 0xc8000fffu + odd; /* (15 - 127) << 23, plus rounding */
	return (engine_fp16)(sign | (uint16_t)(a >> 13));
}

engine_bf16 engine__f32_to_bf16(float f)
{
	uint32_t u = f32_bits(f);

	uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1)) >> 16;
	uint32_t quiet_nan = (u >> 16) | 0x40;

	/* A select rather than an early return keeps row loops vectorized. */
	return (engine_bf16)((u & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded);
}

/* ---- Rows ---------------------------------------------------------------- */

static void dequant_q8_0(const engine_block_q8_0 *b, float *y, int64_t n)
{
	for (int64_t i = 0; i < n / ENGINE_QK8_0; i++) {
		float d = engine__fp16_to_f32(b[i].d);
		for (int j = 0; j < ENGINE_QK8_0; j++)
			y[i * ENGINE_QK8_0 + j] = b[i].qs[j] * d;
	}
}

static void dequant_q4_0(const engine_block_q4_0 *b, float *y, int64_t n)
{
	for (int64_t i = 0; i < n / ENGINE_QK4_0; i++) {
		float d = engine__fp16_to_f32(b[i].d);
		float *o = y + i * ENGINE_QK4_0;
		for (int j = 0; j < ENGINE_QK4_0 / 2; j++) {
			o[j] = ((b[i].qs[j] & 0x0f) - 8) * d;
			o[j + ENGINE_QK4_0 / 2] = ((b[i].qs[j] >> 4) - 8) * d;
		}
	}
}

void engine__dequant_row(int type, const void *src, float *dst, int64_t n)
{
	switch (type) {
	case ENGINE_TYPE_F32:
		memcpy(dst, src, (size_t)n * sizeof(float));
		break;
	case ENGINE_TYPE_F16:
		f16_row(src, dst, n);
		break;
	case ENGINE_TYPE_BF16: {
		const engine_bf16 *h = src;
		for (int64_t i = 0; i < n; i++)
			dst[i] = engine__bf16_to_f32(h[i]);
		break;
	}
	case ENGINE_TYPE_Q8_0:
		assert(n % ENGINE_QK8_0 == 0);
		dequant_q8_0(src, dst, n);
		break;
	case ENGINE_TYPE_Q4_0:
		assert(n % ENGINE_QK4_0 == 0);
		dequant_q4_0(src, dst, n);
		break;
	case ENGINE_TYPE_Q4_K:
		assert(n % ENGINE_QK_K == 0);
		engine__dequant_q4_K(src, dst, n);
		break;
	case ENGINE_TYPE_Q6_K:
		assert(n % ENGINE_QK_K == 0);
		engine__dequant_q6_K(src, dst, n);
		break;
	default:
		assert(!"engine__dequant_row: unsupported type");
	}
}

/* roundf (halves away from zero) for |v| < 2^31, without a libm call so
 * the loop vectorizes: a - trunc(a) is exact for such values. */
static inline int round_away(float v)
{
	float a = fabsf(v);
	int i = (int)a;

	i += (a - (float)i) >= 0.5f;
	return v < 0.0f ? -i : i;
}

/* As llama.cpp's quantize_row_q8_0_ref: d = amax / 127, q = round(x / d)
 * computed as x * (1 / d), rounding halves away from zero. */
static void quant_q8_0(const float *x, engine_block_q8_0 *b, int64_t n)
{
	for (int64_t i = 0; i < n / ENGINE_QK8_0; i++) {
		const float *xb = x + i * ENGINE_QK8_0;
		float amax = 0.0f;
		for (int j = 0; j < ENGINE_QK8_0; j++)
			amax = fmaxf(amax, fabsf(xb[j]));
		float d = amax / 127.0f;
		float id = d != 0.0f ? 1.0f / d : 0.0f;
		b[i].d = engine__f32_to_fp16(d);
		for (int j = 0; j < ENGINE_QK8_0; j++)
			b[i].qs[j] = (int8_t)round_away(xb[j] * id);
	}
}

/* As llama.cpp's quantize_row_q4_0_ref: d = max / -8 where max is the
 * element of largest magnitude (first one on ties) with its sign, so that
 * it maps exactly to nibble 0; q = min(15, (int8)(x / d + 8.5)). */
static void quant_q4_0(const float *x, engine_block_q4_0 *b, int64_t n)
{
	const int half = ENGINE_QK4_0 / 2;

	for (int64_t i = 0; i < n / ENGINE_QK4_0; i++) {
		const float *xb = x + i * ENGINE_QK4_0;
		float amax = 0.0f, max = 0.0f;
		for (int j = 0; j < ENGINE_QK4_0; j++) {
			if (amax < fabsf(xb[j])) {
				amax = fabsf(xb[j]);
				max = xb[j];
			}
		}
		float d = max / -8.0f;
		float id = d != 0.0f ? 1.0f / d : 0.0f;
		b[i].d = engine__f32_to_fp16(d);
		for (int j = 0; j < half; j++) {
			int8_t q0 = (int8_t)(xb[j] * id + 8.5f);
			int8_t q1 = (int8_t)(xb[j + half] * id + 8.5f);
			if (q0 > 15)
				q0 = 15;
			if (q1 > 15)
				q1 = 15;
			b[i].qs[j] = (uint8_t)((uint8_t)q0 | ((uint8_t)q1 << 4));
		}
	}
}

void engine__quant_row(int type, const float *src, void *dst, int64_t n)
{
	switch (type) {
	case ENGINE_TYPE_F32:
		memcpy(dst, src, (size_t)n * sizeof(float));
		break;
	case ENGINE_TYPE_F16: {
		engine_fp16 *h = dst;
		for (int64_t i = 0; i < n; i++)
			h[i] = engine__f32_to_fp16(src[i]);
		break;
	}
	case ENGINE_TYPE_BF16: {
		engine_bf16 *h = dst;
		for (int64_t i = 0; i < n; i++)
			h[i] = engine__f32_to_bf16(src[i]);
		break;
	}
	case ENGINE_TYPE_Q8_0:
		assert(n % ENGINE_QK8_0 == 0);
		quant_q8_0(src, dst, n);
		break;
	case ENGINE_TYPE_Q4_0:
		assert(n % ENGINE_QK4_0 == 0);
		quant_q4_0(src, dst, n);
		break;
	case ENGINE_TYPE_Q4_K:
		assert(n % ENGINE_QK_K == 0);
		engine__quant_q4_K(src, dst, n);
		break;
	case ENGINE_TYPE_Q6_K:
		assert(n % ENGINE_QK_K == 0);
		engine__quant_q6_K(src, dst, n);
		break;
	default:
		assert(!"engine__quant_row: unsupported type");
	}
}
