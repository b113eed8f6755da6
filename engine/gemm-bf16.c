/*
 * gemm-bf16.c: the bf16 GEMM driver and its scalar reference kernels.
 *
 * One call handles the tokens in blocks that fit the scratch: the block's
 * activations are rounded to bf16 once (in parallel, a few tokens per
 * unit of work), then the threads take MR rows at a time from an atomic
 * counter, pack those rows into their own panel (the weights are read from
 * memory once per block) and run the tile over all tokens of the block;
 * bias and GELU follow on the rows just written, while they are in cache.
 *
 * Scratch: the driver's f32 panels (n_threads x panel_floats floats) hold
 * one bf16 weight panel per thread, then the block's activations.
 */
#include <stdatomic.h>
#include <string.h>

#include "gemm-bf16.h"

#define MR ENGINE_GB_MR
#define NR ENGINE_GB_NR
#define KC ENGINE_GB_KC

/* ---- Scalar reference kernels --------------------------------------------- */

static void ref_pack_w(uint16_t *panel, const uint16_t *w, size_t w_stride,
		       int64_t k, int64_t kp, int nr)
{
	for (int r = 0; r < MR; r++) {
		const uint16_t *row = r < nr ? (const uint16_t *)(
			(const char *)w + (size_t)r * w_stride) : NULL;
		for (int64_t e = 0; e < kp; e++)
			panel[(size_t)(e / 2) * MR * 2 + (size_t)r * 2 + e % 2] =
				row && e < k ? row[e] : 0;
	}
}

static void ref_pack_x(uint16_t *out, const float *x, int64_t k, int64_t kp,
		       int parts)
{
	for (int64_t e = 0; e < kp; e++) {
		float v = e < k ? x[e] : 0.0f;
		uint16_t h = engine__f32_to_bf16(v);
		out[e] = h;
		if (parts == 2)
			out[ENGINE_GB_KQ(kp) + e] = engine__f32_to_bf16(v - engine__bf16_to_f32(h));
	}
}

static void ref_tile(const uint16_t *panel, const uint16_t *const *xt,
		     int64_t k, int64_t kq, int parts, float *y, size_t ldy,
		     int nt, int nr, int add)
{
	for (int t = 0; t < nt; t++) {
		for (int r = 0; r < nr; r++) {
			float acc = add ? y[(size_t)t * ldy + r] : 0.0f;
			for (int64_t e = 0; e < k; e++) {
				float wv = engine__bf16_to_f32(
					panel[(size_t)(e / 2) * MR * 2 +
					      (size_t)r * 2 + e % 2]);
				for (int p = 0; p < parts; p++)
					acc += wv * engine__bf16_to_f32(
						xt[t][(size_t)p * (size_t)kq + e]);
			}
			y[(size_t)t * ldy + r] = acc;
		}
	}
}

const engine__gb_kern engine__gb_scalar = { ref_pack_w, ref_pack_x, ref_tile };

/* ---- Dispatch ------------------------------------------------------------- */

int engine__gemm_bf16_usable(void)
{
#if defined(__GNUC__) && __GNUC__ >= 11
	return engine__isa_best() == ENGINE_ISA_AVX512 &&
	       __builtin_cpu_supports("avx512bf16");
#else
	return 0;
#endif
}

/* ---- Driver --------------------------------------------------------------- */

typedef struct gb_job {
	const engine__gb_kern *kern;
	const engine__ops *ops;
	const engine__mat *w;
	const float *bias;
	int gelu;
	int parts;
	int64_t kp;
	const float *x;       /* the block's first token */
	size_t ldx;
	int nb;               /* tokens in the block */
	float *y;             /* the block's first output row */
	size_t ldy;
	uint16_t *xb;         /* packed activations, row stride xs elements */
	size_t xs;
	uint16_t *panels;     /* per thread, ps elements each */
	size_t ps;
	_Atomic int64_t next;
} gb_job;

#define PACK_TOK 4 /* tokens per unit of the packing job */

static void gb_pack_run(void *arg, int ith, int nth)
{
	gb_job *j = arg;
	(void)ith;
	(void)nth;
	for (;;) {
		int64_t u = atomic_fetch_add_explicit(&j->next, 1,
						      memory_order_relaxed);
		int64_t t0 = u * PACK_TOK;
		if (t0 >= j->nb)
			break;
		int64_t t1 = t0 + PACK_TOK < j->nb ? t0 + PACK_TOK : j->nb;
		for (int64_t t = t0; t < t1; t++)
			j->kern->pack_x(j->xb + (size_t)t * j->xs,
					j->x + (size_t)t * j->ldx, j->w->k, j->kp,
					j->parts);
	}
}

/* Elements [c0, c0 + kc) of rows r0 .. r0 + nr (in the panel) for every
 * tile of tokens of the block. */
static void gb_tiles(const gb_job *j, const uint16_t *panel, int64_t c0,
		     int64_t kc, int64_t r0, int nr)
{
	for (int t0 = 0; t0 < j->nb; t0 += NR) {
		int nt = j->nb - t0 < NR ? j->nb - t0 : NR;
		const uint16_t *xt[NR];
		/* A short tile repeats its last token; only nt are stored. */
		for (int t = 0; t < NR; t++)
			xt[t] = j->xb + (size_t)(t0 + (t < nt ? t : nt - 1)) * j->xs +
				c0;
		j->kern->tile(panel, xt, kc, ENGINE_GB_KQ(j->kp), j->parts,
			      j->y + (size_t)t0 * j->ldy + r0, j->ldy, nt, nr,
			      c0 > 0);
	}
}

static void gb_gemm_run(void *arg, int ith, int nth)
{
	gb_job *j = arg;
	const engine__mat *w = j->w;
	uint16_t *panel = j->panels + (size_t)ith * j->ps;
	(void)nth;
	for (;;) {
		int64_t u = atomic_fetch_add_explicit(&j->next, 1,
						      memory_order_relaxed);
		int64_t r0 = u * MR;
		if (r0 >= w->n)
			break;
		int nr = w->n - r0 < MR ? (int)(w->n - r0) : MR;
		const uint16_t *wr = (const uint16_t *)((const char *)w->data +
							(size_t)r0 * w->row_bytes);
		for (int64_t c0 = 0; c0 < w->k; c0 += KC) {
			int64_t kc = w->k - c0 < KC ? w->k - c0 : KC;
			j->kern->pack_w(panel, wr + c0, w->row_bytes, kc,
					(kc + 31) / 32 * 32, nr);
			gb_tiles(j, panel, c0, kc, r0, nr);
		}
		if (!j->bias && !j->gelu)
			continue;
		for (int t = 0; t < j->nb; t++) {
			float *yr = j->y + (size_t)t * j->ldy + r0;
			if (j->bias)
				j->ops->add(yr, j->bias + r0, nr);
			if (j->gelu)
				j->ops->gelu(yr, nr);
		}
	}
}

int engine__gemm_bf16(engine__pool *pool, engine__mm_scratch *s,
		      const engine__mat *w, const float *bias, const float *x,
		      size_t ldx, int n_tok, float *y, size_t ldy, int gelu,
		      int isa, int parts)
{
	const engine__gb_kern *kern;
	if (w->type != ENGINE_TYPE_BF16 || (parts != 1 && parts != 2))
		return PT_EUNSUPPORTED;
	if (isa == ENGINE_ISA_AVX512 && engine__gemm_bf16_usable())
		kern = &engine__gb_avx512;
	else if (isa == ENGINE_ISA_SCALAR)
		kern = &engine__gb_scalar;
	else
		return PT_EUNSUPPORTED;
	if (n_tok <= 0 || w->n <= 0)
		return 0;

	/* Sizes in bf16 elements; the scratch holds 2 * panel_floats of them
	 * per thread, and nothing here is larger than a few times k. */
	int64_t kp = (w->k + 31) / 32 * 32;
	size_t ps = (size_t)(kp < KC ? kp : KC) * MR;
	size_t xs = (size_t)ENGINE_GB_KQ(kp) * (size_t)parts;
	size_t total = 0, used = 0;
	int nth = s->n_threads;
	if (nth < 1 || nth < engine__pool_size(pool) ||
	    pt_mul_size(s->panel_floats * 2, (size_t)nth, &total) ||
	    pt_mul_size(ps, (size_t)nth, &used) || used >= total)
		return PT_ETOOLARGE;
	size_t tb = (total - used) / xs;
	if (tb < NR)
		return PT_ETOOLARGE;
	tb = tb / NR * NR;

	uint16_t *base = (uint16_t *)s->panel;
	gb_job j = {
		.kern = kern, .ops = engine__ops_best(), .w = w, .bias = bias,
		.gelu = gelu, .parts = parts, .kp = kp, .ldx = ldx, .ldy = ldy,
		.xb = base + used, .xs = xs, .panels = base, .ps = ps,
	};
	atomic_init(&j.next, 0);
	for (int t0 = 0; t0 < n_tok; t0 += (int)tb) {
		j.nb = (size_t)(n_tok - t0) < tb ? n_tok - t0 : (int)tb;
		j.x = x + (size_t)t0 * ldx;
		j.y = y + (size_t)t0 * ldy;
		atomic_store_explicit(&j.next, 0, memory_order_relaxed);
		engine__pool_run(pool, gb_pack_run, &j);
		atomic_store_explicit(&j.next, 0, memory_order_relaxed);
		engine__pool_run(pool, gb_gemm_run, &j);
	}
	return 0;
}
