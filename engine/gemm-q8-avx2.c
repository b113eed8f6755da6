/*
 * gemm-q8-avx2.c: the int8 GEMM with AVX2 (no VNNI), for CPUs without
 * AVX-512 VNNI. Same panel layout as gemm-q8-avx512.c (a 64-byte group of
 * 16 rows is two 8-row vectors here). VPMADDUBSW multiplies unsigned by
 * signed bytes into saturating int16 pairs, so:
 * - Q4_0: raw nibbles (0..15) x int8 activations; a pair is at most
 *   2 x 15 x 127 = 3810, so the 8 groups of a block add up in int16
 *   (at most 30480) and one VPMADDWD per block widens them; corr undoes
 *   the -8 (offset 8).
 * - Q8_0: w + 128 would saturate, so |w| x (x with the sign of w) as
 *   llama.cpp does (a pair is at most 2 x 128 x 127 = 32512), widened per
 *   group; no offset.
 * The micro-tile is 16 rows x 2 or 3 tokens (16 ymm registers).
 */
#include <immintrin.h>
#include <string.h>

#include "gemm-q8.h"

#define T2 __attribute__((target("avx2,fma,f16c")))
#define T2I __attribute__((target("avx2,fma,f16c"), always_inline)) inline

/* ---- Activations ----------------------------------------------------------- */

/* The same arithmetic as the scalar quantization (see gemm-q8-avx512.c). */
static T2 void quant(const float *x, int64_t k, int32_t off, void *out)
{
	int8_t *qs = out;
	float *dv = (float *)((char *)out + k);
	int32_t *cv = (int32_t *)(dv + k / 32);
	const __m256 sign = _mm256_set1_ps(-0.0f);
	for (int64_t b = 0; b < k / 32; b++) {
		__m256 v[4], m = _mm256_setzero_ps();
		for (int i = 0; i < 4; i++) {
			v[i] = _mm256_loadu_ps(x + 32 * b + 8 * i);
			m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[i]));
		}
		__m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
		h = _mm_max_ps(h, _mm_movehl_ps(h, h));
		h = _mm_max_ss(h, _mm_movehdup_ps(h));
		float d = _mm_cvtss_f32(h) / 127.0f;
		__m256 id = _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
		__m256i q[4];
		for (int i = 0; i < 4; i++)
			q[i] = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], id));
		/* packs interleave 128-bit lanes; the permute puts them back */
		__m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]),
					       _mm256_packs_epi32(q[2], q[3]));
		p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
		_mm256_storeu_si256((__m256i *)(qs + 32 * b), p);
		__m256i s = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]),
					     _mm256_add_epi32(q[2], q[3]));
		__m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
		s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
		s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
		dv[b] = d;
		cv[b] = -off * _mm_cvtsi128_si32(s4);
	}
}

/* ---- Panel packing ----------------------------------------------------------- */

/* As gemm-q8-avx512.c's pack_scales. */
static T2 void pack_scales(const char *w, size_t ws, size_t bs, int64_t nb,
			   int n, float *sc)
{
	uint16_t *h = (uint16_t *)sc;
	for (int i = 0; i < ENGINE_GQ8_ROWS; i++)
		for (int64_t b = 0; b < nb; b++) {
			uint16_t d = 0;
			if (i < n)
				memcpy(&d, w + (size_t)i * ws + (size_t)b * bs, sizeof d);
			h[ENGINE_GQ8_ROWS * (nb + b) + i] = d;
		}
	for (int64_t b = 0; b < nb; b++)
		for (int q = 0; q < 4; q++) {
			__m128i v = _mm_loadu_si128((const __m128i *)(h + ENGINE_GQ8_ROWS * (nb + b) + 8 * q));
			_mm256_store_ps(sc + 32 * b + 8 * q, _mm256_cvtph_ps(v));
		}
}

/* The 16 bytes at p[i] + off for 8 rows i, transposed as dwords: out[g]
 * lane i = dword g of row i (128-bit lane L of z[i] holds row i + 4L). */
static inline T2I void tr8(const char *const *p, size_t off, __m256i out[4])
{
	__m256i z[4];
	for (int i = 0; i < 4; i++)
		z[i] = _mm256_inserti128_si256(
			_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(p[i] + off))),
			_mm_loadu_si128((const __m128i *)(p[i + 4] + off)), 1);
	__m256i t0 = _mm256_unpacklo_epi32(z[0], z[1]), t1 = _mm256_unpackhi_epi32(z[0], z[1]);
	__m256i t2 = _mm256_unpacklo_epi32(z[2], z[3]), t3 = _mm256_unpackhi_epi32(z[2], z[3]);
	out[0] = _mm256_unpacklo_epi64(t0, t2);
	out[1] = _mm256_unpackhi_epi64(t0, t2);
	out[2] = _mm256_unpacklo_epi64(t1, t3);
	out[3] = _mm256_unpackhi_epi64(t1, t3);
}

/* Rows of the 8-row slice q of a panel of n rows (absent rows read row 0;
 * their lanes are never stored). */
static inline void slice_rows(const char *w, size_t ws, int n, int q,
			      const char *p[8])
{
	for (int i = 0; i < 8; i++)
		p[i] = 8 * q + i < n ? w + (size_t)(8 * q + i) * ws : w;
}

/* Group g, rows 8q..8q+7 of block b: at 1024 b + 128 g + 32 q (the
 * AVX-512 layout: 64 bytes per 16 rows). */
static T2 void pack_q8_0(const char *w, size_t ws, int64_t nb, int n,
			 uint8_t *pk, float *sc)
{
	pack_scales(w, ws, sizeof(engine_block_q8_0), nb, n, sc);
	for (int q = 0; q < 4; q++) {
		const char *p[8];
		slice_rows(w, ws, n, q, p);
		for (int64_t b = 0; b < nb; b++) {
			size_t off = (size_t)b * sizeof(engine_block_q8_0);
			__m256i v[8];
			tr8(p, off + 2, v);
			tr8(p, off + 18, v + 4);
			for (int g = 0; g < 8; g++)
				_mm256_store_si256((__m256i *)(pk + 1024 * b + 128 * g + 32 * q), v[g]);
		}
	}
}

static T2 void pack_q4_0(const char *w, size_t ws, int64_t nb, int n,
			 uint8_t *pk, float *sc)
{
	const __m256i lo = _mm256_set1_epi8(0x0f);
	pack_scales(w, ws, sizeof(engine_block_q4_0), nb, n, sc);
	for (int q = 0; q < 4; q++) {
		const char *p[8];
		slice_rows(w, ws, n, q, p);
		for (int64_t b = 0; b < nb; b++) {
			__m256i v[4];
			tr8(p, (size_t)b * sizeof(engine_block_q4_0) + 2, v);
			uint8_t *o = pk + 1024 * b + 32 * q;
			for (int g = 0; g < 4; g++) {
				_mm256_store_si256((__m256i *)(o + 128 * g), _mm256_and_si256(v[g], lo));
				_mm256_store_si256((__m256i *)(o + 128 * (g + 4)),
						   _mm256_and_si256(_mm256_srli_epi16(v[g], 4), lo));
			}
		}
	}
}

/* ---- Micro-kernel ---------------------------------------------------------- */

#define NT_MAX 3

static inline T2I int32_t ld32(const int8_t *p)
{
	int32_t v;
	memcpy(&v, p, sizeof v);
	return v;
}

static inline T2I __m256i mask8(int v)
{
	return _mm256_cmpgt_epi32(_mm256_set1_epi32(v),
				  _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* Rows 16h..16h+15 of the panel (n rows present) x nt tokens; q8 selects
 * the sign trick (Q8_0) over int16 accumulation (Q4_0). */
static inline T2I void tile(const uint8_t *pk, const float *sc, int64_t k,
			    int h, int n, const char *xa, size_t xs, float *y,
			    size_t ldy, const int nt, const int q8)
{
	const int64_t nb = k / 32;
	const __m256i ones = _mm256_set1_epi16(1);
	const int8_t *qx[NT_MAX];
	const float *dx[NT_MAX];
	const int32_t *cx[NT_MAX];
	__m256 f[2][NT_MAX];
	for (int t = 0; t < nt; t++) {
		qx[t] = (const int8_t *)(xa + (size_t)t * xs);
		dx[t] = (const float *)(xa + (size_t)t * xs + (size_t)k);
		cx[t] = (const int32_t *)(dx[t] + nb);
		f[0][t] = f[1][t] = _mm256_setzero_ps();
	}
	for (int64_t b = 0; b < nb; b++) {
		const uint8_t *p = pk + 1024 * b + 64 * h;
		__m256i a[2][NT_MAX];
		for (int t = 0; t < nt; t++)
			a[0][t] = a[1][t] = _mm256_setzero_si256();
		for (int g = 0; g < 8; g++) {
			__m256i w0 = _mm256_load_si256((const __m256i *)(p + 128 * g));
			__m256i w1 = _mm256_load_si256((const __m256i *)(p + 128 * g + 32));
			__m256i u0 = q8 ? _mm256_abs_epi8(w0) : w0;
			__m256i u1 = q8 ? _mm256_abs_epi8(w1) : w1;
			for (int t = 0; t < nt; t++) {
				__m256i x = _mm256_set1_epi32(ld32(qx[t] + 32 * b + 4 * g));
				if (q8) {
					a[0][t] = _mm256_add_epi32(a[0][t], _mm256_madd_epi16(
						_mm256_maddubs_epi16(u0, _mm256_sign_epi8(x, w0)), ones));
					a[1][t] = _mm256_add_epi32(a[1][t], _mm256_madd_epi16(
						_mm256_maddubs_epi16(u1, _mm256_sign_epi8(x, w1)), ones));
				} else {
					a[0][t] = _mm256_add_epi16(a[0][t], _mm256_maddubs_epi16(u0, x));
					a[1][t] = _mm256_add_epi16(a[1][t], _mm256_maddubs_epi16(u1, x));
				}
			}
		}
		__m256 s0 = _mm256_load_ps(sc + 32 * b + 16 * h);
		__m256 s1 = _mm256_load_ps(sc + 32 * b + 16 * h + 8);
		for (int t = 0; t < nt; t++) {
			__m256i c = _mm256_set1_epi32(cx[t][b]);
			__m256i i0 = q8 ? a[0][t] : _mm256_madd_epi16(a[0][t], ones);
			__m256i i1 = q8 ? a[1][t] : _mm256_madd_epi16(a[1][t], ones);
			__m256 d = _mm256_set1_ps(dx[t][b]);
			f[0][t] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(
				_mm256_add_epi32(i0, c)), s0), d, f[0][t]);
			f[1][t] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(
				_mm256_add_epi32(i1, c)), s1), d, f[1][t]);
		}
	}
	__m256i m0 = mask8(n - 16 * h), m1 = mask8(n - 16 * h - 8);
	for (int t = 0; t < nt; t++) {
		_mm256_maskstore_ps(y + (size_t)t * ldy + 16 * h, m0, f[0][t]);
		_mm256_maskstore_ps(y + (size_t)t * ldy + 16 * h + 8, m1, f[1][t]);
	}
}

#define TILE_N(NAME, N, Q8)                                                   \
	static T2 void NAME(const uint8_t *pk, const float *sc, int64_t k,    \
			    int h, int n, const char *xa, size_t xs,          \
			    float *y, size_t ldy)                             \
	{                                                                     \
		tile(pk, sc, k, h, n, xa, xs, y, ldy, N, Q8);                 \
	}
TILE_N(tile_q8_1, 1, 1)
TILE_N(tile_q8_2, 2, 1)
TILE_N(tile_q4_1, 1, 0)
TILE_N(tile_q4_2, 2, 0)
TILE_N(tile_q4_3, 3, 0)

typedef void (*tile_fn)(const uint8_t *, const float *, int64_t, int, int,
			const char *, size_t, float *, size_t);
typedef void (*pack_fn)(const char *w, size_t ws, int64_t nb, int n,
			uint8_t *pk, float *sc);

/* tiles[i] takes i + 1 tokens; the last one is the widest. */
static inline T2I void gemm(pack_fn packf, const tile_fn *tiles, int nt_max,
			    const void *w, size_t ws, int64_t k, const void *xa,
			    size_t xs, int n_tok, float *y, size_t ldy,
			    int64_t r0, int64_t r1, void *pack)
{
	int64_t nb = k / 32;
	int n = (int)(r1 - r0);
	uint8_t *pk = pack;
	float *sc = (float *)(pk + 1024 * nb);
	packf((const char *)w + (size_t)r0 * ws, ws, nb, n, pk, sc);
	y += r0;
	for (int t = 0; t < n_tok; t += nt_max) {
		int nt = n_tok - t < nt_max ? n_tok - t : nt_max;
		for (int h = 0; h < 2 && 16 * h < n; h++)
			tiles[nt - 1](pk, sc, k, h, n, (const char *)xa + (size_t)t * xs,
				      xs, y + (size_t)t * ldy, ldy);
	}
}

static const tile_fn tiles_q8[2] = { tile_q8_1, tile_q8_2 };
static const tile_fn tiles_q4[3] = { tile_q4_1, tile_q4_2, tile_q4_3 };

/* pf is not used: prefetching would have to prove itself on a CPU
 * without AVX-512 (this kernel was only measured on Zen 4). */
static T2 void gemm_q8_0(const void *w, size_t ws, int64_t k, const void *xa,
			 size_t xs, int n_tok, float *y, size_t ldy, int64_t r0,
			 int64_t r1, void *pack, const void *pf, size_t pf_bytes)
{
	(void)pf;
	(void)pf_bytes;
	gemm(pack_q8_0, tiles_q8, 2, w, ws, k, xa, xs, n_tok, y, ldy, r0, r1, pack);
}

static T2 void gemm_q4_0(const void *w, size_t ws, int64_t k, const void *xa,
			 size_t xs, int n_tok, float *y, size_t ldy, int64_t r0,
			 int64_t r1, void *pack, const void *pf, size_t pf_bytes)
{
	(void)pf;
	(void)pf_bytes;
	gemm(pack_q4_0, tiles_q4, 3, w, ws, k, xa, xs, n_tok, y, ldy, r0, r1, pack);
}

const engine__gq8 engine__gq8_avx2[] = {
	{ ENGINE_TYPE_Q8_0, ENGINE_ISA_AVX2, "q8_0/gemm-avx2", 0, quant, gemm_q8_0 },
	{ ENGINE_TYPE_Q4_0, ENGINE_ISA_AVX2, "q4_0/gemm-avx2", 8, quant, gemm_q4_0 },
};
const int engine__n_gq8_avx2 =
	(int)(sizeof(engine__gq8_avx2) / sizeof(engine__gq8_avx2[0]));
