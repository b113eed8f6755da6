/*
 * gemm-q8-avx512.c: the int8 GEMM with AVX-512 VNNI (VPDPBUSD), for Q8_0
 * and Q4_0 weights. Every function carries its target attribute, so the
 * file is compiled for plain x86-64 and only called once gemm-q8.c has
 * checked the CPU (as kernels-avx512.c).
 *
 * A panel of 32 rows is repacked per block of 32 elements into 8 groups
 * of 4 elements x 2 halves of 16 rows (one 64-byte vector each, the
 * values made unsigned: Q8_0 + 128, Q4_0's raw nibbles) and 32 f32
 * scales. The micro-kernel takes the panel's 32 rows and 6 tokens: for
 * each group it loads the two weight vectors and VPDPBUSDs them with a
 * broadcast of the token's 4 activation bytes, so 8 instructions complete
 * a block's dot product of 16 rows with no horizontal sum; the int32 sums
 * start at the token's corr (which undoes the offset exactly) and are
 * then scaled by d_w (a vector over the rows) and d_x into 12 float
 * accumulators. Each lane is one output, stored straight to y.
 *
 * On Zen 4 a 512-bit VPDPBUSD issues once a cycle and the multiply and
 * FMA of the scaling take the same pipes, so the 24 of them per 96
 * VPDPBUSD cap the kernel near 80% of the int8 peak; in L2 it runs at
 * about 75% (345 of 461 GOP/s measured on one core).
 */
#include <immintrin.h>
#include <string.h>

#include "gemm-q8.h"

#define TV __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma,f16c,avx512vnni")))
#define TVI __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma,f16c,avx512vnni"), always_inline)) inline

#define NR 6 /* tokens per micro-tile: 12 int32 + 12 float accumulators */

/* ---- Activations ----------------------------------------------------------- */

/* The same arithmetic as the scalar ENGINE_VEC_Q8 quantization (amax/127,
 * x * (1/d) rounded to nearest even), so the int8 values are identical. */
static TV void quant(const float *x, int64_t k, int32_t off, void *out)
{
	int8_t *qs = out;
	float *dv = (float *)((char *)out + k);
	int32_t *cv = (int32_t *)(dv + k / 32);
	for (int64_t b = 0; b < k / 32; b++) {
		__m512 v0 = _mm512_loadu_ps(x + 32 * b);
		__m512 v1 = _mm512_loadu_ps(x + 32 * b + 16);
		float amax = _mm512_reduce_max_ps(
			_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
		float d = amax / 127.0f;
		__m512 id = _mm512_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
		__m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, id));
		__m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, id));
		_mm_storeu_si128((__m128i *)(qs + 32 * b), _mm512_cvtsepi32_epi8(q0));
		_mm_storeu_si128((__m128i *)(qs + 32 * b + 16), _mm512_cvtsepi32_epi8(q1));
		dv[b] = d;
		cv[b] = -off * _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
	}
}

/* ---- Panel packing ----------------------------------------------------------- */

/* Lanes of the rows present in half h of a panel of n rows. */
static inline __mmask16 half_mask(int n, int h)
{
	int v = n - 16 * h;
	return v >= 16 ? (__mmask16)0xffff : v <= 0 ? 0 : (__mmask16)((1u << v) - 1);
}

/* The panel's fp16 scales (at byte 0 of each block) as floats, row by
 * row: sc[32 b + i] for row i of block b (absent rows 0). (A gather
 * per block was the slowest part of the packing on Zen 4.) */
static TV void pack_scales(const char *w, size_t ws, size_t bs, int64_t nb,
			   int n, float *sc)
{
	/* staged as fp16 in the upper half of sc, then widened from the
	 * start: block b's floats end before block b + 1's fp16 begin */
	uint16_t *h = (uint16_t *)sc;
	for (int i = 0; i < ENGINE_GQ8_ROWS; i++)
		for (int64_t b = 0; b < nb; b++) {
			uint16_t d = 0;
			if (i < n)
				memcpy(&d, w + (size_t)i * ws + (size_t)b * bs, sizeof d);
			h[ENGINE_GQ8_ROWS * (nb + b) + i] = d;
		}
	for (int64_t b = 0; b < nb; b++) {
		__m512i v = _mm512_loadu_si512(h + ENGINE_GQ8_ROWS * (nb + b));
		_mm512_store_ps(sc + 32 * b, _mm512_cvtph_ps(_mm512_castsi512_si256(v)));
		_mm512_store_ps(sc + 32 * b + 16,
				_mm512_cvtph_ps(_mm512_extracti64x4_epi64(v, 1)));
	}
}

/* The 16 bytes at p[i] + off for 16 rows i, transposed as dwords: out[g]
 * lane i = dword g of row i. Each 128-bit lane L of z[i] holds row
 * i + 4L, so a 4 x 4 transpose within the lanes puts the rows in order. */
static inline TVI void tr16(const char *const *p, size_t off, __m512i out[4])
{
	__m512i z[4];
	for (int i = 0; i < 4; i++) {
		z[i] = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(p[i] + off)));
		z[i] = _mm512_inserti32x4(z[i], _mm_loadu_si128((const __m128i *)(p[i + 4] + off)), 1);
		z[i] = _mm512_inserti32x4(z[i], _mm_loadu_si128((const __m128i *)(p[i + 8] + off)), 2);
		z[i] = _mm512_inserti32x4(z[i], _mm_loadu_si128((const __m128i *)(p[i + 12] + off)), 3);
	}
	__m512i t0 = _mm512_unpacklo_epi32(z[0], z[1]), t1 = _mm512_unpackhi_epi32(z[0], z[1]);
	__m512i t2 = _mm512_unpacklo_epi32(z[2], z[3]), t3 = _mm512_unpackhi_epi32(z[2], z[3]);
	out[0] = _mm512_unpacklo_epi64(t0, t2);
	out[1] = _mm512_unpackhi_epi64(t0, t2);
	out[2] = _mm512_unpacklo_epi64(t1, t3);
	out[3] = _mm512_unpackhi_epi64(t1, t3);
}

/* Row pointers of half h of a panel of n rows at w; absent rows read row
 * 0 (their lanes are never stored). */
static inline void half_rows(const char *w, size_t ws, int n, int h,
			     const char *p[16])
{
	for (int i = 0; i < 16; i++)
		p[i] = 16 * h + i < n ? w + (size_t)(16 * h + i) * ws : w;
}

static TV void pack_q8_0(const char *w, size_t ws, int64_t nb, int n,
			 uint8_t *pk, float *sc)
{
	const __m512i flip = _mm512_set1_epi8((char)0x80);
	pack_scales(w, ws, sizeof(engine_block_q8_0), nb, n, sc);
	for (int h = 0; h < 2; h++) {
		const char *p[16];
		half_rows(w, ws, n, h, p);
		for (int64_t b = 0; b < nb; b++) {
			size_t off = (size_t)b * sizeof(engine_block_q8_0);
			__m512i v[8];
			tr16(p, off + 2, v);
			tr16(p, off + 18, v + 4);
			for (int g = 0; g < 8; g++)
				_mm512_store_si512(pk + 1024 * b + 128 * g + 64 * h,
						   _mm512_xor_si512(v[g], flip));
		}
	}
}

/* Q4_0: element i < 16 is the low nibble of qs[i], i + 16 the high one, so
 * groups g and g + 4 come from the same 4 bytes. */
static TV void pack_q4_0(const char *w, size_t ws, int64_t nb, int n,
			 uint8_t *pk, float *sc)
{
	const __m512i lo = _mm512_set1_epi8(0x0f);
	pack_scales(w, ws, sizeof(engine_block_q4_0), nb, n, sc);
	for (int h = 0; h < 2; h++) {
		const char *p[16];
		half_rows(w, ws, n, h, p);
		for (int64_t b = 0; b < nb; b++) {
			size_t off = (size_t)b * sizeof(engine_block_q4_0);
			__m512i v[4];
			tr16(p, off + 2, v);
			uint8_t *o = pk + 1024 * b + 64 * h;
			for (int g = 0; g < 4; g++) {
				_mm512_store_si512(o + 128 * g, _mm512_and_si512(v[g], lo));
				_mm512_store_si512(o + 128 * (g + 4),
						   _mm512_and_si512(_mm512_srli_epi16(v[g], 4), lo));
			}
		}
	}
}

/* ---- Micro-kernel ---------------------------------------------------------- */

static inline TVI int32_t ld32(const int8_t *p)
{
	int32_t v;
	memcpy(&v, p, sizeof v);
	return v;
}

/* 32 rows x nt tokens (nt <= NR, a constant after inlining). */
static inline TVI void tile(const uint8_t *pk, const float *sc, int64_t k,
			    const char *xa, size_t xs, float *y, size_t ldy,
			    __mmask16 m0, __mmask16 m1, const char *pf,
			    const int nt)
{
	const int64_t nb = k / 32;
	const int8_t *q[NR];
	const float *d[NR];
	const int32_t *c[NR];
	__m512 f0[NR], f1[NR];
#pragma GCC unroll 8
	for (int t = 0; t < nt; t++) {
		q[t] = (const int8_t *)(xa + (size_t)t * xs);
		d[t] = (const float *)(xa + (size_t)t * xs + (size_t)k);
		c[t] = (const int32_t *)(d[t] + nb);
		f0[t] = f1[t] = _mm512_setzero_ps();
	}
	for (int64_t b = 0; b < nb; b++) {
		__m512i a0[NR], a1[NR];
		const __m512i *p = (const __m512i *)(pk + 1024 * b);
		if (pf)
			__builtin_prefetch(pf + 64 * b, 0, 3);
#pragma GCC unroll 8
		for (int t = 0; t < nt; t++)
			a0[t] = a1[t] = _mm512_set1_epi32(c[t][b]);
#pragma GCC unroll 8
		for (int g = 0; g < 8; g++) {
			__m512i w0 = _mm512_load_si512(p + 2 * g);
			__m512i w1 = _mm512_load_si512(p + 2 * g + 1);
#pragma GCC unroll 8
			for (int t = 0; t < nt; t++) {
				__m512i x = _mm512_set1_epi32(ld32(q[t] + 32 * b + 4 * g));
				a0[t] = _mm512_dpbusd_epi32(a0[t], w0, x);
				a1[t] = _mm512_dpbusd_epi32(a1[t], w1, x);
			}
		}
		__m512 s0 = _mm512_load_ps(sc + 32 * b);
		__m512 s1 = _mm512_load_ps(sc + 32 * b + 16);
#pragma GCC unroll 8
		for (int t = 0; t < nt; t++) {
			__m512 dx = _mm512_set1_ps(d[t][b]);
			f0[t] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(a0[t]), s0),
						dx, f0[t]);
			f1[t] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(a1[t]), s1),
						dx, f1[t]);
		}
	}
#pragma GCC unroll 8
	for (int t = 0; t < nt; t++) {
		_mm512_mask_storeu_ps(y + (size_t)t * ldy, m0, f0[t]);
		_mm512_mask_storeu_ps(y + (size_t)t * ldy + 16, m1, f1[t]);
	}
}

#define TILE_N(N)                                                             \
	static TV void tile##N(const uint8_t *pk, const float *sc, int64_t k, \
			       const char *xa, size_t xs, float *y,           \
			       size_t ldy, __mmask16 m0, __mmask16 m1,        \
			       const char *pf)                                \
	{                                                                     \
		tile(pk, sc, k, xa, xs, y, ldy, m0, m1, pf, N);               \
	}
TILE_N(1)
TILE_N(2)
TILE_N(3)
TILE_N(4)
TILE_N(5)
TILE_N(6)

typedef void (*tile_fn)(const uint8_t *, const float *, int64_t, const char *,
			size_t, float *, size_t, __mmask16, __mmask16,
			const char *);
static const tile_fn tiles[NR + 1] = { NULL, tile1, tile2, tile3, tile4, tile5, tile6 };

typedef void (*pack_fn)(const char *w, size_t ws, int64_t nb, int n,
			uint8_t *pk, float *sc);

/* The part of [pf, pf + bytes) tile i prefetches: one line per block, so
 * the prefetches spread over the tile's work (issued all at once at
 * the start of a tile, they gave no measurable gain). With 128 tokens this covers a Q8_0 panel and
 * made a 8192 x 2048 product about 4% faster on one core. */
static inline const char *prefetch_part(const char *pf, size_t bytes, int i,
					int64_t nb)
{
	size_t off = (size_t)i * (size_t)nb * 64;
	return pf && off + (size_t)nb * 64 <= bytes ? pf + off : NULL;
}

static inline TVI void gemm(pack_fn packf, const void *w, size_t ws, int64_t k,
			    const void *xa, size_t xs, int n_tok, float *y,
			    size_t ldy, int64_t r0, int64_t r1, void *pack,
			    const char *pf, size_t pf_bytes)
{
	int64_t nb = k / 32;
	int n = (int)(r1 - r0);
	uint8_t *pk = pack;
	float *sc = (float *)(pk + 1024 * nb);
	packf((const char *)w + (size_t)r0 * ws, ws, nb, n, pk, sc);
	__mmask16 m0 = half_mask(n, 0), m1 = half_mask(n, 1);
	y += r0;
	const char *x = xa;
	int t = 0;
	for (; t + NR <= n_tok; t += NR)
		tile6(pk, sc, k, x + (size_t)t * xs, xs, y + (size_t)t * ldy, ldy,
		      m0, m1, prefetch_part(pf, pf_bytes, t / NR, nb));
	if (t < n_tok)
		tiles[n_tok - t](pk, sc, k, x + (size_t)t * xs, xs,
				 y + (size_t)t * ldy, ldy, m0, m1,
				 prefetch_part(pf, pf_bytes, t / NR, nb));
}

static TV void gemm_q8_0(const void *w, size_t ws, int64_t k, const void *xa,
			 size_t xs, int n_tok, float *y, size_t ldy, int64_t r0,
			 int64_t r1, void *pack, const void *pf, size_t pf_bytes)
{
	gemm(pack_q8_0, w, ws, k, xa, xs, n_tok, y, ldy, r0, r1, pack, pf,
	     pf_bytes);
}

static TV void gemm_q4_0(const void *w, size_t ws, int64_t k, const void *xa,
			 size_t xs, int n_tok, float *y, size_t ldy, int64_t r0,
			 int64_t r1, void *pack, const void *pf, size_t pf_bytes)
{
	gemm(pack_q4_0, w, ws, k, xa, xs, n_tok, y, ldy, r0, r1, pack, pf,
	     pf_bytes);
}

const engine__gq8 engine__gq8_avx512[] = {
	{ ENGINE_TYPE_Q8_0, ENGINE_ISA_AVX512, "q8_0/gemm-avx512-vnni", 128, quant, gemm_q8_0 },
	{ ENGINE_TYPE_Q4_0, ENGINE_ISA_AVX512, "q4_0/gemm-avx512-vnni", 8, quant, gemm_q4_0 },
};
const int engine__n_gq8_avx512 =
	(int)(sizeof(engine__gq8_avx512) / sizeof(engine__gq8_avx512[0]));
