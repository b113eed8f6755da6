/* gguf-builder.c: see gguf-builder.h. Test code: aborts on out of memory. */
#include "gguf-builder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { U8 = 0, U32 = 4, I32 = 5, F32 = 6, BOOL = 7, STR = 8, ARR = 9 };

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p) {
		fprintf(stderr, "gguf-builder: out of memory\n");
		abort();
	}
	return p;
}

/* A growing byte buffer. */
typedef struct bb {
	uint8_t *p;
	size_t len, cap;
} bb;

static void bb_put(bb *b, const void *s, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n)
			cap *= 2;
		uint8_t *q = realloc(b->p, cap);
		if (!q)
			abort();
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void bb_u32(bb *b, uint32_t v) { bb_put(b, &v, 4); }
static void bb_u64(bb *b, uint64_t v) { bb_put(b, &v, 8); }

static void bb_str(bb *b, const char *s)
{
	bb_u64(b, strlen(s));
	bb_put(b, s, strlen(s));
}

void tb_init(tb_file *f)
{
	memset(f, 0, sizeof *f);
	memcpy(f->magic, "GGUF", 4);
	f->version = 3;
	f->align = 32;
}

void tb_free(tb_file *f)
{
	for (int i = 0; i < f->n_kv; i++)
		free(f->kv[i].val);
	for (int i = 0; i < f->n_t; i++)
		free(f->t[i].data);
	f->n_kv = f->n_t = 0;
}

void tb_kv_raw(tb_file *f, const char *key, uint32_t type, const void *val, size_t len)
{
	tb_kv *kv = &f->kv[f->n_kv++];

	if (f->n_kv > TB_MAX_KV)
		abort();
	snprintf(kv->key, sizeof kv->key, "%s", key);
	kv->type = type;
	kv->val = xmalloc(len);
	memcpy(kv->val, val, len);
	kv->len = len;
}

void tb_kv_u32(tb_file *f, const char *key, uint32_t v) { tb_kv_raw(f, key, U32, &v, 4); }
void tb_kv_f32(tb_file *f, const char *key, float v) { tb_kv_raw(f, key, F32, &v, 4); }

void tb_kv_bool(tb_file *f, const char *key, int v)
{
	uint8_t b = (uint8_t)(v != 0);

	tb_kv_raw(f, key, BOOL, &b, 1);
}

void tb_kv_str(tb_file *f, const char *key, const char *s)
{
	bb b = { 0 };

	bb_str(&b, s);
	tb_kv_raw(f, key, STR, b.p, b.len);
	free(b.p);
}

void tb_kv_arr(tb_file *f, const char *key, uint32_t elem_type, const void *data, uint64_t n,
	       size_t elem_size)
{
	bb b = { 0 };

	bb_u32(&b, elem_type);
	bb_u64(&b, n);
	bb_put(&b, data, (size_t)n * elem_size);
	tb_kv_raw(f, key, ARR, b.p, b.len);
	free(b.p);
}

void tb_kv_arr_str(tb_file *f, const char *key, const char *const *s, uint64_t n)
{
	bb b = { 0 };

	bb_u32(&b, STR);
	bb_u64(&b, n);
	for (uint64_t i = 0; i < n; i++)
		bb_str(&b, s[i]);
	tb_kv_raw(f, key, ARR, b.p, b.len);
	free(b.p);
}

tb_kv *tb_kv_find(tb_file *f, const char *key)
{
	for (int i = 0; i < f->n_kv; i++)
		if (!strcmp(f->kv[i].key, key))
			return &f->kv[i];
	return NULL;
}

void tb_kv_remove(tb_file *f, const char *key)
{
	tb_kv *kv = tb_kv_find(f, key);

	if (!kv)
		return;
	free(kv->val);
	memmove(kv, kv + 1, (size_t)(&f->kv[f->n_kv] - (kv + 1)) * sizeof *kv);
	f->n_kv--;
}

tb_tensor *tb_tensor_raw(tb_file *f, const char *name, uint32_t n_dims, const uint64_t *ne,
			 uint32_t type, const void *data, size_t nbytes)
{
	tb_tensor *t = &f->t[f->n_t++];

	if (f->n_t > TB_MAX_T)
		abort();
	memset(t, 0, sizeof *t);
	snprintf(t->name, sizeof t->name, "%s", name);
	t->n_dims = n_dims;
	for (uint32_t d = 0; d < n_dims && d < 8; d++)
		t->ne[d] = ne[d];
	t->type = type;
	t->data = xmalloc(nbytes);
	if (data)
		memcpy(t->data, data, nbytes);
	else
		memset(t->data, 0, nbytes);
	t->nbytes = nbytes;
	t->offset = -1;
	return t;
}

/* A small LCG: reproducible and independent of libc's rand. */
static float rnd(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return (float)((*s >> 8) & 0xffffff) / (float)(1 << 23) - 1.0f;
}

tb_tensor *tb_tensor_f32(tb_file *f, const char *name, int n_dims, int64_t ne0, int64_t ne1,
			 unsigned *seed)
{
	uint64_t ne[2] = { (uint64_t)ne0, (uint64_t)ne1 };
	size_t n = (size_t)(ne0 * ne1);
	tb_tensor *t = tb_tensor_raw(f, name, (uint32_t)n_dims, ne, 0, NULL, n * 4);
	float *v = (float *)t->data;

	for (size_t i = 0; i < n; i++)
		v[i] = rnd(seed);
	return t;
}

tb_tensor *tb_tensor_find(tb_file *f, const char *name)
{
	for (int i = 0; i < f->n_t; i++)
		if (!strcmp(f->t[i].name, name))
			return &f->t[i];
	return NULL;
}

void tb_tensor_remove(tb_file *f, const char *name)
{
	tb_tensor *t = tb_tensor_find(f, name);

	if (!t)
		return;
	free(t->data);
	memmove(t, t + 1, (size_t)(&f->t[f->n_t] - (t + 1)) * sizeof *t);
	f->n_t--;
}

static uint64_t align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) / a * a;
}

uint8_t *tb_build(const tb_file *f, size_t *len)
{
	uint64_t off[TB_MAX_T], pos = 0, end = 0;
	bb b = { 0 };

	for (int i = 0; i < f->n_t; i++) {
		pos = align_up(pos, f->align);
		off[i] = f->t[i].offset >= 0 ? (uint64_t)f->t[i].offset : pos;
		if (f->t[i].offset < 0)
			pos += f->t[i].nbytes;
	}
	bb_put(&b, f->magic, 4);
	bb_u32(&b, f->version);
	bb_u64(&b, (uint64_t)f->n_t);
	bb_u64(&b, (uint64_t)f->n_kv);
	for (int i = 0; i < f->n_kv; i++) {
		bb_str(&b, f->kv[i].key);
		bb_u32(&b, f->kv[i].type);
		bb_put(&b, f->kv[i].val, f->kv[i].len);
	}
	for (int i = 0; i < f->n_t; i++) {
		const tb_tensor *t = &f->t[i];
		bb_str(&b, t->name);
		bb_u32(&b, t->n_dims);
		for (uint32_t d = 0; d < t->n_dims && d < 8; d++)
			bb_u64(&b, t->ne[d]);
		bb_u32(&b, t->type);
		bb_u64(&b, off[i]);
	}
	size_t data = (size_t)align_up(b.len, f->align);
	for (int i = 0; i < f->n_t; i++)
		if (f->t[i].offset < 0 && off[i] + f->t[i].nbytes > end)
			end = off[i] + f->t[i].nbytes;
	size_t total = data + (size_t)end;
	uint8_t *zero = calloc(1, total - b.len + 1);
	bb_put(&b, zero, total - b.len);
	free(zero);
	for (int i = 0; i < f->n_t; i++)
		if (f->t[i].offset < 0)
			memcpy(b.p + data + off[i], f->t[i].data, f->t[i].nbytes);
	*len = b.len;
	return b.p;
}

int tb_write(const char *path, const void *buf, size_t len)
{
	FILE *fp = fopen(path, "wb");
	int rc;

	if (!fp)
		return -1;
	rc = fwrite(buf, 1, len, fp) == len ? 0 : -1;
	if (fclose(fp) != 0)
		rc = -1;
	return rc;
}

int tb_save(const tb_file *f, const char *path)
{
	size_t len;
	uint8_t *p = tb_build(f, &len);
	int rc = tb_write(path, p, len);

	free(p);
	return rc;
}

/* ---- A tiny model -------------------------------------------------------- */

static const char *const words[] = { "\xe2\x96\x81", "\xe2\x96\x81the", "\xe2\x96\x81" "a", "e",
				     "t", "h", "th", "\xe2\x96\x81t" };
#define N_WORDS (int)(sizeof words / sizeof words[0])

int tb_vocab_size(void)
{
	return 3 + 256 + N_WORDS;
}

static void tiny_vocab(tb_file *f)
{
	int n = tb_vocab_size();
	const char **tok = xmalloc((size_t)n * sizeof *tok);
	char (*bytes)[8] = xmalloc(256 * sizeof *bytes);
	float *score = xmalloc((size_t)n * sizeof *score);
	int32_t *type = xmalloc((size_t)n * sizeof *type);

	tok[0] = "<unk>", type[0] = 2, score[0] = 0;
	tok[1] = "<s>", type[1] = 3, score[1] = 0;
	tok[2] = "</s>", type[2] = 3, score[2] = 0;
	for (int b = 0; b < 256; b++) {
		snprintf(bytes[b], sizeof bytes[b], "<0x%02X>", b);
		tok[3 + b] = bytes[b], type[3 + b] = 6, score[3 + b] = 0;
	}
	for (int w = 0; w < N_WORDS; w++)
		tok[259 + w] = words[w], type[259 + w] = 1, score[259 + w] = -(float)w;
	tb_kv_str(f, "tokenizer.ggml.model", "llama");
	tb_kv_arr_str(f, "tokenizer.ggml.tokens", tok, (uint64_t)n);
	tb_kv_arr(f, "tokenizer.ggml.scores", F32, score, (uint64_t)n, 4);
	tb_kv_arr(f, "tokenizer.ggml.token_type", I32, type, (uint64_t)n, 4);
	tb_kv_u32(f, "tokenizer.ggml.bos_token_id", 1);
	tb_kv_u32(f, "tokenizer.ggml.eos_token_id", 2);
	tb_kv_u32(f, "tokenizer.ggml.unknown_token_id", 0);
	tb_kv_bool(f, "tokenizer.ggml.add_bos_token", 1);
	tb_kv_bool(f, "tokenizer.ggml.add_eos_token", 0);
	tb_kv_bool(f, "tokenizer.ggml.add_space_prefix", 1);
	tb_kv_bool(f, "tokenizer.ggml.remove_extra_whitespaces", 0);
	tb_kv_bool(f, "polytrans.tokenizer.byte_fallback", 1);
	free(tok);
	free(bytes);
	free(score);
	free(type);
}

void tb_tiny_model(tb_file *f, const tb_model *p)
{
	unsigned seed = p->seed;
	int d = p->d, nv = tb_vocab_size();
	char name[96];

	tb_init(f);
	tb_kv_str(f, "general.architecture", "gpt2");
	tb_kv_str(f, "general.name", "tiny");
	tb_kv_u32(f, "general.file_type", 0);
	tb_kv_u32(f, "gpt2.context_length", (uint32_t)p->n_ctx);
	tb_kv_u32(f, "gpt2.embedding_length", (uint32_t)d);
	tb_kv_u32(f, "gpt2.feed_forward_length", (uint32_t)p->ff);
	tb_kv_u32(f, "gpt2.block_count", (uint32_t)p->n_layer);
	tb_kv_u32(f, "gpt2.attention.head_count", (uint32_t)p->n_head);
	tb_kv_f32(f, "gpt2.attention.layer_norm_epsilon", 1e-5f);
	tb_kv_str(f, "polytrans.prompt_kind", "base");
	tiny_vocab(f);
	tb_tensor_f32(f, "token_embd.weight", 2, d, nv, &seed);
	tb_tensor_f32(f, "position_embd.weight", 2, d, p->n_ctx, &seed);
	for (int l = 0; l < p->n_layer; l++) {
		const struct { const char *s; int n_dims; int64_t a, b; } spec[] = {
			{ "attn_norm.weight", 1, d, 1 }, { "attn_norm.bias", 1, d, 1 },
			{ "attn_qkv.weight", 2, d, 3 * d }, { "attn_qkv.bias", 1, 3 * d, 1 },
			{ "attn_output.weight", 2, d, d }, { "attn_output.bias", 1, d, 1 },
			{ "ffn_norm.weight", 1, d, 1 }, { "ffn_norm.bias", 1, d, 1 },
			{ "ffn_up.weight", 2, d, p->ff }, { "ffn_up.bias", 1, p->ff, 1 },
			{ "ffn_down.weight", 2, p->ff, d }, { "ffn_down.bias", 1, d, 1 },
		};
		for (size_t i = 0; i < sizeof spec / sizeof spec[0]; i++) {
			snprintf(name, sizeof name, "blk.%d.%s", l, spec[i].s);
			tb_tensor_f32(f, name, spec[i].n_dims, spec[i].a, spec[i].b, &seed);
		}
	}
	tb_tensor_f32(f, "output_norm.weight", 1, d, 1, &seed);
	tb_tensor_f32(f, "output_norm.bias", 1, d, 1, &seed);
	if (p->with_output) {
		tb_tensor *te = tb_tensor_find(f, "token_embd.weight");
		uint64_t ne[2] = { (uint64_t)d, (uint64_t)nv };
		tb_tensor_raw(f, "output.weight", 2, ne, 0, te->data, te->nbytes);
	}
}
