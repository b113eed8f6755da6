/*
 * fmt-srt.c: SubRip subtitles. Each cue is a number line, a timing line
 * ("00:00:01,000 --> 00:00:04,000", kept as written, position hints and
 * all) and text lines up to a blank line. The text lines of a cue form
 * one TEXT piece whose text has '\n' between lines (CRLF files too);
 * <i> and {\an8} inside are placeholders. Written back with the file's
 * line ends, blank lines removed (a blank line would end the cue).
 */
#include "formats-impl.h"

typedef struct fmt__line {
	size_t a, end, next;   /* content [a, end), next line at next */
} fmt__line;

static fmt__line fmt__srt_line(const char *s, size_t n, size_t a)
{
	fmt__line l = { a, a, a };
	while (l.end < n && s[l.end] != '\n')
		l.end++;
	l.next = l.end < n ? l.end + 1 : l.end;
	if (l.end > a && s[l.end - 1] == '\r')
		l.end--;
	return l;
}

static int fmt__srt_blank(const char *s, fmt__line l)
{
	for (size_t i = l.a; i < l.end; i++)
		if (!fmt__is_space((unsigned char)s[i]))
			return 0;
	return 1;
}

static int fmt__srt_number(const char *s, fmt__line l)
{
	size_t i = l.a, digits = 0;
	while (i < l.end && (s[i] == ' ' || s[i] == '\t'))
		i++;
	for (; i < l.end && s[i] >= '0' && s[i] <= '9'; i++)
		digits++;
	while (i < l.end && (s[i] == ' ' || s[i] == '\t'))
		i++;
	return digits > 0 && i == l.end;
}

static int fmt__srt_timing(const char *s, fmt__line l)
{
	for (size_t i = l.a; i + 3 <= l.end; i++)
		if (memcmp(s + i, "-->", 3) == 0)
			return 1;
	return 0;
}

/* Ends a cue whose text runs from a to end: one TEXT piece. */
static int fmt__srt_cue(fmt_doc *d, size_t a, size_t end, pt_err *e)
{
	size_t before = d->n;
	int rc = fmt__text_trimmed(d, a, end - a, e);
	for (size_t k = before; rc == 0 && k < d->n; k++) {
		fmt__piece *p = &d->p[k];
		fmt__buf b = { 0 };
		if (p->kind != FMT_TEXT)
			continue;
		p->crlf = fmt__crlf_at(d, p->off);
		for (size_t i = p->off; rc == 0 && i < p->off + p->len; i++) {
			if (d->src[i] == '\r' && i + 1 < d->len &&
			    d->src[i + 1] == '\n')
				continue;
			if (d->src[i] == '\n')
				p->flags |= FMT_F_LINES;
			rc = fmt__buf_addc(&b, d->src[i]);
		}
		if (rc == 0)
			rc = fmt__set_text(d, k, b.p ? b.p : "", b.len, e);
		else
			rc = pt_err_set(e, rc, "subtitles: %s", pt_strerror(rc));
		fmt__buf_done(&b);
	}
	return rc;
}

enum { FMT__SRT_NUMBER, FMT__SRT_TIMING, FMT__SRT_TEXT };

int fmt__parse_srt(fmt_doc *d, pt_err *e)
{
	const char *s = d->src;
	size_t n = d->len, i = 0, line = 1, text = 0, text_end = 0;
	int state = FMT__SRT_NUMBER, rc;
	if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		i = 3;
	for (; i < n; line++) {
		fmt__line l = fmt__srt_line(s, n, i);
		int blank = fmt__srt_blank(s, l);
		if (state == FMT__SRT_TEXT) {
			int next_cue = fmt__srt_number(s, l) && l.next < n &&
				       fmt__srt_timing(s, fmt__srt_line(s, n, l.next));
			if (!blank && !next_cue) {
				text_end = l.end;
				i = l.next;
				continue;
			}
			if (text_end > text &&
			    (rc = fmt__srt_cue(d, text, text_end, e)) != 0)
				return rc;
			state = FMT__SRT_NUMBER;
		}
		if (state == FMT__SRT_NUMBER && !blank) {
			if (fmt__srt_number(s, l)) {
				state = FMT__SRT_TIMING;
			} else if (fmt__srt_timing(s, l)) {
				state = FMT__SRT_TEXT;
				text = text_end = l.next;
			} else {
				return pt_err_set(e, PT_EFORMAT, "line %zu: expected "
						  "a subtitle number or timing "
						  "line", line);
			}
		} else if (state == FMT__SRT_TIMING) {
			if (!fmt__srt_timing(s, l))
				return pt_err_set(e, PT_EFORMAT, "line %zu: expected "
						  "a timing line (00:00:01,000 --> "
						  "00:00:02,500) after the subtitle "
						  "number", line);
			state = FMT__SRT_TEXT;
			text = text_end = l.next;
		}
		i = l.next;
	}
	if (state == FMT__SRT_TIMING)
		return pt_err_set(e, PT_EFORMAT, "line %zu: the last subtitle "
				  "has no timing line", line - 1);
	if (state == FMT__SRT_TEXT && text_end > text)
		return fmt__srt_cue(d, text, text_end, e);
	return 0;
}

int fmt__emit_srt(const fmt_doc *d, const fmt__piece *p, fmt__buf *b)
{
	const char *t = p->tr;
	size_t n = p->tr_len, i = 0, pending = 0;
	int rc = 0, started = 0;
	(void)d;
	/* Line breaks are written only before more text, and at most one in
	 * a row: a blank line inside a cue would end it. */
	for (; rc == 0 && i < n; i++) {
		unsigned char c = (unsigned char)t[i];
		if (c == '\r')
			continue;
		if (c == '\n') {
			pending = started;
			continue;
		}
		if (!started && fmt__is_space(c))
			continue;
		if (pending && fmt__is_space(c) && c != '\n')
			continue;
		if (pending)
			rc = fmt__buf_add(b, p->crlf ? "\r\n" : "\n",
					  p->crlf ? 2 : 1);
		pending = 0;
		started = 1;
		if (rc == 0)
			rc = fmt__buf_addc(b, (char)c);
	}
	return rc;
}
