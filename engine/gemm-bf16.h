/*
 * gemm-bf16.h: the bf16 GEMM used for prefill with BF16 weights (private
 * to engine/; gemm-bf16.c).
 *
 * y[t * ldy + r] = dot(row r of W, x[t * ldx ..]) for many tokens, with the
 * products computed by VDPBF16PS (bf16 x bf16 pairs summed into f32). The
 * weights are bf16 already; the activations are rounded to bf16 once per
 * call, either to one bf16 value each ("1 part", a relative error up to
 * 2^-8 per product, the speed of the bf16 peak) or split into a bf16 high
 * part and a bf16 low part ("2 parts", about 16 significant bits, two
 * products per weight, the speed of fp32 FMA).
 */
#ifndef ENGINE_GEMM_BF16_H
#define ENGINE_GEMM_BF16_H

#include "kernels.h"

/*
 * Activation parts the engine uses for prefill: 1. Measured (Zen 4, one
 * thread, GFLOP per CPU second, the 1.7B shapes at 128 tokens): 1 part
 * 193-198, 2 parts 103, the SGEMM path on widened weights 72-88. The
 * reference test's logits (tests/reference, quant-bf16, max relative to
 * the unrounded model): 1 part 7.4e-3, 2 parts 5.6e-3 (the weights' own
 * rounding), against a bound of 3e-2. llama.cpp rounds the same way.
 */
#define ENGINE_GEMM_BF16_PARTS 1

/* Nonzero if this CPU runs the AVX-512 BF16 kernel (the only one worth
 * using in place of SGEMM; the scalar one is the tests' reference). */
int engine__gemm_bf16_usable(void);

/*
 * y = W x (+ bias, then tanh-GELU if gelu) for a BF16 matrix and n_tok
 * tokens, as engine__matmul has it, on the pool's threads, with the
 * kernels of isa (ENGINE_ISA_AVX512, which needs AVX512_BF16, or
 * ENGINE_ISA_SCALAR) and parts (1 or 2, see above). Its scratch is the
 * driver's f32 panels (s->panel), which it uses as bf16 weight panels and
 * packed activations. Returns 0; PT_EUNSUPPORTED if the CPU lacks the
 * isa or the type is not BF16; PT_ETOOLARGE if the panels cannot hold
 * one tile of tokens for rows this long (the caller then uses SGEMM).
 * Nothing is written to y on failure. One caller at a time per scratch.
 */
int engine__gemm_bf16(engine__pool *pool, engine__mm_scratch *s,
		      const engine__mat *w, const float *bias, const float *x,
		      size_t ldx, int n_tok, float *y, size_t ldy, int gelu,
		      int isa, int parts);

/* ---- Kernel interface (gemm-bf16.c, gemm-bf16-avx512.c) ---------------- */

/* A tile is ENGINE_GB_MR weight rows (three vectors of 16 float
 * accumulators) by ENGINE_GB_NR tokens: 24 accumulators, which leaves
 * registers for the three weight vectors. */
#define ENGINE_GB_MR 48
#define ENGINE_GB_NR 8
/* Elements of k per panel: a panel (96 KiB) and the slices of a block's
 * activations it meets stay in a core's L2 while the panel is reused
 * for every tile of tokens. */
#define ENGINE_GB_KC 1024

/*
 * Layouts, with kp = k rounded up to a multiple of 32 and zeros past k:
 * - weight panel: MR rows interleaved by pairs, [kp / 2][MR][2] bf16, so
 *   one 64-byte load gives one pair of 16 rows;
 * - activations: per token, `parts` planes of kq = kp + 32 bf16 (the
 *   high parts, then the low parts; kp used), so a pair of one token is
 *   one 32-bit broadcast. The 64 bytes past each plane keep the planes
 *   and tokens of a tile, read in step, off the same L1 cache set (4 KiB
 *   aliasing when k is a power of two).
 */
typedef struct engine__gb_kern {
	/* Panel from rows w, w + w_stride, ... (nr <= MR of them; the rest of
	 * the panel is zero). */
	void (*pack_w)(uint16_t *panel, const uint16_t *w, size_t w_stride,
		       int64_t k, int64_t kp, int nr);
	/* The planes of one token from its k floats (the padding past kp is
	 * left as it is). */
	void (*pack_x)(uint16_t *out, const float *x, int64_t k, int64_t kp,
		       int parts);
	/* y[t * ldy + r] (+)= sum over the first k elements of the panel's
	 * row r times token t's planes (xt[t], xt[t] + kq), for t < nt,
	 * r < nr; adds to y if acc, else overwrites it. xt[t] for t in
	 * [0, NR) must all be valid (a short tile repeats a token). */
	void (*tile)(const uint16_t *panel, const uint16_t *const *xt,
		     int64_t k, int64_t kq, int parts, float *y, size_t ldy,
		     int nt, int nr, int acc);
} engine__gb_kern;

/* The plane stride of the activations. */
#define ENGINE_GB_KQ(kp) ((kp) + 32)

extern const engine__gb_kern engine__gb_scalar;
extern const engine__gb_kern engine__gb_avx512;

#endif
