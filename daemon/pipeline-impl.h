/*
 * pipeline-impl.h: what pipeline.c (requests, segments, checks) and
 * pipeline-batch.c (the slots of batched decoding and the prefix cache)
 * share. Nothing else includes it.
 *
 * A request's TEXT pieces become segments (ptd_seg) in piece order: issued
 * (normalized, detected, prompt tokenized), then answered, by
 * engine_generate (ptd_tr_step) or in a slot of batched decoding, then
 * committed in order (result set, streamed, warnings written). Several
 * segments of one request can be in slots at once; commits stay in order.
 */
#ifndef PTD_PIPELINE_IMPL_H
#define PTD_PIPELINE_IMPL_H

#include "pipeline.h"

/* Beams of the retry after a failed check (issue 3). */
#define PTD__RETRY_BEAMS 4

typedef struct ptd__pcache ptd__pcache;

struct ptd_pipeline {
	engine_model *model;
	engine_model_info info;
	engine_ctx *ctx;
	langid_detector *det;
	ptd_template *tpl_file;      /* owned, when a template file is used */
	const ptd_template *tpl;
	int n_ctx, n_seq, max_tokens, beams, retry_beams;
	int32_t *ids;                /* n_ctx ids: scratch for one prompt */

	/* Batched decoding (pipeline-batch.c). Sequences of the context:
	 * [0, n_seq) engine_generate's (beam search, ptd_tr_step), then
	 * n_slots slots, then n_cache prefix-cache sequences. */
	int n_slots, n_cache;
	engine_bgen *bgen;           /* NULL when n_slots is 0 */
	ptd_seg **slot_seg;          /* n_slots: the segment in each slot */
	ptd__pcache *cache;          /* n_cache */
	uint64_t cache_clock;
	uint64_t n_steps;            /* batched steps so far */
	uint64_t prefix_hits, prefix_tokens; /* segments and tokens reused */
};

typedef struct ptd__item {
	langid_segs *segs;
	char *result;
	size_t result_len;
	int any_text;                /* a TEXT piece was seen */
} ptd__item;

enum { PTD__SEG_WAIT, PTD__SEG_RUN, PTD__SEG_DONE };

struct ptd_seg {
	ptd_seg *next;               /* the request's segments, in piece order */
	ptd_tr *t;
	size_t item, piece;
	int state;                   /* PTD__SEG_* */
	int from_lang;
	char *norm;                  /* the normalized source */
	size_t norm_len;
	int32_t *ids;                /* the prompt */
	size_t n_ids;
	engine_gen_params gp;        /* greedy, for a slot */
	const char *stop;
	int slot;                    /* while PTD__SEG_RUN */
	/* The outcome. */
	int rc;                      /* a failure that ends the request */
	pt_err err;
	char *ans;                   /* NULL: the piece stays as it is */
	size_t ans_len;
	int check;                   /* PTD_CHECK_* of the kept answer */
	int retried;
	engine_stop_reason why;
	int too_long;                /* the prompt did not fit: ctx_msg says why */
	char ctx_msg[160];
};

struct ptd_tr {
	ptd_pipeline *pl;
	ptd_tr_params p;
	ptd__item *items;
	size_t n_items;
	size_t item, piece;          /* the next piece to commit */
	size_t iss_item, iss_piece;  /* the next piece to issue */
	ptd_seg *seg_head, *seg_tail; /* issued, not committed */
	size_t stream_from;          /* first piece of the next streamed segment */
	uint32_t seg_index;          /* segment number within the item */
	int from;                    /* LANGID_UND: per segment */
	char from_code[8];
	int beams, max_tokens;
	char **warn;
	size_t n_warn, n_warn_dropped;
	uint64_t tokens;
	double gen_s;
	uint64_t last_step;          /* the batched step gen_s last counted */
	size_t n_segments, n_modelled;
	char *note;                  /* streamed segment being assembled */
	size_t note_cap;
};

/* pipeline.c: issues t's next TEXT piece as a segment (*out; NULL when
 * none is left): PTD__SEG_WAIT if it needs the model, else DONE. */
int ptd__tr_issue(ptd_tr *t, ptd_seg **out, pt_err *e);
/* pipeline.c: judges a segment's answer (res is consumed), retrying once
 * with beam search (engine_generate, unbatched) when it fails its checks;
 * the segment is then DONE. A failure goes to seg->rc. */
void ptd__seg_answer(ptd_tr *t, ptd_seg *seg, engine_gen_result *res);

/* pipeline-batch.c */
int ptd__batch_init(ptd_pipeline *pl, pt_err *e);
void ptd__batch_done(ptd_pipeline *pl);

#endif
