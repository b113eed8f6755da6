/*
 * gemm-q8.h: int8 matrix x matrix products for prefill with Q8_0 and Q4_0
 * weights (private to engine/; the driver is matmul.c).
 *
 * The n tokens' activations are quantized once per call to int8 blocks of
 * 32 (the ENGINE_VEC_Q8 format of kernels.h, with an integer correction
 * in place of dsum, see below); the weights are read in their stored
 * blocks. A kernel computes a panel of at most ENGINE_GQ8_ROWS rows for
 * all tokens: it first repacks the panel's int8 values in its scratch (so
 * one 64-byte load gives the same 4 bytes of 16 rows, and a broadcast of 4
 * activation bytes feeds all 16 rows), then accumulates per-block int32
 * dot products and scales them into float accumulators. The repacking is
 * O(rows x k) against O(rows x k x tokens) products.
 *
 * Activations of one token (engine__gq8_act_bytes(k) bytes, 64-aligned):
 *   int8_t qs[k]; float d[k/32];  int32_t corr[k/32]
 * qs and d are exactly ENGINE_VEC_Q8's (d = amax/127, q = round(x/d));
 * corr = -off * (sum of the block's q), where off is the value the
 * kernels add to the weights to make them unsigned for VPDPBUSD (128 for
 * Q8_0, 8 for Q4_0, whose nibbles are already unsigned): dot(w + off, q)
 * + corr = dot(w, q) exactly.
 */
#ifndef ENGINE_GEMM_Q8_H
#define ENGINE_GEMM_Q8_H

#include <stddef.h>
#include <stdint.h>

#include "kernels.h"

/* Rows per panel: two 16-lane vectors. */
#define ENGINE_GQ8_ROWS 32
/* Tokens whose activations the driver quantizes at a time. */
#define ENGINE_GQ8_TOK 256

/*
 * y[t * ldy + r] = dot(row r of W, token t) for t in [0, n_tok), r in
 * [r0, r1) with r1 - r0 <= ENGINE_GQ8_ROWS. Row r of W starts at
 * w + r * w_stride; token t's activations at xa + t * xa_stride. pack is
 * the calling thread's scratch of engine__gq8_pack_bytes(k) bytes,
 * 64-aligned. While it computes, the kernel prefetches the pf_bytes at pf
 * (the weights the thread does next; NULL for none), so that repacking
 * them does not wait for memory. No allocation; thread-safe for distinct
 * pack and y rows.
 */
typedef void (*engine__gq8_fn)(const void *w, size_t w_stride, int64_t k,
			       const void *xa, size_t xa_stride, int n_tok,
			       float *y, size_t ldy, int64_t r0, int64_t r1,
			       void *pack, const void *pf, size_t pf_bytes);

/* Quantizes k floats (k a multiple of 32) to the activation format with
 * corrections for offset off. */
typedef void (*engine__gq8_quant_fn)(const float *x, int64_t k, int32_t off,
				     void *out);

typedef struct engine__gq8 {
	int type;                   /* ENGINE_TYPE_Q8_0 or ENGINE_TYPE_Q4_0 */
	int isa;                    /* ENGINE_ISA_* */
	const char *name;           /* "q8_0/gemm-avx512-vnni" */
	int32_t off;                /* offset for the activations' corr */
	engine__gq8_quant_fn quant;
	engine__gq8_fn gemm;
} engine__gq8;

/* Bytes of one token's activations (a multiple of 64; 0 if k is not a
 * positive multiple of 32). */
size_t engine__gq8_act_bytes(int64_t k);
/* Bytes of a kernel's panel scratch for rows of k elements (0 if k does
 * not suit). */
size_t engine__gq8_pack_bytes(int64_t k);

/* The kernels this CPU runs for a type, the scalar reference first; *n
 * receives the count (0 for types without an int8 GEMM). */
const engine__gq8 *const *engine__gq8_list(int type, int *n);
/* The fastest one for a type that has a vectorised kernel on this CPU;
 * NULL otherwise (the caller keeps its other path). */
const engine__gq8 *engine__gq8_best(int type);

/* The AVX2 and AVX-512 VNNI kernels (gemm-q8-avx2.c, gemm-q8-avx512.c);
 * only called after gemm-q8.c has checked the CPU. */
extern const engine__gq8 engine__gq8_avx2[];
extern const int engine__n_gq8_avx2;
extern const engine__gq8 engine__gq8_avx512[];
extern const int engine__n_gq8_avx512;

#endif
