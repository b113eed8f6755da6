/*
 * test-types: the type table, half-precision conversions and the Q8_0 /
 * Q4_0 row formats (blocks computed by hand from llama.cpp's reference
 * quantizers, and round-trip error bounds on random rows).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "engine-impl.h"
#include "tcheck.h"

static uint32_t bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	return u;
}

static float from_bits(uint32_t u)
{
	float f;

	memcpy(&f, &u, 4);
	return f;
}

static void test_traits(void)
{
	static const struct { int type; const char *name; int block, bytes, sup; } want[] = {
		{ ENGINE_TYPE_F32, "f32", 1, 4, 1 },     { ENGINE_TYPE_F16, "f16", 1, 2, 1 },
		{ ENGINE_TYPE_BF16, "bf16", 1, 2, 1 },   { ENGINE_TYPE_Q8_0, "q8_0", 32, 34, 1 },
		{ ENGINE_TYPE_Q4_0, "q4_0", 32, 18, 1 }, { ENGINE_TYPE_Q4_1, "q4_1", 32, 20, 0 },
		{ ENGINE_TYPE_Q5_0, "q5_0", 32, 22, 0 }, { ENGINE_TYPE_Q5_1, "q5_1", 32, 24, 0 },
		{ ENGINE_TYPE_Q8_1, "q8_1", 32, 36, 0 }, { ENGINE_TYPE_Q2_K, "q2_k", 256, 84, 0 },
		{ ENGINE_TYPE_Q3_K, "q3_k", 256, 110, 0 }, { ENGINE_TYPE_Q4_K, "q4_k", 256, 144, 1 },
		{ ENGINE_TYPE_Q5_K, "q5_k", 256, 176, 0 }, { ENGINE_TYPE_Q6_K, "q6_k", 256, 210, 1 },
		{ ENGINE_TYPE_Q8_K, "q8_k", 256, 292, 0 },
	};

	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		const engine_type_traits *t = engine__type(want[i].type);
		CHECK(t && !strcmp(t->name, want[i].name) && t->block == want[i].block &&
		      t->block_bytes == want[i].bytes && t->supported == want[i].sup,
		      "traits of type %d (%s)", want[i].type, want[i].name);
	}
	CHECK(engine__type(4) == NULL && engine__type(99) == NULL && engine__type(-1) == NULL,
	      "removed and unknown ids have no traits");
	CHECK(engine__row_bytes(ENGINE_TYPE_Q8_0, 64) == 68, "q8_0 row of 64");
	CHECK(engine__row_bytes(ENGINE_TYPE_Q8_0, 33) == 0, "q8_0 row of 33 is not whole blocks");
	CHECK(engine__row_bytes(ENGINE_TYPE_Q6_K, 512) == 420, "q6_k row of 512");
	CHECK(engine__row_bytes(ENGINE_TYPE_F32, INT64_MAX) == 0, "overflowing row");
	CHECK(engine__row_bytes(99, 32) == 0, "unknown type row");
	CHECK(engine_type_from_name("q8_0") == ENGINE_TYPE_Q8_0 &&
	      engine_type_from_name("bf16") == ENGINE_TYPE_BF16 &&
	      engine_type_from_name("q4_k") == ENGINE_TYPE_Q4_K &&
	      engine_type_from_name("q6_k") == ENGINE_TYPE_Q6_K &&
	      engine_type_from_name("q5_k") == -1 && engine_type_from_name("F32") == -1 &&
	      engine_type_from_name(NULL) == -1, "type names parse");
	CHECK(!strcmp(engine_type_name(ENGINE_TYPE_Q4_0), "q4_0") &&
	      !strcmp(engine_type_name(123), "unknown"), "type names print");
}

static void test_fp16(void)
{
	int bad = 0;

	for (uint32_t h = 0; h < 65536; h++) {
		float f = engine__fp16_to_f32((engine_fp16)h);
		int is_nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
		engine_fp16 back = engine__f32_to_fp16(f);
		if (is_nan ? !(isnan(f) && (back & 0x7c00) == 0x7c00 && (back & 0x3ff) &&
			       (back & 0x8000) == (h & 0x8000))
			   : back != h)
			bad++;
#ifdef __FLT16_MAX__
		_Float16 x;
		memcpy(&x, &h, 2);
		if (!is_nan && bits((float)x) != bits(f))
			bad++;
#endif
	}
	CHECK(bad == 0, "%d of 65536 halves do not round-trip (or differ from _Float16)", bad);

	/* The row conversion (F16C where the CPU has it) agrees with the
	 * scalar one on every half, at every alignment of the row end. */
	static engine_fp16 all[65536 + 7];
	static float rowf[65536 + 7];
	for (uint32_t h = 0; h < 65536; h++)
		all[h] = (engine_fp16)h;
	bad = 0;
	for (int tail = 0; tail < 8; tail++) {
		engine__dequant_row(ENGINE_TYPE_F16, all, rowf, 65536 - tail);
		for (uint32_t h = 0; h < 65536u - (uint32_t)tail; h++) {
			float f = engine__fp16_to_f32((engine_fp16)h);
			bad += isnan(f) ? !isnan(rowf[h]) : bits(f) != bits(rowf[h]);
		}
	}
	CHECK(bad == 0, "%d halves convert differently in rows", bad);

	/* Values chosen by hand: ties to even, subnormals, overflow. */
	static const struct { float f; uint16_t h; } cases[] = {
		{ 1.0f, 0x3c00 }, { -2.0f, 0xc000 }, { 0.0f, 0x0000 }, { -0.0f, 0x8000 },
		{ 65504.0f, 0x7bff }, { 65519.0f, 0x7bff }, { 65520.0f, 0x7c00 }, { 1e10f, 0x7c00 },
		{ -INFINITY, 0xfc00 }, { 0x1p-24f, 0x0001 }, { 0x1p-25f, 0x0000 },
		{ 0x1.8p-25f, 0x0001 }, { 0x1.8p-24f, 0x0002 }, { 0x1p-14f, 0x0400 },
		{ 0x1.ffcp-15f, 0x0400 }, { 0x1.ff8p-15f, 0x03ff }, { 0x1.ffap-15f, 0x03ff }, { 1.0f + 0x1p-11f, 0x3c00 }, { 1.0f + 0x3p-11f, 0x3c02 },
		{ 1.0f + 0x1p-11f + 0x1p-20f, 0x3c01 }, { 0x1p-30f, 0x0000 }, { -0x1p-24f, 0x8001 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		CHECK(engine__f32_to_fp16(cases[i].f) == cases[i].h, "fp16(%a) = %04x, want %04x",
		      (double)cases[i].f, engine__f32_to_fp16(cases[i].f), cases[i].h);
	CHECK((engine__f32_to_fp16(NAN) & 0x7e00) == 0x7e00, "nan stays a quiet nan");
	CHECK(engine__fp16_to_f32(0x0001) == 0x1p-24f && engine__fp16_to_f32(0x03ff) == 0x3ffp-24f,
	      "subnormal halves");
	CHECK(isinf(engine__fp16_to_f32(0x7c00)) && isnan(engine__fp16_to_f32(0x7e00)), "inf, nan");

#ifdef __FLT16_MAX__
	/* Random bit patterns against the compiler's exact conversion. */
	unsigned s = 12345;
	int diff = 0;
	for (int i = 0; i < 2000000; i++) {
		s = s * 1664525u + 1013904223u;
		float f = from_bits(s);
		if (isnan(f))
			continue;
		_Float16 x = (_Float16)f;
		uint16_t want;
		memcpy(&want, &x, 2);
		if (engine__f32_to_fp16(f) != want)
			diff++;
	}
	CHECK(diff == 0, "%d random floats convert unlike _Float16", diff);
#endif
}

static void test_bf16(void)
{
	static const struct { uint32_t f; uint16_t h; } cases[] = {
		{ 0x3f800000, 0x3f80 }, /* 1.0 */
		{ 0x3f808000, 0x3f80 }, /* 1 + 2^-8: tie, even stays */
		{ 0x3f818000, 0x3f82 }, /* 1 + 3*2^-8: tie, odd rounds up */
		{ 0x3f808001, 0x3f81 }, /* just above the tie */
		{ 0x3f807fff, 0x3f80 }, /* just below */
		{ 0x7f7fffff, 0x7f80 }, /* FLT_MAX rounds to inf */
		{ 0xff800000, 0xff80 }, /* -inf */
		{ 0x80000000, 0x8000 }, /* -0 */
		{ 0x00018000, 0x0002 }, /* subnormal tie, odd rounds up (not flushed) */
		{ 0xbfffffff, 0xc000 }, /* -1.99999 rounds up in magnitude */
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		CHECK(engine__f32_to_bf16(from_bits(cases[i].f)) == cases[i].h,
		      "bf16(%08x) = %04x, want %04x", cases[i].f,
		      engine__f32_to_bf16(from_bits(cases[i].f)), cases[i].h);
	engine_bf16 n = engine__f32_to_bf16(from_bits(0x7f800001)); /* nan, payload low */
	CHECK((n & 0x7f80) == 0x7f80 && (n & 0x7f), "a nan stays a nan (%04x)", n);
	CHECK(engine__bf16_to_f32(0x3f80) == 1.0f && engine__bf16_to_f32(0xc040) == -3.0f,
	      "bf16 to f32");
}

static void test_q8_0_known(void)
{
	float x[32];
	engine_block_q8_0 b;
	float y[32];

	/* amax 127 makes d exactly 1 (fp16 0x3c00); q = round(x), halves
	 * away from zero. */
	for (int j = 0; j < 32; j++)
		x[j] = 0.0f;
	x[0] = 0.5f, x[1] = 1.5f, x[2] = -0.5f, x[3] = -2.5f, x[4] = 127.0f, x[5] = -126.4f;
	x[6] = 3.49f;
	engine__quant_row(ENGINE_TYPE_Q8_0, x, &b, 32);
	static const int8_t want[7] = { 1, 2, -1, -3, 127, -126, 3 };
	CHECK(b.d == 0x3c00, "q8_0 d = %04x, want 3c00", b.d);
	CHECK(memcmp(b.qs, want, 7) == 0 && b.qs[31] == 0, "q8_0 quants %d %d %d %d %d %d %d",
	      b.qs[0], b.qs[1], b.qs[2], b.qs[3], b.qs[4], b.qs[5], b.qs[6]);
	engine__dequant_row(ENGINE_TYPE_Q8_0, &b, y, 32);
	CHECK(y[3] == -3.0f && y[4] == 127.0f, "q8_0 dequant");

	/* amax 63.5: d = 0.5 (fp16 0x3800), q = round(2x). */
	for (int j = 0; j < 32; j++)
		x[j] = (float)(j - 16) * 0.25f;  /* -4 .. 3.75: q = round(x * 2) */
	x[31] = -63.5f;
	engine__quant_row(ENGINE_TYPE_Q8_0, x, &b, 32);
	CHECK(b.d == 0x3800, "q8_0 d = %04x, want 3800", b.d);
	CHECK(b.qs[0] == -8 && b.qs[1] == -8 /* -7.5 rounds away */ && b.qs[2] == -7 &&
	      b.qs[17] == 1 /* 0.5 rounds away */ && b.qs[31] == -127,
	      "q8_0 quants %d %d %d %d %d", b.qs[0], b.qs[1], b.qs[2], b.qs[17], b.qs[31]);

	memset(x, 0, sizeof x);
	engine__quant_row(ENGINE_TYPE_Q8_0, x, &b, 32);
	CHECK(b.d == 0 && b.qs[0] == 0 && b.qs[31] == 0, "q8_0 of zeros");
}

static void test_q4_0_known(void)
{
	float x[32] = { 0 };
	engine_block_q4_0 b;
	float y[32];

	/* The largest magnitude is -8: d = -8 / -8 = 1, q = min(15, (int)(x + 8.5)). */
	x[0] = -8.0f;   /* q 0 */
	x[1] = 7.0f;    /* 15 */
	x[2] = 0.5f;    /* 9 */
	x[3] = -0.5f;   /* 8 */
	x[4] = 7.9f;    /* 16 -> 15 */
	x[5] = -3.2f;   /* 5 */
	x[16] = 2.0f;   /* 10, high nibble of qs[0] */
	x[17] = -7.6f;  /* 0 (0.9 truncates) */
	x[31] = 1.49f;  /* 9 */
	engine__quant_row(ENGINE_TYPE_Q4_0, x, &b, 32);
	CHECK(b.d == 0x3c00, "q4_0 d = %04x, want 3c00", b.d);
	static const uint8_t want[16] = {
		0x00 | 10 << 4, 15 | 0 << 4, 9 | 8 << 4, 8 | 8 << 4, 15 | 8 << 4, 5 | 8 << 4,
		0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 8 | 9 << 4,
	};
	CHECK(memcmp(b.qs, want, 16) == 0, "q4_0 nibbles %02x %02x %02x %02x %02x %02x .. %02x",
	      b.qs[0], b.qs[1], b.qs[2], b.qs[3], b.qs[4], b.qs[5], b.qs[15]);
	engine__dequant_row(ENGINE_TYPE_Q4_0, &b, y, 32);
	CHECK(y[0] == -8.0f && y[1] == 7.0f && y[16] == 2.0f && y[6] == 0.0f, "q4_0 dequant");

	/* Largest magnitude positive: d = -1 (fp16 0xbc00), q = (int)(8.5 - x). */
	memset(x, 0, sizeof x);
	x[0] = 8.0f;  /* 0 */
	x[1] = -7.0f; /* 15 */
	x[2] = 1.0f;  /* 7 */
	engine__quant_row(ENGINE_TYPE_Q4_0, x, &b, 32);
	CHECK(b.d == 0xbc00 && b.qs[0] == 0x80 && b.qs[1] == 0x8f && b.qs[2] == 0x87,
	      "q4_0 positive max: d %04x qs %02x %02x %02x", b.d, b.qs[0], b.qs[1], b.qs[2]);
}

static float rnd(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return (float)((*s >> 8) & 0xffffff) / (float)(1 << 23) - 1.0f;
}

/* Random rows of varied scale: every element within the format's bound. */
static void test_round_trip(void)
{
	enum { N = 4096 };
	static float x[N], y[N];
	static uint8_t q[N * 2];
	unsigned s = 7;
	int bad8 = 0, bad4 = 0, bad16 = 0, badb = 0;

	for (int rep = 0; rep < 14; rep++) {
		float scale = ldexpf(1.0f, rep - 4); /* d stays a normal half */
		for (int i = 0; i < N; i++)
			x[i] = rnd(&s) * scale * (i % 97 == 0 ? 10.0f : 1.0f);
		engine__quant_row(ENGINE_TYPE_Q8_0, x, q, N);
		engine__dequant_row(ENGINE_TYPE_Q8_0, q, y, N);
		for (int b = 0; b < N / 32; b++) {
			float amax = 0;
			for (int j = 0; j < 32; j++)
				amax = fmaxf(amax, fabsf(x[b * 32 + j]));
			for (int j = 0; j < 32; j++)  /* half a step, plus fp16 d rounding */
				bad8 += fabsf(x[b * 32 + j] - y[b * 32 + j]) > amax / 127 * 0.5f + amax * 1e-3f;
		}
		engine__quant_row(ENGINE_TYPE_Q4_0, x, q, N);
		engine__dequant_row(ENGINE_TYPE_Q4_0, q, y, N);
		for (int b = 0; b < N / 32; b++) {
			float amax = 0;
			for (int j = 0; j < 32; j++)
				amax = fmaxf(amax, fabsf(x[b * 32 + j]));
			/* Step amax/8; the side opposite the max clamps at 15,
			 * so the bound there is a whole step. */
			for (int j = 0; j < 32; j++)
				bad4 += fabsf(x[b * 32 + j] - y[b * 32 + j]) > amax / 8 * 1.0f + amax * 1e-3f;
		}
		engine__quant_row(ENGINE_TYPE_F16, x, q, N);
		engine__dequant_row(ENGINE_TYPE_F16, q, y, N);
		for (int i = 0; i < N; i++)
			bad16 += fabsf(x[i] - y[i]) > fabsf(x[i]) * 0x1p-11f + 0x1p-25f;
		engine__quant_row(ENGINE_TYPE_BF16, x, q, N);
		engine__dequant_row(ENGINE_TYPE_BF16, q, y, N);
		for (int i = 0; i < N; i++)
			badb += fabsf(x[i] - y[i]) > fabsf(x[i]) * 0x1p-8f;
	}
	CHECK(bad8 == 0, "%d q8_0 elements beyond half a step", bad8);
	CHECK(bad4 == 0, "%d q4_0 elements beyond a step", bad4);
	CHECK(bad16 == 0, "%d f16 elements beyond half an ulp", bad16);
	CHECK(badb == 0, "%d bf16 elements beyond half an ulp", badb);

	/* Mean q4_0 error is about a quarter step: a scale bug shows here. */
	double err = 0, amax_sum = 0;
	for (int i = 0; i < N; i++)
		x[i] = rnd(&s);
	engine__quant_row(ENGINE_TYPE_Q4_0, x, q, N);
	engine__dequant_row(ENGINE_TYPE_Q4_0, q, y, N);
	for (int i = 0; i < N; i++)
		err += fabsf(x[i] - y[i]);
	for (int b = 0; b < N / 32; b++) {
		float amax = 0;
		for (int j = 0; j < 32; j++)
			amax = fmaxf(amax, fabsf(x[b * 32 + j]));
		amax_sum += amax * 32;
	}
	CHECK(err / amax_sum < 0.04, "q4_0 mean error %.4f of amax", err / amax_sum);
	engine__quant_row(ENGINE_TYPE_F32, x, q, 64);
	engine__dequant_row(ENGINE_TYPE_F32, q, y, 64);
	CHECK(memcmp(x, y, 64 * 4) == 0, "f32 rows copy");
}

int main(void)
{
	test_traits();
	test_fp16();
	test_bf16();
	test_q8_0_known();
	test_q4_0_known();
	test_round_trip();
	return tcheck_done();
}
