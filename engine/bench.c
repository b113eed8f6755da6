/*
 * bench.c: benchmark support. Builds PolyLM-shaped models with random
 * weights in memory (so the 1.7B shape can be timed without a 7 GB file)
 * and measures the machine's memory read bandwidth, the floor that decode
 * speed is judged against.
 */
#include <immintrin.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

int engine_shape_by_name(const char *name, engine_shape *s, pt_err *e)
{
	if (name && strcmp(name, "1.7b") == 0) {
		*s = (engine_shape){ .n_vocab = 256000, .n_ctx = 2048,
				     .n_embd = 2048, .n_head = 16, .n_layer = 24,
				     .n_ff = 8192, .norm_eps = 1e-5f };
		return 0;
	}
	if (name && strcmp(name, "tiny") == 0) {
		*s = (engine_shape){ .n_vocab = 320, .n_ctx = 1024, .n_embd = 64,
				     .n_head = 4, .n_layer = 2, .n_ff = 256,
				     .norm_eps = 1e-5f };
		return 0;
	}
	return pt_err_set(e, PT_EINVAL, "unknown model shape \"%s\" (known: 1.7b, tiny)",
			  name ? name : "");
}

/* ---- Random model ---------------------------------------------------------- */

/* splitmix64: a fast generator good enough for weights. */
static inline uint64_t rnd_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [center - half, center + half]. */
static void rnd_fill(uint64_t *s, float *x, int64_t n, float center, float half)
{
	for (int64_t i = 0; i < n; i++) {
		float u = (float)(rnd_next(s) >> 40) * (1.0f / 16777216.0f);
		x[i] = center + (2.0f * u - 1.0f) * half;
	}
}

typedef struct rnd_build {
	engine_model *m;
	size_t used;     /* bytes of owned_data laid out so far */
	int n;           /* tensors described so far */
	float *row;      /* one f32 row of the longest length */
	uint64_t seed;
} rnd_build;

/* Describes tensor n (name, type, shape) and places its data. */
static int rnd_tensor(rnd_build *b, const char *name, int type, int64_t k,
		      int64_t rows, pt_err *e)
{
	engine__tensor *t = &b->m->owned_tensors[b->n++];
	size_t rb = engine__row_bytes(type, k), nbytes;
	if (!(t->name = strdup(name)))
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	if (rb == 0 || pt_mul_size(rb, (size_t)rows, &nbytes))
		return pt_err_set(e, PT_EINVAL,
				  "%s: %lld x %lld does not suit type %s", name,
				  (long long)k, (long long)rows, engine_type_name(type));
	t->type = type;
	t->n_dims = rows > 1 ? 2 : 1;
	t->ne[0] = k;
	t->ne[1] = rows;
	t->ne[2] = t->ne[3] = 1;
	t->nbytes = nbytes;
	t->offset = b->used;
	size_t next;
	if (pt_add_size(b->used, (nbytes + 63) / 64 * 64, &next))
		return pt_err_set(e, PT_ETOOLARGE, "model size overflows");
	b->used = next;
	return 0;
}

/* Fills a tensor's data: weights ~ uniform with the spread of GPT-2's
 * N(0, 0.02) init; norm weights near 1; biases small. */
static void rnd_fill_tensor(rnd_build *b, engine__tensor *t, float center,
			    float half)
{
	size_t rb = t->nbytes / (size_t)t->ne[1];
	uint64_t s = b->seed ^ ((uint64_t)t->offset * 0x2545f4914f6cdd1dull);
	t->data = (char *)b->m->owned_data + t->offset;
	for (int64_t r = 0; r < t->ne[1]; r++) {
		rnd_fill(&s, b->row, t->ne[0], center, half);
		engine__quant_row(t->type, b->row, (char *)t->data + (size_t)r * rb,
				  t->ne[0]);
	}
}

/* The type of a matrix with rows of k: K-quant rows must be whole
 * super-blocks of 256 (PolyLM-1.7B's are; the tiny shape's 64 are not), and
 * such a matrix falls back to q8_0, as `polytrans-model quantize` does. */
static int rnd_mat_type(int type, int64_t k)
{
	return engine__row_bytes(type, k) ? type : ENGINE_TYPE_Q8_0;
}

static int rnd_layout(rnd_build *b, const engine_shape *sh, int type,
		      pt_err *e)
{
	int64_t d = sh->n_embd, ff = sh->n_ff;
	char nm[64];
	int rc;
#define T(NAME, TY, K, N)                                           \
	do {                                                        \
		if ((rc = rnd_tensor(b, NAME, TY, K, N, e)))        \
			return rc;                                  \
	} while (0)
	T("token_embd.weight", rnd_mat_type(type, d), d, sh->n_vocab);
	T("position_embd.weight", ENGINE_TYPE_F32, d, sh->n_ctx);
	for (int l = 0; l < sh->n_layer; l++) {
		static const char *names[12] = {
			"attn_norm.weight", "attn_norm.bias", "attn_qkv.weight",
			"attn_qkv.bias", "attn_output.weight", "attn_output.bias",
			"ffn_norm.weight", "ffn_norm.bias", "ffn_up.weight",
			"ffn_up.bias", "ffn_down.weight", "ffn_down.bias",
		};
		const int64_t k[12] = { d, d, d, 3 * d, d, d, d, d, d, ff, ff, d };
		const int64_t n[12] = { 1, 1, 3 * d, 1, d, 1, 1, 1, ff, 1, d, 1 };
		for (int i = 0; i < 12; i++) {
			snprintf(nm, sizeof nm, "blk.%d.%s", l, names[i]);
			T(nm, n[i] > 1 ? rnd_mat_type(type, k[i]) : ENGINE_TYPE_F32, k[i], n[i]);
		}
	}
	T("output_norm.weight", ENGINE_TYPE_F32, d, 1);
	T("output_norm.bias", ENGINE_TYPE_F32, d, 1);
	T("output.weight", rnd_mat_type(type, d), d, sh->n_vocab);
#undef T
	return 0;
}

static void rnd_wire(engine_model *m, const engine_shape *sh)
{
	engine__tensor *t = m->owned_tensors;
	m->tok_embd = &t[0];
	m->pos_embd = &t[1];
	for (int l = 0; l < sh->n_layer; l++) {
		engine__tensor *b = &t[2 + 12 * l];
		m->layers[l] = (engine__layer){
			b, b + 1, b + 2, b + 3, b + 4, b + 5,
			b + 6, b + 7, b + 8, b + 9, b + 10, b + 11,
		};
	}
	int n = m->n_owned_tensors;
	m->out_norm = &t[n - 3];
	m->out_norm_b = &t[n - 2];
	m->output = &t[n - 1];
}

static void rnd_info(engine_model *m, const engine_shape *sh, int type)
{
	engine_model_info *in = &m->info;
	in->path = m->path;
	in->arch = "gpt2";
	in->name = m->name;
	in->weight_type = engine_type_name(type);
	in->tokenizer = "none";
	in->n_vocab = sh->n_vocab;
	in->n_ctx = sh->n_ctx;
	in->n_embd = sh->n_embd;
	in->n_head = sh->n_head;
	in->n_layer = sh->n_layer;
	in->n_ff = sh->n_ff;
	in->norm_eps = sh->norm_eps;
	in->n_tensors = m->n_owned_tensors;
	in->bos_id = in->eos_id = in->unk_id = in->pad_id = -1;
	in->has_output = 1;
	for (int i = 0; i < m->n_owned_tensors; i++) {
		const engine__tensor *t = &m->owned_tensors[i];
		in->weight_bytes += t->nbytes;
		if (strcmp(t->name, "output.weight") != 0)
			in->n_params += (uint64_t)(t->ne[0] * t->ne[1]);
	}
}

int engine_model_new_random(const engine_shape *sh, int type, uint64_t seed,
			    engine_model **out, pt_err *e)
{
	if (!sh || sh->n_embd <= 0 || sh->n_head <= 0 || sh->n_embd % sh->n_head ||
	    sh->n_layer <= 0 || sh->n_layer > 1000 || sh->n_ff <= 0 ||
	    sh->n_vocab <= 0 || sh->n_ctx <= 0)
		return pt_err_set(e, PT_EINVAL, "bad model shape");
	if (!engine__kern_best(type))
		return pt_err_set(e, PT_EUNSUPPORTED,
				  "weight type %d (%s) has no compute kernel", type,
				  engine_type_name(type) ? engine_type_name(type) : "?");
	engine_model *m = calloc(1, sizeof(*m));
	if (!m)
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	rnd_build b = { .m = m, .seed = seed };
	int n_t = 2 + 12 * sh->n_layer + 3, rc = PT_ENOMEM;
	char nm[64];
	snprintf(nm, sizeof nm, "random %dx%d", sh->n_layer, sh->n_embd);
	m->path = strdup("(random weights)");
	m->name = strdup(nm);
	m->owned_tensors = calloc((size_t)n_t, sizeof(*m->owned_tensors));
	m->layers = calloc((size_t)sh->n_layer, sizeof(*m->layers));
	int64_t max_k = sh->n_ff > sh->n_embd ? sh->n_ff : sh->n_embd;
	b.row = malloc((size_t)max_k * sizeof(float));
	if (!m->path || !m->name || !m->owned_tensors || !m->layers || !b.row) {
		pt_err_set(e, PT_ENOMEM, "out of memory");
		goto fail;
	}
	m->n_owned_tensors = n_t;
	if ((rc = rnd_layout(&b, sh, type, e)))
		goto fail;
	m->owned_data = aligned_alloc(64, b.used);
	if (!m->owned_data) {
		rc = pt_err_set(e, PT_ENOMEM,
				"out of memory for %zu MiB of random weights",
				b.used >> 20);
		goto fail;
	}
	for (int i = 0; i < n_t; i++) {
		engine__tensor *t = &m->owned_tensors[i];
		int is_norm = strstr(t->name, "norm.weight") != NULL;
		int is_bias = strstr(t->name, ".bias") != NULL;
		rnd_fill_tensor(&b, t, is_norm ? 1.0f : 0.0f,
				is_norm ? 0.1f : is_bias ? 0.01f : 0.0346f);
	}
	rnd_wire(m, sh);
	rnd_info(m, sh, type);
	free(b.row);
	*out = m;
	return 0;
fail:
	free(b.row);
	engine_model_free(m);
	return rc;
}

/* ---- Memory bandwidth ------------------------------------------------------ */

typedef struct bw_job {
	const char *buf;
	size_t bytes;
	_Atomic size_t next;  /* next chunk */
	_Atomic uint64_t sink;
} bw_job;

#define BW_CHUNK ((size_t)4 << 20)

__attribute__((target("avx2"))) static uint64_t bw_read_avx2(const char *p,
							       size_t n)
{
	__m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
	for (size_t i = 0; i + 128 <= n; i += 128) {
		a0 = _mm256_add_epi64(a0, _mm256_load_si256((const __m256i *)(p + i)));
		a1 = _mm256_add_epi64(a1, _mm256_load_si256((const __m256i *)(p + i + 32)));
		a2 = _mm256_add_epi64(a2, _mm256_load_si256((const __m256i *)(p + i + 64)));
		a3 = _mm256_add_epi64(a3, _mm256_load_si256((const __m256i *)(p + i + 96)));
	}
	a0 = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
	return (uint64_t)_mm256_extract_epi64(a0, 0) ^ (uint64_t)_mm256_extract_epi64(a0, 3);
}

static uint64_t bw_read_plain(const char *p, size_t n)
{
	const uint64_t *q = (const uint64_t *)p;
	uint64_t s = 0;
	for (size_t i = 0; i < n / 8; i++)
		s += q[i];
	return s;
}

static void bw_run(void *arg, int ith, int nth)
{
	bw_job *j = arg;
	uint64_t s = 0;
	for (;;) {
		size_t off = atomic_fetch_add(&j->next, 1) * BW_CHUNK;
		if (off >= j->bytes)
			break;
		const char *p = j->buf + off;
		s += engine__isa_best() >= ENGINE_ISA_AVX2 ? bw_read_avx2(p, BW_CHUNK)
							   : bw_read_plain(p, BW_CHUNK);
	}
	atomic_fetch_add(&j->sink, s);
}

static void bw_touch(void *arg, int ith, int nth)
{
	bw_job *j = arg;
	for (;;) {
		size_t off = atomic_fetch_add(&j->next, 1) * BW_CHUNK;
		if (off >= j->bytes)
			break;
		memset((char *)j->buf + off, 1, BW_CHUNK);
	}
}

int engine_membw_measure(int n_threads, size_t bytes, int passes,
			 double *gbps, pt_err *e)
{
	if (bytes < BW_CHUNK || passes < 1)
		return pt_err_set(e, PT_EINVAL,
				  "bandwidth test needs at least 4 MiB and one pass");
	engine__pool *pool;
	int rc = engine__pool_new(n_threads, &pool, e);
	if (rc)
		return rc;
	bytes = bytes / BW_CHUNK * BW_CHUNK;
	char *buf = aligned_alloc(4096, bytes);
	if (!buf) {
		engine__pool_free(pool);
		return pt_err_set(e, PT_ENOMEM,
				  "out of memory for a %zu MiB bandwidth buffer",
				  bytes >> 20);
	}
	bw_job j = { .buf = buf, .bytes = bytes };
	atomic_init(&j.sink, 0);
	atomic_init(&j.next, 0);
	engine__pool_run(pool, bw_touch, &j);
	double best = 0.0;
	for (int i = 0; i < passes + 1; i++) {
		atomic_store(&j.next, 0);
		double t0 = pt_now();
		engine__pool_run(pool, bw_run, &j);
		double dt = pt_now() - t0;
		if (i > 0 && dt > 0 && (double)bytes / dt > best) /* pass 0 warms up */
			best = (double)bytes / dt;
	}
	free(buf);
	engine__pool_free(pool);
	*gbps = best / 1e9;
	return 0;
}
