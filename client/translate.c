/*
 * translate.c: `polytrans --to LANG [FILE...]`.
 *
 * Each input is read whole, checked, and sent as one translate request
 * with `stream` on, so finished segments are written while later ones are
 * still being translated. A very large input is cut at paragraph breaks
 * into several requests (and cut smaller when the daemon answers
 * too_large), whose translations are joined: the daemon keeps the
 * whitespace at the edges of each piece, so the join is exact.
 */
#include "client.h"
#include "langid.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Bytes of source text per request: well under the daemon's default
 * limits (16 MiB of text, 64 MiB per message), and small enough that a
 * too_large answer from a stricter daemon is retried with halves. */
#define PC__CHUNK ((size_t)1 << 20)
#define PC__CHUNK_MIN ((size_t)1 << 10)
/* Progress is shown from this many segments on. */
#define PC__PROGRESS_MIN 8

typedef struct pc__seg {
	uint32_t index;
	char *text;
	size_t len;
} pc__seg;

typedef struct pc__tr {
	const pc_opts *o;
	pc_conn *c;
	pc_out *out;
	const char *name;          /* input name for messages */
	char from[PROTO_LANG_SIZE];     /* pinned after the first piece */
	char from_used[PROTO_LANG_SIZE];
	/* The request being answered and what was written of it. */
	uint32_t msgid;
	uint32_t next_index;
	pc__seg *pending;          /* segments that arrived early */
	size_t n_pending, cap_pending;
	char *streamed;            /* bytes written for this request */
	size_t streamed_len, streamed_cap;
	/* The whole translation, kept for --json only. */
	char *all;
	size_t all_len, all_cap;
	char **warnings;
	size_t n_warnings;
	/* Progress line. */
	bool progress;
	size_t done, total;
	double drawn_at;
	/* A write error inside the notification callback. */
	int wrc;
	pt_err werr;
} pc__tr;

static int pc__append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
	size_t need;
	if (pt_add_size(*len, n, &need) || pt_add_size(need, 1, &need))
		return PT_ETOOLARGE;
	if (need > *cap) {
		size_t nc = *cap ? *cap : 4096;
		while (nc < need)
			if (pt_mul_size(nc, 2, &nc))
				return PT_ETOOLARGE;
		char *nb = realloc(*buf, nc);
		if (!nb)
			return PT_ENOMEM;
		*buf = nb;
		*cap = nc;
	}
	memcpy(*buf + *len, s, n);
	*len += n;
	(*buf)[*len] = '\0';
	return 0;
}

static void pc__progress_draw(pc__tr *t, bool force)
{
	if (!t->progress)
		return;
	double now = pt_now();
	if (!force && now - t->drawn_at < 0.1)
		return;
	t->drawn_at = now;
	size_t done = t->done < t->total ? t->done : t->total;
	fprintf(stderr, "\rpolytrans: %s: %zu/%zu segments (%zu%%)\033[K", t->name, done,
		t->total, t->total ? done * 100 / t->total : 100);
	fflush(stderr);
}

static void pc__progress_clear(pc__tr *t)
{
	if (t->progress && t->drawn_at > 0) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
}

/* Writes translated bytes: to the output while streaming, and to the
 * whole-text buffer for --json. */
static int pc__emit(pc__tr *t, const char *s, size_t n, pt_err *e)
{
	int rc;
	if (t->o->json) {
		rc = pc__append(&t->all, &t->all_len, &t->all_cap, s, n);
		if (rc)
			return pt_err_set(e, rc, "%s: translation too large to keep", t->name);
		return 0;
	}
	return pc_out_write(t->out, s, n, e);
}

static int pc__emit_segment(pc__tr *t, const char *s, size_t n)
{
	if (t->wrc)
		return t->wrc;
	int rc = pc__append(&t->streamed, &t->streamed_len, &t->streamed_cap, s, n);
	if (rc)
		return t->wrc = pt_err_set(&t->werr, rc, "out of memory");
	if ((rc = pc__emit(t, s, n, &t->werr)))
		t->wrc = rc;
	t->next_index++;
	return rc;
}

static void pc__on_note(const proto_notify *n, void *ud)
{
	pc__tr *t = ud;
	if (n->kind != PROTO_N_TRANSLATE_SEGMENT || n->n.segment.request != t->msgid)
		return;
	const proto_segment_note *sg = &n->n.segment;
	t->done++;
	pc__progress_draw(t, false);
	if (sg->index < t->next_index)
		return;  /* a repeat: already written */
	if (sg->index > t->next_index) {
		/* Early: keep a copy until the ones before it arrive. */
		if (t->n_pending == t->cap_pending) {
			size_t nc = t->cap_pending ? t->cap_pending * 2 : 16, bytes;
			pc__seg *np = NULL;
			if (pt_mul_size(nc, sizeof *np, &bytes) == 0)
				np = realloc(t->pending, bytes);
			if (!np) {
				t->wrc = pt_err_set(&t->werr, PT_ENOMEM, "out of memory");
				return;
			}
			t->pending = np;
			t->cap_pending = nc;
		}
		char *copy = malloc(sg->text.len + 1);
		if (!copy) {
			t->wrc = pt_err_set(&t->werr, PT_ENOMEM, "out of memory");
			return;
		}
		memcpy(copy, sg->text.ptr, sg->text.len);
		t->pending[t->n_pending++] = (pc__seg){ sg->index, copy, sg->text.len };
		return;
	}
	if (pc__emit_segment(t, sg->text.ptr, sg->text.len))
		return;
	/* Then every kept segment that is now next. */
	for (size_t i = 0; i < t->n_pending;) {
		if (t->pending[i].index != t->next_index) {
			i++;
			continue;
		}
		pc__seg s = t->pending[i];
		t->pending[i] = t->pending[--t->n_pending];
		int rc = pc__emit_segment(t, s.text, s.len);
		free(s.text);
		if (rc)
			return;
		i = 0;
	}
}

static void pc__request_reset(pc__tr *t)
{
	for (size_t i = 0; i < t->n_pending; i++)
		free(t->pending[i].text);
	t->n_pending = 0;
	t->streamed_len = 0;
	t->next_index = 0;
}

static int pc__keep_warnings(pc__tr *t, const proto_translate_res *r)
{
	for (uint32_t i = 0; i < r->n_warnings; i++) {
		proto_str w = r->warnings[i];
		if (!t->o->json) {
			pc_warn("%s: %.*s", t->name, (int)w.len, w.ptr);
			continue;
		}
		char **nw = realloc(t->warnings, (t->n_warnings + 1) * sizeof *nw);
		if (!nw)
			return PT_ENOMEM;
		t->warnings = nw;
		if (!(nw[t->n_warnings] = strndup(w.ptr, w.len)))
			return PT_ENOMEM;
		t->n_warnings++;
	}
	return 0;
}

/* The final answer of one request: write what streaming did not. */
static int pc__finish(pc__tr *t, const proto_translate_res *r, pt_err *e)
{
	proto_str text = r->text;
	if (!t->from_used[0])
		memcpy(t->from_used, r->from, sizeof t->from_used);
	if (t->from[0] == '\0' || strcmp(t->from, "auto") == 0)
		memcpy(t->from, r->from, sizeof t->from);
	if (t->wrc) {
		*e = t->werr;
		return t->wrc;
	}
	if (t->streamed_len > text.len || memcmp(text.ptr, t->streamed, t->streamed_len) != 0) {
		/* Cannot happen with a correct daemon; say so rather than
		 * silently give two different texts. */
		return pt_err_set(e, PT_EFORMAT,
				  "%s: the streamed segments differ from the final translation",
				  t->name);
	}
	int rc = pc__emit(t, text.ptr + t->streamed_len, text.len - t->streamed_len, e);
	if (rc == 0 && pc__keep_warnings(t, r))
		rc = pt_err_set(e, PT_ENOMEM, "out of memory");
	return rc;
}

/* Translates src[0..len) as one request. *too_large is set when the
 * daemon refused it for its size before writing anything. */
static int pc__request(pc__tr *t, const char *src, size_t len, bool *too_large, pt_err *e)
{
	proto_request r;
	proto_msg *m = NULL;
	proto_request_init(&r, PROTO_M_TRANSLATE);
	r.p.translate.text = (proto_str){ src, len };
	memcpy(r.p.translate.to, t->o->to, sizeof r.p.translate.to);
	if (t->from[0])
		memcpy(r.p.translate.from, t->from, sizeof r.p.translate.from);
	r.p.translate.beams = t->o->beams;
	r.p.translate.max_tokens = t->o->max_tokens;
	r.p.translate.stream = true;

	*too_large = false;
	pc__request_reset(t);
	t->c->on_note = pc__on_note;
	t->c->note_ud = t;
	/* The msgid is known before the reply: pc_conn_call numbers in order. */
	t->msgid = t->c->next_id;
	size_t done0 = t->done;
	int rc = pc_conn_call(t->c, &r, &m, e);
	t->c->on_note = NULL;
	if (rc)
		return rc;
	if (m->resp.error.code != PROTO_ERR_NONE) {
		if (m->resp.error.code == PROTO_ERR_TOO_LARGE && t->streamed_len == 0) {
			*too_large = true;
			t->done = done0;
		}
		pc_reply_error(m, e);
		pt_err_prefix(e, "%s", t->name);
		proto_msg_free(m);
		return PT_EINVAL;
	}
	rc = pc__finish(t, &m->resp.r.translate, e);
	proto_msg_free(m);
	return rc;
}

/* Where to cut src[0..len) so the first part is at most max bytes: after
 * a blank line, else after a line end, else after a space, else at a
 * character boundary. */
static size_t pc__cut(const char *src, size_t len, size_t max)
{
	if (len <= max)
		return len;
	for (size_t i = max; i > max / 4; i--)
		if (src[i - 1] == '\n' && i >= 2 && src[i - 2] == '\n')
			return i;
	for (size_t i = max; i > max / 4; i--)
		if (src[i - 1] == '\n')
			return i;
	for (size_t i = max; i > max / 4; i--)
		if (src[i - 1] == ' ')
			return i;
	size_t i = max;
	while (i > 1 && ((unsigned char)src[i] & 0xC0) == 0x80)
		i--;
	return i;
}

static int pc__span(pc__tr *t, const char *src, size_t len, size_t max, pt_err *e)
{
	while (len > 0) {
		size_t n = pc__cut(src, len, max);
		bool big;
		int rc = pc__request(t, src, n, &big, e);
		if (rc && big && n > PC__CHUNK_MIN) {
			/* A stricter daemon: try again with halves. */
			rc = pc__span(t, src, n, n / 2, e);
		}
		if (rc)
			return rc;
		src += n;
		len -= n;
	}
	return 0;
}

static size_t pc__count_segments(const char *src, size_t len)
{
	langid_segs *s;
	size_t n = 0;
	if (langid_segment(src, len, NULL, &s, NULL) != 0)
		return 0;
	for (size_t i = 0; i < langid_segs_count(s); i++)
		n += langid_segs_kind(s, i) == LANGID_PIECE_TEXT;
	langid_segs_free(s);
	return n;
}

static void pc__print_json(pc__tr *t, FILE *f, bool with_name)
{
	fputc('{', f);
	if (with_name) {
		fputs("\"file\": ", f);
		pc_json_cstr(f, t->name);
		fputs(", ", f);
	}
	fputs("\"text\": ", f);
	pc_json_str(f, t->all ? t->all : "", t->all_len);
	fputs(", \"from\": ", f);
	pc_json_cstr(f, t->from_used[0] ? t->from_used : t->from);
	fputs(", \"to\": ", f);
	pc_json_cstr(f, t->o->to);
	fputs(", \"warnings\": [", f);
	for (size_t i = 0; i < t->n_warnings; i++) {
		if (i)
			fputs(", ", f);
		pc_json_cstr(f, t->warnings[i]);
	}
	fputs("]}\n", f);
}

static void pc__tr_done(pc__tr *t)
{
	pc__request_reset(t);
	free(t->pending);
	free(t->streamed);
	free(t->all);
	for (size_t i = 0; i < t->n_warnings; i++)
		free(t->warnings[i]);
	free(t->warnings);
}

/* One input, from reading to its last byte written. */
static int pc__one(const pc_opts *o, pc_conn *c, pc_out *out, const char *path,
		   bool progress_ok, pt_err *e)
{
	char *src;
	size_t len, bad;
	pc__tr t = { .o = o, .c = c, .out = out };
	t.name = strcmp(path, "-") == 0 ? "standard input" : path;
	memcpy(t.from, o->from, sizeof t.from);

	int rc = pc_read_all(path, &src, &len, e);
	if (rc)
		return rc;
	if (pt_utf8_check(src, len, &bad)) {
		free(src);
		return pt_err_set(e, PT_EUTF8, "%s: invalid UTF-8 at byte %zu", t.name, bad);
	}
	if (len > 0 && (rc = pc_conn_ensure(o, c, e)) == 0) {
		if (progress_ok) {
			t.total = pc__count_segments(src, len);
			t.progress = t.total >= PC__PROGRESS_MIN;
		}
		rc = pc__span(&t, src, len, PC__CHUNK, e);
		pc__progress_clear(&t);
	}
	if (rc == 0 && o->json)
		pc__print_json(&t, out->f, o->n_inputs > 1);
	pc__tr_done(&t);
	free(src);
	return rc;
}

int pc_cmd_translate(const pc_opts *o, pc_conn *c)
{
	static char *const stdin_only[] = { "-" };
	char *const *inputs = o->n_inputs ? o->inputs : stdin_only;
	int n = o->n_inputs ? o->n_inputs : 1;
	pt_err e = { 0 };
	pc_out out;

	/* Refuse early a file that cannot be read, before any output. */
	for (int i = 0; i < n; i++)
		if (strcmp(inputs[i], "-") != 0 && access(inputs[i], R_OK) != 0) {
			pc_error("%s: %s", inputs[i], strerror(errno));
			return PC_EXIT_FAIL;
		}
	/* A progress line when a person watches stderr and the text goes
	 * elsewhere (they would mix on one terminal). */
	bool progress_ok = !o->quiet && isatty(2) && (o->output || !isatty(1));
	int rc = pc_out_open(&out, o->output, &e);
	if (rc) {
		pc_error("%s", e.msg);
		return PC_EXIT_FAIL;
	}
	for (int i = 0; i < n && rc == 0; i++)
		rc = pc__one(o, c, &out, inputs[i], progress_ok, &e);
	if (rc == 0)
		rc = pc_out_commit(&out, &e);
	if (rc) {
		pc_out_abort(&out);
		if (!(rc == PT_ECANCELLED && pc_interrupted))
			pc_error("%s", e.msg);
		return pc_exit_for(c, rc);
	}
	return PC_EXIT_OK;
}
