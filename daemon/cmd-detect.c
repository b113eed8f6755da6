/* cmd-detect.c: language detection. Detection is fast and needs no model,
 * so it runs on the loop thread; it reads at most PTD__DETECT_MAX bytes of
 * the text, which bounds the time one request can hold the loop (more
 * text does not change the answer). */
#include <stdio.h>

#include "langid.h"
#include "ptd.h"

#define PTD__DETECT_MAX 65536

static void ptd__detect_exec(ptd_client *c, proto_msg *m)
{
	const proto_detect_req *q = &m->req.p.detect;
	const langid_detector *det = ptd_pipeline_detector(c->srv->pl);
	langid_guess g[LANGID_COUNT];
	proto_candidate cand[LANGID_COUNT];
	proto_response r;
	size_t len = q->text.len, n = 0;
	double t0 = pt_now();
	pt_err e;
	int rc;

	if (len > PTD__DETECT_MAX) {
		len = PTD__DETECT_MAX;
		while (len > 0 && ((unsigned char)q->text.ptr[len] & 0xc0) == 0x80)
			len--;
	}
	rc = langid_detect(det, q->text.ptr, len, g, q->top ? q->top : 3, &n, &e);
	if (rc != 0) {
		ptd_reply_error(c, m->msgid, proto_errcode_from_pt(rc), "%s", e.msg);
		ptd_log_request(c, m->msgid, PROTO_M_DETECT, t0, "error: %s", e.msg);
		proto_msg_free(m);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(cand[i].language, sizeof cand[i].language, "%s", langid_lang_code(g[i].lang));
		cand[i].confidence = g[i].confidence < 0 ? 0 : g[i].confidence > 1 ? 1 : g[i].confidence;
	}
	proto_response_init(&r, PROTO_M_DETECT);
	snprintf(r.r.detect.language, sizeof r.r.detect.language, "%s",
		 n > 0 ? cand[0].language : "und");
	r.r.detect.confidence = n > 0 ? cand[0].confidence : 0;
	r.r.detect.candidates = cand;
	r.r.detect.n_candidates = (uint32_t)n;
	ptd_reply(c, m->msgid, &r);
	ptd_log_request(c, m->msgid, PROTO_M_DETECT, t0, "%zu bytes: %s %.2f", q->text.len,
			r.r.detect.language, r.r.detect.confidence);
	proto_msg_free(m);
}

const ptd_cmd_entry ptd_cmd_detect_entry = { PROTO_M_DETECT, ptd__detect_exec };
