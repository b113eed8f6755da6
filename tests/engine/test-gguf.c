/*
 * test-gguf: the GGUF reader and the model loader against files built in
 * memory by a writer of the test's own (gguf-builder.c): a valid tiny
 * PolyLM, then one defect at a time, each of which must fail with the right
 * code AND a message naming the key or tensor. Finally every byte-prefix of
 * a valid file is fed to the loader (none may crash; run it under the
 * sanitizer build too).
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine-impl.h"
#include "gguf-builder.h"
#include "tcheck.h"

static char path[4200];
static const tb_model tiny = { .d = 8, .n_head = 2, .n_layer = 2, .ff = 32, .n_ctx = 16,
			       .with_output = 1, .seed = 1 };

/* Writes f, opens it as GGUF and as a model; checks the codes and that the
 * message contains each of the words (NULL-terminated list). */
static void expect(const char *what, tb_file *f, int want_gguf, int want_model, ...)
{
	engine__gguf *g = NULL;
	engine_model *m = NULL;
	pt_err e = { 0 }, em = { 0 };
	va_list ap;

	CHECK(tb_save(f, path) == 0, "%s: cannot write the file", what);
	int rc = engine__gguf_open(path, 1, &g, &e);
	engine__gguf_close(g);
	int rcm = engine_model_load(path, NULL, &m, &em);
	engine_model_free(m);
	CHECK(rc == want_gguf, "%s: gguf open gave %d (%s), want %d", what, rc,
	      rc ? e.msg : "ok", want_gguf);
	CHECK(rcm == want_model, "%s: model load gave %d (%s), want %d", what, rcm,
	      rcm ? em.msg : "ok", want_model);
	const char *msg = rc ? e.msg : em.msg;
	va_start(ap, want_model);
	for (const char *w; (w = va_arg(ap, const char *));)
		CHECK(strstr(msg, w) != NULL, "%s: message \"%s\" does not name \"%s\"", what, msg, w);
	va_end(ap);
	if (rcm)
		CHECK(strstr(em.msg, path) != NULL, "%s: message \"%s\" does not name the file",
		      what, em.msg);
}

/* Same for raw bytes (header patches that the builder cannot express). */
static void expect_bytes(const char *what, const uint8_t *p, size_t len, int want,
			 const char *word)
{
	engine__gguf *g = NULL;
	pt_err e = { 0 };

	CHECK(tb_write(path, p, len) == 0, "%s: cannot write", what);
	int rc = engine__gguf_open(path, 1, &g, &e);
	engine__gguf_close(g);
	CHECK(rc == want, "%s: gave %d (%s), want %d", what, rc, rc ? e.msg : "ok", want);
	CHECK(rc == 0 || strstr(e.msg, word), "%s: message \"%s\" lacks \"%s\"", what, e.msg, word);
}

static void test_valid(void)
{
	tb_file f;
	engine_model *m = NULL, *m2 = NULL;
	engine_model_params p = engine_model_default_params();
	engine_model_info in;
	pt_err e = { 0 };

	tb_tiny_model(&f, &tiny);
	CHECK(tb_save(&f, path) == 0, "write");
	int rc = engine_model_load(path, &p, &m, &e);
	CHECK(rc == 0, "valid model: %s", e.msg);
	if (rc)
		return tb_free(&f);
	engine_model_get_info(m, &in);
	uint64_t d = 8, ff = 32, nv = (uint64_t)tb_vocab_size();
	uint64_t params = nv * d + 16 * d + 2 * (4 * d + d * 3 * d + 3 * d + d * d + d +
						 d * ff + ff + ff * d + d) + 2 * d;
	CHECK(in.n_vocab == (int)nv && in.n_embd == 8 && in.n_head == 2 && in.n_layer == 2 &&
	      in.n_ff == 32 && in.n_ctx == 16, "hyperparameters");
	CHECK(in.n_params == params, "n_params %" PRIu64 ", want %" PRIu64, in.n_params, params);
	CHECK(in.weight_bytes == (params + nv * d) * 4, "weight bytes %" PRIu64, in.weight_bytes);
	CHECK(!strcmp(in.weight_type, "f32") && !strcmp(in.arch, "gpt2") &&
	      !strcmp(in.name, "tiny") && !strcmp(in.tokenizer, "llama"), "strings");
	CHECK(in.has_output && in.bos_id == 1 && in.eos_id == 2 && in.unk_id == 0 &&
	      in.pad_id == -1 && in.add_bos && in.add_space_prefix &&
	      !in.remove_extra_whitespaces && !in.has_charsmap && !in.bundled &&
	      in.prompt_kind == ENGINE_PROMPT_BASE, "tokenizer flags");
	CHECK(in.n_tensors == 29 && in.file_bytes > in.weight_bytes, "counts");
	CHECK(m->output != m->tok_embd && m->layers[1].ffn_down->ne[0] == 32, "tensor pointers");

	engine_tensor_info ti;
	CHECK(engine_model_tensor(m, 0, &ti) == 0 && !strcmp(ti.name, "token_embd.weight") &&
	      ti.ne[0] == 8 && ti.ne[1] == (int64_t)nv && ti.n_dims == 2 && ti.offset % 32 == 0,
	      "tensor 0 info");
	CHECK(engine_model_tensor(m, 29, &ti) == PT_EINVAL, "tensor index past the end");

	/* Read into memory instead of mapping: same values, aligned. */
	p.use_mmap = 0;
	rc = engine_model_load(path, &p, &m2, &e);
	CHECK(rc == 0, "use_mmap=0: %s", e.msg);
	if (rc == 0) {
		int same = 1;
		for (int i = 0; i < in.n_tensors; i++) {
			const engine__tensor *a = engine__gguf_tensor(m->gguf, i);
			const engine__tensor *b = engine__gguf_tensor(m2->gguf, i);
			same &= (uintptr_t)b->data % 32 == 0 && a->nbytes == b->nbytes &&
				memcmp(a->data, b->data, a->nbytes) == 0;
		}
		CHECK(same, "use_mmap=0 data equals the mapping and is 32-byte aligned");
		engine_model_free(m2);
	}

	/* Typed getters. */
	const engine__gguf *g = m->gguf;
	uint32_t u;
	int32_t i32;
	float fl;
	bool b;
	const char *s;
	size_t len;
	int et;
	uint64_t n;
	const void *data;
	CHECK(engine__gguf_get_u32(g, "gpt2.block_count", &u, NULL) == 0 && u == 2, "get_u32");
	CHECK(engine__gguf_get_i32(g, "gpt2.block_count", &i32, NULL) == 0 && i32 == 2, "get_i32");
	CHECK(engine__gguf_get_f32(g, "gpt2.attention.layer_norm_epsilon", &fl, NULL) == 0 &&
	      fl == 1e-5f, "get_f32");
	CHECK(engine__gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b, NULL) == 0 && b,
	      "get_bool");
	CHECK(engine__gguf_get_str(g, "general.name", &s, &len, NULL) == 0 && len == 4 &&
	      !memcmp(s, "tiny", 4), "get_str");
	CHECK(engine__gguf_get_arr(g, "tokenizer.ggml.scores", &et, &n, &data, NULL) == 0 &&
	      et == GGUF_T_FLOAT32 && n == nv && data, "get_arr");
	CHECK(engine__gguf_get_arr_str(g, "tokenizer.ggml.tokens", 3, &s, &len, NULL) == 0 &&
	      len == 6 && !memcmp(s, "<0x00>", 6), "get_arr_str");
	CHECK(engine__gguf_get_arr_str(g, "tokenizer.ggml.tokens", nv, &s, &len, &e) == PT_EINVAL,
	      "get_arr_str past the end");
	rc = engine__gguf_get_u32(g, "general.name", &u, &e);
	CHECK(rc == PT_EFORMAT && strstr(e.msg, "general.name") && strstr(e.msg, "string"),
	      "wrong type: %d %s", rc, e.msg);
	rc = engine__gguf_get_u32(g, "no.such.key", &u, &e);
	CHECK(rc == PT_ENOTFOUND && strstr(e.msg, "no.such.key"), "missing key: %s", e.msg);
	CHECK(engine__gguf_find(g, "blk.1.ffn_up.bias") && !engine__gguf_find(g, "blk.2.ffn_up.bias"),
	      "find");
	engine_model_free(m);
	tb_free(&f);
}

static void set_raw(tb_file *f, const char *key, uint32_t type, const void *v, size_t len)
{
	tb_kv_remove(f, key);
	tb_kv_raw(f, key, type, v, len);
}

static void test_header_defects(void)
{
	tb_file f;
	uint8_t raw[32];

	tb_tiny_model(&f, &tiny);
	memcpy(f.magic, "GGML", 4);
	expect("bad magic", &f, PT_EFORMAT, PT_EFORMAT, "GGUF", NULL);
	memcpy(f.magic, "GGUF", 4);
	f.version = 1;
	expect("version 1", &f, PT_EUNSUPPORTED, PT_EUNSUPPORTED, "version 1", NULL);
	f.version = 0x03000000;
	expect("big-endian version", &f, PT_EUNSUPPORTED, PT_EUNSUPPORTED, "big-endian", NULL);
	f.version = 2;
	expect("version 2", &f, 0, 0, NULL);
	f.version = 3;

	size_t len;
	uint8_t *p = tb_build(&f, &len);
	uint64_t huge = 1ull << 40;
	memcpy(p + 16, &huge, 8);
	expect_bytes("key count 2^40", p, len, PT_EFORMAT, "keys");
	uint64_t n_kv = (uint64_t)f.n_kv;
	memcpy(p + 16, &n_kv, 8);
	memcpy(p + 8, &huge, 8);
	expect_bytes("tensor count 2^40", p, len, PT_EFORMAT, "tensors");
	expect_bytes("empty file", p, 0, PT_EFORMAT, "GGUF");
	free(p);

	/* A string claiming 2^60 bytes. */
	uint64_t big = 1ull << 60;
	memcpy(raw, &big, 8);
	memcpy(raw + 8, "tiny", 4);
	set_raw(&f, "general.name", GGUF_T_STRING, raw, 12);
	expect("string length past the end", &f, PT_EFORMAT, PT_EFORMAT, "general.name",
	       "string length", NULL);
	tb_kv_remove(&f, "general.name");

	/* Arrays claiming 2^62 elements, numeric and of strings. */
	uint32_t et = GGUF_T_FLOAT32;
	uint64_t cnt = 1ull << 62;
	memcpy(raw, &et, 4);
	memcpy(raw + 4, &cnt, 8);
	memset(raw + 12, 0, 8);
	tb_kv_raw(&f, "zz.scores", GGUF_T_ARRAY, raw, 20);
	expect("array count 2^62", &f, PT_EFORMAT, PT_EFORMAT, "zz.scores", "4611686018427387904",
	       NULL);
	tb_kv_remove(&f, "zz.scores");
	et = GGUF_T_STRING;
	memcpy(raw, &et, 4);
	tb_kv_raw(&f, "zz.strings", GGUF_T_ARRAY, raw, 20);
	expect("string array count 2^62", &f, PT_EFORMAT, PT_EFORMAT, "zz.strings", NULL);
	tb_kv_remove(&f, "zz.strings");
	et = GGUF_T_ARRAY;
	memcpy(raw, &et, 4);
	cnt = 0;
	memcpy(raw + 4, &cnt, 8);
	tb_kv_raw(&f, "zz.nested", GGUF_T_ARRAY, raw, 12);
	expect("array of arrays", &f, PT_EUNSUPPORTED, PT_EUNSUPPORTED, "zz.nested", NULL);
	tb_kv_remove(&f, "zz.nested");

	raw[0] = 2;
	tb_kv_raw(&f, "zz.flag", GGUF_T_BOOL, raw, 1);
	expect("bool 2", &f, PT_EFORMAT, PT_EFORMAT, "zz.flag", NULL);
	tb_kv_remove(&f, "zz.flag");
	tb_kv_raw(&f, "zz.odd", 13, raw, 4);
	expect("value type 13", &f, PT_EFORMAT, PT_EFORMAT, "zz.odd", "13", NULL);
	tb_kv_remove(&f, "zz.odd");
	tb_kv_u32(&f, "gpt2.block_count", 2);
	expect("duplicate key", &f, PT_EFORMAT, PT_EFORMAT, "gpt2.block_count", "twice", NULL);
	tb_kv_remove(&f, "gpt2.block_count");

	tb_kv_u32(&f, "general.alignment", 48);
	expect("alignment 48", &f, PT_EFORMAT, PT_EFORMAT, "general.alignment", "48", NULL);
	tb_kv_remove(&f, "general.alignment");
	tb_kv_u32(&f, "general.alignment", 64);
	f.align = 64;
	expect("alignment 64", &f, 0, 0, NULL);
	tb_kv_remove(&f, "general.alignment");
	tb_kv_u32(&f, "general.alignment", 8);
	f.align = 8;
	/* An 8-byte tensor placed first shifts all others off 32 bytes. */
	uint64_t ne2[1] = { 2 };
	tb_tensor_raw(&f, "aa.extra", 1, ne2, 0, NULL, 8);
	tb_tensor extra = f.t[f.n_t - 1];
	memmove(&f.t[1], &f.t[0], (size_t)(f.n_t - 1) * sizeof f.t[0]);
	f.t[0] = extra;
	expect("alignment 8 (tensors not 32-byte aligned)", &f, 0, PT_EFORMAT, "aligned", NULL);
	tb_free(&f);
}

static void test_tensor_defects(void)
{
	tb_file f;
	tb_tensor *t;

	tb_tiny_model(&f, &tiny);
	t = tb_tensor_find(&f, "blk.0.ffn_up.weight");
	t->offset = 1ll << 40;
	expect("offset past the end", &f, PT_EFORMAT, PT_EFORMAT, "blk.0.ffn_up.weight", "past",
	       NULL);
	t->offset = 8;
	expect("misaligned offset", &f, PT_EFORMAT, PT_EFORMAT, "blk.0.ffn_up.weight",
	       "alignment", NULL);
	t->offset = 0;
	expect("overlapping tensors", &f, PT_EFORMAT, PT_EFORMAT, "overlaps", "token_embd.weight",
	       NULL);
	t->offset = -1;

	/* The last tensor's data cut short by 4 bytes. */
	size_t len;
	uint8_t *p = tb_build(&f, &len);
	expect_bytes("last tensor cut", p, len - 4, PT_EFORMAT, "output.weight");
	CHECK(tb_write(path, p, len - 4) == 0, "write");
	engine__gguf *g = NULL;
	pt_err e = { 0 };
	CHECK(engine__gguf_open(path, 0, &g, &e) == PT_EFORMAT && strstr(e.msg, "data ends at") &&
	      strstr(e.msg, "file is"), "cut file message: %s", e.msg);
	free(p);

	t = tb_tensor_find(&f, "blk.1.attn_qkv.weight");
	uint64_t ne_save[2] = { t->ne[0], t->ne[1] };
	t->n_dims = 3;
	t->ne[0] = t->ne[1] = t->ne[2] = 1ull << 32;
	expect("dims overflow", &f, PT_EFORMAT, PT_EFORMAT, "blk.1.attn_qkv.weight", "overflow",
	       NULL);
	t->n_dims = 0;
	expect("n_dims 0", &f, PT_EFORMAT, PT_EFORMAT, "blk.1.attn_qkv.weight", "n_dims 0", NULL);
	t->n_dims = 5;
	t->ne[0] = t->ne[1] = t->ne[2] = t->ne[3] = t->ne[4] = 1;
	expect("n_dims 5", &f, PT_EFORMAT, PT_EFORMAT, "blk.1.attn_qkv.weight", "n_dims 5", NULL);
	t->n_dims = 2;
	t->ne[0] = 0;
	t->ne[1] = ne_save[1];
	expect("zero dimension", &f, PT_EFORMAT, PT_EFORMAT, "blk.1.attn_qkv.weight",
	       "dimension 0", NULL);
	t->ne[0] = ne_save[0];
	t->type = 99;
	expect("type 99", &f, PT_EUNSUPPORTED, PT_EUNSUPPORTED, "blk.1.attn_qkv.weight", "99",
	       NULL);
	t->type = ENGINE_TYPE_Q8_0; /* rows of 8: not whole blocks of 32 */
	expect("partial block", &f, PT_EFORMAT, PT_EFORMAT, "blk.1.attn_qkv.weight", "q8_0",
	       NULL);
	t->type = ENGINE_TYPE_Q4_K; /* K-quants: rows must be whole super-blocks of 256 */
	expect("partial q4_k super-block", &f, PT_EFORMAT, PT_EFORMAT, "blk.1.attn_qkv.weight",
	       "q4_k blocks of 256", NULL);
	t->type = 0;
	expect("restored", &f, 0, 0, NULL);

	uint64_t ne1[1] = { 8 };
	tb_tensor_raw(&f, "blk.0.ffn_up.bias", 1, ne1, 0, NULL, 32);
	expect("duplicate tensor", &f, PT_EFORMAT, PT_EFORMAT, "blk.0.ffn_up.bias", "twice", NULL);
	f.n_t--;
	free(f.t[f.n_t].data);
	tb_free(&f);
}

static void test_model_defects(void)
{
	tb_file f;

	tb_tiny_model(&f, &tiny);
	tb_tensor_remove(&f, "blk.1.ffn_up.bias");
	expect("missing tensor", &f, 0, PT_EFORMAT, "blk.1.ffn_up.bias", "missing", NULL);
	tb_free(&f);

	tb_tiny_model(&f, &tiny);
	tb_tensor *t = tb_tensor_find(&f, "blk.0.attn_qkv.weight");
	t->ne[1] = 16;
	t->nbytes = 8 * 16 * 4;
	expect("wrong shape", &f, 0, PT_EFORMAT, "blk.0.attn_qkv.weight", "[8, 16", "[8, 24]", NULL);
	t->ne[1] = 24;
	t->nbytes = 8 * 24 * 4;

	tb_kv_remove(&f, "general.architecture");
	tb_kv_str(&f, "general.architecture", "llama");
	expect("wrong architecture", &f, 0, PT_EUNSUPPORTED, "llama", "gpt2", NULL);
	tb_kv_remove(&f, "general.architecture");
	expect("no architecture", &f, 0, PT_EFORMAT, "general.architecture", NULL);
	tb_kv_str(&f, "general.architecture", "gpt2");

	tb_kv_remove(&f, "gpt2.block_count");
	expect("no block count", &f, 0, PT_EFORMAT, "gpt2.block_count", NULL);
	tb_kv_u32(&f, "gpt2.block_count", 3);
	expect("block count 3", &f, 0, PT_EFORMAT, "blk.2.attn_norm.weight", NULL);
	tb_kv_remove(&f, "gpt2.block_count");
	tb_kv_u32(&f, "gpt2.block_count", 2);
	tb_kv_remove(&f, "gpt2.attention.head_count");
	tb_kv_u32(&f, "gpt2.attention.head_count", 3);
	expect("heads do not divide", &f, 0, PT_EFORMAT, "head count", NULL);
	tb_kv_remove(&f, "gpt2.attention.head_count");
	tb_kv_u32(&f, "gpt2.attention.head_count", 2);

	tb_kv_remove(&f, "polytrans.prompt_kind");
	tb_kv_str(&f, "polytrans.prompt_kind", "poetry");
	expect("unknown prompt kind", &f, 0, PT_EFORMAT, "polytrans.prompt_kind", "poetry", NULL);
	tb_kv_remove(&f, "polytrans.prompt_kind");
	tb_kv_str(&f, "polytrans.prompt_kind", "chat");
	/* The tokenizer's own checks (no unknown piece) name the file too. */
	tb_kv *ty = tb_kv_find(&f, "tokenizer.ggml.token_type");
	int32_t one = 1, two = 2;
	memcpy(ty->val + 12, &one, 4); /* after the element type and count */
	expect("no unknown piece", &f, 0, PT_EFORMAT, "unknown", NULL);
	memcpy(ty->val + 12, &two, 4);

	tb_kv_bool(&f, "polytrans.bundled", 1);
	tb_tensor_remove(&f, "output.weight");
	engine_model *m = NULL;
	engine_model_info in;
	CHECK(tb_save(&f, path) == 0, "write");
	CHECK(engine_model_load(path, NULL, &m, NULL) == 0, "chat model without output.weight");
	if (m) {
		engine_model_get_info(m, &in);
		CHECK(in.prompt_kind == ENGINE_PROMPT_CHAT && in.bundled && !in.has_output &&
		      m->output == m->tok_embd, "chat, bundled, tied output");
		engine_model_free(m);
	}

	/* Norms must be f32; a known but unsupported matrix type is refused. */
	t = tb_tensor_find(&f, "blk.0.attn_norm.weight");
	t->type = ENGINE_TYPE_F16;
	t->nbytes = 16;
	expect("f16 norm", &f, 0, PT_EUNSUPPORTED, "blk.0.attn_norm.weight", "f32", NULL);
	t->type = 0;
	t->nbytes = 32;
	t = tb_tensor_find(&f, "blk.1.ffn_down.weight"); /* rows of 32 */
	t->type = ENGINE_TYPE_Q4_1;
	t->nbytes = 20 * 8;
	expect("q4_1 matrix", &f, 0, PT_EUNSUPPORTED, "blk.1.ffn_down.weight", "q4_1", NULL);
	t->type = ENGINE_TYPE_Q8_0;
	t->nbytes = 34 * 8;
	expect("q8_0 matrix", &f, 0, 0, NULL);
	tb_free(&f);
}

/* Every byte-prefix of a valid file: none may crash, all but the whole
 * file must fail. Truncating one file from the end keeps this linear. */
static void test_prefixes(void)
{
	tb_file f;
	size_t len;
	int bad = 0, ok = 0;

	tb_tiny_model(&f, &tiny);
	uint8_t *p = tb_build(&f, &len);
	CHECK(tb_write(path, p, len) == 0, "write");
	int fd = open(path, O_WRONLY);
	for (size_t n = len + 1; n-- > 0;) {
		engine_model *m = NULL;
		engine_model_params mp = engine_model_default_params();
		pt_err e = { 0 };
		if (ftruncate(fd, (off_t)n) != 0)
			bad++;
		mp.use_mmap = (int)(n & 1);
		int rc = engine_model_load(path, &mp, &m, &e);
		if (n == len)
			ok = rc == 0;
		else if (rc == 0 || e.msg[0] == 0 || !strstr(e.msg, path))
			bad++;
		engine_model_free(m);
	}
	close(fd);
	CHECK(ok, "the whole file loads");
	CHECK(bad == 0, "%d of %zu prefixes loaded or gave no message", bad, len);
	free(p);
	tb_free(&f);
}

/* Random byte changes in the header (keys and tensor infos): each file
 * must load or fail with a message; none may crash or read out of bounds
 * (the sanitizer build checks the latter). */
static void test_mutations(void)
{
	tb_file f;
	size_t len;
	unsigned s = 42;
	int silent = 0, loaded = 0;

	tb_tiny_model(&f, &tiny);
	uint8_t *p = tb_build(&f, &len);
	uint8_t *q = malloc(len);
	engine__gguf *g = NULL;
	CHECK(tb_write(path, p, len) == 0 && engine__gguf_open(path, 1, &g, NULL) == 0, "valid");
	size_t header = g ? engine__gguf_data_offset(g) : 64;
	engine__gguf_close(g);
	int write_fail = 0;
	for (int it = 0; it < 1500; it++) {
		memcpy(q, p, len);
		for (int k = 0; k < 1 + it % 4; k++) {
			s = s * 1103515245u + 12345u;
			size_t at = (s >> 4) % header;
			s = s * 1103515245u + 12345u;
			/* Mostly small changes to one byte, sometimes 0xff. */
			q[at] = (s >> 20) & 1 ? (uint8_t)(q[at] + 1 + ((s >> 8) & 3)) : 0xff;
		}
		engine_model *m = NULL;
		pt_err e = { 0 };
		write_fail += tb_write(path, q, len) != 0;
		int rc = engine_model_load(path, NULL, &m, &e);
		if (rc == 0)
			loaded++;
		else if (!e.msg[0])
			silent++;
		engine_model_free(m);
	}
	CHECK(write_fail == 0 && silent == 0, "%d mutated files failed without a message",
	      silent);
	printf("mutations: %d of 1500 still loaded\n", loaded);
	free(q);
	free(p);
	tb_free(&f);
}

int main(void)
{
	snprintf(path, sizeof path, "%s/model.gguf", tcheck_tmpdir("test-gguf"));
	test_valid();
	test_header_defects();
	test_tensor_defects();
	test_model_defects();
	test_prefixes();
	test_mutations();
	unlink(path);
	*strrchr(path, '/') = '\0';
	rmdir(path);
	return tcheck_done();
}
