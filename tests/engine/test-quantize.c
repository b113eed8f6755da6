/*
 * test-quantize: engine_quantize on a tiny F32 model to every target type:
 * the converted matrices hold exactly what quantizing the source rows
 * gives, everything else is copied byte for byte, the keys survive with
 * general.file_type / general.quantization_version updated, the result
 * loads as a model, any type converts to any other, threads do not change
 * a byte, and refusals leave no file behind. The K-quants convert rows of
 * whole super-blocks and fall back to q8_0 for other rows.
 */
#include <dirent.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine-impl.h"
#include "gguf-builder.h"
#include "tcheck.h"

static const char *dir;
static char in_path[4200], out_path[4200], out2_path[4200];

static bool is_matrix(const char *name)
{
	static const char *const m[] = { "token_embd.weight", "output.weight", "attn_qkv.weight",
					  "attn_output.weight", "ffn_up.weight", "ffn_down.weight" };

	for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
		size_t n = strlen(name), k = strlen(m[i]);
		if (n >= k && !strcmp(name + n - k, m[i]))
			return true;
	}
	return false;
}

/* Output tensor t must equal the source rows put through f32 -> type. */
static bool same_conversion(const engine__tensor *src, const engine__tensor *t, int type)
{
	int64_t n = src->ne[0], rows = src->ne[1];
	size_t in_row = engine__row_bytes(src->type, n), out_row = engine__row_bytes(type, n);
	float *f = malloc((size_t)n * sizeof *f);
	uint8_t *q = malloc(out_row);
	bool ok = t->type == type && t->nbytes == out_row * (size_t)rows;

	for (int64_t r = 0; ok && r < rows; r++) {
		engine__dequant_row(src->type, (const uint8_t *)src->data + r * in_row, f, n);
		engine__quant_row(type, f, q, n);
		ok = memcmp(q, (const uint8_t *)t->data + r * out_row, out_row) == 0;
	}
	free(f);
	free(q);
	return ok;
}

/* Checks out against in for conversion to type. */
static void check_output(const char *in, const char *out, int type)
{
	engine__gguf *a = NULL, *b = NULL;
	pt_err e = { 0 };
	const char *tn = engine_type_name(type);

	CHECK(engine__gguf_open(in, 1, &a, &e) == 0, "%s", e.msg);
	CHECK(engine__gguf_open(out, 0, &b, &e) == 0, "%s: output: %s", tn, e.msg);
	if (!a || !b)
		goto done;
	int bad = 0, n_conv = 0;
	CHECK(engine__gguf_n_tensors(a) == engine__gguf_n_tensors(b), "%s: tensor count", tn);
	for (int i = 0; i < engine__gguf_n_tensors(a); i++) {
		const engine__tensor *s = engine__gguf_tensor(a, i), *t = engine__gguf_tensor(b, i);
		if (strcmp(s->name, t->name) || memcmp(s->ne, t->ne, sizeof s->ne) ||
		    s->n_dims != t->n_dims) {
			bad++;
			continue;
		}
		if (is_matrix(s->name)) {
			n_conv++;
			bad += !same_conversion(s, t, type);
		} else {
			bad += t->type != s->type || t->nbytes != s->nbytes ||
			       memcmp(s->data, t->data, s->nbytes) != 0;
		}
	}
	CHECK(bad == 0, "%s: %d tensors differ from what they should be", tn, bad);
	CHECK(n_conv == 2 + 4 * 2, "%s: %d matrices converted", tn, n_conv);

	/* Keys: all of the input's, same bytes, but the two updated ones. */
	int n_extra = 0;
	for (int i = 0; i < engine__gguf_n_kv(a); i++) {
		int ta, tb;
		const char *k = engine__gguf_kv_key(a, i, &ta);
		const void *ra, *rb;
		size_t la, lb;
		int j;
		for (j = 0; j < engine__gguf_n_kv(b); j++)
			if (!strcmp(engine__gguf_kv_key(b, j, &tb), k))
				break;
		if (!strcmp(k, "general.file_type") || !strcmp(k, "general.quantization_version"))
			continue;
		CHECK(j < engine__gguf_n_kv(b), "%s: key %s lost", tn, k);
		if (j == engine__gguf_n_kv(b))
			continue;
		engine__gguf_kv_raw(a, i, &ra, &la);
		engine__gguf_kv_raw(b, j, &rb, &lb);
		CHECK(ta == tb && la == lb && !memcmp(ra, rb, la), "%s: key %s changed", tn, k);
	}
	uint32_t ft = 99, qv = 0;
	bool quant = type == ENGINE_TYPE_Q8_0 || type == ENGINE_TYPE_Q4_0 ||
		     type == ENGINE_TYPE_Q4_K || type == ENGINE_TYPE_Q6_K;
	uint32_t want_ft = type == ENGINE_TYPE_F32 ? 0 : type == ENGINE_TYPE_F16 ? 1 :
			   type == ENGINE_TYPE_Q4_0 ? 2 : type == ENGINE_TYPE_Q8_0 ? 7 :
			   type == ENGINE_TYPE_Q4_K ? 14 : type == ENGINE_TYPE_Q6_K ? 18 : 32;
	CHECK(engine__gguf_get_u32(b, "general.file_type", &ft, NULL) == 0 && ft == want_ft,
	      "%s: general.file_type %u, want %u", tn, ft, want_ft);
	int rq = engine__gguf_get_u32(b, "general.quantization_version", &qv, NULL);
	CHECK(quant ? rq == 0 && qv == 2 : rq == PT_ENOTFOUND,
	      "%s: general.quantization_version (%d, %u)", tn, rq, qv);
	uint32_t dummy;
	int in_qv = engine__gguf_get_u32(a, "general.quantization_version", &dummy, NULL) == 0;
	n_extra = engine__gguf_n_kv(b) - engine__gguf_n_kv(a);
	CHECK(n_extra == (quant && !in_qv) - (!quant && in_qv), "%s: %d keys added", tn, n_extra);
done:
	engine__gguf_close(a);
	engine__gguf_close(b);
}

static int count_files(void)
{
	DIR *d = opendir(dir);
	int n = 0;

	for (struct dirent *de; d && (de = readdir(d));)
		n += de->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

static bool same_file(const char *x, const char *y)
{
	FILE *a = fopen(x, "rb"), *b = fopen(y, "rb");
	bool same = a && b;
	int ca, cb;

	while (same) {
		ca = getc(a);
		cb = getc(b);
		same = ca == cb;
		if (ca == EOF)
			break;
	}
	if (a)
		fclose(a);
	if (b)
		fclose(b);
	return same;
}

static void test_types(void)
{
	static const int types[] = { ENGINE_TYPE_F16, ENGINE_TYPE_BF16, ENGINE_TYPE_Q8_0,
				     ENGINE_TYPE_Q4_0, ENGINE_TYPE_F32 };
	pt_err e = { 0 };

	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		int rc = engine_quantize(in_path, out_path, types[i], 2, &e);
		CHECK(rc == 0, "to %s: %s", engine_type_name(types[i]), e.msg);
		if (rc)
			continue;
		check_output(in_path, out_path, types[i]);
		engine_model *m = NULL;
		rc = engine_model_load(out_path, NULL, &m, &e);
		CHECK(rc == 0, "%s model loads: %s", engine_type_name(types[i]), e.msg);
		if (m) {
			engine_model_info in;
			engine_model_get_info(m, &in);
			CHECK(!strcmp(in.weight_type, engine_type_name(types[i])),
			      "weight type %s", in.weight_type);
			engine_model_free(m);
		}
	}

	/* Any to any: the q8_0 file to q4_0 and to f16 goes through f32. */
	CHECK(engine_quantize(in_path, out2_path, ENGINE_TYPE_Q8_0, 1, &e) == 0, "%s", e.msg);
	CHECK(engine_quantize(out2_path, out_path, ENGINE_TYPE_Q4_0, 3, &e) == 0, "%s", e.msg);
	check_output(out2_path, out_path, ENGINE_TYPE_Q4_0);
	CHECK(engine_quantize(out2_path, out_path, ENGINE_TYPE_F16, 0, &e) == 0, "%s", e.msg);
	check_output(out2_path, out_path, ENGINE_TYPE_F16);

	/* Thread count changes nothing. */
	CHECK(engine_quantize(in_path, out_path, ENGINE_TYPE_Q4_0, 1, &e) == 0, "%s", e.msg);
	CHECK(engine_quantize(in_path, out2_path, ENGINE_TYPE_Q4_0, 3, &e) == 0, "%s", e.msg);
	CHECK(same_file(out_path, out2_path), "1 and 3 threads give the same file");
	unlink(out2_path);
}

/*
 * The K-quants: a model with rows of 256 and 512 converts every matrix
 * (exactly what quantizing the rows gives, and it loads); the tiny model's
 * rows of 32 and 64 are not whole super-blocks, so its matrices fall back
 * to q8_0 and the file still loads.
 */
static void test_k_types(void)
{
	static const int types[] = { ENGINE_TYPE_Q4_K, ENGINE_TYPE_Q6_K };
	tb_model wide = { .d = 256, .n_head = 4, .n_layer = 2, .ff = 512, .n_ctx = 8,
			  .with_output = 1, .seed = 5 };
	tb_file f;
	pt_err e = { 0 };

	tb_tiny_model(&f, &wide);
	CHECK(tb_save(&f, out2_path) == 0, "write");
	tb_free(&f);
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		const char *tn = engine_type_name(types[i]);
		int rc = engine_quantize(out2_path, out_path, types[i], 2, &e);
		CHECK(rc == 0, "rows of 256 to %s: %s", tn, e.msg);
		if (rc)
			continue;
		check_output(out2_path, out_path, types[i]);
		engine_model *m = NULL;
		CHECK(engine_model_load(out_path, NULL, &m, &e) == 0, "%s loads: %s", tn, e.msg);
		engine_model_free(m);

		rc = engine_quantize(in_path, out_path, types[i], 2, &e);
		CHECK(rc == 0, "rows of 32 to %s: %s", tn, e.msg);
		engine__gguf *g = NULL;
		if (rc == 0 && engine__gguf_open(out_path, 0, &g, &e) == 0) {
			int n_q8 = 0;
			for (int t = 0; t < engine__gguf_n_tensors(g); t++) {
				const engine__tensor *ts = engine__gguf_tensor(g, t);
				n_q8 += is_matrix(ts->name) && ts->type == ENGINE_TYPE_Q8_0;
			}
			CHECK(n_q8 == 2 + 4 * 2, "%s fallback: %d matrices in q8_0", tn, n_q8);
			engine__gguf_close(g);
			CHECK(engine_model_load(out_path, NULL, &m, &e) == 0, "%s fallback loads: %s",
			      tn, e.msg);
			engine_model_free(m);
		}
	}
	unlink(out2_path);
	unlink(out_path);
}

static void test_refusals(void)
{
	tb_file f;
	tb_model small = { .d = 8, .n_head = 2, .n_layer = 1, .ff = 16, .n_ctx = 4, .seed = 3 };
	pt_err e = { 0 };
	char bad_dir[4300];

	unlink(out_path);
	int before = count_files();
	tb_tiny_model(&f, &small);
	CHECK(tb_save(&f, out2_path) == 0, "write");
	tb_free(&f);
	int rc = engine_quantize(out2_path, out_path, ENGINE_TYPE_Q8_0, 2, &e);
	CHECK(rc == PT_EINVAL && strstr(e.msg, "token_embd.weight") && strstr(e.msg, "32") &&
	      strstr(e.msg, "8 elements"), "rows of 8 to q8_0: %d %s", rc, e.msg);
	rc = engine_quantize(out2_path, out_path, ENGINE_TYPE_Q4_0, 2, &e);
	CHECK(rc == PT_EINVAL && strstr(e.msg, "q4_0"), "rows of 8 to q4_0: %d %s", rc, e.msg);
	CHECK(engine_quantize(out2_path, out_path, ENGINE_TYPE_BF16, 2, &e) == 0,
	      "rows of 8 to bf16: %s", e.msg);
	unlink(out_path);
	unlink(out2_path);
	CHECK(count_files() == before, "refusals leave no file (%d files, %d before)",
	      count_files(), before);

	rc = engine_quantize(in_path, out_path, ENGINE_TYPE_Q5_K, 2, &e);
	CHECK(rc == PT_EINVAL && strstr(e.msg, "q5_k"), "q5_k target: %d %s", rc, e.msg);
	CHECK(engine_quantize(in_path, out_path, -1, 2, NULL) == PT_EINVAL &&
	      engine_quantize(in_path, out_path, 99, 2, NULL) == PT_EINVAL, "bad type ids");
	snprintf(bad_dir, sizeof bad_dir, "%s/no-such-dir/out.gguf", dir);
	rc = engine_quantize(in_path, bad_dir, ENGINE_TYPE_F16, 2, &e);
	CHECK(rc == PT_EIO && strstr(e.msg, "no-such-dir"), "missing folder: %d %s", rc, e.msg);
	rc = engine_quantize(bad_dir, out_path, ENGINE_TYPE_F16, 2, &e);
	CHECK(rc == PT_ENOTFOUND && strstr(e.msg, "no-such-dir"), "missing input: %d %s", rc, e.msg);
	CHECK(count_files() == before, "failures leave no file");
}

int main(void)
{
	tb_file f;
	tb_model tiny = { .d = 32, .n_head = 4, .n_layer = 2, .ff = 64, .n_ctx = 8,
			  .with_output = 1, .seed = 9 };

	dir = tcheck_tmpdir("test-quantize");
	snprintf(in_path, sizeof in_path, "%s/in.gguf", dir);
	snprintf(out_path, sizeof out_path, "%s/out.gguf", dir);
	snprintf(out2_path, sizeof out2_path, "%s/out2.gguf", dir);
	tb_tiny_model(&f, &tiny);
	tb_kv_u32(&f, "general.alignment", 64);
	f.align = 64;
	CHECK(tb_save(&f, in_path) == 0, "write %s", in_path);
	tb_free(&f);
	test_types();
	test_k_types();
	test_refusals();
	unlink(in_path);
	unlink(out_path);
	rmdir(dir);
	return tcheck_done();
}
