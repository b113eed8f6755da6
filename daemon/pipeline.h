/*
 * pipeline.h: the translate pipeline, from a person's text to the model's
 * prompts and back (issue 3): checks and normalization, segmentation with
 * exact reassembly, source detection, the prompt layer, generation, answer
 * cleanup and checks with one beam-search retry.
 *
 * Objects:
 *   ptd_pipeline  the model, one engine context, the language detector
 *                 and the prompt template. Used by one thread at a time
 *                 (the engine worker, or polytrans-model translate); the
 *                 model and the detector inside are immutable and may be
 *                 read from other threads through the getters.
 *   ptd_tr        one translate request in progress: created, then
 *                 either stepped one segment at a time (ptd_tr_step), or
 *                 fed segment by segment into the slots of batched
 *                 decoding, where segments of many requests advance
 *                 together (ptd_tr_feed, ptd_pipeline_step,
 *                 ptd_tr_commit). Either way a scheduler can switch to
 *                 more urgent work between segments and a cancel flag is
 *                 honoured between segments as well as between decode
 *                 steps.
 *
 * Nothing here knows libuv or msgpack.
 */
#ifndef PTD_PIPELINE_H
#define PTD_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "langid.h"
#include "pt.h"
#include "prompt.h"

typedef struct ptd_pipeline ptd_pipeline;
typedef struct ptd_tr ptd_tr;
typedef struct ptd_seg ptd_seg;

typedef struct ptd_pipeline_params {
	const char *model_path;     /* required */
	const char *template_path;  /* NULL: the model's prompt kind */
	int n_threads;              /* engine threads, 0 = cores */
	int n_ctx;                  /* tokens per sequence, 0 = the model's */
	int n_seq;                  /* sequences (most beams), at least 4 */
	int max_tokens;             /* default answer budget per segment */
	int beams;                  /* default beam width */
	int batch_slots;            /* segments decoded together; 0: no
				       batched decoding (ptd_tr_step only) */
	int prefix_cache;           /* language pairs whose prompt prefix is
				       kept computed (with batch_slots) */
	int retry_beams;            /* beams of the retry of an answer that
				       fails its checks; 0: no retry */
} ptd_pipeline_params;

void ptd_pipeline_default_params(ptd_pipeline_params *p);

/* Loads the model, creates the engine context and the detector. Errors
 * name the file and what is wrong with it. */
int ptd_pipeline_new(const ptd_pipeline_params *p, ptd_pipeline **out, pt_err *e);
void ptd_pipeline_free(ptd_pipeline *pl);

/* Immutable parts, safe to read from any thread. */
const engine_model *ptd_pipeline_model(const ptd_pipeline *pl);
const langid_detector *ptd_pipeline_detector(const ptd_pipeline *pl);
/* The context size in use and the most beams a request may get. */
int ptd_pipeline_n_ctx(const ptd_pipeline *pl);
int ptd_pipeline_max_beams(const ptd_pipeline *pl);
/* Name of the prompt layout in use ("base", "multialpaca", "chat", or
 * "file" for a template file). */
const char *ptd_pipeline_kind(const ptd_pipeline *pl);

/* Called for each finished segment when streaming: `text` is the
 * translated segment followed by the gaps (whitespace, list markers) that
 * follow it in the source; the first segment of an item also carries the
 * gaps before it, so the segments of an item concatenate to its
 * translation. Return nonzero to stop the request (PT_ECANCELLED). */
typedef int (*ptd_segment_fn)(void *ud, uint32_t item, uint32_t index,
			      const char *text, size_t len);

typedef struct ptd_tr_params {
	const char *const *texts;   /* n_texts texts, valid UTF-8 ... */
	const size_t *lens;         /* ... of these lengths */
	size_t n_texts;
	int from;                   /* langid index, or LANGID_UND: detect */
	int to;                     /* langid index */
	int beams;                  /* 0: the pipeline's default */
	int max_tokens;             /* 0: the pipeline's default */
	const volatile int *cancel; /* checked between segments and tokens */
	ptd_segment_fn on_segment;  /* NULL: no streaming */
	void *ud;
} ptd_tr_params;

/* Starts a request: validates and segments every text and detects the
 * source language when asked. The texts must stay valid until the request
 * is freed. Errors: PT_EUTF8 (the item and byte offset in the message),
 * PT_ELANG, PT_EINVAL, PT_ENOMEM. */
int ptd_tr_new(ptd_pipeline *pl, const ptd_tr_params *p, ptd_tr **out, pt_err *e);
void ptd_tr_free(ptd_tr *t);

/*
 * Translates the next segment. Sets *done when every segment is finished
 * (the results are then ready). Returns 0, PT_ECANCELLED when the cancel
 * flag was seen (or on_segment asked to stop), or another PT_E* code for a
 * failure that ends the request. A segment whose answer fails its checks
 * is not an error: the request goes on with a warning.
 */
int ptd_tr_step(ptd_tr *t, int *done, pt_err *e);

/* Results, valid until ptd_tr_free once *done was set. */
const char *ptd_tr_result(const ptd_tr *t, size_t item, size_t *len);
size_t ptd_tr_n_warnings(const ptd_tr *t);
const char *ptd_tr_warning(const ptd_tr *t, size_t i);
/* The source language used: the given one, or the detected one ("und"
 * when nothing could be detected). */
const char *ptd_tr_from(const ptd_tr *t);
uint64_t ptd_tr_tokens(const ptd_tr *t);
/* Seconds spent generating, and segments: total, sent to the model. */
double ptd_tr_gen_s(const ptd_tr *t);
void ptd_tr_counts(const ptd_tr *t, size_t *segments, size_t *modelled);

/* ---- Batched decoding ------------------------------------------------------
 *
 * The engine thread of the daemon keeps batch_slots segments in slots,
 * from any requests; one ptd_pipeline_step advances them all by a token.
 * A segment's prompt starts with a prefix that depends only on the
 * language pair (the one-shot demonstration): it is computed once per pair
 * into a cache sequence (the prefix_cache most recently used pairs) and
 * copied into the slot, as far as its tokens agree with the prompt's.
 * Greedy answers are the same as ptd_tr_step's.
 */

/* Slots, and slots free / in use. */
int ptd_pipeline_n_slots(const ptd_pipeline *pl);
int ptd_pipeline_free_slots(const ptd_pipeline *pl);
int ptd_pipeline_busy_slots(const ptd_pipeline *pl);
/* Nonzero if t's segments go through the slots (greedy), 0 if it must be
 * stepped with ptd_tr_step (beam search, or no slots). */
int ptd_tr_batched(const ptd_tr *t);
/*
 * Puts t's next segment that needs the model into a free slot (its prompt
 * evaluated there now); pieces that need no model are settled on the way.
 * Returns 1 when a segment was started, 0 when t has nothing more to
 * start (no free slot, or every piece issued), or a PT_E* code that ends
 * the request.
 */
int ptd_tr_feed(ptd_tr *t, pt_err *e);
/*
 * Advances every segment in the slots by one token, in one engine call.
 * Segments that finish are judged, and retried once with beam search
 * (unbatched) when they fail their checks. Returns the number of tokens
 * decoded, or a PT_E* code: every segment then in the slots failed with it
 * (their requests see it at ptd_tr_commit).
 */
int ptd_pipeline_step(ptd_pipeline *pl, pt_err *e);
/* Commits t's finished segments in order (results, streaming, warnings);
 * sets *done when all of t is finished. Returns a segment's failure
 * (PT_ECANCELLED when cancelled or on_segment asked to stop). */
int ptd_tr_commit(ptd_tr *t, int *done, pt_err *e);
/* Segments of t in slots now. */
int ptd_tr_running(const ptd_tr *t);
/* Takes t's segments out of the slots (a cancel, a failure). Must be
 * called before ptd_tr_free for a request that was fed. */
void ptd_tr_abort(ptd_tr *t);
/* Prompt-prefix reuse so far: segments started on a cached prefix and
 * the prompt tokens they did not compute. */
void ptd_pipeline_prefix_stats(const ptd_pipeline *pl, uint64_t *hits, uint64_t *tokens);

#endif
