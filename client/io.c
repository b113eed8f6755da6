/*
 * io.c: reading inputs whole, writing the output atomically, and JSON
 * strings.
 */
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Largest input read: requests are split at paragraphs, so this bounds
 * memory only (the input, its translation and the decoder's copy). */
#define PC__INPUT_MAX ((size_t)1 << 30)

void pc_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("polytrans: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

void pc_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("polytrans: warning: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static int pc__grow(char **buf, size_t *cap, size_t need, pt_err *e)
{
	size_t ncap = *cap ? *cap : 65536;
	while (ncap < need) {
		if (pt_mul_size(ncap, 2, &ncap))
			return pt_err_set(e, PT_ETOOLARGE, "input too large");
	}
	if (ncap > PC__INPUT_MAX + 1)
		ncap = PC__INPUT_MAX + 1;
	if (ncap < need)
		return pt_err_set(e, PT_ETOOLARGE, "input larger than %zu MiB",
				  PC__INPUT_MAX >> 20);
	char *nb = realloc(*buf, ncap);
	if (!nb)
		return pt_err_set(e, PT_ENOMEM, "out of memory reading the input");
	*buf = nb;
	*cap = ncap;
	return 0;
}

int pc_read_all(const char *path, char **out, size_t *out_len, pt_err *e)
{
	bool is_stdin = strcmp(path, "-") == 0;
	const char *name = is_stdin ? "standard input" : path;
	int fd = is_stdin ? 0 : open(path, O_RDONLY | O_CLOEXEC);
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int rc = 0;

	if (fd < 0)
		return pt_err_set(e, PT_EIO, "%s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		rc = pt_err_set(e, PT_EIO, "%s: is a folder", path);
		goto done;
	}
	for (;;) {
		size_t need;
		if (pt_add_size(len, 65537, &need) || (rc = pc__grow(&buf, &cap, need, e)))
			break;
		ssize_t n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR) {
			if (pc_interrupted) {
				rc = pt_err_set(e, PT_ECANCELLED, "interrupted");
				break;
			}
			continue;
		}
		if (n < 0) {
			rc = pt_err_set(e, PT_EIO, "%s: %s", name, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (rc == PT_ETOOLARGE)
		pt_err_prefix(e, "%s", name);
done:
	if (!is_stdin)
		close(fd);
	if (rc) {
		free(buf);
		return rc;
	}
	if (!buf && (buf = malloc(1)) == NULL)
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	return 0;
}

int pc_out_open(pc_out *o, const char *path, pt_err *e)
{
	memset(o, 0, sizeof *o);
	if (!path || strcmp(path, "-") == 0) {
		o->f = stdout;
		return 0;
	}
	/* The temporary file sits beside the target (path + ".XXXXXX"), so
	 * rename() is atomic. */
	size_t n;
	if (pt_add_size(strlen(path), 8, &n))
		return pt_err_set(e, PT_EINVAL, "output path too long");
	o->path = strdup(path);
	o->tmp = malloc(n);
	if (!o->path || !o->tmp) {
		pc_out_abort(o);
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	}
	snprintf(o->tmp, n, "%s.XXXXXX", path);
	int fd = mkostemp(o->tmp, O_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		free(o->tmp);
		o->tmp = NULL;
		pc_out_abort(o);
		return pt_err_set(e, PT_EIO, "%s: cannot create a file beside it: %s", path,
				  strerror(err));
	}
	/* mkstemp makes 0600; a finished output gets the usual mode. */
	mode_t um = umask(0);
	umask(um);
	fchmod(fd, 0666 & ~um);
	o->f = fdopen(fd, "w");
	if (!o->f) {
		close(fd);
		pc_out_abort(o);
		return pt_err_set(e, PT_ENOMEM, "out of memory");
	}
	return 0;
}

int pc_out_write(pc_out *o, const void *data, size_t len, pt_err *e)
{
	if (len == 0)
		return 0;
	if (fwrite(data, 1, len, o->f) != len) {
		o->failed = true;
		return pt_err_set(e, PT_EIO, "%s: write error: %s",
				  o->path ? o->path : "standard output", strerror(errno));
	}
	/* Streamed segments are meant to be seen as they come. */
	if (!o->path && fflush(o->f) != 0) {
		o->failed = true;
		return pt_err_set(e, PT_EIO, "standard output: write error: %s", strerror(errno));
	}
	return 0;
}

int pc_out_commit(pc_out *o, pt_err *e)
{
	if (!o->path) {
		if (fflush(stdout) != 0 || ferror(stdout))
			return pt_err_set(e, PT_EIO, "standard output: write error: %s",
					  strerror(errno));
		return 0;
	}
	FILE *f = o->f;
	o->f = NULL;
	int bad = fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0;
	int err = errno;
	bad |= fclose(f) != 0;
	if (bad) {
		pc_out_abort(o);
		return pt_err_set(e, PT_EIO, "%s: write error: %s", o->path ? o->path : "output",
				  strerror(err));
	}
	if (rename(o->tmp, o->path) != 0) {
		err = errno;
		pt_err_set(e, PT_EIO, "%s: cannot rename %s into place: %s", o->path, o->tmp,
			   strerror(err));
		pc_out_abort(o);
		return PT_EIO;
	}
	free(o->tmp);
	o->tmp = NULL;
	free(o->path);
	o->path = NULL;
	return 0;
}

void pc_out_abort(pc_out *o)
{
	if (o->f && o->f != stdout)
		fclose(o->f);
	o->f = NULL;
	if (o->tmp)
		unlink(o->tmp);
	free(o->tmp);
	free(o->path);
	o->tmp = o->path = NULL;
}

void pc_json_str(FILE *f, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	fputc('"', f);
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		switch (ch) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		case '\b': fputs("\\b", f); break;
		case '\f': fputs("\\f", f); break;
		default:
			if (ch < 0x20 || ch == 0x7f) {
				fputs("\\u00", f);
				fputc(hex[ch >> 4], f);
				fputc(hex[ch & 15], f);
			} else {
				fputc(ch, f);
			}
		}
	}
	fputc('"', f);
}

void pc_json_pstr(FILE *f, proto_str s)
{
	if (!s.ptr)
		fputs("null", f);
	else
		pc_json_str(f, s.ptr, s.len);
}
