/*
 * fmt-text.c: plain text. A paragraph (a run of lines that are not blank)
 * is one TEXT piece, without its leading and trailing white space; blank
 * lines and indentation stay KEEP. Line breaks inside a paragraph stay in
 * its text: plain text has no markup to say whether they matter, and
 * langid_segment treats them as gaps, so they survive translation.
 */
#include "formats-impl.h"

/* End of the line starting at i (the offset of its '\n', or len). */
static size_t fmt__line_end(const char *s, size_t len, size_t i)
{
	while (i < len && s[i] != '\n')
		i++;
	return i;
}

static int fmt__blank(const char *s, size_t a, size_t b)
{
	for (; a < b; a++)
		if (!fmt__is_space((unsigned char)s[a]))
			return 0;
	return 1;
}

int fmt__parse_text(fmt_doc *d, pt_err *e)
{
	const char *s = d->src;
	size_t i = 0, para = SIZE_MAX;
	int rc;
	/* A byte-order mark is not text. */
	if (d->len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0 &&
	    (rc = fmt__add(d, FMT_KEEP, 0, 3, NULL, e)) != 0)
		return rc;
	i = fmt__end(d);
	while (i < d->len) {
		size_t eol = fmt__line_end(s, d->len, i);
		size_t next = eol < d->len ? eol + 1 : eol;
		if (fmt__blank(s, i, eol)) {
			if (para != SIZE_MAX &&
			    (rc = fmt__text_trimmed(d, para, i - para, e)) != 0)
				return rc;
			para = SIZE_MAX;
		} else if (para == SIZE_MAX) {
			para = i;
		}
		i = next;
	}
	if (para != SIZE_MAX &&
	    (rc = fmt__text_trimmed(d, para, d->len - para, e)) != 0)
		return rc;
	for (size_t k = 0; k < d->n; k++) {
		fmt__piece *p = &d->p[k];
		if (p->kind == FMT_TEXT && memchr(s + p->off, '\n', p->len))
			p->flags |= FMT_F_LINES;
	}
	return 0;
}
