/*
 * methods.c: the field tables of every method's parameters and result and
 * of every notification, the rules across fields, and the names on the
 * wire. man/polytrans-protocol.7 documents exactly these tables; keep the
 * two in step.
 */
#include "proto-impl.h"

#include <stddef.h>
#include <string.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define F(nm, k, fl, mem, ...) \
	{ .name = nm, .kind = k, .flags = fl, .off = offsetof(T, mem), __VA_ARGS__ }
#define AUX(mem) .aux_off = offsetof(T, mem)
#define SCHEMA(var, nm, fields, chk) \
	static const proto_schema var = { nm, sizeof(T), fields, N(fields), chk }

static const char *const format_names[] = {
	"auto", "text", "markdown", "srt", "po", "html", NULL
};
static const char *const state_names[] = {
	"queued", "running", "done", "failed", "cancelled", NULL
};

const char *proto_format_name(int fmt)
{
	return fmt >= 0 && fmt < (int)N(format_names) - 1 ? format_names[fmt] : NULL;
}

const char *proto_job_state_name(int st)
{
	return st >= 0 && st < (int)N(state_names) - 1 ? state_names[st] : NULL;
}

/* Exactly one of a pair of fields must be given. */
static int one_of(bool a, bool b, const char *na, const char *nb, pt_err *e)
{
	if (a == b)
		return pt_err_set(e, PT_EFORMAT, "exactly one of \"%s\" and \"%s\" "
				  "must be given", na, nb);
	return 0;
}

/* ---- Requests ------------------------------------------------------- */

static int translate_check(const void *obj, pt_err *e)
{
	const proto_translate_req *r = obj;
	return one_of(r->text.ptr != NULL, r->texts != NULL, "text", "texts", e);
}

#define T proto_translate_req
static const proto_field translate_req_f[] = {
	F("text", F_STR, 0, text),
	F("texts", F_STRS, 0, texts, AUX(n_texts)),
	F("to", F_LANG, FF_REQ, to),
	F("from", F_LANG, FF_AUTO, from, .sdef = "auto"),
	F("beams", F_U32, 0, beams, .min = 1, .max = PROTO_BEAMS_MAX),
	F("max_tokens", F_U32, 0, max_tokens, .min = 1, .max = PROTO_MAX_TOKENS_MAX),
	F("stream", F_BOOL, 0, stream),
	F("format", F_ENUM, 0, format, .names = format_names, .max = PROTO_FMT_TEXT),
};
SCHEMA(translate_req_s, "translate", translate_req_f, translate_check);
#undef T

#define T proto_detect_req
static const proto_field detect_req_f[] = {
	F("text", F_STR, FF_REQ, text),
	F("top", F_U32, 0, top, .min = 1, .max = PROTO_TOP_MAX, .def = 3),
};
SCHEMA(detect_req_s, "detect", detect_req_f, NULL);
#undef T

#define T proto_cancel_req
static const proto_field cancel_req_f[] = {
	F("request", F_U32, FF_REQ, request),
};
SCHEMA(cancel_req_s, "cancel", cancel_req_f, NULL);
#undef T

/* Methods without parameters still get a schema: strict decoding then
 * refuses any field, which catches a call to the wrong method. */
typedef struct { int unused; } proto_empty;
#define T proto_empty
static const proto_field empty_f[1];
static const proto_schema empty_s = { "no parameters", sizeof(T), empty_f, 0, NULL };
#undef T

#define T proto_file
static const proto_field file_f[] = {
	F("name", F_STR, FF_REQ | FF_BASENAME, name, .max = PROTO_NAME_MAX),
	F("content", F_BLOB, FF_REQ, content),
};
SCHEMA(file_s, "file", file_f, NULL);
#undef T

static int job_submit_check(const void *obj, pt_err *e)
{
	const proto_job_submit_req *r = obj;
	int rc = one_of(r->files != NULL, r->paths != NULL, "files", "paths", e);

	if (rc == 0 && r->n_files + r->n_paths == 0)
		rc = pt_err_set(e, PT_EFORMAT, "a job needs at least one file");
	return rc;
}

#define T proto_job_submit_req
static const proto_field job_submit_req_f[] = {
	F("files", F_OBJS, 0, files, AUX(n_files), .sub = &file_s),
	F("paths", F_STRS, FF_ABSPATH, paths, AUX(n_paths), .max = 4095),
	F("to", F_LANG, FF_REQ, to),
	F("from", F_LANG, FF_AUTO, from, .sdef = "auto"),
	F("format", F_ENUM, 0, format, .names = format_names),
	F("output", F_STR, FF_ABSPATH, output, .max = 4095),
	F("priority", F_I32, 0, priority, .min = PROTO_PRIORITY_MIN,
	  .max = PROTO_PRIORITY_MAX),
	F("subscribe", F_BOOL, 0, subscribe),
};
SCHEMA(job_submit_req_s, "job.submit", job_submit_req_f, job_submit_check);
#undef T

#define T proto_job_req
static const proto_field job_status_req_f[] = {
	F("job", F_JOBID, FF_REQ, job),
	F("subscribe", F_BOOL, 0, subscribe),
};
static const proto_field job_req_f[] = {
	F("job", F_JOBID, FF_REQ, job),
};
SCHEMA(job_status_req_s, "job.status", job_status_req_f, NULL);
SCHEMA(job_req_s, "job", job_req_f, NULL);
#undef T

/* ---- Results -------------------------------------------------------- */

static int translate_res_check(const void *obj, pt_err *e)
{
	const proto_translate_res *r = obj;
	return one_of(r->text.ptr != NULL, r->texts != NULL, "text", "texts", e);
}

#define T proto_translate_res
static const proto_field translate_res_f[] = {
	F("text", F_STR, 0, text),
	F("texts", F_STRS, 0, texts, AUX(n_texts)),
	F("from", F_LANG, FF_REQ, from),
	F("to", F_LANG, FF_REQ, to),
	F("warnings", F_STRS, 0, warnings, AUX(n_warnings)),
	F("tokens", F_U64, FF_REQ, tokens),
	F("ms", F_U64, FF_REQ, ms),
};
SCHEMA(translate_res_s, "translate result", translate_res_f, translate_res_check);
#undef T

#define T proto_candidate
static const proto_field candidate_f[] = {
	F("language", F_LANG, FF_REQ, language),
	F("confidence", F_F64, FF_REQ, confidence, .min = 0, .max = 1),
};
SCHEMA(candidate_s, "candidate", candidate_f, NULL);
#undef T

#define T proto_detect_res
static const proto_field detect_res_f[] = {
	F("language", F_LANG, FF_REQ, language),
	F("confidence", F_F64, FF_REQ, confidence, .min = 0, .max = 1),
	F("candidates", F_OBJS, FF_REQ, candidates, AUX(n_candidates), .sub = &candidate_s),
};
SCHEMA(detect_res_s, "detect result", detect_res_f, NULL);
#undef T

#define T proto_language
static const proto_field language_f[] = {
	F("code", F_LANG, FF_REQ, code),
	F("name", F_STR, FF_REQ, name),
	F("native", F_STR, FF_REQ, native),
	F("script", F_STR, FF_REQ, script),
};
SCHEMA(language_s, "language", language_f, NULL);
#undef T

#define T proto_languages_res
static const proto_field languages_res_f[] = {
	F("languages", F_OBJS, FF_REQ, languages, AUX(n_languages), .sub = &language_s),
};
SCHEMA(languages_res_s, "languages result", languages_res_f, NULL);
#undef T

#define T proto_model_info
static const proto_field model_f[] = {
	F("path", F_STR, FF_REQ, path),
	F("name", F_STR, FF_REQ, name),
	F("kind", F_STR, FF_REQ, kind),
	F("bundled", F_BOOL, FF_REQ, bundled),
	F("type", F_STR, FF_REQ, type),
	F("params", F_U64, FF_REQ, params),
	F("context", F_U32, 0, context),
};
SCHEMA(model_s, "model", model_f, NULL);
#undef T

#define T proto_counters
static const proto_field counters_f[] = {
	F("requests", F_U64, FF_REQ, requests),
	F("errors", F_U64, FF_REQ, errors),
	F("tokens", F_U64, FF_REQ, tokens),
};
SCHEMA(counters_s, "counters", counters_f, NULL);
#undef T

#define T proto_status_res
static const proto_field status_res_f[] = {
	F("version", F_STR, FF_REQ, version),
	F("model", F_OBJ, FF_REQ, model, .sub = &model_s),
	F("uptime_s", F_F64, FF_REQ, uptime_s),
	F("queue", F_U32, FF_REQ, queue),
	F("in_flight", F_U32, FF_REQ, in_flight),
	F("clients", F_U32, FF_REQ, clients),
	F("counters", F_OBJ, FF_REQ, counters, .sub = &counters_s),
	F("tokens_per_s", F_F64, FF_REQ, tokens_per_s),
	F("rss_bytes", F_U64, FF_REQ, rss_bytes),
	F("jobs", F_U32, 0, jobs),
};
SCHEMA(status_res_s, "status result", status_res_f, NULL);
#undef T

#define T proto_api_info_res
static const proto_field api_info_res_f[] = {
	F("protocol", F_U32, FF_REQ, protocol, .min = 1, .max = UINT32_MAX),
	F("version", F_STR, FF_REQ, version),
	F("methods", F_STRS, FF_REQ, methods, AUX(n_methods)),
};
SCHEMA(api_info_res_s, "api_info result", api_info_res_f, NULL);
#undef T

#define T proto_cancelled_res
static const proto_field cancelled_res_f[] = {
	F("cancelled", F_BOOL, FF_REQ, cancelled),
};
SCHEMA(cancelled_res_s, "cancel result", cancelled_res_f, NULL);
#undef T

#define T proto_job_submit_res
static const proto_field job_submit_res_f[] = {
	F("job", F_JOBID, FF_REQ, job),
};
SCHEMA(job_submit_res_s, "job.submit result", job_submit_res_f, NULL);
#undef T

#define T proto_job_error
static const proto_field job_error_f[] = {
	F("file", F_STR, FF_REQ, file),
	F("message", F_STR, FF_REQ, message),
};
SCHEMA(job_error_s, "job error", job_error_f, NULL);
#undef T

#define T proto_job_info
static const proto_field job_info_f[] = {
	F("job", F_JOBID, FF_REQ, job),
	F("state", F_ENUM, FF_REQ, state, .names = state_names),
	F("to", F_LANG, FF_REQ, to),
	F("files", F_U32, FF_REQ, files),
	F("done", F_U64, FF_REQ, done),
	F("total", F_U64, FF_REQ, total),
	F("percent", F_F64, FF_REQ, percent, .min = 0, .max = 100),
	F("eta_s", F_F64, FF_REQ, eta_s, AUX(has_eta), .min = 0, .max = INT32_MAX),
	F("created", F_U64, FF_REQ, created),
	F("errors", F_OBJS, 0, errors, AUX(n_errors), .sub = &job_error_s),
};
SCHEMA(job_info_s, "job", job_info_f, NULL);
#undef T

#define T proto_job_list_res
static const proto_field job_list_res_f[] = {
	F("jobs", F_OBJS, FF_REQ, jobs, AUX(n_jobs), .sub = &job_info_s),
};
SCHEMA(job_list_res_s, "job.list result", job_list_res_f, NULL);
#undef T

static int output_check(const void *obj, pt_err *e)
{
	const proto_job_output *o = obj;
	return one_of(o->path.ptr != NULL, o->content.ptr != NULL, "path", "content", e);
}

#define T proto_job_output
static const proto_field output_f[] = {
	F("name", F_STR, FF_REQ | FF_BASENAME, name, .max = PROTO_NAME_MAX),
	F("path", F_STR, FF_ABSPATH, path),
	F("content", F_BLOB, 0, content),
};
SCHEMA(output_s, "output", output_f, output_check);
#undef T

#define T proto_job_report
static const proto_field report_f[] = {
	F("segments", F_U64, FF_REQ, segments),
	F("flagged", F_U64, FF_REQ, flagged),
	F("messages", F_STRS, FF_REQ, messages, AUX(n_messages)),
};
SCHEMA(report_s, "report", report_f, NULL);
#undef T

#define T proto_job_result_res
static const proto_field job_result_res_f[] = {
	F("job", F_JOBID, FF_REQ, job),
	F("state", F_ENUM, FF_REQ, state, .names = state_names),
	F("outputs", F_OBJS, FF_REQ, outputs, AUX(n_outputs), .sub = &output_s),
	F("report", F_OBJ, FF_REQ, report, .sub = &report_s),
};
SCHEMA(job_result_res_s, "job.result result", job_result_res_f, NULL);
#undef T

/* ---- Notifications -------------------------------------------------- */

#define T proto_segment_note
static const proto_field segment_f[] = {
	F("request", F_U32, FF_REQ, request),
	F("item", F_U32, 0, item),
	F("index", F_U32, FF_REQ, index),
	F("text", F_STR, FF_REQ, text),
};
SCHEMA(segment_s, "translate.segment", segment_f, NULL);
#undef T

/* ---- Method table --------------------------------------------------- */

static const struct {
	const char *name;
	const proto_schema *req, *res;
} methods[PROTO_M_COUNT_] = {
	[PROTO_M_TRANSLATE] = { "translate", &translate_req_s, &translate_res_s },
	[PROTO_M_DETECT] = { "detect", &detect_req_s, &detect_res_s },
	[PROTO_M_LANGUAGES] = { "languages", &empty_s, &languages_res_s },
	[PROTO_M_STATUS] = { "status", &empty_s, &status_res_s },
	[PROTO_M_API_INFO] = { "api_info", &empty_s, &api_info_res_s },
	[PROTO_M_CANCEL] = { "cancel", &cancel_req_s, &cancelled_res_s },
	[PROTO_M_JOB_SUBMIT] = { "job.submit", &job_submit_req_s, &job_submit_res_s },
	[PROTO_M_JOB_STATUS] = { "job.status", &job_status_req_s, &job_info_s },
	[PROTO_M_JOB_LIST] = { "job.list", &empty_s, &job_list_res_s },
	[PROTO_M_JOB_CANCEL] = { "job.cancel", &job_req_s, &cancelled_res_s },
	[PROTO_M_JOB_RESULT] = { "job.result", &job_req_s, &job_result_res_s },
};

static const struct {
	const char *name;
	const proto_schema *body;
} notes[PROTO_N_COUNT_] = {
	[PROTO_N_TRANSLATE_SEGMENT] = { "translate.segment", &segment_s },
	[PROTO_N_JOB_PROGRESS] = { "job.progress", &job_info_s },
};

static bool method_ok(int m) { return m > PROTO_M_NONE && m < PROTO_M_COUNT_; }
static bool note_ok(int k) { return k > PROTO_N_NONE && k < PROTO_N_COUNT_; }

const char *proto_method_name(int m) { return method_ok(m) ? methods[m].name : NULL; }
const char *proto_notify_name(int k) { return note_ok(k) ? notes[k].name : NULL; }

int proto_method_parse(proto_str name)
{
	for (int m = PROTO_M_NONE + 1; m < PROTO_M_COUNT_; m++)
		if (proto_str_eq(name, methods[m].name))
			return m;
	return PROTO_M_NONE;
}

int proto__notify_parse(proto_str name)
{
	for (int k = PROTO_N_NONE + 1; k < PROTO_N_COUNT_; k++)
		if (proto_str_eq(name, notes[k].name))
			return k;
	return PROTO_N_NONE;
}

const proto_schema *proto__req_schema(int m) { return method_ok(m) ? methods[m].req : NULL; }
const proto_schema *proto__res_schema(int m) { return method_ok(m) ? methods[m].res : NULL; }
const proto_schema *proto__note_schema(int k) { return note_ok(k) ? notes[k].body : NULL; }

/* Every body of a union starts at the union's address. */
void *proto__req_body(proto_request *r) { return &r->p; }
void *proto__res_body(proto_response *r) { return &r->r; }
void *proto__note_body(proto_notify *n) { return &n->n; }

void proto_request_init(proto_request *r, int method)
{
	memset(r, 0, sizeof *r);
	r->method = method;
	if (method_ok(method))
		proto__schema_init(methods[method].req, &r->p);
}

void proto_response_init(proto_response *r, int method)
{
	memset(r, 0, sizeof *r);
	r->method = method;
	if (method_ok(method))
		proto__schema_init(methods[method].res, &r->r);
}

void proto_notify_init(proto_notify *n, int kind)
{
	memset(n, 0, sizeof *n);
	n->kind = kind;
	if (note_ok(kind))
		proto__schema_init(notes[kind].body, &n->n);
}
