/*
 * info.c: `--detect [--lines]`, `--languages` and `--status`.
 */
#include "client.h"

#include <stdlib.h>
#include <string.h>

/* Detection needs no more than the start of a text; sending all of a
 * large file would only cost time. */
#define PC__DETECT_MAX ((size_t)64 << 10)
/* detect requests in flight at once with --lines (the daemon's default
 * per-connection limit is 32). */
#define PC__DETECT_WINDOW 16
#define PC__CANDIDATES 3

typedef struct pc__det {
	char code[PROTO_LANG_SIZE];
	double conf;
	uint32_t n_cand;
	proto_candidate cand[PC__CANDIDATES];
	uint32_t msgid;
	bool done;
} pc__det;

static void pc__det_print(const pc_opts *o, const pc__det *d, const char *file, size_t line)
{
	if (o->json) {
		fputc('{', stdout);
		if (file) {
			fputs("\"file\": ", stdout);
			pc_json_cstr(stdout, file);
			fputs(", ", stdout);
		}
		if (line)
			printf("\"line\": %zu, ", line);
		fputs("\"language\": ", stdout);
		pc_json_cstr(stdout, d->code);
		printf(", \"confidence\": %.4f, \"candidates\": [", d->conf);
		for (uint32_t i = 0; i < d->n_cand; i++) {
			printf("%s{\"language\": ", i ? ", " : "");
			pc_json_cstr(stdout, d->cand[i].language);
			printf(", \"confidence\": %.4f}", d->cand[i].confidence);
		}
		fputs("]}\n", stdout);
		return;
	}
	if (file)
		printf("%s: ", file);
	if (o->verbose)
		printf("%s %.2f\n", d->code, d->conf);
	else
		printf("%s\n", d->code);
}

/* The end of the longest prefix of s[0..len) of at most max bytes that
 * does not cut a character. */
static size_t pc__utf8_prefix(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	return max;
}

static int pc__det_send(const pc_opts *o, pc_conn *c, const char *s, size_t len,
			uint32_t *id, pt_err *e)
{
	proto_request r;
	proto_request_init(&r, PROTO_M_DETECT);
	r.p.detect.text = (proto_str){ s, pc__utf8_prefix(s, len, PC__DETECT_MAX) };
	r.p.detect.top = o->json ? PC__CANDIDATES : 1;
	return pc_conn_send(c, &r, id, e);
}

/* Fills d from a detect reply (decoding it first). */
static int pc__det_take(proto_msg *m, pc__det *d, pt_err *e)
{
	if (m->resp.error.code != PROTO_ERR_NONE)
		return pc_reply_error(m, e);
	int rc = proto_response_decode(m, PROTO_M_DETECT, e);
	if (rc)
		return rc;
	const proto_detect_res *r = &m->resp.r.detect;
	memcpy(d->code, r->language, sizeof d->code);
	d->conf = r->confidence;
	d->n_cand = r->n_candidates < PC__CANDIDATES ? r->n_candidates : PC__CANDIDATES;
	memcpy(d->cand, r->candidates, d->n_cand * sizeof d->cand[0]);
	d->done = true;
	return 0;
}

/* A line with nothing to detect is "und" without asking. */
static void pc__det_und(pc__det *d)
{
	memset(d, 0, sizeof *d);
	strcpy(d->code, "und");
	d->done = true;
}

static bool pc__blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

/* --lines: every line its own request, up to PC__DETECT_WINDOW in flight,
 * printed in input order as soon as the lines before are done. */
static int pc__detect_lines(const pc_opts *o, pc_conn *c, const char *src, size_t len,
			    const char *file, pt_err *e)
{
	pc__det win[PC__DETECT_WINDOW];
	size_t sent = 0, printed = 0, pos = 0, n_lines = 0;
	int rc = 0;

	for (size_t i = 0; i < len; i++)
		n_lines += src[i] == '\n';
	if (len > 0 && src[len - 1] != '\n')
		n_lines++;
	while (rc == 0 && printed < n_lines) {
		/* Fill the window. */
		while (rc == 0 && sent < n_lines && sent - printed < PC__DETECT_WINDOW) {
			const char *nl = memchr(src + pos, '\n', len - pos);
			size_t end = nl ? (size_t)(nl - src) : len, l = end - pos;
			pc__det *d = &win[sent % PC__DETECT_WINDOW];
			if (l > 0 && src[pos + l - 1] == '\r')
				l--;
			if (pc__blank(src + pos, l)) {
				pc__det_und(d);
			} else {
				memset(d, 0, sizeof *d);
				rc = pc__det_send(o, c, src + pos, l, &d->msgid, e);
			}
			pos = end + 1;
			sent++;
		}
		/* Print what is ready, in order. */
		while (printed < sent && win[printed % PC__DETECT_WINDOW].done) {
			pc__det_print(o, &win[printed % PC__DETECT_WINDOW], file, printed + 1);
			printed++;
		}
		if (rc || printed == n_lines || printed == sent)
			continue;
		proto_msg *m;
		if ((rc = pc_conn_recv(c, &m, e)))
			break;
		for (size_t k = printed; k < sent; k++) {
			pc__det *d = &win[k % PC__DETECT_WINDOW];
			if (!d->done && d->msgid == m->msgid) {
				rc = pc__det_take(m, d, e);
				if (rc)
					pt_err_prefix(e, "%s: line %zu", file ? file : "standard input",
						      k + 1);
				break;
			}
		}
		proto_msg_free(m);
	}
	fflush(stdout);
	return rc;
}

static int pc__detect_one(const pc_opts *o, pc_conn *c, const char *path, bool named,
			  pt_err *e)
{
	char *src;
	size_t len, bad;
	const char *name = strcmp(path, "-") == 0 ? "standard input" : path;
	int rc = pc_read_all(path, &src, &len, e);
	if (rc)
		return rc;
	if (pt_utf8_check(src, len, &bad)) {
		free(src);
		return pt_err_set(e, PT_EUTF8, "%s: invalid UTF-8 at byte %zu", name, bad);
	}
	if ((rc = pc_conn_ensure(o, c, e)) == 0) {
		if (o->lines) {
			rc = pc__detect_lines(o, c, src, len, named ? name : NULL, e);
		} else {
			pc__det d;
			uint32_t id;
			proto_msg *m = NULL;
			if (pc__blank(src, len)) {
				pc__det_und(&d);
			} else if ((rc = pc__det_send(o, c, src, len, &id, e)) == 0 &&
				   (rc = pc_conn_recv(c, &m, e)) == 0) {
				rc = pc__det_take(m, &d, e);
				proto_msg_free(m);
				if (rc)
					pt_err_prefix(e, "%s", name);
			}
			if (rc == 0)
				pc__det_print(o, &d, named ? name : NULL, 0);
		}
	}
	free(src);
	return rc;
}

int pc_cmd_detect(const pc_opts *o, pc_conn *c)
{
	static char *const stdin_only[] = { "-" };
	char *const *inputs = o->n_inputs ? o->inputs : stdin_only;
	int n = o->n_inputs ? o->n_inputs : 1, rc = 0;
	pt_err e = { 0 };
	for (int i = 0; i < n && rc == 0; i++)
		rc = pc__detect_one(o, c, inputs[i], n > 1, &e);
	if (rc == 0 && (fflush(stdout) != 0 || ferror(stdout)))
		rc = pt_err_set(&e, PT_EIO, "standard output: write error");
	if (rc) {
		if (!(rc == PT_ECANCELLED && pc_interrupted))
			pc_error("%s", e.msg);
		return pc_exit_for(c, rc);
	}
	return PC_EXIT_OK;
}

/* Sends a method without arguments; *m gets the decoded success reply. */
static int pc__simple(const pc_opts *o, pc_conn *c, int method, proto_msg **m)
{
	proto_request r;
	pt_err e = { 0 };
	int rc = pc_conn_ensure(o, c, &e);
	if (rc == 0) {
		proto_request_init(&r, method);
		rc = pc_conn_call(c, &r, m, &e);
	}
	if (rc == 0 && (*m)->resp.error.code != PROTO_ERR_NONE) {
		rc = pc_reply_error(*m, &e);
		proto_msg_free(*m);
	}
	if (rc) {
		if (!(rc == PT_ECANCELLED && pc_interrupted))
			pc_error("%s", e.msg);
		return pc_exit_for(c, rc);
	}
	return PC_EXIT_OK;
}

int pc_cmd_languages(const pc_opts *o, pc_conn *c)
{
	proto_msg *m;
	int st = pc__simple(o, c, PROTO_M_LANGUAGES, &m);
	if (st)
		return st;
	const proto_languages_res *r = &m->resp.r.languages;
	if (o->json)
		fputc('[', stdout);
	for (uint32_t i = 0; i < r->n_languages; i++) {
		const proto_language *l = &r->languages[i];
		if (o->json) {
			fputs(i ? ",\n {\"code\": " : "{\"code\": ", stdout);
			pc_json_cstr(stdout, l->code);
			fputs(", \"name\": ", stdout);
			pc_json_pstr(stdout, l->name);
			fputs(", \"native\": ", stdout);
			pc_json_pstr(stdout, l->native);
			fputs(", \"script\": ", stdout);
			pc_json_pstr(stdout, l->script);
			fputc('}', stdout);
		} else {
			printf("%-5s %-12.*s %.*s\n", l->code, (int)l->name.len, l->name.ptr,
			       (int)l->native.len, l->native.ptr);
		}
	}
	if (o->json)
		fputs("]\n", stdout);
	proto_msg_free(m);
	return fflush(stdout) == 0 ? PC_EXIT_OK : PC_EXIT_FAIL;
}

/* What the bundled model is and how to do better, for --status. */
#define PC__BUNDLED_NOTE \
	"the small bundled model, for short everyday text; for real quality convert " \
	"PolyLM-1.7B or 13B with polylm-convert into $XDG_DATA_HOME/polytrans/models/ " \
	"(see polytransd(8))"

void pc_bundled_notice(const pc_opts *o, pc_conn *c)
{
	proto_request r;
	proto_msg *m = NULL;
	pt_err e = { 0 };

	if (o->quiet)
		return;
	proto_request_init(&r, PROTO_M_STATUS);
	if (pc_conn_call(c, &r, &m, &e) != 0)
		return;
	if (m->resp.error.code == PROTO_ERR_NONE && m->resp.r.status.model.bundled)
		fputs("polytrans: started polytransd with the small bundled model; "
		      "'polytrans --status' says how to install PolyLM\n", stderr);
	proto_msg_free(m);
}

static void pc__status_json(const proto_status_res *s)
{
	const proto_model_info *mi = &s->model;
	fputs("{\"version\": ", stdout);
	pc_json_pstr(stdout, s->version);
	fputs(", \"model\": {\"path\": ", stdout);
	pc_json_pstr(stdout, mi->path);
	fputs(", \"name\": ", stdout);
	pc_json_pstr(stdout, mi->name);
	fputs(", \"kind\": ", stdout);
	pc_json_pstr(stdout, mi->kind);
	fputs(", \"type\": ", stdout);
	pc_json_pstr(stdout, mi->type);
	printf(", \"bundled\": %s, \"params\": %llu", mi->bundled ? "true" : "false",
	       (unsigned long long)mi->params);
	if (mi->bundled)
		fputs(", \"note\": \"" PC__BUNDLED_NOTE "\"", stdout);
	if (mi->context)
		printf(", \"context\": %u", mi->context);
	printf("}, \"uptime_s\": %.3f, \"queue\": %u, \"in_flight\": %u, \"clients\": %u",
	       s->uptime_s, s->queue, s->in_flight, s->clients);
	printf(", \"counters\": {\"requests\": %llu, \"errors\": %llu, \"tokens\": %llu}",
	       (unsigned long long)s->counters.requests, (unsigned long long)s->counters.errors,
	       (unsigned long long)s->counters.tokens);
	printf(", \"tokens_per_s\": %.3f, \"rss_bytes\": %llu, \"jobs\": %u}\n", s->tokens_per_s,
	       (unsigned long long)s->rss_bytes, s->jobs);
}

static void pc__status_text(const proto_status_res *s)
{
	const proto_model_info *mi = &s->model;
	unsigned long long up = (unsigned long long)s->uptime_s;
	printf("model:    %.*s (%.*s)\n", (int)mi->name.len, mi->name.ptr, (int)mi->path.len,
	       mi->path.ptr);
	double pm = (double)mi->params;
	printf("kind:     %.*s, %.*s, ", (int)mi->kind.len, mi->kind.ptr, (int)mi->type.len,
	       mi->type.ptr);
	if (pm >= 1e9)
		printf("%.2f B parameters", pm / 1e9);
	else if (pm >= 1e6)
		printf("%.1f M parameters", pm / 1e6);
	else
		printf("%.0f parameters", pm);
	printf("%s", mi->bundled ? ", bundled" : "");
	if (mi->context)
		printf(", context %u tokens", mi->context);
	printf("\n");
	if (mi->bundled)
		printf("note:     " PC__BUNDLED_NOTE "\n");
	printf("version:  %.*s\n", (int)s->version.len, s->version.ptr);
	printf("uptime:   %llud %02lluh %02llum %02llus\n", up / 86400, up / 3600 % 24,
	       up / 60 % 60, up % 60);
	printf("queue:    %u waiting, %u in flight, %u client%s\n", s->queue, s->in_flight,
	       s->clients, s->clients == 1 ? "" : "s");
	printf("counters: %llu requests, %llu errors, %llu tokens\n",
	       (unsigned long long)s->counters.requests, (unsigned long long)s->counters.errors,
	       (unsigned long long)s->counters.tokens);
	printf("speed:    %.1f tokens/s\n", s->tokens_per_s);
	printf("memory:   %.1f MiB resident\n", (double)s->rss_bytes / (1024.0 * 1024.0));
	printf("jobs:     %u unfinished\n", s->jobs);
}

int pc_cmd_status(const pc_opts *o, pc_conn *c)
{
	proto_msg *m;
	int st = pc__simple(o, c, PROTO_M_STATUS, &m);
	if (st)
		return st;
	if (o->json)
		pc__status_json(&m->resp.r.status);
	else
		pc__status_text(&m->resp.r.status);
	proto_msg_free(m);
	return fflush(stdout) == 0 ? PC_EXIT_OK : PC_EXIT_FAIL;
}
