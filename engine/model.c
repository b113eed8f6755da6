/*
 * model.c: a PolyLM model from a validated GGUF file. Checks that the file
 * is a gpt2-architecture model, reads the hyperparameters, finds every
 * tensor of the layout with its exact shape and a type the engine computes
 * with, then loads the tokenizer. Anything missing or inconsistent fails
 * here, with the tensor or key named, so the forward pass can trust the
 * model without checking again.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine-impl.h"

/* Bounds far above any PolyLM (13B: d 5120, 40 layers, ff 20480) that keep
 * every product of them inside int32 and size_t arithmetic. */
#define MAX_EMBD 65536
#define MAX_LAYER 1024
#define MAX_FF (1 << 20)
#define MAX_CTX (1 << 20)
#define TENSOR_ALIGN 32

engine_model_params engine_model_default_params(void)
{
	engine_model_params p = { .use_mmap = 1, .check_tied = 1 };

	return p;
}

/* A u32 hyperparameter in [lo, hi]. */
static int hparam(const engine_model *m, const char *key, int32_t lo, int32_t hi,
		  int32_t *out, pt_err *e)
{
	uint32_t v;
	int rc = engine__gguf_get_u32(m->gguf, key, &v, e);

	if (rc == PT_ENOTFOUND)
		return pt_err_set(e, PT_EFORMAT, "%s: key %s is missing (every gpt2 model has it)",
				  m->path, key);
	if (rc)
		return rc;
	if (v < (uint32_t)lo || v > (uint32_t)hi)
		return pt_err_set(e, PT_EFORMAT, "%s: key %s is %" PRIu32 " (must be %" PRId32
				  " to %" PRId32 ")", m->path, key, v, lo, hi);
	*out = (int32_t)v;
	return 0;
}

static int read_hparams(engine_model *m, pt_err *e)
{
	engine_model_info *in = &m->info;
	int rc;

	if ((rc = hparam(m, "gpt2.context_length", 1, MAX_CTX, &in->n_ctx, e)) ||
	    (rc = hparam(m, "gpt2.embedding_length", 1, MAX_EMBD, &in->n_embd, e)) ||
	    (rc = hparam(m, "gpt2.feed_forward_length", 1, MAX_FF, &in->n_ff, e)) ||
	    (rc = hparam(m, "gpt2.block_count", 1, MAX_LAYER, &in->n_layer, e)) ||
	    (rc = hparam(m, "gpt2.attention.head_count", 1, MAX_EMBD, &in->n_head, e)))
		return rc;
	if (in->n_embd % in->n_head)
		return pt_err_set(e, PT_EFORMAT, "%s: embedding length %" PRId32 " is not a "
				  "multiple of the head count %" PRId32, m->path, in->n_embd,
				  in->n_head);
	rc = engine__gguf_get_f32(m->gguf, "gpt2.attention.layer_norm_epsilon", &in->norm_eps, e);
	if (rc == PT_ENOTFOUND)
		return pt_err_set(e, PT_EFORMAT, "%s: key gpt2.attention.layer_norm_epsilon is "
				  "missing", m->path);
	if (rc)
		return rc;
	if (!(in->norm_eps > 0.0f && in->norm_eps < 1.0f))
		return pt_err_set(e, PT_EFORMAT, "%s: key gpt2.attention.layer_norm_epsilon is "
				  "%g (must be in (0, 1))", m->path, (double)in->norm_eps);
	return 0;
}

/*
 * Finds a tensor with shape [ne0, ne1] (ne1 = 1 for a vector). Vectors and
 * position embeddings must be F32 (the forward pass adds them as they are);
 * matrices may have any type the engine computes with.
 */
static int want(const engine_model *m, const char *name, int64_t ne0, int64_t ne1,
		bool f32_only, bool optional, const engine__tensor **out, pt_err *e)
{
	const engine__tensor *t = engine__gguf_find(m->gguf, name);
	const engine_type_traits *tt;

	*out = NULL;
	if (!t) {
		if (optional)
			return 0;
		return pt_err_set(e, PT_EFORMAT, "%s: tensor %s is missing", m->path, name);
	}
	if (t->ne[0] != ne0 || t->ne[1] != ne1 || t->ne[2] != 1 || t->ne[3] != 1)
		return pt_err_set(e, PT_EFORMAT, "%s: tensor %s has shape [%" PRId64 ", %" PRId64
				  ", %" PRId64 ", %" PRId64 "], expected [%" PRId64 ", %" PRId64 "]",
				  m->path, name, t->ne[0], t->ne[1], t->ne[2], t->ne[3], ne0, ne1);
	tt = engine__type(t->type);
	if (f32_only && t->type != ENGINE_TYPE_F32)
		return pt_err_set(e, PT_EUNSUPPORTED, "%s: tensor %s has type %s; norms, biases "
				  "and position embeddings must be f32", m->path, name, tt->name);
	if (!tt->supported)
		return pt_err_set(e, PT_EUNSUPPORTED, "%s: tensor %s has type %s, which this "
				  "engine does not compute with (f32, f16, bf16, q8_0, q4_0, q4_k and "
				  "q6_k are supported; `polytrans-model quantize` converts from those)",
				  m->path, name, tt->name);
	if ((uintptr_t)t->data % TENSOR_ALIGN)
		return pt_err_set(e, PT_EFORMAT, "%s: tensor %s: data at file offset %" PRIu64
				  " is not %d-byte aligned (general.alignment is %" PRIu64 ")",
				  m->path, name, t->offset, TENSOR_ALIGN,
				  engine__gguf_alignment(m->gguf));
	*out = t;
	return 0;
}

static int find_layer(engine_model *m, int il, engine__layer *l, pt_err *e)
{
	const int64_t d = m->info.n_embd, ff = m->info.n_ff;
	const struct {
		const char *suffix;
		int64_t ne0, ne1;
		const engine__tensor **dst;
	} specs[] = {
		{ "attn_norm.weight", d, 1, &l->attn_norm },
		{ "attn_norm.bias", d, 1, &l->attn_norm_b },
		{ "attn_qkv.weight", d, 3 * d, &l->attn_qkv },
		{ "attn_qkv.bias", 3 * d, 1, &l->attn_qkv_b },
		{ "attn_output.weight", d, d, &l->attn_out },
		{ "attn_output.bias", d, 1, &l->attn_out_b },
		{ "ffn_norm.weight", d, 1, &l->ffn_norm },
		{ "ffn_norm.bias", d, 1, &l->ffn_norm_b },
		{ "ffn_up.weight", d, ff, &l->ffn_up },
		{ "ffn_up.bias", ff, 1, &l->ffn_up_b },
		{ "ffn_down.weight", ff, d, &l->ffn_down },
		{ "ffn_down.bias", d, 1, &l->ffn_down_b },
	};

	for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
		char name[64];
		snprintf(name, sizeof name, "blk.%d.%s", il, specs[i].suffix);
		int rc = want(m, name, specs[i].ne0, specs[i].ne1, specs[i].ne1 == 1, false,
			      specs[i].dst, e);
		if (rc)
			return rc;
	}
	return 0;
}

static int find_tensors(engine_model *m, pt_err *e)
{
	engine_model_info *in = &m->info;
	const engine__tensor *te = engine__gguf_find(m->gguf, "token_embd.weight");
	const int64_t d = in->n_embd;
	int rc;

	if (!te)
		return pt_err_set(e, PT_EFORMAT, "%s: tensor token_embd.weight is missing", m->path);
	if (te->ne[1] < 1 || te->ne[1] > INT32_MAX)
		return pt_err_set(e, PT_EFORMAT, "%s: tensor token_embd.weight has %" PRId64
				  " rows (the vocabulary size)", m->path, te->ne[1]);
	in->n_vocab = (int32_t)te->ne[1];
	if ((rc = want(m, "token_embd.weight", d, in->n_vocab, false, false, &m->tok_embd, e)) ||
	    (rc = want(m, "position_embd.weight", d, in->n_ctx, true, false, &m->pos_embd, e)) ||
	    (rc = want(m, "output_norm.weight", d, 1, true, false, &m->out_norm, e)) ||
	    (rc = want(m, "output_norm.bias", d, 1, true, false, &m->out_norm_b, e)) ||
	    (rc = want(m, "output.weight", d, in->n_vocab, false, true, &m->output, e)))
		return rc;
	in->has_output = m->output != NULL;
	if (!m->output)
		m->output = m->tok_embd;
	m->layers = calloc((size_t)in->n_layer, sizeof *m->layers);
	if (!m->layers)
		return pt_err_set(e, PT_ENOMEM, "%s: out of memory", m->path);
	for (int il = 0; il < in->n_layer; il++)
		if ((rc = find_layer(m, il, &m->layers[il], e)))
			return rc;
	return 0;
}

/* Optional keys are looked up with a local pt_err, so that an absent one
 * leaves no stale message; this passes a real failure on. */
static int keep(pt_err *e, const pt_err *le, int rc)
{
	if (rc && e)
		*e = *le;
	return rc;
}

/* A string key as a NUL-terminated copy; *out stays NULL if absent. */
static int str_key(const engine_model *m, const char *key, char **out, pt_err *e)
{
	const char *s;
	size_t len;
	pt_err le;
	int rc = engine__gguf_get_str(m->gguf, key, &s, &len, &le);

	*out = NULL;
	if (rc == PT_ENOTFOUND)
		return 0;
	if (rc)
		return keep(e, &le, rc);
	if (!(*out = strndup(s, len)))
		return pt_err_set(e, PT_ENOMEM, "%s: out of memory", m->path);
	return 0;
}

/* A token id key: -1 if absent, an error if outside the vocabulary. */
static int tok_id(const engine_model *m, const char *key, int32_t *out, pt_err *e)
{
	uint32_t v;
	pt_err le;
	int rc = engine__gguf_get_u32(m->gguf, key, &v, &le);

	*out = -1;
	if (rc == PT_ENOTFOUND)
		return 0;
	if (rc)
		return keep(e, &le, rc);
	if (v >= (uint32_t)m->info.n_vocab)
		return pt_err_set(e, PT_EFORMAT, "%s: key %s is %" PRIu32 ", outside the "
				  "vocabulary of %" PRId32, m->path, key, v, m->info.n_vocab);
	*out = (int32_t)v;
	return 0;
}

static int flag(const engine_model *m, const char *key, int dflt, int *out, pt_err *e)
{
	bool b;
	pt_err le;
	int rc = engine__gguf_get_bool(m->gguf, key, &b, &le);

	*out = dflt;
	if (rc == PT_ENOTFOUND)
		return 0;
	if (rc == 0)
		*out = b;
	return keep(e, &le, rc);
}

static int read_tokenizer_info(engine_model *m, pt_err *e)
{
	engine_model_info *in = &m->info;
	const void *data;
	uint64_t n;
	char *model = NULL;
	pt_err le;
	int et, rc;

	if ((rc = str_key(m, "tokenizer.ggml.model", &model, e)))
		return rc;
	if (!model || strcmp(model, "llama") != 0) {
		rc = pt_err_set(e, model ? PT_EUNSUPPORTED : PT_EFORMAT,
				"%s: tokenizer.ggml.model is %s%s%s; only \"llama\" (SentencePiece) "
				"is supported", m->path, model ? "\"" : "missing", model ? model : "",
				model ? "\"" : "");
		free(model);
		return rc;
	}
	free(model);
	in->tokenizer = "llama";
	rc = engine__gguf_get_arr(m->gguf, "tokenizer.ggml.tokens", &et, &n, &data, e);
	if (rc == 0 && n != (uint64_t)in->n_vocab)
		rc = pt_err_set(e, PT_EFORMAT, "%s: tokenizer.ggml.tokens has %" PRIu64 " entries "
				"but token_embd.weight has %" PRId32 " rows", m->path, n, in->n_vocab);
	if (rc == PT_ENOTFOUND)
		rc = pt_err_set(e, PT_EFORMAT, "%s: key tokenizer.ggml.tokens is missing", m->path);
	if (rc ||
	    (rc = tok_id(m, "tokenizer.ggml.bos_token_id", &in->bos_id, e)) ||
	    (rc = tok_id(m, "tokenizer.ggml.eos_token_id", &in->eos_id, e)) ||
	    (rc = tok_id(m, "tokenizer.ggml.unknown_token_id", &in->unk_id, e)) ||
	    (rc = tok_id(m, "tokenizer.ggml.padding_token_id", &in->pad_id, e)) ||
	    (rc = flag(m, "tokenizer.ggml.add_bos_token", 1, &in->add_bos, e)) ||
	    (rc = flag(m, "tokenizer.ggml.add_space_prefix", 1, &in->add_space_prefix, e)) ||
	    (rc = flag(m, "tokenizer.ggml.remove_extra_whitespaces", 1,
			&in->remove_extra_whitespaces, e)))
		return rc;
	rc = engine__gguf_get_arr(m->gguf, "tokenizer.ggml.precompiled_charsmap", &et, &n, &data,
				  &le);
	if (rc && rc != PT_ENOTFOUND)
		return keep(e, &le, rc);
	in->has_charsmap = rc == 0 && n > 0;
	return 0;
}

static int read_general(engine_model *m, pt_err *e)
{
	engine_model_info *in = &m->info;
	char *kind = NULL;
	int rc;

	if ((rc = str_key(m, "general.name", &m->name, e)) ||
	    (rc = str_key(m, "polytrans.prompt_kind", &kind, e)) ||
	    (rc = flag(m, "polytrans.bundled", 0, &in->bundled, e))) {
		free(kind);
		return rc;
	}
	in->name = m->name ? m->name : "";
	if (!kind || strcmp(kind, "base") == 0)
		in->prompt_kind = ENGINE_PROMPT_BASE;
	else if (strcmp(kind, "multialpaca") == 0)
		in->prompt_kind = ENGINE_PROMPT_MULTIALPACA;
	else if (strcmp(kind, "chat") == 0)
		in->prompt_kind = ENGINE_PROMPT_CHAT;
	else
		rc = pt_err_set(e, PT_EFORMAT, "%s: polytrans.prompt_kind is \"%.64s\" (expected "
				"base, multialpaca or chat)", m->path, kind);
	free(kind);
	return rc;
}

/* Parameters (output.weight is not counted: PolyLM ties it to
 * token_embd and the file only stores a copy for other GGUF tools),
 * bytes of tensor data, and the type holding most of those bytes. */
static void count_weights(engine_model *m)
{
	uint64_t by_type[ENGINE_TYPE_COUNT_] = { 0 };
	engine_model_info *in = &m->info;
	int best = ENGINE_TYPE_F32;

	in->n_params = 0;
	in->weight_bytes = 0;
	for (int i = 0; i < engine__gguf_n_tensors(m->gguf); i++) {
		const engine__tensor *t = engine__gguf_tensor(m->gguf, i);
		in->weight_bytes += t->nbytes;
		by_type[t->type] += t->nbytes;
		if (strcmp(t->name, "output.weight") != 0)
			in->n_params += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
	}
	for (int ty = 0; ty < ENGINE_TYPE_COUNT_; ty++)
		if (by_type[ty] > by_type[best])
			best = ty;
	in->weight_type = engine_type_name(best);
}

static int load(engine_model *m, const engine_model_params *p, pt_err *e)
{
	const char *arch;
	size_t len;
	int rc;

	if ((rc = engine__gguf_open(m->path, p->use_mmap, &m->gguf, e)))
		return rc;
	rc = engine__gguf_get_str(m->gguf, "general.architecture", &arch, &len, e);
	if (rc == PT_ENOTFOUND)
		return pt_err_set(e, PT_EFORMAT, "%s: key general.architecture is missing",
				  m->path);
	if (rc)
		return rc;
	if (len != 4 || memcmp(arch, "gpt2", 4) != 0)
		return pt_err_set(e, PT_EUNSUPPORTED, "%s: architecture is \"%.*s\"; only "
				  "\"gpt2\" (PolyLM) is supported", m->path,
				  (int)(len > 64 ? 64 : len), arch);
	m->info.path = m->path;
	m->info.arch = "gpt2";
	m->info.file_bytes = engine__gguf_file_size(m->gguf);
	m->info.n_tensors = engine__gguf_n_tensors(m->gguf);
	if ((rc = read_hparams(m, e)) || (rc = find_tensors(m, e)) ||
	    (rc = read_general(m, e)) || (rc = read_tokenizer_info(m, e)))
		return rc;
	count_weights(m);
	if ((rc = engine__tok_load(m->gguf, &m->tok, e)) && e && !strstr(e->msg, m->path))
		pt_err_prefix(e, "%s", m->path);
	return rc;
}

int engine_model_load(const char *path, const engine_model_params *p, engine_model **out,
		      pt_err *e)
{
	engine_model_params dflt = engine_model_default_params();
	engine_model *m;
	int rc;

	if (!path || !out)
		return pt_err_set(e, PT_EINVAL, "engine_model_load: no path or output");
	m = calloc(1, sizeof *m);
	if (!m || !(m->path = strdup(path))) {
		free(m);
		return pt_err_set(e, PT_ENOMEM, "%s: out of memory", path);
	}
	rc = load(m, p ? p : &dflt, e);
	if (rc) {
		engine_model_free(m);
		return rc;
	}
	*out = m;
	return 0;
}

void engine_model_free(engine_model *m)
{
	if (!m)
		return;
	if (m->tok)
		engine__tok_free(m->tok);
	engine__gguf_close(m->gguf);
	for (int32_t i = 0; m->owned_tensors && i < m->n_owned_tensors; i++)
		free(m->owned_tensors[i].name);
	free(m->owned_tensors);
	free(m->owned_data);
	free(m->layers);
	free(m->name);
	free(m->path);
	free(m);
}

void engine_model_get_info(const engine_model *m, engine_model_info *info)
{
	*info = m->info;
}

int engine_model_tensor(const engine_model *m, int idx, engine_tensor_info *ti)
{
	const engine__tensor *t;

	if (m->gguf)
		t = engine__gguf_tensor(m->gguf, idx);
	else
		t = idx >= 0 && idx < m->n_owned_tensors ? &m->owned_tensors[idx] : NULL;
	if (!t)
		return PT_EINVAL;
	ti->name = t->name;
	ti->type = engine_type_name(t->type);
	ti->n_dims = t->n_dims;
	memcpy(ti->ne, t->ne, sizeof ti->ne);
	ti->offset = t->offset;
	ti->nbytes = t->nbytes;
	return 0;
}
