/*
 * gen-seeds: writes the seed corpora of tests/fuzz into OUTDIR/NAME/:
 *   gguf/       small valid models (F32, F16, BF16, Q8_0, Q4_0 weights, an
 *               explicit output matrix, a charsmap, GGUF v2, alignment 64)
 *               and broken ones (truncated at each part of the file, counts,
 *               lengths, dims, types and offsets out of range);
 *   tokenizer/  texts for each vocabulary setup of fuzz-tokenizer, valid
 *               and not, and a few id sequences;
 *   segment/    documents for fuzz-segment in several languages;
 *   utf8/       the edges of UTF-8 (shortest and longest of each length,
 *               overlongs, surrogates, past U+10FFFF, truncations).
 * The texts are written for this corpus. Usage:
 *   fuzz-gen-seeds tests/fuzz/corpus
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine-impl.h"
#include "fuzz-vocab.h"
#include "fuzz.h"

static const char *outdir;

static void put(const char *sub, const char *name, const void *p, size_t n)
{
	char path[4096];

	snprintf(path, sizeof path, "%s/%s", outdir, sub);
	if (mkdir(path, 0777) != 0 && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof path, "%s/%s/%s", outdir, sub, name);
	if (tb_write(path, p, n) != 0) {
		perror(path);
		exit(1);
	}
}

/* A text seed: the selector byte(s), then the text. */
static void put_text(const char *sub, const char *name, const char *sel,
		     size_t sel_len, const char *text, size_t len)
{
	char *buf = malloc(sel_len + len + 1);

	if (buf == NULL)
		exit(1);
	memcpy(buf, sel, sel_len);
	memcpy(buf + sel_len, text, len);
	put(sub, name, buf, sel_len + len);
	free(buf);
}

/* ---- GGUF ---------------------------------------------------------------- */

/* Converts every 2-D weight of f (F32) to type. */
static void quantize_weights(tb_file *f, uint32_t type)
{
	for (int i = 0; i < f->n_t; i++) {
		tb_tensor *t = &f->t[i];
		size_t rows, row_bytes;
		uint8_t *q;

		if (t->n_dims != 2 || strcmp(t->name, "position_embd.weight") == 0)
			continue;
		rows = (size_t)t->ne[1];
		row_bytes = engine__row_bytes((int)type, (int64_t)t->ne[0]);
		if (row_bytes == 0)
			exit(1);
		q = malloc(rows * row_bytes);
		if (q == NULL)
			exit(1);
		for (size_t r = 0; r < rows; r++)
			engine__quant_row((int)type, (const float *)t->data + r * t->ne[0],
					  q + r * row_bytes, (int64_t)t->ne[0]);
		free(t->data);
		t->data = q;
		t->nbytes = rows * row_bytes;
		t->type = type;
	}
}

static void put_model(const char *name, const tb_file *f)
{
	size_t len;
	uint8_t *p = tb_build(f, &len);

	put("gguf", name, p, len);
	free(p);
}

static void tiny(tb_file *f, int d, int with_output)
{
	tb_model p = { .d = d, .n_head = 2, .n_layer = 1, .ff = d * 2 > 32 ? d * 2 : 32,
		       .n_ctx = 8, .with_output = with_output, .seed = 3 };

	tb_tiny_model(f, &p);
}

/* Offsets of the parts of a built file, found by walking it. */
static void gguf_seeds_broken(void)
{
	tb_file *f = malloc(sizeof *f);
	uint8_t *p, *q;
	size_t len;
	static const size_t cuts[] = { 0, 3, 4, 8, 16, 23, 40, 300, 1000, 4000 };
	char name[64];

	tiny(f, 8, 0);
	p = tb_build(f, &len);
	for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
		snprintf(name, sizeof name, "cut-%zu", cuts[i]);
		put("gguf", name, p, cuts[i] < len ? cuts[i] : len);
	}
	put("gguf", "cut-last-byte", p, len - 1);
	q = malloc(len);
	/* Header counts: tensors and keys far too many. */
	memcpy(q, p, len);
	memset(q + 8, 0xff, 8);
	put("gguf", "n-tensors-huge", q, len);
	memcpy(q, p, len);
	memset(q + 16, 0x7f, 4);
	put("gguf", "n-kv-huge", q, len);
	/* The first key's length runs past the end. */
	memcpy(q, p, len);
	memset(q + 24, 0xfe, 7);
	put("gguf", "key-len-huge", q, len);
	memcpy(q, p, len);
	memcpy(q, "GGUF\x01\0\0\0", 8);
	put("gguf", "version-1", q, len);
	free(q);
	free(p);
	tb_free(f);

	/* Tensor fields out of range. */
	tiny(f, 8, 0);
	tb_tensor_find(f, "blk.0.ffn_up.weight")->n_dims = 5;
	put_model("dims-5", f);
	tb_free(f);
	tiny(f, 8, 0);
	tb_tensor_find(f, "blk.0.ffn_up.weight")->type = ENGINE_TYPE_Q4_K;
	put_model("type-q4k", f);
	tb_free(f);
	tiny(f, 8, 0);
	tb_tensor_find(f, "blk.0.attn_qkv.weight")->offset = 1 << 30;
	put_model("offset-past-end", f);
	tb_free(f);
	tiny(f, 8, 0);
	tb_tensor_find(f, "output_norm.bias")->offset = 3;
	put_model("offset-misaligned", f);
	tb_free(f);
	tiny(f, 8, 0);
	tb_tensor_find(f, "token_embd.weight")->ne[1] = 100;
	put_model("vocab-rows-mismatch", f);
	tb_free(f);
	tiny(f, 8, 0);
	tb_kv_remove(f, "tokenizer.ggml.scores");
	put_model("no-scores", f);
	tb_free(f);
	tiny(f, 8, 0);
	tb_kv_remove(f, "gpt2.attention.head_count");
	tb_kv_u32(f, "gpt2.attention.head_count", 3);
	put_model("heads-3", f);
	tb_free(f);
	free(f);
}

static void gguf_seeds(void)
{
	static const struct { const char *name; uint32_t type; int d; } quant[] = {
		{ "tiny-f16", ENGINE_TYPE_F16, 8 }, { "tiny-bf16", ENGINE_TYPE_BF16, 8 },
		{ "tiny-q8_0", ENGINE_TYPE_Q8_0, 32 }, { "tiny-q4_0", ENGINE_TYPE_Q4_0, 32 },
	};
	fz_vocab_opts vo = { .charsmap = 1, .remove_extra_ws = 1, .add_space_prefix = 1,
			     .unused_piece = 1, .ws_inside_piece = 1 };
	tb_file *f = malloc(sizeof *f);

	if (f == NULL)
		exit(1);
	tiny(f, 8, 0);
	put_model("tiny-f32", f);
	tb_free(f);
	tiny(f, 8, 1);
	put_model("tiny-f32-output", f);
	tb_free(f);
	for (size_t i = 0; i < sizeof quant / sizeof quant[0]; i++) {
		tiny(f, quant[i].d, 0);
		quantize_weights(f, quant[i].type);
		put_model(quant[i].name, f);
		tb_free(f);
	}
	tiny(f, 8, 0);
	f->version = 2;
	put_model("tiny-v2", f);
	tb_free(f);
	tiny(f, 8, 0);
	f->align = 64;
	tb_kv_u32(f, "general.alignment", 64);
	put_model("tiny-align64", f);
	tb_free(f);
	fz_build_model(f, &vo);
	put_model("tok-charsmap", f);
	tb_free(f);
	free(f);
	gguf_seeds_broken();
}

/* ---- Texts --------------------------------------------------------------- */

static const char *const texts[] = {
	"The theme and the thin end.",
	"\xef\xbc\xa1nd \xef\xac\x81ne: qq q z x ab \xc3\xa9\tend\xe3\x80\x80.",
	"\xe4\xb8\xad\xe6\x96\x87 and \xe4\xb8\xad\xe6\x96\x87\xe5\xad\x97, \xc3\xbc \xc3\x9c" "ber",
	"   leading  and   double spaces   ",
	"<sep>@@ user <s> specials </s> <unk> <<s>",
	"line one\nline two\r\n\tindented",
	"\xd0\x97\xd0\xb4\xd1\x80\xd0\xb0\xd0\xb2\xd1\x81\xd1\x82\xd0\xb2\xd1\x83\xd0\xb9, "
	"\xd0\xbc\xd0\xb8\xd1\x80!",
	"\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7 \xd8\xa8\xd8\xa7\xd9\x84\xd8\xb9\xd8\xa7"
	"\xd9\x84\xd9\x85",
	"\xe0\xb8\xaa\xe0\xb8\xa7\xe0\xb8\xb1\xe0\xb8\xaa\xe0\xb8\x94\xe0\xb8\xb5\xe0\xb8\x84"
	"\xe0\xb8\xa3\xe0\xb8\xb1\xe0\xb8\x9a",
	"\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1\xe3\x81\xaf\xe3\x80\x81\xe4\xb8\x96"
	"\xe7\x95\x8c\xe3\x80\x82",
	"\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7 "
	"e\xcc\x81\xcc\x81\xcc\x81 \xe2\x80\x8b",
	"",
};

static const char *const bad_texts[] = {
	"\xc3(", "ok\xed\xa0\x80", "\xf4\x90\x80\x80 x", "tail\xe2\x82", "\xff", "\xc0\xaf",
};

static void tokenizer_seeds(void)
{
	char name[64], sel;
	uint8_t ids[64];

	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
		for (int setup = 0; setup < 4; setup++) {
			/* Special-token splitting and <s> on every other seed. */
			sel = (char)(setup | (i % 2 ? 4 : 0) | (i % 3 == 0 ? 8 : 0));
			snprintf(name, sizeof name, "text-%02zu-%d", i, setup);
			put_text("tokenizer", name, &sel, 1, texts[i], strlen(texts[i]));
		}
	for (size_t i = 0; i < sizeof bad_texts / sizeof bad_texts[0]; i++) {
		sel = (char)(i & 3);
		snprintf(name, sizeof name, "bad-%02zu", i);
		put_text("tokenizer", name, &sel, 1, bad_texts[i], strlen(bad_texts[i]));
	}
	/* Ids: byte pieces that form and break UTF-8 sequences, words, <s>. */
	{
		static const int32_t seq[] = { 3 + 0xe4, 3 + 0xb8, 3 + 0xad, 259, 3 + 0xe4,
					       3 + 0x41, 1, 260, 3 + 0xf0, 3 + 0x9f, 2, 272 };
		size_t n = sizeof seq / sizeof seq[0];

		for (int setup = 0; setup < 4; setup++) {
			ids[0] = (uint8_t)(0x10 | setup);
			for (size_t i = 0; i < n; i++) {
				ids[1 + 2 * i] = (uint8_t)(seq[i] & 0xff);
				ids[2 + 2 * i] = (uint8_t)(seq[i] >> 8);
			}
			snprintf(name, sizeof name, "ids-%d", setup);
			put("tokenizer", name, ids, 1 + 2 * n);
		}
	}
}

static const char *const docs[] = {
	"- item one.\n- item two\n1. First sentence. Second one!\n\n# Title\n",
	"Dr. Smith kam z. B. um 5 Uhr. Er ging wieder.\r\nZweite Zeile.",
	"See https://example.org/a.b?c=d. Then stop. \"Quoted.\" (Brackets.)",
	"This is a long sentence, with clauses; and more of them: many more, "
	"so that the limit on bytes cuts it into several pieces of text.",
	"\xe6\x88\x91\xe4\xbb\xac\xe5\x9c\xa8\xe8\xbf\x99\xe9\x87\x8c\xe3\x80\x82\xe4\xbd\xa0"
	"\xe5\xa5\xbd\xef\xbc\x81\xe2\x97\x8f \xe9\xa1\xb9\xe7\x9b\xae",
	"\xe0\xb8\xaa\xe0\xb8\xa7\xe0\xb8\xb1\xe0\xb8\xaa\xe0\xb8\x94\xe0\xb8\xb5\xe0\xb8\x84"
	"\xe0\xb8\xa3\xe0\xb8\xb1\xe0\xb8\x9a\xe0\xb8\x97\xe0\xb8\xb8\xe0\xb8\x81\xe0\xb8\x84"
	"\xe0\xb8\x99",
	"   \t  \n\n---\n12345\n\xe2\x80\xa2 bullet\xc2\xa0text\xe2\x80\xa8next",
	"\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d \xd7\xa2\xd7\x95\xd7\x9c\xd7\x9d. "
	"\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7.",
	"\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7\xf0\x9f"
	"\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7 e\xcc\x81\xcc\x81",
};

static void segment_seeds(void)
{
	char name[64], sel[2];

	for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
		sel[0] = (char)(i * 3 % 19);          /* LANGID_UND and several languages */
		sel[1] = (char)(i % 3 == 0 ? 0 : i % 3 == 1 ? 20 : 48);
		snprintf(name, sizeof name, "doc-%02zu", i);
		put_text("segment", name, sel, 2, docs[i], strlen(docs[i]));
	}
	for (size_t i = 0; i < sizeof bad_texts / sizeof bad_texts[0]; i++) {
		sel[0] = 2, sel[1] = 0;
		snprintf(name, sizeof name, "bad-%02zu", i);
		put_text("segment", name, sel, 2, bad_texts[i], strlen(bad_texts[i]));
	}
}

static void utf8_seeds(void)
{
	static const char *const edges[] = {
		"\x7f", "\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xed\x9f\xbf", "\xee\x80\x80",
		"\xef\xbf\xbf", "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf", "\xc0\x80", "\xc1\xbf",
		"\xe0\x80\x80", "\xe0\x9f\xbf", "\xed\xa0\x80", "\xed\xbf\xbf", "\xf0\x80\x80\x80",
		"\xf0\x8f\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xf8\x88\x80\x80\x80",
		"\x80", "\xbf", "\xe2\x82", "a\xf0\x9f\x98", "\xe2\x82\xac\xe2\x82\xac\xe2",
	};
	char name[64];

	for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
		snprintf(name, sizeof name, "edge-%02zu", i);
		put("utf8", name, edges[i], strlen(edges[i]));
	}
	put("utf8", "nul", "a\0b", 3);
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		snprintf(name, sizeof name, "text-%02zu", i);
		put("utf8", name, texts[i], strlen(texts[i]));
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s OUTDIR (writes OUTDIR/{gguf,tokenizer,segment,utf8}/)\n",
			argv[0]);
		return 2;
	}
	outdir = argv[1];
	if (mkdir(outdir, 0777) != 0 && errno != EEXIST) {
		perror(outdir);
		return 1;
	}
	gguf_seeds();
	tokenizer_seeds();
	segment_seeds();
	utf8_seeds();
	return 0;
}
