/*
 * test-proto-roundtrip: every request, response and notification is
 * encoded, decoded through the streaming decoder, checked field by field
 * where it matters, and encoded again to the same bytes.
 */
#include "samples.h"
#include "tp.h"

/* Decodes one encoded message; exactly one MESSAGE event must come out. */
static proto_msg *decode_one(const uint8_t *p, size_t len)
{
	proto_decoder *d;
	proto_event ev, ev2;

	REQUIRE(proto_decoder_new(NULL, &d, NULL) == 0);
	ev = tp_one_event(d, p, len);
	if (ev.kind != PROTO_EV_MESSAGE)
		fprintf(stderr, "event %d: %s\n", ev.kind, ev.message);
	CHECK(ev.kind == PROTO_EV_MESSAGE);
	REQUIRE(proto_decoder_next(d, &ev2) == 0);
	CHECK(ev2.kind == PROTO_EV_NONE);
	CHECK(proto_decoder_pending(d) == 0);
	proto_decoder_free(d);
	return ev.kind == PROTO_EV_MESSAGE ? ev.msg : NULL;
}

/* Re-encodes a decoded message into b2. */
static int reencode(proto_msg *m, const sample *s, proto_buf *b2)
{
	pt_err e;
	int rc;

	pt_err_clear(&e);
	if (m->kind == PROTO_REQUEST) {
		rc = proto_request_encode(b2, m->msgid, &m->req, &e);
	} else if (m->kind == PROTO_NOTIFY) {
		rc = proto_notify_encode(b2, &m->note, &e);
	} else {
		if (m->resp.error.code == PROTO_ERR_NONE) {
			rc = proto_response_decode(m, s->method, &e);
			if (rc != 0) {
				fprintf(stderr, "%s: %s\n", s->label, e.msg);
				return rc;
			}
		}
		m->resp.method = s->method;
		rc = proto_response_encode(b2, m->msgid, &m->resp, &e);
	}
	if (rc != 0)
		fprintf(stderr, "%s: re-encode: %s\n", s->label, e.msg);
	return rc;
}

static void check_fields(const proto_msg *m, const sample *s)
{
	if (strcmp(s->label, "req translate full") == 0) {
		const proto_translate_req *t = &m->req.p.translate;
		CHECK(t->text.ptr == NULL && t->n_texts == 3);
		CHECK(tp_str_is(t->texts[2], "日本語のテキスト") && t->texts[1].len == 0);
		CHECK(strcmp(t->to, "zh") == 0 && strcmp(t->from, "de") == 0);
		CHECK(t->beams == 4 && t->max_tokens == 512 && t->stream);
	} else if (strcmp(s->label, "req translate minimal") == 0) {
		const proto_translate_req *t = &m->req.p.translate;
		CHECK(strcmp(t->from, "auto") == 0 && t->beams == 0 && !t->stream);
		CHECK(t->texts == NULL && tp_str_is(t->text, "Hello, world.\n\nSecond paragraph."));
	} else if (strcmp(s->label, "req job.submit files") == 0) {
		const proto_job_submit_req *j = &m->req.p.job_submit;
		CHECK(j->n_files == 2 && j->paths == NULL);
		CHECK(j->files[1].content.len == 3 && memcmp(j->files[1].content.ptr, "\x00\x01\xff", 3) == 0);
		CHECK(j->priority == -5 && j->format == PROTO_FMT_SRT && j->subscribe);
	} else if (strcmp(s->label, "res job.status") == 0) {
		const proto_job_info *j = &m->resp.r.job_status;
		CHECK(j->has_eta && j->eta_s == 12.5 && j->state == PROTO_JOB_RUNNING);
		CHECK(j->n_errors == 1 && tp_str_is(j->errors[0].message, "disk full"));
	} else if (strcmp(s->label, "note job.progress") == 0) {
		CHECK(!m->note.n.progress.has_eta && m->note.n.progress.total == 300);
	} else if (strcmp(s->label, "res error") == 0) {
		CHECK(m->resp.error.code == PROTO_ERR_UNSUPPORTED_LANGUAGE);
		CHECK(tp_str_is(m->resp.error.name, "unsupported_language"));
	} else if (strcmp(s->label, "res status") == 0) {
		const proto_status_res *st = &m->resp.r.status;
		CHECK(st->model.params == 1700000000 && st->model.context == 2048);
		CHECK(st->counters.tokens == 123456 && st->rss_bytes == (uint64_t)2 << 30);
		CHECK(tp_str_is(st->model.name, "PolyLM-1.7B") && st->uptime_s == 3600.25);
	} else if (strcmp(s->label, "res translate texts") == 0) {
		CHECK(m->resp.r.translate.tokens == (uint64_t)1 << 40);
		CHECK(m->resp.r.translate.n_warnings == 1);
	}
}

int main(void)
{
	sample s[SAMPLES_MAX];
	size_t n, i, seen_req = 0, seen_res = 0, seen_note = 0;
	proto_buf b, b2;
	pt_err e;

	proto_buf_init(&b);
	proto_buf_init(&b2);
	pt_err_clear(&e);
	if (samples_build(&b, s, &n, &e) != 0) {
		fprintf(stderr, "samples: %s\n", e.msg);
		return 1;
	}
	for (i = 0; i < n; i++) {
		proto_msg *m = decode_one(b.data + s[i].off, s[i].len);
		if (m == NULL) {
			fprintf(stderr, "  in sample %s\n", s[i].label);
			continue;
		}
		CHECK(m->kind == s[i].kind);
		CHECK(m->kind == PROTO_NOTIFY || m->msgid == s[i].msgid);
		if (m->kind == PROTO_REQUEST) {
			CHECK(m->req.method == s[i].method);
			seen_req |= 1u << s[i].method;
		} else if (m->kind == PROTO_NOTIFY) {
			CHECK(m->note.kind == s[i].method);
			seen_note |= 1u << s[i].method;
		} else {
			seen_res |= 1u << s[i].method;
		}
		proto_buf_reset(&b2);
		CHECK(reencode(m, &s[i], &b2) == 0);
		check_fields(m, &s[i]);
		if (b2.len != s[i].len || memcmp(b2.data, b.data + s[i].off, b2.len) != 0) {
			fprintf(stderr, "%s: re-encoded bytes differ\n", s[i].label);
			tp_fails++;
		}
		proto_msg_free(m);
	}
	/* Every method in both directions and every notification. */
	for (int m = PROTO_M_NONE + 1; m < PROTO_M_COUNT_; m++) {
		CHECK(seen_req & (1u << m));
		CHECK(seen_res & (1u << m));
	}
	CHECK(seen_note == ((1u << PROTO_N_TRANSLATE_SEGMENT) | (1u << PROTO_N_JOB_PROGRESS)));
	printf("%zu messages, %zu bytes\n", n, b.len);
	proto_buf_done(&b);
	proto_buf_done(&b2);
	return tp_finish("test-proto-roundtrip");
}
