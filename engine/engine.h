/*
 * engine.h: the PolyLM engine. Loads a model from a GGUF file, tokenizes
 * and detokenizes with its SentencePiece vocabulary, runs the forward pass
 * with a KV cache and generates text.
 *
 * Objects:
 *   engine_model  immutable once loaded (weights mapped read-only, the
 *                 vocabulary); may be shared by any number of threads.
 *   engine_ctx    mutable state of one worker: KV cache for up to n_seq
 *                 sequences, scratch buffers, a thread pool. One thread
 *                 at a time.
 *
 * Every fallible function returns 0 or a negative PT_E* code and fills the
 * pt_err it is given (which may be NULL). Nothing here prints or exits.
 */
#ifndef ENGINE_H
#define ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "pt.h"

typedef struct engine_model engine_model;
typedef struct engine_ctx engine_ctx;

/* ---- Model ------------------------------------------------------------ */

typedef struct engine_model_params {
	int use_mmap;   /* 1 (default): map the file; 0: read weights into memory */
	int check_tied; /* 1 (default): if both output and token_embd exist and
			   are tied in the source, nothing is checked here (the
			   converter checks); reserved */
} engine_model_params;

engine_model_params engine_model_default_params(void);

/*
 * Loads a GGUF model. Every count, offset, size and type in the file is
 * checked before use; on failure *e names the key or tensor and the
 * numbers. On success *out owns the mapping; free with engine_model_free.
 */
int engine_model_load(const char *path, const engine_model_params *p,
		      engine_model **out, pt_err *e);
/* Frees a model; NULL is a no-op. No context of it may be alive. */
void engine_model_free(engine_model *m);

/* Prompt kinds (polytrans.prompt_kind). */
typedef enum {
	ENGINE_PROMPT_BASE = 0,
	ENGINE_PROMPT_MULTIALPACA = 1,
	ENGINE_PROMPT_CHAT = 2,
} engine_prompt_kind;

typedef struct engine_model_info {
	const char *path;
	const char *arch;          /* "gpt2" */
	const char *name;          /* general.name, or "" */
	const char *weight_type;   /* type of most weight bytes: "bf16", "q8_0", ... */
	const char *tokenizer;     /* "llama" (SentencePiece) */
	engine_prompt_kind prompt_kind;
	int bundled;               /* polytrans.bundled: the small bundled model */
	int32_t n_vocab, n_ctx, n_embd, n_head, n_layer, n_ff;
	float norm_eps;
	uint64_t n_params;         /* parameters counted from tensor shapes */
	uint64_t weight_bytes;     /* bytes of tensor data */
	uint64_t file_bytes;
	int32_t n_tensors;
	int32_t bos_id, eos_id, unk_id, pad_id; /* -1 if none */
	int add_bos;               /* tokenizer.ggml.add_bos_token */
	int add_space_prefix;      /* SentencePiece add_dummy_prefix */
	int remove_extra_whitespaces;
	int has_charsmap;          /* a precompiled normalization charsmap */
	int has_output;            /* an explicit output.weight (else tied) */
} engine_model_info;

/* Fills *info; its strings live as long as the model. */
void engine_model_get_info(const engine_model *m, engine_model_info *info);

/* Tensor listing, for `polytrans-model info`. idx in [0, n_tensors). */
typedef struct engine_tensor_info {
	const char *name;
	const char *type;  /* "f32", "f16", "bf16", "q8_0", "q4_0", ... */
	int n_dims;
	int64_t ne[4];     /* GGUF order: ne[0] is the innermost (row) size */
	uint64_t offset;   /* in the file */
	uint64_t nbytes;
} engine_tensor_info;
int engine_model_tensor(const engine_model *m, int idx, engine_tensor_info *ti);

/* ---- Tokenizer -------------------------------------------------------- */

#define ENGINE_TOK_ADD_BOS 1u   /* prepend <s> (what the HF reference does) */
#define ENGINE_TOK_NO_SPECIAL 2u /* do not map literal "<s>", "</s>", "<unk>"
				    in the text to their ids */

/*
 * Tokenizes text[0..len) exactly as SentencePiece does with the model's
 * settings (normalization, dummy prefix, whitespace escaping, BPE merges
 * by score, byte fallback). Invalid UTF-8 fails with PT_EUTF8 naming the
 * byte offset. Writes at most cap ids; *n_out receives the number of ids
 * the text needs, so a call with cap too small fails with PT_ETOOLARGE and
 * tells the size to retry with.
 */
int engine_tokenize(const engine_model *m, const char *text, size_t len,
		    unsigned flags, int32_t *ids, size_t cap, size_t *n_out,
		    pt_err *e);

/* The piece of a token as the vocabulary stores it ("▁the", "<0x0A>");
 * NULL for an id out of range. */
const char *engine_token_piece(const engine_model *m, int32_t id);
int32_t engine_n_vocab(const engine_model *m);

/*
 * Detokenizes ids into out (NUL-terminated, truncated to cap-1 bytes):
 * byte pieces reassembled, "▁" to space, the leading space of the text
 * dropped, control tokens (<s>, </s>, <unk>) skipped. *len_out gets the
 * full length. Bytes that do not form valid UTF-8 become U+FFFD.
 */
int engine_detokenize(const engine_model *m, const int32_t *ids, size_t n,
		      char *out, size_t cap, size_t *len_out, pt_err *e);

/*
 * Streaming detokenizer: feed ids one at a time; each call yields the
 * bytes that are complete UTF-8 so far (an incomplete sequence is held
 * back until its last byte arrives).
 */
typedef struct engine_detok {
	const engine_model *m;
	int first;          /* no text emitted yet (drop a leading space) */
	unsigned char pend[8];
	int npend;
} engine_detok;
void engine_detok_init(engine_detok *d, const engine_model *m);
/* Appends the text of id to out[0..cap); returns the number of bytes
 * written (at most 16 + the longest piece; cap of 256 always suffices). */
size_t engine_detok_push(engine_detok *d, int32_t id, char *out, size_t cap);
/* Flushes held-back bytes (as U+FFFD). */
size_t engine_detok_flush(engine_detok *d, char *out, size_t cap);

/* ---- Context and forward pass ------------------------------------------ */

typedef struct engine_ctx_params {
	int32_t n_ctx;     /* tokens per sequence; 0 = the model's (2048) */
	int32_t n_seq;     /* sequences held at once (batching, beams); default 1 */
	int32_t n_batch;   /* most tokens in one forward call; default 512 */
	int n_threads;     /* 0 = the number of cores */
} engine_ctx_params;

engine_ctx_params engine_ctx_default_params(void);

int engine_ctx_new(const engine_model *m, const engine_ctx_params *p,
		   engine_ctx **out, pt_err *e);
void engine_ctx_free(engine_ctx *c);
const engine_model *engine_ctx_model(const engine_ctx *c);

/*
 * A batch of tokens for one forward call. Token i belongs to sequence
 * seq[i] at position pos[i]; positions of a sequence must continue its
 * cache (pos == tokens already cached for that seq, then +1 ...). If
 * logits[i] is nonzero, the logits of token i are written to the next row
 * of the output (rows in batch order).
 */
typedef struct engine_batch {
	int32_t n;
	const int32_t *token;
	const int32_t *pos;
	const int32_t *seq;
	const int8_t *logits;
} engine_batch;

/*
 * Runs the forward pass, appending each token's keys and values to its
 * sequence's cache. out receives n_vocab floats per token with logits set.
 * A position at or past n_ctx fails with PT_ECONTEXT and changes nothing.
 */
int engine_decode(engine_ctx *c, const engine_batch *b, float *out, pt_err *e);

/* Tokens cached for a sequence. */
int32_t engine_kv_len(const engine_ctx *c, int32_t seq);
/* Keeps the first n tokens of seq's cache and forgets the rest. */
void engine_kv_truncate(engine_ctx *c, int32_t seq, int32_t n);
/* Copies the first n cached tokens of src to dst (dst's cache becomes
 * exactly those n). */
void engine_kv_copy(engine_ctx *c, int32_t src, int32_t dst, int32_t n);

/* Convenience: evaluates tokens[0..n) for sequence seq continuing its
 * cache, in chunks of n_batch; writes the last token's logits to
 * last_logits (may be NULL). */
int engine_eval(engine_ctx *c, int32_t seq, const int32_t *tokens, size_t n,
		float *last_logits, pt_err *e);

/* ---- Generation ------------------------------------------------------- */

typedef enum {
	ENGINE_STOP_EOS = 0,
	ENGINE_STOP_STRING = 1,
	ENGINE_STOP_MAX_TOKENS = 2,
	ENGINE_STOP_CANCELLED = 3,
	ENGINE_STOP_CONTEXT = 4,
	ENGINE_STOP_CALLBACK = 5,
} engine_stop_reason;

typedef struct engine_gen_params {
	int32_t max_tokens;      /* default 256 */
	int32_t n_beams;         /* 1 = greedy/sampling; >1 = beam search */
	float temperature;       /* 0 = greedy (default) */
	float top_p;             /* default 1.0 */
	int32_t top_k;           /* 0 = off */
	uint64_t seed;
	float repetition_penalty; /* 1.0 = off (HF semantics) */
	float length_penalty;    /* beam search, HF semantics; default 1.0 */
	const char *const *stop; /* stop strings (the output ends before them) */
	int32_t n_stop;
	int stop_at_eos;         /* default 1 */
	const volatile int *cancel; /* checked between steps if not NULL */
} engine_gen_params;

engine_gen_params engine_gen_default_params(void);

/* Called with each piece of text as it is final (greedy/sampling only;
 * beam search calls it once with the whole answer). Return nonzero to
 * stop. */
typedef int (*engine_text_cb)(void *ud, const char *text, size_t len);

typedef struct engine_gen_result {
	int32_t *ids;           /* generated ids (malloc), stop string included
				   if any, EOS excluded */
	int32_t n_ids;
	char *text;             /* detokenized, cut before a stop string (malloc) */
	size_t text_len;
	engine_stop_reason stop;
	int32_t n_prompt;
	double prompt_s, gen_s; /* wall time of prefill and of generation */
} engine_gen_result;

/*
 * Generates a continuation of prompt[0..n_prompt) using sequence 0 (and
 * 0..n_beams-1 for beam search; the context needs n_seq >= n_beams).
 * The caches of those sequences are reset first unless the prompt starts
 * with what sequence 0 already holds, in which case that prefix is reused.
 * A prompt that does not leave room in the context fails with PT_ECONTEXT.
 */
int engine_generate(engine_ctx *c, const int32_t *prompt, size_t n_prompt,
		    const engine_gen_params *gp, engine_text_cb cb, void *ud,
		    engine_gen_result *res, pt_err *e);
void engine_gen_result_done(engine_gen_result *res);

/*
 * Batched generation: several greedy or sampling generations, each in a
 * slot bound to its own sequence of one context, advance together, one
 * engine_decode call per step for all running slots (the weights are read
 * once for all of them). A slot starts and ends between steps; the others
 * are not disturbed. Each slot follows engine_generate's rules (the same
 * params, picks, stop strings, budget), so a greedy slot produces exactly
 * what engine_generate would for its prompt given the same cached prefix.
 * One thread at a time, like the context.
 */
typedef struct engine_bgen engine_bgen;

enum { ENGINE_BGEN_IDLE = 0, ENGINE_BGEN_RUNNING = 1, ENGINE_BGEN_DONE = 2 };

/* Creates a generator of n_slots slots; slot i decodes in sequence
 * seqs[i] (distinct sequences of c). Every buffer is allocated here, sized
 * for answers as long as the context. Free with engine_bgen_free (NULL is
 * a no-op) before the context. */
int engine_bgen_new(engine_ctx *c, const int32_t *seqs, int32_t n_slots, engine_bgen **out,
		    pt_err *e);
void engine_bgen_free(engine_bgen *b);
int32_t engine_bgen_n_slots(const engine_bgen *b);
/* ENGINE_BGEN_* of a slot; its sequence. */
int engine_bgen_state(const engine_bgen *b, int32_t slot);
int32_t engine_bgen_seq(const engine_bgen *b, int32_t slot);
int32_t engine_bgen_n_running(const engine_bgen *b);

/*
 * Starts an idle slot on prompt[0..n_prompt) with gp (n_beams must be 1):
 * what the slot's sequence caches is kept as far as it agrees with the
 * prompt (a prefix put there with engine_kv_copy, say), the rest is
 * evaluated now in the slot's own engine_decode calls, and the first token
 * is picked. The slot is then RUNNING, or DONE if it already stopped.
 * prompt, gp (and its stop strings and cancel flag) and ud must stay valid
 * until the slot is taken. cb (may be NULL) gets the text as it is final.
 */
int engine_bgen_start(engine_bgen *b, int32_t slot, const int32_t *prompt, size_t n_prompt,
		      const engine_gen_params *gp, engine_text_cb cb, void *ud, pt_err *e);
/*
 * Advances every running slot by one token: one engine_decode call for
 * all of them, then each picks its next token; slots that stop (EOS, stop
 * string, budget, their cancel flag, their callback) become DONE. On a
 * decode failure the slots are left as they were and the error returned.
 */
int engine_bgen_step(engine_bgen *b, pt_err *e);
/*
 * Takes a slot's result into *res (free with engine_gen_result_done; res
 * NULL: dropped) and makes the slot idle. A running slot is stopped first
 * (its result then says ENGINE_STOP_CANCELLED). The sequence keeps its
 * cache, which a next start may reuse.
 */
int engine_bgen_take(engine_bgen *b, int32_t slot, engine_gen_result *res, pt_err *e);

/* ---- Quantization and helpers ---------------------------------------- */

/* Parses "f32", "f16", "bf16", "q8_0", "q4_0"; returns the GGML type id or
 * -1. */
int engine_type_from_name(const char *name);
const char *engine_type_name(int type);

/* Writes a copy of the model at in_path to out_path with the 2-D weight
 * matrices converted to type (norms, biases and position embeddings stay
 * F32). The output is written to a temporary file and renamed. */
int engine_quantize(const char *in_path, const char *out_path, int type,
		    int n_threads, pt_err *e);

/* ---- Benchmark support ------------------------------------------------ */

/* The shape of a PolyLM model, for models built in memory. */
typedef struct engine_shape {
	int32_t n_vocab, n_ctx, n_embd, n_head, n_layer, n_ff;
	float norm_eps;
} engine_shape;

/* Fills *s for "1.7b" (the exact PolyLM-1.7B shape) or "tiny" (a
 * PolyLM-shaped model small enough for unit tests); PT_EINVAL otherwise. */
int engine_shape_by_name(const char *name, engine_shape *s, pt_err *e);

/*
 * Builds a model in memory with random weights of shape *s: every 2-D
 * matrix (token_embd, output and the four per layer) of the given type
 * (f32, f16, bf16, q8_0, q4_0), norms, biases and position_embd f32, and
 * an explicit output matrix as a converted file has. The model has no file
 * and no tokenizer: functions that need one fail with PT_EINVAL. The same
 * seed gives the same weights. Free with engine_model_free.
 */
int engine_model_new_random(const engine_shape *s, int type, uint64_t seed,
			    engine_model **out, pt_err *e);

/*
 * Measures the memory read bandwidth with n_threads threads (0 = the
 * number of cores): reads a buffer of `bytes` (at least 1 GiB is
 * meaningful) `passes` times and reports the best pass in GB/s (1e9
 * bytes per second).
 */
int engine_membw_measure(int n_threads, size_t bytes, int passes,
			 double *gbps, pt_err *e);

/* Arithmetic peaks (peaks.c). */
enum {
	ENGINE_PEAK_FMA32 = 0,   /* fp32 fused multiply-add: GFLOP/s */
	ENGINE_PEAK_BF16DOT = 1, /* bf16 pair dot products (VDPBF16PS): GFLOP/s */
	ENGINE_PEAK_INT8DOT = 2, /* u8 x s8 quad dot products (VPDPBUSD): GOP/s */
	ENGINE_PEAK_COUNT_
};

/* "fp32 FMA", "bf16 dot (VDPBF16PS)", ...; "?" for an unknown kind. */
const char *engine_peak_name(int kind);

/*
 * Measures an arithmetic peak with n_threads threads (0 = the number of
 * cores): register-only loops of the widest form of the instruction this
 * CPU has, on independent accumulators, for about `seconds` (best of three
 * runs). A multiply and an add count as two operations. Fails with
 * PT_EUNSUPPORTED, saying which instruction is missing, if the CPU lacks
 * it. Not thread-safe against other measurements (it uses the cores).
 */
int engine_peak_measure(int kind, int n_threads, double seconds, double *gops,
			pt_err *e);

#endif
