/*
 * fuzz-gguf: the GGUF reader and the model loader on arbitrary bytes.
 * The input is the whole file; it is loaded both mapped and read into
 * memory, and the two must agree. A model that loads must then hold
 * together: every tensor lies inside the file, the facts are in range,
 * short texts tokenize and detokenize, and one forward step over two
 * tokens runs (a shape the loader let through must be safe to compute
 * with).
 */
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "fuzz-vocab.h"
#include "fuzz.h"

static void check_info(const engine_model *m, size_t size)
{
	engine_model_info in;
	engine_tensor_info ti;

	engine_model_get_info(m, &in);
	FUZZ_CHECK(in.file_bytes == size, "file_bytes %llu of %zu",
		   (unsigned long long)in.file_bytes, size);
	FUZZ_CHECK(in.n_vocab > 0 && in.n_embd > 0 && in.n_layer >= 0 &&
		   in.n_head > 0 && in.n_ctx > 0 && in.n_embd % in.n_head == 0,
		   "shape vocab %d embd %d layers %d heads %d ctx %d", in.n_vocab,
		   in.n_embd, in.n_layer, in.n_head, in.n_ctx);
	FUZZ_CHECK(in.weight_bytes <= size, "weights of %llu bytes in %zu",
		   (unsigned long long)in.weight_bytes, size);
	FUZZ_CHECK(in.arch != NULL && in.name != NULL && in.weight_type != NULL,
		   "a NULL string in the info");
	for (int i = 0; i < in.n_tensors; i++) {
		FUZZ_CHECK(engine_model_tensor(m, i, &ti) == 0, "tensor %d", i);
		FUZZ_CHECK(ti.name != NULL && ti.type != NULL, "tensor %d unnamed", i);
		FUZZ_CHECK(ti.n_dims >= 1 && ti.n_dims <= 4, "tensor %s: %d dims",
			   ti.name, ti.n_dims);
		FUZZ_CHECK(ti.offset <= size && ti.nbytes <= size - ti.offset,
			   "tensor %s at %llu + %llu past %zu", ti.name,
			   (unsigned long long)ti.offset, (unsigned long long)ti.nbytes,
			   size);
		for (int d = 0; d < ti.n_dims; d++)
			FUZZ_CHECK(ti.ne[d] >= 1, "tensor %s dim %d is %lld", ti.name,
				   d, (long long)ti.ne[d]);
	}
	FUZZ_CHECK(engine_model_tensor(m, in.n_tensors, &ti) != 0,
		   "tensor index %d (one past the end) accepted", in.n_tensors);
	FUZZ_CHECK(engine_model_tensor(m, -1, &ti) != 0, "tensor index -1 accepted");
}

static void check_tokenizer(const engine_model *m)
{
	static const char text[] = "Hello w\xc3\xb6rld, \xe4\xb8\xad\xe6\x96\x87 <s> ok\n";
	int32_t ids[256];
	size_t n = 0, len = 0;
	char out[1024];
	pt_err e;
	int rc;

	rc = engine_tokenize(m, text, sizeof text - 1, ENGINE_TOK_ADD_BOS, ids,
			     sizeof ids / sizeof ids[0], &n, &e);
	FUZZ_CHECK(rc == 0, "tokenize: %s", e.msg);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(ids[i] >= 0 && ids[i] < engine_n_vocab(m), "id %d", ids[i]);
	rc = engine_detokenize(m, ids, n, out, sizeof out, &len, &e);
	FUZZ_CHECK(rc == 0, "detokenize: %s", e.msg);
	FUZZ_CHECK(fuzz_ref_utf8_valid((const uint8_t *)out,
				       len < sizeof out ? len : sizeof out - 1, NULL),
		   "detokenized text is not valid UTF-8");
	FUZZ_CHECK(engine_tokenize(m, "\xc3(", 2, 0, ids, 4, &n, &e) == PT_EUTF8,
		   "invalid UTF-8 accepted");
}

/* One forward step of two tokens, one thread, a context of four. */
static void check_forward(const engine_model *m)
{
	engine_ctx_params cp = engine_ctx_default_params();
	engine_model_info in;
	engine_ctx *c;
	int32_t tok[2], pos[2] = { 0, 1 }, seq[2] = { 0, 0 };
	int8_t lg[2] = { 0, 1 };
	engine_batch b = { 2, tok, pos, seq, lg };
	float *logits;
	pt_err e;
	int rc;

	engine_model_get_info(m, &in);
	/* Keep each input fast: the weights are in the file, but a large
	 * vocabulary or width still costs time. */
	if ((uint64_t)in.n_vocab * (uint64_t)in.n_embd > (1u << 20) ||
	    (uint64_t)in.n_ff * (uint64_t)in.n_embd * (uint64_t)in.n_layer > (1u << 20))
		return;
	cp.n_ctx = in.n_ctx < 4 ? in.n_ctx : 4;
	cp.n_batch = 2;
	cp.n_threads = 1;
	if (cp.n_ctx < 2)
		return;
	rc = engine_ctx_new(m, &cp, &c, &e);
	FUZZ_CHECK(rc == 0 || rc == PT_ENOMEM, "ctx_new: %s", e.msg);
	if (rc != 0)
		return;
	logits = calloc((size_t)in.n_vocab, sizeof *logits);
	FUZZ_CHECK(logits != NULL, "out of memory");
	tok[0] = in.bos_id >= 0 ? in.bos_id : 0;
	tok[1] = in.n_vocab - 1;
	rc = engine_decode(c, &b, logits, &e);
	FUZZ_CHECK(rc == 0, "decode: %s", e.msg);
	FUZZ_CHECK(engine_kv_len(c, 0) == 2, "kv length %d", engine_kv_len(c, 0));
	free(logits);
	engine_ctx_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	engine_model *m[2] = { NULL, NULL };
	int rc[2];
	pt_err e[2];

	/* Read into memory first: the mapped load that follows reuses the
	 * memfd, and the mapping must not outlive the next rewrite. */
	for (int k = 0; k < 2; k++) {
		rc[k] = fuzz_model_from_bytes(data, size, k, &m[k], &e[k]);
		FUZZ_CHECK(rc[k] <= 0 && rc[k] > PT_ERR_LAST_, "load returned %d", rc[k]);
		FUZZ_CHECK(rc[k] != PT_EINTERNAL, "internal error: %s", e[k].msg);
		FUZZ_CHECK(rc[k] == 0 || e[k].msg[0] != '\0', "error %d without message",
			   rc[k]);
	}
	FUZZ_CHECK(rc[0] == rc[1], "read %d (%s), mapped %d (%s)", rc[0],
		   rc[0] ? e[0].msg : "", rc[1], rc[1] ? e[1].msg : "");
	for (int k = 0; k < 2; k++) {
		if (m[k] == NULL)
			continue;
		check_info(m[k], size);
		if (k == 1) {
			engine_model_info in;

			engine_model_get_info(m[k], &in);
			if (in.tokenizer != NULL)
				check_tokenizer(m[k]);
			check_forward(m[k]);
		}
	}
	engine_model_free(m[0]);
	engine_model_free(m[1]);
	return 0;
}
