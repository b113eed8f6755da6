/*
 * forward.c: the engine context (KV cache, scratch, thread pool) and the
 * PolyLM forward pass of spec section 1.3.
 *
 * The KV cache is f32: [layer][seq][position][d] for keys and for values,
 * allocated once per context (calloc, so pages are only touched as
 * positions fill). f32 keeps attention exact and lets prefill attention
 * run as SGEMMs straight on the cache; an f16 cache would halve its memory
 * for the batched decoding of issue 8 and can replace it behind
 * ctx_k()/ctx_v().
 *
 * One engine_decode call takes any mix of sequences and positions; tokens
 * of one sequence at consecutive positions form a "run". Runs of several
 * tokens attend through SGEMM per head, single tokens through dot products
 * over the cache. Logits are computed only for the tokens that ask.
 */
#include <cblas.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

/* Runs at least this long take the SGEMM attention path. */
#define ATT_GEMM_MIN 4

typedef struct ctx_layer {
	engine__mat qkv, out, up, down;
	const float *ln1_w, *ln1_b, *qkv_b, *out_b, *ln2_w, *ln2_b, *up_b,
		*down_b;
} ctx_layer;

struct engine_ctx {
	const engine_model *m;
	engine_ctx_params p;
	int32_t d, n_head, hd, ff, n_layer, n_vocab;
	float eps;
	engine__pool *pool;
	engine__mm_scratch mm;
	const engine__ops *ops;
	ctx_layer *layers;
	engine__mat output;
	const float *lnf_w, *lnf_b;

	float *kc, *vc;      /* [n_layer][n_seq][n_ctx][d] */
	int32_t *kv_len;     /* [n_seq] */
	int32_t *seq_fill;   /* [n_seq]: validation scratch */
	int32_t *toks;       /* [n_seq][n_ctx]: the tokens cached, for
				engine__ctx_tokens (prefix reuse) */

	/* scratch for n_batch tokens */
	float *h;            /* [n_batch][d]  residual stream */
	float *a;            /* [n_batch][d]  normed / projected */
	float *qkv;          /* [n_batch][3d] */
	float *att;          /* [n_batch][d]  attention output */
	float *ffb;          /* [n_batch][ff] */
	float *hl;           /* [n_batch][d]  rows that need logits */
	float *scores;       /* [n_threads][n_batch * n_ctx] */
	size_t scores_per_thread;
	int32_t *run_start;  /* [n_batch + 1] */
	int32_t *eval_pos, *eval_seq; /* [n_batch]: engine_eval's batch */
	int8_t *eval_logits;
};

engine_ctx_params engine_ctx_default_params(void)
{
	engine_ctx_params p = { .n_ctx = 0, .n_seq = 1, .n_batch = 512,
				.n_threads = 0 };
	return p;
}

const engine_model *engine_ctx_model(const engine_ctx *c)
{
	return c->m;
}

static inline float *ctx_k(const engine_ctx *c, int l, int s, int pos)
{
	return c->kc + (((size_t)l * (size_t)c->p.n_seq + (size_t)s) *
				(size_t)c->p.n_ctx + (size_t)pos) * (size_t)c->d;
}

static inline float *ctx_v(const engine_ctx *c, int l, int s, int pos)
{
	return c->vc + (((size_t)l * (size_t)c->p.n_seq + (size_t)s) *
				(size_t)c->p.n_ctx + (size_t)pos) * (size_t)c->d;
}

/* ---- Set-up --------------------------------------------------------------- */

static int check_vec(const engine__tensor *t, const char *what, int64_t n,
		     const float **out, pt_err *e)
{
	if (!t)
		return pt_err_set(e, PT_ENOTFOUND, "model has no %s tensor", what);
	if (t->type != ENGINE_TYPE_F32 || t->ne[0] != n || t->ne[1] != 1)
		return pt_err_set(e, PT_EFORMAT,
				  "tensor %s: expected %lld f32 values, found type %s with ne [%lld, %lld]",
				  t->name, (long long)n, engine_type_name(t->type),
				  (long long)t->ne[0], (long long)t->ne[1]);
	*out = t->data;
	return 0;
}

static int check_mat(const engine__tensor *t, const char *what, int64_t k,
		     int64_t n, engine__mat *out, pt_err *e)
{
	if (!t)
		return pt_err_set(e, PT_ENOTFOUND, "model has no %s tensor", what);
	if (t->ne[0] != k || t->ne[1] != n)
		return pt_err_set(e, PT_EFORMAT,
				  "tensor %s: expected ne [%lld, %lld], found [%lld, %lld]",
				  t->name, (long long)k, (long long)n,
				  (long long)t->ne[0], (long long)t->ne[1]);
	return engine__mat_from_tensor(out, t, e);
}

static int ctx_bind(engine_ctx *c, pt_err *e)
{
	const engine_model *m = c->m;
	int rc;
	for (int l = 0; l < c->n_layer; l++) {
		const engine__layer *L = &m->layers[l];
		ctx_layer *cl = &c->layers[l];
		int64_t d = c->d, ff = c->ff;
		if ((rc = check_vec(L->attn_norm, "attn_norm", d, &cl->ln1_w, e)) ||
		    (rc = check_vec(L->attn_norm_b, "attn_norm bias", d, &cl->ln1_b, e)) ||
		    (rc = check_mat(L->attn_qkv, "attn_qkv", d, 3 * d, &cl->qkv, e)) ||
		    (rc = check_vec(L->attn_qkv_b, "attn_qkv bias", 3 * d, &cl->qkv_b, e)) ||
		    (rc = check_mat(L->attn_out, "attn_output", d, d, &cl->out, e)) ||
		    (rc = check_vec(L->attn_out_b, "attn_output bias", d, &cl->out_b, e)) ||
		    (rc = check_vec(L->ffn_norm, "ffn_norm", d, &cl->ln2_w, e)) ||
		    (rc = check_vec(L->ffn_norm_b, "ffn_norm bias", d, &cl->ln2_b, e)) ||
		    (rc = check_mat(L->ffn_up, "ffn_up", d, ff, &cl->up, e)) ||
		    (rc = check_vec(L->ffn_up_b, "ffn_up bias", ff, &cl->up_b, e)) ||
		    (rc = check_mat(L->ffn_down, "ffn_down", ff, d, &cl->down, e)) ||
		    (rc = check_vec(L->ffn_down_b, "ffn_down bias", d, &cl->down_b, e))) {
			pt_err_prefix(e, "layer %d", l);
			return rc;
		}
	}
	engine__mat emb, pos;
	if ((rc = check_vec(m->out_norm, "output_norm", c->d, &c->lnf_w, e)) ||
	    (rc = check_vec(m->out_norm_b, "output_norm bias", c->d, &c->lnf_b, e)) ||
	    (rc = check_mat(m->output, "output", c->d, c->n_vocab, &c->output, e)) ||
	    (rc = check_mat(m->tok_embd, "token_embd", c->d, c->n_vocab, &emb, e)) ||
	    (rc = check_mat(m->pos_embd, "position_embd", c->d,
			    m->info.n_ctx, &pos, e)))
		return rc;
	return 0;
}

/* Allocates n * size bytes (calloc, overflow-checked); NULL on failure. */
static void *ctx_alloc(size_t n, size_t size, size_t *total)
{
	size_t b;
	if (pt_mul_size(n, size, &b) || pt_add_size(*total, b, total))
		return NULL;
	return calloc(n ? n : 1, size);
}

static int ctx_alloc_all(engine_ctx *c, pt_err *e)
{
	size_t nb = (size_t)c->p.n_batch, d = (size_t)c->d, total = 0, kv;
	int nt = engine__pool_size(c->pool);
	if (pt_mul_size((size_t)c->n_layer * (size_t)c->p.n_seq, (size_t)c->p.n_ctx, &kv) ||
	    pt_mul_size(kv, d, &kv) ||
	    pt_mul_size(nb, (size_t)c->p.n_ctx, &c->scores_per_thread))
		return pt_err_set(e, PT_ETOOLARGE, "KV cache size overflows");
	c->kc = ctx_alloc(kv, sizeof(float), &total);
	c->vc = ctx_alloc(kv, sizeof(float), &total);
	c->kv_len = ctx_alloc((size_t)c->p.n_seq, sizeof(int32_t), &total);
	c->seq_fill = ctx_alloc((size_t)c->p.n_seq, sizeof(int32_t), &total);
	c->toks = ctx_alloc((size_t)c->p.n_seq * (size_t)c->p.n_ctx, sizeof(int32_t), &total);
	c->h = ctx_alloc(nb * d, sizeof(float), &total);
	c->a = ctx_alloc(nb * d, sizeof(float), &total);
	c->qkv = ctx_alloc(nb * d * 3, sizeof(float), &total);
	c->att = ctx_alloc(nb * d, sizeof(float), &total);
	c->ffb = ctx_alloc(nb * (size_t)c->ff, sizeof(float), &total);
	c->hl = ctx_alloc(nb * d, sizeof(float), &total);
	c->scores = ctx_alloc(c->scores_per_thread * (size_t)nt, sizeof(float), &total);
	c->run_start = ctx_alloc(nb + 1, sizeof(int32_t), &total);
	c->eval_pos = ctx_alloc(nb, sizeof(int32_t), &total);
	c->eval_seq = ctx_alloc(nb, sizeof(int32_t), &total);
	c->eval_logits = ctx_alloc(nb, sizeof(int8_t), &total);
	if (!c->kc || !c->vc || !c->kv_len || !c->seq_fill || !c->toks || !c->h || !c->a ||
	    !c->qkv || !c->att || !c->ffb || !c->hl || !c->scores ||
	    !c->run_start || !c->eval_pos || !c->eval_seq || !c->eval_logits)
		return pt_err_set(e, PT_ENOMEM,
				  "out of memory for a context of %d sequences x %d positions (KV cache %zu MiB)",
				  c->p.n_seq, c->p.n_ctx,
				  kv * 2 * sizeof(float) >> 20);
	int64_t max_k = c->ff > c->d ? c->ff : c->d;
	return engine__mm_scratch_init(&c->mm, max_k, nt, e);
}

int engine_ctx_new(const engine_model *m, const engine_ctx_params *p,
		   engine_ctx **out, pt_err *e)
{
	engine_ctx_params dp = engine_ctx_default_params();
	if (!p)
		p = &dp;
	const engine_model_info *mi = &m->info;
	if (p->n_ctx < 0 || p->n_ctx > mi->n_ctx || p->n_seq < 1 ||
	    p->n_seq > 4096 || p->n_batch < 1 || p->n_batch > 65536 ||
	    p->n_threads < 0)
		return pt_err_set(e, PT_EINVAL,
				  "bad context parameters: n_ctx %d (model %d), n_seq %d, n_batch %d, n_threads %d",
				  p->n_ctx, mi->n_ctx, p->n_seq, p->n_batch,
				  p->n_threads);
	if (mi->n_embd <= 0 || mi->n_head <= 0 || mi->n_embd % mi->n_head ||
	    mi->n_layer <= 0 || mi->n_ff <= 0 || mi->n_vocab <= 0)
		return pt_err_set(e, PT_EFORMAT,
				  "model shape: n_embd %d not divisible into %d heads, or n_layer %d / n_ff %d / n_vocab %d not positive",
				  mi->n_embd, mi->n_head, mi->n_layer, mi->n_ff,
				  mi->n_vocab);
	engine_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return pt_err_set(e, PT_ENOMEM, "out of memory for a context");
	c->m = m;
	c->p = *p;
	if (c->p.n_ctx == 0)
		c->p.n_ctx = mi->n_ctx;
	c->d = mi->n_embd;
	c->n_head = mi->n_head;
	c->hd = mi->n_embd / mi->n_head;
	c->ff = mi->n_ff;
	c->n_layer = mi->n_layer;
	c->n_vocab = mi->n_vocab;
	c->eps = mi->norm_eps;
	c->ops = engine__ops_best();
	int rc;
	c->layers = calloc((size_t)c->n_layer, sizeof(*c->layers));
	if (!c->layers)
		rc = pt_err_set(e, PT_ENOMEM, "out of memory for a context");
	else if ((rc = ctx_bind(c, e)) == 0 &&
		 (rc = engine__pool_new(p->n_threads, &c->pool, e)) == 0)
		rc = ctx_alloc_all(c, e);
	if (rc) {
		engine_ctx_free(c);
		return rc;
	}
	/* SGEMM runs inside our threads, one tile each: OpenBLAS's own
	 * threads would only compete with them for the cores. */
	openblas_set_num_threads(1);
	*out = c;
	return 0;
}

void engine_ctx_free(engine_ctx *c)
{
	if (!c)
		return;
	engine__pool_free(c->pool);
	engine__mm_scratch_done(&c->mm);
	free(c->layers);
	free(c->kc);
	free(c->vc);
	free(c->kv_len);
	free(c->seq_fill);
	free(c->toks);
	free(c->h);
	free(c->a);
	free(c->qkv);
	free(c->att);
	free(c->ffb);
	free(c->hl);
	free(c->scores);
	free(c->run_start);
	free(c->eval_pos);
	free(c->eval_seq);
	free(c->eval_logits);
	free(c);
}

/* ---- KV cache ------------------------------------------------------------ */

int32_t engine_kv_len(const engine_ctx *c, int32_t seq)
{
	if (seq < 0 || seq >= c->p.n_seq)
		return 0;
	return c->kv_len[seq];
}

void engine_kv_truncate(engine_ctx *c, int32_t seq, int32_t n)
{
	if (seq < 0 || seq >= c->p.n_seq)
		return;
	if (n < 0)
		n = 0;
	if (n < c->kv_len[seq])
		c->kv_len[seq] = n;
}

void engine_kv_copy(engine_ctx *c, int32_t src, int32_t dst, int32_t n)
{
	if (src < 0 || src >= c->p.n_seq || dst < 0 || dst >= c->p.n_seq)
		return;
	if (n < 0)
		n = 0;
	if (n > c->kv_len[src])
		n = c->kv_len[src];
	if (src != dst && n > 0) {
		size_t bytes = (size_t)n * (size_t)c->d * sizeof(float);
		for (int l = 0; l < c->n_layer; l++) {
			memcpy(ctx_k(c, l, dst, 0), ctx_k(c, l, src, 0), bytes);
			memcpy(ctx_v(c, l, dst, 0), ctx_v(c, l, src, 0), bytes);
		}
		memcpy(c->toks + (size_t)dst * (size_t)c->p.n_ctx,
		       c->toks + (size_t)src * (size_t)c->p.n_ctx,
		       (size_t)n * sizeof(int32_t));
	}
	c->kv_len[dst] = n;
}

int32_t engine__ctx_n_ctx(const engine_ctx *c)
{
	return c->p.n_ctx;
}

int32_t engine__ctx_n_seq(const engine_ctx *c)
{
	return c->p.n_seq;
}

const int32_t *engine__ctx_tokens(const engine_ctx *c, int32_t seq)
{
	if (seq < 0 || seq >= c->p.n_seq)
		return NULL;
	return c->toks + (size_t)seq * (size_t)c->p.n_ctx;
}

/* ---- Row-wise jobs (LayerNorm, residual) --------------------------------- */

enum { ROWS_LN1, ROWS_ADD_LN, ROWS_ADD };

typedef struct rows_job {
	engine_ctx *c;
	int kind, n;
	const float *w, *b;
	_Atomic int next;
} rows_job;

static void rows_run(void *arg, int ith, int nth)
{
	rows_job *j = arg;
	engine_ctx *c = j->c;
	size_t d = (size_t)c->d;
	for (;;) {
		int i = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
		if (i >= j->n)
			break;
		float *h = c->h + (size_t)i * d, *a = c->a + (size_t)i * d;
		if (j->kind != ROWS_LN1)
			c->ops->add(h, a, c->d);
		if (j->kind != ROWS_ADD)
			c->ops->layernorm(a, h, j->w, j->b, c->d, c->eps);
	}
}

static void rows(engine_ctx *c, int kind, int n, const float *w,
		 const float *b)
{
	rows_job j = { .c = c, .kind = kind, .n = n, .w = w, .b = b };
	atomic_init(&j.next, 0);
	if (n == 1)
		rows_run(&j, 0, 1); /* not worth waking the pool */
	else
		engine__pool_run(c->pool, rows_run, &j);
}

/* ---- Attention -------------------------------------------------------------- */

typedef struct att_job {
	engine_ctx *c;
	const engine_batch *b;
	int layer, n_runs;
	float scale;
	_Atomic int next;
} att_job;

/* One token at pos attends to positions 0..pos of its sequence. */
static void att_token(engine_ctx *c, int l, int s, int pos, const float *q,
		      float *o, float *sc, float scale, int h)
{
	size_t off = (size_t)h * (size_t)c->hd;
	int n = pos + 1;
	for (int j = 0; j < n; j++)
		sc[j] = c->ops->dot(q, ctx_k(c, l, s, j) + off, c->hd) * scale;
	c->ops->softmax(sc, n);
	memset(o, 0, (size_t)c->hd * sizeof(float));
	for (int j = 0; j < n; j++)
		c->ops->axpy(o, sc[j], ctx_v(c, l, s, j) + off, c->hd);
}

/* A run of L tokens at positions p0..p0+L-1: S = Q K^T over all p0+L keys,
 * causal mask, softmax per row, O = S V. */
static void att_run_gemm(engine_ctx *c, int l, int s, int p0, int L, int i0,
			 float *sc, float scale, int h)
{
	size_t d = (size_t)c->d, off = (size_t)h * (size_t)c->hd;
	int nk = p0 + L;
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, nk, c->hd,
		    scale, c->qkv + (size_t)i0 * 3 * d + off, (int)(3 * d),
		    ctx_k(c, l, s, 0) + off, (int)d, 0.0f, sc, nk);
	for (int r = 0; r < L; r++) {
		float *row = sc + (size_t)r * (size_t)nk;
		int valid = p0 + r + 1;
		c->ops->softmax(row, valid);
		memset(row + valid, 0, (size_t)(nk - valid) * sizeof(float));
	}
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, c->hd, nk,
		    1.0f, sc, nk, ctx_v(c, l, s, 0) + off, (int)d, 0.0f,
		    c->att + (size_t)i0 * d + off, (int)d);
}

static void att_run(void *arg, int ith, int nth)
{
	att_job *j = arg;
	engine_ctx *c = j->c;
	float *sc = c->scores + (size_t)ith * c->scores_per_thread;
	size_t d = (size_t)c->d;
	for (;;) {
		int t = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
		if (t >= j->n_runs * c->n_head)
			break;
		int r = t / c->n_head, h = t % c->n_head;
		int i0 = c->run_start[r], L = c->run_start[r + 1] - i0;
		int s = j->b->seq[i0], p0 = j->b->pos[i0];
		if (L >= ATT_GEMM_MIN) {
			att_run_gemm(c, j->layer, s, p0, L, i0, sc, j->scale, h);
			continue;
		}
		size_t off = (size_t)h * (size_t)c->hd;
		for (int i = i0; i < i0 + L; i++)
			att_token(c, j->layer, s, j->b->pos[i],
				  c->qkv + (size_t)i * 3 * d + off,
				  c->att + (size_t)i * d + off, sc, j->scale, h);
	}
}

/* ---- Forward pass ---------------------------------------------------------- */

/* Checks the whole batch before anything changes. */
static int decode_check(engine_ctx *c, const engine_batch *b, int *n_out,
			pt_err *e)
{
	if (!b || b->n < 1 || !b->token || !b->pos || !b->seq)
		return pt_err_set(e, PT_EINVAL, "empty or incomplete batch");
	if (b->n > c->p.n_batch)
		return pt_err_set(e, PT_ETOOLARGE,
				  "batch of %d tokens is over the context's n_batch of %d",
				  b->n, c->p.n_batch);
	memcpy(c->seq_fill, c->kv_len, (size_t)c->p.n_seq * sizeof(int32_t));
	int n_out_rows = 0;
	for (int i = 0; i < b->n; i++) {
		int32_t s = b->seq[i], p = b->pos[i], t = b->token[i];
		if (s < 0 || s >= c->p.n_seq)
			return pt_err_set(e, PT_EINVAL,
					  "batch token %d: sequence %d is not in [0, %d)",
					  i, s, c->p.n_seq);
		if (t < 0 || t >= c->n_vocab)
			return pt_err_set(e, PT_EINVAL,
					  "batch token %d: id %d is not in [0, %d)",
					  i, t, c->n_vocab);
		if (p >= c->p.n_ctx)
			return pt_err_set(e, PT_ECONTEXT,
					  "sequence %d: position %d is past the context of %d tokens",
					  s, p, c->p.n_ctx);
		if (p != c->seq_fill[s])
			return pt_err_set(e, PT_EINVAL,
					  "batch token %d: position %d of sequence %d does not continue its cache of %d tokens",
					  i, p, s, c->seq_fill[s]);
		c->seq_fill[s]++;
		if (b->logits && b->logits[i])
			n_out_rows++;
	}
	*n_out = n_out_rows;
	return 0;
}

static void decode_embed(engine_ctx *c, const engine_batch *b)
{
	const engine_model *m = c->m;
	size_t d = (size_t)c->d;
	size_t te = engine__row_bytes(m->tok_embd->type, c->d);
	size_t pe = engine__row_bytes(m->pos_embd->type, c->d);
	for (int i = 0; i < b->n; i++) {
		float *h = c->h + (size_t)i * d;
		engine__dequant_row(m->tok_embd->type,
				    (const char *)m->tok_embd->data + (size_t)b->token[i] * te,
				    h, c->d);
		engine__dequant_row(m->pos_embd->type,
				    (const char *)m->pos_embd->data + (size_t)b->pos[i] * pe,
				    c->a, c->d);
		c->ops->add(h, c->a, c->d);
	}
}

/* Splits the batch into runs: same sequence, consecutive positions. */
static int decode_runs(engine_ctx *c, const engine_batch *b)
{
	int n_runs = 0;
	for (int i = 0; i < b->n; i++) {
		if (i == 0 || b->seq[i] != b->seq[i - 1] ||
		    b->pos[i] != b->pos[i - 1] + 1)
			c->run_start[n_runs++] = i;
	}
	c->run_start[n_runs] = b->n;
	return n_runs;
}

static void decode_layer(engine_ctx *c, const engine_batch *b, int l,
			 int n_runs)
{
	const ctx_layer *L = &c->layers[l];
	size_t d = (size_t)c->d;
	int n = b->n;

	if (l == 0)
		rows(c, ROWS_LN1, n, L->ln1_w, L->ln1_b);
	else
		rows(c, ROWS_ADD_LN, n, L->ln1_w, L->ln1_b);
	engine__matmul(c->pool, &c->mm, &L->qkv, L->qkv_b, c->a, d, n, c->qkv,
		       3 * d, 0);
	for (int i = 0; i < n; i++) {
		const float *q = c->qkv + (size_t)i * 3 * d;
		memcpy(ctx_k(c, l, b->seq[i], b->pos[i]), q + d, d * sizeof(float));
		memcpy(ctx_v(c, l, b->seq[i], b->pos[i]), q + 2 * d, d * sizeof(float));
	}
	att_job aj = { .c = c, .b = b, .layer = l, .n_runs = n_runs,
		       .scale = 1.0f / sqrtf((float)c->hd) };
	atomic_init(&aj.next, 0);
	engine__pool_run(c->pool, att_run, &aj);
	engine__matmul(c->pool, &c->mm, &L->out, L->out_b, c->att, d, n, c->a,
		       d, 0);
	rows(c, ROWS_ADD_LN, n, L->ln2_w, L->ln2_b);
	engine__matmul(c->pool, &c->mm, &L->up, L->up_b, c->a, d, n, c->ffb,
		       (size_t)c->ff, 1);
	engine__matmul(c->pool, &c->mm, &L->down, L->down_b, c->ffb,
		       (size_t)c->ff, n, c->a, d, 0);
}

int engine_decode(engine_ctx *c, const engine_batch *b, float *out, pt_err *e)
{
	int n_out = 0, rc = decode_check(c, b, &n_out, e);
	if (rc)
		return rc;
	if (n_out > 0 && !out)
		return pt_err_set(e, PT_EINVAL,
				  "batch asks for logits but gives no output buffer");
	int n_runs = decode_runs(c, b);
	decode_embed(c, b);
	for (int l = 0; l < c->n_layer; l++)
		decode_layer(c, b, l, n_runs);
	rows(c, ROWS_ADD, b->n, NULL, NULL);

	/* final LayerNorm and logits for the requested rows only */
	size_t d = (size_t)c->d;
	int r = 0;
	for (int i = 0; i < b->n; i++)
		if (b->logits && b->logits[i])
			c->ops->layernorm(c->hl + (size_t)r++ * d, c->h + (size_t)i * d,
					  c->lnf_w, c->lnf_b, c->d, c->eps);
	if (n_out > 0)
		engine__matmul(c->pool, &c->mm, &c->output, NULL, c->hl, d, n_out,
			       out, (size_t)c->n_vocab, 0);
	for (int i = 0; i < b->n; i++) {
		c->toks[(size_t)b->seq[i] * (size_t)c->p.n_ctx + (size_t)b->pos[i]] = b->token[i];
		if (b->pos[i] + 1 > c->kv_len[b->seq[i]])
			c->kv_len[b->seq[i]] = b->pos[i] + 1;
	}
	return 0;
}

int engine_eval(engine_ctx *c, int32_t seq, const int32_t *tokens, size_t n,
		float *last_logits, pt_err *e)
{
	if (seq < 0 || seq >= c->p.n_seq)
		return pt_err_set(e, PT_EINVAL, "sequence %d is not in [0, %d)",
				  seq, c->p.n_seq);
	if (n == 0)
		return last_logits ? pt_err_set(e, PT_EINVAL,
						"no tokens to take logits from")
				   : 0;
	for (size_t i = 0; i < n; i++)
		if (tokens[i] < 0 || tokens[i] >= c->n_vocab)
			return pt_err_set(e, PT_EINVAL,
					  "token %zu: id %d is not in [0, %d)", i,
					  tokens[i], c->n_vocab);
	/* Checked up front so a prompt that cannot fit changes nothing. */
	int32_t start = c->kv_len[seq];
	if (n > (size_t)(c->p.n_ctx - start))
		return pt_err_set(e, PT_ECONTEXT,
				  "%zu tokens after %d cached do not fit the context of %d",
				  n, start, c->p.n_ctx);
	for (size_t done = 0; done < n;) {
		size_t k = n - done;
		if (k > (size_t)c->p.n_batch)
			k = (size_t)c->p.n_batch;
		for (size_t i = 0; i < k; i++) {
			c->eval_pos[i] = start + (int32_t)(done + i);
			c->eval_seq[i] = seq;
			c->eval_logits[i] = last_logits && done + i == n - 1;
		}
		engine_batch b = { (int32_t)k, tokens + done, c->eval_pos,
				   c->eval_seq, c->eval_logits };
		int rc = engine_decode(c, &b, last_logits, e);
		if (rc)
			return rc;
		done += k;
	}
	return 0;
}
