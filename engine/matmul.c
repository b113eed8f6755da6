/*
 * matmul.c: y = W x for a batch of tokens, on the thread pool.
 *
 * Few tokens (decode, batched decode): the activations are converted once
 * to the format the weight type's kernel wants, and the rows of W are
 * shared out in chunks taken from an atomic counter (so a thread that the
 * shared machine slows down does less of the work). Each row is read from
 * memory once for all tokens.
 *
 * Many tokens (prefill), a path chosen per weight type:
 * - BF16 on a CPU with AVX512_BF16: the bf16 GEMM of gemm-bf16.h (the
 *   activations rounded to bf16 once, VDPBF16PS on the stored weights).
 * - Q8_0 and Q4_0 on a CPU with AVX2 or AVX-512 VNNI: the int8 GEMM of
 *   gemm-q8.h (per core on the development machine, 128 tokens, k 2048:
 *   AVX-512 VNNI about 350 GOP/s, AVX2 113 (Q8_0) and 175 (Q4_0), while
 *   OpenBLAS SGEMM gives 86-105 GFLOP/s before the dequantization).
 *   The tokens' activations are quantized to int8 blocks (in parallel, up
 *   to ENGINE_GQ8_TOK tokens at a time), then each thread takes panels of
 *   32 rows and computes them for all those tokens from the stored blocks.
 * - Otherwise: each thread takes a tile of rows, converts it to f32 in its
 *   own panel (F32 weights are used in place) and multiplies it with
 *   OpenBLAS SGEMM, which runs single-threaded inside our threads, so the
 *   two never compete for the cores.
 * Each applies the bias and GELU to the rows just computed.
 */
#include <cblas.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gemm-bf16.h"
#include "gemm-q8.h"
#include "kernels.h"

int engine__mm_scratch_init(engine__mm_scratch *s, int64_t max_k,
			    int n_threads, pt_err *e)
{
	memset(s, 0, sizeof(*s));
	size_t vb = engine__vec_bytes(ENGINE_VEC_F32, max_k), xq = 0, panel = 0;
	size_t pf = 0;
	int ovf = vb == 0 || pt_mul_size(vb, ENGINE_GEMV_MAX_TOK, &xq) ||
		  pt_mul_size((size_t)max_k, 16, &pf);
	if (!ovf && pf < ENGINE_PANEL_FLOATS)
		pf = ENGINE_PANEL_FLOATS;
	if (ovf || pt_mul_size(pf * sizeof(float), (size_t)n_threads, &panel))
		return pt_err_set(e, PT_ETOOLARGE,
				  "matmul scratch for rows of %lld overflows",
				  (long long)max_k);
	/* the int8 GEMM's activations; its panels use the SGEMM panels
	 * (engine__gq8_pack_bytes is 36 bytes a column, a panel 64 or more) */
	size_t act = 0;
	if (engine__gq8_act_bytes(max_k) &&
	    pt_mul_size(engine__gq8_act_bytes(max_k), ENGINE_GQ8_TOK, &act))
		return pt_err_set(e, PT_ETOOLARGE,
				  "matmul scratch for rows of %lld overflows",
				  (long long)max_k);
	s->xq = aligned_alloc(64, xq);
	s->panel = aligned_alloc(64, panel);
	s->act = act ? aligned_alloc(64, act) : NULL;
	if (!s->xq || !s->panel || (act && !s->act)) {
		engine__mm_scratch_done(s);
		return pt_err_set(e, PT_ENOMEM,
				  "out of memory for matmul scratch (%zu bytes)",
				  xq + panel + act);
	}
	s->act_bytes = act;
	s->xq_bytes = xq;
	s->panel_floats = pf;
	s->n_threads = n_threads;
	return 0;
}

void engine__mm_scratch_done(engine__mm_scratch *s)
{
	free(s->xq);
	free(s->panel);
	free(s->act);
	memset(s, 0, sizeof(*s));
}

int engine__mat_from_tensor(engine__mat *m, const engine__tensor *t,
			    pt_err *e)
{
	if (!engine__kern_best(t->type))
		return pt_err_set(e, PT_EUNSUPPORTED,
				  "tensor %s: weight type %s has no compute kernel",
				  t->name, engine_type_name(t->type));
	size_t rb = engine__row_bytes(t->type, t->ne[0]);
	if (rb == 0 || t->n_dims > 2)
		return pt_err_set(e, PT_EFORMAT,
				  "tensor %s: rows of %lld elements do not suit type %s",
				  t->name, (long long)t->ne[0],
				  engine_type_name(t->type));
	m->data = t->data;
	m->type = t->type;
	m->k = t->ne[0];
	m->n = t->ne[1];
	m->row_bytes = rb;
	return 0;
}

typedef struct mm_job {
	const engine__mat *w;
	const engine__kern *kern;
	const float *bias;
	const engine__ops *ops;
	int gelu;
	const void *xq;       /* gemv: prepared activations */
	size_t xq_stride;
	const float *x;       /* gemm: f32 activations */
	size_t ldx;
	int n_tok;
	float *y;
	size_t ldy;
	float *panel;         /* gemm: n_threads panels */
	size_t panel_floats;
	const engine__gq8 *gq8; /* int8 gemm: kernel and quantized activations */
	void *act;
	size_t act_stride;
	int64_t chunk;        /* rows per unit of work */
	_Atomic int64_t next; /* next unit */
} mm_job;

/* Bias and activation on the rows just computed, while they are in
 * cache. */
static void mm_bias(const mm_job *j, int64_t r0, int64_t r1)
{
	if (!j->bias && !j->gelu)
		return;
	for (int t = 0; t < j->n_tok; t++) {
		float *y = j->y + (size_t)t * j->ldy + r0;
		if (j->bias)
			j->ops->add(y, j->bias + r0, r1 - r0);
		if (j->gelu)
			j->ops->gelu(y, r1 - r0);
	}
}

static void mm_gemv_run(void *arg, int ith, int nth)
{
	mm_job *j = arg;
	const engine__mat *w = j->w;
	for (;;) {
		int64_t u = atomic_fetch_add_explicit(&j->next, 1,
						      memory_order_relaxed);
		int64_t r0 = u * j->chunk;
		if (r0 >= w->n)
			break;
		int64_t r1 = r0 + j->chunk < w->n ? r0 + j->chunk : w->n;
		j->kern->mv(w->data, w->row_bytes, w->k, j->xq, j->xq_stride,
			    j->n_tok, j->y, j->ldy, r0, r1);
		mm_bias(j, r0, r1);
	}
}

static void mm_gemm_run(void *arg, int ith, int nth)
{
	mm_job *j = arg;
	const engine__mat *w = j->w;
	float *panel = j->panel + (size_t)ith * j->panel_floats;
	for (;;) {
		int64_t u = atomic_fetch_add_explicit(&j->next, 1,
						      memory_order_relaxed);
		int64_t r0 = u * j->chunk;
		if (r0 >= w->n)
			break;
		int64_t r1 = r0 + j->chunk < w->n ? r0 + j->chunk : w->n;
		const float *wt;
		if (w->type == ENGINE_TYPE_F32) {
			wt = (const float *)((const char *)w->data +
					     (size_t)r0 * w->row_bytes);
		} else {
			for (int64_t r = r0; r < r1; r++) {
				const void *src = (const char *)w->data +
						  (size_t)r * w->row_bytes;
				float *dst = panel + (size_t)(r - r0) * (size_t)w->k;
				if (w->type == ENGINE_TYPE_BF16)
					j->ops->bf16_to_f32(dst, src, w->k);
				else if (w->type == ENGINE_TYPE_F16)
					j->ops->f16_to_f32(dst, src, w->k);
				else
					engine__dequant_row(w->type, src, dst, w->k);
			}
			wt = panel;
		}
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, j->n_tok,
			    (int)(r1 - r0), (int)w->k, 1.0f, j->x, (int)j->ldx,
			    wt, (int)w->k, 0.0f, j->y + r0, (int)j->ldy);
		mm_bias(j, r0, r1);
	}
}

/* Quantizes the activations of the job's tokens, one token a unit. */
static void mm_gq8_quant_run(void *arg, int ith, int nth)
{
	mm_job *j = arg;
	(void)ith;
	(void)nth;
	for (;;) {
		int64_t t = atomic_fetch_add_explicit(&j->next, 1,
						      memory_order_relaxed);
		if (t >= j->n_tok)
			break;
		j->gq8->quant(j->x + (size_t)t * j->ldx, j->w->k, j->gq8->off,
			      (char *)j->act + (size_t)t * j->act_stride);
	}
}

/* Units of one panel (ENGINE_GQ8_ROWS rows). A thread claims its next
 * unit before computing the current one, so that the kernel can prefetch
 * the next panel's weights while it computes. */
static void mm_gq8_run(void *arg, int ith, int nth)
{
	mm_job *j = arg;
	const engine__mat *w = j->w;
	void *pack = j->panel + (size_t)ith * j->panel_floats;
	(void)nth;
	int64_t r0 = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed) *
		     ENGINE_GQ8_ROWS;
	while (r0 < w->n) {
		int64_t r1 = r0 + ENGINE_GQ8_ROWS < w->n ? r0 + ENGINE_GQ8_ROWS : w->n;
		int64_t n0 = atomic_fetch_add_explicit(&j->next, 1,
						       memory_order_relaxed) *
			     ENGINE_GQ8_ROWS;
		int64_t n1 = n0 + ENGINE_GQ8_ROWS < w->n ? n0 + ENGINE_GQ8_ROWS : w->n;
		const char *pf = n0 < w->n ? (const char *)w->data +
						     (size_t)n0 * w->row_bytes : NULL;
		j->gq8->gemm(w->data, w->row_bytes, w->k, j->act, j->act_stride,
			     j->n_tok, j->y, j->ldy, r0, r1, pack, pf,
			     pf ? (size_t)(n1 - n0) * w->row_bytes : 0);
		mm_bias(j, r0, r1);
		r0 = n0;
	}
}

/* The prefill path for a weight matrix: the int8 GEMM where this CPU has
 * a vectorised one for the type and the scratch suits its rows (the
 * kernels index 16 rows with int32 byte offsets), else SGEMM. Other
 * paths (per type) go here too. */
enum { MM_PREFILL_SGEMM, MM_PREFILL_GQ8 };

static int mm_prefill_path(const engine__mm_scratch *s, const engine__mat *w,
			   const engine__gq8 **gq8)
{
	*gq8 = engine__gq8_best(w->type);
	size_t pack = engine__gq8_pack_bytes(w->k);
	if (*gq8 && pack && pack <= s->panel_floats * sizeof(float) &&
	    engine__gq8_act_bytes(w->k) * ENGINE_GQ8_TOK <= s->act_bytes &&
	    w->row_bytes <= (size_t)INT32_MAX / ENGINE_GQ8_ROWS)
		return MM_PREFILL_GQ8;
	return MM_PREFILL_SGEMM;
}

/* Up to ENGINE_GQ8_TOK tokens at a time: quantize them, then all rows. */
static void mm_gq8(engine__pool *pool, engine__mm_scratch *s, mm_job *j)
{
	const float *x = j->x;
	float *y = j->y;
	int n_tok = j->n_tok;
	j->act = s->act;
	j->act_stride = engine__gq8_act_bytes(j->w->k);
	for (int t0 = 0; t0 < n_tok; t0 += ENGINE_GQ8_TOK) {
		j->x = x + (size_t)t0 * j->ldx;
		j->y = y + (size_t)t0 * j->ldy;
		j->n_tok = n_tok - t0 < ENGINE_GQ8_TOK ? n_tok - t0 : ENGINE_GQ8_TOK;
		atomic_store_explicit(&j->next, 0, memory_order_relaxed);
		engine__pool_run(pool, mm_gq8_quant_run, j);
		atomic_store_explicit(&j->next, 0, memory_order_relaxed);
		engine__pool_run(pool, mm_gq8_run, j);
	}
}

void engine__matmul(engine__pool *pool, engine__mm_scratch *s,
		    const engine__mat *w, const float *bias, const float *x,
		    size_t ldx, int n_tok, float *y, size_t ldy, int gelu)
{
	mm_job j = {
		.w = w, .bias = bias, .ops = engine__ops_best(), .gelu = gelu, .x = x, .ldx = ldx, .n_tok = n_tok,
		.y = y, .ldy = ldy, .panel = s->panel,
		.panel_floats = s->panel_floats,
	};
	atomic_init(&j.next, 0);
	if (n_tok <= ENGINE_GEMV_MAX_TOK) {
		j.kern = engine__kern_best(w->type);
		j.xq_stride = engine__vec_bytes(j.kern->vec, w->k);
		for (int t = 0; t < n_tok; t++)
			engine__vec_prepare(j.kern->vec, x + (size_t)t * ldx, w->k,
					    (char *)s->xq + (size_t)t * j.xq_stride);
		j.xq = s->xq;
		/* about 32 KiB of weights per unit, at least 16 rows */
		int64_t c = (int64_t)(32768 / (w->row_bytes ? w->row_bytes : 1));
		j.chunk = c < 16 ? 16 : c;
		engine__pool_run(pool, mm_gemv_run, &j);
	} else if (w->type == ENGINE_TYPE_BF16 && engine__gemm_bf16_usable() &&
		   engine__gemm_bf16(pool, s, w, bias, x, ldx, n_tok, y, ldy,
				     gelu, ENGINE_ISA_AVX512,
				     ENGINE_GEMM_BF16_PARTS) == 0) {
		/* bf16 weights: VDPBF16PS GEMM (gemm-bf16.c) */
	} else if (mm_prefill_path(s, w, &j.gq8) == MM_PREFILL_GQ8) {
		mm_gq8(pool, s, &j);
	} else {
		int64_t c = (int64_t)(s->panel_floats / (size_t)w->k);
		c = c / 16 * 16;
		j.chunk = c < 16 ? 16 : c > 256 ? 256 : c;
		engine__pool_run(pool, mm_gemm_run, &j);
	}
}
