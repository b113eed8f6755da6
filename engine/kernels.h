/*
 * kernels.h: the compute layer under the forward pass (private to engine/).
 *
 * - a thread pool (threadpool.c) whose run() is a parallel-for with a
 *   barrier at the end;
 * - matrix x vector kernels per weight type and instruction set
 *   (kernels.c: scalar reference and dispatch; kernels-avx2.c,
 *   kernels-avx512.c: the same functions with target attributes, chosen at
 *   run time with __builtin_cpu_supports);
 * - element-wise kernels (LayerNorm, tanh-GELU, softmax, dot, axpy);
 * - the matmul driver (matmul.c): few tokens go through the matrix x
 *   vector kernels, many tokens through the int8 or bf16 GEMM where the
 *   type and CPU suit them (gemm-q8.h, gemm-bf16.h), else through
 *   OpenBLAS SGEMM on f32 panels.
 *
 * Shapes follow GGUF: a weight matrix has n rows of k elements (ne[0] = k),
 * and y = W x means y[r] = dot(row r, x).
 */
#ifndef ENGINE_KERNELS_H
#define ENGINE_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "engine-impl.h"

/* ---- Thread pool ------------------------------------------------------- */

typedef struct engine__pool engine__pool;
/* A job: called once on each of nth threads with ith in [0, nth). */
typedef void (*engine__pool_fn)(void *arg, int ith, int nth);

/* Starts n_threads - 1 workers (the caller of run() is thread 0).
 * n_threads <= 0 means the number of online cores. */
int engine__pool_new(int n_threads, engine__pool **out, pt_err *e);
/* The number of online cores (at least 1): the default thread count. */
int engine__pool_default_threads(void);
/* Stops and joins the workers; NULL is a no-op. */
void engine__pool_free(engine__pool *p);
int engine__pool_size(const engine__pool *p);
/* Runs fn on the calling thread (ith 0) and on every worker that joins
 * before that call returns, and returns when all of them have finished.
 * A worker that is not running in time (the machine is shared) skips the
 * job, so fn must hand out its work through an atomic counter; ith only
 * picks per-thread scratch. Workers spin briefly between jobs, then sleep
 * on a futex. No allocation. One caller at a time. */
void engine__pool_run(engine__pool *p, engine__pool_fn fn, void *arg);

/* ---- Instruction sets and activation formats ---------------------------- */

enum {
	ENGINE_ISA_SCALAR = 0,
	ENGINE_ISA_AVX2 = 1,     /* AVX2 + FMA + F16C */
	ENGINE_ISA_AVX512 = 2,   /* AVX-512 F/BW/DQ/VL (+ VNNI, BF16 when present) */
	ENGINE_ISA_COUNT_
};

/* The form a matrix x vector kernel wants its activations in. */
enum {
	ENGINE_VEC_F32 = 0,  /* k floats */
	ENGINE_VEC_BF16 = 1, /* k bf16 (rounded to nearest even), padded to 32 */
	ENGINE_VEC_Q8 = 2,   /* int8 blocks of 32, see below */
	ENGINE_VEC_Q8H = 3,  /* the same int8 values in half-block order, below */
	ENGINE_VEC_Q8T = 4,  /* the same in sixteen-block columns, below */
};

/*
 * ENGINE_VEC_Q8: the activations quantized per block of 32 like Q8_0
 * (d = amax/127, q = round(x/d)), stored as arrays so that kernels load
 * the int8 values of consecutive blocks with one instruction:
 *   int8_t qs[k];   float d[k/32];   float dsum[k/32]  (d * sum of the
 *   block's q, for kernels that compute with offset weights: an unsigned
 *   x signed VPDPBUSD on w + 128 or on raw Q4_0 nibbles, corrected after).
 */
static inline const int8_t *engine__q8_qs(const void *x)
{
	return (const int8_t *)x;
}
static inline const float *engine__q8_d(const void *x, int64_t k)
{
	return (const float *)((const char *)x + k);
}
static inline const float *engine__q8_dsum(const void *x, int64_t k)
{
	return (const float *)((const char *)x + k) + k / 32;
}

/*
 * ENGINE_VEC_Q8H: the Q8 values (the same d and q) rearranged for kernels
 * that take four blocks per step with no shuffle of the activations, so a
 * weight block unpacked once serves any number of vectors. Per group of
 * four blocks (128 elements), 256 bytes:
 *   int8_t lo[64]   elements 0-15 of the group's blocks 0, 1, 2, 3
 *   int8_t hi[64]   elements 16-31 of the same blocks
 *   float d[16]     lane l: d of block l / 4
 *   int32_t nx8[16] lane l: -8 * the sum of the eight q that meet lane l of
 *                   a VPDPBUSD over lo and over hi (elements 4 (l % 4) ..
 *                   +3 and 16 + 4 (l % 4) .. +3 of block l / 4): the
 *                   correction for weights offset by +8 (Q4_0 nibbles), or
 *                   times 16 by +128 (Q8_0 with its sign bit flipped).
 * A last group of n < 4 blocks is the same with 16 n bytes of lo, 16 n of
 * hi, 4 n floats of d and 4 n of nx8 (64 n bytes), so that a prepared
 * vector is never larger than k floats (the matmul scratch is sized so).
 * k must be a multiple of 32.
 */
#define ENGINE_Q8H_GROUP_BYTES 256

/*
 * ENGINE_VEC_Q8T: the Q8 values in columns of sixteen blocks, so that one
 * VPDPBUSD lane holds one block and eight of them cover 512 elements. Per
 * super-group of 16 blocks (lane p holds block 4 (p % 4) + p / 4 of the
 * super-group: the order a 4 x 4 transpose of four-block groups gives),
 * 640 bytes:
 *   int8_t q[8][64]  q[s][4 p + e]: element 4 s + e (s < 4) or
 *                    16 + 4 (s - 4) + e (s >= 4) of lane p's block
 *   float d[16]      d of lane p's block
 *   int32_t nx8[16]  -8 * the sum of its 32 q
 * then the n < 16 blocks left over, as ENGINE_VEC_Q8 lays out n blocks
 * (int8_t qs[32 n], float d[n], float dsum[n]). k must be a multiple of 32.
 */
#define ENGINE_Q8T_SUPER_BYTES 640

/* Bytes of one prepared vector of k elements (0 if k does not suit the
 * format, e.g. not a multiple of 32 for Q8). Always a multiple of 64. */
size_t engine__vec_bytes(int vec, int64_t k);
/* Converts k floats to the vector format (out has engine__vec_bytes). */
void engine__vec_prepare(int vec, const float *x, int64_t k, void *out);

/*
 * y[j * y_stride + r] = dot(row r of W, vector j) for r in [r0, r1),
 * j in [0, n_x). Row r of W starts at w + r * w_stride; vector j at
 * x + j * x_stride (bytes), in the kernel's vec format.
 */
typedef void (*engine__mv_fn)(const void *w, size_t w_stride, int64_t k,
			      const void *x, size_t x_stride, int n_x,
			      float *y, size_t y_stride, int64_t r0, int64_t r1);

typedef struct engine__kern {
	int type;          /* weight type (ENGINE_TYPE_*) */
	int isa;           /* ENGINE_ISA_* */
	int vec;           /* ENGINE_VEC_* its activations come in */
	unsigned needs;    /* ENGINE_CPU_* features beyond the ISA's base set */
	const char *name;  /* "bf16/avx512-dpbf16" */
	engine__mv_fn mv;
} engine__kern;

#define ENGINE_CPU_VNNI 1u  /* avx512_vnni */
#define ENGINE_CPU_BF16 2u  /* avx512_bf16 */
#define ENGINE_CPU_VBMI 4u  /* avx512_vbmi (VPERMT2B) */

/* Q4_0 x ENGINE_VEC_Q8T (kernels-q4t-avx512.c; needs VNNI and VBMI). */
extern const engine__kern engine__kern_q4t_avx512[];
extern const int engine__n_kern_q4t_avx512;

/* Highest ISA this CPU runs (cached). */
int engine__isa_best(void);
/* All kernels this CPU can run for a weight type (the scalar reference
 * first); *n receives the count. */
const engine__kern *const *engine__kern_list(int type, int *n);
/* The kernel the engine uses for a type (fastest measured), NULL if the
 * type has none. */
const engine__kern *engine__kern_best(int type);

/* ISA-specific kernel tables (kernels-avx2.c, kernels-avx512.c). Entries
 * that need CPU features beyond the file's base set are checked by
 * kernels.c before use. */
extern const engine__kern engine__kern_avx2[];
extern const int engine__n_kern_avx2;
extern const engine__kern engine__kern_avx512[];
extern const int engine__n_kern_avx512;
/* Scalar references (kernels.c). */
extern const engine__kern engine__kern_scalar[];
extern const int engine__n_kern_scalar;
/* The K-quants' kernels (kernels-k.c scalar, kernels-k-avx2.c,
 * kernels-k-avx512.c), added after the tables above of the same ISA. */
extern const engine__kern engine__kern_k_scalar[];
extern const int engine__n_kern_k_scalar;
extern const engine__kern engine__kern_k_avx2[];
extern const int engine__n_kern_k_avx2;
extern const engine__kern engine__kern_k_avx512[];
extern const int engine__n_kern_k_avx512;
/* Q6_K rows to f32 with AVX-512 BW (kernels-k-avx512.c); quant-k.c calls
 * it when the CPU has AVX-512. */
void engine__dequant_q6_K_avx512(const engine_block_q6_K *b, float *y, int64_t n);
/* The portable version (quant-k.c), which both must equal bit for bit. */
void engine__dequant_q6_K_scalar(const engine_block_q6_K *b, float *y, int64_t n);

/* ---- Element-wise kernels ---------------------------------------------- */

typedef struct engine__ops {
	/* y = (x - mean) / sqrt(var + eps) * w + b over n elements */
	void (*layernorm)(float *y, const float *x, const float *w,
			  const float *b, int64_t n, float eps);
	/* x = 0.5 x (1 + tanh(0.7978845608 (x + 0.044715 x^3))) in place */
	void (*gelu)(float *x, int64_t n);
	/* x = softmax(x) in place, computed in f32 */
	void (*softmax)(float *x, int64_t n);
	float (*dot)(const float *a, const float *b, int64_t n);
	/* y += a * x */
	void (*axpy)(float *y, float a, const float *x, int64_t n);
	/* x[i] += b[i] */
	void (*add)(float *x, const float *b, int64_t n);
	/* widening of weight rows for the SGEMM panels */
	void (*bf16_to_f32)(float *y, const uint16_t *x, int64_t n);
	void (*f16_to_f32)(float *y, const uint16_t *x, int64_t n);
} engine__ops;

/* Element-wise kernels of one ISA (NULL if this CPU lacks it), and the
 * best ones. */
const engine__ops *engine__ops_for(int isa);
const engine__ops *engine__ops_best(void);
extern const engine__ops engine__ops_avx2;
extern const engine__ops engine__ops_avx512;

/* Scalar bf16 rounding used by the VEC_BF16 format. */
static inline uint16_t engine__kf32_to_bf16(float f)
{
	union { float f; uint32_t u; } v = { .f = f };
	if ((v.u & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((v.u >> 16) | 0x40u); /* quiet NaN */
	return (uint16_t)((v.u + 0x7fffu + ((v.u >> 16) & 1u)) >> 16);
}

/* ---- Matmul driver (matmul.c) ------------------------------------------- */

/* Tokens up to which the matrix x vector kernels are used; above it the
 * weights go through a GEMM (prefill). */
#define ENGINE_GEMV_MAX_TOK 16

/* A weight matrix as the driver sees it. */
typedef struct engine__mat {
	const void *data;
	int type;
	int64_t k;        /* row length (ne[0]) */
	int64_t n;        /* rows (ne[1]) */
	size_t row_bytes;
} engine__mat;

/* Scratch the driver needs, allocated once per context. */
typedef struct engine__mm_scratch {
	void *xq;          /* prepared activations: ENGINE_GEMV_MAX_TOK vectors */
	size_t xq_bytes;
	float *panel;      /* per thread: panel_floats floats */
	size_t panel_floats; /* ENGINE_PANEL_FLOATS, or 16 rows of the longest */
	int n_threads;
	void *act;         /* int8 GEMM (gemm-q8.h): ENGINE_GQ8_TOK tokens' activations */
	size_t act_bytes;  /* 0 if the rows do not suit it */
} engine__mm_scratch;

#define ENGINE_PANEL_FLOATS ((size_t)1024 * 1024)

/* Bytes of scratch for matrices with rows up to max_k long. */
int engine__mm_scratch_init(engine__mm_scratch *s, int64_t max_k,
			    int n_threads, pt_err *e);
void engine__mm_scratch_done(engine__mm_scratch *s);

/* Fills *m from a tensor; PT_EUNSUPPORTED if its type has no kernel. */
int engine__mat_from_tensor(engine__mat *m, const engine__tensor *t,
			    pt_err *e);

/*
 * y[t * ldy + r] = dot(row r of W, x[t * ldx ..]) (+ bias[r] if bias) for
 * t in [0, n_tok), r in [0, W->n), then tanh-GELU if gelu is nonzero.
 * Uses the pool's threads; OpenBLAS must be set to one thread (the context
 * does it).
 */
void engine__matmul(engine__pool *pool, engine__mm_scratch *s,
		    const engine__mat *w, const float *bias, const float *x,
		    size_t ldx, int n_tok, float *y, size_t ldy, int gelu);

#endif
