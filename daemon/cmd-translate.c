/* cmd-translate.c: the translate method. The loop thread checks the
 * request (languages, sizes, limits) and hands it to the worker; the
 * worker's result comes back to ptd_translate_answer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "langid.h"
#include "ptd.h"

static int ptd__lang(ptd_client *c, uint32_t msgid, const char *field, const char *code,
		     int *lang)
{
	pt_err e;

	if (langid_lang_find(code, lang, &e) != 0) {
		ptd_reply_error(c, msgid, PROTO_ERR_UNSUPPORTED_LANGUAGE, "%s: %s", field, e.msg);
		return -1;
	}
	return 0;
}

/* Fills r's texts from the message: one `text` or the `texts` list. */
static int ptd__texts(ptd_request *r, const proto_translate_req *q)
{
	size_t n = q->text.ptr != NULL ? 1 : q->n_texts;

	r->texts = calloc(n ? n : 1, sizeof *r->texts);
	r->lens = calloc(n ? n : 1, sizeof *r->lens);
	if (r->texts == NULL || r->lens == NULL)
		return PT_ENOMEM;
	r->n_texts = n;
	for (size_t i = 0; i < n; i++) {
		proto_str s = q->text.ptr != NULL ? q->text : q->texts[i];
		r->texts[i] = s.ptr;
		r->lens[i] = s.len;
		r->bytes += s.len;
	}
	return 0;
}

static void ptd__translate_exec(ptd_client *c, proto_msg *m)
{
	const proto_translate_req *q = &m->req.p.translate;
	ptd_server *srv = c->srv;
	ptd_request *r;
	int from = LANGID_UND, to;
	double t0 = pt_now();

	if (srv->stopping) {
		ptd_reply_error(c, m->msgid, PROTO_ERR_SHUTTING_DOWN,
				"polytransd is stopping and takes no new work");
		goto refused;
	}
	if (c->n_reqs >= (unsigned)srv->cfg.max_requests_per_client) {
		ptd_reply_error(c, m->msgid, PROTO_ERR_BUSY,
				"%u requests of this connection are in flight already "
				"(max_requests_per_client); wait for their answers", c->n_reqs);
		goto refused;
	}
	if (ptd__lang(c, m->msgid, "to", q->to, &to) != 0 ||
	    (strcmp(q->from, "auto") != 0 && ptd__lang(c, m->msgid, "from", q->from, &from) != 0))
		goto refused;
	if ((r = calloc(1, sizeof *r)) == NULL || ptd__texts(r, q) != 0) {
		ptd_reply_error(c, m->msgid, PROTO_ERR_INTERNAL, "out of memory");
		if (r != NULL)
			ptd_request_free(r);
		goto refused;
	}
	if (r->bytes > (uint64_t)srv->cfg.max_text_bytes) {
		ptd_reply_error(c, m->msgid, PROTO_ERR_TOO_LARGE,
				"the text is %zu bytes; this daemon takes at most %lld per request "
				"(max_text_bytes)", r->bytes, (long long)srv->cfg.max_text_bytes);
		ptd_request_free(r);
		goto refused;
	}
	r->srv = srv;
	r->msg = m;
	r->msgid = m->msgid;
	r->method = PROTO_M_TRANSLATE;
	r->priority = PTD_PRIO_INTERACTIVE;
	r->t_start = t0;
	r->from = from;
	r->to = to;
	r->beams = q->beams ? (int)q->beams : (int)srv->cfg.beams;
	r->max_tokens = q->max_tokens ? (int)q->max_tokens : (int)srv->cfg.max_tokens;
	r->stream = q->stream;
	ptd_request_submit(c, r);
	return;
refused:
	ptd_log_request(c, m->msgid, PROTO_M_TRANSLATE, t0, "refused");
	proto_msg_free(m);
}

static void ptd__answer_error(ptd_client *c, ptd_request *r)
{
	if (r->rc == PT_ECANCELLED) {
		if (r->shutting_down)
			ptd_reply_error(c, r->msgid, PROTO_ERR_SHUTTING_DOWN,
					"polytransd is stopping; the request was cancelled");
		else
			ptd_reply_error(c, r->msgid, PROTO_ERR_CANCELLED, "cancelled");
	} else {
		ptd_reply_error(c, r->msgid, proto_errcode_from_pt(r->rc), "%s", r->err.msg);
	}
	ptd_log_request(c, r->msgid, PROTO_M_TRANSLATE, r->t_start, "%s: %s",
			r->rc == PT_ECANCELLED ? (r->shutting_down ? "shutting_down" : "cancelled")
					       : pt_errname(r->rc),
			r->rc == PT_ECANCELLED ? "" : r->err.msg);
}

void ptd_translate_answer(ptd_client *c, ptd_request *r)
{
	proto_response res;
	proto_translate_res *t = &res.r.translate;
	proto_str *texts = NULL, *warns = NULL;
	size_t nw, out_bytes = 0, segs = 0, modelled = 0;

	/* A cancel that arrived while the last step ran was answered
	 * `cancelled: true`; the request is then answered as cancelled, as
	 * polytrans-protocol(7) promises, even though it finished. */
	if (r->rc == 0 && r->cancel) {
		r->rc = PT_ECANCELLED;
		pt_err_set(&r->err, PT_ECANCELLED, "cancelled");
	}
	if (r->rc != 0 || r->tr == NULL) {
		ptd__answer_error(c, r);
		return;
	}
	nw = ptd_tr_n_warnings(r->tr);
	texts = calloc(r->n_texts ? r->n_texts : 1, sizeof *texts);
	warns = calloc(nw ? nw : 1, sizeof *warns);
	if (texts == NULL || warns == NULL) {
		ptd_reply_error(c, r->msgid, PROTO_ERR_INTERNAL, "out of memory");
		goto out;
	}
	proto_response_init(&res, PROTO_M_TRANSLATE);
	for (size_t i = 0; i < r->n_texts; i++) {
		texts[i].ptr = ptd_tr_result(r->tr, i, &texts[i].len);
		if (texts[i].ptr == NULL)
			texts[i].ptr = "";
		out_bytes += texts[i].len;
	}
	if (r->msg->req.p.translate.text.ptr != NULL) {
		t->text = texts[0];
	} else {
		t->texts = texts;
		t->n_texts = (uint32_t)r->n_texts;
	}
	for (size_t i = 0; i < nw; i++)
		warns[i] = proto_str_c(ptd_tr_warning(r->tr, i));
	t->warnings = nw > 0 ? warns : NULL;
	t->n_warnings = (uint32_t)nw;
	snprintf(t->from, sizeof t->from, "%s", ptd_tr_from(r->tr));
	snprintf(t->to, sizeof t->to, "%s", langid_lang_code(r->to));
	t->tokens = ptd_tr_tokens(r->tr);
	t->ms = (uint64_t)((pt_now() - r->t_start) * 1e3);
	ptd_reply(c, r->msgid, &res);
	ptd_tr_counts(r->tr, &segs, &modelled);
	ptd_log_request(c, r->msgid, PROTO_M_TRANSLATE, r->t_start,
			"%s->%s, %zu text%s, %zu -> %zu bytes, %zu segments (%zu to the model), "
			"%llu tokens, engine %.1f ms, waited %.1f ms, %zu warnings",
			t->from, t->to, r->n_texts, r->n_texts == 1 ? "" : "s", r->bytes, out_bytes,
			segs, modelled, (unsigned long long)t->tokens, ptd_tr_gen_s(r->tr) * 1e3,
			(r->t_run > 0 ? r->t_run - r->t_start : 0) * 1e3, nw);
out:
	free(texts);
	free(warns);
}

const ptd_cmd_entry ptd_cmd_translate_entry = { PROTO_M_TRANSLATE, ptd__translate_exec };
