/*
 * job-manifest.c: a job's manifest as text and back (job-store.h).
 *
 *   polytrans-job 1
 *   id <id>
 *   to <lang>
 *   from <lang|auto>
 *   priority <int>
 *   created <unix time>
 *   state <queued|running|done|failed|cancelled>
 *   output <folder>              optional
 *   error <message>              optional
 *   segments <n>                 optional: sentences in all, once known
 *   files <n>
 *   file <format> <from> <size> <name>     n times
 *   end
 *
 * Values run to the end of the line; '%', control characters and DEL are
 * written as %XX, so a name or folder holding a line end cannot forge a
 * line. The "end" line makes a truncated manifest an error rather than a
 * job with fewer files. Parsing is strict: an unknown key, a repeated
 * key or a bad value is an error naming the line.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "job-store-impl.h"

#define PTD__MANIFEST_MAX (1u << 20)
#define PTD__FILES_MAX 10000

/* ---- Writing ------------------------------------------------------------------ */

typedef struct ptd__sb {
	char *p;
	size_t len, cap;
	int oom;
} ptd__sb;

static void ptd__sb_put(ptd__sb *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t nc = b->cap ? b->cap : 256;
		char *np;
		while (nc < b->len + n + 1)
			nc *= 2;
		if ((np = realloc(b->p, nc)) == NULL) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = nc;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void PT_PRINTF(2, 3) ptd__sb_printf(ptd__sb *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof tmp) {
		b->oom = 1; /* only short fields go through here */
		return;
	}
	ptd__sb_put(b, tmp, (size_t)n);
}

static void ptd__sb_escaped(ptd__sb *b, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch < 0x20 || ch == 0x7f || ch == '%')
			ptd__sb_printf(b, "%%%02X", ch);
		else
			ptd__sb_put(b, s, 1);
	}
}

int ptd_jmanifest_format(const ptd_jmanifest *m, char **out, size_t *len, pt_err *e)
{
	ptd__sb b = { 0 };

	if (!ptd__jid_ok(m->id))
		return pt_err_set(e, PT_EINVAL, "manifest: bad job id");
	ptd__sb_printf(&b, "polytrans-job 1\nid %s\nto %s\nfrom %s\npriority %" PRId32
		       "\ncreated %" PRIu64 "\nstate %s\n", m->id, m->to, m->from, m->priority,
		       m->created, proto_job_state_name(m->state));
	if (m->output != NULL) {
		ptd__sb_put(&b, "output ", 7);
		ptd__sb_escaped(&b, m->output);
		ptd__sb_put(&b, "\n", 1);
	}
	if (m->error != NULL) {
		ptd__sb_put(&b, "error ", 6);
		ptd__sb_escaped(&b, m->error);
		ptd__sb_put(&b, "\n", 1);
	}
	if (m->segments > 0)
		ptd__sb_printf(&b, "segments %" PRIu64 "\n", m->segments);
	ptd__sb_printf(&b, "files %" PRIu32 "\n", m->n_files);
	for (uint32_t i = 0; i < m->n_files; i++) {
		const ptd_jfile *f = &m->files[i];
		ptd__sb_printf(&b, "file %s %s %" PRIu64 " ", proto_format_name(f->format),
			       f->from, f->size);
		ptd__sb_escaped(&b, f->name);
		ptd__sb_put(&b, "\n", 1);
	}
	ptd__sb_put(&b, "end\n", 4);
	if (b.oom) {
		free(b.p);
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	}
	*out = b.p;
	*len = b.len;
	return 0;
}

/* ---- Reading ------------------------------------------------------------------ */

static int ptd__hex(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* Undoes the %XX escapes of v[0..n) into a new string. */
static int ptd__unescape(const char *v, size_t n, char **out, unsigned line, pt_err *e)
{
	char *s = malloc(n + 1);
	size_t k = 0;

	if (s == NULL)
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		if (v[i] != '%') {
			s[k++] = v[i];
			continue;
		}
		if (i + 2 >= n) {
			free(s);
			return pt_err_set(e, PT_EFORMAT, "line %u: a %% escape is cut short", line);
		}
		int hi = ptd__hex((unsigned char)v[i + 1]), lo = ptd__hex((unsigned char)v[i + 2]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
			free(s);
			return pt_err_set(e, PT_EFORMAT, "line %u: bad %% escape", line);
		}
		s[k++] = (char)(hi * 16 + lo);
		i += 2;
	}
	s[k] = '\0';
	*out = s;
	return 0;
}

static int ptd__lang_ok(const char *v, size_t n, char out[PROTO_LANG_SIZE])
{
	if (n == 0 || n >= PROTO_LANG_SIZE)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = v[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '-'))
			return 0;
	}
	memcpy(out, v, n);
	out[n] = '\0';
	return 1;
}

static int ptd__u64(const char *v, size_t n, uint64_t *out)
{
	uint64_t x = 0;

	if (n == 0 || n > 20)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9' || x > (UINT64_MAX - 9) / 10)
			return 0;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	*out = x;
	return 1;
}

static int ptd__enum(const char *v, size_t n, const char *(*name)(int), int count, int *out)
{
	for (int i = 0; i < count; i++) {
		const char *s = name(i);
		if (s != NULL && strlen(s) == n && memcmp(s, v, n) == 0) {
			*out = i;
			return 1;
		}
	}
	return 0;
}

/* One "file <format> <from> <size> <name>" line. */
static int ptd__parse_file(const char *v, size_t n, ptd_jfile *f, unsigned line, pt_err *e)
{
	const char *end = v + n, *p = v, *sp;
	const char *field[3];
	size_t flen[3];
	int rc;

	for (int i = 0; i < 3; i++) {
		if ((sp = memchr(p, ' ', (size_t)(end - p))) == NULL)
			return pt_err_set(e, PT_EFORMAT, "line %u: a file line needs format, "
					  "language, size and name", line);
		field[i] = p;
		flen[i] = (size_t)(sp - p);
		p = sp + 1;
	}
	if (!ptd__enum(field[0], flen[0], proto_format_name, PROTO_FMT_HTML + 1, &f->format) ||
	    f->format == PROTO_FMT_AUTO)
		return pt_err_set(e, PT_EFORMAT, "line %u: unknown format '%.*s'", line,
				  (int)flen[0], field[0]);
	if (!ptd__lang_ok(field[1], flen[1], f->from))
		return pt_err_set(e, PT_EFORMAT, "line %u: bad language '%.*s'", line,
				  (int)flen[1], field[1]);
	if (!ptd__u64(field[2], flen[2], &f->size))
		return pt_err_set(e, PT_EFORMAT, "line %u: bad size '%.*s'", line,
				  (int)flen[2], field[2]);
	if (p == end)
		return pt_err_set(e, PT_EFORMAT, "line %u: empty file name", line);
	if ((rc = ptd__unescape(p, (size_t)(end - p), &f->name, line, e)) != 0)
		return rc;
	if (strchr(f->name, '/') != NULL || strcmp(f->name, ".") == 0 ||
	    strcmp(f->name, "..") == 0 || strlen(f->name) > PROTO_NAME_MAX)
		return pt_err_set(e, PT_EFORMAT, "line %u: '%s' is not a file name", line, f->name);
	return 0;
}

enum { K_ID = 1, K_TO = 2, K_FROM = 4, K_PRIO = 8, K_CREATED = 16, K_STATE = 32,
       K_OUTPUT = 64, K_ERROR = 128, K_FILES = 256, K_END = 512, K_SEGMENTS = 1024 };
#define PTD__REQUIRED (K_ID | K_TO | K_FROM | K_PRIO | K_CREATED | K_STATE | K_FILES | K_END)

static int ptd__key(const char *k, size_t n)
{
	static const struct { const char *name; int bit; } keys[] = {
		{ "id", K_ID }, { "to", K_TO }, { "from", K_FROM }, { "priority", K_PRIO },
		{ "created", K_CREATED }, { "state", K_STATE }, { "output", K_OUTPUT },
		{ "error", K_ERROR }, { "files", K_FILES }, { "segments", K_SEGMENTS },
	};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (strlen(keys[i].name) == n && memcmp(keys[i].name, k, n) == 0)
			return keys[i].bit;
	return 0;
}

/* Applies one "key value" line (not "file" or "end"). */
static int ptd__parse_kv(ptd_jmanifest *m, int key, const char *v, size_t n, unsigned line,
			 pt_err *e)
{
	uint64_t x;
	char id[PROTO_JOBID_SIZE];
	int rc;

	switch (key) {
	case K_ID:
		if (n == 0 || n >= sizeof id)
			break;
		memcpy(id, v, n);
		id[n] = '\0';
		if (!ptd__jid_ok(id))
			break;
		memcpy(m->id, id, n + 1);
		return 0;
	case K_TO:
		return ptd__lang_ok(v, n, m->to) ? 0 : pt_err_set(e, PT_EFORMAT,
			"line %u: bad language '%.*s'", line, (int)n, v);
	case K_FROM:
		return ptd__lang_ok(v, n, m->from) ? 0 : pt_err_set(e, PT_EFORMAT,
			"line %u: bad language '%.*s'", line, (int)n, v);
	case K_PRIO: {
		int neg = n > 0 && v[0] == '-';
		if (!ptd__u64(v + neg, n - (size_t)neg, &x) || x > 100)
			break;
		m->priority = neg ? -(int32_t)x : (int32_t)x;
		return 0;
	}
	case K_CREATED:
		if (!ptd__u64(v, n, &m->created))
			break;
		return 0;
	case K_STATE:
		if (!ptd__enum(v, n, proto_job_state_name, PROTO_JOB_CANCELLED + 1, &m->state))
			break;
		return 0;
	case K_OUTPUT:
		if ((rc = ptd__unescape(v, n, &m->output, line, e)) != 0)
			return rc;
		if (m->output[0] != '/')
			return pt_err_set(e, PT_EFORMAT, "line %u: the output folder is not an "
					  "absolute path", line);
		return 0;
	case K_ERROR:
		return ptd__unescape(v, n, &m->error, line, e);
	case K_SEGMENTS:
		if (!ptd__u64(v, n, &m->segments))
			break;
		return 0;
	case K_FILES:
		if (!ptd__u64(v, n, &x) || x == 0 || x > PTD__FILES_MAX)
			break;
		if ((m->files = calloc((size_t)x, sizeof *m->files)) == NULL)
			return pt_err_set(e, PT_ENOMEM, "out of memory");
		m->n_files = (uint32_t)x;
		return 0;
	}
	return pt_err_set(e, PT_EFORMAT, "line %u: bad value '%.*s'", line,
			  (int)(n > 80 ? 80 : n), v);
}

static int ptd__parse_line(ptd_jmanifest *m, const char *s, size_t n, unsigned line,
			   int *seen, uint32_t *nf, pt_err *e)
{
	const char *sp = memchr(s, ' ', n);
	size_t kl = sp != NULL ? (size_t)(sp - s) : n;
	const char *v = sp != NULL ? sp + 1 : s + n;
	size_t vn = n - kl - (sp != NULL);
	int key;

	if (*seen & K_END)
		return pt_err_set(e, PT_EFORMAT, "line %u: text after 'end'", line);
	if (kl == 3 && memcmp(s, "end", 3) == 0 && sp == NULL) {
		if (!(*seen & K_FILES) || *nf != m->n_files)
			return pt_err_set(e, PT_EFORMAT, "line %u: 'end' before all %" PRIu32
					  " files were listed", line, m->n_files);
		*seen |= K_END;
		return 0;
	}
	if (kl == 4 && memcmp(s, "file", 4) == 0) {
		if (!(*seen & K_FILES) || *nf >= m->n_files)
			return pt_err_set(e, PT_EFORMAT, "line %u: more file lines than 'files' "
					  "says", line);
		return ptd__parse_file(v, vn, &m->files[(*nf)++], line, e);
	}
	if ((key = ptd__key(s, kl)) == 0)
		return pt_err_set(e, PT_EFORMAT, "line %u: unknown key '%.*s'", line,
				  (int)(kl > 40 ? 40 : kl), s);
	if (*seen & key)
		return pt_err_set(e, PT_EFORMAT, "line %u: '%.*s' given twice", line, (int)kl, s);
	*seen |= key;
	return ptd__parse_kv(m, key, v, vn, line, e);
}

int ptd_jmanifest_parse(const char *buf, size_t len, ptd_jmanifest *m, pt_err *e)
{
	static const char magic[] = "polytrans-job 1\n";
	const char *p = buf, *end = buf + len;
	unsigned line = 1;
	uint32_t nf = 0;
	int seen = 0, rc = 0;

	memset(m, 0, sizeof *m);
	if (len < sizeof magic - 1 || memcmp(buf, magic, sizeof magic - 1) != 0)
		return pt_err_set(e, PT_EFORMAT, "not a polytrans job manifest (version 1)");
	p += sizeof magic - 1;
	while (p < end && rc == 0) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		line++;
		if (nl == NULL) {
			rc = pt_err_set(e, PT_EFORMAT, "line %u: no line end (a cut file?)", line);
			break;
		}
		rc = ptd__parse_line(m, p, (size_t)(nl - p), line, &seen, &nf, e);
		p = nl + 1;
	}
	if (rc == 0 && (seen & PTD__REQUIRED) != PTD__REQUIRED) {
		static const char *names[] = { "id", "to", "from", "priority", "created",
					       "state", "output", "error", "files", "end" };
		for (int i = 0; i < 10; i++)
			if ((PTD__REQUIRED & (1 << i)) && !(seen & (1 << i))) {
				rc = pt_err_set(e, PT_EFORMAT, "'%s' is missing", names[i]);
				break;
			}
	}
	if (rc != 0)
		ptd_jmanifest_done(m);
	return rc;
}

void ptd_jmanifest_done(ptd_jmanifest *m)
{
	if (m == NULL)
		return;
	for (uint32_t i = 0; i < m->n_files; i++)
		free(m->files[i].name);
	free(m->files);
	free(m->output);
	free(m->error);
	memset(m, 0, sizeof *m);
}

/* ---- Files -------------------------------------------------------------------- */

int ptd_jstore_manifest_write(ptd_jstore *s, const ptd_jmanifest *m, pt_err *e)
{
	char what[700], *text;
	size_t len;
	int jd, rc;

	if ((rc = ptd_jmanifest_format(m, &text, &len, e)) != 0)
		return rc;
	if ((rc = ptd__jdir_open(s, m->id, &jd, e)) == 0) {
		snprintf(what, sizeof what, "%s/%s/manifest", s->path, m->id);
		rc = ptd__write_atomic_at(jd, "manifest", text, len, 0600, what, e);
		close(jd);
	}
	free(text);
	return rc;
}

int ptd_jstore_manifest_read(ptd_jstore *s, const char *id, ptd_jmanifest *m, pt_err *e)
{
	char what[700], *buf;
	size_t len;
	int jd, fd, rc;

	if ((rc = ptd__jdir_open(s, id, &jd, e)) != 0)
		return rc;
	snprintf(what, sizeof what, "%s/%s/manifest", s->path, id);
	fd = openat(jd, "manifest", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	close(jd);
	if (fd < 0)
		return ptd__jerr(e, errno, "cannot open", what);
	rc = ptd__read_all(fd, PTD__MANIFEST_MAX, &buf, &len, what, e);
	close(fd);
	if (rc != 0)
		return rc;
	rc = ptd_jmanifest_parse(buf, len, m, e);
	free(buf);
	if (rc != 0) {
		pt_err_prefix(e, "%s", what);
		return rc;
	}
	if (strcmp(m->id, id) != 0) {
		ptd_jmanifest_done(m);
		return pt_err_set(e, PT_EFORMAT, "%s: names job %s, not %s", what, m->id, id);
	}
	return 0;
}
