/*
 * test-fixtures: the loader and the quantizer against the files the real
 * converter (tools/polylm-convert) writes. Every fixture model must load;
 * and quantizing the converter's F32 file here must give, byte for byte,
 * the tensors the converter wrote itself for F16, BF16 and Q8_0 (two
 * independent implementations of the same llama.cpp formats agreeing).
 * Needs $FIXTURES (the fixture folder); skipped without it.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine-impl.h"
#include "tcheck.h"

static char fx[4096];

static void fixture(char *buf, size_t cap, const char *name)
{
	snprintf(buf, cap, "%s/%s", fx, name);
}

static void test_load_all(void)
{
	static const char *const names[] = { "tiny-f32.gguf", "tiny-f16.gguf", "tiny-bf16.gguf",
					     "tiny-q8_0.gguf", "tiny-bin-f32.gguf", "tok-nfkc.gguf" };

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		char p[4200];
		engine_model *m = NULL;
		engine_model_params mp = engine_model_default_params();
		pt_err e = { 0 };
		fixture(p, sizeof p, names[i]);
		mp.use_mmap = (int)(i & 1);
		int rc = engine_model_load(p, &mp, &m, &e);
		CHECK(rc == 0, "%s: %s", names[i], e.msg);
		if (m) {
			engine_model_info in;
			engine_model_get_info(m, &in);
			CHECK(in.n_vocab > 256 && in.n_layer >= 1 && in.n_params > 0 &&
			      in.eos_id == 2 && !strcmp(in.arch, "gpt2"), "%s: info", names[i]);
			engine_model_free(m);
		}
	}
}

/* Compares every tensor of two files; returns the number that differ. */
static int diff_tensors(const char *a_path, const char *b_path, char *first, size_t cap)
{
	engine__gguf *a = NULL, *b = NULL;
	int n_diff = 0;

	if (engine__gguf_open(a_path, 1, &a, NULL) || engine__gguf_open(b_path, 1, &b, NULL)) {
		engine__gguf_close(a);
		return -1;
	}
	first[0] = '\0';
	for (int i = 0; i < engine__gguf_n_tensors(a); i++) {
		const engine__tensor *s = engine__gguf_tensor(a, i);
		const engine__tensor *t = engine__gguf_find(b, s->name);
		if (!t || t->type != s->type || t->nbytes != s->nbytes ||
		    memcmp(t->data, s->data, s->nbytes)) {
			if (!n_diff++)
				snprintf(first, cap, "%s", s->name);
		}
	}
	engine__gguf_close(a);
	engine__gguf_close(b);
	return n_diff;
}

static void test_same_as_converter(void)
{
	static const struct { int type; const char *file; } cases[] = {
		{ ENGINE_TYPE_F16, "tiny-f16.gguf" },
		{ ENGINE_TYPE_BF16, "tiny-bf16.gguf" },
		{ ENGINE_TYPE_Q8_0, "tiny-q8_0.gguf" },
	};
	char in[4200], out[4200], ref[4200], first[128];
	const char *dir = tcheck_tmpdir("test-fixtures");

	fixture(in, sizeof in, "tiny-f32.gguf");
	snprintf(out, sizeof out, "%s/out.gguf", dir);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		pt_err e = { 0 };
		fixture(ref, sizeof ref, cases[i].file);
		int rc = engine_quantize(in, out, cases[i].type, 2, &e);
		CHECK(rc == 0, "quantize to %s: %s", engine_type_name(cases[i].type), e.msg);
		if (rc)
			continue;
		int n = diff_tensors(ref, out, first, sizeof first);
		CHECK(n == 0, "%s: %d tensors differ from the converter's (first %s)",
		      cases[i].file, n, first);
	}
	unlink(out);
	rmdir(dir);
}

int main(void)
{
	const char *f = getenv("FIXTURES");
	char stamp[4200];

	if (!f || !*f) {
		printf("skipped: FIXTURES is not set (run through meson test)\n");
		return 77;
	}
	snprintf(fx, sizeof fx, "%s", f);
	fixture(stamp, sizeof stamp, "fixtures.stamp");
	if (access(stamp, R_OK) != 0) {
		printf("skipped: no fixtures in %s (build the tiny_models target)\n", fx);
		return 77;
	}
	test_load_all();
	test_same_as_converter();
	return tcheck_done();
}
