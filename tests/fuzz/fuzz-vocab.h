/*
 * fuzz-vocab.h: the tokenizer setups the fuzz targets build in memory
 * with tests/engine's GGUF writer: a tiny PolyLM-shaped model whose
 * vocabulary has the 256 byte pieces, a few dozen pieces that merge,
 * user-defined and unused pieces, and optionally a precompiled charsmap
 * of known rules (a Darts-clone double array built here), so a target can
 * predict exactly what the normalizer does.
 */
#ifndef FUZZ_VOCAB_H
#define FUZZ_VOCAB_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "gguf-builder.h"

typedef struct fz_vocab_opts {
	int charsmap;          /* add the rules of fz_rules as a charsmap */
	int remove_extra_ws;   /* tokenizer.ggml.remove_extra_whitespaces */
	int add_space_prefix;  /* tokenizer.ggml.add_space_prefix */
	int unused_piece;      /* one piece of type UNUSED (5) */
	int ws_inside_piece;   /* a piece with a trailing "▁" ("e▁") */
} fz_vocab_opts;

/* A normalization rule: the text `from` becomes `to`. */
typedef struct fz_rule {
	const char *from, *to;
} fz_rule;

extern const fz_rule fz_rules[];
extern const int fz_n_rules;
/* The user-defined pieces (never split, never normalized). */
extern const char *const fz_user_pieces[];
extern const int fz_n_user_pieces;

/* The charsmap blob of fz_rules (uint32 trie size, the double array,
 * the NUL-separated replacements). Returns malloc'd bytes. */
uint8_t *fz_charsmap(size_t *len);

/* Fills f (tb_init'ed here) with a complete tiny model using this
 * vocabulary: 1 layer, n_embd 8, context 8. Free with tb_free. */
void fz_build_model(tb_file *f, const fz_vocab_opts *o);

/*
 * What the tokenizer of a model built with o turns text[0..len) (valid
 * UTF-8) into after detokenization with no special-token splitting:
 * user pieces kept, charsmap rules applied (longest match), then with
 * remove_extra_ws the spaces trimmed and collapsed, and every "▁" of the
 * text read back as a space. Not exact with remove_extra_ws for a text
 * holding "▁" (the decoder then drops leading "▁" piece by piece).
 * Returns malloc'd bytes and their length in *out_len.
 */
char *fz_expected_text(const fz_vocab_opts *o, const char *text, size_t len,
		       size_t *out_len);

/*
 * Writes bytes to an anonymous in-memory file (memfd) and loads it with
 * engine_model_load through /proc/self/fd/N, so a target needs no file
 * system. The memfd is kept for the next call (truncated and rewritten).
 * Returns what engine_model_load returns; a failure to write the memfd
 * aborts (that is the harness failing, not the engine).
 */
int fuzz_model_from_bytes(const void *data, size_t size, int use_mmap,
			  engine_model **out, pt_err *e);

#endif
