/*
 * tokenizer-impl.h: what the tokenizer's files (tokenizer.c, the loader
 * and BPE; tokenizer-norm.c, the normalizer; tokenizer-detok.c, the
 * decoder) share. Nothing outside engine/tokenizer*.c includes it.
 */
#ifndef ENGINE_TOKENIZER_IMPL_H
#define ENGINE_TOKENIZER_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine-impl.h"

/* Piece types: the numbers of SentencePiece's ModelProto (and of GGUF's
 * tokenizer.ggml.token_type). */
enum {
	TOK_NORMAL = 1,
	TOK_UNKNOWN = 2,
	TOK_CONTROL = 3,
	TOK_USER = 4,
	TOK_UNUSED = 5,
	TOK_BYTE = 6,
};

/* "▁" (U+2581), SentencePiece's escaped space. */
#define TOK_WS "\xe2\x96\x81"
#define TOK_WS_LEN 3

/* Longest piece accepted, in bytes (SentencePiece's own are at most 16
 * characters, 64 bytes). */
#define TOK_MAX_PIECE 240

/* Most distinct lengths of user-defined pieces we try at a position. */
#define TOK_MAX_USER_LENS 32

struct engine__tokenizer {
	int32_t n;               /* pieces */
	char *arena;             /* all pieces, each NUL-terminated */
	uint32_t *off, *len;     /* piece i is arena[off[i]..+len[i]) */
	float *score;
	uint8_t *type;           /* TOK_* */
	/* Open-addressing hash, piece -> id (-1 empty); tag holds the high
	 * bits of the hash so most probes never touch the pieces. */
	struct tok_slot { int32_t id; uint32_t tag; } *slots;
	size_t slot_mask;
	uint32_t max_len;        /* longest piece in bytes */

	int32_t bos, eos, unk, pad; /* -1 if none */
	int32_t byte_id[256];    /* id of "<0xXX>", or unk if absent */

	bool add_dummy_prefix;
	bool remove_extra_ws;
	bool escape_ws;
	bool ws_suffix;          /* treat_whitespace_as_suffix */
	bool byte_fallback;
	/* How the BPE may run word by word: 1 if no piece that merges has
	 * "▁" after its start (cut before each "▁"), 2 if none has it before
	 * its end (cut after), 0 otherwise. Also 0 with unused pieces, whose
	 * splits depend on the order of the whole text's merges. */
	int chunk_mode;

	/* User-defined pieces are matched first (longest) and never split;
	 * their distinct byte lengths, longest first, and a filter on their
	 * first byte keep that match cheap. */
	int n_user_lens;
	uint32_t user_lens[TOK_MAX_USER_LENS];
	uint8_t user_first[256];

	/* Precompiled normalization charsmap: a Darts-clone double array
	 * (units) and the NUL-separated replacement strings. */
	uint32_t *trie;
	size_t n_trie;
	char *repl;
	size_t repl_len;

	/* The literal strings HF's slow tokenizer splits out as special
	 * tokens (<s>, </s>, <unk>, pad). */
	int n_special;
	int32_t special[4];
};

/* A growable byte buffer owned by one tokenize call. */
typedef struct tok_buf {
	char *p;
	size_t n, cap;
} tok_buf;

int engine__tok_buf_reserve(tok_buf *b, size_t extra, pt_err *e);

/* Length of the longest user-defined piece that prefixes s[0..len), or 0. */
size_t engine__tok_user_match(const engine__tokenizer *t, const char *s,
			      size_t len);

/* Piece -> id lookups. _normal finds pieces BPE may produce (normal,
 * user-defined, unused); _any is SentencePiece's PieceToId (reserved
 * pieces first, then normal ones, else -1). */
int32_t engine__tok_find_normal(const engine__tokenizer *t, const char *s,
				size_t len);
int32_t engine__tok_find_any(const engine__tokenizer *t, const char *s,
			     size_t len);

/* Normalizes text[0..len) (valid UTF-8) as SentencePiece's Normalizer
 * does, appending to *out (which it empties first). */
int engine__tok_normalize(const engine__tokenizer *t, const char *text,
			  size_t len, tok_buf *out, pt_err *e);

/* Checks and copies the charsmap blob (uint32 trie size, trie, strings). */
int engine__tok_charsmap_load(engine__tokenizer *t, const uint8_t *blob,
			      size_t n, pt_err *e);

#endif
