/*
 * samples.c: builds one message of every request, response and
 * notification, with every optional field set in one variant and none in
 * another, so the round-trip, stream and cross-check tests share them.
 */
#include "samples.h"

#include <string.h>

static const proto_str texts[] = {
	{ "Guten Morgen.", 13 }, { "", 0 }, { "日本語のテキスト", 24 },
};
static const proto_str warns[] = { { "segment 2: target language uncertain", 36 } };
static const proto_str paths[] = { { "/home/u/a.md", 12 }, { "/home/u/b c.po", 14 } };
static const proto_file files[] = {
	{ { "notes.txt", 9 }, { "hello\n", 6 } },
	{ { "bin.srt", 7 }, { "\x00\x01\xff", 3 } },
};
static const proto_candidate cands[] = { { "de", 0.91 }, { "nl", 0.05 }, { "en", 0.01 } };
static const proto_job_error jerrs[] = { { { "a.md", 4 }, { "disk full", 9 } } };
static const proto_str msgs[] = { { "segment 7: lost %s", 18 } };

static void fill_langs(proto_language *l)
{
	memset(l, 0, 2 * sizeof *l);
	strcpy(l[0].code, "de");
	l[0].name = proto_str_c("German");
	l[0].native = proto_str_c("Deutsch");
	l[0].script = proto_str_c("Latn");
	strcpy(l[1].code, "zh");
	l[1].name = proto_str_c("Chinese");
	l[1].native = proto_str_c("中文");
	l[1].script = proto_str_c("Hans");
}

static void fill_job(proto_job_info *j, bool full)
{
	strcpy(j->job, "20261127-0001");
	j->state = full ? PROTO_JOB_RUNNING : PROTO_JOB_QUEUED;
	strcpy(j->to, "de");
	j->files = 2;
	j->done = full ? 150 : 0;
	j->total = 300;
	j->percent = full ? 50.0 : 0.0;
	j->has_eta = full;
	j->eta_s = full ? 12.5 : 0;
	j->created = 1795000000;
	if (full) {
		j->errors = jerrs;
		j->n_errors = 1;
	}
}

typedef struct ctx {
	proto_buf *b;
	sample *out;
	size_t n;
	pt_err *e;
} ctx;

static int add(ctx *c, const char *label, int kind, uint32_t msgid, int method, int rc)
{
	sample *s;

	if (rc != 0 || c->n >= SAMPLES_MAX)
		return rc != 0 ? rc : PT_ETOOLARGE;
	s = &c->out[c->n];
	s->label = label;
	s->kind = kind;
	s->msgid = msgid;
	s->method = method;
	s->off = c->n > 0 ? c->out[c->n - 1].off + c->out[c->n - 1].len : 0;
	s->len = c->b->len - s->off;
	c->n++;
	return 0;
}

static int req(ctx *c, const char *label, uint32_t id, const proto_request *r)
{
	return add(c, label, PROTO_REQUEST, id, r->method,
		   proto_request_encode(c->b, id, r, c->e));
}

static int res(ctx *c, const char *label, uint32_t id, const proto_response *r)
{
	return add(c, label, PROTO_RESPONSE, id, r->method,
		   proto_response_encode(c->b, id, r, c->e));
}

static int requests(ctx *c)
{
	proto_request r;
	int rc = 0;

	proto_request_init(&r, PROTO_M_TRANSLATE);
	r.p.translate.text = proto_str_c("Hello, world.\n\nSecond paragraph.");
	strcpy(r.p.translate.to, "zh");
	rc |= req(c, "req translate minimal", 1, &r);
	r.p.translate.text.ptr = NULL;
	r.p.translate.texts = texts;
	r.p.translate.n_texts = 3;
	strcpy(r.p.translate.from, "de");
	r.p.translate.beams = 4;
	r.p.translate.max_tokens = 512;
	r.p.translate.stream = true;
	r.p.translate.format = PROTO_FMT_TEXT;
	rc |= req(c, "req translate full", 2, &r);
	proto_request_init(&r, PROTO_M_DETECT);
	r.p.detect.text = proto_str_c("Dzień dobry");
	r.p.detect.top = 5;
	rc |= req(c, "req detect", 3, &r);
	for (int m = PROTO_M_LANGUAGES; m <= PROTO_M_API_INFO; m++) {
		proto_request_init(&r, m);
		rc |= req(c, "req (no params)", 10 + (uint32_t)m, &r);
	}
	proto_request_init(&r, PROTO_M_CANCEL);
	r.p.cancel.request = 2;
	rc |= req(c, "req cancel", 20, &r);
	proto_request_init(&r, PROTO_M_JOB_SUBMIT);
	r.p.job_submit.files = files;
	r.p.job_submit.n_files = 2;
	strcpy(r.p.job_submit.to, "fr");
	r.p.job_submit.format = PROTO_FMT_SRT;
	r.p.job_submit.output = proto_str_c("/tmp/out");
	r.p.job_submit.priority = -5;
	r.p.job_submit.subscribe = true;
	rc |= req(c, "req job.submit files", 21, &r);
	proto_request_init(&r, PROTO_M_JOB_SUBMIT);
	r.p.job_submit.paths = paths;
	r.p.job_submit.n_paths = 2;
	strcpy(r.p.job_submit.to, "pt-BR");
	rc |= req(c, "req job.submit paths", 22, &r);
	proto_request_init(&r, PROTO_M_JOB_STATUS);
	strcpy(r.p.job.job, "20261127-0001");
	r.p.job.subscribe = true;
	rc |= req(c, "req job.status", 23, &r);
	proto_request_init(&r, PROTO_M_JOB_LIST);
	rc |= req(c, "req job.list", 24, &r);
	for (int m = PROTO_M_JOB_CANCEL; m <= PROTO_M_JOB_RESULT; m++) {
		proto_request_init(&r, m);
		strcpy(r.p.job.job, "abc_DEF-9");
		rc |= req(c, "req job.cancel/result", 25 + (uint32_t)m, &r);
	}
	return rc;
}

static int simple_results(ctx *c)
{
	static const proto_str methods[] = { { "translate", 9 }, { "detect", 6 } };
	proto_language langs[2];
	proto_response r;
	int rc = 0;

	proto_response_init(&r, PROTO_M_TRANSLATE);
	r.r.translate.text = proto_str_c("你好，世界。");
	strcpy(r.r.translate.from, "en");
	strcpy(r.r.translate.to, "zh");
	r.r.translate.tokens = 7;
	r.r.translate.ms = 123;
	rc |= res(c, "res translate text", 1, &r);
	r.r.translate.text.ptr = NULL;
	r.r.translate.texts = texts;
	r.r.translate.n_texts = 3;
	r.r.translate.warnings = warns;
	r.r.translate.n_warnings = 1;
	r.r.translate.tokens = (uint64_t)1 << 40;
	rc |= res(c, "res translate texts", 2, &r);
	proto_response_init(&r, PROTO_M_DETECT);
	strcpy(r.r.detect.language, "de");
	r.r.detect.confidence = 0.91;
	r.r.detect.candidates = cands;
	r.r.detect.n_candidates = 3;
	rc |= res(c, "res detect", 3, &r);
	proto_response_init(&r, PROTO_M_LANGUAGES);
	fill_langs(langs);
	r.r.languages.languages = langs;
	r.r.languages.n_languages = 2;
	rc |= res(c, "res languages", 11, &r);
	proto_response_init(&r, PROTO_M_API_INFO);
	r.r.api_info.protocol = PROTO_VERSION;
	r.r.api_info.version = proto_str_c("0.1.0");
	r.r.api_info.methods = methods;
	r.r.api_info.n_methods = 2;
	rc |= res(c, "res api_info", 14, &r);
	proto_response_init(&r, PROTO_M_CANCEL);
	r.r.cancel.cancelled = true;
	rc |= res(c, "res cancel", 20, &r);
	return rc;
}

static int status_result(ctx *c)
{
	proto_response r;
	proto_status_res *s = &r.r.status;

	proto_response_init(&r, PROTO_M_STATUS);
	s->version = proto_str_c("0.1.0");
	s->model.path = proto_str_c("/home/u/.local/share/polytrans/models/polylm-1.7b.gguf");
	s->model.name = proto_str_c("PolyLM-1.7B");
	s->model.kind = proto_str_c("base");
	s->model.bundled = false;
	s->model.type = proto_str_c("q8_0");
	s->model.params = 1700000000;
	s->model.context = 2048;
	s->uptime_s = 3600.25;
	s->queue = 3;
	s->in_flight = 2;
	s->clients = 5;
	s->counters.requests = 1000;
	s->counters.errors = 4;
	s->counters.tokens = 123456;
	s->tokens_per_s = 42.5;
	s->rss_bytes = (uint64_t)2 << 30;
	s->jobs = 1;
	return res(c, "res status", 13, &r);
}

static int job_results(ctx *c)
{
	proto_job_info jobs[2];
	proto_job_output outs[2];
	proto_response r;
	int rc = 0;

	proto_response_init(&r, PROTO_M_JOB_SUBMIT);
	strcpy(r.r.job_submit.job, "20261127-0001");
	rc |= res(c, "res job.submit", 21, &r);
	proto_response_init(&r, PROTO_M_JOB_STATUS);
	fill_job(&r.r.job_status, true);
	rc |= res(c, "res job.status", 23, &r);
	proto_response_init(&r, PROTO_M_JOB_LIST);
	memset(jobs, 0, sizeof jobs);
	fill_job(&jobs[0], false);
	fill_job(&jobs[1], true);
	r.r.job_list.jobs = jobs;
	r.r.job_list.n_jobs = 2;
	rc |= res(c, "res job.list", 24, &r);
	proto_response_init(&r, PROTO_M_JOB_CANCEL);
	rc |= res(c, "res job.cancel", 25, &r);
	proto_response_init(&r, PROTO_M_JOB_RESULT);
	strcpy(r.r.job_result.job, "20261127-0001");
	r.r.job_result.state = PROTO_JOB_DONE;
	memset(outs, 0, sizeof outs);
	outs[0].name = proto_str_c("a.md");
	outs[0].path = proto_str_c("/tmp/out/a.md");
	outs[1].name = proto_str_c("notes.txt");
	outs[1].content = proto_str_c("bonjour\n");
	r.r.job_result.outputs = outs;
	r.r.job_result.n_outputs = 2;
	r.r.job_result.report.segments = 300;
	r.r.job_result.report.flagged = 1;
	r.r.job_result.report.messages = msgs;
	r.r.job_result.report.n_messages = 1;
	rc |= res(c, "res job.result", 26, &r);
	proto_response_init(&r, PROTO_M_TRANSLATE);
	r.error.code = PROTO_ERR_UNSUPPORTED_LANGUAGE;
	r.error.message = proto_str_c("\"xx\" is not one of the 18 languages");
	rc |= res(c, "res error", 27, &r);
	return rc;
}

static int notifications(ctx *c)
{
	proto_notify n;
	int rc;

	proto_notify_init(&n, PROTO_N_TRANSLATE_SEGMENT);
	n.n.segment.request = 2;
	n.n.segment.item = 2;
	n.n.segment.index = 0;
	n.n.segment.text = proto_str_c("日本語の ");
	rc = add(c, "note translate.segment", PROTO_NOTIFY, 0, PROTO_N_TRANSLATE_SEGMENT,
		 proto_notify_encode(c->b, &n, c->e));
	proto_notify_init(&n, PROTO_N_JOB_PROGRESS);
	fill_job(&n.n.progress, false);
	rc |= add(c, "note job.progress", PROTO_NOTIFY, 0, PROTO_N_JOB_PROGRESS,
		  proto_notify_encode(c->b, &n, c->e));
	return rc;
}

int samples_build(proto_buf *b, sample *out, size_t *n, pt_err *e)
{
	ctx c = { b, out, 0, e };
	int rc;

	if ((rc = requests(&c)) == 0 && (rc = simple_results(&c)) == 0 &&
	    (rc = status_result(&c)) == 0 && (rc = job_results(&c)) == 0)
		rc = notifications(&c);
	*n = c.n;
	return rc;
}
