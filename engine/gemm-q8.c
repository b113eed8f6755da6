/*
 * gemm-q8.c: the int8 GEMM's scalar reference, its activation format and
 * run-time dispatch (see gemm-q8.h). The reference is written for
 * clarity: it reads the stored blocks and the activations directly, with
 * signed products, and ignores corr, so a vector kernel that gets the
 * unsigned-offset correction wrong differs from it.
 */
#include <pthread.h>
#include <string.h>

#include "gemm-q8.h"

size_t engine__gq8_act_bytes(int64_t k)
{
	/* the same size as ENGINE_VEC_Q8: corr takes dsum's place */
	return engine__vec_bytes(ENGINE_VEC_Q8, k);
}

size_t engine__gq8_pack_bytes(int64_t k)
{
	if (k <= 0 || k % 32 || k > INT64_MAX / 64)
		return 0;
	/* per block: 32 rows x 32 int8 values and 32 float scales */
	size_t n = (size_t)(k / 32) * (ENGINE_GQ8_ROWS * 32 + ENGINE_GQ8_ROWS * 4);
	return (n + 63) / 64 * 64;
}

/* The ENGINE_VEC_Q8 quantization, then corr from the int8 values. */
static void ref_quant(const float *x, int64_t k, int32_t off, void *out)
{
	engine__vec_prepare(ENGINE_VEC_Q8, x, k, out);
	const int8_t *qs = out;
	int32_t *corr = (int32_t *)((char *)out + k) + k / 32;
	for (int64_t b = 0; b < k / 32; b++) {
		int32_t s = 0;
		for (int i = 0; i < 32; i++)
			s += qs[b * 32 + i];
		corr[b] = -off * s;
	}
}

/* Signed int8 value i (0..31) of a block. */
static int ref_w_q8_0(const void *blk, int i)
{
	return ((const engine_block_q8_0 *)blk)->qs[i];
}

static int ref_w_q4_0(const void *blk, int i)
{
	const engine_block_q4_0 *b = blk;
	return (i < 16 ? (b->qs[i] & 0x0f) : (b->qs[i - 16] >> 4)) - 8;
}

/* A block's scale; both layouts start with the fp16 d. */
static float ref_w_d(const void *blk)
{
	engine_fp16 d;
	memcpy(&d, blk, sizeof d);
	return engine__fp16_to_f32(d);
}

static void ref_gemm(int (*wv)(const void *, int), size_t block_bytes,
		     const void *w, size_t ws, int64_t k, const void *xa,
		     size_t xs, int n_tok, float *y, size_t ldy, int64_t r0,
		     int64_t r1)
{
	for (int64_t r = r0; r < r1; r++) {
		const char *wr = (const char *)w + (size_t)r * ws;
		for (int t = 0; t < n_tok; t++) {
			const int8_t *q = (const int8_t *)xa + (size_t)t * xs;
			const float *d = engine__q8_d(q, k);
			float s = 0.0f;
			for (int64_t b = 0; b < k / 32; b++) {
				const char *blk = wr + (size_t)b * block_bytes;
				int32_t acc = 0;
				for (int i = 0; i < 32; i++)
					acc += wv(blk, i) * q[b * 32 + i];
				s += (float)acc * ref_w_d(blk) * d[b];
			}
			y[(size_t)t * ldy + (size_t)r] = s;
		}
	}
}

static void ref_gemm_q8_0(const void *w, size_t ws, int64_t k, const void *xa,
			  size_t xs, int n_tok, float *y, size_t ldy,
			  int64_t r0, int64_t r1, void *pack, const void *pf,
			  size_t pf_bytes)
{
	(void)pack;
	(void)pf;
	(void)pf_bytes;
	ref_gemm(ref_w_q8_0, sizeof(engine_block_q8_0), w, ws, k, xa, xs,
		 n_tok, y, ldy, r0, r1);
}

static void ref_gemm_q4_0(const void *w, size_t ws, int64_t k, const void *xa,
			  size_t xs, int n_tok, float *y, size_t ldy,
			  int64_t r0, int64_t r1, void *pack, const void *pf,
			  size_t pf_bytes)
{
	(void)pack;
	(void)pf;
	(void)pf_bytes;
	ref_gemm(ref_w_q4_0, sizeof(engine_block_q4_0), w, ws, k, xa, xs,
		 n_tok, y, ldy, r0, r1);
}

static const engine__gq8 gq8_scalar[] = {
	{ ENGINE_TYPE_Q8_0, ENGINE_ISA_SCALAR, "q8_0/gemm-scalar", 128, ref_quant, ref_gemm_q8_0 },
	{ ENGINE_TYPE_Q4_0, ENGINE_ISA_SCALAR, "q4_0/gemm-scalar", 8, ref_quant, ref_gemm_q4_0 },
};

/* ---- Dispatch ------------------------------------------------------------ */

enum { GQ8_MAX = 4 };

static struct {
	pthread_once_t once;
	const engine__gq8 *list[2][GQ8_MAX]; /* [0] Q8_0, [1] Q4_0 */
	int n[2];
} gq8_disp = { .once = PTHREAD_ONCE_INIT };

static int gq8_slot(int type)
{
	return type == ENGINE_TYPE_Q8_0 ? 0 : type == ENGINE_TYPE_Q4_0 ? 1 : -1;
}

static void gq8_add(const engine__gq8 *g)
{
	int s = gq8_slot(g->type);
	if (s >= 0 && gq8_disp.n[s] < GQ8_MAX)
		gq8_disp.list[s][gq8_disp.n[s]++] = g;
}

static void gq8_init(void)
{
	for (size_t i = 0; i < sizeof gq8_scalar / sizeof gq8_scalar[0]; i++)
		gq8_add(&gq8_scalar[i]);
	if (engine__isa_best() >= ENGINE_ISA_AVX2)
		for (int i = 0; i < engine__n_gq8_avx2; i++)
			gq8_add(&engine__gq8_avx2[i]);
	/* engine__isa_best has run __builtin_cpu_init */
	if (engine__isa_best() >= ENGINE_ISA_AVX512 &&
	    __builtin_cpu_supports("avx512vnni"))
		for (int i = 0; i < engine__n_gq8_avx512; i++)
			gq8_add(&engine__gq8_avx512[i]);
}

const engine__gq8 *const *engine__gq8_list(int type, int *n)
{
	pthread_once(&gq8_disp.once, gq8_init);
	int s = gq8_slot(type);
	*n = s < 0 ? 0 : gq8_disp.n[s];
	return s < 0 ? NULL : gq8_disp.list[s];
}

const engine__gq8 *engine__gq8_best(int type)
{
	int n;
	const engine__gq8 *const *l = engine__gq8_list(type, &n);
	/* the scalar reference is no faster than dequantizing for SGEMM */
	if (n == 0 || l[n - 1]->isa == ENGINE_ISA_SCALAR)
		return NULL;
	return l[n - 1];
}
