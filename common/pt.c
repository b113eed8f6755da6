/* pt.c: the error table, error messages, logging, time and UTF-8 checks. */
#include "pt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const struct {
	const char *name;
	const char *text;
} pt__errors[] = {
	{ "ok", "success" },
	{ "no_memory", "out of memory" },
	{ "invalid", "invalid argument" },
	{ "io", "input/output error" },
	{ "format", "malformed data" },
	{ "too_large", "over a size or count limit" },
	{ "unsupported", "not supported" },
	{ "cancelled", "cancelled" },
	{ "not_found", "not found" },
	{ "utf8", "invalid UTF-8" },
	{ "context_full", "the model's context window is full" },
	{ "busy", "busy" },
	{ "unsupported_language", "unsupported language" },
	{ "internal", "internal error" },
	{ "timeout", "timed out" },
	{ "permission", "permission denied" },
	{ "no_space", "no space left on device" },
};

_Static_assert(sizeof(pt__errors) / sizeof(pt__errors[0]) == (size_t)-PT_ERR_LAST_,
	       "error table and enum differ");

const char *pt_errname(int code)
{
	if (code > 0 || code <= PT_ERR_LAST_)
		return "unknown";
	return pt__errors[-code].name;
}

const char *pt_strerror(int code)
{
	if (code > 0 || code <= PT_ERR_LAST_)
		return "unknown error";
	return pt__errors[-code].text;
}

int pt_err_set(pt_err *e, int code, const char *fmt, ...)
{
	if (e != NULL) {
		va_list ap;
		e->code = code;
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof e->msg, fmt, ap);
		va_end(ap);
	}
	return code;
}

void pt_err_prefix(pt_err *e, const char *fmt, ...)
{
	char buf[2 * PT_ERRMSG_MAX + 2];
	size_t n;
	va_list ap;

	if (e == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, PT_ERRMSG_MAX, fmt, ap);
	va_end(ap);
	/* The message is cut at PT_ERRMSG_MAX - 1 bytes if it grows past it. */
	n = strlen(buf);
	buf[n++] = ':';
	buf[n++] = ' ';
	memcpy(buf + n, e->msg, strnlen(e->msg, PT_ERRMSG_MAX - 1) + 1);
	buf[PT_ERRMSG_MAX - 1] = '\0';
	memcpy(e->msg, buf, PT_ERRMSG_MAX);
}

void pt_err_clear(pt_err *e)
{
	if (e != NULL) {
		e->code = 0;
		e->msg[0] = '\0';
	}
}

static pt_log_fn pt__log_fn;
static void *pt__log_ud;
static int pt__log_level = PT_LOG_INFO;

void pt_log_set(pt_log_fn fn, void *ud, int max_level)
{
	pt__log_fn = fn;
	pt__log_ud = ud;
	pt__log_level = max_level;
}

int pt_log_enabled(int level)
{
	return pt__log_fn != NULL && level <= pt__log_level;
}

void pt_log(int level, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (!pt_log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	pt__log_fn(level, buf, pt__log_ud);
}

int pt_runtime_dir(char *buf, size_t cap, pt_err *e)
{
	const char *rt = getenv("XDG_RUNTIME_DIR");
	struct stat st;
	int n;

	if (rt != NULL && rt[0] == '/') {
		n = snprintf(buf, cap, "%s", rt);
		if (n < 0 || (size_t)n >= cap)
			return pt_err_set(e, PT_ETOOLARGE, "XDG_RUNTIME_DIR is too long");
		return 0;
	}
	/* No session runtime folder (a root shell, a container, cron): a
	 * private folder of our own in /tmp, checked as tmux checks its own. */
	n = snprintf(buf, cap, "/tmp/polytrans-%u", (unsigned)geteuid());
	if (n < 0 || (size_t)n >= cap)
		return pt_err_set(e, PT_ETOOLARGE, "runtime folder path too long");
	if (mkdir(buf, 0700) != 0 && errno != EEXIST)
		return pt_err_set(e, PT_EIO, "%s: %s", buf, strerror(errno));
	if (lstat(buf, &st) != 0)
		return pt_err_set(e, PT_EIO, "%s: %s", buf, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return pt_err_set(e, PT_EPERM, "%s is not a folder", buf);
	if (st.st_uid != geteuid())
		return pt_err_set(e, PT_EPERM, "%s belongs to uid %u, not to us (uid %u)", buf,
				  (unsigned)st.st_uid, (unsigned)geteuid());
	if ((st.st_mode & 077) != 0)
		return pt_err_set(e, PT_EPERM, "%s is open to others (mode %03o); it must be 0700",
				  buf, (unsigned)(st.st_mode & 0777));
	return 0;
}

double pt_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int pt_utf8_len(unsigned char c)
{
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return 2;
	if (c >= 0xe0 && c <= 0xef)
		return 3;
	if (c >= 0xf0 && c <= 0xf4)
		return 4;
	return 0;
}

int pt_utf8_check(const char *str, size_t len, size_t *bad_off)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		int n = pt_utf8_len(c);
		unsigned char lo = 0x80, hi = 0xbf;

		if (n == 0)
			goto bad;
		if (n == 1) {
			i++;
			continue;
		}
		if (len - i < (size_t)n)
			goto bad;
		/* The second byte's range excludes overlongs and surrogates. */
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
		else if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
		if (s[i + 1] < lo || s[i + 1] > hi)
			goto bad;
		for (int k = 2; k < n; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				goto bad;
		i += (size_t)n;
	}
	return 0;
bad:
	if (bad_off != NULL)
		*bad_off = i;
	return PT_EUTF8;
}
