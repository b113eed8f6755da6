/* pipeline.c: text -> segments -> prompts -> answers -> text (pipeline.h). */
#include "pipeline.h"

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
/* Beams of the retry after a failed check (issue 3). */
#define PTD__RETRY_BEAMS 4
/* Warnings kept per request; beyond, one line says how many were left out. */
#define PTD__MAX_WARNINGS 64

struct ptd_pipeline {
	engine_model *model;
	engine_model_info info;
	engine_ctx *ctx;
	langid_detector *det;
	ptd_template *tpl_file;      /* owned, when a template file is used */
	const ptd_template *tpl;
	int n_ctx, n_seq, max_tokens, beams;
	int32_t *ids;                /* n_ctx ids: the prompt of one segment */
};

typedef struct ptd__item {
	langid_segs *segs;
	char *result;
	size_t result_len;
	int any_text;                /* a TEXT piece was seen */
} ptd__item;

struct ptd_tr {
	ptd_pipeline *pl;
	ptd_tr_params p;
	ptd__item *items;
	size_t n_items;
	size_t item, piece;          /* the next piece to look at */
	size_t stream_from;          /* first piece of the next streamed segment */
	uint32_t seg_index;          /* segment number within the item */
	int from;                    /* LANGID_UND: per segment */
	char from_code[8];
	int beams, max_tokens;
	char **warn;
	size_t n_warn, n_warn_dropped;
	uint64_t tokens;
	double gen_s;
	size_t n_segments, n_modelled;
	char *note;                  /* streamed segment being assembled */
	size_t note_cap;
};

void ptd_pipeline_default_params(ptd_pipeline_params *p)
{
	memset(p, 0, sizeof *p);
	p->n_seq = PTD__RETRY_BEAMS;
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
	cp.n_seq = pl->n_seq;
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
	for (size_t i = 0; i < t->n_items; i++) {
		langid_segs_free(t->items[i].segs);
		free(t->items[i].result);
	}
	for (size_t i = 0; i < t->n_warn; i++)
		free(t->warn[i]);
	free(t->warn);
	free(t->items);
	free(t->note);
	free(t);
}

/* ---- One segment ---------------------------------------------------------- */

/* Tokenizes the prompt for text and generates its answer with `beams`. */
static int ptd__generate(ptd_tr *t, const char *from, const char *to, const char *text,
			 size_t len, int beams, engine_gen_result *res, pt_err *e)
{
	ptd_pipeline *pl = t->pl;
	engine_gen_params gp = engine_gen_default_params();
	const char *stop = ptd_prompt_stop(pl->tpl);
	unsigned flags = pl->info.add_bos ? ENGINE_TOK_ADD_BOS : 0;
	char *prompt = NULL;
	size_t fixed, n = 0;
	double t0;
	int rc;

	if ((rc = ptd_prompt_build(pl->tpl, from, to, text, len, &prompt, &fixed, e)) != 0)
		return rc;
	/* Literal "<s>" in a person's text is text, not a control token. */
	rc = engine_tokenize(pl->model, prompt, strlen(prompt), flags | ENGINE_TOK_NO_SPECIAL,
			     pl->ids, (size_t)pl->n_ctx, &n, e);
	free(prompt);
	if (rc == PT_ETOOLARGE || (rc == 0 && n >= (size_t)pl->n_ctx - 1))
		return pt_err_set(e, PT_ECONTEXT, "the prompt takes %zu tokens of %d", n,
				  pl->n_ctx);
	if (rc != 0)
		return rc;
	gp.max_tokens = t->max_tokens;
	if ((size_t)gp.max_tokens > (size_t)pl->n_ctx - n)
		gp.max_tokens = (int32_t)((size_t)pl->n_ctx - n);
	gp.n_beams = beams;
	gp.stop = stop != NULL ? &stop : NULL;
	gp.n_stop = stop != NULL ? 1 : 0;
	gp.cancel = t->p.cancel;
	/* The engine's time is the whole call, its set-up included. */
	t0 = pt_now();
	rc = engine_generate(pl->ctx, pl->ids, n, &gp, NULL, NULL, res, e);
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
static int ptd__judge(ptd_tr *t, const char *from, const char *to, const char *src,
		      size_t src_len, engine_gen_result *res)
{
	langid_guess g = { LANGID_UND, 0 };
	size_t ng = 0;

	res->text_len = ptd_answer_clean(t->pl->tpl, from, to, res->text, res->text_len);
	if (langid_detect(t->pl->det, res->text, res->text_len, &g, 1, &ng, NULL) != 0 || ng == 0)
		g.lang = LANGID_UND;
	return ptd_answer_check(src, src_len, res->text, res->text_len, to,
				langid_lang_code(g.lang), g.confidence);
}

/* Generates the answer for a normalized piece, retries once with beam
 * search if it fails its checks, and warns about what is still wrong.
 * *out gets the answer, or NULL when the piece is best left as it is. */
static int ptd__model(ptd_tr *t, int from_lang, const char *text, size_t len, char **out,
		      size_t *out_len, pt_err *e)
{
	const char *from = langid_lang_code(from_lang), *to = langid_lang_code(t->p.to);
	engine_gen_result res, res2;
	int rc, check;

	memset(&res, 0, sizeof res);
	rc = ptd__generate(t, from, to, text, len, t->beams, &res, e);
	if (rc == PT_ECONTEXT) {
		ptd__warn(t, "segment %u: too long for the model's context (%s); left untranslated",
			  t->seg_index, e != NULL ? e->msg : "");
		return 0;
	}
	if (rc != 0)
		return rc;
	check = ptd__judge(t, from, to, text, len, &res);
	if (check != PTD_CHECK_OK && t->beams < PTD__RETRY_BEAMS) {
		memset(&res2, 0, sizeof res2);
		rc = ptd__generate(t, from, to, text, len, PTD__RETRY_BEAMS, &res2, e);
		engine_gen_result_done(&res);
		if (rc != 0)
			return rc;
		res = res2;
		check = ptd__judge(t, from, to, text, len, &res);
	}
	if (check == PTD_CHECK_EMPTY) {
		ptd__warn(t, "segment %u: %s; left untranslated", t->seg_index,
			  ptd_check_name(check));
		engine_gen_result_done(&res);
		return 0;
	}
	if (check != PTD_CHECK_OK)
		ptd__warn(t, "segment %u: %s, even after a retry with %d beams; kept as it is",
			  t->seg_index, ptd_check_name(check), PTD__RETRY_BEAMS);
	if (res.stop == ENGINE_STOP_MAX_TOKENS || res.stop == ENGINE_STOP_CONTEXT)
		ptd__warn(t, "segment %u: answer cut at %s", t->seg_index,
			  res.stop == ENGINE_STOP_CONTEXT ? "the end of the context" : "max_tokens");
	*out = res.text;
	*out_len = res.text_len;
	res.text = NULL;
	engine_gen_result_done(&res);
	return 0;
}

/* Translates one TEXT piece. *out gets a malloc'd answer, or NULL when the
 * piece stays as it is: nothing to translate, already in the target
 * language, or no source language to be found. */
static int ptd__piece(ptd_tr *t, const char *src, size_t n, char **out, size_t *out_len,
		      pt_err *e)
{
	const langid_detector *det = t->pl->det;
	langid_guess g = { LANGID_UND, 0 };
	char *norm = NULL;
	size_t norm_len, ng = 0;
	int rc, from_lang = t->from;

	*out = NULL;
	if ((rc = langid_text_normalize(src, n, &norm, &norm_len, e)) != 0)
		return rc;
	if (!langid_text_has_words(det, norm, norm_len) ||
	    langid_detect(det, norm, norm_len, &g, 1, &ng, NULL) != 0 || ng == 0)
		goto done;
	/* Already in the target language: nothing for the model to do. */
	if (g.lang == t->p.to && g.confidence >= PTD__SAME_LANG_CONF)
		goto done;
	if (from_lang == LANGID_UND)
		from_lang = g.lang;
	if (from_lang == LANGID_UND || from_lang == t->p.to)
		goto done;
	if (t->from == LANGID_UND && strcmp(t->from_code, "und") == 0)
		snprintf(t->from_code, sizeof t->from_code, "%s", langid_lang_code(from_lang));
	t->n_modelled++;
	rc = ptd__model(t, from_lang, norm, norm_len, out, out_len, e);
done:
	free(norm);
	return rc;
}

/* ---- Stepping ------------------------------------------------------------- */

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
 * not -1) replaced by its translation. */
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

int ptd_tr_step(ptd_tr *t, int *done, pt_err *e)
{
	*done = 0;
	if (t->p.cancel != NULL && *t->p.cancel)
		return pt_err_set(e, PT_ECANCELLED, "cancelled");
	while (t->item < t->n_items) {
		ptd__item *it = &t->items[t->item];
		size_t n = langid_segs_count(it->segs), i = t->piece, next, len, ans_len = 0;
		const char *src;
		char *ans = NULL;
		int rc;

		while (i < n && langid_segs_kind(it->segs, i) != LANGID_PIECE_TEXT)
			i++;
		if (i == n) {
			if ((rc = ptd__finish_item(t, e)) != 0)
				return rc;
			continue;
		}
		src = langid_segs_text(it->segs, i, &len);
		it->any_text = 1;
		t->n_segments++;
		if ((rc = ptd__piece(t, src, len, &ans, &ans_len, e)) != 0)
			return rc;
		if (ans != NULL)
			rc = langid_segs_set(it->segs, i, ans, ans_len, e);
		for (next = i + 1; next < n && langid_segs_kind(it->segs, next) != LANGID_PIECE_TEXT;
		     next++)
			;
		if (rc == 0)
			rc = ptd__stream(t, next, i, ans, ans_len, e);
		free(ans);
		if (rc != 0)
			return rc;
		t->stream_from = next;
		t->seg_index++;
		t->piece = i + 1;
		return 0;
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
