/* pipeline.c: text -> segments -> prompts -> answers -> text (pipeline.h,
 * pipeline-impl.h); batched decoding is in pipeline-batch.c. */
#include "pipeline-impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Detection reads at most this much of a request: more text does not make
 * the answer better, only slower. */
#define PTD__DETECT_BYTES 65536
/* Answers checked with detection need this confidence to count as being
 * in (or not in) a language. */
#define PTD__SAME_LANG_CONF 0.8f
/* A request's detected language is used for all of its segments only when
 * the detector is at least this sure; else each segment is detected. */
#define PTD__REQUEST_CONF 0.5f
/* Warnings kept per request; beyond, one line says how many were left out. */
#define PTD__MAX_WARNINGS 64

static void ptd__seg_free(ptd_seg *seg);

void ptd_pipeline_default_params(ptd_pipeline_params *p)
{
	memset(p, 0, sizeof *p);
	p->n_seq = PTD__RETRY_BEAMS;
	p->retry_beams = PTD__RETRY_BEAMS;
	p->max_tokens = 256;
	p->beams = 1;
}

const engine_model *ptd_pipeline_model(const ptd_pipeline *pl) { return pl->model; }
const langid_detector *ptd_pipeline_detector(const ptd_pipeline *pl) { return pl->det; }
int ptd_pipeline_n_ctx(const ptd_pipeline *pl) { return pl->n_ctx; }
int ptd_pipeline_max_beams(const ptd_pipeline *pl) { return pl->n_seq; }

const char *ptd_pipeline_kind(const ptd_pipeline *pl)
{
	if (pl->tpl_file != NULL)
		return "file";
	switch (pl->info.prompt_kind) {
	case ENGINE_PROMPT_MULTIALPACA: return "multialpaca";
	case ENGINE_PROMPT_CHAT: return "chat";
	default: return "base";
	}
}

int ptd_pipeline_new(const ptd_pipeline_params *p, ptd_pipeline **out, pt_err *e)
{
	engine_model_params mp = engine_model_default_params();
	engine_ctx_params cp = engine_ctx_default_params();
	ptd_pipeline *pl = calloc(1, sizeof *pl);
	int rc;

	if (pl == NULL)
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	pl->n_seq = p->n_seq < PTD__RETRY_BEAMS ? PTD__RETRY_BEAMS : p->n_seq;
	pl->retry_beams = p->retry_beams > pl->n_seq ? pl->n_seq :
			  p->retry_beams > 1 ? p->retry_beams : 0;
	pl->n_slots = p->batch_slots > 0 ? p->batch_slots : 0;
	pl->n_cache = pl->n_slots > 0 && p->prefix_cache > 0 ? p->prefix_cache : 0;
	pl->max_tokens = p->max_tokens > 0 ? p->max_tokens : 256;
	pl->beams = p->beams > 0 ? p->beams : 1;
	if (pl->beams > pl->n_seq)
		pl->beams = pl->n_seq;
	/* The weights are read into memory, not mapped: a model file
	 * truncated or rewritten in place while the daemon runs (a copy over
	 * it, a full disk) would kill a mapping with SIGBUS at the next
	 * request. They are all touched for every token, so they are
	 * resident either way. */
	mp.use_mmap = 0;
	rc = engine_model_load(p->model_path, &mp, &pl->model, e);
	if (rc != 0)
		goto fail;
	engine_model_get_info(pl->model, &pl->info);
	cp.n_ctx = p->n_ctx > 0 && p->n_ctx < pl->info.n_ctx ? p->n_ctx : pl->info.n_ctx;
	/* Sequences: engine_generate's, the slots, the prefix cache. Their
	 * caches are allocated zeroed and untouched until used, so memory
	 * grows with the tokens actually held, not with the count. */
	cp.n_seq = pl->n_seq + pl->n_slots + pl->n_cache;
	cp.n_threads = p->n_threads;
	rc = engine_ctx_new(pl->model, &cp, &pl->ctx, e);
	if (rc != 0) {
		pt_err_prefix(e, "%s", p->model_path);
		goto fail;
	}
	pl->n_ctx = cp.n_ctx;
	pl->ids = calloc((size_t)pl->n_ctx, sizeof *pl->ids);
	if (pl->ids == NULL) {
		rc = pt_err_set(e, PT_ENOMEM, "out of memory");
		goto fail;
	}
	if ((rc = langid_detector_new(&pl->det, e)) != 0)
		goto fail;
	if (pl->n_slots > 0 && (rc = ptd__batch_init(pl, e)) != 0)
		goto fail;
	if (p->template_path != NULL && p->template_path[0] != '\0') {
		if ((rc = ptd_template_load(p->template_path, &pl->tpl_file, e)) != 0)
			goto fail;
		pl->tpl = pl->tpl_file;
	} else {
		pl->tpl = ptd_template_builtin(pl->info.prompt_kind);
	}
	*out = pl;
	return 0;
fail:
	ptd_pipeline_free(pl);
	return rc;
}

void ptd_pipeline_free(ptd_pipeline *pl)
{
	if (pl == NULL)
		return;
	ptd__batch_done(pl);
	langid_detector_free(pl->det);
	ptd_template_free(pl->tpl_file);
	engine_ctx_free(pl->ctx);
	engine_model_free(pl->model);
	free(pl->ids);
	free(pl);
}

/* ---- Requests ------------------------------------------------------------ */

static void ptd__warn(ptd_tr *t, const char *fmt, ...) PT_PRINTF(2, 3);
static void ptd__warn(ptd_tr *t, const char *fmt, ...)
{
	char buf[512], **nw;
	va_list ap;
	int k = 0;

	if (t->n_warn >= PTD__MAX_WARNINGS) {
		t->n_warn_dropped++;
		return;
	}
	/* Which text, when the request has several. */
	if (t->n_items > 1 && t->item < t->n_items)
		k = snprintf(buf, sizeof buf, "texts[%zu]: ", t->item);
	va_start(ap, fmt);
	vsnprintf(buf + k, sizeof buf - (size_t)k, fmt, ap);
	va_end(ap);
	nw = realloc(t->warn, (t->n_warn + 1) * sizeof *nw);
	if (nw == NULL)
		return; /* a warning lost to a lack of memory is not worth failing for */
	t->warn = nw;
	if ((t->warn[t->n_warn] = strdup(buf)) != NULL)
		t->n_warn++;
}

/* Detects the language of a whole request from at most PTD__DETECT_BYTES,
 * cut at a character boundary. */
static int ptd__detect_request(ptd_tr *t, pt_err *e)
{
	char *buf = malloc(PTD__DETECT_BYTES);
	size_t n = 0;
	langid_guess g;
	size_t ng = 0;
	int rc;

	if (buf == NULL)
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	for (size_t i = 0; i < t->p.n_texts && n < PTD__DETECT_BYTES - 1; i++) {
		size_t k = t->p.lens[i];
		if (k > PTD__DETECT_BYTES - 1 - n) {
			k = PTD__DETECT_BYTES - 1 - n;
			while (k > 0 && ((unsigned char)t->p.texts[i][k] & 0xc0) == 0x80)
				k--;
		}
		memcpy(buf + n, t->p.texts[i], k);
		n += k;
		buf[n++] = '\n';
	}
	rc = langid_detect(t->pl->det, buf, n, &g, 1, &ng, e);
	free(buf);
	if (rc != 0)
		return rc;
	/* An unsure guess for the whole request is worse than a guess per
	 * segment (a list of texts in several languages, say). */
	t->from = ng > 0 && g.confidence >= PTD__REQUEST_CONF ? g.lang : LANGID_UND;
	return 0;
}

/* The longest piece the model can take: its prompt (the fixed part, the
 * instruction and at worst one token per byte) and an answer of up to
 * twice as many tokens must fit in the context. */
static size_t ptd__max_piece_bytes(ptd_tr *t)
{
	ptd_pipeline *pl = t->pl;
	const char *from = t->from != LANGID_UND ? langid_lang_code(t->from) : "en";
	const char *to = langid_lang_code(t->p.to);
	char *prompt = NULL;
	size_t fixed, n = 0;
	long room;

	if (ptd_prompt_build(pl->tpl, from, to, "x", 1, &prompt, &fixed, NULL) != 0)
		return 16;
	engine_tokenize(pl->model, prompt, strlen(prompt), ENGINE_TOK_ADD_BOS, NULL, 0,
			&n, NULL);
	free(prompt);
	room = (long)pl->n_ctx - (long)n - 8;
	if (room < 48)
		return 16;
	return room / 3 > 2048 ? 2048 : (size_t)(room / 3);
}

int ptd_tr_new(ptd_pipeline *pl, const ptd_tr_params *p, ptd_tr **out, pt_err *e)
{
	langid_seg_params sp = langid_seg_default_params();
	ptd_tr *t;
	int rc = 0;

	if (p->to < 0 || p->to >= LANGID_COUNT || p->from < LANGID_UND || p->from >= LANGID_COUNT)
		return pt_err_set(e, PT_EINVAL, "translate: language index out of range");
	if ((t = calloc(1, sizeof *t)) == NULL ||
	    (p->n_texts > 0 && (t->items = calloc(p->n_texts, sizeof *t->items)) == NULL)) {
		free(t);
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	}
	t->pl = pl;
	t->p = *p;
	t->n_items = p->n_texts;
	t->beams = p->beams > 0 ? p->beams : pl->beams;
	if (t->beams > pl->n_seq) {
		ptd__warn(t, "beams: %d asked, this daemon decodes at most %d; using %d",
			  t->beams, pl->n_seq, pl->n_seq);
		t->beams = pl->n_seq;
	}
	t->max_tokens = p->max_tokens > 0 ? p->max_tokens : pl->max_tokens;
	t->from = p->from;
	for (size_t i = 0; i < p->n_texts && rc == 0; i++)
		if ((rc = langid_text_check(p->texts[i], p->lens[i], e)) != 0 && p->n_texts > 1)
			pt_err_prefix(e, "texts[%zu]", i);
	if (rc == 0 && t->from == LANGID_UND)
		rc = ptd__detect_request(t, e);
	snprintf(t->from_code, sizeof t->from_code, "%s", langid_lang_code(t->from));
	sp.lang = t->from;
	sp.max_bytes = rc == 0 ? ptd__max_piece_bytes(t) : 0;
	for (size_t i = 0; i < p->n_texts && rc == 0; i++)
		rc = langid_segment(p->texts[i], p->lens[i], &sp, &t->items[i].segs, e);
	if (rc != 0) {
		ptd_tr_free(t);
		return rc;
	}
	*out = t;
	return 0;
}

void ptd_tr_free(ptd_tr *t)
{
	if (t == NULL)
		return;
	/* Normally done already by the thread that fed it. */
	if (t->pl->bgen != NULL && ptd_tr_running(t) > 0)
		ptd_tr_abort(t);
	for (size_t i = 0; i < t->n_items; i++) {
		langid_segs_free(t->items[i].segs);
		free(t->items[i].result);
	}
	for (ptd_seg *seg = t->seg_head, *next; seg != NULL; seg = next) {
		next = seg->next;
		ptd__seg_free(seg);
	}
	for (size_t i = 0; i < t->n_warn; i++)
		free(t->warn[i]);
	free(t->warn);
	free(t->items);
	free(t->note);
	free(t);
}

/* ---- One segment ---------------------------------------------------------- */

static void ptd__seg_free(ptd_seg *seg)
{
	if (seg == NULL)
		return;
	free(seg->norm);
	free(seg->ids);
	free(seg->ans);
	free(seg);
}

/* Builds and tokenizes the prompt of seg into seg->ids. A prompt that does
 * not fit the context is not an error: the segment is DONE, too_long. */
static int ptd__seg_prompt(ptd_tr *t, ptd_seg *seg, pt_err *e)
{
	ptd_pipeline *pl = t->pl;
	const char *from = langid_lang_code(seg->from_lang), *to = langid_lang_code(t->p.to);
	unsigned flags = pl->info.add_bos ? ENGINE_TOK_ADD_BOS : 0;
	char *prompt = NULL;
	size_t fixed, n = 0;
	int rc;

	if ((rc = ptd_prompt_build(pl->tpl, from, to, seg->norm, seg->norm_len, &prompt, &fixed,
				   e)) != 0)
		return rc;
	/* Literal "<s>" in a person's text is text, not a control token. */
	rc = engine_tokenize(pl->model, prompt, strlen(prompt), flags | ENGINE_TOK_NO_SPECIAL,
			     pl->ids, (size_t)pl->n_ctx, &n, e);
	free(prompt);
	if (rc == PT_ETOOLARGE || (rc == 0 && n >= (size_t)pl->n_ctx - 1)) {
		snprintf(seg->ctx_msg, sizeof seg->ctx_msg, "the prompt takes %zu tokens of %d",
			 n, pl->n_ctx);
		seg->too_long = 1;
		seg->state = PTD__SEG_DONE;
		return 0;
	}
	if (rc != 0)
		return rc;
	if ((seg->ids = malloc(n * sizeof *seg->ids)) == NULL)
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	memcpy(seg->ids, pl->ids, n * sizeof *seg->ids);
	seg->n_ids = n;
	seg->stop = ptd_prompt_stop(pl->tpl);
	seg->gp = engine_gen_default_params();
	seg->gp.max_tokens = t->max_tokens;
	if ((size_t)seg->gp.max_tokens > (size_t)pl->n_ctx - n)
		seg->gp.max_tokens = (int32_t)((size_t)pl->n_ctx - n);
	seg->gp.stop = seg->stop != NULL ? &seg->stop : NULL;
	seg->gp.n_stop = seg->stop != NULL ? 1 : 0;
	seg->gp.cancel = t->p.cancel;
	seg->state = PTD__SEG_WAIT;
	return 0;
}

/* Normalizes and detects one TEXT piece and decides whether the model is
 * needed: not for a piece with nothing to translate, already in the
 * target language, or with no source language to be found (DONE, no
 * answer: the piece stays as it is). */
static int ptd__seg_prepare(ptd_tr *t, ptd_seg *seg, pt_err *e)
{
	const langid_detector *det = t->pl->det;
	langid_guess g = { LANGID_UND, 0 };
	const char *src;
	size_t n, ng = 0;
	int rc, from_lang = t->from;

	seg->state = PTD__SEG_DONE;
	src = langid_segs_text(t->items[seg->item].segs, seg->piece, &n);
	if ((rc = langid_text_normalize(src, n, &seg->norm, &seg->norm_len, e)) != 0)
		return rc;
	if (!langid_text_has_words(det, seg->norm, seg->norm_len) ||
	    langid_detect(det, seg->norm, seg->norm_len, &g, 1, &ng, NULL) != 0 || ng == 0)
		return 0;
	/* Already in the target language: nothing for the model to do. */
	if (g.lang == t->p.to && g.confidence >= PTD__SAME_LANG_CONF)
		return 0;
	if (from_lang == LANGID_UND)
		from_lang = g.lang;
	if (from_lang == LANGID_UND || from_lang == t->p.to)
		return 0;
	if (t->from == LANGID_UND && strcmp(t->from_code, "und") == 0)
		snprintf(t->from_code, sizeof t->from_code, "%s", langid_lang_code(from_lang));
	t->n_modelled++;
	seg->from_lang = from_lang;
	return ptd__seg_prompt(t, seg, e);
}

int ptd__tr_issue(ptd_tr *t, ptd_seg **out, pt_err *e)
{
	*out = NULL;
	while (t->iss_item < t->n_items) {
		langid_segs *s = t->items[t->iss_item].segs;
		size_t n = langid_segs_count(s), i = t->iss_piece;
		ptd_seg *seg;

		while (i < n && langid_segs_kind(s, i) != LANGID_PIECE_TEXT)
			i++;
		if (i == n) {
			t->iss_item++;
			t->iss_piece = 0;
			continue;
		}
		if ((seg = calloc(1, sizeof *seg)) == NULL)
			return pt_err_set(e, PT_ENOMEM, "out of memory");
		seg->t = t;
		seg->item = t->iss_item;
		seg->piece = i;
		seg->slot = -1;
		t->iss_piece = i + 1;
		t->n_segments++;
		if (t->seg_tail != NULL)
			t->seg_tail->next = seg;
		else
			t->seg_head = seg;
		t->seg_tail = seg;
		*out = seg;
		return ptd__seg_prepare(t, seg, e);
	}
	return 0;
}

/* Generates with engine_generate (sequences 0..beams-1), unbatched. */
static int ptd__seg_generate(ptd_tr *t, ptd_seg *seg, int beams, engine_gen_result *res,
			     pt_err *e)
{
	engine_gen_params gp = seg->gp;
	double t0 = pt_now();
	int rc;

	gp.n_beams = beams;
	/* The engine's time is the whole call, its set-up included. */
	rc = engine_generate(t->pl->ctx, seg->ids, seg->n_ids, &gp, NULL, NULL, res, e);
	t->gen_s += pt_now() - t0;
	if (rc == 0) {
		t->tokens += (uint64_t)res->n_ids;
		if (res->stop == ENGINE_STOP_CANCELLED) {
			engine_gen_result_done(res);
			return pt_err_set(e, PT_ECANCELLED, "cancelled");
		}
	}
	return rc;
}

/* Cleans res's answer and checks it; returns the check's verdict. */
static int ptd__judge(ptd_tr *t, ptd_seg *seg, engine_gen_result *res)
{
	const char *from = langid_lang_code(seg->from_lang), *to = langid_lang_code(t->p.to);
	langid_guess g = { LANGID_UND, 0 };
	size_t ng = 0;

	res->text_len = ptd_answer_clean(t->pl->tpl, from, to, res->text, res->text_len);
	if (langid_detect(t->pl->det, res->text, res->text_len, &g, 1, &ng, NULL) != 0 || ng == 0)
		g.lang = LANGID_UND;
	return ptd_answer_check(seg->norm, seg->norm_len, res->text, res->text_len, to,
				langid_lang_code(g.lang), g.confidence);
}

void ptd__seg_answer(ptd_tr *t, ptd_seg *seg, engine_gen_result *res)
{
	engine_gen_result res2;
	int check;

	seg->state = PTD__SEG_DONE;
	if (res->stop == ENGINE_STOP_CANCELLED) {
		engine_gen_result_done(res);
		seg->rc = pt_err_set(&seg->err, PT_ECANCELLED, "cancelled");
		return;
	}
	check = ptd__judge(t, seg, res);
	if (check != PTD_CHECK_OK && t->beams < t->pl->retry_beams) {
		memset(&res2, 0, sizeof res2);
		seg->rc = ptd__seg_generate(t, seg, t->pl->retry_beams, &res2, &seg->err);
		engine_gen_result_done(res);
		if (seg->rc != 0)
			return;
		*res = res2;
		seg->retried = 1;
		check = ptd__judge(t, seg, res);
	}
	seg->check = check;
	seg->why = res->stop;
	if (check != PTD_CHECK_EMPTY) {
		seg->ans = res->text;
		seg->ans_len = res->text_len;
		res->text = NULL;
	}
	engine_gen_result_done(res);
}

/* The warnings of a committed segment, in the request's order. */
static void ptd__seg_warn(ptd_tr *t, const ptd_seg *seg)
{
	if (seg->too_long) {
		ptd__warn(t, "segment %u: too long for the model's context (%s); left untranslated",
			  t->seg_index, seg->ctx_msg);
		return;
	}
	if (seg->ids == NULL)
		return; /* no model needed */
	if (seg->check == PTD_CHECK_EMPTY) {
		ptd__warn(t, "segment %u: %s; left untranslated", t->seg_index,
			  ptd_check_name(seg->check));
		return;
	}
	if (seg->check != PTD_CHECK_OK && seg->retried)
		ptd__warn(t, "segment %u: %s, even after a retry with %d beams; kept as it is",
			  t->seg_index, ptd_check_name(seg->check), t->pl->retry_beams);
	else if (seg->check != PTD_CHECK_OK)
		ptd__warn(t, "segment %u: %s; kept as it is", t->seg_index,
			  ptd_check_name(seg->check));
	if (seg->why == ENGINE_STOP_MAX_TOKENS || seg->why == ENGINE_STOP_CONTEXT)
		ptd__warn(t, "segment %u: answer cut at %s", t->seg_index,
			  seg->why == ENGINE_STOP_CONTEXT ? "the end of the context" : "max_tokens");
}

/* ---- Committing ------------------------------------------------------------ */

static int ptd__note_put(ptd_tr *t, size_t *len, const char *p, size_t n)
{
	size_t need;

	if (pt_add_size(*len, n, &need) != 0 || pt_add_size(need, 1, &need) != 0)
		return PT_ETOOLARGE;
	if (need > t->note_cap) {
		size_t cap = t->note_cap ? t->note_cap : 256;
		char *nb;
		while (cap < need)
			if (pt_mul_size(cap, 2, &cap) != 0)
				return PT_ETOOLARGE;
		if ((nb = realloc(t->note, cap)) == NULL)
			return PT_ENOMEM;
		t->note = nb;
		t->note_cap = cap;
	}
	memcpy(t->note + *len, p, n);
	*len += n;
	return 0;
}

/* Streams pieces [stream_from, end) of the current item, piece `tr` (if
 * not -1) replaced by its translation ans (if not NULL). */
static int ptd__stream(ptd_tr *t, size_t end, size_t tr, const char *ans, size_t ans_len,
		       pt_err *e)
{
	langid_segs *s = t->items[t->item].segs;
	size_t len = 0;
	int rc = 0;

	if (t->p.on_segment == NULL)
		return 0;
	for (size_t i = t->stream_from; i < end && rc == 0; i++) {
		size_t n;
		const char *p = langid_segs_text(s, i, &n);
		if (i == tr && ans != NULL)
			rc = ptd__note_put(t, &len, ans, ans_len);
		else
			rc = ptd__note_put(t, &len, p, n);
	}
	if (rc != 0)
		return pt_err_set(e, rc, "out of memory streaming a segment");
	if (t->p.on_segment(t->p.ud, (uint32_t)t->item, t->seg_index, t->note ? t->note : "", len))
		return pt_err_set(e, PT_ECANCELLED, "cancelled");
	return 0;
}

static int ptd__finish_item(ptd_tr *t, pt_err *e)
{
	ptd__item *it = &t->items[t->item];
	size_t n = langid_segs_count(it->segs);
	int rc = 0;

	if (!it->any_text && n > 0)
		rc = ptd__stream(t, n, (size_t)-1, NULL, 0, e);
	if (rc == 0)
		rc = langid_segs_join(it->segs, &it->result, &it->result_len, e);
	t->item++;
	t->piece = 0;
	t->stream_from = 0;
	t->seg_index = 0;
	return rc;
}

/* Commits the head segment, which is DONE and is piece i of the current
 * item. */
static int ptd__commit_one(ptd_tr *t, ptd_seg *seg, size_t i, pt_err *e)
{
	ptd__item *it = &t->items[t->item];
	size_t n = langid_segs_count(it->segs), next;
	int rc = 0;

	if (seg->rc != 0) {
		if (e != NULL)
			*e = seg->err;
		return seg->rc;
	}
	t->seg_head = seg->next;
	if (t->seg_head == NULL)
		t->seg_tail = NULL;
	it->any_text = 1;
	ptd__seg_warn(t, seg);
	if (seg->ans != NULL)
		rc = langid_segs_set(it->segs, i, seg->ans, seg->ans_len, e);
	for (next = i + 1; next < n && langid_segs_kind(it->segs, next) != LANGID_PIECE_TEXT;
	     next++)
		;
	if (rc == 0)
		rc = ptd__stream(t, next, i, seg->ans, seg->ans_len, e);
	ptd__seg_free(seg);
	if (rc != 0)
		return rc;
	t->stream_from = next;
	t->seg_index++;
	t->piece = i + 1;
	return 0;
}

int ptd_tr_commit(ptd_tr *t, int *done, pt_err *e)
{
	int rc;

	*done = 0;
	while (t->item < t->n_items) {
		ptd__item *it = &t->items[t->item];
		size_t n = langid_segs_count(it->segs), i = t->piece;
		ptd_seg *seg = t->seg_head;

		while (i < n && langid_segs_kind(it->segs, i) != LANGID_PIECE_TEXT)
			i++;
		if (i == n) {
			if ((rc = ptd__finish_item(t, e)) != 0)
				return rc;
			continue;
		}
		if (seg == NULL || seg->state != PTD__SEG_DONE)
			return 0; /* not issued yet, or not answered yet */
		if (seg->item != t->item || seg->piece != i)
			return pt_err_set(e, PT_EINTERNAL, "segment %zu.%zu committed at %zu.%zu",
					  seg->item, seg->piece, t->item, i);
		if ((rc = ptd__commit_one(t, seg, i, e)) != 0)
			return rc;
	}
	*done = 1;
	if (t->n_warn_dropped > 0) {
		size_t d = t->n_warn_dropped;
		t->n_warn_dropped = 0;
		t->n_warn--; /* make room for the summary line */
		free(t->warn[t->n_warn]);
		ptd__warn(t, "... and %zu more warnings", d + 1);
	}
	return 0;
}

/* ---- Stepping ------------------------------------------------------------- */

int ptd_tr_step(ptd_tr *t, int *done, pt_err *e)
{
	ptd_seg *seg = NULL;
	int rc;

	*done = 0;
	if (t->p.cancel != NULL && *t->p.cancel)
		return pt_err_set(e, PT_ECANCELLED, "cancelled");
	if (t->seg_head == NULL) {
		if ((rc = ptd__tr_issue(t, &seg, e)) != 0)
			return rc;
		if (seg != NULL && seg->state == PTD__SEG_WAIT) {
			engine_gen_result res;

			memset(&res, 0, sizeof res);
			if ((rc = ptd__seg_generate(t, seg, t->beams, &res, e)) != 0)
				return rc;
			ptd__seg_answer(t, seg, &res);
		}
	}
	return ptd_tr_commit(t, done, e);
}

const char *ptd_tr_result(const ptd_tr *t, size_t item, size_t *len)
{
	if (item >= t->n_items || t->items[item].result == NULL) {
		*len = 0;
		return NULL;
	}
	*len = t->items[item].result_len;
	return t->items[item].result;
}

size_t ptd_tr_n_warnings(const ptd_tr *t) { return t->n_warn; }
const char *ptd_tr_warning(const ptd_tr *t, size_t i) { return i < t->n_warn ? t->warn[i] : NULL; }
const char *ptd_tr_from(const ptd_tr *t) { return t->from_code; }
uint64_t ptd_tr_tokens(const ptd_tr *t) { return t->tokens; }
double ptd_tr_gen_s(const ptd_tr *t) { return t->gen_s; }

void ptd_tr_counts(const ptd_tr *t, size_t *segments, size_t *modelled)
{
	*segments = t->n_segments;
	*modelled = t->n_modelled;
}
