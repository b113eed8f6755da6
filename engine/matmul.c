/*
 * matmul.c: y = W x for a batch of tokens, on the thread pool.
 *
 * Few tokens (decode, batched decode): the activations are converted once
 * to the format the weight type's kernel wants, and the rows of W are
 * shared out in chunks taken from an atomic counter (so a thread that the
 * shared machine slows down does less of the work). Each row is read from
 * memory once for all tokens.
 *
 * Many tokens (prefill): each thread takes a tile of rows, converts it to
 * f32 in its own panel (F32 weights are used in place) and multiplies it
 * with OpenBLAS SGEMM, which runs single-threaded inside our threads, so
 * the two never compete for the cores.
 */
#include <cblas.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

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
	s->xq = aligned_alloc(64, xq);
	s->panel = aligned_alloc(64, panel);
	if (!s->xq || !s->panel) {
		engine__mm_scratch_done(s);
		return pt_err_set(e, PT_ENOMEM,
				  "out of memory for matmul scratch (%zu bytes)",
				  xq + panel);
	}
	s->xq_bytes = xq;
	s->panel_floats = pf;
	s->n_threads = n_threads;
	return 0;
}

void engine__mm_scratch_done(engine__mm_scratch *s)
{
	free(s->xq);
	free(s->panel);
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
	} else {
		int64_t c = (int64_t)(s->panel_floats / (size_t)w->k);
		c = c / 16 * 16;
		j.chunk = c < 16 ? 16 : c > 256 ? 256 : c;
		engine__pool_run(pool, mm_gemm_run, &j);
	}
}
